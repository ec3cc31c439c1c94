/*
 * linesvr: serve single lines of a large text file over TCP.
 *
 * main() reads the configuration (file, then command line), opens the
 * text and its index, binds, drops privileges and runs the workers.
 * Exit status: 0 normal stop, 1 startup or runtime failure, 2 usage or
 * configuration error.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "index.h"
#include "log.h"
#include "server.h"
#include "text.h"
#include "version.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

/* Where make install puts the configuration (SYSCONFDIR there). */
#ifndef LINESVR_SYSCONFDIR
#define LINESVR_SYSCONFDIR "/etc"
#endif
#define CONFIG_INSTALLED LINESVR_SYSCONFDIR "/linesvr/linesvr.ini"

enum { OPT_CHECK = 256 };

static const char short_opts[] = "c:p:b:w:o:hV";
static const struct option long_opts[] = {
	{ "config", required_argument, NULL, 'c' },
	{ "port", required_argument, NULL, 'p' },
	{ "bind", required_argument, NULL, 'b' },
	{ "workers", required_argument, NULL, 'w' },
	{ "option", required_argument, NULL, 'o' },
	{ "check", no_argument, NULL, OPT_CHECK },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

struct cli {
	const char *config;
	const char *file;
	int check;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: linesvr [-c FILE] [-p PORT] [-b ADDR] [-w N]\n"
	    "               [-o SECTION.KEY=VALUE]... [--check] [FILE]\n"
	    "\n"
	    "Serve the lines of a text file over TCP: GET n, STATS, QUIT,\n"
	    "SHUTDOWN. `linesvr FILE` serves FILE with the defaults; no\n"
	    "configuration file is read unless -c names one.\n"
	    "  -c, --config FILE   configuration file (installed: %s)\n"
	    "  -p, --port PORT     port, 0 = any free port (default 10497)\n"
	    "  -b, --bind ADDR     address to listen on (default 127.0.0.1)\n"
	    "  -w, --workers N     worker threads, 0 = one per CPU\n"
	    "  -o, --option SECTION.KEY=VALUE\n"
	    "                      any key of the configuration file, e.g.\n"
	    "                      -o cache.size=1G -o index.lines_per_page=1024\n"
	    "  --check             validate configuration, file and index;\n"
	    "                      bind nothing\n"
	    "  -h, --help; -V, --version\n"
	    "Options override the configuration file, whatever their order;\n"
	    "FILE is the same as -o server.file=FILE.\n"
	    "\n"
	    "Exit status: 0 normal stop, 1 startup or runtime failure,\n"
	    "2 usage or configuration error.\n", CONFIG_INSTALLED);
}

/*
 * First pass over the options: the config file, --check, --help and
 * --version, and anything getopt refuses. The settings wait for the
 * second pass (apply_cli), once the file is read.
 */
static int
parse_cli(int argc, char **argv, struct cli *o)
{
	int c;

	memset(o, 0, sizeof(*o));
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("linesvr %s\n", LINESVR_VERSION);
			exit(0);
		case 'c':
			o->config = optarg;
			break;
		case OPT_CHECK:
			o->check = 1;
			break;
		case '?':
			fprintf(stderr, "linesvr: see --help\n");
			return -1;
		}
	}
	if (optind < argc)
		o->file = argv[optind++];
	if (optind < argc) {
		fprintf(stderr, "linesvr: unexpected argument %s\n", argv[optind]);
		return -1;
	}
	return 0;
}

/* One setting of the command line, through the file's key table. */
static int
apply_one(struct config *cfg, int opt, const char *arg)
{
	const char *key = opt == 'p' ? "port" : opt == 'b' ? "bind" :
	    "workers";
	char err[1024];
	int rc;

	if (opt == 'o')
		rc = config_set_option(cfg, arg, err, sizeof(err));
	else
		rc = config_set(cfg, "server", key, arg, err, sizeof(err));
	if (rc < 0)
		fprintf(stderr, "linesvr: -%c %s: %s\n", opt, arg, err);
	return rc;
}

/*
 * Second pass: -p, -b, -w and -o in the order given, over the file's
 * values, then FILE. Flags override the file wherever they stand.
 */
static int
apply_cli(int argc, char **argv, const struct cli *o, struct config *cfg)
{
	char err[1024];
	int c;

	optind = 0; /* glibc: start over */
	while ((c = getopt_long(argc, argv, short_opts, long_opts, NULL)) != -1)
		if ((c == 'p' || c == 'b' || c == 'w' || c == 'o') &&
		    apply_one(cfg, c, optarg) < 0)
			return -1;
	if (o->file != NULL && config_set(cfg, "server", "file", o->file,
	    err, sizeof(err)) < 0) {
		fprintf(stderr, "linesvr: FILE %s: %s\n", o->file, err);
		return -1;
	}
	if (config_finish(cfg, err, sizeof(err)) < 0) {
		fprintf(stderr, "linesvr: %s\n", err);
		return -1;
	}
	return 0;
}

