/*
 * Integration tests: what linesvr tells a service manager (SPEC.md
 * section 5, sd_notify(3)). Each test owns an AF_UNIX datagram socket,
 * names it in NOTIFY_SOCKET for the server it starts, and reads what
 * arrives: READY=1 only once the port accepts connections, STATUS= with
 * EXTEND_TIMEOUT_USEC= while an index is built at startup, STOPPING=1 as
 * soon as a drain begins, STATUS= around a background re-index. Every
 * message must come from the server's own pid (SO_PASSCRED). A socket
 * that cannot be reached must not keep the server from running.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "harness.h"

#define NLINES      40
#define LONG_LINE   7           /* streamed: far longer than max_output */
#define LONG_LEN    (2 << 20)
#define WAIT_MS     60000       /* bound for what must happen (ASan builds) */
#define BUILD_TEXT  (1LL << 30) /* a sparse text: a build of seconds */
#define PROGRESS_MS 300         /* longer than the build's progress period */

struct fx {
	struct srv s;
	pid_t pid;                /* the server's, kept once it is reaped */
	int sock;                 /* the notify socket the test owns */
	char path[108];           /* where it is bound (sun_path's size) */
	char msg[8192];           /* the last message read, NUL-terminated */
};

/* ---- fixture ---- */

/* Make f->sock, bound to addr (len bytes of it), the notify socket. */
static void
bind_notify(struct fx *f, const char *addr, size_t len)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int on = 1;

	assert_true(len < sizeof(sa.sun_path));
	memcpy(sa.sun_path, addr, len);
	f->sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	assert_true(f->sock >= 0);
	assert_int_equal(bind(f->sock, (struct sockaddr *)&sa,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)), 0);
	assert_int_equal(setsockopt(f->sock, SOL_SOCKET, SO_PASSCRED, &on,
	    sizeof(on)), 0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct bytes text = { 0 };
	char line[64];

	assert_non_null(f);
	for (int n = 1; n <= NLINES; n++) {
		if (n == LONG_LINE) {
			char *l = malloc(LONG_LEN);
			assert_non_null(l);
			memset(l, 'x', LONG_LEN - 1);
			l[LONG_LEN - 1] = '\n';
			bytes_add(&text, l, LONG_LEN);
			free(l);
			continue;
		}
		snprintf(line, sizeof(line), "line %d\n", n);
		bytes_str(&text, line);
	}
	srv_prepare(&f->s, text.p, text.len);
	free(text.p);
	snprintf(f->path, sizeof(f->path), "%s/notify.sock", f->s.dir);
	bind_notify(f, f->path, strlen(f->path));
	assert_int_equal(setenv("NOTIFY_SOCKET", f->path, 1), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	unsetenv("NOTIFY_SOCKET");
	close(f->sock);
	srv_cleanup(&f->s);
	free(f);
	return 0;
}

/* Start the server on a free port with extra configuration lines; it
 * announces the port through READY=1, not through a wait on its log. */
static void
spawn(struct fx *f, const char *extra)
{
	char conf[1024];

	snprintf(conf, sizeof(conf), "[server]\nfile = %s\nport = 0\n"
	    "bind = 127.0.0.1\n%s", f->s.text, extra);
	srv_spawn(&f->s, conf, NULL);
	f->pid = f->s.pid;
}

/* ---- reading messages ---- */

/* The next message into f->msg, or 0 after ms; fails unless its sender
 * is the server itself. */
static int
next_msg(struct fx *f, int ms)
{
	struct pollfd p = { .fd = f->sock, .events = POLLIN };
	union {
		struct cmsghdr h;
		char buf[CMSG_SPACE(sizeof(struct ucred))];
	} ctl;
	struct iovec iov = { f->msg, sizeof(f->msg) - 1 };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
	    .msg_control = ctl.buf, .msg_controllen = sizeof(ctl.buf) };
	struct cmsghdr *c;
	struct ucred cred;
	ssize_t n;

	if (poll(&p, 1, ms) == 0)
		return 0;
	n = recvmsg(f->sock, &mh, MSG_DONTWAIT);
	assert_true(n >= 0);
	f->msg[n] = '\0';
	c = CMSG_FIRSTHDR(&mh);
	assert_non_null(c);
	assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
	memcpy(&cred, CMSG_DATA(c), sizeof(cred));
	assert_int_equal(cred.pid, f->pid);
	return 1;
}

