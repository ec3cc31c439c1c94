/*
 * worker: one thread, one epoll loop, a share of the connections.
 *
 * A worker connects its clients (all at once), waits at the start barrier,
 * then drives the load: closed loop keeps -P requests in flight on every
 * client; open loop walks a fixed schedule, the m-th request of the worker
 * due at t_start + m / rate and sent on client m mod n, so every client
 * sends at rate / n with evenly spread phases and no timer per client.
 * It stops sending at t_end (or when its share of -n is sent), waits for
 * the answers in flight, and gives up at the deadline or when no answer
 * has come for --timeout seconds (stalled).
 *
 * With --retry, clients whose connection broke wait on a retry list for
 * their next reconnect; the loop wakes for the earliest of them.
 */
#ifndef BENCH_WORKER_H
#define BENCH_WORKER_H

#include <pthread.h>
#include <stdint.h>

#include "bench.h"
#include "client.h"
#include "keys.h"

#define KEY_AHEAD 64	/* a power of 2 */

struct worker {
	struct run *run;
	unsigned id;
	pthread_t thread;
	pthread_barrier_t *ready;	/* connected: main sets the times */
	pthread_barrier_t *go;		/* the times are set */
	int ep;				/* epoll */
	struct client *clients;
	uint32_t nclients;
	uint32_t first;			/* global index of clients[0] */
	struct flight *flights;		/* nclients * pipeline */
	char *obufs;			/* nclients * pipeline * REQ_MAX */
	char *rbuf;			/* the read buffer of every client */
	size_t rbuf_size;
	struct keygen keys;
	/* With --verify: keys drawn KEY_AHEAD early (see next_key). */
	uint64_t ahead[KEY_AHEAD];
	uint32_t ahead_pos;
	uint64_t now;			/* ns, refreshed after each wait/read */

	double rate;			/* open loop: this worker's req/s */
	double period;			/* ns between its scheduled requests */
	uint64_t m;			/* the next scheduled request */
	uint64_t quota;			/* -n: requests to send after warmup */
	uint64_t issued;		/* requests sent after warmup */
	int stopping;			/* no more requests are sent */
	uint64_t inflight;
	uint64_t t_progress;		/* the last answer (or first send) */
	struct client *flush;		/* clients with queued requests */

	struct tally t;
	struct hist connect;		/* connect times, ns */
	uint32_t connecting;
	uint32_t alive;			/* clients connected and not closed */
	struct client *retry;		/* clients reconnecting (--retry) */
	uint32_t retrying;		/* on that list */
	uint64_t t_retry;		/* the earliest t_wake on it */

	pthread_mutex_t mu;		/* guards shared and done */
	struct tally shared;		/* published copy of t, for the live line */
	uint64_t next_publish;
	int done;
};

/* Allocate a worker's buffers and clients. 0, or -1 (out of memory). */
int worker_init(struct worker *w, struct run *run, unsigned id,
    uint32_t first, uint32_t nclients, uint64_t quota);
void worker_free(struct worker *w);

/* The thread's body: connect, barriers, load, drain. */
void *worker_main(void *arg);

/* Copy the published tally (main thread). Returns whether it finished. */
int worker_snapshot(struct worker *w, struct tally *out);

/* Called by client.c when an answer completes, to send more. */
void worker_refill(struct worker *w, struct client *c);

/* Called by client.c: c has queued requests to write this round. */
void worker_queue_flush(struct worker *w, struct client *c);

/* Called by client.c: c lost its connection and will redial at t_wake. */
void worker_queue_retry(struct worker *w, struct client *c);

#endif
