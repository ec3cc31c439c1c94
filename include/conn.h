/*
 * conn: one client's state and buffers; the only place where bytes meet a
 * client socket. A connection belongs to the worker that accepted it and is
 * touched only by that worker's thread.
 */
#ifndef LINESVR_CONN_H
#define LINESVR_CONN_H

#include <ev.h>
#include <stdint.h>

#include "server.h"

enum conn_flags {
	C_LOCAL      = 1 << 0, /* peer is loopback: SHUTDOWN under "local" */
	C_CLOSE_AFTER = 1 << 1, /* QUIT, SHUTDOWN or too long: close once flushed */
	C_PEER_EOF   = 1 << 2, /* peer half-closed: answer what came, then close */
	C_DRAIN      = 1 << 3, /* server stopping: read what is buffered, no more */
	C_NO_INPUT   = 1 << 4, /* draining and the socket had nothing more */
	C_LINGER     = 1 << 5, /* our side is shut; discarding until peer EOF */
	C_BROKEN     = 1 << 6, /* write failed: close at the end of this event */
	C_IDLE_CHECK = 1 << 7  /* idle, but input waits: read it, then judge */
};

struct conn {
	ev_io rw, ww;             /* read and write watchers */
	struct worker *w;
	struct conn *prev, *next; /* in w->active or w->linger */
	ev_tstamp last;           /* last complete request (or linger start) */
	int fd;
	unsigned flags;
	char *in;                 /* unparsed input; NULL when none */
	size_t in_len;
	char *out;                /* answers the socket did not take yet */
	size_t out_off, out_len, out_cap;
	/* A line longer than LINE_INLINE_MAX, sent a chunk at a time: */
	struct store *stream_store; /* a reference while streaming */
	struct store_line stream_line;
	uint64_t stream_off;      /* next text byte to copy */
	uint64_t stream_left;     /* text bytes still to copy */
	uint32_t stream_crc;      /* of the bytes copied so far */
	char *stream_buf;         /* STREAM_CHUNK + 1 bytes while streaming */
	size_t stream_pos, stream_len; /* unsent bytes of stream_buf */
};

/* Take over an accepted, non-blocking socket. */
void conn_new(struct worker *w, int fd, int local);

/* Free everything the connection owns; why is logged at debug level. */
void conn_close(struct conn *c, const char *why);

/* The server is stopping: answer what the socket holds, then close. */
void conn_drain(struct conn *c);

/* Answers owed: in our buffers, or in the kernel's, not yet acknowledged. */
int conn_busy_writing(const struct conn *c);

/*
 * The idle sweep found c expired. If input waits (a complete request in
 * c's buffer, or bytes in the kernel's) and c has not had this chance
 * yet, a read is queued and 1 returned: the sweep judges again after it.
 * 0: c is idle.
 */
int conn_recheck_input(struct conn *c);

/* Move c to the tail of list with timestamp now. */
void conn_list_touch(struct conn_list *l, struct conn *c, ev_tstamp now);
void conn_list_remove(struct conn_list *l, struct conn *c);

#endif
