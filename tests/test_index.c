/*
 * Unit tests of the index: build, open and validate, pages, page identity,
 * per-line checksums and the deep check, repair of a corrupt page,
 * staleness, atomic creation, build robustness (RLIMIT_FSIZE, stale
 * temporary files). Every lookup is checked against a naive scan of the
 * same bytes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "crc32c.h"
#include "index.h"
#include "index_format.h"  /* private: the functions for tests */
#include "rng.h"
#include "text.h"

struct fx {
	char dir[64];
	char text[128];
	char idx[128];
	int fd;           /* text file, open while a test needs it */
	struct index ix;
	int ix_open;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/lsvr-idx-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->text, sizeof(f->text), "%s/t.txt", f->dir);
	snprintf(f->idx, sizeof(f->idx), "%s/t.txt.lidx", f->dir);
	f->fd = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	if (f->ix_open)
		index_close(&f->ix);
	if (f->fd >= 0)
		close(f->fd);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	assert_int_equal(system(cmd), 0);
	free(f);
	return 0;
}

static void
write_file(const char *path, const void *data, size_t len)
{
	FILE *fp = fopen(path, "wb");

	assert_non_null(fp);
	if (len > 0)
		assert_int_equal(fwrite(data, 1, len, fp), len);
	assert_int_equal(fclose(fp), 0);
}

static enum index_status
build_m(const char *text, const char *idx, unsigned m, int line_crc,
    char *err, size_t errlen)
{
	struct index_build_opts o = { .m = m, .line_crc = line_crc };

	return index_build(text, idx, &o, NULL, err, errlen);
}

static void
build_crc(struct fx *f, unsigned m, int line_crc)
{
	char err[512] = "";

	if (build_m(f->text, f->idx, m, line_crc, err, sizeof(err)) != INDEX_OK)
		fail_msg("build: %s", err);
}

static void
build_ok(struct fx *f, unsigned m)
{
	build_crc(f, m, 1);
}

static enum index_status
open_idx(struct fx *f, unsigned want_m, char *err, size_t errlen)
{
	enum index_status s;

	if (f->fd < 0)
		f->fd = open(f->text, O_RDONLY);
	assert_true(f->fd >= 0);
	if (f->ix_open) {
		index_close(&f->ix);
		f->ix_open = 0;
	}
	s = index_open(&f->ix, f->idx, f->fd, want_m, -1, err, errlen);
	f->ix_open = s == INDEX_OK;
	return s;
}

static void
open_ok(struct fx *f)
{
	char err[512] = "";

	if (open_idx(f, 0, err, sizeof(err)) != INDEX_OK)
		fail_msg("open: %s", err);
}

static void check_rebuild(struct fx *f, uint64_t page);
static void set_mtime(const char *path, time_t s, long ns);
static void corrupt_page(struct fx *f, uint64_t page);
static void check_bodies(struct fx *f);

/* Every line of data, by a naive scan, must be exactly what lookup says. */
static void
check_against_naive(struct fx *f, const char *data, size_t len)
{
	uint64_t n = 0, start = 0, off, l;

	for (size_t i = 0; i < len; i++) {
		if (data[i] != '\n')
			continue;
		n++;
		assert_int_equal(index_lookup(&f->ix, n, &off, &l, NULL, 0),
		    INDEX_OK);
		assert_int_equal(off, start);
		assert_int_equal(l, i + 1 - start);
		start = i + 1;
	}
	if (start < len) {
		n++;
		assert_int_equal(index_lookup(&f->ix, n, &off, &l, NULL, 0),
		    INDEX_OK);
		assert_int_equal(off, start);
		assert_int_equal(l, len - start);
		assert_true(f->ix.h.flags & INDEX_FLAG_NO_FINAL_LF);
	} else {
		assert_false(f->ix.h.flags & INDEX_FLAG_NO_FINAL_LF);
	}
	assert_int_equal(f->ix.h.lines, n);
	assert_int_equal(index_lookup(&f->ix, 0, &off, &l, NULL, 0),
	    INDEX_ERR_ARG);
	assert_int_equal(index_lookup(&f->ix, n + 1, &off, &l, NULL, 0),
	    INDEX_ERR_ARG);
}

static void
roundtrip(struct fx *f, const char *data, size_t len, unsigned m)
{
	write_file(f->text, data, len);
	build_ok(f, m);
	open_ok(f);
	assert_int_equal(f->ix.h.lines_per_page, m);
	check_against_naive(f, data, len);
}

/* Deterministic pseudo-random numbers: one stream for the whole file. */
static uint64_t rng_state = 88172645463325252ull;

static uint64_t
rnd(void)
{
	return splitmix64(&rng_state);
}

/* Lines of random length 0..maxlen of printable bytes, n lines, LF ends. */
static char *
gen_lines(size_t n, size_t maxlen, size_t *len)
{
	size_t cap = n * (maxlen + 1), pos = 0;
	char *buf = malloc(cap + 1);

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++) {
		size_t l = (size_t)(rnd() % (maxlen + 1));
		for (size_t j = 0; j < l; j++)
			buf[pos++] = (char)('a' + rnd() % 26);
		buf[pos++] = '\n';
	}
	*len = pos;
	return buf;
}

static void
flip_byte(const char *path, off_t off)
{
	int fd = open(path, O_RDWR);
	unsigned char c;

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, off), 1);
	c ^= 0x40;
	assert_int_equal(pwrite(fd, &c, 1, off), 1);
	close(fd);
}

/* ---- crc32c and the newline scan ---- */

static void
t_crc32c_vector(void **state)
{
	(void)state;
	assert_int_equal(crc32c(0, "123456789", 9), 0xE3069283u);
	assert_int_equal(crc32c(crc32c(0, "1234", 4), "56789", 5),
	    0xE3069283u);
	assert_int_equal(crc32c(0, "", 0), 0);
	assert_int_equal(crc32c_portable(0, "123456789", 9), 0xE3069283u);
	/* Both paths agree on every length and alignment. */
	{
		unsigned char buf[300];
		for (size_t i = 0; i < sizeof(buf); i++)
			buf[i] = (unsigned char)(rnd() & 0xff);
		for (size_t off = 0; off < 9; off++)
			for (size_t len = 0; off + len <= sizeof(buf); len++)
				assert_int_equal(crc32c(7, buf + off, len),
				    crc32c_portable(7, buf + off, len));
	}
}

static void
t_count_lf_all_alignments(void **state)
{
	char buf[300];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rnd() % 5 == 0 ? '\n' : 'x';
	for (size_t start = 0; start < 70; start++)
		for (size_t len = 0; start + len <= sizeof(buf); len += 7) {
			size_t naive = 0;
			for (size_t i = start; i < start + len; i++)
				naive += buf[i] == '\n';
			assert_int_equal(index_count_lf(buf + start, len), naive);
		}
}

/* Four runs at a time, sorted by length: the same CRCs as one by one. */
static void
t_crc32c_runs(void **state)
{
	enum { N = 3000 };
	static unsigned char buf[N * 40];
	static uint32_t bounds[N + 1], crcs[N];
	size_t n = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (unsigned char)(rnd() & 0xff);
	/* Lengths 0..300 (some over 256, hashed one at a time), the first
	 * runs less than 8 bytes into buf. */
	for (uint32_t at = 1; n < N; n++) {
		bounds[n] = at;
		at += rnd() % 16 == 0 ? (uint32_t)(rnd() % 301) :
		    (uint32_t)(rnd() % 40);
		if (at >= sizeof(buf))
			break;
	}
	bounds[n] = bounds[n - 1];
	crc32c_runs(buf, bounds, n, crcs);
	for (size_t i = 0; i < n; i++)
		if (crcs[i] != crc32c(0, buf + bounds[i], bounds[i + 1] -
		    bounds[i]))
			fail_msg("run %zu (%u bytes at %u)", i,
			    bounds[i + 1] - bounds[i], bounds[i]);
}

