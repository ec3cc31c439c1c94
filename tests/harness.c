/*
 * harness: the real server as a child process, and socket helpers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
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

static void
nap_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	nanosleep(&ts, NULL);
}

static const char *
server_bin(void)
{
	const char *b = getenv("LINESVR_BIN");

	return b != NULL ? b : "build/linesvr";
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

/* fork + exec linesvr with stderr (and stdout) into the log file. */
static pid_t
spawn(const struct srv *s, const char *const *extra)
{
	const char *argv[16];
	int n = 0, fd;
	pid_t pid;

	argv[n++] = server_bin();
	argv[n++] = "-c";
	argv[n++] = s->conf;
	for (; extra != NULL && *extra != NULL && n < 15; extra++)
		argv[n++] = *extra;
	argv[n] = NULL;
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		fd = open(s->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
		if (fd < 0)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		close(fd);
		signal(SIGPIPE, SIG_DFL);
		execv(argv[0], (char *const *)(uintptr_t)argv);
		_exit(127);
	}
	return pid;
}

static char *
read_log(const struct srv *s)
{
	FILE *f = fopen(s->log, "r");
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
		n = 0;
	fclose(f);
	return buf;
}

int
srv_log_has(const struct srv *s, const char *needle)
{
	char *log = read_log(s);
	int has = strstr(log, needle) != NULL;

	free(log);
	return has;
}

void
srv_check_log(const struct srv *s)
{
	static const char *bad[] = { "AddressSanitizer", "LeakSanitizer",
	    "runtime error:", "UndefinedBehaviorSanitizer", NULL };
	char *log = read_log(s);

	for (int i = 0; bad[i] != NULL; i++)
		if (strstr(log, bad[i]) != NULL) {
			print_error("server log:\n%s\n", log);
			free(log);
			fail_msg("sanitizer report in the server log");
		}
	free(log);
}

void
srv_start(struct srv *s, const char *extra_conf)
{
	char conf[8192];
	long long deadline = now_ms() + START_TIMEOUT_MS;

	snprintf(conf, sizeof(conf),
	    "[server]\nfile = %s\nport = 0\nbind = 127.0.0.1\n%s\n", s->text,
	    extra_conf != NULL ? extra_conf : "");
	write_conf(s, conf);
	s->pid = spawn(s, NULL);
	while (now_ms() < deadline) {
		char *log = read_log(s), *p = strstr(log, "listening on ");
		int status;
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
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			char *l = read_log(s);
			print_error("server log:\n%s\n", l);
			free(l);
			fail_msg("server exited before listening");
		}
		nap_ms(10);
	}
	fail_msg("server did not report listening within %d ms",
	    START_TIMEOUT_MS);
}

int
srv_wait(struct srv *s, int timeout_ms)
{
	long long deadline = now_ms() + timeout_ms;
	int status;

	while (now_ms() < deadline) {
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			s->pid = -1;
			return WIFEXITED(status) ? WEXITSTATUS(status) :
			    128 + WTERMSIG(status);
		}
		nap_ms(5);
	}
	kill(s->pid, SIGKILL);
	waitpid(s->pid, &status, 0);
	s->pid = -1;
	return -1;
}

int
srv_run_expect_exit(struct srv *s, const char *conf, const char *const *argv,
    int timeout_ms)
{
	write_conf(s, conf);
	s->pid = spawn(s, argv);
	return srv_wait(s, timeout_ms);
}

void
srv_stop(struct srv *s)
{
	int rc;

	if (s->pid <= 0)
		return;
	kill(s->pid, SIGTERM);
	rc = srv_wait(s, 20000);
	srv_check_log(s);
	assert_int_equal(rc, 0);
}

void
srv_cleanup(struct srv *s)
{
	char cmd[128];

	if (s->pid > 0) {
		kill(s->pid, SIGKILL);
		waitpid(s->pid, NULL, 0);
		s->pid = -1;
	}
	if (s->dir[0] != '\0') {
		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", s->dir);
		if (system(cmd) != 0)
			print_error("could not remove %s\n", s->dir);
	}
}

int
srv_connect(const struct srv *s)
{
	struct sockaddr_in sin;
	struct timeval tv = { IO_TIMEOUT_S, 0 };
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)s->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
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
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap);

	assert_non_null(buf);
	for (;;) {
		ssize_t r;
		if (n == cap) {
			cap *= 2;
			assert_non_null(buf = realloc(buf, cap));
		}
		r = recv(fd, buf + n, cap - n, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fail_msg("recv: %s", strerror(errno));
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
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

unsigned long long
srv_stat(const struct srv *s, const char *name)
{
	int fd = srv_connect(s);
	char buf[4096], key[64];
	size_t n = 0;
	char *p;

	send_str(fd, "STATS\r\n");
	while (n < sizeof(buf) - 1) {
		ssize_t r = recv(fd, buf + n, sizeof(buf) - 1 - n, 0);
		assert_true(r > 0);
		n += (size_t)r;
		buf[n] = '\0';
		if (strstr(buf, "END\r\n") != NULL)
			break;
	}
	close(fd);
	snprintf(key, sizeof(key), "\n%s ", name);
	p = strstr(buf, key);
	if (p == NULL)
		fail_msg("STATS has no %s", name);
	return strtoull(p + strlen(key), NULL, 10);
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
