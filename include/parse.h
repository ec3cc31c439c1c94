/*
 * parse: careful conversion of text to numbers, shared by the config reader,
 * the command lines and the load generator. Every function rejects empty
 * input, signs, trailing junk and overflow instead of guessing.
 */
#ifndef LINESVR_PARSE_H
#define LINESVR_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* parse_digits' answer when the digits do not fit in 64 bits. */
#define PARSE_OVERFLOW ((size_t)-1)

/*
 * The one digit converter: the run of ASCII digits that starts s, within
 * its first len bytes, into *out. Returns the run's length (0 when s does
 * not start with a digit; *out is then 0), or PARSE_OVERFLOW. Callers
 * check what follows the run. Inline because the request parser calls it
 * for every GET; up to 19 digits cannot overflow, so only longer runs pay
 * the check.
 */
static inline size_t
parse_digits(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		unsigned d = (unsigned)(unsigned char)s[i] - '0';

		if (d > 9)
			break;
		/* v * 10 + d must not exceed UINT64_MAX. */
		if (i >= 19 && v > (UINT64_MAX - d) / 10)
			return PARSE_OVERFLOW;
		v = v * 10 + d;
	}
	*out = v;
	return i;
}

/* Decimal digits only ("007" is 7). 0 on success, -1 otherwise. */
int parse_u64(const char *s, uint64_t *out);

/* Like parse_u64, then checks lo <= value <= hi. */
int parse_u64_range(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/*
 * A byte size: digits with an optional K, M or G suffix (powers of 1024,
 * either case), e.g. "256M". 0 on success, -1 on junk or overflow.
 */
int parse_size(const char *s, uint64_t *out);

#endif
