/*
 * Unit tests of the load generator's answer parsers (loadtest/reply.c):
 * for lines, redis and memcached, a stream of several answers (hits with
 * awkward values, misses, error answers) is fed whole, split at every
 * point into two pieces, and one byte at a time; the answers seen must be
 * the same each time. Every piece lives in its own exact-size allocation,
 * so the sanitizer build catches any read past its end. Streams that are
 * not the protocol must end in REPLY_BAD.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "reply.h"

#define MAX_ANSWERS 16
#define MAX_VALUE   512

struct answer {
	enum reply_done done;
	const char *value;	/* hits only */
	size_t len;
};

struct seen {
	int n;
	enum reply_done done[MAX_ANSWERS];
	char value[MAX_ANSWERS][MAX_VALUE];
	size_t len[MAX_ANSWERS];
	int bad;
};

/* Feed one piece (copied to its own allocation) to the parser. */
static void
feed(struct reply *r, struct seen *s, const char *p, size_t len)
{
	char *copy;
	struct reply_step st;
	size_t off = 0, n;

	if (len == 0)
		return;
	copy = malloc(len);
	assert_non_null(copy);
	memcpy(copy, p, len);
	while (off < len && !s->bad) {
		n = reply_parse(r, copy + off, len - off, &st);
		assert_true(n > 0 && n <= len - off);
		if (st.len > 0) {
			assert_true(st.data >= copy + off &&
			    st.data + st.len <= copy + len);
			assert_true(s->len[s->n] + st.len <= MAX_VALUE);
			memcpy(s->value[s->n] + s->len[s->n], st.data, st.len);
			s->len[s->n] += st.len;
		}
		off += n;
		if (st.done == REPLY_BAD)
			s->bad = 1;
		else if (st.done != REPLY_NONE)
			s->done[s->n++] = st.done;
		assert_true(s->n < MAX_ANSWERS);
	}
	free(copy);
}

static void
expect(const struct seen *s, const struct answer *want, int nwant)
{
	int i;

	assert_false(s->bad);
	assert_int_equal(s->n, nwant);
	for (i = 0; i < nwant; i++) {
		assert_int_equal(s->done[i], want[i].done);
		if (want[i].done != REPLY_HIT)
			continue;
		assert_int_equal(s->len[i], want[i].len);
		assert_memory_equal(s->value[i], want[i].value, want[i].len);
	}
}

/* The whole stream, every two-piece split, and byte by byte. */
static void
check_stream(enum proto proto, const char *stream, size_t len,
    const struct answer *want, int nwant)
{
	static struct seen s;
	struct reply r;
	size_t split, i;

	for (split = 0; split <= len; split++) {
		memset(&s, 0, sizeof(s));
		reply_init(&r, proto);
		feed(&r, &s, stream, split);
		feed(&r, &s, stream + split, len - split);
		expect(&s, want, nwant);
	}
	memset(&s, 0, sizeof(s));
	reply_init(&r, proto);
	for (i = 0; i < len; i++)
		feed(&r, &s, stream + i, 1);
	expect(&s, want, nwant);
}

#define STREAM(s) (s), sizeof(s) - 1
#define V(s) REPLY_HIT, (s), sizeof(s) - 1

static void
test_lines(void **state)
{
	static const char stream[] =
	    "OK\r\nhello world\n"
	    "ERR\r\n"
	    "OK\r\n\n"			/* an empty line */
	    "OK\r\nOK\r\n"		/* a line that looks like a header */
	    "OK\r\nab\r\0cd\r\n"	/* CR and NUL inside a line */
	    "ERR\r\n"
	    "OK\r\nlast\n";
	static const struct answer want[] = {
		{ V("hello world\n") }, { REPLY_MISS, NULL, 0 }, { V("\n") },
		{ V("OK\r\n") }, { V("ab\r\0cd\r\n") },
		{ REPLY_MISS, NULL, 0 }, { V("last\n") },
	};

	(void)state;
	check_stream(PROTO_LINES, STREAM(stream), want, 7);
}

