/*
 * test_proto: the registration hello and the master <-> worker channel.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "hello.h"
#include "hs.h"
#include "proc.h"
#include "unit.h"

static int
hparse(const char *s, struct hello *h, const char **why)
{
	return hello_parse(s, strlen(s), h, why);
}

static void
test_hello_plain(void)
{
	struct hello	 h;
	const char	*why;

	CHECK_EQ(hparse("relay-hello 1\n", &h, &why), 0);
	CHECK_EQ(h.h_port, 0);
	CHECK_EQ(h.h_name[0], '\0');
}

static void
test_hello_fields(void)
{
	struct hello	 h;
	const char	*why;

	CHECK_EQ(hparse("relay-hello 1 name=web-1.a_b port=9005\n", &h,
	    &why), 0);
	CHECK(strcmp(h.h_name, "web-1.a_b") == 0);
	CHECK_EQ(h.h_port, 9005);
}

static void
test_hello_unknown_key_ignored(void)
{
	struct hello	 h;
	const char	*why;

	CHECK_EQ(hparse("relay-hello 1 future=x name=a\n", &h, &why), 0);
	CHECK(strcmp(h.h_name, "a") == 0);
}

/*
 * Backends from before encrypted sessions add their HMAC proof: ts, nonce
 * and mac are unknown keys now, whatever their values, and go nowhere.
 */
static void
test_hello_old_proof_ignored(void)
{
	static const char *old[] = {
		("relay-hello 1 name=web-1 port=9005 ts=1700000000 "
		    "nonce=000102030405060708090a0b0c0d0e0f "
		    "mac=87d997a5503bbbdcc360e874f06fd1ca"
		    "206c373e54f0699979fd4ca95fcf0b5d\n"),
		"relay-hello 1 name=web-1 port=9005 ts=1700000000\n",
		"relay-hello 1 ts=x nonce=ABC mac= name=web-1 port=9005\n",
	};
	struct hello	 h;
	char		 buf[HELLO_MAX];
	const char	*why = NULL;
	size_t		 i;
	int		 n;

	for (i = 0; i < sizeof(old) / sizeof(old[0]); i++) {
		CHECK_EQ(hparse(old[i], &h, &why), 0);
		CHECK(strcmp(h.h_name, "web-1") == 0);
		CHECK_EQ(h.h_port, 9005);
		n = hello_build(&h, buf, sizeof(buf));
		CHECK(n > 0 && (size_t)n < sizeof(buf));
		buf[n > 0 ? n : 0] = '\0';
		CHECK(strcmp(buf, "relay-hello 1 name=web-1 port=9005\n") == 0);
	}
}

