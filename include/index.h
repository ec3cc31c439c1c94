/*
 * index: the paged line-offset index of a text file (format in README.md
 * and at the top of src/index.c, which maps the module's files).
 *
 * Line n (1-based) lives in page (n-1)/m, slot (n-1)%m. A page holds the
 * start of its first line and the end (one past the LF) of each of its m
 * lines — compact: a uint64 base and m uint32 ends relative to it; wide,
 * in an index built so because some page spans 4 GiB or more: m + 1
 * uint64 offsets — then, when the index has per-line checksums, m uint32
 * CRC-32C values, one per line (a compact page with them is 8 + 8m
 * bytes), and last an 8-byte trailer holding the page's CRC-32C, so one
 * GET reads one page. The page checksum is seeded with something that
 * identifies this index and its source, so a page of any other index
 * fails it. The header records what the index was built from, and is
 * checked on open without reading the pages or scanning the text.
 *
 * This module knows nothing of sockets or caches. Functions that can fail
 * return an enum index_status and, when err is not NULL, one line saying
 * what is wrong (which file, which field, which page).
 */
#ifndef LINESVR_INDEX_H
#define LINESVR_INDEX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

#define INDEX_MAGIC        "LSVRIDX\0"      /* 8 bytes at offset 0 */
#define INDEX_VERSION      2
#define INDEX_HEADER_SIZE  4096             /* pages start here */
#define INDEX_FP_BLOCK     4096             /* bytes per fingerprint sample */
#define INDEX_FP_SAMPLES   16               /* evenly spaced samples */
#define INDEX_M_DEFAULT    4096
#define INDEX_M_MAX        (1u << 20)
#define INDEX_REPAIR_PAGES 8                /* pages a rebuild looks back */
#define INDEX_FLAG_NO_FINAL_LF 1u           /* last line lacks its LF */
#define INDEX_FLAG_WIDE    2u               /* pages hold uint64 offsets */
#define INDEX_FLAG_LINE_CRC 4u              /* pages hold line checksums */

enum index_status {
	INDEX_OK = 0,
	INDEX_ERR_IO,          /* a system call failed (errno in the message) */
	INDEX_ERR_MISSING,     /* the index file does not exist */
	INDEX_ERR_MAGIC,       /* not an index file */
	INDEX_ERR_VERSION,     /* an index of another format version */
	INDEX_ERR_HEADER,      /* header checksum or field values wrong */
	INDEX_ERR_TRUNCATED,   /* file size differs from what the header says */
	INDEX_ERR_PARAM,       /* built with another lines_per_page or
	                          line checksum setting */
	INDEX_ERR_STALE,       /* source size, mtime or fingerprint changed */
	INDEX_ERR_PAGE,        /* a page failed its checksum */
	INDEX_ERR_SOURCE,      /* the text file does not match the index */
	INDEX_ERR_ARG,         /* bad argument (e.g. m not a power of two) */
	INDEX_ERR_FAR          /* a page repair would scan more than allowed */
};

struct index_header {
	uint32_t version;
	uint32_t lines_per_page;  /* m */
	uint32_t flags;           /* INDEX_FLAG_* */
	uint64_t lines;
	uint64_t pages;
	uint64_t page_bytes;      /* body + 8-byte trailer, see README */
	uint64_t source_size;
	int64_t  source_mtime_s;
	uint32_t source_mtime_ns;
	uint32_t fingerprint;     /* see index_fingerprint() */
	uint64_t index_size;      /* header + pages * page_bytes */
	uint64_t build_id;        /* random, chosen when the build started */
	uint32_t page_seed;       /* derived, not stored: seeds page CRCs */
};

struct index {
	int fd;                   /* the open index file */
	struct index_header h;
	char path[4096];
};

/* Build progress: called a few times a second at most. */
typedef void (*index_progress_fn)(void *arg, uint64_t done, uint64_t total);

