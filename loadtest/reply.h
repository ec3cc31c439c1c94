/*
 * reply: incremental parsers of the answers to a GET, for the three
 * protocols the bench speaks:
 *   lines      "OK\r\n" <line> "\n"                 | "ERR\r\n"
 *   redis      "$" len "\r\n" <bytes> "\r\n"        | "$-1\r\n" | "-..."
 *   memcached  "VALUE key flags len[ cas]\r\n" <bytes> "\r\nEND\r\n"
 *              | "END\r\n" | "ERROR..." "CLIENT_ERROR..." "SERVER_ERROR..."
 *
 * Pure, in the manner of picohttpparser but resumable: the parser keeps
 * its state between calls, so input may be split anywhere (one byte at a
 * time included). The value's bytes are handed back as pointers into the
 * caller's buffer, never copied, so a verifier can compare them in place.
 * No I/O, no allocation; never reads past buf[len - 1].
 *
 * A header line is bytes >= 0x20 (DEL excluded) ended by CR LF: any other
 * control byte in it (a NUL, a lone CR, a bare LF) is REPLY_BAD, so a
 * verifier never takes "OK\0junk\r\n" for "OK\r\n".
 */
#ifndef BENCH_REPLY_H
#define BENCH_REPLY_H

#include <stddef.h>
#include <stdint.h>

enum proto { PROTO_LINES, PROTO_REDIS, PROTO_MEMCACHED };

enum reply_done {
	REPLY_NONE,	/* the answer is not complete yet */
	REPLY_HIT,	/* a value, every byte of it handed out as data */
	REPLY_MISS,	/* no such key: lines ERR, redis $-1, memcached END */
	REPLY_ERR,	/* an error answer (redis -..., memcached *ERROR) */
	REPLY_BAD	/* not this protocol: the stream is lost, close it */
};

#define REPLY_HDR_MAX 128	/* bytes of a header line kept for parsing */

struct reply {
	enum proto proto;
	uint8_t state;
	uint8_t tail_pos;
	uint16_t hdr_len;
	uint64_t remain;		/* value bytes still to come */
	const char *tail;		/* literal expected after the value */
	char hdr[REPLY_HDR_MAX];
};

struct reply_step {
	const char *data;	/* value bytes in this step, or NULL */
	size_t len;
	enum reply_done done;	/* set when this step completes an answer */
};

void reply_init(struct reply *r, enum proto proto);

/*
 * Consume bytes of buf[0..len), len > 0, up to the end of the current
 * answer at most; returns how many (> 0) and fills *st. Call again with
 * the rest. After REPLY_BAD the parser is spent.
 */
size_t reply_parse(struct reply *r, const char *buf, size_t len,
    struct reply_step *st);

int proto_parse_name(const char *s, enum proto *p);
const char *proto_name(enum proto p);

#endif
