/*
 * harness: start the real linesvr binary (LINESVR_BIN) on a free loopback
 * port with a temporary config and text file, and talk to it over sockets.
 * Every wait is bounded; a server that prints a sanitizer report fails the
 * test that reaps it, however it ended. Also the small helpers every
 * integration test needs: child processes, clocks, files, STATS, generated
 * text and byte buffers.
 */
#ifndef LINESVR_TEST_HARNESS_H
#define LINESVR_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "rng.h"

struct srv {
	pid_t pid;
	int port;
	char dir[64];       /* temporary directory, removed by srv_cleanup */
	char text[128];     /* dir/text.txt */
	char conf[128];     /* dir/linesvr.ini */
	char log[128];      /* dir/server.log: the server's stderr */
};

/* ---- the server ---- */

/* Make the directory and write the text file; no server yet. */
void srv_prepare(struct srv *s, const void *text, size_t len);

/*
 * Write a config ([server] file, port = 0, bind = 127.0.0.1, then
 * extra_conf verbatim, which may hold whole sections) and start the
 * server; waits until it logs "listening on". Fails the test otherwise.
 */
void srv_start(struct srv *s, const char *extra_conf);

/* srv_start, but watch logfile (a [log] file set in extra_conf) instead. */
void srv_start_log(struct srv *s, const char *extra_conf, const char *logfile);

/* Start with argv after the binary (no -c: no config); wait as srv_start. */
void srv_start_argv(struct srv *s, const char *const *argv);

/* Start with the given config text and extra argv, and return at once. */
void srv_spawn(struct srv *s, const char *conf, const char *const *argv);

/*
 * Start with the given config text and extra argv; return the exit status
 * once it exits (or -1 if it is still running after timeout_ms and was
 * killed). For startup-error tests. Output goes to s->log.
 */
int srv_run_expect_exit(struct srv *s, const char *conf, const char *const *argv,
    int timeout_ms);

/*
 * Wait (bounded, else fail) until the server has begun building the index
 * of its text (the temporary file is in s->dir), then SIGSTOP it, and
 * fail unless the build has not committed yet: a build caught half-way.
 */
void srv_pause_build(struct srv *s, int timeout_ms);

/*
 * Every function below that reaps the server fails the test if its log
 * holds sanitizer output: srv_stop, srv_wait (and srv_run_expect_exit),
 * srv_exited and srv_cleanup.
 */

/* SIGTERM and wait (bounded); asserts exit status 0. */
void srv_stop(struct srv *s);

/* Wait for the server to exit by itself; returns its exit status. */
int srv_wait(struct srv *s, int timeout_ms);

/* Has the server exited? If so reaps it, sets *status as srv_wait would. */
int srv_exited(struct srv *s, int *status);

/* Does the log contain needle? */
int srv_log_has(const struct srv *s, const char *needle);

/* Remove the temporary directory (kills the server if still running). */
void srv_cleanup(struct srv *s);

/* ---- child processes ---- */

/* fork + exec argv[0]; stdout appended to out, stderr to err (may be one). */
pid_t proc_spawn(const char *const *argv, const char *out, const char *err);

/* Set a resource limit (setrlimit, soft and hard) in the next child that
 * proc_spawn (or a srv_start) makes, and in it only. */
void proc_limit_next(int resource, unsigned long long value);

/* Exit status (128 + signal if killed), or -1 after SIGKILL at timeout_ms. */
int proc_wait(pid_t pid, int timeout_ms);

/* SIGSTOP a child and return once it has stopped (bounded). */
void proc_stop(pid_t pid);

/* ---- sockets ---- */

/* Connect to 127.0.0.1:port (blocking socket with 20 s timeouts). */
int srv_connect(const struct srv *s);

/* srv_connect with SO_RCVBUF = rcvbuf set first: the kernel holds little. */
int srv_connect_rcvbuf(const struct srv *s, int rcvbuf);

/* A client that asks n times for line, one far longer than max_output,
 * and reads only the first "OK\r\n": the server owes it the rest for as
 * long as it does not read. Its descriptor. */
int srv_stuck_client(const struct srv *s, int line, int n);

/* Connect to 127.0.0.1:port, no timeouts; -1 with errno set on failure. */
int loopback_connect(int port, int rcvbuf);

void send_all(int fd, const void *buf, size_t len);
void send_str(int fd, const char *str);

/* Read exactly len bytes (fails the test on EOF or timeout). */
void recv_exact(int fd, void *buf, size_t len);

/* Expect exactly the bytes of want next on fd. */
void expect_bytes(int fd, const void *want, size_t len);
void expect_str(int fd, const char *want);

