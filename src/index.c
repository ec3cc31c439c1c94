/*
 * index: open, validate and read the paged line-offset index (index.h).
 * This file opens an index and checks it against its text (header,
 * sizes, fingerprint), and reads and verifies one page. The rest of the
 * module:
 *   index_format.h  private: field offsets, sizes, byte order, and what
 *                   the files below share;
 *   index_format.c  the header and page-body encoders and decoders, the
 *                   page checksum;
 *   index_scan.c    the newline scan that turns text into pages;
 *   index_build.c   index_build: threads, passes, atomic commit, cancel;
 *   index_check.c   page repair and the deep check against the text.
 *
 * On-disk layout (all integers little-endian; README.md has the table):
 *   header, INDEX_HEADER_SIZE bytes: fields at fixed offsets (HDR_*),
 *     CRC-32C of bytes [0, HDR_CRC_OFF) at HDR_CRC_OFF, zeros up to the
 *     first page;
 *   page p at INDEX_HEADER_SIZE + p * page_bytes: the body, then u32
 *     CRC-32C of (identity, u64 p, body), then u32 zero.
 * A body is one of four layouts, chosen for the whole index by its flags:
 *   compact:                  u64 base, m u32 ends           8 + 4m bytes
 *   compact, line checksums:  u64 base, m u32 ends,
 *                             m u32 line CRCs                8 + 8m
 *   wide:                     m + 1 u64 offsets              8(m + 1)
 *   wide, line checksums:     m + 1 u64 offsets, m u32
 *                             line CRCs, zeros to 8 bytes    8(m + 1) + 4m,
 *                                                            + 4 if m = 1
 * Compact is the default: base is the start of the page's first line and
 * ends[k] the end of its line k (one past the LF) relative to base. An
 * index is built wide (INDEX_FLAG_WIDE) only when some page's lines span
 * 4 GiB or more; then entry k is the start of line k and entry m the end
 * of the last. Slots past the last line of the last page repeat its end
 * and have CRC 0.
 *
 * A line CRC is CRC-32C (initial 0) of the line's bytes as stored, LF
 * included: the build folds it into its one scan of the text.
 *
 * The identity is the 28 bytes (u64 build_id, u64 source_size, i64
 * source_mtime_s, u32 source_mtime_ns); build_id is random and chosen when
 * a build starts, so every build, even of the same text, has its own. Its
 * CRC is the seed each page's CRC continues from (struct index_header's
 * page_seed). A page of another index — of another text with the same
 * geometry, or of the same text indexed again — thus fails its check, and
 * the page number inside the checksum catches a page copied to the wrong
 * place in its own index, as surely as a flipped bit.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include "crc32c.h"
#include "index_format.h"
#include "io.h"

/* ---- fingerprint ---- */

enum index_status
index_fingerprint(int text_fd, uint64_t size, uint32_t *fp, char *err,
    size_t errlen)
{
	unsigned char block[INDEX_FP_BLOCK];
	uint64_t span = (uint64_t)INDEX_FP_BLOCK * INDEX_FP_SAMPLES;
	uint32_t crc = 0;

	if (size <= span) {
		/* Small file: the fingerprint covers every byte. */
		for (uint64_t off = 0; off < size; off += INDEX_FP_BLOCK) {
			size_t n = size - off < INDEX_FP_BLOCK ?
			    (size_t)(size - off) : INDEX_FP_BLOCK;
			if (io_pread_full(text_fd, block, n, off) != (ssize_t)n)
				goto bad;
			crc = crc32c(crc, block, n);
		}
		*fp = crc;
		return INDEX_OK;
	}
	for (unsigned i = 0; i < INDEX_FP_SAMPLES; i++) {
		uint64_t off = (size - INDEX_FP_BLOCK) / (INDEX_FP_SAMPLES - 1) * i;
		if (i == INDEX_FP_SAMPLES - 1)
			off = size - INDEX_FP_BLOCK;
		if (io_pread_full(text_fd, block, INDEX_FP_BLOCK, off) !=
		    INDEX_FP_BLOCK)
			goto bad;
		crc = crc32c(crc, block, INDEX_FP_BLOCK);
	}
	*fp = crc;
	return INDEX_OK;
bad:
	return index_fail(INDEX_ERR_IO, err, errlen,
	    "reading the text file for its fingerprint: %s",
	    errno ? strerror(errno) : "file shorter than expected");
}

/* ---- open and validate ---- */

/* Fields that must agree with each other, whatever the checksum says. */
static enum index_status
check_header(const struct index_header *ih, const unsigned char *h,
    const char *path, char *err, size_t errlen)
{
	uint64_t m = ih->lines_per_page;
	const uint32_t known = INDEX_FLAG_NO_FINAL_LF | INDEX_FLAG_WIDE |
	    INDEX_FLAG_LINE_CRC;

	if (get_le32(h + HDR_HSIZE) != INDEX_HEADER_SIZE || !power_of_two(m) ||
	    m > INDEX_M_MAX || (ih->flags & ~known) != 0 ||
	    ih->page_bytes != page_bytes_for((unsigned)m, index_is_wide(ih),
	    index_has_line_crc(ih)) ||
	    ih->pages != (ih->lines + m - 1) / m ||
	    ih->lines > ih->source_size ||
	    ih->pages > (UINT64_MAX - INDEX_HEADER_SIZE) / ih->page_bytes ||
	    ih->index_size != INDEX_HEADER_SIZE + ih->pages * ih->page_bytes)
		return index_fail(INDEX_ERR_HEADER, err, errlen,
		    "%s: inconsistent header fields", path);
	return INDEX_OK;
}

