/*
 * truth: the text file a run is checked against, mapped read-only, with
 * its own line-offset table built by one memchr scan (independent of the
 * server's index, which is what is under test).
 *
 * The expected value of key n is line n without its LF; the lines protocol
 * adds the LF back (the server sends it, appending one to a last line that
 * lacks it), the key-value stores hold the line without it.
 */
#ifndef BENCH_TRUTH_H
#define BENCH_TRUTH_H

#include <stddef.h>
#include <stdint.h>

struct truth {
	const char *base;	/* the mapping, NULL for an empty file */
	size_t size;
	uint64_t lines;
	/*
	 * start[i] is where line i + 1 starts; start[lines] is one past the
	 * last LF (or size + 1 when the last line has none), so line n is
	 * always start[n] - start[n - 1] - 1 bytes long.
	 */
	uint64_t *start;
};

/* 0, or -1 with a message naming the file in err. */
int truth_open(struct truth *t, const char *path, char *err, size_t errlen);
void truth_close(struct truth *t);

/* Line n (1 <= n <= lines) without its LF; *len its length. */
const char *truth_line(const struct truth *t, uint64_t n, size_t *len);

/*
 * Whether p[0..len) equals bytes [pos, pos + len) of the expected value of
 * line n (with a trailing LF when lf). 1 if so, 0 if not or past its end.
 */
int truth_match(const struct truth *t, uint64_t n, int lf, uint64_t pos,
    const char *p, size_t len);

/* The length of that expected value. */
uint64_t truth_value_len(const struct truth *t, uint64_t n, int lf);

/*
 * Start fetching what checking the answer to key n will read, in two
 * steps some draws apart (the load generator draws keys ahead): its entry
 * of the offset table, then, with that entry cached, its line. Without
 * them, checking cost the client two trips to memory per answer and made
 * it, not the server, the limit of a pipelined run. Neither faults (n is
 * checked; prefetches do not fault). Always inline: GCC deems a function
 * of prefetches alone free of side effects and drops calls to it.
 */
static inline __attribute__((always_inline)) void
truth_prefetch_entry(const struct truth *t, uint64_t n)
{
#if defined(__GNUC__)
	if (n > 0 && n <= t->lines)
		__builtin_prefetch(&t->start[n - 1]);
#else
	(void)t;
	(void)n;
#endif
}

static inline __attribute__((always_inline)) void
truth_prefetch_line(const struct truth *t, uint64_t n)
{
#if defined(__GNUC__)
	const char *line;

	if (n == 0 || n > t->lines)
		return;
	line = t->base + t->start[n - 1];
	__builtin_prefetch(line);
	__builtin_prefetch(line + 64);
#else
	(void)t;
	(void)n;
#endif
}

#endif
