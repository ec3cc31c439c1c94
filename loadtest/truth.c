/*
 * truth: the reference file for --verify and --load (see truth.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "truth.h"

static uint64_t
count_lines(const char *p, size_t size)
{
	const char *end = p + size, *lf;
	uint64_t n = 0;

	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		n++;
		p = lf + 1;
	}
	return n + (p < end);
}

static void
fill_starts(struct truth *t)
{
	const char *p = t->base, *end = t->base + t->size, *lf;
	uint64_t i = 0;

	t->start[0] = 0;
	while (p < end && (lf = memchr(p, '\n', (size_t)(end - p))) != NULL) {
		p = lf + 1;
		t->start[++i] = (uint64_t)(p - t->base);
	}
	if (p < end)	/* a last line without LF: pretend one past the end */
		t->start[++i] = t->size + 1;
}

static int
map_file(struct truth *t, const char *path, char *err, size_t errlen)
{
	struct stat st;
	void *m;
	int fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &st) == -1) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		if (fd != -1)
			close(fd);
		return -1;
	}
	t->size = (size_t)st.st_size;
	if (t->size > 0) {
		m = mmap(NULL, t->size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (m == MAP_FAILED) {
			snprintf(err, errlen, "%s: mmap: %s", path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		(void)madvise(m, t->size, MADV_SEQUENTIAL);
		t->base = m;
	}
	close(fd);
	return 0;
}

/*
 * Verifying random lines of a big file misses the TLB on nearly every
 * lookup, as in the server (see src/text.c): ask for 2 MiB pages, so that
 * the client's checking does not become what a benchmark measures.
 */
static void
want_huge(void *p, size_t n)
{
#ifdef MADV_HUGEPAGE
	(void)madvise(p, n, MADV_HUGEPAGE);
#else
	(void)p;
	(void)n;
#endif
}

/* A big table on 2 MiB boundaries, so that it can be given huge pages. */
static void *
table_alloc(size_t n)
{
	size_t huge = (size_t)2 << 20;
	void *p;

	if (n < huge)
		return malloc(n);
	if (posix_memalign(&p, huge, n) != 0)
		return NULL;
	want_huge(p, n);
	return p;
}

int
truth_open(struct truth *t, const char *path, char *err, size_t errlen)
{
	memset(t, 0, sizeof(*t));
	if (map_file(t, path, err, errlen) == -1)
		return -1;
	t->lines = count_lines(t->base, t->size);
	t->start = table_alloc((size_t)(t->lines + 1) * sizeof(*t->start));
	if (t->start == NULL) {
		snprintf(err, errlen, "%s: no memory for %llu line offsets",
		    path, (unsigned long long)t->lines);
		truth_close(t);
		return -1;
	}
	fill_starts(t);
	/* lookups are random from here on */
	if (t->size > 0) {
		(void)madvise((void *)(uintptr_t)t->base, t->size, MADV_RANDOM);
		want_huge((void *)(uintptr_t)t->base, t->size);
	}
	return 0;
}

void
truth_close(struct truth *t)
{
	if (t->base != NULL)
		munmap((void *)(uintptr_t)t->base, t->size);
	free(t->start);
	memset(t, 0, sizeof(*t));
}

const char *
truth_line(const struct truth *t, uint64_t n, size_t *len)
{
	*len = (size_t)(t->start[n] - t->start[n - 1] - 1);
	return t->base + t->start[n - 1];
}

uint64_t
truth_value_len(const struct truth *t, uint64_t n, int lf)
{
	return t->start[n] - t->start[n - 1] - 1 + (lf ? 1 : 0);
}

int
truth_match(const struct truth *t, uint64_t n, int lf, uint64_t pos,
    const char *p, size_t len)
{
	size_t llen;
	const char *line = truth_line(t, n, &llen);
	size_t body;

	if (pos + len > llen + (lf ? 1 : 0))
		return 0;
	/* the part of p inside the line proper, then at most the LF */
	body = pos < llen ? llen - (size_t)pos : 0;
	if (body > len)
		body = len;
	if (body > 0 && memcmp(line + pos, p, body) != 0)
		return 0;
	return body == len || (len - body == 1 && p[body] == '\n');
}
