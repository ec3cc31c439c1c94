/*
 * Unit tests of config: defaults, the shipped conf/linesvr.ini, every key
 * read back, and every kind of error with its exact message (file, line,
 * section and key). Each config is written to a fresh temporary file.
 * Tests run from the repository root.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <ini.h>

#include "cache.h"
#include "config.h"

#define ERR_LEN 1024

/* Path of the config file the current test wrote, for expected messages. */
static char conf_path[64];

/* Write len bytes of text to a new temporary file named in conf_path. */
static void
write_conf(const char *text, size_t len)
{
	int fd;

	snprintf(conf_path, sizeof(conf_path), "/tmp/linesvr-conf-XXXXXX");
	fd = mkstemp(conf_path);
	assert_true(fd >= 0);
	assert_true(write(fd, text, len) == (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* config_load of text over *cfg; the temporary file is removed after. */
static int
load_bytes(struct config *cfg, const char *text, size_t len, char *err)
{
	int rc;

	write_conf(text, len);
	err[0] = '\0';
	rc = config_load(cfg, conf_path, err, ERR_LEN);
	unlink(conf_path);
	return rc;
}

static int
load(struct config *cfg, const char *text, char *err)
{
	return load_bytes(cfg, text, strlen(text), err);
}

/*
 * Load text over the defaults and expect "FILE:LINE: WHERE: WHAT", or
 * "FILE:LINE: WHERE" when what is NULL.
 */
static void
expect_error(const char *text, int line, const char *where, const char *what)
{
	struct config cfg;
	char err[ERR_LEN], want[ERR_LEN];

	config_defaults(&cfg);
	assert_int_equal(load(&cfg, text, err), -1);
	if (what != NULL)
		snprintf(want, sizeof(want), "%s:%d: %s: %s", conf_path, line,
		    where, what);
	else
		snprintf(want, sizeof(want), "%s:%d: %s", conf_path, line,
		    where);
	assert_string_equal(err, want);
}

/*
 * One key in its section, on line 4 (after a comment and a blank line),
 * so a message with the right line number cannot be luck.
 */
static void
key_text(char *buf, size_t len, const char *section, const char *key,
    const char *value)
{
	snprintf(buf, len, "; test\n[%s]\n\n%s = %s\n", section, key, value);
}

static void
expect_bad(const char *section, const char *key, const char *value,
    const char *what)
{
	char text[8192], where[128];

	key_text(text, sizeof(text), section, key, value);
	snprintf(where, sizeof(where), "[%s] %s", section, key);
	expect_error(text, 4, where, what);
}

/* "'VALUE' is out of range RANGE" for [section] key = value. */
static void
expect_range(const char *section, const char *key, const char *value,
    const char *range)
{
	char what[256];

	snprintf(what, sizeof(what), "'%s' is out of range %s", value, range);
	expect_bad(section, key, value, what);
}

/* Load [section] key = value over the defaults; it must succeed. */
static void
load_ok(struct config *cfg, const char *section, const char *key,
    const char *value)
{
	char text[8192], err[ERR_LEN];

	config_defaults(cfg);
	key_text(text, sizeof(text), section, key, value);
	if (load(cfg, text, err) != 0)
		fail_msg("%s", err);
}

static unsigned
load_uint(const char *section, const char *key, const char *value,
    size_t off)
{
	struct config cfg;
	unsigned v;

	load_ok(&cfg, section, key, value);
	memcpy(&v, (char *)&cfg + off, sizeof(v));
	return v;
}

#define UINT_OF(sec, key, value, field) \
	load_uint(sec, key, value, offsetof(struct config, field))

/* Field by field: struct copies need not preserve padding bytes. */
static void
assert_config_equal(const struct config *a, const struct config *b)
{
	assert_string_equal(a->file, b->file);
	assert_string_equal(a->bind, b->bind);
	assert_int_equal(a->port, b->port);
	assert_int_equal(a->workers, b->workers);
	assert_int_equal(a->backlog, b->backlog);
	assert_int_equal(a->max_connections, b->max_connections);
	assert_int_equal(a->idle_timeout, b->idle_timeout);
	assert_int_equal(a->max_request, b->max_request);
	assert_true(a->max_output == b->max_output);
	assert_int_equal(a->shutdown, b->shutdown);
	assert_int_equal(a->drain_timeout, b->drain_timeout);
	assert_string_equal(a->user, b->user);
	assert_int_equal(a->coalesce, b->coalesce);
	assert_true(a->map_max == b->map_max);
	assert_string_equal(a->index_path, b->index_path);
	assert_int_equal(a->lines_per_page, b->lines_per_page);
	assert_int_equal(a->build, b->build);
	assert_true(a->cache_size == b->cache_size);
	assert_int_equal(a->log_level, b->log_level);
	assert_string_equal(a->log_file, b->log_file);
}

static void
defaults_match_spec(void **state)
{
	struct config cfg;

	(void)state;
	memset(&cfg, 0xa5, sizeof(cfg));
	config_defaults(&cfg);
	assert_string_equal(cfg.file, "");
	assert_string_equal(cfg.bind, "127.0.0.1");
	assert_int_equal(cfg.port, 10497);
	assert_int_equal(cfg.workers, 0);
	assert_int_equal(cfg.backlog, 1024);
	assert_int_equal(cfg.max_connections, 10000);
	assert_int_equal(cfg.idle_timeout, 300);
	assert_int_equal(cfg.max_request, 1024);
	assert_true(cfg.max_output == 1048576);
	assert_int_equal(cfg.shutdown, SHUTDOWN_LOCAL);
	assert_int_equal(cfg.drain_timeout, 5);
	assert_string_equal(cfg.user, "");
	assert_int_equal(cfg.coalesce, 1);
	assert_true(cfg.map_max == config_default_map_max());
	assert_true(cfg.map_max >= (uint64_t)64 << 20);
	assert_string_equal(cfg.index_path, "");
	assert_int_equal(cfg.lines_per_page, 0); /* unset: the index's own */
	assert_int_equal(cfg.build, BUILD_AUTO);
	assert_true(cfg.cache_size == (uint64_t)256 * 1024 * 1024);
	assert_int_equal(cfg.log_level, LOG_INFO);
	assert_string_equal(cfg.log_file, "-");
}

static void
shipped_conf_loads(void **state)
{
	struct config cfg, def;
	char err[ERR_LEN] = "";

	(void)state;
	config_defaults(&cfg);
	config_defaults(&def);
	if (config_load(&cfg, "conf/linesvr.ini", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* The shipped file spells out the defaults and names a file. */
	assert_string_equal(cfg.file, "data/sample.txt");
	snprintf(def.file, sizeof(def.file), "%s", "data/sample.txt");
	assert_config_equal(&cfg, &def);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
}

static void
every_key_read_back(void **state)
{
	static const char text[] =
	    "[server]\n"
	    "file = /srv/data/words.txt\n"
	    "bind = ::1\n"
	    "port = 0\n"
	    "workers = 8\n"
	    "backlog = 77\n"
	    "max_connections = 123456\n"
	    "idle_timeout = 0\n"
	    "max_request = 4096\n"
	    "max_output = 2M\n"
	    "shutdown = any\n"
	    "drain_timeout = 86400\n"
	    "user = nobody\n"
	    "coalesce = no\n"
	    "[index]\n"
	    "path = /var/lib/linesvr/words.lidx\n"
	    "lines_per_page = 1024\n"
	    "build = never\n"
	    "[cache]\n"
	    "size = 3G\n"
	    "[log]\n"
	    "level = debug\n"
	    "file = /var/log/linesvr.log\n";
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, text, err), 0);
	assert_string_equal(cfg.file, "/srv/data/words.txt");
	assert_string_equal(cfg.bind, "::1");
	assert_int_equal(cfg.port, 0);
	assert_int_equal(cfg.workers, 8);
	assert_int_equal(cfg.backlog, 77);
	assert_int_equal(cfg.max_connections, 123456);
	assert_int_equal(cfg.idle_timeout, 0);
	assert_int_equal(cfg.max_request, 4096);
	assert_true(cfg.max_output == 2 * 1024 * 1024);
	assert_int_equal(cfg.shutdown, SHUTDOWN_ANY);
	assert_int_equal(cfg.drain_timeout, 86400);
	assert_string_equal(cfg.user, "nobody");
	assert_int_equal(cfg.coalesce, 0);
	assert_string_equal(cfg.index_path, "/var/lib/linesvr/words.lidx");
	assert_int_equal(cfg.lines_per_page, 1024);
	assert_int_equal(cfg.build, BUILD_NEVER);
	assert_true(cfg.cache_size == (uint64_t)3 << 30);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_string_equal(cfg.log_file, "/var/log/linesvr.log");
}

static void
absent_keys_keep_their_value(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	cfg.port = 4242;
	snprintf(cfg.file, sizeof(cfg.file), "%s", "from-the-command-line");
	assert_int_equal(load(&cfg, "[server]\nworkers = 3\n[log]\n", err), 0);
	assert_int_equal(cfg.port, 4242);
	assert_string_equal(cfg.file, "from-the-command-line");
	assert_int_equal(cfg.workers, 3);
}

static void
empty_file_is_fine(void **state)
{
	struct config cfg, def;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	config_defaults(&def);
	assert_int_equal(load(&cfg, "", err), 0);
	assert_config_equal(&cfg, &def);
}

static void
comments_blanks_and_crlf(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg,
	    "; leading comment\r\n"
	    "# hash comment\r\n"
	    "\r\n"
	    "   [server]   \r\n"
	    "  port=81\r\n"
	    "port = 82 ; an inline comment\r\n"
	    "bind =   10.0.0.1   \r\n", err), 0);
	assert_int_equal(cfg.port, 82);
	assert_string_equal(cfg.bind, "10.0.0.1");
}

static void
no_comment_glued_to_value(void **state)
{
	(void)state;
	/* "81;x" has no space before ';': it is all value, and no number. */
	expect_bad("server", "port", "81;x", "'81;x' is not a number (decimal "
	    "digits only)");
}

static void
duplicate_key_last_wins(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "[server]\nport = 1\nport = 2\n"
	    "[cache]\nsize = 1M\n[server]\nport = 3\n", err), 0);
	assert_int_equal(cfg.port, 3);
	assert_true(cfg.cache_size == 1048576);
}

