/*
 * reindex: the files that change (see reindex.h). Everything here runs on
 * the server's main thread, but for the one background job at a time.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "log.h"
#include "notify.h"
#include "reindex.h"
#include "server.h"

/* Log and count a change once; from then on every GET of st is ERR. */
static void
mark_changed(struct reindex *r, struct store *st, const char *why)
{
	struct server *s = r->srv;

	if (atomic_exchange(&st->changed, 1))
		return;
	atomic_fetch_add(&s->ctr.file_changes, 1);
	log_warn("%s: answering ERR to every GET %s", why,
	    s->cfg->build == BUILD_AUTO ? "until it is re-indexed" :
	    "until restart (build = never)");
	r->quiet_since = ev_now(s->main_loop);
	notify_status("%s: answering ERR to every GET", why);
}

/*
 * The builder thread: a whole new store, its index built from the text as
 * it is now. Its pages are never the old index's: a changed or damaged
 * index is not to be trusted, even where its header still checks out.
 */
static void *
builder_main(void *arg)
{
	struct reindex *r = arg;
	struct server *s = r->srv;
	const struct store *cur = atomic_load(&s->store);

	r->built_store = store_open(s->cfg, &s->ctr,
	    cur->idx.h.lines_per_page, 1, r->job_err, sizeof(r->job_err));
	ev_async_send(s->main_loop, &r->job_done);
	return NULL;
}

/*
 * The verifier thread: the text's link count moved (a rename or a link),
 * which could hide a write; read the served text to tell.
 */
static void *
verifier_main(void *arg)
{
	struct reindex *r = arg;
	struct server *s = r->srv;

	r->verified_changed = store_verify_text(atomic_load(&s->store),
	    r->job_err, sizeof(r->job_err)) == STORE_CHANGED;
	ev_async_send(s->main_loop, &r->job_done);
	return NULL;
}

/* Run a build (verify = 0) or a verification in the background. */
static void
start_job(struct reindex *r, int verify)
{
	r->built_store = NULL;
	r->verified_changed = 0;
	if (pthread_create(&r->job, NULL, verify ? verifier_main :
	    builder_main, r) != 0) {
		log_error("cannot start a background %s: %s", verify ?
		    "check" : "re-index", strerror(errno));
		r->next_build = ev_now(r->srv->main_loop) + REINDEX_RETRY_S;
		return;
	}
	r->building = 1;
	r->verifying = verify;
}

/*
 * A replaced store stays referenced here until no worker or answer uses
 * it, and is freed on this thread: unmapping a large text and cache takes
 * long enough that a worker should not pay it between two requests.
 */
static void
retire(struct reindex *r, struct store *old)
{
	if (r->nretired == sizeof(r->retired) / sizeof(r->retired[0])) {
		store_release(r->retired[0]); /* four swaps in a second: rare */
		memmove(r->retired, r->retired + 1,
		    --r->nretired * sizeof(r->retired[0]));
	}
	r->retired[r->nretired++] = old;
}

/* Free the retired stores that only this thread still holds. */
static void
reap_retired(struct reindex *r)
{
	unsigned kept = 0;

	for (unsigned i = 0; i < r->nretired; i++) {
		if (atomic_load(&r->retired[i]->refs) == 1)
			store_release(r->retired[i]);
		else
			r->retired[kept++] = r->retired[i];
	}
	r->nretired = kept;
}

/* Make st the store every worker answers from; the old one goes when its
 * last answer is done. */
static void
publish(struct reindex *r, struct store *st)
{
	retire(r, server_swap_store(r->srv, st));
	watch_files(&r->watch, st->text_path, store_index_path(st));
	log_warn("re-indexed %s: serving its %llu lines again", st->text_path,
	    (unsigned long long)st->lines);
	notify_serving(st->text_path, st->lines, r->srv->addr_str);
}

static void
on_job_done(EV_P_ ev_async *a, int revents)
{
	struct reindex *r = a->data;
	struct store *cur = atomic_load(&r->srv->store);

	(void)revents;
	pthread_join(r->job, NULL);
	r->building = 0;
	if (r->verifying) {
		r->verifying = 0;
		if (r->verified_changed && !atomic_load(&cur->changed))
			mark_changed(r, cur, r->job_err);
		return;
	}
	if (r->built_store != NULL) {
		publish(r, r->built_store);
		r->built_store = NULL;
		return;
	}
	log_warn("re-indexing failed: %s; trying again in %.0f s",
	    r->job_err, REINDEX_RETRY_S);
	r->next_build = ev_now(loop) + REINDEX_RETRY_S;
}

/* Has what the text path names moved since the last look? For the
 * filesystems that send no events. */
static int
path_moved(struct reindex *r)
{
	struct stat sb;
	int moved;

	if (stat(r->srv->cfg->file, &sb) < 0)
		memset(&sb, 0, sizeof(sb));
	moved = sb.st_size != r->last_seen.st_size ||
	    sb.st_ino != r->last_seen.st_ino ||
	    sb.st_mtim.tv_sec != r->last_seen.st_mtim.tv_sec ||
	    sb.st_mtim.tv_nsec != r->last_seen.st_mtim.tv_nsec ||
	    sb.st_ctim.tv_sec != r->last_seen.st_ctim.tv_sec ||
	    sb.st_ctim.tv_nsec != r->last_seen.st_ctim.tv_nsec;
	r->last_seen = sb;
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
	struct reindex *r = wt->arg;
	struct server *s = r->srv;
	struct store *st = atomic_load(&s->store);
	ev_tstamp now = ev_now(s->main_loop);
	char why[600];

	reap_retired(r);
	if (!atomic_load(&st->changed))
		switch (store_files_changed(st, why, sizeof(why))) {
		case STORE_CHANGED:
			mark_changed(r, st, why);
			break;
		case STORE_RELINKED:
			r->verify_pending = 1;
			break;
		}
	if (from_event || path_moved(r))
		r->quiet_since = now;
	if (r->verify_pending && !r->building && !atomic_load(&st->changed)) {
		r->verify_pending = 0;
		start_job(r, 1);
		return;
	}
	if (s->cfg->build != BUILD_AUTO || r->building || now < r->next_build)
		return;
	if (atomic_load(&st->changed) ? now - r->quiet_since >= QUIET_S :
	    atomic_load(&st->damaged))
		start_job(r, 0);
}

void
reindex_start(struct reindex *r, struct server *s)
{
	struct store *st = atomic_load(&s->store);

	r->srv = s;
	ev_async_init(&r->job_done, on_job_done);
	r->job_done.data = r;
	ev_async_start(s->main_loop, &r->job_done);
	watch_start(&r->watch, s->main_loop, on_files, r);
	watch_files(&r->watch, st->text_path, store_index_path(st));
}

void
reindex_stop(struct reindex *r)
{
	watch_stop(&r->watch);
	while (r->nretired > 0)
		store_release(r->retired[--r->nretired]);
	if (!r->building)
		return;
	index_build_cancel();
	pthread_join(r->job, NULL);
	store_release(r->built_store);
	r->building = 0;
}
