/*
 * worker: a load-generator thread (see worker.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "dial.h"
#include "worker.h"

#define MAX_EVENTS	512
#define RBUF_SIZE	(256 * 1024)
#define PUBLISH_NS	(NS_PER_S / 5)	/* the live line reads 5 copies/s */
#define LONGEST_WAIT	NS_PER_S
#define CONNECT_BATCH	64	/* connects started between harvests */

int
worker_init(struct worker *w, struct run *run, unsigned id, uint32_t first,
    uint32_t nclients, uint64_t quota)
{
	const struct opts *o = run->o;
	size_t depth = o->pipeline, i;

	memset(w, 0, sizeof(*w));
	w->run = run;
	w->id = id;
	w->first = first;
	w->nclients = nclients;
	w->quota = quota;
	w->rate = o->rate * nclients / o->conns;
	w->ep = -1;
	w->t_retry = NO_TIME;
	w->rbuf_size = RBUF_SIZE;
	w->clients = calloc(nclients, sizeof(*w->clients));
	w->flights = calloc(nclients * depth, sizeof(*w->flights));
	w->obufs = malloc(nclients * depth * REQ_MAX);
	w->rbuf = malloc(w->rbuf_size);
	if (w->clients == NULL || w->flights == NULL || w->obufs == NULL ||
	    w->rbuf == NULL)
		return -1;
	if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		return -1;
	for (i = 0; i < nclients; i++) {
		w->clients[i].fd = -1;
		w->clients[i].idx = (uint32_t)i;
		w->clients[i].state = CL_DEAD;
		w->clients[i].ring = w->flights + i * depth;
		w->clients[i].obuf = w->obufs + i * depth * REQ_MAX;
		reply_init(&w->clients[i].rp, o->proto);
	}
	/* seq: each worker starts at its own share of the keys */
	keygen_init(&w->keys, o->dist, o->theta, run->keys,
	    o->seed * 1000003 + id, run->keys / o->threads * id);
	for (i = 0; run->truth != NULL && i < KEY_AHEAD; i++)
		w->ahead[i] = keygen_next(&w->keys);
	tally_init(&w->t);
	tally_init(&w->shared);
	hist_init(&w->connect);
	pthread_mutex_init(&w->mu, NULL);
	return 0;
}

void
worker_free(struct worker *w)
{
	if (w->ep != -1)
		close(w->ep);
	free(w->clients);
	free(w->flights);
	free(w->obufs);
	free(w->rbuf);
	pthread_mutex_destroy(&w->mu);
}

/* Wait for events until at most `until`; returns how many. */
static int
wait_until(struct worker *w, struct epoll_event *ev, uint64_t until)
{
	uint64_t now = now_ns();
	uint64_t d = until > now ? until - now : 0;
	struct timespec ts = { (time_t)(d / NS_PER_S), (long)(d % NS_PER_S) };
	int n = epoll_pwait2(w->ep, ev, MAX_EVENTS, &ts, NULL);

	w->now = now_ns();
	return n < 0 ? 0 : n;	/* EINTR: look at the clock again */
}

/* Completed connects until `until` (now: only those already done). */
static void
harvest(struct worker *w, uint64_t until)
{
	struct epoll_event ev[MAX_EVENTS];
	int n, k;

	n = wait_until(w, ev, until);
	for (k = 0; k < n; k++)
		client_on_connect(w, ev[k].data.ptr);
}

/*
 * Every connect is started at once; completions are picked up between
 * batches too, so a connect time is not inflated by the time it takes
 * to start the thousands after it.
 */
static void
connect_all(struct worker *w)
{
	const struct run *r = w->run;
	uint64_t deadline = now_ns() +
	    (uint64_t)(r->o->connect_timeout * (double)NS_PER_S);
	uint32_t i;

	for (i = 0; i < w->nclients; i++) {
		client_dial(w, &w->clients[i]);
		if (i % CONNECT_BATCH == CONNECT_BATCH - 1)
			harvest(w, 0);
	}
	while (w->connecting > 0 && now_ns() < deadline)
		harvest(w, deadline);
	for (i = 0; i < w->nclients; i++)
		if (w->clients[i].state == CL_CONNECTING)
			client_close(w, &w->clients[i], ERR_CONNECT_TIMEOUT);
}

