/*
 * fsbench: the benchmark's client. One operation per process, run in a
 * tight loop so that the client's own overhead stays small; prints one JSON
 * line on stdout.
 *
 *   fsbench OP key=value...
 *
 * Keys: path=, secs= (time limit), max= (operation limit), bs= (I/O size),
 * size= (file size cap), direct= (1: reads and writes use O_DIRECT, the
 * default; 0: they do not), every= (drop caches every N lookups), files=
 * (lookups over this many files), start=
 * (CLOCK_REALTIME nanoseconds to wait for, so that parallel clients start
 * together).
 *
 * OPs:
 *   stat      stat(path) in a loop
 *   fstat     fstat() of path opened once
 *   write     sequential writes of bs bytes (O_DIRECT unless direct=0), wrapping at size
 *   read      sequential reads of bs bytes (O_DIRECT unless direct=0), wrapping at end of file
 *   create    open(O_CREAT|O_EXCL)+close of path/c<i>; leaves the files
 *   unlink    unlink path/c0 .. path/c<max-1>
 *   mkdir     mkdir+rmdir of path/d<i>
 *   readdir   passes over directory path: open, getdents64 until done, close
 *   populate  creates max empty files path/e<i> (setup, untimed by the harness)
 *   pingpong  a pipe ping-pong with a forked child, the process on CPU cpu=
 *             and the child on CPU peer=: the cost of a wake-up round trip
 *             between two tasks (same CPU, or across CPUs), no FUSE involved
 *   lookups   max stat() calls, of path itself or, with files=K > 0, of
 *             path/e0 .. path/e<K-1> in turn; every `every` calls writes 2 to
 *             /proc/sys/vm/drop_caches so that the kernel forgets the inodes
 *
 * Part of the denofuse benchmark (bench/README.md); not third-party code.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static const char *opt_path = ".";
static double opt_secs = 1.0;
static long long opt_max = 1LL << 62;
static long long opt_bs = 4096;
static long long opt_size = 64LL << 20;
static long long opt_every = 10000;
static long long opt_start = 0;
static long long opt_files = 0;
static int opt_cpu = -1;
static int opt_peer = -1;
static int opt_direct = 1;

static double now(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void die(const char *what) {
	fprintf(stderr, "fsbench: %s: %s\n", what, strerror(errno));
	exit(1);
}

static void pin(int cpu) {
	if (cpu < 0) return;
	cpu_set_t set;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	if (sched_setaffinity(0, sizeof set, &set) < 0) die("sched_setaffinity");
}

static void wait_start(void) {
	if (opt_start <= 0) return;
	struct timespec ts = {opt_start / 1000000000LL, opt_start % 1000000000LL};
	while (clock_nanosleep(CLOCK_REALTIME, TIMER_ABSTIME, &ts, NULL) == EINTR) {
	}
}

static void report(const char *op, long long ops, double secs, long long bytes, long long extra) {
	printf("{\"op\":\"%s\",\"ops\":%lld,\"secs\":%.6f,\"bytes\":%lld,\"extra\":%lld}\n", op, ops,
	       secs, bytes, extra);
}

/* Checks the clock only every 64 operations: clock_gettime is cheap (vDSO) but not free. */
#define LOOP_TIMED(body)                                                  \
	do {                                                              \
		double t0 = now(), limit = t0 + opt_secs, t1 = t0;      \
		long long n = 0;                                          \
		while (n < opt_max) {                                     \
			body;                                             \
			n++;                                              \
			if ((n & 63) == 0 && (t1 = now()) >= limit) break; \
		}                                                         \
		t1 = now();                                               \
		ops = n;                                                  \
		secs = t1 - t0;                                           \
	} while (0)