/* addr=1 asks for client addresses; other versions are not refused. */
static void
test_hello_addr(void)
{
	struct hello	 h;
	char		 buf[HELLO_MAX];
	const char	*why;
	int		 n;

	CHECK_EQ(hparse("relay-hello 1 name=a\n", &h, &why), 0);
	CHECK_EQ(h.h_addr, 0);
	CHECK_EQ(hparse("relay-hello 1 name=a addr=1\n", &h, &why), 0);
	CHECK_EQ(h.h_addr, 1);
	CHECK_EQ(hparse("relay-hello 1 addr=2\n", &h, &why), 0);
	CHECK_EQ(h.h_addr, 0);
	CHECK_EQ(hparse("relay-hello 1 addr=11\n", &h, &why), 0);
	CHECK_EQ(h.h_addr, 0);
	CHECK_EQ(hparse("relay-hello 1 addr=\n", &h, &why), 0);
	CHECK_EQ(h.h_addr, 0);
	memset(&h, 0, sizeof(h));
	h.h_addr = 1;
	h.h_port = 9005;
	n = hello_build(&h, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK(strncmp(buf, "relay-hello 1 port=9005 addr=1\n", n) == 0);
}

static void
test_hello_rejects(void)
{
	static const char *bad[] = {
		"", "\n", "relay-hello", "relay-hello 2\n", "relay-hello 10\n",
		"GET / HTTP/1.1\r\n", "relay-hello 1 name=\n",
		"relay-hello 1 name=a/b\n", "relay-hello 1 port=0\n",
		"relay-hello 1 port=65536\n", "relay-hello 1 port=12a\n",
		"relay-hello 1 port=123456\n", "relay-hello 1 =x\n",
		"relay-hello 1 novalue\n", "relay-hello 1 name=\x01\n",
		("relay-hello 1 name="
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
	};
	struct hello	 h;
	const char	*why;
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (hparse(bad[i], &h, &why) != -1) {
			fprintf(stderr, "  accepted: %s", bad[i]);
			CHECK(0);
		}
		CHECK(why != NULL);
	}
}

static void
test_hello_too_long(void)
{
	char		 buf[HELLO_MAX + 64];
	struct hello	 h;
	const char	*why;

	memset(buf, 'x', sizeof(buf));
	memcpy(buf, "relay-hello 1 a=", 16);
	CHECK_EQ(hello_parse(buf, sizeof(buf), &h, &why), -1);
}

static void
test_hello_roundtrip(void)
{
	struct hello	 a, b;
	char		 buf[HELLO_MAX];
	const char	*why;
	int		 n;

	memset(&a, 0, sizeof(a));
	snprintf(a.h_name, sizeof(a.h_name), "backend-7");
	a.h_port = 65535;
	n = hello_build(&a, buf, sizeof(buf));
	CHECK(n > 0);
	CHECK_EQ(buf[n - 1], '\n');
	CHECK_EQ(hello_parse(buf, n, &b, &why), 0);
	CHECK(strcmp(b.h_name, "backend-7") == 0);
	CHECK_EQ(b.h_port, 65535);
	CHECK_EQ(hello_build(&a, buf, 10), -1);
}

static void
test_proc_roundtrip_with_fd(void)
{
	struct proc_msg	 m, r;
	int		 sv[2], p[2], fd;

	CHECK_EQ(proc_channel(sv), 0);
	CHECK_EQ(pipe(p), 0);
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_BACKEND;
	snprintf(m.pm_addr, sizeof(m.pm_addr), "127.0.0.1:1234");
	CHECK_EQ(proc_send(sv[0], &m, p[1]), 0);
	CHECK_EQ(proc_recv(sv[1], &r, &fd), 1);
	CHECK(fd >= 0);
	CHECK_EQ(proc_msg_check(&r, fd), 0);
	CHECK(strcmp(r.pm_addr, "127.0.0.1:1234") == 0);
	/* The descriptor works and is close-on-exec. */
	CHECK_EQ(write(fd, "x", 1), 1);
	CHECK((fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0);
	close(fd);
	close(p[0]);
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void
test_proc_eof_and_empty(void)
{
	struct proc_msg	 r;
	int		 sv[2], fd;

	CHECK_EQ(proc_channel(sv), 0);
	CHECK_EQ(proc_recv(sv[1], &r, &fd), -1);
	CHECK(errno == EAGAIN || errno == EWOULDBLOCK);
	close(sv[0]);
	CHECK_EQ(proc_recv(sv[1], &r, &fd), 0);
	close(sv[1]);
}

static void
test_proc_wrong_size_refused(void)
{
	struct proc_msg	 r;
	char		 small[10] = { 1 };
	int		 sv[2], fd;

	CHECK_EQ(proc_channel(sv), 0);
	CHECK_EQ(send(sv[0], small, sizeof(small), 0), (ssize_t)sizeof(small));
	CHECK_EQ(proc_recv(sv[1], &r, &fd), -1);
	CHECK_EQ(errno, EBADMSG);
	CHECK_EQ(fd, -1);
	close(sv[0]);
	close(sv[1]);
}

static void
test_proc_two_fds_refused_and_closed(void)
{
	struct proc_msg	 m, r;
	struct msghdr	 msg;
	struct iovec	 iov;
	union {
		struct cmsghdr	hdr;
		char		buf[CMSG_SPACE(2 * sizeof(int))];
	} cm;
	struct cmsghdr	*c;
	int		 sv[2], p[2], fds[2], fd;
	char		 b;

	CHECK_EQ(proc_channel(sv), 0);
	CHECK_EQ(pipe(p), 0);
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_BACKEND;
	memset(&msg, 0, sizeof(msg));
	iov.iov_base = &m;
	iov.iov_len = sizeof(m);
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cm.buf;
	msg.msg_controllen = sizeof(cm.buf);
	c = CMSG_FIRSTHDR(&msg);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(2 * sizeof(int));
	fds[0] = p[0];
	fds[1] = p[0];
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	CHECK_EQ(sendmsg(sv[0], &msg, 0), (ssize_t)sizeof(m));
	CHECK_EQ(proc_recv(sv[1], &r, &fd), -1);
	CHECK_EQ(errno, EBADMSG);
	CHECK_EQ(fd, -1);
	/* Both received copies were closed: only p[0] itself holds the pipe. */
	close(p[0]);
	CHECK_EQ(write(p[1], "x", 1), -1);
	CHECK_EQ(errno, EPIPE);
	(void)b;
	close(p[1]);
	close(sv[0]);
	close(sv[1]);
}

static void
test_proc_check_rules(void)
{
	struct proc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_PORT_REQ;
	CHECK_EQ(proc_msg_check(&m, -1), 0);
	CHECK_EQ(proc_msg_check(&m, 5), -1);		/* unexpected fd */
	m.pm_type = PROC_PORT_OK;
	CHECK_EQ(proc_msg_check(&m, -1), -1);		/* missing fd */
	CHECK_EQ(proc_msg_check(&m, 5), 0);
	m.pm_type = 999;
	CHECK_EQ(proc_msg_check(&m, -1), -1);		/* unknown type */
	m.pm_type = PROC_PORT_REQ;
	memset(m.pm_name, 'a', sizeof(m.pm_name));	/* unterminated */
	CHECK_EQ(proc_msg_check(&m, -1), -1);
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_PORT_REQ;
	m.pm_port = 70000;
	CHECK_EQ(proc_msg_check(&m, -1), -1);
}

/* A port request as a worker sends it. */
static void
port_req(struct proc_msg *m)
{
	memset(m, 0, sizeof(*m));
	m->pm_type = PROC_PORT_REQ;
	m->pm_port = 9005;
	strcpy(m->pm_name, "web-1");
	strcpy(m->pm_addr, "127.0.0.1:40312");
}

static void
test_worker_msg_rules(void)
{
	static const char *bad_names[] = { "a b", "x\nmaster info: forged",
	    "\x1b[31m", "a/b", "\xc3\xa9" };
	static const char *bad_addrs[] = { "", "?", "example.com:80",
	    "127.0.0.1", "127.0.0.1:", "127.0.0.1:123456", "127.0.0.1:70000",
	    "[::1]", "::1:80", "[::1]:8x", "1.2.3.4:5\n", "[zz]:1" };
	struct proc_msg	 m;
	const char	*why;
	size_t		 i;

	port_req(&m);
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	strcpy(m.pm_addr, "[2001:db8::1]:443");
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	m.pm_name[0] = '\0';
	m.pm_port = 0;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	CHECK_EQ(proc_worker_msg_check(&m, 5, &why), -1);
	CHECK(strcmp(why, "descriptor") == 0);
	for (i = 0; i < sizeof(bad_names) / sizeof(bad_names[0]); i++) {
		port_req(&m);
		strcpy(m.pm_name, bad_names[i]);
		CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
		CHECK(strcmp(why, "backend name") == 0);
	}
	for (i = 0; i < sizeof(bad_addrs) / sizeof(bad_addrs[0]); i++) {
		port_req(&m);
		strcpy(m.pm_addr, bad_addrs[i]);
		CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
		CHECK(strcmp(why, "address") == 0);
	}
	port_req(&m);
	m.pm_port = 65536;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	port_req(&m);
	m.pm_slot = 1;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	/* Data a port request does not carry; flags it has none of. */
	port_req(&m);
	m.pm_data[3] = 1;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	port_req(&m);
	m.pm_len = 1;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	port_req(&m);
	m.pm_flags = PROC_F_REFUSED;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);

	/* A handshake request: a kind, message 1 and nothing else. */
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_HS_REQ;
	m.pm_flags = PROC_HS_IK;
	m.pm_len = 96;
	memset(m.pm_data, 0xa5, 96);
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	m.pm_flags = PROC_HS_PSK;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	m.pm_flags = 3;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_flags = PROC_HS_IK;
	m.pm_len = 0;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_len = HS_MSG1_MAX + 1;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_len = sizeof(m.pm_data) + 1;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_len = 96;
	m.pm_data[200] = 1;	/* beyond the message */
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_data[200] = 0;
	strcpy(m.pm_name, "x");
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_name[0] = '\0';
	m.pm_port = 1;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	/* The master's answer is not for a worker to send. */
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_HS_REP;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_type = PROC_REVOKE;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);

	/* What the master sends is not for a worker to send. */
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_SHUTDOWN;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	CHECK(strcmp(why, "message type") == 0);
	m.pm_type = 99;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_REGISTERED;
	m.pm_port = 9005;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	m.pm_port = 0;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_port = 9005;
	strcpy(m.pm_name, "web");
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_IDLE;
	strcpy(m.pm_reason, "session error: bad version");
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	m.pm_flags = PROC_F_REFUSED | PROC_F_AUTHFAIL;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), 0);
	m.pm_flags = PROC_F_AUTHFAIL;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_flags = 0;
	strcpy(m.pm_reason, "two\nlines");
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	CHECK(strcmp(why, "reason") == 0);
	strcpy(m.pm_reason, "\x1b]0;title\x07");
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	m.pm_reason[0] = '\0';
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
	strcpy(m.pm_reason, "x");
	m.pm_port = 1;
	CHECK_EQ(proc_worker_msg_check(&m, -1, &why), -1);
}

int
main(void)
{
	signal(SIGPIPE, SIG_IGN);
	RUN(test_hello_plain);
	RUN(test_hello_fields);
	RUN(test_hello_unknown_key_ignored);
	RUN(test_hello_old_proof_ignored);
	RUN(test_hello_addr);
	RUN(test_hello_rejects);
	RUN(test_hello_too_long);
	RUN(test_hello_roundtrip);
	RUN(test_proc_roundtrip_with_fd);
	RUN(test_proc_eof_and_empty);
	RUN(test_proc_wrong_size_refused);
	RUN(test_proc_two_fds_refused_and_closed);
	RUN(test_proc_check_rules);
	RUN(test_worker_msg_rules);
	UNIT_END();
}
