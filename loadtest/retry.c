/*
 * retry: the resend policy of a client whose connection broke (see
 * retry.h).
 */
#include "retry.h"

uint32_t
retry_sift(struct flight *ring, uint32_t depth, uint32_t head,
    uint32_t *count, uint32_t max)
{
	uint32_t i, kept = 0, from, to;

	for (i = 0; i < *count; i++) {
		from = (head + i) % depth;
		if (ring[from].tries >= max)
			continue;
		to = (head + kept++) % depth;
		if (to != from)
			ring[to] = ring[from];
	}
	i = *count - kept;
	*count = kept;
	return i;
}

uint64_t
retry_backoff(uint32_t n, uint32_t salt)
{
	uint64_t ns = RETRY_BASE_NS;

	if (n == 0)
		return 0;
	while (--n > 0 && ns < RETRY_MAX_NS)
		ns *= 2;
	if (ns > RETRY_MAX_NS)
		ns = RETRY_MAX_NS;
	return ns + ns / 4 * (salt % 8) / 8;
}
