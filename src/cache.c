/*
 * cache: the LRU of pages shared by every worker thread.
 *
 * Every GET goes through cache_lookup(), so the hit path is kept short:
 * hash the page number, lock its shard, probe its table, move the page to
 * the front of the shard's LRU list, copy out through the reader, unlock.
 * No allocation, no system call beyond an uncontended mutex.
 *
 * Memory is bounded by capacity_bytes, all of it: the cache allocates
 * nothing per page. Each shard owns an arena of fixed-size entries (a
 * 16-byte header, then the body rounded up to 8 bytes) and a table of two
 * 8-byte slots per entry, all carved at creation out of one region sized
 * from the bound less the cache's fixed structures. A large region is
 * mapped (MAP_NORESERVE, region.c) rather than allocated, so entries never
 * used cost no memory; entries are handed out in address order, so a cache that
 * never fills touches only a prefix of each arena. A page thus costs
 * cache_page_cost() = 16 + round8(body) + 16 bytes, and
 * pages * cost + fixed structures + one mapping's round-up <= capacity.
 *
 * The table is open-addressed (linear probing, no tombstones) over any
 * number of slots, not a power of two, so it costs exactly two slots per
 * page. A slot is an entry number beside 32 bits of the page's hash: a
 * probe reads adjacent slots and visits an entry only when those bits
 * agree, so on a large file, where most lookups miss, a miss costs no trip
 * to memory beyond the slot cache_prefetch already fetched. The bits also
 * give each slot's home, for deletion, without visiting its entry.
 *
 * Pages are spread over a power-of-two number of shards, each with its own
 * mutex, arena, table, LRU list and counters, so threads asking for
 * different pages rarely meet. LRU order is exact within a shard and
 * approximate across the cache.
 *
 * A miss takes an entry (a free one, or the LRU page's) under the lock and
 * loads into it outside the lock, so a slow read (a page fault on a cold
 * index, a checksum failure and rebuild) never blocks hits on other pages
 * of the same shard. An entry being loaded belongs to its thread alone. If
 * every entry of a shard is being loaded, the miss loads into a temporary
 * buffer, answers from it and caches nothing.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"
#include "region.h"

#define CACHE_MAX_SHARDS	64	/* a power of two; locks, not pages */
#define CACHE_SHARD_MIN_PAGES	8	/* fewer and a shard's LRU is a lottery */
#define CACHE_SHARD_MAX_PAGES	0x7fffffffULL /* entry numbers are 32-bit */
#define CACHE_LINE		64	/* bytes; shards are padded to it */
#define CACHE_TABLE_SLOTS	2	/* table slots per page: probes stay short */
#define CACHE_BODY_MAX		((uint64_t)1 << 40) /* bytes; a sanity bound */
#define CACHE_PLAN_MAX		((uint64_t)1 << 60) /* bytes; more cannot be
						   mapped, and sums stay exact */

/*
 * An entry's header; its body follows. Entries are numbered from 1 (0 is
 * "none"); number cap + 1 is the LRU list's head, a header alone at the
 * end of the arena, so that list operations need no special case.
 */
struct entry {
	uint64_t	no;		/* page number, while in the table */
	uint32_t	prev;		/* LRU neighbours; next also links */
	uint32_t	next;		/* the free list */
};

/* A table slot: 32 bits of the page's hash spare probes most visits. */
struct slot {
	uint32_t	tag;		/* the hash's high half */
	uint32_t	ent;		/* entry number; 0: the slot is free */
};

/*
 * Aligned to a cache line so that one shard's lock and counters never share
 * a line with its neighbour's: _Alignas is C11, and makes sizeof(struct
 * shard) a multiple of the line as aligned_alloc() requires.
 */
