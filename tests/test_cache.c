/*
 * Unit tests for the shared page cache: capacity checks, exact LRU order
 * (against a reference model), the byte bound, counters, loader failures,
 * huge pages, and a multi-threaded run meant for the TSan build.
 *
 * The loader fills slot i of page p with p * 1000 + i, so every answer can
 * be checked without a file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "cache.h"

#define NO_PAGE		UINT64_MAX

struct loader {
	size_t		 entries;
	_Atomic uint64_t calls;
	uint64_t	 fail_page;	/* fail this page, or NO_PAGE */
	uint64_t	 fail_mod;	/* or fail pages divisible by it, if > 0 */
	struct cache	*nest;		/* look up nest_page from inside its load */
	uint64_t	 nest_page;
	int		 nest_rc;
};

static int
load(void *arg, uint64_t page, uint64_t *offs)
{
	struct loader	*l = arg;
	struct cache	*c = l->nest;
	uint64_t	 a, b;
	size_t		 i;

	atomic_fetch_add(&l->calls, 1);
	/*
	 * The loader runs outside any lock, so a lookup of the same page from
	 * inside it plays, deterministically, another thread that caches the
	 * page while this load is under way.
	 */
	if (c != NULL && page == l->nest_page) {
		l->nest = NULL;
		l->nest_rc = cache_lookup(c, page, 0, &a, &b);
	}
	if (page == l->fail_page || (l->fail_mod > 0 && page % l->fail_mod == 0)) {
		errno = EIO;
		return -1;
	}
	for (i = 0; i < l->entries; i++)
		offs[i] = page * 1000 + i;
	return 0;
}

static void
loader_init(struct loader *l, size_t entries)
{
	memset(l, 0, sizeof(*l));
	l->entries = entries;
	atomic_init(&l->calls, 0);
	l->fail_page = NO_PAGE;
}

static uint64_t
calls(struct loader *l)
{
	return atomic_load(&l->calls);
}

/* A small deterministic generator (xorshift64), one state per user. */
static uint64_t
rnd(uint64_t *state)
{
	uint64_t	x = *state;

	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return *state = x;
}

/* Look up page/slot and check the answer against the loader's formula. */
static void
check_lookup(struct cache *c, uint64_t page, size_t slot)
{
	uint64_t	a = 0, b = 0;

	assert_int_equal(cache_lookup(c, page, slot, &a, &b), 0);
	assert_true(a == page * 1000 + slot);
	assert_true(b == page * 1000 + slot + 1);
}

static void
check_stats(struct cache *c, uint64_t hits, uint64_t misses,
    uint64_t evictions, uint64_t pages)
{
	struct cache_stats	st;

	cache_get_stats(c, &st);
	assert_true(st.hits == hits);
	assert_true(st.misses == misses);
	assert_true(st.evictions == evictions);
	assert_true(st.pages == pages);
}

