/*
 * proc: typed messages and descriptor passing between master and workers.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "hello.h"
#include "hs.h"
#include "proc.h"

int
proc_channel(int sv[2])
{
	return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv);
}

int
proc_send(int chan, const struct proc_msg *m, int fd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int))];
	} cm;
	ssize_t		 n;

	memset(&msg, 0, sizeof(msg));
	iov.iov_base = (void *)m;
	iov.iov_len = sizeof(*m);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	if (fd != -1) {
		struct cmsghdr *c;
		memset(&cm, 0, sizeof(cm));
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	do {
		n = sendmsg(chan, &msg, MSG_NOSIGNAL);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if ((size_t)n != sizeof(*m)) {
		errno = EMSGSIZE;
		return -1;
	}
	return 0;
}

int
proc_recv(int chan, struct proc_msg *m, int *fd)
{
	struct msghdr	 msg;
	struct iovec	 iov;
	struct cmsghdr	*c;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(sizeof(int) * 4)];
	} cm;
	ssize_t		 n;
	int		 bad = 0;

	*fd = -1;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = m;
	iov.iov_len = sizeof(*m);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	do {
		n = recvmsg(chan, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return -1;
	if (n == 0 && msg.msg_controllen == 0)
		return 0;
	/* Take every descriptor that came, so none leaks on refusal. */
	for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
		size_t k, nfd;
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			bad = 1;
			continue;
		}
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (k = 0; k < nfd; k++) {
			int x;
			memcpy(&x, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
			if (*fd == -1)
				*fd = x;
			else {
				close(x);
				bad = 1;
			}
		}
	}
	if (bad || (msg.msg_flags & (MSG_CTRUNC | MSG_TRUNC)) ||
	    (size_t)n != sizeof(*m)) {
		if (*fd != -1)
			close(*fd);
		*fd = -1;
		errno = EBADMSG;
		return -1;
	}
	return 1;
}

static int
proc_str_ok(const char *s, size_t len)
{
	return memchr(s, '\0', len) != NULL;
}

int
proc_msg_check(const struct proc_msg *m, int fd)
{
	int	 want_fd;

	switch (m->pm_type) {
	case PROC_BACKEND:
	case PROC_PORT_OK:
	case PROC_LOGFD:
		want_fd = 1;
		break;
	case PROC_PORT_ERR:
	case PROC_SHUTDOWN:
	case PROC_PORT_REQ:
	case PROC_REGISTERED:
	case PROC_IDLE:
	case PROC_HS_REQ:
	case PROC_HS_REC:
	case PROC_HS_REP:
	case PROC_HS_KEYS:
	case PROC_REVOKE:
		want_fd = 0;
		break;
	default:
		return -1;
	}
	if (want_fd != (fd != -1))
		return -1;
	if (m->pm_len > sizeof(m->pm_data))
		return -1;
	if (!proc_str_ok(m->pm_name, sizeof(m->pm_name)) ||
	    !proc_str_ok(m->pm_addr, sizeof(m->pm_addr)) ||
	    !proc_str_ok(m->pm_reason, sizeof(m->pm_reason)))
		return -1;
	if (m->pm_port > 65535)
		return -1;
	return 0;
}

