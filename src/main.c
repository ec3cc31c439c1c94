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
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "index.h"
#include "log.h"
#include "parse.h"
#include "server.h"
#include "text.h"
#include "version.h"

#define EXIT_FAIL  1
#define EXIT_USAGE 2

struct cli {
	const char *config;
	const char *port;
	const char *bind;
	const char *workers;
	const char *file;
	int check;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: linesvr [-c FILE] [-p PORT] [-b ADDR] [-w N] [--check] [FILE]\n"
	    "\n"
	    "Serve the lines of a text file over TCP: GET n, STATS, QUIT,\n"
	    "SHUTDOWN. `linesvr FILE` serves FILE with the defaults; no\n"
	    "configuration file is read unless -c names one.\n"
	    "  -c FILE    configuration file (see conf/linesvr.ini)\n"
	    "  -p PORT    port, 0 = any free port (default 10497)\n"
	    "  -b ADDR    address to listen on (default 127.0.0.1)\n"
	    "  -w N       worker threads, 0 = one per CPU\n"
	    "  --check    validate configuration, file and index; bind nothing\n"
	    "  --help, --version\n"
	    "\n"
	    "Exit status: 0 normal stop, 1 startup or runtime failure,\n"
	    "2 usage or configuration error.\n");
}

static int
parse_cli(int argc, char **argv, struct cli *o)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			usage(stdout);
			exit(0);
		} else if (strcmp(a, "--version") == 0) {
			printf("linesvr %s\n", LINESVR_VERSION);
			exit(0);
		} else if (strcmp(a, "--check") == 0) {
			o->check = 1;
			continue;
		} else if (strcmp(a, "-c") == 0) {
			slot = &o->config;
		} else if (strcmp(a, "-p") == 0) {
			slot = &o->port;
		} else if (strcmp(a, "-b") == 0) {
			slot = &o->bind;
		} else if (strcmp(a, "-w") == 0) {
			slot = &o->workers;
		} else if (a[0] == '-' && a[1] != '\0') {
			fprintf(stderr, "linesvr: unknown option %s (see --help)\n", a);
			return -1;
		} else if (o->file == NULL) {
			o->file = a;
			continue;
		} else {
			fprintf(stderr, "linesvr: unexpected argument %s\n", a);
			return -1;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "linesvr: %s needs a value\n", a);
			return -1;
		}
		*slot = argv[++i];
	}
	return 0;
}

static int
copy_str(char *dst, size_t cap, const char *src, const char *what)
{
	if (strlen(src) >= cap) {
		fprintf(stderr, "linesvr: %s too long\n", what);
		return -1;
	}
	memcpy(dst, src, strlen(src) + 1);
	return 0;
}

/* Command-line flags override the configuration file. */
static int
apply_cli(const struct cli *o, struct config *cfg)
{
	uint64_t v;
	char err[1024];

	if (o->port != NULL) {
		if (parse_u64_range(o->port, 0, 65535, &v) < 0) {
			fprintf(stderr, "linesvr: -p %s: not a port 0-65535\n",
			    o->port);
			return -1;
		}
		cfg->port = (unsigned)v;
	}
	if (o->workers != NULL) {
		if (parse_u64_range(o->workers, 0, CONFIG_WORKERS_MAX,
		    &v) < 0) {
			fprintf(stderr, "linesvr: -w %s: not a number 0-%d\n",
			    o->workers, CONFIG_WORKERS_MAX);
			return -1;
		}
		cfg->workers = (unsigned)v;
	}
	if (o->bind != NULL && !config_valid_address(o->bind)) {
		fprintf(stderr, "linesvr: -b %s: not an IPv4 or IPv6 address\n",
		    o->bind);
		return -1;
	}
	if ((o->bind != NULL &&
	    copy_str(cfg->bind, sizeof(cfg->bind), o->bind, "-b") < 0) ||
	    (o->file != NULL &&
	    copy_str(cfg->file, sizeof(cfg->file), o->file, "FILE") < 0))
		return -1;
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

	if (parse_cli(argc, argv, o) < 0)
		return -1;
	config_defaults(cfg);
	if (o->config != NULL && config_load(cfg, o->config, err,
	    sizeof(err)) < 0) {
		fprintf(stderr, "linesvr: %s\n", err);
		return -1;
	}
	return apply_cli(o, cfg);
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
			log_error("%s", err);
		server_free(&srv);
		return stop_early ? 0 : EXIT_FAIL;
	}
	rc = server_run(&srv) < 0 ? EXIT_FAIL : 0;
	server_free(&srv);
	log_close();
	return rc;
}