static void
failed_load_leaves_cfg_alone(void **state)
{
	struct config cfg, before;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	before = cfg;
	assert_int_equal(load(&cfg, "[server]\nport = 9\nworkers = 9\n"
	    "backlog = 0\n", err), -1);
	assert_config_equal(&cfg, &before);
}

static void
booleans(void **state)
{
	static const char *const yes[] = { "yes", "true", "on", "1", "YES",
	    "True", "On" };
	static const char *const no[] = { "no", "false", "off", "0", "NO",
	    "False", "oFF" };
	struct config cfg;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		load_ok(&cfg, "server", "coalesce", "no");
		assert_int_equal(cfg.coalesce, 0);
		load_ok(&cfg, "server", "coalesce", yes[i]);
		assert_int_equal(cfg.coalesce, 1);
	}
	for (i = 0; i < sizeof(no) / sizeof(no[0]); i++) {
		load_ok(&cfg, "server", "coalesce", no[i]);
		assert_int_equal(cfg.coalesce, 0);
	}
}

static void
shutdown_words(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, "server", "shutdown", "any");
	assert_int_equal(cfg.shutdown, SHUTDOWN_ANY);
	load_ok(&cfg, "server", "shutdown", "off");
	assert_int_equal(cfg.shutdown, SHUTDOWN_OFF);
	load_ok(&cfg, "server", "shutdown", "LOCAL");
	assert_int_equal(cfg.shutdown, SHUTDOWN_LOCAL);
}

