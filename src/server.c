/*
 * server: everything between main() and a connection — the shared text,
 * index and cache, listeners, worker threads, accept, timeouts, signals,
 * the graceful stop and STATS.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "log.h"
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
		free(w->rbuf);
		free(w->obuf);
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

/* ---- listening ---- */

static int
resolve(const struct config *cfg, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	struct addrinfo hints, *res;
	char port[16];
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICHOST | AI_NUMERICSERV;
	snprintf(port, sizeof(port), "%u", cfg->port);
	if ((rc = getaddrinfo(cfg->bind, port, &hints, &res)) != 0) {
		snprintf(err, errlen, "bind address %s: %s", cfg->bind,
		    gai_strerror(rc));
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

static int
listen_socket(const struct sockaddr_storage *ss, socklen_t len, int reuseport,
    int backlog)
{
	int one = 1, fd;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* An IPv6 socket stays dual-stack (the Linux default), so "::"
	 * serves IPv4 clients too, as IPv4-mapped addresses. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    (backlog > 0 && listen(fd, backlog) < 0)) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

static void
format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, outlen, "%s:%u", host, port);
	} else {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", host, port);
	}
}

/*
 * SO_REUSEPORT would let us share a port with another running server and
 * silently split its traffic. A plain bind first proves the port is free
 * (and, for port 0, picks it); the workers' sockets then take it over.
 */
static int
claim_port(struct server *s, struct sockaddr_storage *ss, socklen_t *len,
    char *err, size_t errlen)
{
	int probe = listen_socket(ss, *len, 0, 0);

	if (probe < 0) {
		snprintf(err, errlen, "cannot bind %s port %u: %s", s->cfg->bind,
		    s->cfg->port, strerror(errno));
		return -1;
	}
	getsockname(probe, (struct sockaddr *)ss, len);
	close(probe);
	return 0;
}

/* At most as many connections as descriptors allow, with a warning. */
static void
cap_connections(struct server *s)
{
	struct rlimit rl;
	rlim_t avail;

	s->max_connections = s->cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	avail = rl.rlim_cur > FD_RESERVE + 4 * s->nworkers ?
	    rl.rlim_cur - FD_RESERVE - 4 * s->nworkers : 1;
	if (s->max_connections > avail) {
		log_warn("max_connections %u lowered to %llu: the open-file "
		    "limit is %llu", s->max_connections,
		    (unsigned long long)avail, (unsigned long long)rl.rlim_cur);
		s->max_connections = (unsigned)avail;
	}
}

static unsigned
worker_count(const struct config *cfg)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (cfg->workers > 0)
		return cfg->workers;
	return n < 1 ? 1 : n > 256 ? 256 : (unsigned)n;
}

