/*
 * kvload: bulk SET of a file's lines (see kvload.h).
 *
 * Each line n becomes three pieces: a header naming the key and the
 * value's length (formatted here), the value (pointing into the mapping,
 * never copied, so lines of any length cost nothing extra), and a CRLF.
 * A writev sends as many pieces as the socket takes; the position is kept
 * as (line, piece, offset). Every command has a one-line reply: "+OK" or
 * "STORED" is success, anything else a failure (e.g. memcached refusing a
 * value above its item size limit, -I).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "dial.h"
#include "kvload.h"

#define IOV_BATCH	192		/* pieces per writev (64 lines) */
#define HDR_BYTES	96
#define RBUF		65536
#define MIN_STALL_S	10.0

struct loader {
	const struct truth *t;
	enum proto proto;
	int fd;
	uint64_t line;		/* being sent, 1-based */
	int piece;		/* 0 header, 1 value, 2 CRLF */
	size_t off;		/* bytes of that piece already sent */
	uint64_t replies, failed;
	int at_line_start;	/* the reader's position in the reply stream */
	char first_error[80];
	size_t error_len;
	int in_error;		/* the current reply differs from success */
	size_t pos;		/* bytes of it that matched */
	char hdr[IOV_BATCH / 3 + 1][HDR_BYTES];
};

static size_t
format_header(const struct loader *l, uint64_t n, char *buf)
{
	size_t vlen;
	char key[24];
	int kl;

	(void)truth_line(l->t, n, &vlen);
	kl = snprintf(key, sizeof(key), "%llu", (unsigned long long)n);
	if (l->proto == PROTO_REDIS)
		return (size_t)snprintf(buf, HDR_BYTES,
		    "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%zu\r\n", kl, key, vlen);
	return (size_t)snprintf(buf, HDR_BYTES, "set %s 0 0 %zu\r\n", key,
	    vlen);
}

/* Gather the pieces from the current position on. Returns their count. */
static int
gather(struct loader *l, struct iovec *iov)
{
	uint64_t n = l->line;
	int k = 0, piece = l->piece, h = 0;
	size_t off = l->off, len;
	const char *p;

	while (n <= l->t->lines && k + 3 <= IOV_BATCH &&
	    h < IOV_BATCH / 3) {
		for (; piece < 3; piece++, off = 0) {
			if (piece == 0) {
				len = format_header(l, n, l->hdr[h]);
				p = l->hdr[h++];
			} else if (piece == 1) {
				p = truth_line(l->t, n, &len);
			} else {
				p = "\r\n";
				len = 2;
			}
			if (len > off) {
				iov[k].iov_base = (void *)(uintptr_t)(p + off);
				iov[k++].iov_len = len - off;
			}
		}
		piece = 0;
		n++;
	}
	return k;
}

/* Move the position on by n bytes written. */
static void
advance(struct loader *l, size_t n)
{
	size_t len, left;
	char hdr[HDR_BYTES];

	while (n > 0) {
		if (l->piece == 0)
			len = format_header(l, l->line, hdr);
		else if (l->piece == 1)
			(void)truth_line(l->t, l->line, &len);
		else
			len = 2;
		left = len - l->off;
		if (n < left) {
			l->off += n;
			return;
		}
		n -= left;
		l->off = 0;
		if (++l->piece == 3) {
			l->piece = 0;
			l->line++;
		}
	}
	/* skip empty values, so gather() and the position agree */
	while (l->line <= l->t->lines && l->piece == 1 &&
	    truth_value_len(l->t, l->line, 0) == 0)
		l->piece = 2;
}

/*
 * Replies are checked a byte at a time, since they straddle reads: a line
 * is a success only if it is exactly "+OK\r\n" or "STORED\r\n"
 * ("SERVER_ERROR ..." starts like "STORED").
 */
