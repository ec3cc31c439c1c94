/*
 * Unit tests for the shared page cache: capacity checks, exact LRU order
 * (against a reference model), the byte bound (what the cache counts and
 * what the process's RssAnon shows), counters, loader failures, large and
 * odd-sized bodies, and multi-threaded runs (misses racing on the same
 * pages among them) meant for the sanitizer builds.
 *
 * The loader fills entry i of page p's body with p * 1000 + i, and the
 * reader returns entries slot and slot + 1, so every answer can be checked
 * without a file.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cache.h"
#include "rng.h"

#define NO_PAGE		UINT64_MAX

struct loader {
	size_t		 entries;	/* body_bytes / 8 */
	_Atomic uint64_t calls;
	uint64_t	 fail_page;	/* fail this page, or NO_PAGE */
	uint64_t	 fail_mod;	/* or fail pages divisible by it, if > 0 */
	struct cache	*nest;		/* look up nest_page from inside its load */
	uint64_t	 nest_page;
	int		 nest_rc;
	unsigned	 delay_us;	/* sleep in every load: widen races */
	_Atomic(void *)	 first_body;	/* the first body loaded into */
	_Atomic uint64_t other_bodies;	/* loads into any other body */
};

static int
load(void *arg, uint64_t page, void *body)
{
	struct loader	*l = arg;
	struct cache	*c = l->nest;
	uint64_t	*offs = body, ab[2];
	void		*none = NULL;
	size_t		 i;

	atomic_fetch_add(&l->calls, 1);
	if (!atomic_compare_exchange_strong(&l->first_body, &none, body) &&
	    none != body)
		atomic_fetch_add(&l->other_bodies, 1);
	/*
	 * The loader runs outside any lock, so a lookup of the same page from
	 * inside it plays, deterministically, another thread that caches the
	 * page while this load is under way.
	 */
	if (c != NULL && page == l->nest_page) {
		l->nest = NULL;
		l->nest_rc = cache_lookup(c, page, 0, ab);
	}
	if (l->delay_us > 0)
		usleep(l->delay_us);
	if (page == l->fail_page || (l->fail_mod > 0 && page % l->fail_mod == 0)) {
		errno = EIO;
		return -1;
	}
	for (i = 0; i < l->entries; i++)
		offs[i] = page * 1000 + i;
	return 0;
}

/* A body is an array of offsets: slot's are entries slot and slot + 1. */
static void
read_pair(void *arg, const void *body, size_t slot, void *out)
{
	const uint64_t	*offs = body;
	uint64_t	*ab = out;

	(void)arg;
	ab[0] = offs[slot];
	ab[1] = offs[slot + 1];
}

static void
loader_init(struct loader *l, size_t entries)
{
	memset(l, 0, sizeof(*l));
	l->entries = entries;
	atomic_init(&l->calls, 0);
	atomic_init(&l->first_body, NULL);
	atomic_init(&l->other_bodies, 0);
	l->fail_page = NO_PAGE;
}

/* A cache of pages of entries offsets, slots entries - 1. */
static struct cache *
new_cache(uint64_t capacity, size_t entries, struct loader *l)
{
	return cache_new(capacity, entries * 8, entries - 1, load, read_pair,
	    l);
}

/*
 * The capacity that holds exactly pages pages of body_bytes (in one shard,
 * below 16 pages): for small caches every page adds the same cost.
 */
static uint64_t
capacity_for(size_t body_bytes, uint64_t pages)
{
	return cache_min_capacity(body_bytes) +
	    (pages - 1) * cache_page_cost(body_bytes);
}

static uint64_t
calls(struct loader *l)
{
	return atomic_load(&l->calls);
}


/*
 * Look up page/slot and check the answer against the loader's formula;
 * what cache_lookup returned: 0 for a hit, 1 for a miss.
 */
