/*
 * config: defaults, the reader of linesvr.ini, the setter of one key
 * (-o), and the final checks.
 *
 * Every key is one row of keys[] below: section, name, kind, the field it
 * sets and its accepted range. The inih handler and config_set (the
 * command line) only find the row and hand the value to the setter of its
 * kind, so adding a tunable is one field in config.h and one row here.
 *
 * Policy, chosen so that a typo never goes unnoticed:
 * - unknown sections and keys are errors, and so are keys before any
 *   section header; an unknown section header is refused even when no key
 *   follows it;
 * - a key given twice keeps its last value, like most INI readers: this
 *   lets an operator append an override to a shipped file;
 * - keys and section names are lower case and matched exactly; the words
 *   of enumerated and boolean values are matched in either case;
 * - the first error stops the reader; the message names the file, the line
 *   and the section and key: "FILE:LINE: [SECTION] KEY: WHAT" (without
 *   FILE:LINE for config_set).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <ini.h>

#include "cache.h"
#include "config.h"
#include "index.h"
#include "parse.h"

/*
 * Longest line accepted, in bytes before its LF: room for a value that
 * fills CONFIG_PATH_MAX and a comment beside it.
 */
#define CONFIG_LINE_MAX (2 * CONFIG_PATH_MAX)

/* Values quoted in messages are cut after this many bytes. */
#define QUOTE_MAX 64

_Static_assert(INDEX_M_MAX == 1048576,
    "[index] lines_per_page's range message says 1-1048576");

/*
 * The smallest cache that holds one page as the server keeps it: a compact
 * page's body is a base offset, m line ends and, with line checksums, m
 * CRCs; the cache adds its bookkeeping (cache_min_capacity).
 */
static uint64_t
one_page(const struct config *cfg)
{
	uint64_t m = cfg->lines_per_page ? cfg->lines_per_page :
	    INDEX_M_DEFAULT;

	return cache_min_capacity((size_t)(8 + 4 * m +
	    (cfg->line_checksums ? 4 * m : 0)));
}

enum key_kind {
	KEY_UINT,   /* unsigned, decimal digits, lo..hi */
	KEY_POW2,   /* unsigned, a power of two in lo..hi */
	KEY_SIZE,   /* uint64_t bytes, K/M/G suffixes allowed, lo..hi */
	KEY_BOOL,   /* int, 1 or 0 */
	KEY_WORD,   /* an enum: the index of the value in words[] */
	KEY_STR     /* char[size], NUL-terminated */
};

/* What an empty value means: an error, or unset ("" for a KEY_STR, 0 for
 * a KEY_UINT or KEY_POW2). */
enum empty_rule { EMPTY_IS_ERROR, EMPTY_IS_UNSET };

struct key {
	const char *section;
	const char *name;
	enum key_kind kind;
	size_t off;                 /* offsetof(struct config, field) */
	uint64_t lo, hi;            /* numeric kinds: accepted range */
	const char *range;          /* how lo..hi reads in a message */
	const char *const *words;   /* KEY_WORD: NULL-terminated, in enum order */
	void (*set)(struct config *, unsigned); /* KEY_WORD */
	size_t size;                /* KEY_STR: size of the buffer */
	enum empty_rule empty;
	/* KEY_STR: further check of a non-empty value; 0 ok, or -1 with
	 * the problem in what. */
	int (*check)(const char *value, char *what, size_t len);
};

int
config_valid_address(const char *value)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, value, buf) == 1 ||
	    inet_pton(AF_INET6, value, buf) == 1;
}

static int
check_address(const char *value, char *what, size_t len)
{
	if (config_valid_address(value))
		return 0;
	snprintf(what, len, "'%.64s' is not an IPv4 or IPv6 address", value);
	return -1;
}

/* In the order of their enums: the index of a word is its value. */
static const char *const shutdown_words[] = { "any", "local", "off", NULL };
static const char *const build_words[] = { "auto", "never", NULL };
static const char *const level_words[] = {
	"error", "warn", "info", "debug", NULL
};

/*
 * Enums are stored through these rather than through a pointer of some
 * integer type: the size of an enum is the compiler's choice.
 */
