/*
 * index_check.c: the index against its text, after the build. The repair
 * (index_rebuild_body) rebuilds one page that failed its checksum by
 * scanning the text from the end of a good page before it; the deep check
 * (index_check_deep, for --check --deep) reads the whole text once and
 * tests every line against its stored checksum.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "index_format.h"
#include "io.h"

/* ---- page repair ---- */

struct repair {
	const struct index *idx;
	uint64_t want;            /* the page being rebuilt */
	unsigned char *body;      /* where it goes */
	int done;                 /* 1 encoded, -1 could not be encoded */
};

static int
repair_emit(struct pagefill *pf)
{
	struct repair *rp = pf->ctx;

	if (pf->page != rp->want)
		return 0;
	rp->done = index_encode_body(&rp->idx->h, pf->offs, pf->crcs,
	    rp->body) == 0 ? 1 : -1;
	return 1;
}

/*
 * Where a repair of page starts: the end of the nearest page before it
 * that passes its checksum, or the start of the text when all the pages
 * before it were looked at. -1 when INDEX_REPAIR_PAGES pages failed.
 */
static int
repair_origin(const struct index *idx, uint64_t page, unsigned char *tmp,
    uint64_t *from_page, uint64_t *at)
{
	struct index_line l;

	for (uint64_t n = 1; n <= INDEX_REPAIR_PAGES && n <= page; n++)
		if (index_read_body(idx, page - n, tmp, NULL, 0) == INDEX_OK) {
			index_body_line(&idx->h, tmp, idx->h.lines_per_page - 1,
			    &l);
			*from_page = page - n + 1;
			*at = l.end;
			return 0;
		}
	if (page > INDEX_REPAIR_PAGES)
		return -1;
	*from_page = 0;
	*at = 0;
	return 0;
}

/* The text ran out before the page was complete: only the last page may. */
static void
repair_at_eof(const struct index *idx, struct pagefill *pf,
    struct repair *rp)
{
	uint64_t size = idx->h.source_size;

	if ((idx->h.flags & INDEX_FLAG_NO_FINAL_LF) && pf->offs[pf->k] != size)
		pagefill_last_line(pf, size);
	if (rp->done != 0 || pf->page != rp->want || pf->k == 0 ||
	    pf->lines != idx->h.lines)
		return;
	pagefill_pad(pf);
	repair_emit(pf);
}

/*
 * The rebuilt page must meet its neighbours: the last page ends at the end
 * of the text, any other at the start of the next page when that one is
 * good. (An earlier good page is where the scan started.)
 */
static int
repair_fits(const struct index *idx, uint64_t page, const void *body,
    unsigned char *tmp)
{
	struct index_line l, next;

	index_body_line(&idx->h, body, idx->h.lines_per_page - 1, &l);
	if (page + 1 == idx->h.pages)
		return l.end == idx->h.source_size;
	if (index_read_body(idx, page + 1, tmp, NULL, 0) != INDEX_OK)
		return 1;
	index_body_line(&idx->h, tmp, 0, &next);
	return next.off == l.end;
}

enum index_status
index_rebuild_body(const struct index *idx, int text_fd, uint64_t page,
    void *body, uint64_t max_scan, char *err, size_t errlen)
{
	unsigned m = idx->h.lines_per_page;
	uint64_t size = idx->h.source_size, from_page, pos, scanned = 0;
	struct repair rp = { .idx = idx, .want = page, .body = body };
	struct pagefill pf = { .m = m, .emit = repair_emit, .ctx = &rp };
	const size_t chunk = 1u << 16;
	unsigned char *tmp = NULL;
	char *buf = NULL;
	enum index_status st = INDEX_OK;

	if (page >= idx->h.pages)
		return index_fail(INDEX_ERR_ARG, err, errlen,
		    "page %llu out of range", (unsigned long long)page);
	pf.offs = malloc(((size_t)m + 1) * sizeof(*pf.offs));
	if (index_has_line_crc(&idx->h))
		pf.crcs = malloc((size_t)m * sizeof(*pf.crcs));
	buf = malloc(chunk);
	tmp = malloc(index_body_bytes(idx));
	if (pf.offs == NULL || buf == NULL || tmp == NULL ||
	    (index_has_line_crc(&idx->h) && pf.crcs == NULL)) {
		st = index_fail(INDEX_ERR_IO, err, errlen, "out of memory");
		goto done;
	}
	if (repair_origin(idx, page, tmp, &from_page, &pos) < 0) {
		st = index_fail(INDEX_ERR_FAR, err, errlen,
		    "%s: cannot repair page %llu: the %d pages before it fail "
		    "too", idx->path, (unsigned long long)page,
		    INDEX_REPAIR_PAGES);
		goto done;
	}
	pagefill_reset(&pf, from_page, pos);
	while (rp.done == 0 && pos < size) {
		size_t want = size - pos < chunk ? (size_t)(size - pos) : chunk;
		ssize_t r;
		if (scanned >= max_scan) {
			st = index_fail(INDEX_ERR_FAR, err, errlen,
			    "%s: cannot repair page %llu within %llu bytes of "
			    "scanning", idx->path, (unsigned long long)page,
			    (unsigned long long)max_scan);
			goto done;
		}
		if (want > max_scan - scanned)
			want = (size_t)(max_scan - scanned);
		r = io_pread_full(text_fd, buf, want, pos);
		if (r != (ssize_t)want) {
			st = index_fail(r < 0 ? INDEX_ERR_IO : INDEX_ERR_SOURCE,
			    err, errlen, "%s: repairing page %llu: reading the "
			    "text: %s", idx->path, (unsigned long long)page,
			    r < 0 ? strerror(errno) :
			    "file shorter than the index says");
			goto done;
		}
		pagefill_chunk(&pf, buf, want, pos);
		pos += want;
		scanned += want;
	}
	if (rp.done == 0)
		repair_at_eof(idx, &pf, &rp);
	if (rp.done == 1) {
		index_body_to_host(&idx->h, body);
		if (repair_fits(idx, page, body, tmp) &&
		    index_body_in_order(&idx->h, body))
			goto done;
	}
	st = index_fail(INDEX_ERR_SOURCE, err, errlen,
	    "%s: cannot repair page %llu: the text file does not match the "
	    "index", idx->path, (unsigned long long)page);
done:
	free(pf.offs);
	free(pf.crcs);
	free(buf);
	free(tmp);
	return st;
}

