/*
 * report: live line, summary, JSON and CSV (see report.h). Every format
 * prints the same numbers, from the same helpers, so they cannot disagree.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "report.h"

struct pct {
	const char *name;
	double p;
};

static const struct pct PCTS[] = {
	{ "min", 0 }, { "p50", 50 }, { "p90", 90 }, { "p99", 99 },
	{ "p99_9", 99.9 }, { "p99_99", 99.99 }, { "max", 100 },
};
#define NPCTS (sizeof(PCTS) / sizeof(PCTS[0]))

static const struct pct CONNECT_PCTS[] = {
	{ "min", 0 }, { "p50", 50 }, { "p90", 90 }, { "p99", 99 },
	{ "max", 100 },
};
#define NCONNECT_PCTS (sizeof(CONNECT_PCTS) / sizeof(CONNECT_PCTS[0]))

/* Errors that make the exit status non-zero (error answers do not). */
static int
is_failure(int kind)
{
	return kind != ERR_ANSWER;
}

uint64_t
report_errors(const struct tally *t)
{
	uint64_t n = t->mismatches;
	int i;

	for (i = 0; i < ERR_KINDS; i++)
		if (is_failure(i))
			n += t->err[i];
	return n;
}

const char *
report_status_name(int status)
{
	switch (status) {
	case EXIT_OK: return "ok";
	case EXIT_USAGE: return "usage";
	case EXIT_CONNECT: return "connection failures";
	case EXIT_PROTOCOL: return "protocol errors or mismatches";
	case EXIT_STALLED: return "stalled";
	}
	return "?";
}

/* A duration in ns, in the unit that keeps 3 significant digits. */
static const char *
dur(char *buf, size_t len, double ns)
{
	if (ns < 1e3)
		snprintf(buf, len, "%.0fns", ns);
	else if (ns < 1e6)
		snprintf(buf, len, "%.2fus", ns / 1e3);
	else if (ns < 1e9)
		snprintf(buf, len, "%.2fms", ns / 1e6);
	else
		snprintf(buf, len, "%.2fs", ns / 1e9);
	return buf;
}

static double
per_s(uint64_t n, double s)
{
	return s > 0 ? (double)n / s : 0;
}

void
report_live(FILE *f, double t, double rate, const struct tally *tn)
{
	char b[32];

	fprintf(f, "[%5.0fs] %10.0f req/s  p99 %-9s errors %" PRIu64 "\n", t,
	    rate, tn->lat.count > 0 ?
	    dur(b, sizeof(b), (double)hist_percentile(&tn->lat, 99)) :
	    "(warmup)", report_errors(tn) + tn->err[ERR_ANSWER]);
	fflush(f);
}

void
report_series_head(FILE *f)
{
	fprintf(f, "t_s,req_per_s,errors,retries,reconnects,lost\n");
	fflush(f);
}

void
report_series(FILE *f, uint64_t t_ns, const struct tally *tn,
    struct series_mark *m)
{
	struct series_mark now = { tn->answers,
	    report_errors(tn) + tn->err[ERR_ANSWER], tn->retries,
	    tn->reconnects, tn->lost, t_ns };
	double dt = (double)(now.t - m->t) / 1e9;

	fprintf(f, "%.3f,%.0f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
	    "\n", (double)t_ns / 1e9, per_s(now.answers - m->answers, dt),
	    now.errors - m->errors, now.retries - m->retries,
	    now.reconnects - m->reconnects, now.lost - m->lost);
	fflush(f);
	*m = now;
}

static void
human_head(FILE *f, const struct result *r)
{
	const struct opts *o = r->o;
	int v6 = strchr(o->host, ':') != NULL;

	fprintf(f, "target      %s %s%s%s:%s, %u connections x %u in flight, "
	    "%u thread%s, ", proto_name(o->proto), v6 ? "[" : "", o->host,
	    v6 ? "]" : "", o->port, o->conns, o->pipeline, o->threads,
	    o->threads == 1 ? "" : "s");
	if (o->rate > 0)
		fprintf(f, "open loop at %.0f req/s (latency from the "
		    "scheduled send)\n", o->rate);
	else
		fprintf(f, "closed loop\n");
	fprintf(f, "keys        %s", keydist_name(o->dist));
	if (o->dist == KEYS_ZIPF)
		fprintf(f, " theta %.3g", o->theta);
	fprintf(f, " over 1..%" PRIu64 "\n", r->run->keys);
}

