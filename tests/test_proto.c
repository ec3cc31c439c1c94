/*
 * Unit tests for proto, the request parser (SPEC.md section 2).
 *
 * Every input is placed so that its last byte is the last byte of a mapped
 * page followed by a PROT_NONE page: reading buf[len] or beyond crashes the
 * test instead of passing by luck. Tables cover the command table, framing,
 * numbers and the max_request limit; every row is also fed as each of its
 * prefixes, since the server sees requests arrive a few bytes at a time.
 * A seeded differential test compares the parser with a slow reference that
 * follows the SPEC's wording step by step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proto.h"

/* Room for the largest input any test builds (max_request's upper bound). */
#define GUARD_ROOM  (128 * 1024)
#define DEFAULT_MAX 1024

/* ---- guard-page harness ---- */

static struct {
	unsigned char *base;  /* GUARD_ROOM (rounded up) readable bytes */
	size_t room;
	size_t page;
} guard;

static int
guard_setup(void **state)
{
	long ps = sysconf(_SC_PAGESIZE);
	void *m;

	(void)state;
	if (ps <= 0)
		return -1;
	guard.page = (size_t)ps;
	guard.room = (GUARD_ROOM + guard.page - 1) / guard.page * guard.page;
	m = mmap(NULL, guard.room + guard.page, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (m == MAP_FAILED)
		return -1;
	guard.base = m;
	if (mprotect(guard.base + guard.room, guard.page, PROT_NONE) == -1) {
		munmap(m, guard.room + guard.page);
		return -1;
	}
	return 0;
}

static int
guard_teardown(void **state)
{
	(void)state;
	munmap(guard.base, guard.room + guard.page);
	return 0;
}

/* Copy len bytes so that they end exactly at the PROT_NONE page. */
static const char *
guarded(const void *in, size_t len)
{
	unsigned char *dst;

	assert_true(len <= guard.room);
	dst = guard.base + guard.room - len;
	if (len > 0)
		memcpy(dst, in, len);
	return (const char *)dst;
}

static enum proto_result
parse_guarded(const void *in, size_t len, size_t max, struct request *req,
    size_t *consumed)
{
	return proto_parse(guarded(in, len), len, max, req, consumed);
}

/*
 * The harness is only worth something if the byte after an input really
 * faults: read it in a child and expect the child to die of SIGSEGV.
 */
static void
test_guard_page_faults(void **state)
{
	int status;
	pid_t pid;

	(void)state;
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		const volatile unsigned char *past;
		int devnull = open("/dev/null", O_WRONLY);

		/* Keep cmocka's and the sanitizers' handlers out of it. */
		signal(SIGSEGV, SIG_DFL);
		if (devnull != -1)
			dup2(devnull, STDERR_FILENO);
		past = (const volatile unsigned char *)guarded("x", 1) + 1;
		_exit(*past == 0x5a ? 3 : 0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFSIGNALED(status));
	assert_int_equal(WTERMSIG(status), SIGSEGV);
}

/* ---- table rows ---- */

struct row {
	const char *in;
	size_t len;
	size_t max;
	enum proto_result res;
	enum req_type type;
	uint64_t n;         /* checked for REQ_GET only */
	size_t consumed;    /* checked for PROTO_REQUEST only */
};

#define IN(s) s, sizeof(s) - 1
/* A whole request line; consumed is the whole input. */
#define ROW_REQ(s, t, num) \
	{ IN(s), DEFAULT_MAX, PROTO_REQUEST, t, num, sizeof(s) - 1 }
#define ROW_GET(s, num)    ROW_REQ(s, REQ_GET, num)
#define ROW_BAD(s)         ROW_REQ(s, REQ_BAD, 0)
#define ROW_EMPTY(s)       ROW_REQ(s, REQ_EMPTY, 0)
/* A request followed by more bytes; only c bytes are consumed. */
#define ROW_PART(s, max, c, t, num) \
	{ IN(s), max, PROTO_REQUEST, t, num, c }
#define ROW_MAX(s, max, t, num) \
	{ IN(s), max, PROTO_REQUEST, t, num, sizeof(s) - 1 }
#define ROW_MORE(s, max)   { IN(s), max, PROTO_NEED_MORE, REQ_EMPTY, 0, 0 }
#define ROW_LONG(s, max)   { IN(s), max, PROTO_TOO_LONG, REQ_EMPTY, 0, 0 }

#define NROWS(a) (sizeof(a) / sizeof((a)[0]))

/* Render an input for a failure message: printable ASCII as is. */
static const char *
show(const char *in, size_t len)
{
	static char out[256];
	size_t i, o = 0;

	for (i = 0; i < len && o + 5 < sizeof(out); i++) {
		unsigned char c = (unsigned char)in[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, sizeof(out) - o,
			    "\\x%02x", c);
	}
	out[o] = '\0';
	return out;
}

static void
check_result(const char *what, const struct row *r, size_t len,
    enum proto_result want_res, enum proto_result res,
    const struct request *req, size_t consumed)
{
	int ok = res == want_res;

	if (ok && res == PROTO_REQUEST) {
		ok = req->type == r->type && consumed == r->consumed;
		if (ok && r->type == REQ_GET)
			ok = req->n == r->n;
	}
	if (!ok) {
		print_error("%s: \"%s\" (len %zu of %zu, max %zu): want res %d "
		    "type %d n %llu consumed %zu, got res %d type %d n %llu "
		    "consumed %zu\n", what, show(r->in, r->len), len, r->len,
		    r->max, (int)want_res, (int)r->type,
		    (unsigned long long)r->n, r->consumed, (int)res,
		    (int)req->type, (unsigned long long)req->n, consumed);
		fail();
	}
}

/*
 * Every prefix of a row must give NEED_MORE until its LF (or max_request
 * bytes) is present, and from then on the same answer as the whole input.
 */
static void
check_row(const struct row *r)
{
	struct request req;
	enum proto_result res, want;
	size_t consumed, k, decided;

	decided = r->res == PROTO_REQUEST ? r->consumed : r->max;
	for (k = 0; k <= r->len; k++) {
		memset(&req, 0xa5, sizeof(req));
		consumed = (size_t)-1;
		res = parse_guarded(r->in, k, r->max, &req, &consumed);
		want = k < decided ? PROTO_NEED_MORE : r->res;
		check_result(k == r->len ? "whole" : "prefix", r, k, want,
		    res, &req, consumed);
	}
}

static void
check_rows(const struct row *rows, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		check_row(&rows[i]);
}

/* ---- SPEC.md's command table, row by row ---- */

static const struct row command_rows[] = {
	/* GET n, 1 to 20 digits, leading zeros counted */
	ROW_GET("GET 1\n", 1),
	ROW_GET("GET 42\r\n", 42),
	ROW_GET("GET 0\n", 0),  /* the server, not the parser, rejects 0 */
	ROW_GET("GET 18446744073709551615\n", UINT64_MAX),
	ROW_GET("GET 00000000000000000001\n", 1),
	/* GET otherwise */
	ROW_BAD("GET\n"),
	ROW_BAD("GET \n"),
	ROW_BAD("GET\t \r\n"),
	ROW_BAD("GET 1 2\n"),
	ROW_BAD("GET 1 x\n"),
	ROW_BAD("GET +5\n"),
	ROW_BAD("GET -5\n"),
	ROW_BAD("GET 5x\n"),
	ROW_BAD("GET x\n"),
	ROW_BAD("GET 0x10\n"),
	ROW_BAD("GET 000000000000000000001\n"),
	ROW_BAD("GET 18446744073709551616\n"),
	ROW_BAD("GET1\n"),
	/* QUIT, SHUTDOWN, STATS: no argument */
	ROW_REQ("QUIT\n", REQ_QUIT, 0),
	ROW_REQ("QUIT\r\n", REQ_QUIT, 0),
	ROW_BAD("QUIT now\n"),
	ROW_BAD("QUIT 1\n"),
	ROW_REQ("SHUTDOWN\n", REQ_SHUTDOWN, 0),
	ROW_REQ("SHUTDOWN\r\n", REQ_SHUTDOWN, 0),
	ROW_BAD("SHUTDOWN now\n"),
	ROW_REQ("STATS\n", REQ_STATS, 0),
	ROW_REQ("STATS\r\n", REQ_STATS, 0),
	ROW_BAD("STATS x\n"),
	ROW_BAD("STATS 1\r\n"),
	/* anything else */
	ROW_BAD("FOO\n"),
	ROW_BAD("GETS 1\n"),
	ROW_BAD("GE 1\n"),
	ROW_BAD("QUITX\n"),
	ROW_BAD("STAT\n"),
	ROW_BAD("SHUTDOWNS\n"),
	ROW_BAD("SHUT DOWN\n"),
	ROW_BAD("1\n"),
	ROW_BAD("G\xc5T 1\n"),     /* bytes >= 0x80 are token bytes */
	ROW_BAD("GET\xa0" "1\n"),  /* 0xa0 is not whitespace */
	ROW_BAD("\xff\n"),
	ROW_BAD("GET\0 1\n"),
};

static void
test_command_table(void **state)
{
	(void)state;
	check_rows(command_rows, NROWS(command_rows));
}

/* ---- framing: LF, CR, whitespace, control bytes, case ---- */

static const struct row framing_rows[] = {
	/* CR right before LF is dropped; anywhere else it is a control byte */
	ROW_GET("GET 7\r\n", 7),
	ROW_BAD("GET 7\r\r\n"),
	ROW_BAD("GET\r7\n"),
	ROW_BAD("GET 7\rx\n"),
	ROW_BAD("\rGET 7\n"),
	ROW_BAD("GET 7\r \n"),
	ROW_EMPTY("\r\n"),
	ROW_BAD("\r\r\n"),
	ROW_BAD("\r \n"),
	/* no LF yet: wait, even for a trailing CR */
	ROW_MORE("", DEFAULT_MAX),
	ROW_MORE("GET 1", DEFAULT_MAX),
	ROW_MORE("GET 1\r", DEFAULT_MAX),
	ROW_MORE("\r", DEFAULT_MAX),
	ROW_MORE("\0\0\0", DEFAULT_MAX),
	/* NUL and other control bytes anywhere */
	ROW_BAD("\0\n"),
	ROW_BAD("\0GET 1\n"),
	ROW_BAD("GET 1\0\n"),
	ROW_BAD("GET 1 \0\n"),
	ROW_BAD("GET 1\0\r\n"),
	ROW_BAD(" \0 \n"),
	ROW_BAD("QUIT\0\n"),
	ROW_BAD("GET 1\x7f\n"),
	ROW_BAD("\x7f\n"),
	ROW_BAD("\x1b[A\n"),
	ROW_BAD("GET\v1\n"),    /* only space and tab separate tokens */
	ROW_BAD("GET\f1\n"),
	ROW_BAD("STATS\x1f\n"),
	ROW_BAD("\x01\n"),
	/* spaces and tabs around and between tokens */
	ROW_GET("GET\t1\n", 1),
	ROW_GET("\tGET\t\t42\t\r\n", 42),
	ROW_GET("  get   7  \n", 7),
	ROW_GET(" \t GET \t 9 \t \r\n", 9),
	ROW_REQ("\tQUIT\t\n", REQ_QUIT, 0),
	ROW_REQ("  STATS  \r\n", REQ_STATS, 0),
	/* verbs are case-insensitive */
	ROW_GET("get 5\n", 5),
	ROW_GET("gEt 5\n", 5),
	ROW_GET("Get 5\r\n", 5),
	ROW_REQ("quit\n", REQ_QUIT, 0),
	ROW_REQ("qUiT\n", REQ_QUIT, 0),
	ROW_REQ("stats\n", REQ_STATS, 0),
	ROW_REQ("sTaTs\r\n", REQ_STATS, 0),
	ROW_REQ("shutdown\n", REQ_SHUTDOWN, 0),
	ROW_REQ("sHuTdOwN\n", REQ_SHUTDOWN, 0),
	/* empty and whitespace-only lines */
	ROW_EMPTY("\n"),
	ROW_EMPTY(" \n"),
	ROW_EMPTY("\t\n"),
	ROW_EMPTY("   \t  \r\n"),
	ROW_EMPTY("\t \t\r\n"),
	/* only the first line is parsed; what follows is not looked at */
	ROW_PART("GET 1\nGET 2\n", DEFAULT_MAX, 6, REQ_GET, 1),
	ROW_PART("\nGET 1\n", DEFAULT_MAX, 1, REQ_EMPTY, 0),
	ROW_PART("\r\nQUIT\n", DEFAULT_MAX, 2, REQ_EMPTY, 0),
	ROW_PART("QUIT\n\0\0\0", DEFAULT_MAX, 5, REQ_QUIT, 0),
	ROW_PART("GET 3\r\nGET", DEFAULT_MAX, 7, REQ_GET, 3),
	ROW_PART("GET 1\n\r", DEFAULT_MAX, 6, REQ_GET, 1),
	ROW_PART("FOO\nGET 1\n", DEFAULT_MAX, 4, REQ_BAD, 0),
};

static void
test_framing(void **state)
{
	(void)state;
	check_rows(framing_rows, NROWS(framing_rows));
}

/* ---- numbers ---- */

static const struct row number_rows[] = {
	ROW_GET("GET 1\n", 1),
	ROW_GET("GET 9\n", 9),
	ROW_GET("GET 00\n", 0),
	ROW_GET("GET 007\n", 7),
	ROW_GET("GET 4294967296\n", 4294967296ULL),
	ROW_GET("GET 1844674407370955161\n", 1844674407370955161ULL),
	ROW_GET("GET 12345678901234567890\n", 12345678901234567890ULL),
	ROW_GET("GET 18446744073709551614\n", UINT64_MAX - 1),
	ROW_GET("GET 18446744073709551615\n", UINT64_MAX),
	ROW_GET("GET 00000000000000000000\n", 0),
	ROW_GET("GET 09999999999999999999\n", 9999999999999999999ULL),
	/* The longest number the plain-GET shortcut takes, and one past it. */
	ROW_GET("GET 9999999999999999999\n", 9999999999999999999ULL),
	ROW_GET("gEt 0000000000000000042\r\n", 42),
	ROW_BAD("GET 9999999999999999999x\n"),
	ROW_BAD("GET 999999999999999999x\n"),
	ROW_BAD("GET -1\n"),
	ROW_BAD("GETS 1\n"),
	ROW_BAD("GEX 1\n"),
	ROW_BAD("GET 1\x01\n"),
	ROW_BAD("GET 18446744073709551616\n"),   /* UINT64_MAX + 1 */
	ROW_BAD("GET 18446744073709551620\n"),
	ROW_BAD("GET 18446744073709551700\n"),
	ROW_BAD("GET 28446744073709551615\n"),
	ROW_BAD("GET 99999999999999999999\n"),
	ROW_BAD("GET 018446744073709551615\n"),  /* fits, but 21 digits */
	ROW_BAD("GET 000000000000000000000\n"),
	ROW_BAD("GET 123456789012345678901234567890\n"),
	ROW_BAD("GET +5\n"),
	ROW_BAD("GET -5\n"),
	ROW_BAD("GET -0\n"),
	ROW_BAD("GET 5x\n"),
	ROW_BAD("GET 0x10\n"),
	ROW_BAD("GET 1e3\n"),
	ROW_BAD("GET 1.0\n"),
	ROW_BAD("GET 1,000\n"),
	ROW_BAD("GET 1_000\n"),
	ROW_BAD("GET /\n"),                      /* '0' - 1 */
	ROW_BAD("GET :\n"),                      /* '9' + 1 */
	ROW_BAD("GET \xef\xbc\x95\n"),           /* fullwidth five */
	ROW_BAD("GET 1 1\n"),
};

static void
test_numbers(void **state)
{
	(void)state;
	check_rows(number_rows, NROWS(number_rows));
}

/* ---- max_request ---- */

static const struct row limit_rows[] = {
	/* exactly 16 bytes counting LF (and CR) fit; 17 do not */
	ROW_MAX("GET 00000000007\n", 16, REQ_GET, 7),
	ROW_MAX("GET 0000000007\r\n", 16, REQ_GET, 7),
	ROW_MAX("               \n", 16, REQ_EMPTY, 0),
	ROW_LONG("GET 000000000007\n", 16),
	ROW_LONG("GET 00000000007\r\n", 16),
	ROW_LONG("                \n", 16),
	/* without an LF: wait below max_request, give up at it */
	ROW_MORE("GET 00000000007", 16),
	ROW_LONG("GET 000000000007", 16),
	ROW_LONG("GET 0000000000007", 16),
	ROW_LONG("\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 16),
	/* bytes beyond a short line do not count against it */
	ROW_PART("GET 1\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 16, 6, REQ_GET, 1),
	ROW_PART("GET 00000000007\nGET 000000000007\n", 16, 16, REQ_GET, 7),
	/* the smallest limits */
	ROW_MAX("\n", 1, REQ_EMPTY, 0),
	ROW_LONG("\r\n", 1),
	ROW_LONG("a", 1),
	ROW_MORE("", 1),
	ROW_MAX("\r\n", 2, REQ_EMPTY, 0),
	ROW_LONG("", 0),
};

static void
test_limit_rows(void **state)
{
	(void)state;
	check_rows(limit_rows, NROWS(limit_rows));
}

/* Fill buf with "GET 5", spaces, then tail: len bytes in all. */
static void
padded_get(char *buf, size_t size, size_t len, const char *tail)
{
	size_t tl = strlen(tail);

	assert_true(len >= 5 + tl && len <= size);
	if (len < 5 + tl || len > size)
		return;
	memset(buf, ' ', len);
	memcpy(buf, "GET 5", 5);
	memcpy(buf + len - tl, tail, tl);
}

/* A line of m and m + 1 bytes, with and without its LF, at limit m. */
static void
check_boundary(size_t m)
{
	static char buf[65536 + 2];
	struct request req;
	size_t consumed;

	padded_get(buf, sizeof(buf), m, "\n");
	assert_int_equal(parse_guarded(buf, m, m, &req, &consumed),
	    PROTO_REQUEST);
	assert_int_equal(req.type, REQ_GET);
	assert_int_equal(req.n, 5);
	assert_int_equal(consumed, m);

	padded_get(buf, sizeof(buf), m, "\r\n");
	assert_int_equal(parse_guarded(buf, m, m, &req, &consumed),
	    PROTO_REQUEST);
	assert_int_equal(req.type, REQ_GET);
	assert_int_equal(consumed, m);

	padded_get(buf, sizeof(buf), m + 1, "\n");
	assert_int_equal(parse_guarded(buf, m + 1, m, &req, &consumed),
	    PROTO_TOO_LONG);
	padded_get(buf, sizeof(buf), m + 1, "\r\n");
	assert_int_equal(parse_guarded(buf, m + 1, m, &req, &consumed),
	    PROTO_TOO_LONG);
	/* the limit is hit before the LF is ever seen */
	assert_int_equal(parse_guarded(buf, m, m, &req, &consumed),
	    PROTO_TOO_LONG);
	assert_int_equal(parse_guarded(buf, m - 1, m, &req, &consumed),
	    PROTO_NEED_MORE);
}

/* The default limit and the smallest and largest configurable ones. */
static void
test_limit_boundaries(void **state)
{
	(void)state;
	check_boundary(16);
	check_boundary(DEFAULT_MAX);
	check_boundary(65536);
}

/* A huge buffer with no LF in its first max_request bytes is not scanned. */
static void
test_long_buffer_small_limit(void **state)
{
	static char buf[GUARD_ROOM];
	struct request req;
	size_t consumed;

	(void)state;
	memset(buf, 'x', sizeof(buf));
	buf[2000] = '\n';
	assert_int_equal(parse_guarded(buf, sizeof(buf), DEFAULT_MAX, &req,
	    &consumed), PROTO_TOO_LONG);
	buf[DEFAULT_MAX - 1] = '\n';
	assert_int_equal(parse_guarded(buf, sizeof(buf), DEFAULT_MAX, &req,
	    &consumed), PROTO_REQUEST);
	assert_int_equal(req.type, REQ_BAD);
	assert_int_equal(consumed, DEFAULT_MAX);
}

/* ---- pipelining ---- */

static const char pipeline[] =
    "GET 1\r\n"
    "quit\n"
    "\n"
    "  STATS \r\n"
    "GET 18446744073709551615\n"
    "SHUTDOWN\r\n"
    "\t\r\n"
    "GET x\n"
    "get\t0042\n"
    "GET 1\0\n"
    "\r\n";

static const struct {
	enum req_type type;
	uint64_t n;
	size_t consumed;
} pipeline_want[] = {
	{ REQ_GET, 1, 7 },
	{ REQ_QUIT, 0, 5 },
	{ REQ_EMPTY, 0, 1 },
	{ REQ_STATS, 0, 10 },
	{ REQ_GET, UINT64_MAX, 25 },
	{ REQ_SHUTDOWN, 0, 10 },
	{ REQ_EMPTY, 0, 3 },
	{ REQ_BAD, 0, 6 },
	{ REQ_GET, 42, 9 },
	{ REQ_BAD, 0, 7 },
	{ REQ_EMPTY, 0, 2 },
};

/* Consume the pipeline request by request, as a connection's buffer would. */
static void
test_pipeline_in_sequence(void **state)
{
	size_t len = sizeof(pipeline) - 1, off = 0, consumed, i;
	struct request req;

	(void)state;
	for (i = 0; i < NROWS(pipeline_want); i++) {
		assert_int_equal(parse_guarded(pipeline + off, len - off,
		    DEFAULT_MAX, &req, &consumed), PROTO_REQUEST);
		assert_int_equal(req.type, pipeline_want[i].type);
		if (req.type == REQ_GET)
			assert_int_equal(req.n, pipeline_want[i].n);
		assert_int_equal(consumed, pipeline_want[i].consumed);
		off += consumed;
	}
	assert_int_equal(off, len);
	assert_int_equal(parse_guarded(pipeline + off, 0, DEFAULT_MAX, &req,
	    &consumed), PROTO_NEED_MORE);
}

/*
 * Split the pipeline at every byte: a connection that has received only
 * the first k bytes of what is left must wait until the LF, then get the
 * same request as from the whole buffer.
 */
static void
test_pipeline_every_split(void **state)
{
	size_t len = sizeof(pipeline) - 1, off = 0, consumed, c, k, i;
	struct request whole, req;

	(void)state;
	for (i = 0; off < len; i++) {
		assert_int_equal(parse_guarded(pipeline + off, len - off,
		    DEFAULT_MAX, &whole, &c), PROTO_REQUEST);
		for (k = 0; k <= len - off; k++) {
			enum proto_result res = parse_guarded(pipeline + off,
			    k, DEFAULT_MAX, &req, &consumed);

			if (k < c) {
				assert_int_equal(res, PROTO_NEED_MORE);
				continue;
			}
			assert_int_equal(res, PROTO_REQUEST);
			assert_int_equal(req.type, whole.type);
			assert_int_equal(req.n, whole.n);
			assert_int_equal(consumed, c);
		}
		off += c;
	}
	assert_int_equal(i, NROWS(pipeline_want));
}

/* ---- differential test against a slow reference ---- */

static int
ref_is_ctrl(unsigned char c)
{
	return (c < 0x20 && c != '\t') || c == 0x7f;
}

static int
ref_is_space(unsigned char c)
{
	return c == ' ' || c == '\t';
}

static int
ref_verb_is(const unsigned char *t, size_t tl, const char *upper)
{
	size_t i;

	if (tl != strlen(upper))
		return 0;
	for (i = 0; i < tl; i++) {
		unsigned char c = t[i];

		if (c >= 'a' && c <= 'z')
			c = (unsigned char)(c - 'a' + 'A');
		if (c != (unsigned char)upper[i])
			return 0;
	}
	return 1;
}

/* The number rule by string comparison instead of arithmetic. */
static int
ref_number(const unsigned char *t, size_t tl, uint64_t *n)
{
	size_t i;

	if (tl < 1 || tl > 20)
		return -1;
	for (i = 0; i < tl; i++)
		if (t[i] < '0' || t[i] > '9')
			return -1;
	if (tl == 20 && memcmp(t, "18446744073709551615", 20) > 0)
		return -1;
	*n = 0;
	for (i = 0; i < tl; i++)
		*n = *n * 10 + (uint64_t)(t[i] - '0');
	return 0;
}

static enum proto_result
ref_parse(const unsigned char *b, size_t len, size_t max,
    struct request *req, size_t *consumed)
{
	const unsigned char *tok[4];
	size_t tl[4], ntok = 0, i, lf = 0, end;
	int found = 0;

	for (i = 0; i < len && !found; i++)
		if (b[i] == '\n') {
			lf = i;
			found = 1;
		}
	/* a line of lf + 1 bytes must fit in max */
	if (found && lf + 1 > max)
		found = 0;
	if (!found)
		return len >= max ? PROTO_TOO_LONG : PROTO_NEED_MORE;
	*consumed = lf + 1;
	end = lf;
	if (end > 0 && b[end - 1] == '\r')
		end--;
	req->n = 0;
	req->type = REQ_BAD;
	for (i = 0; i < end; i++)
		if (ref_is_ctrl(b[i]))
			return PROTO_REQUEST;
	for (i = 0; i < end; ) {
		if (ref_is_space(b[i])) {
			i++;
			continue;
		}
		if (ntok == 4)
			return PROTO_REQUEST;
		tok[ntok] = b + i;
		while (i < end && !ref_is_space(b[i]))
			i++;
		tl[ntok] = (size_t)(b + i - tok[ntok]);
		ntok++;
	}
	if (ntok == 0)
		req->type = REQ_EMPTY;
	else if (ref_verb_is(tok[0], tl[0], "GET")) {
		if (ntok == 2 && ref_number(tok[1], tl[1], &req->n) == 0)
			req->type = REQ_GET;
	} else if (ntok == 1 && ref_verb_is(tok[0], tl[0], "QUIT"))
		req->type = REQ_QUIT;
	else if (ntok == 1 && ref_verb_is(tok[0], tl[0], "SHUTDOWN"))
		req->type = REQ_SHUTDOWN;
	else if (ntok == 1 && ref_verb_is(tok[0], tl[0], "STATS"))
		req->type = REQ_STATS;
	return PROTO_REQUEST;
}

/* xorshift64: a fixed seed makes every run test the same inputs. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

#define FRAG(s) { s, sizeof(s) - 1 }
static const struct {
	const char *s;
	size_t len;
} frags[] = {
	FRAG("GET"), FRAG("get"), FRAG("gEt"), FRAG("QUIT"), FRAG("quit"),
	FRAG("STATS"), FRAG("stats"), FRAG("SHUTDOWN"), FRAG("ShutDown"),
	FRAG(" "), FRAG(" "), FRAG(" "), FRAG("\t"), FRAG("\r"), FRAG("\n"),
	FRAG("\r\n"), FRAG("\r\n"), FRAG("0"), FRAG("1"), FRAG("7"),
	FRAG("42"), FRAG("18446744073709551615"),
	FRAG("18446744073709551616"), FRAG("0000000000"), FRAG("\0"),
	FRAG("\x7f"), FRAG("\x80"), FRAG("\xff"), FRAG("\v"), FRAG("x"),
	FRAG("+"), FRAG("-"), FRAG("G"), FRAG("ET"),
};

static void
test_against_reference(void **state)
{
	static const size_t maxes[] = { 1, 4, 8, 16, 32, DEFAULT_MAX };
	unsigned char buf[256];
	uint64_t seed = 0x6c696e65737672ULL;
	size_t len, off, nfrag, i, j, max, c1, c2;
	struct request r1, r2;
	enum proto_result p1, p2;

	(void)state;
	for (i = 0; i < 200000; i++) {
		len = 0;
		nfrag = (size_t)(rnd(&seed) % 12);
		for (j = 0; j < nfrag; j++) {
			size_t f = (size_t)(rnd(&seed) % NROWS(frags));

			memcpy(buf + len, frags[f].s, frags[f].len);
			len += frags[f].len;
		}
		max = maxes[rnd(&seed) % NROWS(maxes)];
		for (off = 0; ; off += c1) {
			/* printed on failure even when a parser left them */
			memset(&r1, 0, sizeof(r1));
			memset(&r2, 0, sizeof(r2));
			c1 = c2 = 0;
			p1 = parse_guarded(buf + off, len - off, max, &r1, &c1);
			p2 = ref_parse(buf + off, len - off, max, &r2, &c2);
			if (p1 != p2 || (p1 == PROTO_REQUEST &&
			    (r1.type != r2.type || c1 != c2 ||
			    (r1.type == REQ_GET && r1.n != r2.n)))) {
				print_error("input \"%s\" max %zu: parser %d/%d/"
				    "%zu, reference %d/%d/%zu\n",
				    show((const char *)buf + off, len - off),
				    max, (int)p1, (int)r1.type, c1, (int)p2,
				    (int)r2.type, c2);
				fail();
			}
			if (p1 != PROTO_REQUEST)
				break;
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_guard_page_faults),
		cmocka_unit_test(test_command_table),
		cmocka_unit_test(test_framing),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_limit_rows),
		cmocka_unit_test(test_limit_boundaries),
		cmocka_unit_test(test_long_buffer_small_limit),
		cmocka_unit_test(test_pipeline_in_sequence),
		cmocka_unit_test(test_pipeline_every_split),
		cmocka_unit_test(test_against_reference),
	};

	return cmocka_run_group_tests(tests, guard_setup, guard_teardown);
}
