/*
 * cache: the LRU of index pages shared by every worker thread.
 *
 * Every GET goes through cache_lookup(), so the hit path is kept short:
 * hash the page number, lock its shard, probe its table, move the page to
 * the front of the shard's LRU list, copy two numbers, unlock. No
 * allocation, no system call beyond an uncontended mutex.
 *
 * The table is open-addressed (linear probing) and keeps each page's
 * number beside its pointer, so a probe reads one or two adjacent slots
 * and no page: on a large file most lookups miss, and a miss then costs
 * no trip to memory beyond the slot cache_prefetch already fetched.
 *
 * Pages are spread over a power-of-two number of shards, each with its own
 * mutex, hash table, LRU list and counters, so threads asking for
 * different pages rarely meet. The byte bound is divided between the shards
 * once, at creation: each shard owns a fixed number of page slots and never
 * looks at another shard to stay within it. LRU order is therefore exact
 * within a shard and approximate across the cache.
 *
 * A miss loads the page outside the lock, so a slow read (a page fault on a
 * cold index, a checksum failure and rebuild) never blocks hits on other
 * pages of the same shard.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "cache.h"

#define CACHE_MAX_SHARDS	64	/* a power of two; locks, not pages */
#define CACHE_SHARD_MIN_PAGES	8	/* fewer and a shard's LRU is a lottery */
#define CACHE_LINE		64	/* bytes; shards are padded to it */

/* An LRU list link; shard.lru is the list head. */
struct link {
	struct link	*prev;
	struct link	*next;
};

/* A table slot: the page's number beside it spares probes a visit. */
struct slot {
	uint64_t	 no;
	struct page	*page;		/* NULL: the slot is free */
};

struct page {
	struct link	 lru;		/* first member: a link is its page */
	struct page	*next_spare;	/* while on the spare list */
	uint64_t	 no;		/* page number */
	uint64_t	 offs[];	/* entries offsets, filled by the loader */
};

/*
 * Aligned to a cache line so that one shard's lock and counters never share
 * a line with its neighbour's: _Alignas is C11, and makes sizeof(struct
 * shard) a multiple of the line as aligned_alloc() requires.
 */
struct shard {
	_Alignas(CACHE_LINE) pthread_mutex_t lock;
	struct slot	 *table;	/* mask + 1 slots */
	uint64_t	  mask;
	struct link	  lru;		/* lru.next is the most recently used */
	struct page	 *spare;	/* page buffers kept for the next miss */
	uint64_t	  nspare;
	uint64_t	  cap;		/* pages this shard may hold */
	uint64_t	  pages;
	uint64_t	  hits;
	uint64_t	  misses;
	uint64_t	  evictions;
	uint64_t	  load_errors;
};

struct cache {
	struct shard	*shards;
	size_t		 nshards;	/* initialised so far, then all */
	uint64_t	 smask;		/* nshards - 1 */
	unsigned	 sbits;		/* log2(nshards) */
	size_t		 entries;
	size_t		 page_bytes;	/* entries * 8 */
	uint64_t	 capacity;
	cache_load_fn	 load;
	void		*load_arg;
	cache_read_fn	 read;		/* NULL: pages are plain offsets */
	size_t		 slots;		/* valid slots are 0 .. slots - 1 */
};

/* The two offsets of a slot, through the reader when pages are encoded. */
static void
read_slot(const struct cache *c, const uint64_t *offs, size_t slot,
    uint64_t *a, uint64_t *b)
{
	if (c->read != NULL) {
		c->read(c->load_arg, offs, slot, a, b);
		return;
	}
	*a = offs[slot];
	*b = offs[slot + 1];
}

static uint64_t	 mix(uint64_t);
static struct page *page_of(struct link *);
static void	 lru_unlink(struct link *);
static void	 lru_push(struct shard *, struct link *);
static uint64_t	 home(const struct cache *, const struct shard *, uint64_t);
static uint64_t	 shard_probe(const struct cache *, const struct shard *,
		    uint64_t, uint64_t);
static struct page *shard_find(const struct cache *, struct shard *,
		    uint64_t, uint64_t);
static void	 shard_unhash(const struct cache *, struct shard *,
		    const struct page *);
static struct page *shard_evict(const struct cache *, struct shard *);
static struct page *shard_take(const struct cache *, struct shard *);
static struct page *shard_recycle(struct shard *, struct page *);
static struct page *shard_insert(const struct cache *, struct shard *,
		    struct page *);
static int	 shard_init(struct shard *, uint64_t);
static void	 shard_free(struct shard *);
static int	 cache_fill(struct cache *, struct shard *, uint64_t,
		    uint64_t, struct page *, size_t, uint64_t *, uint64_t *);