static void
human_latency(FILE *f, const struct hist *h, const struct pct *p, size_t n,
    int mean)
{
	char b[32];
	size_t i;

	for (i = 0; i < n; i++)
		fprintf(f, "%s%s %s", i > 0 ? "  " : "", p[i].name,
		    dur(b, sizeof(b), (double)hist_percentile(h, p[i].p)));
	if (mean)
		fprintf(f, "  mean %s", dur(b, sizeof(b), hist_mean(h)));
	fputc('\n', f);
}

static void
human_errors(FILE *f, const struct tally *t)
{
	int i, any = 0;

	fprintf(f, "errors      ");
	for (i = 0; i < ERR_KINDS; i++) {
		if (t->err[i] == 0)
			continue;
		fprintf(f, "%s%s %" PRIu64, any ? ", " : "", err_kind_name[i],
		    t->err[i]);
		any = 1;
	}
	fprintf(f, "%s\n", any ? "" : "none");
}

/* Broken connections: what was resent, what was lost. */
static void
human_retry(FILE *f, const struct result *r)
{
	const struct tally *t = &r->t;

	if (r->o->retry > 0)
		fprintf(f, "retry       up to %u times: %" PRIu64 " reconnects, %"
		    PRIu64 " connections abandoned, %" PRIu64 " requests "
		    "resent, %" PRIu64 " lost of %" PRIu64 " sent\n",
		    r->o->retry, t->reconnects, t->abandoned, t->retries,
		    t->lost, t->sent);
	else if (t->lost > 0)
		fprintf(f, "lost        %" PRIu64 " of %" PRIu64 " requests sent, "
		    "unanswered on broken connections (--retry resends "
		    "them)\n", t->lost, t->sent);
}

static void
human_cpu(FILE *f, const struct result *r)
{
	double cpu = r->cpu_user + r->cpu_sys;

	fprintf(f, "client cpu  user %.2f s + sys %.2f s = %.2f s, %.0f%% of "
	    "%.2f s wall\n", r->cpu_user, r->cpu_sys, cpu,
	    r->wall > 0 ? 100 * cpu / r->wall : 0, r->wall);
	if (r->server_cpu >= 0)
		fprintf(f, "server cpu  %.2f s, %.0f%% of wall (pid %ld)\n",
		    r->server_cpu, r->wall > 0 ? 100 * r->server_cpu / r->wall :
		    0, (long)r->o->server_pid);
}

void
report_human(FILE *f, const struct result *r)
{
	const struct tally *t = &r->t;

	human_head(f, r);
	fprintf(f, "requests    %" PRIu64 " in %.2f s = %.1f req/s",
	    t->measured, r->elapsed, per_s(t->measured, r->elapsed));
	if (r->o->warmup > 0)
		fprintf(f, " (after %.3g s warmup)", r->o->warmup);
	fprintf(f, "\nbytes       in %.2f MB/s, out %.2f MB/s\n",
	    per_s(t->bytes_in, r->elapsed) / 1e6,
	    per_s(t->bytes_out, r->elapsed) / 1e6);
	fprintf(f, "latency     ");
	human_latency(f, &t->lat, PCTS, NPCTS, 1);
	fprintf(f, "answers     %" PRIu64 " hits, %" PRIu64 " misses\n",
	    t->hits, t->misses);
	if (r->run->truth != NULL)
		fprintf(f, "verified    %" PRIu64 " answers against %s: %"
		    PRIu64 " mismatches\n", t->verified, r->o->verify,
		    t->mismatches);
	human_errors(f, t);
	if (t->behind > 0)
		fprintf(f, "behind      %" PRIu64 " requests were due but never "
		    "sent (-P too small for the rate)\n", t->behind);
	human_retry(f, r);
	fprintf(f, "connect     %" PRIu64 " of %u: ", r->connect.count,
	    r->o->conns);
	human_latency(f, &r->connect, CONNECT_PCTS, NCONNECT_PCTS, 0);
	human_cpu(f, r);
	fprintf(f, "status      %d (%s)\n", r->status,
	    report_status_name(r->status));
}

