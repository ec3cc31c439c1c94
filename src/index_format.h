/*
 * index_format.h: private to the index's source files and its tests; the
 * public contract is include/index.h. The byte layout it encodes is
 * described at the top of index.c.
 *
 * It holds what more than one of them needs: the numbers of the format
 * (header field offsets, page sizes), byte order, the page checksum and
 * its seed, the one page-body encoder and its decoder (index_format.c),
 * and the filling of pages from a scan of the text (index_scan.c), which
 * the build and the repair share.
 */
#ifndef LINESVR_INDEX_FORMAT_H
#define LINESVR_INDEX_FORMAT_H

#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "index.h"

/* Header field offsets. */
#define HDR_MAGIC       0
#define HDR_VERSION     8
#define HDR_HSIZE       12
#define HDR_M           16
#define HDR_FLAGS       20
#define HDR_LINES       24
#define HDR_PAGES       32
#define HDR_PAGE_BYTES  40
#define HDR_SRC_SIZE    48
#define HDR_SRC_MTIME_S 56
#define HDR_SRC_MTIME_NS 64
#define HDR_FP          68
#define HDR_INDEX_SIZE  72
#define HDR_BUILD_ID    80
#define HDR_CRC_OFF     124
#define HDR_USED        128

#define INDEX_PROGRESS_NS 250000000 /* progress callback period */

/* ---- byte order: the file is little-endian ---- */

/*
 * Spelled out byte by byte, not as loops: GCC and Clang merge such
 * statements into one load or store (the build encodes two values a line
 * with these; as loops they were a tenth of its time).
 */
static inline void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

