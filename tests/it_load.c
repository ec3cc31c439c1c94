/*
 * it_load: linesvr under volume — long pipelines, many concurrent clients,
 * several worker counts — with every answer checked byte for byte against
 * the text file; and the edges of the file itself (no final newline, empty).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"

#define LOAD_DEADLINE_MS 40000 /* one whole client run, ASan included */

/* ---- a generated text file ---- */

static size_t
pick_below(uint64_t *state, size_t n)
{
	return (size_t)(splitmix64(state) % n);
}

/* Every byte value but LF (NUL, CR, tabs, bytes >= 0x80). */
static char
any_byte_but_lf(uint64_t *st)
{
	unsigned char c = (unsigned char)pick_below(st, 256);

	return (char)(c == '\n' ? 'n' : c);
}

/*
 * nlines lines of 0 to 2 * mean bytes of any value but LF: lines are
 * served as bytes.
 */
static void
textfile_random(struct textfile *tf, uint64_t seed, size_t nlines,
    size_t mean)
{
	uint64_t st = seed;

	textfile_gen(tf, &st, nlines, 0, 2 * mean, any_byte_but_lf);
}

/* Append "GET n\r\n" to req and its answer to exp. */
static void
add_get(struct bytes *req, struct bytes *exp, const struct textfile *tf,
    size_t n)
{
	char line[64];

	snprintf(line, sizeof(line), "GET %zu\r\n", n);
	bytes_str(req, line);
	bytes_str(exp, "OK\r\n");
	bytes_add(exp, tf->buf + tf->off[n - 1], tf->off[n] - tf->off[n - 1]);
}

/* ---- a poll loop driving many clients ---- */

/*
 * A client sends its requests in batches: batch k goes out (all of it in
 * one send when the socket takes it) only once every answer of batch k - 1
 * has come back, so a batch of one is a P=1 client and one batch of all is
 * a full pipeline. The last batch ends with QUIT, and after the last answer
 * the server must close: nothing more may arrive.
 */
struct client {
	int fd;
	struct bytes req, exp;
	size_t *req_end, *exp_end; /* per batch: offsets where it ends */
	size_t nbatch, batch;
	size_t sent, got;
	int done;
};

static void
client_end_batch(struct client *c, const struct bytes *req,
    const struct bytes *exp)
{
	assert_non_null(c->req_end = realloc(c->req_end,
	    (c->nbatch + 1) * sizeof(size_t)));
	assert_non_null(c->exp_end = realloc(c->exp_end,
	    (c->nbatch + 1) * sizeof(size_t)));
	c->req_end[c->nbatch] = req->len;
	c->exp_end[c->nbatch] = exp->len;
	c->nbatch++;
}

/*
 * nreq random valid GETs for one client, in batches of 1 to max_batch
 * (max_batch 0: a random mix of single requests and pipelines).
 */
static void
client_plan(struct client *c, const struct textfile *tf, uint64_t *st,
    size_t nreq, size_t max_batch)
{
	size_t left = nreq;

	memset(c, 0, sizeof(*c));
	c->fd = -1;
	while (left > 0) {
		size_t b = max_batch;
		if (b == 0)
			b = pick_below(st, 2) ? 1 : 2 + pick_below(st, 20);
		if (b > left)
			b = left;
		for (size_t i = 0; i < b; i++)
			add_get(&c->req, &c->exp, tf, 1 + pick_below(st,
			    tf->lines));
		left -= b;
		if (left == 0)
			bytes_str(&c->req, "QUIT\r\n");
		client_end_batch(c, &c->req, &c->exp);
	}
}

static void
client_free(struct client *c)
{
	if (c->fd >= 0)
		close(c->fd);
	free(c->req.p);
	free(c->exp.p);
	free(c->req_end);
	free(c->exp_end);
	memset(c, 0, sizeof(*c));
	c->fd = -1;
}

static void
client_recv(struct client *c, int id)
{
	char buf[65536];
	ssize_t n = recv(c->fd, buf, sizeof(buf), 0);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		fail_msg("client %d: recv: %s after %zu of %zu bytes", id,
		    strerror(errno), c->got, c->exp.len);
	if (n == 0) {
		if (c->got != c->exp.len)
			fail_msg("client %d: server closed after %zu of %zu "
			    "bytes", id, c->got, c->exp.len);
		c->done = 1;
		close(c->fd);
		c->fd = -1;
		return;
	}
	if (c->got + (size_t)n > c->exp.len)
		fail_msg("client %d: %zu bytes more than expected", id,
		    c->got + (size_t)n - c->exp.len);
	for (size_t i = 0; i < (size_t)n; i++)
		if (buf[i] != c->exp.p[c->got + i])
			fail_msg("client %d: wrong byte at offset %zu (answer "
			    "%zu): got 0x%02x, want 0x%02x", id, c->got + i,
			    answer_at(c->exp.p, c->exp.len, c->got + i),
			    (unsigned char)buf[i],
			    (unsigned char)c->exp.p[c->got + i]);
	c->got += (size_t)n;
	while (c->batch < c->nbatch && c->got >= c->exp_end[c->batch] &&
	    c->sent == c->req_end[c->batch])
		c->batch++;
}

