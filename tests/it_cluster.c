/*
 * Integration test of the cluster recipe (issue 12): linesvr replicas
 * behind HAProxy, driven through scripts/cluster.sh exactly as an operator
 * would, on 127.0.0.1 only.
 *
 *   (i)   start -> lines through HAProxy verified byte-exact -> stop
 *         leaves no process;
 *   (ii)  restart-rolling during a verifying bench run: 0 mismatches; the
 *         requests lost without retry are reported (with --retry, once the
 *         bench has it: 0 lost);
 *   (iii) SIGKILL one replica mid-run: HAProxy marks it DOWN within
 *         inter x fall (+ margin), 0 mismatches; restart-rolling of that
 *         one replica brings it back UP;
 *   (iv)  TLS at the edge: a throwaway self-signed certificate, the #tls
 *         front, lines read with openssl s_client and compared byte for
 *         byte;
 *   (v)   the source allow-list: a client bound to 127.0.0.2 is refused
 *         when only 127.0.0.1/32 is allowed.
 *
 * Skipped, with a message, when haproxy is not installed (openssl too for
 * (iv)). The test makes itself a child subreaper, so the processes
 * cluster.sh leaves in the background are its children: it reaps them and
 * can check that `stop` left none alive. Every wait is bounded and polls a
 * condition (HAProxy's stats socket, a process's exit).
 *
 * The bench: LINESVR_BENCH_BIN. When its --help mentions --retry, the
 * load runs with --retry 3 and must lose nothing; without it the loss is
 * printed (and, when the bench reports "lost", bounded by the requests in
 * flight on the broken connections).
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
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define LINES		100000
#define REPLICAS	3
#define PIPELINE	16
#define CONNS		48
/* The health check of conf/haproxy.cfg: inter 200ms fall 3. */
#define INTER_MS	200
#define FALL		3
/* Down within inter x fall, plus the phase of the first failed check
 * (up to one inter) and a margin for a loaded machine. */
#define DOWN_LIMIT_MS	(INTER_MS * FALL + INTER_MS + 500)
#define SCRIPT_MS	60000
#define BENCH_MS	40000

struct cl {
	char dir[64];          /* everything of this test file */
	char text[128];        /* the served file */
	char run[128];         /* cluster.sh -r: configs, logs, pidfiles */
	char sock[160];        /* HAProxy's stats socket */
	char out[160], err[160];
	char bout[160], berr[160];
	int base, port, tls_port;
	int retry;             /* the bench has --retry */
	int up;                /* a cluster is running */
	struct textfile tf;    /* the file's lines, for expected answers */
};

static struct cl C;

/* ---- small helpers ---- */

/* 0 if `command -v name` finds it. */
static int
have(const char *name)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
	return system(cmd) == 0;
}

/* Can 127.0.0.1:port be bound now? */
static int
port_free(int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	int fd = socket(AF_INET, SOCK_STREAM, 0), ok;

	assert_true(fd >= 0);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ok = bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
	close(fd);
	return ok;
}

/* Six consecutive free ports below the usual ephemeral range: base
 * (unused), replicas base+1..base+3, HAProxy base+4, TLS base+5. */
static void
pick_ports(void)
{
	int tries, base, i;

	srand((unsigned)getpid() ^ (unsigned)now_ms());
	for (tries = 0; tries < 200; tries++) {
		base = 20000 + (rand() % 1200) * 10;
		for (i = 0; i < 6 && port_free(base + i); i++)
			;
		if (i == 6) {
			C.base = base;
			C.port = base + 4;
			C.tls_port = base + 5;
			return;
		}
	}
	fail_msg("no 6 free consecutive ports found");
}

/* Run scripts/cluster.sh -r RUN -b BASE -p PORT [opts...] (NULL-ended);
 * its exit status. stdout to C.out (truncated first), stderr to C.err. */
