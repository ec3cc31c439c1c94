/*
 * linesvr-gendata: deterministic test data for linesvr's tests, `make run`
 * and benchmarks.
 *
 * The same arguments and seed give byte-identical output on every run and
 * machine: all randomness comes from xoshiro256** seeded by splitmix64 (never
 * rand()), and the one floating-point step (the long-line tail) uses only
 * IEEE-754 basic operations and sqrt, which are correctly rounded everywhere.
 *
 * Line lengths and line bytes come from two separate generator streams, so
 * --binary and --crlf change the bytes of a line but not how long it is (and
 * --numbered only lengthens lines shorter than their number): a test can
 * regenerate "the same shape" of file in another mode.
 *
 * Speed matters (benchmarks want GiBs): bytes are made eight at a time from
 * one generator output through a 256-entry table, straight into a 1 MiB
 * buffer that is written out with large write()s.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "io.h"
#include "rng.h"
#include "version.h"

#define PROG		"linesvr-gendata"
#define OUT_BUF_SIZE	(1u << 21)	/* bytes per write() */
#define OUT_SLACK	8		/* room for a whole 8-byte fill word */
#define LEN_LIMIT	(1ULL << 40)	/* longest line in bytes: 1 TiB */
#define DEFAULT_DIST	"uniform:1:199"

/* Exit codes. */
#define EXIT_IO		1
#define EXIT_USAGE	2

/* A line-length distribution: content bytes, terminator not included. */
struct dist {
	uint64_t	a, b;		/* uniform range, inclusive */
	uint64_t	p53;		/* P(long line) scaled by 2^53 */
	uint64_t	tail_lo, tail_hi; /* long-line range, inclusive */
	uint64_t	tail_k32;	/* 1 - sqrt(tail_lo/tail_hi), * 2^32 */
};

struct opts {
	int		by_bytes;	/* -b given (else -n) */
	uint64_t	count;		/* lines for -n, bytes for -b */
	uint64_t	seed;
	struct dist	dist;
	int		crlf, no_final_nl, binary, numbered;
	const char	*path;		/* NULL: stdout */
};

/* Buffered output with a sticky error, like a FILE but with big writes. */
struct out {
	int		fd;
	const char	*name;		/* for messages */
	unsigned char	*buf;		/* OUT_BUF_SIZE + OUT_SLACK bytes */
	size_t		fill;
	uint64_t	total;		/* bytes produced so far */
	int		err;		/* errno of the first failed write */
	int		regular;	/* a regular file we may remove */
};

/* ---- line lengths ---- */

/*
 * Uniform in [0, n), n >= 1. Multiply-shift for ranges up to 2^32 (every
 * realistic line length); its bias is far below anything a test could see.
 * Not rng_below(): this mapping is part of the output format, so a seed
 * keeps giving the file it gave before.
 */
static uint64_t
uniform_len(struct rng *r, uint64_t n)
{
	uint64_t x = rng_next(r);

	if (n <= (1ULL << 32))
		return ((x >> 32) * n) >> 32;
	return x % n;
}

/*
 * A Pareto length of shape 1/2 truncated to [tail_lo, tail_hi]:
 * P(len > x) ~ sqrt(lo/x), heavy enough that lines near MAX really occur
 * (with 1000 long lines of 200..10M bytes, about 10 exceed 1 MB). The CDF
 * inverts to x = lo / (1 - u*k)^2 with k = 1 - sqrt(lo/hi). u*k and the
 * subtraction are done in 64-bit integers, the rest is IEEE multiplies and
 * one divide, all correctly rounded, with no pow() and nothing a compiler
 * could fuse into an FMA: every machine that evaluates doubles as doubles
 * (FLT_EVAL_METHOD 0: x86-64, ARM64) gets the same lengths.
 */
static uint64_t
pareto_len(struct rng *r, const struct dist *d)
{
	uint64_t u32 = rng_next(r) >> 32;
	uint64_t uk = u32 * d->tail_k32;	/* < 2^64: both < 2^32 */
	double one_minus_uk, x;

	if (uk == 0)
		return d->tail_lo;
	/* 2^64 - uk by unsigned wrap-around, then scaled back to (0, 1). */
	one_minus_uk = (double)(0 - uk) * 0x1p-64;
	x = (double)d->tail_lo / (one_minus_uk * one_minus_uk);
	if (!(x < (double)d->tail_hi))
		return d->tail_hi;
	return (uint64_t)x > d->tail_lo ? (uint64_t)x : d->tail_lo;
}

