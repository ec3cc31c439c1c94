/*
 * text: the mapped text file and the SIGBUS guard around reads from it.
 *
 * The guard is a per-thread sigjmp_buf armed only while the mapping is
 * read: for one memcpy (text_copy), or for a batch of answers
 * (text_guard_on/off, see linecopy_answers). SIGBUS is delivered to the faulting thread, so
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

#include "io.h"
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

void
text_guard_on(sigjmp_buf *env)
{
	guard_env = env;
}

void
text_guard_off(void)
{
	guard_env = NULL;
}

/* Size t from its open fd and map the file when it is small enough. */
static int
text_setup(struct text *t, const char *name, uint64_t map_max, char *err,
    size_t errlen)
{
	struct stat st;

	if (fstat(t->fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "%s: %s", name,
		    S_ISREG(st.st_mode) ? strerror(errno) : "not a regular file");
		return -1;
	}
	t->size = (uint64_t)st.st_size;
	if (t->size == 0 || t->size > map_max) {
		/* Read line by line: read-ahead around each line is waste. */
		(void)posix_fadvise(t->fd, 0, 0, POSIX_FADV_RANDOM);
		return 0;
	}
	t->map = mmap(NULL, t->size, PROT_READ, MAP_SHARED, t->fd, 0);
	if (t->map == MAP_FAILED) {
		snprintf(err, errlen, "%s: mmap: %s", name, strerror(errno));
		t->map = NULL;
		return -1;
	}
	/* Lines are fetched at random: read-ahead would only waste I/O. */
	madvise((void *)(uintptr_t)t->map, t->size, MADV_RANDOM);
#ifdef MADV_HUGEPAGE
	/*
	 * Random lines of a big file miss the TLB on nearly every copy, and
	 * under virtualisation each miss is a costly nested page walk. Where
	 * the page cache holds the file in 2 MiB folios (ext4 and xfs read
	 * files that way on Linux 6.x), this lets the kernel map them with
	 * 2 MiB entries: 512 times fewer to miss. Elsewhere it does nothing;
	 * failure is harmless, so the result is ignored.
	 */
	madvise((void *)(uintptr_t)t->map, t->size, MADV_HUGEPAGE);
#endif
	return 0;
}

int
text_open(struct text *t, const char *path, uint64_t map_max, char *err,
    size_t errlen)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		memset(t, 0, sizeof(*t));
		t->fd = -1;
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = text_open_fd(t, fd, path, map_max, err, errlen);
	close(fd);
	return rc;
}

int
text_open_fd(struct text *t, int fd, const char *name, uint64_t map_max,
    char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	t->fd = fcntl(fd, F_DUPFD_CLOEXEC, 0);
	if (t->fd < 0) {
		snprintf(err, errlen, "%s: %s", name, strerror(errno));
		return -1;
	}
	if (text_setup(t, name, map_max, err, errlen) < 0) {
		text_close(t);
		return -1;
	}
	return 0;
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

int
text_copy(const struct text *t, void *dst, uint64_t off, size_t len)
{
	sigjmp_buf env;

	if (off > t->size || len > t->size - off)
		return -1;
	if (len == 0)
		return 0;
	if (t->map == NULL)
		/* A file cut short is an error, not a short line. */
		return io_pread_full(t->fd, dst, len, off) == (ssize_t)len ?
		    0 : -1;
	if (sigsetjmp(env, 0) != 0) {
		guard_env = NULL;
		return -1;
	}
	guard_env = &env;
	memcpy(dst, t->map + off, len);
	guard_env = NULL;
	return 0;
}

int
text_byte(const struct text *t, uint64_t off)
{
	unsigned char c;

	return text_copy(t, &c, off, 1) < 0 ? -1 : c;
}
