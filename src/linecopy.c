/*
 * linecopy: lines copied from the text into answers, checked on the way
 * (see linecopy.h).
 */
#include <setjmp.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "crc32c.h"
#include "crc32c_hw.h"
#include "log.h"
#include "linecopy.h"
#include "proto.h"

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

/* The one-pass copy and checks of crc32c_copy_find, or an inline copy. */
typedef uint32_t copy_find_fn(uint32_t crc, void *dst, const void *src,
    size_t len, unsigned char byte, size_t scan, int *found);

/*
 * The same from the mapping, under the caller's guard: the line is read
 * once, copied, scanned for an early LF and checksummed in one pass.
 * Inlined into each answer loop below with its copy function.
 */
static inline __attribute__((always_inline)) size_t
answer_mapped(struct store *st, const struct store_line *l, char *p,
    copy_find_fn *copy_find)
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
	crc = copy_find(0, p + 4, text + l->off, len, '\n', body, &early);
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
	memcpy(p, PROTO_ERR, sizeof(PROTO_ERR) - 1);
	return sizeof(PROTO_ERR) - 1;
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

/* How far a batch of answers got: read back after a fault. */
struct progress {
	volatile unsigned at;     /* the GET being answered */
	volatile size_t used;     /* where its answer starts */
	volatile unsigned bad;    /* ERRs so far */
};

/*
 * Answer g[pr->at..n) from the mapping into out + pr->used; the caller's
 * guard is on. Inlined into a loop per copy function below.
 */
static inline __attribute__((always_inline)) void
answer_loop(struct store *st, const struct pending_get *g, unsigned n,
    char *out, struct progress *pr, copy_find_fn *copy_find)
{
	size_t used = pr->used, k;

	for (unsigned i = pr->at; i < n; i++, used += k) {
		pr->at = i;
		pr->used = used;
		/* The progress is in memory before line i is read: the SIGBUS
		 * handler's jump sees it (no instruction, a compiler fence). */
		atomic_signal_fence(memory_order_seq_cst);
		if (!g[i].ok || (k = answer_mapped(st, &g[i].line, out + used,
		    copy_find)) == 0) {
			k = put_err(out + used);
			pr->bad++;
		}
	}
	pr->at = n;
	pr->used = used;
}

static void
answer_loop_any(struct store *st, const struct pending_get *g, unsigned n,
    char *out, struct progress *pr)
{
	answer_loop(st, g, n, out, pr, crc32c_copy_find);
}

#if CRC32C_HW
/* crc32c_copy_find's one pass, inline; short lines call it. */
__attribute__((target("sse4.2")))
static inline uint32_t
copy_find_inline(uint32_t crc, void *dst, const void *src, size_t len,
    unsigned char byte, size_t scan, int *found)
{
	int short_found;
	uint32_t r;

	if (len >= 16)
		return crc32c_copy_find_hw(crc, dst, src, len, byte, scan, found);
	/* Through a local: *found then stays in a register on the way of
	 * nearly every line, which is not this one. */
	r = crc32c_copy_find(crc, dst, src, len, byte, scan, &short_found);
	*found = short_found;
	return r;
}

/* The loop with the copy inline: compiled for SSE4.2, and chosen only
 * where the CPU has it. */
__attribute__((target("sse4.2")))
static void
answer_loop_hw(struct store *st, const struct pending_get *g, unsigned n,
    char *out, struct progress *pr)
{
	answer_loop(st, g, n, out, pr, copy_find_inline);
}
#endif

static void
answer_loop_best(struct store *st, const struct pending_get *g, unsigned n,
    char *out, struct progress *pr)
{
#if CRC32C_HW
	if (crc32c_hw_available()) {
		answer_loop_hw(st, g, n, out, pr);
		return;
	}
#endif
	answer_loop_any(st, g, n, out, pr);
}

/*
 * From the mapping, under one SIGBUS guard for the whole batch rather than
 * a sigsetjmp per line. A fault (the file shrank under a line) jumps back
 * to the sigsetjmp with pr.at on that line: it gets ERR, and the rest of
 * the batch goes on under the guard again.
 */
static size_t
answers_mapped(struct store *st, const struct pending_get *g, unsigned n,
    char *out, unsigned *errs)
{
	struct progress pr = { 0, 0, 0 };
	sigjmp_buf env;

	if (sigsetjmp(env, 0) != 0) {
		text_guard_off();
		store_line_bad(st, &g[pr.at].line,
		    "is cut short (the file shrank)");
		pr.used += put_err(out + pr.used);
		pr.bad++;
		pr.at++;
	}
	text_guard_on(&env);
	answer_loop_best(st, g, n, out, &pr);
	text_guard_off();
	*errs = pr.bad;
	return pr.used;
}

size_t
linecopy_answers(struct store *st, const struct pending_get *g, unsigned n,
    char *out, unsigned *errs)
{
	if (st->text.map == NULL)
		return answers_read(st, g, n, out, errs);
	return answers_mapped(st, g, n, out, errs);
}
