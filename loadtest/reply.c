/*
 * reply: resumable answer parsers (see reply.h).
 *
 * Every answer is a header line, then for a hit the value and a fixed
 * tail. The header is gathered into r->hdr (it is short, and may straddle
 * reads); the value is counted (redis, memcached) or scanned for its LF
 * (lines) and handed out in place; the tail is matched byte by byte.
 *
 * A header line is printable bytes (and bytes >= 0x80) ended by CR LF; any
 * other control byte in it, a NUL above all, makes the stream REPLY_BAD.
 * The header is parsed as a C string, so without that rule "OK\0junk\r\n"
 * would read as "OK", and a verifier must not pass a server that sends it.
 */
#include <string.h>

#include "parse.h"
#include "reply.h"

enum state {
	ST_HDR,		/* gathering the header line */
	ST_HDR_CR,	/* the header's CR seen: only its LF may follow */
	ST_COUNTED,	/* r->remain value bytes to come */
	ST_TO_LF,	/* lines: value bytes up to and including LF */
	ST_TAIL,	/* matching r->tail */
	ST_BAD		/* lost */
};

static const char REDIS_TAIL[] = "\r\n";
static const char MEMCACHED_TAIL[] = "\r\nEND\r\n";

void
reply_init(struct reply *r, enum proto proto)
{
	memset(r, 0, sizeof(*r));
	r->proto = proto;
	r->state = ST_HDR;
}

