/*
 * Integration tests: what linesvr says and where (SPEC.md section 5).
 * Startup errors reach stderr also when the log is a file; a failed
 * reopen on SIGHUP names the path and the reason and logging goes on; a
 * user that could not reopen the log is told of at startup; peers are
 * named by address; under systemd's journal (JOURNAL_STREAM naming the
 * server's stderr) lines carry sd-daemon priorities and no timestamps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define EXIT_MS 20000
#define WAIT_MS 10000

static const char TEXT[] = "one\ntwo\nthree\n";

struct fx {
	struct srv s;
	char logfile[160];        /* a [log] file in the directory */
	char conf[1024];
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	srv_prepare(&f->s, TEXT, sizeof(TEXT) - 1);
	snprintf(f->logfile, sizeof(f->logfile), "%s/linesvr.log", f->s.dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	unsetenv("JOURNAL_STREAM");
	srv_cleanup(&f->s);
	free(f);
	return 0;
}

/* ---- helpers ---- */

/* Wait (bounded, else fail) until the file holds needle. */
static void
wait_file_has(const char *path, const char *needle)
{
	long long deadline = now_ms() + WAIT_MS;

	while (!file_has(path, needle)) {
		if (now_ms() > deadline)
			fail_msg("%s lacks \"%s\":\n%s", path, needle,
			    read_file(path));
		nap_ms(10);
	}
}

/* "127.0.0.1:PORT" of the local end of fd: the server's peer. */
static void
local_name(int fd, char *out, size_t len)
{
	struct sockaddr_in sin;
	socklen_t sl = sizeof(sin);

	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &sl), 0);
	snprintf(out, len, "127.0.0.1:%u", ntohs(sin.sin_port));
}

/* The harness's config head, then extra. */
static const char *
conf_with(struct fx *f, const char *file, const char *extra)
{
	snprintf(f->conf, sizeof(f->conf), "[server]\nfile = %s\nport = 0\n"
	    "%s", file, extra);
	return f->conf;
}

/* Every line of path starts with '<', a digit and '>'; 0 if not. */
static int
all_lines_prefixed(const char *path)
{
	char *text = read_file(path), *line = text;
	int ok = *text != '\0';

	for (char *eol; ok && (eol = strchr(line, '\n')) != NULL;
	    line = eol + 1)
		ok = line[0] == '<' && line[1] >= '0' && line[1] <= '7' &&
		    line[2] == '>';
	free(text);
	return ok;
}

/* Point JOURNAL_STREAM at path's device and inode, made now if need be. */
static void
journal_stream_is(const char *path)
{
	struct stat sb;
	char v[64];
	int fd = open(path, O_WRONLY | O_CREAT | O_APPEND, 0644);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	close(fd);
	snprintf(v, sizeof(v), "%llu:%llu", (unsigned long long)sb.st_dev,
	    (unsigned long long)sb.st_ino);
	assert_int_equal(setenv("JOURNAL_STREAM", v, 1), 0);
}

/* ---- startup errors ---- */

/* The reason is in the log file and, as "linesvr: ...", on stderr. */
static void
t_startup_error_on_stderr_with_log_file(void **state)
{
	struct fx *f = *state;
	char missing[200], extra[300], want[300];

	snprintf(missing, sizeof(missing), "%s/missing.txt", f->s.dir);
	snprintf(extra, sizeof(extra), "[log]\nfile = %s\n", f->logfile);
	assert_int_equal(srv_run_expect_exit(&f->s, conf_with(f, missing,
	    extra), NULL, EXIT_MS), 1);
	snprintf(want, sizeof(want), "linesvr: %s: No such file", missing);
	assert_true(srv_log_has(&f->s, want));
	assert_true(file_has(f->logfile, "error: "));
	assert_true(file_has(f->logfile, "missing.txt: No such file"));
	snprintf(extra, sizeof(extra), "[index]\nbuild = never\n[log]\n"
	    "file = %s\n", f->logfile);
	assert_int_equal(srv_run_expect_exit(&f->s, conf_with(f, f->s.text,
	    extra), NULL, EXIT_MS), 1);
	assert_true(srv_log_has(&f->s, "linesvr: index unusable (build = "
	    "never): "));
}

