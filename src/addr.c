/*
 * addr: socket address checks. SHUTDOWN = local trusts loopback peers,
 * and a dual-stack listener sees IPv4 loopback as ::ffff:127.x.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "addr.h"

int
addr_is_loopback(const struct sockaddr_storage *ss)
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