static void
build_and_level_words(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, "index", "build", "never");
	assert_int_equal(cfg.build, BUILD_NEVER);
	load_ok(&cfg, "index", "build", "Auto");
	assert_int_equal(cfg.build, BUILD_AUTO);
	load_ok(&cfg, "log", "level", "error");
	assert_int_equal(cfg.log_level, LOG_ERROR);
	load_ok(&cfg, "log", "level", "warn");
	assert_int_equal(cfg.log_level, LOG_WARN);
	load_ok(&cfg, "log", "level", "info");
	assert_int_equal(cfg.log_level, LOG_INFO);
	load_ok(&cfg, "log", "level", "DEBUG");
	assert_int_equal(cfg.log_level, LOG_DEBUG);
}

static void
size_suffixes(void **state)
{
	struct config cfg;

	(void)state;
	load_ok(&cfg, "cache", "size", "64k");
	assert_true(cfg.cache_size == 65536);
	load_ok(&cfg, "cache", "size", "2m");
	assert_true(cfg.cache_size == 2097152);
	load_ok(&cfg, "cache", "size", "1G");
	assert_true(cfg.cache_size == 1073741824);
	load_ok(&cfg, "cache", "size", "1");
	assert_true(cfg.cache_size == 1);
	load_ok(&cfg, "server", "map_max", "0");
	assert_true(cfg.map_max == 0);
	load_ok(&cfg, "server", "map_max", "100G");
	assert_true(cfg.map_max == (uint64_t)100 << 30);
	load_ok(&cfg, "server", "max_output", "4K");
	assert_true(cfg.max_output == 4096);
	load_ok(&cfg, "server", "max_output", "1g");
	assert_true(cfg.max_output == 1073741824);
	load_ok(&cfg, "server", "max_output", "1024M");
	assert_true(cfg.max_output == 1073741824);
	load_ok(&cfg, "server", "max_output", "4096");
	assert_true(cfg.max_output == 4096);
}

static void
empty_user_and_path_mean_unset(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.user, sizeof(cfg.user), "%s", "daemon");
	snprintf(cfg.index_path, sizeof(cfg.index_path), "%s", "x.lidx");
	assert_int_equal(load(&cfg, "[server]\nuser =\n[index]\n"
	    "path =    ; default\n", err), 0);
	assert_string_equal(cfg.user, "");
	assert_string_equal(cfg.index_path, "");
}

static void
empty_required_strings(void **state)
{
	(void)state;
	expect_bad("server", "file", "", "must not be empty");
	expect_bad("server", "bind", "", "must not be empty");
	expect_bad("log", "file", "  ; stderr?", "must not be empty");
}

static void
empty_numbers_and_words(void **state)
{
	(void)state;
	expect_bad("server", "port", "", "missing value");
	expect_bad("cache", "size", "", "missing value");
	expect_bad("server", "coalesce", "", "missing value");
	expect_bad("log", "level", "", "missing value");
}

static void
unknown_section_with_key(void **state)
{
	(void)state;
	expect_error("[server]\nport = 1\n[cahce]\nsize = 1M\n", 3,
	    "[cahce]", "unknown section");
}

static void
unknown_section_without_keys(void **state)
{
	(void)state;
	expect_error("[server]\nport = 1\n\n[srever]\n", 4, "[srever]",
	    "unknown section");
}

static void
unknown_key(void **state)
{
	(void)state;
	expect_error("[server]\nport = 1\nprot = 2\n", 3, "[server] prot",
	    "unknown key");
	/* A real key in the wrong section is unknown there. */
	expect_error("[index]\nport = 2\n", 2, "[index] port", "unknown key");
}

static void
keys_are_lower_case(void **state)
{
	(void)state;
	expect_error("[server]\nPort = 2\n", 2, "[server] Port", "unknown key");
	expect_error("[Server]\nport = 2\n", 1, "[Server]", "unknown section");
}

static void
key_outside_section(void **state)
{
	(void)state;
	expect_error("port = 80\n[server]\n", 1, "port",
	    "key outside any [section]");
}