/*
 * Page numbers are consecutive integers: mix every bit into every other
 * (the splitmix64 finaliser) so that neighbouring pages land in different
 * shards and chains. The low sbits pick the shard, the bits above the chain.
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

/* Valid because lru is the first member of struct page (C11 6.7.2.1). */
static struct page *
page_of(struct link *l)
{
	return (struct page *)(void *)l;
}

static void
lru_unlink(struct link *l)
{
	l->prev->next = l->next;
	l->next->prev = l->prev;
}

static void
lru_push(struct shard *s, struct link *l)
{
	l->prev = &s->lru;
	l->next = s->lru.next;
	s->lru.next->prev = l;
	s->lru.next = l;
}

/* Where a probe for hash h starts; the low bits of h chose the shard. */
static uint64_t
home(const struct cache *c, const struct shard *s, uint64_t h)
{
	return (h >> c->sbits) & s->mask;
}

/* The slot holding page no (h = mix(no)), or the free slot ending its probe. */
static uint64_t
shard_probe(const struct cache *c, const struct shard *s, uint64_t h,
    uint64_t no)
{
	uint64_t	i = home(c, s, h);

	while (s->table[i].page != NULL && s->table[i].no != no)
		i = (i + 1) & s->mask;
	return i;
}

static struct page *
shard_find(const struct cache *c, struct shard *s, uint64_t h, uint64_t no)
{
	return s->table[shard_probe(c, s, h, no)].page;
}

/*
 * Free p's slot and shift later members of its probe run back into the
 * hole (deletion without tombstones): an entry moves to the hole unless
 * its home lies cyclically after the hole and at or before its slot.
 */
static void
shard_unhash(const struct cache *c, struct shard *s, const struct page *p)
{
	uint64_t	hole = shard_probe(c, s, mix(p->no), p->no), j = hole, k;

	for (;;) {
		s->table[hole].page = NULL;
		for (;;) {
			j = (j + 1) & s->mask;
			if (s->table[j].page == NULL)
				return;
			k = home(c, s, mix(s->table[j].no));
			if (((j - k) & s->mask) >= ((j - hole) & s->mask))
				break;
		}
		s->table[hole] = s->table[j];
		hole = j;
	}
}

/* Drop the least recently used page and hand its buffer to the caller. */
static struct page *
shard_evict(const struct cache *c, struct shard *s)
{
	struct page	*p = page_of(s->lru.prev);

	lru_unlink(&p->lru);
	shard_unhash(c, s, p);
	s->pages--;
	s->evictions++;
	return p;
}

/*
 * A buffer for a miss, with the lock held: a spare, or, when the shard is
 * full, the buffer of its LRU page. NULL means "malloc one", which the
 * caller does after unlocking.
 */
static struct page *
shard_take(const struct cache *c, struct shard *s)
{
	struct page	*p;

	if ((p = s->spare) != NULL) {
		s->spare = p->next_spare;
		s->nspare--;
		return p;
	}
	if (s->pages >= s->cap)
		return shard_evict(c, s);
	return NULL;
}

/*
 * Keep an unused buffer for the next miss if held pages plus spares stay
 * within the shard's capacity; otherwise return it for the caller to free
 * once unlocked. Memory for pages is thus the byte bound plus at most one
 * buffer per thread in the middle of a miss.
 */
static struct page *
shard_recycle(struct shard *s, struct page *p)
{
	if (p == NULL || s->pages + s->nspare >= s->cap)
		return p;
	p->next_spare = s->spare;
	s->spare = p;
	s->nspare++;
	return NULL;
}

/* Insert p as most recently used; returns a buffer to free, or NULL. */
static struct page *
shard_insert(const struct cache *c, struct shard *s, struct page *p)
{
	struct page	*victim = NULL;
	uint64_t	 i;

	/* Other misses may have filled the shard while p was loading. */
	if (s->pages >= s->cap)
		victim = shard_evict(c, s);
	i = shard_probe(c, s, mix(p->no), p->no);
	s->table[i].no = p->no;
	s->table[i].page = p;
	lru_push(s, &p->lru);
	s->pages++;
	return shard_recycle(s, victim);
}

/*
 * The table has two slots per page the shard may hold (rounded up to a
 * power of two), so probes stay short, and it never changes: cache_prefetch
 * can read it without the lock. calloc hands a large table out as
 * untouched zero pages: memory is spent as slots are used, not when
 * cache.size is set.
 */
static int
shard_init(struct shard *s, uint64_t cap)
{
	uint64_t	n = 1;

	memset(s, 0, sizeof(*s));
	while (n < 2 * cap && n <= SIZE_MAX / 2 / sizeof(*s->table))
		n *= 2;
	if ((s->table = calloc(n, sizeof(*s->table))) == NULL)
		return -1;
	if (pthread_mutex_init(&s->lock, NULL) != 0) {
		free(s->table);
		return -1;
	}
	s->mask = n - 1;
	s->lru.prev = s->lru.next = &s->lru;
	s->cap = cap;
	return 0;
}

