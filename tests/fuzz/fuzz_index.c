/*
 * fuzz_index: the index reader (src/index.c) on damaged index files.
 *
 * LLVMFuzzerInitialize builds small, valid indexes of small texts with
 * index_build (into a temporary directory, removed at exit) and keeps
 * their bytes. Each input damages a copy of one of them, which is then
 * opened and read page by page from an in-memory file: the reader must
 * never crash, a page it accepts must have its offsets in order and inside
 * the text, and what it says about undamaged parts must be the truth:
 * their offsets, their line checksums, and the pages rebuilt from them.
 *
 * Input:
 *   byte 0  bits 0-1: which index (0: 37 lines, m 4, no final LF, line
 *                     checksums; 1: 6 lines, m 1, line checksums; 2: an
 *                     empty text, m 4, line checksums; 3: the 37 lines,
 *                     m 4, without line checksums)
 *           bit 2:    then fix the header's checksum
 *           bit 3:    then fix every page's checksum (by the damaged
 *                     header's geometry and identity), so that damage to
 *                     the fields themselves gets past the checksums
 *           bit 4:    resize the file to bytes 1-2 (little-endian) mod
 *                     MAX_INDEX + 1, zero-filled when grown
 *           bit 5:    open with want_m set to the built lines_per_page
 *           bits 6-7: open with want_line_crc -1 (any), 0, 1 or 2
 *   then    (offset le16, byte) triples: file[offset mod size] = byte.
 *
 * The calls of the index API are all in exercise() and its helpers. The
 * format's numbers (field offsets, page sizes, byte order, the page
 * checksum) come from the index's private header, src/index_format.h;
 * reseal() knows what seeds the checksums: the place to adapt when the
 * format changes.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crc32c.h"
#include "fuzz.h"
#include "index.h"
#include "index_format.h"  /* private: the functions for tests */

#define MAX_INDEX     16384	/* bytes: room for a grown file */
#define MAX_PAGES     256	/* pages read per input */
#define MAX_REBUILDS  12	/* rebuilds per input: each scans back */
#define MAX_LOOKUPS   64
#define NVARIANTS     4

struct variant {
	const char *name;
	unsigned m;
	int line_crc;
	unsigned char *text;
	size_t text_len;
	uint64_t *start;	/* line i (0-based) is [start[i], end[i]) */
	uint64_t *end;
	uint64_t lines;
	int text_fd;
	unsigned char *index;	/* the index as built */
	size_t index_len;
	uint64_t page_bytes;	/* body + trailer, as built */
};

static struct variant variants[NVARIANTS];
static char dir[] = "/tmp/linesvr-fuzz-index.XXXXXX";
static int memfd = -1;
static char mempath[64];
static unsigned char work[MAX_INDEX];

/* What one input did to each page, for the rebuild checks. */
struct page_state {
	unsigned char read;	/* index_read_body said INDEX_OK */
	unsigned char genuine;	/* byte for byte as built */
};
static struct page_state pages[MAX_PAGES];

/* ---- format ---- */

/*
 * Recompute checksums after the damage, as a writer that knows the format
 * would: the header's CRC-32C of bytes [0, 124) at 124; each page's CRC-32C
 * of (identity, uint64 page number, body) in the first four bytes of its
 * 8-byte trailer, zero in the other four. The identity is (u64 build_id at
 * 80, u64 source_size at 48, i64 source_mtime_s at 56, u32 source_mtime_ns
 * at 64), the pages are found by page_bytes (at 40): all as the damaged
 * header says.
 */
static void
reseal(unsigned char *b, size_t len, int header, int pages_too)
{
	uint64_t pb, p, off;
	uint32_t seed;

	if (pages_too && len >= INDEX_HEADER_SIZE) {
		/* source size, mtime s and mtime ns: 20 bytes from 48 */
		seed = crc32c(crc32c(0, b + HDR_BUILD_ID, 8), b + HDR_SRC_SIZE,
		    20);
		pb = get_le64(b + HDR_PAGE_BYTES);
		for (p = 0; pb >= 16 && pb <= len - INDEX_HEADER_SIZE &&
		    INDEX_HEADER_SIZE + (p + 1) * pb <= len; p++) {
			off = INDEX_HEADER_SIZE + p * pb;
			put_le32(b + off + pb - 8, index_page_crc(seed, p,
			    b + off, (size_t)pb - 8));
			put_le32(b + off + pb - 4, 0);
		}
	}
	if (header && len >= HDR_CRC_OFF + 4)
		put_le32(b + HDR_CRC_OFF, crc32c(0, b, HDR_CRC_OFF));
}

