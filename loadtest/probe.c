/*
 * probe: one request, one answer, within a time limit (see probe.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bench.h"
#include "dial.h"
#include "parse.h"
#include "probe.h"

#define PROBE_BUF 65536

struct question {
	const char *ask;
	const char *field;	/* the number follows it, up to CR */
	const char *end;	/* the answer ends with it */
};

static const struct question QUESTIONS[] = {
	[PROTO_LINES] = { "STATS\r\n", "\nlines ", "END\r\n" },
	[PROTO_REDIS] = { "DBSIZE\r\n", ":", "\r\n" },
	[PROTO_MEMCACHED] = { "stats\r\n", "STAT curr_items ", "END\r\n" },
};

static int
ends_with(const char *s, size_t len, const char *tail)
{
	size_t n = strlen(tail);

	return len >= n && memcmp(s + len - n, tail, n) == 0;
}

/* Read until the answer's end; 0, or -1 with err. */
static int
read_answer(int fd, const struct question *q, uint64_t deadline, char *buf,
    size_t *len, char *err, size_t errlen)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	uint64_t now;
	ssize_t n;

	*len = 0;
	while (!ends_with(buf, *len, q->end)) {
		now = now_ns();
		if (now >= deadline || *len == PROBE_BUF - 1) {
			snprintf(err, errlen, "no complete answer to %.*s",
			    (int)strlen(q->ask) - 2, q->ask);
			return -1;
		}
		if (poll(&p, 1, (int)((deadline - now) / 1000000 + 1)) <= 0)
			continue;
		n = read(fd, buf + *len, PROBE_BUF - 1 - *len);
		if (n <= 0 && !(n < 0 && errno == EAGAIN)) {
			snprintf(err, errlen, "connection closed");
			return -1;
		}
		if (n > 0)
			*len += (size_t)n;
		buf[*len] = '\0';
	}
	return 0;
}

static int
number_after(const char *buf, const char *field, uint64_t *v)
{
	const char *p = strstr(buf, field), *cr;
	char digits[24];

	if (p == NULL)
		return -1;
	p += strlen(field);
	if ((cr = strchr(p, '\r')) == NULL || cr - p >= (long)sizeof(digits))
		return -1;
	memcpy(digits, p, (size_t)(cr - p));
	digits[cr - p] = '\0';
	return parse_u64(digits, v);
}

int
probe_keys(const struct sockaddr_storage *ss, socklen_t len, enum proto proto,
    int connect_ms, int answer_ms, uint64_t *keys, char *err, size_t errlen)
{
	const struct question *q = &QUESTIONS[proto];
	static char buf[PROBE_BUF];
	uint64_t deadline;
	size_t got;
	int fd, rc = -2;

	if ((fd = dial_wait(ss, len, connect_ms, err, errlen)) == -1)
		return -1;
	deadline = now_ns() + (uint64_t)answer_ms * 1000000;
	/* a few bytes into an empty socket buffer: one send is enough */
	if (send(fd, q->ask, strlen(q->ask), MSG_NOSIGNAL) !=
	    (ssize_t)strlen(q->ask)) {
		snprintf(err, errlen, "send: %s", strerror(errno));
		goto out;
	}
	if (read_answer(fd, q, deadline, buf, &got, err, errlen) == -1)
		goto out;
	if (number_after(buf, q->field, keys) == -1) {
		snprintf(err, errlen, "no key count in the answer to %.*s",
		    (int)strlen(q->ask) - 2, q->ask);
		goto out;
	}
	rc = 0;
out:
	close(fd);
	return rc;
}