/* ---- deep check ---- */

#define DEEP_CHUNK  (1u << 20) /* text bytes read per call */
#define DEEP_FIRST  5          /* bad line numbers named in the message */

/*
 * Lines are contiguous and in order, so the text is read sequentially,
 * once; each line's bytes are hashed where the index says they are (not
 * where the LFs are now), so one changed byte fails exactly one line.
 */
struct deep {
	const struct index *idx;
	int fd;
	char *buf;
	uint64_t at;              /* text offset of buf[0] */
	size_t have;              /* bytes in buf */
};

/* Read the text from at into the buffer. */
static enum index_status
deep_refill(struct deep *d, uint64_t at, char *err, size_t errlen)
{
	uint64_t size = d->idx->h.source_size;
	size_t want = size - at < DEEP_CHUNK ? (size_t)(size - at) : DEEP_CHUNK;
	ssize_t r = io_pread_full(d->fd, d->buf, want, at);

	if (r != (ssize_t)want)
		return index_fail(r < 0 ? INDEX_ERR_IO : INDEX_ERR_SOURCE, err,
		    errlen, "reading the text at %llu: %s",
		    (unsigned long long)at, r < 0 ? strerror(errno) :
		    "file cut short");
	d->at = at;
	d->have = want;
	return INDEX_OK;
}

static enum index_status
deep_line_crc(struct deep *d, const struct index_line *l, uint32_t *crc,
    char *err, size_t errlen)
{
	enum index_status st;
	uint32_t c = 0;

	for (uint64_t at = l->off; at < l->end;) {
		/* Before the buffer only when a forged page (valid checksum)
		 * points ahead of the next one: read again, never index back. */
		if ((at < d->at || at >= d->at + d->have) &&
		    (st = deep_refill(d, at, err, errlen)) != INDEX_OK)
			return st;
		size_t n = d->at + d->have - at < l->end - at ?
		    (size_t)(d->at + d->have - at) : (size_t)(l->end - at);
		c = crc32c(c, d->buf + (at - d->at), n);
		at += n;
	}
	*crc = c;
	return INDEX_OK;
}

enum index_status
index_check_deep(const struct index *idx, int text_fd,
    index_progress_fn progress, void *arg, uint64_t *bad_lines, char *err,
    size_t errlen)
{
	const struct index_header *h = &idx->h;
	struct deep d = { .idx = idx, .fd = text_fd };
	unsigned char *body = malloc(index_body_bytes(idx));
	uint64_t first[DEEP_FIRST], bad = 0, line = 0;
	enum index_status st = INDEX_OK;
	double last = index_now_s();
	struct index_line l;
	char list[DEEP_FIRST * 24] = "";
	uint32_t c = 0;

	*bad_lines = 0;
	d.buf = malloc(DEEP_CHUNK);
	if (!index_has_line_crc(h))
		st = index_fail(INDEX_ERR_ARG, err, errlen,
		    "%s: the index has no per-line checksums", idx->path);
	else if (body == NULL || d.buf == NULL)
		st = index_fail(INDEX_ERR_IO, err, errlen, "out of memory");
	if (st != INDEX_OK)
		goto done;
	posix_fadvise(text_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	for (uint64_t p = 0; p < h->pages; p++) {
		if ((st = index_read_body(idx, p, body, err, errlen)) != INDEX_OK)
			goto done;
		for (unsigned k = 0; k < h->lines_per_page && line < h->lines;
		    k++, line++) {
			index_body_line(h, body, k, &l);
			if ((st = deep_line_crc(&d, &l, &c, err, errlen)) !=
			    INDEX_OK)
				goto done;
			if (c != l.crc && bad++ < DEEP_FIRST)
				first[bad - 1] = line + 1;
		}
		if (progress != NULL && (p & 63) == 0 &&
		    index_now_s() - last >= INDEX_PROGRESS_NS / 1e9) {
			progress(arg, d.at + d.have, h->source_size);
			last = index_now_s();
		}
		if (index_cancelled) {
			st = index_fail(INDEX_ERR_IO, err, errlen,
			    "interrupted");
			goto done;
		}
	}
	*bad_lines = bad;
	if (bad == 0)
		goto done;
	for (uint64_t i = 0; i < bad && i < DEEP_FIRST; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list),
		    "%s%llu", i ? ", " : "", (unsigned long long)first[i]);
	st = index_fail(INDEX_ERR_SOURCE, err, errlen,
	    "%s: %llu of %llu lines fail their checksum (line %s%s)",
	    idx->path, (unsigned long long)bad, (unsigned long long)h->lines,
	    list, bad > DEEP_FIRST ? ", ..." : "");
done:
	free(body);
	free(d.buf);
	return st;
}
