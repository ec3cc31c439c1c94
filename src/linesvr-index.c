/*
 * linesvr-index: build or check the paged line-offset index of a text file.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "index.h"
#include "parse.h"
#include "version.h"

#define EXIT_BAD   1 /* build failed, or --check found the index unusable */
#define EXIT_USAGE 2

struct opts {
	const char *text;
	const char *index;
	unsigned m;
	int quiet;
	int check;
	int deep;         /* --check --deep: every line against its checksum */
	int line_crc;     /* build with per-line checksums */
};

enum { OPT_CHECK = 256, OPT_DEEP, OPT_NO_LINE_CRC };

static const char short_opts[] = "o:m:qhV";
static const struct option long_opts[] = {
	{ "output", required_argument, NULL, 'o' },
	{ "lines-per-page", required_argument, NULL, 'm' },
	{ "quiet", no_argument, NULL, 'q' },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "deep", no_argument, NULL, OPT_DEEP },
	{ "no-line-checksums", no_argument, NULL, OPT_NO_LINE_CRC },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: linesvr-index [-o INDEX] [-m LINES_PER_PAGE] [-q]\n"
	    "                     [--no-line-checksums] FILE\n"
	    "       linesvr-index --check [--deep] [-q] FILE [INDEX]\n"
	    "\n"
	    "Build the paged line-offset index of FILE (default FILE.lidx),\n"
	    "written to a temporary file and renamed into place.\n"
	    "  -o, --output INDEX  where to write the index\n"
	    "  -m, --lines-per-page N\n"
	    "                      a power of two 1-%u (default %u)\n"
	    "  -q, --quiet         no progress bar and no summary\n"
	    "  --no-line-checksums do not store a checksum of every line\n"
	    "                      (stored by default; the server checks each\n"
	    "                      line before sending)\n"
	    "  --check             verify INDEX against FILE: header, source\n"
	    "                      size, mtime, content fingerprint and every\n"
	    "                      page checksum\n"
	    "  --deep              with --check: also read the whole text and\n"
	    "                      check every line against its checksum\n"
	    "  -h, --help; -V, --version\n"
	    "\n"
	    "Exit status: 0 success (index valid), 1 build failed or index\n"
	    "stale or corrupt, 2 usage error.\n",
	    INDEX_M_MAX, INDEX_M_DEFAULT);
}

/* One option; 0, 1 after --help or --version, -1 on an error. */
static int
apply_opt(struct opts *o, int c, const char *arg)
{
	uint64_t v;

	switch (c) {
	case 'h':
		usage(stdout);
		return 1;
	case 'V':
		printf("linesvr-index %s\n", LINESVR_VERSION);
		return 1;
	case OPT_CHECK:
		o->check = 1;
		return 0;
	case OPT_DEEP:
		o->deep = 1;
		return 0;
	case OPT_NO_LINE_CRC:
		o->line_crc = 0;
		return 0;
	case 'q':
		o->quiet = 1;
		return 0;
	case 'o':
		o->index = arg;
		return 0;
	case 'm':
		if (parse_u64_range(arg, 1, INDEX_M_MAX, &v) == 0 &&
		    (v & (v - 1)) == 0) {
			o->m = (unsigned)v;
			return 0;
		}
		fprintf(stderr, "linesvr-index: -m %s: not a power of two "
		    "from 1 to %u\n", arg, INDEX_M_MAX);
		return -1;
	default: /* getopt named the option */
		fprintf(stderr, "linesvr-index: see --help\n");
		return -1;
	}
}

/* 0 to go on, 1 after --help or --version, -1 on a usage error. */
static int
parse_args(int argc, char **argv, struct opts *o)
{
	int c, rc;

	memset(o, 0, sizeof(*o));
	o->m = INDEX_M_DEFAULT;
	o->line_crc = 1;
	/* getopt's own messages name argv[0]: the program's name. */
	argv[0] = (char *)"linesvr-index";
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1)
		if ((rc = apply_opt(o, c, optarg)) != 0)
			return rc;
	if (optind < argc)
		o->text = argv[optind++];
	if (optind < argc && o->check && o->index == NULL)
		o->index = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "linesvr-index: unexpected argument %s\n",
		    argv[optind]);
		return -1;
	}
	if (o->text == NULL) {
		fprintf(stderr, "linesvr-index: no FILE given (see --help)\n");
		return -1;
	}
	if (o->deep && !o->check) {
		fprintf(stderr, "linesvr-index: --deep goes with --check\n");
		return -1;
	}
	return 0;
}

