/*
 * Integration tests: how linesvr starts, or refuses to (SPEC.md sections
 * 3, 4 and 5). Every refusal is checked for its exit status and for a log
 * that names the cause, and --check must agree with it; every start with
 * a stale, corrupt or mismatched index is checked for correct answers and
 * for the index left on disk; a signal during the startup build leaves no
 * file behind.
 *
 * Indexes are built beforehand by the real indexer (LINESVR_INDEX_BIN,
 * default build/linesvr-index) with -m 4, and the config says
 * lines_per_page = 4 to match, so pages are small. Pages start at byte
 * 4096 and all have one size, which the tests take from the file itself
 * (its size less the header, over the number of pages) rather than from
 * the page layout, so they hold for any layout of the page body.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "version.h"

#define NLINES      41          /* ten full pages of 4, and one of 1 */
#define M           4
#define HEADER      4096        /* pages start here */
#define EXIT_MS     20000
#define BUILD_TEXT  (1LL << 30) /* a sparse text: a build of seconds */

struct fx {
	struct srv s;
	char text[8192];
	size_t len;
	size_t off[NLINES + 3];   /* off[n] = start of line n, one spare line */
	size_t nlines;
	char index[160];          /* the default index path: text.txt.lidx */
};

/* ---- fixture ---- */

