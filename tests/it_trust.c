/*
 * Trust: the right line every time, under the events of real operation.
 * One test per way a red team made the server send a wrong line, drop a
 * request or outgrow its memory bound: a stalled worker, a text rewritten
 * in place, another index copied over the served one, zeroed index pages
 * under load, the cache bound at every page size and with the whole index
 * in memory, an index build over the file-size limit, and running out of
 * descriptors.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define WAIT_MS 20000	/* bound on every poll for a re-index */

static int
teardown(void **state)
{
	struct srv *s = *state;

	if (s != NULL) {
		srv_stop(s);
		srv_cleanup(s);
		free(s);
	}
	return 0;
}

static struct srv *
new_srv(void **state, const char *text)
{
	struct srv *s = calloc(1, sizeof(*s));

	assert_non_null(s);
	srv_prepare(s, text, strlen(text));
	*state = s;
	return s;
}

static void
write_at(const char *path, const void *buf, size_t len, off_t off, int trunc)
{
	int fd = open(path, O_WRONLY | (trunc ? O_TRUNC : 0));

	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, buf, len, off), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* One request, one answer, on its own connection: "OK\r\n" + the line, or
 * "ERR\r\n", into buf (NUL-terminated). */
static void
ask(const struct srv *s, const char *req, char *buf, size_t cap)
{
	int fd = srv_connect(s);
	size_t n = 0;

	send_str(fd, req);
	shutdown(fd, SHUT_WR);
	while (n + 1 < cap) {
		ssize_t r = read(fd, buf + n, cap - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	close(fd);
}

/* Poll (bounded) until GET n answers exactly want. */
static void
await_answer(const struct srv *s, int n, const char *want)
{
	long long deadline = now_ms() + WAIT_MS;
	char req[32], got[256];

	snprintf(req, sizeof(req), "GET %d\r\n", n);
	while (now_ms() < deadline) {
		ask(s, req, got, sizeof(got));
		if (strcmp(got, want) == 0)
			return;
		nap_ms(20);
	}
	fail_msg("GET %d never answered \"%s\" (last: \"%s\")", n, want, got);
}

static const char *
index_bin(void)
{
	return test_bin("LINESVR_INDEX_BIN", "build/linesvr-index");
}

static char
letter(uint64_t *st)
{
	return (char)('a' + splitmix64(st) % 26);
}

/* Poll (bounded) until a STATS counter is above zero. */
static void
await_stat_nonzero(const struct srv *s, const char *name)
{
	long long deadline = now_ms() + WAIT_MS;

	while (srv_stat(s, name) == 0 && now_ms() < deadline)
		nap_ms(10);
	assert_true(srv_stat(s, name) > 0);
}

/* ---- 1. a stalled worker answers what arrived during the stall ---- */

static void
t_stall_keeps_pending_request(void **state)
{
	struct srv *s = new_srv(state, "one\ntwo\nthree\n");

	srv_start(s, "workers = 1\nidle_timeout = 1\n");
	for (int round = 0; round < 3; round++) {
		int fd = srv_connect(s);

		send_str(fd, "GET 1\r\n");
		expect_str(fd, "OK\r\none\n");
		proc_stop(s->pid);
		send_str(fd, "GET 2\r\n"); /* in time: well within 1 s */
		/* Time passing is the test: the stall outlasts idle_timeout. */
		nap_ms(1500);
		assert_int_equal(kill(s->pid, SIGCONT), 0);
		expect_str(fd, "OK\r\ntwo\n");
		/* Idle from now on: closed within about a second. */
		assert_true(peer_closed(fd, 5000));
		close(fd);
	}
}

/* Trickled bytes without an LF are no request: slowloris still goes. */
static void
t_stall_still_cuts_trickle(void **state)
{
	struct srv *s = new_srv(state, "one\ntwo\n");
	int fd;

	srv_start(s, "workers = 1\nidle_timeout = 1\n");
	fd = srv_connect(s);
	send_str(fd, "GET 1\r\n");
	expect_str(fd, "OK\r\none\n");
	proc_stop(s->pid);
	send_str(fd, "GE");
	nap_ms(1500); /* as above: a stall longer than idle_timeout */
	assert_int_equal(kill(s->pid, SIGCONT), 0);
	assert_true(peer_closed(fd, 5000));
	close(fd);
}

/* ---- 2. a text rewritten in place ---- */

static const char OLD_TEXT[] = "1\n22\n333\n";
static const char NEW_TEXT[] = "x\na\n\ncde\n"; /* same size */

static void
t_rewrite_in_place(void **state)
{
	struct srv *s = new_srv(state, OLD_TEXT);
	char got[256];
	int fd;

	srv_start(s, NULL);
	fd = srv_connect(s);
	send_str(fd, "GET 2\r\n");
	expect_str(fd, "OK\r\n22\n");
	write_at(s->text, NEW_TEXT, sizeof(NEW_TEXT) - 1, 0, 0);
	/* Before or after the change is noticed, the lines fail their
	 * checks: never "a\n\n" (two lines) nor "cde\n" (another line). */
	send_str(fd, "GET 1\r\nGET 2\r\nGET 3\r\n");
	expect_str(fd, "ERR\r\nERR\r\nERR\r\n");
	close(fd);
	/* Re-indexed once quiet: the new content, every line of it. */
	await_answer(s, 4, "OK\r\ncde\n");
	ask(s, "GET 1\r\nGET 2\r\nGET 3\r\nGET 5\r\n", got, sizeof(got));
	assert_string_equal(got, "OK\r\nx\nOK\r\na\nOK\r\n\nERR\r\n");
	assert_true(srv_stat(s, "file_changes") >= 1);
	assert_int_equal(srv_stat(s, "lines"), 4);
	assert_true(srv_log_has(s, "changed in place"));
}

/* Without per-line checksums the framing check alone stops "a\n\n". */
static void
t_rewrite_in_place_no_checksums(void **state)
{
	struct srv *s = new_srv(state, OLD_TEXT);
	int fd;

	srv_start(s, "[index]\nline_checksums = no\n");
	assert_int_equal(srv_stat(s, "line_checksums"), 0);
	fd = srv_connect(s);
	write_at(s->text, NEW_TEXT, sizeof(NEW_TEXT) - 1, 0, 0);
	send_str(fd, "GET 2\r\n");
	expect_str(fd, "ERR\r\n");
	close(fd);
	await_answer(s, 4, "OK\r\ncde\n");
	assert_true(srv_stat(s, "file_changes") >= 1);
}

/* build = never: ERR from the change on, until restart. */
static void
t_rewrite_in_place_never(void **state)
{
	struct srv *s = new_srv(state, OLD_TEXT);
	char got[256];

	{
		/* build = never needs the index made beforehand. */
		const char *argv[] = { index_bin(), "-q", s->text, NULL };
		assert_int_equal(proc_wait(proc_spawn(argv, s->log, s->log),
		    20000), 0);
	}
	srv_start(s, "[index]\nbuild = never\n");
	write_at(s->text, NEW_TEXT, sizeof(NEW_TEXT) - 1, 0, 0);
	await_stat_nonzero(s, "file_changes");
	assert_int_equal(srv_stat(s, "file_changes"), 1);
	/* Well past the quiet period: still ERR, no re-index. Time passing
	 * is the test: nothing happens, so there is nothing to poll for. */
	nap_ms(2500);
	ask(s, "GET 1\r\nGET 3\r\nGET 4\r\n", got, sizeof(got));
	assert_string_equal(got, "ERR\r\nERR\r\nERR\r\n");
	assert_true(srv_log_has(s, "until restart"));
}

/* Renamed over while served: the indexed version stays, logged once. */
static void
t_renamed_over_keeps_serving(void **state)
{
	struct srv *s = new_srv(state, OLD_TEXT);
	char other[200], got[256];
	long long deadline;
	FILE *f;

	srv_start(s, NULL);
	snprintf(other, sizeof(other), "%s/other.txt", s->dir);
	assert_non_null(f = fopen(other, "w"));
	fputs("something\nelse\n", f);
	assert_int_equal(fclose(f), 0);
	assert_int_equal(rename(other, s->text), 0);
	deadline = now_ms() + WAIT_MS;
	while (!srv_log_has(s, "now names another file") && now_ms() < deadline)
		nap_ms(20);
	assert_true(srv_log_has(s, "now names another file"));
	ask(s, "GET 3\r\nGET 1\r\n", got, sizeof(got));
	assert_string_equal(got, "OK\r\n333\nOK\r\n1\n");
	assert_int_equal(srv_stat(s, "file_changes"), 0);
}

/*
 * A write hidden behind a link-count change: the mtime set back, then a
 * hard link made, all while the server cannot look (SIGSTOP). The ctime
 * moved with the link count, which a rename also does; the server reads
 * the text to tell them apart, finds the change and re-indexes.
 */
static void
relinked_write_is_noticed(void **state, const char *conf)
{
	struct srv *s = new_srv(state, "first\nsecond\nthird\nfourth\n");
	char link_path[200], got[256];
	struct stat sb;
	int fd;

	srv_start(s, conf);
	ask(s, "GET 3\r\n", got, sizeof(got));
	assert_string_equal(got, "OK\r\nthird\n");
	assert_int_equal(stat(s->text, &sb), 0);
	proc_stop(s->pid);
	/* Lines 1 and 2 become one; line 3 changes a byte. */
	write_at(s->text, "X", 1, 5, 0);
	write_at(s->text, "T", 1, 13, 0);
	fd = open(s->text, O_WRONLY);
	assert_true(fd >= 0);
	{
		struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
		assert_int_equal(futimens(fd, ts), 0);
	}
	close(fd);
	snprintf(link_path, sizeof(link_path), "%s.hl", s->text);
	assert_int_equal(link(s->text, link_path), 0);
	assert_int_equal(kill(s->pid, SIGCONT), 0);
	await_stat_nonzero(s, "file_changes");
	await_answer(s, 2, "OK\r\nThird\n");
	ask(s, "GET 1\r\nGET 4\r\n", got, sizeof(got));
	assert_string_equal(got, "OK\r\nfirstXsecond\nERR\r\n");
}

static void
t_relinked_write_is_noticed(void **state)
{
	relinked_write_is_noticed(state, NULL);
}

static void
t_relinked_write_is_noticed_no_checksums(void **state)
{
	/* A small file: its fingerprint covers all of it. */
	relinked_write_is_noticed(state, "[index]\nline_checksums = no\n");
}

/*
 * A write during a background re-index, its mtime set back: the index
 * built then does not describe the text. The store notices (the text's
 * ctime moved since the build began), and another re-index follows;
 * what is finally served is the text as it is.
 */
static void
t_write_during_reindex(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct textfile tf;
	uint64_t seed = 5;
	struct stat sb;
	char want[600];
	size_t n;
	int fd;

	assert_non_null(s);
	*state = s;
	textfile_gen(&tf, &seed, 600000, 20, 200, letter);
	srv_prepare(s, tf.buf, tf.len);
	srv_start(s, "workers = 1\n");
	assert_int_equal(utimensat(AT_FDCWD, s->text, NULL, 0), 0); /* touch */
	/* Stop the server once its re-index has written 64 KiB of its
	 * temporary index (two pages: it has scanned past lines 1 and 2).
	 * The build maps the text, so bytes read would not tell. */
	for (long long end = now_ms() + WAIT_MS; now_ms() < end; nap_ms(1))
		if (bytes_named(s->dir, ".tmp.") >= 64 * 1024)
			break;
	assert_int_equal(stat(s->text, &sb), 0);
	proc_stop(s->pid);
	/* Line 1's LF becomes a byte: lines 1 and 2 are one. The build has
	 * read past the start of the file, so its index has them apart. */
	write_at(s->text, "Y", 1, (off_t)tf.off[1] - 1, 0);
	fd = open(s->text, O_WRONLY);
	assert_true(fd >= 0);
	{
		struct timespec ts[2] = { sb.st_atim, sb.st_mtim };
		assert_int_equal(futimens(fd, ts), 0);
	}
	close(fd);
	assert_int_equal(kill(s->pid, SIGCONT), 0);
	n = tf.off[1] - 1; /* line 1 without its LF */
	snprintf(want, sizeof(want), "OK\r\n%.*sY%.*s", (int)n, tf.buf,
	    (int)(tf.off[2] - tf.off[1]), tf.buf + tf.off[1]);
	await_answer(s, 1, want);
	textfile_free(&tf);
}

/* ---- 3. another text's valid index copied over the served one ---- */

static void
t_index_replaced_in_place(void **state)
{
	struct srv *s = new_srv(state, "aaa\nbbb\nccc\nddd\n");
	char other[200], other_idx[220], served_idx[200], log[220], got[256];
	struct stat sb;
	FILE *f;

	srv_start(s, "[index]\nlines_per_page = 1\n");
	snprintf(other, sizeof(other), "%s/other.txt", s->dir);
	snprintf(other_idx, sizeof(other_idx), "%s.lidx", other);
	snprintf(served_idx, sizeof(served_idx), "%s.lidx", s->text);
	snprintf(log, sizeof(log), "%s/index.log", s->dir);
	assert_non_null(f = fopen(other, "w"));
	fputs("AAA\nBBB\nCCC\nDDD\n", f); /* the same geometry */
	assert_int_equal(fclose(f), 0);
	{
		const char *argv[] = { index_bin(), "-q", "-m", "1", other,
		    NULL };
		assert_int_equal(proc_wait(proc_spawn(argv, log, log), 20000),
		    0);
	}
	assert_int_equal(stat(other_idx, &sb), 0);
	/* In place: the served index's inode, another index's bytes. */
	{
		int fd = open(served_idx, O_WRONLY | O_TRUNC);
		size_t len = (size_t)sb.st_size;
		char *raw = malloc(len);
		FILE *in = fopen(other_idx, "rb");
		assert_true(fd >= 0 && raw != NULL && in != NULL);
		assert_int_equal(fread(raw, 1, len, in), len);
		fclose(in);
		assert_int_equal(write(fd, raw, len), (ssize_t)len);
		close(fd);
		free(raw);
	}
	/* Whatever the moment: ERR or this text's line, never the other's.
	 * The samples are spread over half a second on purpose: before and
	 * after the change is noticed, whenever that is. */
	for (int i = 0; i < 50; i++) {
		ask(s, "GET 2\r\n", got, sizeof(got));
		assert_true(strcmp(got, "ERR\r\n") == 0 ||
		    strcmp(got, "OK\r\nbbb\n") == 0);
		nap_ms(10);
	}
	await_stat_nonzero(s, "file_changes");
	await_answer(s, 2, "OK\r\nbbb\n");
	await_answer(s, 4, "OK\r\nddd\n");
}

/* ---- 4. zeroed index pages under load: nobody waits ---- */

#define ZP_LINES 2000000 /* 220 MB: a repair from the start of the text
			      * takes far longer than the bound */


/* Pipelined random GETs, every OK answer checked, until the deadline. */
static int
hammer(const struct srv *s, const struct textfile *tf, long long until)
{
	uint64_t seed = 7;
	char *buf = malloc(1 << 20);
	int fd = srv_connect(s), bad = 0;

	while (now_ms() < until && !bad) {
		struct bytes req = { 0 };
		size_t want[32];
		for (int i = 0; i < 32; i++) {
			char r[40];
			want[i] = 1 + splitmix64(&seed) % tf->lines;
			snprintf(r, sizeof(r), "GET %zu\r\n", want[i]);
			bytes_str(&req, r);
		}
		send_all(fd, req.p, req.len);
		free(req.p);
		for (int i = 0; i < 32 && !bad; i++) {
			char h[5];
			recv_exact(fd, h, 4);
			if (memcmp(h, "ERR\r", 4) == 0) {
				recv_exact(fd, h, 1);
				continue;
			}
			size_t len = tf->off[want[i]] - tf->off[want[i] - 1];
			recv_exact(fd, buf, len);
			bad = memcmp(h, "OK\r\n", 4) != 0 ||
			    memcmp(buf, tf->buf + tf->off[want[i] - 1], len) != 0;
		}
	}
	close(fd);
	free(buf);
	return bad;
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static void
t_zeroed_pages_never_stall(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	struct textfile tf;
	uint64_t seed = 42;
	char idx[200], req[40], buf[512];
	static long long lat[1 << 18];
	long long until;
	size_t nlat = 0, errs = 0;
	pid_t child;
	int fd, status;

	assert_non_null(s);
	*state = s;
	textfile_gen(&tf, &seed, ZP_LINES, 20, 200, letter);
	srv_prepare(s, tf.buf, tf.len);
	/* 4096 lines of ~110 bytes: pages 450 KB of text apart, zeroed
	 * together, so no repair is near: ERR, then a background re-index. */
	srv_start(s, "workers = 1\n[index]\nlines_per_page = 4096\n"
	    "[cache]\nsize = 1M\n");
	until = now_ms() + 3000;
	child = fork();
	assert_true(child >= 0);
	if (child == 0)
		_exit(hammer(s, &tf, until));
	snprintf(idx, sizeof(idx), "%s.lidx", s->text);
	fd = srv_connect(s);
	for (uint64_t k = 1; now_ms() < until && nlat < (1 << 18); k++) {
		size_t n = 1 + (k * 7919) % tf.lines, len;
		long long t0;
		if (k == 50) {
			/* Zero every page body in place, header kept. */
			struct stat sb;
			assert_int_equal(stat(idx, &sb), 0);
			char *z = calloc(1, (size_t)sb.st_size - 4096);
			write_at(idx, z, (size_t)sb.st_size - 4096, 4096, 0);
			free(z);
		}
		t0 = now_ms(); /* the client's own write is not the server's */
		snprintf(req, sizeof(req), "GET %zu\r\n", n);
		send_str(fd, req);
		recv_exact(fd, buf, 4);
		if (memcmp(buf, "ERR\r", 4) == 0) {
			recv_exact(fd, buf, 1);
			errs++;
		} else {
			len = tf.off[n] - tf.off[n - 1];
			assert_memory_equal(buf, "OK\r\n", 4);
			recv_exact(fd, buf, len);
			assert_memory_equal(buf, tf.buf + tf.off[n - 1], len);
		}
		lat[nlat++] = now_ms() - t0;
	}
	close(fd);
	assert_int_equal(waitpid(child, &status, 0), child);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	qsort(lat, nlat, sizeof(lat[0]), cmp_ll);
	print_message("zeroed pages: %zu GETs, %zu ERR, p99 %lld ms, max %lld "
	    "ms\n", nlat, errs, lat[nlat * 99 / 100], lat[nlat - 1]);
	assert_true(nlat >= 100);
	assert_true(lat[nlat * 99 / 100] < 50);
	/* Repaired by the re-index: lines answer again. */
	snprintf(buf, sizeof(buf), "OK\r\n%.*s", (int)(tf.off[1] - tf.off[0]),
	    tf.buf);
	await_answer(s, 1, buf);
	textfile_free(&tf);
}

/* ---- 5. the cache bound counts everything ---- */

#define CB_LINES (3u << 20)
#define CB_CACHE (8u << 20)

static long
rss_anon_kb(const struct srv *s)
{
	return proc_status_kb(s->pid, "RssAnon");
}

/* n random GETs of one-byte lines, pipelined, each answer checked. */
static void
random_gets(const struct srv *s, uint64_t n)
{
	uint64_t seed = 99;
	int fd = srv_connect(s);
	char ans[64 * 6];

	for (uint64_t done = 0; done < n; done += 64) {
		struct bytes req = { 0 };
		for (int i = 0; i < 64; i++) {
			char r[40];
			snprintf(r, sizeof(r), "GET %llu\r\n", (unsigned long long)
			    (1 + splitmix64(&seed) % CB_LINES));
			bytes_str(&req, r);
		}
		send_all(fd, req.p, req.len);
		free(req.p);
		recv_exact(fd, ans, sizeof(ans));
		for (int i = 0; i < 64; i++)
			assert_memory_equal(ans + 6 * i, "OK\r\na\n", 6);
	}
	close(fd);
}

static void
cache_bound(void **state, unsigned m, uint64_t gets)
{
	struct srv *s = calloc(1, sizeof(*s));
	char conf[200];
	char *text = malloc(2 * CB_LINES);
	long before, after, limit_kb;

	assert_non_null(s);
	*state = s;
	for (size_t i = 0; i < CB_LINES; i++)
		memcpy(text + 2 * i, "a\n", 2);
	srv_prepare(s, text, 2 * CB_LINES);
	free(text);
	snprintf(conf, sizeof(conf), "workers = 1\n[index]\nlines_per_page = "
	    "%u\n[cache]\nsize = %u\n", m, CB_CACHE);
	srv_start(s, conf);
	random_gets(s, 64);
	before = rss_anon_kb(s);
	random_gets(s, gets);
	after = rss_anon_kb(s);
	limit_kb = (long)(CB_CACHE / 1024 * 11 / 10) + 4096;
	print_message("lines_per_page %u: RssAnon %ld -> %ld kB (+%ld, bound "
	    "%ld), cache_bytes %llu\n", m, before, after, after - before,
	    limit_kb, srv_stat(s, "cache_bytes"));
	assert_true(srv_stat(s, "cache_evictions") > 0); /* it was full */
	assert_true(srv_stat(s, "cache_bytes") <= CB_CACHE);
	assert_true(after - before <= limit_kb);
}

static void
t_cache_bound_m1(void **state)
{
	cache_bound(state, 1, 1u << 19);
}

static void
t_cache_bound_m64(void **state)
{
	cache_bound(state, 64, 1u << 17);
}

static void
t_cache_bound_m4096(void **state)
{
	cache_bound(state, 4096, 1u << 14);
}

/*
 * An index that fits in [cache] size is held whole, in the page table:
 * each page is loaded once (cache_misses is the pages touched), nothing
 * is evicted, every GET is one hit or one miss, and RssAnon stays within
 * the same bound as the cache's.
 */
#define PT_LINES (3u << 20)
#define PT_M     64
#define PT_CACHE (32u << 20)
#define PT_PAGES (PT_LINES / PT_M)

/*
 * count GETs of lines first, first + step, ..., pipelined 64 at a time;
 * line n is n in 7 digits, so every answer is checked.
 */
static void
numbered_gets(const struct srv *s, uint64_t first, uint64_t step,
    uint64_t count)
{
	int fd = srv_connect(s);
	char ans[64 * 12], want[16];

	for (uint64_t done = 0; done < count; done += 64) {
		struct bytes req = { 0 };
		uint64_t k = count - done < 64 ? count - done : 64;
		for (uint64_t i = 0; i < k; i++) {
			char r[40];
			snprintf(r, sizeof(r), "GET %llu\r\n",
			    (unsigned long long)(first + (done + i) * step));
			bytes_str(&req, r);
		}
		send_all(fd, req.p, req.len);
		free(req.p);
		recv_exact(fd, ans, (size_t)k * 12);
		for (uint64_t i = 0; i < k; i++) {
			snprintf(want, sizeof(want), "OK\r\n%07llu\n",
			    (unsigned long long)(first + (done + i) * step));
			assert_memory_equal(ans + 12 * i, want, 12);
		}
	}
	close(fd);
}

static void
t_whole_index_in_memory(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	char conf[200];
	char *text = malloc(8 * (size_t)PT_LINES + 1);
	long before, after, limit_kb;
	uint64_t gets = 64 + 2 * PT_PAGES + 5000;

	assert_non_null(s);
	assert_non_null(text);
	*state = s;
	for (size_t i = 0; i < PT_LINES; i++)
		snprintf(text + 8 * i, 9, "%07zu\n", i + 1);
	srv_prepare(s, text, 8 * (size_t)PT_LINES);
	free(text);
	snprintf(conf, sizeof(conf), "workers = 2\n[index]\nlines_per_page = "
	    "%u\n[cache]\nsize = %u\n", PT_M, PT_CACHE);
	srv_start(s, conf);
	numbered_gets(s, 1, 1, 64);
	before = rss_anon_kb(s);
	/* One line of every page, another of every page, then a run. */
	numbered_gets(s, 1, PT_M, PT_PAGES);
	numbered_gets(s, PT_M, PT_M, PT_PAGES);
	numbered_gets(s, 7, 1, 5000);
	after = rss_anon_kb(s);
	limit_kb = (long)(PT_CACHE / 1024 * 11 / 10) + 4096;
	print_message("whole index: RssAnon %ld -> %ld kB (+%ld, bound %ld), "
	    "cache_bytes %llu\n", before, after, after - before, limit_kb,
	    srv_stat(s, "cache_bytes"));
	assert_int_equal(srv_stat(s, "requests_get"), gets);
	assert_int_equal(srv_stat(s, "cache_hits") +
	    srv_stat(s, "cache_misses"), gets);
	assert_int_equal(srv_stat(s, "cache_misses"), PT_PAGES);
	assert_int_equal(srv_stat(s, "cache_pages"), PT_PAGES);
	assert_int_equal(srv_stat(s, "cache_evictions"), 0);
	/* A page costs its body (compact, line checksums: 8 + 8m bytes) and
	 * its state byte: no per-page bookkeeping as in the LRU cache. */
	assert_int_equal(srv_stat(s, "cache_bytes"),
	    (uint64_t)PT_PAGES * (8 + 8 * PT_M + 1));
	assert_true(srv_stat(s, "cache_bytes") <= PT_CACHE);
	assert_int_equal(srv_stat(s, "index_errors"), 0);
	assert_true(after - before <= limit_kb);
}

/* ---- 6. an index build over the file-size limit ---- */

static void
t_build_over_fsize_limit(void **state)
{
	struct srv *s = calloc(1, sizeof(*s));
	char *text = malloc(1 << 20), log[200];
	int rc;

	assert_non_null(s);
	*state = s;
	for (size_t i = 0; i < (1 << 20); i++)
		text[i] = i % 8 == 7 ? '\n' : 'x';
	srv_prepare(s, text, 1 << 20);
	free(text);
	snprintf(log, sizeof(log), "%s/index.log", s->dir);
	{
		const char *argv[] = { index_bin(), "-q", s->text, NULL };
		proc_limit_next(RLIMIT_FSIZE, 64 * 1024);
		rc = proc_wait(proc_spawn(argv, log, log), 20000);
	}
	assert_int_equal(rc, 1); /* an error, not death by SIGXFSZ */
	assert_true(file_has(log, "File too large"));
	assert_int_equal(files_named(s->dir, ".tmp."), 0);
	/* The server's own startup build: a clear error, exit 1. */
	{
		char conf[300];
		snprintf(conf, sizeof(conf), "[server]\nfile = %s\nport = 0\n",
		    s->text);
		proc_limit_next(RLIMIT_FSIZE, 64 * 1024);
		rc = srv_run_expect_exit(s, conf, NULL, 20000);
	}
	assert_int_equal(rc, 1);
	assert_true(srv_log_has(s, "File too large"));
	assert_int_equal(files_named(s->dir, ".tmp."), 0);
}

/* ---- 7. out of descriptors: one warning per interval ---- */

static int
count_in(const char *path, const char *needle)
{
	char *t = read_file(path), *p = t;
	int n = 0;

	while ((p = strstr(p, needle)) != NULL) {
		n++;
		p += strlen(needle);
	}
	free(t);
	return n;
}

static void
t_emfile_warning_rate_limited(void **state)
{
	struct srv *s = new_srv(state, "one\ntwo\n");
	struct rlimit rl;
	int fds[200], n = 0, warnings;

	srv_start(s, "workers = 1\n");
	/* Lowered under the running server, below what it planned for (the
	 * soft limit only: raising a hard limit back needs privileges). */
	assert_int_equal(prlimit(s->pid, RLIMIT_NOFILE, NULL, &rl), 0);
	rlim_t soft = rl.rlim_cur;
	rl.rlim_cur = 64;
	assert_int_equal(prlimit(s->pid, RLIMIT_NOFILE, &rl, NULL), 0);
	for (; n < 200; n++)
		if ((fds[n] = srv_connect(s)) < 0)
			break;
	for (long long end = now_ms() + WAIT_MS; now_ms() < end; nap_ms(10))
		if (srv_log_has(s, "out of file descriptors"))
			break;
	/* Time passing is the test: the accept pause repeats every 0.1 s
	 * meanwhile, the warning must not. */
	nap_ms(2000);
	warnings = count_in(s->log, "out of file descriptors");
	print_message("EMFILE: %d warning lines in 2 s\n", warnings);
	assert_true(warnings >= 1 && warnings <= 2);
	for (int i = 0; i < n; i++)
		close(fds[i]);
	rl.rlim_cur = soft;
	assert_int_equal(prlimit(s->pid, RLIMIT_NOFILE, &rl, NULL), 0);
	await_answer(s, 2, "OK\r\ntwo\n");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(t_stall_keeps_pending_request,
		    teardown),
		cmocka_unit_test_teardown(t_stall_still_cuts_trickle, teardown),
		cmocka_unit_test_teardown(t_rewrite_in_place, teardown),
		cmocka_unit_test_teardown(t_rewrite_in_place_no_checksums,
		    teardown),
		cmocka_unit_test_teardown(t_rewrite_in_place_never, teardown),
		cmocka_unit_test_teardown(t_renamed_over_keeps_serving,
		    teardown),
		cmocka_unit_test_teardown(t_relinked_write_is_noticed, teardown),
		cmocka_unit_test_teardown(
		    t_relinked_write_is_noticed_no_checksums, teardown),
		cmocka_unit_test_teardown(t_write_during_reindex, teardown),
		cmocka_unit_test_teardown(t_index_replaced_in_place, teardown),
		cmocka_unit_test_teardown(t_zeroed_pages_never_stall, teardown),
		cmocka_unit_test_teardown(t_cache_bound_m1, teardown),
		cmocka_unit_test_teardown(t_cache_bound_m64, teardown),
		cmocka_unit_test_teardown(t_cache_bound_m4096, teardown),
		cmocka_unit_test_teardown(t_whole_index_in_memory, teardown),
		cmocka_unit_test_teardown(t_build_over_fsize_limit, teardown),
		cmocka_unit_test_teardown(t_emfile_warning_rate_limited,
		    teardown),
	};

	return cmocka_run_group_tests_name("trust", tests, NULL, NULL);
}
