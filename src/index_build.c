/*
 * index_build.c: index_build and index_build_cancel. One pass over the
 * text, mapped: two scanner threads find the lines of alternate windows
 * of it and hash them (index_scan.c), the build fills pages from their
 * line ends in window order and encodes them (index_format.c), and a
 * writer thread checksums and writes them to a temporary file, which is
 * committed atomically (fsync, rename, fsync of the directory). A compact
 * pass that meets a page spanning 4 GiB or more starts again with wide
 * pages. Temporary files that dead builds left are removed first.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index_format.h"
#include "io.h"
#include "rng.h"

#define OUT_CHUNK       (4u << 20) /* index bytes written per call */

/* Set from a signal handler; polled between chunks and pages. */
volatile sig_atomic_t index_cancelled;

/*
 * A random build_id: getrandom(2), or when that fails (old kernel,
 * seccomp), the time and pid mixed (splitmix64), still distinct per build.
 */
static uint64_t
new_build_id(void)
{
	struct timespec ts;
	uint64_t v;

	if (getrandom(&v, sizeof(v), GRND_NONBLOCK) == (ssize_t)sizeof(v))
		return v;
	clock_gettime(CLOCK_REALTIME, &ts);
	v = (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
	v ^= (uint64_t)getpid() << 32;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	v ^= (uint64_t)ts.tv_nsec * 0x9E3779B97F4A7C15ull;
	return splitmix64(&v);
}

/* ---- the writer thread ---- */

/*
 * The build fills one output buffer while a writer thread checksums and
 * writes the other, so the disk works while the text is scanned.
 */
struct builder {
	int out_fd;
	struct index_header lay; /* m, flags, page_bytes, page_seed */
	int need_wide;           /* a compact page could not hold a span */
	uint64_t page_bytes;
	unsigned char *buf[2];
	int cur;                 /* the buffer the scan fills */
	size_t out_len;          /* bytes in buf[cur] */
	uint64_t first_page;     /* number of buf[cur]'s first page */
	pthread_t thread;
	int running;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	unsigned char *job;      /* handed to the writer; NULL when idle */
	size_t job_len;
	uint64_t job_page;
	int stop;
	uint64_t written;        /* file offset of the next write */
	int failed_errno;        /* the writer's first error */
};

/* Fill in each page's trailer: its seeded CRC, then zero. */
static void
seal_pages(const struct builder *b, unsigned char *p, size_t len,
    uint64_t page)
{
	size_t nbytes = (size_t)b->page_bytes - 8;

	for (size_t off = 0; off < len; off += b->page_bytes, page++) {
		put_le32(p + off + nbytes, index_page_crc(b->lay.page_seed,
		    page, p + off, nbytes));
		put_le32(p + off + nbytes + 4, 0);
	}
}

static int
write_job(struct builder *b, unsigned char *p, size_t len, uint64_t page)
{
	seal_pages(b, p, len, page);
	if (io_write_full(b->out_fd, p, len) < 0)
		return -1;
	/* Linux: start writing back now, so the final fsync has little left
	 * to wait for. */
	sync_file_range(b->out_fd, (off_t)b->written, (off_t)len,
	    SYNC_FILE_RANGE_WRITE);
	b->written += len;
	return 0;
}

static void *
writer_main(void *arg)
{
	struct builder *b = arg;

	pthread_mutex_lock(&b->lock);
	for (;;) {
		while (b->job == NULL && !b->stop)
			pthread_cond_wait(&b->cond, &b->lock);
		if (b->job == NULL)
			break;
		pthread_mutex_unlock(&b->lock);
		int rc = b->failed_errno ? 0 :
		    write_job(b, b->job, b->job_len, b->job_page);
		int e = errno;
		pthread_mutex_lock(&b->lock);
		if (rc < 0 && b->failed_errno == 0)
			b->failed_errno = e;
		b->job = NULL;
		pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

static int
builder_start(struct builder *b, int fd, const struct index_header *lay)
{
	memset(b, 0, sizeof(*b));
	b->written = INDEX_HEADER_SIZE;
	b->out_fd = fd;
	b->lay = *lay;
	b->page_bytes = lay->page_bytes;
	for (int i = 0; i < 2; i++)
		if ((b->buf[i] = malloc(OUT_CHUNK > b->page_bytes ? OUT_CHUNK :
		    b->page_bytes)) == NULL)
			return -1;
	pthread_mutex_init(&b->lock, NULL);
	pthread_cond_init(&b->cond, NULL);
	if (pthread_create(&b->thread, NULL, writer_main, b) != 0)
		return -1;
	b->running = 1;
	return 0;
}

/* Give the filled buffer to the writer (waiting for it to be free). */
static int
builder_handoff(struct builder *b)
{
	int failed;

	pthread_mutex_lock(&b->lock);
	while (b->job != NULL)
		pthread_cond_wait(&b->cond, &b->lock);
	failed = b->failed_errno;
	if (!failed && b->out_len > 0) {
		b->job = b->buf[b->cur];
		b->job_len = b->out_len;
		b->job_page = b->first_page;
		pthread_cond_broadcast(&b->cond);
	}
	pthread_mutex_unlock(&b->lock);
	if (failed)
		return -1;
	b->first_page += b->out_len / b->page_bytes;
	b->out_len = 0;
	b->cur ^= 1;
	return 0;
}

/* Write what is left and stop the writer; 0, or -1 with failed_errno. */
static int
builder_finish(struct builder *b)
{
	int rc = b->running ? builder_handoff(b) : 0;

	if (b->running) {
		pthread_mutex_lock(&b->lock);
		b->stop = 1;
		pthread_cond_broadcast(&b->cond);
		pthread_mutex_unlock(&b->lock);
		pthread_join(b->thread, NULL);
		pthread_mutex_destroy(&b->lock);
		pthread_cond_destroy(&b->cond);
		b->running = 0;
	}
	free(b->buf[0]);
	free(b->buf[1]);
	b->buf[0] = b->buf[1] = NULL;
	return rc < 0 || b->failed_errno ? -1 : 0;
}

/* The scan's emit: encode a complete page into the buffer being filled. */
static int
builder_emit(struct pagefill *pf)
{
	struct builder *b = pf->ctx;

	if (b->out_len + b->page_bytes > OUT_CHUNK && b->out_len > 0 &&
	    builder_handoff(b) < 0)
		return 1;
	if (index_encode_body(&b->lay, pf->offs, pf->crcs,
	    b->buf[b->cur] + b->out_len) < 0) {
		b->need_wide = 1;
		return 1;
	}
	b->out_len += b->page_bytes;
	return 0;
}

/* ---- passes and the commit ---- */

struct build_job {
	const char *text_path;
	const char *tmp;          /* the temporary index file */
	int text_fd;
	struct stat st;
	struct index_header lay;  /* what is known at the start: identity,
	                             m, flags, page_bytes, page_seed */
	struct pagefill pf;
	int no_final_lf;          /* the scan found the text ends in no LF */
	struct builder b;
	index_progress_fn progress;
	void *progress_arg;
};

static enum index_status
write_failed(const struct build_job *j, char *err, size_t errlen)
{
	return index_fail(INDEX_ERR_IO, err, errlen, "%s: %s", j->tmp,
	    strerror(j->b.failed_errno));
}

/* Take the windows in order into pages. */
static enum index_status
take_windows(struct build_job *j, struct scan *s, char *err, size_t errlen)
{
	double last = index_now_s();

	for (uint64_t w = 0; w < s->windows; w++) {
		int failed = scan_wait(s, w);
		const struct slot *sl = &s->slot[w % SLOTS];
		if (failed == SCAN_SHRANK)
			return index_fail(INDEX_ERR_SOURCE, err, errlen,
			    "%s: changed size while being indexed", j->text_path);
		if (failed != SCAN_OK || index_cancelled)
			return index_fail(INDEX_ERR_IO, err, errlen,
			    "interrupted");
		if (pagefill_lines(&j->pf, w * WINDOW, sl->ends, sl->crcs,
		    sl->n))
			return write_failed(j, err, errlen);
		scan_release(s, w);
		if (j->progress != NULL &&
		    index_now_s() - last >= INDEX_PROGRESS_NS / 1e9) {
			j->progress(j->progress_arg, (w + 1) * WINDOW < s->size ?
			    (w + 1) * WINDOW : s->size, s->size);
			last = index_now_s();
		}
	}
	j->no_final_lf = s->no_final_lf;
	return INDEX_OK;
}

/* Scan the text once, emitting pages. */
static enum index_status
build_scan(struct build_job *j, char *err, size_t errlen)
{
	struct scan s;
	enum index_status st;

	if (scan_start(&s, j->text_fd, (uint64_t)j->st.st_size,
	    index_has_line_crc(&j->lay)) < 0)
		st = index_fail(INDEX_ERR_IO, err, errlen, "%s: %s",
		    j->text_path, strerror(errno));
	else
		st = take_windows(j, &s, err, errlen);
	scan_stop(&s);
	return st;
}

/* Close the last page and fill in the header fields the scan produced. */
static enum index_status
build_finish(struct build_job *j, struct index_header *ih, char *err,
    size_t errlen)
{
	uint64_t size = (uint64_t)j->st.st_size;

	*ih = j->lay;
	if (j->no_final_lf)
		ih->flags |= INDEX_FLAG_NO_FINAL_LF;
	if (j->pf.k > 0) {
		pagefill_pad(&j->pf);
		if (j->pf.emit(&j->pf))
			return write_failed(j, err, errlen);
		j->pf.page++;
	}
	if (builder_finish(&j->b) < 0)
		return write_failed(j, err, errlen);
	ih->lines = j->pf.lines;
	ih->pages = j->pf.page;
	ih->index_size = INDEX_HEADER_SIZE + ih->pages * ih->page_bytes;
	return index_fingerprint(j->text_fd, size, &ih->fingerprint, err, errlen);
}

/* The directory part of path ("." when there is none). */
static void
dir_of(const char *path, char *dir, size_t len)
{
	const char *slash = strrchr(path, '/');

	if (slash == NULL)
		snprintf(dir, len, ".");
	else
		snprintf(dir, len, "%.*s",
		    (int)(slash == path ? 1 : slash - path), path);
}

/* Write the header, make the file durable, and give it its real name. */
static enum index_status
build_commit(int fd, const char *tmp, const char *index_path,
    const struct index_header *ih, char *err, size_t errlen)
{
	unsigned char h[INDEX_HEADER_SIZE];
	char dir[PATH_MAX];
	int dfd;

	index_encode_header(h, ih);
	if (pwrite(fd, h, sizeof(h), 0) != (ssize_t)sizeof(h) || fsync(fd) < 0)
		return index_fail(INDEX_ERR_IO, err, errlen, "%s: %s", tmp,
		    strerror(errno));
	if (rename(tmp, index_path) < 0)
		return index_fail(INDEX_ERR_IO, err, errlen,
		    "rename %s to %s: %s", tmp, index_path, strerror(errno));
	/* The rename itself is durable only once the directory is synced. */
	dir_of(index_path, dir, sizeof(dir));
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(dfd);
		close(dfd);
	}
	return INDEX_OK;
}

/*
 * Remove INDEXNAME.tmp.PID files beside the index that builds left when
 * they died without cleaning up (SIGKILL, a crash, power loss): those
 * whose process is gone, kill(pid, 0) failing with ESRCH. A live PID's
 * file — a build running now, maybe as another user (EPERM) — is never
 * touched. Best effort: an unreadable directory just keeps its files.
 */
static void
remove_stale_temps(const char *index_path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(index_path, '/');
	const char *name = slash != NULL ? slash + 1 : index_path;
	size_t nlen = strlen(name);
	struct dirent *de;
	DIR *d;

	dir_of(index_path, dir, sizeof(dir));
	if ((d = opendir(dir)) == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		const char *p = de->d_name;
		char *end;
		long pid;

		if (strncmp(p, name, nlen) != 0 ||
		    strncmp(p + nlen, ".tmp.", 5) != 0 ||
		    p[nlen + 5] < '1' || p[nlen + 5] > '9')
			continue;
		errno = 0;
		pid = strtol(p + nlen + 5, &end, 10);
		if (*end != '\0' || errno != 0 || pid > INT_MAX ||
		    pid == (long)getpid())
			continue;
		if (kill((pid_t)pid, 0) == 0 || errno != ESRCH)
			continue;
		unlinkat(dirfd(d), p, 0);
	}
	closedir(d);
}

static enum index_status
build_open(struct build_job *j, const char *text_path, char *err,
    size_t errlen)
{
	j->text_path = text_path;
	j->text_fd = open(text_path, O_RDONLY | O_CLOEXEC);
	if (j->text_fd < 0)
		return index_fail(errno == ENOENT ? INDEX_ERR_MISSING :
		    INDEX_ERR_IO, err, errlen, "%s: %s", text_path,
		    strerror(errno));
	if (fstat(j->text_fd, &j->st) < 0)
		return index_fail(INDEX_ERR_IO, err, errlen, "%s: %s",
		    text_path, strerror(errno));
	if (!S_ISREG(j->st.st_mode))
		return index_fail(INDEX_ERR_ARG, err, errlen,
		    "%s: not a regular file", text_path);
	posix_fadvise(j->text_fd, 0, 0, POSIX_FADV_SEQUENTIAL);
	return INDEX_OK;
}

/*
 * Everything the header says that is known before the scan: the page
 * layout and the identity that seeds every page's CRC.
 */
static void
build_layout(struct build_job *j, unsigned m, int line_crc)
{
	struct index_header *h = &j->lay;

	memset(h, 0, sizeof(*h));
	h->version = INDEX_VERSION;
	h->lines_per_page = m;
	h->flags = line_crc ? INDEX_FLAG_LINE_CRC : 0;
	h->page_bytes = page_bytes_for(m, 0, line_crc);
	h->build_id = new_build_id();
	h->source_size = (uint64_t)j->st.st_size;
	h->source_mtime_s = j->st.st_mtim.tv_sec;
	h->source_mtime_ns = (uint32_t)j->st.st_mtim.tv_nsec;
	h->page_seed = index_identity_seed(h);
}

/*
 * One pass over the text with compact or wide pages. A compact pass that
 * meets a page spanning 4 GiB or more stops with b.need_wide set, and the
 * caller starts again, wide, over the same temporary file.
 */
static enum index_status
build_pass(struct build_job *j, int fd, int wide, struct index_header *ih,
    char *err, size_t errlen)
{
	enum index_status st;

	builder_finish(&j->b);
	if (wide)
		j->lay.flags |= INDEX_FLAG_WIDE;
	j->lay.page_bytes = page_bytes_for(j->lay.lines_per_page, wide,
	    index_has_line_crc(&j->lay));
	pagefill_reset(&j->pf, 0, 0);
	if (ftruncate(fd, INDEX_HEADER_SIZE) < 0 ||
	    lseek(fd, INDEX_HEADER_SIZE, SEEK_SET) < 0 ||
	    builder_start(&j->b, fd, &j->lay) < 0)
		return index_fail(INDEX_ERR_IO, err, errlen,
		    "starting the index: %s", strerror(errno));
	st = build_scan(j, err, errlen);
	if (st == INDEX_OK)
		st = build_finish(j, ih, err, errlen);
	return st;
}

enum index_status
index_build(const char *text_path, const char *index_path,
    const struct index_build_opts *o, struct index_summary *summary,
    char *err, size_t errlen)
{
	static const struct index_build_opts defaults = {
		.m = INDEX_M_DEFAULT, .line_crc = 1 };
	struct build_job j;
	struct index_header ih;
	enum index_status st;
	char tmp[PATH_MAX];
	unsigned char zero[INDEX_HEADER_SIZE];
	double t0 = index_now_s();
	unsigned m;
	int fd = -1;

	if (o == NULL)
		o = &defaults;
	m = o->m;
	if (!power_of_two(m) || m > INDEX_M_MAX)
		return index_fail(INDEX_ERR_ARG, err, errlen,
		    "lines per page must be a power of two from 1 to %u, not %u",
		    INDEX_M_MAX, m);
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", index_path,
	    (long)getpid()) >= (int)sizeof(tmp))
		return index_fail(INDEX_ERR_ARG, err, errlen,
		    "%s: path too long", index_path);
	memset(&j, 0, sizeof(j));
	j.text_fd = -1;
	j.tmp = tmp;
	j.progress = o->progress;
	j.progress_arg = o->progress_arg;
	if ((st = build_open(&j, text_path, err, errlen)) != INDEX_OK)
		goto done;
	build_layout(&j, m, o->line_crc);
	j.pf.offs = calloc((size_t)m + 1, sizeof(uint64_t));
	if (o->line_crc)
		j.pf.crcs = calloc(m, sizeof(uint32_t));
	if (j.pf.offs == NULL || (o->line_crc && j.pf.crcs == NULL)) {
		st = index_fail(INDEX_ERR_IO, err, errlen, "out of memory");
		goto done;
	}
	j.pf.m = m;
	j.pf.emit = builder_emit;
	j.pf.ctx = &j.b;
	remove_stale_temps(index_path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	/* Zeros where the header goes: no valid magic until the very end. */
	memset(zero, 0, sizeof(zero));
	if (fd < 0 || io_write_full(fd, zero, sizeof(zero)) < 0) {
		st = index_fail(INDEX_ERR_IO, err, errlen, "%s: %s", tmp,
		    strerror(errno));
		goto done;
	}
	st = build_pass(&j, fd, 0, &ih, err, errlen);
	if (st != INDEX_OK && j.b.need_wide)
		st = build_pass(&j, fd, 1, &ih, err, errlen);
	if (st != INDEX_OK ||
	    (st = build_commit(fd, tmp, index_path, &ih, err, errlen))
	    != INDEX_OK)
		goto done;
	if (summary != NULL) {
		summary->lines = ih.lines;
		summary->pages = ih.pages;
		summary->index_bytes = ih.index_size;
		summary->source_bytes = ih.source_size;
		summary->seconds = index_now_s() - t0;
	}
done:
	if (fd >= 0) {
		close(fd);
		if (st != INDEX_OK)
			unlink(tmp);
	}
	if (j.text_fd >= 0)
		close(j.text_fd);
	builder_finish(&j.b);
	free(j.pf.offs);
	free(j.pf.crcs);
	return st;
}

void
index_build_cancel(void)
{
	index_cancelled = 1;
}
