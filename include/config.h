/*
 * config: every tunable of the server, with its unit, the reader of
 * linesvr.ini (inih) and the setter of one key (-o SECTION.KEY=VALUE).
 * Keys map one to one onto struct config fields; SPEC.md section 4 is
 * the reference for names, defaults and ranges.
 */
#ifndef LINESVR_CONFIG_H
#define LINESVR_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define CONFIG_PATH_MAX 4096
#define CONFIG_WORKERS_MAX 256         /* event-loop threads at most */

enum shutdown_policy { SHUTDOWN_ANY, SHUTDOWN_LOCAL, SHUTDOWN_OFF };
enum build_policy { BUILD_AUTO, BUILD_NEVER };
enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct config {
	/* [server] */
	char file[CONFIG_PATH_MAX];     /* text file to serve; "" = unset */
	char bind[256];                 /* listen address, default 127.0.0.1 */
	unsigned port;                  /* 0-65535, 0 = any free port; 10497 */
	unsigned workers;               /* event-loop threads, 0 = one per CPU */
	unsigned backlog;               /* listen(2) backlog, 1-65535; 1024 */
	unsigned max_connections;       /* 1-1,000,000; 10000 */
	unsigned idle_timeout;          /* seconds, 0 = never; 300 */
	unsigned max_request;           /* bytes per request line, 16-65536; 1024 */
	uint64_t max_output;            /* bytes owed to a client, 4K-1G; 1M */
	enum shutdown_policy shutdown;  /* who may SHUTDOWN; local */
	unsigned drain_timeout;         /* seconds, 0-86400; 5 */
	char user[256];                 /* drop privileges to it; "" = stay */
	int coalesce;                   /* 1: batch answers into few writes */
	uint64_t map_max;               /* bytes: larger files are read with
	                                   pread, not mapped; half of RAM */

	/* [index] */
	char index_path[CONFIG_PATH_MAX]; /* "" = FILE.lidx */
	unsigned lines_per_page;        /* power of two, 1-1,048,576; 0 =
	                                   unset: the existing index's own,
	                                   INDEX_M_DEFAULT for a new one */
	enum build_policy build;        /* auto */
	int line_checksums;             /* 1: a CRC-32C of every line, checked
	                                   before it is sent; yes */

	/* [cache] */
	uint64_t cache_size;            /* bytes of index pages; 256M */

	/* [log] */
	enum log_level log_level;       /* info */
	char log_file[CONFIG_PATH_MAX]; /* "-" = stderr */
};

/* Fill cfg with the defaults of SPEC.md section 4 (file unset). */
void config_defaults(struct config *cfg);

/*
 * Read path over cfg (keys not in the file keep their value). On error
 * returns -1 and writes one message naming the file, the line and the
 * section or key into err. Does not check that [server] file is set:
 * command-line arguments may still supply it (see config_finish).
 */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);

/*
 * Set one key from the command line, through the same table and checks as
 * the file: 0, or -1 with "[SECTION] KEY: WHAT" in err. On error *cfg is
 * unchanged.
 */
int config_set(struct config *cfg, const char *section, const char *key,
    const char *value, char *err, size_t errlen);

/* config_set from "SECTION.KEY=VALUE" (linesvr -o). */
int config_set_option(struct config *cfg, const char *option, char *err,
    size_t errlen);

/*
 * Checks that need the whole picture, after the command line is applied:
 * file set, cache.size at least one page. 0 or -1 with a message in err.
 */
int config_finish(const struct config *cfg, char *err, size_t errlen);

/* A numeric IPv4 or IPv6 address (names are not resolved)? */
int config_valid_address(const char *value);

/*
 * The index file's path: [index] path, or the default beside the text
 * (FILE.lidx). 0, or -1 if it does not fit in outlen bytes.
 */
int config_index_path(const struct config *cfg, char *out, size_t outlen);

/* Names for messages and STATS ("local", "auto", "info", ...). */
const char *config_shutdown_name(enum shutdown_policy p);
const char *config_level_name(enum log_level l);

/* The default map_max: half of the machine's memory (4G if unknown). */
uint64_t config_default_map_max(void);

#endif
