/*
 * watch: inotify and a periodic tick on the main loop (see watch.h).
 */
#include <errno.h>
#include <string.h>
#include <sys/inotify.h>
#include <unistd.h>

#include "log.h"
#include "watch.h"

/* Content writes, attribute changes (touch, chmod, link count) and the
 * inode going away or moving. */
#define WATCH_EVENTS (IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE | \
	IN_DELETE_SELF | IN_MOVE_SELF)

static void
on_inotify(EV_P_ ev_io *io, int revents)
{
	struct watch *w = io->data;
	char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));

	(void)loop;
	(void)revents;
	/* The events themselves say nothing fstat will not: drain them. */
	while (read(w->ifd, buf, sizeof(buf)) > 0)
		;
	w->fn(w, 1);
}

static void
on_tick(EV_P_ ev_timer *t, int revents)
{
	struct watch *w = t->data;

	(void)loop;
	(void)revents;
	w->fn(w, 0);
}

int
watch_start(struct watch *w, struct ev_loop *loop, watch_fn fn, void *arg)
{
	memset(w, 0, sizeof(*w));
	w->loop = loop;
	w->fn = fn;
	w->arg = arg;
	w->wd[0] = w->wd[1] = -1;
	ev_timer_init(&w->tick, on_tick, WATCH_TICK_S, WATCH_TICK_S);
	w->tick.data = w;
	ev_timer_start(loop, &w->tick);
	w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->ifd < 0) {
		log_warn("inotify: %s: checking the files every %.0f s only",
		    strerror(errno), WATCH_TICK_S);
		return -1;
	}
	ev_io_init(&w->io, on_inotify, w->ifd, EV_READ);
	w->io.data = w;
	ev_io_start(loop, &w->io);
	return 0;
}

void
watch_files(struct watch *w, const char *text_path, const char *index_path)
{
	const char *paths[2] = { text_path, index_path };

	if (w->ifd < 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (w->wd[i] >= 0)
			inotify_rm_watch(w->ifd, w->wd[i]);
		w->wd[i] = inotify_add_watch(w->ifd, paths[i], WATCH_EVENTS);
		if (w->wd[i] < 0)
			log_warn("inotify %s: %s: checking it every %.0f s only",
			    paths[i], strerror(errno), WATCH_TICK_S);
	}
}

void
watch_stop(struct watch *w)
{
	if (w->loop == NULL)
		return;
	ev_timer_stop(w->loop, &w->tick);
	if (w->ifd >= 0) {
		ev_io_stop(w->loop, &w->io);
		close(w->ifd);
		w->ifd = -1;
	}
}