static int
cluster(const char *a0, ...)
{
	const char *argv[40];
	char base[16], port[16];
	va_list ap;
	const char *a;
	int n = 0, rc;

	snprintf(base, sizeof(base), "%d", C.base);
	snprintf(port, sizeof(port), "%d", C.port);
	argv[n++] = "/bin/sh";
	argv[n++] = "scripts/cluster.sh";
	argv[n++] = "-r";
	argv[n++] = C.run;
	argv[n++] = "-b";
	argv[n++] = base;
	argv[n++] = "-p";
	argv[n++] = port;
	va_start(ap, a0);
	for (a = a0; a != NULL && n < 39; a = va_arg(ap, const char *))
		argv[n++] = a;
	va_end(ap);
	argv[n] = NULL;
	unlink(C.out);
	rc = proc_wait(proc_spawn(argv, C.out, C.err), SCRIPT_MS);
	if (rc != 0) {
		char *o = read_file(C.out), *e = read_file(C.err);
		print_message("cluster.sh %s: status %d\n%s%s", argv[8], rc, o,
		    e);
		free(o);
		free(e);
	}
	return rc;
}

/* pid in RUN/name.pid, or -1. */
static pid_t
pidfile(const char *name)
{
	char path[200], *s;
	long v;

	snprintf(path, sizeof(path), "%s/%s.pid", C.run, name);
	s = read_file(path);
	v = strtol(s, NULL, 10);
	free(s);
	return v > 0 ? (pid_t)v : -1;
}

/* Reap every exited child (we are their subreaper). */
static void
reap(void)
{
	int st;

	while (waitpid(-1, &st, WNOHANG) > 0)
		;
}

/* Has pid gone (reaped or never ours)? A zombie counts as gone once
 * reaped. */
static int
gone(pid_t pid)
{
	reap();
	return kill(pid, 0) == -1 && errno == ESRCH;
}

/* ---- HAProxy's runtime API ---- */

