/*
 * conn: a client connection, from accept to close.
 *
 * The path of a request: on_read() reads into the worker's scratch buffer
 * (after any unparsed bytes kept from before), process() parses complete
 * lines with proto_parse() and answers each into the worker's output buffer,
 * and flush_obuf() hands all of them to the socket in one write. Only what
 * the socket does not take is copied into the connection's own buffer, so a
 * connection that keeps up owns no buffers at all.
 *
 * Backpressure: once max_output bytes are owed, parsing stops and the read
 * watcher with it; the write watcher runs only while output is pending.
 *
 * Where a connection is in its life is its state (conn.h); set_state() is
 * the one place that changes it, and settle() brings the watchers in line
 * with the state and the buffers after every event.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "net.h"
#include "proto.h"
#include "server.h"

#define CONN_OF(ptr, field) \
	((struct conn *)(void *)((char *)(ptr) - offsetof(struct conn, field)))

static const char ERR_ANSWER[] = "ERR\r\n";

static void on_read(EV_P_ ev_io *io, int revents);
static void on_write(EV_P_ ev_io *io, int revents);
static void settle(struct conn *c);
static void answer_deferred(struct worker *w, struct conn *self);

/* ---- the worker's scratch ---- */

int
conn_scratch_init(struct conn_scratch *x, size_t max_request)
{
	x->rbuf_size = max_request > RBUF_MIN ? max_request : RBUF_MIN;
	x->rbuf = malloc(x->rbuf_size);
	x->obuf = malloc(OBUF_SIZE);
	return x->rbuf != NULL && x->obuf != NULL ? 0 : -1;
}

void
conn_scratch_free(struct conn_scratch *x)
{
	free(x->rbuf);
	free(x->obuf);
}

/* ---- states ---- */

static void
drop_input(struct conn *c)
{
	free(c->in);
	c->in = NULL;
	c->in_len = 0;
}

/* A complete request waits in the connection's own buffer. */
static int
has_request(const struct conn *c)
{
	return c->in_len > 0 && memchr(c->in, '\n', c->in_len) != NULL;
}

/* Requests are still parsed and answered (when the budget allows). */
static inline int
answering(const struct conn *c)
{
	return c->state != CONN_CLOSING && c->state != CONN_BROKEN;
}

/*
 * The one place where a connection changes state, doing what entering
 * the new one requires. BROKEN and LINGER are left only by conn_close.
 *
 * LINGER comes after the last answer (QUIT, SHUTDOWN, a drain): shut our
 * side and wait for the peer's FIN before closing. Closing with unread
 * input, or input that arrives later, sends a reset that destroys answers
 * still queued in the kernel for the peer. The linger list's timeout, or
 * drain_timeout, bounds the wait. When nothing is queued either way, a
 * plain close loses nothing: c is closed instead, and gone.
 */
static void
set_state(struct conn *c, enum conn_state to)
{
	struct worker *w = c->w;

	if (c->state == CONN_BROKEN || c->state == CONN_LINGER)
		return;
	if (to == CONN_DRAINING) {
		/* Read what the socket holds now, even if the read watcher
		 * is idle; a connection past reading answers what it has. */
		ev_feed_event(w->loop, &c->rw, EV_READ);
		if (c->state != CONN_READING)
			return;
	} else if (to == CONN_PEER_CLOSED || to == CONN_DRAINED) {
		c->input_done = 1;
		if (c->state == CONN_CLOSING)
			return; /* answers nothing more either way */
	} else if (to == CONN_LINGER) {
		if (shutdown(c->fd, SHUT_WR) < 0 ||
		    (net_unsent(c->fd) == 0 &&
		    net_unread(c->fd) == 0)) {
			conn_close(c, "closed");
			return;
		}
		drop_input(c);
		conn_list_remove(&w->active, c);
		conn_list_touch(&w->linger, c, ev_now(w->loop));
		ev_io_stop(w->loop, &c->ww);
		ev_io_start(w->loop, &c->rw);
	}
	c->state = to;
}

/* ---- life cycle ---- */

/* "ADDR:PORT" of the peer, into buf of NET_ADDR_STRLEN bytes. */
static const char *
peer_name(const struct conn *c, char *buf)
{
	net_addr_format(&c->peer, buf, NET_ADDR_STRLEN);
	return buf;
}

