/*
 * it_limits: linesvr's limits as a client meets them — max_connections,
 * idle_timeout (slowloris included; a slow reader and a connection with
 * answers still queued in the kernel are not idle), max_request,
 * max_output backpressure with bounded server memory, and a line far
 * longer than max_output.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 20000	/* bound on anything that must happen */

/* ---- small helpers ---- */

/* Nothing arrives and the peer does not close during ms milliseconds. */
static void
assert_quiet(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	if (poll(&p, 1, ms) != 0) {
		char buf[64];
		ssize_t n = recv(fd, buf, sizeof(buf) - 1, MSG_DONTWAIT);
		if (n > 0) {
			buf[n] = '\0';
			fail_msg("unexpected bytes from the server: %s", buf);
		}
		fail_msg("the server closed a connection it should keep");
	}
}

/*
 * Wait up to ms for the server to close fd without sending anything; the
 * time it took in milliseconds, or -1 if it stayed open. A reset counts as
 * a close (bytes sent after the server's close may cause one).
 */
static long long
wait_closed(int fd, int ms)
{
	long long t0 = now_ms();
	char c;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		long long left = t0 + ms - now_ms();
		ssize_t n;
		if (left <= 0 || poll(&p, 1, (int)left) == 0)
			return -1;
		n = recv(fd, &c, 1, MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno == ECONNRESET))
			return now_ms() - t0;
		if (n > 0)
			fail_msg("unexpected byte 0x%02x from the server",
			    (unsigned char)c);
	}
}

/* The answer to GET n on a file of lines "line <n>\n". */
static void
expect_numbered(int fd, unsigned n)
{
	char want[64];

	snprintf(want, sizeof(want), "OK\r\nline %u\n", n);
	expect_str(fd, want);
}

static char *
numbered_text(unsigned lines, size_t *len)
{
	char *buf = malloc((size_t)lines * 16 + 1);
	size_t n = 0;

	assert_non_null(buf);
	for (unsigned i = 1; i <= lines; i++)
		n += (size_t)sprintf(buf + n, "line %u\n", i);
	*len = n;
	return buf;
}

/* ---- fixtures ---- */

struct fixture {
	struct srv s;
	int fds[8];
	char *text;
	size_t *off;            /* of a mixed text: line n starts at off[n] */
	struct bytes req, want; /* pipelined requests and their answers */
	struct textfile tf;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->s.pid = -1;
	for (int i = 0; i < 8; i++)
		f->fds[i] = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (int i = 0; i < 8; i++)
		if (f->fds[i] >= 0)
			close(f->fds[i]);
	srv_cleanup(&f->s);
	free(f->text);
	free(f->off);
	free(f->req.p);
	free(f->want.p);
	textfile_free(&f->tf);
	free(f);
	return 0;
}

static void
start_numbered(struct fixture *f, unsigned lines, const char *conf)
{
	size_t len;

	f->text = numbered_text(lines, &len);
	srv_prepare(&f->s, f->text, len);
	srv_start(&f->s, conf);
}

/*
 * A mixed text: MX_LINES short lines of every byte value but LF, and
 * MX_NLONG long ones (lines 1000, 2000, ...), long enough to be streamed
 * from the file rather than copied.
 */
#define MX_LINES 20000
#define MX_NLONG 5
#define MX_LONG  70000
#define MX_SHORT 100	/* bytes of a short line at most, LF included */

static size_t
mixed_len(size_t n)
{
	if (n % 1000 == 0 && n / 1000 <= MX_NLONG)
		return MX_LONG;
	return 1 + (n * 37) % MX_SHORT;
}

static void
start_mixed(struct fixture *f, const char *conf)
{
	size_t len;

	f->text = byte_lines(MX_LINES, mixed_len, &f->off, &len);
	srv_prepare(&f->s, f->text, len);
	srv_start(&f->s, conf);
}

/* The request GET n into f->req, its exact answer into f->want. */
static void
add_get(struct fixture *f, size_t n)
{
	char r[64];

	snprintf(r, sizeof(r), "GET %zu\n", n);
	bytes_str(&f->req, r);
	bytes_str(&f->want, "OK\r\n");
	bytes_add(&f->want, f->text + f->off[n], f->off[n + 1] - f->off[n]);
}

