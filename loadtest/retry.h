/*
 * retry: what a client does with its unanswered requests when its
 * connection breaks (--retry N). Pure: no I/O, no clock.
 *
 * GET is idempotent, so a request left unanswered by a closed or reset
 * connection may be sent again, on a new connection and in the original
 * order. Each request is resent at most N times: one that was, and is
 * still unanswered when its connection breaks again, is lost. Without
 * --retry (N = 0) every unanswered request is lost at the break.
 *
 * Reconnects back off so a dead server is not hammered: the first is at
 * once (a balancer in front has other replicas), then RETRY_BASE_NS
 * doubling up to RETRY_MAX_NS, each stretched by up to a quarter so that
 * connections broken together do not redial together.
 */
#ifndef BENCH_RETRY_H
#define BENCH_RETRY_H

#include <stdint.h>

#include "client.h"

#define RETRY_MAX	1000			/* --retry N at most */
#define RETRY_BASE_NS	UINT64_C(5000000)	/* 5 ms: the second attempt */
#define RETRY_MAX_NS	UINT64_C(500000000)	/* 500 ms: the longest wait */

/*
 * Drop from a ring of depth slots (count flights from head) those already
 * resent max times; the others keep their order, packed from head.
 * Returns how many were dropped (lost).
 */
uint32_t retry_sift(struct flight *ring, uint32_t depth, uint32_t head,
    uint32_t *count, uint32_t max);

/* ns to wait before reconnect attempt n (0: the first after a break);
 * salt (a client's index) spreads the waits. */
uint64_t retry_backoff(uint32_t n, uint32_t salt);

#endif
