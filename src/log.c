/*
 * log: each message is formatted into one buffer and written with a single
 * write(2) to an O_APPEND descriptor, so lines from several threads never
 * interleave. A mutex guards only the descriptor swap of log_reopen().
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static int log_fd = STDERR_FILENO;
static enum log_level log_level = LOG_INFO;
static char log_path[CONFIG_PATH_MAX] = "-";
static int log_journal;  /* stderr is the journal: <N> prefixes */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/*
 * systemd connects stderr to the journal and says so in JOURNAL_STREAM,
 * "DEVICE:INODE" of that stream (sd_journal_stream_fd(3)). A process that
 * inherited the variable with its stderr sent elsewhere must not take it
 * for the journal: the stream must be the one named.
 */
static int
stderr_is_journal(void)
{
	const char *v = getenv("JOURNAL_STREAM");
	unsigned long long dev, ino;
	struct stat sb;
	char end;

	if (v == NULL || sscanf(v, "%llu:%llu%c", &dev, &ino, &end) != 2 ||
	    fstat(STDERR_FILENO, &sb) < 0)
		return 0;
	return (unsigned long long)sb.st_dev == dev &&
	    (unsigned long long)sb.st_ino == ino;
}

static int
open_path(const char *path)
{
	return open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int
log_open(const char *path, enum log_level level, char *err, size_t errlen)
{
	int fd = STDERR_FILENO;

	if (strcmp(path, "-") != 0 && (fd = open_path(path)) < 0) {
		snprintf(err, errlen, "log file %s: %s", path, strerror(errno));
		return -1;
	}
	pthread_mutex_lock(&log_lock);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = fd;
	log_level = level;
	log_journal = fd == STDERR_FILENO && stderr_is_journal();
	snprintf(log_path, sizeof(log_path), "%s", path);
	pthread_mutex_unlock(&log_lock);
	return 0;
}

int
log_reopen(char *err, size_t errlen)
{
	int fd, rc = 0;

	pthread_mutex_lock(&log_lock);
	if (strcmp(log_path, "-") != 0) {
		if ((fd = open_path(log_path)) >= 0) {
			close(log_fd);
			log_fd = fd;
		} else {
			/* Keep writing to the old file. */
			snprintf(err, errlen, "%s: %s", log_path,
			    strerror(errno));
			rc = -1;
		}
	}
	pthread_mutex_unlock(&log_lock);
	return rc;
}

/* A directory that lost its file to a rotation must take a new one. */
int
log_reopen_check(char *why, size_t whylen)
{
	const char *slash = strrchr(log_path, '/');
	char dir[CONFIG_PATH_MAX];

	if (strcmp(log_path, "-") == 0)
		return 0;
	if (faccessat(AT_FDCWD, log_path, W_OK, AT_EACCESS) < 0) {
		snprintf(why, whylen, "cannot write %s (%s)", log_path,
		    strerror(errno));
		return -1;
	}
	snprintf(dir, sizeof(dir), "%.*s", slash == NULL ? 1 :
	    slash == log_path ? 1 : (int)(slash - log_path),
	    slash == NULL ? "." : log_path);
	if (faccessat(AT_FDCWD, dir, W_OK | X_OK, AT_EACCESS) < 0) {
		snprintf(why, whylen, "cannot create files in %s (%s), so "
		    "after a rotation that moves %s away only a new file made "
		    "writable for it (logrotate's create) can be reopened",
		    dir, strerror(errno), log_path);
		return -1;
	}
	return 0;
}

int
log_enabled(enum log_level level)
{
	return level <= log_level;
}

void
log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_fd != STDERR_FILENO)
		close(log_fd);
	log_fd = STDERR_FILENO;
	pthread_mutex_unlock(&log_lock);
}

static void
log_write(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));

static void
log_write(enum log_level level, const char *fmt, va_list ap)
{
	static const char *names[] = { "error", "warn", "info", "debug" };
	/* sd-daemon(3) priorities: LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG */
	static const int journal_prio[] = { 3, 4, 6, 7 };
	char buf[1024];
	struct timeval tv;
	struct tm tm;
	size_t n;
	int r;

	if (log_journal) {
		/* The journal stamps each line with the time and the pid. */
		n = (size_t)snprintf(buf, sizeof(buf), "<%d>%s: ",
		    journal_prio[level], names[level]);
	} else {
		gettimeofday(&tv, NULL);
		gmtime_r(&tv.tv_sec, &tm);
		n = strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S", &tm);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n,
		    ".%03ldZ linesvr[%ld] %s: ", (long)tv.tv_usec / 1000,
		    (long)getpid(), names[level]);
	}
	r = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
	n = r < 0 ? n : n + (size_t)r;
	if (n > sizeof(buf) - 2)
		n = sizeof(buf) - 2; /* truncated message: still one line */
	buf[n++] = '\n';
	pthread_mutex_lock(&log_lock);
	if (write(log_fd, buf, n) < 0) {
		/* Nowhere left to report it. */
	}
	pthread_mutex_unlock(&log_lock);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_write(level, fmt, ap);
	va_end(ap);
}

void
log_always(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_write(LOG_INFO, fmt, ap);
	va_end(ap);
}

void
log_startup_error(const char *fmt, ...)
{
	char msg[900];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	log_msg(LOG_ERROR, "%s", msg);
	if (log_fd != STDERR_FILENO)
		fprintf(stderr, "linesvr: %s\n", msg);
}

void
log_limited(struct log_limit *l, enum log_level level, const char *fmt, ...)
{
	char msg[900];
	struct timespec ts;
	unsigned long long skipped;
	long long next;
	va_list ap;

	if (level > log_level)
		return;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	next = atomic_load(&l->next_s);
	/* One thread per interval wins the exchange and writes the line. */
	if ((long long)ts.tv_sec < next || !atomic_compare_exchange_strong(
	    &l->next_s, &next, (long long)ts.tv_sec + LOG_LIMIT_S)) {
		atomic_fetch_add(&l->skipped, 1);
		return;
	}
	skipped = atomic_exchange(&l->skipped, 0);
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (skipped > 0)
		log_msg(level, "%s (and %llu more like it in the last %d s)",
		    msg, skipped, LOG_LIMIT_S);
	else
		log_msg(level, "%s", msg);
}