/* ---- max_connections ---- */

static void
test_max_connections(void **state)
{
	struct fixture *f = *state;
	char stats[4096], *got;
	size_t len;

	start_numbered(f, 10, "max_connections = 3\n");
	/* Three connections, each proven accepted by an answer. */
	for (int i = 0; i < 3; i++) {
		f->fds[i] = srv_connect(&f->s);
		send_str(f->fds[i], "GET 2\r\n");
		expect_numbered(f->fds[i], 2);
	}
	/* The fourth: exactly ERR, then EOF. */
	f->fds[3] = srv_connect(&f->s);
	got = recv_all(f->fds[3], &len);
	assert_int_equal(len, 5);
	assert_memory_equal(got, "ERR\r\n", 5);
	free(got);
	close(f->fds[3]);
	f->fds[3] = -1;

	/* The three still work; free one slot and wait until it is free. */
	send_str(f->fds[1], "GET 3\r\n");
	expect_numbered(f->fds[1], 3);
	close(f->fds[0]);
	f->fds[0] = -1;
	wait_stat_fd(f->fds[1], "connections_current", 2, WAIT_MS);
	/* The freed slot takes a new connection, which asks STATS. */
	f->fds[4] = srv_connect(&f->s);
	srv_read_stats(f->fds[4], stats, sizeof(stats));
	assert_int_equal(stat_value(stats, "connections_current"), 3);
	assert_int_equal(stat_value(stats, "connections_rejected"), 1);
	/* 3 served + 1 rejected + this one. */
	assert_int_equal(stat_value(stats, "connections_total"), 5);
	/* The rejection's ERR is an ERR answer like any other. */
	assert_int_equal(stat_value(stats, "requests_err"), 1);
	send_str(f->fds[4], "GET 10\r\n");
	expect_numbered(f->fds[4], 10);
	srv_stop(&f->s);
}

/* ---- idle_timeout ---- */

/* An idle connection is closed, without a message, after about 1 s. */
static void
test_idle_closed(void **state)
{
	struct fixture *f = *state;
	long long t0, took;

	start_numbered(f, 10, "idle_timeout = 1\n");
	t0 = now_ms();
	f->fds[0] = srv_connect(&f->s);
	if (wait_closed(f->fds[0], 5000) < 0)
		fail_msg("an idle connection stayed open for 5 s");
	/* Counted from before connect, so never more than the server's. */
	took = now_ms() - t0;
	if (took < 900)
		fail_msg("an idle connection was closed after %lld ms", took);
	print_message("idle connection closed after %lld ms\n", took);
	srv_stop(&f->s);
}

/* A request every 0.3 s keeps a connection open well past the timeout. */
static void
test_idle_active_stays(void **state)
{
	struct fixture *f = *state;
	long long t0, took;
	char req[32];

	start_numbered(f, 10, "idle_timeout = 1\n");
	f->fds[0] = srv_connect(&f->s);
	t0 = now_ms();
	for (unsigned i = 1; now_ms() - t0 < 2000; i = i % 10 + 1) {
		snprintf(req, sizeof(req), "GET %u\r\n", i);
		send_str(f->fds[0], req);
		expect_numbered(f->fds[0], i);
		assert_quiet(f->fds[0], 300);
	}
	/* Quiet from now on: closed after one more timeout. */
	took = wait_closed(f->fds[0], 5000);
	assert_true(took >= 0);
	srv_stop(&f->s);
}

/* An empty line is a complete request too: it resets the idle time. */
static void
test_idle_empty_line_counts(void **state)
{
	struct fixture *f = *state;
	long long t0;

	start_numbered(f, 10, "idle_timeout = 1\n");
	f->fds[0] = srv_connect(&f->s);
	send_str(f->fds[0], "GET 1\r\n");
	expect_numbered(f->fds[0], 1);
	t0 = now_ms();
	while (now_ms() - t0 < 2000) {
		send_str(f->fds[0], "\r\n");
		assert_quiet(f->fds[0], 300);
	}
	send_str(f->fds[0], "GET 7\r\n");
	expect_numbered(f->fds[0], 7);
	srv_stop(&f->s);
}