static int
check_lookup(struct cache *c, uint64_t page, size_t slot)
{
	uint64_t	ab[2] = { 0, 0 };
	int		rc = cache_lookup(c, page, slot, ab);

	assert_true(rc == 0 || rc == 1);
	assert_true(ab[0] == page * 1000 + slot);
	assert_true(ab[1] == page * 1000 + slot + 1);
	return rc;
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

/* Below one page's cost, or below one page and the fixed structures. */
static void
test_new_rejects_below_one_page(void **state)
{
	static const size_t	 bodies[] = { 16, 24, 264, 16400 };
	struct loader		 l;
	struct cache		*c;
	size_t			 i, body;
	uint64_t		 min;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		body = bodies[i];
		loader_init(&l, body / 8);
		min = cache_min_capacity(body);
		assert_true(min > cache_page_cost(body));
		/* The fixed structures are a few hundred bytes. */
		assert_true(min < cache_page_cost(body) + 4096 ||
		    min < 2 * cache_page_cost(body));
		errno = 0;
		assert_null(new_cache(cache_page_cost(body) - 1, body / 8,
		    &l));
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_null(new_cache(min - 1, body / 8, &l));
		assert_int_equal(errno, EINVAL);
		errno = 0;
		assert_null(new_cache(0, body / 8, &l));
		assert_int_equal(errno, EINVAL);
		assert_non_null(c = new_cache(min, body / 8, &l));
		cache_free(c);
	}
}

