/*
 * test_linecopy: answers to a batch of GETs from a mapped text, with a
 * store that holds nothing but what linecopy_answers reads (the text, its
 * counters, its setting of line checksums and its path for messages); and
 * the one-pass copy, LF scan and CRC it is built on (crc32c_copy_find),
 * against the three passes it replaces.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "crc32c.h"
#include "linecopy.h"
#include "store.h"
#include "text.h"

#define LINE_LEN 100
#define NLINES   100  /* 10,000 bytes: three 4 KiB pages */
#define BATCH    8

static struct store_counters ctr;
static struct store st;
static char path[64];
static char want[NLINES][LINE_LEN + 1];

/* Line i (0-based) of the text: LINE_LEN bytes with its LF. */
static void
make_line(char *p, int i)
{
	memset(p, 'a' + i % 26, LINE_LEN);
	snprintf(p, LINE_LEN, "line %03d ", i + 1);
	p[strlen(p)] = '-';
	p[LINE_LEN - 1] = '\n';
}

static int
setup(void **state)
{
	char err[256];
	int fd;

	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	memset(&st, 0, sizeof(st));
	st.ctr = &ctr;
	st.line_crc = 1;
	snprintf(path, sizeof(path), "/tmp/test_linecopy.XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	for (int i = 0; i < NLINES; i++) {
		make_line(want[i], i);
		if (write(fd, want[i], LINE_LEN) != LINE_LEN)
			return -1;
	}
	close(fd);
	snprintf(st.text_path, sizeof(st.text_path), "%s", path);
	return text_open(&st.text, path, UINT64_MAX, err, sizeof(err));
}

static int
teardown(void **state)
{
	(void)state;
	text_close(&st.text);
	unlink(path);
	return 0;
}

/* A GET of line n (1-based) as the store would look it up. */
static struct pending_get
get_of(int n)
{
	struct pending_get g = { .ok = 1 };

	g.line.n = (uint64_t)n;
	g.line.off = (uint64_t)(n - 1) * LINE_LEN;
	g.line.len = LINE_LEN;
	g.line.crc = crc32c(0, want[n - 1], LINE_LEN);
	return g;
}

/* The answers expected for lines ns[0..k) (0: ERR). */
static size_t
expected(char *out, const int *ns, unsigned k)
{
	size_t used = 0;

	for (unsigned i = 0; i < k; i++) {
		if (ns[i] == 0) {
			memcpy(out + used, "ERR\r\n", 5);
			used += 5;
			continue;
		}
		memcpy(out + used, "OK\r\n", 4);
		memcpy(out + used + 4, want[ns[i] - 1], LINE_LEN);
		used += 4 + LINE_LEN;
	}
	return used;
}

/* The answers to GETs of the lines in asked (0: a GET whose lookup
 * failed) are those of the lines in answered (0: ERR). */
static void
check_batch(const int *asked, const int *answered, unsigned k,
    unsigned errs_wanted)
{
	struct pending_get g[BATCH] = { 0 };
	char out[BATCH * (LINE_LEN + 5)];
	char exp[sizeof(out)];
	unsigned errs = 99;
	size_t n, e;

	for (unsigned i = 0; i < k; i++) {
		g[i] = get_of(asked[i] == 0 ? 1 : asked[i]);
		g[i].ok = asked[i] != 0;
	}
	n = linecopy_answers(&st, g, k, out, &errs);
	e = expected(exp, answered, k);
	assert_int_equal(n, e);
	assert_memory_equal(out, exp, e);
	assert_int_equal(errs, errs_wanted);
}

static void
t_batch_in_order(void **state)
{
	static const int ns[] = { 1, 50, 0, 2, 100, 50 };
	(void)state;

	check_batch(ns, ns, 6, 1);
	assert_int_equal(atomic_load(&ctr.lines_checked_bad), 0);
}

/*
 * The text cut to its first page under the mapping: reading line 50 (on
 * the second page) raises SIGBUS. That line alone is ERR, counted; the
 * lines before and after it in the batch, and a later batch, are whole.
 */
static void
t_shrunk_text_mid_batch(void **state)
{
	static const int asked[] = { 1, 50, 2, 100, 3 };
	static const int answered[] = { 1, 0, 2, 0, 3 };
	(void)state;

	/* Here, not in setup: cmocka sets its own SIGBUS handler per test. */
	text_install_guard();
	assert_int_equal(truncate(path, 4096), 0);
	check_batch(asked, answered, 5, 2);
	assert_int_equal(atomic_load(&ctr.lines_checked_bad), 2);
	check_batch(answered, answered, 5, 2);
}

/* A line changed in place fails its checksum; its neighbours are whole. */
static void
t_changed_line(void **state)
{
	static const int asked[] = { 4, 5, 6 };
	static const int answered[] = { 4, 0, 6 };
	FILE *f = fopen(path, "r+");
	(void)state;

	assert_non_null(f);
	assert_int_equal(fseek(f, 4 * LINE_LEN + 20, SEEK_SET), 0);
	assert_int_equal(fputc('#', f), '#');
	fclose(f);
	check_batch(asked, answered, 3, 1);
	assert_int_equal(atomic_load(&ctr.lines_checked_bad), 1);
}

/*
 * crc32c_copy_find against memcpy, memchr and crc32c_portable, for every
 * length up to 200, the scan over all bytes or all but the last, an LF at
 * every place (or none), and odd offsets: the same bytes, the same CRC,
 * the same verdict, and nothing written past len.
 */
static void
t_copy_find_matches_three_passes(void **state)
{
	unsigned char src[256], dst[256 + 16];
	(void)state;

	for (size_t i = 0; i < sizeof(src); i++)
		src[i] = (unsigned char)(' ' + (i * 7) % 90);
	for (size_t len = 0; len <= 200; len++) {
		for (size_t lf = 0; lf <= len; lf++) {
			for (size_t drop = 0; drop <= (len > 0); drop++) {
				size_t scan = len - drop, off = len % 3;
				unsigned char *s = src + off;
				unsigned char save = lf < len ? s[lf] : 0;
				int found = -1;
				uint32_t crc;

				if (lf < len)
					s[lf] = '\n';
				memset(dst, 0xA5, sizeof(dst));
				crc = crc32c_copy_find(5, dst, s, len, '\n', scan,
				    &found);
				assert_int_equal(crc, crc32c_portable(5, s, len));
				assert_memory_equal(dst, s, len);
				assert_int_equal(dst[len], 0xA5);
				assert_int_equal(found, memchr(s, '\n', scan) !=
				    NULL);
				if (lf < len)
					s[lf] = save;
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_batch_in_order, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_shrunk_text_mid_batch, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_changed_line, setup,
		    teardown),
		cmocka_unit_test(t_copy_find_matches_three_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
