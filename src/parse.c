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

#include "parse.h"

/* Length of the run of ASCII digits at the start of s. */
static size_t
digit_run(const char *s)
{
	size_t n = 0;

	while (s[n] >= '0' && s[n] <= '9')
		n++;
	return n;
}

int
parse_u64(const char *s, uint64_t *out)
{
	size_t n;

	if (s == NULL)
		return -1;
	n = digit_run(s);
	if (s[n] != '\0')
		return -1;
	return parse_digits(s, n, out);
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

	if (s == NULL)
		return -1;
	n = digit_run(s);
	if (s[n] != '\0') {
		/* One suffix letter, and it must be the last byte. */
		if ((shift = suffix_shift(s[n])) == -1 || s[n + 1] != '\0')
			return -1;
	}
	if (parse_digits(s, n, &v) == -1)
		return -1;
	/* "17179869184G" is 2^64: the digits fit, the bytes do not. */
	if (v > (UINT64_MAX >> shift))
		return -1;
	*out = v << shift;
	return 0;
}
