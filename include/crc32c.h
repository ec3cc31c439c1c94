/*
 * crc32c: CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the
 * checksum of the index header and pages: the CPU's crc32 instruction where
 * there is one, portable software (slicing-by-8) elsewhere.
 */
#ifndef LINESVR_CRC32C_H
#define LINESVR_CRC32C_H

#include <stddef.h>
#include <stdint.h>

/*
 * Continue a CRC over buf[0..len). Start with crc = 0; the result of one call
 * is the crc argument of the next, so crc32c(crc32c(0, a), b) = crc32c(0, ab).
 * crc32c(0, "123456789", 9) == 0xE3069283.
 */
uint32_t crc32c(uint32_t crc, const void *buf, size_t len);

/*
 * Copy src[0..len) to dst and continue crc over it, and set *found to
 * whether byte occurs in its first scan bytes (scan <= len): what a line's
 * checks need. With scan = len or len - 1 (the bytes before a line's own
 * LF), one pass reads the line once. The ranges must not overlap.
 */
uint32_t crc32c_copy_find(uint32_t crc, void *dst, const void *src,
    size_t len, unsigned char byte, size_t scan, int *found);

/* Whether this CPU has the crc32 instruction (SSE4.2) the fast paths use. */
int crc32c_hw_available(void);

/*
 * Many runs laid end to end: crcs[i] = crc32c(0, base + bounds[i],
 * bounds[i + 1] - bounds[i]) for i < n, bounds non-decreasing. Short runs
 * are hashed several at once, several times faster than one by one. A run
 * that starts at least 8 bytes into base may have the up to 7 bytes
 * before it read (not used): they must be readable.
 */
void crc32c_runs(const void *base, const uint32_t *bounds, size_t n,
    uint32_t *crcs);

/* The software path alone, whatever the CPU: for tests. */
uint32_t crc32c_portable(uint32_t crc, const void *buf, size_t len);

#endif
