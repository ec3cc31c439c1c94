/*
 * linecopy: lines copied from the text into answers, checked on the way
 * (see linecopy.h).
 */
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "log.h"
#include "linecopy.h"

static struct log_limit oom_limit;

void
linecopy_end(struct linecopy_stream *ls)
{
	ls->left = 0;
	ls->pos = ls->len = 0;
	free(ls->buf);
	ls->buf = NULL;
	store_release(ls->store);
	ls->store = NULL;
}

int
linecopy_fill(struct linecopy_stream *ls)
{
	struct store *st = ls->store;
	const struct store_line *l = &ls->line;
	size_t n = ls->left > STREAM_CHUNK ? STREAM_CHUNK : (size_t)ls->left;
	int last = n == ls->left;
	char *p = ls->buf;

	if (text_copy(&st->text, p, ls->off, n) < 0) {
		store_line_bad(st, l, "is cut short (the file shrank)");
		return -1;
	}
	ls->crc = crc32c(ls->crc, p, n);
	if (memchr(p, '\n', n - (last && !l->add_lf)) != NULL ||
	    (last && !l->add_lf && p[n - 1] != '\n')) {
		store_line_bad(st, l, "has an LF where the index has none");
		return -1;
	}
	if (last && st->line_crc && ls->crc != l->crc) {
		store_line_bad(st, l, "failed its checksum");
		return -1;
	}
	if (last && l->add_lf)
		p[n++] = '\n';
	ls->off += n - (last && l->add_lf);
	ls->left -= n - (last && l->add_lf);
	ls->pos = 0;
	ls->len = n;
	return 0;
}

int
linecopy_start(struct linecopy_stream *ls, struct store *st,
    const struct store_line *l)
{
	/* The line must start after an LF, or the text changed. */
	if (l->off > 0 && text_byte(&st->text, l->off - 1) != '\n') {
		store_line_bad(st, l, "does not start where the index says");
		return -1;
	}
	if ((ls->buf = malloc(STREAM_CHUNK + 1)) == NULL) {
		log_limited(&oom_limit, LOG_WARN, "out of memory for a long line");
		return -1;
	}
	store_hold(st);
	ls->store = st;
	ls->line = *l;
	ls->off = l->off;
	ls->left = l->len;
	ls->crc = 0;
	if (linecopy_fill(ls) < 0) {
		linecopy_end(ls);
		return -1;
	}
	return 0;
}
