/*
 * harness: the real server as a child process, and socket helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define START_TIMEOUT_MS 20000
#define IO_TIMEOUT_S     20

long long
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void
nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

/* ---- child processes ---- */

static int
exit_code(int st)
{
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A resource limit for the next child only (0 resource: none). */
static int next_limit_res = -1;
static rlim_t next_limit_val;

void
proc_limit_next(int resource, unsigned long long value)
{
	next_limit_res = resource;
	next_limit_val = (rlim_t)value;
}

pid_t
proc_spawn(const char *const *argv, const char *out, const char *err)
{
	pid_t pid = fork();
	int fo, fe;
	struct rlimit rl;

	assert_true(pid >= 0);
	if (pid == 0) {
		fo = open(out, O_WRONLY | O_CREAT | O_APPEND, 0644);
		fe = open(err, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fo < 0 || fe < 0)
			_exit(127);
		dup2(fo, STDOUT_FILENO);
		dup2(fe, STDERR_FILENO);
		close(fo);
		close(fe);
		signal(SIGPIPE, SIG_DFL);
		/* A program must cope with the signals' defaults itself. */
		signal(SIGXFSZ, SIG_DFL);
		if (next_limit_res >= 0) {
			rl.rlim_cur = rl.rlim_max = next_limit_val;
			if (setrlimit(next_limit_res, &rl) < 0)
				_exit(126);
		}
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	next_limit_res = -1;
	return pid;
}

int
proc_wait(pid_t pid, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int st;

	while (now_ms() < deadline) {
		if (waitpid(pid, &st, WNOHANG) == pid)
			return exit_code(st);
		nap_ms(5);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &st, 0);
	return -1;
}

void
proc_stop(pid_t pid)
{
	long long deadline = now_ms() + IO_TIMEOUT_S * 1000;
	int st;

	assert_int_equal(kill(pid, SIGSTOP), 0);
	while (now_ms() < deadline) {
		pid_t r = waitpid(pid, &st, WNOHANG | WUNTRACED);
		if (r == pid && WIFSTOPPED(st))
			return;
		if (r == pid)
			fail_msg("process %ld ended instead of stopping",
			    (long)pid);
		nap_ms(1);
	}
	fail_msg("process %ld did not stop within %d s", (long)pid,
	    IO_TIMEOUT_S);
}

/* ---- files ---- */

char *
read_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (f == NULL) {
		assert_non_null(buf = calloc(1, 1));
		return buf;
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = calloc(1, n > 0 ? (size_t)n + 1 : 1);
	assert_non_null(buf);
	if (n > 0 && fread(buf, 1, (size_t)n, f) != (size_t)n)
		buf[0] = '\0';
	fclose(f);
	return buf;
}

int
file_has(const char *path, const char *needle)
{
	char *text = read_file(path);
	int has = strstr(text, needle) != NULL;

	free(text);
	return has;
}

/* Count the files of dir whose names hold part; *bytes: their sizes. */
static int
scan_named(const char *dir, const char *part, long long *bytes)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	struct stat st;
	char path[PATH_MAX];
	int n = 0;

	assert_non_null(d);
	*bytes = 0;
	while ((e = readdir(d)) != NULL) {
		if (strstr(e->d_name, part) == NULL)
			continue;
		n++;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (stat(path, &st) == 0)
			*bytes += (long long)st.st_size;
	}
	closedir(d);
	return n;
}

int
files_named(const char *dir, const char *part)
{
	long long bytes;

	return scan_named(dir, part, &bytes);
}

long long
bytes_named(const char *dir, const char *part)
{
	long long bytes;

	scan_named(dir, part, &bytes);
	return bytes;
}

/* Does the file hold sanitizer output? If so, print it. */
static int
has_sanitizer_report(const char *path)
{
	/* "Sanitizer" covers Address-, Leak- and UndefinedBehaviorSanitizer. */
	static const char *bad[] = { "Sanitizer", "runtime error:", NULL };
	char *text = read_file(path);
	int found = 0;

	for (int i = 0; bad[i] != NULL && !found; i++)
		found = strstr(text, bad[i]) != NULL;
	if (found)
		print_error("%s:\n%s\n", path, text);
	free(text);
	return found;
}

void
check_no_sanitizer(const char *path)
{
	if (has_sanitizer_report(path))
		fail_msg("sanitizer report in %s", path);
}

/* ---- the server ---- */

const char *
test_bin(const char *env, const char *dflt)
{
	const char *b = getenv(env);

	return b != NULL && *b != '\0' ? b : dflt;
}

static const char *
server_bin(void)
{
	return test_bin("LINESVR_BIN", "build/linesvr");
}

void
srv_prepare(struct srv *s, const void *text, size_t len)
{
	FILE *f;

	memset(s, 0, sizeof(*s));
	s->pid = -1;
	snprintf(s->dir, sizeof(s->dir), "/tmp/lsvr-it-XXXXXX");
	assert_non_null(mkdtemp(s->dir));
	snprintf(s->text, sizeof(s->text), "%s/text.txt", s->dir);
	snprintf(s->conf, sizeof(s->conf), "%s/linesvr.ini", s->dir);
	snprintf(s->log, sizeof(s->log), "%s/server.log", s->dir);
	assert_non_null(f = fopen(s->text, "wb"));
	if (len > 0)
		assert_int_equal(fwrite(text, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
	signal(SIGPIPE, SIG_IGN);
}

static void
write_conf(const struct srv *s, const char *body)
{
	FILE *f = fopen(s->conf, "w");

	assert_non_null(f);
	fputs(body, f);
	assert_int_equal(fclose(f), 0);
}

/* linesvr [-c conf] extra... with stdout and stderr into the log file. */
static pid_t
spawn(const struct srv *s, int with_conf, const char *const *extra)
{
	const char *argv[16];
	int n = 0;

	argv[n++] = server_bin();
	if (with_conf) {
		argv[n++] = "-c";
		argv[n++] = s->conf;
	}
	for (; extra != NULL && *extra != NULL && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	return proc_spawn(argv, s->log, s->log);
}

int
srv_log_has(const struct srv *s, const char *needle)
{
	return file_has(s->log, needle);
}

/*
 * Every path that reaps the server (srv_exited, srv_wait and through it
 * srv_stop and srv_run_expect_exit, srv_cleanup) checks its log: a server
 * that exits by itself is checked as well as one that is stopped.
 */
int
srv_exited(struct srv *s, int *status)
{
	int st;

	if (waitpid(s->pid, &st, WNOHANG) != s->pid)
		return 0;
	s->pid = -1;
	*status = exit_code(st);
	check_no_sanitizer(s->log);
	return 1;
}

/* Wait until logfile says "listening on ADDR:PORT " and take the port. */
static void
await_listening(struct srv *s, const char *logfile)
{
	long long deadline = now_ms() + START_TIMEOUT_MS;
	int status;

	while (now_ms() < deadline) {
		char *log = read_file(logfile);
		char *p = strstr(log, "listening on ");
		if (p != NULL && (p = strchr(p + 13, ' ')) != NULL) {
			char *colon = p;
			while (colon > log && *colon != ':')
				colon--;
			s->port = atoi(colon + 1);
			free(log);
			assert_true(s->port > 0);
			return;
		}
		free(log);
		if (srv_exited(s, &status)) {
			char *l = read_file(s->log);
			print_error("server log:\n%s\n", l);
			free(l);
			fail_msg("server exited (%d) before listening", status);
		}
		nap_ms(10);
	}
	fail_msg("server did not report listening in %s within %d ms",
	    logfile, START_TIMEOUT_MS);
}

void
srv_start_log(struct srv *s, const char *extra_conf, const char *logfile)
{
	char conf[8192];

	snprintf(conf, sizeof(conf),
	    "[server]\nfile = %s\nport = 0\nbind = 127.0.0.1\n%s\n", s->text,
	    extra_conf != NULL ? extra_conf : "");
	write_conf(s, conf);
	s->pid = spawn(s, 1, NULL);
	await_listening(s, logfile);
}

void
srv_start(struct srv *s, const char *extra_conf)
{
	srv_start_log(s, extra_conf, s->log);
}

void
srv_start_argv(struct srv *s, const char *const *argv)
{
	s->pid = spawn(s, 0, argv);
	await_listening(s, s->log);
}

int
srv_wait(struct srv *s, int timeout_ms)
{
	int rc = proc_wait(s->pid, timeout_ms);

	s->pid = -1;
	check_no_sanitizer(s->log);
	return rc;
}

void
srv_spawn(struct srv *s, const char *conf, const char *const *argv)
{
	write_conf(s, conf);
	s->pid = spawn(s, 1, argv);
}

int
srv_run_expect_exit(struct srv *s, const char *conf, const char *const *argv,
    int timeout_ms)
{
	srv_spawn(s, conf, argv);
	return srv_wait(s, timeout_ms);
}

void
srv_pause_build(struct srv *s, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	char index[sizeof(s->text) + 8];
	int st;

	while (files_named(s->dir, ".tmp.") == 0) {
		if (srv_exited(s, &st))
			fail_msg("the server exited (%d) without a build", st);
		if (now_ms() > deadline)
			fail_msg("no temporary index within %d ms", timeout_ms);
		nap_ms(1);
	}
	proc_stop(s->pid);
	/* Caught before its commit: the temporary file is still there and
	 * no index is. (The build maps the text, so bytes read would not
	 * tell how far its scan got.) */
	snprintf(index, sizeof(index), "%s.lidx", s->text);
	assert_true(files_named(s->dir, ".tmp.") > 0);
	assert_int_equal(access(index, F_OK), -1);
}

void
srv_stop(struct srv *s)
{
	int rc;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	rc = srv_wait(s, 20000);
	assert_int_equal(rc, 0);
}

void
srv_cleanup(struct srv *s)
{
	char cmd[128];
	int report = 0;

	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = -1;
		report = has_sanitizer_report(s->log);
	}
	if (s->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			print_error("could not remove %s\n", s->dir);
	}
	/* Failed only now, so the directory goes whatever the log says. */
	if (report)
		fail_msg("sanitizer report in the log of a killed server");
}

/* ---- sockets ---- */

int
loopback_connect(int port, int rcvbuf)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), e;

	assert_true(fd >= 0);
	if (rcvbuf > 0)
		assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf,
		    sizeof(rcvbuf)), 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0)
		return fd;
	e = errno;
	close(fd);
	errno = e;
	return -1;
}

