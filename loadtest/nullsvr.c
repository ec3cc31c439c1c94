/*
 * linesvr-null: the practical limit for benchmarks. It answers every
 * request line with "OK\r\n" and the same fixed line and does nothing else,
 * so linesvr-bench against it measures the machine (loopback, system
 * calls, the load generator itself) instead of linesvr.
 *
 * It copies linesvr where that shapes the numbers: one SO_REUSEPORT
 * listener and event loop per thread, TCP_NODELAY on accepted sockets, the
 * answers to one read gathered into one write, and no reading while output
 * is owed (backpressure). It has nothing else: plain level-triggered epoll,
 * no parser, no index, no timeouts, no STATS, no lingering close.
 *
 * For tests of clients that retry, -a N breaks every connection after its
 * N-th answer, as if its server had died: the requests after it are never
 * answered and the connection is closed.
 *
 * usage: linesvr-null [-b ADDR] [-p PORT] [-l LEN] [-t THREADS] [-d SECONDS]
 *                     [-a ANSWERS]
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "config.h"
#include "net.h"

#define IN_SIZE     (16 * 1024)   /* bytes read per event; longest request */
#define OBUF_SIZE   (256 * 1024)  /* answers gathered for one write, bytes */
#define MAX_EVENTS  256           /* epoll events taken per wakeup */
#define BACKLOG     1024          /* listen(2) backlog, linesvr's default */
#define MAX_LEN     65536UL       /* -l: answer line bytes, LF included */
#define MAX_SECONDS (365UL * 86400)
#define OK_PREFIX   "OK\r\n"

/* Every connection must be able to make progress: one answer always fits. */
_Static_assert(OBUF_SIZE >= sizeof(OK_PREFIX) - 1 + MAX_LEN,
    "an answer must fit the output buffer");

struct opts {
	const char *bind;
	unsigned long port, len, threads, seconds, close_after;
};

/* Process-wide; read-only once the threads run. */
struct shared {
	char *answer;           /* "OK\r\n", LEN - 1 'x', "\n" */
	size_t answer_len;
	unsigned long close_after;  /* -a: answers per connection, 0 = all */
	int stopfd;             /* eventfd, never read: once written, every
	                           loop sees it readable and stops */
	int sigfd;              /* signalfd: SIGTERM, SIGINT */
	int timerfd;            /* -d: fires once; -1 without -d */
};

struct conn {
	struct conn *prev, *next;   /* the worker's list, to free all at exit */
	int fd;
	uint32_t events;            /* what epoll watches: EPOLLIN or EPOLLOUT */
	int quit;                   /* QUIT seen: close once the output is sent */
	int held;                   /* complete lines wait for room in obuf */
	unsigned long answered;     /* for -a */
	char *in;                   /* unanswered bytes (IN_SIZE), or NULL */
	size_t in_len;
	char *out;                  /* answers the socket did not take, or NULL */
	size_t out_off, out_len;
};

struct worker {
	const struct shared *sh;
	pthread_t thread;
	int epfd, lfd;
	int spare_fd;               /* given up to shed a connection on EMFILE */
	struct conn *conns;
	char ibuf[IN_SIZE];         /* reads land here unless bytes are kept */
	char obuf[OBUF_SIZE];       /* answers of one read, one write */
};

/* epoll data of the descriptors that are not connections. */
static char TAG_LISTEN, TAG_STOP, TAG_SIGNAL;

static atomic_int warned_emfile;

/* ---- connections ---- */

static void
conn_close(struct worker *w, struct conn *c)
{
	close(c->fd);   /* also leaves the epoll set: the fd is never dup'd */
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->in);
	free(c->out);
	free(c);
}

static int
watch(struct worker *w, struct conn *c, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (c->events == events)
		return 0;
	if (epoll_ctl(w->epfd, EPOLL_CTL_MOD, c->fd, &ev) < 0)
		return -1;
	c->events = events;
	return 0;
}

/*
 * Watch what the connection waits for next, or close it when it is done.
 * Owed output and lines held back for room both wait for the socket to
 * drain, and nothing is read meanwhile: that bounds what one client can
 * make the server hold to one output buffer.
 */
