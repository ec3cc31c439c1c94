/*
 * reindex: the files that change, handled on the main thread. The watch
 * says when the text or its index may have moved; a change in place marks
 * the store changed (every GET is then ERR), a relink (a rename or a
 * link) is told apart from a write by reading the text in the background,
 * and under build = auto a background thread builds a whole new store
 * once the files have been quiet for QUIET_S. The new store is published
 * to the workers; the one it replaces is freed here once unused.
 */
#ifndef LINESVR_REINDEX_H
#define LINESVR_REINDEX_H

#include <ev.h>
#include <pthread.h>
#include <sys/stat.h>

#include "watch.h"

#define QUIET_S         1.0          /* a changed file must rest this long
                                        before it is re-indexed */
#define REINDEX_RETRY_S 5.0          /* after a failed re-index */

struct server;
struct store;

/* Main thread only, but for the background job's results. */
struct reindex {
	struct server *srv;
	struct watch watch;
	ev_tstamp quiet_since;    /* last time the changed files moved */
	struct stat last_seen;    /* what the text path named when last seen */
	ev_tstamp next_build;     /* no re-index before (after a failure) */
	int building;             /* a background job runs: */
	int verifying;            /* ... reading the text, not building */
	pthread_t job;
	ev_async job_done;        /* the background job finished */
	struct store *built_store;/* a build's result, NULL on failure */
	int verified_changed;     /* a verification's result */
	int verify_pending;       /* the text was relinked: read it when free */
	struct store *retired[4]; /* replaced stores, freed here when unused */
	unsigned nretired;
	char job_err[512];
};

/* Watch the files of s's current store from s's main loop (running). */
void reindex_start(struct reindex *r, struct server *s);

/* Stop watching, cancel a build under way (and wait for it), and drop the
 * retired stores (the workers free what they still hold). */
void reindex_stop(struct reindex *r);

#endif
