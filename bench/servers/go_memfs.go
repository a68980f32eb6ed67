// The benchmark's go-fuse in-memory filesystem: go-fuse's own MemNodeFs
// (nodefs.NewMemNodeFSRoot, what its example/memfs mounts): the tree and
// the attributes in memory, each file's data in a file of its own under
// STATEDIR (the harness gives it a fresh directory on the backing tmpfs),
// with the settings of the other servers: entry, attribute and negative
// timeouts 0 (the example keeps nodefs's 1 s), default_permissions, the
// largest write size this go-fuse accepts. Built at bench time by
// bench/lib/build_go.ts.
//
//	go_memfs [-debug] MOUNTPOINT STATEDIR
package main

import (
	"flag"
	"log"
	"path/filepath"

	"github.com/hanwen/go-fuse/v2/fuse"
	"github.com/hanwen/go-fuse/v2/fuse/nodefs"
)

func main() {
	debug := flag.Bool("debug", false, "log every request (to count what the kernel sends)")
	flag.Parse()
	if flag.NArg() != 2 {
		log.Fatal("usage: go_memfs [-debug] MOUNTPOINT STATEDIR")
	}
	// MemNodeFs names the data files PREFIX0, PREFIX1, ...
	root := nodefs.NewMemNodeFSRoot(filepath.Join(flag.Arg(1), "data-"))
	conn := nodefs.NewFileSystemConnector(root, &nodefs.Options{
		Owner: fuse.CurrentOwner(),
		Debug: *debug,
	})
	server, err := fuse.NewServer(conn.RawFS(), flag.Arg(0), &fuse.MountOptions{
		Options: []string{"default_permissions"},
		FsName:  "go_memfs",
		Name:    "memfs",
		// go-fuse's default is 64 KiB; libfuse servers get 1 MiB requests,
		// this go-fuse negotiates no more than 128 KiB.
		MaxWrite: fuse.MAX_KERNEL_WRITE,
		Debug:    *debug,
	})
	if err != nil {
		log.Fatalf("mount: %v", err)
	}
	server.Serve()
}
