/*
 * region: memory for a structure whose every byte counts against a bound
 * (the page cache, the page table: SPEC §5, measured as RssAnon). A large
 * region is mapped with MAP_NORESERVE, so pages never touched cost
 * nothing and a structure that never fills costs only what it used; a
 * small one comes from calloc. region_cost() is the most a region of a
 * given size can cost, so a bound that sums the costs of its parts holds.
 */
#ifndef LINESVR_REGION_H
#define LINESVR_REGION_H

#include <stddef.h>
#include <stdint.h>

#define REGION_MAP_MIN      (64 << 10) /* bytes; larger regions are mapped */
#define REGION_MALLOC_SLACK 32         /* bytes malloc may add to a block */

/* What a region of bytes costs: a mapping is rounded up to whole memory
 * pages; a calloc'd block pays malloc's header and rounding. */
uint64_t region_cost(uint64_t bytes);

/* bytes of zeroed memory, or NULL (errno set). */
void *region_alloc(size_t bytes);

/* Free what region_alloc(bytes) gave; NULL is ignored. */
void region_free(void *p, size_t bytes);

#endif