/* Send one command to the stats socket; the answer, NUL-terminated. */
static void
hap_cli(const char *cmd, char *buf, size_t cap)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = 5 };
	size_t n = 0;
	ssize_t r;
	int fd;

	buf[0] = '\0';
	assert_true(strlen(C.sock) < sizeof(a.sun_path));
	memcpy(a.sun_path, C.sock, strlen(C.sock) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return;
	}
	send_str(fd, cmd);
	send_str(fd, "\n");
	while (n + 1 < cap && (r = recv(fd, buf + n, cap - n - 1, 0)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

/* Field col (by its header name) of row name in a `show stat` CSV. */
static int
stat_field(const char *csv, const char *row, const char *col, char *out,
    size_t cap)
{
	const char *hdr = strstr(csv, "# "), *line, *p;
	int want = -1, i = 0;
	size_t clen = strlen(col), rlen = strlen(row);

	out[0] = '\0';
	if (hdr == NULL)
		return -1;
	for (p = hdr + 2; *p != '\n' && *p != '\0'; i++) {
		const char *e = p + strcspn(p, ",\n");
		if ((size_t)(e - p) == clen && strncmp(p, col, clen) == 0)
			want = i;
		p = *e == ',' ? e + 1 : e;
	}
	if (want < 0)
		return -1;
	for (line = strchr(hdr, '\n'); line != NULL && line[1] != '\0';
	    line = strchr(line + 1, '\n')) {
		const char *f = line + 1, *sv = strchr(f, ',');
		if (sv == NULL || strncmp(sv + 1, row, rlen) != 0 ||
		    sv[1 + rlen] != ',')
			continue;
		for (p = f, i = 0; i < want && p != NULL; i++) {
			p = strpbrk(p, ",\n");
			if (p != NULL && *p == ',')
				p++;
			else
				p = NULL;
		}
		if (p == NULL)
			return -1;
		snprintf(out, cap, "%.*s", (int)strcspn(p, ",\n"), p);
		return 0;
	}
	return -1;
}

/* Status ("UP", "DOWN", "DRAIN", "MAINT", "UP 1/3", ...) of server name. */
static void
server_status(const char *name, char *out, size_t cap)
{
	static char csv[65536];

	hap_cli("show stat linesvr 4 -1", csv, sizeof(csv));
	stat_field(csv, name, "status", out, cap);
}

static long
server_scur(const char *name)
{
	static char csv[65536];
	char v[32];

	hap_cli("show stat linesvr 4 -1", csv, sizeof(csv));
	if (stat_field(csv, name, "scur", v, sizeof(v)) != 0)
		return -1;
	return strtol(v, NULL, 10);
}

/* Wait until HAProxy counts all conns of the bench's connections on the
 * replicas, each replica holding some: the load flows through all of
 * them, and each replica's share is settled. */
static void
wait_all_sessions(int nrep, long long conns, long long timeout_ms)
{
	long long end = now_ms() + timeout_ms, sum, cur;
	char name[16];
	int i, everywhere;

	for (;;) {
		for (i = 1, sum = 0, everywhere = 1; i <= nrep; i++) {
			snprintf(name, sizeof(name), "r%d", i);
			cur = server_scur(name);
			sum += cur;
			everywhere = everywhere && cur > 0;
		}
		if (sum == conns && everywhere)
			return;
		if (now_ms() > end)
			fail_msg("HAProxy counts %lld of the bench's %lld "
			    "connections after %lld ms", sum, conns, timeout_ms);
		nap_ms(10);
	}
}

/* ---- the bench ---- */

/* retry: run with --retry 3 (when the bench has it). */
static pid_t
bench_start(int conns, int seconds, int retry)
{
	static char c[16], d[16], pl[16], port[16];
	const char *argv[24];
	int n = 0;

	snprintf(c, sizeof(c), "%d", conns);
	snprintf(d, sizeof(d), "%d", seconds);
	snprintf(pl, sizeof(pl), "%d", PIPELINE);
	snprintf(port, sizeof(port), "%d", C.port);
	argv[n++] = test_bin("LINESVR_BENCH_BIN", "build/linesvr-bench");
	argv[n++] = "-p";
	argv[n++] = port;
	argv[n++] = "-c";
	argv[n++] = c;
	argv[n++] = "-P";
	argv[n++] = pl;
	argv[n++] = "-d";
	argv[n++] = d;
	argv[n++] = "--verify";
	argv[n++] = C.text;
	argv[n++] = "--json";
	if (retry && C.retry) {
		argv[n++] = "--retry";
		argv[n++] = "3";
	}
	argv[n] = NULL;
	unlink(C.bout);
	unlink(C.berr);
	return proc_spawn(argv, C.bout, C.berr);
}

/* A number in the bench's JSON by key; -1 if absent. */
static long long
json_num(const char *json, const char *key)
{
	char pat[64];
	const char *p;

	snprintf(pat, sizeof(pat), "\"%s\":", key);
	p = strstr(json, pat);
	return p != NULL ? strtoll(p + strlen(pat), NULL, 10) : -1;
}

struct result {
	int status;
	long long requests, mismatches, closed, io, lost, retries;
};

/* Wait for the bench; check what every run must hold: it ran, answered,
 * 0 mismatches, no protocol error, nothing stalled, and with --retry
 * nothing lost. */
static void
bench_finish(pid_t pid, struct result *r, const char *what, int retry)
{
	char *json;

	r->status = proc_wait(pid, BENCH_MS);
	check_no_sanitizer(C.berr);
	json = read_file(C.bout);
	r->requests = json_num(json, "requests");
	r->mismatches = json_num(json, "mismatches");
	r->closed = json_num(json, "closed_by_server");
	r->io = json_num(json, "io");
	r->lost = json_num(json, "lost");
	r->retries = json_num(json, "retries");
	print_message("it_cluster: %s: status %d, %lld requests, %lld "
	    "mismatches, %lld connections closed + %lld broken, lost %lld%s, "
	    "retries %lld\n", what, r->status, r->requests, r->mismatches,
	    r->closed, r->io, r->lost, r->lost < 0 ? " (not reported)" : "",
	    r->retries);
	if (r->requests <= 0 || r->mismatches != 0) {
		char *e = read_file(C.berr);
		print_message("%s\n%s\n", json, e);
		free(e);
	}
	free(json);
	/* 0 ok, 3 connections broken; 4 would be a mismatch, 5 a stall. */
	assert_true(r->status == 0 || r->status == 3);
	assert_true(r->requests > 0);
	assert_int_equal(r->mismatches, 0);
	if (retry && C.retry)
		assert_int_equal(r->lost, 0);
	else if (r->lost >= 0)
		/* At most the requests in flight on the broken connections. */
		assert_true(r->lost <= (r->closed + r->io) * PIPELINE);
}

/* ---- fixtures ---- */

/* The served file in memory: line k is tf.buf[off[k - 1] .. off[k]). */
static void
load_text(void)
{
	FILE *f = fopen(C.text, "rb");
	struct stat sb;
	size_t i, k = 0;

	assert_non_null(f);
	assert_int_equal(fstat(fileno(f), &sb), 0);
	C.tf.len = (size_t)sb.st_size;
	C.tf.buf = malloc(C.tf.len + 1);
	C.tf.off = malloc((LINES + 1) * sizeof(size_t));
	assert_non_null(C.tf.buf);
	assert_non_null(C.tf.off);
	assert_int_equal(fread(C.tf.buf, 1, C.tf.len, f), C.tf.len);
	fclose(f);
	assert_true(C.tf.len > 0 && C.tf.buf[C.tf.len - 1] == '\n');
	C.tf.off[k++] = 0;
	for (i = 0; i + 1 < C.tf.len && k <= LINES; i++)
		if (C.tf.buf[i] == '\n')
			C.tf.off[k++] = i + 1;
	assert_int_equal(k, LINES);
	C.tf.off[k] = C.tf.len;
	C.tf.lines = k;
}

static int
group_setup(void **state)
{
	const char *gen = test_bin("LINESVR_GENDATA_BIN", "build/linesvr-gendata");
	char n[16], help[200];
	const char *argv[12];
	(void)state;

	memset(&C, 0, sizeof(C));
	snprintf(C.dir, sizeof(C.dir), "/tmp/lsvr-cluster-XXXXXX");
	assert_non_null(mkdtemp(C.dir));
	snprintf(C.text, sizeof(C.text), "%s/data.txt", C.dir);
	snprintf(C.run, sizeof(C.run), "%s/run", C.dir);
	snprintf(C.sock, sizeof(C.sock), "%s/haproxy.sock", C.run);
	snprintf(C.out, sizeof(C.out), "%s/script.out", C.dir);
	snprintf(C.err, sizeof(C.err), "%s/script.err", C.dir);
	snprintf(C.bout, sizeof(C.bout), "%s/bench.json", C.dir);
	snprintf(C.berr, sizeof(C.berr), "%s/bench.err", C.dir);
	snprintf(n, sizeof(n), "%d", LINES);
	argv[0] = gen;
	argv[1] = "-n";
	argv[2] = n;
	argv[3] = "-s";
	argv[4] = "7";
	argv[5] = "--numbered";
	argv[6] = "-o";
	argv[7] = C.text;
	argv[8] = NULL;
	assert_int_equal(proc_wait(proc_spawn(argv, C.out, C.err), 30000), 0);
	load_text();
	/* The retrying client, once the bench has it. */
	snprintf(help, sizeof(help), "%s/help.txt", C.dir);
	argv[0] = test_bin("LINESVR_BENCH_BIN", "build/linesvr-bench");
	argv[1] = "--help";
	argv[2] = NULL;
	proc_wait(proc_spawn(argv, help, help), 10000);
	C.retry = file_has(help, "--retry");
	print_message("it_cluster: bench %s --retry\n",
	    C.retry ? "has" : "has no");
	/* Orphans of cluster.sh become ours, to reap and to check. */
	assert_int_equal(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	return 0;
}

static int
group_teardown(void **state)
{
	char cmd[128];
	(void)state;

	free(C.tf.buf);
	free(C.tf.off);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", C.dir);
	if (system(cmd) != 0)
		fprintf(stderr, "it_cluster: could not remove %s\n", C.dir);
	return 0;
}

/* Start a cluster of nrep replicas on fresh ports; with pem, the TLS
 * front too; with allow, that source allow-list. */
static void
start_cluster(int nrep, const char *pem, const char *allow)
{
	char nr[16], tls[16], status[64], name[16];
	int i;

	pick_ports();
	snprintf(nr, sizeof(nr), "%d", nrep);
	snprintf(tls, sizeof(tls), "%d", C.tls_port);
	assert_int_equal(cluster("-f", C.text, "-d", "2", "-W", "1",
	    "--tls-port", tls, "--allow", allow != NULL ? allow : "127.0.0.0/8",
	    pem != NULL ? "--tls-crt" : "start", pem != NULL ? pem : nr,
	    pem != NULL ? "start" : NULL, nr, NULL), 0);
	C.up = 1;
	for (i = 1; i <= nrep; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		server_status(name, status, sizeof(status));
		assert_string_equal(status, "UP");
	}
}

/* Stop the cluster; every process it had must be gone, no sanitizer
 * report in any replica's log. */
static void
stop_cluster(int nrep)
{
	pid_t pids[REPLICAS + 1];
	char name[16], path[200];
	long long end;
	int i, n = 0;

	if (!C.up)
		return;
	C.up = 0;
	pids[n] = pidfile("haproxy");
	if (pids[n] > 0)
		n++;
	for (i = 1; i <= nrep; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		if ((pids[n] = pidfile(name)) > 0)
			n++;
	}
	assert_int_equal(cluster("stop", NULL), 0);
	end = now_ms() + 5000;
	for (i = 0; i < n; i++) {
		while (!gone(pids[i]) && now_ms() < end)
			nap_ms(5);
		if (!gone(pids[i]))
			fail_msg("pid %ld still alive after cluster.sh stop",
			    (long)pids[i]);
	}
	for (i = 1; i <= nrep; i++) {
		snprintf(path, sizeof(path), "%s/r%d.log", C.run, i);
		check_no_sanitizer(path);
		snprintf(path, sizeof(path), "%s/r%d.log.old", C.run, i);
		check_no_sanitizer(path);
	}
	snprintf(path, sizeof(path), "%s/haproxy.pid", C.run);
	assert_int_equal(access(path, F_OK), -1);
	assert_int_equal(access(C.sock, F_OK), -1);
}

static int
teardown3(void **state)
{
	(void)state;
	stop_cluster(REPLICAS);
	return 0;
}

static int
teardown1(void **state)
{
	(void)state;
	stop_cluster(1);
	return 0;
}

/* ---- (i) start, verified lines, stop ---- */

static void
test_start_verify_stop(void **state)
{
	struct result r;
	(void)state;

	start_cluster(REPLICAS, NULL, NULL);
	assert_int_equal(cluster("status", NULL), 0);
	assert_true(file_has(C.out, "r3 "));
	bench_finish(bench_start(CONNS, 2, 1), &r, "through HAProxy", 1);
	assert_int_equal(r.status, 0);
	stop_cluster(REPLICAS);
}

/* ---- (ii) restart-rolling under load ---- */

static void
test_restart_rolling_under_load(void **state)
{
	struct result r;
	pid_t b, before[REPLICAS + 1];
	char name[16], status[64];
	int i;
	(void)state;

	start_cluster(REPLICAS, NULL, NULL);
	for (i = 1; i <= REPLICAS; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		before[i] = pidfile(name);
	}
	b = bench_start(CONNS, 8, 1);
	wait_all_sessions(REPLICAS, CONNS, 10000);
	assert_int_equal(cluster("restart-rolling", NULL), 0);
	{
		char *o = read_file(C.out);
		print_message("%s", o);
		free(o);
	}
	bench_finish(b, &r, "restart-rolling under load", 1);
	for (i = 1; i <= REPLICAS; i++) {
		snprintf(name, sizeof(name), "r%d", i);
		assert_true(pidfile(name) != before[i]);
		assert_true(gone(before[i]));
		server_status(name, status, sizeof(status));
		assert_string_equal(status, "UP");
	}
	stop_cluster(REPLICAS);
}

/* ---- (iii) SIGKILL one replica mid-run ---- */

static void
test_sigkill_marked_down(void **state)
{
	struct result r;
	char status[64];
	long long t0, dt;
	pid_t b, victim;
	(void)state;

	start_cluster(REPLICAS, NULL, NULL);
	b = bench_start(CONNS, 5, 1);
	wait_all_sessions(REPLICAS, CONNS, 10000);
	victim = pidfile("r2");
	assert_true(victim > 0);
	t0 = now_ms();
	assert_int_equal(kill(victim, SIGKILL), 0);
	for (;;) {
		server_status("r2", status, sizeof(status));
		dt = now_ms() - t0;
		if (strncmp(status, "DOWN", 4) == 0)
			break;
		if (dt > 5000)
			fail_msg("r2 not DOWN 5 s after SIGKILL: %s", status);
		nap_ms(5);
	}
	print_message("it_cluster: SIGKILL: r2 marked DOWN after %lld ms "
	    "(inter %d ms x fall %d = %d ms)\n", dt, INTER_MS, FALL,
	    INTER_MS * FALL);
	assert_true(dt <= DOWN_LIMIT_MS);
	bench_finish(b, &r, "one replica SIGKILLed", 1);
	/* One replica back: restart-rolling of r2 alone. */
	assert_int_equal(cluster("restart-rolling", "2", NULL), 0);
	server_status("r2", status, sizeof(status));
	assert_string_equal(status, "UP");
	stop_cluster(REPLICAS);
}

/*
 * ---- (c) the same kill without --retry ----
 * What is lost is at most what was in flight on the killed replica's
 * connections (its sessions in HAProxy just before the kill, PIPELINE
 * each), and the bench reports it.
 */
static void
test_sigkill_without_retry(void **state)
{
	struct result r;
	long long on_victim;
	pid_t b, victim;
	(void)state;

	start_cluster(REPLICAS, NULL, NULL);
	b = bench_start(CONNS, 3, 0);
	wait_all_sessions(REPLICAS, CONNS, 10000);
	victim = pidfile("r2");
	assert_true(victim > 0);
	on_victim = server_scur("r2");
	assert_int_equal(kill(victim, SIGKILL), 0);
	bench_finish(b, &r, "one replica SIGKILLed, no --retry", 0);
	print_message("it_cluster: no retry: lost %lld, at most %lld "
	    "(%lld connections on r2 x %d in flight)\n", r.lost,
	    on_victim * PIPELINE, on_victim, PIPELINE);
	assert_int_equal(r.status, 3);
	assert_true(r.lost >= 1);
	assert_true(r.lost <= on_victim * PIPELINE);
	stop_cluster(REPLICAS);
}

/* ---- (iv) TLS at the edge, (v) the allow-list ---- */

static void
make_cert(char *pem, size_t cap, char *crt, size_t ccap)
{
	char cmd[1024];

	snprintf(crt, ccap, "%s/edge.crt", C.dir);
	snprintf(pem, cap, "%s/edge.pem", C.dir);
	snprintf(cmd, sizeof(cmd),
	    "cd '%s' && openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=localhost "
	    "-addext subjectAltName=DNS:localhost,IP:127.0.0.1 "
	    "-keyout edge.key -out edge.crt >openssl.log 2>&1 && "
	    "cat edge.crt edge.key > edge.pem", C.dir);
	assert_int_equal(system(cmd), 0);
}

/* Expected answers to GET k for the keys, then nothing (QUIT). */
static void
expected(struct bytes *want, const size_t *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		size_t k = keys[i];
		bytes_str(want, "OK\r\n");
		bytes_add(want, C.tf.buf + C.tf.off[k - 1],
		    C.tf.off[k] - C.tf.off[k - 1]);
	}
}

static void
test_tls_front(void **state)
{
	char pem[160], crt[160], in[160], out[160], err[160], cmd[1024];
	size_t keys[200], i, n = 0, gotlen;
	struct bytes req = { 0 }, want = { 0 };
	uint64_t st = 99;
	char *got, buf[32];
	int fd, rc, e;
	(void)state;

	if (!have("openssl")) {
		print_message("it_cluster: SKIP TLS: openssl is not installed "
		    "(apt-get install openssl)\n");
		skip();
	}
	make_cert(pem, sizeof(pem), crt, sizeof(crt));
	start_cluster(1, pem, NULL);
	keys[n++] = 1;
	keys[n++] = 2;
	keys[n++] = LINES;
	while (n < sizeof(keys) / sizeof(keys[0]))
		keys[n++] = 1 + splitmix64(&st) % LINES;
	for (i = 0; i < n; i++) {
		snprintf(buf, sizeof(buf), "GET %zu\r\n", keys[i]);
		bytes_str(&req, buf);
	}
	bytes_str(&req, "QUIT\r\n");
	expected(&want, keys, n);
	snprintf(in, sizeof(in), "%s/tls.in", C.dir);
	snprintf(out, sizeof(out), "%s/tls.out", C.dir);
	snprintf(err, sizeof(err), "%s/tls.err", C.dir);
	{
		FILE *f = fopen(in, "wb");
		assert_non_null(f);
		assert_int_equal(fwrite(req.p, 1, req.len, f), req.len);
		assert_int_equal(fclose(f), 0);
	}
	/* -quiet implies -ign_eof: s_client reads until the server closes
	 * after QUIT. The certificate must verify against itself for
	 * localhost: we talk to our front, over TLS. */
	snprintf(cmd, sizeof(cmd),
	    "exec openssl s_client -quiet -connect 127.0.0.1:%d "
	    "-servername localhost -CAfile '%s' -verify_hostname localhost "
	    "-verify_return_error < '%s'", C.tls_port, crt, in);
	{
		const char *argv[] = { "/bin/sh", "-c", cmd, NULL };
		unlink(out);
		rc = proc_wait(proc_spawn(argv, out, err), 20000);
	}
	got = read_file(out);
	gotlen = strlen(got);	/* the generated lines hold no NUL */
	if (rc != 0 || gotlen != want.len) {
		char *e2 = read_file(err);
		print_message("s_client status %d, %zu of %zu bytes\n%s\n", rc,
		    gotlen, want.len, e2);
		free(e2);
	}
	assert_int_equal(rc, 0);
	assert_answers(got, gotlen, want.p, want.len);
	print_message("it_cluster: TLS: %zu lines read through the TLS front, "
	    "byte-exact\n", n);
	free(got);
	/* The TLS port speaks no plain text: a plain GET gets no line. */
	fd = loopback_connect(C.tls_port, 0);
	assert_true(fd >= 0);
	{
		struct timeval tv = { .tv_sec = 5 };
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	}
	send_str(fd, "GET 1\r\n");
	got = recv_until_end(fd, &gotlen, &e);
	assert_true(gotlen < 2 || memcmp(got, "OK", 2) != 0);
	free(got);
	close(fd);
	free(req.p);
	free(want.p);
	stop_cluster(1);
}

/* Connect to 127.0.0.1:port from source address src; -1 on failure. */
static int
connect_from(const char *src, int port)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	struct sockaddr_in s = { .sin_family = AF_INET };
	struct timeval tv = { .tv_sec = 5 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(inet_pton(AF_INET, src, &s.sin_addr), 1);
	assert_int_equal(bind(fd, (struct sockaddr *)&s, sizeof(s)), 0);
	a.sin_port = htons((uint16_t)port);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* GET 1 and QUIT from src; what came back. */
static char *
get1_from(const char *src, size_t *len)
{
	int fd = connect_from(src, C.port), e;
	char *got;

	if (fd < 0) {
		*len = 0;
		return strdup("");
	}
	/* A reset connection may refuse the send: what matters is what
	 * comes back. */
	(void)send(fd, "GET 1\r\nQUIT\r\n", 13, MSG_NOSIGNAL);
	got = recv_until_end(fd, len, &e);
	close(fd);
	return got;
}

static void
test_allow_list(void **state)
{
	struct bytes want = { 0 };
	size_t keys[1] = { 1 }, len;
	char *got, csv[65536], dcon[32];
	(void)state;

	start_cluster(1, NULL, "127.0.0.1/32");
	expected(&want, keys, 1);
	/* Allowed: 127.0.0.1. */
	got = get1_from("127.0.0.1", &len);
	assert_answers(got, len, want.p, want.len);
	free(got);
	/* Outside the list: 127.0.0.2 is loopback too, but not allowed. */
	got = get1_from("127.0.0.2", &len);
	assert_int_equal(len, 0);
	free(got);
	/* HAProxy counted it as a denied connection. */
	hap_cli("show stat linesvr_front 1 -1", csv, sizeof(csv));
	assert_int_equal(stat_field(csv, "FRONTEND", "dcon", dcon,
	    sizeof(dcon)), 0);
	assert_true(strtol(dcon, NULL, 10) >= 1);
	print_message("it_cluster: allow-list: 127.0.0.2 refused (dcon %s), "
	    "127.0.0.1 served\n", dcon);
	free(want.p);
	stop_cluster(1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_start_verify_stop, teardown3),
		cmocka_unit_test_teardown(test_restart_rolling_under_load,
		    teardown3),
		cmocka_unit_test_teardown(test_sigkill_marked_down, teardown3),
		cmocka_unit_test_teardown(test_sigkill_without_retry,
		    teardown3),
		cmocka_unit_test_teardown(test_tls_front, teardown1),
		cmocka_unit_test_teardown(test_allow_list, teardown1),
	};

	if (!have("haproxy")) {
		printf("it_cluster: SKIP: haproxy is not installed "
		    "(apt-get install haproxy; scripts/install-deps.sh)\n");
		return 0;
	}
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