static void
add_line(struct fx *f, const char *line)
{
	size_t n = strlen(line);

	assert_true(f->len + n < sizeof(f->text));
	f->off[++f->nlines] = f->len;
	memcpy(f->text + f->len, line, n);
	f->len += n;
	f->off[f->nlines + 1] = f->len;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char line[128];

	assert_non_null(f);
	for (int n = 1; n <= NLINES; n++) {
		snprintf(line, sizeof(line), "line %d of the startup text%.*s\n",
		    n, n % 17, "-----------------");
		add_line(f, line);
	}
	srv_prepare(&f->s, f->text, f->len);
	snprintf(f->index, sizeof(f->index), "%s.lidx", f->s.text);
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

static const char *
indexer_bin(void)
{
	return test_bin("LINESVR_INDEX_BIN", "build/linesvr-index");
}

/* Run the indexer with argv, output into the directory; its status. */
static int
run_indexer(const struct fx *f, const char *const *argv)
{
	char out[160];

	snprintf(out, sizeof(out), "%s/indexer.out", f->s.dir);
	return proc_wait(proc_spawn(argv, out, out), EXIT_MS);
}

/* linesvr-index TEXT -m m -q: must succeed. */
static void
build_index(const struct fx *f, const char *m)
{
	const char *argv[] = { indexer_bin(), f->s.text, "-m", m, "-q", NULL };

	assert_int_equal(run_indexer(f, argv), 0);
	assert_int_equal(access(f->index, R_OK), 0);
}

/* linesvr-index --check TEXT INDEX: 0 when the index fits the text. */
static int
check_index(const struct fx *f)
{
	const char *argv[] = { indexer_bin(), "--check", f->s.text, f->index,
	    NULL };

	return run_indexer(f, argv);
}

/* The harness's config head for file and port, then extra. */
static const char *
conf_file_port(const char *file, int port, const char *extra)
{
	static char buf[4096];

	snprintf(buf, sizeof(buf), "[server]\nfile = %s\nport = %d\n"
	    "bind = 127.0.0.1\n%s", file, port, extra);
	return buf;
}

/* The same for the fixture's text. */
static const char *
conf_port(const struct fx *f, int port, const char *extra)
{
	return conf_file_port(f->s.text, port, extra);
}

/* The same with port 0. */
static const char *
conf(const struct fx *f, const char *extra)
{
	return conf_port(f, 0, extra);
}

static int
run(struct fx *f, const char *config, const char *arg)
{
	const char *argv[] = { arg, NULL };

	return srv_run_expect_exit(&f->s, config, arg != NULL ? argv : NULL,
	    EXIT_MS);
}

static void
log_must_have(const struct srv *s, const char *needle)
{
	if (!srv_log_has(s, needle)) {
		char cmd[256];
		snprintf(cmd, sizeof(cmd), "cat '%s' >&2", s->log);
		if (system(cmd) != 0)
			print_error("(could not show the log)\n");
		fail_msg("the log does not mention \"%s\"", needle);
	}
}

/* Every line, pipelined on one connection, answered exactly; then n+1 is
 * out of range. */
static void
expect_all_lines(const struct fx *f)
{
	char req[32];
	int fd = srv_connect(&f->s);

	for (size_t n = 1; n <= f->nlines; n++) {
		snprintf(req, sizeof(req), "GET %zu\r\n", n);
		send_str(fd, req);
	}
	snprintf(req, sizeof(req), "GET %zu\r\n", f->nlines + 1);
	send_str(fd, req);
	for (size_t n = 1; n <= f->nlines; n++) {
		expect_str(fd, "OK\r\n");
		expect_bytes(fd, f->text + f->off[n], f->off[n + 1] - f->off[n]);
	}
	expect_str(fd, "ERR\r\n");
	close(fd);
}

/* Append a line to the text file (and to the fixture's copy). */
static void
append_line(struct fx *f, const char *line)
{
	FILE *fp = fopen(f->s.text, "ab");

	assert_non_null(fp);
	assert_int_equal(fputs(line, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	add_line(f, line);
}

static void
flip_byte(const char *path, off_t at)
{
	unsigned char c;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &c, 1, at), 1);
	c ^= 0x5a;
	assert_int_equal(pwrite(fd, &c, 1, at), 1);
	assert_int_equal(close(fd), 0);
}

static off_t
file_size(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_size;
}

/* Bytes per page of an index of the fixture's text with m lines a page. */
static off_t
page_bytes(const struct fx *f, unsigned m)
{
	off_t body = file_size(f->index) - HEADER;
	off_t pages = (off_t)((f->nlines + m - 1) / m);

	assert_true(body > 0);
	assert_int_equal(body % pages, 0);
	return body / pages;
}

/* A listening socket on 127.0.0.1 at a free port; returns fd, sets port. */
static int
occupy_port(int *port)
{
	struct sockaddr_in sin;
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
	assert_int_equal(listen(fd, 8), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	*port = ntohs(sin.sin_port);
	return fd;
}

/* ---- refusals ---- */

static void
test_missing_text_file(void **state)
{
	struct fx *f = *state;
	char path[160];

	snprintf(path, sizeof(path), "%s/no-such-text.txt", f->s.dir);
	assert_int_equal(run(f, conf_file_port(path, 0, ""), NULL), 1);
	log_must_have(&f->s, "no-such-text.txt");
	log_must_have(&f->s, strerror(ENOENT));
}

static void
test_unknown_key(void **state)
{
	struct fx *f = *state;
	char where[256], line_word[32];

	/* bogus_key is on line 5 of the file. */
	assert_int_equal(run(f, conf(f, "bogus_key = 1\n"), NULL), 2);
	log_must_have(&f->s, f->s.conf);
	log_must_have(&f->s, "bogus_key");
	snprintf(where, sizeof(where), "%s:5", f->s.conf);
	snprintf(line_word, sizeof(line_word), "line 5");
	if (!srv_log_has(&f->s, where) && !srv_log_has(&f->s, line_word))
		fail_msg("the message does not name line 5");
}

static void
test_port_out_of_range(void **state)
{
	struct fx *f = *state;
	char cfg[512];

	snprintf(cfg, sizeof(cfg), "[server]\nfile = %s\nport = 65536\n",
	    f->s.text);
	assert_int_equal(run(f, cfg, NULL), 2);
	log_must_have(&f->s, "port");
	log_must_have(&f->s, "65536");
}

static void
test_port_out_of_range_cli(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { "-p", "70000", NULL };

	assert_int_equal(srv_run_expect_exit(&f->s, conf(f, ""), argv,
	    EXIT_MS), 2);
	log_must_have(&f->s, "70000");
}

static void
test_port_in_use(void **state)
{
	struct fx *f = *state;
	char portstr[16];
	int port, lfd = occupy_port(&port);

	snprintf(portstr, sizeof(portstr), "%d", port);
	assert_int_equal(run(f, conf_port(f, port, ""), NULL), 1);
	close(lfd);
	log_must_have(&f->s, portstr);
	log_must_have(&f->s, strerror(EADDRINUSE));
}

static void
test_help_and_version(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, conf(f, ""), "--help"), 0);
	log_must_have(&f->s, "usage");
	log_must_have(&f->s, "--check");
	assert_int_equal(run(f, conf(f, ""), "--version"), 0);
	log_must_have(&f->s, "linesvr " LINESVR_VERSION);
}

/* A malformed value is a config error (exit 2) naming file, line and
 * key, not a failure later at resolve time. */
static void
test_malformed_bind(void **state)
{
	struct fx *f = *state;
	char where[160];

	/* Line 5 of the file, after the head's bind (the last one wins). */
	assert_int_equal(run(f, conf(f, "bind = not-an-address\n"), NULL), 2);
	snprintf(where, sizeof(where), "%s:5", f->s.conf);
	log_must_have(&f->s, where);
	log_must_have(&f->s, "bind");
}

/* Under build = auto an index that cannot be written is a startup error,
 * and --check (exit 0 only "if the server would start") says so too. */
