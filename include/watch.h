/*
 * watch: notices when the files a store serves may have changed, on the
 * main thread's loop. inotify reports writes, attribute changes and
 * renames at once; a timer looks again every WATCH_TICK_S seconds for the
 * filesystems that send no events (NFS, FUSE, a file changed from another
 * machine). Either way the callback decides, from fstat, what changed:
 * an event is only a reason to look.
 */
#ifndef LINESVR_WATCH_H
#define LINESVR_WATCH_H

#include <ev.h>

#define WATCH_TICK_S 1.0

struct watch;
typedef void (*watch_fn)(struct watch *w, int from_event);

struct watch {
	struct ev_loop *loop;
	int ifd;                  /* inotify descriptor, -1 if unavailable */
	int wd[2];                /* the two watched files, -1 if none */
	ev_io io;
	ev_timer tick;
	watch_fn fn;
	void *arg;
};

/* Start looking; fn runs on events and every tick. 0, or -1 (logged,
 * then the tick alone keeps looking). */
int watch_start(struct watch *w, struct ev_loop *loop, watch_fn fn,
    void *arg);

/* Watch the files now at these paths (after a store is published). */
void watch_files(struct watch *w, const char *text_path,
    const char *index_path);

void watch_stop(struct watch *w);

#endif
