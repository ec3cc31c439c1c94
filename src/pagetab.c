/*
 * pagetab: the whole index in memory, lock-free (see pagetab.h).
 *
 * One region holds the bodies, then the state bytes. The bodies come
 * first so that each starts at a multiple of body_bytes from a page-
 * aligned (or malloc-aligned) address: bodies with line checksums are a
 * multiple of 8 bytes and stay 8-aligned, as in the LRU cache.
 */
#include <errno.h>
#include <sched.h>
#include <stdlib.h>

#include "pagetab.h"
#include "region.h"

static uint64_t
region_size(uint64_t pages, size_t body_bytes)
{
	return pages * body_bytes + pages;
}

uint64_t
pagetab_cost(uint64_t pages, size_t body_bytes)
{
	/* A sanity bound: beyond it, sizes would not fit a size_t. */
	if (body_bytes == 0 || pages > (UINT64_MAX >> 2) / (body_bytes + 1))
		return UINT64_MAX;
	return region_cost(region_size(pages, body_bytes)) +
	    region_cost(sizeof(struct pagetab));
}

struct pagetab *
pagetab_new(uint64_t pages, size_t body_bytes, cache_load_fn load, void *arg)
{
	struct pagetab *pt;
	uint64_t bytes = region_size(pages, body_bytes);

	if (pages == 0 || load == NULL ||
	    pagetab_cost(pages, body_bytes) == UINT64_MAX || bytes > SIZE_MAX) {
		errno = EINVAL;
		return NULL;
	}
	if ((pt = calloc(1, sizeof(*pt))) == NULL)
		return NULL;
	pt->region_bytes = (size_t)bytes;
	/* Zeroed: every state starts PAGETAB_ABSENT. */
	if ((pt->bodies = region_alloc(pt->region_bytes)) == NULL) {
		free(pt);
		errno = ENOMEM;
		return NULL;
	}
	pt->state = (_Atomic uint8_t *)(void *)(pt->bodies + pages * body_bytes);
	pt->body_bytes = body_bytes;
	pt->pages = pages;
	atomic_init(&pt->ready, 0);
	pt->load = load;
	pt->arg = arg;
	return pt;
}

void
pagetab_free(struct pagetab *pt)
{
	if (pt == NULL)
		return;
	region_free(pt->bodies, pt->region_bytes);
	free(pt);
}

/* Load page, whose LOADING this thread set, and publish the outcome. */
static const void *
fill(struct pagetab *pt, uint64_t page)
{
	unsigned char *body = pt->bodies + page * pt->body_bytes;
	int saved;

	if (pt->load(pt->arg, page, body) != 0) {
		saved = errno;
		atomic_store_explicit(&pt->state[page], PAGETAB_ABSENT,
		    memory_order_release);
		errno = saved;
		return NULL;
	}
	atomic_fetch_add_explicit(&pt->ready, 1, memory_order_relaxed);
	/* Release: the body's bytes before READY, for every acquire load. */
	atomic_store_explicit(&pt->state[page], PAGETAB_READY,
	    memory_order_release);
	return body;
}

const void *
pagetab_load(struct pagetab *pt, uint64_t page, int *loaded)
{
	const void *body;
	uint8_t st;

	*loaded = 0;
	for (;;) {
		if ((body = pagetab_ready(pt, page)) != NULL)
			return body;
		st = PAGETAB_ABSENT;
		if (atomic_compare_exchange_strong_explicit(&pt->state[page],
		    &st, PAGETAB_LOADING, memory_order_acquire,
		    memory_order_acquire)) {
			*loaded = 1;
			return fill(pt, page);
		}
		/* Another thread is loading it: a copy and a checksum, or at
		 * worst a bounded repair (STORE_REPAIR_SCAN), so yield. */
		if (st == PAGETAB_LOADING)
			sched_yield();
	}
}

uint64_t
pagetab_pages_ready(const struct pagetab *pt)
{
	return atomic_load_explicit(&pt->ready, memory_order_relaxed);
}
