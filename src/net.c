/*
 * net: socket plumbing (see net.h).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <unistd.h>
#include <linux/sockios.h>

#include "net.h"

int
net_resolve(const char *host, unsigned port, struct sockaddr_storage *ss,
    socklen_t *len, char *err, size_t errlen)
{
	struct sockaddr_in *in = (void *)ss;
	struct sockaddr_in6 *in6 = (void *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, host, &in->sin_addr) == 1) {
		in->sin_family = AF_INET;
		in->sin_port = htons((uint16_t)port);
		*len = sizeof(*in);
	} else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((uint16_t)port);
		*len = sizeof(*in6);
	} else {
		snprintf(err, errlen, "not a numeric IPv4 or IPv6 address");
		return -1;
	}
	return 0;
}

/* A bound socket; listening too when backlog > 0. -1 with errno kept. */
static int
bind_socket(const struct sockaddr_storage *ss, socklen_t len, int reuseport,
    int backlog)
{
	int one = 1, fd, e;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		return -1;
	/* An IPv6 socket stays dual-stack (the Linux default), so "::"
	 * serves IPv4 clients too, as IPv4-mapped addresses. */
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if ((reuseport &&
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) ||
	    bind(fd, (const struct sockaddr *)ss, len) < 0 ||
	    (backlog > 0 && listen(fd, backlog) < 0)) {
		e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	return fd;
}

int
net_claim_port(struct sockaddr_storage *ss, socklen_t *len, char *err,
    size_t errlen)
{
	int probe = bind_socket(ss, *len, 0, 0);

	if (probe < 0) {
		snprintf(err, errlen, "%s", strerror(errno));
		return -1;
	}
	getsockname(probe, (struct sockaddr *)ss, len);
	close(probe);
	return 0;
}

int
net_listen(const struct sockaddr_storage *ss, socklen_t len, int backlog,
    char *err, size_t errlen)
{
	int fd = bind_socket(ss, len, 1, backlog);

	if (fd < 0)
		snprintf(err, errlen, "%s", strerror(errno));
	return fd;
}

void
net_format_addr(const struct sockaddr_storage *ss, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(out, outlen, "%s:%u", host, ntohs(in->sin_port));
	} else {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(out, outlen, "[%s]:%u", host, ntohs(in6->sin6_port));
	}
}

void
net_addr_pack(const struct sockaddr_storage *ss, struct net_addr *out)
{
	const struct sockaddr_in *in = (const void *)ss;
	const struct sockaddr_in6 *in6 = (const void *)ss;

	memset(out, 0, sizeof(*out));
	out->v6 = ss->ss_family == AF_INET6;
	if (out->v6) {
		memcpy(out->addr, &in6->sin6_addr, 16);
		out->port = in6->sin6_port;
	} else {
		memcpy(out->addr, &in->sin_addr, 4);
		out->port = in->sin_port;
	}
}

void
net_addr_format(const struct net_addr *a, char *out, size_t outlen)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *in = (void *)&ss;
	struct sockaddr_in6 *in6 = (void *)&ss;

	memset(&ss, 0, sizeof(ss));
	ss.ss_family = a->v6 ? AF_INET6 : AF_INET;
	if (a->v6) {
		memcpy(&in6->sin6_addr, a->addr, 16);
		in6->sin6_port = a->port;
	} else {
		memcpy(&in->sin_addr, a->addr, 4);
		in->sin_port = a->port;
	}
	net_format_addr(&ss, out, outlen);
}

/* SHUTDOWN = local trusts loopback peers, and a dual-stack listener sees
 * IPv4 loopback as ::ffff:127.x. */
int
net_is_loopback(const struct sockaddr_storage *ss)
{
	static const unsigned char mapped[12] =
	    { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

	if (ss->ss_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)ss;
		return (ntohl(in->sin_addr.s_addr) >> 24) == 127;
	}
	if (ss->ss_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)ss;
		const unsigned char *a = in6->sin6_addr.s6_addr;
		return IN6_IS_ADDR_LOOPBACK(&in6->sin6_addr) ||
		    (memcmp(a, mapped, 12) == 0 && a[12] == 127);
	}
	return 0;
}

/* Servers and the load generator alike hold a descriptor per connection:
 * the soft default (often 1024) is far below what they are allowed. */
uint64_t
net_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
		return 0;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? UINT64_MAX : rl.rlim_cur;
}

static int
queued(int fd, unsigned long which)
{
	int n = 0;

	return ioctl(fd, which, &n) == 0 ? n : -1;
}

int
net_unsent(int fd)
{
	return queued(fd, SIOCOUTQ);
}

int
net_unread(int fd)
{
	return queued(fd, SIOCINQ);
}