/* Read until EOF (bounded); returns a malloc'd buffer and *len. */
char *recv_all(int fd, size_t *len);

/* recv_all that never fails: reads to EOF, a reset or the timeout and
 * sets *err to the errno that ended it, 0 at EOF. */
char *recv_until_end(int fd, size_t *len, int *err);

/* The rest of the stream up to EOF must be exactly want. */
void expect_rest(int fd, const void *want, size_t len);

/* Fail unless got equals want, naming the first differing answer. */
void assert_answers(const char *got, size_t gotlen, const char *want,
    size_t wantlen);

/* Fail unless got starts with want (later bytes may answer later
 * requests); err is what ended got, as recv_until_end gives it. */
void assert_answers_prefix(const char *got, size_t gotlen, int err,
    const char *want, size_t wantlen);

/* Which answer (from 1) of an answer stream holds byte off. */
size_t answer_at(const char *answers, size_t len, size_t off);

/* Wait (bounded, else fail) until the peer's kernel has acknowledged every
 * byte sent on fd (SIOCOUTQ is 0), or the peer has reset the connection.
 * "The request reached the server", exactly. */
void wait_sent(int fd, int timeout_ms);

/* Wait (bounded, else fail) until the peer has shut down or closed its
 * side of fd's connection (its socket, found in /proc/net/tcp, has left
 * ESTABLISHED), although its FIN may still queue behind unread answers. */
void wait_peer_shut(int fd, int timeout_ms);

/* 1 if the peer has closed (read returns 0 within timeout_ms), 0 if not. */
int peer_closed(int fd, int timeout_ms);

/* ---- STATS ---- */

/* STATS counter by name, via a fresh connection. */
unsigned long long srv_stat(const struct srv *s, const char *name);

/* STATS on an existing connection: the whole answer, NUL-terminated. */
void srv_read_stats(int fd, char *buf, size_t cap);

/* A counter of a STATS answer read by srv_read_stats; fails if absent. */
unsigned long long stat_value(const char *stats, const char *name);

/* Ask STATS on fd until counter name is value; fail after timeout_ms. */
void wait_stat_fd(int fd, const char *name, unsigned long long value,
    int timeout_ms);

/* wait_stat_fd on a connection of its own (counted in connections_*). */
void wait_stat(const struct srv *s, const char *name,
    unsigned long long value, int timeout_ms);

/* ---- files, memory, time ---- */

/* The whole file, NUL-terminated and malloc'd; "" if it cannot be read. */
char *read_file(const char *path);

/* Does the file contain needle? 0 if it cannot be read. */
int file_has(const char *path, const char *needle);

/* Fail if the file holds sanitizer output. */
void check_no_sanitizer(const char *path);

/* How many entries of dir have part in their name. */
int files_named(const char *dir, const char *part);

/* The bytes of those files together (0 when there are none). */
long long bytes_named(const char *dir, const char *part);

/* The value of a "Key:  N kB" line of /proc/PID/status, in kB. */
long proc_status_kb(pid_t pid, const char *key);

/* A program under test: the path in environment variable env (see
 * tests/run.sh), or dflt when it is unset or empty. */
const char *test_bin(const char *env, const char *dflt);

/* Monotonic milliseconds. */
long long now_ms(void);

/* Sleep ms milliseconds, resuming after signals. */
void nap_ms(int ms);

/* ---- generated data (random numbers: rng.h, splitmix64 for a few) ---- */

/* Text in memory: off[i] is where line i + 1 starts; off[lines] = len. */
struct textfile {
	char *buf;
	size_t len;
	size_t *off;
	size_t lines;
};

/*
 * nlines lines of minlen to maxlen bytes made by byte(), then LF. Per line
 * one draw from *st for the length, then byte(st) for each byte.
 */
void textfile_gen(struct textfile *tf, uint64_t *st, size_t nlines,
    size_t minlen, size_t maxlen, char (*byte)(uint64_t *st));
void textfile_free(struct textfile *tf);

/* A growable byte buffer; starts zeroed, the owner frees p. */
struct bytes {
	char *p;
	size_t len, cap;
};

void bytes_add(struct bytes *b, const void *p, size_t n);
void bytes_str(struct bytes *b, const char *s);

/*
 * n deterministic lines of every byte value but LF (NUL and CR included);
 * line i (1-based) is len_of(i) bytes with its LF. *off gets n + 2
 * offsets: (*off)[i] is where line i starts, (*off)[n + 1] the end.
 */
char *byte_lines(size_t n, size_t (*len_of)(size_t), size_t **off,
    size_t *len);

#endif
