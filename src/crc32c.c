/*
 * crc32c: CRC-32C with the SSE4.2 crc32 instruction when the CPU has it
 * (about ten times the speed), else in software, slicing-by-8 (eight table
 * lookups per eight bytes). Tables are built once, on first use.
 */
#include <pthread.h>
#include <string.h>

#include "crc32c.h"

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

#if defined(__x86_64__) && defined(__GNUC__)
/*
 * GCC and Clang: compile this one function for SSE4.2 and pick it at run
 * time, so the binary still runs on x86-64 CPUs without the instruction.
 */
#include <emmintrin.h>
#include <nmmintrin.h>

/*
 * The last len (< 8) bytes in at most three steps, not up to seven: a line
 * is short, so its tail is a large part of its CRC.
 */
__attribute__((target("sse4.2")))
static inline uint64_t
crc_tail_hw(uint64_t c, const unsigned char *p, size_t len)
{
	if (len >= 4) {
		uint32_t w;
		memcpy(&w, p, 4);
		c = _mm_crc32_u32((uint32_t)c, w);
		p += 4;
		len -= 4;
	}
	if (len >= 2) {
		uint16_t h;
		memcpy(&h, p, 2);
		c = _mm_crc32_u16((uint32_t)c, h);
		p += 2;
		len -= 2;
	}
	if (len > 0)
		c = _mm_crc32_u8((uint32_t)c, *p);
	return c;
}

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
 * crc32c_copy_find in one pass, for len >= 16 and scan = len or len - 1:
 * sixteen bytes at a time are loaded once, stored, compared with the byte
 * sought and fed to two crc32s, up to scan, two such chunks a turn. The
 * last sixteen bytes (which then hold all that is left) are copied and
 * compared again, overlapping what is done (harmless: the same bytes), so
 * that nothing is read or written past len; the CRC takes only the bytes
 * not yet in it.
 */
__attribute__((target("sse4.2")))
static inline __m128i
copy_chunk_hw(unsigned char *d, const unsigned char *s, __m128i want,
    __m128i seen, uint64_t *c)
{
	__m128i v = _mm_loadu_si128((const __m128i *)(const void *)s);
	uint64_t w[2];

	_mm_storeu_si128((__m128i *)(void *)d, v);
	memcpy(w, s, 16);
	*c = _mm_crc32_u64(_mm_crc32_u64(*c, w[0]), w[1]);
	return _mm_or_si128(seen, _mm_cmpeq_epi8(v, want));
}

__attribute__((target("sse4.2")))
static uint32_t
crc32c_copy_find_hw(uint32_t crc, void *dst, const void *src, size_t len,
    unsigned char byte, size_t scan, int *found)
{
	const unsigned char *s = src;
	unsigned char *d = dst;
	const __m128i want = _mm_set1_epi8((char)byte);
	__m128i seen = _mm_setzero_si128();
	uint64_t c = ~crc, w;
	unsigned hits;
	size_t i = 0;

	for (; i + 32 <= scan; i += 32) {
		seen = copy_chunk_hw(d + i, s + i, want, seen, &c);
		seen = copy_chunk_hw(d + i + 16, s + i + 16, want, seen, &c);
	}
	if (i + 16 <= scan) {
		seen = copy_chunk_hw(d + i, s + i, want, seen, &c);
		i += 16;
	}
	{
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)
		    (s + len - 16));

		_mm_storeu_si128((__m128i *)(void *)(d + len - 16), v);
		/* Bit k: byte len - 16 + k; only those before scan count. */
		hits = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(v, want));
		if (scan < len)
			hits &= 0x7FFF;
	}
	*found = (hits | (unsigned)_mm_movemask_epi8(seen)) != 0;
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, s + i, 8);
		c = _mm_crc32_u64(c, w);
	}
	return ~(uint32_t)crc_tail_hw(c, s + i, len - i);
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
#endif

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