/* Slowloris: bytes trickling in without an LF do not reset the timeout. */
static void
test_slowloris(void **state)
{
	struct fixture *f = *state;
	static const char trickle[] = "GET 1";
	long long t0, took = -1;
	size_t i = 0;

	start_numbered(f, 10, "idle_timeout = 1\n");
	t0 = now_ms();
	f->fds[0] = srv_connect(&f->s);
	while (now_ms() - t0 < 5000) {
		/* After "GET 1", trailing spaces: still one request, no LF. */
		char c = i < sizeof(trickle) - 1 ? trickle[i] : ' ';
		if (send(f->fds[0], &c, 1, MSG_NOSIGNAL) < 0) {
			took = now_ms() - t0; /* reset by the closed peer */
			break;
		}
		i++;
		if ((took = wait_closed(f->fds[0], 200)) >= 0) {
			took = now_ms() - t0;
			break;
		}
	}
	if (took < 0)
		fail_msg("a trickling client was not cut off within 5 s "
		    "(%zu bytes sent)", i);
	if (took > 3000)
		fail_msg("a trickling client was cut off only after %lld ms",
		    took);
	assert_true(took >= 900);
	print_message("trickling client cut off after %lld ms, %zu bytes\n",
	    took, i);
	srv_stop(&f->s);
}

/*
 * SPEC 5: "a connection with answers still being written is not idle".
 * About 1.1 MB of answers to short lines fit the server's socket buffer,
 * so the server is done with them while the client, with a 4 KiB receive
 * buffer, has read none. Were the connection closed then, the client's
 * next request would draw a reset that discards the queued answers.
 */
static void
test_idle_keeps_queued_answers(void **state)
{
	struct fixture *f = *state;
	size_t len, npipe = 0;
	char *got;
	int fd, err;

	start_mixed(f, "workers = 1\nidle_timeout = 1\n");
	for (size_t n = 1; n <= MX_LINES; n++)
		if (mixed_len(n) <= MX_SHORT) {
			add_get(f, n);
			npipe++;
		}
	fd = f->fds[0] = srv_connect_rcvbuf(&f->s, 4096);
	send_all(fd, f->req.p, f->req.len);
	wait_stat(&f->s, "requests_get", npipe, WAIT_MS);
	/* Time passing is the test: longer than idle_timeout with the
	 * answers queued and nothing read. */
	nap_ms(1500);
	(void)send(fd, "GET 1\n", 6, MSG_NOSIGNAL);
	wait_sent(fd, WAIT_MS);
	/* All answers, GET 1's too, then the idle close. */
	got = recv_until_end(fd, &len, &err);
	assert_answers_prefix(got, len, err, f->want.p, f->want.len);
	free(got);
	srv_stop(&f->s);
}

/*
 * A slowloris is cut at idle_timeout while a slow reader of long,
 * streamed output is not; a stream of empty lines keeps a connection
 * alive. Time passing is the test: the reader takes more than a second.
 */
static void
test_idle_slow_reader_stays(void **state)
{
	struct fixture *f = *state;
	int trickle, reader, blank;
	size_t got = 0;
	long long t0, last = 0;
	char buf[1024];

	start_mixed(f, "idle_timeout = 1\nworkers = 1\n");
	for (int i = 0; i < 40; i++)
		add_get(f, 1000 * (size_t)(i % MX_NLONG + 1)); /* 2.8 MB */
	trickle = f->fds[0] = srv_connect(&f->s);
	blank = f->fds[1] = srv_connect(&f->s);
	reader = f->fds[2] = srv_connect_rcvbuf(&f->s, 4096);
	send_all(reader, f->req.p, f->req.len);
	t0 = now_ms();
	while (got < f->want.len && now_ms() - t0 < WAIT_MS) {
		ssize_t r = recv(reader, buf, sizeof(buf), 0);
		assert_true(r > 0);
		assert_memory_equal(buf, f->want.p + got, (size_t)r);
		got += (size_t)r;
		if (now_ms() - last >= 200) {   /* 5 bytes a second */
			last = now_ms();
			(void)send(trickle, "G", 1, MSG_NOSIGNAL);
			send_str(blank, "\n");
		}
		nap_ms(1);                      /* a slow reader */
	}
	assert_true(now_ms() - t0 > 1500);      /* the reader outlived 1 s */
	assert_int_equal(got, f->want.len);
	assert_true(peer_closed(trickle, 100));
	send_str(blank, "GET 3\n");
	expect_str(blank, "OK\r\n");
	srv_stop(&f->s);
}

