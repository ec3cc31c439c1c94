/*
 * parse: careful conversion of text to numbers, shared by the config reader,
 * the command lines and the load generator. Every function rejects empty
 * input, signs, trailing junk and overflow instead of guessing.
 */
#ifndef LINESVR_PARSE_H
#define LINESVR_PARSE_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

/*
 * How many of the 8 bytes in x (a little-endian load of text: the first
 * byte lowest) lead with ASCII digits, 0 to 8. Less '0', a digit is 0 to
 * 9: the top bit of its byte is clear, and stays clear when 0x76 is added.
 * Any other byte sets one of the two (bytes under '0' wrap around). The
 * borrows and carries between bytes can only spoil the bytes after a
 * non-digit, which are not counted.
 */
static inline unsigned
digits_in_word(uint64_t x)
{
	uint64_t t = x - 0x3030303030303030ull;
	uint64_t bad = (t | (t + 0x7676767676767676ull)) &
	    0x8080808080808080ull;

	return bad == 0 ? 8 : (unsigned)__builtin_ctzll(bad) / 8;
}

/*
 * The value of the k (1 to 8) digits that lead x, loaded as above: shifted
 * to the top so that the missing ones read as leading zeros, then pairs,
 * quads and the two halves combined, three multiplies in all.
 */
static inline uint64_t
digits_value(uint64_t x, unsigned k)
{
	uint64_t v = (x - 0x3030303030303030ull) << (64 - 8 * k);

	v = (v * 10 + (v >> 8)) & 0x00FF00FF00FF00FFull;
	v = (v * 100 + (v >> 16)) & 0x0000FFFF0000FFFFull;
	return (v * 10000 + (v >> 32)) & 0xFFFFFFFFull;
}

/* parse_digits' answer when the digits do not fit in 64 bits. */
#define PARSE_OVERFLOW ((size_t)-1)

/*
 * The one digit converter: the run of ASCII digits that starts s, within
 * its first len bytes, into *out. Returns the run's length (0 when s does
 * not start with a digit; *out is then 0), or PARSE_OVERFLOW. Callers
 * check what follows the run. Inline because the request parser calls it
 * for every GET: when 8 bytes may be read, up to 8 digits are taken at
 * once (a line number is rarely longer); then a byte at a time. Up to 19
 * digits cannot overflow, so only longer runs pay the check.
 */
static inline size_t
parse_digits(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i = 0;

#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	if (len >= 8) {
		uint64_t x;

		memcpy(&x, s, 8);
		i = digits_in_word(x);
		if (i > 0)
			v = digits_value(x, (unsigned)i);
		if (i < 8) {
			*out = v;
			return i;
		}
	}
#endif
	for (; i < len; i++) {
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
