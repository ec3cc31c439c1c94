/*
 * fuzz_reply: the bench's answer parsers (loadtest/reply.c), for lines,
 * redis and memcached.
 *
 * Input: one byte picks the protocol, one seeds the split points, the
 * rest is the stream a server sent. The stream is parsed twice, whole and
 * cut into pieces at points derived from the seed (often one byte, now
 * and then larger), every piece in its own exact-size allocation so that
 * AddressSanitizer sees any read past its end. Checked:
 * - each call consumes > 0 and <= len bytes, its value bytes lie inside
 *   the bytes it consumed, and it names no value bytes it did not;
 * - after REPLY_BAD the parser stays spent;
 * - both runs see the same answers, the same value bytes, and go bad (if
 *   they do) at the same byte of the stream: splits change nothing;
 * - for lines, the answers are those of a reference model: a hit is
 *   exactly "OK\r\n" and the bytes up to and including the next LF, a
 *   miss "ERR\r\n", and a header line with a control byte (other than the
 *   CR right before its LF) or any other header is bad.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "reply.h"

#define MAX_EVENTS 4096

/* What a run saw: its answers, their values, and where it went bad. */
struct run {
	size_t n;			/* complete answers */
	enum reply_done done[MAX_EVENTS];
	size_t val_off[MAX_EVENTS];	/* each answer's value in val[] */
	size_t val_len[MAX_EVENTS];
	unsigned char *val;		/* every value byte, in order */
	size_t nval;
	size_t pending;			/* value bytes of an unfinished answer */
	int bad;
	size_t bad_at;			/* stream bytes consumed, BAD included */
	size_t consumed;		/* stream bytes consumed in all */
};

static void
run_init(struct run *r, size_t len)
{
	memset(r, 0, sizeof(*r));
	r->val = malloc(len + 1);
	FUZZ_CHECK(r->val != NULL);
}

/* Feed one piece; returns 0 once the stream is lost or full. */
static int
feed(struct reply *rp, struct run *r, const unsigned char *p, size_t len)
{
	struct reply_step st;
	size_t off = 0, n;
	char *copy;

	copy = malloc(len);
	FUZZ_CHECK(copy != NULL);
	memcpy(copy, p, len);
	while (off < len) {
		memset(&st, 0xa5, sizeof(st));
		n = reply_parse(rp, copy + off, len - off, &st);
		FUZZ_CHECK(n > 0 && n <= len - off);
		if (st.len > 0) {
			FUZZ_CHECK(st.data >= copy + off);
			FUZZ_CHECK(st.data + st.len <= copy + off + n);
			memcpy(r->val + r->nval, st.data, st.len);
			r->nval += st.len;
			r->pending += st.len;
		}
		FUZZ_CHECK(st.done <= REPLY_BAD);
		off += n;
		r->consumed += n;
		if (st.done == REPLY_BAD) {
			r->bad = 1;
			r->bad_at = r->consumed;
			break;
		}
		if (st.done != REPLY_NONE) {
			FUZZ_CHECK(st.done == REPLY_HIT || r->pending == 0);
			r->done[r->n] = st.done;
			r->val_off[r->n] = r->nval - r->pending;
			r->val_len[r->n] = r->pending;
			r->pending = 0;
			if (++r->n == MAX_EVENTS)
				break;
		}
	}
	/* Spent: whatever follows is refused, all of it at once. */
	if (r->bad && off < len) {
		n = reply_parse(rp, copy + off, len - off, &st);
		FUZZ_CHECK(n == len - off);
		FUZZ_CHECK(st.done == REPLY_BAD && st.len == 0);
	}
	free(copy);
	return !r->bad && r->n < MAX_EVENTS;
}

/* xorshift32 for the split points: fixed by the input, so reproducible. */
static uint32_t
next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

static void
parse_split(enum proto proto, const unsigned char *b, size_t len,
    uint32_t seed, struct run *r)
{
	struct reply rp;
	size_t off = 0, piece;
	uint32_t x;

	reply_init(&rp, proto);
	while (off < len) {
		x = next_rand(&seed);
		/* Mostly tiny pieces (headers straddle reads), some big. */
		piece = (x & 3) != 0 ? 1 + (x >> 8) % 4 : 1 + (x >> 8) % 64;
		if (piece > len - off)
			piece = len - off;
		if (!feed(&rp, r, b + off, piece))
			break;
		off += piece;
	}
}

