"""Shared start-up code of the benchmark's pyfuse3 servers.

Parses `[-o opt,...] [SOURCE] MOUNTPOINT` like the denofuse examples,
mounts with pyfuse3's default options plus the given ones, serves under
trio until unmounted (`fusermount3 -u`) or SIGINT/SIGTERM, then closes.
"""

import signal
import sys

import pyfuse3
import trio


def parse(argv, positional):
    options = []
    args = []
    i = 0
    while i < len(argv):
        a = argv[i]
        if a == "-o":
            i += 1
            options += [o for o in argv[i].split(",") if o]
        elif a.startswith("-o"):
            options += [o for o in a[2:].split(",") if o]
        else:
            args.append(a)
        i += 1
    if len(args) != len(positional):
        sys.exit(f"usage: [-o opt,...] {' '.join(positional)}")
    return args, options


def serve(make_ops, fsname, positional):
    args, options = parse(sys.argv[1:], positional)
    ops = make_ops(args)
    opts = set(pyfuse3.default_options)
    opts.add(f"fsname={fsname}")
    opts.update(options)
    pyfuse3.init(ops, args[-1], opts)

    async def run():
        # SIGTERM ends the loop like SIGINT does, so that we unmount cleanly.
        with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async with trio.open_nursery() as nursery:
                async def stop_on_signal():
                    async for _ in signals:
                        pyfuse3.terminate()
                        return
                nursery.start_soon(stop_on_signal)
                await pyfuse3.main()
                nursery.cancel_scope.cancel()

    try:
        trio.run(run)
    finally:
        pyfuse3.close(unmount=True)
