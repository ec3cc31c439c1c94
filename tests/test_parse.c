/*
 * Unit tests of parse: digits only, ranges, size suffixes, and every way a
 * number can be malformed or too big. A failed parse must leave *out as it
 * was, so each failure case checks a sentinel.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

#include <cmocka.h>

#include "parse.h"
#include "rng.h"

#define SENTINEL UINT64_C(0xdeadbeef)

static void
expect_u64(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL;

	assert_int_equal(parse_u64(s, &v), 0);
	assert_true(v == want);
}

static void
reject_u64(const char *s)
{
	uint64_t v = SENTINEL;

	assert_int_equal(parse_u64(s, &v), -1);
	assert_true(v == SENTINEL);
}

static void
expect_size(const char *s, uint64_t want)
{
	uint64_t v = SENTINEL;

	assert_int_equal(parse_size(s, &v), 0);
	assert_true(v == want);
}

static void
reject_size(const char *s)
{
	uint64_t v = SENTINEL;

	assert_int_equal(parse_size(s, &v), -1);
	assert_true(v == SENTINEL);
}

static void
u64_plain(void **state)
{
	(void)state;
	expect_u64("0", 0);
	expect_u64("7", 7);
	expect_u64("10497", 10497);
}

static void
u64_leading_zeros(void **state)
{
	(void)state;
	expect_u64("007", 7);
	expect_u64("0000000000000000000000000000001", 1);
	expect_u64("00", 0);
}

static void
u64_max(void **state)
{
	(void)state;
	expect_u64("18446744073709551615", UINT64_MAX);
}

static void
u64_overflow(void **state)
{
	(void)state;
	reject_u64("18446744073709551616");
	reject_u64("18446744073709551620");
	reject_u64("99999999999999999999");
	reject_u64("100000000000000000000");
}

static void
u64_empty_and_null(void **state)
{
	uint64_t v = SENTINEL;

	(void)state;
	reject_u64("");
	assert_int_equal(parse_u64(NULL, &v), -1);
	assert_true(v == SENTINEL);
}

static void
u64_sign(void **state)
{
	(void)state;
	reject_u64("-1");
	reject_u64("+1");
	reject_u64("-0");
}

static void
u64_whitespace(void **state)
{
	(void)state;
	reject_u64(" 1");
	reject_u64("1 ");
	reject_u64("1\n");
	reject_u64("\t1");
	reject_u64(" ");
}

static void
u64_junk(void **state)
{
	(void)state;
	reject_u64("1a");
	reject_u64("a1");
	reject_u64("0x10");
	reject_u64("1.0");
	reject_u64("1e3");
	reject_u64("1K");
}

static void
range_bounds_inclusive(void **state)
{
	uint64_t v = SENTINEL;

	(void)state;
	assert_int_equal(parse_u64_range("16", 16, 65536, &v), 0);
	assert_true(v == 16);
	assert_int_equal(parse_u64_range("65536", 16, 65536, &v), 0);
	assert_true(v == 65536);
	assert_int_equal(parse_u64_range("0", 0, 0, &v), 0);
	assert_true(v == 0);
}

static void
range_outside(void **state)
{
	uint64_t v = SENTINEL;

	(void)state;
	assert_int_equal(parse_u64_range("15", 16, 65536, &v), -1);
	assert_int_equal(parse_u64_range("65537", 16, 65536, &v), -1);
	assert_int_equal(parse_u64_range("1", 0, 0, &v), -1);
	assert_true(v == SENTINEL);
}

static void
range_full_width(void **state)
{
	uint64_t v = SENTINEL;

	(void)state;
	assert_int_equal(parse_u64_range("18446744073709551615", 0, UINT64_MAX,
	    &v), 0);
	assert_true(v == UINT64_MAX);
	v = SENTINEL;
	assert_int_equal(parse_u64_range("18446744073709551616", 0, UINT64_MAX,
	    &v), -1);
	assert_true(v == SENTINEL);
}

static void
range_junk(void **state)
{
	uint64_t v = SENTINEL;

	(void)state;
	assert_int_equal(parse_u64_range("", 0, 10, &v), -1);
	assert_int_equal(parse_u64_range("5x", 0, 10, &v), -1);
	assert_int_equal(parse_u64_range("-5", 0, 10, &v), -1);
	assert_int_equal(parse_u64_range(" 5", 0, 10, &v), -1);
	assert_true(v == SENTINEL);
}

static void
size_plain(void **state)
{
	(void)state;
	expect_size("0", 0);
	expect_size("1", 1);
	expect_size("1048576", 1048576);
	expect_size("0004", 4);
}

static void
size_suffixes(void **state)
{
	(void)state;
	expect_size("1K", 1024);
	expect_size("1M", 1048576);
	expect_size("1G", UINT64_C(1073741824));
	expect_size("256M", UINT64_C(268435456));
	expect_size("4K", 4096);
	expect_size("0G", 0);
}

static void
size_suffix_either_case(void **state)
{
	(void)state;
	expect_size("3k", 3072);
	expect_size("3m", UINT64_C(3) << 20);
	expect_size("3g", UINT64_C(3) << 30);
}

static void
size_suffix_junk(void **state)
{
	(void)state;
	reject_size("1KB");
	reject_size("1KK");
	reject_size("1T");
	reject_size("1B");
	reject_size("1k ");
	reject_size("1 K");
	reject_size("K");
	reject_size("1.5K");
	reject_size("K1");
}

static void
size_empty_sign_space(void **state)
{
	uint64_t v = SENTINEL;

	(void)state;
	reject_size("");
	reject_size("-1K");
	reject_size("+1K");
	reject_size(" 1K");
	assert_int_equal(parse_size(NULL, &v), -1);
	assert_true(v == SENTINEL);
}

static void
size_largest(void **state)
{
	(void)state;
	expect_size("18446744073709551615", UINT64_MAX);
	/* 2^34 - 1 gibibytes: the largest G value that fits. */
	expect_size("17179869183G", UINT64_MAX - (UINT64_C(1) << 30) + 1);
	expect_size("18014398509481983K", UINT64_MAX - 1023);
}

