/*
 * The wire protocol against the real server, byte for byte: every row of
 * SPEC.md's command table and the framing rules.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

static const char TEXT[] =
    "first line\n"
    "second\tline with tab\n"
    "\n"
    "crlf line\r\n"
    "bytes \x01\x7f\xff\xfe end\n"
    "last line without newline";
#define LINES 6

static int
setup(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	srv_prepare(s, TEXT, sizeof(TEXT) - 1);
	srv_start(s, "[index]\nlines_per_page = 2\n");
	*state = s;
	return 0;
}

static int
teardown(void **state)
{
	struct srv *s = *state;

	srv_stop(s);
	srv_cleanup(s);
	free(s);
	return 0;
}

/* One request, one expected answer, on a fresh connection. */
static void
exchange(const struct srv *s, const char *req, size_t reqlen,
    const char *want)
{
	int fd = srv_connect(s);

	send_all(fd, req, reqlen);
	expect_str(fd, want);
	/* Nothing more: QUIT closes only after what came before. */
	send_str(fd, "QUIT\r\n");
	assert_true(peer_closed(fd, 5000));
	close(fd);
}

#define X(s, req, want) exchange((s), (req), sizeof(req) - 1, (want))

static void
t_get_lines(void **state)
{
	struct srv *s = *state;

	X(s, "GET 1\r\n", "OK\r\nfirst line\n");
	X(s, "GET 2\n", "OK\r\nsecond\tline with tab\n");
	X(s, "GET 3\r\n", "OK\r\n\n");
	X(s, "GET 4\r\n", "OK\r\ncrlf line\r\n");
	X(s, "GET 5\r\n", "OK\r\nbytes \x01\x7f\xff\xfe end\n");
	X(s, "GET 6\r\n", "OK\r\nlast line without newline\n");
}

static void
t_get_forms(void **state)
{
	struct srv *s = *state;

	X(s, "get 1\r\n", "OK\r\nfirst line\n");
	X(s, "GeT 1\n", "OK\r\nfirst line\n");
	X(s, "  \tGET \t 1 \t \r\n", "OK\r\nfirst line\n");
	X(s, "GET 00000000000000000001\r\n", "OK\r\nfirst line\n");
}

static void
t_get_errors(void **state)
{
	struct srv *s = *state;

	X(s, "GET 0\r\n", "ERR\r\n");
	X(s, "GET 7\r\n", "ERR\r\n");
	X(s, "GET\r\n", "ERR\r\n");
	X(s, "GET -1\r\n", "ERR\r\n");
	X(s, "GET +1\r\n", "ERR\r\n");
	X(s, "GET 1x\r\n", "ERR\r\n");
	X(s, "GET 1 2\r\n", "ERR\r\n");
	X(s, "GET 000000000000000000001\r\n", "ERR\r\n"); /* 21 digits */
	X(s, "GET 18446744073709551616\r\n", "ERR\r\n");
	X(s, "GET 18446744073709551615\r\n", "ERR\r\n");
	X(s, "GET 99999999999999999999\r\n", "ERR\r\n");
}

static void
t_other_commands(void **state)
{
	struct srv *s = *state;

	X(s, "BOGUS\r\n", "ERR\r\n");
	X(s, "GET\x00 1\r\n", "ERR\r\n");
	X(s, "GET 1\x00\r\n", "ERR\r\n");
	X(s, "GET 1\rX\r\n", "ERR\r\n");
	X(s, "QUIT now\r\n", "ERR\r\n");
	X(s, "STATS all\r\n", "ERR\r\n");
	X(s, "SHUTDOWN please\r\n", "ERR\r\n");
	X(s, "GETS 1\r\n", "ERR\r\n");
}

static void
t_empty_lines_get_no_answer(void **state)
{
	struct srv *s = *state;

	X(s, "\r\n\n \t \r\nGET 1\r\n", "OK\r\nfirst line\n");
}

static void
t_pipelined_in_order(void **state)
{
	struct srv *s = *state;

	X(s, "GET 2\nGET 0\nGET 1\r\nSTATS x\nGET 3\n",
	    "OK\r\nsecond\tline with tab\nERR\r\nOK\r\nfirst line\nERR\r\n"
	    "OK\r\n\n");
}

static void
t_request_split_across_writes(void **state)
{
	struct srv *s = *state;
	int fd = srv_connect(s);
	const char *req = "GET 1\r\nGET 2\r\n";

	for (size_t i = 0; req[i] != '\0'; i++)
		send_all(fd, req + i, 1);
	expect_str(fd, "OK\r\nfirst line\nOK\r\nsecond\tline with tab\n");
	close(fd);
}

