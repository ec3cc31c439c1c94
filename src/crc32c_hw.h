/*
 * crc32c_hw: the CRC-32C loops built on the SSE4.2 crc32 instruction,
 * inline, for crc32c.c and for the answer loop of linecopy.c, which
 * inlines the one-pass copy into a batch. Private to those two; callers
 * compile them into functions with target("sse4.2") and choose those at
 * run time (crc32c_hw_available), so the binary still runs on x86-64
 * CPUs without the instruction. CRC32C_HW is 0 where there are none.
 */
#ifndef LINESVR_CRC32C_HW_H
#define LINESVR_CRC32C_HW_H

#if defined(__x86_64__) && defined(__GNUC__)
#define CRC32C_HW 1

#include <emmintrin.h>
#include <nmmintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

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
	/*
	 * The CRC of the copy, not of s read again: a file written in place
	 * between two reads would have one version sent and another one
	 * checked. The empty asm with a memory clobber makes the compiler
	 * read the copy back from memory, into crc32's memory operand (one
	 * instruction a word), rather than take the words out of v (two).
	 */
	__asm__ volatile("" ::: "memory");
	memcpy(w, d, 16);
	*c = _mm_crc32_u64(_mm_crc32_u64(*c, w[0]), w[1]);
	return _mm_or_si128(seen, _mm_cmpeq_epi8(v, want));
}

__attribute__((target("sse4.2")))
static inline uint32_t
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
	/* The rest from the copy too: what is sent is what is checked. */
	for (; i + 8 <= len; i += 8) {
		memcpy(&w, d + i, 8);
		c = _mm_crc32_u64(c, w);
	}
	return ~(uint32_t)crc_tail_hw(c, d + i, len - i);
}

#else
#define CRC32C_HW 0
#endif

#endif