struct shard {
	_Alignas(CACHE_LINE) pthread_mutex_t lock;
	struct slot	*table;		/* nslots slots */
	uint64_t	 nslots;
	unsigned char	*arena;		/* cap entries, then the LRU head */
	uint32_t	 cap;		/* pages this shard may hold */
	uint32_t	 head;		/* cap + 1; head.next: most recently used */
	uint32_t	 fresh;		/* entries fresh .. cap were never used */
	uint32_t	 free;		/* free list of used entries; 0: empty */
	uint32_t	 pages;
	uint64_t	 hits;
	uint64_t	 misses;
	uint64_t	 evictions;
	uint64_t	 load_errors;
};

struct cache {
	struct shard	*shards;
	size_t		 nshards;	/* initialised so far, then all */
	void		*region;	/* every shard's arena and table */
	size_t		 region_bytes;
	uint64_t	 smask;		/* nshards - 1 */
	size_t		 esz;		/* bytes of an entry, header and body */
	size_t		 body_bytes;
	size_t		 slots;		/* valid slots are 0 .. slots - 1 */
	uint64_t	 capacity;
	uint64_t	 max_pages;
	cache_load_fn	 load;
	cache_read_fn	 read;
	void		*arg;
};

/* How capacity is divided: pages over nshards, the first ones one more. */
struct layout {
	size_t		 esz;
	uint64_t	 nshards;
	uint64_t	 pages;
};

static uint64_t	 mix(uint64_t);
static size_t	 entry_bytes(size_t);
static uint64_t	 fixed_cost(uint64_t);
static uint64_t	 region_bytes(const struct layout *, uint64_t, uint64_t);
static void	 layout_fit(struct layout *, uint64_t, uint64_t);
static int	 layout_plan(struct layout *, uint64_t, size_t);
static struct entry *entry_of(const struct cache *, const struct shard *,
		    uint32_t);
static void	*body_of(struct entry *);
static void	 lru_unlink(const struct cache *, const struct shard *,
		    struct entry *);
static void	 lru_push(const struct cache *, struct shard *,
		    struct entry *, uint32_t);
static uint64_t	 home(const struct shard *, uint32_t);
static uint64_t	 ring_dist(const struct shard *, uint64_t, uint64_t);
static struct slot *shard_probe(const struct cache *, const struct shard *,
		    uint32_t, uint64_t);
static void	 shard_unhash(const struct cache *, struct shard *, uint32_t);
static uint32_t	 shard_take(const struct cache *, struct shard *);
static void	 shard_release(const struct cache *, struct shard *,
		    uint32_t);
static int	 shard_init(struct shard *, unsigned char *, size_t, uint64_t);
static int	 cache_fill(struct cache *, struct shard *, uint32_t,
		    uint64_t, uint32_t, size_t, void *);

/*
 * Page numbers are consecutive integers: mix every bit into every other
 * (the splitmix64 finaliser) so that neighbouring pages land in different
 * shards and slots. The low bits pick the shard, the high half is the tag.
 */
static uint64_t
mix(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebULL;
	x ^= x >> 31;
	return x;
}

/* ---- memory accounting ---- */

/* The body is rounded up so that every header and body is 8-aligned. */
static size_t
entry_bytes(size_t body_bytes)
{
	return sizeof(struct entry) + ((body_bytes + 7) & ~(size_t)7);
}

/* The struct cache and n shards, whatever their pages. */
static uint64_t
fixed_cost(uint64_t n)
{
	return region_cost(sizeof(struct cache)) +
	    n * sizeof(struct shard) + CACHE_LINE + REGION_MALLOC_SLACK;
}

/*
 * The region for pages over n shards: per shard, its entries and the LRU
 * head's header, then its table.
 */
static uint64_t
region_bytes(const struct layout *l, uint64_t pages, uint64_t n)
{
	return pages * cache_page_cost(l->esz - sizeof(struct entry)) +
	    n * sizeof(struct entry);
}

