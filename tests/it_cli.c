/*
 * Integration tests: the command lines of linesvr, linesvr-index,
 * linesvr-gendata and linesvr-bench (SPEC.md sections 3 and 4). Long and
 * short forms, --opt=value and --opt value, -o SECTION.KEY=VALUE through
 * the file's checks, flags over the file whatever their order, exit
 * statuses, and one "PROGRAM: message" convention on stderr. Also what
 * lines_per_page unset means: a tuned index is kept, and every rebuild is
 * a warning with its reason.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "version.h"

#define NLINES  100
#define EXIT_MS 20000

struct fx {
	struct srv s;
	char index[160];          /* text.txt.lidx */
	char out[160];            /* a program's stdout */
	char err[160];            /* and its stderr */
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char text[NLINES * 16];
	size_t len = 0;

	assert_non_null(f);
	for (int n = 1; n <= NLINES; n++)
		len += (size_t)snprintf(text + len, sizeof(text) - len,
		    "cli line %d\n", n);
	srv_prepare(&f->s, text, len);
	snprintf(f->index, sizeof(f->index), "%s.lidx", f->s.text);
	snprintf(f->out, sizeof(f->out), "%s/out.txt", f->s.dir);
	snprintf(f->err, sizeof(f->err), "%s/err.txt", f->s.dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	srv_cleanup(&f->s);
	free(f);
	return 0;
}

/* ---- helpers ---- */

#define SERVER  test_bin("LINESVR_BIN", "build/linesvr")
#define INDEXER test_bin("LINESVR_INDEX_BIN", "build/linesvr-index")
#define GENDATA test_bin("LINESVR_GENDATA_BIN", "build/linesvr-gendata")
#define BENCH   test_bin("LINESVR_BENCH_BIN", "build/linesvr-bench")

/* Run argv with fresh stdout and stderr files; its exit status. */
static int
run(struct fx *f, const char *const *argv)
{
	unlink(f->out);
	unlink(f->err);
	return proc_wait(proc_spawn(argv, f->out, f->err), EXIT_MS);
}

static void
err_has(const struct fx *f, const char *needle)
{
	if (!file_has(f->err, needle))
		fail_msg("stderr lacks \"%s\":\n%s", needle, read_file(f->err));
}

static void
out_has(const struct fx *f, const char *needle)
{
	if (!file_has(f->out, needle))
		fail_msg("stdout lacks \"%s\":\n%s", needle, read_file(f->out));
}

/* Every line of stderr starts with "PROGRAM: ", and there is one. */
static void
err_all_prefixed(const struct fx *f, const char *prog)
{
	char *text = read_file(f->err), *line = text;
	size_t n = strlen(prog);

	if (*text == '\0')
		fail_msg("%s wrote nothing on stderr", prog);
	for (char *eol; (eol = strchr(line, '\n')) != NULL; line = eol + 1)
		if (strncmp(line, prog, n) != 0 || line[n] != ':')
			fail_msg("not \"%s: ...\": %.*s", prog,
			    (int)(eol - line), line);
	free(text);
}

static int
file_empty(const char *path)
{
	char *text = read_file(path);
	int empty = *text == '\0';

	free(text);
	return empty;
}

static void
write_text(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	assert_int_equal(fclose(fp), 0);
}

/* linesvr-index -q -m m TEXT: must succeed. */
static void
build_index(struct fx *f, const char *m)
{
	const char *argv[] = { INDEXER, "-q", "-m", m, f->s.text, NULL };

	assert_int_equal(run(f, argv), 0);
}

/* Stop the server and forget its log: the next start waits for its own
 * "listening on" line. */
static void
stop_and_forget(struct fx *f)
{
	srv_stop(&f->s);
	assert_int_equal(rename(f->s.log, f->err), 0);
}

/* inode and mtime of the index: unchanged means not rebuilt. */
static void
index_id(const struct fx *f, struct stat *sb)
{
	assert_int_equal(stat(f->index, sb), 0);
}

static void
assert_same_index(const struct stat *a, const struct stat *b)
{
	assert_true(a->st_ino == b->st_ino);
	assert_true(a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	    a->st_mtim.tv_nsec == b->st_mtim.tv_nsec);
}

/* ---- linesvr ---- */

static void
t_version_and_help(void **state)
{
	struct fx *f = *state;
	const char *v[] = { SERVER, "-V", NULL };
	const char *version[] = { SERVER, "--version", NULL };
	const char *help[] = { SERVER, "--help", NULL };

	assert_int_equal(run(f, v), 0);
	out_has(f, "linesvr " LINESVR_VERSION "\n");
	assert_int_equal(run(f, version), 0);
	out_has(f, "linesvr " LINESVR_VERSION "\n");
	assert_int_equal(run(f, help), 0);
	/* The installed path, never a source-tree one. */
	out_has(f, "/linesvr/linesvr.ini");
	assert_false(file_has(f->out, "conf/linesvr.ini"));
	out_has(f, "--option SECTION.KEY=VALUE");
}