/* ---- max_request ---- */

static void
test_max_request(void **state)
{
	struct fixture *f = *state;
	/* 3 + 7 + 20 + 2 = 32 bytes, CRLF included. */
	static const char exact[] = "GET       00000000000000000007\r\n";
	static const char too_long[] = "GET      00000000000000000007 ";
	char *got;
	size_t len;

	assert_int_equal(strlen(exact), 32);
	assert_int_equal(strlen(too_long), 30);
	start_numbered(f, 10, "max_request = 32\n");

	/* Exactly max_request bytes: an ordinary request. */
	f->fds[0] = srv_connect(&f->s);
	send_str(f->fds[0], exact);
	expect_numbered(f->fds[0], 7);
	send_str(f->fds[0], exact);
	send_str(f->fds[0], "GET 3\n");
	expect_numbered(f->fds[0], 7);
	expect_numbered(f->fds[0], 3);

	/* 31 bytes without an LF: still waiting; the 32nd ends it. */
	send_str(f->fds[0], too_long);
	send_str(f->fds[0], " ");
	assert_quiet(f->fds[0], 300);
	send_str(f->fds[0], " ");
	got = recv_all(f->fds[0], &len);
	assert_int_equal(len, 5);
	assert_memory_equal(got, "ERR\r\n", 5);
	free(got);

	/* 33 bytes with the LF last: too long as well, all sent at once. */
	f->fds[1] = srv_connect(&f->s);
	send_str(f->fds[1], "GET        00000000000000000007\r\n");
	got = recv_all(f->fds[1], &len);
	assert_int_equal(len, 5);
	assert_memory_equal(got, "ERR\r\n", 5);
	free(got);
	assert_true(srv_stat(&f->s, "requests_err") >= 2);
	srv_stop(&f->s);
}

/*
 * max_request = 65536: a request of exactly 65536 bytes (CRLF or LF) is
 * served amid long streamed lines, sent in pieces of every size; 65536
 * bytes without an LF gets ERR and the close.
 */
static void
test_max_request_amid_streamed_lines(void **state)
{
	struct fixture *f = *state;
	char *big = malloc(65536), *got;
	size_t len;
	int fd;

	assert_non_null(big);
	start_mixed(f, "max_request = 65536\nmax_output = 4K\n");
	for (int k = 0; k < 40; k++) {
		size_t n = k % 3 == 0 ? (size_t)(1000 * (k % MX_NLONG + 1)) :
		    (size_t)k * 77 + 1;
		if (k % 5 == 1) {
			char tok[32];
			int tl = snprintf(tok, sizeof(tok), "GET %zu", n);
			memset(big, ' ', 65536);
			memcpy(big + 30000, tok, (size_t)tl);
			if (k % 2)
				big[65534] = '\r';
			big[65535] = '\n';
			bytes_add(&f->req, big, 65536);
			bytes_str(&f->want, "OK\r\n");
			bytes_add(&f->want, f->text + f->off[n],
			    f->off[n + 1] - f->off[n]);
		} else
			add_get(f, n);
	}
	memset(big, 'x', 65536);
	bytes_add(&f->req, big, 65536);
	bytes_str(&f->want, "ERR\r\n");
	free(big);
	fd = f->fds[0] = srv_connect_rcvbuf(&f->s, 4096);
	for (size_t p = 0, step = 1; p < f->req.len; p += step, step = step *
	    7 % 65537 + 1)
		send_all(fd, f->req.p + p, p + step > f->req.len ?
		    f->req.len - p : step);
	got = recv_all(fd, &len);
	assert_answers(got, len, f->want.p, f->want.len);
	free(got);
	srv_stop(&f->s);
}

/* ---- backpressure ---- */

