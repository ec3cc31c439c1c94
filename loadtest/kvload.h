/*
 * kvload: store a text file's lines in Redis or memcached as keys 1..N
 * (the value is the line without its LF), so the bench can ask them the
 * same questions as linesvr. Commands are pipelined with writev straight
 * from the mapped file, replies counted as they come; bounded in time.
 */
#ifndef BENCH_KVLOAD_H
#define BENCH_KVLOAD_H

#include "bench.h"

/* Returns an exit status (opts.h). Prints one summary line. */
int kvload_run(const struct opts *o, const struct sockaddr_storage *ss,
    socklen_t len);

#endif
