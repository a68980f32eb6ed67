// The benchmark's go-fuse passthrough: go-fuse's own loopback filesystem
// (fs.NewLoopbackRoot, what its example/loopback mounts) with the settings
// of the other servers: entry, attribute and negative timeouts 0 (the
// example hard-codes 1 s), default_permissions (the example adds it only
// with -allow-other), the largest write size this go-fuse accepts, and no
// diagnostics on stderr. Built at bench time by bench/lib/build_go.ts.
//
//	go_loopback [-debug] MOUNTPOINT SOURCE
package main

import (
	"flag"
	"log"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

func main() {
	debug := flag.Bool("debug", false, "log every request (to count what the kernel sends)")
	flag.Parse()
	if flag.NArg() != 2 {
		log.Fatal("usage: go_loopback [-debug] MOUNTPOINT SOURCE")
	}
	root, err := fs.NewLoopbackRoot(flag.Arg(1))
	if err != nil {
		log.Fatalf("NewLoopbackRoot(%s): %v", flag.Arg(1), err)
	}
	var zero time.Duration
	opts := &fs.Options{
		EntryTimeout:    &zero,
		AttrTimeout:     &zero,
		NegativeTimeout: &zero,
		// As the example: files with mode 000 keep it.
		NullPermissions: true,
		MountOptions: fuse.MountOptions{
			Options: []string{"default_permissions"},
			FsName:  "go_loopback",
			Name:    "loopback",
			// go-fuse's default is 64 KiB; libfuse servers get 1 MiB requests,
			// this go-fuse negotiates no more than 128 KiB.
			MaxWrite: fuse.MAX_KERNEL_WRITE,
			Debug:    *debug,
		},
	}
	server, err := fs.Mount(flag.Arg(0), root, opts)
	if err != nil {
		log.Fatalf("mount: %v", err)
	}
	server.Wait()
}
