/*
 * text: the served text file, mapped read-only.
 *
 * The file is immutable by contract, but a user can still truncate it under
 * a running server; touching a mapped page past the new end raises SIGBUS.
 * text_copy() turns that into an error return for the calling thread, so a
 * shrunk file yields ERR instead of a crash or a wrong line.
 */
#ifndef LINESVR_TEXT_H
#define LINESVR_TEXT_H

#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>

struct text {
	int fd;
	const char *map;  /* NULL: empty, or read with pread */
	uint64_t size;    /* size when opened */
};

/*
 * Open path, and map it when it is at most map_max bytes. A mapping makes
 * a copy a plain memcpy, with 2 MiB pages where the kernel has them; a file
 * too large for the page cache is read with pread instead (see
 * config_default_map_max).
 * 0, or -1 with a message naming the file in err.
 */
int text_open(struct text *t, const char *path, uint64_t map_max, char *err,
    size_t errlen);

/*
 * The same for a file already open as fd (which stays the caller's): the
 * file read is the one fd refers to, even if path has been replaced since.
 * name is for messages only.
 */
int text_open_fd(struct text *t, int fd, const char *name, uint64_t map_max,
    char *err, size_t errlen);
void text_close(struct text *t);

/* Install the SIGBUS handler text_copy relies on (once, at startup). */
void text_install_guard(void);

/*
 * Copy len bytes at off into dst. Returns 0, or -1 if the range is past the
 * size at open or the file no longer holds those bytes (truncated).
 */
int text_copy(const struct text *t, void *dst, uint64_t off, size_t len);

/*
 * One guard around many reads of a mapping (text_copy arms one per call),
 * for a loop whose every read would otherwise pay for a sigsetjmp:
 *
 *	if (sigsetjmp(env, 0) != 0)
 *		... a read faulted: the guard is off; recover, maybe re-arm ...
 *	text_guard_on(&env);
 *	... reads of t->map ...
 *	text_guard_off();
 *
 * env's frame must stay live while the guard is on; locals changed after
 * the sigsetjmp and read after a jump back must be volatile.
 */
void text_guard_on(sigjmp_buf *env);
void text_guard_off(void);

/*
 * Hint that [off, off + len) is about to be copied, and the byte before
 * it, which is checked too; never faults. Inline: a batch of pipelined
 * GETs calls it for every line. Always inline, as every function made
 * of prefetches alone here: GCC deems such a function free of side
 * effects and drops calls to it that it leaves out of line.
 */
static inline __attribute__((always_inline)) void
text_prefetch(const struct text *t, uint64_t off, uint64_t len)
{
#if defined(__GNUC__)
	/*
	 * GCC and Clang: a prefetch instruction, which never faults, even on
	 * a page past the end of a truncated file or outside the mapping:
	 * so no range checks, and the last byte is fetched even when it is
	 * in the first byte's cache line. The addresses are computed as
	 * integers: off - 1 for the first line is before the mapping.
	 */
	uintptr_t a = (uintptr_t)t->map + off;

	if (t->map == NULL)
		return;
	__builtin_prefetch((const void *)(a - 1));
	__builtin_prefetch((const void *)(a + len - 1));
#else
	(void)t;
	(void)off;
	(void)len;
#endif
}

/* The byte at off, or -1 as for text_copy. */
int text_byte(const struct text *t, uint64_t off);

#endif