#define BP_LINES    10000
#define BP_REQUESTS 100000
#define BP_RSS_SLACK_KB (8 * 1024)

/* The writer thread: sends everything, however long the server holds back
 * (bounded); never touches cmocka. */
struct writer {
	int fd;
	const char *buf;
	size_t len;
	_Atomic size_t sent;
	int err;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	long long deadline = now_ms() + 40000;
	size_t off = 0;

	while (off < w->len) {
		struct pollfd p = { .fd = w->fd, .events = POLLOUT };
		ssize_t n;
		if (now_ms() > deadline) {
			w->err = ETIMEDOUT;
			break;
		}
		if (poll(&p, 1, 1000) <= 0)
			continue;
		n = send(w->fd, w->buf + off, w->len - off,
		    MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n < 0) {
			w->err = errno;
			break;
		}
		off += (size_t)n;
		w->sent = off;
	}
	return NULL;
}

/* A byte of the backpressure text: printable, a tab or a CR. */
static char
printable_byte(uint64_t *st)
{
	unsigned r = (unsigned)(splitmix64(st) % 97);

	return (char)(r == 95 ? '\t' : r == 96 ? '\r' : ' ' + r);
}

static void
test_backpressure(void **state)
{
	static const size_t warm[3] = { 1, 5000, 10000 };
	struct fixture *f = *state;
	uint64_t st = 7;
	const size_t *off;
	const char *text;
	char *req, *want, *got;
	size_t rlen = 0, wlen = 0, glen;
	struct writer w;
	pthread_t th;
	long base, peak = 0, rss;
	long long t0;
	int fd, rerr;

	/* ~100-byte lines (50 to 150 bytes), fixed seed. */
	textfile_gen(&f->tf, &st, BP_LINES, 50, 150, printable_byte);
	text = f->tf.buf;
	off = f->tf.off;
	srv_prepare(&f->s, text, f->tf.len);
	srv_start(&f->s, "max_output = 64K\n");

	/* Requests and the answers they must get. */
	req = malloc((size_t)BP_REQUESTS * 16);
	want = malloc((size_t)BP_REQUESTS * (4 + 151));
	assert_non_null(req);
	assert_non_null(want);
	for (size_t i = 0; i < BP_REQUESTS; i++) {
		size_t n = 1 + (size_t)(splitmix64(&st) % BP_LINES);
		rlen += (size_t)sprintf(req + rlen, "GET %zu\r\n", n);
		memcpy(want + wlen, "OK\r\n", 4);
		memcpy(want + wlen + 4, text + off[n - 1], off[n] - off[n - 1]);
		wlen += 4 + off[n] - off[n - 1];
	}
	rlen += (size_t)sprintf(req + rlen, "QUIT\r\n");

	/* Baseline once every index page is in the cache. */
	fd = srv_connect(&f->s);
	send_str(fd, "GET 1\r\nGET 5000\r\nGET 10000\r\n");
	for (size_t i = 0; i < 3; i++) {
		size_t n = warm[i];
		expect_str(fd, "OK\r\n");
		expect_bytes(fd, text + off[n - 1], off[n] - off[n - 1]);
	}
	close(fd);
	base = proc_status_kb(f->s.pid, "RssAnon");
	assert_true(base > 0);

	/* Pipeline everything and read nothing for 2 s, sampling the
	 * server's memory: time passing is the test (memory stays bounded
	 * for as long as the client does not read). */
	fd = f->fds[0] = srv_connect_rcvbuf(&f->s, 64 * 1024);
	memset(&w, 0, sizeof(w));
	w.fd = fd;
	w.buf = req;
	w.len = rlen;
	assert_int_equal(pthread_create(&th, NULL, writer_main, &w), 0);
	t0 = now_ms();
	while (now_ms() - t0 < 2000) {
		rss = proc_status_kb(f->s.pid, "RssAnon");
		if (rss > peak)
			peak = rss;
		nap_ms(20);
	}
	print_message("RssAnon baseline %ld kB, peak %ld kB while not "
	    "reading; %zu of %zu request bytes taken\n", base, peak,
	    (size_t)w.sent, rlen);
	if (peak >= base + BP_RSS_SLACK_KB) {
		shutdown(fd, SHUT_RDWR);
		pthread_join(th, NULL);
		fail_msg("server RssAnon grew from %ld to %ld kB", base, peak);
	}

	/* Now read it all: every answer in order, then the close of QUIT.
	 * The writer is joined before any assertion can leave the test. */
	got = recv_until_end(fd, &glen, &rerr);
	if (rerr != 0)
		shutdown(fd, SHUT_RDWR);
	pthread_join(th, NULL);
	if (rerr != 0)
		fail_msg("reading the answers: %s after %zu of %zu bytes",
		    strerror(rerr), glen, wlen);
	assert_int_equal(w.err, 0);
	assert_int_equal(w.sent, rlen);
	assert_answers(got, glen, want, wlen);
	free(got);
	free(req);
	free(want);
	srv_stop(&f->s);
}

