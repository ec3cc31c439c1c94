/*
 * store: the text, its index and the pages held in memory (a page table
 * or the LRU cache), and the lookup of a line through them (see store.h).
 * Both call back into this module on a miss (load_page); the cache also
 * to read a slot out of a cached page (read_line).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "crc32c.h"
#include "log.h"
#include "notify.h"
#include "store.h"

static struct log_limit page_limit, line_limit;

static int file_id_of(int, struct file_id *);
static int file_changed(int, struct file_id *, const char *, char *, size_t);

/* ---- pages ---- */

/*
 * Fetch page's body and trailer: copied from the index's mapping, which
 * costs no system call, or read with one preadv when it is not mapped.
 */
static enum index_status
fetch_body(const struct store *st, uint64_t page, void *body, char *err,
    size_t errlen)
{
	uint64_t off = index_page_offset(&st->idx, page);
	size_t n = index_body_bytes(&st->idx);
	unsigned char trailer[8];

	if (st->idx_file.map == NULL)
		return index_read_body(&st->idx, page, body, err, errlen);
	if (text_copy(&st->idx_file, body, off, n) < 0 ||
	    text_copy(&st->idx_file, trailer, off + n, sizeof(trailer)) < 0) {
		snprintf(err, errlen, "%.400s: reading page %llu: file cut short",
		    st->idx.path, (unsigned long long)page);
		return INDEX_ERR_IO;
	}
	return index_check_body(&st->idx, page, body, trailer, err, errlen);
}

/*
 * The loader of the page table and the cache: fetch and verify a page body; a page that fails is
 * rebuilt from the text when that takes a short scan. A longer repair
 * would stall every client of this worker: the page's lines are ERR
 * instead, and the store is marked damaged so that (under build = auto)
 * the server re-indexes in the background. Once damaged, no more repairs
 * are tried: the re-index will mend them all at once.
 */
static int
load_page(void *arg, uint64_t page, void *body)
{
	struct store *st = arg;
	int background = st->cfg->build == BUILD_AUTO;
	char err[512], why[512];
	enum index_status rs;

	if (fetch_body(st, page, body, err, sizeof(err)) == INDEX_OK)
		return 0;
	atomic_fetch_add(&st->ctr->index_errors, 1);
	if (background && atomic_load(&st->damaged)) {
		log_limited(&page_limit, LOG_WARN, "%s; answering ERR for its "
		    "lines until the index is rebuilt", err);
		errno = EIO;
		return -1;
	}
	rs = index_rebuild_body(&st->idx, st->text.fd, page, body,
	    STORE_REPAIR_SCAN, why, sizeof(why));
	if (rs == INDEX_OK) {
		log_limited(&page_limit, LOG_WARN, "%s; rebuilt it from the "
		    "text file", err);
		return 0;
	}
	atomic_store(&st->damaged, 1);
	log_limited(&page_limit, LOG_WARN, "%s; not repaired (%s): answering "
	    "ERR for its lines%s", err, why, background ?
	    " until the index is rebuilt in the background" : "");
	errno = EIO;
	return -1;
}

/* The cache's reader: one slot of a page as the index stores it. */
static void
read_line(void *arg, const void *body, size_t slot, void *out)
{
	const struct store *st = arg;

	index_body_line(&st->idx.h, body, slot, out);
}

/* ---- open and close ---- */

/*
 * Every build of an index that was not asked for by name is a warning
 * with its reason: a tuned index is never replaced quietly. index_open's
 * reasons start with the index's path, which the line names already.
 */
static void
log_build(const struct store *st, enum index_status s, const char *why,
    unsigned m)
{
	size_t n = strlen(st->idx_path);

	if (s == INDEX_ERR_MISSING)
		why = "missing";
	else if (strncmp(why, st->idx_path, n) == 0 && why[n] == ':' &&
	    why[n + 1] == ' ')
		why += n + 2;
	log_warn("building index %s of %s with lines_per_page %u: %s",
	    st->idx_path, st->text_path, m, why);
}

/*
 * Open the index, building it first when asked, or allowed and needed.
 * m 0 (lines_per_page unset) takes an existing index's own, and builds a
 * new one with INDEX_M_DEFAULT.
 */