/* Line ends, sparse and dense (several LFs in a 64-byte block). */
static void
t_lf_ends_all_alignments(void **state)
{
	char buf[600];
	uint32_t ends[sizeof(buf) + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = rnd() % (i < 300 ? 5 : 90) == 0 ? '\n' : 'x';
	for (size_t start = 0; start < 70; start++)
		for (size_t len = 0; start + len <= sizeof(buf); len += 7) {
			size_t n = index_lf_ends(buf + start, len, ends), k = 0;
			for (size_t i = 0; i < len; i++)
				if (buf[start + i] == '\n') {
					assert_true(k < n);
					assert_int_equal(ends[k++], i + 1);
				}
			assert_int_equal(n, k);
		}
}

/*
 * A text cut short under the build's mapping: the scan of a window raises
 * SIGBUS, and the guard of text.h turns it into -1 (the build then
 * reports the change of size) instead of killing the process.
 */
struct shrunk {
	const char *map;
	uint64_t size;
	uint32_t ends[8192 + 3], crcs[8192 + 3];
};

/* 0 (and where the first line started, 101), or -1 on SIGBUS. */
static int
scan_shrunk(struct shrunk *sh)
{
	sigjmp_buf env;
	uint64_t from;

	if (sigsetjmp(env, 0) != 0)
		return -1;
	text_guard_on(&env);
	index_scan_window(sh->map, sh->size, 4096, sh->size, sh->ends,
	    sh->crcs, &from);
	text_guard_off();
	return from == 101 ? 0 : 1;
}

static void
t_scan_of_shrunk_text(void **state)
{
	struct fx *f = *state;
	static struct shrunk sh;
	char text[8192];
	int fd;

	memset(text, 'x', sizeof(text));
	text[100] = text[5000] = '\n';
	write_file(f->text, text, sizeof(text));
	assert_true((fd = open(f->text, O_RDONLY)) >= 0);
	sh.size = sizeof(text);
	sh.map = mmap(NULL, sizeof(text), PROT_READ, MAP_SHARED, fd, 0);
	assert_true(sh.map != MAP_FAILED);
	text_install_guard();
	assert_int_equal(scan_shrunk(&sh), 0);
	assert_int_equal(sh.ends[0], 5000 + 1 - 4096);
	assert_int_equal(sh.crcs[0], crc32c(0, text + 101, 4900));
	assert_int_equal(truncate(f->text, 0), 0);
	assert_int_equal(scan_shrunk(&sh), -1);
	munmap((void *)(uintptr_t)sh.map, sizeof(text));
	close(fd);
}

/* ---- shapes of files ---- */

static void
t_empty_file(void **state)
{
	struct fx *f = *state;
	uint64_t off, l;

	roundtrip(f, "", 0, 4);
	assert_int_equal(f->ix.h.lines, 0);
	assert_int_equal(f->ix.h.pages, 0);
	assert_int_equal(f->ix.h.index_size, INDEX_HEADER_SIZE);
	assert_int_equal(index_lookup(&f->ix, 1, &off, &l, NULL, 0),
	    INDEX_ERR_ARG);
}

static void
t_one_byte_no_lf(void **state)
{
	roundtrip(*state, "a", 1, 4);
}

static void
t_one_byte_lf(void **state)
{
	struct fx *f = *state;

	roundtrip(f, "\n", 1, 4);
	assert_int_equal(f->ix.h.lines, 1);
}

static void
t_no_trailing_newline(void **state)
{
	roundtrip(*state, "a\nbb\nccc", 8, 2);
}

static void
t_only_newlines(void **state)
{
	struct fx *f = *state;

	roundtrip(f, "\n\n\n\n\n\n\n", 7, 2);
	assert_int_equal(f->ix.h.pages, 4);
}

static void
t_crlf_lines(void **state)
{
	struct fx *f = *state;
	uint64_t off, l;

	roundtrip(f, "one\r\ntwo\r\n\r\nthree\r\n", 19, 2);
	assert_int_equal(index_lookup(&f->ix, 3, &off, &l, NULL, 0), INDEX_OK);
	assert_int_equal(l, 2); /* "\r\n" is the whole line */
}

static void
t_one_8mib_line(void **state)
{
	struct fx *f = *state;
	size_t len = 8u << 20;
	char *buf = malloc(len + 1);

	assert_non_null(buf);
	memset(buf, 'z', len);
	buf[len] = '\n';
	roundtrip(f, buf, len + 1, 4096);
	assert_int_equal(f->ix.h.lines, 1);
	free(buf);
}

static void
t_arbitrary_bytes(void **state)
{
	size_t len = 200000;
	char *buf = malloc(len);

	assert_non_null(buf);
	for (size_t i = 0; i < len; i++)
		buf[i] = (char)(rnd() & 0xff); /* LF is 1 byte in 256 */
	roundtrip(*state, buf, len, 16);
	free(buf);
}

static void
t_m1(void **state)
{
	struct fx *f = *state;

	roundtrip(f, "a\nb\nc\n", 6, 1);
	assert_int_equal(f->ix.h.pages, 3);
}

static void
t_first_m_mplus1_last(void **state)
{
	struct fx *f = *state;
	const char *d = "l1\nl2\nl3\nl4\nl5\nl6\nl7\nl8\nl9\nl10\n";
	uint64_t off, l;

	roundtrip(f, d, strlen(d), 4);
	assert_int_equal(index_lookup(&f->ix, 1, &off, &l, NULL, 0), INDEX_OK);
	assert_int_equal(off, 0);
	assert_int_equal(index_lookup(&f->ix, 4, &off, &l, NULL, 0), INDEX_OK);
	assert_memory_equal(d + off, "l4\n", 3);
	assert_int_equal(index_lookup(&f->ix, 5, &off, &l, NULL, 0), INDEX_OK);
	assert_memory_equal(d + off, "l5\n", 3);
	assert_int_equal(index_lookup(&f->ix, 10, &off, &l, NULL, 0), INDEX_OK);
	assert_int_equal(l, 4);
	assert_memory_equal(d + off, "l10\n", 4);
}

static void
t_exact_full_pages(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(64, 10, &len);

	roundtrip(f, buf, len, 8);
	assert_int_equal(f->ix.h.pages, 8);
	free(buf);
}

static void
t_full_pages_plus_one(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(65, 10, &len);

	roundtrip(f, buf, len, 8);
	assert_int_equal(f->ix.h.pages, 9);
	free(buf);
}

static void
t_every_page_boundary(void **state)
{
	size_t len;
	char *buf = gen_lines(5000, 40, &len);

	roundtrip(*state, buf, len, 8);
	free(buf);
}

static void
t_many_lines_default_m(void **state)
{
	size_t len;
	char *buf = gen_lines(100000, 30, &len);

	roundtrip(*state, buf, len, INDEX_M_DEFAULT);
	free(buf);
}

/*
 * A sparse text "a\n", a line of zeros up to byte big, "b\n", "c\n",
 * indexed with m = 1: a page spans 4 GiB, so the index is wide.
 */
static void
sparse_wide(struct fx *f, uint64_t big)
{
	int fd = open(f->text, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "a\n", 2, 0), 2);
	assert_int_equal(pwrite(fd, "\nb\nc\n", 5, (off_t)big), 5);
	close(fd);
	build_ok(f, 1);
	open_ok(f);
	assert_true(f->ix.h.flags & INDEX_FLAG_WIDE);
}