static void
t_usage_errors_exit_2(void **state)
{
	struct fx *f = *state;
	const char *unknown[] = { SERVER, "--bogus", f->s.text, NULL };
	const char *missing[] = { SERVER, f->s.text, "--port", NULL };
	const char *extra[] = { SERVER, f->s.text, "more", NULL };
	const char *nofile[] = { SERVER, "-p", "0", NULL };

	assert_int_equal(run(f, unknown), 2);
	err_has(f, "linesvr: unrecognized option '--bogus'");
	err_all_prefixed(f, "linesvr");
	assert_int_equal(run(f, missing), 2);
	err_all_prefixed(f, "linesvr");
	assert_int_equal(run(f, extra), 2);
	err_has(f, "linesvr: unexpected argument more");
	assert_int_equal(run(f, nofile), 2);
	err_has(f, "linesvr: no file to serve");
}

/* -o errors name the option and exit 2, as a bad file would. */
static void
t_option_errors_name_the_option(void **state)
{
	struct fx *f = *state;
	const char *size[] = { SERVER, "-o", "cache.size=abc", f->s.text, NULL };
	const char *lng[] = { SERVER, "--option=index.lines_per_page=3",
	    f->s.text, NULL };
	const char *key[] = { SERVER, f->s.text, "-o", "server.nope=1", NULL };
	const char *form[] = { SERVER, "-o", "cache", f->s.text, NULL };
	const char *port[] = { SERVER, "--port=70000", f->s.text, NULL };
	const char *bind[] = { SERVER, "-b", "localhost", f->s.text, NULL };

	assert_int_equal(run(f, size), 2);
	err_has(f, "linesvr: -o cache.size=abc: [cache] size: 'abc' is not "
	    "a size");
	assert_int_equal(run(f, lng), 2);
	err_has(f, "linesvr: -o index.lines_per_page=3: [index] "
	    "lines_per_page: '3' is not a power of two");
	assert_int_equal(run(f, key), 2);
	err_has(f, "linesvr: -o server.nope=1: [server] nope: unknown key");
	assert_int_equal(run(f, form), 2);
	err_has(f, "linesvr: -o cache: not SECTION.KEY=VALUE");
	assert_int_equal(run(f, port), 2);
	err_has(f, "linesvr: -p 70000: [server] port: '70000' is out of "
	    "range 0-65535");
	assert_int_equal(run(f, bind), 2);
	err_has(f, "linesvr: -b localhost: [server] bind:");
	err_all_prefixed(f, "linesvr");
}

/* --port=N, -p0, --workers N, -o: all applied, FILE anywhere. */
static void
t_long_and_short_forms(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { f->s.text, "--port=0", "--workers", "2",
	    "-o", "index.lines_per_page=16", "--bind=127.0.0.1",
	    "--option", "cache.size=1M", NULL };
	const char *p0[] = { "-p0", "-w1", f->s.text, NULL };

	srv_start_argv(&f->s, argv);
	assert_int_equal(srv_stat(&f->s, "workers"), 2);
	assert_int_equal(srv_stat(&f->s, "lines_per_page"), 16);
	assert_int_equal(srv_stat(&f->s, "cache_capacity_bytes"), 1 << 20);
	stop_and_forget(f);
	srv_start_argv(&f->s, p0);
	assert_int_equal(srv_stat(&f->s, "workers"), 1);
	srv_stop(&f->s);
}

/* Flags override the file, before -c or after it. */
static void
t_flags_override_file_in_any_order(void **state)
{
	struct fx *f = *state;
	char conf[512];
	const char *before[] = { "-w", "1", "-o", "cache.size=2M", "-c",
	    f->s.conf, NULL };
	const char *after[] = { "--config", f->s.conf, "--workers=1", NULL };

	snprintf(conf, sizeof(conf), "[server]\nfile = %s\nport = 0\n"
	    "workers = 3\n[cache]\nsize = 4M\n", f->s.text);
	write_text(f->s.conf, conf);
	srv_start_argv(&f->s, before);
	assert_int_equal(srv_stat(&f->s, "workers"), 1);
	assert_int_equal(srv_stat(&f->s, "cache_capacity_bytes"), 2 << 20);
	stop_and_forget(f);
	srv_start_argv(&f->s, after);
	assert_int_equal(srv_stat(&f->s, "workers"), 1);
	assert_int_equal(srv_stat(&f->s, "cache_capacity_bytes"), 4 << 20);
	srv_stop(&f->s);
}

/* ---- lines_per_page unset, and rebuilds ---- */