static int
prepare_index(struct store *st, unsigned m, int rebuild, char *err,
    size_t errlen)
{
	const struct config *cfg = st->cfg;
	struct index_build_opts o = { .m = m != 0 ? m : INDEX_M_DEFAULT,
	    .line_crc = cfg->line_checksums };
	struct index_summary sum;
	char why[512];
	enum index_status s = INDEX_ERR_STALE;

	if (rebuild)
		snprintf(why, sizeof(why), "the index or the text changed "
		    "while served");
	else if ((s = index_open(&st->idx, st->idx_path, st->text.fd, m,
	    cfg->line_checksums, why, sizeof(why))) == INDEX_OK)
		return 0;
	if (s == INDEX_ERR_IO) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (cfg->build == BUILD_NEVER) {
		snprintf(err, errlen, "index unusable (build = never): %s", why);
		return -1;
	}
	log_build(st, s, why, o.m);
	/* rebuild is a background re-index; any other build is the startup's,
	 * on the main thread, which tells the service manager how it goes. */
	if (!rebuild) {
		o.progress = notify_build_progress;
		o.progress_arg = st->idx_path;
	}
	if (index_build(st->text_path, st->idx_path, &o, &sum, err, errlen)
	    != INDEX_OK)
		return -1;
	log_info("index built: %llu lines in %.2f s",
	    (unsigned long long)sum.lines, sum.seconds);
	return index_open(&st->idx, st->idx_path, st->text.fd, o.m,
	    cfg->line_checksums, err, errlen) == INDEX_OK ? 0 : -1;
}

static int
file_id_of(int fd, struct file_id *id)
{
	struct stat sb;

	if (fstat(fd, &sb) < 0)
		return -1;
	id->dev = sb.st_dev;
	id->ino = sb.st_ino;
	id->size = sb.st_size;
	id->mtime = sb.st_mtim;
	id->ctime = sb.st_ctim;
	id->nlink = sb.st_nlink;
	return 0;
}

/*
 * The baseline for noticing changes, taken from the open text before its
 * index is opened or built: a write during a build (even one that sets
 * the mtime back) moves the ctime past it. The index's own identity is
 * taken once it is open.
 */
static int
record_text(struct store *st, char *err, size_t errlen)
{
	if (file_id_of(st->text.fd, &st->text_id) == 0)
		return 0;
	snprintf(err, errlen, "%s: fstat: %s", st->text_path, strerror(errno));
	return -1;
}

/*
 * Once the index is open: the text must still be what it was before
 * (index_open compared size, mtime and a fingerprint with the header;
 * the ctime catches a write that kept those), and the index is recorded.
 */
static int
record_index(struct store *st, char *err, size_t errlen)
{
	char why[600];

	if (file_id_of(st->idx.fd, &st->idx_id) < 0) {
		snprintf(err, errlen, "%s: fstat: %s", st->idx.path,
		    strerror(errno));
		return -1;
	}
	if (file_changed(st->text.fd, &st->text_id, st->text_path, why,
	    sizeof(why)) != 0) {
		snprintf(err, errlen, "%s while it was being indexed", why);
		return -1;
	}
	return 0;
}

/*
 * Where the index's pages are kept: every one in a page table when the
 * whole index fits in cache.size — no lock per lookup, nothing ever
 * evicted — else in the LRU cache.
 */
static int
store_pages(struct store *st, char *err, size_t errlen)
{
	uint64_t cap = st->cfg->cache_size, pages = st->idx.h.pages;
	size_t body = index_body_bytes(&st->idx);
	struct cache_stats cs;

	if (pages > 0 && pagetab_cost(pages, body) <= cap) {
		st->ptab = pagetab_new(pages, body, load_page, st);
	} else if ((st->cache = cache_new(cap, body,
	    st->idx.h.lines_per_page, load_page, read_line, st)) != NULL) {
		cache_get_stats(st->cache, &cs);
		st->prefetch_index = st->idx_file.map != NULL &&
		    pages > cs.max_pages;
	}
	if (st->ptab != NULL || st->cache != NULL)
		return 0;
	snprintf(err, errlen, "cannot create a page cache of %llu bytes: %s",
	    (unsigned long long)cap, errno == EINVAL ?
	    "less than one index page" : strerror(errno));
	return -1;
}

static int
store_setup(struct store *st, unsigned m, int rebuild, char *err,
    size_t errlen)
{
	const struct config *cfg = st->cfg;

	if (config_index_path(cfg, st->idx_path, sizeof(st->idx_path)) < 0) {
		snprintf(err, errlen, "%s: path too long", cfg->file);
		return -1;
	}
	if (text_open(&st->text, cfg->file, cfg->map_max, err, errlen) < 0 ||
	    record_text(st, err, errlen) < 0 ||
	    prepare_index(st, m, rebuild, err, errlen) < 0 ||
	    text_open_fd(&st->idx_file, st->idx.fd, st->idx.path,
	    cfg->map_max, err, errlen) < 0 ||
	    record_index(st, err, errlen) < 0)
		return -1;
	m = st->idx.h.lines_per_page;
	st->lines = st->idx.h.lines;
	st->no_final_lf = (st->idx.h.flags & INDEX_FLAG_NO_FINAL_LF) != 0;
	st->line_crc = index_has_line_crc(&st->idx.h);
	st->slot_mask = m - 1;
	while ((1u << st->page_shift) < m)
		st->page_shift++;
	return store_pages(st, err, errlen);
}