/* ---- setup ---- */

static void
cleanup(void)
{
	char path[128];
	size_t i;

	for (i = 0; i < NVARIANTS; i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, variants[i].name);
		unlink(path);
		snprintf(path, sizeof(path), "%s/%s.lidx", dir, variants[i].name);
		unlink(path);
	}
	rmdir(dir);
}

/* 37 lines of assorted lengths: empty ones, a CR, a NUL; no final LF. */
static size_t
text_assorted(unsigned char *buf, size_t room)
{
	size_t len = 0, i, j, n;

	for (i = 0; i < 37; i++) {
		n = i % 5 == 0 ? 0 : (i * 7) % 23;
		for (j = 0; j < n && len < room; j++)
			buf[len++] = (unsigned char)('a' + (i + j) % 26);
		if (i == 3 && len < room)
			buf[len++] = '\r';
		if (i == 8 && len < room)
			buf[len++] = '\0';
		if (i < 36 && len < room)
			buf[len++] = '\n';
	}
	return len;
}

static void
variant_setup(struct variant *v, const char *name, unsigned m, int line_crc,
    const void *text, size_t len)
{
	char tpath[128], ipath[128], err[512];
	struct stat st;
	uint64_t i, s;
	int fd;

	v->name = name;
	v->m = m;
	v->line_crc = line_crc;
	v->text_len = len;
	v->text = malloc(len + 1);
	FUZZ_CHECK(v->text != NULL);
	memcpy(v->text, text, len);
	snprintf(tpath, sizeof(tpath), "%s/%s", dir, name);
	snprintf(ipath, sizeof(ipath), "%s/%s.lidx", dir, name);
	fd = open(tpath, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	FUZZ_CHECK(fd >= 0);
	FUZZ_CHECK(len == 0 || write(fd, text, len) == (ssize_t)len);
	FUZZ_CHECK(close(fd) == 0);

	/* The truth, by a naive scan: where every line starts and ends. */
	v->start = calloc(len + 1, sizeof(uint64_t));
	v->end = calloc(len + 1, sizeof(uint64_t));
	FUZZ_CHECK(v->start != NULL && v->end != NULL);
	for (i = 0, s = 0; i < len; i++) {
		if (v->text[i] == '\n') {
			v->start[v->lines] = s;
			v->end[v->lines++] = i + 1;
			s = i + 1;
		}
	}
	if (s < len) {
		v->start[v->lines] = s;
		v->end[v->lines++] = len;
	}

	FUZZ_CHECK(index_build(tpath, ipath, &(struct index_build_opts){
	    .m = m, .line_crc = line_crc }, NULL, err, sizeof(err)) ==
	    INDEX_OK);
	v->text_fd = open(tpath, O_RDONLY | O_CLOEXEC);
	fd = open(ipath, O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(v->text_fd >= 0 && fd >= 0 && fstat(fd, &st) == 0);
	FUZZ_CHECK(st.st_size > 0 && st.st_size <= MAX_INDEX);
	v->index_len = (size_t)st.st_size;
	v->index = malloc(v->index_len);
	FUZZ_CHECK(v->index != NULL);
	FUZZ_CHECK(pread(fd, v->index, v->index_len, 0) ==
	    (ssize_t)v->index_len);
	close(fd);
	/* What reseal() and page_genuine() assume of the format holds. */
	v->page_bytes = page_bytes_for(m, 0, line_crc);
	FUZZ_CHECK(get_le64(v->index + HDR_PAGE_BYTES) == v->page_bytes);
	FUZZ_CHECK(v->index_len == INDEX_HEADER_SIZE + v->page_bytes *
	    ((v->lines + m - 1) / m));
	FUZZ_CHECK(get_le32(v->index + HDR_CRC_OFF) ==
	    crc32c(0, v->index, HDR_CRC_OFF));
	memcpy(work, v->index, v->index_len);
	reseal(work, v->index_len, 1, 1);
	FUZZ_CHECK(memcmp(work, v->index, v->index_len) == 0);
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static unsigned char text[2048];
	static const char six[] = "one\n\ntwo\r\nthree\n\0four\n\n";
	size_t len;

	(void)argc;
	(void)argv;
	FUZZ_CHECK(mkdtemp(dir) != NULL);
	atexit(cleanup);
	len = text_assorted(text, sizeof(text));
	variant_setup(&variants[0], "assorted", 4, 1, text, len);
	variant_setup(&variants[1], "six", 1, 1, six, sizeof(six) - 1);
	variant_setup(&variants[2], "empty", 4, 1, "", 0);
	variant_setup(&variants[3], "assorted-nocrc", 4, 0, text, len);
	memfd = fuzz_memfile("lidx", mempath, sizeof(mempath));
	FUZZ_CHECK(memfd >= 0);
	return 0;
}

/* ---- the check ---- */

static int
host_le(void)
{
	const uint16_t one = 1;
	unsigned char c;

	memcpy(&c, &one, 1);
	return c == 1;
}

/* offs[0..m] of page p by the naive scan: what an undamaged page holds. */
static uint64_t
truth(const struct variant *v, uint64_t p, unsigned k)
{
	uint64_t line = p * v->m + k;	/* k > 0: the end of line - 1 */

	if (k == 0)
		return v->start[line];
	return v->end[line - 1 < v->lines ? line - 1 : v->lines - 1];
}

/* Page p of the damaged file is byte for byte the page index_build wrote. */
static int
page_genuine(const struct variant *v, size_t len, int header_genuine,
    uint64_t p)
{
	uint64_t pb = v->page_bytes;
	uint64_t off = INDEX_HEADER_SIZE + p * pb;

	return header_genuine && off + pb <= len &&
	    memcmp(work + off, v->index + off, (size_t)pb) == 0;
}

/*
 * An accepted body: its lines in order, inside the text, agreeing with
 * index_read_page's offs (when not NULL); when genuine, the truth, line
 * checksums included. The header is the one index_open accepted.
 */
static void
check_body(const struct variant *v, const struct index *idx,
    const void *body, const uint64_t *offs, uint64_t p, int genuine)
{
	const struct index_header *h = &idx->h;
	unsigned m = h->lines_per_page, k;
	int crc = index_has_line_crc(h);
	struct index_line l;
	uint64_t prev = 0;

	for (k = 0; k < m; k++) {
		index_body_line(h, body, k, &l);
		FUZZ_CHECK(l.off <= l.end && l.end <= h->source_size);
		FUZZ_CHECK(k == 0 || l.off == prev);
		prev = l.end;
		if (offs != NULL)
			FUZZ_CHECK(l.off == offs[k] && l.end == offs[k + 1]);
		if (!crc)
			FUZZ_CHECK(l.crc == 0);
		if (!genuine)
			continue;
		FUZZ_CHECK(l.off == truth(v, p, k) &&
		    l.end == truth(v, p, k + 1));
		if (crc)
			FUZZ_CHECK(l.crc == crc32c(0, v->text + l.off,
			    (size_t)(l.end - l.off)));
	}
}

/*
 * Rebuild page p from the text. Where the repair starts is the end of the
 * nearest page before p that reads (pages[] says which), if it is at most
 * INDEX_REPAIR_PAGES back, or the start of the text when p is that close
 * to it; otherwise the repair is too far. From a genuine start under a
 * genuine header, the result must be the page as built, unless the page
 * after p reads but is not genuine (the rebuilt page must meet it). A
 * second rebuild within a small max_scan gives the same, or too far.
 */
static void
rebuild(const struct variant *v, const struct index *idx, uint64_t p,
    int header_genuine, void *body, void *body2)
{
	size_t nbytes = index_body_bytes(idx);
	uint64_t n, max_scan;
	enum index_status s, s2;
	int origin = -1;	/* -1 none in reach, 0 text start, 1 a page */
	int origin_genuine = 1;
	char err[512];

	for (n = 1; n <= INDEX_REPAIR_PAGES && n <= p; n++)
		if (pages[p - n].read) {
			origin = 1;
			origin_genuine = pages[p - n].genuine;
			break;
		}
	if (origin < 0 && p <= INDEX_REPAIR_PAGES)
		origin = 0;

	memset(err, 0x5a, sizeof(err));
	s = index_rebuild_body(idx, v->text_fd, p, body, UINT64_MAX, err,
	    sizeof(err));
	if (s != INDEX_OK)
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
	if (origin < 0) {
		FUZZ_CHECK(s == INDEX_ERR_FAR);
		return;
	}
	FUZZ_CHECK(s == INDEX_OK || s == INDEX_ERR_SOURCE);
	if (header_genuine && origin_genuine &&
	    !(p + 1 < idx->h.pages && p + 1 < MAX_PAGES && pages[p + 1].read &&
	    !pages[p + 1].genuine))
		FUZZ_CHECK(s == INDEX_OK);
	if (s == INDEX_OK) {
		int genuine = header_genuine && origin_genuine;

		check_body(v, idx, body, NULL, p, genuine);
		/* Stored little-endian, read in host order: the same here. */
		if (genuine && host_le())
			FUZZ_CHECK(memcmp(body, v->index + INDEX_HEADER_SIZE +
			    p * v->page_bytes, nbytes) == 0);
	}

	/* Smaller reads (chunks end elsewhere), possibly too few. */
	max_scan = (p * 37 + 11) % (idx->h.source_size + 2);
	s2 = index_rebuild_body(idx, v->text_fd, p, body2, max_scan, err,
	    sizeof(err));
	FUZZ_CHECK(s2 == s || s2 == INDEX_ERR_FAR);
	if (s2 == INDEX_OK)
		FUZZ_CHECK(memcmp(body, body2, nbytes) == 0);
}

/*
 * The reader that fetches pages itself: the body and trailer from the
 * bytes of the file, then index_check_body, which must agree with
 * index_read_body (status and body).
 */
static void
check_fetched(const struct index *idx, size_t len, uint64_t p,
    enum index_status want, const void *body, void *body2)
{
	size_t nbytes = index_body_bytes(idx);
	uint64_t off = index_page_offset(idx, p);
	enum index_status s;

	if (off > len || len - off < nbytes + 8)
		return;
	memcpy(body2, work + off, nbytes);
	s = index_check_body(idx, p, body2, work + off + nbytes, NULL, 0);
	FUZZ_CHECK(s == want);
	if (s == INDEX_OK)
		FUZZ_CHECK(memcmp(body, body2, nbytes) == 0);
}

/*
 * Open the damaged index and read everything in it. header_genuine: the
 * whole header and the file's size are as built, so the open must succeed
 * unless want_line_crc asks for the other setting, and every genuine page
 * must read as the truth.
 */
static void
exercise(const struct variant *v, size_t len, unsigned want_m,
    int want_line_crc, int header_genuine)
{
	struct index idx;
	enum index_status s1, s2;
	uint64_t *offs = NULL, p, n, off, l, bad;
	unsigned char *body = NULL, *body2 = NULL;
	int rebuilds = 0, all_genuine = 1, mismatch;
	char err[512];
	unsigned m;

	mismatch = want_line_crc >= 0 && (want_line_crc != 0) != v->line_crc;
	memset(err, 0x5a, sizeof(err));
	s1 = index_open(&idx, mempath, v->text_fd, want_m, want_line_crc, err,
	    sizeof(err));
	if (s1 != INDEX_OK) {
		FUZZ_CHECK(!header_genuine ||
		    (mismatch && s1 == INDEX_ERR_PARAM));
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
		return;
	}
	FUZZ_CHECK(!(header_genuine && mismatch));
	m = idx.h.lines_per_page;
	FUZZ_CHECK(idx.h.source_size == v->text_len);
	FUZZ_CHECK(m >= 1 && m <= INDEX_M_MAX && (m & (m - 1)) == 0);
	FUZZ_CHECK(want_m == 0 || m == want_m);
	FUZZ_CHECK(want_line_crc < 0 ||
	    index_has_line_crc(&idx.h) == (want_line_crc != 0));
	FUZZ_CHECK(!header_genuine ||
	    index_has_line_crc(&idx.h) == v->line_crc);
	if (idx.h.pages > 0) {
		offs = malloc(((size_t)m + 1) * sizeof(*offs));
		body = malloc(index_body_bytes(&idx));
		body2 = malloc(index_body_bytes(&idx));
		FUZZ_CHECK(offs != NULL && body != NULL && body2 != NULL);
		FUZZ_CHECK(index_body_bytes(&idx) % (index_has_line_crc(&idx.h) ?
		    8 : 4) == 0);
	}
	for (p = 0; p < idx.h.pages && p < MAX_PAGES; p++) {
		int genuine = page_genuine(v, len, header_genuine, p);

		s1 = index_read_body(&idx, p, body, err, sizeof(err));
		s2 = index_read_page(&idx, p, offs, err, sizeof(err));
		FUZZ_CHECK(s1 == s2);
		FUZZ_CHECK(!genuine || s2 == INDEX_OK);
		pages[p].read = s2 == INDEX_OK;
		pages[p].genuine = (unsigned char)genuine;
		all_genuine &= genuine;
		check_fetched(&idx, len, p, s1, body, body2);
		if (s2 == INDEX_OK)
			check_body(v, &idx, body, offs, p, genuine);
	}
	/* Rebuild the pages that failed, then those that read. */
	for (n = 0; n < 2; n++)
		for (p = 0; p < idx.h.pages && p < MAX_PAGES; p++)
			if (pages[p].read == n && rebuilds++ < MAX_REBUILDS)
				rebuild(v, &idx, p, header_genuine, body, body2);
	for (n = 1; n <= idx.h.lines && n <= MAX_LOOKUPS; n++) {
		if (index_lookup(&idx, n, &off, &l, err, sizeof(err)) != INDEX_OK)
			continue;
		FUZZ_CHECK(off <= idx.h.source_size &&
		    l <= idx.h.source_size - off);
		if (page_genuine(v, len, header_genuine, (n - 1) / m))
			FUZZ_CHECK(off == v->start[n - 1] &&
			    off + l == v->end[n - 1]);
	}
	if (idx.h.pages <= MAX_PAGES) {
		s1 = index_check_deep(&idx, v->text_fd, NULL, NULL, &bad, err,
		    sizeof(err));
		if (!index_has_line_crc(&idx.h))
			FUZZ_CHECK(s1 == INDEX_ERR_ARG);
		else if (all_genuine)
			FUZZ_CHECK(s1 == INDEX_OK && bad == 0);
		FUZZ_CHECK(s1 != INDEX_OK || bad == 0);
	}
	free(offs);
	free(body);
	free(body2);
	index_close(&idx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int want_crc[4] = { -1, 0, 1, 2 };
	const struct variant *v;
	size_t len, off, i = 1;
	int genuine;

	if (size < 1)
		return 0;
	v = &variants[data[0] & 3];
	len = v->index_len;
	memcpy(work, v->index, len);
	if ((data[0] & 0x10) && size >= 3) {
		size_t want = ((size_t)data[1] | (size_t)data[2] << 8) %
		    (MAX_INDEX + 1);

		if (want > len)
			memset(work + len, 0, want - len);
		len = want;
		i = 3;
	}
	for (; i + 3 <= size && len > 0; i += 3) {
		off = ((size_t)data[i] | (size_t)data[i + 1] << 8) % len;
		work[off] = data[i + 2];
	}
	reseal(work, len, data[0] & 0x04, data[0] & 0x08);
	genuine = len == v->index_len &&
	    memcmp(work, v->index, INDEX_HEADER_SIZE) == 0;
	FUZZ_CHECK(fuzz_memfile_set(memfd, work, len) == 0);
	exercise(v, len, (data[0] & 0x20) ? v->m : 0, want_crc[data[0] >> 6],
	    genuine);
	return 0;
}
