/*
 * text: the mapped text file and the SIGBUS guard around reads from it.
 *
 * The guard is a per-thread sigjmp_buf armed only for the duration of one
 * memcpy from the mapping. SIGBUS is delivered to the faulting thread, so
 * the handler can jump back into that thread's text_copy. SA_NODEFER keeps
 * SIGBUS unblocked after the jump; sigsetjmp(env, 0) saves no signal mask,
 * which keeps the guard free of system calls on the hot path.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "text.h"

/*
 * volatile: the handler reads it asynchronously; without it the compiler
 * may drop the store before the memcpy as dead (it is overwritten after).
 */
static _Thread_local sigjmp_buf *volatile guard_env;

static void
on_sigbus(int sig, siginfo_t *si, void *ctx)
{
	(void)si;
	(void)ctx;
	if (guard_env != NULL)
		siglongjmp(*guard_env, 1);
	/* Not ours: die of it as if there were no handler. */
	signal(sig, SIG_DFL);
	raise(sig);
}

void
text_install_guard(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = on_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);
}

int
text_open(struct text *t, const char *path, uint64_t map_max, char *err,
    size_t errlen)
{
	struct stat st;

	memset(t, 0, sizeof(*t));
	t->fd = open(path, O_RDONLY | O_CLOEXEC);
	if (t->fd < 0) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	if (fstat(t->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", path,
		    S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
		goto fail;
	}
	t->size = (uint64_t)st.st_size;
	if (t->size == 0 || t->size > map_max)
		return 0;
	t->map = mmap(NULL, t->size, PROT_READ, MAP_SHARED, t->fd, 0);
	if (t->map == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", path, strerror(errno));
		t->map = NULL;
		goto fail;
	}
	/* Lines are fetched at random: read-ahead would only waste I/O. */
	madvise((void *)(uintptr_t)t->map, t->size, MADV_RANDOM);
	return 0;
fail:
	close(t->fd);
	t->fd = -1;
	return -1;
}

void
text_close(struct text *t)
{
	if (t->map != NULL)
		munmap((void *)(uintptr_t)t->map, t->size);
	if (t->fd >= 0)
		close(t->fd);
	t->map = NULL;
	t->fd = -1;
}

/* pread all of len bytes; a file cut short is an error, not a short line. */
static int
read_at(int fd, void *dst, size_t len, uint64_t off)
{
	char *p = dst;

	while (len > 0) {
		ssize_t r = pread(fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return -1;
		p += r;
		len -= (size_t)r;
		off += (uint64_t)r;
	}
	return 0;
}

int
text_copy(const struct text *t, void *dst, uint64_t off, size_t len)
{
	sigjmp_buf env;

	if (off > t->size || len > t->size - off)
		return -1;
	if (len == 0)
		return 0;
	if (t->map == NULL)
		return read_at(t->fd, dst, len, off);
	if (sigsetjmp(env, 0) != 0) {
		guard_env = NULL;
		return -1;
	}
	guard_env = &env;
	memcpy(dst, t->map + off, len);
	guard_env = NULL;
	return 0;
}

void
text_prefetch(const struct text *t, uint64_t off, uint64_t len)
{
#if defined(__GNUC__)
	/* GCC and Clang: a prefetch instruction, which never faults, even on
	 * a page past the end of a truncated file. */
	if (t->map == NULL || off > t->size || len > t->size - off)
		return;
	__builtin_prefetch(t->map + off - (off > 0));
	if (len > 64)
		__builtin_prefetch(t->map + off + len - 1);
#else
	(void)t;
	(void)off;
	(void)len;
#endif
}

int
text_byte(const struct text *t, uint64_t off)
{
	unsigned char c;

	return text_copy(t, &c, off, 1) < 0 ? -1 : c;
}