static void
test_redis(void **state)
{
	static const char stream[] =
	    "$5\r\nhello\r\n"
	    "$-1\r\n"
	    "$0\r\n\r\n"
	    "-ERR unknown command 'GETT'\r\n"
	    "$6\r\na\r\nb\nc\r\n"	/* CRLF and LF inside the value */
	    "$11\r\n$-1\r\n$5\r\nab\r\n"	/* a value that looks like answers */
	    "$-1\r\n";
	static const struct answer want[] = {
		{ V("hello") }, { REPLY_MISS, NULL, 0 }, { V("") },
		{ REPLY_ERR, NULL, 0 }, { V("a\r\nb\nc") },
		{ V("$-1\r\n$5\r\nab") }, { REPLY_MISS, NULL, 0 },
	};

	(void)state;
	check_stream(PROTO_REDIS, STREAM(stream), want, 7);
}

static void
test_memcached(void **state)
{
	static const char stream[] =
	    "VALUE 1 0 5\r\nhello\r\nEND\r\n"
	    "END\r\n"
	    "VALUE 22 0 0\r\n\r\nEND\r\n"
	    "SERVER_ERROR out of memory storing object\r\n"
	    "VALUE 3 7 9 12345\r\nEND\r\nEND\r\r\nEND\r\n"	/* with cas */
	    "ERROR\r\n"
	    "CLIENT_ERROR bad command line format\r\n"
	    "VALUE 18446744073709551615 4294967295 2\r\n\n\n\r\nEND\r\n";
	static const struct answer want[] = {
		{ V("hello") }, { REPLY_MISS, NULL, 0 }, { V("") },
		{ REPLY_ERR, NULL, 0 }, { V("END\r\nEND\r") },
		{ REPLY_ERR, NULL, 0 }, { REPLY_ERR, NULL, 0 }, { V("\n\n") },
	};

	(void)state;
	check_stream(PROTO_MEMCACHED, STREAM(stream), want, 8);
}

/* An error answer longer than the header buffer is still an answer. */
static void
test_long_error(void **state)
{
	static char stream[2000];
	static const struct answer want[] = {
		{ REPLY_ERR, NULL, 0 }, { V("x") },
	};

	(void)state;
	memset(stream, 'E', sizeof(stream));
	stream[0] = '-';
	memcpy(stream + 1000, "\r\n$1\r\nx\r\n", 9);
	check_stream(PROTO_REDIS, stream, 1009, want, 2);
	memcpy(stream, "SERVER_ERROR ", 13);
	memcpy(stream + 1000, "\r\nVALUE 1 0 1\r\nx\r\nEND\r\n", 23);
	check_stream(PROTO_MEMCACHED, stream, 1023, want, 2);
}

/* Parse s; it must go bad after the given number of good answers. */
static void
expect_bad(enum proto proto, const char *s, int answers_before)
{
	static struct seen seen;
	struct reply r;

	memset(&seen, 0, sizeof(seen));
	reply_init(&r, proto);
	feed(&r, &seen, s, strlen(s));
	assert_true(seen.bad);
	assert_int_equal(seen.n, answers_before);
}

static void
test_bad(void **state)
{
	static char longhdr[300];

	(void)state;
	expect_bad(PROTO_LINES, "WAT\r\n", 0);
	expect_bad(PROTO_LINES, "OK\n", 0);		/* no CR */
	expect_bad(PROTO_LINES, "ok\r\nx\n", 0);
	expect_bad(PROTO_LINES, "ERR\r\n$5\r\n", 1);
	expect_bad(PROTO_REDIS, "+OK\r\n", 0);
	expect_bad(PROTO_REDIS, "$x\r\n", 0);
	expect_bad(PROTO_REDIS, "$-2\r\n", 0);
	expect_bad(PROTO_REDIS, "$3\r\nabcXY", 0);	/* wrong tail */
	expect_bad(PROTO_REDIS, "$99999999999999999999999\r\n", 0);
	expect_bad(PROTO_MEMCACHED, "VALUE 1 0 x\r\n", 0);
	expect_bad(PROTO_MEMCACHED, "VALUE 1 0\r\n", 0);
	expect_bad(PROTO_MEMCACHED, "VALUE 1 0 1 2 3\r\n", 0);
	expect_bad(PROTO_MEMCACHED, "VALUE 1 0 1\r\nxEND\r\n", 0);
	expect_bad(PROTO_MEMCACHED, "STORED\r\n", 0);
	memset(longhdr, 'O', sizeof(longhdr) - 1);
	longhdr[sizeof(longhdr) - 3] = '\r';
	longhdr[sizeof(longhdr) - 2] = '\n';
	expect_bad(PROTO_LINES, longhdr, 0);
}

