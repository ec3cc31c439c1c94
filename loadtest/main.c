/*
 * linesvr-bench: the load generator's main: set up the run, start one
 * worker thread per event loop, print the live line while they work, then
 * merge their tallies and report.
 *
 * The run's clock: workers connect first (connect times are their own
 * measurement), wait at a barrier, and the load starts for all of them at
 * once; everything after that is bounded by the deadline (-d + warmup +
 * --timeout) or, with -n, by the stall timeout.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "cpu.h"
#include "dial.h"
#include "kvload.h"
#include "net.h"
#include "probe.h"
#include "report.h"
#include "worker.h"

#define MAX_FLIGHTS	(UINT64_C(1) << 24)	/* connections x pipeline */
#define FD_SLACK	64
#define MONITOR_NS	(NS_PER_S / 20)

static struct run *the_run;	/* for the SIGINT handler */

static void
on_sigint(int sig)
{
	(void)sig;
	/* a lock-free atomic store is async-signal-safe */
	atomic_store(&the_run->stop, 1);
	signal(SIGINT, SIG_DFL);	/* a second ^C kills at once */
}

static int
setup_keys(struct run *run, const struct opts *o)
{
	char err[256];
	int rc;

	if (o->keys > 0)
		run->keys = o->keys;
	else if (run->truth != NULL)
		run->keys = run->truth->lines;
	else if ((rc = probe_keys(&run->addr, run->addrlen, o->proto,
	    (int)(o->connect_timeout * 1000), (int)(o->timeout * 1000),
	    &run->keys, err, sizeof(err))) != 0) {
		fprintf(stderr, "linesvr-bench: %s:%s: cannot learn the key "
		    "count (give -k): %s\n", o->host, o->port, err);
		return rc == -1 ? EXIT_CONNECT : EXIT_STALLED;
	}
	if (run->keys == 0) {
		fprintf(stderr, "linesvr-bench: no keys to ask for (-k 0, an "
		    "empty file or server)\n");
		return EXIT_USAGE;
	}
	return EXIT_OK;
}

static int
setup_limits(struct run *run, const struct opts *o)
{
	uint64_t need = (uint64_t)o->conns + o->threads + FD_SLACK;
	uint64_t have = net_raise_nofile();

	if ((uint64_t)o->conns * o->pipeline > MAX_FLIGHTS) {
		fprintf(stderr, "linesvr-bench: -c x -P is at most %llu\n",
		    (unsigned long long)MAX_FLIGHTS);
		return EXIT_USAGE;
	}
	if (have < need) {
		fprintf(stderr, "linesvr-bench: %u connections need %llu open "
		    "files; the limit is %llu (ulimit -Hn)\n", o->conns,
		    (unsigned long long)need, (unsigned long long)have);
		return EXIT_CONNECT;
	}
	run->spread_src = o->conns > DIAL_PER_SOURCE &&
	    dial_is_loopback4(&run->addr);
	return EXIT_OK;
}

static int
setup_series(struct run *run, const struct opts *o)
{
	if (o->series == NULL)
		return EXIT_OK;
	run->series = strcmp(o->series, "-") == 0 ? stderr :
	    fopen(o->series, "w");
	if (run->series == NULL) {
		fprintf(stderr, "linesvr-bench: --series %s: %s\n", o->series,
		    strerror(errno));
		return EXIT_USAGE;
	}
	report_series_head(run->series);
	return EXIT_OK;
}

static int
setup(struct run *run, struct truth *truth, const struct opts *o)
{
	char err[256];
	int rc;

	memset(run, 0, sizeof(*run));
	run->o = o;
	if (dial_resolve(o->host, o->port, &run->addr, &run->addrlen, err,
	    sizeof(err)) == -1) {
		fprintf(stderr, "linesvr-bench: %s\n", err);
		return EXIT_USAGE;
	}
	if (o->load != NULL)
		return EXIT_OK;
	if (o->verify != NULL) {
		if (truth_open(truth, o->verify, err, sizeof(err)) == -1) {
			fprintf(stderr, "linesvr-bench: %s\n", err);
			return EXIT_USAGE;
		}
		run->truth = truth;
	}
	if ((rc = setup_keys(run, o)) != EXIT_OK)
		return rc;
	if ((rc = setup_series(run, o)) != EXIT_OK)
		return rc;
	return setup_limits(run, o);
}

