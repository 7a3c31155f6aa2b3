/*
 * fuzz_proc: the master <-> worker channel receiver on arbitrary messages.
 * The input is sent as one datagram (optionally with a descriptor) on a
 * socketpair; proc_recv and proc_msg_check must refuse anything malformed
 * without leaking the descriptor, and what proc_worker_msg_check (the
 * master's check of a worker) accepts must be safe to log and record.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hello.h"
#include "proc.h"

/* Printable ASCII only: nothing that could forge a line or a terminal. */
static int
printable(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
			return 0;
	return 1;
}

static int	 sv[2] = { -1, -1 };
static int	 devnull = -1;

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proc_msg	 m;
	int		 fd, rv, with_fd;

	if (sv[0] == -1) {
		if (proc_channel(sv) == -1)
			abort();
		fcntl(sv[1], F_SETFL, O_NONBLOCK);
		if ((devnull = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1)
			abort();
	}
	with_fd = size > 0 && (data[0] & 1);
	if (size > 1) {
		data++;
		size--;
	}
	if (size > 4096)
		size = 4096;
	if (size == 0)
		return 0;
	if (size == sizeof(m) || !with_fd) {
		/* The exact size through the real sender. */
		if (size == sizeof(m)) {
			memcpy(&m, data, sizeof(m));
			if (proc_send(sv[0], &m, with_fd ? devnull : -1) == -1)
				abort();
		} else if (send(sv[0], data, size, 0) == -1)
			abort();
	} else {
		struct msghdr msg;
		struct iovec iov;
		union {
			struct cmsghdr hdr;
			char buf[CMSG_SPACE(sizeof(int))];
		} cm;
		struct cmsghdr *c;
		memset(&msg, 0, sizeof(msg));
		iov.iov_base = (void *)data;
		iov.iov_len = size;
		msg.msg_iov = &iov;
		msg.msg_iovlen = 1;
		msg.msg_control = cm.buf;
		msg.msg_controllen = sizeof(cm.buf);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &devnull, sizeof(int));
		if (sendmsg(sv[0], &msg, 0) == -1)
			abort();
	}
	rv = proc_recv(sv[1], &m, &fd);
	if (rv == 1) {
		if (size != sizeof(m))
			abort();
		const char *why;
		if (proc_worker_msg_check(&m, fd, &why) == 0) {
			if (fd != -1 || !printable(m.pm_name) ||
			    !printable(m.pm_addr) || !printable(m.pm_reason) ||
			    m.pm_port > 65535 || (m.pm_name[0] != '\0' &&
			    !hello_name_ok(m.pm_name)))
				abort();
		}
		if (proc_msg_check(&m, fd) == 0) {
			/* Accepted: strings are terminated, port in range. */
			if (m.pm_port > 65535 ||
			    memchr(m.pm_name, 0, sizeof(m.pm_name)) == NULL ||
			    memchr(m.pm_addr, 0, sizeof(m.pm_addr)) == NULL ||
			    memchr(m.pm_reason, 0, sizeof(m.pm_reason)) == NULL)
				abort();
		}
		if (fd != -1)
			close(fd);
	} else if (rv == -1) {
		if (errno != EBADMSG || fd != -1)
			abort();
	} else
		abort();
	return 0;
}
