/*
 * probe: ask a server how many keys it holds, so -k can be left out:
 * linesvr's STATS `lines`, Redis's DBSIZE, memcached's `stats` curr_items.
 */
#ifndef BENCH_PROBE_H
#define BENCH_PROBE_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "reply.h"

/*
 * Connect within connect_ms, ask, and wait answer_ms for the answer.
 * 0 with *keys set; -1 (no connection) or -2 (no usable answer) with a
 * message in err.
 */
int probe_keys(const struct sockaddr_storage *ss, socklen_t len,
    enum proto proto, int connect_ms, int answer_ms, uint64_t *keys,
    char *err, size_t errlen);

#endif
