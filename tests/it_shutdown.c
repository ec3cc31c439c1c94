/*
 * Integration tests: how linesvr stops (SPEC.md sections 2 and 5).
 *
 * SHUTDOWN under each policy, the drain (every request that reached the
 * server before the stop is answered, exactly, then EOF), SIGTERM and
 * SIGINT, answers still queued in the kernel when the server closes,
 * drain_timeout against a client that never reads, SIGHUP's log reopen,
 * QUIT and half-close.
 *
 * "Reached the server" is made exact, not timed: after sending, a client
 * polls SIOCOUTQ until its send queue is empty, i.e. the server's kernel
 * has acknowledged every byte, before the stop is triggered.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define NLINES     2000
#define LONG_LINE  1000      /* streamed: longer than the inline limit */
#define LONG_LEN   100000
#define NPIPE      500       /* pipelined GETs in the drain tests */
#define NQUEUED    20000     /* short GETs: about 1.1 MB of answers */
#define SHORT_MAX  100       /* bytes of a short line, LF included */
#define WAIT_MS    20000     /* generous bound for anything that must happen */

struct fx {
	struct srv s;
	char *text;
	size_t len;
	size_t *off;             /* off[n] = start of line n; off[NLINES+1] = len */
	struct bytes want, want2; /* expected answers; freed by teardown, */
	struct bytes req;         /* so a failed assertion leaks nothing */
};

/* ---- fixture ---- */

static size_t
line_len(size_t n)
{
	return n == LONG_LINE ? LONG_LEN : 1 + (n * 37) % 700;
}

/* Deterministic lines of every byte value but LF (NUL and CR included). */
static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->text = byte_lines(NLINES, line_len, &f->off, &f->len);
	srv_prepare(&f->s, f->text, f->len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	srv_cleanup(&f->s);
	free(f->want.p);
	free(f->want2.p);
	free(f->req.p);
	free(f->text);
	free(f->off);
	free(f);
	return 0;
}

/* ---- helpers ---- */

/* The exact answer to GET n. */
static void
add_answer(struct bytes *b, const struct fx *f, size_t n)
{
	bytes_add(b, "OK\r\n", 4);
	bytes_add(b, f->text + f->off[n], f->off[n + 1] - f->off[n]);
}

static void
expect_line(const struct fx *f, int fd, size_t n)
{
	struct bytes b = { 0 };

	add_answer(&b, f, n);
	expect_bytes(fd, b.p, b.len);
	free(b.p);
}

/*
 * Send NPIPE pipelined GETs on fd; append their answers to want. Every
 * fifth asks for the long line: about 10 MB in all, more than socket
 * buffers and max_output hold together, so when the stop comes the server
 * still owes output and has requests it has not parsed. Blanks pad the
 * requests to about 20 KB, more than the server reads at once, so some
 * are still waiting in its socket buffer.
 */
static void
send_pipeline(struct fx *f, int fd, struct bytes *want)
{
	char blanks[64];
	struct bytes *req = &f->req;
	char line[160];

	req->len = 0;
	for (size_t i = 0; i < sizeof(blanks); i++)
		blanks[i] = i % 5 == 2 ? '\t' : ' ';
	for (size_t i = 0; i < NPIPE; i++) {
		size_t n = i % 5 == 4 ? LONG_LINE : (i * 797) % NLINES + 1;
		int len = snprintf(line, sizeof(line), "%.*s%s%.*s%zu%.*s%s",
		    (int)(i % 4), blanks, i % 3 ? "GET" : "get",
		    (int)(1 + i % 60), blanks, n, (int)(i % 7), blanks,
		    i % 2 ? "\r\n" : "\n");
		bytes_add(req, line, (size_t)len);
		add_answer(want, f, n);
	}
	assert_true(req->len > 16 * 1024);
	send_all(fd, req->p, req->len);
}

/* A GET for line n into f->req, its answer into f->want. */
static void
add_get(struct fx *f, size_t n)
{
	char r[32];

	snprintf(r, sizeof(r), "GET %zu\n", n);
	bytes_str(&f->req, r);
	add_answer(&f->want, f, n);
}

/*
 * NQUEUED GETs of short lines: their answers, about 1.1 MB, fit the
 * server's socket buffer, so the server can write them all and finish
 * with the connection while a client with a 4 KiB receive buffer has
 * read almost none of them.
 */