static void
port_message_exact(void **state)
{
	struct config cfg;
	char err[ERR_LEN], want[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "[server]\nfile = a\nbind = ::\n\n; x\n\n"
	    "port = 70000\n", err), -1);
	snprintf(want, sizeof(want), "%s:7: [server] port: '70000' is out of "
	    "range 0-65535", conf_path);
	assert_string_equal(err, want);
}

static void
port_range(void **state)
{
	(void)state;
	assert_int_equal(UINT_OF("server", "port", "0", port), 0);
	assert_int_equal(UINT_OF("server", "port", "65535", port), 65535);
	expect_range("server", "port", "65536", "0-65535");
}

static void
workers_range(void **state)
{
	(void)state;
	assert_int_equal(UINT_OF("server", "workers", "0", workers), 0);
	assert_int_equal(UINT_OF("server", "workers", "256", workers), 256);
	expect_range("server", "workers", "257", "0-256");
}

static void
backlog_range(void **state)
{
	(void)state;
	assert_int_equal(UINT_OF("server", "backlog", "1", backlog), 1);
	assert_int_equal(UINT_OF("server", "backlog", "65535", backlog), 65535);
	expect_range("server", "backlog", "0", "1-65535");
	expect_range("server", "backlog", "65536", "1-65535");
}

static void
max_connections_range(void **state)
{
	(void)state;
	assert_int_equal(UINT_OF("server", "max_connections", "1",
	    max_connections), 1);
	assert_int_equal(UINT_OF("server", "max_connections", "1000000",
	    max_connections), 1000000);
	expect_range("server", "max_connections", "0", "1-1000000");
	expect_range("server", "max_connections", "1000001", "1-1000000");
}

static void
timeouts_range(void **state)
{
	(void)state;
	assert_int_equal(UINT_OF("server", "idle_timeout", "0", idle_timeout),
	    0);
	assert_int_equal(UINT_OF("server", "idle_timeout", "86400",
	    idle_timeout), 86400);
	expect_range("server", "idle_timeout", "86401", "0-86400");
	assert_int_equal(UINT_OF("server", "drain_timeout", "0",
	    drain_timeout), 0);
	assert_int_equal(UINT_OF("server", "drain_timeout", "86400",
	    drain_timeout), 86400);
	expect_range("server", "drain_timeout", "86401", "0-86400");
}

static void
max_request_range(void **state)
{
	(void)state;
	assert_int_equal(UINT_OF("server", "max_request", "16", max_request),
	    16);
	assert_int_equal(UINT_OF("server", "max_request", "65536",
	    max_request), 65536);
	expect_range("server", "max_request", "15", "16-65536");
	expect_range("server", "max_request", "65537", "16-65536");
}

static void
max_output_range(void **state)
{
	(void)state;
	expect_range("server", "max_output", "4095", "4K-1G");
	expect_range("server", "max_output", "3K", "4K-1G");
	expect_range("server", "max_output", "1073741825", "4K-1G");
	expect_range("server", "max_output", "1025M", "4K-1G");
	expect_range("server", "max_output", "2G", "4K-1G");
	expect_range("server", "max_output", "0", "4K-1G");
}

static void
lines_per_page_range(void **state)
{
	(void)state;
	assert_int_equal(UINT_OF("index", "lines_per_page", "1",
	    lines_per_page), 1);
	assert_int_equal(UINT_OF("index", "lines_per_page", "1048576",
	    lines_per_page), 1048576);
	assert_int_equal(UINT_OF("index", "lines_per_page", "2",
	    lines_per_page), 2);
	expect_range("index", "lines_per_page", "0", "1-1048576");
	expect_range("index", "lines_per_page", "2097152", "1-1048576");
}

static void
lines_per_page_power_of_two(void **state)
{
	(void)state;
	expect_bad("index", "lines_per_page", "3000",
	    "'3000' is not a power of two");
	expect_bad("index", "lines_per_page", "3",
	    "'3' is not a power of two");
	expect_bad("index", "lines_per_page", "4097",
	    "'4097' is not a power of two");
	/* A count, not a size: no suffix. */
	expect_bad("index", "lines_per_page", "4K",
	    "'4K' is not a number (decimal digits only)");
}

static void
cache_size_zero(void **state)
{
	(void)state;
	expect_range("cache", "size", "0", "(must be at least 1)");
	expect_range("cache", "size", "0M", "(must be at least 1)");
}

static void
size_suffix_junk(void **state)
{
	static const char *const junk[] = { "12Q", "1KB", "K", "1.5G",
	    "4 K", "-1M", "0x100", "1T", "256MiB" };
	char what[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(what, sizeof(what), "'%s' is not a size (digits, then "
		    "optionally K, M or G)", junk[i]);
		expect_bad("cache", "size", junk[i], what);
		expect_bad("server", "max_output", junk[i], what);
	}
}

static void
size_overflow(void **state)
{
	(void)state;
	/* The digits fit in 64 bits, the bytes do not. */
	expect_range("cache", "size", "17179869184G", "(must be at least 1)");
	expect_range("cache", "size", "99999999999999999999999",
	    "(must be at least 1)");
	expect_range("server", "max_output", "18014398509481984K", "4K-1G");
}