static void
json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(f, "\\%c", ch);
		else if (ch < 0x20)
			fprintf(f, "\\u%04x", ch);
		else
			fputc(ch, f);
	}
	fputc('"', f);
}

static void
json_hist(FILE *f, const char *name, const struct hist *h,
    const struct pct *p, size_t n)
{
	size_t i;

	fprintf(f, "\"%s\":{\"count\":%" PRIu64, name, h->count);
	for (i = 0; i < n; i++)
		fprintf(f, ",\"%s\":%" PRIu64, p[i].name,
		    hist_percentile(h, p[i].p));
	fprintf(f, ",\"mean\":%.1f}", hist_mean(h));
}

static void
json_config(FILE *f, const struct result *r)
{
	const struct opts *o = r->o;

	fprintf(f, "{\"label\":");
	json_str(f, o->label != NULL ? o->label : "");
	fprintf(f, ",\"proto\":\"%s\",\"host\":", proto_name(o->proto));
	json_str(f, o->host);
	fprintf(f, ",\"port\":%lu,\"connections\":%u,\"pipeline\":%u,"
	    "\"threads\":%u,\"mode\":\"%s\",\"rate\":%.3f,\"nodelay\":%d,",
	    strtoul(o->port, NULL, 10), o->conns, o->pipeline, o->threads,
	    o->rate > 0 ? "open" : "closed", o->rate, o->nodelay);
	fprintf(f, "\"keys\":\"%s\",\"theta\":%.4g,\"key_count\":%" PRIu64
	    ",\"warmup_s\":%.3f,", keydist_name(o->dist), o->theta,
	    r->run->keys, o->warmup);
}

void
report_json(FILE *f, const struct result *r)
{
	const struct tally *t = &r->t;
	double cpu = r->cpu_user + r->cpu_sys;
	int i;

	json_config(f, r);
	fprintf(f, "\"duration_s\":%.6f,\"requests\":%" PRIu64 ",\"req_per_s\""
	    ":%.1f,\"bytes_in_per_s\":%.1f,\"bytes_out_per_s\":%.1f,",
	    r->elapsed, t->measured, per_s(t->measured, r->elapsed),
	    per_s(t->bytes_in, r->elapsed), per_s(t->bytes_out, r->elapsed));
	json_hist(f, "latency_ns", &t->lat, PCTS, NPCTS);
	fprintf(f, ",\"hits\":%" PRIu64 ",\"misses\":%" PRIu64 ",\"verify\":",
	    t->hits, t->misses);
	json_str(f, r->o->verify != NULL ? r->o->verify : "");
	fprintf(f, ",\"verified\":%" PRIu64 ",\"mismatches\":%" PRIu64
	    ",\"errors\":{", t->verified, t->mismatches);
	for (i = 0; i < ERR_KINDS; i++)
		fprintf(f, "%s\"%s\":%" PRIu64, i > 0 ? "," : "",
		    err_kind_name[i], t->err[i]);
	fprintf(f, "},\"behind\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"answers\":%"
	    PRIu64 ",\"retry\":%u,\"retries\":%" PRIu64 ",\"reconnects\":%"
	    PRIu64 ",\"abandoned\":%" PRIu64 ",\"lost\":%" PRIu64 ",", t->behind,
	    t->sent, t->answers, r->o->retry, t->retries, t->reconnects,
	    t->abandoned, t->lost);
	json_hist(f, "connect_ns", &r->connect, CONNECT_PCTS, NCONNECT_PCTS);
	fprintf(f, ",\"client_cpu\":{\"user_s\":%.3f,\"sys_s\":%.3f,"
	    "\"percent\":%.1f},\"wall_s\":%.3f,\"server_cpu_s\":", r->cpu_user,
	    r->cpu_sys, r->wall > 0 ? 100 * cpu / r->wall : 0, r->wall);
	if (r->server_cpu >= 0)
		fprintf(f, "%.3f", r->server_cpu);
	else
		fprintf(f, "null");
	fprintf(f, ",\"status\":%d,\"status_name\":\"%s\"}\n", r->status,
	    report_status_name(r->status));
}