int
srv_connect_rcvbuf(const struct srv *s, int rcvbuf)
{
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd = loopback_connect(s->port, rcvbuf);

	if (fd < 0)
		fail_msg("connect to port %d: %s", s->port, strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	return fd;
}

int
srv_connect(const struct srv *s)
{
	return srv_connect_rcvbuf(s, 0);
}

int
srv_stuck_client(const struct srv *s, int line, int n)
{
	int fd = srv_connect_rcvbuf(s, 4096);
	char req[32];
	int len = snprintf(req, sizeof(req), "GET %d\r\n", line);

	for (int i = 0; i < n; i++)
		send_all(fd, req, (size_t)len);
	wait_sent(fd, IO_TIMEOUT_S * 1000);
	/* The server has started answering: the first bytes are there. */
	expect_str(fd, "OK\r\n");
	return fd;
}

void
send_all(int fd, const void *buf, size_t len)
{
	const char *p = buf;

	while (len > 0) {
		ssize_t n = send(fd, p, len, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			fail_msg("send: %s", strerror(errno));
		p += n;
		len -= (size_t)n;
	}
}

void
send_str(int fd, const char *str)
{
	send_all(fd, str, strlen(str));
}

void
recv_exact(int fd, void *buf, size_t len)
{
	char *p = buf;

	while (len > 0) {
		ssize_t n = recv(fd, p, len, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0)
			fail_msg("connection closed with %zu bytes still expected",
			    len);
		if (n < 0)
			fail_msg("recv: %s (%zu bytes still expected)",
			    strerror(errno), len);
		p += n;
		len -= (size_t)n;
	}
}

void
expect_bytes(int fd, const void *want, size_t len)
{
	char *got = malloc(len + 1);

	assert_non_null(got);
	recv_exact(fd, got, len);
	if (memcmp(got, want, len) != 0) {
		got[len] = '\0';
		print_error("got: %.200s\n", got);
		free(got);
		fail_msg("unexpected bytes from the server");
	}
	free(got);
}

void
expect_str(int fd, const char *want)
{
	expect_bytes(fd, want, strlen(want));
}

char *
recv_all(int fd, size_t *len)
{
	int err;
	char *buf = recv_until_end(fd, len, &err);

	if (err != 0) {
		free(buf);
		fail_msg("recv: %s", strerror(err));
	}
	return buf;
}

size_t
answer_at(const char *answers, size_t len, size_t off)
{
	size_t k = 0, pos = 0;

	/* Each answer is "OK\r\n" or "ERR\r\n" and runs to an LF after that. */
	while (pos + 4 <= len && pos <= off) {
		const char *lf = memchr(answers + pos + 4, '\n', len - pos - 4);
		if (lf == NULL)
			break;
		pos = (size_t)(lf - answers) + 1;
		if (pos > off)
			return k + 1;
		k++;
	}
	return k + 1;
}

/* Where got and want first differ; equal if that is both lengths. */
static size_t
first_diff(const char *got, size_t gotlen, const char *want, size_t wantlen)
{
	size_t i = 0;

	while (i < gotlen && i < wantlen && got[i] == want[i])
		i++;
	return i;
}

void
assert_answers(const char *got, size_t gotlen, const char *want,
    size_t wantlen)
{
	size_t i = first_diff(got, gotlen, want, wantlen);

	if (i == gotlen && i == wantlen)
		return;
	fail_msg("answers differ at byte %zu (answer %zu); got %zu bytes, "
	    "want %zu", i, answer_at(want, wantlen, i), gotlen, wantlen);
}

void
expect_rest(int fd, const void *want, size_t len)
{
	size_t gotlen, i, answer;
	char *got = recv_all(fd, &gotlen);

	i = first_diff(got, gotlen, want, len);
	free(got);
	if (i == gotlen && i == len)
		return;
	answer = answer_at(want, len, i);
	fail_msg("answers differ at byte %zu (answer %zu); got %zu bytes, "
	    "want %zu", i, answer, gotlen, len);
}

char *
recv_until_end(int fd, size_t *len, int *err)
{
	size_t cap = 1 << 16, n = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	*err = 0;
	for (;;) {
		ssize_t r;
		if (n == cap)
			assert_non_null(buf = realloc(buf, cap *= 2));
		r = recv(fd, buf + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			*err = r < 0 ? errno : 0;
			break;
		}
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

void
assert_answers_prefix(const char *got, size_t gotlen, int err,
    const char *want, size_t wantlen)
{
	size_t i = first_diff(got, gotlen, want, wantlen);

	if (i < wantlen)
		fail_msg("answers lost: got %zu of %zu bytes (%s), first "
		    "difference at byte %zu (answer %zu)", gotlen, wantlen,
		    err ? strerror(err) : "EOF", i, answer_at(want, wantlen, i));
}

void
wait_sent(int fd, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int q = -1;

	while (now_ms() < deadline) {
		struct pollfd p = { .fd = fd, .events = 0 };
		assert_int_equal(ioctl(fd, SIOCOUTQ, &q), 0);
		/* A reset peer acknowledges nothing more: that is an end too. */
		if (q == 0 || (poll(&p, 1, 0) == 1 &&
		    (p.revents & (POLLERR | POLLHUP))))
			return;
		nap_ms(1);
	}
	fail_msg("%d bytes still unacknowledged after %d ms", q, timeout_ms);
}

/* Local and remote port of a connected socket, IPv4 or IPv6 (sin_port
 * and sin6_port have one offset). */
static void
socket_ports(int fd, unsigned *local, unsigned *remote)
{
	struct sockaddr_storage a;
	socklen_t len = sizeof(a);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*local = ntohs(((struct sockaddr_in *)&a)->sin_port);
	len = sizeof(a);
	assert_int_equal(getpeername(fd, (struct sockaddr *)&a, &len), 0);
	*remote = ntohs(((struct sockaddr_in *)&a)->sin_port);
}

/* The TCP state (as /proc/net/tcp numbers it) of the socket with these
 * ports, IPv4 or IPv6; 0 if there is none. */
static unsigned
tcp_state(unsigned local, unsigned remote)
{
	static const char *tables[] = { "/proc/net/tcp", "/proc/net/tcp6" };
	unsigned lp, rp, st, found = 0;
	char line[512];

	for (int i = 0; i < 2 && found == 0; i++) {
		FILE *f = fopen(tables[i], "r");
		if (f == NULL)
			continue;
		while (found == 0 && fgets(line, sizeof(line), f) != NULL)
			if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%x "
			    "%x", &lp, &rp, &st) == 3 && lp == local &&
			    rp == remote)
				found = st;
		fclose(f);
	}
	return found;
}

void
wait_peer_shut(int fd, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	unsigned me, peer;

	socket_ports(fd, &me, &peer);
	while (now_ms() < deadline) {
		/* 1 is ESTABLISHED; 0, no socket, is a peer closed and gone. */
		if (tcp_state(peer, me) != 1)
			return;
		nap_ms(1);
	}
	fail_msg("the peer of port %u still has its connection open after "
	    "%d ms", me, timeout_ms);
}

int
peer_closed(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, timeout_ms) <= 0)
		return 0;
	return recv(fd, &c, 1, MSG_DONTWAIT) == 0 ||
	    (p.revents & (POLLHUP | POLLERR)) != 0;
}

