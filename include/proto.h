/*
 * proto: the request parser of the wire protocol (SPEC.md section 2).
 *
 * Pure: bytes in, one request out. No I/O, no allocation, no global state;
 * the caller owns the buffer and calls again with the bytes after the ones
 * consumed. It never reads past buf[len - 1].
 */
#ifndef LINESVR_PROTO_H
#define LINESVR_PROTO_H

#include <stddef.h>
#include <stdint.h>

/* The answer to any request that gets no line (SPEC section 2). */
#define PROTO_ERR "ERR\r\n"

enum proto_result {
	PROTO_REQUEST,   /* a complete request line; *consumed bytes used */
	PROTO_NEED_MORE, /* no LF yet and fewer than max_request bytes */
	PROTO_TOO_LONG   /* max_request bytes without an LF: answer ERR, close */
};

enum req_type {
	REQ_EMPTY,    /* blank after trimming: gets no answer */
	REQ_GET,      /* GET with a well-formed number in .n (n may be 0) */
	REQ_QUIT,
	REQ_SHUTDOWN,
	REQ_STATS,
	REQ_BAD       /* anything else: answered with ERR */
};

struct request {
	enum req_type type;
	uint64_t n; /* line number, for REQ_GET */
};

/*
 * Parse the first request line in buf[0..len). A line is the bytes up to
 * and including LF; one CR right before the LF is dropped. Spaces and tabs
 * separate tokens; any other control byte (0x00-0x1f, 0x7f) makes the line
 * REQ_BAD. Verbs are case-insensitive. GET takes 1 to 20 digits that fit in
 * 64 bits; QUIT, SHUTDOWN and STATS take no argument.
 *
 * A line may be at most max_request bytes including its CR and LF: once
 * max_request bytes are present without an LF the result is PROTO_TOO_LONG.
 */
enum proto_result proto_parse(const char *buf, size_t len, size_t max_request,
    struct request *req, size_t *consumed);

/*
 * The run of plain GET lines ("GET", one space, digits, LF or CRLF: what
 * nearly every client sends) that starts buf, up to max of them: how many;
 * the i-th asks for line n[i] and ends at buf + end[i]. 0 when buf does
 * not start with one: proto_parse then reads that request. Each line is
 * exactly what proto_parse would make of it, a REQ_GET.
 */
unsigned proto_get_run(const char *buf, size_t len, size_t max_request,
    uint64_t *n, size_t *end, unsigned max);

/* The longest line proto_get_run takes: "GET ", 19 digits (longer
 * numbers are proto_parse's) and CRLF. */
#define PROTO_GET_LINE_MAX 25

#endif