static void
test_new_rejects_below_one_page(void **state)
{
	struct loader	l;

	(void)state;
	loader_init(&l, 4);
	errno = 0;
	assert_null(cache_new(31, 4, load, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cache_new(0, 4, load, &l));
	assert_int_equal(errno, EINVAL);
}

static void
test_new_rejects_bad_arguments(void **state)
{
	struct loader	l;

	(void)state;
	loader_init(&l, 4);
	errno = 0;
	assert_null(cache_new(1 << 20, 0, load, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cache_new(1 << 20, 4, NULL, &l));
	assert_int_equal(errno, EINVAL);
	/* entries * 8 would overflow a size_t. */
	errno = 0;
	assert_null(cache_new(UINT64_MAX, SIZE_MAX / 4, load, &l));
	assert_int_equal(errno, EINVAL);
}

static void
test_free_null(void **state)
{
	(void)state;
	cache_free(NULL);
}

static void
test_exactly_one_page_is_enough(void **state)
{
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(32, 4, load, &l));
	cache_get_stats(c, &st);
	assert_true(st.capacity == 32);
	assert_true(st.pages == 0 && st.bytes == 0);
	assert_true(st.hits == 0 && st.misses == 0);
	check_lookup(c, 9, 2);
	cache_get_stats(c, &st);
	assert_true(st.pages == 1 && st.bytes == 32);
	cache_free(c);
}

static void
test_values_match_loader(void **state)
{
	struct loader	 l;
	struct cache	*c;
	uint64_t	 page;
	size_t		 slot;

	(void)state;
	loader_init(&l, 9);
	/*
	 * Room for 4096 pages, 64 per shard: far more than 100 pages spread
	 * by the hash can put in any one shard, so nothing is evicted.
	 */
	assert_non_null(c = cache_new(4096 * 9 * 8, 9, load, &l));
	/* Twice: the first pass loads, the second answers from memory. */
	for (page = 0; page < 100; page++)
		for (slot = 0; slot < 8; slot++)
			check_lookup(c, page, slot);
	assert_true(calls(&l) == 100);
	for (page = 0; page < 100; page++)
		for (slot = 0; slot < 8; slot++)
			check_lookup(c, page, slot);
	assert_true(calls(&l) == 100);
	cache_free(c);
}

static void
test_hits_do_not_reload(void **state)
{
	struct loader	 l;
	struct cache	*c;
	int		 i;

	(void)state;
	loader_init(&l, 16);
	assert_non_null(c = cache_new(1 << 16, 16, load, &l));
	for (i = 0; i < 1000; i++)
		check_lookup(c, 123456789, (size_t)i % 15);
	assert_true(calls(&l) == 1);
	check_stats(c, 999, 1, 0, 1);
	cache_free(c);
}

/*
 * A cache of fewer than 16 pages is a single shard, so its LRU order is
 * exact: 0,1,2,0,3 with room for three pages must evict 1.
 */
static void
test_lru_eviction_order(void **state)
{
	struct loader	 l;
	struct cache	*c;

	(void)state;
	loader_init(&l, 2);
	assert_non_null(c = cache_new(3 * 2 * 8, 2, load, &l));
	check_lookup(c, 0, 0);
	check_lookup(c, 1, 0);
	check_lookup(c, 2, 0);
	check_lookup(c, 0, 0);
	assert_true(calls(&l) == 3);
	check_lookup(c, 3, 0);
	assert_true(calls(&l) == 4);
	check_stats(c, 1, 4, 1, 3);

	/* 0, 2 and 3 are still held; 1 is not. */
	check_lookup(c, 0, 0);
	check_lookup(c, 2, 0);
	check_lookup(c, 3, 0);
	assert_true(calls(&l) == 4);
	check_lookup(c, 1, 0);
	assert_true(calls(&l) == 5);
	check_stats(c, 4, 5, 2, 3);

	/* Order is now 1,3,2,0 (most recent first): 0 went, 2 is next. */
	check_lookup(c, 4, 0);
	assert_true(calls(&l) == 6);
	check_lookup(c, 1, 0);
	check_lookup(c, 3, 0);
	check_lookup(c, 4, 0);
	assert_true(calls(&l) == 6);
	check_lookup(c, 2, 0);
	assert_true(calls(&l) == 7);
	check_stats(c, 7, 7, 4, 3);
	cache_free(c);
}

/* Reference LRU: pages[0] is the most recently used. */
struct model {
	uint64_t	pages[16];
	size_t		n, cap;
	uint64_t	hits, misses, evictions;
};

static void
model_access(struct model *m, uint64_t page)
{
	size_t	i;

	for (i = 0; i < m->n && m->pages[i] != page; i++)
		;
	if (i < m->n) {
		m->hits++;
	} else {
		m->misses++;
		if (m->n == m->cap)
			m->evictions++;
		else
			m->n++;
		i = m->n - 1;
	}
	memmove(&m->pages[1], &m->pages[0], i * sizeof(m->pages[0]));
	m->pages[0] = page;
}

/*
 * A single-shard cache of cap pages against the model, span pages asked for
 * at random: every hit, miss and eviction must agree, which also checks that
 * deleting from the open-addressed table never loses or strands a page.
 */
static void
run_model(size_t cap, uint64_t span, int ops)
{
	struct loader	 l;
	struct cache	*c;
	struct model	 m;
	uint64_t	 seed = 0x2545f4914f6cdd1dULL, page;
	int		 i;

	memset(&m, 0, sizeof(m));
	m.cap = cap;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(m.cap * 4 * 8 + 31, 4, load, &l));
	for (i = 0; i < ops; i++) {
		page = rnd(&seed) % span;
		model_access(&m, page);
		check_lookup(c, page, (size_t)i % 3);
		/* The loader ran exactly when the model missed. */
		assert_true(calls(&l) == m.misses);
		check_stats(c, m.hits, m.misses, m.evictions, m.n);
	}
	assert_true(m.hits > 0 && m.evictions > 0);
	cache_free(c);
}

