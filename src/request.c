/*
 * request: a connection's requests, from the bytes read to the answers in
 * its output: runs of plain GETs parsed, looked up and answered in batches
 * (their memory fetches overlapping), lone GETs held for the end of the
 * loop's turn, the other commands one at a time. conn.c calls it with
 * what it read; it writes through conn.c's output (conn_private.h).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conn_private.h"
#include "linecopy.h"
#include "log.h"
#include "proto.h"
#include "store.h"
#include "text.h"

/*
 * A line too long to copy into the output buffer: "OK", then the line a
 * chunk at a time from on_write (see linecopy.h).
 */
static void
start_stream(struct conn *c, struct store *st, const struct store_line *l)
{
	if (linecopy_start(&c->stream, st, l) < 0) {
		conn_answer_err(c);
		return;
	}
	conn_answer(c, "OK\r\n", 4);
	stat_bump(&c->w->st.requests_get);
}

/* Answer g[0..n), GETs looked up by queue_get whose lines fit the output
 * buffer, in order; room is the sum of their lines' lengths + 5 each. */
static void
emit_gets(struct conn *c, const struct pending_get *g, unsigned n,
    size_t room)
{
	struct worker *w = c->w;
	unsigned errs;
	int in_obuf;
	char *p;

	if ((p = conn_out_reserve(c, room, &in_obuf)) == NULL) {
		conn_set_state(c, CONN_BROKEN);
		return;
	}
	conn_out_commit(c, linecopy_answers(w->store, g, n, p, &errs), in_obuf);
	stat_add(&w->st.requests_get, n - errs);
	stat_add(&w->st.requests_err, errs);
}

/* Answer the batched GETs, in order. */
static void
flush_gets(struct conn *c)
{
	struct conn_scratch *x = &c->w->scratch;
	unsigned n = x->nbatch;
	/* Only the last can be a line to stream: queue_get flushes it. */
	unsigned whole = n > 0 && x->batch[n - 1].line.len > LINE_INLINE_MAX ?
	    n - 1 : n;
	size_t room = x->batch_bytes - (whole < n ?
	    x->batch[n - 1].line.len + 5 : 0);

	/* One piece when it fits the worker's buffer; else (long lines, or
	 * no coalescing) one answer at a time, so that a connection's own
	 * buffer never grows to hold a whole batch at once. */
	if (whole > 0 && c->w->srv->cfg->coalesce && room <= OBUF_SIZE)
		emit_gets(c, x->batch, whole, room);
	else
		for (unsigned i = 0; i < whole; i++)
			emit_gets(c, &x->batch[i], 1, x->batch[i].line.len + 5);
	if (whole < n)
		start_stream(c, c->w->store, &x->batch[n - 1].line);
	x->nbatch = 0;
	x->batch_bytes = 0;
}

/* Look line n up into g and start fetching the line. Always inline, as
 * queue_get (GCC leaves it out of line: it has three callers). */
static inline __attribute__((always_inline)) void
look_up(struct worker *w, uint64_t n, struct pending_get *g)
{
	g->ok = store_lookup(w->store, n, &g->line, &w->st.lookups) == 0;
	if (!g->ok)
		g->line.len = 0;
	else
		text_prefetch(&w->store->text, g->line.off, g->line.len);
}

/*
 * Look a GET up and prefetch its line, but copy it only when the batch is
 * answered: with pipelined requests, the memory fetches of up to GET_BATCH
 * random lines then overlap instead of stalling one after another. The
 * batch is answered early when it would outgrow the output budget or holds
 * a line to stream. 1 when the batch was answered. Always inline: out of
 * line, its call cost a run of GETs 12 instructions a GET.
 */
static inline __attribute__((always_inline)) int
queue_get(struct conn *c, uint64_t n)
{
	struct worker *w = c->w;
	struct conn_scratch *x = &w->scratch;
	struct pending_get *g = &x->batch[x->nbatch++];

	look_up(w, n, g);
	x->batch_bytes += g->line.len + 5;
	if (x->nbatch == GET_BATCH || g->line.len > LINE_INLINE_MAX ||
	    owed(c) + x->batch_bytes >= w->srv->cfg->max_output) {
		flush_gets(c);
		return 1;
	}
	return 0;
}

static int
may_shutdown(const struct conn *c)
{
	enum shutdown_policy p = c->w->srv->cfg->shutdown;

	return p == SHUTDOWN_ANY || (p == SHUTDOWN_LOCAL && c->local);
}

static void
handle(struct conn *c, const struct request *req)
{
	char buf[2048];

	if (req->type == REQ_GET) {
		queue_get(c, req->n);
		return;
	}
	flush_gets(c); /* answers stay in request order */
	switch (req->type) {
	case REQ_EMPTY:
	case REQ_GET:
		break;
	case REQ_QUIT:
		conn_set_state(c, CONN_CLOSING);
		break;
	case REQ_SHUTDOWN:
		if (!may_shutdown(c)) {
			conn_answer_err(c);
			break;
		}
		log_info("SHUTDOWN requested by %s", conn_peer_name(c, buf));
		conn_set_state(c, CONN_CLOSING);
		server_request_stop(c->w->srv);
		break;
	case REQ_STATS:
		conn_answer(c, buf, server_stats(c->w->srv, c->w->store, buf,
		    sizeof(buf)));
		break;
	case REQ_BAD:
		conn_answer_err(c);
		break;
	}
}

