/*
 * conn_private: what the two halves of a connection share, private to
 * them. conn.c is its life: accept to close, states, events, output
 * buffers. request.c is its requests: parsed, batched, looked up and
 * answered into that output.
 */
#ifndef LINESVR_CONN_PRIVATE_H
#define LINESVR_CONN_PRIVATE_H

#include <stddef.h>
#include <stdint.h>

#include "conn.h"
#include "server.h"

/* ---- conn.c ---- */

/* Requests are still parsed and answered (when the budget allows). */
static inline int
answering(const struct conn *c)
{
	return c->state != CONN_CLOSING && c->state != CONN_BROKEN;
}

/* Answer bytes owed: in c's buffer and in the worker's. */
static inline size_t
owed(const struct conn *c)
{
	return c->out_len - c->out_off + c->w->scratch.olen;
}

/* Another request may be parsed: answering, no line being streamed, and
 * less than max_output owed. */
static inline int
may_parse(const struct conn *c)
{
	return answering(c) && c->stream.store == NULL &&
	    owed(c) < c->w->srv->cfg->max_output;
}

/* The one place where a connection changes state (see conn.c). */
void conn_set_state(struct conn *c, enum conn_state to);

/* Bring c's watchers in line with its state and buffers; may close c. */
void conn_settle(struct conn *c);

/* Forget c's unparsed input. */
void conn_drop_input(struct conn *c);

/* "ADDR:PORT" of the peer, into buf of NET_ADDR_STRLEN bytes. */
const char *conn_peer_name(const struct conn *c, char *buf);

/* Hand the worker's buffer to the socket; keep what it does not take. */
void conn_flush_obuf(struct conn *c);

/*
 * Room for n bytes of answer: in the worker's buffer while the connection
 * owes nothing else, behind its pending output otherwise, so answers stay
 * in order. *in_obuf says which; NULL only when memory runs out. Then
 * conn_out_commit the bytes written there.
 */
char *conn_out_reserve(struct conn *c, size_t n, int *in_obuf);
void conn_out_commit(struct conn *c, size_t n, int in_obuf);

/* One answer of n bytes; ERR (counted as such). */
void conn_answer(struct conn *c, const char *p, size_t n);
void conn_answer_err(struct conn *c);

/* ---- request.c ---- */

/*
 * Answer every complete request in buf[0..len) that the output budget
 * allows; keep the rest as c's unparsed input.
 */
void request_process(struct conn *c, char *buf, size_t len);

/*
 * Answer the GETs held back this turn (see conn_answer_deferred); every
 * connection answered is settled but self, which the caller settles.
 */
void request_answer_deferred(struct worker *w, struct conn *self);

#endif
