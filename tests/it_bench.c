/*
 * Integration smoke test of linesvr-bench against the real server (issue
 * 4, item 5): a 2-second run with --verify must answer more than 0
 * requests with 0 mismatches, exit 0 and print valid JSON; the documented
 * exit statuses must hold for a wrong reference file (4), a stopped server
 * (5, within the deadline) and an absent one (3).
 *
 * Broken connections (issue 12, item 2): against linesvr-null -a N, which
 * closes every connection after N answers, --retry loses nothing and
 * exits 0, and without it the requests in flight are lost (exit 3); a
 * server killed or stopped mid-run loses exactly what was in flight, with
 * or without --retry. In every run sent = answers + lost + stalled.
 *
 * The harness runs the server (LINESVR_BIN); this file runs the bench the
 * test runner names (LINESVR_BENCH_BIN), so the sanitizer build tests the
 * sanitizer builds; every child is bounded in time and its output checked
 * for sanitizer reports. Links the load generator's modules for dial.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dial.h"
#include "harness.h"

#define LINES		20000
#define BENCH_MS	30000
#define NULL_LEN	100	/* linesvr-null's line, LF included */
#define NULL_KEYS	10

struct smoke {
	struct srv s;       /* text.txt is the server's file */
	char other[160];    /* another text, for a wrong reference */
	char bout[160], berr[160];
	char nulltext[160]; /* linesvr-null's answers as a file of NULL_KEYS */
	char nullout[160];  /* linesvr-null's stdout */
};

static struct smoke S;

/* Lines of varied length (empty ones too); the last has no LF. */
static void
write_text(const char *path, unsigned seed)
{
	FILE *f = fopen(path, "wb");
	unsigned x = seed, i, j, len;

	assert_non_null(f);
	for (i = 0; i < LINES; i++) {
		x = x * 1103515245u + 12345u;
		len = (x >> 16) % 300;
		for (j = 0; j < len; j++)
			fputc(' ' + (int)(((x >> (j % 13)) + j) % 95), f);
		if (i + 1 < LINES)
			fputc('\n', f);
	}
	assert_int_equal(fclose(f), 0);
}

static int
start_server(void **state)
{
	(void)state;
	memset(&S, 0, sizeof(S));
	srv_prepare(&S.s, "", 0);
	snprintf(S.other, sizeof(S.other), "%s/other.txt", S.s.dir);
	snprintf(S.bout, sizeof(S.bout), "%s/bench.out", S.s.dir);
	snprintf(S.berr, sizeof(S.berr), "%s/bench.err", S.s.dir);
	snprintf(S.nulltext, sizeof(S.nulltext), "%s/null.txt", S.s.dir);
	snprintf(S.nullout, sizeof(S.nullout), "%s/null.out", S.s.dir);
	write_text(S.s.text, 1);
	write_text(S.other, 2);
	srv_start(&S.s, NULL);
	return 0;
}

static int
stop_server(void **state)
{
	(void)state;
	if (S.s.pid > 0)
		kill(S.s.pid, SIGCONT);
	srv_stop(&S.s);
	srv_cleanup(&S.s);
	return 0;
}

