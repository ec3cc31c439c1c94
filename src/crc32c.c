/*
 * crc32c: CRC-32C with the SSE4.2 crc32 instruction when the CPU has it
 * (about ten times the speed), else in software, slicing-by-8 (eight table
 * lookups per eight bytes). Tables are built once, on first use.
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
