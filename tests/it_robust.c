/*
 * The text file changing under a running server, and privilege dropping:
 * a wrong or partial line is never presented as a whole one. A change is
 * ERR from the moment it shows (in the line checks, or noticed by the
 * server), then re-indexed under build = auto: the new content is served.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define LINES    1000
#define LONG_LEN (100 * 1024)

struct fx {
	struct srv s;
	char *text;
	size_t len;
};

/* Lines "line N xxxx...\n" of 80-ish bytes, then one 100 KiB line. */
static char *
make_text(size_t *len)
{
	size_t cap = LINES * 100 + LONG_LEN + 2, n = 0;
	char *t = malloc(cap);

	assert_non_null(t);
	for (int i = 1; i <= LINES; i++)
		n += (size_t)snprintf(t + n, cap - n, "line %d %070d\n", i, i);
	memset(t + n, 'L', LONG_LEN);
	n += LONG_LEN;
	t[n++] = '\n';
	*len = n;
	return t;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->text = make_text(&f->len);
	srv_prepare(&f->s, f->text, f->len);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	srv_stop(&f->s);
	srv_cleanup(&f->s);
	free(f->text);
	free(f);
	return 0;
}

/* Where line n starts in f's original text. */
static const char *
line_at(const struct fx *f, int n)
{
	const char *p = f->text;

	for (int i = 1; i < n; i++)
		p = strchr(p, '\n') + 1;
	return p;
}

/* The exact answer to GET n on the original text. */
static void
expect_line(int fd, const struct fx *f, int n)
{
	const char *p = line_at(f, n);

	expect_str(fd, "OK\r\n");
	expect_bytes(fd, p, (size_t)(strchr(p, '\n') - p + 1));
}

/* GET n on a fresh connection until it answers want (bounded). */
static void
await_answer(const struct fx *f, int n, const char *want, size_t wantlen)
{
	long long deadline = now_ms() + 20000;
	char req[32];

	snprintf(req, sizeof(req), "GET %d\r\n", n);
	while (now_ms() < deadline) {
		int fd = srv_connect(&f->s);
		size_t len;
		char *got;
		send_str(fd, req);
		shutdown(fd, SHUT_WR);
		got = recv_all(fd, &len);
		close(fd);
		if (len == wantlen && memcmp(got, want, len) == 0) {
			free(got);
			return;
		}
		free(got);
		nap_ms(20);
	}
	fail_msg("GET %d never gave the expected answer", n);
}

/* Line n of f's original text, as an OK answer, into out. */
static size_t
line_answer(const struct fx *f, int n, char *out, size_t cap)
{
	const char *p = line_at(f, n);

	return (size_t)snprintf(out, cap, "OK\r\n%.*s",
	    (int)(strchr(p, '\n') - p + 1), p);
}

static void
truncated_text_gives_err(struct fx *f, const char *server_conf)
{
	char conf[256], want[256];
	int fd;

	snprintf(conf, sizeof(conf), "%s[index]\nlines_per_page = 16\n",
	    server_conf);
	srv_start(&f->s, conf);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 900\r\nGET 1001\r\n");
	expect_line(fd, f, 900);
	expect_line(fd, f, 1001);
	/* Cut the file to its first 100 lines behind the server's back. */
	assert_int_equal(truncate(f->s.text, line_at(f, 101) - f->text), 0);
	send_str(fd, "GET 900\r\nGET 1001\r\n");
	expect_str(fd, "ERR\r\nERR\r\n");
	close(fd);
	wait_stat(&f->s, "file_changes", 1, 20000);
	/* Re-indexed: the lines that are left, and no more. */
	await_answer(f, 2, want, line_answer(f, 2, want, sizeof(want)));
	await_answer(f, 900, "ERR\r\n", 5);
	assert_int_equal(srv_stat(&f->s, "lines"), 100);
	assert_true(srv_stat(&f->s, "requests_err") >= 2);
}

/* Mapped (the default for small files) and read with pread. */
static void
t_truncated_text_gives_err(void **state)
{
	truncated_text_gives_err(*state, "");
}

static void
t_truncated_text_gives_err_pread(void **state)
{
	truncated_text_gives_err(*state, "map_max = 0\n");
}