void
conn_new(struct worker *w, int fd, const struct sockaddr_storage *peer)
{
	struct conn *c = calloc(1, sizeof(*c));
	char name[NET_ADDR_STRLEN];

	if (c == NULL) {
		log_warn("out of memory for a connection");
		close(fd);
		atomic_fetch_sub(&w->srv->conns_current, 1);
		return;
	}
	c->w = w;
	c->fd = fd;
	c->state = CONN_READING;
	c->local = net_is_loopback(peer);
	net_addr_pack(peer, &c->peer);
	if (log_enabled(LOG_DEBUG))
		log_debug("connection from %s", peer_name(c, name));
	ev_io_init(&c->rw, on_read, fd, EV_READ);
	ev_io_init(&c->ww, on_write, fd, EV_WRITE);
	ev_io_start(w->loop, &c->rw);
	conn_list_touch(&w->active, c, ev_now(w->loop));
	w->nconns++;
	if (w->draining)
		set_state(c, CONN_DRAINING);
}

void
conn_close(struct conn *c, const char *why)
{
	struct worker *w = c->w;
	char name[NET_ADDR_STRLEN];

	if (log_enabled(LOG_DEBUG))
		log_debug("closing connection %s: %s", peer_name(c, name), why);
	ev_io_stop(w->loop, &c->rw);
	ev_io_stop(w->loop, &c->ww);
	for (unsigned i = 0; c->deferred && i < w->scratch.ndefer; i++)
		if (w->scratch.defer_conn[i] == c)
			w->scratch.defer_conn[i] = NULL;
	conn_list_remove(c->state == CONN_LINGER ? &w->linger : &w->active, c);
	close(c->fd);
	free(c->in);
	free(c->out);
	linecopy_end(&c->stream);
	free(c);
	w->nconns--;
	atomic_fetch_sub(&w->srv->conns_current, 1);
	if (w->draining && w->nconns == 0)
		ev_break(w->loop, EVBREAK_ONE);
}

int
conn_busy_writing(const struct conn *c)
{
	return c->deferred || c->out_len > c->out_off ||
	    c->stream.store != NULL || net_unsent(c->fd) > 0;
}

int
conn_recheck_input(struct conn *c)
{
	if (c->idle_checked || c->state == CONN_LINGER)
		return 0; /* had its chance: trickled bytes, no request */
	if (!has_request(c) && net_unread(c->fd) <= 0)
		return 0;
	c->idle_checked = 1;
	ev_feed_event(c->w->loop, &c->rw, EV_READ);
	return 1;
}

void
conn_drain(struct conn *c)
{
	set_state(c, CONN_DRAINING);
}

/* ---- output ---- */

static size_t
owed(const struct conn *c)
{
	return c->out_len - c->out_off + c->w->scratch.olen;
}

/* Make room for n more bytes in the connection's own buffer. */
static int
out_grow(struct conn *c, size_t n)
{
	size_t cap;
	char *nb;

	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + n <= c->out_cap)
		return 0;
	for (cap = c->out_cap ? c->out_cap : 4096; cap < c->out_len + n;)
		cap *= 2;
	if ((nb = realloc(c->out, cap)) == NULL)
		return -1;
	c->out = nb;
	c->out_cap = cap;
	return 0;
}

/* Hand the worker's buffer to the socket; keep what it does not take. */
static void
flush_obuf(struct conn *c)
{
	struct conn_scratch *x = &c->w->scratch;
	size_t done = 0;
	ssize_t n;

	if (x->olen == 0)
		return;
	if (c->out_len == c->out_off && c->state != CONN_BROKEN) {
		do {
			n = write(c->fd, x->obuf, x->olen);
		} while (n < 0 && errno == EINTR);
		if (n > 0) {
			done = (size_t)n;
			stat_add(&c->w->st.bytes_written, done);
		}
		else if (n < 0 && errno != EAGAIN)
			set_state(c, CONN_BROKEN);
	}
	if (done < x->olen && c->state != CONN_BROKEN) {
		if (out_grow(c, x->olen - done) < 0)
			set_state(c, CONN_BROKEN);
		else {
			memcpy(c->out + c->out_len, x->obuf + done, x->olen - done);
			c->out_len += x->olen - done;
		}
	}
	x->olen = 0;
}

/*
 * Room for n bytes of answer: in the worker's buffer while the connection
 * owes nothing else, behind its pending output otherwise, so answers stay
 * in order. *in_obuf says which; NULL only when memory runs out.
 */
static char *
out_reserve(struct conn *c, size_t n, int *in_obuf)
{
	struct conn_scratch *x = &c->w->scratch;

	if (c->out_len == c->out_off) {
		if (x->olen + n > OBUF_SIZE)
			flush_obuf(c);
		if (c->out_len == c->out_off && x->olen + n <= OBUF_SIZE) {
			*in_obuf = 1;
			return x->obuf + x->olen;
		}
	}
	*in_obuf = 0;
	return out_grow(c, n) < 0 ? NULL : c->out + c->out_len;
}

