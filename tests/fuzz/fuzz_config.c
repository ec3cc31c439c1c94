/*
 * fuzz_config: the config reader (src/config.c over inih) on any bytes.
 *
 * config_load reads a path, so each input becomes the content of an
 * in-memory file opened through /proc/self/fd. It must never crash, and
 * must either load (every value then within SPEC.md section 4's ranges)
 * or fail with one message that names the file, leaving the config it
 * was given untouched. A loaded config then goes through config_finish,
 * which must answer too. The same bytes, as a string, are also given to
 * config_set_option (linesvr -o SECTION.KEY=VALUE), which must set a
 * valid value or fail with one message and leave the config alone.
 */
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "fuzz.h"

static int memfd = -1;
static char mempath[64];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memfd = fuzz_memfile("linesvr.ini", mempath, sizeof(mempath));
	FUZZ_CHECK(memfd >= 0);
	return 0;
}

static int
is_pow2(uint64_t v)
{
	return v != 0 && (v & (v - 1)) == 0;
}

/* A string field is NUL-terminated inside its buffer. */
#define TERMINATED(f) (memchr((f), '\0', sizeof(f)) != NULL)

static void
check_loaded(const struct config *c)
{
	FUZZ_CHECK(TERMINATED(c->file));
	FUZZ_CHECK(TERMINATED(c->bind));
	FUZZ_CHECK(TERMINATED(c->user));
	FUZZ_CHECK(TERMINATED(c->index_path));
	FUZZ_CHECK(TERMINATED(c->log_file));
	FUZZ_CHECK(c->bind[0] != '\0' && config_valid_address(c->bind));
	FUZZ_CHECK(c->log_file[0] != '\0');
	FUZZ_CHECK(c->port <= 65535);
	FUZZ_CHECK(c->workers <= 256);
	FUZZ_CHECK(c->backlog >= 1 && c->backlog <= 65535);
	FUZZ_CHECK(c->max_connections >= 1 && c->max_connections <= 1000000);
	FUZZ_CHECK(c->idle_timeout <= 86400);
	FUZZ_CHECK(c->drain_timeout <= 86400);
	FUZZ_CHECK(c->max_request >= 16 && c->max_request <= 65536);
	FUZZ_CHECK(c->max_output >= 4096 && c->max_output <= (1u << 30));
	FUZZ_CHECK(c->shutdown == SHUTDOWN_ANY ||
	    c->shutdown == SHUTDOWN_LOCAL || c->shutdown == SHUTDOWN_OFF);
	FUZZ_CHECK(c->build == BUILD_AUTO || c->build == BUILD_NEVER);
	FUZZ_CHECK(c->log_level == LOG_ERROR || c->log_level == LOG_WARN ||
	    c->log_level == LOG_INFO || c->log_level == LOG_DEBUG);
	FUZZ_CHECK(c->coalesce == 0 || c->coalesce == 1);
	FUZZ_CHECK(c->lines_per_page == 0 || /* unset */
	    (is_pow2(c->lines_per_page) && c->lines_per_page <= 1048576));
	FUZZ_CHECK(c->cache_size >= 1);
}

/* One message, NUL-terminated in err, naming the file first. */
static void
check_message(const char *err, size_t errlen)
{
	size_t n = strlen(mempath);

	FUZZ_CHECK(memchr(err, '\0', errlen) != NULL);
	FUZZ_CHECK(err[0] != '\0');
	FUZZ_CHECK(strncmp(err, mempath, n) == 0 &&
	    (err[n] == ':' || err[n] == '\0'));
	FUZZ_CHECK(strchr(err, '\n') == NULL);
}

/* The input up to its first NUL (or the whole of it) as one -o option. */
static void
fuzz_option(const uint8_t *data, size_t size)
{
	static struct config cfg, before;
	static char opt[8192];
	char err[512];
	size_t n = size < sizeof(opt) - 1 ? size : sizeof(opt) - 1;
	int rc;

	memcpy(opt, data, n);
	opt[n] = '\0';
	config_defaults(&cfg);
	memcpy(&before, &cfg, sizeof(before));
	memset(err, 0x5a, sizeof(err));
	rc = config_set_option(&cfg, opt, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == 0) {
		check_loaded(&cfg);
		return;
	}
	FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL && err[0] != '\0');
	FUZZ_CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct config cfg, before;
	char err[512];
	int rc;

	fuzz_option(data, size);
	FUZZ_CHECK(fuzz_memfile_set(memfd, data, size) == 0);
	config_defaults(&cfg);
	memcpy(&before, &cfg, sizeof(before));
	memset(err, 0x5a, sizeof(err));
	rc = config_load(&cfg, mempath, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		check_message(err, sizeof(err));
		FUZZ_CHECK(memcmp(&cfg, &before, sizeof(cfg)) == 0);
		return 0;
	}
	check_loaded(&cfg);
	memset(err, 0x5a, sizeof(err));
	rc = config_finish(&cfg, err, sizeof(err));
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rc == -1) {
		FUZZ_CHECK(memchr(err, '\0', sizeof(err)) != NULL);
		FUZZ_CHECK(err[0] != '\0');
	}
	return 0;
}