static void
set_shutdown(struct config *cfg, unsigned v)
{
	cfg->shutdown = (enum shutdown_policy)v;
}

static void
set_build(struct config *cfg, unsigned v)
{
	cfg->build = (enum build_policy)v;
}

static void
set_level(struct config *cfg, unsigned v)
{
	cfg->log_level = (enum log_level)v;
}

/*
 * A text file that fits the page cache is best mapped: its lines are then
 * plain memory, with 2 MiB pages where the kernel offers them. A file
 * larger than memory would fault in a page (2 MiB with huge pages) for
 * most lines and thrash the page cache, so it is read line by line. Half
 * of the machine's memory is where one turns into the other.
 */
uint64_t
config_default_map_max(void)
{
	long pages = sysconf(_SC_PHYS_PAGES), size = sysconf(_SC_PAGESIZE);

	if (pages <= 0 || size <= 0)
		return (uint64_t)4 << 30;
	return (uint64_t)pages * (uint64_t)size / 2;
}

/* A named number as text, for a key's range. */
#define NUMBER_TEXT(n) NUMBER_TEXT_(n)
#define NUMBER_TEXT_(n) #n

#define FIELD(f) offsetof(struct config, f)
#define FIELD_SIZE(f) sizeof(((struct config *)0)->f)

#define UINT_KEY(sec, key, f, l, h, text) { .section = sec, .name = key, \
	.kind = KEY_UINT, .off = FIELD(f), .lo = l, .hi = h, .range = text }
#define SIZE_KEY(sec, key, f, l, h, text) { .section = sec, .name = key, \
	.kind = KEY_SIZE, .off = FIELD(f), .lo = l, .hi = h, .range = text }
#define STR_KEY(sec, key, f, rule) { .section = sec, .name = key, \
	.kind = KEY_STR, .off = FIELD(f), .size = FIELD_SIZE(f), .empty = rule }
#define ADDR_KEY(sec, key, f) { .section = sec, .name = key, \
	.kind = KEY_STR, .off = FIELD(f), .size = FIELD_SIZE(f), \
	.empty = EMPTY_IS_ERROR, .check = check_address }
#define WORD_KEY(sec, key, list, fn) { .section = sec, .name = key, \
	.kind = KEY_WORD, .words = list, .set = fn }
#define BOOL_KEY(sec, key, f) { .section = sec, .name = key, \
	.kind = KEY_BOOL, .off = FIELD(f) }

static const struct key keys[] = {
	STR_KEY("server", "file", file, EMPTY_IS_ERROR),
	ADDR_KEY("server", "bind", bind),
	UINT_KEY("server", "port", port, 0, 65535, "0-65535"),
	UINT_KEY("server", "workers", workers, 0, CONFIG_WORKERS_MAX,
	    "0-" NUMBER_TEXT(CONFIG_WORKERS_MAX)),
	UINT_KEY("server", "backlog", backlog, 1, 65535, "1-65535"),
	UINT_KEY("server", "max_connections", max_connections, 1, 1000000,
	    "1-1000000"),
	UINT_KEY("server", "idle_timeout", idle_timeout, 0, 86400, "0-86400"),
	UINT_KEY("server", "max_request", max_request, 16, 65536, "16-65536"),
	SIZE_KEY("server", "max_output", max_output, 4096, 1u << 30, "4K-1G"),
	WORD_KEY("server", "shutdown", shutdown_words, set_shutdown),
	UINT_KEY("server", "drain_timeout", drain_timeout, 0, 86400,
	    "0-86400"),
	STR_KEY("server", "user", user, EMPTY_IS_UNSET),
	BOOL_KEY("server", "coalesce", coalesce),
	SIZE_KEY("server", "map_max", map_max, 0, UINT64_MAX,
	    "(a size, 0 = never map)"),

	STR_KEY("index", "path", index_path, EMPTY_IS_UNSET),
	/* .range spells INDEX_M_MAX out; a static assertion above keeps it so.
	 * Unset (empty) means the existing index's own value. */
	{ .section = "index", .name = "lines_per_page", .kind = KEY_POW2,
	    .off = FIELD(lines_per_page), .lo = 1, .hi = INDEX_M_MAX,
	    .range = "1-1048576", .empty = EMPTY_IS_UNSET },
	WORD_KEY("index", "build", build_words, set_build),
	BOOL_KEY("index", "line_checksums", line_checksums),

	SIZE_KEY("cache", "size", cache_size, 1, UINT64_MAX,
	    "(must be at least 1)"),

	WORD_KEY("log", "level", level_words, set_level),
	STR_KEY("log", "file", log_file, EMPTY_IS_ERROR),
};