static uint64_t
scheduled(const struct worker *w, uint64_t m)
{
	return w->run->t_start + (uint64_t)((double)m * w->period);
}

void
worker_queue_flush(struct worker *w, struct client *c)
{
	if (c->queued)
		return;
	c->queued = 1;
	c->next_flush = w->flush;
	w->flush = c;
}

/*
 * The next key. With --verify, keys are drawn KEY_AHEAD draws before they
 * are sent, in the same order: a key's entry of the offset table is
 * prefetched when it is drawn and its line halfway to its turn, so that
 * checking its answer finds both cached.
 */
static uint64_t
next_key(struct worker *w)
{
	const struct truth *tr = w->run->truth;
	uint32_t i = w->ahead_pos++ & (KEY_AHEAD - 1);
	uint64_t key;

	if (tr == NULL)
		return keygen_next(&w->keys);
	key = w->ahead[i];
	w->ahead[i] = keygen_next(&w->keys);
	truth_prefetch_entry(tr, w->ahead[i]);
	truth_prefetch_line(tr, w->ahead[(i + KEY_AHEAD / 2) &
	    (KEY_AHEAD - 1)]);
	return key;
}

void
worker_refill(struct worker *w, struct client *c)
{
	uint32_t depth = w->run->o->pipeline, before = c->count;
	uint64_t m;

	if (c->state != CL_READY || w->stopping)
		return;
	if (w->rate > 0) {
		while (c->sent_j < c->due_j && c->count < depth &&
		    w->issued < w->quota) {
			m = c->idx + c->sent_j * w->nclients;
			client_push(w, c, next_key(w), scheduled(w, m));
			c->sent_j++;
		}
	} else {
		while (c->count < depth && w->issued < w->quota)
			client_push(w, c, next_key(w), w->now);
	}
	if (c->count != before)
		worker_queue_flush(w, c);
}

void
worker_queue_retry(struct worker *w, struct client *c)
{
	if (!c->on_retry) {
		c->on_retry = 1;
		c->next_retry = w->retry;
		w->retry = c;
		w->retrying++;
	}
	if (c->t_wake < w->t_retry)
		w->t_retry = c->t_wake;
}

/*
 * Redial the clients whose time has come, or give them up; drop those
 * connected again or dead from the list, and note the next wake.
 */
static void
retry_due(struct worker *w)
{
	struct client **pp = &w->retry, *c;

	w->t_retry = NO_TIME;
	while ((c = *pp) != NULL) {
		if (c->state != CL_READY && c->state != CL_DEAD &&
		    w->now >= c->t_wake)
			client_redial(w, c);
		if (c->state == CL_READY || c->state == CL_DEAD) {
			*pp = c->next_retry;
			c->on_retry = 0;
			w->retrying--;
			continue;
		}
		if (c->t_wake < w->t_retry)
			w->t_retry = c->t_wake;
		pp = &c->next_retry;
	}
}

static void
flush_all(struct worker *w)
{
	struct client *c;

	while ((c = w->flush) != NULL) {
		w->flush = c->next_flush;
		c->queued = 0;
		client_flush(w, c);
	}
}

/* Open loop: hand every request now due to its client. */
static void
schedule(struct worker *w)
{
	struct client *c;
	uint64_t t;

	while (w->issued < w->quota) {
		t = scheduled(w, w->m);
		if (t > w->now || t >= w->run->t_end)
			break;
		c = &w->clients[w->m % w->nclients];
		w->m++;
		if (c->state == CL_DEAD)	/* reconnecting: still due */
			continue;
		c->due_j++;
		worker_refill(w, c);
	}
}

