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
#include <time.h>
#include <unistd.h>

#include "addr.h"
#include "conn.h"
#include "log.h"
#include "server.h"

#define WORKER_OF(ptr, field) \
	((struct worker *)(void *)((char *)(ptr) - offsetof(struct worker, field)))

/* ---- text, index, cache ---- */

/* A corrupt page, recomputed from the text and encoded like the rest. */
static int
rebuild_page(struct server *s, uint64_t page, void *body)
{
	char err[512];

	if (index_rebuild_body(&s->idx, s->text.fd, page, body, UINT64_MAX,
	    err, sizeof(err)) != INDEX_OK) {
		log_error("%s", err);
		return -1;
	}
	return 0;
}

/*
 * Fetch page's body and trailer: copied from the index's mapping, which
 * costs no system call, or read with one preadv when it is not mapped.
 */
static enum index_status
fetch_body(const struct server *s, uint64_t page, uint64_t *body, char *err,
    size_t errlen)
{
	uint64_t off = index_page_offset(&s->idx, page);
	size_t n = index_body_bytes(&s->idx);
	unsigned char trailer[8];

	if (s->idx_file.map == NULL)
		return index_read_body(&s->idx, page, body, err, errlen);
	if (text_copy(&s->idx_file, body, off, n) < 0 ||
	    text_copy(&s->idx_file, trailer, off + n, sizeof(trailer)) < 0) {
		snprintf(err, errlen, "%.400s: reading page %llu: file cut short",
		    s->idx.path, (unsigned long long)page);
		return INDEX_ERR_IO;
	}
	return index_check_body(&s->idx, page, body, trailer, err, errlen);
}

/*
 * The cache's loader: fetch and verify a page body, rebuild it if corrupt.
 * The cache keeps bodies as stored (4 bytes a line in a compact index),
 * which doubles what a given cache.size holds against decoded offsets.
 */
static int
load_page(void *arg, uint64_t page, uint64_t *body)
{
	struct server *s = arg;
	char err[512];

	if (fetch_body(s, page, body, err, sizeof(err)) == INDEX_OK)
		return 0;
	atomic_fetch_add(&s->index_errors, 1);
	log_warn("%s; rebuilding the page from the text file", err);
	return rebuild_page(s, page, body);
}

static void
read_slot(void *arg, const uint64_t *body, size_t slot, uint64_t *a,
    uint64_t *b)
{
	const struct server *s = arg;

	struct index_line l;

	index_body_line(&s->idx.h, body, slot, &l);
	*a = l.off;
	*b = l.end;
}

static enum index_status
open_index(struct server *s, const char *path, char *err, size_t errlen)
{
	return index_open(&s->idx, path, s->text.fd, s->cfg->lines_per_page,
	    -1, err, errlen);
}

/* Open the index, building it first when allowed and needed. */
static int
prepare_index(struct server *s, const char *path, char *err, size_t errlen)
{
	char why[512];
	struct index_summary sum;
	enum index_status st = open_index(s, path, why, sizeof(why));

	if (st == INDEX_OK)
		return 0;
	if (st == INDEX_ERR_IO) {
		snprintf(err, errlen, "%s", why);
		return -1;
	}
	if (s->cfg->build == BUILD_NEVER) {
		snprintf(err, errlen, "index unusable (build = never): %s", why);
		return -1;
	}
	log_info("building index %s: %s", path, why);
	struct index_build_opts bo = { .m = s->cfg->lines_per_page,
	    .line_crc = 1 };
	if (index_build(s->cfg->file, path, &bo, &sum, err, errlen) != INDEX_OK)
		return -1;
	log_info("index built: %llu lines in %.2f s",
	    (unsigned long long)sum.lines, sum.seconds);
	return open_index(s, path, err, errlen) == INDEX_OK ? 0 : -1;
}