static void
test_matches_reference_lru(void **state)
{
	(void)state;
	run_model(5, 9, 20000);
}

/* A table at its fullest (15 pages, 32 slots) and long probe runs. */
static void
test_matches_reference_lru_full_table(void **state)
{
	(void)state;
	run_model(15, 1000, 100000);
	run_model(15, 20, 100000);
}

/* The byte bound holds after every operation, for odd sizes too. */
static void
run_bound(uint64_t capacity, size_t entries, uint64_t span, int ops)
{
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;
	uint64_t		 seed = 88172645463325252ULL, page;
	int			 i;

	loader_init(&l, entries);
	assert_non_null(c = cache_new(capacity, entries, load, &l));
	for (i = 0; i < ops; i++) {
		page = rnd(&seed) % span;
		check_lookup(c, page, (size_t)(rnd(&seed) % (entries - 1)));
		cache_get_stats(c, &st);
		assert_true(st.bytes == st.pages * entries * 8);
		assert_true(st.bytes <= capacity);
		assert_true(st.capacity == capacity);
		assert_true(st.hits + st.misses == (uint64_t)i + 1);
		/* Single-threaded, every miss inserts one page. */
		assert_true(st.pages == st.misses - st.evictions);
		assert_true(st.misses == calls(&l));
		assert_true(st.load_errors == 0);
	}
	cache_get_stats(c, &st);
	assert_true(st.evictions > 0);
	cache_free(c);
}

static void
test_byte_bound_random(void **state)
{
	(void)state;
	run_bound(24, 3, 5, 2000);
	run_bound(100, 3, 20, 5000);
	run_bound(24 * 17 + 5, 3, 60, 20000);
	run_bound(24 * 1000 + 23, 3, 3000, 50000);
	run_bound(4096 * 8 * 130, 4096, 400, 5000);
}

/*
 * Sharding must not waste the bound: with many distinct pages every shard
 * fills, and together they hold exactly capacity / page size pages.
 */
static void
test_full_capacity_used(void **state)
{
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;
	uint64_t		 page;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(100 * 32 + 31, 4, load, &l));
	for (page = 0; page < 5000; page++)
		check_lookup(c, page, 0);
	cache_get_stats(c, &st);
	assert_true(st.pages == 100);
	assert_true(st.bytes == 3200);
	assert_true(st.evictions == 4900);
	cache_free(c);
}

static void
test_one_page_cache(void **state)
{
	struct loader	 l;
	struct cache	*c;
	int		 i;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(32 + 31, 4, load, &l));
	for (i = 0; i < 10; i++)
		check_lookup(c, (uint64_t)i % 2, 1);
	check_stats(c, 0, 10, 9, 1);
	check_lookup(c, 1, 2);
	check_stats(c, 1, 10, 9, 1);
	cache_free(c);
}

static void
test_loader_failure(void **state)
{
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;
	uint64_t		 a = 0, b = 0;

	(void)state;
	loader_init(&l, 8);
	l.fail_page = 7;
	assert_non_null(c = cache_new(1 << 16, 8, load, &l));
	errno = 0;
	assert_int_equal(cache_lookup(c, 7, 3, &a, &b), -1);
	assert_int_equal(errno, EIO);
	cache_get_stats(c, &st);
	assert_true(st.misses == 1 && st.load_errors == 1);
	assert_true(st.pages == 0 && st.bytes == 0 && st.hits == 0);

	/* Nothing was cached: the next lookup asks the loader again. */
	assert_int_equal(cache_lookup(c, 7, 3, &a, &b), -1);
	assert_true(calls(&l) == 2);
	cache_get_stats(c, &st);
	assert_true(st.misses == 2 && st.load_errors == 2 && st.pages == 0);

	/* Once the loader succeeds the page is served, then cached. */
	l.fail_page = NO_PAGE;
	check_lookup(c, 7, 3);
	check_lookup(c, 7, 4);
	assert_true(calls(&l) == 3);
	cache_get_stats(c, &st);
	assert_true(st.hits == 1 && st.misses == 3);
	assert_true(st.load_errors == 2 && st.pages == 1);
	cache_free(c);
}