static void
malformed_numbers(void **state)
{
	static const char *const junk[] = { "12x", "-1", "+5", "0x10", "1.5",
	    "1e3", "ten", "1 2" };
	char what[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(what, sizeof(what), "'%s' is not a number (decimal "
		    "digits only)", junk[i]);
		expect_bad("server", "port", junk[i], what);
		expect_bad("server", "workers", junk[i], what);
	}
}

static void
number_overflow(void **state)
{
	(void)state;
	expect_range("server", "port", "99999999999999999999999", "0-65535");
	expect_range("server", "max_connections", "18446744073709551616",
	    "1-1000000");
	/* Fits in 64 bits but not in the field: still only a range error. */
	expect_range("server", "port", "4294977793", "0-65535");
}

static void
bad_enum_words(void **state)
{
	(void)state;
	expect_bad("server", "shutdown", "everyone",
	    "'everyone' is not one of any, local, off");
	expect_bad("index", "build", "always",
	    "'always' is not one of auto, never");
	expect_bad("log", "level", "verbose",
	    "'verbose' is not one of error, warn, info, debug");
	expect_bad("log", "level", "warning",
	    "'warning' is not one of error, warn, info, debug");
}

static void
bad_booleans(void **state)
{
	static const char *const junk[] = { "maybe", "2", "yess", "y", "n",
	    "-1", "enabled" };
	char what[256];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
		snprintf(what, sizeof(what), "'%s' is not one of yes, no, true, "
		    "false, on, off, 1, 0", junk[i]);
		expect_bad("server", "coalesce", junk[i], what);
	}
}

static void
long_junk_is_cut_in_message(void **state)
{
	char value[300], what[256];

	(void)state;
	memset(value, 'x', sizeof(value) - 1);
	value[sizeof(value) - 1] = '\0';
	snprintf(what, sizeof(what), "'%.64s...' is not a number (decimal "
	    "digits only)", value);
	expect_bad("server", "port", value, what);
}

static void
syntax_error_without_equals(void **state)
{
	struct config cfg;
	char err[ERR_LEN], want[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "[server]\nport = 1\n\nworkers 4\n", err),
	    -1);
	snprintf(want, sizeof(want), "%s:4: syntax error", conf_path);
	assert_string_equal(err, want);
}

static void
syntax_error_unclosed_section(void **state)
{
	struct config cfg;
	char err[ERR_LEN], want[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "; x\n[server\nport = 1\n", err), -1);
	snprintf(want, sizeof(want), "%s:2: syntax error", conf_path);
	assert_string_equal(err, want);
}

static void
syntax_error_no_key(void **state)
{
	(void)state;
	expect_error("[server]\n= 5\n", 2, "syntax error (no key before '=')",
	    NULL);
}

static void
indented_line_is_not_a_continuation(void **state)
{
	(void)state;
	/* inih would glue it to bind as a second value if multiline were on. */
	expect_error("[server]\nbind = ::1\n   oops\n", 3, "syntax error", NULL);
}

static void
missing_file(void **state)
{
	struct config cfg;
	char err[ERR_LEN], want[ERR_LEN];
	const char *path = "/nonexistent/linesvr/none.ini";

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_load(&cfg, path, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "%s: %s", path, strerror(ENOENT));
	assert_string_equal(err, want);
}

static void
directory_is_unreadable(void **state)
{
	struct config cfg;
	char dir[64] = "/tmp/linesvr-confdir-XXXXXX";
	char err[ERR_LEN], want[ERR_LEN];

	(void)state;
	assert_non_null(mkdtemp(dir));
	config_defaults(&cfg);
	assert_int_equal(config_load(&cfg, dir, err, sizeof(err)), -1);
	rmdir(dir);
	snprintf(want, sizeof(want), "%s: %s", dir, strerror(EISDIR));
	assert_string_equal(err, want);
}

static void
strings_at_their_limit(void **state)
{
	static char text[2 * CONFIG_PATH_MAX];
	struct config cfg;
	char err[ERR_LEN];
	char user[256];
	char file[CONFIG_PATH_MAX];

	(void)state;
	memset(user, 'b', sizeof(user) - 1);
	user[sizeof(user) - 1] = '\0';
	memset(file, 'f', sizeof(file) - 1);
	file[sizeof(file) - 1] = '\0';
	snprintf(text, sizeof(text), "[server]\nuser = %s\n"
	    "file = %s    ; a comment after the longest path\n", user, file);
	config_defaults(&cfg);
	if (load(&cfg, text, err) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg.user, user);
	assert_string_equal(cfg.file, file);
}

static void
bind_takes_numeric_addresses(void **state)
{
	static const char *good[] = { "127.0.0.1", "0.0.0.0", "::", "::1",
	    "fe80::1", "192.168.1.10", NULL };
	struct config cfg;
	char text[256], err[ERR_LEN];

	(void)state;
	for (int i = 0; good[i] != NULL; i++) {
		snprintf(text, sizeof(text), "[server]\nbind = %s\n", good[i]);
		config_defaults(&cfg);
		if (load(&cfg, text, err) != 0)
			fail_msg("%s: %s", good[i], err);
		assert_string_equal(cfg.bind, good[i]);
	}
	expect_bad("server", "bind", "localhost",
	    "'localhost' is not an IPv4 or IPv6 address");
	expect_bad("server", "bind", "127.0.0.256",
	    "'127.0.0.256' is not an IPv4 or IPv6 address");
	expect_bad("server", "bind", "1.2.3",
	    "'1.2.3' is not an IPv4 or IPv6 address");
}