static void
parse_whole(enum proto proto, const unsigned char *b, size_t len,
    struct run *r)
{
	struct reply rp;

	reply_init(&rp, proto);
	if (len > 0)
		feed(&rp, r, b, len);
}

/* ---- the lines model ---- */

static int
is_control(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * The answers of the lines protocol in b[0..len), into *m (only n, done,
 * val_off/len, bad and pending are set). A header line is the bytes up
 * to its LF; if its bytes before the LF are "OK\r" it is a hit whose
 * value runs to the next LF included, if "ERR\r" a miss, and anything
 * else is bad. An unfinished header is already bad if it holds a control
 * byte that cannot be its closing CR: one that is not a CR, or a CR with
 * a byte after it.
 */
static void
model_lines(const unsigned char *b, size_t len, struct run *m)
{
	size_t pos = 0, lf, i, vend;

	while (pos < len && m->n < MAX_EVENTS) {
		for (lf = pos; lf < len && b[lf] != '\n'; lf++)
			;
		if (lf == len) {
			for (i = pos; i < len; i++)
				if (is_control(b[i]) &&
				    (b[i] != '\r' || i + 1 < len))
					m->bad = 1;
			return;
		}
		if (lf - pos == 3 && memcmp(b + pos, "OK\r", 3) == 0) {
			for (vend = lf + 1; vend < len && b[vend] != '\n'; vend++)
				;
			if (vend == len) {
				m->pending = len - (lf + 1);
				return;
			}
			m->done[m->n] = REPLY_HIT;
			m->val_off[m->n] = lf + 1;
			m->val_len[m->n] = vend + 1 - (lf + 1);
			m->n++;
			pos = vend + 1;
		} else if (lf - pos == 4 && memcmp(b + pos, "ERR\r", 4) == 0) {
			m->done[m->n] = REPLY_MISS;
			m->val_len[m->n] = 0;
			m->n++;
			pos = lf + 1;
		} else {
			m->bad = 1;
			return;
		}
	}
}

/* Answers the same, value bytes the same. */
static void
same_answers(const struct run *a, const struct run *b)
{
	size_t i;

	FUZZ_CHECK(a->n == b->n);
	FUZZ_CHECK(a->bad == b->bad);
	for (i = 0; i < a->n; i++) {
		FUZZ_CHECK(a->done[i] == b->done[i]);
		FUZZ_CHECK(a->val_len[i] == b->val_len[i]);
	}
}

/* The lines model keeps its values as offsets into the stream. */
static void
check_lines(const unsigned char *b, size_t len, const struct run *r)
{
	static struct run m;
	size_t i;

	memset(&m, 0, sizeof(m));
	model_lines(b, len, &m);
	same_answers(&m, r);
	for (i = 0; i < r->n; i++)
		FUZZ_CHECK(memcmp(r->val + r->val_off[i], b + m.val_off[i],
		    m.val_len[i]) == 0);
	if (!r->bad && r->n < MAX_EVENTS) {
		FUZZ_CHECK(r->pending == m.pending);
		FUZZ_CHECK(memcmp(r->val + r->nval - r->pending,
		    b + len - m.pending, m.pending) == 0);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct run whole, split;
	enum proto proto;
	const unsigned char *b;
	size_t len;
	uint32_t seed;

	if (size < 2)
		return 0;
	proto = data[0] % 3 == 0 ? PROTO_LINES :
	    data[0] % 3 == 1 ? PROTO_REDIS : PROTO_MEMCACHED;
	seed = 0x9e3779b9u ^ data[1];
	b = data + 2;
	len = size - 2;

	run_init(&whole, len);
	run_init(&split, len);
	parse_whole(proto, b, len, &whole);
	parse_split(proto, b, len, seed, &split);

	same_answers(&whole, &split);
	FUZZ_CHECK(whole.nval == split.nval);
	FUZZ_CHECK(memcmp(whole.val, split.val, whole.nval) == 0);
	FUZZ_CHECK(whole.pending == split.pending);
	if (whole.bad)
		FUZZ_CHECK(whole.bad_at == split.bad_at);
	if (proto == PROTO_LINES)
		check_lines(b, len, &whole);

	free(whole.val);
	free(split.val);
	return 0;
}