static void
client_send(struct client *c, int id)
{
	size_t end = c->req_end[c->batch];
	ssize_t n = send(c->fd, c->req.p + c->sent, end - c->sent,
	    MSG_NOSIGNAL);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0)
		fail_msg("client %d: send: %s", id, strerror(errno));
	c->sent += (size_t)n;
}

/* Connect every client, then drive them all until each has seen EOF. */
static void
run_clients(const struct srv *s, struct client *cl, size_t n)
{
	long long deadline = now_ms() + LOAD_DEADLINE_MS;
	struct pollfd *pfd = calloc(n, sizeof(*pfd));
	size_t *idx = calloc(n, sizeof(*idx));
	size_t left = n;

	assert_non_null(pfd);
	assert_non_null(idx);
	for (size_t i = 0; i < n; i++) {
		cl[i].fd = srv_connect(s);
		assert_int_equal(fcntl(cl[i].fd, F_SETFL, O_NONBLOCK), 0);
	}
	while (left > 0) {
		size_t m = 0;
		int r;
		if (now_ms() > deadline)
			fail_msg("%zu of %zu clients not finished within %d ms",
			    left, n, LOAD_DEADLINE_MS);
		for (size_t i = 0; i < n; i++) {
			struct client *c = &cl[i];
			if (c->done)
				continue;
			pfd[m].fd = c->fd;
			pfd[m].events = POLLIN;
			if (c->batch < c->nbatch &&
			    c->sent < c->req_end[c->batch])
				pfd[m].events |= POLLOUT;
			pfd[m].revents = 0;
			idx[m++] = i;
		}
		r = poll(pfd, m, 1000);
		assert_true(r >= 0 || errno == EINTR);
		for (size_t k = 0; r > 0 && k < m; k++) {
			struct client *c = &cl[idx[k]];
			if (pfd[k].revents & (POLLIN | POLLHUP | POLLERR))
				client_recv(c, (int)idx[k]);
			if (!c->done && (pfd[k].revents & POLLOUT) &&
			    c->batch < c->nbatch &&
			    c->sent < c->req_end[c->batch])
				client_send(c, (int)idx[k]);
			if (c->done)
				left--;
		}
	}
	free(pfd);
	free(idx);
}

/* ---- fixtures ---- */

struct fixture {
	struct srv s;
	struct textfile tf;
	struct client *cl;
	size_t ncl;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	f->s.pid = -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	for (size_t i = 0; i < f->ncl; i++)
		client_free(&f->cl[i]);
	free(f->cl);
	srv_cleanup(&f->s);
	textfile_free(&f->tf);
	free(f);
	return 0;
}

static void
alloc_clients(struct fixture *f, size_t n)
{
	assert_non_null(f->cl = calloc(n, sizeof(*f->cl)));
	f->ncl = n;
	for (size_t i = 0; i < n; i++)
		f->cl[i].fd = -1;
}

/* ---- tests ---- */

/* 10,000 GETs sent at once; the answers come back in order, exact. */
static void
test_pipeline_10000(void **state)
{
	struct fixture *f = *state;
	uint64_t st = 1001;

	textfile_random(&f->tf, 42, 10000, 50);
	srv_prepare(&f->s, f->tf.buf, f->tf.len);
	srv_start(&f->s, NULL);
	alloc_clients(f, 1);
	client_plan(&f->cl[0], &f->tf, &st, 10000, 10000);
	assert_int_equal(f->cl[0].nbatch, 1);
	run_clients(&f->s, f->cl, 1);
	assert_int_equal(srv_stat(&f->s, "requests_get"), 10000);
	assert_int_equal(srv_stat(&f->s, "requests_err"), 0);
	srv_stop(&f->s);
}

/*
 * 200 clients at once, 50 random GETs each, some one at a time and some
 * pipelined; a small cache with small pages makes them share and evict.
 */
static void
test_200_clients(void **state)
{
	struct fixture *f = *state;
	const size_t nclients = 200, per = 50;
	uint64_t st = 2002;
	char stats[4096];
	int fd;

	textfile_random(&f->tf, 43, 20000, 50);
	srv_prepare(&f->s, f->tf.buf, f->tf.len);
	srv_start(&f->s, "[index]\nlines_per_page = 256\n"
	    "[cache]\nsize = 16K\n");
	alloc_clients(f, nclients);
	for (size_t i = 0; i < nclients; i++)
		client_plan(&f->cl[i], &f->tf, &st, per,
		    i % 4 == 0 ? 1 : i % 4 == 1 ? per : 0);
	run_clients(&f->s, f->cl, nclients);

	fd = srv_connect(&f->s);
	srv_read_stats(fd, stats, sizeof(stats));
	close(fd);
	assert_int_equal(stat_value(stats, "requests_get"), nclients * per);
	assert_int_equal(stat_value(stats, "requests_err"), 0);
	assert_int_equal(stat_value(stats, "cache_hits") +
	    stat_value(stats, "cache_misses"), nclients * per);
	assert_int_equal(stat_value(stats, "lines"), 20000);
	assert_true(stat_value(stats, "connections_total") >= nclients + 1);
	srv_stop(&f->s);
}