static void
short_pipeline(struct fx *f)
{
	size_t n = 0;

	for (size_t i = 0; i < NQUEUED; i++) {
		do
			n = n % NLINES + 1;
		while (line_len(n) > SHORT_MAX);
		add_get(f, n);
	}
}

/*
 * After the server has shut down its side of fd (its answers all written,
 * most still queued in its kernel), send one more request and read to the
 * end: every answer in want must come. A close() that leaves input unread,
 * or that gets input afterwards, makes the kernel reset the connection and
 * throw away what it still queues, so the server must linger.
 */
static void
late_request_keeps_answers(struct fx *f, int fd)
{
	size_t len;
	char *got;
	int err;

	wait_peer_shut(fd, WAIT_MS);
	(void)send(fd, "GET 1\n", 6, MSG_NOSIGNAL);
	wait_sent(fd, WAIT_MS);
	got = recv_until_end(fd, &len, &err);
	close(fd);
	assert_int_equal(srv_wait(&f->s, WAIT_MS), 0);
	assert_answers_prefix(got, len, err, f->want.p, f->want.len);
	free(got);
}

static void
assert_refused(int port)
{
	int fd = loopback_connect(port, 0);

	if (fd >= 0) {
		close(fd);
		fail_msg("port %d still accepts connections", port);
	}
	assert_int_equal(errno, ECONNREFUSED);
}

/* Ask for about 10 MB of the streamed line and never read any of it. */
static int
stuck_client(const struct fx *f)
{
	return srv_stuck_client(&f->s, LONG_LINE, 100);
}

/* SHUTDOWN on a fresh connection; the server answers nothing, then EOF. */
static void
send_shutdown(const struct srv *s)
{
	int fd = srv_connect(s);

	send_str(fd, "SHUTDOWN\r\n");
	expect_rest(fd, "", 0);
	close(fd);
}

/* ---- SHUTDOWN policies ---- */

static void
test_shutdown_any(void **state)
{
	struct fx *f = *state;
	struct bytes *want = &f->want;
	int fd, port;

	srv_start(&f->s, "shutdown = any\ndrain_timeout = 5\n");
	port = f->s.port;
	fd = srv_connect(&f->s);
	send_str(fd, "GET 1\r\nSHUTDOWN\r\n");
	add_answer(want, f, 1);
	expect_rest(fd, want->p, want->len);
	close(fd);
	assert_int_equal(srv_wait(&f->s, 5000 + 3000), 0);
	assert_refused(port);
}