static void
strings_too_long(void **state)
{
	char value[CONFIG_PATH_MAX + 1];

	(void)state;
	memset(value, 'u', 256);
	value[256] = '\0';
	expect_bad("server", "bind", value,
	    "value is too long (256 bytes, at most 255)");
	expect_bad("server", "user", value,
	    "value is too long (256 bytes, at most 255)");
	memset(value, 'p', CONFIG_PATH_MAX);
	value[CONFIG_PATH_MAX] = '\0';
	expect_bad("server", "file", value,
	    "value is too long (4096 bytes, at most 4095)");
	expect_bad("index", "path", value,
	    "value is too long (4096 bytes, at most 4095)");
	expect_bad("log", "file", value,
	    "value is too long (4096 bytes, at most 4095)");
}

static void
line_too_long(void **state)
{
	static char text[3 * CONFIG_PATH_MAX];
	size_t n;

	(void)state;
	n = (size_t)snprintf(text, sizeof(text), "[server]\n; ");
	memset(text + n, 'c', sizeof(text) - n - 2);
	text[sizeof(text) - 2] = '\n';
	text[sizeof(text) - 1] = '\0';
	expect_error(text, 2, "line is longer than 8192 bytes", NULL);
}

static void
nul_byte_in_line(void **state)
{
	static const char text[] = "[server]\nport = 1\0 junk\nworkers = 1\n";
	struct config cfg;
	char err[ERR_LEN], want[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load_bytes(&cfg, text, sizeof(text) - 1, err), -1);
	snprintf(want, sizeof(want), "%s:2: NUL byte in line", conf_path);
	assert_string_equal(err, want);
}

static void
first_error_wins(void **state)
{
	(void)state;
	expect_error("[server]\nworkers = 1000\nport = 70000\n[nope]\n", 2,
	    "[server] workers", "'1000' is out of range 0-256");
}

static void
finish_requires_file(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	assert_string_equal(err, "no file to serve: set [server] file or "
	    "give FILE");
	snprintf(cfg.file, sizeof(cfg.file), "%s", "data/sample.txt");
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
}

static void
finish_cache_holds_one_page(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.file, sizeof(cfg.file), "%s", "f");
	/* lines_per_page 4096, line checksums: a 32,776-byte page body,
	 * plus the cache's own bookkeeping for it. */
	uint64_t one = cache_min_capacity(8 + 8 * 4096);
	char want[200];
	assert_true(one > 32776 && one < 32776 + 8192);
	cfg.cache_size = one;
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	cfg.cache_size = one - 1;
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	snprintf(want, sizeof(want), "[cache] size: %llu bytes is less than "
	    "one index page (%llu bytes with lines_per_page = 4096)",
	    (unsigned long long)one - 1, (unsigned long long)one);
	assert_string_equal(err, want);
	/* Without line checksums a page is half as large. */
	cfg.line_checksums = 0;
	cfg.cache_size = cache_min_capacity(8 + 4 * 4096);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	cfg.lines_per_page = 1;
	cfg.line_checksums = 1;
	cfg.cache_size = cache_min_capacity(16);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	cfg.cache_size--;
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
}

/* Load text, then config_finish: its result; the message in err. */
static int
load_finish(struct config *cfg, const char *text, char *err)
{
	config_defaults(cfg);
	if (load(cfg, text, err) != 0)
		fail_msg("%s", err);
	return config_finish(cfg, err, ERR_LEN);
}

/*
 * [cache] size = 20K holds one page of 4096 lines without line checksums:
 * a compact page body is 8 + 4 * 4096 = 16,392 bytes, 16,832 with the
 * cache's bookkeeping (4 KiB memory pages), well under the wide
 * (4096 + 1) * 8 = 32,776. With line checksums the body is 32,776 bytes
 * and 20K is refused.
 */
static void
finish_cache_20k_holds_compact_page(void **state)
{
	static const char head[] = "[server]\nfile = x\n[index]\n"
	    "lines_per_page = 4096\nline_checksums = %s\n[cache]\n"
	    "size = %s\n";
	uint64_t one = cache_min_capacity(8 + 4 * 4096);
	struct config cfg;
	char text[256], size[32], err[ERR_LEN], want[256];

	(void)state;
	assert_true(one > 16392 && one <= 20 * 1024);
	snprintf(text, sizeof(text), head, "no", "20K");
	assert_int_equal(load_finish(&cfg, text, err), 0);
	assert_true(cfg.cache_size == 20 * 1024 && cfg.line_checksums == 0);
	/* The least size that holds the page, and one byte less. */
	snprintf(size, sizeof(size), "%llu", (unsigned long long)one);
	snprintf(text, sizeof(text), head, "no", size);
	assert_int_equal(load_finish(&cfg, text, err), 0);
	snprintf(size, sizeof(size), "%llu", (unsigned long long)one - 1);
	snprintf(text, sizeof(text), head, "no", size);
	assert_int_equal(load_finish(&cfg, text, err), -1);
	snprintf(want, sizeof(want), "[cache] size: %llu bytes is less than "
	    "one index page (%llu bytes with lines_per_page = 4096)",
	    (unsigned long long)one - 1, (unsigned long long)one);
	assert_string_equal(err, want);
	/* With line checksums: twice the body, more than 20K. */
	snprintf(text, sizeof(text), head, "yes", "20K");
	assert_int_equal(load_finish(&cfg, text, err), -1);
	snprintf(want, sizeof(want), "[cache] size: 20480 bytes is less than "
	    "one index page (%llu bytes with lines_per_page = 4096)",
	    (unsigned long long)cache_min_capacity(8 + 8 * 4096));
	assert_string_equal(err, want);
}

