/*
 * Unit tests of the load generator's key distributions: zipf frequencies
 * of ranks 1..10 against theory (P(i) = i^-theta / sum of j^-theta) for
 * theta 0.99 and others, within 5 standard deviations of a binomial
 * count; uniform spread and coverage; seq order, wrap and coverage; the
 * bounded random numbers; parsing of --keys.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "keys.h"

/* Draw n keys over 1..k into count[1..k] (count[0] unused). */
static uint64_t *
draw(enum keydist d, double theta, uint64_t k, uint64_t n, uint64_t seed)
{
	uint64_t *count = calloc(k + 1, sizeof(*count)), i, key;
	struct keygen g;

	assert_non_null(count);
	keygen_init(&g, d, theta, k, seed, 0);
	for (i = 0; i < n; i++) {
		key = keygen_next(&g);
		assert_true(key >= 1 && key <= k);
		count[key]++;
	}
	return count;
}

static void
check_zipf(double theta, uint64_t k, uint64_t n)
{
	uint64_t *count = draw(KEYS_ZIPF, theta, k, n, 12345), i;
	double h = 0, p, sigma, got;

	for (i = 1; i <= k; i++)
		h += pow((double)i, -theta);
	for (i = 1; i <= 10 && i <= k; i++) {
		p = pow((double)i, -theta) / h;
		sigma = sqrt(p * (1 - p) / (double)n);
		got = (double)count[i] / (double)n;
		if (fabs(got - p) > 5 * sigma)
			fail_msg("theta %g k %llu rank %llu: frequency %.5f, "
			    "theory %.5f (5 sigma %.5f)", theta,
			    (unsigned long long)k, (unsigned long long)i, got,
			    p, 5 * sigma);
	}
	free(count);
}

static void
test_zipf_099(void **state)
{
	(void)state;
	check_zipf(0.99, 1000, 1000000);
	check_zipf(0.99, 100000, 1000000);
}

static void
test_zipf_other_thetas(void **state)
{
	(void)state;
	check_zipf(0.5, 1000, 500000);
	check_zipf(1.0, 1000, 500000);	/* the log special case */
	check_zipf(1.5, 1000, 500000);
	check_zipf(0.99, 10, 500000);
	check_zipf(0.99, 2, 200000);
}

/* Huge key spaces cost nothing to set up and stay in range. */
static void
test_zipf_huge(void **state)
{
	struct keygen g;
	uint64_t i, key, ones = 0;

	(void)state;
	keygen_init(&g, KEYS_ZIPF, 0.99, UINT64_C(10000000000), 3, 0);
	for (i = 0; i < 100000; i++) {
		key = keygen_next(&g);
		assert_true(key >= 1 && key <= UINT64_C(10000000000));
		ones += key == 1;
	}
	/* P(1) = 1 / H(1e10, 0.99), H about 24: a few percent */
	assert_true(ones > 2000 && ones < 8000);
	keygen_init(&g, KEYS_ZIPF, 0.99, 1, 3, 0);
	for (i = 0; i < 100; i++)
		assert_true(keygen_next(&g) == 1);
}

static void
test_uniform(void **state)
{
	uint64_t k = 1000, n = 1000000, i, *count;
	double mean = (double)n / (double)k, sigma = sqrt(mean);

	(void)state;
	count = draw(KEYS_UNIFORM, 0, k, n, 99);
	for (i = 1; i <= k; i++)
		if (fabs((double)count[i] - mean) > 5 * sigma)
			fail_msg("key %llu drawn %llu times, expected %.0f",
			    (unsigned long long)i,
			    (unsigned long long)count[i], mean);
	free(count);
	/* a small key space is covered completely and quickly */
	count = draw(KEYS_UNIFORM, 0, 7, 1000, 5);
	for (i = 1; i <= 7; i++)
		assert_true(count[i] > 0);
	free(count);
}

static void
test_seq(void **state)
{
	struct keygen g;
	uint64_t i, *count;

	(void)state;
	keygen_init(&g, KEYS_SEQ, 0, 100, 1, 37);
	for (i = 38; i <= 100; i++)
		assert_true(keygen_next(&g) == i);
	for (i = 1; i <= 100; i++)
		assert_true(keygen_next(&g) == i);
	/* k draws cover every key exactly once, from any start */
	count = draw(KEYS_SEQ, 0, 1000, 1000, 1);
	for (i = 1; i <= 1000; i++)
		assert_true(count[i] == 1);
	free(count);
	keygen_init(&g, KEYS_SEQ, 0, 1, 1, 5);
	assert_true(keygen_next(&g) == 1);
	assert_true(keygen_next(&g) == 1);
}

static void
test_rng_below(void **state)
{
	struct rng r;
	uint64_t i, v, seen[3] = { 0 };

	(void)state;
	rng_seed(&r, 0);
	for (i = 0; i < 30000; i++) {
		v = rng_below(&r, 3);
		assert_true(v < 3);
		seen[v]++;
	}
	for (i = 0; i < 3; i++)
		assert_true(seen[i] > 9000 && seen[i] < 11000);
	for (i = 0; i < 1000; i++)
		assert_true(rng_below(&r, 1) == 0);
	for (i = 0; i < 1000; i++)
		assert_true(rng_unit(&r) >= 0 && rng_unit(&r) < 1);
}

static void
test_parse(void **state)
{
	enum keydist d;
	double t = 0;

	(void)state;
	assert_int_equal(keydist_parse("uniform", &d, &t), 0);
	assert_int_equal(d, KEYS_UNIFORM);
	assert_int_equal(keydist_parse("seq", &d, &t), 0);
	assert_int_equal(d, KEYS_SEQ);
	assert_int_equal(keydist_parse("zipf", &d, &t), 0);
	assert_int_equal(d, KEYS_ZIPF);
	assert_true(t == ZIPF_THETA_DEFAULT);
	assert_int_equal(keydist_parse("zipf:1.2", &d, &t), 0);
	assert_true(t == 1.2);
	assert_int_equal(keydist_parse("zipf:", &d, &t), -1);
	assert_int_equal(keydist_parse("zipf:0", &d, &t), -1);
	assert_int_equal(keydist_parse("zipf:-1", &d, &t), -1);
	assert_int_equal(keydist_parse("zipf:nan", &d, &t), -1);
	assert_int_equal(keydist_parse("zipf:1x", &d, &t), -1);
	assert_int_equal(keydist_parse("zipfy", &d, &t), -1);
	assert_int_equal(keydist_parse("normal", &d, &t), -1);
	assert_string_equal(keydist_name(KEYS_ZIPF), "zipf");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_zipf_099),
		cmocka_unit_test(test_zipf_other_thetas),
		cmocka_unit_test(test_zipf_huge),
		cmocka_unit_test(test_uniform),
		cmocka_unit_test(test_seq),
		cmocka_unit_test(test_rng_below),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
