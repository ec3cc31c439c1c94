/*
 * fuzz_proto: src/proto.c's proto_parse (and proto_get_run, its run of
 * plain GETs) against a reference model of
 * SPEC.md section 2, written here from the SPEC's wording and proto.h's
 * contract, slowly and plainly: find the LF, check the limit, drop one
 * CR, refuse control bytes, split on spaces and tabs, then match the
 * command table. Any disagreement aborts.
 *
 * Input: two bytes of max_request (little-endian, 0-65535), one byte that
 * picks a prefix to parse as well (requests arrive a few bytes at a time),
 * then the bytes a client sent. The stream is parsed request after
 * request, as the server does, each time from an exact-size copy so that
 * AddressSanitizer sees any read past the end.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "proto.h"

/* ---- the model ---- */

#define MODEL_MAX_DIGITS 20
#define MODEL_U64_MAX    "18446744073709551615"

struct model {
	enum proto_result res;
	enum req_type type;	/* when res is PROTO_REQUEST */
	uint64_t n;		/* when type is REQ_GET */
	size_t consumed;	/* when res is PROTO_REQUEST */
};

static int
model_space(unsigned char c)
{
	return c == ' ' || c == '\t';
}

/* "Any other control byte": C0 controls but tab, and DEL. */
static int
model_control(unsigned char c)
{
	return (c <= 0x1f && c != '\t') || c == 0x7f;
}

/* ASCII case folding by table lookup of the letters only. */
static int
model_word(const unsigned char *t, size_t len, const char *word)
{
	static const char upper[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
	static const char lower[] = "abcdefghijklmnopqrstuvwxyz";
	const char *u;
	size_t i;

	if (len != strlen(word))
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = t[i];

		if (c != 0 && (u = strchr(upper, c)) != NULL)
			c = (unsigned char)lower[u - upper];
		if (c != (unsigned char)word[i])
			return 0;
	}
	return 1;
}

/*
 * 1 to 20 digits, all counted (leading zeros too), whose value fits in 64
 * bits: decided on the digits as text, by comparing the significant ones
 * with UINT64_MAX written out, so no arithmetic can overflow here.
 */
static int
model_number(const unsigned char *t, size_t len, uint64_t *n)
{
	size_t i, z;

	if (len < 1 || len > MODEL_MAX_DIGITS)
		return 0;
	for (i = 0; i < len; i++)
		if (t[i] < '0' || t[i] > '9')
			return 0;
	for (z = 0; z < len && t[z] == '0'; z++)
		;
	if (len - z == strlen(MODEL_U64_MAX) &&
	    memcmp(t + z, MODEL_U64_MAX, len - z) > 0)
		return 0;
	*n = 0;
	for (i = z; i < len; i++)
		*n = *n * 10 + (uint64_t)(t[i] - '0');
	return 1;
}

static struct model
model_parse(const unsigned char *b, size_t len, size_t max)
{
	struct model m = { PROTO_NEED_MORE, REQ_BAD, 0, 0 };
	const unsigned char *tok[3];
	size_t toklen[3], ntok = 0, lf, end, i;

	/* Framing: the line is the bytes up to and including the first LF. */
	for (lf = 0; lf < len && b[lf] != '\n'; lf++)
		;
	/* At most max bytes, its LF counted; decided once max have come. */
	if (lf == len || lf + 1 > max) {
		m.res = len >= max ? PROTO_TOO_LONG : PROTO_NEED_MORE;
		return m;
	}
	m.res = PROTO_REQUEST;
	m.consumed = lf + 1;
	end = lf;
	if (end > 0 && b[end - 1] == '\r')
		end--;

	for (i = 0; i < end; i++)
		if (model_control(b[i]))
			return m;	/* REQ_BAD */
	for (i = 0; i < end;) {
		if (model_space(b[i])) {
			i++;
			continue;
		}
		if (ntok == 3)
			return m;	/* no command takes three tokens */
		tok[ntok] = b + i;
		while (i < end && !model_space(b[i]))
			i++;
		toklen[ntok] = (size_t)(b + i - tok[ntok]);
		ntok++;
	}

	if (ntok == 0)
		m.type = REQ_EMPTY;
	else if (model_word(tok[0], toklen[0], "get")) {
		/* GET 0 is a well-formed GET: the server answers it ERR. */
		if (ntok == 2 && model_number(tok[1], toklen[1], &m.n))
			m.type = REQ_GET;
	} else if (ntok == 1 && model_word(tok[0], toklen[0], "quit"))
		m.type = REQ_QUIT;
	else if (ntok == 1 && model_word(tok[0], toklen[0], "shutdown"))
		m.type = REQ_SHUTDOWN;
	else if (ntok == 1 && model_word(tok[0], toklen[0], "stats"))
		m.type = REQ_STATS;
	return m;
}

/* ---- the check ---- */

/*
 * Parse b[0..len) with both and compare. The parser reads an exact-size
 * copy; proto.h promises it never reads past buf[len - 1].
 */
static struct model
compare(const unsigned char *b, size_t len, size_t max)
{
	struct model want = model_parse(b, len, max);
	struct request req = { REQ_EMPTY, 0 };
	size_t consumed = 0;
	enum proto_result res;
	char *copy = NULL;

	if (len > 0) {
		copy = malloc(len);
		FUZZ_CHECK(copy != NULL);
		memcpy(copy, b, len);
	}
	res = proto_parse(copy, len, max, &req, &consumed);
	free(copy);

	FUZZ_CHECK(res == want.res);
	if (res == PROTO_REQUEST) {
		FUZZ_CHECK(consumed == want.consumed);
		FUZZ_CHECK(consumed >= 1 && consumed <= len);
		FUZZ_CHECK(req.type == want.type);
		if (req.type == REQ_GET)
			FUZZ_CHECK(req.n == want.n);
	}
	return want;
}

/*
 * proto_get_run on b[0..len): every GET of the run is what the model
 * makes of the bytes from the end of the one before: a REQ_GET, with the
 * same number and the same length.
 */
static void
check_run(const unsigned char *b, size_t len, size_t max)
{
	uint64_t n[8];
	size_t end[8], prev = 0;
	unsigned k;
	char *copy = NULL;

	if (len > 0) {
		copy = malloc(len);
		FUZZ_CHECK(copy != NULL);
		memcpy(copy, b, len);
	}
	k = proto_get_run(copy, len, max, n, end, 8);
	free(copy);
	FUZZ_CHECK(k <= 8);
	for (unsigned i = 0; i < k; i++) {
		struct model m = model_parse(b + prev, len - prev, max);

		FUZZ_CHECK(m.res == PROTO_REQUEST && m.type == REQ_GET);
		FUZZ_CHECK(m.n == n[i] && prev + m.consumed == end[i]);
		prev = end[i];
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const unsigned char *b = data + 3;
	size_t max, len, off, cut;
	struct model m;

	if (size < 3)
		return 0;
	max = (size_t)data[0] | (size_t)data[1] << 8;
	cut = data[2];
	len = size - 3;

	/* A prefix of the first request: what the server sees mid-read. */
	if (cut < len)
		compare(b, cut, max);

	check_run(b, len, max);

	/* Request after request, as a pipelining client's bytes are. */
	for (off = 0;; off += m.consumed) {
		m = compare(b + off, len - off, max);
		if (m.res != PROTO_REQUEST)
			break;
	}
	return 0;
}