static enum index_status
check_source(const struct index_header *ih, int text_fd, const char *path,
    char *err, size_t errlen)
{
	struct stat st;
	uint32_t fp;
	enum index_status s;

	if (fstat(text_fd, &st) < 0)
		return index_fail(INDEX_ERR_IO, err, errlen, "text file: %s",
		    strerror(errno));
	if ((uint64_t)st.st_size != ih->source_size)
		return index_fail(INDEX_ERR_STALE, err, errlen,
		    "%s: stale: text file size is %llu, index was built for %llu",
		    path, (unsigned long long)st.st_size,
		    (unsigned long long)ih->source_size);
	if (st.st_mtim.tv_sec != ih->source_mtime_s ||
	    (uint32_t)st.st_mtim.tv_nsec != ih->source_mtime_ns)
		return index_fail(INDEX_ERR_STALE, err, errlen,
		    "%s: stale: text file modification time changed", path);
	if ((s = index_fingerprint(text_fd, ih->source_size, &fp, err, errlen))
	    != INDEX_OK)
		return s;
	if (fp != ih->fingerprint)
		return index_fail(INDEX_ERR_STALE, err, errlen,
		    "%s: stale: text file content fingerprint changed", path);
	return INDEX_OK;
}

static enum index_status
open_checked(struct index *idx, int text_fd, unsigned want_m,
    int want_line_crc, char *err, size_t errlen)
{
	unsigned char h[HDR_USED];
	struct stat st;
	ssize_t r;
	enum index_status s;

	if (fstat(idx->fd, &st) < 0)
		return index_fail(INDEX_ERR_IO, err, errlen, "%s: %s",
		    idx->path, strerror(errno));
	r = io_pread_full(idx->fd, h, sizeof(h), 0);
	if (r < 0)
		return index_fail(INDEX_ERR_IO, err, errlen, "%s: %s",
		    idx->path, strerror(errno));
	if (r < 8 || memcmp(h, INDEX_MAGIC, 8) != 0)
		return index_fail(INDEX_ERR_MAGIC, err, errlen,
		    "%s: not a linesvr index (bad magic)", idx->path);
	if (r < (ssize_t)sizeof(h))
		return index_fail(INDEX_ERR_TRUNCATED, err, errlen,
		    "%s: truncated: %lld bytes, shorter than a header",
		    idx->path, (long long)st.st_size);
	if ((s = index_decode_header(h, &idx->h, idx->path, err, errlen)) !=
	    INDEX_OK ||
	    (s = check_header(&idx->h, h, idx->path, err, errlen)) != INDEX_OK)
		return s;
	if ((uint64_t)st.st_size != idx->h.index_size)
		return index_fail(INDEX_ERR_TRUNCATED, err, errlen,
		    "%s: truncated or extended: %lld bytes, header says %llu",
		    idx->path, (long long)st.st_size,
		    (unsigned long long)idx->h.index_size);
	if (want_m != 0 && idx->h.lines_per_page != want_m)
		return index_fail(INDEX_ERR_PARAM, err, errlen,
		    "%s: stale: built with lines_per_page %u, configured %u",
		    idx->path, idx->h.lines_per_page, want_m);
	if (want_line_crc >= 0 &&
	    index_has_line_crc(&idx->h) != (want_line_crc != 0))
		return index_fail(INDEX_ERR_PARAM, err, errlen,
		    "%s: stale: built %s line checksums, configured %s",
		    idx->path, index_has_line_crc(&idx->h) ? "with" : "without",
		    want_line_crc ? "with" : "without");
	return check_source(&idx->h, text_fd, idx->path, err, errlen);
}

enum index_status
index_open(struct index *idx, const char *index_path, int text_fd,
    unsigned want_m, int want_line_crc, char *err, size_t errlen)
{
	enum index_status s;

	memset(idx, 0, sizeof(*idx));
	if (snprintf(idx->path, sizeof(idx->path), "%s", index_path) >=
	    (int)sizeof(idx->path))
		return index_fail(INDEX_ERR_ARG, err, errlen,
		    "index path too long");
	idx->fd = open(index_path, O_RDONLY | O_CLOEXEC);
	if (idx->fd < 0)
		return index_fail(errno == ENOENT ? INDEX_ERR_MISSING :
		    INDEX_ERR_IO, err, errlen, "%s: %s", index_path,
		    strerror(errno));
	s = open_checked(idx, text_fd, want_m, want_line_crc, err, errlen);
	if (s != INDEX_OK)
		index_close(idx);
	return s;
}

