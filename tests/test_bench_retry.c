/*
 * Unit tests of the load generator's resend policy (retry.h): sifting a
 * ring of requests in flight keeps the ones still allowed a resend in
 * their order, wherever the ring wraps, and drops (loses) the others;
 * --retry 0 loses everything; the reconnect backoff starts at once,
 * doubles, stays bounded, and spreads clients apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "retry.h"

#define DEPTH 8

/* A ring of n flights from head: keys 1..n, tries[i] resends so far. */
static void
fill(struct flight *ring, uint32_t head, uint32_t n, const uint32_t *tries)
{
	uint32_t i;

	for (i = 0; i < n; i++) {
		ring[(head + i) % DEPTH].key = i + 1;
		ring[(head + i) % DEPTH].t = 1000 + i;
		ring[(head + i) % DEPTH].tries = tries[i];
	}
}

/* The keys left, oldest first, must be want[0..nwant). */
static void
expect_keys(const struct flight *ring, uint32_t head, uint32_t count,
    const uint64_t *want, uint32_t nwant)
{
	uint32_t i;

	assert_int_equal(count, nwant);
	for (i = 0; i < count; i++) {
		assert_int_equal(ring[(head + i) % DEPTH].key, want[i]);
		/* the time latency counts from travels with its request */
		assert_int_equal(ring[(head + i) % DEPTH].t, 1000 + want[i] - 1);
	}
}

static void
test_sift_keeps_order_and_drops_spent(void **state)
{
	static const uint32_t tries[] = { 0, 2, 1, 2, 0, 2 };
	static const uint64_t want[] = { 1, 3, 5 };
	struct flight ring[DEPTH];
	uint32_t head, count;

	(void)state;
	for (head = 0; head < DEPTH; head++) {	/* every wrap position */
		fill(ring, head, 6, tries);
		count = 6;
		assert_int_equal(retry_sift(ring, DEPTH, head, &count, 2), 3);
		expect_keys(ring, head, count, want, 3);
	}
}

static void
test_sift_zero_loses_all(void **state)
{
	static const uint32_t tries[] = { 0, 0, 0, 0, 0, 0, 0, 0 };
	struct flight ring[DEPTH];
	uint32_t count = DEPTH;

	(void)state;
	fill(ring, 5, DEPTH, tries);
	assert_int_equal(retry_sift(ring, DEPTH, 5, &count, 0), DEPTH);
	assert_int_equal(count, 0);
}

static void
test_sift_full_and_empty(void **state)
{
	static const uint32_t tries[] = { 1, 1, 1, 1, 1, 1, 1, 1 };
	static const uint64_t want[] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct flight ring[DEPTH];
	uint32_t count = DEPTH;

	(void)state;
	fill(ring, 3, DEPTH, tries);
	assert_int_equal(retry_sift(ring, DEPTH, 3, &count, 2), 0);
	expect_keys(ring, 3, count, want, DEPTH);
	count = 0;
	assert_int_equal(retry_sift(ring, DEPTH, 3, &count, 2), 0);
	assert_int_equal(count, 0);
}

static void
test_backoff(void **state)
{
	uint32_t n, salt;
	uint64_t prev = 0, b;

	(void)state;
	for (salt = 0; salt < 16; salt++)
		assert_int_equal(retry_backoff(0, salt), 0);
	assert_int_equal(retry_backoff(1, 0), RETRY_BASE_NS);
	assert_int_equal(retry_backoff(2, 0), 2 * RETRY_BASE_NS);
	for (n = 1; n < 100000; n = n * 2 + 1) {
		b = retry_backoff(n, 0);
		assert_true(b >= prev && b <= RETRY_MAX_NS);
		prev = b;
	}
	assert_int_equal(retry_backoff(UINT32_MAX, 0), RETRY_MAX_NS);
	/* salt stretches a wait by up to a quarter, clients apart */
	assert_true(retry_backoff(3, 1) > retry_backoff(3, 0));
	for (salt = 0; salt < 16; salt++)
		assert_true(retry_backoff(UINT32_MAX, salt) <=
		    RETRY_MAX_NS + RETRY_MAX_NS / 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sift_keeps_order_and_drops_spent),
		cmocka_unit_test(test_sift_zero_loses_all),
		cmocka_unit_test(test_sift_full_and_empty),
		cmocka_unit_test(test_backoff),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
