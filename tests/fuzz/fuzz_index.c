/*
 * fuzz_index: the index reader (src/index.c) on damaged index files.
 *
 * LLVMFuzzerInitialize builds small, valid indexes of three small texts
 * with index_build (into a temporary directory, removed at exit) and keeps
 * their bytes. Each input damages a copy of one of them, which is then
 * opened and read page by page from an in-memory file: the reader must
 * never crash, a page it accepts must have its offsets in order and inside
 * the text, and what it says about undamaged parts must be the truth.
 *
 * Input:
 *   byte 0  bits 0-1: which index (37 lines, m 4, no final LF;
 *                     6 lines, m 1; an empty text, m 4)
 *           bit 2:    then fix the header's checksum
 *           bit 3:    then fix every page's checksum (by the damaged
 *                     header's geometry), so that damage to the fields
 *                     themselves gets past the checksums
 *           bit 4:    resize the file to bytes 1-2 (little-endian) mod
 *                     MAX_INDEX + 1, zero-filled when grown
 *           bit 5:    open with want_m set to the built lines_per_page
 *   then    (offset le16, byte) triples: file[offset mod size] = byte.
 *
 * The calls of the index API are all in exercise(), and the knowledge of
 * the format (where the checksums are) in reseal(): the two places to
 * adapt when the format or the API changes.
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

#define MAX_INDEX     16384	/* bytes: room for a grown file */
#define MAX_PAGES     256	/* pages read per input */
#define MAX_REBUILDS  8		/* rebuilds per input: each scans back */
#define MAX_LOOKUPS   64

struct variant {
	const char *name;
	unsigned m;
	unsigned char *text;
	size_t text_len;
	uint64_t *start;	/* line i (0-based) is [start[i], end[i]) */
	uint64_t *end;
	uint64_t lines;
	int text_fd;
	unsigned char *index;	/* the index as built */
	size_t index_len;
};

static struct variant variants[3];
static char dir[] = "/tmp/linesvr-fuzz-index.XXXXXX";
static int memfd = -1;
static char mempath[64];
static unsigned char work[MAX_INDEX];

/* ---- setup ---- */