static void
settle(struct worker *w, struct conn *c)
{
	int rc;

	if (c->out_len > c->out_off || c->held)
		rc = watch(w, c, EPOLLOUT);
	else if (c->quit || c->in_len == IN_SIZE)
		rc = -1;        /* QUIT answered, or a request too long to keep */
	else
		rc = watch(w, c, EPOLLIN);
	if (rc < 0)
		conn_close(w, c);
}

/*
 * Answer the complete lines of buf into w->obuf (at *olen) while they fit;
 * returns the bytes used. A line starting with QUIT ends the connection:
 * it and everything after it are dropped unanswered; so does the answer
 * that reaches -a.
 */
static size_t
answer_lines(struct worker *w, struct conn *c, const char *buf, size_t len,
    size_t *olen)
{
	const struct shared *sh = w->sh;
	const char *lf;
	size_t pos = 0;

	c->held = 0;
	if (c->quit)
		return len;
	while ((lf = memchr(buf + pos, '\n', len - pos)) != NULL) {
		size_t n = (size_t)(lf - buf) - pos;
		if (n >= 4 && strncasecmp(buf + pos, "QUIT", 4) == 0) {
			c->quit = 1;
			return len;
		}
		if (*olen + sh->answer_len > OBUF_SIZE) {
			c->held = 1;
			break;
		}
		memcpy(w->obuf + *olen, sh->answer, sh->answer_len);
		*olen += sh->answer_len;
		pos += n + 1;
		if (++c->answered == sh->close_after) {
			c->quit = 1;
			return len;
		}
	}
	return pos;
}

/* Keep the n unanswered bytes at p (a partial line, held lines). */
static int
keep_rest(struct conn *c, const char *p, size_t n)
{
	if (n == 0) {
		free(c->in);    /* a connection that keeps up owns no buffers */
		c->in = NULL;
		c->in_len = 0;
		return 0;
	}
	if (c->in == NULL && (c->in = malloc(IN_SIZE)) == NULL)
		return -1;
	memmove(c->in, p, n);   /* p may point into c->in itself */
	c->in_len = n;
	return 0;
}

/* One write; what the socket does not take waits in c->out (empty now). */
static int
send_out(struct conn *c, const char *p, size_t n)
{
	ssize_t k = write(c->fd, p, n);

	if (k < 0) {
		if (errno != EAGAIN && errno != EINTR)
			return -1;
		k = 0;
	}
	if ((size_t)k == n)
		return 0;
	if ((c->out = malloc(n - (size_t)k)) == NULL)
		return -1;
	memcpy(c->out, p + k, n - (size_t)k);
	c->out_off = 0;
	c->out_len = n - (size_t)k;
	return 0;
}

/* Answer what buf[0..len) holds, keep the rest, and write once. */
static void
serve(struct worker *w, struct conn *c, char *buf, size_t len)
{
	size_t olen = 0, used;

	used = answer_lines(w, c, buf, len, &olen);
	if (keep_rest(c, buf + used, len - used) < 0 ||
	    (olen > 0 && send_out(c, w->obuf, olen) < 0)) {
		conn_close(w, c);
		return;
	}
	settle(w, c);
}