static uint64_t
draw_len(struct rng *r, const struct dist *d)
{
	if (d->p53 != 0 && (rng_next(r) >> 11) < d->p53)
		return pareto_len(r, d);
	if (d->a == d->b)
		return d->a;
	return d->a + uniform_len(r, d->b - d->a + 1);
}

/* ---- output ---- */

static void
out_flush(struct out *o)
{
	if (o->err == 0 && o->fill > 0 &&
	    io_write_full(o->fd, o->buf, o->fill) != 0)
		o->err = errno;
	o->fill = 0;
}

/* Short, literal pieces: line numbers and terminators. */
static void
out_bytes(struct out *o, const char *p, size_t n)
{
	while (n > 0) {
		size_t room = OUT_BUF_SIZE - o->fill;
		size_t k = n < room ? n : room;

		memcpy(o->buf + o->fill, p, k);
		o->fill += k;
		o->total += k;
		p += k;
		n -= k;
		if (o->fill == OUT_BUF_SIZE)
			out_flush(o);
	}
}

/*
 * Fill whole 8-byte words; the last one may spill up to 7 bytes into the
 * buffer's slack, which the next piece of output overwrites.
 */
static void
fill_words(unsigned char *p, size_t n, struct rng *r,
    const unsigned char *map)
{
	for (size_t i = 0; i < n; i += 8) {
		uint64_t x = rng_next(r);

		for (unsigned k = 0; k < 8; k++)
			p[i + k] = map[(x >> (8 * k)) & 0xff];
	}
}

/* n content bytes, streamed through the buffer: lines may exceed it. */
static void
out_random(struct out *o, uint64_t n, struct rng *r, const unsigned char *map)
{
	while (n > 0) {
		size_t room = OUT_BUF_SIZE - o->fill;
		size_t k = n < room ? (size_t)n : room;

		fill_words(o->buf + o->fill, k, r, map);
		o->fill += k;
		o->total += k;
		n -= k;
		if (o->fill == OUT_BUF_SIZE)
			out_flush(o);
	}
}

static int
out_open(struct out *o, const char *path)
{
	struct stat st;

	memset(o, 0, sizeof(*o));
	o->buf = malloc(OUT_BUF_SIZE + OUT_SLACK);
	if (o->buf == NULL) {
		fprintf(stderr, PROG ": out of memory\n");
		return -1;
	}
	if (path == NULL) {
		o->fd = STDOUT_FILENO;
		o->name = "standard output";
		return 0;
	}
	o->name = path;
	o->fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (o->fd < 0) {
		fprintf(stderr, PROG ": open %s: %s\n", path, strerror(errno));
		free(o->buf);
		return -1;
	}
	/* Only a file we made is ours to remove: never /dev/full or a FIFO. */
	o->regular = fstat(o->fd, &st) == 0 && S_ISREG(st.st_mode);
	return 0;
}

/* Flush and close; a failed output file is removed, never left half-made. */
static int
out_close(struct out *o, const char *path)
{
	out_flush(o);
	if (path != NULL && close(o->fd) != 0 && o->err == 0)
		o->err = errno;
	free(o->buf);
	if (o->err == 0)
		return 0;
	fprintf(stderr, PROG ": write %s: %s\n", o->name, strerror(o->err));
	if (o->regular && unlink(path) == 0)
		fprintf(stderr, PROG ": removed incomplete %s\n", path);
	return -1;
}

/* ---- generation ---- */

/*
 * Text: 1 byte in 8 is a space so lines look like words; the other 224
 * entries cycle through '!'..'~'. Binary: every value but '\n', which
 * becomes NUL (so NUL is twice as likely as any other byte).
 */
static void
build_map(unsigned char map[256], int binary)
{
	unsigned next = 0;

	for (unsigned i = 0; i < 256; i++) {
		if (binary)
			map[i] = i == '\n' ? 0 : (unsigned char)i;
		else if (i % 8 == 0)
			map[i] = ' ';
		else
			map[i] = (unsigned char)(0x21 + next++ % 94);
	}
}

