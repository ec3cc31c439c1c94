/*
 * crc32c: CRC-32C with the SSE4.2 crc32 instruction when the CPU has it
 * (about ten times the speed), else in software, slicing-by-8 (eight table
 * lookups per eight bytes). Tables are built once, on first use. Many short
 * runs (the index build's lines) are hashed four at a time.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"
#include "crc32c_hw.h"

#define POLY 0x82F63B78u /* Castagnoli, reflected */

static uint32_t table[8][256];
static pthread_once_t table_once = PTHREAD_ONCE_INIT;

static void
table_init(void)
{
	for (uint32_t n = 0; n < 256; n++) {
		uint32_t c = n;
		for (int k = 0; k < 8; k++)
			c = (c & 1) ? (c >> 1) ^ POLY : c >> 1;
		table[0][n] = c;
	}
	for (uint32_t n = 0; n < 256; n++)
		for (int t = 1; t < 8; t++)
			table[t][n] = (table[t - 1][n] >> 8) ^
			    table[0][table[t - 1][n] & 0xff];
}

/* Little-endian load without alignment assumptions. */
static uint64_t
load_le64(const unsigned char *p)
{
	uint64_t v = 0;
	for (int i = 7; i >= 0; i--)
		v = (v << 8) | p[i];
	return v;
}

#if CRC32C_HW
__attribute__((target("sse4.2")))
static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	uint64_t c = ~crc;
	uint64_t v[4];

	/* Four words a turn: a ~100-byte line is three turns and a word,
	 * not thirteen turns of loop overhead. */
	for (; len >= 32; p += 32, len -= 32) {
		memcpy(v, p, 32); /* x86 is little-endian */
		c = _mm_crc32_u64(c, v[0]);
		c = _mm_crc32_u64(c, v[1]);
		c = _mm_crc32_u64(c, v[2]);
		c = _mm_crc32_u64(c, v[3]);
	}
	for (; len >= 8; p += 8, len -= 8) {
		memcpy(v, p, 8);
		c = _mm_crc32_u64(c, v[0]);
	}
	return ~(uint32_t)crc_tail_hw(c, p, len);
}

/*
 * crc32c_runs, the hardware way. One crc32 takes three cycles but the CPU
 * starts one every cycle, so a single ~100-byte run leaves it idle two
 * thirds of the time: four runs are hashed side by side instead. Runs
 * side by side must be the same number of words long, and a branch on
 * each run's own length mispredicts about once a run, which costs more
 * than its hashing; so runs are first sorted by length in words (a
 * counting sort of up to RUN_BATCH runs), and every group of four of one
 * length is a loop of fixed count.
 *
 * A run of len bytes is hashed as whole words: its first word also takes
 * the z = -len % 8 bytes before it, masked to zero, and starts from
 * zero_pad[z], the register that z zero bytes turn into the initial
 * 0xFFFFFFFF. The last word then ends exactly at the run's end.
 */
#define RUN_WORDS 32   /* longer runs (over 256 bytes) go one at a time */
#define RUN_BATCH 1024 /* runs sorted at once */

static const uint32_t zero_pad[8] = {
	0xFFFFFFFF, 0xA942E6BC, 0x2804363B, 0x96DB52A8,
	0x641F6454, 0xCBAA9B55, 0x08DE2648, 0xF145FF88
};

/* The register after run i's first word; *w is where its words start. */
__attribute__((target("sse4.2")))
static inline uint64_t
run_first(const unsigned char *base, const uint32_t *bounds, uint32_t i,
    const unsigned char **w)
{
	unsigned z = (unsigned)-(bounds[i + 1] - bounds[i]) & 7;
	uint64_t v;

	*w = base + bounds[i] - z;
	memcpy(&v, *w, 8);
	return _mm_crc32_u64(zero_pad[z], v & ~0ull << (8 * z));
}

__attribute__((target("sse4.2")))
static inline uint64_t
word_crc(uint64_t c, const unsigned char *p)
{
	uint64_t v;

	memcpy(&v, p, 8);
	return _mm_crc32_u64(c, v);
}

/* The runs idx[0..cnt), each nw words long, four side by side. */
__attribute__((target("sse4.2")))
static void
runs_of_length(const unsigned char *base, const uint32_t *bounds,
    const uint32_t *idx, size_t cnt, size_t nw, uint32_t *crcs)
{
	size_t i = 0;

	for (; i + 4 <= cnt; i += 4) {
		const unsigned char *p0, *p1, *p2, *p3;
		uint64_t c0 = run_first(base, bounds, idx[i], &p0);
		uint64_t c1 = run_first(base, bounds, idx[i + 1], &p1);
		uint64_t c2 = run_first(base, bounds, idx[i + 2], &p2);
		uint64_t c3 = run_first(base, bounds, idx[i + 3], &p3);
		for (size_t k = 8; k < 8 * nw; k += 8) {
			c0 = word_crc(c0, p0 + k);
			c1 = word_crc(c1, p1 + k);
			c2 = word_crc(c2, p2 + k);
			c3 = word_crc(c3, p3 + k);
		}
		crcs[idx[i]] = ~(uint32_t)c0;
		crcs[idx[i + 1]] = ~(uint32_t)c1;
		crcs[idx[i + 2]] = ~(uint32_t)c2;
		crcs[idx[i + 3]] = ~(uint32_t)c3;
	}
	for (; i < cnt; i++) {
		const unsigned char *p;
		uint64_t c = run_first(base, bounds, idx[i], &p);
		for (size_t k = 8; k < 8 * nw; k += 8)
			c = word_crc(c, p + k);
		crcs[idx[i]] = ~(uint32_t)c;
	}
}

