/*
 * linesvr-null, the benchmarks' reference server: every request line gets
 * "OK\r\n" and the same fixed line, also when a read ends mid-line; QUIT
 * closes after the earlier answers; SIGTERM and -d end it with status 0;
 * bad arguments exit 2; a client that stops reading still gets every
 * answer, in order, once it reads again (backpressure, partial writes).
 *
 * The binary is LINESVR_NULL_BIN, else the linesvr-null next to
 * LINESVR_BIN (what tests/run.sh sets), so the sanitizer build tests the
 * sanitizer build; a sanitizer report on its stderr fails the test.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define START_MS 20000
#define OK       "OK\r\n"

struct fx {
	struct srv s;       /* dir, pid, port; s.log is the server's stderr */
	char out[160];      /* the server's stdout */
	char bin[256];
};

static void
null_bin(char *buf, size_t cap)
{
	const char *b = getenv("LINESVR_NULL_BIN"), *l = getenv("LINESVR_BIN");
	const char *slash = l != NULL ? strrchr(l, '/') : NULL;

	if (b != NULL)
		snprintf(buf, cap, "%s", b);
	else if (slash != NULL)
		snprintf(buf, cap, "%.*s/linesvr-null", (int)(slash - l), l);
	else
		snprintf(buf, cap, "build/linesvr-null");
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	srv_prepare(&f->s, "", 0);
	snprintf(f->out, sizeof(f->out), "%s/null.out", f->s.dir);
	null_bin(f->bin, sizeof(f->bin));
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	srv_cleanup(&f->s);
	free(f);
	return 0;
}

/* Run the server with argv (NULL-terminated, after the binary). */
static pid_t
spawn(struct fx *f, const char *const *args)
{
	const char *argv[16];
	int n = 0;

	argv[n++] = f->bin;
	while (*args != NULL && n < 15)
		argv[n++] = *args++;
	argv[n] = NULL;
	return proc_spawn(argv, f->out, f->s.log);
}

/* Start it and take the port from its one line of stdout. */
static void
start(struct fx *f, const char *const *args)
{
	long long deadline = now_ms() + START_MS;
	char want[64];
	int status;

	f->s.pid = spawn(f, args);
	while (now_ms() < deadline) {
		char *out = read_file(f->out);
		if (sscanf(out, "listening on 127.0.0.1:%d\n", &f->s.port) == 1 &&
		    strchr(out, '\n') != NULL) {
			snprintf(want, sizeof(want), "listening on 127.0.0.1:%d\n",
			    f->s.port);
			assert_string_equal(out, want);   /* exactly one line */
			free(out);
			assert_true(f->s.port > 0);
			return;
		}
		free(out);
		if (srv_exited(&f->s, &status))
			fail_msg("linesvr-null exited (%d) before listening",
			    status);
		nap_ms(10);
	}
	fail_msg("linesvr-null did not print its port");
}

/* n answers with lines of len bytes (LF included), back to back. */
static char *
answers(size_t n, size_t len, size_t *total)
{
	size_t one = strlen(OK) + len;
	char *buf = malloc(n * one);

	assert_non_null(buf);
	for (size_t i = 0; i < n; i++) {
		char *p = buf + i * one;
		memcpy(p, OK, strlen(OK));
		memset(p + strlen(OK), 'x', len - 1);
		p[one - 1] = '\n';
	}
	*total = n * one;
	return buf;
}

static void
t_answers_across_split_reads_then_quit(void **state)
{
	struct fx *f = *state;
	const char *args[] = { NULL };
	size_t len;
	char *want = answers(3, 100, &len);
	int fd;

	start(f, args);
	fd = srv_connect(&f->s);
	/* One request stream, split mid-line into two reads: the first
	 * two answers show the server has read the first part. */
	send_str(fd, "GET 1\r\nGET 2\r\nGE");
	expect_bytes(fd, want, len / 3 * 2);
	send_str(fd, "T 3\r\n");
	expect_bytes(fd, want, len / 3);
	/* Nothing more, and QUIT closes: exactly 3 answers. */
	send_str(fd, "quit\r\n");
	expect_rest(fd, "", 0);
	close(fd);
	free(want);
	srv_stop(&f->s);
}

static void
t_len_threads_and_any_line(void **state)
{
	struct fx *f = *state;
	const char *args[] = { "-l", "1", "-t", "3", NULL };
	size_t len;
	char *want = answers(3, 1, &len);
	int fd[8];

	start(f, args);
	/* Each connection lands on one of three listeners. */
	for (int i = 0; i < 8; i++)
		fd[i] = srv_connect(&f->s);
	for (int i = 0; i < 8; i++) {
		send_str(fd[i], "GET 1\n\nanything at all\r\nQUITTING\nGET 2\n");
		expect_rest(fd[i], want, len);
		close(fd[i]);
	}
	free(want);
	srv_stop(&f->s);
}

/* The byte at offset k of a stream of answers of one bytes each. */
static char
answer_byte(size_t k, size_t one)
{
	size_t r = k % one;

	return r < strlen(OK) ? OK[r] : r == one - 1 ? '\n' : 'x';
}

/* Send what the socket takes now; returns the new offset. */
static size_t
send_some(int fd, const char *p, size_t off, size_t len)
{
	ssize_t n = send(fd, p + off, len - off, MSG_DONTWAIT | MSG_NOSIGNAL);

	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		fail_msg("send: %s", strerror(errno));
	return n > 0 ? off + (size_t)n : off;
}