int
server_listen(struct server *s, char *err, size_t errlen)
{
	struct sockaddr_storage ss;
	socklen_t len;

	s->nworkers = worker_count(s->cfg);
	if ((s->workers = calloc(s->nworkers, sizeof(*s->workers))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < s->nworkers; i++)
		s->workers[i].lfd = -1;
	if (resolve(s->cfg, &ss, &len, err, errlen) < 0 ||
	    claim_port(s, &ss, &len, err, errlen) < 0)
		return -1;
	for (unsigned i = 0; i < s->nworkers; i++) {
		s->workers[i].lfd = listen_socket(&ss, len, 1,
		    (int)s->cfg->backlog);
		if (s->workers[i].lfd < 0) {
			snprintf(err, errlen, "cannot listen on %s port %u: %s",
			    s->cfg->bind, s->cfg->port, strerror(errno));
			return -1;
		}
	}
	format_addr(&ss, s->addr_str, sizeof(s->addr_str));
	cap_connections(s);
	return 0;
}

/* ---- privileges ---- */

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
	if (setgroups(1, &pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
	    setuid(pw->pw_uid) < 0) {
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

	atomic_fetch_add(&w->srv->conns_rejected, 1);
	stat_bump(&w->st.requests_err);
	if (write(fd, "ERR\r\n", 5) < 0) {
		/* the peer may already be gone */
	}
	shutdown(fd, SHUT_WR);
	while (read(fd, sink, sizeof(sink)) > 0)
		;
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
	conn_new(w, fd, addr_is_loopback(ss));
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
	if (l->head != NULL && (l->head->flags & C_IDLE_CHECK))
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
	w->rbuf_size = s->cfg->max_request > RBUF_MIN ? s->cfg->max_request :
	    RBUF_MIN;
	w->rbuf = malloc(w->rbuf_size);
	w->obuf = malloc(OBUF_SIZE);
	w->loop = ev_loop_new(EVFLAG_AUTO | EVFLAG_NOSIGMASK);
	if (w->rbuf == NULL || w->obuf == NULL || w->loop == NULL)
		return -1;
	ev_io_init(&w->accept_w, on_accept, w->lfd, EV_READ);
	ev_io_start(w->loop, &w->accept_w);
	ev_init(&w->accept_pause, on_accept_resume);
	ev_async_init(&w->wake, on_wake);
	ev_async_start(w->loop, &w->wake);
	ev_async_init(&w->refresh, on_refresh);
	ev_async_start(w->loop, &w->refresh);
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

/* ---- files that change (main thread) ---- */

/* Log and count a change once; from then on every GET of st is ERR. */
static void
mark_changed(struct server *s, struct store *st, const char *why)
{
	if (atomic_exchange(&st->changed, 1))
		return;
	atomic_fetch_add(&s->ctr.file_changes, 1);
	log_warn("%s: answering ERR to every GET %s", why,
	    s->cfg->build == BUILD_AUTO ? "until it is re-indexed" :
	    "until restart (build = never)");
	s->quiet_since = ev_now(s->main_loop);
}

/*
 * The builder thread: a whole new store, its index built from the text as
 * it is now. Its pages are never the old index's: a changed or damaged
 * index is not to be trusted, even where its header still checks out.
 */
static void *
builder_main(void *arg)
{
	struct server *s = arg;
	const struct store *cur = atomic_load(&s->store);

	s->built_store = store_open(s->cfg, &s->ctr,
	    cur->idx.h.lines_per_page, 1, s->job_err, sizeof(s->job_err));
	ev_async_send(s->main_loop, &s->job_done);
	return NULL;
}

/*
 * The verifier thread: the text's link count moved (a rename or a link),
 * which could hide a write; read the served text to tell.
 */
static void *
verifier_main(void *arg)
{
	struct server *s = arg;

	s->verified_changed = store_verify_text(atomic_load(&s->store),
	    s->job_err, sizeof(s->job_err)) == STORE_CHANGED;
	ev_async_send(s->main_loop, &s->job_done);
	return NULL;
}

/* Run a build (verify = 0) or a verification in the background. */
static void
start_job(struct server *s, int verify)
{
	s->built_store = NULL;
	s->verified_changed = 0;
	if (pthread_create(&s->builder, NULL, verify ? verifier_main :
	    builder_main, s) != 0) {
		log_error("cannot start a background %s: %s", verify ?
		    "check" : "re-index", strerror(errno));
		s->next_build = ev_now(s->main_loop) + REINDEX_RETRY_S;
		return;
	}
	s->building = 1;
	s->verifying = verify;
}

/*
 * A replaced store stays referenced here until no worker or answer uses
 * it, and is freed on this thread: unmapping a large text and cache takes
 * long enough that a worker should not pay it between two requests.
 */
static void
retire(struct server *s, struct store *old)
{
	if (s->nretired == sizeof(s->retired) / sizeof(s->retired[0])) {
		store_release(s->retired[0]); /* four swaps in a second: rare */
		memmove(s->retired, s->retired + 1,
		    --s->nretired * sizeof(s->retired[0]));
	}
	s->retired[s->nretired++] = old;
}

/* Free the retired stores that only this thread still holds. */
static void
reap_retired(struct server *s)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < s->nretired; i++) {
		if (atomic_load(&s->retired[i]->refs) == 1)
			store_release(s->retired[i]);
		else
			s->retired[kept++] = s->retired[i];
	}
	s->nretired = kept;
}

/* Make st the store every worker answers from; the old one goes when its
 * last answer is done. */
static void
publish(struct server *s, struct store *st)
{
	struct store *old;

	pthread_mutex_lock(&s->store_lock);
	old = atomic_load(&s->store);
	atomic_store_explicit(&s->store, st, memory_order_release);
	pthread_mutex_unlock(&s->store_lock);
	retire(s, old);
	watch_files(&s->watch, st->text_path, store_index_path(st));
	for (unsigned i = 0; i < s->nworkers; i++)
		ev_async_send(s->workers[i].loop, &s->workers[i].refresh);
	log_warn("re-indexed %s: serving its %llu lines again", st->text_path,
	    (unsigned long long)st->lines);
}

static void
on_job_done(EV_P_ ev_async *a, int revents)
{
	struct server *s = a->data;

	(void)revents;
	pthread_join(s->builder, NULL);
	s->building = 0;
	if (s->verifying) {
		s->verifying = 0;
		if (s->verified_changed && !atomic_load(&atomic_load(
		    &s->store)->changed))
			mark_changed(s, atomic_load(&s->store), s->job_err);
		return;
	}
	if (s->built_store != NULL) {
		publish(s, s->built_store);
		s->built_store = NULL;
		return;
	}
	log_warn("re-indexing failed: %s; trying again in %.0f s",
	    s->job_err, REINDEX_RETRY_S);
	s->next_build = ev_now(loop) + REINDEX_RETRY_S;
}

/* Has what the text path names moved since the last look? For the
 * filesystems that send no events. */
static int
path_moved(struct server *s)
{
	struct stat sb;
	int moved;

	if (stat(s->cfg->file, &sb) < 0)
		memset(&sb, 0, sizeof(sb));
	moved = sb.st_size != s->last_seen.st_size ||
	    sb.st_ino != s->last_seen.st_ino ||
	    sb.st_mtim.tv_sec != s->last_seen.st_mtim.tv_sec ||
	    sb.st_mtim.tv_nsec != s->last_seen.st_mtim.tv_nsec ||
	    sb.st_ctim.tv_sec != s->last_seen.st_ctim.tv_sec ||
	    sb.st_ctim.tv_nsec != s->last_seen.st_ctim.tv_nsec;
	s->last_seen = sb;
	return moved;
}

/*
 * On every file event and every tick: notice in-place changes, and under
 * build = auto re-index once the files have been quiet for QUIET_S (a
 * copy in progress is not indexed half-way), or at once when pages could
 * not be repaired on the spot.
 */
static void
on_files(struct watch *wt, int from_event)
{
	struct server *s = wt->arg;
	struct store *st = atomic_load(&s->store);
	ev_tstamp now = ev_now(s->main_loop);
	char why[600];

	reap_retired(s);
	if (!atomic_load(&st->changed))
		switch (store_files_changed(st, why, sizeof(why))) {
		case STORE_CHANGED:
			mark_changed(s, st, why);
			break;
		case STORE_RELINKED:
			s->verify_pending = 1;
			break;
		}
	if (from_event || path_moved(s))
		s->quiet_since = now;
	if (s->verify_pending && !s->building && !atomic_load(&st->changed)) {
		s->verify_pending = 0;
		start_job(s, 1);
		return;
	}
	if (s->cfg->build != BUILD_AUTO || s->building || now < s->next_build)
		return;
	if (atomic_load(&st->changed) ? now - s->quiet_since >= QUIET_S :
	    atomic_load(&st->damaged))
		start_job(s, 0);
}

static void
watch_start_files(struct server *s)
{
	struct store *st = atomic_load(&s->store);

	ev_async_init(&s->job_done, on_job_done);
	s->job_done.data = s;
	ev_async_start(s->main_loop, &s->job_done);
	watch_start(&s->watch, s->main_loop, on_files, s);
	watch_files(&s->watch, st->text_path, store_index_path(st));
}

/* The server stops: cancel a build under way (and wait for it), and drop
 * the retired stores (the workers free what they still hold). */
static void
stop_build(struct server *s)
{
	watch_stop(&s->watch);
	while (s->nretired > 0)
		store_release(s->retired[--s->nretired]);
	if (!s->building)
		return;
	index_build_cancel();
	pthread_join(s->builder, NULL);
	store_release(s->built_store);
	s->building = 0;
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
		if (log_reopen() < 0)
			log_error("SIGHUP: cannot reopen the log file");
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
			log_error("cannot start worker %u", i);
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
		log_error("%s", err);
		return -1;
	}
	if ((started = start_workers(s)) < s->nworkers) {
		stop_workers(s, started);
		return -1;
	}
	log_always("listening on %s (%u workers, %llu lines, file %s)",
	    s->addr_str, s->nworkers,
	    (unsigned long long)atomic_load(&s->store)->lines, s->cfg->file);
	watch_start_files(s);
	if (!atomic_load(&s->stopping))
		ev_run(s->main_loop, 0);
	stop_build(s);
	stop_workers(s, started);
	log_info("stopped");
	return 0;
}

