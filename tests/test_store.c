/*
 * test_store: the store's line check on its own, with a store that holds
 * nothing but what store_check_line reads (its counters, its setting of
 * line checksums and its path for the message).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "crc32c.h"
#include "store.h"

static struct store_counters ctr;
static struct store st;

static int
setup(void **state)
{
	(void)state;
	memset(&ctr, 0, sizeof(ctr));
	memset(&st, 0, sizeof(st));
	st.ctr = &ctr;
	st.line_crc = 1;
	snprintf(st.text_path, sizeof(st.text_path), "%s", "text.txt");
	return 0;
}

static struct store_line
line_of(const char *bytes, size_t len)
{
	struct store_line l = { .n = 7, .off = 0, .len = len,
	    .crc = crc32c(0, bytes, len), .add_lf = 0 };
	return l;
}

/* The indexed line passes; one byte changed fails its checksum. */
static void
t_line_and_checksum(void **state)
{
	static const char line[] = "line 7 of the served text\n";
	char bad[sizeof(line)];
	struct store_line l = line_of(line, sizeof(line) - 1);
	(void)state;

	assert_int_equal(store_check_line(&st, &l, line), 0);
	memcpy(bad, line, sizeof(line));
	bad[3] ^= 1;
	assert_int_equal(store_check_line(&st, &l, bad), -1);
	assert_int_equal(atomic_load(&ctr.lines_checked_bad), 1);
}

/*
 * CRC-32C is linear: these two lines of one length have the same CRC,
 * and the second holds LFs (it would answer as three lines). A matching
 * checksum must not let it out.
 */
static void
t_forged_checksum_with_lf_is_refused(void **state)
{
	static const char line[] = "line 7 of the served text\n";
	static const char forged[] =
	    "evil\nOK\r\nforged\xda\xde\x0f)xxxxxx\n";
	struct store_line l = line_of(line, sizeof(line) - 1);
	(void)state;

	assert_int_equal(sizeof(forged), sizeof(line));
	assert_int_equal(crc32c(0, forged, sizeof(forged) - 1), l.crc);
	assert_int_equal(store_check_line(&st, &l, forged), -1);
	assert_int_equal(atomic_load(&ctr.lines_checked_bad), 1);
}

/* Without line checksums the framing alone decides. */
static void
t_framing_without_checksums(void **state)
{
	static const char line[] = "abc\n", early[] = "a\nc\n", noend[] = "abcd";
	struct store_line l = line_of(line, 4);
	(void)state;

	st.line_crc = 0;
	assert_int_equal(store_check_line(&st, &l, line), 0);
	assert_int_equal(store_check_line(&st, &l, early), -1);
	assert_int_equal(store_check_line(&st, &l, noend), -1);
	assert_int_equal(atomic_load(&ctr.lines_checked_bad), 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(t_line_and_checksum, setup),
		cmocka_unit_test_setup(t_forged_checksum_with_lf_is_refused,
		    setup),
		cmocka_unit_test_setup(t_framing_without_checksums, setup),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