/*
 * Like expect_bad, fed whole, split at every point into two pieces and
 * one byte at a time: a control byte is refused wherever a read ends.
 */
static void
expect_bad_split(enum proto proto, const char *s, size_t len,
    int answers_before)
{
	static struct seen seen;
	struct reply r;
	size_t split, i;

	for (split = 0; split <= len; split++) {
		memset(&seen, 0, sizeof(seen));
		reply_init(&r, proto);
		feed(&r, &seen, s, split);
		feed(&r, &seen, s + split, len - split);
		assert_true(seen.bad);
		assert_int_equal(seen.n, answers_before);
	}
	memset(&seen, 0, sizeof(seen));
	reply_init(&r, proto);
	for (i = 0; i < len; i++)
		feed(&r, &seen, s + i, 1);
	assert_true(seen.bad);
	assert_int_equal(seen.n, answers_before);
}

/*
 * A NUL once made "OK\0junk\r\n" an OK: the header was compared as a C
 * string. Header lines with a NUL, and with any other control byte, are
 * not answers of any of the three protocols.
 */
static void
test_header_nul(void **state)
{
	static const char lines[] = "OK\r\nx\nOK\0junk\r\nx\n";
	static const char lines_err[] = "OK\r\nx\nERR\0\r\n";
	static const char lines_lead[] = "OK\r\nx\n\0OK\r\nx\n";
	static const char lines_crnul[] = "OK\r\nx\nOK\r\0\nx\n";
	static const char redis[] = "$1\r\nx\r\n$1\0\r\nx\r\n";
	static const char redis_miss[] = "$1\r\nx\r\n$-1\0junk\r\n";
	static const char redis_err[] = "$1\r\nx\r\n-ERR\0\r\n";
	static const char mc[] =
	    "END\r\nVALUE 1 0 1\0junk\r\nx\r\nEND\r\n";
	static const char mc_end[] = "END\r\nEND\0\r\n";
	static const char mc_err[] = "END\r\nSERVER_ERROR\0x\r\n";

	(void)state;
	expect_bad_split(PROTO_LINES, STREAM(lines), 1);
	expect_bad_split(PROTO_LINES, STREAM(lines_err), 1);
	expect_bad_split(PROTO_LINES, STREAM(lines_lead), 1);
	expect_bad_split(PROTO_LINES, STREAM(lines_crnul), 1);
	expect_bad_split(PROTO_REDIS, STREAM(redis), 1);
	expect_bad_split(PROTO_REDIS, STREAM(redis_miss), 1);
	expect_bad_split(PROTO_REDIS, STREAM(redis_err), 1);
	expect_bad_split(PROTO_MEMCACHED, STREAM(mc), 1);
	expect_bad_split(PROTO_MEMCACHED, STREAM(mc_end), 1);
	expect_bad_split(PROTO_MEMCACHED, STREAM(mc_err), 1);
}

/*
 * Every control byte (0x00-0x1f, 0x7f), inserted at every position of a
 * header line up to its LF (so also between the CR and the LF, and as a
 * second CR), after one good answer: the stream must go bad after that
 * answer, however it is split.
 */
