/*
 * store: one served version of the text — the text file, its index and
 * the pages of the index in memory — and the only way to a line:
 * store_lookup() turns a line number into where the line is and what its
 * checksum is; store_check_line() says whether bytes copied from the text
 * are that line.
 *
 * A store is shared by every worker and counted by reference. When the
 * files change in place, the server marks the store changed (every GET is
 * ERR from then on), builds a new one in the background and publishes it;
 * the old store is freed by whoever drops the last reference, once no
 * answer still reads from it.
 *
 * Index pages are kept in one of two ways, chosen at open: when the whole
 * index fits in [cache] size, a page table (pagetab.h) that holds every
 * page once loaded and is read without a lock; otherwise the LRU cache
 * (cache.h). Both count against [cache] size everything they allocate.
 */
#ifndef LINESVR_STORE_H
#define LINESVR_STORE_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/stat.h>

#include "cache.h"
#include "config.h"
#include "index.h"
#include "pagetab.h"
#include "text.h"

/* Text bytes one page repair may scan: about a millisecond, so a repair
 * never stalls the worker's other clients. Longer repairs are left to a
 * background re-index. */
#define STORE_REPAIR_SCAN (1u << 20)

/* Counters that outlive a store; the server owns them. */
struct store_counters {
	_Atomic uint64_t index_errors;      /* pages that failed their check */
	_Atomic uint64_t lines_checked_bad; /* lines that failed theirs */
	_Atomic uint64_t file_changes;      /* in-place changes noticed */
};

/*
 * One caller's count of lookups (SPEC: exactly one of cache_hits and
 * cache_misses per valid GET): a miss ran the loader, a hit did not. Each
 * worker owns one and alone writes it, so counting needs no locked
 * instruction and no shared cache line; STATS sums them.
 */
struct store_tally {
	_Atomic uint64_t hits;
	_Atomic uint64_t misses;
};

/* What holds the index pages: STATS' cache_* lines. */
struct store_cache_stats {
	uint64_t evictions, pages, bytes, capacity;
};

/* A line as the index describes it. */
struct store_line {
	uint64_t n;
	uint64_t off, len;        /* bytes in the text, LF included */
	uint32_t crc;             /* CRC-32C of those bytes, if checked */
	int add_lf;               /* the last line has no LF: send one */
};

/* What a file looked like when the store opened it. */
struct file_id {
	dev_t dev;
	ino_t ino;
	off_t size;
	struct timespec mtime, ctime;
	nlink_t nlink;
};

struct store {
	_Atomic unsigned refs;
	const struct config *cfg;
	struct store_counters *ctr;
	struct text text;
	struct index idx;
	struct text idx_file;     /* idx's file, mapped for cache misses */
	struct pagetab *ptab;     /* every page, when the index fits; or */
	struct cache *cache;      /* an LRU of them (one of the two is NULL) */
	uint64_t lines;
	unsigned page_shift;      /* log2(lines_per_page) */
	uint64_t slot_mask;       /* lines_per_page - 1 */
	int no_final_lf;          /* the last line is served with an LF added */
	int line_crc;             /* lines are checked against their CRC */
	int prefetch_index;       /* the cache cannot hold the whole index */
	_Atomic int changed;      /* the files changed in place: GETs are ERR */
	_Atomic int damaged;      /* a page could not be repaired quickly */
	_Atomic int renamed_logged;
	struct file_id text_id, idx_id;
	char text_path[CONFIG_PATH_MAX];
	char idx_path[CONFIG_PATH_MAX + 8];
};

/*
 * Open cfg's text file and its index and create the page cache. The index
 * is built first when it is missing or stale and cfg allows it, or always
 * when rebuild is set (its pages are not to be trusted); every build is
 * logged at warn with its reason. m is the lines per page to build with
 * (0: cfg's; unset there too: an existing index's own, else
 * INDEX_M_DEFAULT). NULL with err set on failure.
 */
struct store *store_open(const struct config *cfg, struct store_counters *ctr,
    unsigned m, int rebuild, char *err, size_t errlen);

/* One more reference; the caller must already hold one. */
void store_hold(struct store *st);

/* Drop a reference; the last one frees the store. NULL is ignored. */
void store_release(struct store *st);

/* A count with a single writer: a plain add, no locked instruction. */
static inline void
tally_bump(_Atomic uint64_t *counter)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter,
	    memory_order_relaxed) + 1, memory_order_relaxed);
}