static void
t_largest_m(void **state)
{
	roundtrip(*state, "x\ny\n", 4, INDEX_M_MAX);
}

/*
 * A page whose lines span 4 GiB or more makes the whole index wide. With
 * m = 1 a wide page's one line CRC is padded to 8 bytes.
 */
static void
t_wide_pages_over_4gib(void **state)
{
	struct fx *f = *state;
	uint64_t off, l, big = (4ull << 30) + 4096;
	unsigned char body[2 * 8 + 8];
	struct index_line il;

	sparse_wide(f, big);
	assert_int_equal(f->ix.h.page_bytes, 2 * 8 + 8 + 8);
	assert_int_equal(index_body_bytes(&f->ix), sizeof(body));
	assert_int_equal(f->ix.h.lines, 4);
	assert_int_equal(index_lookup(&f->ix, 2, &off, &l, NULL, 0), INDEX_OK);
	assert_int_equal(off, 2);
	assert_int_equal(l, big + 1 - 2);
	assert_int_equal(index_lookup(&f->ix, 4, &off, &l, NULL, 0), INDEX_OK);
	assert_int_equal(off, big + 3);
	assert_int_equal(l, 2);
	assert_int_equal(index_read_body(&f->ix, 2, body, NULL, 0), INDEX_OK);
	index_body_line(&f->ix.h, body, 0, &il);
	assert_int_equal(il.off, big + 1);
	assert_int_equal(il.crc, crc32c(0, "b\n", 2));
	check_bodies(f);
	/* A corrupt wide page is rebuilt as well, its CRC included. */
	check_rebuild(f, 0);
	check_rebuild(f, 3);
}

/* Every line read from a stored body equals the decoded page. */
static void
check_bodies(struct fx *f)
{
	unsigned m = f->ix.h.lines_per_page;
	size_t nb = index_body_bytes(&f->ix);
	uint64_t *offs = calloc(m + 1, 8);
	unsigned char *body = malloc(nb);
	struct index_line l;

	assert_true(offs != NULL && body != NULL);
	for (uint64_t p = 0; p < f->ix.h.pages; p++) {
		assert_int_equal(index_read_page(&f->ix, p, offs, NULL, 0),
		    INDEX_OK);
		assert_int_equal(index_read_body(&f->ix, p, body, NULL, 0),
		    INDEX_OK);
		for (size_t k = 0; k < m; k++) {
			index_body_line(&f->ix.h, body, k, &l);
			assert_int_equal(l.off, offs[k]);
			assert_int_equal(l.end, offs[k + 1]);
		}
	}
	free(offs);
	free(body);
}

static void
t_bodies_match_pages(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(1000, 50, &len);

	roundtrip(f, buf, len, 16);
	check_bodies(f);
	free(buf);
}

/* A page with a valid checksum whose offsets run backwards is refused. */
static void
t_page_out_of_order_refused(void **state)
{
	struct fx *f = *state;
	unsigned char body[8 + 4 * 4], num[8] = { 1 }, tr[4];
	uint64_t offs[5];
	uint32_t crc;
	off_t at;
	int fd;

	write_file(f->text, "a\nb\nc\nd\ne\nf\ng\nh\n", 16);
	build_crc(f, 4, 0);
	open_ok(f);
	at = INDEX_HEADER_SIZE + (off_t)f->ix.h.page_bytes; /* page 1 */
	fd = open(f->idx, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, body, sizeof(body), at), (ssize_t)sizeof(body));
	body[8 + 4] = 1; /* the end of slot 1 now lies before slot 0's */
	crc = crc32c(crc32c(f->ix.h.page_seed, num, 8), body, sizeof(body));
	for (int i = 0; i < 4; i++)
		tr[i] = (unsigned char)(crc >> (8 * i));
	assert_int_equal(pwrite(fd, body, sizeof(body), at), (ssize_t)sizeof(body));
	assert_int_equal(pwrite(fd, tr, 4, at + (off_t)sizeof(body)), 4);
	close(fd);
	assert_int_equal(index_read_page(&f->ix, 1, offs, NULL, 0),
	    INDEX_ERR_PAGE);
	assert_int_equal(index_read_page(&f->ix, 0, offs, NULL, 0), INDEX_OK);
}

static void
t_compact_pages_by_default(void **state)
{
	struct fx *f = *state;

	roundtrip(f, "a\nb\nc\n", 6, 1);
	assert_false(f->ix.h.flags & INDEX_FLAG_WIDE);
	assert_true(f->ix.h.flags & INDEX_FLAG_LINE_CRC);
	assert_int_equal(f->ix.h.page_bytes, 8 + 4 + 4 + 8);
	build_crc(f, 1, 0);
	open_ok(f);
	assert_false(f->ix.h.flags & INDEX_FLAG_LINE_CRC);
	assert_int_equal(f->ix.h.page_bytes, 8 + 4 + 8);
}

static void
t_bad_m(void **state)
{
	struct fx *f = *state;
	char err[256];

	write_file(f->text, "a\n", 2);
	assert_int_equal(build_m(f->text, f->idx, 3, 1, err, sizeof(err)), INDEX_ERR_ARG);
	assert_int_equal(build_m(f->text, f->idx, 0, 1, err, sizeof(err)), INDEX_ERR_ARG);
	assert_int_equal(build_m(f->text, f->idx, INDEX_M_MAX * 2, 1, err, sizeof(err)), INDEX_ERR_ARG);
	assert_int_equal(access(f->idx, F_OK), -1);
}

/* ---- corruption ---- */

static void
t_header_flip_every_byte(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "a\nb\n", 4);
	build_ok(f, 2);
	for (off_t i = 0; i < 128; i++) {
		enum index_status s, want;
		flip_byte(f->idx, i);
		s = open_idx(f, 0, err, sizeof(err));
		want = i < 8 ? INDEX_ERR_MAGIC : i < 12 ? INDEX_ERR_VERSION :
		    INDEX_ERR_HEADER;
		if (s != want)
			fail_msg("byte %lld: got %s (%s)", (long long)i,
			    index_status_name(s), err);
		flip_byte(f->idx, i);
	}
	open_ok(f);
}

static void
t_page_flip_detected(void **state)
{
	struct fx *f = *state;
	uint64_t offs[9];
	char err[512];
	size_t len;
	char *buf = gen_lines(40, 10, &len);

	roundtrip(f, buf, len, 8);
	/* page 2, slot 3 */
	flip_byte(f->idx, INDEX_HEADER_SIZE + 2 * f->ix.h.page_bytes + 3 * 8);
	open_ok(f); /* opening never reads pages */
	assert_int_equal(index_read_page(&f->ix, 2, offs, err, sizeof(err)),
	    INDEX_ERR_PAGE);
	assert_non_null(strstr(err, "page 2"));
	assert_int_equal(index_read_page(&f->ix, 1, offs, err, sizeof(err)),
	    INDEX_OK);
	assert_int_equal(index_read_page(&f->ix, 3, offs, err, sizeof(err)),
	    INDEX_OK);
	free(buf);
}

