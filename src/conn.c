/*
 * conn: a client connection, from accept to close.
 *
 * The path of a request: on_read() reads into the worker's scratch buffer
 * (after any unparsed bytes kept from before), request_process()
 * (request.c) parses and answers the complete ones into the worker's output
 * buffer, and conn_flush_obuf() hands all of them to the socket in one
 * write. Only what the socket does not take is copied into the
 * connection's own buffer, so a connection that keeps up owns no buffers
 * at all.
 *
 * Backpressure: once max_output bytes are owed, parsing stops and the read
 * watcher with it; the write watcher runs only while output is pending.
 *
 * Where a connection is in its life is its state (conn.h);
 * conn_set_state() is the one place that changes it, and conn_settle()
 * brings the watchers in line with the state and the buffers after every
 * event.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn_private.h"
#include "log.h"
#include "net.h"
#include "proto.h"

#define CONN_OF(ptr, field) \
	((struct conn *)(void *)((char *)(ptr) - offsetof(struct conn, field)))

static void on_read(EV_P_ ev_io *io, int revents);
static void on_write(EV_P_ ev_io *io, int revents);

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

void
conn_drop_input(struct conn *c)
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
void
conn_set_state(struct conn *c, enum conn_state to)
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
		conn_drop_input(c);
		conn_list_remove(&w->active, c);
		conn_list_touch(&w->linger, c, ev_now(w->loop));
		ev_io_stop(w->loop, &c->ww);
		ev_io_start(w->loop, &c->rw);
	}
	c->state = to;
}

/* ---- life cycle ---- */

/* "ADDR:PORT" of the peer, into buf of NET_ADDR_STRLEN bytes. */
const char *
conn_peer_name(const struct conn *c, char *buf)
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
		log_debug("connection from %s", conn_peer_name(c, name));
	ev_io_init(&c->rw, on_read, fd, EV_READ);
	ev_io_init(&c->ww, on_write, fd, EV_WRITE);
	ev_io_start(w->loop, &c->rw);
	conn_list_touch(&w->active, c, ev_now(w->loop));
	w->nconns++;
	if (w->draining)
		conn_set_state(c, CONN_DRAINING);
}

void
conn_close(struct conn *c, const char *why)
{
	struct worker *w = c->w;
	char name[NET_ADDR_STRLEN];

	if (log_enabled(LOG_DEBUG))
		log_debug("closing connection %s: %s", conn_peer_name(c, name), why);
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
	conn_set_state(c, CONN_DRAINING);
}

/* ---- output ---- */

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
void
conn_flush_obuf(struct conn *c)
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
			conn_set_state(c, CONN_BROKEN);
	}
	if (done < x->olen && c->state != CONN_BROKEN) {
		if (out_grow(c, x->olen - done) < 0)
			conn_set_state(c, CONN_BROKEN);
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
char *
conn_out_reserve(struct conn *c, size_t n, int *in_obuf)
{
	struct conn_scratch *x = &c->w->scratch;

	if (c->out_len == c->out_off) {
		if (x->olen + n > OBUF_SIZE)
			conn_flush_obuf(c);
		if (c->out_len == c->out_off && x->olen + n <= OBUF_SIZE) {
			*in_obuf = 1;
			return x->obuf + x->olen;
		}
	}
	*in_obuf = 0;
	return out_grow(c, n) < 0 ? NULL : c->out + c->out_len;
}

void
conn_out_commit(struct conn *c, size_t n, int in_obuf)
{
	if (in_obuf)
		c->w->scratch.olen += n;
	else
		c->out_len += n;
	/* Without coalescing (a benchmark switch) every answer is a write. */
	if (!c->w->srv->cfg->coalesce)
		conn_flush_obuf(c);
}

void
conn_answer(struct conn *c, const char *p, size_t n)
{
	int in_obuf;
	char *dst = conn_out_reserve(c, n, &in_obuf);

	if (dst == NULL) {
		conn_set_state(c, CONN_BROKEN);
		return;
	}
	memcpy(dst, p, n);
	conn_out_commit(c, n, in_obuf);
}

void
conn_answer_err(struct conn *c)
{
	conn_answer(c, PROTO_ERR, sizeof(PROTO_ERR) - 1);
	stat_bump(&c->w->st.requests_err);
}

void
conn_answer_deferred(struct worker *w)
{
	if (w->scratch.ndefer > 0)
		request_answer_deferred(w, NULL);
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
		request_answer_deferred(w, c);
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
			conn_set_state(c, CONN_PEER_CLOSED);
		else if (errno == EAGAIN && w->draining)
			conn_set_state(c, CONN_DRAINED);
		else if (errno != EAGAIN) {
			conn_close(c, "read error");
			return;
		}
	}
	request_process(c, x->rbuf, len);
	if (!c->deferred) /* else settled once answered */
		conn_settle(c);
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
	conn_settle(c);
}

/*
 * Bring watchers and buffers in line with the connection's state after any
 * event: write what is owed, close when finished, resume reading when the
 * budget allows, and go back to unparsed input once output has drained.
 */
void
conn_settle(struct conn *c)
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
			conn_set_state(c, CONN_LINGER);
			return;
		}
		/* Output drained with complete requests still waiting? */
		refeed = has_request(c);
		if (c->input_done && !refeed) {
			/* The peer's input is finished: nothing to reset. */
			if (c->state == CONN_PEER_CLOSED)
				conn_close(c, "peer closed");
			else
				conn_set_state(c, CONN_LINGER);
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