/* ---- a line longer than max_output ---- */

#define BIG_LINE (8u << 20)
#define HUGE_RSS_SLACK_KB (4 * 1024)

static void
test_huge_line(void **state)
{
	struct fixture *f = *state;
	static const char head[] = "first\n", tail[] = "after\nlast\n";
	size_t hl = sizeof(head) - 1, tl = sizeof(tail) - 1;
	size_t tlen = hl + BIG_LINE + 1 + tl, wlen;
	char *text = malloc(tlen), *want, *p;
	uint64_t st = 99;
	long base, rss, peak = 0;
	int fd;

	assert_non_null(text);
	f->text = text;
	memcpy(text, head, hl);
	/* Every byte value but LF, NUL and CR included. */
	for (size_t i = 0; i < BIG_LINE; i++) {
		unsigned char c = (unsigned char)splitmix64(&st);
		text[hl + i] = (char)(c == '\n' ? 0 : c);
	}
	text[hl + BIG_LINE] = '\n';
	memcpy(text + hl + BIG_LINE + 1, tail, tl);
	srv_prepare(&f->s, text, tlen);
	srv_start(&f->s, "max_output = 64K\n");

	fd = f->fds[0] = srv_connect(&f->s);
	send_str(fd, "GET 1\r\n");
	expect_str(fd, "OK\r\nfirst\n");
	base = proc_status_kb(f->s.pid, "RssAnon");

	/*
	 * GET 2 twice around GET 3, then GET 4; not read for half a second
	 * of memory samples (time passing is the test). The line is
	 * streamed from the file, so the server holds a fraction of it at
	 * most: half of it in memory is a failure.
	 */
	send_str(fd, "GET 2\r\nGET 3\r\nGET 2\r\nGET 4\r\nQUIT\r\n");
	for (int i = 0; i < 25; i++) {
		nap_ms(20);
		rss = proc_status_kb(f->s.pid, "RssAnon");
		if (rss > peak)
			peak = rss;
	}
	print_message("RssAnon baseline %ld kB, peak %ld kB while a long "
	    "line waits\n", base, peak);
	if (peak >= base + HUGE_RSS_SLACK_KB)
		fail_msg("server RssAnon grew from %ld to %ld kB streaming a "
		    "long line", base, peak);

	wlen = 2 * (4 + BIG_LINE + 1) + 2 * 4 + tl;
	assert_non_null(want = malloc(wlen));
	p = want;
	memcpy(p, "OK\r\n", 4);
	memcpy(p + 4, text + hl, BIG_LINE + 1);
	p += 4 + BIG_LINE + 1;
	memcpy(p, "OK\r\nafter\n", 10);
	p += 10;
	memcpy(p, "OK\r\n", 4);
	memcpy(p + 4, text + hl, BIG_LINE + 1);
	p += 4 + BIG_LINE + 1;
	memcpy(p, "OK\r\nlast\n", 9);
	p += 9;
	assert_int_equal((size_t)(p - want), wlen);

	expect_rest(fd, want, wlen);
	free(want);
	srv_stop(&f->s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_max_connections, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_closed, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_active_stays, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_empty_line_counts,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_slowloris, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_idle_keeps_queued_answers,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_idle_slow_reader_stays,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_max_request, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_max_request_amid_streamed_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_backpressure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_huge_line, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