static void
t_page_trailer_flip_detected(void **state)
{
	struct fx *f = *state;
	uint64_t offs[5];

	off_t trailer;

	roundtrip(f, "a\nb\nc\nd\ne\n", 10, 4);
	trailer = INDEX_HEADER_SIZE + (off_t)f->ix.h.page_bytes - 8;
	flip_byte(f->idx, trailer + 1); /* the CRC */
	assert_int_equal(index_read_page(&f->ix, 0, offs, NULL, 0),
	    INDEX_ERR_PAGE);
	flip_byte(f->idx, trailer + 1);
	assert_int_equal(index_read_page(&f->ix, 0, offs, NULL, 0), INDEX_OK);
	flip_byte(f->idx, trailer + 6); /* the zero word */
	assert_int_equal(index_read_page(&f->ix, 0, offs, NULL, 0),
	    INDEX_ERR_PAGE);
}

static void
t_swapped_pages_detected(void **state)
{
	struct fx *f = *state;
	uint64_t offs[3];
	unsigned char a[32], b[32];
	int fd;
	size_t pb;

	roundtrip(f, "a\nb\nc\nd\n", 8, 2);
	pb = (size_t)f->ix.h.page_bytes;
	assert_int_equal(pb, 8 + 2 * 4 + 2 * 4 + 8); /* base, 2 ends, 2 CRCs */
	fd = open(f->idx, O_RDWR);
	assert_int_equal(pread(fd, a, pb, INDEX_HEADER_SIZE), (ssize_t)pb);
	assert_int_equal(pread(fd, b, pb, INDEX_HEADER_SIZE + pb), (ssize_t)pb);
	assert_int_equal(pwrite(fd, b, pb, INDEX_HEADER_SIZE), (ssize_t)pb);
	assert_int_equal(pwrite(fd, a, pb, INDEX_HEADER_SIZE + pb), (ssize_t)pb);
	close(fd);
	assert_int_equal(index_read_page(&f->ix, 0, offs, NULL, 0),
	    INDEX_ERR_PAGE);
	assert_int_equal(index_read_page(&f->ix, 1, offs, NULL, 0),
	    INDEX_ERR_PAGE);
}

static void
t_truncated_index(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct stat st;

	roundtrip(f, "a\nb\nc\n", 6, 2);
	assert_int_equal(stat(f->idx, &st), 0);
	assert_int_equal(truncate(f->idx, st.st_size - 1), 0);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_TRUNCATED);
	assert_non_null(strstr(err, f->idx));
	assert_int_equal(truncate(f->idx, 100), 0);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_TRUNCATED);
	assert_int_equal(truncate(f->idx, 0), 0);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_MAGIC);
}

static void
t_extended_index(void **state)
{
	struct fx *f = *state;
	char err[512];
	struct stat st;

	roundtrip(f, "a\nb\nc\n", 6, 2);
	assert_int_equal(stat(f->idx, &st), 0);
	assert_int_equal(truncate(f->idx, st.st_size + 1), 0);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_TRUNCATED);
}

static void
t_wrong_magic(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "a\n", 2);
	write_file(f->idx, "this is not an index at all, just text\n", 39);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_MAGIC);
	assert_non_null(strstr(err, "magic"));
}

static void
t_wrong_version(void **state)
{
	struct fx *f = *state;
	unsigned char h[128];
	char err[512];
	int fd;

	write_file(f->text, "a\n", 2);
	build_ok(f, 4);
	fd = open(f->idx, O_RDWR);
	assert_int_equal(pread(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	h[8] = 1; /* the old format, with a checksum that matches */
	uint32_t c = crc32c(0, h, 124);
	for (int i = 0; i < 4; i++)
		h[124 + i] = (unsigned char)(c >> (8 * i));
	assert_int_equal(pwrite(fd, h, sizeof(h), 0), (ssize_t)sizeof(h));
	close(fd);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_VERSION);
	assert_non_null(strstr(err, "version 1"));
}

static void
t_missing_index(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "a\n", 2);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_MISSING);
}

static void
t_missing_text(void **state)
{
	struct fx *f = *state;
	char err[512];

	assert_int_equal(build_m(f->text, f->idx, 4, 1, err, sizeof(err)), INDEX_ERR_MISSING);
	assert_non_null(strstr(err, f->text));
}

static void
t_unwritable_index_dir(void **state)
{
	struct fx *f = *state;
	char err[512], path[256];

	write_file(f->text, "a\n", 2);
	snprintf(path, sizeof(path), "%s/no/such/dir/x.lidx", f->dir);
	assert_int_equal(build_m(f->text, path, 4, 1, err, sizeof(err)), INDEX_ERR_IO);
	assert_non_null(strstr(err, "no/such/dir"));
}

static void
t_wrong_lines_per_page(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "a\nb\n", 4);
	build_ok(f, 8);
	assert_int_equal(open_idx(f, 16, err, sizeof(err)), INDEX_ERR_PARAM);
	assert_non_null(strstr(err, "lines_per_page"));
	assert_int_equal(open_idx(f, 8, err, sizeof(err)), INDEX_OK);
}

/* ---- staleness ---- */

static void
set_mtime(const char *path, time_t s, long ns)
{
	struct timespec ts[2] = { { s, ns }, { s, ns } };

	assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void
t_stale_size(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "a\nb\n", 4);
	build_ok(f, 4);
	write_file(f->text, "a\nb\nc\n", 6);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_STALE);
	assert_non_null(strstr(err, "size"));
}

static void
t_stale_mtime(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "a\nb\n", 4);
	set_mtime(f->text, 1000000000, 5);
	build_ok(f, 4);
	set_mtime(f->text, 1000000000, 6);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_STALE);
	assert_non_null(strstr(err, "modification time"));
}

static void
t_stale_content_same_size_mtime(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "abc\ndef\n", 8);
	set_mtime(f->text, 1000000000, 0);
	build_ok(f, 4);
	write_file(f->text, "abc\ndeg\n", 8);
	set_mtime(f->text, 1000000000, 0);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_STALE);
	assert_non_null(strstr(err, "fingerprint"));
}

static void
t_stale_content_large_file_sample(void **state)
{
	struct fx *f = *state;
	char err[512];
	size_t len;
	char *buf = gen_lines(40000, 60, &len); /* > 64 KiB: sampled */

	write_file(f->text, buf, len);
	set_mtime(f->text, 1000000000, 0);
	build_ok(f, 64);
	/* The last sample ends at the end of the file: change a byte there. */
	buf[len - 2] = buf[len - 2] == 'a' ? 'b' : 'a';
	write_file(f->text, buf, len);
	set_mtime(f->text, 1000000000, 0);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_STALE);
	free(buf);
}

/* ---- page rebuild ---- */

static void
corrupt_page(struct fx *f, uint64_t page)
{
	flip_byte(f->idx, (off_t)(INDEX_HEADER_SIZE + page *
	    f->ix.h.page_bytes + 8));
}