/* A tuned index is served as it is, and left alone. */
static void
t_unset_lines_per_page_keeps_tuned_index(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "-p", "0", f->s.text, NULL };
	const char *check[] = { SERVER, "--check", f->s.text, NULL };
	struct stat before, after;

	build_index(f, "1024");
	index_id(f, &before);
	assert_int_equal(run(f, check), 0);
	out_has(f, "linesvr: ok: ");
	assert_false(file_has(f->out, "rebuilt"));
	srv_start_argv(&f->s, argv);
	assert_int_equal(srv_stat(&f->s, "lines_per_page"), 1024);
	srv_stop(&f->s);
	assert_false(srv_log_has(&f->s, "building index"));
	index_id(f, &after);
	assert_same_index(&before, &after);
}

/* Asked for another lines_per_page: rebuilt, at warn, with why. */
static void
t_rebuild_for_other_lines_per_page_is_a_warning(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "-p", "0", "-o", "index.lines_per_page=64",
	    f->s.text, NULL };
	const char *check[] = { SERVER, "--check", "-o",
	    "index.lines_per_page=64", f->s.text, NULL };
	char want[512];

	build_index(f, "1024");
	assert_int_equal(run(f, check), 0);
	out_has(f, "would be rebuilt at startup");
	out_has(f, "built with lines_per_page 1024, configured 64");
	srv_start_argv(&f->s, argv);
	assert_int_equal(srv_stat(&f->s, "lines_per_page"), 64);
	srv_stop(&f->s);
	/* The index's path once, then the reason. */
	snprintf(want, sizeof(want), "warn: building index %s of %s with "
	    "lines_per_page 64: stale: built with lines_per_page 1024, "
	    "configured 64\n", f->index, f->s.text);
	if (!srv_log_has(&f->s, want))
		fail_msg("log lacks \"%s\":\n%s", want, read_file(f->s.log));
}

static void
t_rebuild_missing_and_corrupt_say_why(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "-p", "0", f->s.text, NULL };
	char want[512];

	srv_start_argv(&f->s, argv);
	assert_int_equal(srv_stat(&f->s, "lines_per_page"), 4096);
	srv_stop(&f->s);
	snprintf(want, sizeof(want), "warn: building index %s of %s with "
	    "lines_per_page 4096: missing\n", f->index, f->s.text);
	assert_true(srv_log_has(&f->s, want));
	assert_int_equal(rename(f->s.log, f->err), 0);
	write_text(f->index, "not an index at all");
	srv_start_argv(&f->s, argv);
	srv_stop(&f->s);
	snprintf(want, sizeof(want), "warn: building index %s of %s with "
	    "lines_per_page 4096: not a linesvr index (bad magic)\n",
	    f->index, f->s.text);
	assert_true(srv_log_has(&f->s, want));
}

/* "1 worker", not "1 workers". */
static void
t_one_worker_singular(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "-p", "0", "-w", "1", f->s.text, NULL };

	srv_start_argv(&f->s, argv);
	srv_stop(&f->s);
	assert_true(srv_log_has(&f->s, "(1 worker, "));
}

/* ---- linesvr-index ---- */

static void
t_indexer_long_options(void **state)
{
	struct fx *f = *state;
	char idx[200];
	const char *build[] = { INDEXER, "--lines-per-page=16", "--output",
	    idx, "--quiet", f->s.text, NULL };
	const char *check[] = { INDEXER, "--check", f->s.text, idx, NULL };
	const char *deep[] = { INDEXER, f->s.text, "--deep", "--check",
	    "--output", idx, NULL };
	const char *v[] = { INDEXER, "-V", NULL };
	const char *version[] = { INDEXER, "--version", NULL };
	const char *nocrc[] = { INDEXER, "--no-line-checksums", "-q", "-o",
	    idx, f->s.text, NULL };

	snprintf(idx, sizeof(idx), "%s/other.lidx", f->s.dir);
	assert_int_equal(run(f, build), 0);
	assert_true(file_empty(f->out));
	assert_int_equal(run(f, check), 0);
	out_has(f, "pages of 16 lines, with line checksums");
	assert_int_equal(run(f, deep), 0);
	out_has(f, "deep: 100 lines checked, 0 bad");
	assert_int_equal(run(f, nocrc), 0);
	assert_int_equal(run(f, check), 0);
	out_has(f, "without line checksums");
	assert_int_equal(run(f, v), 0);
	out_has(f, "linesvr-index " LINESVR_VERSION "\n");
	assert_int_equal(run(f, version), 0);
	out_has(f, "linesvr-index " LINESVR_VERSION "\n");
}