static void
finish_cache_from_file(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "[server]\nfile = x\n[index]\n"
	    "lines_per_page = 1048576\n[cache]\nsize = 8M\n", err), 0);
	/* One page of 2^20 lines is 8 MiB + 8 bytes, and bookkeeping. */
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "[cache] size"));
	cfg.cache_size = cache_min_capacity(((size_t)1 << 23) + 8);
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
}

static void
finish_rejects_bad_lines_per_page(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	snprintf(cfg.file, sizeof(cfg.file), "%s", "f");
	cfg.lines_per_page = 0; /* unset */
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), 0);
	cfg.lines_per_page = 3;
	assert_int_equal(config_finish(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lines_per_page"));
}

/* lines_per_page = (empty) is unset: the existing index's own value. */
static void
empty_lines_per_page_is_unset(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "[index]\nlines_per_page = 64\n", err), 0);
	assert_int_equal(cfg.lines_per_page, 64);
	assert_int_equal(load(&cfg, "[index]\nlines_per_page =\n", err), 0);
	assert_int_equal(cfg.lines_per_page, 0);
}

/* config_set_option of opt over the defaults: its result and message. */
static int
set_opt(struct config *cfg, const char *opt, char *err)
{
	config_defaults(cfg);
	err[0] = '\0';
	return config_set_option(cfg, opt, err, ERR_LEN);
}

static void
option_sets_every_kind(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	assert_int_equal(set_opt(&cfg, "cache.size=1G", err), 0);
	assert_true(cfg.cache_size == (uint64_t)1 << 30);
	assert_int_equal(set_opt(&cfg, "index.lines_per_page=1024", err), 0);
	assert_int_equal(cfg.lines_per_page, 1024);
	assert_int_equal(set_opt(&cfg, "index.lines_per_page=", err), 0);
	assert_int_equal(cfg.lines_per_page, 0);
	assert_int_equal(set_opt(&cfg, "server.bind=::1", err), 0);
	assert_string_equal(cfg.bind, "::1");
	assert_int_equal(set_opt(&cfg, "log.level=DEBUG", err), 0);
	assert_int_equal(cfg.log_level, LOG_DEBUG);
	assert_int_equal(set_opt(&cfg, "index.line_checksums=no", err), 0);
	assert_int_equal(cfg.line_checksums, 0);
	/* Only the first '=' separates: the value may hold more. */
	assert_int_equal(set_opt(&cfg, "server.file=a=b.txt", err), 0);
	assert_string_equal(cfg.file, "a=b.txt");
	assert_int_equal(set_opt(&cfg, "index.path=", err), 0);
	assert_string_equal(cfg.index_path, "");
}

/* A refused option: -1, the message, and the config as it was. */
static void
expect_option_error(const char *opt, const char *msg)
{
	struct config cfg, def;
	char err[ERR_LEN];

	config_defaults(&def);
	assert_int_equal(set_opt(&cfg, opt, err), -1);
	if (strcmp(err, msg) != 0)
		fail_msg("-o %s: got \"%s\", want \"%s\"", opt, err, msg);
	assert_config_equal(&cfg, &def);
}

static void
option_errors_say_what(void **state)
{
	(void)state;
	expect_option_error("cache.size=abc", "[cache] size: 'abc' is not a "
	    "size (digits, then optionally K, M or G)");
	expect_option_error("server.port=70000", "[server] port: '70000' is "
	    "out of range 0-65535");
	expect_option_error("server.port=", "[server] port: missing value");
	expect_option_error("index.lines_per_page=3", "[index] lines_per_page: "
	    "'3' is not a power of two");
	expect_option_error("server.bind=localhost", "[server] bind: "
	    "'localhost' is not an IPv4 or IPv6 address");
	expect_option_error("server.file=", "[server] file: must not be empty");
	expect_option_error("server.nope=1", "[server] nope: unknown key");
	expect_option_error("Server.port=1", "[Server] port: unknown section");
	expect_option_error("cahce.size=1M", "[cahce] size: unknown section");
	expect_option_error("server.port 1", "not SECTION.KEY=VALUE");
	expect_option_error("port=1", "not SECTION.KEY=VALUE");
	expect_option_error(".port=1", "not SECTION.KEY=VALUE");
	expect_option_error("server.=1", "not SECTION.KEY=VALUE");
	expect_option_error("=1", "not SECTION.KEY=VALUE");
	expect_option_error("", "not SECTION.KEY=VALUE");
}

/* A name longer than any key is cut in the message, and unknown. */
static void
option_long_name(void **state)
{
	char opt[600], err[ERR_LEN];
	struct config cfg;

	(void)state;
	memset(opt, 'k', sizeof(opt));
	memcpy(opt, "server.", 7);
	snprintf(opt + 500, sizeof(opt) - 500, "=1");
	assert_int_equal(set_opt(&cfg, opt, err), -1);
	assert_non_null(strstr(err, "unknown key"));
	assert_int_equal(strncmp(err, "[server] kkk", 12), 0);
}