/* The last line has no LF: it is served with one appended, short or long. */
static void
test_no_final_newline(void **state)
{
	struct fixture *f = *state;
	struct bytes text = { 0 }, want = { 0 };
	char stats[4096];
	size_t len;
	char *got;
	int fd;

	/* A long last line goes out by the streaming path, a short one not:
	 * check both, each on its own server. */
	for (int round = 0; round < 2; round++) {
		size_t last = round == 0 ? 5 : 100000;
		text.len = want.len = 0;
		bytes_str(&text, "alpha\n\nbeta\n");
		for (size_t i = 0; i < last; i++)
			bytes_add(&text, &"gamma"[i % 5], 1);
		srv_prepare(&f->s, text.p, text.len);
		srv_start(&f->s, NULL);

		fd = srv_connect(&f->s);
		send_str(fd, "GET 4\r\nGET 3\r\nGET 2\r\nGET 5\r\nGET 4\r\n");
		bytes_str(&want, "OK\r\n");
		bytes_add(&want, text.p + 12, last);
		bytes_str(&want, "\n");
		bytes_str(&want, "OK\r\nbeta\nOK\r\n\nERR\r\n");
		bytes_str(&want, "OK\r\n");
		bytes_add(&want, text.p + 12, last);
		bytes_str(&want, "\n");
		expect_bytes(fd, want.p, want.len);
		srv_read_stats(fd, stats, sizeof(stats));
		assert_int_equal(stat_value(stats, "lines"), 4);
		assert_int_equal(stat_value(stats, "file_bytes"), text.len);
		send_str(fd, "QUIT\r\n");
		got = recv_all(fd, &len);
		free(got);
		assert_int_equal(len, 0);
		close(fd);
		srv_stop(&f->s);
		srv_cleanup(&f->s);
	}
	free(text.p);
	free(want.p);
}

/* An empty file has no valid line; the connection survives the ERRs. */
static void
test_empty_file(void **state)
{
	struct fixture *f = *state;
	char stats[4096];
	int fd;

	srv_prepare(&f->s, "", 0);
	srv_start(&f->s, NULL);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 1\r\nGET 0\r\nGET 2\r\n");
	expect_str(fd, "ERR\r\nERR\r\nERR\r\n");
	srv_read_stats(fd, stats, sizeof(stats));
	assert_int_equal(stat_value(stats, "lines"), 0);
	assert_int_equal(stat_value(stats, "file_bytes"), 0);
	assert_int_equal(stat_value(stats, "requests_get"), 0);
	assert_int_equal(stat_value(stats, "requests_err"), 3);
	close(fd);
	srv_stop(&f->s);
}

/* A file of one empty line: GET 1 is that empty line. */
static void
test_single_empty_line(void **state)
{
	struct fixture *f = *state;
	int fd;

	srv_prepare(&f->s, "\n", 1);
	srv_start(&f->s, NULL);
	fd = srv_connect(&f->s);
	send_str(fd, "GET 1\r\nGET 2\r\n");
	expect_str(fd, "OK\r\n\nERR\r\n");
	close(fd);
	assert_int_equal(srv_stat(&f->s, "lines"), 1);
	srv_stop(&f->s);
}

/* The same mixed load, served correctly by one worker and by four. */
static void
run_with_workers(struct fixture *f, unsigned workers)
{
	const size_t nclients = 24, per = 200;
	uint64_t st = 3003 + workers;
	char conf[64], stats[4096];
	int fd;

	textfile_random(&f->tf, 44 + workers, 5000, 80);
	srv_prepare(&f->s, f->tf.buf, f->tf.len);
	snprintf(conf, sizeof(conf), "workers = %u\n", workers);
	srv_start(&f->s, conf);
	alloc_clients(f, nclients);
	for (size_t i = 0; i < nclients; i++)
		client_plan(&f->cl[i], &f->tf, &st, per,
		    i % 3 == 0 ? 1 : i % 3 == 1 ? per : 0);
	run_clients(&f->s, f->cl, nclients);

	fd = srv_connect(&f->s);
	srv_read_stats(fd, stats, sizeof(stats));
	close(fd);
	assert_int_equal(stat_value(stats, "workers"), workers);
	assert_int_equal(stat_value(stats, "requests_get"), nclients * per);
	assert_int_equal(stat_value(stats, "requests_err"), 0);
	srv_stop(&f->s);
}

static void
test_workers_1(void **state)
{
	run_with_workers(*state, 1);
}

static void
test_workers_4(void **state)
{
	run_with_workers(*state, 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_pipeline_10000, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_200_clients, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_no_final_newline, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_empty_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_single_empty_line, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_workers_1, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_workers_4, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