/* Start the bench on port with extra args (NULL-terminated). */
static pid_t
bench_start(int port, const char *a0, ...)
{
	const char *bin = getenv("LINESVR_BENCH_BIN");
	static char portstr[16];
	const char *argv[32];
	int n = 0;
	const char *a;
	va_list ap;

	snprintf(portstr, sizeof(portstr), "%d", port);
	argv[n++] = bin != NULL ? bin : "build/linesvr-bench";
	argv[n++] = "-p";
	argv[n++] = portstr;
	va_start(ap, a0);
	for (a = a0; a != NULL && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	unlink(S.bout);	/* stdout holds this run's output only */
	return proc_spawn(argv, S.bout, S.berr);
}

/* Its exit status, once it ends (bounded). */
static int
bench_wait(pid_t pid)
{
	int rc = proc_wait(pid, BENCH_MS);

	check_no_sanitizer(S.berr);
	return rc;
}

/* Run the bench with extra args: against port, or the server. */
#define bench_port(port, ...) bench_wait(bench_start(port, __VA_ARGS__))
#define bench(...) bench_port(S.s.port, __VA_ARGS__)

/* ---- a small JSON checker: the grammar of RFC 8259, nothing more ---- */

static const char *json_value(const char *p);

static const char *
ws(const char *p)
{
	while (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')
		p++;
	return p;
}

static const char *
json_string(const char *p)
{
	if (*p++ != '"')
		return NULL;
	for (; *p != '"'; p++) {
		if ((unsigned char)*p < 0x20)
			return NULL;
		if (*p == '\\' && *++p == '\0')
			return NULL;
	}
	return p + 1;
}

static const char *
json_number(const char *p)
{
	const char *s;

	if (*p == '-')
		p++;
	if (!isdigit((unsigned char)*p))
		return NULL;
	if (*p == '0')
		p++;
	else
		while (isdigit((unsigned char)*p))
			p++;
	if (*p == '.') {
		for (s = ++p; isdigit((unsigned char)*p); p++)
			;
		if (p == s)
			return NULL;
	}
	if (*p == 'e' || *p == 'E') {
		p++;
		if (*p == '+' || *p == '-')
			p++;
		for (s = p; isdigit((unsigned char)*p); p++)
			;
		if (p == s)
			return NULL;
	}
	return p;
}

/* Object or array: members separated by commas up to close. */
static const char *
json_compound(const char *p, char close, int object)
{
	p = ws(p + 1);
	if (*p == close)
		return p + 1;
	for (;;) {
		if (object) {
			if ((p = json_string(ws(p))) == NULL)
				return NULL;
			p = ws(p);
			if (*p++ != ':')
				return NULL;
		}
		if ((p = json_value(p)) == NULL)
			return NULL;
		p = ws(p);
		if (*p == close)
			return p + 1;
		if (*p++ != ',')
			return NULL;
	}
}

static const char *
json_value(const char *p)
{
	p = ws(p);
	if (*p == '{')
		return json_compound(p, '}', 1);
	if (*p == '[')
		return json_compound(p, ']', 0);
	if (*p == '"')
		return json_string(p);
	if (strncmp(p, "true", 4) == 0 || strncmp(p, "null", 4) == 0)
		return p + 4;
	if (strncmp(p, "false", 5) == 0)
		return p + 5;
	return json_number(p);
}

static int
json_valid(const char *s)
{
	const char *end = json_value(s);

	return end != NULL && *ws(end) == '\0';
}

/* The number after "key": in s, or -1. */
static double
json_num(const char *s, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	if ((p = strstr(s, pat)) == NULL)
		return -1;
	return strtod(p + strlen(pat), NULL);
}

/* ---- tests ---- */

static void
test_json_checker(void **state)
{
	(void)state;
	assert_true(json_valid("{\"a\":[1,-2.5e3,\"x\\\"\",true,null],"
	    "\"b\":{}}\n"));
	assert_false(json_valid("{\"a\":1,}"));
	assert_false(json_valid("{\"a\":nan}"));
	assert_false(json_valid("{\"a\":01}"));
	assert_false(json_valid("{\"a\":1} x"));
}

static void
test_verified_run(void **state)
{
	char *out;

	(void)state;
	assert_int_equal(bench("-c", "8", "-P", "4", "-d", "2", "--keys",
	    "uniform", "--verify", S.s.text, "--json", "-q", NULL), 0);
	out = read_file(S.bout);
	if (!json_valid(out))
		fail_msg("not valid JSON: %s", out);
	assert_true(json_num(out, "requests") > 0);
	assert_true(json_num(out, "verified") == json_num(out, "requests"));
	assert_true(json_num(out, "mismatches") == 0);
	assert_true(json_num(out, "status") == 0);
	assert_true(json_num(out, "key_count") == LINES);
	free(out);
}

static void
test_other_protocols_parse(void **state)
{
	char *out;

	(void)state;
	/* open loop, seq keys beyond the file (misses are right answers) */
	assert_int_equal(bench("-c", "4", "-n", "3000", "--rate", "5000",
	    "-k", "30000", "--keys", "seq", "-t", "2", "--verify", S.s.text,
	    "--csv", "-q", NULL), 0);
	out = read_file(S.bout);
	assert_non_null(strstr(out, "label,proto,"));
	assert_non_null(strchr(strchr(out, '\n') + 1, '\n'));
	free(out);
}

static void
test_mismatch_exits_4(void **state)
{
	(void)state;
	assert_int_equal(bench("-c", "2", "-n", "500", "--verify", S.other,
	    "-q", NULL), 4);
}

static void
test_stopped_server_exits_5(void **state)
{
	long long t0;
	int rc;

	(void)state;
	kill(S.s.pid, SIGSTOP);
	t0 = now_ms();
	rc = bench("-c", "4", "-d", "1", "--timeout", "1", "-k", "100", "-q",
	    NULL);
	kill(S.s.pid, SIGCONT);
	assert_int_equal(rc, 5);
	/* the deadline is -d + --timeout = 2 s; allow for slow sanitizers */
	assert_true(now_ms() - t0 < 2000 + 3000);
}

static void
test_absent_server_exits_3(void **state)
{
	int port = S.s.port;

	(void)state;
	S.s.port = 1;	/* nothing listens on a privileged port here */
	assert_int_equal(bench("-c", "2", "-d", "1", "-k", "10", "-q", NULL),
	    3);
	S.s.port = port;
}

/*
 * Beyond DIAL_PER_SOURCE connections the bench binds sources 127.0.0.2,
 * 127.0.0.3, ...; more connections than the open-file limit allows here,
 * so the binding itself is checked on one socket.
 */
static void
test_source_address(void **state)
{
	struct sockaddr_storage ss, local;
	struct sockaddr_in *sin = (struct sockaddr_in *)(void *)&local;
	socklen_t len, llen = sizeof(local);
	char err[128], port[16];
	struct pollfd p;
	int fd;

	(void)state;
	snprintf(port, sizeof(port), "%d", S.s.port);
	assert_int_equal(dial_resolve("127.0.0.1", port, &ss, &len, err,
	    sizeof(err)), 0);
	assert_true(dial_is_loopback4(&ss));
	fd = dial_start(&ss, len, 2, 1);
	assert_true(fd >= 0);
	p.fd = fd;
	p.events = POLLOUT;
	assert_int_equal(poll(&p, 1, 5000), 1);
	assert_int_equal(dial_result(fd), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&local, &llen), 0);
	assert_true(ntohl(sin->sin_addr.s_addr) == 0x7f000003);
	close(fd);
}

/* ---- broken connections: --retry, lost (issue 12, item 2) ---- */

static pid_t null_pid;

/* Start linesvr-null (built next to the bench) closing every connection
 * after `answers`; returns its port. */
static int
null_start(const char *answers)
{
	const char *b = getenv("LINESVR_BENCH_BIN");
	const char *slash = b != NULL ? strrchr(b, '/') : NULL;
	long long deadline = now_ms() + 20000;
	const char *argv[4];
	char bin[256], *out;
	int port = 0, status;

	snprintf(bin, sizeof(bin), "%.*s/linesvr-null",
	    slash != NULL ? (int)(slash - b) : 5, slash != NULL ? b : "build");
	argv[0] = bin;
	argv[1] = "-a";
	argv[2] = answers;
	argv[3] = NULL;
	unlink(S.nullout);
	null_pid = proc_spawn(argv, S.nullout, S.nullout);
	while (port == 0 && now_ms() < deadline) {
		out = read_file(S.nullout);
		if (sscanf(out, "listening on 127.0.0.1:%d", &port) != 1)
			port = 0;
		free(out);
		if (port == 0 && waitpid(null_pid, &status, WNOHANG) == null_pid)
			fail_msg("linesvr-null exited before listening");
		if (port == 0)
			nap_ms(10);
	}
	assert_true(port > 0);
	return port;
}

static void
null_stop(void)
{
	kill(null_pid, SIGTERM);
	assert_int_equal(proc_wait(null_pid, 10000), 0);
	check_no_sanitizer(S.nullout);
}

/* The file of linesvr-null's answers: the same line NULL_KEYS times. */
static void
write_null_text(void)
{
	FILE *f = fopen(S.nulltext, "wb");
	int i, j;

	assert_non_null(f);
	for (i = 0; i < NULL_KEYS; i++) {
		for (j = 0; j < NULL_LEN - 1; j++)
			fputc('x', f);
		fputc('\n', f);
	}
	assert_int_equal(fclose(f), 0);
}

/* The run's JSON, checked: every request sent was answered, lost or
 * stalled, and no answer was wrong. */
static char *
checked_json(void)
{
	char *out = read_file(S.bout);

	if (!json_valid(out) || json_num(out, "sent") <= 0)
		fail_msg("no run in JSON: %s", out);
	if (json_num(out, "sent") != json_num(out, "answers") +
	    json_num(out, "lost") + json_num(out, "stalled"))
		fail_msg("sent != answers + lost + stalled: %s", out);
	assert_true(json_num(out, "mismatches") == 0);
	assert_true(json_num(out, "verified") == json_num(out, "answers"));
	return out;
}

/* 20000 requests against linesvr-null -a 50 with --retry; the JSON. */
static char *
run_null(const char *retry, int *rc)
{
	int port;

	write_null_text();
	port = null_start("50");
	*rc = bench_port(port, "-c", "4", "-P", "4", "-n", "20000",
	    "--verify", S.nulltext, "--retry", retry, "--json", "-q", NULL);
	null_stop();
	return checked_json();
}

static void
test_retry_loses_nothing(void **state)
{
	char *out;
	int rc;

	(void)state;
	out = run_null("3", &rc);
	assert_int_equal(rc, 0);
	assert_true(json_num(out, "requests") == 20000);
	assert_true(json_num(out, "lost") == 0);
	assert_true(json_num(out, "abandoned") == 0);
	/* every 50 answers a connection breaks with requests in flight */
	assert_true(json_num(out, "reconnects") >= 20000 / 50 - 4);
	assert_true(json_num(out, "retries") >= json_num(out, "reconnects"));
	assert_true(json_num(out, "status") == 0);
	free(out);
}

static void
test_no_retry_loses_in_flight(void **state)
{
	char *out;
	int rc;

	(void)state;
	out = run_null("0", &rc);
	assert_int_equal(rc, 3);
	/* each connection broke once, with its 4 requests unanswered */
	assert_true(json_num(out, "lost") == 4 * 4);
	assert_true(json_num(out, "retries") == 0);
	assert_true(json_num(out, "reconnects") == 0);
	free(out);
}

/*
 * --series: a header, then a row per second with increasing times, the
 * rate and that second's reconnects, which add up to no more than the
 * run's total (the last part-second has no row).
 */
static void
test_series(void **state)
{
	char path[512], *csv, *out, *line, *save = NULL;
	double t, prev_t = 0, rate;
	long long err, retries, reconnects, lost, sum_reconnects = 0;
	int rows = 0, rc;

	(void)state;
	snprintf(path, sizeof(path), "%s/series.csv", S.s.dir);
	write_null_text();
	rc = bench_port(null_start("50"), "-c", "4", "-P", "4", "-d", "3",
	    "--verify", S.nulltext, "--retry", "3", "--series", path,
	    "--json", "-q", NULL);
	null_stop();
	assert_int_equal(rc, 0);
	out = checked_json();
	csv = read_file(path);
	line = strtok_r(csv, "\n", &save);
	assert_non_null(line);
	assert_string_equal(line, "t_s,req_per_s,errors,retries,reconnects,"
	    "lost");
	while ((line = strtok_r(NULL, "\n", &save)) != NULL) {
		assert_int_equal(sscanf(line, "%lf,%lf,%lld,%lld,%lld,%lld", &t,
		    &rate, &err, &retries, &reconnects, &lost), 6);
		assert_true(t > prev_t);
		assert_true(rate > 0);
		assert_int_equal(lost, 0);
		sum_reconnects += reconnects;
		prev_t = t;
		rows++;
	}
	assert_true(rows >= 2);
	assert_true(sum_reconnects > 0);
	assert_true(sum_reconnects <= json_num(out, "reconnects"));
	free(csv);
	free(out);
}

/* Stop the server with sig once it has answered this run; reap it. */
static void
stop_mid_run(int sig, unsigned long long before)
{
	long long deadline = now_ms() + 20000;

	while (srv_stat(&S.s, "requests_get") < before + 2000) {
		if (now_ms() > deadline)
			fail_msg("no load reached the server");
		nap_ms(10);
	}
	kill(S.s.pid, sig);
	assert_int_equal(srv_wait(&S.s, 20000), sig == SIGKILL ? 128 + 9 : 0);
}

/* A new server for the next tests: its own log, its own port. */
static void
restart(void)
{
	unlink(S.s.log);	/* the old "listening on" would be taken */
	srv_start(&S.s, NULL);
}

/*
 * A server killed mid-run: in a closed loop every connection has its -P
 * requests in flight, so exactly c x P are lost, with --retry too once
 * reconnecting has failed for --timeout.
 */
static void
test_killed_server(void **state)
{
	const char *retry[] = { "0", "3" };
	unsigned long long before;
	long long t0;
	char *out;
	pid_t pid;
	int i, rc;

	(void)state;
	for (i = 0; i < 2; i++) {
		before = srv_stat(&S.s, "requests_get");
		pid = bench_start(S.s.port, "-c", "4", "-P", "4", "-d", "30",
		    "--timeout", "1", "--verify", S.s.text, "--retry",
		    retry[i], "--json", "-q", NULL);
		stop_mid_run(SIGKILL, before);
		t0 = now_ms();
		rc = bench_wait(pid);
		restart();
		out = checked_json();
		assert_int_equal(rc, 3);
		assert_true(json_num(out, "lost") == 4 * 4);
		/* a reconnect may still reach the dying listener */
		if (i == 0)
			assert_true(json_num(out, "reconnects") == 0);
		assert_true(json_num(out, "abandoned") == (i == 0 ? 0 : 4));
		/* given up --timeout after the break; slow sanitizers */
		assert_true(now_ms() - t0 < 1000 + 3000);
		free(out);
	}
}

/* SIGTERM drains: what the server read is answered, the rest lost. */
static void
test_stopped_server_loses_the_rest(void **state)
{
	unsigned long long before;
	char *out;
	pid_t pid;
	int rc;

	(void)state;
	before = srv_stat(&S.s, "requests_get");
	pid = bench_start(S.s.port, "-c", "4", "-P", "4", "-d", "30",
	    "--verify", S.s.text, "--json", "-q", NULL);
	stop_mid_run(SIGTERM, before);
	rc = bench_wait(pid);
	restart();
	out = checked_json();
	assert_int_equal(rc, 3);
	assert_true(json_num(out, "lost") <= 4 * 4);
	assert_true(json_num(out, "closed_by_server") +
	    json_num(out, "io") == 4);
	free(out);
}

/*
 * The README's example client (loadtest/client-example.py) against
 * linesvr-null -a 3: ten lines, every one answered once, in order,
 * although each connection breaks after three answers.
 */
static void
test_example_client_retries(void **state)
{
	const char *argv[] = { "/usr/bin/python3", "loadtest/client-example.py",
	    "127.0.0.1", NULL, "1", "2", "3", "4", "5", "6", "7", "8", "9",
	    "10", NULL };
	char port[16], want[NULL_KEYS * NULL_LEN + 1], *out;
	int i;

	(void)state;
	if (access("/usr/bin/python3", X_OK) != 0) {
		print_message("skipped: no /usr/bin/python3 for the example\n");
		skip();
	}
	snprintf(port, sizeof(port), "%d", null_start("3"));
	argv[3] = port;
	unlink(S.bout);
	i = proc_wait(proc_spawn(argv, S.bout, S.berr), BENCH_MS);
	null_stop();
	assert_int_equal(i, 0);
	for (i = 0; i < NULL_KEYS * NULL_LEN; i++)
		want[i] = i % NULL_LEN == NULL_LEN - 1 ? '\n' : 'x';
	want[i] = '\0';
	out = read_file(S.bout);
	assert_string_equal(out, want);
	free(out);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_checker),
		cmocka_unit_test(test_verified_run),
		cmocka_unit_test(test_other_protocols_parse),
		cmocka_unit_test(test_mismatch_exits_4),
		cmocka_unit_test(test_stopped_server_exits_5),
		cmocka_unit_test(test_absent_server_exits_3),
		cmocka_unit_test(test_source_address),
		cmocka_unit_test(test_retry_loses_nothing),
		cmocka_unit_test(test_no_retry_loses_in_flight),
		cmocka_unit_test(test_series),
		cmocka_unit_test(test_killed_server),
		cmocka_unit_test(test_stopped_server_loses_the_rest),
		cmocka_unit_test(test_example_client_retries),
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