static void
test_failure_keeps_other_pages(void **state)
{
	struct loader	 l;
	struct cache	*c;
	uint64_t	 a, b;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(4 * 32, 4, load, &l));
	check_lookup(c, 1, 0);
	check_lookup(c, 2, 0);
	l.fail_page = 3;
	assert_int_equal(cache_lookup(c, 3, 0, &a, &b), -1);
	check_lookup(c, 1, 1);
	check_lookup(c, 2, 1);
	assert_true(calls(&l) == 3);
	check_stats(c, 2, 3, 0, 2);
	cache_free(c);
}

static void
test_concurrent_load_keeps_one(void **state)
{
	struct loader	 l;
	struct cache	*c;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(4 * 32, 4, load, &l));
	l.nest = c;
	l.nest_page = 5;
	l.nest_rc = -1;
	check_lookup(c, 5, 1);
	assert_int_equal(l.nest_rc, 0);
	assert_true(calls(&l) == 2);
	/* Two misses, one page held: the second copy was not inserted. */
	check_stats(c, 0, 2, 0, 1);
	check_lookup(c, 5, 2);
	check_stats(c, 1, 2, 0, 1);
	cache_free(c);
}

/* The same race in a full one-page cache: the buffers are recycled. */
static void
test_concurrent_load_when_full(void **state)
{
	struct loader	 l;
	struct cache	*c;
	int		 i;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(32, 4, load, &l));
	check_lookup(c, 0, 0);
	l.nest = c;
	l.nest_page = 5;
	l.nest_rc = -1;
	check_lookup(c, 5, 1);
	assert_int_equal(l.nest_rc, 0);
	check_stats(c, 0, 3, 1, 1);
	check_lookup(c, 5, 2);
	for (i = 0; i < 10; i++)
		check_lookup(c, (uint64_t)i, 0);
	check_stats(c, 1, 13, 11, 1);
	cache_free(c);
}

static void
test_slot_out_of_range(void **state)
{
	struct loader	 l;
	struct cache	*c;
	uint64_t	 a, b;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = cache_new(1 << 12, 4, load, &l));
	errno = 0;
	assert_int_equal(cache_lookup(c, 0, 3, &a, &b), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cache_lookup(c, 0, SIZE_MAX, &a, &b), -1);
	assert_true(calls(&l) == 0);
	check_stats(c, 0, 0, 0, 0);
	check_lookup(c, 0, 2);	/* the last valid slot */
	cache_free(c);
}

/* The largest page the index allows (m = 2^20, so m + 1 entries). */
static void
test_large_pages(void **state)
{
	const size_t		 entries = 1048577;
	const uint64_t		 page_bytes = entries * 8;
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;

	(void)state;
	loader_init(&l, entries);
	assert_null(cache_new(page_bytes - 1, entries, load, &l));
	assert_non_null(c = cache_new(page_bytes, entries, load, &l));
	check_lookup(c, 0, entries - 2);
	check_lookup(c, 0, 0);
	check_lookup(c, 1, entries - 2);
	check_lookup(c, 0, 524288);
	assert_true(calls(&l) == 3);
	cache_get_stats(c, &st);
	assert_true(st.hits == 1 && st.misses == 3 && st.evictions == 2);
	assert_true(st.pages == 1 && st.bytes == page_bytes);
	cache_free(c);
}

/*
 * Threads: each reports its own tallies; cmocka's asserts run only in the
 * main thread.
 */
#define MT_THREADS	4

struct worker {
	pthread_t	 tid;
	struct cache	*c;
	size_t		 entries;
	uint64_t	 span;
	uint64_t	 fail_mod;
	uint64_t	 seed;
	int		 ops;
	uint64_t	 wrong;		/* answers that broke the formula */
	uint64_t	 failed;	/* lookups that returned -1 */
};

static void *
worker_run(void *arg)
{
	struct worker	*w = arg;
	uint64_t	 page, a, b;
	size_t		 slot;
	int		 i, rc;

	for (i = 0; i < w->ops; i++) {
		page = rnd(&w->seed) % w->span;
		slot = (size_t)(rnd(&w->seed) % (w->entries - 1));
		rc = cache_lookup(w->c, page, slot, &a, &b);
		if (w->fail_mod > 0 && page % w->fail_mod == 0) {
			if (rc == -1)
				w->failed++;
			else
				w->wrong++;
		} else if (rc != 0 || a != page * 1000 + slot ||
		    b != page * 1000 + slot + 1)
			w->wrong++;
	}
	return NULL;
}

