/*
 * server: everything between main() and a connection — listeners, worker
 * threads, accept, timeouts, signals, the graceful stop and STATS.
 */
#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "log.h"
#include "net.h"
#include "notify.h"
#include "proto.h"
#include "server.h"

#define WORKER_OF(ptr, field) \
	((struct worker *)(void *)((char *)(ptr) - offsetof(struct worker, field)))

/* ---- the store ---- */

int
server_init(struct server *s, const struct config *cfg, char *err,
    size_t errlen)
{
	struct store *st;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->started = time(NULL);
	pthread_mutex_init(&s->store_lock, NULL);
	if ((st = store_open(cfg, &s->ctr, 0, 0, err, errlen)) == NULL)
		return -1;
	atomic_store(&s->store, st);
	text_install_guard();
	return 0;
}

void
server_free(struct server *s)
{
	for (unsigned i = 0; s->workers != NULL && i < s->nworkers; i++) {
		struct worker *w = &s->workers[i];
		if (w->lfd >= 0)
			close(w->lfd);
		if (w->loop != NULL)
			ev_loop_destroy(w->loop);
		conn_scratch_free(&w->scratch);
		store_release(w->store);
	}
	free(s->workers);
	store_release(atomic_load(&s->store));
	pthread_mutex_destroy(&s->store_lock);
}

void
worker_refresh(struct worker *w)
{
	struct server *s = w->srv;
	struct store *old = w->store;

	/* Under the lock, the current store cannot be released under us. */
	pthread_mutex_lock(&s->store_lock);
	w->store = atomic_load(&s->store);
	store_hold(w->store);
	pthread_mutex_unlock(&s->store_lock);
	store_release(old);
}

struct store *
server_swap_store(struct server *s, struct store *st)
{
	struct store *old;

	pthread_mutex_lock(&s->store_lock);
	old = atomic_load(&s->store);
	atomic_store_explicit(&s->store, st, memory_order_release);
	pthread_mutex_unlock(&s->store_lock);
	for (unsigned i = 0; i < s->nworkers; i++)
		ev_async_send(s->workers[i].loop, &s->workers[i].refresh);
	return old;
}

/* ---- listening ---- */

/* Raise the open-file limit as far as allowed, then at most as many
 * connections as descriptors allow, with a warning. */
static void
cap_connections(struct server *s)
{
	uint64_t limit = net_raise_nofile(), avail;

	s->max_connections = s->cfg->max_connections;
	if (limit == 0)
		return;
	avail = limit > FD_RESERVE + 4 * s->nworkers ?
	    limit - FD_RESERVE - 4 * s->nworkers : 1;
	if (s->max_connections > avail) {
		log_warn("max_connections %u lowered to %llu: the open-file "
		    "limit is %llu", s->max_connections,
		    (unsigned long long)avail, (unsigned long long)limit);
		s->max_connections = (unsigned)avail;
	}
}

static unsigned
worker_count(const struct config *cfg)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->workers > 0)
		return cfg->workers;
	return n < 1 ? 1 : n > CONFIG_WORKERS_MAX ? CONFIG_WORKERS_MAX :
	    (unsigned)n;
}

/* The port is claimed first (see net_claim_port), then every worker's
 * listener shares it. */
static int
listen_all(struct server *s, char *err, size_t errlen)
{
	const struct config *cfg = s->cfg;
	struct sockaddr_storage ss;
	socklen_t len;
	char why[256];

	if (net_resolve(cfg->bind, cfg->port, &ss, &len, why,
	    sizeof(why)) < 0) {
		snprintf(err, errlen, "bind address %s: %s", cfg->bind, why);
		return -1;
	}
	if (net_claim_port(&ss, &len, why, sizeof(why)) < 0) {
		snprintf(err, errlen, "cannot bind %s port %u: %s", cfg->bind,
		    cfg->port, why);
		return -1;
	}
	for (unsigned i = 0; i < s->nworkers; i++) {
		s->workers[i].lfd = net_listen(&ss, len, (int)cfg->backlog,
		    why, sizeof(why));
		if (s->workers[i].lfd < 0) {
			snprintf(err, errlen, "cannot listen on %s port %u: %s",
			    cfg->bind, cfg->port, why);
			return -1;
		}
	}
	net_format_addr(&ss, s->addr_str, sizeof(s->addr_str));
	return 0;
}