/* Default policy (local) from 127.0.0.1; explicit local from 127.0.0.2. */
static void
shutdown_local_from(struct fx *f, const char *conf, const char *src)
{
	struct sockaddr_in sin;
	struct bytes *want = &f->want;
	struct timeval tv = { 20, 0 };
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	srv_start(&f->s, conf);
	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, src, &sin.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	sin.sin_port = htons((uint16_t)f->s.port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	send_str(fd, "GET 2\r\nshutdown\r\n");
	add_answer(want, f, 2);
	expect_rest(fd, want->p, want->len);
	close(fd);
	assert_int_equal(srv_wait(&f->s, 5000 + 3000), 0);
}

static void
test_shutdown_local_default(void **state)
{
	shutdown_local_from(*state, "drain_timeout = 5\n", "127.0.0.1");
}

static void
test_shutdown_local_other_loopback(void **state)
{
	/* 127.0.0.0/8 is loopback, not only 127.0.0.1. */
	shutdown_local_from(*state, "shutdown = local\ndrain_timeout = 5\n",
	    "127.0.0.2");
}

/*
 * bind = :: is dual-stack: an IPv4 client connects, and its address, the
 * IPv4-mapped ::ffff:127.0.0.1, is loopback to shutdown = local.
 */
static void
test_shutdown_local_mapped_ipv4(void **state)
{
	struct fx *f = *state;
	int fd;

	if (access("/proc/net/if_inet6", F_OK) != 0)
		skip();
	srv_start(&f->s, "bind = ::\n");
	fd = loopback_connect(f->s.port, 0);
	if (fd < 0)
		fail_msg("bind = ::, connect to 127.0.0.1: %s", strerror(errno));
	send_str(fd, "SHUTDOWN\n");
	assert_true(peer_closed(fd, WAIT_MS));
	close(fd);
	assert_int_equal(srv_wait(&f->s, WAIT_MS), 0);
}

static void
test_shutdown_off(void **state)
{
	struct fx *f = *state;
	int fd, st;

	srv_start(&f->s, "shutdown = off\n");
	fd = srv_connect(&f->s);
	send_str(fd, "SHUTDOWN\r\nGET 3\r\n");
	expect_str(fd, "ERR\r\n");
	expect_line(f, fd, 3);
	/* Still serving, on this connection and on new ones. */
	send_str(fd, "GET 4\r\n");
	expect_line(f, fd, 4);
	close(fd);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 5\r\n");
	expect_line(f, fd, 5);
	close(fd);
	assert_false(srv_exited(&f->s, &st));
	assert_int_equal(srv_stat(&f->s, "requests_err"), 1);
	srv_stop(&f->s);
}

/* ---- the drain ---- */

static void
test_drain_pipelined(void **state)
{
	struct fx *f = *state;
	struct bytes *want_a = &f->want, *want_b = &f->want2;
	int a, b;

	srv_start(&f->s, "shutdown = any\ndrain_timeout = 8\n");
	a = srv_connect_rcvbuf(&f->s, 4096);
	send_pipeline(f, a, want_a);
	wait_sent(a, WAIT_MS);
	/* Requests before SHUTDOWN on its own connection are answered too. */
	b = srv_connect(&f->s);
	send_str(b, "GET 5\r\nGET 2000\nSHUTDOWN\r\n");
	add_answer(want_b, f, 5);
	add_answer(want_b, f, 2000);
	expect_rest(b, want_b->p, want_b->len);
	close(b);
	expect_rest(a, want_a->p, want_a->len);
	close(a);
	assert_int_equal(srv_wait(&f->s, 8000 + 5000), 0);
}

/*
 * Lone GETs from many connections, read in one turn of the loop, are held
 * back and answered together at its end; a SHUTDOWN read in the same turn
 * must lose none of them. The server is stopped while the requests
 * arrive, so that one turn reads them all.
 */
static void
test_drain_lone_gets(void **state)
{
	enum { NC = 40 };
	struct fx *f = *state;
	int fd[NC], sd;
	char req[32];

	srv_start(&f->s, "shutdown = any\ndrain_timeout = 8\n");
	for (int i = 0; i < NC; i++) {
		fd[i] = srv_connect(&f->s);
		send_str(fd[i], "GET 1\r\n");
		expect_line(f, fd[i], 1);
	}
	sd = srv_connect(&f->s);
	send_str(sd, "GET 2\r\n");
	expect_line(f, sd, 2);
	proc_stop(f->s.pid);
	for (int i = 0; i < NC; i++) {
		snprintf(req, sizeof(req), "GET %d\r\n", 3 + i * 47);
		send_str(fd[i], req);
		wait_sent(fd[i], WAIT_MS);
	}
	send_str(sd, "SHUTDOWN\r\n");
	wait_sent(sd, WAIT_MS);
	assert_int_equal(kill(f->s.pid, SIGCONT), 0);
	for (int i = 0; i < NC; i++) {
		f->want.len = 0;
		add_answer(&f->want, f, 3 + (size_t)i * 47);
		expect_rest(fd[i], f->want.p, f->want.len);
		close(fd[i]);
	}
	expect_rest(sd, "", 0);
	close(sd);
	assert_int_equal(srv_wait(&f->s, 8000 + 5000), 0);
}

static void
signal_drain(struct fx *f, int sig)
{
	struct bytes *want = &f->want;
	int a;

	srv_start(&f->s, "drain_timeout = 8\n");
	a = srv_connect_rcvbuf(&f->s, 4096);
	send_pipeline(f, a, want);
	wait_sent(a, WAIT_MS);
	assert_int_equal(kill(f->s.pid, sig), 0);
	expect_rest(a, want->p, want->len);
	close(a);
	assert_int_equal(srv_wait(&f->s, 8000 + 5000), 0);
}

static void
test_sigterm_drains(void **state)
{
	signal_drain(*state, SIGTERM);
}

static void
test_sigint_drains(void **state)
{
	signal_drain(*state, SIGINT);
}

/* ---- answers still queued in the kernel ---- */

/* SIGTERM answers every request that reached the server and flushes. */
static void
test_sigterm_keeps_queued_answers(void **state)
{
	struct fx *f = *state;
	int fd;

	short_pipeline(f);
	srv_start(&f->s, "workers = 1\n");
	fd = srv_connect_rcvbuf(&f->s, 4096);
	send_all(fd, f->req.p, f->req.len);
	wait_sent(fd, WAIT_MS);
	assert_int_equal(kill(f->s.pid, SIGTERM), 0);
	late_request_keeps_answers(f, fd);
}

/* SHUTDOWN answers every earlier request and flushes; the bytes after it
 * are never answered, but they must not cost the answers before it. */
static void
test_shutdown_keeps_queued_answers(void **state)
{
	struct fx *f = *state;
	int fd;

	short_pipeline(f);
	bytes_str(&f->req, "SHUTDOWN\n");
	srv_start(&f->s, "workers = 1\n");
	fd = srv_connect_rcvbuf(&f->s, 4096);
	send_all(fd, f->req.p, f->req.len);
	late_request_keeps_answers(f, fd);
}

/* A client that never reads cannot hold the server past drain_timeout. */
static void
test_drain_timeout(void **state)
{
	struct fx *f = *state;
	long long t0, el;
	int a, rc;

	srv_start(&f->s, "shutdown = any\ndrain_timeout = 1\n");
	a = stuck_client(f);
	t0 = now_ms();
	send_shutdown(&f->s);
	rc = srv_wait(&f->s, 15000);
	el = now_ms() - t0;
	close(a);
	assert_int_equal(rc, 0);
	/* It waits for the stuck client, but no longer than drain_timeout. */
	assert_true(el >= 900);
	if (el > 1000 + 3000)
		fail_msg("exited %lld ms after SHUTDOWN (drain_timeout = 1)", el);
}

/*
 * While a stuck client holds the drain open, the listener is already
 * closed; once that client goes, the server exits at once.
 */
static void
test_listener_closed_while_draining(void **state)
{
	struct fx *f = *state;
	long long deadline, t0;
	int a, fd, st, refused = 0;

	srv_start(&f->s, "shutdown = any\ndrain_timeout = 60\n");
	a = stuck_client(f);
	send_shutdown(&f->s);
	deadline = now_ms() + WAIT_MS;
	while (!refused && now_ms() < deadline) {
		if (srv_exited(&f->s, &st))
			fail_msg("server exited (%d) with a client still owed "
			    "output", st);
		/* Until refused: accepted (just before the close) or reset
		 * (it met the listener as it closed) both mean "try again". */
		if ((fd = loopback_connect(f->s.port, 0)) >= 0) {
			close(fd);
			nap_ms(1);
		} else if (errno == ECONNREFUSED) {
			refused = 1;
		} else if (errno != ECONNRESET) {
			fail_msg("connect: %s", strerror(errno));
		}
	}
	assert_true(refused);
	assert_false(srv_exited(&f->s, &st));
	t0 = now_ms();
	close(a);
	assert_int_equal(srv_wait(&f->s, WAIT_MS), 0);
	if (now_ms() - t0 > 10000)
		fail_msg("server took %lld ms to exit after its last client left",
		    now_ms() - t0);
}

/* ---- SIGHUP ---- */

static void
test_sighup_reopens_log(void **state)
{
	struct fx *f = *state;
	char a_log[160], b_log[160], conf[256];
	struct stat st;
	long long deadline;
	int fd;

	snprintf(a_log, sizeof(a_log), "%s/a.log", f->s.dir);
	snprintf(b_log, sizeof(b_log), "%s/b.log", f->s.dir);
	/* With [log] file set, "listening on" goes to that file. */
	snprintf(conf, sizeof(conf), "[log]\nfile = %s\n", a_log);
	srv_start_log(&f->s, conf, a_log);
	assert_int_equal(rename(a_log, b_log), 0);
	assert_int_equal(kill(f->s.pid, SIGHUP), 0);
	deadline = now_ms() + WAIT_MS;
	while (stat(a_log, &st) != 0 && now_ms() < deadline)
		nap_ms(5);
	if (stat(a_log, &st) != 0)
		fail_msg("no new %s after SIGHUP", a_log);
	/* SIGHUP is not a stop: it still serves. */
	fd = srv_connect(&f->s);
	send_str(fd, "GET 7\r\n");
	expect_line(f, fd, 7);
	close(fd);
	assert_true(file_has(b_log, "listening on"));
	assert_false(file_has(a_log, "listening on"));
	srv_stop(&f->s);
	/* What it logs from now on goes to the new file. */
	assert_true(stat(a_log, &st) == 0 && st.st_size > 0);
}

/* ---- QUIT and half-close ---- */

static void
test_quit(void **state)
{
	struct fx *f = *state;
	struct bytes *want = &f->want, *req = &f->req;
	int fd;

	srv_start(&f->s, NULL);
	fd = srv_connect(&f->s);
	const char *head = "GET 1\r\nGET 2000\r\nquit\r\nGET 3\r\nSTATS\r\n";

	bytes_add(req, head, strlen(head));
	/* Plenty more after QUIT: none of it may be read as a request, and
	 * the server must not reset the connection over it. */
	for (int i = 0; i < 20000; i++)
		bytes_add(req, "GET 2\r\n", 7);
	send_all(fd, req->p, req->len);
	add_answer(want, f, 1);
	add_answer(want, f, 2000);
	expect_rest(fd, want->p, want->len);
	close(fd);
	assert_int_equal(srv_stat(&f->s, "requests_get"), 2);
	assert_int_equal(srv_stat(&f->s, "requests_err"), 0);
	srv_stop(&f->s);
}

static void
test_half_close(void **state)
{
	struct fx *f = *state;
	struct bytes *want = &f->want;
	int fd;

	srv_start(&f->s, NULL);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 1\r\nGET 1000\r\nGET 2000\r\n");
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	add_answer(want, f, 1);
	add_answer(want, f, 1000);
	add_answer(want, f, 2000);
	expect_rest(fd, want->p, want->len);
	close(fd);
	srv_stop(&f->s);
}

/*
 * Half-close behind a backlog: the answers to what was sent before the
 * FIN far exceed what the socket and max_output hold, so the server must
 * come back to unparsed requests after the peer's EOF. idle_timeout = 2
 * turns a stalled connection into a quick failure instead of a hang.
 */
static void
test_half_close_backlogged(void **state)
{
	struct fx *f = *state;
	struct bytes *want = &f->want;
	int fd;

	srv_start(&f->s, "idle_timeout = 2\n");
	fd = srv_connect_rcvbuf(&f->s, 4096);
	send_pipeline(f, fd, want);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_rest(fd, want->p, want->len);
	close(fd);
	srv_stop(&f->s);
}

/*
 * Half-close after a pipeline of long and short lines and invalid
 * requests: every answer, then EOF; hits + misses = valid GETs; invalid
 * GETs touch no counter but requests_err; a last request without its LF
 * is not one.
 */
static void
test_half_close_counters(void **state)
{
	struct fx *f = *state;
	char stats[4096];
	int fd;

	srv_start(&f->s, "workers = 4\n");
	for (size_t i = 0; i < 3000; i++)
		add_get(f, i % 10 == 0 ? LONG_LINE : i * 13 % NLINES + 1);
	bytes_str(&f->req, "GET 0\nGET 2001\nGET x\n\n  \t\r\nGET 5");
	bytes_str(&f->want, "ERR\r\nERR\r\nERR\r\n");
	fd = srv_connect_rcvbuf(&f->s, 8192);
	send_all(fd, f->req.p, f->req.len);
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_rest(fd, f->want.p, f->want.len);
	close(fd);
	fd = srv_connect(&f->s);
	/* The first connection is gone once the server has seen it close. */
	wait_stat_fd(fd, "connections_current", 1, WAIT_MS);
	srv_read_stats(fd, stats, sizeof(stats));
	close(fd);
	assert_int_equal(stat_value(stats, "requests_get"), 3000);
	assert_int_equal(stat_value(stats, "requests_err"), 3);
	assert_int_equal(stat_value(stats, "cache_hits") +
	    stat_value(stats, "cache_misses"), 3000);
	srv_stop(&f->s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_shutdown_any, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_local_default,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shutdown_local_other_loopback, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shutdown_local_mapped_ipv4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown_off, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_drain_pipelined, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_drain_lone_gets, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sigterm_drains, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sigint_drains, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_sigterm_keeps_queued_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_shutdown_keeps_queued_answers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_drain_timeout, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_listener_closed_while_draining, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sighup_reopens_log, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_half_close_backlogged,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_half_close_counters,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