/* A failed check: exit 1, on stderr with the program's name, not stdout. */
static void
t_indexer_check_failure_on_stderr(void **state)
{
	struct fx *f = *state;
	const char *check[] = { INDEXER, "--check", f->s.text, NULL };
	const char *m[] = { INDEXER, "-m", "3", f->s.text, NULL };
	const char *unknown[] = { INDEXER, "--bogus", f->s.text, NULL };
	const char *deep[] = { INDEXER, "--deep", f->s.text, NULL };

	assert_int_equal(run(f, check), 1);
	err_has(f, "No such file or directory");
	err_all_prefixed(f, "linesvr-index");
	assert_true(file_empty(f->out));
	write_text(f->index, "garbage");
	assert_int_equal(run(f, check), 1);
	err_has(f, "not a linesvr index");
	err_all_prefixed(f, "linesvr-index");
	assert_true(file_empty(f->out));
	assert_int_equal(run(f, m), 2);
	err_has(f, "linesvr-index: -m 3: not a power of two");
	assert_int_equal(run(f, unknown), 2);
	err_has(f, "linesvr-index: unrecognized option '--bogus'");
	err_all_prefixed(f, "linesvr-index");
	assert_int_equal(run(f, deep), 2);
	err_has(f, "linesvr-index: --deep goes with --check");
}

/* On a terminal, the bar's last state is 100% before the summary. */
static void
t_indexer_bar_ends_at_100(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { INDEXER, f->s.text, NULL };
	char *last = NULL;
	int master = posix_openpt(O_RDWR | O_NOCTTY);
	char tty[64], buf[8192];
	size_t len = 0;
	ssize_t n;

	assert_true(master >= 0);
	assert_int_equal(grantpt(master), 0);
	assert_int_equal(unlockpt(master), 0);
	snprintf(tty, sizeof(tty), "%s", ptsname(master));
	/* stderr is the terminal: the bar is drawn there. */
	assert_int_equal(proc_wait(proc_spawn(argv, f->out, tty), EXIT_MS), 0);
	while (len < sizeof(buf) - 1 &&
	    (n = read(master, buf + len, sizeof(buf) - 1 - len)) > 0) {
		len += (size_t)n;
		buf[len] = '\0';
		if (strchr(buf, '\n') != NULL)
			break;
	}
	close(master);
	buf[len] = '\0';
	/* Each state of the bar starts with "\r["; the terminal turns the
	 * final LF into CR LF. */
	for (char *p = buf; (p = strstr(p, "\r[")) != NULL; p++)
		last = p;
	assert_non_null(last);
	if (strstr(last, "100%") == NULL || strstr(last, "MiB/s") == NULL)
		fail_msg("last bar is not 100%% in MiB/s: %s", last);
	out_has(f, " MiB/s -> ");
}

/* ---- the other programs ---- */

static void
t_gendata_and_bench_conventions(void **state)
{
	struct fx *f = *state;
	const char *gv[] = { GENDATA, "-V", NULL };
	const char *gversion[] = { GENDATA, "--version", NULL };
	const char *gbad[] = { GENDATA, "--bogus", NULL };
	const char *gnone[] = { GENDATA, NULL };
	const char *bv[] = { BENCH, "-V", NULL };
	const char *bbad[] = { BENCH, "--bogus", NULL };
	const char *bval[] = { BENCH, "-c", "x", NULL };

	assert_int_equal(run(f, gv), 0);
	out_has(f, "linesvr-gendata " LINESVR_VERSION "\n");
	assert_int_equal(run(f, gversion), 0);
	out_has(f, "linesvr-gendata " LINESVR_VERSION "\n");
	assert_int_equal(run(f, gbad), 2);
	err_all_prefixed(f, "linesvr-gendata");
	assert_int_equal(run(f, gnone), 2);
	err_all_prefixed(f, "linesvr-gendata");
	assert_int_equal(run(f, bv), 0);
	out_has(f, "linesvr-bench " LINESVR_VERSION "\n");
	assert_int_equal(run(f, bbad), 2);
	err_all_prefixed(f, "linesvr-bench");
	assert_int_equal(run(f, bval), 2);
	err_all_prefixed(f, "linesvr-bench");
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(t_version_and_help),
		T(t_usage_errors_exit_2),
		T(t_option_errors_name_the_option),
		T(t_long_and_short_forms),
		T(t_flags_override_file_in_any_order),
		T(t_unset_lines_per_page_keeps_tuned_index),
		T(t_rebuild_for_other_lines_per_page_is_a_warning),
		T(t_rebuild_missing_and_corrupt_say_why),
		T(t_one_worker_singular),
		T(t_indexer_long_options),
		T(t_indexer_check_failure_on_stderr),
		T(t_indexer_bar_ends_at_100),
		T(t_gendata_and_bench_conventions),
	};

	return cmocka_run_group_tests_name("cli", tests, NULL, NULL);
}