/* Line n where the index's il puts it. */
static inline void
store_line_at(const struct store *st, uint64_t n,
    const struct index_line *il, struct store_line *out)
{
	out->n = n;
	out->off = il->off;
	out->len = il->end - il->off;
	out->crc = il->crc;
	out->add_lf = n == st->lines && st->no_final_lf;
}

/* store_lookup's every case; the common one is inline below. */
int store_lookup_slow(struct store *st, uint64_t n, struct store_line *out,
    struct store_tally *t);

/*
 * Where line n is. 0, or -1 when the answer is ERR: n out of range, the
 * files changed, or its page is unusable. A lookup of a line in range
 * counts one hit or one miss in t, which only the calling thread writes.
 * Thread-safe. Inline for the page table's hit (a READY page never
 * changes or moves, so it is read without a lock): a pipelined batch
 * looks up every GET, and the call alone cost a fifth of the lookup;
 * always inline, as GCC keeps it out of line once it has two callers.
 */
static inline __attribute__((always_inline)) int
store_lookup(struct store *st, uint64_t n, struct store_line *out,
    struct store_tally *t)
{
	struct index_line il;
	uint64_t page = (n - 1) >> st->page_shift;

	/* n - 1 wraps for n = 0: out of range too. */
	if (st->ptab == NULL || n - 1 >= st->lines ||
	    atomic_load_explicit(&st->changed, memory_order_relaxed) ||
	    !pagetab_is_ready(st->ptab, page))
		return store_lookup_slow(st, n, out, t);
	tally_bump(&t->hits);
	index_body_line(&st->idx.h, pagetab_body(st->ptab, page),
	    (size_t)((n - 1) & st->slot_mask), &il);
	store_line_at(st, n, &il, out);
	return 0;
}

/* store_prefetch for the LRU cache. */
void store_prefetch_cache(const struct store *st, uint64_t n);

/* Start fetching what looking up line n will read (n is unchecked). */
static inline void
store_prefetch(const struct store *st, uint64_t n)
{
	uint64_t page = (n - 1) >> st->page_shift;

	if (st->ptab == NULL) {
		store_prefetch_cache(st, n);
		return;
	}
	if (n - 1 >= st->lines)
		return;
	/* Not the page's state byte: one byte a page, always cached. */
	index_body_prefetch(&st->idx.h, pagetab_body(st->ptab, page),
	    (size_t)((n - 1) & st->slot_mask));
}

/*
 * Are bytes[0..l->len), copied from the text, the line l describes: no LF
 * before its end, an LF at its end (unless add_lf), and its checksum? 0 if
 * so; -1, counted and logged, if not.
 */
int store_check_line(struct store *st, const struct store_line *l,
    const char *bytes);

/*
 * The same checks from what one pass over the copied bytes found (see
 * crc32c_copy_find): whether an LF came before the line's end, and its
 * CRC-32C; bytes is read only for its last byte.
 */
int store_judge_line(struct store *st, const struct store_line *l,
    const char *bytes, int early_lf, uint32_t crc);

/* Count and log a line that failed a check made piece by piece (a line
 * streamed in chunks). */
void store_line_bad(struct store *st, const struct store_line *l,
    const char *what);

/* What store_files_changed found. */
#define STORE_SAME     0
#define STORE_CHANGED  1  /* changed in place; why says how */
#define STORE_RELINKED 2  /* the text's link count and ctime moved */

/*
 * Compare the files with what the store opened (fstat: size, mtime, ctime,
 * link count). A path renamed over is not a change (the store keeps
 * serving the inode it indexed) and is logged once; but a write can hide
 * behind a rename or a link (mtime set back, then the link count moved),
 * so STORE_RELINKED asks for store_verify_text.
 */
int store_files_changed(struct store *st, char *why, size_t whylen);

/*
 * Read the text to tell whether its content is still what was indexed:
 * every line against its checksum (about 0.8 s a GiB), or, without line
 * checksums, the content fingerprint only. STORE_CHANGED with why, or
 * STORE_SAME. Slow: for a background thread.
 */
int store_verify_text(struct store *st, char *why, size_t whylen);

/* The pages held now, what they cost, evictions so far, and the bound. */
void store_cache_stats(const struct store *st, struct store_cache_stats *out);

/* The path of st's index file. */
const char *store_index_path(const struct store *st);

#endif
