/*
 * Unit tests for the page table: its cost, arguments, the state of a page
 * through its first load, failed loads (the page stays ABSENT and is
 * loaded again later), and threads that load the same pages at once —
 * each page loaded exactly once, every answer right — with and without
 * failures, meant for the sanitizer builds.
 *
 * The loader fills word i of page p's body with p * 1000 + i, so every
 * body can be checked without a file.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pagetab.h"
#include "region.h"
#include "rng.h"

#define WORDS 6                  /* uint64 words in a body */
#define BODY  (WORDS * 8)

struct loader {
	_Atomic uint64_t calls;
	_Atomic uint64_t loading; /* loads under way now */
	_Atomic uint64_t overlap; /* loads that found another of the same page */
	uint64_t fail_mod;        /* fail pages divisible by it (0: none) */
	_Atomic int fail_next;    /* or: 1 fails the next load, once */
	_Atomic uint64_t busy[64];/* loads under way, per page (mod 64) */
	unsigned delay_us;        /* sleep in every load: widen races */
};

static int
load(void *arg, uint64_t page, void *body)
{
	struct loader *l = arg;
	uint64_t *w = body;
	int fail;

	atomic_fetch_add(&l->calls, 1);
	if (atomic_fetch_add(&l->busy[page % 64], 1) != 0)
		atomic_fetch_add(&l->overlap, 1);
	if (l->delay_us > 0)
		usleep(l->delay_us);
	fail = (l->fail_mod > 0 && page % l->fail_mod == 0) ||
	    atomic_exchange(&l->fail_next, 0) == 1;
	/* Scribble first: a failed load leaves a partial body behind. */
	for (size_t i = 0; i < WORDS; i++)
		w[i] = fail ? UINT64_MAX : page * 1000 + i;
	atomic_fetch_sub(&l->busy[page % 64], 1);
	if (fail) {
		errno = EIO;
		return -1;
	}
	return 0;
}

static void
check_body(const void *body, uint64_t page)
{
	const uint64_t *w = body;

	assert_non_null(body);
	for (size_t i = 0; i < WORDS; i++)
		assert_true(w[i] == page * 1000 + i);
}

static struct pagetab *
new_table(uint64_t pages, struct loader *l)
{
	memset(l, 0, sizeof(*l));
	return pagetab_new(pages, BODY, load, l);
}

static void
test_cost_counts_everything(void **state)
{
	(void)state;
	/* Every body and state byte, and the struct. */
	assert_true(pagetab_cost(1000, BODY) >= 1000 * (BODY + 1) +
	    sizeof(struct pagetab));
	/* A mapping rounds up to a memory page, no more. */
	assert_true(pagetab_cost(100000, BODY) <= 100000 * (BODY + 1) +
	    (uint64_t)sysconf(_SC_PAGESIZE) + sizeof(struct pagetab) +
	    REGION_MALLOC_SLACK);
	assert_true(pagetab_cost(1, 0) == UINT64_MAX);
	assert_true(pagetab_cost(UINT64_MAX / 2, BODY) == UINT64_MAX);
}

