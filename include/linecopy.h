/*
 * linecopy: a line copied from the text into an answer, and checked on
 * the way: it starts after an LF, holds one LF, at its end, and matches
 * its checksum. A line that fails a check is counted and logged (by the
 * store), and not sent as if whole.
 *
 * A line that fits the output buffer is copied whole. A longer one goes
 * out a chunk at a time: each chunk is copied, checked for an early LF and
 * added to the line's checksum before it may be written, and the last one
 * is ready only once the whole line matched its checksum; a line that
 * fails part-way is abandoned, so its client sees a cut answer.
 */
#ifndef LINESVR_LINECOPY_H
#define LINESVR_LINECOPY_H

#include <stddef.h>
#include <stdint.h>

#include "store.h"

#define STREAM_CHUNK    (64 * 1024)  /* bytes of a long line copied per write */
#define LINE_INLINE_MAX (16 * 1024)  /* longer lines go out a chunk at a time */

/* A GET looked up, its line being prefetched, its answer not yet written. */
struct pending_get {
	struct store_line line;   /* where the line is, when ok */
	int ok;                   /* 0: the answer is ERR */
};

/*
 * The answers to g[0..n), in order, into out, which has room for the sum
 * of g[i].line.len + 5 (each line at most LINE_INLINE_MAX bytes): "OK\r\n"
 * and the line (with the LF it lacks, if add_lf), or ERR for a GET whose
 * lookup failed or whose line failed a check (counted and logged by the
 * store). Returns the bytes written; *errs is how many were ERR.
 */
size_t linecopy_answers(struct store *st, const struct pending_get *g,
    unsigned n, char *out, unsigned *errs);

/* A line being sent a chunk at a time. */
struct linecopy_stream {
	struct store *store;      /* a reference while sending; NULL otherwise */
	struct store_line line;
	uint64_t off;             /* next text byte to copy */
	uint64_t left;            /* text bytes still to copy */
	uint32_t crc;             /* of the bytes copied so far */
	char *buf;                /* STREAM_CHUNK + 1 bytes while sending */
	size_t pos, len;          /* unsent bytes of buf */
};

/*
 * Start sending line l of st: check that it starts after an LF, and fill
 * the first chunk, so that a file cut short is mostly an ERR rather than
 * a cut answer. 0, or -1 (logged, and ls left idle): answer ERR.
 */
int linecopy_start(struct linecopy_stream *ls, struct store *st,
    const struct store_line *l);

/* The next chunk into buf[0..len), once buf is sent and bytes are left.
 * -1: the line failed a check (logged): send nothing more of it. */
int linecopy_fill(struct linecopy_stream *ls);

/* The line is sent, or abandoned: free and release what ls holds. */
void linecopy_end(struct linecopy_stream *ls);

#endif
