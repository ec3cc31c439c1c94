/*
 * server: listeners, worker threads and their event loops, accept, limits,
 * signals, shutdown, STATS. Each worker owns a libev loop, a listening
 * socket (SO_REUSEPORT spreads connections over them) and the connections
 * it accepted; the store (text, index, page cache) is shared, and replaced
 * as a whole when reindex has re-indexed the files that changed.
 */
#ifndef LINESVR_SERVER_H
#define LINESVR_SERVER_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <sys/socket.h>

#include "config.h"
#include "conn.h"
#include "reindex.h"
#include "store.h"

#define ACCEPTS_PER_EVENT 64         /* accepts per listener wakeup */
#define ACCEPT_PAUSE_S  0.1          /* listener pause when out of descriptors */
#define LINGER_S        2.0          /* wait for the peer's FIN after QUIT */
#define FD_RESERVE      32           /* descriptors kept for files, listeners */

/* Counters a worker alone writes; any thread may read them for STATS. */
struct worker_stats {
	_Atomic uint64_t requests_get;
	_Atomic uint64_t requests_err;
	_Atomic uint64_t bytes_read;     /* from clients, per read() */
	_Atomic uint64_t bytes_written;  /* to clients, per write() */
	struct store_tally lookups;      /* cache_hits, cache_misses */
};

/* Only the owning worker writes its counters: no locked instruction. */
static inline void
stat_add(_Atomic uint64_t *counter, uint64_t n)
{
	atomic_store_explicit(counter, atomic_load_explicit(counter,
	    memory_order_relaxed) + n, memory_order_relaxed);
}

static inline void
stat_bump(_Atomic uint64_t *counter)
{
	stat_add(counter, 1);
}

struct worker {
	struct server *srv;
	unsigned id;
	pthread_t thread;
	struct ev_loop *loop;
	int lfd;                  /* listening socket, -1 once closed */
	ev_io accept_w;
	ev_timer accept_pause;
	ev_async wake;            /* the server is shutting down */
	ev_async refresh;         /* a new store was published */
	ev_prepare turn_end;      /* answers GETs held back this turn */
	struct store *store;      /* the store it answers from (a reference) */
	ev_timer idle_w;          /* sweeps `active` */
	ev_timer linger_w;        /* sweeps `linger` */
	ev_timer drain_w;         /* drain_timeout after shutdown */
	struct conn_list active;  /* by time of last complete request */
	struct conn_list linger;  /* closed for writing, awaiting peer EOF */
	unsigned nconns;
	int draining;
	struct conn_scratch scratch; /* for the connection being served */
	struct worker_stats st;
};

struct server {
	const struct config *cfg;
	struct store *_Atomic store; /* the current store (a reference) */
	pthread_mutex_t store_lock;  /* held to take a reference to it */
	struct store_counters ctr;
	unsigned max_connections; /* after the RLIMIT_NOFILE cap */
	unsigned nworkers;
	struct worker *workers;
	char addr_str[300];       /* "ADDR:PORT" actually bound */
	_Atomic unsigned conns_current;
	_Atomic uint64_t conns_total;
	_Atomic uint64_t conns_rejected;
	_Atomic int stopping;
	time_t started;
	struct ev_loop *main_loop;
	ev_async stop_req;
	ev_signal sig_term, sig_int, sig_hup;
	struct reindex reindex;   /* the files that change */
};

/*
 * Open the store: the text file and its index (building it when build =
 * auto and it is missing or stale), and the page cache. 0, or -1 with err.
 */
int server_init(struct server *s, const struct config *cfg, char *err,
    size_t errlen);

/* Bind every worker's listener; 0, or -1 with err set. */
int server_listen(struct server *s, char *err, size_t errlen);

/* Run until SHUTDOWN or a signal has drained every worker; 0 or -1. */
int server_run(struct server *s);

/* Ask for a graceful stop; callable from any worker thread. */
void server_request_stop(struct server *s);

void server_free(struct server *s);

/* The STATS answer (OK, name value lines, END) about st into buf; its
 * length. */
size_t server_stats(struct server *s, const struct store *st, char *buf,
    size_t cap);

/* Make st the store every worker answers from (main thread). Returns the
 * store it replaced, whose reference passes to the caller. */
struct store *server_swap_store(struct server *s, struct store *st);

/* Take a reference to the server's current store in place of w's. */
void worker_refresh(struct worker *w);

/* The store a worker answers from: the server's current one. One atomic
 * load per call; the switch itself is rare. */
static inline struct store *
worker_store(struct worker *w)
{
	if (w->store != atomic_load_explicit(&w->srv->store,
	    memory_order_acquire))
		worker_refresh(w);
	return w->store;
}

#endif
