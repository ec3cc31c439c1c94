/*
 * region: counted memory, mapped when large (see region.h).
 */
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "region.h"

uint64_t
region_cost(uint64_t bytes)
{
	long pg = sysconf(_SC_PAGESIZE);
	uint64_t page = pg > 0 ? (uint64_t)pg : 4096;

	if (bytes >= REGION_MAP_MIN)
		return (bytes + page - 1) / page * page;
	return bytes + REGION_MALLOC_SLACK;
}

void *
region_alloc(size_t bytes)
{
	void *p;

	if (bytes < REGION_MAP_MIN)
		return calloc(1, bytes);
	p = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

void
region_free(void *p, size_t bytes)
{
	if (p == NULL)
		return;
	if (bytes < REGION_MAP_MIN)
		free(p);
	else
		munmap(p, bytes);
}
