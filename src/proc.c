/*
 * proc: typed messages and descriptor passing between master and workers.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

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
		want_fd = 0;
		break;
	default:
		return -1;
	}
	if (want_fd != (fd != -1))
		return -1;
	if (!proc_str_ok(m->pm_name, sizeof(m->pm_name)) ||
	    !proc_str_ok(m->pm_addr, sizeof(m->pm_addr)) ||
	    !proc_str_ok(m->pm_reason, sizeof(m->pm_reason)))
		return -1;
	if (m->pm_port > 65535)
		return -1;
	return 0;
}
