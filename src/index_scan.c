/*
 * index_scan.c: text to pages. The newline scanner, the line checksums
 * folded into it, and the filling of pages from its line ends, handing
 * each complete page to an emit callback: the build's writer or the
 * repair. The build maps the text and has scanner threads take it a
 * window at a time (index_scan_window, its hot loop, and struct scan);
 * the repair scans chunks it reads.
 */
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "crc32c.h"
#include "index_format.h"
#include "region.h"
#include "text.h"

/* ---- newline scan ---- */

/*
 * The build's inner loop finds every LF. glibc's memchr is fast per call
 * but pays a call and setup per line, which dominates with ~100-byte lines;
 * scanning 64 bytes at a time into a bit mask and walking its set bits is
 * about twice as fast. SSE2 is part of the x86-64 baseline, so no runtime
 * dispatch is needed; other targets use a portable word-at-a-time scan.
 */
#if defined(__GNUC__)
#define SCAN_INLINE inline __attribute__((always_inline))
#else
#define SCAN_INLINE inline
#endif

#if defined(__SSE2__)
#include <emmintrin.h>

static SCAN_INLINE uint64_t
lf_mask64(const char *p)
{
	const __m128i lf = _mm_set1_epi8('\n');
	uint64_t m0 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
	    _mm_loadu_si128((const __m128i *)(const void *)p), lf));
	uint64_t m1 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
	    _mm_loadu_si128((const __m128i *)(const void *)(p + 16)), lf));
	uint64_t m2 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
	    _mm_loadu_si128((const __m128i *)(const void *)(p + 32)), lf));
	uint64_t m3 = (uint32_t)_mm_movemask_epi8(_mm_cmpeq_epi8(
	    _mm_loadu_si128((const __m128i *)(const void *)(p + 48)), lf));
	return m0 | m1 << 16 | m2 << 32 | m3 << 48;
}
#else
static SCAN_INLINE uint64_t
lf_mask64(const char *p)
{
	uint64_t m = 0;
	for (int i = 0; i < 64; i++)
		m |= (uint64_t)(p[i] == '\n') << i;
	return m;
}
#endif

/* Index of the lowest set bit of a non-zero mask. */
static unsigned
lowest_bit(uint64_t m)
{
#if defined(__GNUC__)
	/* One instruction (tzcnt/bsf) instead of a loop: GCC and Clang. */
	return (unsigned)__builtin_ctzll(m);
#else
	unsigned i = 0;
	while (!(m & 1)) {
		m >>= 1;
		i++;
	}
	return i;
#endif
}

/*
 * The ends (one past each LF, as offsets from p) of the lines whose LF is
 * in p[0..len), in order; returns how many. A block of 64 bytes stores the
 * ends of its first two LFs whether it has them or not (a line of ~100
 * bytes puts 0 or 1 in a block, in no order a branch could predict), and
 * only a block with more walks the rest. ends has room for len + 2.
 */
size_t
index_lf_ends(const char *p, size_t len, uint32_t *ends)
{
	const uint64_t top = 1ull << 63; /* a lowest bit even in an empty mask */
	size_t i = 0, n = 0;

	for (; i + 64 <= len; i += 64) {
		uint64_t m = lf_mask64(p + i);
		uint64_t rest = m & (m - 1);
		ends[n] = (uint32_t)(i + lowest_bit(m | top) + 1);
		ends[n + 1] = (uint32_t)(i + lowest_bit(rest | top) + 1);
		n += (m != 0) + (rest != 0);
		for (rest &= rest - 1; rest != 0; rest &= rest - 1)
			ends[n++] = (uint32_t)(i + lowest_bit(rest) + 1);
	}
	for (; i < len; i++)
		if (p[i] == '\n')
			ends[n++] = (uint32_t)(i + 1);
	return n;
}

#define SCAN_PIECE 4096 /* bytes whose line ends scan_lf collects at once */