static inline void
put_le64(unsigned char *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static inline uint32_t
get_le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline uint64_t
get_le64(const unsigned char *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

/* ---- sizes ---- */

static inline int
power_of_two(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/*
 * A compact page is a uint64 base (the start of its first line) and m
 * uint32 line ends relative to it: 4 bytes a line. A wide page, used by
 * the whole index when some page's lines span 4 GiB or more, stores m + 1
 * uint64 offsets. Line checksums add m uint32, padded with zeros to a
 * multiple of 8 bytes (which only a wide page with m = 1 needs): bodies
 * with line checksums can then be kept in uint64 arrays, entry for entry.
 * Every page ends in an 8-byte trailer.
 */
static inline uint64_t
page_body_bytes(unsigned m, int wide, int line_crc)
{
	uint64_t n = wide ? ((uint64_t)m + 1) * 8 : 8 + (uint64_t)m * 4;

	return line_crc ? (n + (uint64_t)m * 4 + 7) / 8 * 8 : n;
}

static inline uint64_t
page_bytes_for(unsigned m, int wide, int line_crc)
{
	return page_body_bytes(m, wide, line_crc) + 8;
}

/* ---- index_format.c: checksums, header and page bodies ---- */

/* The CRC of the index's identity: every page's CRC continues from it. */
uint32_t index_identity_seed(const struct index_header *h);

/* CRC of a page: the seed, its number, then its body as stored. */
uint32_t index_page_crc(uint32_t seed, uint64_t page,
    const unsigned char *body, size_t nbytes);

/* The header as stored: INDEX_HEADER_SIZE bytes, its checksum included. */
void index_encode_header(unsigned char *h, const struct index_header *ih);

/*
 * The fields of a stored header (HDR_USED bytes), after its magic, version
 * and checksum are checked; page_seed is derived. path is for messages.
 */
enum index_status index_decode_header(const unsigned char *h,
    struct index_header *ih, const char *path, char *err, size_t errlen);

/*
 * The one page encoder, used by the build and by the repair: a body as
 * stored (little-endian) for the layout in h (m, flags) from offs[0..m]
 * and, with line checksums, crcs[0..m). -1 when a compact page cannot hold
 * a span of 4 GiB or more.
 */
int index_encode_body(const struct index_header *h, const uint64_t *offs,
    const uint32_t *crcs, unsigned char *dst);

/* Its decoder: a stored body to host order, in place (see index_body_line). */
void index_body_to_host(const struct index_header *h, unsigned char *p);

/* Whether a body in host order has its offsets in order and in the text. */
int index_body_in_order(const struct index_header *h, const unsigned char *p);

/* ---- index_scan.c: pages from a scan of the text ---- */

/*
 * Line checksums over a stream of chunks. Each line's CRC is folded into
 * the newline scan: when an LF is found, the bytes since the previous
 * line's end are hashed while they are still in the cache from the scan.
 * A line that crosses a chunk boundary carries the CRC of its first part
 * into the next chunk.
 */
struct linecrc {
	const char *chunk;        /* the chunk being scanned */
	uint64_t base;            /* its offset in the text */
	uint64_t from;            /* first byte not hashed yet (>= base) */
	uint32_t carry;           /* CRC of the current line before from */
};

/*
 * A page being filled: offs[0] is the start of its first line, offs[k] the
 * end of its k-th line, crcs[k - 1] that line's CRC (when crcs is not
 * NULL). When k reaches m the page is complete.
 */
struct pagefill {
	uint64_t *offs;
	uint32_t *crcs;
	struct linecrc lc;
	unsigned m;
	unsigned k;
	uint64_t page;
	uint64_t lines;          /* line ends seen so far, over all pages */
	int (*emit)(struct pagefill *pf); /* called with a complete page */
	void *ctx;
};

/* Start filling page at text offset at (the end of the page before it). */
void pagefill_reset(struct pagefill *pf, uint64_t page, uint64_t at);

/*
 * Scan len bytes of text at pos into pages, calling emit for each one
 * completed; non-zero when emit stopped the scan (by returning non-zero).
 */
int pagefill_chunk(struct pagefill *pf, const char *p, size_t len,
    uint64_t pos);

/*
 * The ends (one past each LF, as offsets from p) of the lines whose LF is
 * in p[0..len), in order, into ends (room for len + 2); returns how many.
 */
size_t index_lf_ends(const char *p, size_t len, uint32_t *ends);

/*
 * The build's scan of a text mapped at map (size bytes): the lines whose
 * LF is in [lo, hi), and when hi is size and the text does not end in LF,
 * its last line too. Their ends, as offsets from lo, go to ends and, when
 * crcs is not NULL, their checksums to crcs (the first line's hashed from
 * the end of the last LF before lo, however far back); returns how many.
 * ends and crcs have room for hi - lo + 3 entries; hi - lo < 4 GiB. *from
 * is where the bytes read begin (lo, or the first line's start). Reads
 * the mapping anywhere before hi: a text cut short raises SIGBUS.
 */
size_t index_scan_window(const char *map, uint64_t size, uint64_t lo,
    uint64_t hi, uint32_t *ends, uint32_t *crcs, uint64_t *from);

/*
 * Add n lines to the page being filled: the i-th ends at lo + ends[i],
 * with checksum crcs[i] (crcs NULL when the index has none). Non-zero
 * when emit stopped it.
 */
int pagefill_lines(struct pagefill *pf, uint64_t lo, const uint32_t *ends,
    const uint32_t *crcs, size_t n);

/* The text ends at size after bytes that have no LF: its last line. */
int pagefill_last_line(struct pagefill *pf, uint64_t size);

/* Pad a partial last page as the format requires: slots past the last
 * line repeat its end and have CRC 0. */
void pagefill_pad(struct pagefill *pf);

/*
 * The build's scan (index_scan.c). The text is mapped, not read: read() would copy every byte once more
 * (the kernel's copy is most of what `wc -l` costs). Where the page cache
 * holds the file in large folios (ext4 and xfs on Linux 6.x) a mapping of
 * a hot file costs a few faults per GiB. It is cut into windows of WINDOW
 * bytes, and SCANNERS threads take them in turn (scanner t: windows t,
 * t + SCANNERS, ...), each finding its lines and hashing them (both cores
 * scan and hash); each window goes into slot w % SLOTS, the scanner's own
 * two in turn, and the build takes the slots in window order, which gives
 * every line its number. A slot holds a window's lines, 8 bytes each:
 * its arrays are mapped (region.c) and cost only what the window used,
 * 80 KB for 100-byte lines, at most 8 MiB for a window of empty lines.
 */
#define WINDOW   (1u << 20) /* text bytes a scanner takes at a time */
#define SCANNERS 2
#define SLOTS    (2 * SCANNERS)
#define SLOT_CAP ((size_t)WINDOW + 3) /* lines a window can hold */
#define READ_AHEAD (32ull * WINDOW) /* of a cold text, ahead of the scan */

enum { SCAN_OK, SCAN_SHRANK, SCAN_CANCELLED };

struct slot {
	uint32_t *ends, *crcs;   /* a window's lines (index_scan_window) */
	size_t n;
	int ready;               /* filled; the build empties it */
};

struct scan {
	const char *map;
	uint64_t size, windows;
	uint64_t page;           /* the memory page size */
	int line_crc;
	struct slot slot[SLOTS];
	int no_final_lf;         /* set with the last window */
	int failed;              /* SCAN_*: the first reason to stop */
	int stop;                /* the build is over: scanners quit */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct scanner {
		struct scan *s;
		uint64_t w;          /* the window being scanned */
		pthread_t thread;
	} scanner[SCANNERS];
	int threads;             /* scanners started */
};


/* Map the text and start the scanners; -1 with errno (scan_stop still). */
int scan_start(struct scan *s, int fd, uint64_t size, int line_crc);

/* Wait for window w: SCAN_OK when its slot is filled, else why not. */
int scan_wait(struct scan *s, uint64_t w);

/* Give window w's slot back to its scanner. */
void scan_release(struct scan *s, uint64_t w);

/* Stop the scanners, and unmap and free what they used. */
void scan_stop(struct scan *s);

/* ---- shared by the build, the reader and the checks ---- */

/* Set by index_build_cancel (index_build.c): stop the build or check. */
extern volatile sig_atomic_t index_cancelled;

/* Fill err (when not NULL) from fmt and return st (index_format.c). */
enum index_status index_fail(enum index_status st, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static inline double
index_now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- for tests only ---- */

/*
 * Read page p and decode it into offs[0..m] (host byte order), verified
 * as by index_read_body. Entries past the last line of the last page
 * repeat its end offset.
 */
enum index_status index_read_page(const struct index *idx, uint64_t page,
    uint64_t *offs, char *err, size_t errlen);

/*
 * Where line n (1-based) is: *off and *len (len includes the LF; for a last
 * line without one it is the bytes that are there). Reads one page, no
 * cache. INDEX_ERR_ARG if n is 0 or past the last line.
 */
enum index_status index_lookup(const struct index *idx, uint64_t n,
    uint64_t *off, uint64_t *len, char *err, size_t errlen);

/* Number of lines separated by LF in buf[0..len): the scan the build uses. */
size_t index_count_lf(const char *buf, size_t len);

#endif