static void
test_unwritable_index_path(void **state)
{
	struct fx *f = *state;
	const char *cfg = conf(f, "[index]\npath = /nonexistent-dir/x.lidx\n"
	    "build = auto\n");

	assert_int_equal(run(f, cfg, NULL), 1);
	log_must_have(&f->s, "/nonexistent-dir/x.lidx");
	assert_int_equal(run(f, cfg, "--check"), 1);
}

static void
test_directory_as_text_file(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, conf_file_port(f->s.dir, 0, ""), NULL), 1);
	log_must_have(&f->s, "not a regular file");
	assert_int_equal(run(f, conf_file_port(f->s.dir, 0, ""), "--check"),
	    1);
}

/* ---- `linesvr FILE -p 0`: no config file at all ---- */

static void
test_argv_form(void **state)
{
	struct fx *f = *state;
	const char *argv[] = { f->s.text, "-p", "0", NULL };

	srv_start_argv(&f->s, argv);
	log_must_have(&f->s, "listening on 127.0.0.1:");
	expect_all_lines(f);
	/* Defaults: the index is built beside the text file. */
	assert_int_equal(check_index(f), 0);
	srv_stop(&f->s);
}

/* ---- --check ---- */

static void
test_check_valid_index(void **state)
{
	struct fx *f = *state;
	int port, lfd = occupy_port(&port);

	build_index(f, "4");
	/* --check binds nothing: a port in use does not matter to it. */
	assert_int_equal(run(f, conf_port(f, port, "[index]\n"
	    "lines_per_page = 4\nbuild = never\n"), "--check"), 0);
	close(lfd);
	assert_false(srv_log_has(&f->s, "rebuil"));
}

static void
test_check_missing_index_auto(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, conf(f, "[index]\nbuild = auto\n"), "--check"),
	    0);
	log_must_have(&f->s, "rebuil");
	/* A check changes nothing. */
	assert_int_equal(access(f->index, F_OK), -1);
}

static void
test_check_missing_index_never(void **state)
{
	struct fx *f = *state;

	assert_int_equal(run(f, conf(f, "[index]\nbuild = never\n"),
	    "--check"), 1);
	log_must_have(&f->s, f->index);
	assert_int_equal(access(f->index, F_OK), -1);
}

/* ---- stale, corrupt and mismatched indexes ---- */

static const char AUTO4[] = "[index]\nlines_per_page = 4\nbuild = auto\n";
static const char NEVER4[] = "[index]\nlines_per_page = 4\nbuild = never\n";

static void
test_stale_index_auto(void **state)
{
	struct fx *f = *state;

	build_index(f, "4");
	append_line(f, "a line appended after indexing\n");
	assert_int_equal(check_index(f), 1);
	srv_start(&f->s, AUTO4);
	expect_all_lines(f);
	assert_int_equal(srv_stat(&f->s, "lines"), NLINES + 1);
	/* The rebuilt index was written to its path. */
	assert_int_equal(check_index(f), 0);
	srv_stop(&f->s);
}

static void
test_stale_index_never(void **state)
{
	struct fx *f = *state;

	build_index(f, "4");
	append_line(f, "a line appended after indexing\n");
	assert_int_equal(run(f, conf(f, NEVER4), NULL), 1);
	log_must_have(&f->s, "stale");
	log_must_have(&f->s, f->index);
}

static void
corrupt_page_serves(struct fx *f, const char *extra)
{
	off_t pb;

	build_index(f, "4");
	pb = page_bytes(f, M);
	/* The middle of page 1, which holds lines 5 to 8. */
	flip_byte(f->index, HEADER + pb + pb / 2);
	assert_int_equal(check_index(f), 1);
	srv_start(&f->s, extra);
	expect_all_lines(f);
	assert_true(srv_stat(&f->s, "index_errors") >= 1);
	log_must_have(&f->s, "page 1");
	srv_stop(&f->s);
}

static void
test_corrupt_page_auto(void **state)
{
	corrupt_page_serves(*state, AUTO4);
}

static void
test_corrupt_page_never(void **state)
{
	/* Pages are checked when loaded, not at startup: never starts too. */
	corrupt_page_serves(*state, NEVER4);
}

static void
test_corrupt_page_pread(void **state)
{
	/* The index read with pread rather than from its mapping. */
	corrupt_page_serves(*state, "map_max = 0\n[index]\nlines_per_page = 4\n"
	    "build = never\n");
}