/* ---- SIGHUP ---- */

/* A path that cannot be reopened: said with the path and errno, and the
 * lines go on into the file open before; a later SIGHUP recovers. */
static void
t_sighup_reopen_failure_names_path(void **state)
{
	struct fx *f = *state;
	char extra[300], old[200], want[400];

	snprintf(extra, sizeof(extra), "[log]\nfile = %s\n", f->logfile);
	snprintf(old, sizeof(old), "%s.1", f->logfile);
	srv_start_log(&f->s, extra, f->logfile);
	assert_int_equal(rename(f->logfile, old), 0);
	assert_int_equal(mkdir(f->logfile, 0755), 0);
	kill(f->s.pid, SIGHUP);
	snprintf(want, sizeof(want), "error: SIGHUP: cannot reopen the log "
	    "file %s: Is a directory; still writing to the one open before",
	    f->logfile);
	wait_file_has(old, want);
	assert_int_equal(rmdir(f->logfile), 0);
	kill(f->s.pid, SIGHUP);
	wait_file_has(f->logfile, "SIGHUP: log file reopened");
	srv_stop(&f->s);
	assert_true(file_has(f->logfile, "stopped"));
}

/*
 * With user = nobody, a log file nobody cannot write is reported at
 * startup; one it can write is not, and SIGHUP then reopens it. Needs
 * root.
 */
static void
t_user_that_cannot_reopen_log_is_told(void **state)
{
	struct fx *f = *state;
	struct passwd *pw = getpwnam("nobody");
	char extra[300], want[400];
	int fd;

	if (geteuid() != 0 || pw == NULL)
		skip();
	snprintf(extra, sizeof(extra), "user = nobody\n[log]\nfile = %s\n",
	    f->logfile);
	srv_start_log(&f->s, extra, f->logfile);
	snprintf(want, sizeof(want), "warn: user nobody cannot write %s "
	    "(Permission denied): SIGHUP will not be able to reopen the log "
	    "file", f->logfile);
	assert_true(file_has(f->logfile, want));
	kill(f->s.pid, SIGHUP);
	wait_file_has(f->logfile, "SIGHUP: cannot reopen the log file");
	srv_stop(&f->s);
	/* Now a directory and a file the user may write. */
	assert_int_equal(unlink(f->logfile), 0);
	assert_int_equal(chown(f->s.dir, pw->pw_uid, pw->pw_gid), 0);
	assert_true((fd = open(f->logfile, O_WRONLY | O_CREAT, 0644)) >= 0);
	assert_int_equal(fchown(fd, pw->pw_uid, pw->pw_gid), 0);
	close(fd);
	srv_start_log(&f->s, extra, f->logfile);
	assert_false(file_has(f->logfile, "SIGHUP will not"));
	kill(f->s.pid, SIGHUP);
	wait_file_has(f->logfile, "SIGHUP: log file reopened");
	srv_stop(&f->s);
}

/* ---- peers ---- */

static void
t_shutdown_names_the_peer(void **state)
{
	struct fx *f = *state;
	char peer[64], want[128];
	int fd;

	srv_start(&f->s, NULL);
	fd = srv_connect(&f->s);
	local_name(fd, peer, sizeof(peer));
	send_str(fd, "SHUTDOWN\r\n");
	assert_int_equal(srv_wait(&f->s, EXIT_MS), 0);
	close(fd);
	snprintf(want, sizeof(want), "info: SHUTDOWN requested by %s\n", peer);
	assert_true(srv_log_has(&f->s, want));
}

