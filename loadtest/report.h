/*
 * report: what a run prints. A live line per second on a terminal; at the
 * end a human summary, or one JSON object (--json), or a CSV header and
 * row (--csv) with the same numbers for scripts.
 */
#ifndef BENCH_REPORT_H
#define BENCH_REPORT_H

#include <stdio.h>

#include "bench.h"

struct result {
	const struct opts *o;
	const struct run *run;
	struct tally t;			/* every worker's, merged */
	struct hist connect;		/* connect times, ns */
	double elapsed;			/* s: warmup end to last answer */
	double wall;			/* s: load start to end */
	double cpu_user, cpu_sys;	/* s: this process during the load */
	double server_cpu;		/* s: --server-pid, or -1 */
	int status;
};

/* "[  3s]  123456 req/s  p99 1.23ms  errors 0" */
void report_live(FILE *f, double t, double rate, const struct tally *t_now);

/*
 * --series: a CSV header, then per second one row of that second's
 * counts, "t_s,req_per_s,errors,retries,reconnects,lost"; mark holds the
 * totals at the previous row (zeroed before the first).
 */
struct series_mark {
	uint64_t answers, errors, retries, reconnects, lost, t;
};
void report_series_head(FILE *f);
void report_series(FILE *f, uint64_t t_ns, const struct tally *t_now,
    struct series_mark *mark);

void report_human(FILE *f, const struct result *r);
void report_json(FILE *f, const struct result *r);
void report_csv(FILE *f, const struct result *r);

/* The total of the error kinds that make a run fail, and mismatches. */
uint64_t report_errors(const struct tally *t);

const char *report_status_name(int status);

#endif