/* Decimal n followed by a space into buf (>= 21 bytes); returns length. */
static size_t
format_number(char *buf, uint64_t n)
{
	char tmp[20];
	size_t len = 0, i;

	do {
		tmp[len++] = (char)('0' + n % 10);
		n /= 10;
	} while (n > 0);
	for (i = 0; i < len; i++)
		buf[i] = tmp[len - 1 - i];
	buf[len] = ' ';
	return len + 1;
}

/* Writes line `no` and returns 1 if it was the last one. */
static int
gen_line(const struct opts *op, struct out *o, struct rng *len_rng,
    struct rng *byte_rng, const unsigned char *map, uint64_t no)
{
	const char *term = op->crlf ? "\r\n" : "\n";
	size_t term_len = op->crlf ? 2 : 1;
	uint64_t len = draw_len(len_rng, &op->dist);
	char num[24];
	size_t num_len = 0;
	int last;

	if (op->numbered) {
		num_len = format_number(num, no);
		if (len < num_len)
			len = num_len;
	}
	if (op->by_bytes)
		last = o->total + len +
		    (op->no_final_nl ? 0 : term_len) >= op->count;
	else
		last = no == op->count;

	out_bytes(o, num, num_len);
	out_random(o, len - num_len, byte_rng, map);
	if (!last || !op->no_final_nl)
		out_bytes(o, term, term_len);
	return last;
}

static void
generate(const struct opts *op, struct out *o)
{
	unsigned char map[256];
	struct rng len_rng, byte_rng;
	uint64_t sm = op->seed;
	uint64_t no;

	build_map(map, op->binary);
	rng_seed_stream(&len_rng, &sm);
	rng_seed_stream(&byte_rng, &sm);
	if (op->count == 0)
		return;
	for (no = 1; o->err == 0; no++)
		if (gen_line(op, o, &len_rng, &byte_rng, map, no))
			break;
}

/* ---- arguments ---- */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: " PROG " (-n LINES | -b BYTES) [-s SEED] [-l DIST] [--crlf]\n"
"       [--no-final-newline] [--binary] [--numbered] [-o FILE]\n"
"\n"
"Writes deterministic test lines for linesvr: the same arguments and SEED\n"
"give byte-identical output on every run and machine.\n"
"\n"
"  -n, --lines LINES   write exactly LINES lines (0: empty output)\n"
"  -b, --bytes BYTES   write lines until the output reaches BYTES: it stops\n"
"                      after the first line that makes the size >= BYTES,\n"
"                      so the output is at least BYTES and every line keeps\n"
"                      its drawn length. Suffixes K, M, G, T are powers of\n"
"                      1024 (-b 1G = 1073741824). Exactly one of -n, -b.\n"
"  -s, --seed SEED     decimal uint64, default 1\n"
"  -l, --length DIST   line length in bytes, terminator not counted\n"
"                      (default " DEFAULT_DIST ", i.e. ~100-byte lines):\n"
"        fixed:N                every line N bytes\n"
"        uniform:A:B            uniform in A..B inclusive\n"
"        heavy:A:B:P:MAX        like uniform:A:B, but with probability P\n"
"                               (0..1, e.g. 0.001) a long line whose length\n"
"                               is Pareto of shape 1/2 truncated to\n"
"                               B..MAX: P(len > x) ~ sqrt(B/x). E.g.\n"
"                               heavy:1:199:0.001:10M: 1 line in 1000\n"
"                               is long, 1 in 100 of those over 1M\n"
"                      Lengths take the same K/M/G/T suffixes, up to 1T.\n"
"      --crlf          end lines with CR LF instead of LF; the CR is part\n"
"                      of the terminator, not of the DIST length\n"
"      --no-final-newline\n"
"                      no terminator after the last line (wc -l then counts\n"
"                      one line fewer); an empty last line cannot be seen\n"
"      --binary        content bytes take any value except '\\n' (NUL and\n"
"                      \\r included); default: printable ASCII '!'..'~'\n"
"                      and spaces, one byte in eight a space, no tabs\n"
"      --numbered      each line starts with its 1-based number and a\n"
"                      space (\"42 ...\"); these count toward the DIST\n"
"                      length, and a line is never shorter than them\n"
"  -o, --output FILE   write to FILE (created or truncated; removed again\n"
"                      if a write fails); default or \"-\": standard output\n"
"  -h, --help          show this help\n"
"  -V, --version       show the version\n"
"\n"
"Line lengths and line bytes come from separate random streams: for one\n"
"SEED and DIST, --binary and --crlf change the bytes but not the lengths,\n"
"and --numbered only lengthens lines shorter than their number.\n"
"\n"
"Exit status: 0 ok, 1 I/O error, 2 usage error.\n");
}