static void
test_new_rejects_bad_arguments(void **state)
{
	struct loader l;

	(void)state;
	errno = 0;
	assert_null(new_table(0, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pagetab_new(4, 0, load, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pagetab_new(4, BODY, NULL, &l));
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_null(pagetab_new(UINT64_MAX / 2, BODY, load, &l));
	assert_int_equal(errno, EINVAL);
	pagetab_free(NULL);
}

/* ABSENT until loaded, READY after, and loaded once. */
static void
test_first_load_then_ready(void **state)
{
	struct loader l;
	struct pagetab *pt = new_table(10, &l);
	int loaded = -1;

	(void)state;
	assert_non_null(pt);
	assert_null(pagetab_ready(pt, 3));
	assert_int_equal(pt->state[3], PAGETAB_ABSENT);
	check_body(pagetab_load(pt, 3, &loaded), 3);
	assert_int_equal(loaded, 1);
	assert_int_equal(pt->state[3], PAGETAB_READY);
	check_body(pagetab_ready(pt, 3), 3);
	/* Found ready: no second load. */
	check_body(pagetab_load(pt, 3, &loaded), 3);
	assert_int_equal(loaded, 0);
	assert_true(atomic_load(&l.calls) == 1);
	assert_true(pagetab_pages_ready(pt) == 1);
	/* The body is where the prefetch looks. */
	assert_ptr_equal(pagetab_ready(pt, 3), pagetab_body(pt, 3));
	assert_null(pagetab_ready(pt, 9));
	check_body(pagetab_load(pt, 9, &loaded), 9);
	assert_true(pagetab_pages_ready(pt) == 2);
	pagetab_free(pt);
}

/* A failed load answers NULL, leaves the page ABSENT, and is retried. */
static void
test_failed_load_is_retried(void **state)
{
	struct loader l;
	struct pagetab *pt = new_table(4, &l);
	int loaded = -1;

	(void)state;
	assert_non_null(pt);
	atomic_store(&l.fail_next, 1);
	errno = 0;
	assert_null(pagetab_load(pt, 2, &loaded));
	assert_int_equal(errno, EIO);
	assert_int_equal(loaded, 1);
	assert_int_equal(pt->state[2], PAGETAB_ABSENT);
	assert_null(pagetab_ready(pt, 2));
	assert_true(pagetab_pages_ready(pt) == 0);
	/* Its neighbours are not touched. */
	check_body(pagetab_load(pt, 1, &loaded), 1);
	/* The next lookup loads it anew, over the partial body. */
	check_body(pagetab_load(pt, 2, &loaded), 2);
	assert_int_equal(loaded, 1);
	assert_true(atomic_load(&l.calls) == 3);
	assert_true(pagetab_pages_ready(pt) == 2);
	pagetab_free(pt);
}

/* Many threads over few pages: the same pages loaded at once. */
struct run {
	struct pagetab *pt;
	uint64_t pages;
	unsigned lookups;
	uint64_t seed;
	uint64_t loads;           /* lookups that ran the loader */
	uint64_t failed;          /* of them, failed */
};

static void *
worker(void *arg)
{
	struct run *r = arg;
	uint64_t seed = r->seed, page;
	const void *body;
	int loaded;

	for (unsigned i = 0; i < r->lookups; i++) {
		page = splitmix64(&seed) % r->pages;
		if ((body = pagetab_ready(r->pt, page)) == NULL)
			body = pagetab_load(r->pt, page, &loaded);
		else
			loaded = 0;
		r->loads += (uint64_t)loaded;
		if (body == NULL) {
			assert_int_equal(loaded, 1);
			r->failed++;
			continue;
		}
		check_body(body, page);
	}
	return NULL;
}

/* threads threads, lookups each, over pages pages; totals in *sum. */
static void
run_threads(struct pagetab *pt, uint64_t pages, unsigned threads,
    unsigned lookups, struct run *sum)
{
	pthread_t tid[16];
	struct run r[16];

	assert_true(threads <= 16);
	memset(sum, 0, sizeof(*sum));
	for (unsigned t = 0; t < threads; t++) {
		r[t] = (struct run){ .pt = pt, .pages = pages,
		    .lookups = lookups, .seed = 7 + t };
		assert_int_equal(pthread_create(&tid[t], NULL, worker, &r[t]),
		    0);
	}
	for (unsigned t = 0; t < threads; t++) {
		assert_int_equal(pthread_join(tid[t], NULL), 0);
		sum->loads += r[t].loads;
		sum->failed += r[t].failed;
	}
}

static void
test_threads_load_each_page_once(void **state)
{
	struct loader l;
	struct pagetab *pt = new_table(8, &l);
	struct run sum;

	(void)state;
	assert_non_null(pt);
	l.delay_us = 200;
	run_threads(pt, 8, 8, 2000, &sum);
	/* One load a page, never two of a page at once. */
	assert_true(sum.loads == 8 && sum.failed == 0);
	assert_true(atomic_load(&l.calls) == 8);
	assert_true(atomic_load(&l.overlap) == 0);
	assert_true(pagetab_pages_ready(pt) == 8);
	pagetab_free(pt);
}

static void
test_threads_with_failures(void **state)
{
	struct loader l;
	struct pagetab *pt = new_table(64, &l);
	struct run sum;

	(void)state;
	assert_non_null(pt);
	l.fail_mod = 5;           /* pages 0, 5, 10, ... never load */
	l.delay_us = 20;
	run_threads(pt, 64, 6, 3000, &sum);
	assert_true(sum.failed > 0);
	/* Every failure was a load; every other load made a page READY. */
	assert_true(sum.loads == atomic_load(&l.calls));
	assert_true(sum.loads - sum.failed == 64 - 13);
	assert_true(pagetab_pages_ready(pt) == 64 - 13);
	assert_true(atomic_load(&l.overlap) == 0);
	for (uint64_t p = 0; p < 64; p++)
		assert_int_equal(pt->state[p], p % 5 == 0 ? PAGETAB_ABSENT :
		    PAGETAB_READY);
	pagetab_free(pt);
}

/* Pages that fail once each, under threads: all READY in the end. */
static void
test_threads_retry_after_failure(void **state)
{
	struct loader l;
	struct pagetab *pt = new_table(16, &l);
	struct run sum;
	int loaded;

	(void)state;
	assert_non_null(pt);
	atomic_store(&l.fail_next, 1);
	l.delay_us = 50;
	run_threads(pt, 16, 4, 4000, &sum);
	assert_true(sum.failed == 1);
	for (uint64_t p = 0; p < 16; p++)
		check_body(pagetab_load(pt, p, &loaded), p);
	assert_true(pagetab_pages_ready(pt) == 16);
	assert_true(atomic_load(&l.overlap) == 0);
	pagetab_free(pt);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cost_counts_everything),
		cmocka_unit_test(test_new_rejects_bad_arguments),
		cmocka_unit_test(test_first_load_then_ready),
		cmocka_unit_test(test_failed_load_is_retried),
		cmocka_unit_test(test_threads_load_each_page_once),
		cmocka_unit_test(test_threads_with_failures),
		cmocka_unit_test(test_threads_retry_after_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