#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/* One config_load: what the reader and the handler share. */
struct loader {
	FILE *fp;
	const char *path;
	struct config *cfg;
	int line;       /* the line inih is working on, from 1 */
	int failed;     /* err holds the message; read no further */
	char *err;
	size_t errlen;
};

/* inih's process-wide knobs, saved around a parse and restored after. */
struct ini_knobs {
	bool multiline, bom, inline_comments, use_stack, stop_first, no_value;
	int max_line;
	char *start_prefixes, *inline_prefixes;
};

void
config_defaults(struct config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	snprintf(cfg->bind, sizeof(cfg->bind), "%s", "127.0.0.1");
	cfg->port = 10497;
	cfg->workers = 0;
	cfg->backlog = 1024;
	cfg->max_connections = 10000;
	cfg->idle_timeout = 300;
	cfg->max_request = 1024;
	cfg->max_output = 1048576;
	cfg->shutdown = SHUTDOWN_LOCAL;
	cfg->drain_timeout = 5;
	cfg->coalesce = 1;
	cfg->map_max = config_default_map_max();
	cfg->lines_per_page = 0; /* unset */
	cfg->build = BUILD_AUTO;
	cfg->line_checksums = 1;
	cfg->cache_size = (uint64_t)256 << 20;
	cfg->log_level = LOG_INFO;
	snprintf(cfg->log_file, sizeof(cfg->log_file), "%s", "-");
}

static int
section_known(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strlen(keys[i].section) == len &&
		    memcmp(keys[i].section, name, len) == 0)
			return 1;
	return 0;
}

static const struct key *
find_key(const char *section, const char *name)
{
	size_t i;

	for (i = 0; i < NKEYS; i++)
		if (strcmp(keys[i].section, section) == 0 &&
		    strcmp(keys[i].name, name) == 0)
			return &keys[i];
	return NULL;
}

/* "'VALUE' PROBLEM", the value cut to QUOTE_MAX bytes. Returns -1. */
static int
bad_value(char *what, size_t len, const char *value, const char *problem)
{
	size_t n = strlen(value);

	snprintf(what, len, "'%.*s%s' %s", (int)(n > QUOTE_MAX ? QUOTE_MAX : n),
	    value, n > QUOTE_MAX ? "..." : "", problem);
	return -1;
}

static int
out_of_range(const struct key *k, char *what, size_t len, const char *value)
{
	char problem[128];

	snprintf(problem, sizeof(problem), "is out of range %s", k->range);
	return bad_value(what, len, value, problem);
}

/* Only digits, then at most one size suffix if sized: a number too big. */
static int
looks_numeric(const char *s, int sized)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0)
		return 0;
	if (sized && s[n] != '\0' && strchr("kKmMgG", s[n]) != NULL)
		n++;
	return s[n] == '\0';
}

static int
set_number(const struct key *k, struct config *cfg, const char *value,
    char *what, size_t len)
{
	char *field = (char *)cfg + k->off;
	int sized = k->kind == KEY_SIZE;
	uint64_t v;

	if ((sized ? parse_size(value, &v) : parse_u64(value, &v)) == -1) {
		if (looks_numeric(value, sized))
			return out_of_range(k, what, len, value);
		return bad_value(what, len, value, sized ?
		    "is not a size (digits, then optionally K, M or G)" :
		    "is not a number (decimal digits only)");
	}
	if (v < k->lo || v > k->hi)
		return out_of_range(k, what, len, value);
	if (k->kind == KEY_POW2 && (v & (v - 1)) != 0)
		return bad_value(what, len, value, "is not a power of two");
	if (sized)
		memcpy(field, &v, sizeof(v));
	else {
		unsigned u = (unsigned)v; /* hi of every KEY_UINT fits */

		memcpy(field, &u, sizeof(u));
	}
	return 0;
}