/* Page's body, rebuilt from the text, equals the one stored (CRCs too). */
static void
check_rebuild(struct fx *f, uint64_t page)
{
	size_t nb = index_body_bytes(&f->ix);
	unsigned char *want = malloc(nb), *got = malloc(nb);
	char err[512];

	assert_true(want != NULL && got != NULL);
	assert_int_equal(index_read_body(&f->ix, page, want, NULL, 0), INDEX_OK);
	corrupt_page(f, page);
	assert_int_equal(index_read_body(&f->ix, page, got, NULL, 0),
	    INDEX_ERR_PAGE);
	memset(got, 0xa5, nb);
	if (index_rebuild_body(&f->ix, f->fd, page, got, UINT64_MAX, err,
	    sizeof(err)) != INDEX_OK)
		fail_msg("rebuild page %llu: %s", (unsigned long long)page, err);
	assert_memory_equal(want, got, nb);
	free(want);
	free(got);
}

static void
t_rebuild_middle_page(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(100, 20, &len);

	roundtrip(f, buf, len, 8);
	check_rebuild(f, 5);
	free(buf);
}

static void
t_rebuild_first_page(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(100, 20, &len);

	roundtrip(f, buf, len, 8);
	check_rebuild(f, 0);
	free(buf);
}

static void
t_rebuild_last_partial_page_no_lf(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(21, 20, &len);

	buf[len - 1] = 'q'; /* last line without its LF */
	roundtrip(f, buf, len, 8);
	check_rebuild(f, 2);
	free(buf);
}

static void
t_rebuild_after_bad_neighbours(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(100, 20, &len);

	roundtrip(f, buf, len, 8);
	corrupt_page(f, 3);
	corrupt_page(f, 4);
	check_rebuild(f, 5); /* scans from the end of page 2 */
	free(buf);
}

/* Rebuild page (m = 1) and return its one line's offsets. */
static void
rebuild_m1(struct fx *f, uint64_t page, uint64_t *off, uint64_t *end)
{
	uint64_t body[4];
	struct index_line l;
	char err[512];

	assert_true(index_body_bytes(&f->ix) <= sizeof(body));
	if (index_rebuild_body(&f->ix, f->fd, page, body, UINT64_MAX, err,
	    sizeof(err)) != INDEX_OK)
		fail_msg("rebuild page %llu: %s", (unsigned long long)page, err);
	index_body_line(&f->ix.h, body, 0, &l);
	*off = l.off;
	*end = l.end;
}

/*
 * Found by fuzz_index in an earlier repair: with no good page before it a
 * rebuild must scan from offset 0, but the search for that page read each
 * bad page into the caller's buffer, over the 0 already placed there.
 * Where a page's body overlaps that start (m = 1 compact, every wide
 * index), the scan started wherever the last bad page said.
 */
static void
t_rebuild_after_bad_first_page_m1(void **state)
{
	struct fx *f = *state;
	uint64_t off, end;

	roundtrip(f, "a\nbb\nccc\n", 9, 1);
	assert_false(f->ix.h.flags & INDEX_FLAG_WIDE);
	corrupt_page(f, 0);
	flip_byte(f->idx, INDEX_HEADER_SIZE); /* page 0's base too */
	corrupt_page(f, 1);
	rebuild_m1(f, 1, &off, &end);
	assert_int_equal(off, 2);
	assert_int_equal(end, 5);
	rebuild_m1(f, 2, &off, &end);
	assert_int_equal(off, 5);
	assert_int_equal(end, 9);
}

/* The same in a wide index, where it rebuilt another line's offsets. */
static void
t_rebuild_after_bad_first_page_wide(void **state)
{
	struct fx *f = *state;
	uint64_t off, end, big = (4ull << 30) + 4096, wrong = big - 10;
	unsigned char le[8];
	int fd;

	sparse_wide(f, big);
	/* Page 0's start points near the end of line 2; page 1 is bad too. */
	for (int i = 0; i < 8; i++)
		le[i] = (unsigned char)(wrong >> (8 * i));
	fd = open(f->idx, O_WRONLY);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, le, 8, INDEX_HEADER_SIZE), 8);
	close(fd);
	corrupt_page(f, 1);
	rebuild_m1(f, 2, &off, &end);
	assert_int_equal(off, big + 1); /* "b\n", not "c\n" */
	assert_int_equal(end, big + 3);
}

static void
t_rebuild_refuses_changed_text(void **state)
{
	struct fx *f = *state;
	unsigned char body[8 + 8 * 8];
	char err[512];
	size_t len;
	char *buf = gen_lines(30, 20, &len);

	roundtrip(f, buf, len, 8);
	corrupt_page(f, 3);
	/* The text loses its LFs behind the index's back. */
	for (size_t i = 0; i < len; i++)
		if (buf[i] == '\n')
			buf[i] = ' ';
	close(f->fd);
	write_file(f->text, buf, len);
	f->fd = open(f->text, O_RDONLY);
	assert_int_equal(index_body_bytes(&f->ix), sizeof(body));
	assert_int_equal(index_rebuild_body(&f->ix, f->fd, 3, body, UINT64_MAX,
	    err, sizeof(err)), INDEX_ERR_SOURCE);
	free(buf);
}

/* ---- page identity ---- */

/* Copy every page of index src over the pages of index dst (same size). */
static void
copy_pages(const char *src, const char *dst)
{
	int a = open(src, O_RDONLY), b = open(dst, O_RDWR);
	struct stat sa, sb;
	char *buf;

	assert_true(a >= 0 && b >= 0);
	assert_int_equal(fstat(a, &sa), 0);
	assert_int_equal(fstat(b, &sb), 0);
	assert_int_equal(sa.st_size, sb.st_size);
	buf = malloc((size_t)sa.st_size);
	assert_non_null(buf);
	assert_int_equal(pread(a, buf, (size_t)sa.st_size, 0), sa.st_size);
	assert_int_equal(pwrite(b, buf + INDEX_HEADER_SIZE,
	    (size_t)sa.st_size - INDEX_HEADER_SIZE, INDEX_HEADER_SIZE),
	    sa.st_size - INDEX_HEADER_SIZE);
	free(buf);
	close(a);
	close(b);
}

static void
expect_every_page_fails(struct fx *f)
{
	size_t nb = index_body_bytes(&f->ix);
	unsigned char *body = malloc(nb);

	assert_non_null(body);
	assert_true(f->ix.h.pages > 0);
	for (uint64_t p = 0; p < f->ix.h.pages; p++)
		if (index_read_body(&f->ix, p, body, NULL, 0) != INDEX_ERR_PAGE)
			fail_msg("page %llu of a foreign index passed",
			    (unsigned long long)p);
	free(body);
}

/*
 * Two texts with the same size, the same line ends and the same mtime:
 * without line checksums their pages are byte for byte the same bodies,
 * so only the index's identity tells them apart.
 */
static void
identity_two_texts(struct fx *f, unsigned m, int line_crc)
{
	char other[160], other_idx[160], err[512];
	size_t len;
	char *a = gen_lines(9000, 30, &len), *b = malloc(len);

	assert_non_null(b);
	for (size_t i = 0; i < len; i++)
		b[i] = a[i] == '\n' ? '\n' : (char)(a[i] == 'z' ? 'a' : a[i] + 1);
	snprintf(other, sizeof(other), "%s/other.txt", f->dir);
	snprintf(other_idx, sizeof(other_idx), "%s/other.txt.lidx", f->dir);
	write_file(f->text, a, len);
	write_file(other, b, len);
	set_mtime(f->text, 1000000000, 7);
	set_mtime(other, 1000000000, 7);
	build_crc(f, m, line_crc);
	assert_int_equal(build_m(other, other_idx, m, line_crc, err,
	    sizeof(err)), INDEX_OK);
	/* The other index's pages under this index's header. */
	copy_pages(other_idx, f->idx);
	open_ok(f);
	expect_every_page_fails(f);
	/* The other index's whole file: its header is not this text's. */
	assert_int_equal(rename(other_idx, f->idx), 0);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_STALE);
	free(a);
	free(b);
}

