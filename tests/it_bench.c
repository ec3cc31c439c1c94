/*
 * Integration smoke test of linesvr-bench against the real server (issue
 * 4, item 5): a 2-second run with --verify must answer more than 0
 * requests with 0 mismatches, exit 0 and print valid JSON; the documented
 * exit statuses must hold for a wrong reference file (4), a stopped server
 * (5, within the deadline) and an absent one (3).
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
#include <unistd.h>

#include "dial.h"
#include "harness.h"

#define LINES		20000
#define BENCH_MS	30000

struct smoke {
	struct srv s;       /* text.txt is the server's file */
	char other[160];    /* another text, for a wrong reference */
	char bout[160], berr[160];
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

/* Run the bench with extra args (NULL-terminated); its exit status. */
static int
bench(const char *a0, ...)
{
	const char *bin = getenv("LINESVR_BENCH_BIN");
	const char *argv[32];
	char port[16];
	va_list ap;
	int n = 0, rc;
	const char *a;

	snprintf(port, sizeof(port), "%d", S.s.port);
	argv[n++] = bin != NULL ? bin : "build/linesvr-bench";
	argv[n++] = "-p";
	argv[n++] = port;
	va_start(ap, a0);
	for (a = a0; a != NULL && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	unlink(S.bout);	/* stdout holds this run's output only */
	rc = proc_wait(proc_spawn(argv, S.bout, S.berr), BENCH_MS);
	check_no_sanitizer(S.berr);
	return rc;
}

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
	};

	return cmocka_run_group_tests(tests, start_server, stop_server);
}