/* ---- STATS ---- */

size_t
server_stats(struct server *s, const struct store *st, char *buf, size_t cap)
{
	struct cache_stats cs;
	uint64_t get = 0, err = 0;
	size_t n;

	for (unsigned i = 0; i < s->nworkers; i++) {
		get += atomic_load_explicit(&s->workers[i].st.requests_get,
		    memory_order_relaxed);
		err += atomic_load_explicit(&s->workers[i].st.requests_err,
		    memory_order_relaxed);
	}
	cache_get_stats(st->cache, &cs);
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
	    "END\r\n",
	    (long long)(time(NULL) - s->started), (unsigned long long)st->lines,
	    (unsigned long long)st->text.size,
	    atomic_load(&s->conns_current),
	    (unsigned long long)atomic_load(&s->conns_total),
	    (unsigned long long)atomic_load(&s->conns_rejected),
	    (unsigned long long)get, (unsigned long long)err,
	    (unsigned long long)cs.hits, (unsigned long long)cs.misses,
	    (unsigned long long)cs.evictions, (unsigned long long)cs.pages,
	    (unsigned long long)cs.bytes, (unsigned long long)cs.capacity,
	    (unsigned long long)atomic_load(&s->ctr.index_errors),
	    (unsigned long long)atomic_load(&s->ctr.file_changes),
	    (unsigned long long)atomic_load(&s->ctr.lines_checked_bad),
	    st->line_crc, st->idx.h.lines_per_page, s->nworkers,
	    s->max_connections);
	return n < cap ? n : cap - 1;
}
