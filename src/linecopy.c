/*
 * linecopy: lines copied from the text into answers, checked on the way
 * (see linecopy.h).
 */
#include <setjmp.h>
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

/* ---- whole lines, a batch at a time ---- */

#define ERR_TEXT "ERR\r\n"

/*
 * "OK\r\n" and line l into p, read with text_copy (a file read with
 * pread) and checked: the answer's length, or 0 when a check failed. The
 * copy starts one byte before the line, landing that byte where the LF of
 * "OK\r\n" goes: it must be an LF, or the line does not start where the
 * index says.
 */
static size_t
answer_read(struct store *st, const struct store_line *l, char *p)
{
	uint64_t a = l->off, len = l->len;

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

/*
 * The same from the mapping, under the caller's guard: the line is read
 * once, copied, scanned for an early LF and checksummed in one pass.
 */
static size_t
answer_mapped(struct store *st, const struct store_line *l, char *p)
{
	const char *text = st->text.map;
	size_t len = (size_t)l->len;
	size_t body = l->add_lf || len == 0 ? len : len - 1;
	uint32_t crc;
	int early;

	if (l->off > st->text.size || len > st->text.size - l->off ||
	    (l->off > 0 && text[l->off - 1] != '\n')) {
		store_line_bad(st, l, "does not start where the index says");
		return 0;
	}
	crc = crc32c_copy_find(0, p + 4, text + l->off, len, '\n', body,
	    &early);
	/* The checks of store_judge_line, there only to name a failure. */
	if ((early || (st->line_crc && crc != l->crc) ||
	    (!l->add_lf && (len == 0 || p[4 + len - 1] != '\n'))) &&
	    store_judge_line(st, l, p + 4, early, crc) < 0)
		return 0;
	memcpy(p, "OK\r\n", 4);
	if (l->add_lf)
		p[4 + len++] = '\n';
	return 4 + len;
}

static size_t
put_err(char *p)
{
	memcpy(p, ERR_TEXT, sizeof(ERR_TEXT) - 1);
	return sizeof(ERR_TEXT) - 1;
}

static size_t
answers_read(struct store *st, const struct pending_get *g, unsigned n,
    char *out, unsigned *errs)
{
	size_t used = 0, k;

	*errs = 0;
	for (unsigned i = 0; i < n; i++) {
		if (g[i].ok && (k = answer_read(st, &g[i].line, out + used)) > 0)
			used += k;
		else {
			used += put_err(out + used);
			++*errs;
		}
	}
	return used;
}

/*
 * From the mapping, under one SIGBUS guard for the whole batch rather than
 * a sigsetjmp per line. A fault (the file shrank under a line) jumps back
 * to the sigsetjmp with i at that line: it gets ERR, and the rest of the
 * batch goes on under the guard again.
 */
static size_t
answers_mapped(struct store *st, const struct pending_get *g, unsigned n,
    char *out, unsigned *errs)
{
	sigjmp_buf env;
	/* Where a fault jumps back to: the line being read, where its
	 * answer starts, and the ERRs so far. */
	volatile unsigned at = 0, bad = 0;
	volatile size_t at_used = 0;
	size_t used, k;
	unsigned i;

	if (sigsetjmp(env, 0) != 0) {
		text_guard_off();
		store_line_bad(st, &g[at].line, "is cut short (the file shrank)");
		at_used += put_err(out + at_used);
		bad++;
		at++;
	}
	text_guard_on(&env);
	for (i = at, used = at_used; i < n; i++, used += k) {
		at = i;
		at_used = used;
		if (!g[i].ok || (k = answer_mapped(st, &g[i].line,
		    out + used)) == 0) {
			k = put_err(out + used);
			bad++;
		}
	}
	text_guard_off();
	*errs = bad;
	return used;
}

size_t
linecopy_answers(struct store *st, const struct pending_get *g, unsigned n,
    char *out, unsigned *errs)
{
	if (st->text.map == NULL)
		return answers_read(st, g, n, out, errs);
	return answers_mapped(st, g, n, out, errs);
}