/* Read messages until one holds needle (bounded; fails once the server
 * has exited and left no more to read). */
static void
await_msg(struct fx *f, const char *needle)
{
	long long deadline = now_ms() + WAIT_MS;
	int st;

	while (now_ms() < deadline) {
		if (next_msg(f, 50)) {
			if (strstr(f->msg, needle) != NULL)
				return;
			continue;
		}
		if (f->s.pid > 0 && srv_exited(&f->s, &st))
			fail_msg("the server exited (%d) before sending %s",
			    st, needle);
	}
	fail_msg("no %s within %d ms", needle, WAIT_MS);
}

/* The port a "STATUS=serving FILE: N lines on 127.0.0.1:PORT" names. */
static int
status_port(const char *msg)
{
	const char *p = strstr(msg, " on 127.0.0.1:");

	assert_non_null(p);
	return atoi(p + strlen(" on 127.0.0.1:"));
}

/* READY=1 has just arrived: the port must accept and answer now. */
static void
expect_serving(struct fx *f)
{
	int fd;

	assert_non_null(strstr(f->msg, "READY=1"));
	f->s.port = status_port(f->msg);
	fd = loopback_connect(f->s.port, 0);
	if (fd < 0)
		fail_msg("READY=1 before the port accepts: connect: %s",
		    strerror(errno));
	close(fd);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 2\r\n");
	expect_str(fd, "OK\r\nline 2\n");
	close(fd);
}

/* ---- tests ---- */

static void
test_ready_once_listening(void **state)
{
	struct fx *f = *state;
	char want[256];

	spawn(f, "");
	await_msg(f, "READY=1");
	expect_serving(f);
	snprintf(want, sizeof(want), "STATUS=serving %s: %d lines on "
	    "127.0.0.1:%d", f->s.text, NLINES, f->s.port);
	assert_non_null(strstr(f->msg, want));
	assert_true(srv_log_has(&f->s, "listening on "));
	srv_stop(&f->s);
}

/* STOPPING=1 when the drain begins, not when the process ends: it must
 * arrive while a stuck client still holds the server. */
static void
test_stopping_on_sigterm(void **state)
{
	struct fx *f = *state;
	int fd, st;

	spawn(f, "drain_timeout = 600\n");
	await_msg(f, "READY=1");
	expect_serving(f);
	/* Megabytes owed and not read hold the drain for drain_timeout. */
	fd = srv_stuck_client(&f->s, LONG_LINE, 8);
	assert_int_equal(kill(f->s.pid, SIGTERM), 0);
	await_msg(f, "STOPPING=1");
	assert_false(srv_exited(&f->s, &st));
	close(fd);
	assert_int_equal(srv_wait(&f->s, WAIT_MS), 0);
}

static void
test_stopping_on_shutdown(void **state)
{
	struct fx *f = *state;
	int fd;

	spawn(f, "shutdown = local\n");
	await_msg(f, "READY=1");
	expect_serving(f);
	fd = srv_connect(&f->s);
	send_str(fd, "SHUTDOWN\r\n");
	await_msg(f, "STOPPING=1");
	expect_rest(fd, "", 0);
	close(fd);
	assert_int_equal(srv_wait(&f->s, WAIT_MS), 0);
}

/*
 * A build of a sparse gigabyte: stopped once it has begun, for longer
 * than its progress period, so that it reports as soon as it runs again
 * however fast the machine. Each report extends the start timeout, and
 * all come before READY=1.
 */