static int
set_bool(const struct key *k, struct config *cfg, const char *value,
    char *what, size_t len)
{
	static const char *const yes[] = { "yes", "true", "on", "1" };
	static const char *const no[] = { "no", "false", "off", "0" };
	char *field = (char *)cfg + k->off;
	size_t i;
	int v;

	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		v = strcasecmp(value, yes[i]) == 0 ? 1 :
		    strcasecmp(value, no[i]) == 0 ? 0 : -1;
		if (v != -1) {
			memcpy(field, &v, sizeof(v));
			return 0;
		}
	}
	return bad_value(what, len, value,
	    "is not one of yes, no, true, false, on, off, 1, 0");
}

static int
set_word(const struct key *k, struct config *cfg, const char *value,
    char *what, size_t len)
{
	char problem[128] = "is not one of ";
	unsigned i;

	for (i = 0; k->words[i] != NULL; i++) {
		if (strcasecmp(value, k->words[i]) == 0) {
			k->set(cfg, i);
			return 0;
		}
	}
	for (i = 0; k->words[i] != NULL; i++) {
		if (i > 0)
			strncat(problem, ", ", sizeof(problem) - strlen(problem) - 1);
		strncat(problem, k->words[i],
		    sizeof(problem) - strlen(problem) - 1);
	}
	return bad_value(what, len, value, problem);
}

static int
set_string(const struct key *k, struct config *cfg, const char *value,
    char *what, size_t len)
{
	char *field = (char *)cfg + k->off;
	size_t n = strlen(value);

	if (n == 0 && k->empty == EMPTY_IS_ERROR) {
		snprintf(what, len, "must not be empty");
		return -1;
	}
	if (n >= k->size) {
		snprintf(what, len, "value is too long (%zu bytes, at most %zu)",
		    n, k->size - 1);
		return -1;
	}
	if (n > 0 && k->check != NULL && k->check(value, what, len) < 0)
		return -1;
	memcpy(field, value, n + 1);
	return 0;
}

static int
set_value(const struct key *k, struct config *cfg, const char *value,
    char *what, size_t len)
{
	unsigned unset = 0;

	if (k->kind == KEY_STR)
		return set_string(k, cfg, value, what, len);
	if (*value == '\0' && k->empty == EMPTY_IS_UNSET) {
		memcpy((char *)cfg + k->off, &unset, sizeof(unset));
		return 0;
	}
	if (*value == '\0') {
		snprintf(what, len, "missing value");
		return -1;
	}
	switch (k->kind) {
	case KEY_UINT:
	case KEY_POW2:
	case KEY_SIZE:
		return set_number(k, cfg, value, what, len);
	case KEY_BOOL:
		return set_bool(k, cfg, value, what, len);
	case KEY_WORD:
		return set_word(k, cfg, value, what, len);
	case KEY_STR:
		break;
	}
	return -1;
}

int
config_set(struct config *cfg, const char *section, const char *name,
    const char *value, char *err, size_t errlen)
{
	const struct key *k;
	char what[256];

	if (!section_known(section, strlen(section)))
		snprintf(what, sizeof(what), "unknown section");
	else if ((k = find_key(section, name)) == NULL)
		snprintf(what, sizeof(what), "unknown key");
	else if (set_value(k, cfg, value, what, sizeof(what)) == 0)
		return 0;
	snprintf(err, errlen, "[%s] %s: %s", section, name, what);
	return -1;
}

int
config_set_option(struct config *cfg, const char *option, char *err,
    size_t errlen)
{
	size_t n = strcspn(option, "=");
	char name[128], *dot;

	/* A name too long to copy is cut: it is an unknown key either way. */
	snprintf(name, sizeof(name), "%.*s", (int)n, option);
	if (option[n] != '=' || (dot = strchr(name, '.')) == NULL ||
	    dot == name || dot[1] == '\0') {
		snprintf(err, errlen, "not SECTION.KEY=VALUE");
		return -1;
	}
	*dot = '\0';
	return config_set(cfg, name, dot + 1, option + n + 1, err, errlen);
}

