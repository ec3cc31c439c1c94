/*
 * bench: what every part of a run shares. struct run is written by main
 * before the load starts (the start barrier publishes it) and only read
 * afterwards; struct tally is one thread's results, merged at the end.
 */
#ifndef BENCH_BENCH_H
#define BENCH_BENCH_H

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <time.h>

#include "hist.h"
#include "opts.h"
#include "truth.h"

#define NS_PER_S	UINT64_C(1000000000)
#define REQ_MAX		32	/* bytes of one request: "GET " 20 digits CRLF */
#define NO_TIME		UINT64_MAX

/* Errors by kind, in the order they are reported. */
enum err_kind {
	ERR_CONNECT_REFUSED,	/* connect: ECONNREFUSED */
	ERR_CONNECT_TIMEOUT,	/* connect phase over before it completed */
	ERR_CONNECT_OTHER,	/* any other connect failure (EMFILE, ...) */
	ERR_CLOSED,		/* the server closed a connection mid-run */
	ERR_IO,			/* read or write failed (ECONNRESET, ...) */
	ERR_PROTOCOL,		/* an answer not of the protocol */
	ERR_ANSWER,		/* an error answer (redis -ERR, *ERROR) */
	ERR_STALLED,		/* requests unanswered at the deadline */
	ERR_KINDS
};

extern const char *const err_kind_name[ERR_KINDS];

struct run {
	const struct opts *o;
	const struct truth *truth;	/* NULL without --verify */
	FILE *series;			/* --series, or NULL */
	struct sockaddr_storage addr;
	socklen_t addrlen;
	int spread_src;		/* bind sources over 127.0.0.2.. */
	uint64_t keys;
	uint64_t t_start;	/* the load starts */
	uint64_t t_warm;	/* measuring starts */
	uint64_t t_end;		/* -d: sending stops; NO_TIME with -n */
	uint64_t t_deadline;	/* nothing waits past it; NO_TIME with -n */
	atomic_int cancel;	/* no load (nothing connected) */
	atomic_int stop;	/* SIGINT: stop sending, drain, report */
	atomic_uint finished;	/* workers done */
};

/*
 * Every request sent is, at the end, answered, lost or stalled:
 * sent == answers + lost + err[ERR_STALLED].
 */
struct tally {
	uint64_t answers;	/* every answer, warmup included */
	uint64_t measured;	/* answers to requests sent after warmup */
	uint64_t hits, misses;
	uint64_t verified, mismatches;
	uint64_t err[ERR_KINDS];
	uint64_t behind;	/* open loop: due but never sent */
	uint64_t sent;		/* requests, each once, warmup included */
	uint64_t retries;	/* requests sent again (--retry) */
	uint64_t reconnects;	/* connections re-established (--retry) */
	uint64_t abandoned;	/* connections that could not be (--retry) */
	uint64_t lost;		/* requests unanswered on broken connections */
	uint64_t bytes_in, bytes_out;	/* after warmup */
	uint64_t connected;
	uint64_t t_last;	/* the last measured answer */
	struct hist lat;	/* ns, measured answers only */
};

void tally_init(struct tally *t);
void tally_merge(struct tally *dst, const struct tally *src);

static inline uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

#endif