static double
mib(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* A progress bar on stderr: percent, throughput and time left. */
static void
progress(void *arg, uint64_t done, uint64_t total)
{
	const double *t0 = arg;
	struct timespec ts;
	double el, rate, eta;
	int pct = total ? (int)(done * 100 / total) : 100, bars = pct / 4;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	el = (double)ts.tv_sec + ts.tv_nsec / 1e9 - *t0;
	rate = el > 0 ? mib(done) / el : 0;
	eta = rate > 0 ? mib(total - done) / rate : 0;
	fprintf(stderr, "\r[%-25.*s] %3d%%  %8.1f MiB/s  ETA %4.0fs ", bars,
	    "#########################", pct, rate, eta);
}

/* The callback is rate-limited and may never see the end: draw 100%. */
static void
bar_done(double *t0, uint64_t total)
{
	progress(t0, total, total);
	fputc('\n', stderr);
}

static void
on_signal(int sig)
{
	(void)sig;
	index_build_cancel();
}

static int
build(const struct opts *o, const char *index_path)
{
	struct index_build_opts bo;
	struct index_summary sum;
	struct timespec ts;
	struct sigaction sa;
	char err[512];
	double t0;
	int bar = !o->quiet && isatty(STDERR_FILENO);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (double)ts.tv_sec + ts.tv_nsec / 1e9;
	memset(&bo, 0, sizeof(bo));
	bo.m = o->m;
	bo.line_crc = o->line_crc;
	bo.progress = bar ? progress : NULL;
	bo.progress_arg = &t0;
	if (index_build(o->text, index_path, &bo, &sum, err, sizeof(err)) !=
	    INDEX_OK) {
		fprintf(stderr, "%slinesvr-index: %s\n", bar ? "\n" : "", err);
		return EXIT_BAD;
	}
	if (bar)
		bar_done(&t0, sum.source_bytes);
	if (!o->quiet)
		printf("%s: %llu lines, %llu pages, %llu index bytes, %.2f s, "
		    "%.1f MiB/s -> %s\n", o->text,
		    (unsigned long long)sum.lines, (unsigned long long)sum.pages,
		    (unsigned long long)sum.index_bytes, sum.seconds,
		    sum.seconds > 0 ? mib(sum.source_bytes) / sum.seconds : 0,
		    index_path);
	return 0;
}

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Every line of the text against its checksum: --check --deep. */
static int
check_deep(const struct opts *o, const struct index *idx, int fd)
{
	char err[512];
	uint64_t bad;
	double t0 = now_s();
	int bar = !o->quiet && isatty(STDERR_FILENO);
	enum index_status st;

	st = index_check_deep(idx, fd, bar ? progress : NULL, &t0, &bad, err,
	    sizeof(err));
	if (bar && st == INDEX_OK)
		bar_done(&t0, idx->h.source_size);
	else if (bar)
		fputc('\n', stderr);
	if (st != INDEX_OK && st != INDEX_ERR_SOURCE) {
		fprintf(stderr, "linesvr-index: %s\n", err);
		return EXIT_BAD;
	}
	printf("%s: deep: %llu lines checked, %llu bad, %.2f s\n", o->text,
	    (unsigned long long)idx->h.lines, (unsigned long long)bad,
	    now_s() - t0);
	if (st != INDEX_OK) {
		fprintf(stderr, "linesvr-index: %s\n", err);
		return EXIT_BAD;
	}
	return 0;
}

/* Everything a server would check at startup, plus every page. */
static int
check(const struct opts *o, const char *index_path)
{
	struct index idx;
	char err[512];
	unsigned char *body = NULL;
	int fd, rc = EXIT_BAD;

	if ((fd = open(o->text, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "linesvr-index: %s: %s\n", o->text,
		    strerror(errno));
		return EXIT_BAD;
	}
	if (index_open(&idx, index_path, fd, 0, -1, err, sizeof(err)) !=
	    INDEX_OK) {
		fprintf(stderr, "linesvr-index: %s\n", err);
		close(fd);
		return EXIT_BAD;
	}
	if (o->deep) {
		/* The deep check reads every page as it goes. */
		rc = check_deep(o, &idx, fd);
		goto done;
	}
	body = malloc(index_body_bytes(&idx));
	if (body == NULL) {
		fprintf(stderr, "linesvr-index: %s: out of memory\n",
		    index_path);
		goto done;
	}
	for (uint64_t p = 0; p < idx.h.pages; p++)
		if (index_read_body(&idx, p, body, err, sizeof(err)) != INDEX_OK) {
			fprintf(stderr, "linesvr-index: %s\n", err);
			goto done;
		}
	rc = 0;
done:
	if (rc == 0)
		printf("%s: ok: %llu lines, %llu pages of %u lines, %s line "
		    "checksums, built from %s\n", index_path,
		    (unsigned long long)idx.h.lines,
		    (unsigned long long)idx.h.pages, idx.h.lines_per_page,
		    index_has_line_crc(&idx.h) ? "with" : "without", o->text);
	free(body);
	index_close(&idx);
	close(fd);
	return rc;
}

int
main(int argc, char **argv)
{
	struct opts o;
	char path[4096];
	const char *index_path;
	int rc = parse_args(argc, argv, &o);

	if (rc != 0)
		return rc > 0 ? 0 : EXIT_USAGE;
	/* Past RLIMIT_FSIZE a write should fail with EFBIG, reported and
	 * cleaned up like a full disk, not kill us without a word. */
	signal(SIGXFSZ, SIG_IGN);
	index_path = o.index;
	if (index_path == NULL) {
		if (index_default_path(o.text, path, sizeof(path)) < 0) {
			fprintf(stderr, "linesvr-index: %s: path too long\n",
			    o.text);
			return EXIT_USAGE;
		}
		index_path = path;
	}
	return o.check ? check(&o, index_path) : build(&o, index_path);
}