static int
load_config(int argc, char **argv, struct cli *o, struct config *cfg)
{
	char err[1024];

	/* getopt's own messages ("unrecognized option") name argv[0]: the
	 * program's name, however it was started, like every other one. */
	argv[0] = (char *)"linesvr";
	if (parse_cli(argc, argv, o) < 0)
		return -1;
	config_defaults(cfg);
	if (o->config != NULL && config_load(cfg, o->config, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "linesvr: %s\n", err);
		return -1;
	}
	return apply_cli(argc, argv, o, cfg);
}

/* Could a file be created (or appended to) at path? */
static int
path_writable(const char *path)
{
	char dir[CONFIG_PATH_MAX];
	const char *slash = strrchr(path, '/');

	if (access(path, F_OK) == 0)
		return access(path, W_OK) == 0;
	if (slash == NULL)
		return access(".", W_OK) == 0;
	snprintf(dir, sizeof(dir), "%.*s",
	    (int)(slash == path ? 1 : slash - path), path);
	return access(dir, W_OK) == 0;
}

/* What --check can verify of the process settings without starting. */
static int
check_process(const struct config *cfg)
{
	if (strcmp(cfg->log_file, "-") != 0 && !path_writable(cfg->log_file)) {
		fprintf(stderr, "linesvr: log file %s: cannot be written\n",
		    cfg->log_file);
		return -1;
	}
	if (cfg->user[0] != '\0' && geteuid() == 0 &&
	    getpwnam(cfg->user) == NULL) {
		fprintf(stderr, "linesvr: user %s: no such user\n", cfg->user);
		return -1;
	}
	return 0;
}

/* --check: would startup succeed with this file and index? */
static int
check_only(const struct config *cfg)
{
	char path[CONFIG_PATH_MAX + 8], err[1024];
	struct text text;
	struct index idx;
	enum index_status st;

	if (check_process(cfg) < 0)
		return EXIT_FAIL;
	if (config_index_path(cfg, path, sizeof(path)) < 0) {
		fprintf(stderr, "linesvr: %s: path too long\n", cfg->file);
		return EXIT_FAIL;
	}
	if (text_open(&text, cfg->file, cfg->map_max, err, sizeof(err)) < 0) {
		fprintf(stderr, "linesvr: %s\n", err);
		return EXIT_FAIL;
	}
	st = index_open(&idx, path, text.fd, cfg->lines_per_page,
	    cfg->line_checksums, err, sizeof(err));
	text_close(&text);
	if (st == INDEX_OK) {
		printf("linesvr: ok: %s, %llu lines, index %s\n", cfg->file,
		    (unsigned long long)idx.h.lines, path);
		index_close(&idx);
		return 0;
	}
	if (cfg->build == BUILD_AUTO && st != INDEX_ERR_IO &&
	    path_writable(path)) {
		printf("linesvr: ok: the index would be rebuilt at startup: %s\n",
		    err);
		return 0;
	}
	if (cfg->build == BUILD_AUTO && st != INDEX_ERR_IO)
		fprintf(stderr, "linesvr: index %s needs a rebuild but cannot "
		    "be written (%s)\n", path, err);
	else
		fprintf(stderr, "linesvr: %s\n", err);
	return EXIT_FAIL;
}

static volatile sig_atomic_t stop_early;

/* SIGTERM or SIGINT before the workers run (an index build can take a
 * while): stop the build, which removes its temporary file, and exit 0. */
static void
on_early_signal(int sig)
{
	(void)sig;
	stop_early = 1;
	index_build_cancel();
}

static void
catch_early_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_early_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
}

int
main(int argc, char **argv)
{
	static struct config cfg;
	static struct server srv;
	struct cli o;
	char err[1024];
	int rc;

	if (load_config(argc, argv, &o, &cfg) < 0)
		return EXIT_USAGE;
	if (o.check)
		return check_only(&cfg);
	if (log_open(cfg.log_file, cfg.log_level, err, sizeof(err)) < 0) {
		fprintf(stderr, "linesvr: %s\n", err);
		return EXIT_FAIL;
	}
	catch_early_signals();
	/* An index larger than RLIMIT_FSIZE: EFBIG, reported, not a kill. */
	signal(SIGXFSZ, SIG_IGN);
	if (server_init(&srv, &cfg, err, sizeof(err)) < 0 ||
	    server_listen(&srv, err, sizeof(err)) < 0 || stop_early) {
		if (stop_early)
			log_info("stopped by a signal during startup");
		else
			log_startup_error("%s", err);
		server_free(&srv);
		return stop_early ? 0 : EXIT_FAIL;
	}
	rc = server_run(&srv) < 0 ? EXIT_FAIL : 0;
	server_free(&srv);
	log_close();
	return rc;
}