/*
 * Runs b..b+n: sorted by length in words into idx; class 0 holds those
 * hashed one at a time (long, empty, or too near base to read before).
 */
__attribute__((target("sse4.2")))
static void
runs_batch(const unsigned char *base, const uint32_t *bounds, size_t n,
    uint32_t *crcs)
{
	uint32_t idx[RUN_BATCH];
	unsigned char cls[RUN_BATCH];
	size_t at[RUN_WORDS + 2] = { 0 };

	for (size_t i = 0; i < n; i++) {
		uint32_t len = bounds[i + 1] - bounds[i];
		size_t nw = ((size_t)len + 7) / 8;
		cls[i] = (unsigned char)(nw <= RUN_WORDS && len > 0 &&
		    bounds[i] >= 8 ? nw : 0);
		at[cls[i] + 1]++;
	}
	for (size_t k = 1; k <= RUN_WORDS + 1; k++)
		at[k] += at[k - 1];
	for (size_t i = 0; i < n; i++)
		idx[at[cls[i]]++] = (uint32_t)i;
	/* at[k] is now where class k ends, and so where k + 1 starts. */
	for (size_t i = 0; i < at[0]; i++)
		crcs[idx[i]] = crc32c_hw(0, base + bounds[idx[i]],
		    bounds[idx[i] + 1] - bounds[idx[i]]);
	for (size_t k = 1; k <= RUN_WORDS; k++)
		runs_of_length(base, bounds, idx + at[k - 1], at[k] - at[k - 1],
		    k, crcs);
}

static void
crc32c_runs_hw(const void *base, const uint32_t *bounds, size_t n,
    uint32_t *crcs)
{
	for (size_t b = 0; b < n; b += RUN_BATCH)
		runs_batch(base, bounds + b, n - b < RUN_BATCH ? n - b :
		    RUN_BATCH, crcs + b);
}

static int
have_hw(void)
{
	return __builtin_cpu_supports("sse4.2");
}
#else
static int
have_hw(void)
{
	return 0;
}

static uint32_t
crc32c_hw(uint32_t crc, const unsigned char *p, size_t len)
{
	(void)p;
	(void)len;
	return crc;
}

static uint32_t
crc32c_copy_find_hw(uint32_t crc, void *dst, const void *src, size_t len,
    unsigned char byte, size_t scan, int *found)
{
	(void)dst;
	(void)src;
	(void)len;
	(void)byte;
	(void)scan;
	*found = 0;
	return crc;
}

static void
crc32c_runs_hw(const void *base, const uint32_t *bounds, size_t n,
    uint32_t *crcs)
{
	(void)base;
	(void)bounds;
	(void)n;
	(void)crcs;
}
#endif

int
crc32c_hw_available(void)
{
	return have_hw();
}

uint32_t
crc32c(uint32_t crc, const void *buf, size_t len)
{
	if (have_hw())
		return crc32c_hw(crc, buf, len);
	return crc32c_portable(crc, buf, len);
}

/* crc32c_copy_find in three passes: no crc32 instruction, short lines,
 * or a scan that the one-pass loop does not cover. */
static __attribute__((noinline)) uint32_t
copy_find_apart(uint32_t crc, void *dst, const void *src, size_t len,
    unsigned char byte, size_t scan, int *found)
{
	memcpy(dst, src, len);
	*found = scan > 0 && memchr(dst, byte, scan) != NULL;
	return crc32c(crc, dst, len);
}

uint32_t
crc32c_copy_find(uint32_t crc, void *dst, const void *src, size_t len,
    unsigned char byte, size_t scan, int *found)
{
	if (have_hw() && len >= 16 && scan <= len && scan + 1 >= len)
		return crc32c_copy_find_hw(crc, dst, src, len, byte, scan,
		    found);
	return copy_find_apart(crc, dst, src, len, byte, scan, found);
}

void
crc32c_runs(const void *base, const uint32_t *bounds, size_t n,
    uint32_t *crcs)
{
	const unsigned char *p = base;

	if (have_hw()) {
		crc32c_runs_hw(base, bounds, n, crcs);
		return;
	}
	for (size_t i = 0; i < n; i++)
		crcs[i] = crc32c_portable(0, p + bounds[i],
		    bounds[i + 1] - bounds[i]);
}

uint32_t
crc32c_portable(uint32_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	pthread_once(&table_once, table_init);
	crc = ~crc;
	while (len >= 8) {
		uint64_t v = load_le64(p) ^ crc;
		crc = table[7][v & 0xff] ^ table[6][(v >> 8) & 0xff] ^
		    table[5][(v >> 16) & 0xff] ^ table[4][(v >> 24) & 0xff] ^
		    table[3][(v >> 32) & 0xff] ^ table[2][(v >> 40) & 0xff] ^
		    table[1][(v >> 48) & 0xff] ^ table[0][v >> 56];
		p += 8;
		len -= 8;
	}
	while (len--)
		crc = (crc >> 8) ^ table[0][(crc ^ *p++) & 0xff];
	return ~crc;
}