static void
shard_free(struct shard *s)
{
	struct link	*l, *next;
	struct page	*p;

	for (l = s->lru.next; l != &s->lru; l = next) {
		next = l->next;
		free(page_of(l));
	}
	while ((p = s->spare) != NULL) {
		s->spare = p->next_spare;
		free(p);
	}
	free(s->table);
	pthread_mutex_destroy(&s->lock);
}

struct cache *
cache_new(uint64_t capacity_bytes, size_t entries, cache_load_fn load,
    void *load_arg)
{
	struct cache	*c;
	uint64_t	 cap_pages, n, share, extra;

	if (load == NULL || entries == 0 ||
	    entries > (SIZE_MAX - sizeof(struct page)) / sizeof(uint64_t) ||
	    capacity_bytes / (entries * sizeof(uint64_t)) == 0) {
		errno = EINVAL;
		return NULL;
	}
	cap_pages = capacity_bytes / (entries * sizeof(uint64_t));

	/* Largest power of two that leaves every shard a useful LRU. */
	for (n = 1; n * 2 <= CACHE_MAX_SHARDS &&
	    n * 2 * CACHE_SHARD_MIN_PAGES <= cap_pages; n *= 2)
		;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->shards = aligned_alloc(CACHE_LINE, n * sizeof(struct shard));
	if (c->shards == NULL)
		goto fail;
	c->smask = n - 1;
	while ((1ULL << c->sbits) < n)
		c->sbits++;
	c->entries = entries;
	c->slots = entries - 1;
	c->page_bytes = entries * sizeof(uint64_t);
	c->capacity = capacity_bytes;
	c->load = load;
	c->load_arg = load_arg;

	/* The remainder goes to the first shards: the whole bound is used. */
	share = cap_pages / n;
	extra = cap_pages % n;
	for (c->nshards = 0; c->nshards < n; c->nshards++)
		if (shard_init(&c->shards[c->nshards],
		    share + (c->nshards < extra)) == -1)
			goto fail;
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
		shard_free(&c->shards[i]);
	free(c->shards);
	free(c);
}

void
cache_prefetch(const struct cache *c, uint64_t page)
{
#if defined(__GNUC__)
	/* GCC and Clang: a hint that never faults; table and mask never
	 * change after creation, so reading them unlocked is safe. */
	uint64_t		 h = mix(page);
	const struct shard	*s = &c->shards[h & c->smask];

	__builtin_prefetch(&s->table[home(c, s, h)]);
#else
	(void)c;
	(void)page;
#endif
}

int
cache_lookup(struct cache *c, uint64_t page, size_t slot, uint64_t *a,
    uint64_t *b)
{
	uint64_t	 h = mix(page);
	struct shard	*s = &c->shards[h & c->smask];
	struct page	*p;

	/* A caller bug, but never worth reading past a page. */
	if (slot >= c->slots) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&s->lock);
	if ((p = shard_find(c, s, h, page)) != NULL) {
		s->hits++;
		if (s->lru.next != &p->lru) {
			lru_unlink(&p->lru);
			lru_push(s, &p->lru);
		}
		read_slot(c, p->offs, slot, a, b);
		pthread_mutex_unlock(&s->lock);
		return 0;
	}
	s->misses++;
	p = shard_take(c, s);
	pthread_mutex_unlock(&s->lock);
	return cache_fill(c, s, h, page, p, slot, a, b);
}

/*
 * The miss path, entered unlocked with a buffer p owned by this thread (or
 * NULL: allocate one). If another thread cached the same page while this
 * one was loading, theirs stays and p is recycled: both read the same
 * bytes, so the answer is the same.
 */
static int
cache_fill(struct cache *c, struct shard *s, uint64_t h, uint64_t page,
    struct page *p, size_t slot, uint64_t *a, uint64_t *b)
{
	struct page	*drop;
	int		 saved;

	if (p == NULL)
		p = malloc(sizeof(*p) + c->page_bytes);
	if (p == NULL || c->load(c->load_arg, page, p->offs) != 0) {
		/* Keep the loader's errno for the caller's log line. */
		saved = p == NULL ? ENOMEM : errno;
		pthread_mutex_lock(&s->lock);
		s->load_errors++;
		drop = shard_recycle(s, p);
		pthread_mutex_unlock(&s->lock);
		free(drop);
		errno = saved;
		return -1;
	}
	read_slot(c, p->offs, slot, a, b);
	p->no = page;
	pthread_mutex_lock(&s->lock);
	if (shard_find(c, s, h, page) != NULL)
		drop = shard_recycle(s, p);
	else
		drop = shard_insert(c, s, p);
	pthread_mutex_unlock(&s->lock);
	free(drop);
	return 0;
}

void
cache_set_reader(struct cache *c, cache_read_fn read, size_t slots)
{
	c->read = read;
	c->slots = slots;
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
	out->bytes = out->pages * c->page_bytes;
	out->capacity = c->capacity;
}