/* config_set names the key as the file's messages do. */
static void
set_one_key(void **state)
{
	struct config cfg;
	char err[ERR_LEN];

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(config_set(&cfg, "server", "workers", "3", err,
	    sizeof(err)), 0);
	assert_int_equal(cfg.workers, 3);
	assert_int_equal(config_set(&cfg, "server", "workers", "x", err,
	    sizeof(err)), -1);
	assert_string_equal(err, "[server] workers: 'x' is not a number "
	    "(decimal digits only)");
	assert_int_equal(cfg.workers, 3);
}

static void
names(void **state)
{
	(void)state;
	assert_string_equal(config_shutdown_name(SHUTDOWN_ANY), "any");
	assert_string_equal(config_shutdown_name(SHUTDOWN_LOCAL), "local");
	assert_string_equal(config_shutdown_name(SHUTDOWN_OFF), "off");
	assert_string_equal(config_level_name(LOG_ERROR), "error");
	assert_string_equal(config_level_name(LOG_WARN), "warn");
	assert_string_equal(config_level_name(LOG_INFO), "info");
	assert_string_equal(config_level_name(LOG_DEBUG), "debug");
}

static void
inih_knobs_restored(void **state)
{
	struct config cfg;
	char err[ERR_LEN];
	int max_line = ini_max_line;
	bool multiline = ini_allow_multiline;
	char *prefixes = ini_start_comment_prefixes;

	(void)state;
	config_defaults(&cfg);
	assert_int_equal(load(&cfg, "[server]\nport = 5\n", err), 0);
	assert_int_equal(load(&cfg, "[server]\nport = x\n", err), -1);
	assert_int_equal(ini_max_line, max_line);
	assert_int_equal(ini_allow_multiline, multiline);
	assert_ptr_equal(ini_start_comment_prefixes, prefixes);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(defaults_match_spec),
		cmocka_unit_test(shipped_conf_loads),
		cmocka_unit_test(every_key_read_back),
		cmocka_unit_test(absent_keys_keep_their_value),
		cmocka_unit_test(empty_file_is_fine),
		cmocka_unit_test(comments_blanks_and_crlf),
		cmocka_unit_test(no_comment_glued_to_value),
		cmocka_unit_test(duplicate_key_last_wins),
		cmocka_unit_test(failed_load_leaves_cfg_alone),
		cmocka_unit_test(booleans),
		cmocka_unit_test(shutdown_words),
		cmocka_unit_test(build_and_level_words),
		cmocka_unit_test(size_suffixes),
		cmocka_unit_test(empty_user_and_path_mean_unset),
		cmocka_unit_test(empty_required_strings),
		cmocka_unit_test(empty_numbers_and_words),
		cmocka_unit_test(unknown_section_with_key),
		cmocka_unit_test(unknown_section_without_keys),
		cmocka_unit_test(unknown_key),
		cmocka_unit_test(keys_are_lower_case),
		cmocka_unit_test(key_outside_section),
		cmocka_unit_test(port_message_exact),
		cmocka_unit_test(port_range),
		cmocka_unit_test(workers_range),
		cmocka_unit_test(backlog_range),
		cmocka_unit_test(max_connections_range),
		cmocka_unit_test(timeouts_range),
		cmocka_unit_test(max_request_range),
		cmocka_unit_test(max_output_range),
		cmocka_unit_test(lines_per_page_range),
		cmocka_unit_test(lines_per_page_power_of_two),
		cmocka_unit_test(cache_size_zero),
		cmocka_unit_test(size_suffix_junk),
		cmocka_unit_test(size_overflow),
		cmocka_unit_test(malformed_numbers),
		cmocka_unit_test(number_overflow),
		cmocka_unit_test(bad_enum_words),
		cmocka_unit_test(bad_booleans),
		cmocka_unit_test(long_junk_is_cut_in_message),
		cmocka_unit_test(syntax_error_without_equals),
		cmocka_unit_test(syntax_error_unclosed_section),
		cmocka_unit_test(syntax_error_no_key),
		cmocka_unit_test(indented_line_is_not_a_continuation),
		cmocka_unit_test(missing_file),
		cmocka_unit_test(directory_is_unreadable),
		cmocka_unit_test(strings_at_their_limit),
		cmocka_unit_test(bind_takes_numeric_addresses),
		cmocka_unit_test(strings_too_long),
		cmocka_unit_test(line_too_long),
		cmocka_unit_test(nul_byte_in_line),
		cmocka_unit_test(first_error_wins),
		cmocka_unit_test(finish_requires_file),
		cmocka_unit_test(finish_cache_holds_one_page),
		cmocka_unit_test(finish_cache_20k_holds_compact_page),
		cmocka_unit_test(finish_cache_from_file),
		cmocka_unit_test(finish_rejects_bad_lines_per_page),
		cmocka_unit_test(empty_lines_per_page_is_unset),
		cmocka_unit_test(option_sets_every_kind),
		cmocka_unit_test(option_errors_say_what),
		cmocka_unit_test(option_long_name),
		cmocka_unit_test(set_one_key),
		cmocka_unit_test(names),
		cmocka_unit_test(inih_knobs_restored),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