static void
t_connection_debug_logs_name_the_peer(void **state)
{
	struct fx *f = *state;
	char peer[64], want[128];
	int fd;

	srv_start(&f->s, "[log]\nlevel = debug\n");
	fd = srv_connect(&f->s);
	local_name(fd, peer, sizeof(peer));
	send_str(fd, "QUIT\r\n");
	assert_true(peer_closed(fd, WAIT_MS));
	close(fd);
	snprintf(want, sizeof(want), "debug: connection from %s\n", peer);
	wait_file_has(f->s.log, want);
	snprintf(want, sizeof(want), "debug: closing connection %s: ", peer);
	wait_file_has(f->s.log, want);
	srv_stop(&f->s);
	assert_false(srv_log_has(&f->s, " fd "));
}

/* At the default level, a connection logs nothing. */
static void
t_connections_quiet_at_info(void **state)
{
	struct fx *f = *state;
	int fd;

	srv_start(&f->s, NULL);
	fd = srv_connect(&f->s);
	send_str(fd, "QUIT\r\n");
	assert_true(peer_closed(fd, WAIT_MS));
	close(fd);
	srv_stop(&f->s);
	assert_false(srv_log_has(&f->s, "connection"));
}

/* ---- the journal ---- */

/* stderr is the stream JOURNAL_STREAM names: <N> and no timestamps. */
static void
t_journal_priorities(void **state)
{
	struct fx *f = *state;
	int fd;

	journal_stream_is(f->s.log);
	srv_start(&f->s, "[log]\nlevel = debug\n"); /* no index: a warning */
	fd = srv_connect(&f->s);
	send_str(fd, "QUIT\r\n");
	assert_true(peer_closed(fd, WAIT_MS));
	close(fd);
	wait_file_has(f->s.log, "<7>debug: closing connection 127.0.0.1:");
	srv_stop(&f->s);
	assert_true(srv_log_has(&f->s, "<4>warn: building index "));
	assert_true(srv_log_has(&f->s, "<6>info: listening on 127.0.0.1:"));
	assert_true(srv_log_has(&f->s, "<7>debug: connection from "));
	assert_false(srv_log_has(&f->s, "linesvr["));
	assert_true(all_lines_prefixed(f->s.log));
	/* An error that stops the server: <3>, once. */
	assert_int_equal(srv_run_expect_exit(&f->s, conf_with(f, f->s.text,
	    "[index]\nbuild = never\npath = /nonexistent/x.lidx\n"), NULL,
	    EXIT_MS), 1);
	assert_true(srv_log_has(&f->s, "<3>error: index unusable"));
	assert_false(srv_log_has(&f->s, "linesvr: index unusable"));
	assert_true(all_lines_prefixed(f->s.log));
}

/* JOURNAL_STREAM naming another file, or nothing valid: timestamps. */
static void
t_journal_stream_elsewhere_keeps_timestamps(void **state)
{
	struct fx *f = *state;
	char *log;

	journal_stream_is(f->s.text);
	srv_start(&f->s, NULL);
	srv_stop(&f->s);
	assert_true(srv_log_has(&f->s, " linesvr["));
	assert_false(srv_log_has(&f->s, "<6>"));
	log = read_file(f->s.log);
	assert_int_equal(strncmp(log, "20", 2), 0); /* a timestamp first */
	free(log);
	assert_int_equal(setenv("JOURNAL_STREAM", "8:x", 1), 0);
	assert_int_equal(rename(f->s.log, f->logfile), 0);
	srv_start(&f->s, NULL);
	srv_stop(&f->s);
	assert_false(srv_log_has(&f->s, "<6>"));
	assert_true(srv_log_has(&f->s, " linesvr["));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_startup_error_on_stderr_with_log_file),
		T(t_sighup_reopen_failure_names_path),
		T(t_user_that_cannot_reopen_log_is_told),
		T(t_shutdown_names_the_peer),
		T(t_connection_debug_logs_name_the_peer),
		T(t_connections_quiet_at_info),
		T(t_journal_priorities),
		T(t_journal_stream_elsewhere_keeps_timestamps),
	};

	return cmocka_run_group_tests_name("logs", tests, NULL, NULL);
}
