/*
 * opts: command-line parsing for linesvr-bench (see opts.h).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "opts.h"
#include "parse.h"
#include "retry.h"
#include "version.h"

#define DEFAULT_PORT	"10497"
#define MAX_CONNS	1000000
#define MAX_PIPELINE	65536
#define MAX_THREADS	256

static const char USAGE[] =
"usage: linesvr-bench [-h HOST] [-p PORT] [-c CONNS] [-P DEPTH] [-t THREADS]\n"
"                     [-d SECONDS | -n REQUESTS] [--rate R] [--warmup S]\n"
"                     [--keys DIST] [-k K] [--proto P] [--verify FILE]\n"
"                     [--retry N] [--nodelay 0|1] [--connect-storm K]\n"
"                     [--json | --csv]\n"
"       linesvr-bench --load FILE --proto redis|memcached [-h HOST] -p PORT\n"
"\n"
"Load generator for linesvr, Redis and memcached: GETs of line numbers.\n"
"\n"
"  -h, --host HOST        server address (default 127.0.0.1)\n"
"  -p, --port PORT        server port (default 10497)\n"
"  -c, --connections N    connections (default 50)\n"
"  -P, --pipeline N       requests in flight per connection (default 1)\n"
"  -t, --threads N        event-loop threads; connections are split\n"
"                         across them (default 1)\n"
"  -d, --duration S       measure for S seconds (default 10)\n"
"  -n, --requests N       or measure N requests\n"
"      --warmup S         run S seconds before measuring (default 0)\n"
"      --rate R           open loop: R requests/s in total, spread evenly\n"
"                         over the connections (at most -P in flight each);\n"
"                         latency counts from each request's scheduled\n"
"                         send time, so a stalled server shows as latency\n"
"                         (coordinated omission corrected)\n"
"      --keys DIST        uniform | seq | zipf[:THETA] (default uniform;\n"
"                         zipf theta 0.99); key i is line i\n"
"  -k, --key-count K      keys 1..K (default: the lines of --verify FILE,\n"
"                         else asked from the server: linesvr STATS lines,\n"
"                         redis DBSIZE, memcached curr_items)\n"
"      --seed N           key generator seed (default 1)\n"
"      --proto P          lines | redis | memcached (default lines)\n"
"      --verify FILE      check every answer against FILE's lines\n"
"      --retry N          when a connection breaks (closed, reset, or a\n"
"                         write fails), reconnect and resend its\n"
"                         unanswered requests in order, each at most N\n"
"                         times (default 0: they are lost); latency counts\n"
"                         from the first send. Reconnects back off from\n"
"                         0 to 0.5 s and stop --timeout after the break\n"
"      --nodelay 0|1      TCP_NODELAY on the client (default 1)\n"
"      --connect-storm K  open K connections at once, report their\n"
"                         connect times, then run the load over all of\n"
"                         them (as -c K; raises the open-file limit)\n"
"      --timeout S        no answer for S seconds = stalled (default 2);\n"
"                         a -d run ends by -d + warmup + S in any case\n"
"      --connect-timeout S  limit of the connect phase (default 10)\n"
"      --json             print the result as one JSON object on stdout\n"
"                         (the human summary then goes to stderr)\n"
"      --csv              likewise, as a CSV header line and one row\n"
"      --label TEXT       a name for this run in --json / --csv\n"
"      --server-pid PID   also report that process's CPU use\n"
"      --series FILE      also write one CSV row per second to FILE: t_s,\n"
"                         req_per_s and that second's errors, retries,\n"
"                         reconnects and lost requests (a time series to\n"
"                         plot; FILE '-' is stderr)\n"
"      --progress 0|1     live line per second on stderr (default: when\n"
"                         stderr is a terminal)\n"
"  -q, --quiet            no live line, no summary (with --json/--csv)\n"
"      --load FILE        store FILE's lines as keys 1..N in Redis or\n"
"                         memcached (--proto), then exit\n"
"      --help; -V, --version\n"
"\n"
"Exit status: 0 ok; 2 usage; 3 connection failures (refused, timed out,\n"
"closed by the server); 4 protocol errors or --verify mismatches; 5 stalled\n"
"(answers missing at the deadline). When several apply, the highest.\n"
"With --retry, a broken connection that was re-established is not a\n"
"failure: 3 then means a first connect failed, a connection could not be\n"
"re-established, or requests were lost (see reconnects, lost).\n";

enum {
	OPT_RATE = 256, OPT_WARMUP, OPT_KEYS, OPT_SEED, OPT_PROTO, OPT_VERIFY,
	OPT_NODELAY, OPT_STORM, OPT_TIMEOUT, OPT_CTIMEOUT, OPT_JSON, OPT_CSV,
	OPT_LABEL, OPT_SPID, OPT_SERIES, OPT_PROGRESS, OPT_LOAD, OPT_HELP, OPT_RETRY
};

static const struct option LONGOPTS[] = {
	{ "host", required_argument, NULL, 'h' },
	{ "port", required_argument, NULL, 'p' },
	{ "connections", required_argument, NULL, 'c' },
	{ "pipeline", required_argument, NULL, 'P' },
	{ "threads", required_argument, NULL, 't' },
	{ "duration", required_argument, NULL, 'd' },
	{ "requests", required_argument, NULL, 'n' },
	{ "key-count", required_argument, NULL, 'k' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "rate", required_argument, NULL, OPT_RATE },
	{ "warmup", required_argument, NULL, OPT_WARMUP },
	{ "keys", required_argument, NULL, OPT_KEYS },
	{ "seed", required_argument, NULL, OPT_SEED },
	{ "proto", required_argument, NULL, OPT_PROTO },
	{ "verify", required_argument, NULL, OPT_VERIFY },
	{ "retry", required_argument, NULL, OPT_RETRY },
	{ "nodelay", required_argument, NULL, OPT_NODELAY },
	{ "connect-storm", required_argument, NULL, OPT_STORM },
	{ "timeout", required_argument, NULL, OPT_TIMEOUT },
	{ "connect-timeout", required_argument, NULL, OPT_CTIMEOUT },
	{ "json", no_argument, NULL, OPT_JSON },
	{ "csv", no_argument, NULL, OPT_CSV },
	{ "label", required_argument, NULL, OPT_LABEL },
	{ "server-pid", required_argument, NULL, OPT_SPID },
	{ "series", required_argument, NULL, OPT_SERIES },
	{ "progress", required_argument, NULL, OPT_PROGRESS },
	{ "load", required_argument, NULL, OPT_LOAD },
	{ "help", no_argument, NULL, OPT_HELP },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void
defaults(struct opts *o)
{
	memset(o, 0, sizeof(*o));
	o->host = "127.0.0.1";
	o->port = DEFAULT_PORT;
	o->conns = 50;
	o->pipeline = 1;
	o->threads = 1;
	o->duration = 10;
	o->timeout = 2;
	o->connect_timeout = 10;
	o->dist = KEYS_UNIFORM;
	o->theta = ZIPF_THETA_DEFAULT;
	o->seed = 1;
	o->proto = PROTO_LINES;
	o->nodelay = 1;
	o->progress = -1;
}

static int
bad(const char *opt, const char *arg)
{
	fprintf(stderr, "linesvr-bench: bad value for %s: '%s'\n", opt, arg);
	return -1;
}

/* A non-negative finite decimal, fractions allowed ("0.5"). */
static int
decimal(const char *opt, const char *s, double lo, double *out)
{
	char *end;
	double v;

	if (*s == '\0' || *s == '-' || *s == '+')
		return bad(opt, s);
	v = strtod(s, &end);
	if (*end != '\0' || !isfinite(v) || v < lo || v > 1e7)
		return bad(opt, s);
	*out = v;
	return 0;
}