static int
starts(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Start counting len value bytes, then expect tail. */
static enum reply_done
counted(struct reply *r, const char *len, const char *tail)
{
	if (parse_u64(len, &r->remain) != 0)
		return REPLY_BAD;
	r->tail = tail;
	r->tail_pos = 0;
	r->state = r->remain > 0 ? ST_COUNTED : ST_TAIL;
	return REPLY_NONE;
}

static enum reply_done
head_lines(struct reply *r, const char *h)
{
	if (strcmp(h, "OK") == 0) {
		r->state = ST_TO_LF;
		return REPLY_NONE;
	}
	return strcmp(h, "ERR") == 0 ? REPLY_MISS : REPLY_BAD;
}

static enum reply_done
head_redis(struct reply *r, const char *h)
{
	if (h[0] == '-')
		return REPLY_ERR;
	if (h[0] != '$')
		return REPLY_BAD;
	if (strcmp(h, "$-1") == 0)
		return REPLY_MISS;
	return counted(r, h + 1, REDIS_TAIL);
}

/* "VALUE <key> <flags> <bytes>[ <cas>]": the length is the third field. */
static enum reply_done
head_memcached(struct reply *r, char *h)
{
	char *f[5];
	int n = 0;
	char *p, *save;

	if (strcmp(h, "END") == 0)
		return REPLY_MISS;
	if (strcmp(h, "ERROR") == 0 || starts(h, "CLIENT_ERROR") ||
	    starts(h, "SERVER_ERROR"))
		return REPLY_ERR;
	if (!starts(h, "VALUE "))
		return REPLY_BAD;
	for (p = strtok_r(h, " ", &save); p != NULL && n < 5;
	    p = strtok_r(NULL, " ", &save))
		f[n++] = p;
	if (n < 4 || p != NULL)
		return REPLY_BAD;
	return counted(r, f[3], MEMCACHED_TAIL);
}

/* Error answers may be long; only their first bytes matter. */
static int
is_error_head(const struct reply *r)
{
	if (r->proto == PROTO_REDIS)
		return r->hdr[0] == '-';
	if (r->proto == PROTO_MEMCACHED)
		return starts(r->hdr, "ERROR") || starts(r->hdr, "CLIENT_ERROR") ||
		    starts(r->hdr, "SERVER_ERROR");
	return 0;
}

/* A whole header line is in r->hdr (r->hdr_len bytes, CR LF excluded). */
static enum reply_done
head(struct reply *r)
{
	if (r->hdr_len == REPLY_HDR_MAX) {
		r->hdr[REPLY_HDR_MAX - 1] = '\0';
		return is_error_head(r) ? REPLY_ERR : REPLY_BAD;
	}
	r->hdr[r->hdr_len] = '\0';
	switch (r->proto) {
	case PROTO_REDIS:
		return head_redis(r, r->hdr);
	case PROTO_MEMCACHED:
		return head_memcached(r, r->hdr);
	case PROTO_LINES:
	default:
		return head_lines(r, r->hdr);
	}
}

/* The bytes no header may hold: C0 controls and DEL. */
static int
is_ctrl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

/*
 * Gather a header line, checking each byte as it comes: a control byte
 * ends the stream where it stands, however the reads split it, and a CR
 * is the end of the line only when an LF follows it (ST_HDR_CR carries
 * that across reads). r->hdr_len counts the bytes kept; REPLY_HDR_MAX
 * means more came than fit (the first REPLY_HDR_MAX - 1 are kept, enough
 * to classify). Headers are a few bytes, so one pass byte by byte costs
 * nothing next to the system call that read them.
 */
static size_t
step_hdr(struct reply *r, const char *buf, size_t len, struct reply_step *st)
{
	unsigned char c;
	size_t i;

	for (i = 0; i < len; i++) {
		c = (unsigned char)buf[i];
		if (r->state == ST_HDR_CR) {
			r->state = ST_HDR;
			st->done = c == '\n' ? head(r) : REPLY_BAD;
			r->hdr_len = 0;
			return i + 1;
		}
		if (c == '\r')
			r->state = ST_HDR_CR;
		else if (is_ctrl(c)) {
			st->done = REPLY_BAD;	/* a bare LF included */
			return i + 1;
		} else if (r->hdr_len < REPLY_HDR_MAX - 1)
			r->hdr[r->hdr_len++] = (char)c;
		else
			r->hdr_len = REPLY_HDR_MAX;
	}
	return len;
}

static size_t
step_counted(struct reply *r, const char *buf, size_t len,
    struct reply_step *st)
{
	size_t n = r->remain < len ? (size_t)r->remain : len;

	st->data = buf;
	st->len = n;
	r->remain -= n;
	if (r->remain == 0)
		r->state = ST_TAIL;
	return n;
}

static size_t
step_to_lf(struct reply *r, const char *buf, size_t len,
    struct reply_step *st)
{
	const char *lf = memchr(buf, '\n', len);
	size_t n = lf != NULL ? (size_t)(lf - buf) + 1 : len;

	st->data = buf;
	st->len = n;
	if (lf != NULL) {
		st->done = REPLY_HIT;
		r->state = ST_HDR;
	}
	return n;
}

static size_t
step_tail(struct reply *r, const char *buf, size_t len, struct reply_step *st)
{
	size_t i = 0;

	while (i < len && r->tail[r->tail_pos] != '\0') {
		if (buf[i] != r->tail[r->tail_pos]) {
			st->done = REPLY_BAD;
			return i + 1;
		}
		i++;
		r->tail_pos++;
	}
	if (r->tail[r->tail_pos] == '\0') {
		st->done = REPLY_HIT;
		r->state = ST_HDR;
	}
	return i;
}

size_t
reply_parse(struct reply *r, const char *buf, size_t len,
    struct reply_step *st)
{
	size_t n;

	st->data = NULL;
	st->len = 0;
	st->done = REPLY_NONE;
	switch (r->state) {
	case ST_HDR:
	case ST_HDR_CR:
		n = step_hdr(r, buf, len, st);
		break;
	case ST_COUNTED:
		n = step_counted(r, buf, len, st);
		break;
	case ST_TO_LF:
		n = step_to_lf(r, buf, len, st);
		break;
	case ST_TAIL:
		n = step_tail(r, buf, len, st);
		break;
	case ST_BAD:
	default:
		st->done = REPLY_BAD;
		return len;
	}
	if (st->done == REPLY_BAD)
		r->state = ST_BAD;
	return n;
}

int
proto_parse_name(const char *s, enum proto *p)
{
	if (strcmp(s, "lines") == 0)
		*p = PROTO_LINES;
	else if (strcmp(s, "redis") == 0)
		*p = PROTO_REDIS;
	else if (strcmp(s, "memcached") == 0)
		*p = PROTO_MEMCACHED;
	else
		return -1;
	return 0;
}

const char *
proto_name(enum proto p)
{
	switch (p) {
	case PROTO_REDIS:
		return "redis";
	case PROTO_MEMCACHED:
		return "memcached";
	case PROTO_LINES:
	default:
		return "lines";
	}
}
