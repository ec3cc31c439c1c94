/*
 * What the libFuzzer targets in tests/fuzz/ share: the entry points
 * libFuzzer calls (declared here so -Wmissing-prototypes holds), a check
 * that aborts with a message instead of an assert() that NDEBUG could
 * remove, and files kept in memory for the modules that only read paths.
 *
 * Build and run: `make fuzz` (FUZZ_SECONDS each), or by hand
 * build/fuzz/fuzz_NAME [corpus dir] [libFuzzer flags].
 */
#ifndef LINESVR_FUZZ_H
#define LINESVR_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* A broken invariant: say which, and die so libFuzzer keeps the input. */
#define FUZZ_CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "%s:%d: invariant broken: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		abort();						\
	}								\
} while (0)

/*
 * An anonymous in-memory file (memfd) that the code under test opens by
 * path, through /proc/self/fd: no disk I/O per input, nothing left behind.
 * Returns its descriptor and writes the path, or -1.
 */
static inline int
fuzz_memfile(const char *name, char *path, size_t pathlen)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return -1;
	if ((size_t)snprintf(path, pathlen, "/proc/self/fd/%d", fd) >= pathlen) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Make the file hold exactly data[0..len). 0 or -1. */
static inline int
fuzz_memfile_set(int fd, const void *data, size_t len)
{
	const char *p = data;
	size_t off = 0;
	ssize_t n;

	if (ftruncate(fd, 0) < 0)
		return -1;
	while (off < len) {
		n = pwrite(fd, p + off, len - off, (off_t)off);
		if (n <= 0)
			return -1;
		off += (size_t)n;
	}
	return 0;
}

#endif