/* Share n among parts: the first n % parts get one more. */
static uint64_t
share(uint64_t n, unsigned parts, unsigned i)
{
	return n / parts + (i < n % parts ? 1 : 0);
}

static int
start_workers(struct worker *ws, struct run *run, pthread_barrier_t *b)
{
	const struct opts *o = run->o;
	uint32_t first = 0, n;
	uint64_t quota;
	unsigned i;

	for (i = 0; i < o->threads; i++) {
		n = (uint32_t)share(o->conns, o->threads, i);
		quota = o->requests > 0 ? share(o->requests, o->threads, i) :
		    UINT64_MAX;
		if (worker_init(&ws[i], run, i, first, n, quota) == -1) {
			fprintf(stderr, "linesvr-bench: out of memory\n");
			return -1;
		}
		ws[i].ready = &b[0];
		ws[i].go = &b[1];
		first += n;
	}
	for (i = 0; i < o->threads; i++)
		if ((errno = pthread_create(&ws[i].thread, NULL, worker_main,
		    &ws[i])) != 0) {
			fprintf(stderr, "linesvr-bench: pthread_create: %s\n",
			    strerror(errno));
			exit(EXIT_USAGE);	/* others wait at a barrier */
		}
	return 0;
}

/* Between the barriers: every worker has connected and waits. */
static void
set_clock(struct run *run, struct worker *ws)
{
	const struct opts *o = run->o;
	uint64_t connected = 0;
	unsigned i;

	for (i = 0; i < o->threads; i++)
		connected += ws[i].t.connected;
	if (connected == 0)
		atomic_store(&run->cancel, 1);
	run->t_start = now_ns();
	run->t_warm = run->t_start + (uint64_t)(o->warmup * (double)NS_PER_S);
	run->t_end = run->t_deadline = NO_TIME;
	if (o->duration > 0) {
		run->t_end = run->t_warm +
		    (uint64_t)(o->duration * (double)NS_PER_S);
		run->t_deadline = run->t_end +
		    (uint64_t)(o->timeout * (double)NS_PER_S);
	}
}

/* Sum of the published tallies. */
static void
gather(struct worker *ws, unsigned n, struct tally *sum)
{
	static struct tally one;
	unsigned i;

	tally_init(sum);
	for (i = 0; i < n; i++) {
		(void)worker_snapshot(&ws[i], &one);
		tally_merge(sum, &one);
	}
}

/*
 * Until every worker is done: a live line and a --series row each second
 * if wanted. The tallies (a histogram each) are copied only for those.
 */
static void
monitor(struct run *run, struct worker *ws, int live, FILE *series)
{
	static struct tally sum;
	uint64_t next = run->t_start + NS_PER_S, prev_answers = 0, now;
	uint64_t prev_t = run->t_start;
	struct timespec nap = { 0, (long)MONITOR_NS };
	struct series_mark mark = { 0 };

	while (atomic_load(&run->finished) < run->o->threads) {
		nanosleep(&nap, NULL);
		now = now_ns();
		if ((!live && series == NULL) || now < next)
			continue;
		gather(ws, run->o->threads, &sum);
		if (series != NULL)
			report_series(series, now - run->t_start, &sum, &mark);
		if (live)
			report_live(stderr, (double)(now - run->t_start) / 1e9,
			    (double)(sum.answers - prev_answers) * 1e9 /
			    (double)(now - prev_t), &sum);
		prev_answers = sum.answers;
		prev_t = now;
		next += NS_PER_S;
	}
}

/*
 * Connection failures: nothing connected, requests lost, a connection
 * error. With --retry only what was not recovered counts: a first
 * connect that failed (fewer connected than asked for) or a connection
 * that could not be re-established.
 */