/* ---- STATS ---- */

void
srv_read_stats(int fd, char *buf, size_t cap)
{
	size_t n = 0;

	send_str(fd, "STATS\r\n");
	for (;;) {
		ssize_t r;
		assert_true(n < cap - 1);
		r = recv(fd, buf + n, cap - 1 - n, 0);
		if (r <= 0)
			fail_msg("STATS: connection closed or timed out");
		n += (size_t)r;
		buf[n] = '\0';
		if (n >= 5 && strcmp(buf + n - 5, "END\r\n") == 0)
			break;
	}
	assert_memory_equal(buf, "OK\r\n", 4);
}

unsigned long long
stat_value(const char *stats, const char *name)
{
	char key[64];
	const char *p;

	snprintf(key, sizeof(key), "\n%s ", name);
	if ((p = strstr(stats, key)) == NULL)
		fail_msg("STATS has no %s:\n%s", name, stats);
	return strtoull(p + strlen(key), NULL, 10);
}

unsigned long long
srv_stat(const struct srv *s, const char *name)
{
	char buf[4096];
	int fd = srv_connect(s);

	srv_read_stats(fd, buf, sizeof(buf));
	close(fd);
	return stat_value(buf, name);
}

void
wait_stat_fd(int fd, const char *name, unsigned long long value,
    int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	unsigned long long v;
	char buf[4096];

	for (;;) {
		srv_read_stats(fd, buf, sizeof(buf));
		if ((v = stat_value(buf, name)) == value)
			return;
		if (now_ms() > deadline)
			fail_msg("%s is %llu, not %llu, after %d ms", name, v,
			    value, timeout_ms);
		nap_ms(5);
	}
}

