/*
 * proto: the request parser of the wire protocol (SPEC.md section 2).
 *
 * It runs once per request on the server's hot path: a plain "GET n" line
 * is recognised in one pass; any other line's end is found with memchr
 * (bounded by max_request, so an endless line costs at most max_request
 * bytes of scanning) and the line is then walked once. Numbers
 * are parsed by hand: strtoull would need a NUL-terminated copy, honours the
 * locale and accepts signs and leading spaces the protocol forbids.
 *
 * *req and *consumed are written only when the result is PROTO_REQUEST.
 */
#include <stdint.h>
#include <string.h>

#include "parse.h"
#include "proto.h"

/* GET takes at most this many digits, leading zeros included. */
#define PROTO_MAX_DIGITS 20
_Static_assert(PROTO_GET_LINE_MAX == 4 + (PROTO_MAX_DIGITS - 1) + 2,
    "PROTO_GET_LINE_MAX is plain_get's longest line");

/*
 * No verb or number contains a control byte, so the grammar alone would
 * turn most of them into REQ_BAD; they are still classified here so the
 * SPEC's rule holds by itself and not by what the verbs happen to be.
 */
enum byte_class {
	BYTE_TOKEN, /* part of a token: printable ASCII and every byte >= 0x80 */
	BYTE_SPACE, /* space or tab: separates tokens */
	BYTE_CTRL   /* any other control byte: the line is REQ_BAD */
};

static enum byte_class
byte_class(unsigned char c)
{
	if (c == ' ' || c == '\t')
		return BYTE_SPACE;
	if (c < 0x20 || c == 0x7f)
		return BYTE_CTRL;
	return BYTE_TOKEN;
}

/*
 * Find the next token in [*pp, end) and advance *pp past it. Returns 1
 * with the token in *tok and *toklen, 0 when only spaces and tabs were
 * left, -1 on a control byte. Every byte before the new *pp has been
 * classified, so a line walked to its end by this function has had all of
 * its bytes checked.
 */
static int
next_token(const unsigned char **pp, const unsigned char *end,
    const unsigned char **tok, size_t *toklen)
{
	const unsigned char *p = *pp;
	const unsigned char *start;

	while (p < end && byte_class(*p) == BYTE_SPACE)
		p++;
	if (p == end) {
		*pp = p;
		return 0;
	}
	start = p;
	while (p < end && byte_class(*p) == BYTE_TOKEN)
		p++;
	if (p < end && byte_class(*p) == BYTE_CTRL)
		return -1;
	*tok = start;
	*toklen = (size_t)(p - start);
	*pp = p;
	return 1;
}

/*
 * Case-insensitive match of a token against a lower-case ASCII word. For a
 * letter, c | 0x20 equals it only when c is that letter in either case, so
 * this needs no locale; the words are all letters.
 */
static int
token_is(const unsigned char *tok, size_t toklen, const char *word,
    size_t wordlen)
{
	size_t i;

	if (toklen != wordlen)
		return 0;
	for (i = 0; i < toklen; i++)
		if ((tok[i] | 0x20) != (unsigned char)word[i])
			return 0;
	return 1;
}

static enum req_type
verb_type(const unsigned char *tok, size_t toklen)
{
	if (token_is(tok, toklen, "get", 3))
		return REQ_GET;
	if (token_is(tok, toklen, "quit", 4))
		return REQ_QUIT;
	if (token_is(tok, toklen, "stats", 5))
		return REQ_STATS;
	if (token_is(tok, toklen, "shutdown", 8))
		return REQ_SHUTDOWN;
	return REQ_BAD;
}

/* 1 to PROTO_MAX_DIGITS decimal digits that fit in 64 bits. 0 or -1. */
static int
parse_number(const unsigned char *tok, size_t toklen, uint64_t *out)
{
	if (toklen > PROTO_MAX_DIGITS ||
	    parse_digits((const char *)tok, toklen, out) != toklen)
		return -1;
	return 0;
}

/*
 * The request nearly every client sends, "GET" (any case), one space, 1
 * to 19 digits and LF or CRLF, recognised in one pass, with no search for
 * the LF first: the line's length with its LF, or 0 for anything else,
 * which the full path then classifies. 19 digits cannot overflow 64 bits;
 * longer numbers take the full path. len is at most max_request, so a
 * line found here is not too long.
 */
static __attribute__((noinline)) size_t
plain_get_slow(const unsigned char *p, size_t len, uint64_t *n)
{
	size_t i, digits;

	if (len < 6 || (p[0] | 0x20) != 'g' || (p[1] | 0x20) != 'e' ||
	    (p[2] | 0x20) != 't' || p[3] != ' ')
		return 0;
	digits = parse_digits((const char *)p + 4, len - 4 <
	    PROTO_MAX_DIGITS - 1 ? len - 4 : PROTO_MAX_DIGITS - 1, n);
	i = 4 + digits;
	if (digits == 0 || i >= len)
		return 0;
	if (p[i] == '\r' && i + 1 < len)
		i++;
	return p[i] == '\n' ? i + 1 : 0;
}

