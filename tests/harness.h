/*
 * harness: start the real linesvr binary (LINESVR_BIN) on a free loopback
 * port with a temporary config and text file, and talk to it over sockets.
 * Every wait is bounded; a server that prints a sanitizer report fails the
 * test that stops it.
 */
#ifndef LINESVR_TEST_HARNESS_H
#define LINESVR_TEST_HARNESS_H

#include <stddef.h>
#include <sys/types.h>

struct srv {
	pid_t pid;
	int port;
	char dir[64];       /* temporary directory, removed by srv_cleanup */
	char text[128];     /* dir/text.txt */
	char conf[128];     /* dir/linesvr.ini */
	char log[128];      /* dir/server.log: the server's stderr */
};

/* Make the directory and write the text file; no server yet. */
void srv_prepare(struct srv *s, const void *text, size_t len);

/*
 * Write a config ([server] file, port = 0, bind = 127.0.0.1, then
 * extra_conf verbatim, which may hold whole sections) and start the
 * server; waits until it logs "listening on". Fails the test otherwise.
 */
void srv_start(struct srv *s, const char *extra_conf);

/*
 * Start with the given config text and extra argv; return the exit status
 * once it exits (or -1 if it is still running after timeout_ms and was
 * killed). For startup-error tests. Output goes to s->log.
 */
int srv_run_expect_exit(struct srv *s, const char *conf, const char *const *argv,
    int timeout_ms);

/* SIGTERM and wait (bounded); asserts exit status 0 and a clean log. */
void srv_stop(struct srv *s);

/* Wait for the server to exit by itself; returns its exit status. */
int srv_wait(struct srv *s, int timeout_ms);

/* Fail if the log holds sanitizer output. */
void srv_check_log(const struct srv *s);

/* Does the log contain needle? */
int srv_log_has(const struct srv *s, const char *needle);

/* Remove the temporary directory (kills the server if still running). */
void srv_cleanup(struct srv *s);

/* Connect to 127.0.0.1:port (blocking socket with 10 s timeouts). */
int srv_connect(const struct srv *s);

void send_all(int fd, const void *buf, size_t len);
void send_str(int fd, const char *str);

/* Read exactly len bytes (fails the test on EOF or timeout). */
void recv_exact(int fd, void *buf, size_t len);

/* Expect exactly the bytes of want next on fd. */
void expect_bytes(int fd, const void *want, size_t len);
void expect_str(int fd, const char *want);

/* Read until EOF (bounded); returns a malloc'd buffer and *len. */
char *recv_all(int fd, size_t *len);

/* 1 if the peer has closed (read returns 0 within timeout_ms), 0 if not. */
int peer_closed(int fd, int timeout_ms);

/* STATS counter by name, via a fresh connection. */
unsigned long long srv_stat(const struct srv *s, const char *name);

/* The value of a "Key:  N kB" line of /proc/PID/status, in kB. */
long proc_status_kb(pid_t pid, const char *key);

/* Monotonic milliseconds. */
long long now_ms(void);

#endif