int main(int argc, char **argv) {
	if (argc < 2) {
		fprintf(stderr, "usage: fsbench OP key=value...\n");
		return 2;
	}
	const char *op = argv[1];
	for (int i = 2; i < argc; i++) {
		char *eq = strchr(argv[i], '=');
		if (!eq) {
			fprintf(stderr, "fsbench: bad argument %s\n", argv[i]);
			return 2;
		}
		*eq = 0;
		const char *k = argv[i], *v = eq + 1;
		if (!strcmp(k, "path")) opt_path = v;
		else if (!strcmp(k, "secs")) opt_secs = atof(v);
		else if (!strcmp(k, "max")) opt_max = atoll(v);
		else if (!strcmp(k, "bs")) opt_bs = atoll(v);
		else if (!strcmp(k, "size")) opt_size = atoll(v);
		else if (!strcmp(k, "every")) opt_every = atoll(v);
		else if (!strcmp(k, "start")) opt_start = atoll(v);
		else if (!strcmp(k, "files")) opt_files = atoll(v);
		else if (!strcmp(k, "cpu")) opt_cpu = atoi(v);
		else if (!strcmp(k, "peer")) opt_peer = atoi(v);
		else if (!strcmp(k, "direct")) opt_direct = atoi(v);
		else {
			fprintf(stderr, "fsbench: unknown key %s\n", k);
			return 2;
		}
	}
	long long ops = 0, bytes = 0, extra = 0;
	double secs = 0;
	char name[4096];
	struct stat st;

	if (!strcmp(op, "stat")) {
		if (stat(opt_path, &st) < 0) die(opt_path);
		wait_start();
		LOOP_TIMED(if (stat(opt_path, &st) < 0) die("stat"));
	} else if (!strcmp(op, "fstat")) {
		int fd = open(opt_path, O_RDONLY);
		if (fd < 0) die(opt_path);
		wait_start();
		LOOP_TIMED(if (fstat(fd, &st) < 0) die("fstat"));
		close(fd);
	} else if (!strcmp(op, "write") || !strcmp(op, "read")) {
		int writing = op[0] == 'w';
		void *buf;
		if (posix_memalign(&buf, 4096, opt_bs)) die("posix_memalign");
		memset(buf, 0x5a, opt_bs);
		int direct = opt_direct ? O_DIRECT : 0;
		int fd = writing ? open(opt_path, O_WRONLY | O_CREAT | O_TRUNC | direct, 0644)
		                 : open(opt_path, O_RDONLY | direct);
		if (fd < 0) die(opt_path);
		long long off = 0;
		wait_start();
		LOOP_TIMED({
			ssize_t r = writing ? pwrite(fd, buf, opt_bs, off) : pread(fd, buf, opt_bs, off);
			if (r < 0) die(op);
			if (writing) {
				bytes += r;
				off += r;
				if (off + opt_bs > opt_size) off = 0;
			} else if (r == 0) {
				if (off == 0) {
					errno = ENODATA;
					die("read of an empty file");
				}
				off = 0;
				n--; /* the EOF probe is not an I/O */
			} else {
				bytes += r;
				off += r;
			}
		});
		if (close(fd) < 0) die("close");
		free(buf);
	} else if (!strcmp(op, "create")) {
		wait_start();
		LOOP_TIMED({
			snprintf(name, sizeof name, "%s/c%lld", opt_path, n);
			int fd = open(name, O_WRONLY | O_CREAT | O_EXCL, 0644);
			if (fd < 0) die(name);
			if (close(fd) < 0) die("close");
		});
	} else if (!strcmp(op, "unlink")) {
		long long count = opt_max;
		opt_max = count;
		opt_secs = 1e9;
		wait_start();
		LOOP_TIMED({
			snprintf(name, sizeof name, "%s/c%lld", opt_path, n);
			if (unlink(name) < 0) die(name);
		});
	} else if (!strcmp(op, "mkdir")) {
		wait_start();
		LOOP_TIMED({
			snprintf(name, sizeof name, "%s/d%lld", opt_path, n);
			if (mkdir(name, 0755) < 0) die(name);
			if (rmdir(name) < 0) die(name);
		});
	} else if (!strcmp(op, "readdir")) {
		static char dbuf[32768];
		wait_start();
		long long entries = 0;
		/* At least one pass, however long it takes. */
		opt_max = opt_max < 1 ? 1 : opt_max;
		double t0 = now(), limit = t0 + opt_secs;
		do {
			int fd = open(opt_path, O_RDONLY | O_DIRECTORY);
			if (fd < 0) die(opt_path);
			for (;;) {
				long r = syscall(SYS_getdents64, fd, dbuf, sizeof dbuf);
				if (r < 0) die("getdents64");
				if (r == 0) break;
				for (long at = 0; at < r;) {
					struct dirent64 *d = (struct dirent64 *)(dbuf + at);
					entries++;
					at += d->d_reclen;
				}
			}
			close(fd);
			ops++;
		} while (ops < opt_max && now() < limit);
		secs = now() - t0;
		extra = entries;
	} else if (!strcmp(op, "populate")) {
		double t0 = now();
		for (long long i = 0; i < opt_max; i++) {
			snprintf(name, sizeof name, "%s/e%lld", opt_path, i);
			int fd = open(name, O_WRONLY | O_CREAT, 0644);
			if (fd < 0) die(name);
			close(fd);
			ops++;
		}
		secs = now() - t0;
	} else if (!strcmp(op, "pingpong")) {
		int to[2], from[2];
		char c = 'x';
		if (pipe(to) < 0 || pipe(from) < 0) die("pipe");
		pid_t pid = fork();
		if (pid < 0) die("fork");
		if (pid == 0) {
			pin(opt_peer);
			close(to[1]);
			close(from[0]);
			while (read(to[0], &c, 1) == 1) {
				if (write(from[1], &c, 1) != 1) _exit(1);
			}
			_exit(0);
		}
		pin(opt_cpu);
		close(to[0]);
		close(from[1]);
		/* Let the child settle on its CPU. */
		if (write(to[1], &c, 1) != 1 || read(from[0], &c, 1) != 1) die("pingpong");
		LOOP_TIMED({
			if (write(to[1], &c, 1) != 1 || read(from[0], &c, 1) != 1) die("pingpong");
		});
		close(to[1]);
		waitpid(pid, NULL, 0);
	} else if (!strcmp(op, "lookups")) {
		double t0 = now();
		for (long long i = 0; i < opt_max; i++) {
			const char *p = opt_path;
			if (opt_files > 0) {
				snprintf(name, sizeof name, "%s/e%lld", opt_path, i % opt_files);
				p = name;
			}
			if (stat(p, &st) < 0) die(p);
			ops++;
			if (opt_every > 0 && (i + 1) % opt_every == 0) {
				int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
				if (fd < 0) die("/proc/sys/vm/drop_caches");
				if (write(fd, "2", 1) != 1) die("drop_caches");
				close(fd);
				extra++;
			}
		}
		secs = now() - t0;
	} else {
		fprintf(stderr, "fsbench: unknown op %s\n", op);
		return 2;
	}
	report(op, ops, secs, bytes, extra);
	return 0;
}