/*
 * Decimal digits with an optional K/M/G/T suffix (powers of 1024) when
 * `suffix` is set. Stops at the first other character, which *end gets;
 * rejects signs, spaces, empty numbers and overflow, unlike strtoull.
 */
static int
parse_u64(const char *s, int suffix, uint64_t *v, const char **end)
{
	uint64_t n = 0;
	const char *p = s;
	int shift = 0;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		unsigned digit = (unsigned)(*p - '0');

		if (n > (UINT64_MAX - digit) / 10)
			return -1;
		n = n * 10 + digit;
	}
	if (suffix && *p != '\0') {
		const char *units = "KkMmGgTt";
		const char *u = strchr(units, *p);

		if (u != NULL) {
			shift = 10 * (int)((u - units) / 2 + 1);
			p++;
		}
	}
	if (shift > 0 && n > (UINT64_MAX >> shift))
		return -1;
	*v = n << shift;
	*end = p;
	return 0;
}

/* A whole-string number: nothing may follow it. */
static int
parse_whole(const char *s, int suffix, uint64_t *v)
{
	const char *end;

	return parse_u64(s, suffix, v, &end) == 0 && *end == '\0' ? 0 : -1;
}

/* A line length followed by `sep` ('\0' for the last field). */
static int
parse_len(const char **s, char sep, uint64_t *v)
{
	const char *end;

	if (parse_u64(*s, 1, v, &end) != 0 || *end != sep || *v > LEN_LIMIT)
		return -1;
	*s = sep != '\0' ? end + 1 : end;
	return 0;
}

/* A probability in [0, 1] followed by ':', scaled by 2^53. */
static int
parse_prob(const char **s, uint64_t *p53)
{
	const char *p = *s;
	char *end;
	double v;

	/* strtod would also take spaces, signs, "inf", "nan" and hex. */
	if (!((*p >= '0' && *p <= '9') || *p == '.'))
		return -1;
	errno = 0;
	v = strtod(p, &end);
	if (errno != 0 || *end != ':' || !(v >= 0.0 && v <= 1.0))
		return -1;
	*p53 = (uint64_t)(v * 0x1p53);
	*s = end + 1;
	return 0;
}

/* Precomputes the Pareto constant k; see pareto_len(). */
static void
dist_set_tail(struct dist *d, uint64_t lo, uint64_t hi)
{
	double k;

	d->tail_lo = lo > 0 ? lo : 1;
	d->tail_hi = hi > d->tail_lo ? hi : d->tail_lo;
	/* In [0, 1): lo >= 1 and hi <= 2^40, so the root is >= 2^-20. */
	k = 1.0 - sqrt((double)d->tail_lo / (double)d->tail_hi);
	d->tail_k32 = (uint64_t)(k * 0x1p32);
}

/* Returns NULL, or what is wrong with the DIST string. */
static const char *
parse_dist(const char *s, struct dist *d)
{
	const char *bad_len = "lengths are decimal, K/M/G/T suffix, at most 1T";
	uint64_t max;

	memset(d, 0, sizeof(*d));
	if (strncmp(s, "fixed:", 6) == 0) {
		s += 6;
		if (parse_len(&s, '\0', &d->a) != 0)
			return bad_len;
		d->b = d->a;
		return NULL;
	}
	if (strncmp(s, "uniform:", 8) == 0) {
		s += 8;
		if (parse_len(&s, ':', &d->a) != 0 ||
		    parse_len(&s, '\0', &d->b) != 0)
			return bad_len;
		return d->a <= d->b ? NULL : "need A <= B";
	}
	if (strncmp(s, "heavy:", 6) == 0) {
		s += 6;
		if (parse_len(&s, ':', &d->a) != 0 ||
		    parse_len(&s, ':', &d->b) != 0)
			return bad_len;
		if (parse_prob(&s, &d->p53) != 0)
			return "P is a decimal fraction in 0..1";
		if (parse_len(&s, '\0', &max) != 0)
			return bad_len;
		if (d->a > d->b || d->b > max)
			return "need A <= B <= MAX";
		dist_set_tail(d, d->b, max);
		return NULL;
	}
	return "want fixed:N, uniform:A:B or heavy:A:B:P:MAX";
}

