/*
 * tally: one thread's counters and latency histogram, and their merge.
 */
#include <string.h>

#include "bench.h"

const char *const err_kind_name[ERR_KINDS] = {
	[ERR_CONNECT_REFUSED] = "connect_refused",
	[ERR_CONNECT_TIMEOUT] = "connect_timeout",
	[ERR_CONNECT_OTHER] = "connect_other",
	[ERR_CLOSED] = "closed_by_server",
	[ERR_IO] = "io",
	[ERR_PROTOCOL] = "protocol",
	[ERR_ANSWER] = "error_answer",
	[ERR_STALLED] = "stalled",
};

void
tally_init(struct tally *t)
{
	memset(t, 0, sizeof(*t));
	hist_init(&t->lat);
}

void
tally_merge(struct tally *dst, const struct tally *src)
{
	int i;

	dst->answers += src->answers;
	dst->measured += src->measured;
	dst->hits += src->hits;
	dst->misses += src->misses;
	dst->verified += src->verified;
	dst->mismatches += src->mismatches;
	for (i = 0; i < ERR_KINDS; i++)
		dst->err[i] += src->err[i];
	dst->behind += src->behind;
	dst->sent += src->sent;
	dst->retries += src->retries;
	dst->reconnects += src->reconnects;
	dst->abandoned += src->abandoned;
	dst->lost += src->lost;
	dst->bytes_in += src->bytes_in;
	dst->bytes_out += src->bytes_out;
	dst->connected += src->connected;
	if (src->t_last > dst->t_last)
		dst->t_last = src->t_last;
	hist_merge(&dst->lat, &src->lat);
}