/*
 * Call fn(arg, base + i + 1) for each LF at buf[i], in order; the argument is
 * the end of a line (one past its LF). Stops early when fn returns non-zero.
 */
typedef int (*line_end_fn)(void *arg, uint64_t end);

/*
 * Forced inline (GCC, Clang) so that each caller's fn becomes a direct,
 * inlined call: an indirect call per line costs the scan a third.
 */
static SCAN_INLINE int
scan_lf(const char *buf, size_t len, uint64_t base, line_end_fn fn, void *arg)
{
	uint32_t ends[SCAN_PIECE + 2];

	for (size_t at = 0; at < len; at += SCAN_PIECE) {
		size_t n = index_lf_ends(buf + at, len - at < SCAN_PIECE ?
		    len - at : SCAN_PIECE, ends);
		for (size_t i = 0; i < n; i++)
			if (fn(arg, base + at + ends[i]))
				return 1;
	}
	return 0;
}

static int
count_one(void *arg, uint64_t end)
{
	(void)end;
	(*(size_t *)arg)++;
	return 0;
}

size_t
index_count_lf(const char *buf, size_t len)
{
	size_t n = 0;

	scan_lf(buf, len, 0, count_one, &n);
	return n;
}

/* ---- line checksums over a stream of chunks (struct linecrc) ---- */

static void
linecrc_start(struct linecrc *lc, uint64_t at)
{
	lc->chunk = NULL;
	lc->base = lc->from = at;
	lc->carry = 0;
}

/* The CRC of the line that ends at end, inside the current chunk. */
static SCAN_INLINE uint32_t
linecrc_take(struct linecrc *lc, uint64_t end)
{
	uint32_t c = crc32c(lc->carry, lc->chunk + (lc->from - lc->base),
	    (size_t)(end - lc->from));

	lc->from = end;
	lc->carry = 0;
	return c;
}

/* The current chunk (len bytes) is done: carry the open line over. */
static void
linecrc_chunk_end(struct linecrc *lc, size_t len)
{
	uint64_t end = lc->base + len;

	lc->carry = crc32c(lc->carry, lc->chunk + (lc->from - lc->base),
	    (size_t)(end - lc->from));
	lc->from = end;
}

/* ---- page filling (struct pagefill) ---- */

void
pagefill_reset(struct pagefill *pf, uint64_t page, uint64_t at)
{
	pf->k = 0;
	pf->page = page;
	pf->lines = page * pf->m;
	pf->offs[0] = at;
	linecrc_start(&pf->lc, at);
}

static SCAN_INLINE int
pagefill_end(void *arg, uint64_t end)
{
	struct pagefill *pf = arg;

	pf->offs[++pf->k] = end;
	pf->lines++;
	if (pf->k < pf->m)
		return 0;
	if (pf->emit(pf))
		return 1;
	pf->page++;
	pf->offs[0] = end;
	pf->k = 0;
	return 0;
}

static SCAN_INLINE int
pagefill_end_crc(void *arg, uint64_t end)
{
	struct pagefill *pf = arg;

	pf->crcs[pf->k] = linecrc_take(&pf->lc, end);
	return pagefill_end(pf, end);
}

/* Without line checksums the scan stays the plain LF loop. */
int
pagefill_chunk(struct pagefill *pf, const char *p, size_t len, uint64_t pos)
{
	if (pf->crcs == NULL)
		return scan_lf(p, len, pos, pagefill_end, pf);
	pf->lc.chunk = p;
	pf->lc.base = pos;
	if (scan_lf(p, len, pos, pagefill_end_crc, pf))
		return 1;
	linecrc_chunk_end(&pf->lc, len);
	return 0;
}

int
pagefill_last_line(struct pagefill *pf, uint64_t size)
{
	/* Every chunk has ended, so the carry covers the whole line. */
	if (pf->crcs != NULL)
		pf->crcs[pf->k] = pf->lc.carry;
	return pagefill_end(pf, size);
}

