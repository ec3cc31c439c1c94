/*
 * client: one load-generator connection (see client.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "client.h"
#include "dial.h"
#include "retry.h"
#include "worker.h"

static size_t put_request(char *p, enum proto proto, uint64_t key);

static void
set_events(struct worker *w, struct client *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return;
	if (epoll_ctl(w->ep, EPOLL_CTL_MOD, c->fd, &ev) == -1) {
		client_break(w, c, ERR_IO);
		return;
	}
	c->events = events;
}

/* Leave the worker's count of c's state and close its socket, if any. */
static void
disconnect(struct worker *w, struct client *c)
{
	if (c->state == CL_CONNECTING)
		w->connecting--;
	else if (c->state == CL_READY)
		w->alive--;
	if (c->fd != -1)
		close(c->fd);	/* also leaves the epoll set: not shared */
	c->fd = -1;
}

/* What c still holds is lost; c is dead. */
static void
lose(struct worker *w, struct client *c)
{
	w->t.lost += c->count;
	w->inflight -= c->count;
	c->count = 0;
	c->state = CL_DEAD;
}

void
client_close(struct worker *w, struct client *c, int kind)
{
	if (c->state == CL_DEAD)
		return;
	if (kind >= 0 && kind < ERR_KINDS)
		w->t.err[kind]++;
	disconnect(w, c);
	lose(w, c);
}

/*
 * Whether c, without a connection, is done with: without --retry; with
 * nothing left to do (stopping, nothing unanswered); or too late to
 * reconnect (--timeout after the break, the deadline): then it is
 * abandoned and what it still holds is lost.
 */
static int
ended(struct worker *w, struct client *c)
{
	if (w->run->o->retry == 0) {
		lose(w, c);
		return 1;
	}
	if (w->stopping && c->count == 0) {
		c->state = CL_DEAD;
		return 1;
	}
	if (w->now >= c->t_give_up || w->now >= w->run->t_deadline) {
		w->t.abandoned++;
		lose(w, c);
		return 1;
	}
	return 0;
}

/* c has no connection: wait to redial it, unless it is done with. */
static void
park(struct worker *w, struct client *c)
{
	if (ended(w, c))
		return;
	c->state = CL_BROKEN;
	c->t_wake = w->now + retry_backoff(c->attempts++, c->idx);
	if (c->t_wake > c->t_give_up)
		c->t_wake = c->t_give_up;
	worker_queue_retry(w, c);
}

void
client_break(struct worker *w, struct client *c, int kind)
{
	const struct opts *o = w->run->o;
	uint32_t n;

	if (c->state == CL_DEAD || c->state == CL_BROKEN)
		return;
	w->t.err[kind]++;
	if (c->state == CL_READY)
		c->t_give_up = w->now +
		    (uint64_t)(o->timeout * (double)NS_PER_S);
	disconnect(w, c);
	n = retry_sift(c->ring, o->pipeline, c->head, &c->count, o->retry);
	w->t.lost += n;
	w->inflight -= n;
	reply_init(&c->rp, o->proto);	/* a partial answer is discarded */
	c->vpos = 0;
	c->vbad = 0;
	c->olen = c->ooff = 0;
	park(w, c);
}

void
client_abandon(struct worker *w, struct client *c)
{
	if (c->state == CL_READY) {
		w->t.err[ERR_STALLED] += c->count;
		w->inflight -= c->count;
		c->count = 0;
	} else if (c->state != CL_DEAD) {
		w->t.abandoned++;
		lose(w, c);
	}
}

static int
connect_kind(int e)
{
	if (e == ECONNREFUSED)
		return ERR_CONNECT_REFUSED;
	if (e == ETIMEDOUT)
		return ERR_CONNECT_TIMEOUT;
	return ERR_CONNECT_OTHER;
}

/* A connect failed: the first kills, a reconnect waits to try again. */
static void
connect_failed(struct worker *w, struct client *c, int kind)
{
	if (c->on_retry)
		client_break(w, c, kind);
	else
		client_close(w, c, kind);
}