/* The most pages n shards hold within capacity (0: not one per shard). */
static void
layout_fit(struct layout *l, uint64_t capacity, uint64_t n)
{
	uint64_t	per = cache_page_cost(l->esz - sizeof(struct entry));
	uint64_t	fixed = fixed_cost(n), budget, k, cost, dk;

	l->nshards = n;
	l->pages = 0;
	if (capacity < fixed + region_bytes(l, n, n))
		return;
	budget = capacity - fixed;
	k = (budget - n * sizeof(struct entry)) / per;
	if (k > n * CACHE_SHARD_MAX_PAGES)
		k = n * CACHE_SHARD_MAX_PAGES;
	/* Round-ups can only add: step down past them, then back up. */
	while (k > 0 && (cost = region_cost(region_bytes(l, k, n))) >
	    budget) {
		dk = (cost - budget) / per;
		k -= dk == 0 ? 1 : dk > k ? k : dk;
	}
	while (k < n * CACHE_SHARD_MAX_PAGES &&
	    region_cost(region_bytes(l, k + 1, n)) <= budget)
		k++;
	if (k >= n)
		l->pages = k;
}

/*
 * The largest power of two of shards that leaves every shard a useful LRU.
 * -1 if not even one page fits.
 */
static int
layout_plan(struct layout *l, uint64_t capacity, size_t body_bytes)
{
	struct layout	t;
	uint64_t	n;

	l->esz = entry_bytes(body_bytes);
	if (capacity > CACHE_PLAN_MAX)
		capacity = CACHE_PLAN_MAX;
	layout_fit(l, capacity, 1);
	if (l->pages == 0)
		return -1;
	for (n = 2; n <= CACHE_MAX_SHARDS; n *= 2) {
		t = *l;
		layout_fit(&t, capacity, n);
		if (t.pages < n * 2 * CACHE_SHARD_MIN_PAGES)
			break;
		*l = t;
	}
	return 0;
}

size_t
cache_page_cost(size_t body_bytes)
{
	return entry_bytes(body_bytes) +
	    CACHE_TABLE_SLOTS * sizeof(struct slot);
}

uint64_t
cache_min_capacity(size_t body_bytes)
{
	struct layout	l;

	if (body_bytes == 0 || body_bytes > CACHE_BODY_MAX)
		return 0;
	l.esz = entry_bytes(body_bytes);
	return fixed_cost(1) + region_cost(region_bytes(&l, 1, 1));
}

/* ---- entries, LRU lists and tables ---- */

static struct entry *
entry_of(const struct cache *c, const struct shard *s, uint32_t i)
{
	return (struct entry *)(void *)(s->arena + (size_t)(i - 1) * c->esz);
}

static void *
body_of(struct entry *e)
{
	return e + 1;
}

static void
lru_unlink(const struct cache *c, const struct shard *s, struct entry *e)
{
	entry_of(c, s, e->prev)->next = e->next;
	entry_of(c, s, e->next)->prev = e->prev;
}

/* Make entry i (e) the most recently used. */
static void
lru_push(const struct cache *c, struct shard *s, struct entry *e, uint32_t i)
{
	struct entry	*h = entry_of(c, s, s->head);

	e->prev = s->head;
	e->next = h->next;
	entry_of(c, s, h->next)->prev = i;
	h->next = i;
}

/* Where a probe for tag starts: tag scaled to the table, no division. */
static uint64_t
home(const struct shard *s, uint32_t tag)
{
	return ((uint64_t)tag * s->nslots) >> 32;
}

/* Steps forward from slot a to slot b, around the table. */
static uint64_t
ring_dist(const struct shard *s, uint64_t a, uint64_t b)
{
	return b >= a ? b - a : b + s->nslots - a;
}

/*
 * The slot holding page no (tag = the high half of its hash), or the free
 * slot ending its probe run. At most half the slots are used, so there is
 * always one.
 */
static struct slot *
shard_probe(const struct cache *c, const struct shard *s, uint32_t tag,
    uint64_t no)
{
	uint64_t	 i = home(s, tag);
	struct slot	*t;

	for (;;) {
		t = &s->table[i];
		if (t->ent == 0 ||
		    (t->tag == tag && entry_of(c, s, t->ent)->no == no))
			return t;
		if (++i == s->nslots)
			i = 0;
	}
}

