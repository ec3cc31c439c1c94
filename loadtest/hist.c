/*
 * hist: log-linear histogram. See hist.h for the layout and its error bound.
 *
 * Index arithmetic: with shift = max(0, msb(v) - 7), v >> shift lies in
 * [128, 256) (or is v itself when shift is 0), and index = shift * 128 +
 * (v >> shift) is then dense and monotonic in v.
 */
#include <string.h>

#include "hist.h"

#define SUB		(1u << HIST_SUB_BITS)
#define TOP_VALUE	((UINT64_C(2) << (HIST_MAX_SHIFT + HIST_SUB_BITS)) - 1)

void
hist_init(struct hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned
shift_of(uint64_t v)
{
	unsigned msb;

	if (v < 2 * SUB)
		return 0;
	msb = 63u - (unsigned)__builtin_clzll(v);
	return msb - HIST_SUB_BITS;
}

static size_t
index_of(uint64_t v)
{
	unsigned s;

	if (v > TOP_VALUE)	/* kept exactly in max; binned at the top */
		v = TOP_VALUE;
	s = shift_of(v);
	return ((size_t)s << HIST_SUB_BITS) + (size_t)(v >> s);
}

/* The midpoint of slot i: within half a slot width of anything in it. */
static uint64_t
value_of(size_t i)
{
	unsigned s;
	uint64_t sub;

	if (i < 2 * SUB)
		return i;
	s = (unsigned)(i >> HIST_SUB_BITS) - 1;
	sub = i - ((size_t)s << HIST_SUB_BITS);
	return (sub << s) + ((UINT64_C(1) << s) - 1) / 2;
}

void
hist_add(struct hist *h, uint64_t v)
{
	h->slot[index_of(v)]++;
	h->count++;
	h->sum += v;
	if (v < h->min)
		h->min = v;
	if (v > h->max)
		h->max = v;
}

void
hist_merge(struct hist *dst, const struct hist *src)
{
	size_t i;

	if (src->count == 0)
		return;
	for (i = 0; i < HIST_SLOTS; i++)
		dst->slot[i] += src->slot[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->min < dst->min)
		dst->min = src->min;
	if (src->max > dst->max)
		dst->max = src->max;
}

uint64_t
hist_percentile(const struct hist *h, double p)
{
	uint64_t rank, seen = 0, v;
	double r;
	size_t i;

	if (h->count == 0)
		return 0;
	if (p <= 0)
		return h->min;
	if (p >= 100)
		return h->max;
	/* p * count first: 99 * 1000 / 100 is exact where 0.99 * 1000 is not;
	 * the epsilon keeps 99.9% of 1000 at rank 999 despite 99.9's binary
	 * representation. */
	r = p * (double)h->count / 100.0;
	r -= r * 1e-12;
	rank = (uint64_t)r;
	if ((double)rank < r)
		rank++;
	if (rank == 0)
		rank = 1;
	for (i = 0; i < HIST_SLOTS; i++) {
		seen += h->slot[i];
		if (seen >= rank)
			break;
	}
	v = value_of(i < HIST_SLOTS ? i : HIST_SLOTS - 1);
	if (v < h->min)
		v = h->min;
	if (v > h->max)
		v = h->max;
	return v;
}

double
hist_mean(const struct hist *h)
{
	return h->count == 0 ? 0.0 : (double)h->sum / (double)h->count;
}
