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
#include <string.h>

#include "store.h"

#define STREAM_CHUNK    (64 * 1024)  /* bytes of a long line copied per write */

/*
 * "OK\r\n" and line l of st (with the LF it lacks, if add_lf) into p,
 * which has room for l->len + 5 bytes: the answer's length, or 0 when the
 * line failed a check.
 */
static inline size_t
linecopy_whole(struct store *st, const struct store_line *l, char *p)
{
	uint64_t a = l->off, len = l->len;

	/*
	 * Copy from one byte before the line, landing that byte where the LF
	 * of "OK\r\n" goes: it must be an LF, or the line does not start
	 * where the index says. Then the line itself is checked where it
	 * landed: one LF, at its end, and its checksum.
	 */
	if (a == 0)
		p[3] = '\n';
	if (text_copy(&st->text, p + 3 + (a == 0), a - (a > 0), len + (a > 0))
	    < 0 || p[3] != '\n') {
		store_line_bad(st, l, "does not start where the index says");
		return 0;
	}
	if (store_check_line(st, l, p + 4) < 0)
		return 0;
	memcpy(p, "OK\r", 3);
	if (l->add_lf)
		p[4 + len] = '\n';
	return 4 + len + (size_t)l->add_lf;
}

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
