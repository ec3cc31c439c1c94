/*
 * pagetab: every page of an index in memory at once, looked up without a
 * lock. The store uses it instead of the LRU cache when the whole index
 * fits in [cache] size: then nothing is ever evicted, a page once loaded
 * stays where it is, and a lookup is one acquire load of the page's state
 * and a read of its body.
 *
 * Each page has a state byte: ABSENT -> LOADING -> READY, or back to
 * ABSENT when its load fails. The thread that moves a page to LOADING
 * (a compare-and-swap) alone writes its body, then publishes it with a
 * release store of READY; others that find it LOADING yield until it is
 * not. READY is final, so a pointer to a READY body stays valid for the
 * table's life.
 *
 * Memory: one region (region.h) of the bodies and the states, touched
 * only as pages are loaded; pagetab_cost() counts all of it.
 */
#ifndef LINESVR_PAGETAB_H
#define LINESVR_PAGETAB_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "cache.h"

enum { PAGETAB_ABSENT, PAGETAB_LOADING, PAGETAB_READY };

/* Fields are public for the inline fast path only. */
struct pagetab {
	unsigned char *bodies;     /* pages * body_bytes */
	_Atomic uint8_t *state;    /* pages, after the bodies */
	size_t body_bytes;
	uint64_t pages;
	size_t region_bytes;
	_Atomic uint64_t ready;    /* pages READY */
	cache_load_fn load;        /* the cache's loader type: the same pages */
	void *arg;
};

/* Everything a table of pages bodies of body_bytes costs, itself included. */
uint64_t pagetab_cost(uint64_t pages, size_t body_bytes);

/* A table of pages ABSENT pages; NULL (errno) if an argument is 0 or the
 * memory cannot be had. load fills a body (0, or -1 with errno). */
struct pagetab *pagetab_new(uint64_t pages, size_t body_bytes,
    cache_load_fn load, void *arg);
void pagetab_free(struct pagetab *pt);

/* Is page READY (page < pages)? Its body may be read once this says so. */
static inline int
pagetab_is_ready(const struct pagetab *pt, uint64_t page)
{
	return atomic_load_explicit(&pt->state[page], memory_order_acquire) ==
	    PAGETAB_READY;
}

/* page's body if it is READY, else NULL (page < pages). */
static inline const void *
pagetab_ready(const struct pagetab *pt, uint64_t page)
{
	return pagetab_is_ready(pt, page) ? pt->bodies + page *
	    pt->body_bytes : NULL;
}

/*
 * Make page READY and return its body; *loaded says whether this call ran
 * the loader (a miss) or found the page loaded by another thread. NULL
 * when this call's load failed (errno is the loader's; *loaded is 1): the
 * page is ABSENT again, and the next lookup tries anew.
 */
const void *pagetab_load(struct pagetab *pt, uint64_t page, int *loaded);

/* page's body, READY or not: for prefetching only. */
static inline const void *
pagetab_body(const struct pagetab *pt, uint64_t page)
{
	return pt->bodies + page * pt->body_bytes;
}

/* Pages READY now. */
uint64_t pagetab_pages_ready(const struct pagetab *pt);

#endif