struct index_summary {
	uint64_t lines, pages, index_bytes, source_bytes;
	double seconds;
};

struct index_build_opts {
	unsigned m;                 /* lines per page, power of two 1..INDEX_M_MAX */
	int line_crc;               /* store per-line checksums */
	index_progress_fn progress; /* may be NULL */
	void *progress_arg;
};

/*
 * Stream text_path once and write its index to index_path atomically: a
 * temporary file INDEX.tmp.PID beside it, fsync, rename, fsync of the
 * directory. Temporary files of builds whose process is gone are removed
 * first (never one whose PID is alive). Memory stays bounded (a few MB)
 * whatever the file size. o NULL means m = INDEX_M_DEFAULT with line
 * checksums and no progress; summary may be NULL. A write that fails
 * (disk full, EFBIG under RLIMIT_FSIZE when SIGXFSZ is ignored) is
 * INDEX_ERR_IO, and the temporary file is removed.
 */
enum index_status index_build(const char *text_path, const char *index_path,
    const struct index_build_opts *o, struct index_summary *summary,
    char *err, size_t errlen);

/*
 * Make a running index_build stop at its next chunk, remove its temporary
 * file and return INDEX_ERR_IO (index_check_deep too, at its next page).
 * Async-signal-safe: for SIGINT handlers.
 */
void index_build_cancel(void);

/*
 * Open index_path and check it against the open text file text_fd: magic,
 * version, header checksum, the index's size, m (when want_m is not 0), the
 * line checksum setting (want_line_crc -1 = any, 0 or 1 = must match, else
 * INDEX_ERR_PARAM), the source's size and mtime, and the fingerprint (a
 * few sampled blocks, never the whole file). On success idx owns an open
 * descriptor.
 */
enum index_status index_open(struct index *idx, const char *index_path,
    int text_fd, unsigned want_m, int want_line_crc, char *err,
    size_t errlen);
void index_close(struct index *idx);

/* Whether pages of the index with header h carry per-line checksums. */
static inline int
index_has_line_crc(const struct index_header *h)
{
	return (h->flags & INDEX_FLAG_LINE_CRC) != 0;
}

/* Whether its pages hold uint64 offsets (see index_format.h). */
static inline int
index_is_wide(const struct index_header *h)
{
	return (h->flags & INDEX_FLAG_WIDE) != 0;
}

/*
 * Pages are handed out as their bodies, in the layout stored (compact or
 * wide, line checksums or not) but in host byte order: what the store's
 * cache keeps. A body is index_body_bytes() bytes (a multiple of 4; of 8
 * with line checksums); index_body_line() reads one line out of it.
 *
 * index_read_body: read page's body with one preadv and verify it: its
 * checksum, and offsets in order and inside the text (INDEX_ERR_PAGE).
 */
size_t index_body_bytes(const struct index *idx);
enum index_status index_read_body(const struct index *idx, uint64_t page,
    void *body, char *err, size_t errlen);

/*
 * The same in two steps, for a reader that fetches pages itself (the
 * store, from its mapping of the index): where page's body starts in the
 * file (its 8-byte trailer follows it), and the checks index_read_body
 * applies to what was fetched; the body is converted to host byte order
 * in place.
 */
uint64_t index_page_offset(const struct index *idx, uint64_t page);
enum index_status index_check_body(const struct index *idx, uint64_t page,
    void *body, const unsigned char trailer[8], char *err, size_t errlen);

/* One line as a page body says. crc is 0 when the index has no line checksums. */
struct index_line {
	uint64_t off, end;        /* [off, end): the line, its LF included */
	uint32_t crc;             /* CRC-32C (initial 0) of those bytes */
};

/* Where the line CRCs start in a body of m lines. */
static inline size_t
index_crcs_at(unsigned m, int wide)
{
	return wide ? ((size_t)m + 1) * 8 : 8 + (size_t)m * 4;
}