static void
changed_text_gives_err(struct fx *f, const char *server_conf)
{
	char want[256];
	int tfd, fd;
	const char *p;
	size_t n;
	off_t lf;

	srv_start(&f->s, server_conf);
	/* Replace the LF that ends line 10 (same size, boundaries shift). */
	p = line_at(f, 10);
	lf = (off_t)(strchr(p, '\n') - f->text);
	tfd = open(f->s.text, O_WRONLY);
	assert_true(tfd >= 0);
	assert_int_equal(pwrite(tfd, "X", 1, lf), 1);
	close(tfd);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 10\r\nGET 11\r\n");
	expect_str(fd, "ERR\r\nERR\r\n");
	close(fd);
	wait_stat(&f->s, "file_changes", 1, 20000);
	/* Re-indexed: lines 10 and 11 are one line now. */
	{
		const char *e10 = strchr(p, '\n'), *e11 = strchr(e10 + 1, '\n');
		n = (size_t)snprintf(want, sizeof(want), "OK\r\n%.*sX%.*s",
		    (int)(e10 - p), p, (int)(e11 - e10), e10 + 1);
	}
	await_answer(f, 10, want, n);
}

static void
t_changed_text_gives_err(void **state)
{
	changed_text_gives_err(*state, "");
}

static void
t_changed_text_gives_err_pread(void **state)
{
	changed_text_gives_err(*state, "map_max = 0\n");
}

/*
 * The index file cut to its header under a running server: pages fail to
 * read (SIGBUS on the mapping, a short pread otherwise), answers are ERR,
 * never a wrong line, and the server re-indexes: every line comes back.
 */
static void
truncated_index_rebuilds(struct fx *f, const char *server_conf)
{
	char conf[256], index[160], want[256], got[4096];
	int fd;
	ssize_t r;

	snprintf(conf, sizeof(conf), "%s[index]\nlines_per_page = 16\n",
	    server_conf);
	srv_start(&f->s, conf);
	snprintf(index, sizeof(index), "%s.lidx", f->s.text);
	assert_int_equal(truncate(index, 4096), 0);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 900\r\n");
	r = read(fd, got, sizeof(got) - 1);
	assert_true(r > 0);
	got[r] = '\0';
	line_answer(f, 900, want, sizeof(want));
	assert_true(strcmp(got, "ERR\r\n") == 0 || strcmp(got, want) == 0);
	close(fd);
	wait_stat(&f->s, "file_changes", 1, 20000);
	await_answer(f, 900, want, line_answer(f, 900, want, sizeof(want)));
	await_answer(f, 17, want, line_answer(f, 17, want, sizeof(want)));
	fd = srv_connect(&f->s);
	send_str(fd, "GET 1\r\nGET 1000\r\n");
	expect_line(fd, f, 1);
	expect_line(fd, f, 1000);
	close(fd);
}

static void
t_truncated_index_rebuilds(void **state)
{
	truncated_index_rebuilds(*state, "");
}

static void
t_truncated_index_rebuilds_pread(void **state)
{
	truncated_index_rebuilds(*state, "map_max = 0\n");
}

static void
t_drops_privileges(void **state)
{
	struct fx *f = *state;
	struct passwd *pw = getpwnam("nobody");
	char path[64], line[256];
	long uid = -1;
	FILE *st;
	int fd;

	if (geteuid() != 0 || pw == NULL) {
		srv_start(&f->s, NULL); /* teardown stops it */
		skip();
	}
	srv_start(&f->s, "user = nobody\n");
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)f->s.pid);
	assert_non_null(st = fopen(path, "r"));
	while (fgets(line, sizeof(line), st) != NULL)
		if (strncmp(line, "Uid:", 4) == 0)
			uid = strtol(line + 4, NULL, 10);
	fclose(st);
	assert_int_equal(uid, (long)pw->pw_uid);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 3\r\n");
	expect_line(fd, f, 3);
	close(fd);
	assert_true(srv_log_has(&f->s, "running as user nobody"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(t_truncated_text_gives_err, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_changed_text_gives_err, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(t_truncated_text_gives_err_pread,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(t_changed_text_gives_err_pread,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(t_truncated_index_rebuilds,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(t_truncated_index_rebuilds_pread,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(t_drops_privileges, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("robust", tests, NULL, NULL);
}