static void
test_new_rejects_bad_arguments(void **state)
{
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;

	(void)state;
	loader_init(&l, 4);
	errno = 0;
	assert_null(cache_new(1 << 20, 0, 3, load, read_pair, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cache_new(1 << 20, 32, 0, load, read_pair, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cache_new(1 << 20, 32, 3, NULL, read_pair, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(cache_new(1 << 20, 32, 3, load, NULL, &l));
	assert_int_equal(errno, EINVAL);
	/* A body whose cost would overflow. */
	errno = 0;
	assert_null(cache_new(UINT64_MAX, SIZE_MAX / 2, 3, load, read_pair,
	    &l));
	assert_int_equal(errno, EINVAL);
	/*
	 * No sum wraps to a small one: the most a cache holds (2^31 pages a
	 * shard) is mapped, never touched, or cannot be mapped at all.
	 */
	errno = 0;
	if ((c = cache_new(UINT64_MAX, 32, 3, load, read_pair, &l)) == NULL)
		assert_int_equal(errno, ENOMEM);
	else {
		cache_get_stats(c, &st);
		assert_true(st.max_pages == 64 * 0x7fffffffULL);
		assert_true(st.capacity == UINT64_MAX);
		check_lookup(c, 1, 2);
		cache_free(c);
	}
	assert_true(cache_min_capacity(0) == 0);
	assert_true(cache_min_capacity(SIZE_MAX / 2) == 0);
}

static void
test_free_null(void **state)
{
	(void)state;
	cache_free(NULL);
}

/* Header, body rounded to 8, two 8-byte table slots. */
static void
test_page_cost(void **state)
{
	(void)state;
	assert_int_equal(cache_page_cost(1), 16 + 8 + 16);
	assert_int_equal(cache_page_cost(12), 16 + 16 + 16);
	assert_int_equal(cache_page_cost(16), 16 + 16 + 16);
	assert_int_equal(cache_page_cost(24), 16 + 24 + 16);
	assert_int_equal(cache_page_cost(16400), 16 + 16400 + 16);
}

static void
test_exactly_one_page_is_enough(void **state)
{
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = new_cache(cache_min_capacity(32), 4, &l));
	cache_get_stats(c, &st);
	assert_true(st.capacity == cache_min_capacity(32));
	assert_true(st.max_pages == 1);
	assert_true(st.pages == 0 && st.bytes == 0);
	assert_true(st.hits == 0 && st.misses == 0);
	check_lookup(c, 9, 2);
	cache_get_stats(c, &st);
	assert_true(st.pages == 1 && st.bytes == cache_page_cost(32));
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
	assert_non_null(c = new_cache(4096 * cache_page_cost(72) + 65536, 9,
	    &l));
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
	assert_non_null(c = new_cache(1 << 16, 16, &l));
	/* The caller is told which lookup was the miss. */
	for (i = 0; i < 1000; i++)
		assert_int_equal(check_lookup(c, 123456789, (size_t)i % 15),
		    i == 0);
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
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;

	(void)state;
	loader_init(&l, 2);
	assert_non_null(c = new_cache(capacity_for(16, 3), 2, &l));
	cache_get_stats(c, &st);
	assert_true(st.max_pages == 3);
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
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;
	struct model		 m;
	uint64_t		 seed = 0x2545f4914f6cdd1dULL, page;
	int			 i;

	memset(&m, 0, sizeof(m));
	m.cap = cap;
	loader_init(&l, 4);
	/* A little more than cap pages need, not enough for one more. */
	assert_non_null(c = new_cache(capacity_for(32, cap) +
	    cache_page_cost(32) - 1, 4, &l));
	cache_get_stats(c, &st);
	assert_true(st.max_pages == cap);
	for (i = 0; i < ops; i++) {
		page = splitmix64(&seed) % span;
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

/* A table at its fullest (15 pages, 30 slots) and long probe runs. */
static void
test_matches_reference_lru_full_table(void **state)
{
	(void)state;
	run_model(15, 1000, 100000);
	run_model(15, 20, 100000);
	run_model(1, 3, 1000);
	run_model(2, 5, 5000);
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
	assert_non_null(c = new_cache(capacity, entries, &l));
	for (i = 0; i < ops; i++) {
		page = splitmix64(&seed) % span;
		check_lookup(c, page, (size_t)(splitmix64(&seed) % (entries - 1)));
		cache_get_stats(c, &st);
		assert_true(st.bytes == st.pages * cache_page_cost(entries * 8));
		assert_true(st.bytes <= capacity);
		assert_true(st.pages <= st.max_pages);
		assert_true(st.max_pages * cache_page_cost(entries * 8) <=
		    capacity);
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
	run_bound(cache_min_capacity(24), 3, 5, 2000);
	run_bound(capacity_for(24, 3) + 7, 3, 20, 5000);
	run_bound(capacity_for(24, 17) + 5, 3, 60, 20000);
	run_bound(1000 * cache_page_cost(24) + 23, 3, 3000, 50000);
	run_bound(130 * cache_page_cost(4096 * 8), 4096, 400, 5000);
}

/*
 * Sharding must not waste the bound: with many distinct pages every shard
 * fills, and together they hold max_pages, within a few pages of what the
 * capacity less the fixed structures allows.
 */
static void
test_full_capacity_used(void **state)
{
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;
	const uint64_t		 cost = cache_page_cost(32);
	uint64_t		 page;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = new_cache(capacity_for(32, 100) + cost - 1, 4,
	    &l));
	cache_get_stats(c, &st);
	/* Four shards, each with its lock, counters and list head. */
	assert_true(st.max_pages <= 100 && st.max_pages >= 90);
	for (page = 0; page < 5000; page++)
		check_lookup(c, page, 0);
	cache_get_stats(c, &st);
	assert_true(st.pages == st.max_pages);
	assert_true(st.bytes == st.pages * cost);
	assert_true(st.evictions == 5000 - st.pages);
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
	assert_non_null(c = new_cache(capacity_for(32, 2) - 1, 4, &l));
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
	uint64_t		 ab[2];

	(void)state;
	loader_init(&l, 8);
	l.fail_page = 7;
	assert_non_null(c = new_cache(1 << 16, 8, &l));
	errno = 0;
	assert_int_equal(cache_lookup(c, 7, 3, ab), -1);
	assert_int_equal(errno, EIO);
	cache_get_stats(c, &st);
	assert_true(st.misses == 1 && st.load_errors == 1);
	assert_true(st.pages == 0 && st.bytes == 0 && st.hits == 0);

	/* Nothing was cached: the next lookup asks the loader again. */
	assert_int_equal(cache_lookup(c, 7, 3, ab), -1);
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

/* A failed load gives its entry back: all four still fit afterwards. */
static void
test_failure_keeps_other_pages(void **state)
{
	struct loader	 l;
	struct cache	*c;
	uint64_t	 ab[2];

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = new_cache(capacity_for(32, 4), 4, &l));
	check_lookup(c, 1, 0);
	check_lookup(c, 2, 0);
	l.fail_page = 3;
	assert_int_equal(cache_lookup(c, 3, 0, ab), -1);
	check_lookup(c, 1, 1);
	check_lookup(c, 2, 1);
	assert_true(calls(&l) == 3);
	check_stats(c, 2, 3, 0, 2);
	check_lookup(c, 4, 0);
	check_lookup(c, 5, 0);
	check_stats(c, 2, 5, 0, 4);
	check_lookup(c, 6, 0);
	check_stats(c, 2, 6, 1, 4);
	cache_free(c);
}

static void
test_concurrent_load_keeps_one(void **state)
{
	struct loader	 l;
	struct cache	*c;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = new_cache(capacity_for(32, 4), 4, &l));
	l.nest = c;
	l.nest_page = 5;
	l.nest_rc = -1;
	check_lookup(c, 5, 1);
	assert_int_equal(l.nest_rc, 1);
	assert_true(calls(&l) == 2);
	/* Two misses, one page held: the second copy was not inserted. */
	check_stats(c, 0, 2, 0, 1);
	check_lookup(c, 5, 2);
	check_stats(c, 1, 2, 0, 1);
	/* Its entry went back to the free list: three more fit. */
	check_lookup(c, 6, 0);
	check_lookup(c, 7, 0);
	check_lookup(c, 8, 0);
	check_stats(c, 1, 5, 0, 4);
	check_lookup(c, 9, 0);
	check_stats(c, 1, 6, 1, 4);
	cache_free(c);
}

/*
 * The same race in a full one-page cache: the outer miss holds the only
 * entry, so the inner one loads into a buffer of its own and keeps nothing.
 */
static void
test_concurrent_load_when_full(void **state)
{
	struct loader	 l;
	struct cache	*c;
	int		 i;

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = new_cache(cache_min_capacity(32), 4, &l));
	check_lookup(c, 0, 0);
	l.nest = c;
	l.nest_page = 5;
	l.nest_rc = -1;
	check_lookup(c, 5, 1);
	assert_int_equal(l.nest_rc, 1);
	assert_true(atomic_load(&l.other_bodies) == 1);
	check_stats(c, 0, 3, 1, 1);
	check_lookup(c, 5, 2);
	for (i = 0; i < 10; i++)
		check_lookup(c, (uint64_t)i, 0);
	check_stats(c, 1, 13, 11, 1);
	/* Every other load went into the one entry. */
	assert_true(atomic_load(&l.other_bodies) == 1);
	cache_free(c);
}

static void
test_slot_out_of_range(void **state)
{
	struct loader	 l;
	struct cache	*c;
	uint64_t	 ab[2];

	(void)state;
	loader_init(&l, 4);
	assert_non_null(c = new_cache(1 << 12, 4, &l));
	errno = 0;
	assert_int_equal(cache_lookup(c, 0, 3, ab), -1);
	assert_int_equal(errno, EINVAL);
	assert_int_equal(cache_lookup(c, 0, SIZE_MAX, ab), -1);
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
	const size_t		 body = entries * 8;
	struct loader		 l;
	struct cache		*c;
	struct cache_stats	 st;

	(void)state;
	loader_init(&l, entries);
	/* A mapped arena is rounded to whole memory pages. */
	assert_true(cache_min_capacity(body) < cache_page_cost(body) + 16384);
	assert_null(new_cache(cache_min_capacity(body) - 1, entries, &l));
	assert_non_null(c = new_cache(cache_min_capacity(body), entries, &l));
	check_lookup(c, 0, entries - 2);
	check_lookup(c, 0, 0);
	check_lookup(c, 1, entries - 2);
	check_lookup(c, 0, 524288);
	assert_true(calls(&l) == 3);
	cache_get_stats(c, &st);
	assert_true(st.hits == 1 && st.misses == 3 && st.evictions == 2);
	assert_true(st.pages == 1 && st.bytes == cache_page_cost(body));
	cache_free(c);
}

/* Bodies of any length: the cache rounds its entries, not the body. */
static int
load_odd(void *arg, uint64_t page, void *body)
{
	const size_t	*len = arg;
	unsigned char	*p = body;
	size_t		 i;

	for (i = 0; i < *len; i++)
		p[i] = (unsigned char)(page + i);
	return 0;
}

static void
read_byte(void *arg, const void *body, size_t slot, void *out)
{
	(void)arg;
	*(unsigned char *)out = ((const unsigned char *)body)[slot];
}

static void
test_odd_body_sizes(void **state)
{
	static const size_t	 lens[] = { 1, 7, 12, 13, 4097 };
	struct cache		*c;
	struct cache_stats	 st;
	unsigned char		 v;
	uint64_t		 page, seed = 7;
	size_t			 i, len, slot;

	(void)state;
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		len = lens[i];
		assert_non_null(c = cache_new(capacity_for(len, 5), len, len,
		    load_odd, read_byte, &len));
		for (page = 0; page < 2000; page++) {
			uint64_t p = splitmix64(&seed) % 12;

			slot = (size_t)(splitmix64(&seed) % len);
			assert_in_range(cache_lookup(c, p, slot, &v), 0, 1);
			assert_int_equal(v, (unsigned char)(p + slot));
		}
		cache_get_stats(c, &st);
		assert_true(st.max_pages == 5 && st.pages == 5);
		assert_true(st.hits > 0 && st.evictions > 0);
		cache_free(c);
	}
}

/* An encoded layout: entry 0 is a base, the reader adds the slot to it. */
static void
read_encoded(void *arg, const void *body, size_t slot, void *out)
{
	const uint64_t	*page = body;
	uint64_t	*ab = out;

	(void)arg;
	ab[0] = page[0] + 10 * slot;
	ab[1] = page[0] + 10 * slot + 7;
}

static void
test_reader_decodes_pages(void **state)
{
	struct loader	 l;
	struct cache	*c;
	uint64_t	 ab[2];

	(void)state;
	loader_init(&l, 2);
	/* 100 slots in 2 entries */
	c = cache_new(capacity_for(16, 4), 16, 100, load, read_encoded, &l);
	assert_non_null(c);
	for (int pass = 0; pass < 2; pass++) { /* a miss, then a hit */
		assert_in_range(cache_lookup(c, 3, 99, ab), 0, 1);
		assert_int_equal(ab[0], 3000 + 990);
		assert_int_equal(ab[1], 3000 + 997);
	}
	assert_int_equal(calls(&l), 1);
	errno = 0;
	assert_int_equal(cache_lookup(c, 3, 100, ab), -1);
	assert_int_equal(errno, EINVAL);
	cache_free(c);
}

/* ---- memory actually used ---- */

/* The process's anonymous resident memory, in bytes; 0 if unknown. */
static uint64_t
rss_anon(void)
{
	char		 line[256];
	unsigned long long kb = 0;
	FILE		*f = fopen("/proc/self/status", "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "RssAnon: %llu kB", &kb) == 1)
			break;
	fclose(f);
	return (uint64_t)kb * 1024;
}

/* Memory the loader needs besides the cache: none. */
static int
load_fill(void *arg, uint64_t page, void *body)
{
	size_t		 len = *(size_t *)arg;

	memset(body, (int)(page & 0xff), len);
	memcpy(body, &page, sizeof(page));
	return 0;
}

static void
read_no(void *arg, const void *body, size_t slot, void *out)
{
	(void)arg;
	(void)slot;
	memcpy(out, body, sizeof(uint64_t));
}

/*
 * Fill a fresh cache with far more distinct pages than fit: pages held
 * times their cost stays within the capacity, and so does the growth of
 * the process's RssAnon (plus 10% and 2 MB of slack for the allocator and
 * the measurement). Returns the growth.
 */
static uint64_t
run_rss(uint64_t capacity, size_t body)
{
	struct cache		*c;
	struct cache_stats	 st;
	uint64_t		 before, after, page, no, n;

	before = rss_anon();
	assert_non_null(c = cache_new(capacity, body, 1, load_fill, read_no,
	    &body));
	cache_get_stats(c, &st);
	assert_true(st.max_pages > 0);
	assert_true(st.max_pages * cache_page_cost(body) <= capacity);
	/* The fixed costs are small against a large capacity. */
	if (capacity >= (16 << 20))
		assert_true(st.max_pages * cache_page_cost(body) >=
		    capacity / 100 * 99);
	n = 3 * st.max_pages + 1000;
	for (page = 0; page < n; page++) {
		assert_in_range(cache_lookup(c, page, 0, &no), 0, 1);
		assert_true(no == page);
	}
	after = rss_anon();
	cache_get_stats(c, &st);
	assert_true(st.pages <= st.max_pages);
	assert_true(st.pages >= st.max_pages * 9 / 10);
	assert_true(st.bytes == st.pages * cache_page_cost(body));
	assert_true(st.bytes <= capacity);
	assert_true(st.misses == n);
	cache_free(c);
	if (before == 0 || after == 0)
		return 0;	/* no /proc: nothing to measure */
	assert_true(after <= before + capacity + capacity / 10 + (2 << 20));
	return after > before ? after - before : 0;
}

static void
test_memory_bound(void **state)
{
	static const size_t	 bodies[] = { 16, 24, 264, 16400 };
	static const uint64_t	 caps[] = { 64 << 10, 1 << 20, 16 << 20 };
	size_t			 i, j;
	uint64_t		 grew;

	(void)state;
	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++)
		for (j = 0; j < sizeof(caps) / sizeof(caps[0]); j++) {
			grew = run_rss(caps[j], bodies[i]);
			if (caps[j] >= (16 << 20))
				print_message("body %zu, capacity %llu: "
				    "RssAnon grew %llu\n", bodies[i],
				    (unsigned long long)caps[j],
				    (unsigned long long)grew);
		}
	grew = run_rss((uint64_t)64 << 20, 24);
	print_message("body 24, capacity 67108864: RssAnon grew %llu\n",
	    (unsigned long long)grew);
}

/* Entries never used cost nothing: a large cache holding a few pages. */
static void
test_memory_untouched_is_free(void **state)
{
	struct cache	*c;
	size_t		 body = 24;
	uint64_t	 before, after, page, no;

	(void)state;
	before = rss_anon();
	assert_non_null(c = cache_new((uint64_t)256 << 20, body, 1,
	    load_fill, read_no, &body));
	for (page = 0; page < 100; page++)
		assert_in_range(cache_lookup(c, page, 0, &no), 0, 1);
	after = rss_anon();
	cache_free(c);
	if (before > 0 && after > 0)
		assert_true(after <= before + (2 << 20));
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
	int		 same;		/* every thread asks the same sequence */
	uint64_t	 wrong;		/* answers that broke the formula */
	uint64_t	 failed;	/* lookups that returned -1 */
};

static void *
worker_run(void *arg)
{
	struct worker	*w = arg;
	uint64_t	 page, ab[2];
	size_t		 slot;
	int		 i, rc;

	for (i = 0; i < w->ops; i++) {
		page = w->same ? (uint64_t)i / 4 % w->span :
		    splitmix64(&w->seed) % w->span;
		slot = (size_t)(splitmix64(&w->seed) % (w->entries - 1));
		rc = cache_lookup(w->c, page, slot, ab);
		if (w->fail_mod > 0 && page % w->fail_mod == 0) {
			if (rc == -1)
				w->failed++;
			else
				w->wrong++;
		} else if (rc < 0 || ab[0] != page * 1000 + slot ||
		    ab[1] != page * 1000 + slot + 1)
			w->wrong++;
	}
	return NULL;
}

/* Threads against a cache of cap_pages pages; returns the loader's tally. */
static void
run_threads(uint64_t cap_pages, uint64_t span, uint64_t fail_mod, int ops,
    int same, unsigned delay_us, struct loader *l)
{
	const size_t		 entries = 64;
	struct cache		*c;
	struct cache_stats	 st;
	struct worker		 w[MT_THREADS];
	uint64_t		 failed = 0;
	int			 i;

	loader_init(l, entries);
	l->fail_mod = fail_mod;
	l->delay_us = delay_us;
	assert_non_null(c = new_cache(cap_pages * cache_page_cost(entries * 8) +
	    cache_min_capacity(entries * 8), entries, l));
	for (i = 0; i < MT_THREADS; i++) {
		memset(&w[i], 0, sizeof(w[i]));
		w[i].c = c;
		w[i].entries = entries;
		w[i].span = span;
		w[i].fail_mod = fail_mod;
		w[i].seed = 0x9e3779b97f4a7c15ULL * (uint64_t)(i + 1);
		w[i].ops = ops;
		w[i].same = same;
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
	assert_true(st.misses == calls(l));
	assert_true(st.load_errors == failed);
	assert_true(st.pages <= st.max_pages);
	assert_true(st.bytes == st.pages * cache_page_cost(entries * 8));
	assert_true(st.bytes <= st.capacity);
	assert_true(st.hits > 0);
	if (fail_mod > 0)
		assert_true(failed > 0);
	cache_free(c);
}

static void
test_threads_smoke(void **state)
{
	struct loader	l;

	(void)state;
	run_threads(256, 768, 0, 200000, 0, 0, &l);
}

static void
test_threads_with_failures(void **state)
{
	struct loader	l;

	(void)state;
	run_threads(256, 768, 7, 50000, 0, 0, &l);
}

/*
 * Every thread misses on the same pages at once, in a cache of one or two
 * pages, with a slow loader that sometimes fails: misses find the page's
 * entry being loaded by another thread, or no entry at all and load into
 * a buffer of their own.
 */
static void
test_threads_same_pages(void **state)
{
	struct loader	l;

	(void)state;
	run_threads(0, 3, 0, 2000, 1, 50, &l);
	assert_true(atomic_load(&l.other_bodies) > 0);
	run_threads(0, 5, 3, 2000, 1, 50, &l);
	assert_true(atomic_load(&l.other_bodies) > 0);
	run_threads(1, 4, 0, 2000, 1, 20, &l);
	run_threads(1, 40, 5, 4000, 0, 10, &l);
	run_threads(8, 12, 4, 20000, 0, 0, &l);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_rejects_below_one_page),
		cmocka_unit_test(test_new_rejects_bad_arguments),
		cmocka_unit_test(test_free_null),
		cmocka_unit_test(test_page_cost),
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
		cmocka_unit_test(test_odd_body_sizes),
		cmocka_unit_test(test_reader_decodes_pages),
		cmocka_unit_test(test_memory_bound),
		cmocka_unit_test(test_memory_untouched_is_free),
		cmocka_unit_test(test_threads_smoke),
		cmocka_unit_test(test_threads_with_failures),
		cmocka_unit_test(test_threads_same_pages),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