int
server_init(struct server *s, const struct config *cfg, char *err,
    size_t errlen)
{
	char path[CONFIG_PATH_MAX + 8];
	unsigned m = cfg->lines_per_page;

	memset(s, 0, sizeof(*s));
	s->cfg = cfg;
	s->idx.fd = -1;
	s->idx_file.fd = -1;
	s->started = time(NULL);
	if (text_open(&s->text, cfg->file, cfg->map_max, err, errlen) < 0)
		return -1;
	if (cfg->index_path[0] != '\0')
		snprintf(path, sizeof(path), "%s", cfg->index_path);
	else if (index_default_path(cfg->file, path, sizeof(path)) < 0) {
		snprintf(err, errlen, "%s: path too long", cfg->file);
		return -1;
	}
	if (prepare_index(s, path, err, errlen) < 0 ||
	    text_open_fd(&s->idx_file, s->idx.fd, s->idx.path, cfg->map_max,
	    err, errlen) < 0)
		return -1;
	s->lines = s->idx.h.lines;
	s->no_final_lf = (s->idx.h.flags & INDEX_FLAG_NO_FINAL_LF) != 0;
	s->slot_mask = m - 1;
	while ((1u << s->page_shift) < m)
		s->page_shift++;
	s->cache = cache_new(cfg->cache_size,
	    (index_body_bytes(&s->idx) + 7) / 8, load_page, s);
	if (s->cache == NULL) {
		snprintf(err, errlen, "cannot create a page cache of %llu bytes",
		    (unsigned long long)cfg->cache_size);
		return -1;
	}
	cache_set_reader(s->cache, read_slot, m);
	s->prefetch_index = s->idx_file.map != NULL &&
	    s->idx.h.pages > cfg->cache_size / index_body_bytes(&s->idx);
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
	}
	free(s->workers);
	cache_free(s->cache);
	index_close(&s->idx);
	text_close(&s->idx_file);
	text_close(&s->text);
}

void
server_prefetch(const struct server *s, uint64_t n)
{
	uint64_t page;

	if (n == 0 || n > s->lines)
		return;
	page = (n - 1) >> s->page_shift;
	cache_prefetch(s->cache, page);
	/* Misses are likely: the page will be copied from the mapping. */
	if (s->prefetch_index)
		text_prefetch(&s->idx_file, index_page_offset(&s->idx, page),
		    index_body_bytes(&s->idx));
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

static void
accept_pause(struct worker *w)
{
	log_warn("out of file descriptors: pausing accept for %.1f s",
	    ACCEPT_PAUSE_S);
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
		else
			conn_close(c, "timed out");
		if (l->head == c)
			break;
	}
	t->repeat = l->head != NULL ? l->head->last + timeout - now : timeout;
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
	ev_init(&w->drain_w, on_drain_timeout);
	ev_init(&w->linger_w, on_linger);
	w->linger_w.repeat = LINGER_S;
	ev_timer_again(w->loop, &w->linger_w);
	ev_init(&w->idle_w, on_idle);
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
	    s->addr_str, s->nworkers, (unsigned long long)s->lines,
	    s->cfg->file);
	if (!atomic_load(&s->stopping))
		ev_run(s->main_loop, 0);
	stop_workers(s, started);
	log_info("stopped");
	return 0;
}

/* ---- STATS ---- */

size_t
server_stats(struct server *s, char *buf, size_t cap)
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
	cache_get_stats(s->cache, &cs);
	n = (size_t)snprintf(buf, cap,
	    "OK\r\n"
	    "uptime_s %lld\r\nlines %llu\r\nfile_bytes %llu\r\n"
	    "connections_current %u\r\nconnections_total %llu\r\n"
	    "connections_rejected %llu\r\nrequests_get %llu\r\n"
	    "requests_err %llu\r\ncache_hits %llu\r\ncache_misses %llu\r\n"
	    "cache_evictions %llu\r\ncache_pages %llu\r\ncache_bytes %llu\r\n"
	    "cache_capacity_bytes %llu\r\nindex_errors %llu\r\n"
	    "lines_per_page %u\r\nworkers %u\r\nmax_connections %u\r\n"
	    "END\r\n",
	    (long long)(time(NULL) - s->started), (unsigned long long)s->lines,
	    (unsigned long long)s->text.size,
	    atomic_load(&s->conns_current),
	    (unsigned long long)atomic_load(&s->conns_total),
	    (unsigned long long)atomic_load(&s->conns_rejected),
	    (unsigned long long)get, (unsigned long long)err,
	    (unsigned long long)cs.hits, (unsigned long long)cs.misses,
	    (unsigned long long)cs.evictions, (unsigned long long)cs.pages,
	    (unsigned long long)cs.bytes, (unsigned long long)cs.capacity,
	    (unsigned long long)atomic_load(&s->index_errors),
	    s->cfg->lines_per_page, s->nworkers, s->max_connections);
	return n < cap ? n : cap - 1;
}