static void
t_stats(void **state)
{
	struct srv *s = *state;
	static const char *names[] = { "uptime_s", "lines", "file_bytes",
	    "connections_current", "connections_total",
	    "connections_rejected", "requests_get", "requests_err",
	    "cache_hits", "cache_misses", "cache_pages", "cache_bytes",
	    "cache_capacity_bytes", "index_errors", "file_changes",
	    "lines_checked_bad", "pid", "bytes_read", "bytes_written", NULL };
	int fd = srv_connect(s);
	size_t len;
	char *all, *p;

	/*
	 * Earlier tests' connections are torn down when the server reads
	 * their EOF, which may not have happened yet (a slow sanitizer build,
	 * another worker): wait, bounded, until this is the only one.
	 */
	wait_stat_fd(fd, "connections_current", 1, 20000);
	send_str(fd, "GET 1\r\nGET 3\r\nGET 9\r\nSTATS\r\nQUIT\r\n");
	all = recv_all(fd, &len);
	close(fd);
	all = realloc(all, len + 1);
	all[len] = '\0';
	p = strstr(all, "ERR\r\nOK\r\n");
	assert_non_null(p);
	p += 5;
	assert_true(len >= 5 && strcmp(all + len - 5, "END\r\n") == 0);
	for (int i = 0; names[i] != NULL; i++) {
		char key[64];
		snprintf(key, sizeof(key), "\r\n%s ", names[i]);
		if (strstr(p, key) == NULL)
			fail_msg("STATS lacks %s", names[i]);
	}
	/* Every line is "name value" with name [a-z_]+ and a number. */
	for (char *line = p + 4; strncmp(line, "END\r\n", 5) != 0;) {
		char *eol = strstr(line, "\r\n"), *sp = strchr(line, ' ');
		assert_non_null(eol);
		assert_true(sp != NULL && sp < eol && sp > line);
		for (char *c = line; c < sp; c++)
			assert_true((*c >= 'a' && *c <= 'z') || *c == '_');
		for (char *c = sp + 1; c < eol; c++)
			assert_true(*c >= '0' && *c <= '9');
		line = eol + 2;
	}
	assert_non_null(strstr(p, "\r\nlines 6\r\n"));
	assert_non_null(strstr(p, "\r\nconnections_current 1\r\n"));
	free(all);
	assert_int_equal(srv_stat(s, "file_bytes"), sizeof(TEXT) - 1);
}

static void
t_counters_exact(void **state)
{
	struct srv *s = *state;
	unsigned long long get0 = srv_stat(s, "requests_get");
	unsigned long long err0 = srv_stat(s, "requests_err");
	unsigned long long hm0 = srv_stat(s, "cache_hits") +
	    srv_stat(s, "cache_misses");

	X(s, "GET 1\nGET 6\nGET 0\nnope\n",
	    "OK\r\nfirst line\nOK\r\nlast line without newline\nERR\r\nERR\r\n");
	assert_int_equal(srv_stat(s, "requests_get"), get0 + 2);
	assert_int_equal(srv_stat(s, "requests_err"), err0 + 2);
	/* Exactly one hit or miss per valid GET. */
	assert_int_equal(srv_stat(s, "cache_hits") + srv_stat(s, "cache_misses"),
	    hm0 + 2);
}

static void
t_quit_discards_rest(void **state)
{
	struct srv *s = *state;
	int fd = srv_connect(s);
	size_t len;
	char *all;

	send_str(fd, "GET 1\r\nQUIT\r\nGET 2\r\nGET 3\r\n");
	all = recv_all(fd, &len);
	assert_int_equal(len, strlen("OK\r\nfirst line\n"));
	assert_memory_equal(all, "OK\r\nfirst line\n", len);
	free(all);
	close(fd);
}

static void
t_half_close_gets_answers(void **state)
{
	static const char want[] =
	    "OK\r\nfirst line\n" "OK\r\nsecond\tline with tab\n";
	struct srv *s = *state;
	int fd = srv_connect(s);

	send_str(fd, "GET 1\nGET 2\nGET 1");  /* the last has no LF */
	assert_int_equal(shutdown(fd, SHUT_WR), 0);
	expect_rest(fd, want, sizeof(want) - 1);
	close(fd);
}

/*
 * The grammar in one pipeline (SPEC 2): case, CR before LF only, up to 20
 * digits, no sign, one argument, NUL and other bytes in a request, blanks
 * around the words, empty lines unanswered; QUIT ends it, the GET after it
 * is never read.
 */
static void
t_request_grammar_pipelined(void **state)
{
	static const char req[] =
	    "get 2\r\n" "GET 00000000000000000002\n" "GET 000000000000000000002\n"
	    "GET 18446744073709551616\n" "GET +2\n" "GET 2 2\n" "GET\n"
	    "GET 2\r\r\n" "GET 2\rx\n" "GET\0 2\n" "\0\n" "QUIT x\n" "STATS 1\n"
	    "SHUTDOWN now\n" " \t\r\n" "\t GET\t2 \t\n" "QUIT\nGET 2\n";
#define LINE2 "OK\r\nsecond\tline with tab\n"
#define ERR4  "ERR\r\nERR\r\nERR\r\nERR\r\n"
	static const char want[] = LINE2 LINE2 ERR4 ERR4 ERR4 LINE2;
#undef LINE2
#undef ERR4
	struct srv *s = *state;
	int fd = srv_connect(s);

	send_all(fd, req, sizeof(req) - 1);
	expect_rest(fd, want, sizeof(want) - 1);
	close(fd);
}

