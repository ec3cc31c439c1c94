/*
 * hist: a log-linear latency histogram in the manner of HdrHistogram.
 *
 * Values below 256 get a slot each; above that every power of two is cut
 * into 128 equal slots, so a slot is never wider than 1/128 of the values
 * it holds. Reporting a slot's midpoint keeps every percentile within
 * 1/256 (0.4%) of the true value. Adding a value is a shift, a count of
 * leading zeros and an increment: no allocation, no search.
 *
 * Not thread-safe: each thread owns one and they are merged at the end.
 */
#ifndef BENCH_HIST_H
#define BENCH_HIST_H

#include <stdint.h>

#define HIST_SUB_BITS	7	/* 128 slots per power of two */
#define HIST_MAX_SHIFT	40	/* largest slot width 2^40: values to ~78 h in ns */
#define HIST_SLOTS	(((HIST_MAX_SHIFT + 1) << HIST_SUB_BITS) + \
			    (1 << HIST_SUB_BITS))

struct hist {
	uint64_t count;
	uint64_t min;		/* exact, UINT64_MAX while empty */
	uint64_t max;		/* exact */
	uint64_t sum;		/* exact, for the mean */
	uint64_t slot[HIST_SLOTS];
};

void hist_init(struct hist *h);
void hist_add(struct hist *h, uint64_t v);
void hist_merge(struct hist *dst, const struct hist *src);

/*
 * The nearest-rank percentile p (0..100): the value at rank ceil(p/100 *
 * count), at least 1, reported as its slot's midpoint clamped to
 * [min, max]. 0 when empty.
 */
uint64_t hist_percentile(const struct hist *h, double p);
double hist_mean(const struct hist *h);

#endif