static void
t_identity_other_text_m1(void **state)
{
	identity_two_texts(*state, 1, 0);
	identity_two_texts(*state, 1, 1);
}

static void
t_identity_other_text_m4096(void **state)
{
	identity_two_texts(*state, 4096, 0);
	identity_two_texts(*state, 4096, 1);
}

/* The same text indexed twice: two identities, pages not interchangeable. */
static void
t_identity_same_text_twice(void **state)
{
	struct fx *f = *state;
	char first[160];
	size_t len;
	char *buf = gen_lines(5000, 30, &len);

	snprintf(first, sizeof(first), "%s/first.lidx", f->dir);
	write_file(f->text, buf, len);
	for (int crc = 0; crc <= 1; crc++) {
		build_crc(f, 16, crc);
		assert_int_equal(rename(f->idx, first), 0);
		build_crc(f, 16, crc);
		open_ok(f);
		check_bodies(f);
		copy_pages(first, f->idx);
		expect_every_page_fails(f);
	}
	free(buf);
}

/* ---- per-line checksums ---- */

/* Every line's stored CRC is crc32c of its bytes, LF included. */
static void
check_line_crcs(struct fx *f, const char *data, size_t len)
{
	unsigned m = f->ix.h.lines_per_page;
	size_t nb = index_body_bytes(&f->ix);
	unsigned char *body = malloc(nb);
	struct index_line l;
	uint64_t n = 0, start = 0;

	assert_non_null(body);
	assert_true(index_has_line_crc(&f->ix.h));
	for (size_t i = 0; i <= len; i++) {
		if (i < len ? data[i] != '\n' : start == len)
			continue;
		uint64_t end = i < len ? i + 1 : len;
		if (n % m == 0)
			assert_int_equal(index_read_body(&f->ix, n / m, body,
			    NULL, 0), INDEX_OK);
		index_body_line(&f->ix.h, body, n % m, &l);
		assert_int_equal(l.off, start);
		assert_int_equal(l.end, end);
		if (l.crc != crc32c(0, data + start, end - start))
			fail_msg("line %llu: crc %08x, want %08x",
			    (unsigned long long)n + 1, l.crc,
			    crc32c(0, data + start, end - start));
		n++;
		start = end;
	}
	assert_int_equal(n, f->ix.h.lines);
	/* Slots past the last line have CRC 0. */
	if (n % m != 0) {
		assert_int_equal(index_read_body(&f->ix, n / m, body, NULL, 0),
		    INDEX_OK);
		for (uint64_t k = n % m; k < m; k++) {
			index_body_line(&f->ix.h, body, k, &l);
			assert_int_equal(l.crc, 0);
			assert_int_equal(l.off, len);
		}
	}
	free(body);
}

static void
crc_roundtrip(struct fx *f, const char *data, size_t len, unsigned m)
{
	roundtrip(f, data, len, m);
	check_line_crcs(f, data, len);
}

static void
t_line_crc_shapes(void **state)
{
	struct fx *f = *state;
	static const char *texts[] = {
		"a\nbb\nccc",               /* last line without LF */
		"\n\n\n",                   /* empty lines */
		"one\r\ntwo\r\n\r\nthree\r\n", /* CRLF */
		"x",
		"\n",
		"abc\n\ndef\n\n\nlast",
	};

	for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
		for (unsigned m = 1; m <= 4; m *= 2)
			crc_roundtrip(f, texts[i], strlen(texts[i]), m);
}

/* Lines crossing the build's 1 MiB windows, one spanning several. */
static void
t_line_crc_across_chunks(void **state)
{
	struct fx *f = *state;
	size_t len, big = 2500000;
	char *buf = gen_lines(6000, 1500, &len);

	buf = realloc(buf, len + big + 2);
	assert_non_null(buf);
	memset(buf + len, 'L', big);
	buf[len + big] = '\n';
	buf[len + big + 1] = 'e'; /* and a last line without LF */
	len += big + 2;
	crc_roundtrip(f, buf, len, 64);
	crc_roundtrip(f, buf, len, 1);
	crc_roundtrip(f, buf, len, 4096);
	free(buf);
}

/*
 * Windows with no LF, lines ending right at a window's end, a text of
 * empty lines, and a last line without LF that began windows before.
 */
static void
t_line_crc_window_edges(void **state)
{
	struct fx *f = *state;
	const size_t w = 1u << 20;
	size_t len = 3 * w + 10;
	char *buf = malloc(len);

	assert_non_null(buf);
	memset(buf, 'x', len);
	buf[w - 1] = '\n';      /* ends right at the first window's end */
	buf[w] = '\n';          /* an empty line right after it */
	buf[2 * w + 7] = '\n';  /* the window between has no LF */
	crc_roundtrip(f, buf, len, 4);
	crc_roundtrip(f, buf, 3 * w, 2); /* the text ends at a window's end */
	buf[3 * w - 1] = '\n';
	crc_roundtrip(f, buf, 3 * w, 2);
	/* Full windows of empty lines: checked page by page, not line by
	 * line as roundtrip does (a page read per line). */
	memset(buf, '\n', 2 * w + 5);
	write_file(f->text, buf, 2 * w + 5);
	build_ok(f, 4096);
	open_ok(f);
	check_line_crcs(f, buf, 2 * w + 5);
	free(buf);
}

static void
t_open_line_crc_setting(void **state)
{
	struct fx *f = *state;
	char err[512];

	write_file(f->text, "a\nb\n", 4);
	build_crc(f, 2, 1);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_OK);
	index_close(&f->ix);
	f->ix_open = 0;
	assert_int_equal(index_open(&f->ix, f->idx, f->fd, 0, 0, err,
	    sizeof(err)), INDEX_ERR_PARAM);
	assert_non_null(strstr(err, "line checksums"));
	assert_int_equal(index_open(&f->ix, f->idx, f->fd, 2, 1, err,
	    sizeof(err)), INDEX_OK);
	f->ix_open = 1;
	build_crc(f, 2, 0);
	index_close(&f->ix);
	f->ix_open = 0;
	assert_int_equal(index_open(&f->ix, f->idx, f->fd, 0, 1, err,
	    sizeof(err)), INDEX_ERR_PARAM);
}

/* ---- deep check ---- */

/* The line (1-based) that holds byte off of data. */
static uint64_t
line_of(const char *data, size_t off)
{
	uint64_t n = 1;

	for (size_t i = 0; i < off; i++)
		n += data[i] == '\n';
	return n;
}