/* Keep unparsed bytes for the next event; idle connections keep none. */
static void
keep_input(struct conn *c, const char *p, size_t n)
{
	if (n == 0 || !answering(c)) {
		conn_drop_input(c);
		return;
	}
	if (c->in == NULL && (c->in = malloc(c->w->scratch.rbuf_size)) == NULL) {
		conn_set_state(c, CONN_BROKEN);
		return;
	}
	memmove(c->in, p, n);
	c->in_len = n;
}

/*
 * A run of plain GETs from buf (see proto_get_run), each answered as
 * handle() would, while the output budget allows: their index slots are
 * prefetched first, then queue_get looks each up and prefetches its line,
 * so that the trips to memory of a batch overlap instead of stalling one
 * after another. Returns the bytes used: 0 when buf does not start with a
 * plain GET.
 */
static size_t
serve_gets(struct conn *c, const char *buf, size_t len)
{
	const struct store *st = c->w->store;
	uint64_t n[GET_BATCH];
	size_t end[GET_BATCH];
	unsigned k, i;

	k = proto_get_run(buf, len, c->w->srv->cfg->max_request, n, end,
	    GET_BATCH);
	for (i = 0; i < k; i++)
		store_prefetch(st, n[i]);
	/* The caller saw may_parse(c); only answering (a flush) changes it. */
	for (i = 0; i < k; i++)
		if (queue_get(c, n[i]) && !may_parse(c)) {
			i++;
			break;
		}
	return i == 0 ? 0 : end[i - 1];
}

/*
 * A connection that sent one plain GET and nothing else (a client that
 * waits for each answer) is answered when the loop's turn ends, together
 * with the others read in the same turn: its index slot is fetched now,
 * its lookup and the fetch of its line come with the others', and none
 * stalls on memory alone. 1 if c's input was held back so.
 */
static int
defer_get(struct conn *c, const char *buf, size_t len)
{
	struct worker *w = c->w;
	struct conn_scratch *x = &w->scratch;
	uint64_t n;
	size_t end;

	if (len > PROTO_GET_LINE_MAX || c->state != CONN_READING ||
	    owed(c) > 0 || x->nbatch > 0 || !w->srv->cfg->coalesce ||
	    proto_get_run(buf, len, w->srv->cfg->max_request, &n, &end, 1) !=
	    1 || end != len)
		return 0;
	if (x->ndefer == DEFER_MAX)
		request_answer_deferred(w, c);
	/* The turn's end is watched only while a GET waits for it. */
	if (x->ndefer == 0)
		ev_prepare_start(w->loop, &w->turn_end);
	store_prefetch(w->store, n);
	x->defer_conn[x->ndefer] = c;
	x->defer_n[x->ndefer++] = n;
	c->deferred = 1;
	conn_list_touch(&w->active, c, ev_now(w->loop));
	return 1;
}

/*
 * Answer the held-back GETs: every lookup and fetch first, then each
 * answer, written, and its connection settled — but self's, which the
 * caller (its on_read) settles once it has read and answered the rest.
 */
void
request_answer_deferred(struct worker *w, struct conn *self)
{
	struct conn_scratch *x = &w->scratch;
	struct pending_get g[DEFER_MAX];
	unsigned n = x->ndefer;

	for (unsigned i = 0; i < n; i++)
		if (x->defer_conn[i] != NULL)
			look_up(w, x->defer_n[i], &g[i]);
	x->ndefer = 0;
	ev_prepare_stop(w->loop, &w->turn_end);
	for (unsigned i = 0; i < n; i++) {
		struct conn *c = x->defer_conn[i];

		if (c == NULL)
			continue;
		c->deferred = 0;
		x->batch[0] = g[i];
		x->nbatch = 1;
		x->batch_bytes = g[i].line.len + 5;
		flush_gets(c);
		conn_flush_obuf(c);
		if (c != self)
			conn_settle(c);
	}
}


/*
 * Answer every complete request in buf[0..len) that the output budget
 * allows. Work per event is bounded by the read size (rbuf_size bytes).
 */
void
request_process(struct conn *c, char *buf, size_t len)
{
	struct worker *w = c->w;
	struct request req;
	size_t pos = 0, used;
	int lines = 0;

	if (defer_get(c, buf, len)) {
		conn_drop_input(c);
		return;
	}
	for (;;) {
		while (pos < len && may_parse(c)) {
			if ((used = serve_gets(c, buf + pos, len - pos)) > 0) {
				pos += used;
				lines++;
				continue;
			}
			enum proto_result r = proto_parse(buf + pos, len - pos,
			    w->srv->cfg->max_request, &req, &used);
			if (r == PROTO_NEED_MORE)
				break;
			if (r == PROTO_TOO_LONG) {
				flush_gets(c);
				conn_answer_err(c);
				conn_set_state(c, CONN_CLOSING);
				break;
			}
			pos += used;
			lines++;
			handle(c, &req);
		}
		flush_gets(c);
		/* Out of budget with answers still in the worker's buffer: the
		 * socket may take them now and free the budget. */
		if (pos < len && w->scratch.olen > 0 && !may_parse(c) &&
		    c->stream.store == NULL && answering(c)) {
			conn_flush_obuf(c);
			if (may_parse(c))
				continue;
		}
		break;
	}
	if (lines > 0)
		conn_list_touch(&w->active, c, ev_now(w->loop));
	keep_input(c, buf + pos, len - pos);
	conn_flush_obuf(c);
}