void
client_dial(struct worker *w, struct client *c)
{
	const struct run *r = w->run;
	struct epoll_event ev = { .events = EPOLLOUT, .data.ptr = c };
	unsigned source = r->spread_src ?
	    1 + (w->first + c->idx) / DIAL_PER_SOURCE : 0;

	c->t_dial = now_ns();
	c->fd = dial_start(&r->addr, r->addrlen, source, r->o->nodelay);
	if (c->fd == -1) {
		w->t.err[connect_kind(errno)]++;
		if (c->on_retry)
			park(w, c);
		return;
	}
	c->state = CL_CONNECTING;
	w->connecting++;
	c->events = EPOLLOUT;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) == -1)
		connect_failed(w, c, ERR_CONNECT_OTHER);
}

void
client_redial(struct worker *w, struct client *c)
{
	if (c->state == CL_CONNECTING) {	/* hangs: give up */
		client_break(w, c, ERR_CONNECT_TIMEOUT);
		return;
	}
	if (ended(w, c))
		return;
	client_dial(w, c);
	if (c->state == CL_CONNECTING)
		c->t_wake = c->t_give_up;
}

/* Queue every unanswered request again, in order, on the new connection. */
static void
resend(struct worker *w, struct client *c)
{
	uint32_t depth = w->run->o->pipeline, i;
	struct flight *f;

	for (i = 0; i < c->count; i++) {
		f = &c->ring[(c->head + i) % depth];
		f->tries++;
		c->olen += (uint32_t)put_request(c->obuf + c->olen,
		    w->run->o->proto, f->key);
	}
	w->t.retries += c->count;
	worker_refill(w, c);
	worker_queue_flush(w, c);
}

void
client_on_connect(struct worker *w, struct client *c)
{
	int e = dial_result(c->fd);
	uint64_t now = now_ns();

	if (e != 0) {
		connect_failed(w, c, connect_kind(e));
		return;
	}
	w->connecting--;
	w->alive++;
	c->state = CL_READY;
	if (c->on_retry) {
		w->t.reconnects++;
		resend(w, c);
	} else {
		hist_add(&w->connect, now - c->t_dial);
		w->t.connected++;
	}
	set_events(w, c, EPOLLIN);
}

