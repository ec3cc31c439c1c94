/*
 * dial: socket plumbing that knows nothing of requests: resolving the
 * target, non-blocking connects (optionally from a chosen loopback source
 * address), and blocking connects with a time limit for the helpers.
 */
#ifndef BENCH_DIAL_H
#define BENCH_DIAL_H

#include <stddef.h>
#include <sys/socket.h>

/*
 * Connections per loopback source address before the next one is used:
 * one source address has ~28,000 ephemeral ports towards one server port.
 */
#define DIAL_PER_SOURCE 25000

/* 0, or -1 with a message in err. */
int dial_resolve(const char *host, const char *port,
    struct sockaddr_storage *ss, socklen_t *len, char *err, size_t errlen);

/* Whether ss is an IPv4 loopback address (source spreading works). */
int dial_is_loopback4(const struct sockaddr_storage *ss);

/*
 * A non-blocking socket with connect() started. source: 0 for any, or
 * n >= 1 to bind to 127.0.0.(1 + n) first. Returns the fd (the connect
 * may still be in progress) or -1 with errno set.
 */
int dial_start(const struct sockaddr_storage *ss, socklen_t len,
    unsigned source, int nodelay);

/* The outcome of a started connect: 0, or an errno value. */
int dial_result(int fd);

/* A connected (non-blocking) socket within timeout_ms, or -1, err set. */
int dial_wait(const struct sockaddr_storage *ss, socklen_t len,
    int timeout_ms, char *err, size_t errlen);

#endif
