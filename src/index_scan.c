/*
 * index_scan.c: text to pages. The newline scanner, the line checksums
 * folded into it, and the filling of pages from its line ends, handing
 * each complete page to an emit callback: the build's writer or the
 * repair. The scan is the build's hot loop.
 */
#include "crc32c.h"
#include "index_format.h"

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
 * Call fn(arg, base + i + 1) for each LF at buf[i], in order; the argument is
 * the end of a line (one past its LF). Stops early when fn returns non-zero.
 */
typedef int (*line_end_fn)(void *arg, uint64_t end);

/*
 * Forced inline (GCC, Clang) so that each caller's fn becomes a direct,
 * inlined call: an indirect call per line costs the build a third.
 */
static SCAN_INLINE int
scan_lf(const char *buf, size_t len, uint64_t base, line_end_fn fn, void *arg)
{
	size_t i = 0;

	for (; i + 64 <= len; i += 64) {
		uint64_t m = lf_mask64(buf + i);
		while (m) {
			if (fn(arg, base + i + lowest_bit(m) + 1))
				return 1;
			m &= m - 1;
		}
	}
	for (; i < len; i++)
		if (buf[i] == '\n' && fn(arg, base + i + 1))
			return 1;
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