/*
 * plain_get for what the load generator and most clients send, 1 to 6
 * digits, when 12 bytes may be read: the verb in one compare, the digits
 * and the two bytes after them from one 8-byte load; anything else goes
 * to plain_get_slow, which decides the same way byte by byte.
 */
static inline size_t
plain_get(const unsigned char *p, size_t len, uint64_t *n)
{
#if defined(__GNUC__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	/* "get " with the first three bytes in any case: the case bit
	 * (0x20) is set in them, not in the space. */
	const uint32_t get_ = 0x20746567u, fold = 0x00202020u;
	uint32_t verb;
	uint64_t x;
	unsigned k, after;

	if (len >= 12) {
		memcpy(&verb, p, 4);
		if ((verb | fold) != get_)
			return 0;
		memcpy(&x, p + 4, 8);
		k = digits_in_word(x);
		if (k >= 1 && k <= 6) {
			after = (unsigned)(x >> (8 * k)) & 0xFFFF;
			if ((after & 0xFF) == '\n' || after == ('\r' | '\n' << 8)) {
				*n = digits_value(x, k);
				return 4 + k + 1 + ((after & 0xFF) == '\r');
			}
		}
	}
#endif
	return plain_get_slow(p, len, n);
}

/*
 * Classify the line [p, end), CR and LF already removed. Any malformation
 * short-circuits to REQ_BAD: an ERR answer does not say which rule failed,
 * so the rest of the line need not be checked.
 */
static enum req_type
parse_line(const unsigned char *p, const unsigned char *end, uint64_t *n)
{
	const unsigned char *tok = NULL;
	size_t toklen = 0;
	enum req_type type;
	int r;

	r = next_token(&p, end, &tok, &toklen);
	if (r <= 0)
		return r == 0 ? REQ_EMPTY : REQ_BAD;
	type = verb_type(tok, toklen);
	if (type == REQ_BAD)
		return REQ_BAD;
	if (type == REQ_GET) {
		if (next_token(&p, end, &tok, &toklen) != 1 ||
		    parse_number(tok, toklen, n) == -1)
			return REQ_BAD;
	}
	/* Nothing but spaces and tabs may follow the last token. */
	if (next_token(&p, end, &tok, &toklen) != 0)
		return REQ_BAD;
	return type;
}

/*
 * Every line but a plain GET: find its end, then classify it. Kept out of
 * line so that proto_parse, which runs for every request, needs no stack
 * frame for the plain GET.
 */
static __attribute__((noinline)) enum proto_result
parse_other(const unsigned char *line, size_t scan, size_t max_request,
    struct request *req, size_t *consumed)
{
	const unsigned char *lf = NULL;
	uint64_t n = 0;
	size_t end;

	/* memchr is not given a zero length: buf may be NULL when len is 0. */
	if (scan > 0)
		lf = memchr(line, '\n', scan);
	if (lf == NULL)
		return scan == max_request ? PROTO_TOO_LONG : PROTO_NEED_MORE;

	end = (size_t)(lf - line);
	if (end > 0 && line[end - 1] == '\r')
		end--;
	req->type = parse_line(line, line + end, &n);
	req->n = req->type == REQ_GET ? n : 0;
	*consumed = (size_t)(lf - line) + 1;
	return PROTO_REQUEST;
}

enum proto_result
proto_parse(const char *buf, size_t len, size_t max_request,
    struct request *req, size_t *consumed)
{
	size_t scan = len < max_request ? len : max_request;
	const unsigned char *line = (const unsigned char *)buf;
	size_t end;
	uint64_t n;

	if ((end = plain_get(line, scan, &n)) > 0) {
		req->type = REQ_GET;
		req->n = n;
		*consumed = end;
		return PROTO_REQUEST;
	}
	return parse_other(line, scan, max_request, req, consumed);
}

unsigned
proto_get_run(const char *buf, size_t len, size_t max_request, uint64_t *n,
    size_t *end, unsigned max)
{
	const unsigned char *p = (const unsigned char *)buf;
	size_t pos = 0, used;
	unsigned k;

	/* buf may be NULL when len is 0. */
	for (k = 0; k < max && pos < len; k++) {
		used = plain_get(p + pos, len - pos < max_request ? len - pos :
		    max_request, &n[k]);
		if (used == 0)
			break;
		pos += used;
		end[k] = pos;
	}
	return k;
}
