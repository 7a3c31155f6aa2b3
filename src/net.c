/*
 * net: sockets and addresses.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "net.h"

int
net_parse_uint(const char *s, unsigned long lo, unsigned long hi,
    unsigned long *out)
{
	char		*end;
	unsigned long	 v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+' || *s == ' ')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
}

int
net_parse_port(const char *s, unsigned *port)
{
	unsigned long	 v;

	if (net_parse_uint(s, 0, 65535, &v) == -1)
		return -1;
	*port = (unsigned)v;
	return 0;
}

int
net_resolve(const char *host, unsigned port, struct sockaddr_storage *ss,
    socklen_t *len, const char **why)
{
	struct addrinfo	 hints, *res;
	char		 pbuf[8];
	int		 rv;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
	snprintf(pbuf, sizeof(pbuf), "%u", port);
	if ((rv = getaddrinfo(host, pbuf, &hints, &res)) != 0) {
		/* AI_ADDRCONFIG hides ::1 on hosts without global v6. */
		hints.ai_flags = AI_NUMERICSERV;
		rv = getaddrinfo(host, pbuf, &hints, &res);
	}
	if (rv != 0) {
		*why = gai_strerror(rv);
		return -1;
	}
	memcpy(ss, res->ai_addr, res->ai_addrlen);
	*len = res->ai_addrlen;
	freeaddrinfo(res);
	return 0;
}

int
net_listen(const struct sockaddr_storage *ss, socklen_t len, unsigned port,
    int backlog)
{
	struct sockaddr_storage	 a;
	int			 fd, on = 1, saved;

	memcpy(&a, ss, len);
	if (a.ss_family == AF_INET)
		((struct sockaddr_in *)&a)->sin_port = htons(port);
	else
		((struct sockaddr_in6 *)&a)->sin6_port = htons(port);
	fd = socket(a.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on));
	if (a.ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on));
	if (bind(fd, (struct sockaddr *)&a, len) == -1 ||
	    listen(fd, backlog) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
net_connect(const struct sockaddr_storage *ss, socklen_t len)
{
	int	 fd, saved;

	fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1)
		return -1;
	if (connect(fd, (const struct sockaddr *)ss, len) == -1 &&
	    errno != EINPROGRESS) {
		saved = errno;
		close(fd);
		errno = saved;
		return -1;
	}
	return fd;
}

int
net_connect_host(const char *host, unsigned port, int timeout_ms,
    const char **why)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	struct pollfd		 pfd;
	int			 fd, err = 0;
	socklen_t		 elen = sizeof(err);

	if (net_resolve(host, port, &ss, &len, why) == -1)
		return -1;
	if ((fd = net_connect(&ss, len)) == -1) {
		*why = strerror(errno);
		return -1;
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, timeout_ms) != 1) {
		close(fd);
		*why = "connection timed out";
		return -1;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 ||
	    err != 0) {
		close(fd);
		*why = strerror(err ? err : errno);
		return -1;
	}
	return fd;
}

void
net_addr_str(const struct sockaddr *sa, char *buf, size_t len)
{
	char	 h[INET6_ADDRSTRLEN];

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *s = (const struct sockaddr_in *)sa;
		inet_ntop(AF_INET, &s->sin_addr, h, sizeof(h));
		snprintf(buf, len, "%s:%u", h, ntohs(s->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const struct sockaddr_in6 *)sa;
		inet_ntop(AF_INET6, &s->sin6_addr, h, sizeof(h));
		snprintf(buf, len, "[%s]:%u", h, ntohs(s->sin6_port));
	} else
		snprintf(buf, len, "?");
}

void
net_peer_str(int fd, char *buf, size_t len)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) == -1)
		snprintf(buf, len, "?");
	else
		net_addr_str((struct sockaddr *)&ss, buf, len);
}

unsigned
net_local_port(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);

	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == -1)
		return 0;
	if (ss.ss_family == AF_INET)
		return ntohs(((struct sockaddr_in *)&ss)->sin_port);
	return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

int
net_split_hostport(const char *s, char *host, size_t hlen, unsigned *port)
{
	const char	*colon;
	size_t		 n;

	if (s[0] == '[') {
		const char *end = strchr(s, ']');
		if (end == NULL || end[1] != ':')
			return -1;
		n = end - s - 1;
		colon = end + 1;
		s++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return -1;
		n = colon - s;
	}
	if (n == 0 || n >= hlen)
		return -1;
	memcpy(host, s, n);
	host[n] = '\0';
	return net_parse_port(colon + 1, port);
}

void
net_nodelay(int fd)
{
	int	 on = 1;

	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof(on));
}

void
net_notsent_lowat(int fd, int bytes)
{
	/* Best effort: without it the kernel may queue megabytes unsent. */
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NOTSENT_LOWAT, &bytes,
	    sizeof(bytes));
}