/* Decimal digits of v at p; returns the count. */
static size_t
put_u64(char *p, uint64_t v)
{
	char tmp[20];
	size_t n = 0, i;

	do {
		tmp[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	for (i = 0; i < n; i++)
		p[i] = tmp[n - 1 - i];
	return n;
}

/* "GET key\r\n" (memcached: "get") at p; returns its length. */
static size_t
put_request(char *p, enum proto proto, uint64_t key)
{
	size_t n;

	memcpy(p, proto == PROTO_MEMCACHED ? "get " : "GET ", 4);
	n = 4 + put_u64(p + 4, key);
	p[n++] = '\r';
	p[n++] = '\n';
	return n;
}

void
client_push(struct worker *w, struct client *c, uint64_t key, uint64_t t)
{
	uint32_t depth = w->run->o->pipeline;
	uint32_t slot = c->head + c->count;

	if (c->ooff > 0) {	/* only after a short write: rare, and small */
		memmove(c->obuf, c->obuf + c->ooff, c->olen - c->ooff);
		c->olen -= c->ooff;
		c->ooff = 0;
	}
	c->olen += (uint32_t)put_request(c->obuf + c->olen, w->run->o->proto,
	    key);
	if (slot >= depth)
		slot -= depth;
	c->ring[slot].key = key;
	c->ring[slot].t = t;
	c->ring[slot].tries = 0;
	c->count++;
	w->t.sent++;
	if (w->inflight++ == 0)
		w->t_progress = w->now;
	if (t >= w->run->t_warm)
		w->issued++;
}

void
client_flush(struct worker *w, struct client *c)
{
	ssize_t n;

	if (c->state != CL_READY || c->olen == c->ooff)
		return;
	n = send(c->fd, c->obuf + c->ooff, c->olen - c->ooff, MSG_NOSIGNAL);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			set_events(w, c, EPOLLIN | EPOLLOUT);
		else
			client_break(w, c, ERR_IO);
		return;
	}
	if (w->now >= w->run->t_warm)
		w->t.bytes_out += (uint64_t)n;
	c->ooff += (uint32_t)n;
	if (c->ooff == c->olen) {
		c->olen = c->ooff = 0;
		set_events(w, c, EPOLLIN);
	} else {
		set_events(w, c, EPOLLIN | EPOLLOUT);
	}
}

/* Value bytes of the oldest answer: compare them with the truth. */
static void
on_data(struct worker *w, struct client *c, const char *p, size_t len)
{
	const struct truth *tr = w->run->truth;
	uint64_t key = c->ring[c->head].key;

	if (tr == NULL)
		return;
	if (key > tr->lines || !truth_match(tr, key,
	    w->run->o->proto == PROTO_LINES, c->vpos, p, len))
		c->vbad = 1;
	c->vpos += len;
}

static void
verify(struct worker *w, struct client *c, uint64_t key, enum reply_done d)
{
	const struct truth *tr = w->run->truth;
	int ok;

	if (tr == NULL)
		return;
	if (key > tr->lines)
		ok = d == REPLY_MISS;
	else
		ok = d == REPLY_HIT && !c->vbad && c->vpos ==
		    truth_value_len(tr, key, w->run->o->proto == PROTO_LINES);
	w->t.verified++;
	if (!ok)
		w->t.mismatches++;
}

/* The oldest request has its answer d. */
static void
complete(struct worker *w, struct client *c, enum reply_done d)
{
	struct flight *f = &c->ring[c->head];

	verify(w, c, f->key, d);
	c->vpos = 0;
	c->vbad = 0;
	if (d == REPLY_HIT)
		w->t.hits++;
	else if (d == REPLY_MISS)
		w->t.misses++;
	else
		w->t.err[ERR_ANSWER]++;
	w->t.answers++;
	w->t_progress = w->now;
	c->attempts = 0;	/* the server answers: reconnect at once again */
	if (f->t >= w->run->t_warm) {
		w->t.measured++;
		w->t.t_last = w->now;
		hist_add(&w->t.lat, w->now > f->t ? w->now - f->t : 0);
	}
	if (++c->head == w->run->o->pipeline)
		c->head = 0;
	c->count--;
	w->inflight--;
}

/* Feed n bytes of the read buffer to the parser. 0, or -1 (closed). */
static int
consume(struct worker *w, struct client *c, size_t n)
{
	struct reply_step st;
	size_t off = 0;

	while (off < n) {
		if (c->count == 0) {	/* bytes nobody asked for */
			client_close(w, c, ERR_PROTOCOL);
			return -1;
		}
		off += reply_parse(&c->rp, w->rbuf + off, n - off, &st);
		if (st.len > 0)
			on_data(w, c, st.data, st.len);
		if (st.done == REPLY_BAD) {
			client_close(w, c, ERR_PROTOCOL);
			return -1;
		}
		if (st.done != REPLY_NONE)
			complete(w, c, st.done);
	}
	return 0;
}

void
client_on_read(struct worker *w, struct client *c)
{
	ssize_t n = read(c->fd, w->rbuf, w->rbuf_size);

	if (n <= 0) {
		if (n == 0)
			client_break(w, c, ERR_CLOSED);
		else if (errno != EAGAIN && errno != EINTR)
			client_break(w, c, ERR_IO);
		return;
	}
	w->now = now_ns();
	if (w->now >= w->run->t_warm)
		w->t.bytes_in += (uint64_t)n;
	if (consume(w, c, (size_t)n) == -1)
		return;
	worker_refill(w, c);
	client_flush(w, c);
}