enum { OPT_CRLF = 256, OPT_NO_FINAL_NL, OPT_BINARY, OPT_NUMBERED };

static const struct option long_opts[] = {
	{ "lines",		required_argument, NULL, 'n' },
	{ "bytes",		required_argument, NULL, 'b' },
	{ "seed",		required_argument, NULL, 's' },
	{ "length",		required_argument, NULL, 'l' },
	{ "output",		required_argument, NULL, 'o' },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ "crlf",		no_argument,	   NULL, OPT_CRLF },
	{ "no-final-newline",	no_argument,	   NULL, OPT_NO_FINAL_NL },
	{ "binary",		no_argument,	   NULL, OPT_BINARY },
	{ "numbered",		no_argument,	   NULL, OPT_NUMBERED },
	{ NULL,			0,		   NULL, 0 }
};

static int
bad_arg(const char *what, const char *arg)
{
	fprintf(stderr, PROG ": invalid %s '%s'\n", what, arg);
	return -1;
}

/* One option; returns 0, or -1 after saying what is wrong. */
static int
apply_opt(struct opts *op, int c, const char *arg, int *have_count)
{
	const char *why;

	switch (c) {
	case 'n':
	case 'b':
		if ((*have_count)++) {
			fprintf(stderr, PROG ": give only one of -n, -b\n");
			return -1;
		}
		op->by_bytes = c == 'b';
		if (parse_whole(arg, op->by_bytes, &op->count) != 0)
			return bad_arg(c == 'b' ? "byte count (-b)" :
			    "line count (-n)", arg);
		return 0;
	case 's':
		return parse_whole(arg, 0, &op->seed) == 0 ? 0 :
		    bad_arg("seed (a decimal uint64)", arg);
	case 'l':
		if ((why = parse_dist(arg, &op->dist)) == NULL)
			return 0;
		fprintf(stderr, PROG ": invalid -l '%s': %s\n", arg, why);
		return -1;
	case 'o':
		op->path = strcmp(arg, "-") == 0 ? NULL : arg;
		return 0;
	case OPT_CRLF:
		op->crlf = 1;
		return 0;
	case OPT_NO_FINAL_NL:
		op->no_final_nl = 1;
		return 0;
	case OPT_BINARY:
		op->binary = 1;
		return 0;
	case OPT_NUMBERED:
		op->numbered = 1;
		return 0;
	default:	/* getopt has already named the bad option */
		return -1;
	}
}

/* Returns 0 to generate, 1 after --help or --version, -1 on a usage
 * error. */
static int
parse_args(int argc, char **argv, struct opts *op)
{
	int c, have_count = 0;

	memset(op, 0, sizeof(*op));
	op->seed = 1;
	if (parse_dist(DEFAULT_DIST, &op->dist) != NULL)
		return -1;
	/* getopt's own messages name argv[0]: the program's name. */
	argv[0] = (char *)PROG;
	while ((c = getopt_long(argc, argv, "n:b:s:l:o:hV", long_opts,
	    NULL)) != -1) {
		if (c == 'h') {
			usage(stdout);
			return 1;
		}
		if (c == 'V') {
			printf(PROG " %s\n", LINESVR_VERSION);
			return 1;
		}
		if (apply_opt(op, c, optarg, &have_count) != 0)
			return -1;
	}
	if (optind < argc) {
		fprintf(stderr, PROG ": unexpected argument '%s'\n",
		    argv[optind]);
		return -1;
	}
	if (!have_count) {
		fprintf(stderr, PROG ": need -n LINES or -b BYTES\n");
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	struct opts op;
	struct out o;
	int rc = parse_args(argc, argv, &op);

	if (rc != 0) {
		if (rc > 0)
			return fflush(stdout) == 0 ? 0 : EXIT_IO;
		fprintf(stderr, PROG ": see --help\n");
		return EXIT_USAGE;
	}
	if (out_open(&o, op.path) != 0)
		return EXIT_IO;
	generate(&op, &o);
	return out_close(&o, op.path) == 0 ? 0 : EXIT_IO;
}
