/*
 * cache: a bounded LRU cache of pages, shared by every worker thread.
 *
 * A page is an opaque body of a fixed number of bytes (body_bytes, set at
 * creation) that the loader fills and the reader interprets. The cache
 * knows nothing of files, indexes or connections: on a miss it calls the
 * loader given at creation, outside any lock, and keeps the body. Lookups
 * copy what they need out of a body through the reader while holding the
 * page's shard lock, so no caller ever holds a pointer into the cache and
 * eviction needs no reference counts.
 *
 * capacity_bytes bounds everything the cache allocates: page bodies, their
 * bookkeeping, its hash tables and its own structures, counted together.
 */
#ifndef LINESVR_CACHE_H
#define LINESVR_CACHE_H

#include <stddef.h>
#include <stdint.h>

struct cache;

/* Fill body (body_bytes bytes) for page; 0, or -1 (errno set) if it cannot be had. */
typedef int (*cache_load_fn)(void *arg, uint64_t page, void *body);

/*
 * Copy what a lookup returns for slot out of a body, into out (called under
 * the shard lock: quick, no blocking).
 */
typedef void (*cache_read_fn)(void *arg, const void *body, size_t slot,
    void *out);

struct cache_stats {
	uint64_t hits;       /* lookups answered from memory */
	uint64_t misses;     /* lookups that called the loader */
	uint64_t evictions;  /* pages dropped to stay within capacity */
	uint64_t load_errors;/* loader failures */
	uint64_t pages;      /* pages held now */
	uint64_t bytes;      /* what the held pages cost, bookkeeping included */
	uint64_t capacity;   /* the byte bound given at creation */
	uint64_t max_pages;  /* the most pages the cache can hold */
};

/*
 * The bytes one page costs in this cache: its body, its bookkeeping and its
 * share of the hash table. pages * cache_page_cost(body_bytes) never
 * exceeds the capacity.
 */
size_t cache_page_cost(size_t body_bytes);

/*
 * The smallest capacity_bytes cache_new accepts for body_bytes: one page
 * plus the cache's fixed structures (a few hundred bytes; up to one memory
 * page more for bodies of 64 KiB and over, which are mapped). For a config
 * check "the cache holds at least one page". 0 if body_bytes is 0 or too
 * large for any cache.
 */
uint64_t cache_min_capacity(size_t body_bytes);

/*
 * capacity_bytes bounds everything the cache allocates; NULL (errno EINVAL)
 * if not even one page fits with its bookkeeping and table (capacity below
 * cache_min_capacity()) or an argument is 0 or NULL, or ENOMEM. slots:
 * valid slots are 0 .. slots - 1. arg is passed to load and read.
 */
struct cache *cache_new(uint64_t capacity_bytes, size_t body_bytes,
    size_t slots, cache_load_fn load, cache_read_fn read, void *arg);
void cache_free(struct cache *c);

/*
 * Copy what read gives for slot of page into out. Counts exactly one hit
 * or one miss. Returns 0 on a hit, 1 on a miss (the loader ran), or -1
 * when the loader failed (a miss; nothing is cached then; errno is the
 * loader's) or slot is not valid (EINVAL, not counted). Thread-safe.
 */
int cache_lookup(struct cache *c, uint64_t page, size_t slot, void *out);

/*
 * Start fetching the memory a lookup of page will read first, so that the
 * lookups of a batch of requests wait for memory together rather than one
 * after another. A hint only: no effect on the cache's contents.
 */
void cache_prefetch(const struct cache *c, uint64_t page);

/* A consistent-enough snapshot of the counters (each shard read locked). */
void cache_get_stats(struct cache *c, struct cache_stats *out);

#endif