void
pagefill_pad(struct pagefill *pf)
{
	for (unsigned j = pf->k + 1; j <= pf->m; j++)
		pf->offs[j] = pf->offs[pf->k];
	if (pf->crcs != NULL)
		for (unsigned j = pf->k; j < pf->m; j++)
			pf->crcs[j] = 0;
}


/* ---- a window of a mapped text, for the build ---- */

#define CRC_PIECE (1u << 20) /* bytes of a long line between cancel checks */

/* The CRC of a line of any length; a cancelled build stops hashing it. */
static uint32_t
long_line_crc(const char *p, uint64_t len)
{
	uint32_t c = 0;

	for (uint64_t at = 0; at < len && !index_cancelled; at += CRC_PIECE)
		c = crc32c(c, p + at, len - at < CRC_PIECE ? (size_t)(len - at) :
		    CRC_PIECE);
	return c;
}

size_t
index_scan_window(const char *map, uint64_t size, uint64_t lo, uint64_t hi,
    uint32_t *ends, uint32_t *crcs, uint64_t *from)
{
	size_t n = index_lf_ends(map + lo, (size_t)(hi - lo), ends);
	const char *lf;

	*from = lo;
	if (hi == size && size > lo && map[size - 1] != '\n')
		ends[n++] = (uint32_t)(size - lo);
	if (n == 0 || crcs == NULL)
		return n;
	/* The first line may have begun windows ago; the rest are hashed
	 * while the scan has them in the cache. */
	lf = lo > 0 ? memrchr(map, '\n', (size_t)lo) : NULL;
	*from = lf != NULL ? (uint64_t)(lf - map) + 1 : 0;
	crcs[0] = long_line_crc(map + *from, lo + ends[0] - *from);
	crc32c_runs(map + lo, ends, n - 1, crcs + 1);
	return n;
}

int
pagefill_lines(struct pagefill *pf, uint64_t lo, const uint32_t *ends,
    const uint32_t *crcs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (crcs != NULL)
			pf->crcs[pf->k] = crcs[i];
		if (pagefill_end(pf, lo + ends[i]))
			return 1;
	}
	return 0;
}

/* ---- the scanner threads (struct scan) ---- */

/*
 * Unmap [from, to) of the text again (the page cache keeps it), so that
 * the build's RSS stays a few MB whatever the size of the text; a scanner
 * that still needs some of it maps it back.
 */
static void
scan_unmap(const struct scan *s, uint64_t from, uint64_t to)
{
	from -= from % s->page;
	madvise((void *)(uintptr_t)(s->map + from), (size_t)(to - from),
	    MADV_DONTNEED);
}

/*
 * One window into its slot; -1 when the text shrank under the scan: a
 * SIGBUS, which the guard of text.h turns into a jump back here.
 */
static int
scan_window(struct scanner *sc)
{
	struct scan *s = sc->s;
	struct slot *sl = &s->slot[sc->w % SLOTS];
	uint64_t lo = sc->w * WINDOW;
	uint64_t hi = s->size - lo < WINDOW ? s->size : lo + WINDOW, from;
	sigjmp_buf env;

	/* A cold text: have the disk read well ahead of the scan, whichever
	 * scanner gets there first (a hot one: a cheap no-op). */
	if (s->size - lo > READ_AHEAD)
		madvise((void *)(uintptr_t)(s->map + lo + READ_AHEAD), WINDOW,
		    MADV_WILLNEED);
	if (sigsetjmp(env, 0) != 0)
		return -1;
	text_guard_on(&env);
	sl->n = index_scan_window(s->map, s->size, lo, hi, sl->ends,
	    s->line_crc ? sl->crcs : NULL, &from);
	if (hi == s->size)
		s->no_final_lf = s->map[s->size - 1] != '\n';
	text_guard_off();
	/* What the first line read before the window is unmapped again at
	 * once, the window itself by scan_release. */
	if (from < lo)
		scan_unmap(s, from, lo);
	return 0;
}

