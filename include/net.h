/*
 * net: socket plumbing that knows nothing of clients, shared by the
 * server and the load generator's programs. Functions that can fail
 * return 0 (or a descriptor) or -1 with the reason in a caller-owned err
 * buffer; the caller names the address in its own words.
 */
#ifndef LINESVR_NET_H
#define LINESVR_NET_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* "[ADDR]:PORT" of any address family, with its NUL. */
#define NET_ADDR_STRLEN (INET6_ADDRSTRLEN + 8)

/* A numeric IPv4 or IPv6 host and a port into ss; no name lookups.
 * 0, or -1 with err. */
int net_resolve(const char *host, unsigned port, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen);

/*
 * A plain bind (no SO_REUSEPORT) proves the port free, and for port 0
 * picks one, written back to ss: listeners sharing the port through
 * SO_REUSEPORT could otherwise share it with another running server and
 * silently split its traffic. 0, or -1 with err.
 */
int net_claim_port(struct sockaddr_storage *ss, socklen_t *len, char *err,
    size_t errlen);

/* A non-blocking socket listening (backlog > 0) on a claimed port, with
 * SO_REUSEPORT so that several share it. The descriptor, or -1 with err. */
int net_listen(const struct sockaddr_storage *ss, socklen_t len, int backlog,
    char *err, size_t errlen);

/* "ADDR:PORT", or "[ADDR]:PORT" for IPv6, into out. */
void net_format_addr(const struct sockaddr_storage *ss, char *out,
    size_t outlen);

/* An IPv4 or IPv6 address and port in 20 bytes, for naming a peer in
 * messages without keeping a whole sockaddr_storage per connection. */
struct net_addr {
	unsigned char v6;         /* addr holds 16 bytes of IPv6, not 4 of IPv4 */
	uint16_t port;            /* network byte order */
	unsigned char addr[16];
};

void net_addr_pack(const struct sockaddr_storage *ss, struct net_addr *out);

/* net_format_addr of a packed address. */
void net_addr_format(const struct net_addr *a, char *out, size_t outlen);

/* 127.0.0.0/8, ::1, or an IPv4-mapped 127.x address: 1, else 0. */
int net_is_loopback(const struct sockaddr_storage *ss);

/* Bytes in a TCP socket's send queue, sent or not, that the peer has not
 * acknowledged (SIOCOUTQ); -1 if the kernel will not say. */
int net_unsent(int fd);

/* Bytes received on a socket and not read yet (SIOCINQ); -1 likewise. */
int net_unread(int fd);

/* Raise the soft open-file limit to the hard limit. Returns the limit now
 * in force, UINT64_MAX for none, 0 if it cannot be read. */
uint64_t net_raise_nofile(void);

#endif