static int
u32(const char *opt, const char *s, uint64_t lo, uint64_t hi, uint32_t *out)
{
	uint64_t v;

	if (parse_u64_range(s, lo, hi, &v) != 0)
		return bad(opt, s);
	*out = (uint32_t)v;
	return 0;
}

static int
flag01(const char *opt, const char *s, int *out)
{
	if (strcmp(s, "0") != 0 && strcmp(s, "1") != 0)
		return bad(opt, s);
	*out = s[0] == '1';
	return 0;
}

/* Options that take a number of things. */
static int
counts(struct opts *o, int c, const char *a, int *have_d, int *have_n)
{
	uint64_t v;

	switch (c) {
	case 'c':
		return u32("-c", a, 1, MAX_CONNS, &o->conns);
	case 'P':
		return u32("-P", a, 1, MAX_PIPELINE, &o->pipeline);
	case 't':
		return u32("-t", a, 1, MAX_THREADS, &o->threads);
	case 'd':
		*have_d = 1;
		return decimal("-d", a, 0.001, &o->duration);
	case 'n':
		*have_n = 1;
		return parse_u64_range(a, 1, UINT64_MAX / 2, &o->requests) ?
		    bad("-n", a) : 0;
	case 'k':
		return parse_u64_range(a, 1, UINT64_MAX / 2, &o->keys) ?
		    bad("-k", a) : 0;
	case OPT_STORM:
		o->storm = 1;
		return u32("--connect-storm", a, 1, MAX_CONNS, &o->conns);
	case OPT_SEED:
		return parse_u64(a, &o->seed) ? bad("--seed", a) : 0;
	case OPT_RETRY:
		return u32("--retry", a, 0, RETRY_MAX, &o->retry);
	case OPT_SPID:
		if (parse_u64_range(a, 1, 1u << 30, &v) != 0)
			return bad("--server-pid", a);
		o->server_pid = (pid_t)v;
		return 0;
	}
	return 1;
}

