/*
 * Unit tests of the load generator's histogram: percentiles against the
 * exact nearest-rank values of known data (sorted copies), within the
 * promised 1% relative error; exact small values, min, max, mean; merge;
 * empty and out-of-range input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>

#include <cmocka.h>

#include "hist.h"
#include "keys.h"

static const double PCTS[] = {
	0, 0.1, 1, 10, 25, 50, 75, 90, 95, 99, 99.5, 99.9, 99.99, 99.999, 100
};
#define NPCTS (sizeof(PCTS) / sizeof(PCTS[0]))

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* The exact nearest-rank percentile of sorted v[0..n). */
static uint64_t
exact(const uint64_t *v, size_t n, double p)
{
	double r = p * (double)n / 100.0;
	size_t rank;

	r -= r * 1e-12;	/* the same rounding as hist.c: 99.9% of 1000 is 999 */
	rank = (size_t)r;
	if ((double)rank < r)
		rank++;
	if (rank < 1)
		rank = 1;
	return v[rank - 1];
}

static struct hist *
new_hist(void)
{
	struct hist *h = malloc(sizeof(*h));

	assert_non_null(h);
	hist_init(h);
	return h;
}

/* Fill h with v[0..n), then compare every percentile with the truth. */
static void
check_against_exact(uint64_t *v, size_t n)
{
	struct hist *h = new_hist();
	uint64_t want, got, sum = 0;
	double err;
	size_t i;

	for (i = 0; i < n; i++) {
		hist_add(h, v[i]);
		sum += v[i];
	}
	qsort(v, n, sizeof(*v), cmp_u64);
	for (i = 0; i < NPCTS; i++) {
		want = exact(v, n, PCTS[i]);
		got = hist_percentile(h, PCTS[i]);
		err = want == 0 ? (double)got :
		    ((double)got - (double)want) / (double)want;
		if (err < 0)
			err = -err;
		if (err > 0.01)
			fail_msg("p%g: got %llu, want %llu (error %.4f)",
			    PCTS[i], (unsigned long long)got,
			    (unsigned long long)want, err);
	}
	assert_true(h->count == n);
	assert_true(h->min == v[0]);
	assert_true(h->max == v[n - 1]);
	assert_true(hist_percentile(h, 0) == v[0]);
	assert_true(hist_percentile(h, 100) == v[n - 1]);
	assert_true(hist_mean(h) == (double)sum / (double)n);
	free(h);
}

static void
test_sequence(void **state)
{
	size_t n = 100000, i;
	uint64_t *v = malloc(n * sizeof(*v));

	(void)state;
	for (i = 0; i < n; i++)
		v[i] = n - i;	/* 1..n, added in reverse */
	check_against_exact(v, n);
	free(v);
}

/* Latency-like: log-uniform over 10 ns .. 100 s. */
static void
test_log_uniform(void **state)
{
	size_t n = 200000, i;
	uint64_t *v = malloc(n * sizeof(*v));
	struct rng r;

	(void)state;
	rng_seed(&r, 42);
	for (i = 0; i < n; i++)
		v[i] = (uint64_t)(10.0 * pow(1e10, rng_unit(&r)));
	check_against_exact(v, n);
	free(v);
}

/* A few values repeated: percentiles land on the values themselves. */
static void
test_clustered(void **state)
{
	static const uint64_t vals[] = { 1000, 1001, 50000, 777777, 123456789 };
	size_t n = 10000, i;
	uint64_t *v = malloc(n * sizeof(*v));

	(void)state;
	for (i = 0; i < n; i++)
		v[i] = vals[(i * 7) % 5];
	check_against_exact(v, n);
	free(v);
}

/* Below 256 every value has its own slot: exact. */
static void
test_small_values_exact(void **state)
{
	struct hist *h = new_hist();
	uint64_t v;

	(void)state;
	for (v = 0; v < 256; v++)
		hist_add(h, v);
	for (v = 1; v <= 256; v++)
		assert_true(hist_percentile(h, (double)v * 100.0 / 256.0) ==
		    v - 1);
	free(h);
}

/* Every value at every magnitude is reported within 1/256. */
static void
test_single_values(void **state)
{
	uint64_t v;
	struct hist *h = new_hist();
	double got;

	(void)state;
	for (v = 1; v < (UINT64_C(1) << 47); v = v * 3 / 2 + 1) {
		hist_init(h);
		hist_add(h, v);
		hist_add(h, v * 2);	/* p50 is then not clamped to min */
		got = (double)hist_percentile(h, 50);
		assert_true(got >= (double)v * (1 - 1.0 / 256));
		assert_true(got <= (double)v * (1 + 1.0 / 256));
	}
	free(h);
}

static void
test_merge(void **state)
{
	struct hist *a = new_hist(), *b = new_hist(), *all = new_hist();
	struct rng r;
	uint64_t v;
	int i;

	(void)state;
	rng_seed(&r, 7);
	for (i = 0; i < 50000; i++) {
		v = rng_below(&r, 10000000);
		hist_add(i % 3 ? a : b, v);
		hist_add(all, v);
	}
	hist_merge(a, b);
	assert_memory_equal(a, all, sizeof(*a));
	free(a);
	free(b);
	free(all);
}

static void
test_empty_and_huge(void **state)
{
	struct hist *h = new_hist();

	(void)state;
	assert_true(hist_percentile(h, 50) == 0);
	assert_true(hist_mean(h) == 0);
	hist_add(h, UINT64_MAX / 2);	/* beyond the slots: kept in max */
	hist_add(h, 5);
	assert_true(hist_percentile(h, 100) == UINT64_MAX / 2);
	assert_true(hist_percentile(h, 50) == 5);
	assert_true(h->count == 2);
	free(h);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sequence),
		cmocka_unit_test(test_log_uniform),
		cmocka_unit_test(test_clustered),
		cmocka_unit_test(test_small_values_exact),
		cmocka_unit_test(test_single_values),
		cmocka_unit_test(test_merge),
		cmocka_unit_test(test_empty_and_huge),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