static void
on_readable(struct worker *w, struct conn *c)
{
	/* Kept bytes stay in place; the new ones go after them. */
	char *buf = c->in != NULL ? c->in : w->ibuf;
	ssize_t n = read(c->fd, buf + c->in_len, IN_SIZE - c->in_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;         /* level-triggered: epoll reports it again */
	if (n <= 0) {
		conn_close(w, c);       /* EOF or error */
		return;
	}
	serve(w, c, buf, c->in_len + (size_t)n);
}

static void
on_writable(struct worker *w, struct conn *c)
{
	if (c->out_len > c->out_off) {
		ssize_t n = write(c->fd, c->out + c->out_off,
		    c->out_len - c->out_off);
		if (n < 0 && errno != EAGAIN && errno != EINTR) {
			conn_close(w, c);
			return;
		}
		if (n > 0)
			c->out_off += (size_t)n;
		if (c->out_off < c->out_len)
			return;
		free(c->out);
		c->out = NULL;
		c->out_off = c->out_len = 0;
	}
	/* Drained: answer the lines held back, then read again. */
	if (c->in_len > 0)
		serve(w, c, c->in, c->in_len);
	else
		settle(w, c);
}

static void
conn_new(struct worker *w, int fd)
{
	struct epoll_event ev = { .events = EPOLLIN };
	struct conn *c = calloc(1, sizeof(*c));
	int one = 1;

	if (c == NULL) {
		close(fd);
		return;
	}
	/* As linesvr does: answers are already batched per read, so Nagle
	 * could only add delay; the same setting keeps the comparison fair. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	c->events = EPOLLIN;
	ev.data.ptr = c;
	if (epoll_ctl(w->epfd, EPOLL_CTL_ADD, fd, &ev) < 0) {
		close(fd);
		free(c);
		return;
	}
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
}

/* ---- accepting ---- */

/*
 * Out of descriptors, a pending connection would keep the level-triggered
 * listener ready forever and the loop spinning. Give up the spare
 * descriptor, accept the connection, close it at once and take the spare
 * back (libev manual: "accept()ing when you can't"). Warns once.
 */
static int
shed_one(struct worker *w)
{
	int fd;

	if (!atomic_exchange(&warned_emfile, 1))
		fprintf(stderr, "linesvr-null: out of file descriptors; "
		    "closing new connections until some are free\n");
	if (w->spare_fd < 0)
		return -1;
	close(w->spare_fd);
	fd = accept4(w->lfd, NULL, NULL, SOCK_CLOEXEC);
	if (fd >= 0)
		close(fd);
	w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? 0 : -1;
}

/* Accept until the backlog is empty. */
static void
accept_all(struct worker *w)
{
	for (;;) {
		int fd = accept4(w->lfd, NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd >= 0)
			conn_new(w, fd);
		else if (errno == EMFILE || errno == ENFILE) {
			if (shed_one(w) < 0)
				return;
		} else if (errno != EINTR && errno != ECONNABORTED)
			return;         /* EAGAIN, or retried on the next event */
	}
}

/* ---- event loops ---- */

/* Wake every loop for good; safe from any thread. */
static void
request_stop(const struct shared *sh)
{
	uint64_t one = 1;

	if (write(sh->stopfd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		perror("linesvr-null: eventfd");
}

static void
worker_loop(struct worker *w)
{
	struct epoll_event ev[MAX_EVENTS];

	for (;;) {
		int n = epoll_wait(w->epfd, ev, MAX_EVENTS, -1);
		if (n < 0 && errno != EINTR) {
			perror("linesvr-null: epoll_wait");
			request_stop(w->sh);
			return;
		}
		for (int i = 0; i < n; i++) {
			struct conn *c = ev[i].data.ptr;
			if (ev[i].data.ptr == &TAG_STOP)
				return;
			if (ev[i].data.ptr == &TAG_LISTEN)
				accept_all(w);
			else if (ev[i].data.ptr == &TAG_SIGNAL)
				request_stop(w->sh);
			else if (c->events == EPOLLIN)
				on_readable(w, c);
			else
				on_writable(w, c);
		}
	}
}

static void *
worker_thread(void *arg)
{
	worker_loop(arg);
	return NULL;
}

/* ---- sockets ---- */

/* A numeric loopback address only: this server is for local benchmarks. */
static int
resolve(const char *host, unsigned long port, struct sockaddr_storage *ss,
    socklen_t *len)
{
	char why[128];

	if (net_resolve(host, (unsigned)port, ss, len, why, sizeof(why)) < 0) {
		fprintf(stderr, "linesvr-null: -b %s: %s\n", host, why);
		return -1;
	}
	if (!net_is_loopback(ss)) {
		fprintf(stderr, "linesvr-null: -b %s: not a loopback address "
		    "(127.0.0.0/8, ::1)\n", host);
		return -1;
	}
	return 0;
}

/* As linesvr, the port is claimed first (see net_claim_port). */
static int
claim_port(struct sockaddr_storage *ss, socklen_t *len)
{
	char addr[NET_ADDR_STRLEN], why[128];

	if (net_claim_port(ss, len, why, sizeof(why)) < 0) {
		net_format_addr(ss, addr, sizeof(addr));
		fprintf(stderr, "linesvr-null: cannot bind %s: %s\n", addr,
		    why);
		return -1;
	}
	return 0;
}

/* ---- workers ---- */

static int
add_fd(int epfd, int fd, void *tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.ptr = tag };

	return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev);
}

/* Listener, epoll set and spare descriptor; the first also hears signals. */
static int
worker_open(struct worker *w, const struct sockaddr_storage *ss,
    socklen_t len, int first)
{
	const struct shared *sh = w->sh;
	char why[128];

	if ((w->lfd = net_listen(ss, len, BACKLOG, why, sizeof(why))) < 0) {
		fprintf(stderr, "linesvr-null: listener: %s\n", why);
		return -1;
	}
	if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
	    add_fd(w->epfd, w->lfd, &TAG_LISTEN) < 0 ||
	    add_fd(w->epfd, sh->stopfd, &TAG_STOP) < 0 ||
	    (first && add_fd(w->epfd, sh->sigfd, &TAG_SIGNAL) < 0) ||
	    (first && sh->timerfd >= 0 &&
	    add_fd(w->epfd, sh->timerfd, &TAG_SIGNAL) < 0)) {
		perror("linesvr-null: listener");
		return -1;
	}
	w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return 0;
}

/* Everything a worker owns, its connections included. */
static void
worker_close(struct worker *w)
{
	while (w->conns != NULL)
		conn_close(w, w->conns);
	if (w->lfd >= 0)
		close(w->lfd);
	if (w->epfd >= 0)
		close(w->epfd);
	if (w->spare_fd >= 0)
		close(w->spare_fd);
}

static struct worker *
workers_open(const struct shared *sh, const struct sockaddr_storage *ss,
    socklen_t len, unsigned long n)
{
	struct worker *w = calloc(n, sizeof(*w));

	if (w == NULL) {
		fprintf(stderr, "linesvr-null: out of memory\n");
		return NULL;
	}
	for (unsigned long i = 0; i < n; i++) {
		w[i].sh = sh;
		w[i].lfd = w[i].epfd = w[i].spare_fd = -1;
	}
	for (unsigned long i = 0; i < n; i++)
		if (worker_open(&w[i], ss, len, i == 0) < 0) {
			for (unsigned long j = 0; j < n; j++)
				worker_close(&w[j]);
			free(w);
			return NULL;
		}
	return w;
}

/*
 * Worker 0 runs on the main thread, so the default is one thread in all;
 * the others get their own. Returns 0, or -1 if a thread could not start
 * (then all are stopped).
 */
static int
workers_run(struct worker *w, unsigned long n)
{
	unsigned long started = 1;
	int rc = 0;

	for (; started < n; started++)
		if (pthread_create(&w[started].thread, NULL, worker_thread,
		    &w[started]) != 0) {
			fprintf(stderr, "linesvr-null: cannot start thread "
			    "%lu\n", started);
			request_stop(w->sh);
			rc = -1;
			break;
		}
	if (rc == 0)
		worker_loop(&w[0]);
	for (unsigned long i = 1; i < started; i++)
		pthread_join(w[i].thread, NULL);
	return rc;
}

/* ---- setup ---- */

static void
usage(void)
{
	fprintf(stderr, "usage: linesvr-null [-b ADDR] [-p PORT] [-l LEN] "
	    "[-t THREADS] [-d SECONDS] [-a ANSWERS]\n");
}

/* Digits only (strtoul alone takes spaces and signs), within lo..hi. */
static int
num_opt(int opt, const char *s, unsigned long lo, unsigned long hi,
    unsigned long *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (*s < '0' || *s > '9' || errno != 0 || *end != '\0' || v < lo ||
	    v > hi) {
		fprintf(stderr, "linesvr-null: -%c %s: want a number from %lu "
		    "to %lu\n", opt, s, lo, hi);
		return -1;
	}
	*out = v;
	return 0;
}

static int
parse_opts(int argc, char **argv, struct opts *o)
{
	int ch, rc = 0;

	*o = (struct opts){ .bind = "127.0.0.1", .len = 100, .threads = 1 };
	opterr = 0;
	while (rc == 0 && (ch = getopt(argc, argv, ":b:p:l:t:d:a:")) != -1) {
		if (ch == 'b')
			o->bind = optarg;
		else if (ch == 'p')
			rc = num_opt(ch, optarg, 0, 65535, &o->port);
		else if (ch == 'l')
			rc = num_opt(ch, optarg, 1, MAX_LEN, &o->len);
		else if (ch == 't')
			rc = num_opt(ch, optarg, 1, CONFIG_WORKERS_MAX,
			    &o->threads);
		else if (ch == 'd')
			rc = num_opt(ch, optarg, 0, MAX_SECONDS, &o->seconds);
		else if (ch == 'a')
			rc = num_opt(ch, optarg, 1, ULONG_MAX, &o->close_after);
		else {
			fprintf(stderr, ch == ':' ? "linesvr-null: -%c needs "
			    "a value\n" : "linesvr-null: unknown option -%c\n",
			    optopt > ' ' && optopt < 127 ? optopt : '?');
			rc = -1;
		}
	}
	if (rc == 0 && optind < argc) {
		fprintf(stderr, "linesvr-null: unexpected argument '%s'\n",
		    argv[optind]);
		rc = -1;
	}
	if (rc < 0)
		usage();
	return rc;
}

static int
make_answer(struct shared *sh, unsigned long len)
{
	size_t k = sizeof(OK_PREFIX) - 1;

	sh->answer_len = k + len;
	if ((sh->answer = malloc(sh->answer_len)) == NULL) {
		fprintf(stderr, "linesvr-null: out of memory\n");
		return -1;
	}
	memcpy(sh->answer, OK_PREFIX, k);
	memset(sh->answer + k, 'x', len - 1);
	sh->answer[sh->answer_len - 1] = '\n';
	return 0;
}

/*
 * SIGTERM and SIGINT are blocked in every thread (threads inherit the
 * mask) and arrive through sigfd in worker 0's loop, so no handler runs
 * in the middle of a loop; -d is a timer in the same loop.
 */
static int
open_control(struct shared *sh, unsigned long seconds)
{
	struct itimerspec its = { .it_value = { .tv_sec = (time_t)seconds } };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGTERM);
	sigaddset(&set, SIGINT);
	if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0 ||
	    (sh->sigfd = signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)) < 0 ||
	    (sh->stopfd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0 ||
	    (seconds > 0 && ((sh->timerfd = timerfd_create(CLOCK_MONOTONIC,
	    TFD_NONBLOCK | TFD_CLOEXEC)) < 0 ||
	    timerfd_settime(sh->timerfd, 0, &its, NULL) < 0))) {
		perror("linesvr-null: signals and timer");
		return -1;
	}
	return 0;
}