/*
 * Free entry i's slot and shift later members of its probe run back into
 * the hole (deletion without tombstones): a slot moves to the hole unless
 * its home lies cyclically after the hole and at or before the slot.
 */
static void
shard_unhash(const struct cache *c, struct shard *s, uint32_t i)
{
	uint64_t	hole, j;

	hole = home(s, (uint32_t)(mix(entry_of(c, s, i)->no) >> 32));
	while (s->table[hole].ent != i)
		if (++hole == s->nslots)
			hole = 0;
	for (j = hole;;) {
		s->table[hole].ent = 0;
		for (;;) {
			if (++j == s->nslots)
				j = 0;
			if (s->table[j].ent == 0)
				return;
			if (ring_dist(s, home(s, s->table[j].tag), j) >=
			    ring_dist(s, hole, j))
				break;
		}
		s->table[hole] = s->table[j];
		hole = j;
	}
}

/*
 * An entry for a miss, with the lock held: a free one, one never used, or
 * the LRU page's. 0 when every entry is being loaded by other misses.
 */
static uint32_t
shard_take(const struct cache *c, struct shard *s)
{
	struct entry	*e;
	uint32_t	 i;

	if ((i = s->free) != 0) {
		s->free = entry_of(c, s, i)->next;
		return i;
	}
	if (s->fresh <= s->cap)
		return s->fresh++;
	if (s->pages == 0)
		return 0;
	i = entry_of(c, s, s->head)->prev;
	e = entry_of(c, s, i);
	lru_unlink(c, s, e);
	shard_unhash(c, s, i);
	s->pages--;
	s->evictions++;
	return i;
}

/* Return an entry a miss did not keep to the free list, lock held. */
static void
shard_release(const struct cache *c, struct shard *s, uint32_t i)
{
	entry_of(c, s, i)->next = s->free;
	s->free = i;
}

/* A shard of cap pages, its arena at base, then its table. */
static int
shard_init(struct shard *s, unsigned char *base, size_t esz, uint64_t cap)
{
	struct entry	*head;

	memset(s, 0, sizeof(*s));
	if (pthread_mutex_init(&s->lock, NULL) != 0)
		return -1;
	s->cap = (uint32_t)cap;
	s->head = s->cap + 1;
	s->fresh = 1;
	s->arena = base;
	s->table = (struct slot *)(void *)(base + cap * esz +
	    sizeof(struct entry));
	s->nslots = cap * CACHE_TABLE_SLOTS;
	/* The head alone: an empty list. */
	head = (struct entry *)(void *)(base + cap * esz);
	head->prev = head->next = s->head;
	return 0;
}

/* ---- the cache ---- */

struct cache *
cache_new(uint64_t capacity_bytes, size_t body_bytes, size_t slots,
    cache_load_fn load, cache_read_fn read, void *arg)
{
	struct cache	*c;
	struct layout	 l;
	unsigned char	*base;
	uint64_t	 cap;

	if (load == NULL || read == NULL || slots == 0 || body_bytes == 0 ||
	    body_bytes > CACHE_BODY_MAX ||
	    layout_plan(&l, capacity_bytes, body_bytes) == -1) {
		errno = EINVAL;
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->shards = aligned_alloc(CACHE_LINE, l.nshards * sizeof(struct shard));
	if (c->shards == NULL)
		goto fail;
	c->region_bytes = region_bytes(&l, l.pages, l.nshards);
	if ((c->region = region_alloc(c->region_bytes)) == NULL)
		goto fail;
	c->smask = l.nshards - 1;
	c->esz = l.esz;
	c->body_bytes = body_bytes;
	c->slots = slots;
	c->capacity = capacity_bytes;
	c->max_pages = l.pages;
	c->load = load;
	c->read = read;
	c->arg = arg;
	base = c->region;
	for (c->nshards = 0; c->nshards < l.nshards; c->nshards++) {
		cap = l.pages / l.nshards + (c->nshards < l.pages % l.nshards);
		if (shard_init(&c->shards[c->nshards], base, l.esz, cap) == -1)
			goto fail;
		base += region_bytes(&l, cap, 1);
	}
	return c;
fail:
	cache_free(c);
	errno = ENOMEM;
	return NULL;
}

void
cache_free(struct cache *c)
{
	size_t	i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nshards; i++)
		pthread_mutex_destroy(&c->shards[i].lock);
	region_free(c->region, c->region_bytes);
	free(c->shards);
	free(c);
}

