/*
 * Integration smoke test of linesvr-bench against the real server (issue
 * 4, item 5): a 2-second run with --verify must answer more than 0
 * requests with 0 mismatches, exit 0 and print valid JSON; the documented
 * exit statuses must hold for a wrong reference file (4), a stopped server
 * (5, within the deadline) and an absent one (3).
 *
 * It runs the binaries the test runner names (LINESVR_BIN,
 * LINESVR_BENCH_BIN), so the sanitizer build tests the sanitizer builds;
 * every child is bounded in time and its output checked for sanitizer
 * reports.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "dial.h"

#define LINES		20000
#define START_MS	20000
#define BENCH_MS	30000

struct smoke {
	char dir[64];
	char text[128], other[128], slog[128], bout[128], berr[128];
	pid_t server;
	int port;
};

static struct smoke S;

static long long
ms_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
nap(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static const char *
bin(const char *env, const char *dflt)
{
	const char *b = getenv(env);

	return b != NULL ? b : dflt;
}

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

/* fork + exec argv with stdout and stderr into files. */
static pid_t
spawn(const char *const *argv, const char *out, const char *err)
{
	pid_t pid = fork();
	int fo, fe;

	assert_true(pid >= 0);
	if (pid == 0) {
		fo = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		fe = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fo < 0 || fe < 0)
			_exit(127);
		dup2(fo, STDOUT_FILENO);
		dup2(fe, STDERR_FILENO);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

/* Exit status of pid, or -1 after killing it at timeout_ms. */
static int
wait_for(pid_t pid, int timeout_ms)
{
	long long end = ms_now() + timeout_ms;
	int st;

	while (ms_now() < end) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
		nap(10);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL)
		return calloc(1, 1);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, (size_t)n + 1);
	assert_non_null(buf);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

static void
no_sanitizer_report(const char *path)
{
	char *log = slurp(path);

	if (strstr(log, "Sanitizer") != NULL ||
	    strstr(log, "runtime error:") != NULL) {
		print_error("%s:\n%s\n", path, log);
		free(log);
		fail_msg("sanitizer report in %s", path);
	}
	free(log);
}

static int
start_server(void **state)
{
	const char *argv[] = { bin("LINESVR_BIN", "build/linesvr"), "-p", "0",
	    S.text, NULL };
	long long end;
	char *log, *p;

	(void)state;
	memset(&S, 0, sizeof(S));
	strcpy(S.dir, "/tmp/lsvr-bench-XXXXXX");
	if (mkdtemp(S.dir) == NULL)
		return -1;
	snprintf(S.text, sizeof(S.text), "%s/text.txt", S.dir);
	snprintf(S.other, sizeof(S.other), "%s/other.txt", S.dir);
	snprintf(S.slog, sizeof(S.slog), "%s/server.log", S.dir);
	snprintf(S.bout, sizeof(S.bout), "%s/bench.out", S.dir);
	snprintf(S.berr, sizeof(S.berr), "%s/bench.err", S.dir);
	write_text(S.text, 1);
	write_text(S.other, 2);
	signal(SIGPIPE, SIG_IGN);
	S.server = spawn(argv, S.slog, S.slog);
	for (end = ms_now() + START_MS; ms_now() < end; nap(10)) {
		log = slurp(S.slog);
		p = strstr(log, "listening on ");
		if (p != NULL && (p = strchr(p + 13, ' ')) != NULL) {
			while (*p != ':')
				p--;
			S.port = atoi(p + 1);
			free(log);
			return S.port > 0 ? 0 : -1;
		}
		free(log);
	}
	return -1;
}

static int
stop_server(void **state)
{
	char path[160];

	(void)state;
	if (S.server > 0) {
		kill(S.server, SIGCONT);
		kill(S.server, SIGTERM);
		assert_int_equal(wait_for(S.server, 10000), 0);
		no_sanitizer_report(S.slog);
	}
	unlink(S.text);
	unlink(S.other);
	snprintf(path, sizeof(path), "%s.lidx", S.text);
	unlink(path);
	unlink(S.slog);
	unlink(S.bout);
	unlink(S.berr);
	rmdir(S.dir);
	return 0;
}

/* Run the bench with extra args (NULL-terminated); its exit status. */
static int
bench(const char *a0, ...)
{
	const char *argv[32];
	char port[16];
	va_list ap;
	int n = 0, rc;
	const char *a;

	snprintf(port, sizeof(port), "%d", S.port);
	argv[n++] = bin("LINESVR_BENCH_BIN", "build/linesvr-bench");
	argv[n++] = "-p";
	argv[n++] = port;
	va_start(ap, a0);
	for (a = a0; a != NULL && n < 31; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	rc = wait_for(spawn(argv, S.bout, S.berr), BENCH_MS);
	no_sanitizer_report(S.berr);
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
	    "uniform", "--verify", S.text, "--json", "-q", NULL), 0);
	out = slurp(S.bout);
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
	    "-k", "30000", "--keys", "seq", "-t", "2", "--verify", S.text,
	    "--csv", "-q", NULL), 0);
	out = slurp(S.bout);
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
	kill(S.server, SIGSTOP);
	t0 = ms_now();
	rc = bench("-c", "4", "-d", "1", "--timeout", "1", "-k", "100", "-q",
	    NULL);
	kill(S.server, SIGCONT);
	assert_int_equal(rc, 5);
	/* the deadline is -d + --timeout = 2 s; allow for slow sanitizers */
	assert_true(ms_now() - t0 < 2000 + 3000);
}

static void
test_absent_server_exits_3(void **state)
{
	int port = S.port;

	(void)state;
	S.port = 1;	/* nothing listens on a privileged port here */
	assert_int_equal(bench("-c", "2", "-d", "1", "-k", "10", "-q", NULL),
	    3);
	S.port = port;
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
	snprintf(port, sizeof(port), "%d", S.port);
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
