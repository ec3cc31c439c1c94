/*
 * opts: the command line of linesvr-bench, its defaults and --help.
 */
#ifndef BENCH_OPTS_H
#define BENCH_OPTS_H

#include <stdint.h>
#include <sys/types.h>

#include "keys.h"
#include "reply.h"

/* Exit statuses; when several apply the highest wins. */
#define EXIT_OK		0
#define EXIT_USAGE	2
#define EXIT_CONNECT	3	/* a connection failed or was lost */
#define EXIT_PROTOCOL	4	/* unparseable answers or --verify mismatches */
#define EXIT_STALLED	5	/* answers still missing at the deadline */

struct opts {
	const char *host;
	const char *port;
	uint32_t conns;		/* -c; --connect-storm sets it too */
	uint32_t pipeline;	/* -P: requests in flight per connection */
	uint32_t threads;	/* -t */
	double rate;		/* --rate: req/s in total; 0 = closed loop */
	double duration;	/* -d seconds; 0 when -n is given */
	uint64_t requests;	/* -n; 0 when -d is given */
	double warmup;		/* seconds before measuring */
	double timeout;		/* seconds without an answer = stalled */
	double connect_timeout;	/* seconds for the connect phase */
	enum keydist dist;
	double theta;
	uint64_t keys;		/* -k; 0 = from --verify or the server */
	uint64_t seed;
	enum proto proto;
	const char *verify;	/* FILE or NULL */
	const char *load;	/* FILE or NULL: load keys, no benchmark */
	uint32_t retry;		/* --retry: resends per request, 0 = none */
	int nodelay;
	int storm;		/* --connect-storm was given */
	int json, csv, quiet;
	int progress;		/* live lines: -1 auto (a terminal), 0, 1 */
	const char *label;
	const char *series;	/* --series FILE: a CSV row per second */
	pid_t server_pid;	/* 0, or whose CPU to report */
};

/*
 * Fill o from argv. Returns -1 to continue with the run, or an exit
 * status (0 after --help or --version, EXIT_USAGE after a message).
 */
int opts_parse(struct opts *o, int argc, char **argv);

#endif