static void
out_commit(struct conn *c, size_t n, int in_obuf)
{
	if (in_obuf)
		c->w->scratch.olen += n;
	else
		c->out_len += n;
	/* Without coalescing (a benchmark switch) every answer is a write. */
	if (!c->w->srv->cfg->coalesce)
		flush_obuf(c);
}

static void
answer(struct conn *c, const char *p, size_t n)
{
	int in_obuf;
	char *dst = out_reserve(c, n, &in_obuf);

	if (dst == NULL) {
		set_state(c, CONN_BROKEN);
		return;
	}
	memcpy(dst, p, n);
	out_commit(c, n, in_obuf);
}

static void
answer_err(struct conn *c)
{
	answer(c, ERR_ANSWER, sizeof(ERR_ANSWER) - 1);
	stat_bump(&c->w->st.requests_err);
}

/* ---- requests ---- */

/*
 * A line too long to copy into the output buffer: "OK", then the line a
 * chunk at a time from on_write (see linecopy.h).
 */
static void
start_stream(struct conn *c, struct store *st, const struct store_line *l)
{
	if (linecopy_start(&c->stream, st, l) < 0) {
		answer_err(c);
		return;
	}
	answer(c, "OK\r\n", 4);
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

	if ((p = out_reserve(c, room, &in_obuf)) == NULL) {
		set_state(c, CONN_BROKEN);
		return;
	}
	out_commit(c, linecopy_answers(w->store, g, n, p, &errs), in_obuf);
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
		set_state(c, CONN_CLOSING);
		break;
	case REQ_SHUTDOWN:
		if (!may_shutdown(c)) {
			answer_err(c);
			break;
		}
		log_info("SHUTDOWN requested by %s", peer_name(c, buf));
		set_state(c, CONN_CLOSING);
		server_request_stop(c->w->srv);
		break;
	case REQ_STATS:
		answer(c, buf, server_stats(c->w->srv, c->w->store, buf,
		    sizeof(buf)));
		break;
	case REQ_BAD:
		answer_err(c);
		break;
	}
}

/* Keep unparsed bytes for the next event; idle connections keep none. */
static void
keep_input(struct conn *c, const char *p, size_t n)
{
	if (n == 0 || !answering(c)) {
		drop_input(c);
		return;
	}
	if (c->in == NULL && (c->in = malloc(c->w->scratch.rbuf_size)) == NULL) {
		set_state(c, CONN_BROKEN);
		return;
	}
	memmove(c->in, p, n);
	c->in_len = n;
}

static inline int
may_parse(const struct conn *c)
{
	return answering(c) && c->stream.store == NULL &&
	    owed(c) < c->w->srv->cfg->max_output;
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
/* The longest plain GET: "GET ", 19 digits (more take the full parser)
 * and CRLF. Longer input is more than one GET. */
#define DEFER_LINE_MAX 25

static int
defer_get(struct conn *c, const char *buf, size_t len)
{
	struct worker *w = c->w;
	struct conn_scratch *x = &w->scratch;
	uint64_t n;
	size_t end;

	if (len > DEFER_LINE_MAX || c->state != CONN_READING || owed(c) > 0 ||
	    x->nbatch > 0 || !w->srv->cfg->coalesce || proto_get_run(buf, len,
	    w->srv->cfg->max_request, &n, &end, 1) != 1 || end != len)
		return 0;
	if (x->ndefer == DEFER_MAX)
		answer_deferred(w, c);
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
static void
answer_deferred(struct worker *w, struct conn *self)
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
		flush_obuf(c);
		if (c != self)
			settle(c);
	}
}

void
conn_answer_deferred(struct worker *w)
{
	if (w->scratch.ndefer > 0)
		answer_deferred(w, NULL);
}

/*
 * Answer every complete request in buf[0..len) that the output budget
 * allows. Work per event is bounded by the read size (rbuf_size bytes).
 */
static void
process(struct conn *c, char *buf, size_t len)
{
	struct worker *w = c->w;
	struct request req;
	size_t pos = 0, used;
	int lines = 0;

	if (defer_get(c, buf, len)) {
		drop_input(c);
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
				answer_err(c);
				set_state(c, CONN_CLOSING);
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
			flush_obuf(c);
			if (may_parse(c))
				continue;
		}
		break;
	}
	if (lines > 0)
		conn_list_touch(&w->active, c, ev_now(w->loop));
	keep_input(c, buf + pos, len - pos);
	flush_obuf(c);
}

/* ---- events ---- */