static void
t_deep_check(void **state)
{
	struct fx *f = *state;
	struct timespec ts[2];
	struct stat st;
	uint64_t bad, span, want[3];
	char err[512];
	size_t len, at[3];
	char *buf = gen_lines(20000, 100, &len); /* ~1 MB: sampled */
	int fd;

	write_file(f->text, buf, len);
	build_ok(f, 16);
	open_ok(f);
	assert_int_equal(index_check_deep(&f->ix, f->fd, NULL, NULL, &bad, err,
	    sizeof(err)), INDEX_OK);
	assert_int_equal(bad, 0);
	/* Flip bytes between the fingerprint's samples, one of them an LF:
	 * the header check passes, the lines do not. */
	span = (len - INDEX_FP_BLOCK) / (INDEX_FP_SAMPLES - 1);
	at[0] = INDEX_FP_BLOCK + 100;
	at[1] = (size_t)(3 * span + INDEX_FP_BLOCK + 700);
	while (buf[at[1]] != '\n')
		at[1]++;
	at[2] = (size_t)(9 * span + INDEX_FP_BLOCK + 1000);
	assert_true(at[2] + 200 < 10 * span);
	for (int i = 0; i < 3; i++)
		want[i] = line_of(buf, at[i]);
	assert_true(want[0] < want[1] && want[1] < want[2]);
	assert_int_equal(stat(f->text, &st), 0);
	fd = open(f->text, O_RDWR);
	assert_true(fd >= 0);
	for (int i = 0; i < 3; i++) {
		char c = buf[at[i]] == '\n' ? 'N' : buf[at[i]] ^ 0x20;
		assert_int_equal(pwrite(fd, &c, 1, (off_t)at[i]), 1);
	}
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	assert_int_equal(futimens(fd, ts), 0);
	close(fd);
	open_ok(f);
	assert_int_equal(index_check_deep(&f->ix, f->fd, NULL, NULL, &bad, err,
	    sizeof(err)), INDEX_ERR_SOURCE);
	assert_int_equal(bad, 3);
	{
		char list[128];
		snprintf(list, sizeof(list), "line %llu, %llu, %llu",
		    (unsigned long long)want[0], (unsigned long long)want[1],
		    (unsigned long long)want[2]);
		if (strstr(err, list) == NULL)
			fail_msg("%s: does not name %s", err, list);
	}
	free(buf);
}

static void
t_deep_check_needs_line_crcs(void **state)
{
	struct fx *f = *state;
	uint64_t bad = 7;
	char err[512];

	write_file(f->text, "a\nb\n", 4);
	build_crc(f, 2, 0);
	open_ok(f);
	assert_int_equal(index_check_deep(&f->ix, f->fd, NULL, NULL, &bad, err,
	    sizeof(err)), INDEX_ERR_ARG);
	assert_int_equal(bad, 0);
}

static void
t_deep_check_bad_page(void **state)
{
	struct fx *f = *state;
	uint64_t bad;
	char err[512];
	size_t len;
	char *buf = gen_lines(100, 20, &len);

	roundtrip(f, buf, len, 8);
	flip_byte(f->idx, (off_t)(INDEX_HEADER_SIZE + 4 * f->ix.h.page_bytes +
	    8));
	assert_int_equal(index_check_deep(&f->ix, f->fd, NULL, NULL, &bad, err,
	    sizeof(err)), INDEX_ERR_PAGE);
	assert_non_null(strstr(err, "page 4"));
	free(buf);
}

/*
 * A page that passes its checksum but points at later text than the page
 * after it (forged, with a valid CRC): the deep check re-reads the text
 * for the next page instead of indexing before its buffer, and blames
 * exactly the forged page's lines.
 */
static void
t_deep_check_page_points_ahead(void **state)
{
	struct fx *f = *state;
	unsigned char body[8 + 8 * 4], num[8] = { 0 }, tr[4];
	uint64_t bad = 0;
	uint32_t crc;
	char err[512];
	int fd;

	write_file(f->text, "a\nb\nc\nd\ne\nf\ng\nh\ni\nj\nk\nl\n", 24);
	build_crc(f, 4, 1);
	open_ok(f);
	assert_int_equal(f->ix.h.page_bytes, sizeof(body) + 8);
	fd = open(f->idx, O_RDWR);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, body, sizeof(body), INDEX_HEADER_SIZE),
	    (ssize_t)sizeof(body));
	body[0] = 16; /* page 0's lines now are "i\n" .. "l\n", in order */
	crc = crc32c(crc32c(f->ix.h.page_seed, num, 8), body, sizeof(body));
	for (int i = 0; i < 4; i++)
		tr[i] = (unsigned char)(crc >> (8 * i));
	assert_int_equal(pwrite(fd, body, sizeof(body), INDEX_HEADER_SIZE),
	    (ssize_t)sizeof(body));
	assert_int_equal(pwrite(fd, tr, 4, INDEX_HEADER_SIZE +
	    (off_t)sizeof(body)), 4);
	close(fd);
	assert_int_equal(index_check_deep(&f->ix, f->fd, NULL, NULL, &bad, err,
	    sizeof(err)), INDEX_ERR_SOURCE);
	assert_int_equal(bad, 4);
	if (strstr(err, "line 1, 2, 3, 4)") == NULL)
		fail_msg("%s: does not name lines 1-4 alone", err);
}

/* The nearest good page is more than INDEX_REPAIR_PAGES back: too far. */
static void
t_rebuild_far(void **state)
{
	struct fx *f = *state;
	size_t nb, len;
	unsigned char *body;
	char err[512];
	char *buf = gen_lines(40, 20, &len);

	roundtrip(f, buf, len, 1);
	nb = index_body_bytes(&f->ix);
	body = malloc(nb);
	assert_non_null(body);
	for (uint64_t p = 1; p <= 9; p++)
		corrupt_page(f, p);
	/* Pages 9..2 fail: 10's origin is too far. */
	assert_int_equal(index_rebuild_body(&f->ix, f->fd, 10, body, UINT64_MAX,
	    err, sizeof(err)), INDEX_ERR_FAR);
	assert_non_null(strstr(err, "page 10"));
	assert_int_equal(index_rebuild_body(&f->ix, f->fd, 9, body, UINT64_MAX,
	    err, sizeof(err)), INDEX_ERR_FAR);
	/* Page 8: pages 7..1 fail, page 0 is good, 8 pages back. */
	assert_int_equal(index_rebuild_body(&f->ix, f->fd, 8, body, UINT64_MAX,
	    err, sizeof(err)), INDEX_OK);
	/* The same repair with too little scanning allowed. */
	assert_int_equal(index_rebuild_body(&f->ix, f->fd, 8, body, 10, err,
	    sizeof(err)), INDEX_ERR_FAR);
	assert_non_null(strstr(err, "10 bytes"));
	/* Page 12: page 11 is good, the scan is one line. */
	assert_int_equal(index_rebuild_body(&f->ix, f->fd, 12, body, 21, err,
	    sizeof(err)), INDEX_OK);
	free(body);
	free(buf);
}

/* Near: from the start of the text when the first pages are all bad. */
static void
t_rebuild_from_start(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(100, 20, &len);

	roundtrip(f, buf, len, 8);
	for (uint64_t p = 0; p < 6; p++)
		corrupt_page(f, p);
	check_rebuild(f, 6);
	free(buf);
}

/* ---- atomic creation ---- */

static void
t_killed_build_leaves_nothing_valid(void **state)
{
	struct fx *f = *state;
	char tmp[256], err[512];
	size_t len;
	char *buf = gen_lines(1000000, 60, &len); /* ~30 MB of text */
	struct stat st;
	pid_t pid;

	write_file(f->text, buf, len);
	free(buf);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		build_m(f->text, f->idx, 1, 1, NULL, 0);
		_exit(0);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", f->idx, (long)pid);
	/* Kill it part-way: once its temporary file has real content. */
	for (;;) {
		struct timespec ts = { 0, 1000000 };
		if (stat(tmp, &st) == 0 && st.st_size > (1 << 20))
			break;
		assert_int_equal(waitpid(pid, NULL, WNOHANG), 0);
		nanosleep(&ts, NULL);
	}
	kill(pid, SIGKILL);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	assert_int_equal(open_idx(f, 0, err, sizeof(err)), INDEX_ERR_MISSING);
	/* Not even the leftover temporary file passes for an index. */
	if (f->fd >= 0)
		assert_int_not_equal(index_open(&f->ix, tmp, f->fd, 0, -1, NULL, 0),
		    INDEX_OK);
}

