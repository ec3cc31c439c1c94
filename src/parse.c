/*
 * parse: text to numbers for the config reader, the command lines and the
 * load generator.
 *
 * strtoull is not used: it skips leading whitespace, accepts a sign (and
 * negates "-1" into a huge value), honours the locale and needs errno
 * juggling to see overflow. Every caller here wants plain ASCII digits or
 * a clear failure, so the digits are converted by hand with an explicit
 * overflow check. On failure *out is left untouched.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "parse.h"

/* The digits that start s (NUL-terminated) into *v, their count into *n:
 * 0, or -1 when there are none or they do not fit in 64 bits. */
static int
leading_digits(const char *s, size_t *n, uint64_t *v)
{
	*n = parse_digits(s, strlen(s), v);
	return *n == 0 || *n == PARSE_OVERFLOW ? -1 : 0;
}

int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v;
	size_t n;

	if (s == NULL || leading_digits(s, &n, &v) < 0 || s[n] != '\0')
		return -1;
	*out = v;
	return 0;
}

int
parse_u64_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out)
{
	uint64_t v;

	if (parse_u64(s, &v) == -1 || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

/* Binary shift of a size suffix, or -1 if c is not one. */
static int
suffix_shift(char c)
{
	switch (c) {
	case 'k': case 'K':
		return 10;
	case 'm': case 'M':
		return 20;
	case 'g': case 'G':
		return 30;
	default:
		return -1;
	}
}

int
parse_size(const char *s, uint64_t *out)
{
	uint64_t v;
	size_t n;
	int shift = 0;

	if (s == NULL || leading_digits(s, &n, &v) < 0)
		return -1;
	if (s[n] != '\0') {
		/* One suffix letter, and it must be the last byte. */
		if ((shift = suffix_shift(s[n])) == -1 || s[n + 1] != '\0')
			return -1;
	}
	/* "17179869184G" is 2^64: the digits fit, the bytes do not. */
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}
