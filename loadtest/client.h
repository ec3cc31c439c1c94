/*
 * client: one connection of the load generator, the only place bytes meet
 * its socket. It keeps the requests in flight in a ring (key and the time
 * latency counts from), the bytes not yet written, and the answer parser's
 * state; reads go to the worker's shared buffer, since the parser and the
 * verifier work on the bytes in place.
 *
 * Per round a client makes at most one read (per readiness) and one write
 * (all requests queued since the last one), and no allocation.
 *
 * A connection that breaks mid-run (EOF, a reset, a failed write) loses
 * its unanswered requests; with --retry the client reconnects instead
 * (retry.h: backoff) and resends them in order, each at most N times. A
 * partial answer is discarded with its connection. A client that cannot
 * reconnect within --timeout of the break, or by the deadline, is given
 * up (abandoned) and what it still held is lost.
 */
#ifndef BENCH_CLIENT_H
#define BENCH_CLIENT_H

#include <stdint.h>

#include "reply.h"

struct worker;

struct flight {
	uint64_t key;
	uint64_t t;	/* ns: first sent (closed loop) or scheduled (open
			   loop); a resent request keeps it */
	uint32_t tries;	/* times resent */
};

enum client_state {
	CL_CONNECTING,	/* connect started (the first, or a reconnect) */
	CL_READY,	/* connected: requests go out, answers come in */
	CL_BROKEN,	/* --retry: no connection; redial at t_wake */
	CL_DEAD		/* closed for good */
};

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
	/* --retry: reconnecting */
	uint32_t attempts;	/* reconnects since the last answer */
	uint64_t t_give_up;	/* --timeout after the break */
	uint64_t t_wake;	/* BROKEN: redial; CONNECTING again: give up */
	struct client *next_retry;
	int on_retry;		/* on the worker's retry list (reconnecting) */
};

/*
 * Start connecting. A failure is counted; the client is then dead (the
 * first connect) or waits to try again (a reconnect).
 */
void client_dial(struct worker *w, struct client *c);

/* A reconnect is due (BROKEN), or overdue (CONNECTING): go on or give up. */
void client_redial(struct worker *w, struct client *c);

/* The connect completed or failed (the socket became writable). */
void client_on_connect(struct worker *w, struct client *c);

/* Queue a GET of key, latency counted from t. Room must be there. */
void client_push(struct worker *w, struct client *c, uint64_t key,
    uint64_t t);

/* Write what is queued (one write); arms EPOLLOUT for what is left. */
void client_flush(struct worker *w, struct client *c);

/* One read; hands each complete answer to the tally. */
void client_on_read(struct worker *w, struct client *c);

/* Close for good, counting kind (unless ERR_KINDS); what it still held
 * is lost. */
void client_close(struct worker *w, struct client *c, int kind);

/* The connection broke (kind): reconnect and resend (--retry), or lose
 * the unanswered requests and die. */
void client_break(struct worker *w, struct client *c, int kind);

/* The run ends now: what c still holds is lost if it has no connection,
 * else stalled. */
void client_abandon(struct worker *w, struct client *c);

#endif