static void
note_reply_byte(struct loader *l, char ch)
{
	const char *ok = l->proto == PROTO_REDIS ? "+OK\r\n" : "STORED\r\n";

	if (l->at_line_start) {
		l->pos = 0;
		l->in_error = 0;
		l->error_len = 0;
		l->at_line_start = 0;
	}
	if (!l->in_error && ok[l->pos] == ch)
		l->pos++;
	else
		l->in_error = 1;
	if (l->failed == 0 && l->error_len < sizeof(l->first_error) - 1 &&
	    ch != '\r' && ch != '\n')
		l->first_error[l->error_len++] = ch;
	if (ch == '\n') {
		l->replies++;
		if (l->in_error || ok[l->pos] != '\0')
			l->failed++;
		else if (l->failed == 0)
			memset(l->first_error, 0, sizeof(l->first_error));
		l->at_line_start = 1;
	}
}

static int
read_replies(struct loader *l)
{
	char buf[RBUF];
	ssize_t n, i;

	n = read(l->fd, buf, sizeof(buf));
	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
		return -1;
	for (i = 0; i < n; i++)
		note_reply_byte(l, buf[i]);
	return 0;
}

static int
write_some(struct loader *l)
{
	struct iovec iov[IOV_BATCH];
	int k = gather(l, iov);
	ssize_t n;

	if (k == 0)
		return 0;
	n = writev(l->fd, iov, k);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	advance(l, (size_t)n);
	return 0;
}

/* Runs until every reply is in; 0, -1 (connection lost), -2 (stalled). */
static int
pump(struct loader *l, double stall_s)
{
	struct pollfd p = { .fd = l->fd };
	uint64_t last = now_ns(), before;
	uint64_t stall = (uint64_t)(stall_s * (double)NS_PER_S);

	while (l->replies < l->t->lines) {
		p.events = POLLIN | (l->line <= l->t->lines ? POLLOUT : 0);
		if (poll(&p, 1, 100) > 0) {
			before = l->replies + l->line;
			if ((p.revents & POLLOUT) && write_some(l) == -1)
				return -1;
			if ((p.revents & (POLLIN | POLLERR | POLLHUP)) &&
			    read_replies(l) == -1)
				return -1;
			if (l->replies + l->line != before)
				last = now_ns();
		}
		if (now_ns() - last > stall)
			return -2;
	}
	return 0;
}

int
kvload_run(const struct opts *o, const struct sockaddr_storage *ss,
    socklen_t len)
{
	static struct loader l;
	struct truth t;
	char err[256];
	uint64_t t0 = now_ns();
	int rc;

	if (truth_open(&t, o->load, err, sizeof(err)) == -1) {
		fprintf(stderr, "linesvr-bench: %s\n", err);
		return EXIT_USAGE;
	}
	memset(&l, 0, sizeof(l));
	l.t = &t;
	l.proto = o->proto;
	l.line = 1;
	l.at_line_start = 1;
	l.fd = dial_wait(ss, len, (int)(o->connect_timeout * 1000), err,
	    sizeof(err));
	if (l.fd == -1) {
		fprintf(stderr, "linesvr-bench: %s:%s: %s\n", o->host, o->port,
		    err);
		truth_close(&t);
		return EXIT_CONNECT;
	}
	advance(&l, 0);
	rc = pump(&l, o->timeout > MIN_STALL_S ? o->timeout : MIN_STALL_S);
	close(l.fd);
	fprintf(rc == 0 ? stdout : stderr, "linesvr-bench: %s %s:%s: %llu of "
	    "%llu lines stored from %s in %.2f s%s%s%s\n", proto_name(o->proto),
	    o->host, o->port,
	    (unsigned long long)(l.replies - l.failed),
	    (unsigned long long)t.lines, o->load,
	    (double)(now_ns() - t0) / 1e9,
	    rc == -1 ? ", connection lost" : rc == -2 ? ", stalled" : "",
	    l.failed > 0 ? "; first refusal: " : "",
	    l.failed > 0 ? l.first_error : "");
	truth_close(&t);
	if (rc == -1)
		return EXIT_CONNECT;
	if (rc == -2)
		return EXIT_STALLED;
	return l.failed > 0 ? EXIT_PROTOCOL : EXIT_OK;
}