static void
t_too_long_request(void **state)
{
	struct srv *s = *state;
	char req[1100];
	int fd = srv_connect(s);

	/* Exactly max_request (1024) bytes with CRLF: a normal request. */
	memset(req, ' ', sizeof(req));
	memcpy(req, "GET 1", 5);
	memcpy(req + 1022, "\r\n", 2);
	send_all(fd, req, 1024);
	expect_str(fd, "OK\r\nfirst line\n");
	/* 1024 bytes without an LF: ERR and close, no more bytes needed. */
	memset(req, 'A', sizeof(req));
	send_all(fd, req, 1024);
	expect_str(fd, "ERR\r\n");
	assert_true(peer_closed(fd, 5000));
	close(fd);
}

/*
 * STATS pid is the server's; bytes_read and bytes_written move by exactly
 * what this connection sent and received between two STATS (a server of
 * its own: no other connection reads or writes meanwhile).
 */
static void
t_stats_pid_and_bytes(void **state)
{
	static const char gets[] = "GET 1\r\nGET 9\r\nGET 2\r\n";
	static const char want[] = "OK\r\nfirst line\nERR\r\n"
	    "OK\r\nsecond\tline with tab\n";
	struct srv s2;
	char first[2048], second[2048];
	int fd;

	(void)state;
	srv_prepare(&s2, TEXT, sizeof(TEXT) - 1);
	srv_start(&s2, NULL);
	fd = srv_connect(&s2);
	srv_read_stats(fd, first, sizeof(first));
	assert_int_equal(stat_value(first, "pid"), (unsigned long long)s2.pid);
	send_str(fd, gets);
	expect_str(fd, want);
	srv_read_stats(fd, second, sizeof(second));
	/* The second STATS counts the first's answer, not its own. */
	assert_int_equal(stat_value(second, "bytes_read") -
	    stat_value(first, "bytes_read"), sizeof(gets) - 1 + 7);
	assert_int_equal(stat_value(second, "bytes_written") -
	    stat_value(first, "bytes_written"),
	    strlen(first) + sizeof(want) - 1);
	close(fd);
	srv_stop(&s2);
	srv_cleanup(&s2);
}

/*
 * Lone GETs on many connections, read in one turn of the loop (the server
 * is stopped while they arrive), are answered together at its end: each
 * its own line or ERR, the counters exact. Half of the clients shut their
 * side after the request: they still get the answer, then EOF.
 */
static void
t_lone_gets_in_one_turn(void **state)
{
	enum { NC = 32 };
	static const char *const want[8] = { "ERR\r\n",
	    "OK\r\nfirst line\n", "OK\r\nsecond\tline with tab\n",
	    "OK\r\n\n", "OK\r\ncrlf line\r\n",
	    "OK\r\nbytes \x01\x7f\xff\xfe end\n",
	    "OK\r\nlast line without newline\n", "ERR\r\n" };
	struct srv *s = *state;
	unsigned long long get0 = srv_stat(s, "requests_get");
	unsigned long long err0 = srv_stat(s, "requests_err");
	int fd[NC];
	char req[32];

	for (int i = 0; i < NC; i++) {
		fd[i] = srv_connect(s);
		send_str(fd[i], "GET 1\n");
		expect_str(fd[i], want[1]);
	}
	proc_stop(s->pid);
	for (int i = 0; i < NC; i++) {
		snprintf(req, sizeof(req), "GET %d\r\n", i % 8);
		send_str(fd[i], req);
		if (i % 2 == 1)
			shutdown(fd[i], SHUT_WR);
		wait_sent(fd[i], 20000);
	}
	assert_int_equal(kill(s->pid, SIGCONT), 0);
	for (int i = 0; i < NC; i++) {
		if (i % 2 == 1)
			expect_rest(fd[i], want[i % 8], strlen(want[i % 8]));
		else
			expect_str(fd[i], want[i % 8]);
		close(fd[i]);
	}
	/* 2 of every 8 are ERR (lines 0 and 7); NC first GETs were lines. */
	assert_int_equal(srv_stat(s, "requests_get"), get0 + NC + NC / 8 * 6);
	assert_int_equal(srv_stat(s, "requests_err"), err0 + NC / 8 * 2);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(t_get_lines),
		cmocka_unit_test(t_get_forms),
		cmocka_unit_test(t_get_errors),
		cmocka_unit_test(t_other_commands),
		cmocka_unit_test(t_empty_lines_get_no_answer),
		cmocka_unit_test(t_pipelined_in_order),
		cmocka_unit_test(t_request_split_across_writes),
		cmocka_unit_test(t_stats),
		cmocka_unit_test(t_counters_exact),
		cmocka_unit_test(t_quit_discards_rest),
		cmocka_unit_test(t_half_close_gets_answers),
		cmocka_unit_test(t_request_grammar_pipelined),
		cmocka_unit_test(t_too_long_request),
		cmocka_unit_test(t_stats_pid_and_bytes),
		cmocka_unit_test(t_lone_gets_in_one_turn),
	};

	return cmocka_run_group_tests_name("protocol", tests, setup, teardown);
}