static void
test_header_control_bytes(void **state)
{
	static const struct {
		enum proto proto;
		const char *first;	/* one good answer */
		const char *head;	/* a header line, CR LF included */
		const char *rest;	/* what would follow it */
	} rows[] = {
		{ PROTO_LINES, "ERR\r\n", "OK\r\n", "x\n" },
		{ PROTO_LINES, "OK\r\nx\n", "ERR\r\n", "" },
		{ PROTO_REDIS, "$-1\r\n", "$1\r\n", "x\r\n" },
		{ PROTO_REDIS, "$1\r\nx\r\n", "$-1\r\n", "" },
		{ PROTO_REDIS, "$-1\r\n", "-ERR wrong\r\n", "" },
		{ PROTO_MEMCACHED, "END\r\n", "VALUE 1 0 1\r\n", "x\r\nEND\r\n" },
		{ PROTO_MEMCACHED, "END\r\n", "VALUE 1 0 1 7\r\n",
		    "x\r\nEND\r\n" },
		{ PROTO_MEMCACHED, "END\r\n", "END\r\n", "" },
		{ PROTO_MEMCACHED, "END\r\n", "ERROR\r\n", "" },
		{ PROTO_MEMCACHED, "END\r\n", "CLIENT_ERROR bad\r\n", "" },
	};
	char buf[128];
	size_t i, pos, len, fl, hl, rl;
	unsigned c;

	(void)state;
	for (i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
		fl = strlen(rows[i].first);
		hl = strlen(rows[i].head);
		rl = strlen(rows[i].rest);
		assert_true(fl + hl + 1 + rl <= sizeof(buf));
		for (c = 0; c <= 0x7f; c++) {
			if (c >= 0x20 && c != 0x7f)
				continue;
			/*
			 * Up to the byte before the LF: after it is the
			 * value. An LF right after the CR would end the
			 * header there, with the next answer starting at
			 * the header's own LF: a case of its own (test_bad).
			 */
			for (pos = 0; pos < hl; pos++) {
				if (c == '\n' && pos == hl - 1)
					continue;
				memcpy(buf, rows[i].first, fl);
				memcpy(buf + fl, rows[i].head, pos);
				buf[fl + pos] = (char)c;
				memcpy(buf + fl + pos + 1, rows[i].head + pos,
				    hl - pos);
				memcpy(buf + fl + hl + 1, rows[i].rest, rl);
				len = fl + hl + 1 + rl;
				expect_bad_split(rows[i].proto, buf, len, 1);
			}
		}
	}
}

/*
 * Refused in a long error answer too, past the bytes kept for parsing;
 * bytes >= 0x80 are not control bytes: a memcached key may be UTF-8.
 */
static void
test_header_control_long_and_high(void **state)
{
	static char stream[400];
	static const char mc[] =
	    "VALUE k\xc3\xa9\x80\xff 0 2\r\nab\r\nEND\r\n";
	static const struct answer want[] = { { V("ab") } };

	(void)state;
	memset(stream, 'E', sizeof(stream));
	stream[0] = '-';
	stream[300] = '\x1b';
	memcpy(stream + 350, "\r\n", 2);
	expect_bad_split(PROTO_REDIS, stream, 352, 0);
	check_stream(PROTO_MEMCACHED, STREAM(mc), want, 1);
}

static void
test_names(void **state)
{
	enum proto p;

	(void)state;
	assert_int_equal(proto_parse_name("redis", &p), 0);
	assert_int_equal(p, PROTO_REDIS);
	assert_int_equal(proto_parse_name("memcached", &p), 0);
	assert_int_equal(p, PROTO_MEMCACHED);
	assert_int_equal(proto_parse_name("lines", &p), 0);
	assert_int_equal(p, PROTO_LINES);
	assert_int_equal(proto_parse_name("http", &p), -1);
	assert_string_equal(proto_name(PROTO_MEMCACHED), "memcached");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines),
		cmocka_unit_test(test_redis),
		cmocka_unit_test(test_memcached),
		cmocka_unit_test(test_long_error),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_header_nul),
		cmocka_unit_test(test_header_control_bytes),
		cmocka_unit_test(test_header_control_long_and_high),
		cmocka_unit_test(test_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