static void
close_control(struct shared *sh)
{
	if (sh->sigfd >= 0)
		close(sh->sigfd);
	if (sh->stopfd >= 0)
		close(sh->stopfd);
	if (sh->timerfd >= 0)
		close(sh->timerfd);
	free(sh->answer);
}

int
main(int argc, char **argv)
{
	struct shared sh = { .stopfd = -1, .sigfd = -1, .timerfd = -1 };
	char addr[NET_ADDR_STRLEN];
	struct sockaddr_storage ss;
	struct worker *w = NULL;
	struct opts o;
	socklen_t len;
	int rc = 1;

	if (parse_opts(argc, argv, &o) < 0 ||
	    resolve(o.bind, o.port, &ss, &len) < 0)
		return 2;
	signal(SIGPIPE, SIG_IGN);       /* a closed peer is an EPIPE, not death */
	(void)net_raise_nofile();      /* benchmarks open thousands */
	sh.close_after = o.close_after;
	if (make_answer(&sh, o.len) < 0 || open_control(&sh, o.seconds) < 0 ||
	    claim_port(&ss, &len) < 0 ||
	    (w = workers_open(&sh, &ss, len, o.threads)) == NULL)
		goto out;
	net_format_addr(&ss, addr, sizeof(addr));
	/* Scripts and tests take the port from this line. */
	printf("listening on %s\n", addr);
	fflush(stdout);
	rc = workers_run(w, o.threads) < 0 ? 1 : 0;
	for (unsigned long i = 0; i < o.threads; i++)
		worker_close(&w[i]);
	free(w);
out:
	close_control(&sh);
	return rc;
}