static void
store_free(struct store *st)
{
	pagetab_free(st->ptab);
	cache_free(st->cache);
	index_close(&st->idx);
	text_close(&st->idx_file);
	text_close(&st->text);
	free(st);
}

struct store *
store_open(const struct config *cfg, struct store_counters *ctr, unsigned m,
    int rebuild, char *err, size_t errlen)
{
	struct store *st = calloc(1, sizeof(*st));

	if (st == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	atomic_init(&st->refs, 1);
	st->cfg = cfg;
	st->ctr = ctr;
	st->text.fd = st->idx.fd = st->idx_file.fd = -1;
	snprintf(st->text_path, sizeof(st->text_path), "%s", cfg->file);
	if (store_setup(st, m != 0 ? m : cfg->lines_per_page, rebuild, err,
	    errlen) < 0) {
		store_free(st);
		return NULL;
	}
	return st;
}

void
store_hold(struct store *st)
{
	atomic_fetch_add_explicit(&st->refs, 1, memory_order_relaxed);
}

void
store_release(struct store *st)
{
	/* acq_rel: every use of st by other threads happens before the free. */
	if (st != NULL && atomic_fetch_sub_explicit(&st->refs, 1,
	    memory_order_acq_rel) == 1)
		store_free(st);
}

const char *
store_index_path(const struct store *st)
{
	return st->idx_path;
}

/* ---- lines ---- */

/* Slot's line from the LRU cache; counted in t. */
static int
lookup_cached(struct store *st, uint64_t page, size_t slot,
    struct index_line *il, struct store_tally *t)
{
	int rc = cache_lookup(st->cache, page, slot, il);

	tally_bump(rc == 0 ? &t->hits : &t->misses);
	return rc < 0 ? -1 : 0;
}

/* The page table's slow path: page is not READY yet. */
static const void *
load_missing(struct store *st, uint64_t page, struct store_tally *t)
{
	int loaded;
	const void *body = pagetab_load(st->ptab, page, &loaded);

	tally_bump(loaded ? &t->misses : &t->hits);
	return body;
}

int
store_lookup_slow(struct store *st, uint64_t n, struct store_line *out,
    struct store_tally *t)
{
	struct index_line il;
	uint64_t page;
	size_t slot;
	const void *body;

	if (n == 0 || n > st->lines ||
	    atomic_load_explicit(&st->changed, memory_order_relaxed))
		return -1;
	page = (n - 1) >> st->page_shift;
	slot = (size_t)((n - 1) & st->slot_mask);
	if (st->ptab == NULL) {
		if (lookup_cached(st, page, slot, &il, t) < 0)
			return -1;
	} else {
		/* Lock-free: a READY page never changes or moves. */
		if ((body = pagetab_ready(st->ptab, page)) != NULL)
			tally_bump(&t->hits);
		else if ((body = load_missing(st, page, t)) == NULL)
			return -1;
		index_body_line(&st->idx.h, body, slot, &il);
	}
	store_line_at(st, n, &il, out);
	return 0;
}

void
store_prefetch_cache(const struct store *st, uint64_t n)
{
	uint64_t page;

	if (n == 0 || n > st->lines)
		return;
	page = (n - 1) >> st->page_shift;
	cache_prefetch(st->cache, page);
	/* Misses are likely: the page will be copied from the mapping. */
	if (st->prefetch_index)
		text_prefetch(&st->idx_file, index_page_offset(&st->idx, page),
		    index_body_bytes(&st->idx));
}

void
store_cache_stats(const struct store *st, struct store_cache_stats *out)
{
	struct cache_stats cs;

	if (st->ptab != NULL) {
		/* Nothing is evicted; a page costs its body and state byte. */
		out->evictions = 0;
		out->pages = pagetab_pages_ready(st->ptab);
		out->bytes = out->pages * (st->ptab->body_bytes + 1);
		out->capacity = st->cfg->cache_size;
		return;
	}
	cache_get_stats(st->cache, &cs);
	out->evictions = cs.evictions;
	out->pages = cs.pages;
	out->bytes = cs.bytes;
	out->capacity = cs.capacity;
}

void
store_line_bad(struct store *st, const struct store_line *l, const char *what)
{
	atomic_fetch_add(&st->ctr->lines_checked_bad, 1);
	log_limited(&line_limit, LOG_WARN, "line %llu of %s %s: the text "
	    "changed or is damaged; not sent", (unsigned long long)l->n,
	    st->text_path, what);
}

int
store_judge_line(struct store *st, const struct store_line *l,
    const char *bytes, int early_lf, uint32_t crc)
{
	if (!l->add_lf && (l->len == 0 || bytes[l->len - 1] != '\n')) {
		store_line_bad(st, l, "does not end where the index says");
		return -1;
	}
	/*
	 * The scan for an early LF counts even when the line has a checksum:
	 * CRC-32C is linear, so whoever can write the text can give a line
	 * LFs and keep its CRC; no answer may carry two lines.
	 */
	if (early_lf) {
		store_line_bad(st, l, "holds an LF before its end");
		return -1;
	}
	if (st->line_crc && crc != l->crc) {
		store_line_bad(st, l, "failed its checksum");
		return -1;
	}
	return 0;
}

int
store_check_line(struct store *st, const struct store_line *l,
    const char *bytes)
{
	/* The bytes before the line's own LF (all of them when it has none). */
	size_t body = l->add_lf ? (size_t)l->len : (size_t)l->len - 1;
	int early = 0;

	if (l->add_lf || l->len > 0)
		early = memchr(bytes, '\n', body) != NULL;
	return store_judge_line(st, l, bytes, early, st->line_crc ?
	    crc32c(0, bytes, (size_t)l->len) : 0);
}

/* ---- files that change ---- */

static int
same_time(const struct timespec *a, const struct timespec *b)
{
	return a->tv_sec == b->tv_sec && a->tv_nsec == b->tv_nsec;
}

/*
 * Has the file open as fd changed since id was taken? STORE_CHANGED: its
 * size or mtime moved, or its ctime with the same link count (a rewrite
 * can set the mtime back). STORE_RELINKED: the ctime moved with the link
 * count — a rename over the path or an unlink, which leave the content we
 * hold alone, or a write hidden behind one: only reading the content can
 * tell (store_verify_text). The new ctime becomes the baseline.
 */
static int
file_changed(int fd, struct file_id *id, const char *name, char *why,
    size_t whylen)
{
	struct file_id now;

	if (file_id_of(fd, &now) < 0) {
		snprintf(why, whylen, "%s: fstat: %s", name, strerror(errno));
		return STORE_CHANGED;
	}
	if (now.size != id->size) {
		snprintf(why, whylen, "%s changed in place: %lld bytes, "
		    "indexed at %lld", name, (long long)now.size,
		    (long long)id->size);
		return STORE_CHANGED;
	}
	if (!same_time(&now.mtime, &id->mtime)) {
		snprintf(why, whylen, "%s changed in place (modification "
		    "time)", name);
		return STORE_CHANGED;
	}
	if (!same_time(&now.ctime, &id->ctime)) {
		if (now.nlink == id->nlink) {
			snprintf(why, whylen, "%s changed in place (status "
			    "change time)", name);
			return STORE_CHANGED;
		}
		id->ctime = now.ctime;
		id->nlink = now.nlink;
		return STORE_RELINKED;
	}
	return 0;
}

/* Log once when the text's path names another file than the one served. */
static void
check_renamed(struct store *st)
{
	struct stat sb;

	if (atomic_load(&st->renamed_logged))
		return;
	if (stat(st->text_path, &sb) == 0 && sb.st_dev == st->text_id.dev &&
	    sb.st_ino == st->text_id.ino)
		return;
	atomic_store(&st->renamed_logged, 1);
	log_warn("%s now names another file (or none): still serving the "
	    "version that was indexed; restart to serve the new one",
	    st->text_path);
}

int
store_files_changed(struct store *st, char *why, size_t whylen)
{
	int text = file_changed(st->text.fd, &st->text_id, st->text_path, why,
	    whylen);

	if (text == STORE_CHANGED)
		return STORE_CHANGED;
	/* The index's pages carry their own checksums: a link change of the
	 * index (a rebuild renamed over it) needs no second look. */
	if (file_changed(st->idx.fd, &st->idx_id, st->idx.path, why,
	    whylen) == STORE_CHANGED)
		return STORE_CHANGED;
	check_renamed(st);
	return text;
}

int
store_verify_text(struct store *st, char *why, size_t whylen)
{
	uint64_t bad = 0;
	uint32_t fp;
	char err[512];

	if (st->line_crc) {
		if (index_check_deep(&st->idx, st->text.fd, NULL, NULL, &bad,
		    err, sizeof(err)) == INDEX_OK)
			return 0;
		snprintf(why, whylen, "%s changed in place: %s", st->text_path,
		    err);
		return STORE_CHANGED;
	}
	if (index_fingerprint(st->text.fd, st->idx.h.source_size, &fp, err,
	    sizeof(err)) == INDEX_OK && fp == st->idx.h.fingerprint)
		return 0;
	snprintf(why, whylen, "%s changed in place (content fingerprint)",
	    st->text_path);
	return STORE_CHANGED;
}