/* Compact field k (the end of slot k relative to the base), host order. */
static inline uint64_t
index_compact_end(const unsigned char *body, size_t k)
{
	uint32_t e;

	memcpy(&e, body + 8 + 4 * k, 4);
	return e;
}

/*
 * Slot's line from a body in host order (slot < m). Inline: the store
 * decodes straight out of its page table on every GET.
 */
static inline void
index_body_line(const struct index_header *h, const void *body, size_t slot,
    struct index_line *out)
{
	const unsigned char *p = body;
	uint64_t base;

	if (index_is_wide(h)) {
		memcpy(&out->off, p + 8 * slot, 8);
		memcpy(&out->end, p + 8 * (slot + 1), 8);
	} else {
		memcpy(&base, p, 8);
		out->off = base + (slot > 0 ? index_compact_end(p, slot - 1) : 0);
		out->end = base + index_compact_end(p, slot);
	}
	out->crc = 0;
	if (index_has_line_crc(h))
		memcpy(&out->crc, p + index_crcs_at(h->lines_per_page,
		    index_is_wide(h)) + 4 * slot, 4);
}

/* Start fetching what index_body_line(h, body, slot) will read. */
static inline __attribute__((always_inline)) void
index_body_prefetch(const struct index_header *h, const void *body,
    size_t slot)
{
#if defined(__GNUC__)
	const unsigned char *p = body;
	int wide = index_is_wide(h);

	/*
	 * GCC and Clang: a hint that never faults. The slot's end (the
	 * start before it is nearly always in the same cache line; a compact
	 * page's base is one line a page, kept cached by every lookup of
	 * the page) and its CRC — prefetched even when the index has none:
	 * a branch would cost more than a useless hint.
	 */
	__builtin_prefetch(p + (wide ? 8 * slot + 8 : 8 + 4 * slot));
	__builtin_prefetch(p + index_crcs_at(h->lines_per_page, wide) +
	    4 * slot);
#else
	(void)h;
	(void)body;
	(void)slot;
#endif
}

/*
 * Rebuild page's body (encoded as stored, host order, line CRCs included
 * when the index has them) from the text, starting at the end of the
 * nearest page before it that passes its checksum (or at offset 0),
 * looking back at most INDEX_REPAIR_PAGES pages and scanning at most
 * max_scan bytes of text in all (UINT64_MAX: no limit). INDEX_ERR_FAR when
 * the repair would need more, INDEX_ERR_SOURCE when the text does not
 * agree with the index. body holds index_body_bytes() bytes.
 */
enum index_status index_rebuild_body(const struct index *idx, int text_fd,
    uint64_t page, void *body, uint64_t max_scan, char *err, size_t errlen);

/*
 * --check --deep: every line of the text against its checksum (and every
 * page against its own). *bad_lines counts lines that fail; when there are
 * any the result is INDEX_ERR_SOURCE and err names the first few line
 * numbers. A page that fails its checksum stops the check with
 * INDEX_ERR_PAGE. progress as for the build (may be NULL). INDEX_ERR_ARG
 * if the index has no line checksums.
 */
enum index_status index_check_deep(const struct index *idx, int text_fd,
    index_progress_fn progress, void *arg, uint64_t *bad_lines, char *err,
    size_t errlen);

/*
 * The content fingerprint: CRC-32C over INDEX_FP_SAMPLES blocks of
 * INDEX_FP_BLOCK bytes at evenly spaced offsets (the first at 0, the last
 * ending at the end of the file), or the whole file when it is smaller.
 */
enum index_status index_fingerprint(int text_fd, uint64_t size,
    uint32_t *fp, char *err, size_t errlen);

/* "FILE.lidx" for FILE, into out; -1 if it does not fit. */
int index_default_path(const char *text_path, char *out, size_t outlen);

/* Short name of a status, e.g. "stale", "corrupt page". */
const char *index_status_name(enum index_status s);

#endif