static void *
scanner_main(void *arg)
{
	struct scanner *sc = arg;
	struct scan *s = sc->s;
	int quit = 0;

	for (uint64_t w = (uint64_t)(sc - s->scanner); w < s->windows && !quit;
	    w += SCANNERS) {
		struct slot *sl = &s->slot[w % SLOTS];
		pthread_mutex_lock(&s->lock);
		while (sl->ready && !s->stop)
			pthread_cond_wait(&s->cond, &s->lock);
		quit = s->stop;
		pthread_mutex_unlock(&s->lock);
		if (quit)
			break;
		sc->w = w;
		int rc = scan_window(sc);
		pthread_mutex_lock(&s->lock);
		if (s->failed == SCAN_OK)
			s->failed = rc < 0 ? SCAN_SHRANK :
			    index_cancelled ? SCAN_CANCELLED : SCAN_OK;
		sl->ready = s->failed == SCAN_OK;
		quit = s->failed != SCAN_OK;
		pthread_cond_broadcast(&s->cond);
		pthread_mutex_unlock(&s->lock);
	}
	return NULL;
}

void
scan_stop(struct scan *s)
{
	pthread_mutex_lock(&s->lock);
	s->stop = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	for (int t = 0; t < s->threads; t++)
		pthread_join(s->scanner[t].thread, NULL);
	pthread_mutex_destroy(&s->lock);
	pthread_cond_destroy(&s->cond);
	for (int i = 0; i < SLOTS; i++) {
		region_free(s->slot[i].ends, SLOT_CAP * sizeof(uint32_t));
		region_free(s->slot[i].crcs, SLOT_CAP * sizeof(uint32_t));
	}
	if (s->map != NULL)
		munmap((void *)(uintptr_t)s->map, (size_t)s->size);
}

int
scan_start(struct scan *s, int fd, uint64_t size, int line_crc)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->size = size;
	s->windows = (size + WINDOW - 1) / WINDOW;
	s->line_crc = line_crc;
	s->page = (uint64_t)sysconf(_SC_PAGESIZE);
	if (size == 0)
		return 0;
	s->map = mmap(NULL, (size_t)size, PROT_READ, MAP_SHARED, fd, 0);
	if (s->map == MAP_FAILED) {
		s->map = NULL;
		return -1;
	}
	madvise((void *)(uintptr_t)s->map, (size_t)size, MADV_SEQUENTIAL);
	for (int i = 0; i < SLOTS; i++)
		if ((s->slot[i].ends = region_alloc(SLOT_CAP *
		    sizeof(uint32_t))) == NULL || (line_crc &&
		    (s->slot[i].crcs = region_alloc(SLOT_CAP *
		    sizeof(uint32_t))) == NULL))
			return -1;
	text_install_guard();
	for (; s->threads < SCANNERS; s->threads++) {
		struct scanner *sc = &s->scanner[s->threads];
		sc->s = s;
		if (pthread_create(&sc->thread, NULL, scanner_main, sc) != 0)
			return -1;
	}
	return 0;
}

int
scan_wait(struct scan *s, uint64_t w)
{
	struct slot *sl = &s->slot[w % SLOTS];
	int failed;

	pthread_mutex_lock(&s->lock);
	while (!sl->ready && s->failed == SCAN_OK)
		pthread_cond_wait(&s->cond, &s->lock);
	failed = s->failed;
	pthread_mutex_unlock(&s->lock);
	return failed;
}

void
scan_release(struct scan *s, uint64_t w)
{
	pthread_mutex_lock(&s->lock);
	s->slot[w % SLOTS].ready = 0;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	/* Every scanner is past window w - 2 (the slots let none lag
	 * further), so only a long line's first read could still want it. */
	if (w >= 2)
		scan_unmap(s, (w - 2) * WINDOW, (w - 1) * WINDOW);
}
