/*
 * cache: a bounded LRU cache of index pages, shared by every worker thread.
 *
 * A page is an array of uint64_t line offsets (entries per page is fixed at
 * creation). The cache knows nothing of files or connections: on a miss it
 * calls the loader given at creation, outside any lock, and keeps the result.
 * Lookups copy the two offsets they need while holding the page's shard lock,
 * so no caller ever holds a pointer into the cache and eviction needs no
 * reference counts.
 */
#ifndef LINESVR_CACHE_H
#define LINESVR_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;

/* Fill offs[0..entries) for page; 0 on success, -1 if it cannot be had. */
typedef int (*cache_load_fn)(void *arg, uint64_t page, uint64_t *offs);

/* Read slot's two offsets from a page in the loader's own layout. */
typedef void (*cache_read_fn)(void *arg, const uint64_t *page, size_t slot,
    uint64_t *a, uint64_t *b);

struct cache_stats {
	uint64_t hits;       /* lookups answered from memory */
	uint64_t misses;     /* lookups that called the loader */
	uint64_t evictions;  /* pages dropped to stay within capacity */
	uint64_t load_errors;/* loader failures */
	uint64_t pages;      /* pages held now */
	uint64_t bytes;      /* bytes of page data held now */
	uint64_t capacity;   /* the byte bound given at creation */
};

/*
 * capacity_bytes must hold at least one page (entries * 8 bytes); returns
 * NULL (errno EINVAL) if it does not, or on allocation failure.
 */
struct cache *cache_new(uint64_t capacity_bytes, size_t entries,
    cache_load_fn load, void *load_arg);
void cache_free(struct cache *c);

/*
 * Copy offs[slot] and offs[slot + 1] of page into *a and *b (slot + 1 must
 * be < entries). Counts exactly one hit or one miss. Returns 0, or -1 when
 * the loader failed (nothing is cached then). Thread-safe.
 */
int cache_lookup(struct cache *c, uint64_t page, size_t slot,
    uint64_t *a, uint64_t *b);

/*
 * Start fetching the memory a lookup of page will read first, so that the
 * lookups of a batch of requests wait for memory together rather than one
 * after another. A hint only: no effect on the cache's contents.
 */
void cache_prefetch(const struct cache *c, uint64_t page);

/*
 * Pages hold an encoded layout rather than plain offsets: read slots with
 * read (called with the loader's arg, under the shard lock: it must be
 * quick and must not block); valid slots become 0 .. slots - 1. Call
 * before the first lookup.
 */
void cache_set_reader(struct cache *c, cache_read_fn read, size_t slots);

/* A consistent-enough snapshot of the counters (each read atomically). */
void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