static void
publish(struct worker *w, int done)
{
	pthread_mutex_lock(&w->mu);
	memcpy(&w->shared, &w->t, sizeof(w->t));
	w->done = done;
	pthread_mutex_unlock(&w->mu);
	w->next_publish = w->now + PUBLISH_NS;
}

int
worker_snapshot(struct worker *w, struct tally *out)
{
	int done;

	pthread_mutex_lock(&w->mu);
	memcpy(out, &w->shared, sizeof(*out));
	done = w->done;
	pthread_mutex_unlock(&w->mu);
	return done;
}

static uint64_t
min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

static uint64_t
timeout_ns(const struct worker *w)
{
	return (uint64_t)(w->run->o->timeout * (double)NS_PER_S);
}

/* The next moment the loop must look at the clock. */
static uint64_t
next_wake(const struct worker *w)
{
	const struct run *r = w->run;
	uint64_t t = min_u64(w->now + LONGEST_WAIT, w->next_publish);

	t = min_u64(t, r->t_deadline);
	if (!w->stopping) {
		t = min_u64(t, r->t_end);
		if (w->rate > 0)
			t = min_u64(t, scheduled(w, w->m));
	}
	if (w->inflight > 0)
		t = min_u64(t, w->t_progress + timeout_ns(w));
	if (w->retry != NULL)
		t = min_u64(t, w->t_retry);
	return t;
}

/* Whether the load is over (stalls counted). */
static int
check_end(struct worker *w)
{
	const struct run *r = w->run;

	uint32_t i;

	if (atomic_load(&r->stop) || w->now >= r->t_end ||
	    w->issued >= w->quota || (w->alive == 0 && w->retrying == 0))
		w->stopping = 1;
	if (w->stopping && w->inflight == 0)
		return 1;
	if (w->now >= r->t_deadline || (w->inflight > 0 &&
	    w->now - w->t_progress >= timeout_ns(w))) {
		for (i = 0; i < w->nclients; i++)
			client_abandon(w, &w->clients[i]);
		return 1;
	}
	return 0;
}

static void
on_event(struct worker *w, struct client *c, uint32_t events)
{
	if (c->state == CL_CONNECTING) {	/* a reconnect (--retry) */
		client_on_connect(w, c);
		return;
	}
	if (c->state != CL_READY)	/* broke earlier in this batch */
		return;
	if (events & (EPOLLIN | EPOLLERR | EPOLLHUP))
		client_on_read(w, c);
	if (c->state == CL_READY && (events & EPOLLOUT))
		client_flush(w, c);
}

static void
load(struct worker *w)
{
	struct epoll_event ev[MAX_EVENTS];
	uint32_t i;
	int n, k;

	w->now = now_ns();
	w->next_publish = w->now;
	if (w->rate > 0)
		w->period = (double)NS_PER_S / w->rate;
	else
		for (i = 0; i < w->nclients; i++)
			worker_refill(w, &w->clients[i]);
	for (;;) {
		flush_all(w);
		w->now = now_ns();
		if (w->retry != NULL)
			retry_due(w);
		if (check_end(w))
			break;
		if (w->rate > 0 && !w->stopping)
			schedule(w);
		flush_all(w);
		if (w->now >= w->next_publish)
			publish(w, 0);
		n = wait_until(w, ev, next_wake(w));
		for (k = 0; k < n; k++)
			on_event(w, ev[k].data.ptr, ev[k].events);
	}
	for (i = 0; i < w->nclients; i++)
		w->t.behind += w->clients[i].due_j - w->clients[i].sent_j;
}

void *
worker_main(void *arg)
{
	struct worker *w = arg;
	uint32_t i;

	connect_all(w);
	pthread_barrier_wait(w->ready);
	pthread_barrier_wait(w->go);
	if (!atomic_load(&w->run->cancel))
		load(w);
	for (i = 0; i < w->nclients; i++)
		client_close(w, &w->clients[i], ERR_KINDS);
	w->now = now_ns();
	publish(w, 1);
	atomic_fetch_add(&w->run->finished, 1);
	return NULL;
}
