/*
 * io: whole-buffer reads and writes on a file descriptor. pread(2) and
 * write(2) may transfer less than asked (a signal, a pipe, a file system's
 * limit per call); these retry until the whole buffer is done.
 */
#ifndef LINESVR_IO_H
#define LINESVR_IO_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * Read len bytes at off into buf, retrying short reads and EINTR. Returns
 * the bytes read, fewer than len only when the file ends first, or -1 on
 * an error (errno set).
 */
ssize_t io_pread_full(int fd, void *buf, size_t len, uint64_t off);

/* Write all len bytes of buf, retrying short writes and EINTR: 0 or -1. */
int io_write_full(int fd, const void *buf, size_t len);

#endif