void
cache_prefetch(const struct cache *c, uint64_t page)
{
#if defined(__GNUC__)
	/* GCC and Clang: a hint that never faults; table and nslots never
	 * change after creation, so reading them unlocked is safe. */
	uint64_t		 h = mix(page);
	const struct shard	*s = &c->shards[h & c->smask];

	__builtin_prefetch(&s->table[home(s, (uint32_t)(h >> 32))]);
#else
	(void)c;
	(void)page;
#endif
}

int
cache_lookup(struct cache *c, uint64_t page, size_t slot, void *out)
{
	uint64_t	 h = mix(page);
	struct shard	*s = &c->shards[h & c->smask];
	uint32_t	 tag = (uint32_t)(h >> 32), i;
	struct slot	*t;
	struct entry	*e;

	/* A caller bug, but never worth reading past a page. */
	if (slot >= c->slots) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	t = shard_probe(c, s, tag, page);
	if ((i = t->ent) != 0) {
		s->hits++;
		e = entry_of(c, s, i);
		if (entry_of(c, s, s->head)->next != i) {
			lru_unlink(c, s, e);
			lru_push(c, s, e, i);
		}
		c->read(c->arg, body_of(e), slot, out);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	s->misses++;
	i = shard_take(c, s);
	pthread_mutex_unlock(&s->lock);
	return cache_fill(c, s, tag, page, i, slot, out);
}

/*
 * The miss path, entered unlocked with entry i owned by this thread (or 0:
 * none to be had, load into a temporary buffer and keep nothing). If
 * another thread cached the same page while this one was loading, theirs
 * stays and i goes back to the free list: both read the same bytes, so the
 * answer is the same.
 */
static int
cache_fill(struct cache *c, struct shard *s, uint32_t tag, uint64_t page,
    uint32_t i, size_t slot, void *out)
{
	struct entry	*e = NULL;
	struct slot	*t;
	void		*body;
	int		 saved;

	if (i != 0)
		body = body_of(e = entry_of(c, s, i));
	else
		body = malloc(c->body_bytes);
	if (body == NULL || c->load(c->arg, page, body) != 0) {
		/* Keep the loader's errno for the caller's log line. */
		saved = body == NULL ? ENOMEM : errno;
		pthread_mutex_lock(&s->lock);
		s->load_errors++;
		if (i != 0)
			shard_release(c, s, i);
		pthread_mutex_unlock(&s->lock);
		if (i == 0)
			free(body);
		errno = saved;
		return -1;
	}
	c->read(c->arg, body, slot, out);
	if (i == 0) {
		free(body);
		return 1;
	}
	e->no = page;
	pthread_mutex_lock(&s->lock);
	t = shard_probe(c, s, tag, page);
	if (t->ent != 0)
		shard_release(c, s, i);
	else {
		t->tag = tag;
		t->ent = i;
		lru_push(c, s, e, i);
		s->pages++;
	}
	pthread_mutex_unlock(&s->lock);
	return 1;
}

void
cache_get_stats(struct cache *c, struct cache_stats *out)
{
	struct shard	*s;
	size_t		 i;

	memset(out, 0, sizeof(*out));
	for (i = 0; i < c->nshards; i++) {
		s = &c->shards[i];
		pthread_mutex_lock(&s->lock);
		out->hits += s->hits;
		out->misses += s->misses;
		out->evictions += s->evictions;
		out->load_errors += s->load_errors;
		out->pages += s->pages;
		pthread_mutex_unlock(&s->lock);
	}
	out->bytes = out->pages * cache_page_cost(c->body_bytes);
	out->capacity = c->capacity;
	out->max_pages = c->max_pages;
}