static void
read_linger(struct conn *c)
{
	char sink[4096];
	ssize_t n = read(c->fd, sink, sizeof(sink));

	if (n > 0)
		stat_add(&c->w->st.bytes_read, (uint64_t)n);
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		conn_close(c, "closed");
}

static void
on_read(EV_P_ ev_io *io, int revents)
{
	struct conn *c = CONN_OF(io, rw);
	struct worker *w = c->w;
	struct conn_scratch *x = &w->scratch;
	size_t len = c->in_len;
	ssize_t n = 0;

	(void)loop;
	(void)revents;
	if (c->state == CONN_LINGER) {
		read_linger(c);
		return;
	}
	/* Fed again in the turn it deferred a GET (a drain began): that
	 * answer comes before anything read now. */
	if (c->deferred)
		answer_deferred(w, c);
	(void)worker_store(w);
	if (len > 0)
		memcpy(x->rbuf, c->in, len);
	if (len < x->rbuf_size && !c->input_done) {
		do {
			n = read(c->fd, x->rbuf + len, x->rbuf_size - len);
		} while (n < 0 && errno == EINTR);
		if (n > 0) {
			len += (size_t)n;
			stat_add(&w->st.bytes_read, (uint64_t)n);
		} else if (n == 0)
			set_state(c, CONN_PEER_CLOSED);
		else if (errno == EAGAIN && w->draining)
			set_state(c, CONN_DRAINED);
		else if (errno != EAGAIN) {
			conn_close(c, "read error");
			return;
		}
	}
	process(c, x->rbuf, len);
	if (!c->deferred) /* else settled once answered */
		settle(c);
}

/* Write pending output, then any line being streamed. 1 done, 0 blocked,
 * -1 failed. */
static int
write_pending(struct conn *c)
{
	struct linecopy_stream *ls = &c->stream;
	ssize_t n;

	for (;;) {
		if (c->out_len > c->out_off) {
			n = write(c->fd, c->out + c->out_off,
			    c->out_len - c->out_off);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -1;
			stat_add(&c->w->st.bytes_written, (uint64_t)n);
			c->out_off += (size_t)n;
			if (c->out_off < c->out_len)
				return 0;
			c->out_off = c->out_len = 0;
		} else if (ls->pos < ls->len) {
			n = write(c->fd, ls->buf + ls->pos, ls->len - ls->pos);
			if (n < 0)
				return errno == EAGAIN || errno == EINTR ? 0 : -1;
			stat_add(&c->w->st.bytes_written, (uint64_t)n);
			ls->pos += (size_t)n;
		} else if (ls->left > 0) {
			if (linecopy_fill(ls) < 0)
				return -1;
		} else if (ls->store != NULL) {
			linecopy_end(ls);
		} else {
			return 1;
		}
	}
}

static void
on_write(EV_P_ ev_io *io, int revents)
{
	struct conn *c = CONN_OF(io, ww);

	(void)loop;
	(void)revents;
	settle(c);
}

/*
 * Bring watchers and buffers in line with the connection's state after any
 * event: write what is owed, close when finished, resume reading when the
 * budget allows, and go back to unparsed input once output has drained.
 */
static void
settle(struct conn *c)
{
	struct worker *w = c->w;
	int r = c->state == CONN_BROKEN ? -1 : write_pending(c), refeed = 0;

	if (r < 0) {
		conn_close(c, "write error");
		return;
	}
	/* The ev_is_active tests spare a library call per event when the
	 * watchers stay as they are, as they nearly always do. */
	if (r == 0) {
		ev_io_start(w->loop, &c->ww);
	} else {
		if (ev_is_active(&c->ww))
			ev_io_stop(w->loop, &c->ww);
		if (c->out != NULL) {
			/* All written: idle connections hold no buffers. */
			free(c->out);
			c->out = NULL;
			c->out_cap = c->out_off = c->out_len = 0;
		}
		if (c->state == CONN_CLOSING) {
			set_state(c, CONN_LINGER);
			return;
		}
		/* Output drained with complete requests still waiting? */
		refeed = has_request(c);
		if (c->input_done && !refeed) {
			/* The peer's input is finished: nothing to reset. */
			if (c->state == CONN_PEER_CLOSED)
				conn_close(c, "peer closed");
			else
				set_state(c, CONN_LINGER);
			return;
		}
	}
	if (may_parse(c) && c->in_len < w->scratch.rbuf_size && !c->input_done) {
		if (!ev_is_active(&c->rw))
			ev_io_start(w->loop, &c->rw);
	} else
		ev_io_stop(w->loop, &c->rw);
	/* After the stop, which would discard a pending event. */
	if (refeed || (c->state == CONN_DRAINING && r == 1))
		ev_feed_event(w->loop, &c->rw, EV_READ);
}