static int
exit_status(const struct tally *t, const struct opts *o)
{
	int conn_err = t->err[ERR_CONNECT_REFUSED] > 0 ||
	    t->err[ERR_CONNECT_TIMEOUT] > 0 || t->err[ERR_CONNECT_OTHER] > 0 ||
	    t->err[ERR_CLOSED] > 0 || t->err[ERR_IO] > 0;

	if (o->retry > 0)
		conn_err = t->connected < o->conns || t->abandoned > 0;
	if (t->err[ERR_STALLED] > 0)
		return EXIT_STALLED;
	if (t->err[ERR_PROTOCOL] > 0 || t->mismatches > 0)
		return EXIT_PROTOCOL;
	if (t->connected == 0 || t->lost > 0 || conn_err)
		return EXIT_CONNECT;
	return EXIT_OK;
}

static void
collect(struct result *res, struct run *run, struct worker *ws)
{
	unsigned i;

	memset(res, 0, sizeof(*res));
	res->o = run->o;
	res->run = run;
	tally_init(&res->t);
	hist_init(&res->connect);
	for (i = 0; i < run->o->threads; i++) {
		tally_merge(&res->t, &ws[i].t);
		hist_merge(&res->connect, &ws[i].connect);
	}
	if (res->t.t_last > run->t_warm)
		res->elapsed = (double)(res->t.t_last - run->t_warm) / 1e9;
	res->status = exit_status(&res->t, run->o);
}

static void
output(const struct result *res)
{
	const struct opts *o = res->o;

	if (o->json)
		report_json(stdout, res);
	else if (o->csv)
		report_csv(stdout, res);
	if (!o->quiet)
		report_human(o->json || o->csv ? stderr : stdout, res);
}

/* Start the load, watch it, and return the exit status. */
static int
bench(struct run *run)
{
	const struct opts *o = run->o;
	static struct result res;
	pthread_barrier_t b[2];
	struct worker *ws;
	double u0, s0, u1, s1, srv0 = -1, srv1 = -1;
	unsigned i;

	if ((ws = calloc(o->threads, sizeof(*ws))) == NULL)
		return EXIT_USAGE;
	pthread_barrier_init(&b[0], NULL, o->threads + 1);
	pthread_barrier_init(&b[1], NULL, o->threads + 1);
	if (start_workers(ws, run, b) == -1)
		return EXIT_USAGE;
	pthread_barrier_wait(&b[0]);
	set_clock(run, ws);
	cpu_self(&u0, &s0);
	if (o->server_pid > 0)
		srv0 = cpu_pid(o->server_pid);
	pthread_barrier_wait(&b[1]);
	monitor(run, ws, o->progress == 1 || (o->progress == -1 &&
	    !o->quiet && isatty(STDERR_FILENO)), run->series);
	for (i = 0; i < o->threads; i++)
		pthread_join(ws[i].thread, NULL);
	cpu_self(&u1, &s1);
	if (o->server_pid > 0)
		srv1 = cpu_pid(o->server_pid);
	collect(&res, run, ws);
	res.wall = (double)(now_ns() - run->t_start) / 1e9;
	res.cpu_user = u1 - u0;
	res.cpu_sys = s1 - s0;
	res.server_cpu = srv0 >= 0 && srv1 >= 0 ? srv1 - srv0 : -1;
	output(&res);
	for (i = 0; i < o->threads; i++)
		worker_free(&ws[i]);
	free(ws);
	return res.status;
}

int
main(int argc, char **argv)
{
	static struct opts o;
	static struct run run;
	static struct truth truth;
	int rc;

	if ((rc = opts_parse(&o, argc, argv)) >= 0)
		return rc;
	signal(SIGPIPE, SIG_IGN);
	if ((rc = setup(&run, &truth, &o)) != EXIT_OK)
		return rc;
	if (o.load != NULL)
		return kvload_run(&o, &run.addr, run.addrlen);
	the_run = &run;
	signal(SIGINT, on_sigint);
	rc = bench(&run);
	if (run.truth != NULL)
		truth_close(&truth);
	if (run.series != NULL && run.series != stderr && fclose(run.series)) {
		fprintf(stderr, "linesvr-bench: --series %s: %s\n", o.series,
		    strerror(errno));
		rc = rc == EXIT_OK ? EXIT_USAGE : rc;
	}
	return rc;
}