/* Read what is there; check every byte; returns the new count. */
static size_t
recv_some(int fd, size_t got, size_t one)
{
	char buf[65536];
	ssize_t n = recv(fd, buf, sizeof(buf), MSG_DONTWAIT);

	if (n == 0)
		fail_msg("closed after %zu bytes", got);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
		fail_msg("recv: %s", strerror(errno));
	for (ssize_t i = 0; i < n; i++)
		if (buf[i] != answer_byte(got + (size_t)i, one))
			fail_msg("wrong byte at offset %zu", got + (size_t)i);
	return n > 0 ? got + (size_t)n : got;
}

/*
 * Send req[sent..len) as the socket takes it and read n answers of one
 * bytes each, checking every byte; then QUIT must close with nothing more.
 */
static void
exchange(int fd, const char *req, size_t len, size_t sent, size_t n,
    size_t one)
{
	long long deadline = now_ms() + 60000;
	size_t got = 0;

	while (got < n * one && now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = POLLIN |
		    (sent < len ? POLLOUT : 0) };
		assert_true(poll(&p, 1, 1000) >= 0);
		if (sent < len)
			sent = send_some(fd, req, sent, len);
		got = recv_some(fd, got, one);
	}
	assert_int_equal(got, n * one);
	send_str(fd, "QUIT\n");
	expect_rest(fd, "", 0);
}

/* Answers to one read that overflow the output buffer wait their turn. */
static void
t_held_lines_keep_every_answer(void **state)
{
	struct fx *f = *state;
	const char *args[] = { "-l", "4000", "-t", "2", NULL };
	const size_t reqs = 5000, one = strlen(OK) + 4000;
	struct bytes req = { 0 };
	size_t sent = 0;
	int fd;

	for (size_t i = 1; i <= reqs; i++) {
		char line[32];
		snprintf(line, sizeof(line), "GET %zu\r\n", i);
		bytes_str(&req, line);
	}
	start(f, args);
	fd = srv_connect_rcvbuf(&f->s, 4096);
	/* Send without reading until the socket is full: 20 MB of answers
	 * cannot all fit the buffers, so the server must hold and wait. No
	 * room for 0.2 s: the server has stopped reading, it is holding. */
	while ((sent = send_some(fd, req.p, sent, req.len)) < req.len) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		if (poll(&p, 1, 200) == 0)
			break;
	}
	exchange(fd, req.p, req.len, sent, reqs, one);
	close(fd);
	free(req.p);
	srv_stop(&f->s);
}

/*
 * One request per read and a client that does not read: the server keeps
 * reading and writing until its socket is full, so a write must come up
 * short; the rest waits in the connection until the client reads again.
 */
static void
t_partial_writes_keep_every_answer(void **state)
{
	struct fx *f = *state;
	const char *args[] = { "-l", "65536", NULL };
	const size_t reqs = 300, one = strlen(OK) + 65536;
	int fd, on = 1;

	start(f, args);
	fd = srv_connect_rcvbuf(&f->s, 4096);
	/* Without Nagle each request is a read of its own: no delayed ACK
	 * (the answers cannot carry one) gathers them into one. */
	assert_int_equal(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on,
	    sizeof(on)), 0);
	/* 20 MB of answers: more than any socket buffers hold. The pause
	 * is pacing, not waiting for anything: requests a millisecond apart
	 * tend to be read one at a time, whatever the server is doing. */
	for (size_t i = 0; i < reqs; i++) {
		send_str(fd, "GET 1\r\n");
		nap_ms(1);
	}
	exchange(fd, "", 0, 0, reqs, one);
	close(fd);
	srv_stop(&f->s);
}

static void
t_duration_exits_0(void **state)
{
	struct fx *f = *state;
	const char *args[] = { "-d", "1", NULL };
	long long t0 = now_ms();

	start(f, args);
	assert_int_equal(srv_wait(&f->s, 10000), 0);
	assert_true(now_ms() - t0 >= 900);
}

static void
t_bad_arguments_exit_2(void **state)
{
	static const char *const bad[][4] = {
		{ "-l", "0" }, { "-l", "65537" }, { "-l", "x" },
		{ "-p", "65536" }, { "-p", "-1" }, { "-p" },
		{ "-t", "0" }, { "-t", "1 " }, { "-d", "+1" },
		{ "-b", "0.0.0.0" }, { "-b", "192.0.2.1" }, { "-b", "::" },
		{ "-b", "localhost" }, { "-x" }, { "extra" },
	};
	struct fx *f = *state;
	char *out;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = proc_wait(spawn(f, bad[i]), 10000);
		if (rc != 2)
			fail_msg("%s %s: exit %d, want 2", bad[i][0],
			    bad[i][1] != NULL ? bad[i][1] : "", rc);
	}
	assert_true(srv_log_has(&f->s, "usage: linesvr-null"));
	assert_true(srv_log_has(&f->s, "not a loopback address"));
	out = read_file(f->out);
	assert_string_equal(out, "");       /* no "listening on" line */
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    t_answers_across_split_reads_then_quit, setup, teardown),
		cmocka_unit_test_setup_teardown(t_len_threads_and_any_line,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_held_lines_keep_every_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    t_partial_writes_keep_every_answer, setup, teardown),
		cmocka_unit_test_setup_teardown(t_duration_exits_0, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_bad_arguments_exit_2, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("null", tests, NULL, NULL);
}