static void
cleanup(void)
{
	char path[128];
	size_t i;

	for (i = 0; i < 3; i++) {
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
variant_setup(struct variant *v, const char *name, unsigned m,
    const void *text, size_t len)
{
	char tpath[128], ipath[128], err[512];
	struct stat st;
	uint64_t i, s;
	int fd;

	v->name = name;
	v->m = m;
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

	FUZZ_CHECK(index_build(tpath, ipath, m, NULL, NULL, NULL, err,
	    sizeof(err)) == INDEX_OK);
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
	variant_setup(&variants[0], "assorted", 4, text, len);
	variant_setup(&variants[1], "six", 1, six, sizeof(six) - 1);
	variant_setup(&variants[2], "empty", 4, "", 0);
	memfd = fuzz_memfile("lidx", mempath, sizeof(mempath));
	FUZZ_CHECK(memfd >= 0);
	return 0;
}

/* ---- damage ---- */

static uint32_t
le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint64_t
le64(const unsigned char *p)
{
	return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void
put_le32(unsigned char *p, uint32_t v)
{
	p[0] = (unsigned char)v;
	p[1] = (unsigned char)(v >> 8);
	p[2] = (unsigned char)(v >> 16);
	p[3] = (unsigned char)(v >> 24);
}

/*
 * Recompute checksums after the damage, as a writer that knows the format
 * (README.md, format version 1) would: the header's CRC-32C of bytes
 * [0, 124) at 124; each page's CRC-32C of (uint64 page number, body) in
 * the first four bytes of its 8-byte trailer, zero in the other four. The
 * pages are found by the damaged header's page_bytes (at 40).
 */
#define HDR_PAGE_BYTES 40
#define HDR_CRC_OFF    124

static void
reseal(unsigned char *b, size_t len, int header, int pages)
{
	unsigned char num[8];
	uint64_t pb, p, off;
	size_t i;

	if (pages && len >= INDEX_HEADER_SIZE) {
		pb = le64(b + HDR_PAGE_BYTES);
		for (p = 0; pb >= 16 && pb <= len - INDEX_HEADER_SIZE &&
		    INDEX_HEADER_SIZE + (p + 1) * pb <= len; p++) {
			off = INDEX_HEADER_SIZE + p * pb;
			for (i = 0; i < 8; i++)
				num[i] = (unsigned char)(p >> (8 * i));
			put_le32(b + off + pb - 8, crc32c(crc32c(0, num, 8),
			    b + off, (size_t)pb - 8));
			put_le32(b + off + pb - 4, 0);
		}
	}
	if (header && len >= HDR_CRC_OFF + 4)
		put_le32(b + HDR_CRC_OFF, crc32c(0, b, HDR_CRC_OFF));
}

/* ---- the check ---- */

/* offs[0..m] of page p by the naive scan: what an undamaged page holds. */
static uint64_t
truth(const struct variant *v, uint64_t p, unsigned k)
{
	uint64_t line = p * v->m + k;	/* k > 0: the end of line - 1 */

	if (k == 0)
		return v->start[line];
	return v->end[line - 1 < v->lines ? line - 1 : v->lines - 1];
}

static void
check_offs(const struct variant *v, const uint64_t *offs, unsigned m,
    uint64_t size, uint64_t p, int genuine)
{
	unsigned k;

	for (k = 0; k <= m; k++) {
		FUZZ_CHECK(offs[k] <= size);
		FUZZ_CHECK(k == 0 || offs[k - 1] <= offs[k]);
		if (genuine)
			FUZZ_CHECK(offs[k] == truth(v, p, k));
	}
}

/* Page p of the damaged file is byte for byte the page index_build wrote. */
static int
page_genuine(const struct variant *v, size_t len, int header_genuine,
    uint64_t p)
{
	uint64_t pb = 4 * (uint64_t)v->m + 16;	/* compact, as built */
	uint64_t off = INDEX_HEADER_SIZE + p * pb;

	return header_genuine && off + pb <= len &&
	    memcmp(work + off, v->index + off, (size_t)pb) == 0;
}

/*
 * Open the damaged index and read everything in it. header_genuine: the
 * whole header and the file's size are as built, so the open must succeed
 * and every genuine page must read as the truth; a failed page rebuilt
 * from the nearest good page before it, when that one is genuine (or there
 * is none), must be the truth too.
 */
static void
exercise(const struct variant *v, size_t len, unsigned want_m,
    int header_genuine)
{
	struct index idx;
	enum index_status s1, s2;
	uint64_t *offs = NULL, p, n, off, l, a, b, good = UINT64_MAX;
	unsigned char *body = NULL;
	int rebuilds = 0, good_genuine = 1;
	char err[512];
	unsigned m;
	size_t k;

	memset(err, 0x5a, sizeof(err));
	s1 = index_open(&idx, mempath, v->text_fd, want_m, err, sizeof(err));
	if (s1 != INDEX_OK) {
		FUZZ_CHECK(!header_genuine);
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0]);
		return;
	}
	m = idx.h.lines_per_page;
	FUZZ_CHECK(idx.h.source_size == v->text_len);
	FUZZ_CHECK(m >= 1 && m <= INDEX_M_MAX && (m & (m - 1)) == 0);
	if (idx.h.pages > 0) {
		offs = malloc(((size_t)m + 1) * sizeof(*offs));
		body = malloc(index_body_bytes(&idx));
		FUZZ_CHECK(offs != NULL && body != NULL);
	}
	for (p = 0; p < idx.h.pages && p < MAX_PAGES; p++) {
		int genuine = page_genuine(v, len, header_genuine, p);

		s1 = index_read_body(&idx, p, body, err, sizeof(err));
		s2 = index_read_page(&idx, p, offs, err, sizeof(err));
		FUZZ_CHECK(s1 == s2);
		FUZZ_CHECK(!genuine || s2 == INDEX_OK);
		if (s2 == INDEX_OK) {
			check_offs(v, offs, m, idx.h.source_size, p, genuine);
			for (k = 0; k < m; k++) {
				index_body_slot(&idx.h, body, k, &a, &b);
				FUZZ_CHECK(a == offs[k] && b == offs[k + 1]);
			}
			good = p;
			good_genuine = genuine;
			continue;
		}
		if (rebuilds++ == MAX_REBUILDS)
			continue;
		s2 = index_rebuild_page(&idx, v->text_fd, p, offs, err,
		    sizeof(err));
		if (header_genuine && (good == UINT64_MAX || good_genuine)) {
			FUZZ_CHECK(s2 == INDEX_OK);
			check_offs(v, offs, m, idx.h.source_size, p, 1);
		} else if (s2 == INDEX_OK)
			check_offs(v, offs, m, idx.h.source_size, p, 0);
	}
	for (n = 1; n <= idx.h.lines && n <= MAX_LOOKUPS; n++) {
		if (index_lookup(&idx, n, &off, &l, err, sizeof(err)) != INDEX_OK)
			continue;
		FUZZ_CHECK(off <= idx.h.source_size &&
		    l <= idx.h.source_size - off);
		if (page_genuine(v, len, header_genuine, (n - 1) / m))
			FUZZ_CHECK(off == v->start[n - 1] &&
			    off + l == v->end[n - 1]);
	}
	free(offs);
	free(body);
	index_close(&idx);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct variant *v;
	size_t len, off, i = 1;
	int genuine;

	if (size < 1)
		return 0;
	v = &variants[(data[0] & 3) % 3];
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
	exercise(v, len, (data[0] & 0x20) ? v->m : 0, genuine);
	return 0;
}