static void
test_corrupt_header_auto(void **state)
{
	struct fx *f = *state;

	build_index(f, "4");
	flip_byte(f->index, 24); /* inside the header, in its checksummed part */
	assert_int_equal(check_index(f), 1);
	srv_start(&f->s, AUTO4);
	expect_all_lines(f);
	assert_int_equal(srv_stat(&f->s, "index_errors"), 0);
	assert_int_equal(check_index(f), 0);
	srv_stop(&f->s);
}

static void
test_corrupt_header_never(void **state)
{
	struct fx *f = *state;

	build_index(f, "4");
	flip_byte(f->index, 24);
	assert_int_equal(run(f, conf(f, NEVER4), NULL), 1);
	log_must_have(&f->s, f->index);
}

static void
test_other_lines_per_page_auto(void **state)
{
	struct fx *f = *state;
	off_t want;

	/* The size of a good index with 4 lines a page, for comparison. */
	build_index(f, "4");
	want = file_size(f->index);
	assert_int_equal(unlink(f->index), 0);
	build_index(f, "8");
	assert_true(file_size(f->index) != want);
	srv_start(&f->s, AUTO4);
	expect_all_lines(f);
	/* Rebuilt on disk with 4 lines per page. */
	assert_int_equal(file_size(f->index), want);
	assert_int_equal(check_index(f), 0);
	srv_stop(&f->s);
}

static void
test_other_lines_per_page_never(void **state)
{
	struct fx *f = *state;

	build_index(f, "8");
	assert_int_equal(run(f, conf(f, NEVER4), NULL), 1);
	log_must_have(&f->s, "lines_per_page");
}

/*
 * The smallest cache is one page as the server keeps it: 20K holds a
 * compact page of 4096 lines without line checksums (16,392 bytes).
 */
static void
test_cache_of_one_compact_page(void **state)
{
	struct fx *f = *state;

	srv_start(&f->s, "[index]\nlines_per_page = 4096\nline_checksums = "
	    "no\n[cache]\nsize = 20K\n");
	expect_all_lines(f);
	srv_stop(&f->s);
}

/* ---- a signal during the startup build ---- */

/*
 * README: "SIGTERM or SIGINT during a startup index build stops the
 * build, removes its temporary file and exits 0". The text is a sparse
 * file of 1 GiB, a build of seconds. Once the temporary index appears the
 * server is stopped and shown to be mid-build (no index committed yet, so
 * its build looks at the cancel flag again); only then comes the SIGTERM:
 * the build is surely running when it arrives.
 */
static void
test_sigterm_during_build(void **state)
{
	struct fx *f = *state;

	assert_int_equal(truncate(f->s.text, BUILD_TEXT), 0);
	srv_spawn(&f->s, conf(f, ""), NULL);
	srv_pause_build(&f->s, EXIT_MS);
	assert_int_equal(kill(f->s.pid, SIGTERM), 0);
	assert_int_equal(kill(f->s.pid, SIGCONT), 0);
	assert_int_equal(srv_wait(&f->s, EXIT_MS), 0);
	log_must_have(&f->s, "stopped by a signal during startup");
	assert_int_equal(files_named(f->s.dir, ".tmp."), 0);
	assert_int_equal(access(f->index, F_OK), -1);
}

static void
test_prebuilt_index_not_rebuilt(void **state)
{
	struct fx *f = *state;
	struct stat before, after;

	build_index(f, "4");
	assert_int_equal(stat(f->index, &before), 0);
	srv_start(&f->s, AUTO4);
	expect_all_lines(f);
	srv_stop(&f->s);
	assert_int_equal(stat(f->index, &after), 0);
	assert_true(before.st_ino == after.st_ino);
	assert_true(before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
	    before.st_mtim.tv_nsec == after.st_mtim.tv_nsec);
	assert_true(before.st_size == after.st_size);
}

int
main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_missing_text_file),
		T(test_unknown_key),
		T(test_port_out_of_range),
		T(test_port_out_of_range_cli),
		T(test_port_in_use),
		T(test_help_and_version),
		T(test_malformed_bind),
		T(test_unwritable_index_path),
		T(test_directory_as_text_file),
		T(test_argv_form),
		T(test_check_valid_index),
		T(test_check_missing_index_auto),
		T(test_check_missing_index_never),
		T(test_stale_index_auto),
		T(test_stale_index_never),
		T(test_corrupt_page_auto),
		T(test_corrupt_page_never),
		T(test_corrupt_page_pread),
		T(test_corrupt_header_auto),
		T(test_corrupt_header_never),
		T(test_other_lines_per_page_auto),
		T(test_other_lines_per_page_never),
		T(test_prebuilt_index_not_rebuilt),
		T(test_cache_of_one_compact_page),
		T(test_sigterm_during_build),
	};
#undef T

	return cmocka_run_group_tests(tests, NULL, NULL);
}