/* inih handler: 1 to go on, 0 to stop (the message is in ld->err). */
static int
handle_key(void *user, const char *section, const char *name,
    const char *value)
{
	struct loader *ld = user;
	char what[1024];

	if (*name == '\0') {
		snprintf(ld->err, ld->errlen, "%s:%d: syntax error (no key "
		    "before '=')", ld->path, ld->line);
	} else if (*section == '\0') {
		snprintf(ld->err, ld->errlen, "%s:%d: %s: key outside any "
		    "[section]", ld->path, ld->line, name);
	} else if (config_set(ld->cfg, section, name, value, what,
	    sizeof(what)) < 0) {
		snprintf(ld->err, ld->errlen, "%s:%d: %s", ld->path, ld->line,
		    what);
	} else
		return 1;
	ld->failed = 1;
	return 0;
}

/*
 * A section header naming no known section is refused here, on its own
 * line: the handler would only see it if a key followed. A header without
 * its ']' is left for inih to report as a syntax error.
 */
static int
check_header(struct loader *ld, const char *line)
{
	const char *p = line;
	const char *end;

	if (ld->line == 1 && strncmp(p, "\xEF\xBB\xBF", 3) == 0)
		p += 3; /* a UTF-8 byte order mark, which inih skips too */
	while (isspace((unsigned char)*p))
		p++;
	if (*p != '[' || (end = strchr(p + 1, ']')) == NULL)
		return 0;
	if (section_known(p + 1, (size_t)(end - p - 1)))
		return 0;
	snprintf(ld->err, ld->errlen, "%s:%d: [%.*s]: unknown section",
	    ld->path, ld->line, (int)(end - p - 1), p + 1);
	ld->failed = 1;
	return -1;
}

/*
 * inih's reader (fgets-like). inih tells its handler nothing about lines,
 * so counting them here lets the handler name the line it is on. Reading
 * byte by byte (the file is small) also catches what inih would get wrong
 * quietly: a line longer than its buffer (inih would parse the rest as a
 * new line), a NUL byte (inih would cut the line there) and a read error
 * (inih would take it for the end of the file). Returning NULL stops it.
 */
static char *
read_line(char *str, int num, void *stream)
{
	struct loader *ld = stream;
	size_t n = 0;
	int c;

	if (ld->failed || num < 2)
		return NULL;
	while (n < (size_t)num - 1 && (c = getc(ld->fp)) != EOF) {
		str[n++] = (char)c;
		if (c == '\n')
			break;
	}
	if (ferror(ld->fp)) {
		snprintf(ld->err, ld->errlen, "%s: %s", ld->path,
		    strerror(errno));
		ld->failed = 1;
		return NULL;
	}
	if (n == 0)
		return NULL;
	str[n] = '\0';
	ld->line++;
	if (memchr(str, '\0', n) != NULL) {
		snprintf(ld->err, ld->errlen, "%s:%d: NUL byte in line",
		    ld->path, ld->line);
		ld->failed = 1;
		return NULL;
	}
	if (n == (size_t)num - 1 && str[n - 1] != '\n') {
		snprintf(ld->err, ld->errlen, "%s:%d: line is longer than %d "
		    "bytes", ld->path, ld->line, CONFIG_LINE_MAX);
		ld->failed = 1;
		return NULL;
	}
	return check_header(ld, str) == -1 ? NULL : str;
}

/*
 * inih's behaviour is set by process-wide variables in this build. Set
 * every one config_load relies on, whatever the defaults: no multi-line
 * values (an indented line is a line of its own), ';' comments inline and
 * ';' or '#' at the start of a line, a line buffer on the stack that holds
 * CONFIG_LINE_MAX bytes plus LF and NUL, stop at the first error, and a
 * line without '=' is a syntax error.
 */
