/*
 * client: one connection of the load generator, the only place bytes meet
 * its socket. It keeps the requests in flight in a ring (key and the time
 * latency counts from), the bytes not yet written, and the answer parser's
 * state; reads go to the worker's shared buffer, since the parser and the
 * verifier work on the bytes in place.
 *
 * Per round a client makes at most one read (per readiness) and one write
 * (all requests queued since the last one), and no allocation.
 */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <stdint.h>

#include "reply.h"

struct worker;

struct flight {
	uint64_t key;
	uint64_t t;	/* ns: sent (closed loop) or scheduled (open loop) */
};

enum client_state { CL_CONNECTING, CL_READY, CL_DEAD };

struct client {
	int fd;
	uint32_t idx;		/* in its worker */
	enum client_state state;
	uint32_t events;	/* epoll events registered */
	struct flight *ring;	/* pipeline slots, owned by the worker */
	uint32_t head, count;	/* oldest flight, flights */
	char *obuf;		/* pipeline * REQ_MAX bytes, owned by the worker */
	uint32_t olen, ooff;	/* queued bytes, of which already written */
	struct reply rp;
	uint64_t vpos;		/* value bytes of the oldest answer seen */
	int vbad;		/* and they differed from the truth */
	uint64_t sent_j, due_j;	/* open loop: requests sent, requests due */
	uint64_t t_dial;	/* connect started */
	struct client *next_flush;
	int queued;		/* on the worker's flush list */
};

/* Start connecting; counts a failure and marks the client dead. */
void client_dial(struct worker *w, struct client *c, unsigned source);

/* The connect completed or failed (the socket became writable). */
void client_on_connect(struct worker *w, struct client *c);

/* Queue a GET of key, latency counted from t. Room must be there. */
void client_push(struct worker *w, struct client *c, uint64_t key,
    uint64_t t);

/* Write what is queued (one write); arms EPOLLOUT for what is left. */
void client_flush(struct worker *w, struct client *c);

/* One read; hands each complete answer to the tally. */
void client_on_read(struct worker *w, struct client *c);

/* Close, counting kind (unless ERR_KINDS) and forgetting its flights. */
void client_close(struct worker *w, struct client *c, int kind);

#endif