static void
run_threads(uint64_t fail_mod, int ops)
{
	const size_t		 entries = 64;
	const uint64_t		 cap_pages = 256;
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;
	struct worker		 w[MT_THREADS];
	uint64_t		 failed = 0;
	int			 i;

	loader_init(&l, entries);
	l.fail_mod = fail_mod;
	assert_non_null(c = cache_new(cap_pages * entries * 8, entries, load,
	    &l));
	for (i = 0; i < MT_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = c;
		w[i].entries = entries;
		w[i].span = cap_pages * 3;
		w[i].fail_mod = fail_mod;
		w[i].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		w[i].ops = ops;
		assert_int_equal(pthread_create(&w[i].tid, NULL, worker_run,
		    &w[i]), 0);
	}
	for (i = 0; i < MT_THREADS; i++) {
		assert_int_equal(pthread_join(w[i].tid, NULL), 0);
		assert_true(w[i].wrong == 0);
		failed += w[i].failed;
	}
	cache_get_stats(c, &st);
	assert_true(st.hits + st.misses == (uint64_t)MT_THREADS * ops);
	assert_true(st.misses == calls(&l));
	assert_true(st.load_errors == failed);
	assert_true(st.pages <= cap_pages);
	assert_true(st.bytes == st.pages * entries * 8);
	assert_true(st.hits > 0 && st.evictions > 0);
	if (fail_mod > 0)
		assert_true(failed > 0);
	cache_free(c);
}

static void
test_threads_smoke(void **state)
{
	(void)state;
	run_threads(0, 200000);
}

static void
test_threads_with_failures(void **state)
{
	(void)state;
	run_threads(7, 50000);
}

/* An encoded layout: entry 0 is a base, the reader adds the slot to it. */
static void
read_encoded(void *arg, const uint64_t *page, size_t slot, uint64_t *a,
    uint64_t *b)
{
	(void)arg;
	*a = page[0] + 10 * slot;
	*b = page[0] + 10 * slot + 7;
}

static void
test_reader_decodes_pages(void **state)
{
	struct loader	 l;
	struct cache	*c;
	uint64_t	 a, b;

	(void)state;
	loader_init(&l, 2);
	c = cache_new(4 * 2 * 8, 2, load, &l);
	assert_non_null(c);
	cache_set_reader(c, read_encoded, 100); /* 100 slots in 2 entries */
	for (int pass = 0; pass < 2; pass++) { /* a miss, then a hit */
		assert_int_equal(cache_lookup(c, 3, 99, &a, &b), 0);
		assert_int_equal(a, 3000 + 990);
		assert_int_equal(b, 3000 + 997);
	}
	assert_int_equal(calls(&l), 1);
	errno = 0;
	assert_int_equal(cache_lookup(c, 3, 100, &a, &b), -1);
	assert_int_equal(errno, EINVAL);
	cache_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_below_one_page),
		cmocka_unit_test(test_new_rejects_bad_arguments),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_exactly_one_page_is_enough),
		cmocka_unit_test(test_values_match_loader),
		cmocka_unit_test(test_hits_do_not_reload),
		cmocka_unit_test(test_lru_eviction_order),
		cmocka_unit_test(test_matches_reference_lru),
		cmocka_unit_test(test_matches_reference_lru_full_table),
		cmocka_unit_test(test_byte_bound_random),
		cmocka_unit_test(test_full_capacity_used),
		cmocka_unit_test(test_one_page_cache),
		cmocka_unit_test(test_loader_failure),
		cmocka_unit_test(test_failure_keeps_other_pages),
		cmocka_unit_test(test_concurrent_load_keeps_one),
		cmocka_unit_test(test_concurrent_load_when_full),
		cmocka_unit_test(test_slot_out_of_range),
		cmocka_unit_test(test_large_pages),
		cmocka_unit_test(test_reader_decodes_pages),
		cmocka_unit_test(test_threads_smoke),
		cmocka_unit_test(test_threads_with_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
