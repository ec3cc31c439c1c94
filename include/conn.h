/*
 * conn: one client's state and buffers; the only place where bytes meet a
 * client socket. A connection belongs to the worker that accepted it and is
 * touched only by that worker's thread.
 */
#ifndef LINESVR_CONN_H
#define LINESVR_CONN_H

#include <ev.h>
#include <stddef.h>
#include <stdint.h>

#include "linecopy.h"
#include "net.h"
#include "store.h"

#define RBUF_MIN        (16 * 1024)  /* bytes read per event (at least max_request) */
#define OBUF_SIZE       (256 * 1024) /* a worker's buffer for coalescing answers */
#define GET_BATCH       16           /* GETs looked up before any is copied */
#define DEFER_MAX       64           /* lone GETs held for the loop's turn */

struct worker;

/*
 * Where a connection is in its life. Every change goes through one
 * function in conn.c, which also does what entering the state requires.
 * Whether output is pending is not a state: it is what the buffers hold,
 * and every state but LINGER may owe some.
 */
enum conn_state {
	CONN_READING,     /* reads requests and answers them */
	CONN_DRAINING,    /* the server is stopping: reads what the socket
	                     holds, answers it */
	CONN_PEER_CLOSED, /* the peer shut its side: answers the complete
	                     requests it sent, then closes */
	CONN_DRAINED,     /* draining found the socket empty: answers the
	                     complete requests, then lingers */
	CONN_CLOSING,     /* QUIT, SHUTDOWN or a line too long: answers
	                     nothing more, flushes, then lingers */
	CONN_LINGER,      /* our side is shut: discards input until the
	                     peer's FIN (in the worker's linger list) */
	CONN_BROKEN       /* a write or an allocation failed: closed at the
	                     end of this event */
};

/* Connections ordered by a timestamp; all share one timeout. */
struct conn_list {
	struct conn *head, *tail;
};

/*
 * A worker's buffers for the one connection it is serving: embedded in the
 * worker, shared by its connections, so that a connection that keeps up
 * owns no buffers at all.
 */
struct conn_scratch {
	char *rbuf;               /* its unparsed input, then what was read */
	size_t rbuf_size;
	char *obuf;               /* its answers, written in one go */
	size_t olen;
	struct pending_get batch[GET_BATCH];
	unsigned nbatch;
	uint64_t batch_bytes;     /* answer bytes the batch will add */
	/* Connections whose whole input was one GET, answered together
	 * before the loop waits again (conn_answer_deferred); a closed one
	 * is NULL. */
	struct conn *defer_conn[DEFER_MAX];
	uint64_t defer_n[DEFER_MAX];
	unsigned ndefer;
};

struct conn {
	ev_io rw, ww;             /* read and write watchers */
	struct worker *w;
	struct conn *prev, *next; /* in w->active, or w->linger when lingering */
	ev_tstamp last;           /* last complete request (or linger start) */
	int fd;
	enum conn_state state;
	/* Flags and the peer's address packed in bytes: an idle connection is
	 * this struct alone, and the address costs it no more memory. */
	unsigned char local;      /* peer is loopback: SHUTDOWN under "local" */
	unsigned char input_done; /* the peer's FIN was read, or a drain found
	                             the socket empty (PEER_CLOSED, DRAINED):
	                             not read again, even once CLOSING */
	unsigned char idle_checked; /* idle, but input waited: it was read,
	                             and the idle sweep judges again (see
	                             conn_recheck_input) */
	unsigned char deferred;   /* its GET waits in the worker's defer_* */
	struct net_addr peer;     /* for messages */
	char *in;                 /* unparsed input; NULL when none */
	size_t in_len;
	char *out;                /* answers the socket did not take yet */
	size_t out_off, out_len, out_cap;
	struct linecopy_stream stream; /* a line over LINE_INLINE_MAX being sent */
};

/* A worker's scratch for requests of up to max_request bytes; 0 or -1. */
int conn_scratch_init(struct conn_scratch *x, size_t max_request);
void conn_scratch_free(struct conn_scratch *x);

/* Take over an accepted, non-blocking socket from peer (accept's). */
void conn_new(struct worker *w, int fd, const struct sockaddr_storage *peer);

/* Free everything the connection owns; why is logged at debug level. */
void conn_close(struct conn *c, const char *why);

/*
 * Answer the GETs held back this turn of the loop: the worker calls it
 * before it waits for events again (and a connection before it reads
 * again). Reading every ready connection before answering any lets the
 * memory fetches of their lines overlap, as a pipelined batch's do.
 */
void conn_answer_deferred(struct worker *w);

/* The server is stopping: answer what the socket holds, then close. */
void conn_drain(struct conn *c);

/* Answers owed: in our buffers, or in the kernel's, not yet acknowledged. */
int conn_busy_writing(const struct conn *c);

/*
 * The idle sweep found c expired. If input waits (a complete request in
 * c's buffer, or bytes in the kernel's) and c has not had this chance
 * yet, a read is queued and 1 returned: the sweep judges again after it.
 * 0: c is idle.
 */
int conn_recheck_input(struct conn *c);

/*
 * The lists are intrusive and doubly linked, so moving a connection to the
 * tail (every complete request) is O(1); inline because that happens per
 * request.
 */
static inline void
conn_list_remove(struct conn_list *l, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		l->head = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	else
		l->tail = c->prev;
	c->prev = c->next = NULL;
}

/* Move c to the tail of list with timestamp now (which ends an idle
 * re-check: c is not idle). */
static inline void
conn_list_touch(struct conn_list *l, struct conn *c, ev_tstamp now)
{
	c->last = now;
	c->idle_checked = 0;
	if (l->tail == c)
		return;
	if (c->prev != NULL || l->head == c)
		conn_list_remove(l, c);
	c->prev = l->tail;
	if (l->tail != NULL)
		l->tail->next = c;
	else
		l->head = c;
	l->tail = c;
}

#endif