static void
knobs_set(struct ini_knobs *saved)
{
	static char start_prefixes[] = ";#";
	static char inline_prefixes[] = ";";

	saved->multiline = ini_allow_multiline;
	saved->bom = ini_allow_bom;
	saved->inline_comments = ini_allow_inline_comments;
	saved->use_stack = ini_use_stack;
	saved->stop_first = ini_stop_on_first_error;
	saved->no_value = ini_allow_no_value;
	saved->max_line = ini_max_line;
	saved->start_prefixes = ini_start_comment_prefixes;
	saved->inline_prefixes = ini_inline_comment_prefixes;

	ini_allow_multiline = false;
	ini_allow_bom = true;
	ini_allow_inline_comments = true;
	ini_use_stack = true;
	ini_stop_on_first_error = true;
	ini_allow_no_value = false;
	ini_max_line = CONFIG_LINE_MAX + 2;
	ini_start_comment_prefixes = start_prefixes;
	ini_inline_comment_prefixes = inline_prefixes;
}

static void
knobs_restore(const struct ini_knobs *saved)
{
	ini_allow_multiline = saved->multiline;
	ini_allow_bom = saved->bom;
	ini_allow_inline_comments = saved->inline_comments;
	ini_use_stack = saved->use_stack;
	ini_stop_on_first_error = saved->stop_first;
	ini_allow_no_value = saved->no_value;
	ini_max_line = saved->max_line;
	ini_start_comment_prefixes = saved->start_prefixes;
	ini_inline_comment_prefixes = saved->inline_prefixes;
}

/*
 * The file is read into a copy so that a failed load leaves *cfg as it
 * was: the caller never sees half of a bad file.
 */
int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
	struct config next = *cfg;
	struct ini_knobs saved;
	struct loader ld;
	int rc;

	memset(&ld, 0, sizeof(ld));
	ld.path = path;
	ld.cfg = &next;
	ld.err = err;
	ld.errlen = errlen;
	if ((ld.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	knobs_set(&saved);
	rc = ini_parse_stream(read_line, &ld, handle_key, &ld);
	knobs_restore(&saved);
	fclose(ld.fp);
	if (ld.failed)
		return -1;
	if (rc > 0) {
		snprintf(err, errlen, "%s:%d: syntax error", path, rc);
		return -1;
	}
	if (rc < 0) {
		snprintf(err, errlen, "%s: cannot be parsed (inih error %d)",
		    path, rc);
		return -1;
	}
	*cfg = next;
	return 0;
}

int
config_finish(const struct config *cfg, char *err, size_t errlen)
{
	unsigned m = cfg->lines_per_page;

	if (cfg->file[0] == '\0') {
		snprintf(err, errlen, "no file to serve: set [server] file "
		    "or give FILE");
		return -1;
	}
	/* Guards a config built by hand; the reader never lets these by. */
	if (m > INDEX_M_MAX || (m & (m - 1)) != 0) {
		snprintf(err, errlen, "[index] lines_per_page: %u is not a "
		    "power of two in 1-%u", m, INDEX_M_MAX);
		return -1;
	}
	if (cfg->cache_size < one_page(cfg)) {
		snprintf(err, errlen, "[cache] size: %" PRIu64 " bytes is less "
		    "than one index page (%" PRIu64 " bytes with "
		    "lines_per_page = %u)", cfg->cache_size, one_page(cfg),
		    m != 0 ? m : INDEX_M_DEFAULT);
		return -1;
	}
	return 0;
}

const char *
config_shutdown_name(enum shutdown_policy p)
{
	if ((unsigned)p < sizeof(shutdown_words) / sizeof(shutdown_words[0]) - 1)
		return shutdown_words[p];
	return "?";
}

const char *
config_level_name(enum log_level l)
{
	if ((unsigned)l < sizeof(level_words) / sizeof(level_words[0]) - 1)
		return level_words[l];
	return "?";
}

int
config_index_path(const struct config *cfg, char *out, size_t outlen)
{
	if (cfg->index_path[0] != '\0')
		return snprintf(out, outlen, "%s", cfg->index_path) <
		    (int)outlen ? 0 : -1;
	return index_default_path(cfg->file, out, outlen);
}