static int
proc_zero(const void *p, size_t len)
{
	const uint8_t	*b = p;
	size_t		 i;

	for (i = 0; i < len; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* "a.b.c.d:port" or "[v6]:port", as net_addr_str writes them. */
static int
proc_addr_ok(const char *s)
{
	char		 host[PROC_ADDR_MAX];
	const char	*colon, *p;
	struct in6_addr	 a6;
	struct in_addr	 a4;
	unsigned long	 port = 0;
	size_t		 n;
	int		 v6 = s[0] == '[';

	if (v6) {
		if ((colon = strchr(s, ']')) == NULL || colon[1] != ':')
			return 0;
		n = colon - s - 1;
		s++;
		colon++;
	} else {
		if ((colon = strrchr(s, ':')) == NULL)
			return 0;
		n = colon - s;
	}
	if (n == 0 || n >= sizeof(host))
		return 0;
	memcpy(host, s, n);
	host[n] = '\0';
	if (v6 ? inet_pton(AF_INET6, host, &a6) != 1 :
	    inet_pton(AF_INET, host, &a4) != 1)
		return 0;
	for (p = colon + 1; *p != '\0'; p++) {
		if (*p < '0' || *p > '9' || p - colon > 5)
			return 0;
		port = port * 10 + (unsigned long)(*p - '0');
	}
	return p > colon + 1 && port <= 65535;
}

static int
proc_text_ok(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

int
proc_worker_msg_check(const struct proc_msg *m, int fd, const char **why)
{
	*why = "descriptor";
	if (fd != -1)
		return -1;
	*why = "string not terminated";
	if (!proc_str_ok(m->pm_name, sizeof(m->pm_name)) ||
	    !proc_str_ok(m->pm_addr, sizeof(m->pm_addr)) ||
	    !proc_str_ok(m->pm_reason, sizeof(m->pm_reason)))
		return -1;
	*why = "slot";
	if (m->pm_slot != 0)
		return -1;
	switch (m->pm_type) {
	case PROC_PORT_REQ:
		*why = "flags";
		if (m->pm_flags != 0)
			return -1;
		*why = "port";
		if (m->pm_port > 65535)
			return -1;
		*why = "backend name";
		if (m->pm_name[0] != '\0' && !hello_name_ok(m->pm_name))
			return -1;
		*why = "address";
		if (!proc_addr_ok(m->pm_addr))
			return -1;
		*why = "reason";
		if (m->pm_reason[0] != '\0')
			return -1;
		*why = "unused field";
		if (m->pm_len != 0 || !proc_zero(m->pm_data,
		    sizeof(m->pm_data)))
			return -1;
		break;
	case PROC_HS_REQ:
		*why = "flags";
		if (m->pm_flags != PROC_HS_IK && m->pm_flags != PROC_HS_PSK)
			return -1;
		*why = "message length";
		if (m->pm_len == 0 || m->pm_len > HS_MSG1_MAX)
			return -1;
		goto hs_rest;
	case PROC_HS_REC:
		*why = "flags";
		if (m->pm_flags != 0)
			return -1;
		*why = "record length";
		if (m->pm_len < NOISE_REC_OVERHEAD + 1 ||
		    m->pm_len > HS_REC1_MAX)
			return -1;
hs_rest:
		*why = "unused field";
		if (m->pm_port != 0 || m->pm_name[0] != '\0' ||
		    m->pm_addr[0] != '\0' || m->pm_reason[0] != '\0' ||
		    !proc_zero(m->pm_data + m->pm_len,
		    sizeof(m->pm_data) - m->pm_len))
			return -1;
		break;
	case PROC_REGISTERED:
		*why = "flags";
		if (m->pm_flags != 0)
			return -1;
		*why = "port";
		if (m->pm_port == 0 || m->pm_port > 65535)
			return -1;
		*why = "unused field";
		if (m->pm_name[0] != '\0' || m->pm_addr[0] != '\0' ||
		    m->pm_reason[0] != '\0' || m->pm_len != 0 ||
		    !proc_zero(m->pm_data, sizeof(m->pm_data)))
			return -1;
		break;
	case PROC_IDLE:
		*why = "flags";
		if ((m->pm_flags & ~(PROC_F_REFUSED | PROC_F_AUTHFAIL)) != 0 ||
		    ((m->pm_flags & PROC_F_AUTHFAIL) &&
		    !(m->pm_flags & PROC_F_REFUSED)))
			return -1;
		*why = "reason";
		if (m->pm_reason[0] == '\0' || !proc_text_ok(m->pm_reason))
			return -1;
		*why = "unused field";
		if (m->pm_port != 0 || m->pm_name[0] != '\0' ||
		    m->pm_addr[0] != '\0' || m->pm_len != 0 ||
		    !proc_zero(m->pm_data, sizeof(m->pm_data)))
			return -1;
		break;
	default:
		*why = "message type";
		return -1;
	}
	*why = NULL;
	return 0;
}