static void
t_rebuild_keeps_old_index_until_rename(void **state)
{
	struct fx *f = *state;
	char err[512];

	roundtrip(f, "a\nb\n", 4, 2);
	/* A failed build (bad m) must not touch the good index. */
	assert_int_equal(build_m(f->text, f->idx, 6, 1, err, sizeof(err)), INDEX_ERR_ARG);
	assert_int_equal(open_idx(f, 2, err, sizeof(err)), INDEX_OK);
}

/* ---- build robustness ---- */

/*
 * A build past RLIMIT_FSIZE, with SIGXFSZ ignored as linesvr-index does:
 * the write fails with EFBIG, the message says so, no temporary file
 * stays behind.
 */
static void
t_build_file_too_large(void **state)
{
	struct fx *f = *state;
	char tmp[256];
	size_t len;
	char *buf = gen_lines(100000, 30, &len); /* index ~1.6 MB */
	int pfd[2], status;
	pid_t pid;

	write_file(f->text, buf, len);
	free(buf);
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct rlimit rl = { 256 << 10, 256 << 10 };
		char err[512] = "";
		enum index_status st;
		close(pfd[0]);
		signal(SIGXFSZ, SIG_IGN);
		if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
			_exit(3);
		st = build_m(f->text, f->idx, 16, 1, err, sizeof(err));
		if (write(pfd[1], err, strlen(err)) < 0)
			_exit(4);
		_exit(st == INDEX_ERR_IO ? 0 : 1);
	}
	close(pfd[1]);
	{
		char msg[512];
		ssize_t n = read(pfd[0], msg, sizeof(msg) - 1);
		msg[n > 0 ? n : 0] = '\0';
		close(pfd[0]);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
			fail_msg("child status %d: %s", status, msg);
		if (strstr(msg, "File too large") == NULL)
			fail_msg("message: %s", msg);
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", f->idx, (long)pid);
	assert_int_equal(access(tmp, F_OK), -1);
	assert_int_equal(access(f->idx, F_OK), -1);
}

/* A PID that no longer exists: a child that has been reaped. */
static pid_t
dead_pid(void)
{
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0)
		_exit(0);
	assert_int_equal(waitpid(pid, NULL, 0), pid);
	return pid;
}

static void
t_build_removes_stale_temps(void **state)
{
	struct fx *f = *state;
	char dead[256], live[256], other[256];
	pid_t d = dead_pid();

	snprintf(dead, sizeof(dead), "%s.tmp.%ld", f->idx, (long)d);
	snprintf(live, sizeof(live), "%s.tmp.%ld", f->idx, (long)getppid());
	/* Another index's temporary file is not this build's business. */
	snprintf(other, sizeof(other), "%s/u.lidx.tmp.%ld", f->dir, (long)d);
	write_file(dead, "junk", 4);
	write_file(live, "junk", 4);
	write_file(other, "junk", 4);
	roundtrip(f, "a\nb\n", 4, 2);
	assert_int_equal(access(dead, F_OK), -1);
	assert_int_equal(access(live, F_OK), 0);
	assert_int_equal(access(other, F_OK), 0);
}

static void
t_size_per_line(void **state)
{
	struct fx *f = *state;
	size_t len;
	char *buf = gen_lines(25 * INDEX_M_DEFAULT, 30, &len);

	roundtrip(f, buf, len, INDEX_M_DEFAULT);
	/* At most 8 bytes per line plus 1% (a partial last page is padded,
	 * which matters only for files of a few pages). */
	assert_true(f->ix.h.index_size <= 8 * f->ix.h.lines * 101 / 100);
	/* Without line checksums: 4 bytes per line (the 4 KiB header is 1%
	 * of this small index). */
	build_crc(f, INDEX_M_DEFAULT, 0);
	open_ok(f);
	assert_true(f->ix.h.index_size <= 4 * f->ix.h.lines * 102 / 100);
	free(buf);
}

static void
t_default_path(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(index_default_path("data/x.txt", out, sizeof(out)), 0);
	assert_string_equal(out, "data/x.txt.lidx");
	assert_int_equal(index_default_path("a-very-long-path-name-here.txt",
	    out, sizeof(out)), -1);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_crc32c_vector),
		cmocka_unit_test(t_count_lf_all_alignments),
		cmocka_unit_test(t_crc32c_runs),
		cmocka_unit_test(t_lf_ends_all_alignments),
		T(t_empty_file),
		T(t_one_byte_no_lf),
		T(t_one_byte_lf),
		T(t_no_trailing_newline),
		T(t_only_newlines),
		T(t_crlf_lines),
		T(t_one_8mib_line),
		T(t_arbitrary_bytes),
		T(t_m1),
		T(t_first_m_mplus1_last),
		T(t_exact_full_pages),
		T(t_full_pages_plus_one),
		T(t_every_page_boundary),
		T(t_many_lines_default_m),
		T(t_largest_m),
		T(t_wide_pages_over_4gib),
		T(t_compact_pages_by_default),
		T(t_page_out_of_order_refused),
		T(t_bodies_match_pages),
		T(t_bad_m),
		T(t_header_flip_every_byte),
		T(t_page_flip_detected),
		T(t_page_trailer_flip_detected),
		T(t_swapped_pages_detected),
		T(t_truncated_index),
		T(t_extended_index),
		T(t_wrong_magic),
		T(t_wrong_version),
		T(t_missing_index),
		T(t_missing_text),
		T(t_unwritable_index_dir),
		T(t_wrong_lines_per_page),
		T(t_stale_size),
		T(t_stale_mtime),
		T(t_stale_content_same_size_mtime),
		T(t_stale_content_large_file_sample),
		T(t_rebuild_middle_page),
		T(t_rebuild_first_page),
		T(t_rebuild_last_partial_page_no_lf),
		T(t_rebuild_after_bad_neighbours),
		T(t_rebuild_after_bad_first_page_m1),
		T(t_rebuild_after_bad_first_page_wide),
		T(t_rebuild_refuses_changed_text),
		T(t_identity_other_text_m1),
		T(t_identity_other_text_m4096),
		T(t_identity_same_text_twice),
		T(t_line_crc_shapes),
		T(t_line_crc_across_chunks),
		T(t_line_crc_window_edges),
		T(t_scan_of_shrunk_text),
		T(t_open_line_crc_setting),
		T(t_deep_check),
		T(t_deep_check_needs_line_crcs),
		T(t_deep_check_bad_page),
		T(t_deep_check_page_points_ahead),
		T(t_rebuild_far),
		T(t_rebuild_from_start),
		T(t_build_file_too_large),
		T(t_build_removes_stale_temps),
		T(t_killed_build_leaves_nothing_valid),
		T(t_rebuild_keeps_old_index_until_rename),
		T(t_size_per_line),
		cmocka_unit_test(t_default_path),
	};

	return cmocka_run_group_tests_name("index", tests, NULL, NULL);
}