int
server_listen(struct server *s, char *err, size_t errlen)
{
	s->nworkers = worker_count(s->cfg);
	if ((s->workers = calloc(s->nworkers, sizeof(*s->workers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < s->nworkers; i++)
		s->workers[i].lfd = -1;
	if (listen_all(s, err, errlen) < 0)
		return -1;
	cap_connections(s);
	return 0;
}

/* ---- privileges ---- */

/*
 * The log file was opened as root: can the user reopen it on SIGHUP? Asked
 * with the user's groups and gid already, and its uid as the effective one
 * for a moment (root comes back until setuid). Only a warning: the open
 * descriptor serves until the first rotation.
 */
static void
check_log_reopen(const struct passwd *pw)
{
	char why[CONFIG_PATH_MAX + 256];
	int rc;

	if (seteuid(pw->pw_uid) < 0)
		return;
	rc = log_reopen_check(why, sizeof(why));
	if (seteuid(0) < 0)
		return; /* the setuid that follows fails, or is caught */
	if (rc < 0)
		log_warn("user %s %s: SIGHUP will not be able to reopen the "
		    "log file", pw->pw_name, why);
}

/* Groups, then gid, then uid; and check that root cannot come back. */
static int
drop_privileges(const char *user, char *err, size_t errlen)
{
	struct passwd *pw;

	if (user[0] == '\0')
		return 0;
	if (geteuid() != 0) {
		log_warn("not started as root: ignoring user = %s", user);
		return 0;
	}
	if ((pw = getpwnam(user)) == NULL) {
		snprintf(err, errlen, "user %s: no such user", user);
		return -1;
	}
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0) {
		snprintf(err, errlen, "dropping privileges to %s: %s", user,
		    strerror(errno));
		return -1;
	}
	check_log_reopen(pw);
	if (setuid(pw->pw_uid) < 0) {
		snprintf(err, errlen, "dropping privileges to %s: %s", user,
		    strerror(errno));
		return -1;
	}
	if (pw->pw_uid != 0 && setuid(0) == 0) {
		snprintf(err, errlen, "dropping privileges to %s: root "
		    "privileges could be regained", user);
		return -1;
	}
	log_info("running as user %s", user);
	return 0;
}

/* ---- accept ---- */

/* Over the limit: one ERR, and close without leaving a reset behind. */
static void
reject(struct worker *w, int fd)
{
	char sink[1024];
	ssize_t n;

	atomic_fetch_add(&w->srv->conns_rejected, 1);
	stat_bump(&w->st.requests_err);
	/* The peer may be gone. */
	if ((n = write(fd, PROTO_ERR, sizeof(PROTO_ERR) - 1)) > 0)
		stat_add(&w->st.bytes_written, (uint64_t)n);
	shutdown(fd, SHUT_WR);
	while ((n = read(fd, sink, sizeof(sink))) > 0)
		stat_add(&w->st.bytes_read, (uint64_t)n);
	close(fd);
}

static struct log_limit emfile_limit;

static void
accept_pause(struct worker *w)
{
	log_limited(&emfile_limit, LOG_WARN, "out of file descriptors: "
	    "pausing accept for %.1f s", ACCEPT_PAUSE_S);
	ev_io_stop(w->loop, &w->accept_w);
	ev_timer_set(&w->accept_pause, ACCEPT_PAUSE_S, 0);
	ev_timer_start(w->loop, &w->accept_pause);
}

static void
on_accept_resume(EV_P_ ev_timer *t, int revents)
{
	struct worker *w = WORKER_OF(t, accept_pause);

	(void)revents;
	if (w->lfd >= 0)
		ev_io_start(loop, &w->accept_w);
}

static void
accept_one(struct worker *w, int fd, const struct sockaddr_storage *ss)
{
	struct server *s = w->srv;
	int one = 1;

	atomic_fetch_add(&s->conns_total, 1);
	if (atomic_fetch_add(&s->conns_current, 1) >= s->max_connections) {
		atomic_fetch_sub(&s->conns_current, 1);
		reject(w, fd);
		return;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	conn_new(w, fd, ss);
}

/* Accept up to n connections; returns -1 when out of descriptors. */
static int
accept_some(struct worker *w, int n)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fd;

	while (n-- > 0) {
		len = sizeof(ss);
		fd = accept4(w->lfd, (struct sockaddr *)&ss, &len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0) {
			accept_one(w, fd, &ss);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE)
			return -1;
		if (errno != EAGAIN)
			log_warn("accept: %s", strerror(errno));
		break;
	}
	return 0;
}

static void
on_accept(EV_P_ ev_io *io, int revents)
{
	struct worker *w = WORKER_OF(io, accept_w);

	(void)loop;
	(void)revents;
	if (accept_some(w, ACCEPTS_PER_EVENT) < 0)
		accept_pause(w);
}

/* ---- timeouts ---- */

/*
 * Every connection shares one idle timeout, so a list kept in order of
 * last activity has the next one to expire at its head: one timer per
 * worker, O(1) work per request (libev manual, "Be smart about timeouts").
 */
static void
sweep(struct worker *w, struct conn_list *l, ev_timer *t, double timeout)
{
	ev_tstamp now = ev_now(w->loop);
	struct conn *c;

	while ((c = l->head) != NULL && c->last + timeout <= now) {
		if (l == &w->active && conn_busy_writing(c))
			conn_list_touch(l, c, now); /* not idle */
		else if (l == &w->active && conn_recheck_input(c))
			break; /* a read comes first; swept again after it */
		else
			conn_close(c, "timed out");
		if (l->head == c)
			break;
	}
	t->repeat = l->head != NULL ? l->head->last + timeout - now : timeout;
	if (l->head != NULL && l->head->idle_checked)
		t->repeat = 0; /* right after the read it asked for */
	if (t->repeat < 0.001)
		t->repeat = 0.001;
	ev_timer_again(w->loop, t);
}

static void
on_idle(EV_P_ ev_timer *t, int revents)
{
	struct worker *w = WORKER_OF(t, idle_w);

	(void)loop;
	(void)revents;
	sweep(w, &w->active, t, w->srv->cfg->idle_timeout);
}

static void
on_linger(EV_P_ ev_timer *t, int revents)
{
	struct worker *w = WORKER_OF(t, linger_w);

	(void)loop;
	(void)revents;
	sweep(w, &w->linger, t, LINGER_S);
}

/* ---- graceful stop ---- */

static void
close_all(struct worker *w, const char *why)
{
	while (w->linger.head != NULL)
		conn_close(w->linger.head, why);
	while (w->active.head != NULL)
		conn_close(w->active.head, why);
}

static void
on_drain_timeout(EV_P_ ev_timer *t, int revents)
{
	struct worker *w = WORKER_OF(t, drain_w);

	(void)revents;
	if (w->nconns > 0)
		log_warn("drain_timeout: closing %u connections", w->nconns);
	close_all(w, "drain timeout");
	ev_break(loop, EVBREAK_ONE);
}

/*
 * Stop accepting (taking in what already waits in the backlog first), then
 * let every connection answer what it holds and close.
 */
static void
on_wake(EV_P_ ev_async *a, int revents)
{
	struct worker *w = WORKER_OF(a, wake);
	struct conn *c, *next;

	(void)revents;
	w->draining = 1;
	if (w->lfd >= 0) {
		ev_io_stop(loop, &w->accept_w);
		ev_timer_stop(loop, &w->accept_pause);
		accept_some(w, 1 << 20);
		close(w->lfd);
		w->lfd = -1;
	}
	for (c = w->active.head; c != NULL; c = next) {
		next = c->next;
		conn_drain(c);
	}
	if (w->nconns == 0) {
		ev_break(loop, EVBREAK_ONE);
		return;
	}
	ev_timer_set(&w->drain_w, w->srv->cfg->drain_timeout, 0);
	ev_timer_start(loop, &w->drain_w);
}

/* ---- workers ---- */

static void
on_refresh(EV_P_ ev_async *a, int revents)
{
	struct worker *w = WORKER_OF(a, refresh);

	(void)loop;
	(void)revents;
	(void)worker_store(w);
}

static void
on_turn_end(EV_P_ ev_prepare *p, int revents)
{
	(void)loop;
	(void)revents;
	conn_answer_deferred(WORKER_OF(p, turn_end));
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	ev_run(w->loop, 0);
	close_all(w, "stopped");
	return NULL;
}

static int
worker_init(struct server *s, struct worker *w, unsigned id)
{
	w->srv = s;
	w->id = id;
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (conn_scratch_init(&w->scratch, s->cfg->max_request) < 0 ||
	    w->loop == NULL)
		return -1;
	ev_io_init(&w->accept_w, on_accept, w->lfd, EV_READ);
	ev_io_start(w->loop, &w->accept_w);
	ev_init(&w->accept_pause, on_accept_resume);
	ev_async_init(&w->wake, on_wake);
	ev_async_start(w->loop, &w->wake);
	ev_async_init(&w->refresh, on_refresh);
	ev_async_start(w->loop, &w->refresh);
	ev_prepare_init(&w->turn_end, on_turn_end); /* started by conn.c */
	worker_refresh(w);
	ev_init(&w->drain_w, on_drain_timeout);
	ev_init(&w->linger_w, on_linger);
	w->linger_w.repeat = LINGER_S;
	ev_timer_again(w->loop, &w->linger_w);
	ev_init(&w->idle_w, on_idle);
	/*
	 * libev runs higher priorities first among the watchers pending in
	 * one loop iteration. After a stall (SIGSTOP, a slow disk), input
	 * that arrived in time and the expired idle timer are pending
	 * together: the reads must come first, or a connection whose request
	 * waits in the kernel would be closed as idle.
	 */
	ev_set_priority(&w->idle_w, EV_MINPRI);
	if (s->cfg->idle_timeout > 0) {
		w->idle_w.repeat = s->cfg->idle_timeout;
		ev_timer_again(w->loop, &w->idle_w);
	}
	return 0;
}

/* ---- the main thread: signals and the stop ---- */

void
server_request_stop(struct server *s)
{
	atomic_store(&s->stopping, 1);
	ev_async_send(s->main_loop, &s->stop_req);
}

static void
on_stop_req(EV_P_ ev_async *a, int revents)
{
	(void)a;
	(void)revents;
	ev_break(loop, EVBREAK_ALL);
}

static void
on_signal(EV_P_ ev_signal *sig, int revents)
{
	struct server *s = sig->data;

	(void)revents;
	if (sig->signum == SIGHUP) {
		char err[CONFIG_PATH_MAX + 128];

		if (log_reopen(err, sizeof(err)) < 0)
			log_error("SIGHUP: cannot reopen the log file %s; still "
			    "writing to the one open before", err);
		else
			log_info("SIGHUP: log file reopened");
		return;
	}
	log_info("signal %d: shutting down", sig->signum);
	atomic_store(&s->stopping, 1);
	ev_break(loop, EVBREAK_ALL);
}

static void
watch_signal(struct server *s, ev_signal *w, int signum)
{
	ev_signal_init(w, on_signal, signum);
	w->data = s;
	ev_signal_start(s->main_loop, w);
}

/*
 * Start the workers with the signals the main thread handles blocked.
 * Returns how many run; fewer than nworkers means a failure (logged).
 */
static unsigned
start_workers(struct server *s)
{
	sigset_t block, old;
	unsigned i;

	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (i = 0; i < s->nworkers; i++) {
		if (worker_init(s, &s->workers[i], i) < 0 ||
		    pthread_create(&s->workers[i].thread, NULL, worker_main,
		    &s->workers[i]) != 0) {
			log_startup_error("cannot start worker %u", i);
			break;
		}
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return i;
}

/* Ask the first n workers to drain, and wait for them. */
static void
stop_workers(struct server *s, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		ev_async_send(s->workers[i].loop, &s->workers[i].wake);
	for (unsigned i = 0; i < n; i++)
		pthread_join(s->workers[i].thread, NULL);
}

int
server_run(struct server *s)
{
	char err[512];
	unsigned started;

	s->main_loop = ev_default_loop(EVFLAG_AUTO);
	ev_async_init(&s->stop_req, on_stop_req);
	ev_async_start(s->main_loop, &s->stop_req);
	watch_signal(s, &s->sig_term, SIGTERM);
	watch_signal(s, &s->sig_int, SIGINT);
	watch_signal(s, &s->sig_hup, SIGHUP);
	signal(SIGPIPE, SIG_IGN);
	if (drop_privileges(s->cfg->user, err, sizeof(err)) < 0) {
		log_startup_error("%s", err);
		return -1;
	}
	if ((started = start_workers(s)) < s->nworkers) {
		stop_workers(s, started);
		return -1;
	}
	log_always("listening on %s (%u worker%s, %llu lines, file %s)",
	    s->addr_str, s->nworkers, s->nworkers == 1 ? "" : "s",
	    (unsigned long long)atomic_load(&s->store)->lines, s->cfg->file);
	notify_serving(s->cfg->file, atomic_load(&s->store)->lines,
	    s->addr_str);
	reindex_start(&s->reindex, s);
	if (!atomic_load(&s->stopping))
		ev_run(s->main_loop, 0);
	notify_stopping();
	reindex_stop(&s->reindex);
	stop_workers(s, started);
	log_info("stopped");
	return 0;
}

/* ---- STATS ---- */

/* The workers' counters, summed. */
struct totals {
	uint64_t get, err, bytes_in, bytes_out, hits, misses;
};

static uint64_t
relaxed(const _Atomic uint64_t *counter)
{
	return atomic_load_explicit(counter, memory_order_relaxed);
}

static void
sum_workers(const struct server *s, struct totals *t)
{
	memset(t, 0, sizeof(*t));
	for (unsigned i = 0; i < s->nworkers; i++) {
		const struct worker_stats *ws = &s->workers[i].st;

		t->get += relaxed(&ws->requests_get);
		t->err += relaxed(&ws->requests_err);
		t->bytes_in += relaxed(&ws->bytes_read);
		t->bytes_out += relaxed(&ws->bytes_written);
		t->hits += relaxed(&ws->lookups.hits);
		t->misses += relaxed(&ws->lookups.misses);
	}
}

size_t
server_stats(struct server *s, const struct store *st, char *buf, size_t cap)
{
	struct store_cache_stats cs;
	struct totals t;
	size_t n;

	sum_workers(s, &t);
	store_cache_stats(st, &cs);
	n = (size_t)snprintf(buf, cap,
	    "OK\r\n"
	    "uptime_s %lld\r\nlines %llu\r\nfile_bytes %llu\r\n"
	    "connections_current %u\r\nconnections_total %llu\r\n"
	    "connections_rejected %llu\r\nrequests_get %llu\r\n"
	    "requests_err %llu\r\ncache_hits %llu\r\ncache_misses %llu\r\n"
	    "cache_evictions %llu\r\ncache_pages %llu\r\ncache_bytes %llu\r\n"
	    "cache_capacity_bytes %llu\r\nindex_errors %llu\r\n"
	    "file_changes %llu\r\nlines_checked_bad %llu\r\n"
	    "line_checksums %d\r\n"
	    "lines_per_page %u\r\nworkers %u\r\nmax_connections %u\r\n"
	    "pid %ld\r\nbytes_read %llu\r\nbytes_written %llu\r\n"
	    "END\r\n",
	    (long long)(time(NULL) - s->started), (unsigned long long)st->lines,
	    (unsigned long long)st->text.size,
	    atomic_load(&s->conns_current),
	    (unsigned long long)atomic_load(&s->conns_total),
	    (unsigned long long)atomic_load(&s->conns_rejected),
	    (unsigned long long)t.get, (unsigned long long)t.err,
	    (unsigned long long)t.hits, (unsigned long long)t.misses,
	    (unsigned long long)cs.evictions, (unsigned long long)cs.pages,
	    (unsigned long long)cs.bytes, (unsigned long long)cs.capacity,
	    (unsigned long long)atomic_load(&s->ctr.index_errors),
	    (unsigned long long)atomic_load(&s->ctr.file_changes),
	    (unsigned long long)atomic_load(&s->ctr.lines_checked_bad),
	    st->line_crc, st->idx.h.lines_per_page, s->nworkers,
	    s->max_connections, (long)getpid(),
	    (unsigned long long)t.bytes_in, (unsigned long long)t.bytes_out);
	return n < cap ? n : cap - 1;
}