static void
test_status_during_build(void **state)
{
	struct fx *f = *state;
	char want[256];

	assert_int_equal(truncate(f->s.text, 0), 0);
	assert_int_equal(truncate(f->s.text, BUILD_TEXT), 0);
	spawn(f, "");
	srv_pause_build(&f->s, WAIT_MS);
	nap_ms(PROGRESS_MS);
	assert_int_equal(kill(f->s.pid, SIGCONT), 0);
	snprintf(want, sizeof(want), "STATUS=building index %s.lidx: ",
	    f->s.text);
	await_msg(f, "STATUS=building index");
	assert_non_null(strstr(f->msg, want));
	assert_non_null(strstr(f->msg, "%\nEXTEND_TIMEOUT_USEC=60000000"));
	assert_null(strstr(f->msg, "READY=1"));
	await_msg(f, "READY=1");
	assert_non_null(strstr(f->msg, ": 1 lines on 127.0.0.1:"));
	srv_stop(&f->s);
}

/* A change in place is reported, and so is the re-index that ends it. */
static void
test_status_around_reindex(void **state)
{
	struct fx *f = *state;
	char want[256];
	FILE *t;

	spawn(f, "");
	await_msg(f, "READY=1");
	expect_serving(f);
	assert_non_null(t = fopen(f->s.text, "a"));
	fputs("one more line\n", t);
	assert_int_equal(fclose(t), 0);
	await_msg(f, "answering ERR to every GET");
	assert_non_null(strstr(f->msg, f->s.text));
	snprintf(want, sizeof(want), "STATUS=serving %s: %d lines on ",
	    f->s.text, NLINES + 1);
	await_msg(f, want);
	assert_null(strstr(f->msg, "READY=1"));
	srv_stop(&f->s);
}

/* NOTIFY_SOCKET=@NAME: the socket NAME in the abstract namespace. */
static void
test_abstract_socket(void **state)
{
	struct fx *f = *state;
	char name[64];
	int n = snprintf(name, sizeof(name), "@linesvr-it-notify-%ld",
	    (long)getpid());

	close(f->sock);
	name[0] = '\0';
	bind_notify(f, name, (size_t)n);
	name[0] = '@';
	assert_int_equal(setenv("NOTIFY_SOCKET", name, 1), 0);
	spawn(f, "");
	await_msg(f, "READY=1");
	expect_serving(f);
	srv_stop(&f->s);
}

/* NOTIFY_SOCKET=addr, which cannot be reached: the server starts,
 * serves and stops as usual, and logs the failure once. */
static void
unreachable(struct fx *f, const char *addr)
{
	char want[128];
	char *log;
	int fd;

	assert_int_equal(setenv("NOTIFY_SOCKET", addr, 1), 0);
	srv_start(&f->s, "");
	fd = srv_connect(&f->s);
	send_str(fd, "GET 2\r\n");
	expect_str(fd, "OK\r\nline 2\n");
	close(fd);
	srv_stop(&f->s);
	log = read_file(f->s.log);
	snprintf(want, sizeof(want), "NOTIFY_SOCKET %s: ", addr);
	assert_non_null(strstr(log, want));
	assert_null(strstr(strstr(log, "NOTIFY_SOCKET") + 1, "NOTIFY_SOCKET"));
	free(log);
}

static void
test_socket_missing(void **state)
{
	unreachable(*state, "/nonexistent/notify");
}

/* An address form this server does not speak (systemd's vsock:). */
static void
test_socket_unsupported(void **state)
{
	unreachable(*state, "vsock:2:1234");
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_ready_once_listening),
		T(test_stopping_on_sigterm),
		T(test_stopping_on_shutdown),
		T(test_status_during_build),
		T(test_status_around_reindex),
		T(test_abstract_socket),
		T(test_socket_missing),
		T(test_socket_unsupported),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