static void
size_overflow_from_suffix(void **state)
{
	(void)state;
	/* The digits fit in 64 bits; the product does not. */
	reject_size("17179869184G");
	reject_size("17592186044416M");
	reject_size("18014398509481984K");
	reject_size("18446744073709551615K");
}

static void
size_overflow_digits(void **state)
{
	(void)state;
	reject_size("18446744073709551616");
	reject_size("99999999999999999999999G");
}

/* The byte-at-a-time definition parse_digits must agree with. */
static size_t
reference_digits(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
		unsigned d = (unsigned)(s[i] - '0');

		if (v > (UINT64_MAX - d) / 10)
			return PARSE_OVERFLOW;
		v = v * 10 + d;
	}
	*out = v;
	return i;
}

/*
 * parse_digits, which takes 8 bytes at a time, against the reference on
 * runs of every length up to 24 followed by every kind of byte (the
 * bytes around '0' and '9', and those over 0xF9 whose +6 carries into the
 * next byte), with len cutting the run anywhere. Each input is copied to
 * the end of a heap block, so ASan catches any read past len.
 */
static void
digits_word_at_a_time(void **state)
{
	static const unsigned char after[] = { '/', ':', '0' - 16, '9' + 7,
	    0x00, ' ', '\r', '\n', 0xFA, 0xFF, 0x80, 'a' };
	uint64_t seed = 11, got, want;
	char buf[32];
	(void)state;

	for (int round = 0; round < 20000; round++) {
		size_t run = (size_t)(splitmix64(&seed) % 25);
		size_t total = run + 1 + (size_t)(splitmix64(&seed) % 8);
		size_t len = (size_t)(splitmix64(&seed) % (total + 1));
		char *block;

		for (size_t i = 0; i < total; i++)
			buf[i] = (char)(i < run ? '0' + splitmix64(&seed) % 10 :
			    after[splitmix64(&seed) % sizeof(after)]);
		block = malloc(len > 0 ? len : 1);
		assert_non_null(block);
		memcpy(block, buf, len);
		got = want = 12345;
		assert_int_equal(parse_digits(block, len, &got),
		    reference_digits(buf, len, &want));
		if (reference_digits(buf, len, &want) != PARSE_OVERFLOW)
			assert_true(got == want);
		free(block);
	}
}

/*
 * digits_in_word against counting byte by byte: every byte value at every
 * place after a run of digits, followed by bytes that borrow or carry
 * (0x00, 0xFF and those just outside '0'-'9') or by more digits.
 */
static void
digits_in_word_every_byte(void **state)
{
	static const unsigned char fill[] = { 0x00, 0xFF, '/', ':', '0', '9',
	    0x89, 0x8A };
	unsigned char w[8];
	uint64_t x;
	(void)state;

	for (unsigned at = 0; at < 8; at++)
		for (unsigned b = 0; b < 256; b++)
			for (size_t f = 0; f < sizeof(fill); f++) {
				unsigned want = 0;

				for (unsigned i = 0; i < 8; i++)
					w[i] = i < at ? (unsigned char)('0' +
					    (i * 7 + b) % 10) : i == at ?
					    (unsigned char)b : fill[f];
				while (want < 8 && w[want] >= '0' &&
				    w[want] <= '9')
					want++;
				memcpy(&x, w, 8); /* little-endian, as in use */
				assert_int_equal(digits_in_word(x), want);
			}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(u64_plain),
		cmocka_unit_test(digits_word_at_a_time),
		cmocka_unit_test(digits_in_word_every_byte),
		cmocka_unit_test(u64_leading_zeros),
		cmocka_unit_test(u64_max),
		cmocka_unit_test(u64_overflow),
		cmocka_unit_test(u64_empty_and_null),
		cmocka_unit_test(u64_sign),
		cmocka_unit_test(u64_whitespace),
		cmocka_unit_test(u64_junk),
		cmocka_unit_test(range_bounds_inclusive),
		cmocka_unit_test(range_outside),
		cmocka_unit_test(range_full_width),
		cmocka_unit_test(range_junk),
		cmocka_unit_test(size_plain),
		cmocka_unit_test(size_suffixes),
		cmocka_unit_test(size_suffix_either_case),
		cmocka_unit_test(size_suffix_junk),
		cmocka_unit_test(size_empty_sign_space),
		cmocka_unit_test(size_largest),
		cmocka_unit_test(size_overflow_from_suffix),
		cmocka_unit_test(size_overflow_digits),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