/* A CSV field: quoted, with quotes doubled. */
static void
csv_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; s != NULL && *s != '\0'; s++) {
		if (*s == '"')
			fputc('"', f);
		fputc(*s, f);
	}
	fputc('"', f);
}

static void
csv_header(FILE *f)
{
	size_t i;
	int k;

	fprintf(f, "label,proto,connections,pipeline,threads,rate,nodelay,"
	    "keys,key_count,duration_s,requests,req_per_s,bytes_in_per_s,"
	    "bytes_out_per_s");
	for (i = 0; i < NPCTS; i++)
		fprintf(f, ",lat_%s_ns", PCTS[i].name);
	fprintf(f, ",lat_mean_ns,hits,misses,verified,mismatches");
	for (k = 0; k < ERR_KINDS; k++)
		fprintf(f, ",err_%s", err_kind_name[k]);
	fprintf(f, ",behind,connect_count");
	for (i = 0; i < NCONNECT_PCTS; i++)
		fprintf(f, ",connect_%s_ns", CONNECT_PCTS[i].name);
	fprintf(f, ",cpu_user_s,cpu_sys_s,cpu_percent,wall_s,server_cpu_s,"
	    "status,sent,answers,retry,retries,reconnects,abandoned,lost\n");
}

void
report_csv(FILE *f, const struct result *r)
{
	const struct opts *o = r->o;
	const struct tally *t = &r->t;
	double cpu = r->cpu_user + r->cpu_sys;
	size_t i;
	int k;

	csv_header(f);
	csv_str(f, o->label != NULL ? o->label : "");
	fprintf(f, ",%s,%u,%u,%u,%.3f,%d,%s,%" PRIu64 ",%.6f,%" PRIu64
	    ",%.1f,%.1f,%.1f", proto_name(o->proto), o->conns, o->pipeline,
	    o->threads, o->rate, o->nodelay, keydist_name(o->dist),
	    r->run->keys, r->elapsed, t->measured,
	    per_s(t->measured, r->elapsed), per_s(t->bytes_in, r->elapsed),
	    per_s(t->bytes_out, r->elapsed));
	for (i = 0; i < NPCTS; i++)
		fprintf(f, ",%" PRIu64, hist_percentile(&t->lat, PCTS[i].p));
	fprintf(f, ",%.1f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64,
	    hist_mean(&t->lat), t->hits, t->misses, t->verified,
	    t->mismatches);
	for (k = 0; k < ERR_KINDS; k++)
		fprintf(f, ",%" PRIu64, t->err[k]);
	fprintf(f, ",%" PRIu64 ",%" PRIu64, t->behind, r->connect.count);
	for (i = 0; i < NCONNECT_PCTS; i++)
		fprintf(f, ",%" PRIu64,
		    hist_percentile(&r->connect, CONNECT_PCTS[i].p));
	fprintf(f, ",%.3f,%.3f,%.1f,%.3f,", r->cpu_user, r->cpu_sys,
	    r->wall > 0 ? 100 * cpu / r->wall : 0, r->wall);
	if (r->server_cpu >= 0)
		fprintf(f, "%.3f", r->server_cpu);
	fprintf(f, ",%d,%" PRIu64 ",%" PRIu64 ",%u,%" PRIu64 ",%" PRIu64 ",%"
	    PRIu64 ",%" PRIu64 "\n", r->status, t->sent, t->answers, o->retry,
	    t->retries, t->reconnects, t->abandoned, t->lost);
}