void
wait_stat(const struct srv *s, const char *name, unsigned long long value,
    int timeout_ms)
{
	int fd = srv_connect(s);

	wait_stat_fd(fd, name, value, timeout_ms);
	close(fd);
}

long
proc_status_kb(pid_t pid, const char *key)
{
	char path[64], line[256];
	size_t klen = strlen(key);
	long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
			v = strtol(line + klen + 1, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* ---- generated data ---- */

void
textfile_gen(struct textfile *tf, uint64_t *st, size_t nlines,
    size_t minlen, size_t maxlen, char (*byte)(uint64_t *st))
{
	size_t pos = 0;

	tf->buf = malloc(nlines * (maxlen + 1) + 1);
	tf->off = malloc((nlines + 1) * sizeof(*tf->off));
	assert_non_null(tf->buf);
	assert_non_null(tf->off);
	for (size_t i = 0; i < nlines; i++) {
		size_t n = minlen +
		    (size_t)(splitmix64(st) % (maxlen - minlen + 1));
		tf->off[i] = pos;
		for (size_t k = 0; k < n; k++)
			tf->buf[pos++] = byte(st);
		tf->buf[pos++] = '\n';
	}
	tf->off[nlines] = pos;
	tf->len = pos;
	tf->lines = nlines;
}

void
textfile_free(struct textfile *tf)
{
	free(tf->buf);
	free(tf->off);
	memset(tf, 0, sizeof(*tf));
}

void
bytes_add(struct bytes *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		while (cap < b->len + n)
			cap *= 2;
		assert_non_null(b->p = realloc(b->p, cap));
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

void
bytes_str(struct bytes *b, const char *s)
{
	bytes_add(b, s, strlen(s));
}

char *
byte_lines(size_t n, size_t (*len_of)(size_t), size_t **off, size_t *len)
{
	size_t pos = 0, total = 0;
	char *text;

	for (size_t i = 1; i <= n; i++)
		total += len_of(i);
	assert_non_null(text = malloc(total));
	assert_non_null(*off = calloc(n + 2, sizeof(**off)));
	for (size_t i = 1; i <= n; i++) {
		size_t l = len_of(i);
		(*off)[i] = pos;
		for (size_t j = 0; j + 1 < l; j++) {
			unsigned char c = (unsigned char)((i * 31 + j * 7) % 256);
			text[pos + j] = c == '\n' ? 'x' : (char)c;
		}
		text[pos + l - 1] = '\n';
		pos += l;
	}
	(*off)[n + 1] = pos;
	*len = total;
	return text;
}