/* Every other option. */
static int
others(struct opts *o, int c, const char *a)
{
	switch (c) {
	case 'h': o->host = a; return 0;
	case 'p': o->port = a; return 0;
	case 'q': o->quiet = 1; return 0;
	case OPT_RATE: return decimal("--rate", a, 0.001, &o->rate);
	case OPT_WARMUP: return decimal("--warmup", a, 0, &o->warmup);
	case OPT_TIMEOUT: return decimal("--timeout", a, 0.01, &o->timeout);
	case OPT_CTIMEOUT:
		return decimal("--connect-timeout", a, 0.01,
		    &o->connect_timeout);
	case OPT_KEYS:
		return keydist_parse(a, &o->dist, &o->theta) ?
		    bad("--keys", a) : 0;
	case OPT_PROTO:
		return proto_parse_name(a, &o->proto) ? bad("--proto", a) : 0;
	case OPT_VERIFY: o->verify = a; return 0;
	case OPT_LOAD: o->load = a; return 0;
	case OPT_NODELAY: return flag01("--nodelay", a, &o->nodelay);
	case OPT_SERIES: o->series = a; return 0;
	case OPT_PROGRESS: return flag01("--progress", a, &o->progress);
	case OPT_JSON: o->json = 1; return 0;
	case OPT_CSV: o->csv = 1; return 0;
	case OPT_LABEL: o->label = a; return 0;
	}
	return -1;
}

static int
check(struct opts *o, int have_d, int have_n)
{
	uint64_t port;

	if (have_d && have_n) {
		fprintf(stderr, "linesvr-bench: -d and -n exclude each other\n");
		return -1;
	}
	if (have_n)
		o->duration = 0;
	if (o->json && o->csv) {
		fprintf(stderr, "linesvr-bench: --json or --csv, not both\n");
		return -1;
	}
	if (parse_u64_range(o->port, 1, 65535, &port) != 0)
		return bad("-p", o->port);
	if (o->load != NULL && o->proto == PROTO_LINES) {
		fprintf(stderr, "linesvr-bench: --load needs --proto redis "
		    "or memcached\n");
		return -1;
	}
	if (o->threads > o->conns)
		o->threads = o->conns;
	return 0;
}

int
opts_parse(struct opts *o, int argc, char **argv)
{
	int c, rc, have_d = 0, have_n = 0;

	defaults(o);
	/* getopt's own messages name argv[0]: the program's name. */
	argv[0] = (char *)"linesvr-bench";
	while ((c = getopt_long(argc, argv, "h:p:c:P:t:d:n:k:qV", LONGOPTS,
	    NULL)) != -1) {
		if (c == OPT_HELP) {
			fputs(USAGE, stdout);
			return EXIT_OK;
		}
		if (c == 'V') {
			printf("linesvr-bench %s\n", LINESVR_VERSION);
			return EXIT_OK;
		}
		rc = counts(o, c, optarg, &have_d, &have_n);
		if (rc == 1)
			rc = others(o, c, optarg);
		if (rc != 0) {
			if (c == '?' || c == ':' || rc == 1)
				fputs("linesvr-bench: see --help\n", stderr);
			return EXIT_USAGE;
		}
	}
	if (optind != argc) {
		fprintf(stderr, "linesvr-bench: unexpected argument '%s'\n",
		    argv[optind]);
		return EXIT_USAGE;
	}
	return check(o, have_d, have_n) == 0 ? -1 : EXIT_USAGE;
}