void
index_close(struct index *idx)
{
	if (idx->fd >= 0)
		close(idx->fd);
	idx->fd = -1;
}

/* ---- pages ---- */

size_t
index_body_bytes(const struct index *idx)
{
	return (size_t)idx->h.page_bytes - 8;
}

uint64_t
index_page_offset(const struct index *idx, uint64_t page)
{
	return INDEX_HEADER_SIZE + page * idx->h.page_bytes;
}

enum index_status
index_check_body(const struct index *idx, uint64_t page, void *body,
    const unsigned char trailer[8], char *err, size_t errlen)
{
	if (get_le32(trailer) != index_page_crc(idx->h.page_seed, page, body,
	    index_body_bytes(idx)) || get_le32(trailer + 4) != 0)
		return index_fail(INDEX_ERR_PAGE, err, errlen,
		    "%s: page %llu failed its checksum", idx->path,
		    (unsigned long long)page);
	index_body_to_host(&idx->h, body);
	/* A page that passes its checksum but points outside the text file
	 * was written by something other than index_build: refuse it too. */
	if (!index_body_in_order(&idx->h, body))
		return index_fail(INDEX_ERR_PAGE, err, errlen,
		    "%s: page %llu has offsets out of order", idx->path,
		    (unsigned long long)page);
	return INDEX_OK;
}

enum index_status
index_read_body(const struct index *idx, uint64_t page, void *body,
    char *err, size_t errlen)
{
	size_t nbytes = index_body_bytes(idx);
	unsigned char trailer[8];
	struct iovec iov[2] = {
		{ .iov_base = body, .iov_len = nbytes },
		{ .iov_base = trailer, .iov_len = sizeof(trailer) },
	};
	ssize_t r;

	if (page >= idx->h.pages)
		return index_fail(INDEX_ERR_ARG, err, errlen,
		    "page %llu out of range", (unsigned long long)page);
	/* One system call reads the body and the trailer aside. */
	do {
		r = preadv(idx->fd, iov, 2, (off_t)index_page_offset(idx, page));
	} while (r < 0 && errno == EINTR);
	if (r != (ssize_t)(nbytes + sizeof(trailer)))
		return index_fail(INDEX_ERR_IO, err, errlen,
		    "%s: reading page %llu: %s", idx->path,
		    (unsigned long long)page, r < 0 ? strerror(errno) :
		    "short read");
	return index_check_body(idx, page, body, trailer, err, errlen);
}

enum index_status
index_read_page(const struct index *idx, uint64_t page, uint64_t *offs,
    char *err, size_t errlen)
{
	unsigned m = idx->h.lines_per_page;
	unsigned char *body = malloc(index_body_bytes(idx));
	struct index_line l;
	enum index_status st;

	if (body == NULL)
		return index_fail(INDEX_ERR_IO, err, errlen, "out of memory");
	st = index_read_body(idx, page, body, err, errlen);
	for (unsigned k = 0; st == INDEX_OK && k < m; k++) {
		index_body_line(&idx->h, body, k, &l);
		offs[k] = l.off;
		offs[k + 1] = l.end;
	}
	free(body);
	return st;
}

/* ---- a line for the tests; names ---- */

enum index_status
index_lookup(const struct index *idx, uint64_t n, uint64_t *off,
    uint64_t *len, char *err, size_t errlen)
{
	unsigned m = idx->h.lines_per_page;
	uint64_t *offs;
	enum index_status s;

	if (n == 0 || n > idx->h.lines)
		return index_fail(INDEX_ERR_ARG, err, errlen,
		    "line %llu out of range 1-%llu", (unsigned long long)n,
		    (unsigned long long)idx->h.lines);
	if ((offs = malloc(((size_t)m + 1) * sizeof(*offs))) == NULL)
		return index_fail(INDEX_ERR_IO, err, errlen, "out of memory");
	s = index_read_page(idx, (n - 1) / m, offs, err, errlen);
	if (s == INDEX_OK) {
		*off = offs[(n - 1) % m];
		*len = offs[(n - 1) % m + 1] - *off;
	}
	free(offs);
	return s;
}

int
index_default_path(const char *text_path, char *out, size_t outlen)
{
	int n = snprintf(out, outlen, "%s.lidx", text_path);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

const char *
index_status_name(enum index_status s)
{
	switch (s) {
	case INDEX_OK:            return "ok";
	case INDEX_ERR_IO:        return "I/O error";
	case INDEX_ERR_MISSING:   return "missing";
	case INDEX_ERR_MAGIC:     return "bad magic";
	case INDEX_ERR_VERSION:   return "wrong version";
	case INDEX_ERR_HEADER:    return "corrupt header";
	case INDEX_ERR_TRUNCATED: return "truncated";
	case INDEX_ERR_PARAM:     return "stale (index settings)";
	case INDEX_ERR_STALE:     return "stale";
	case INDEX_ERR_PAGE:      return "corrupt page";
	case INDEX_ERR_SOURCE:    return "text file mismatch";
	case INDEX_ERR_ARG:       return "bad argument";
	case INDEX_ERR_FAR:       return "repair too far";
	}
	return "unknown";
}
