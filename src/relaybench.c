/*
 * relaybench: a load generator for TCP echo services, direct or through a
 * relay.  One process, one epoll loop.  Every byte sent is a known pattern
 * and every byte echoed back is checked against it, so a fast answer that is
 * wrong never counts.  Each run prints one JSON line on standard output.
 *
 * Modes: bulk (throughput), rtt (ping-pong latency), connrate (connect-echo-
 * close loops), hold (many idle clients), register (a plain yamux
 * registration with a relay's control port, timed) and serve (a direct echo
 * server, the baseline the others are compared with).
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hs.h"
#include "keys.h"
#include "net.h"
#include "noise.h"

#ifndef RELAY_VERSION
#define RELAY_VERSION	"0.1.0"
#endif

#define EX_VERIFY	1
#define EX_USAGE	64
#define EX_UNAVAILABLE	69
#define EX_SOFTWARE	70

/*
 * The pattern is one pseudo-random block whose length is a prime, so no
 * write or read size lines a shifted, repeated or dropped chunk up with an
 * identical one.  It is followed by a copy of its first CHUNK_MAX bytes so
 * any span of up to CHUNK_MAX bytes from any offset is contiguous.
 */
#define PAT_LEN		1048573u
#define CHUNK_MAX	(1u << 20)
#define RBUF_LEN	(256u << 10)
#define WAKE_BYTES	(1u << 20)	/* per connection and wake-up, each way */
#define NS		1000000000ull

enum mode { M_BULK, M_RTT, M_CONNRATE, M_HOLD, M_REGISTER, M_SERVE, M_N };
static const char *const mode_names[M_N] = {
	"bulk", "rtt", "connrate", "hold", "register", "serve"
};

enum fail { F_REFUSED, F_RESET, F_TIMEOUT, F_MISMATCH, F_CLOSED, F_OTHER,
	F_N };
static const char *const fail_names[F_N] = {
	"refused", "reset", "timeout", "mismatch", "closed", "other"
};

enum cstate { CS_IDLE, CS_CONNECTING, CS_RUN, CS_HELD, CS_DONE, CS_FAILED };

struct conn {
	int		 c_fd;
	enum cstate	 c_state;
	uint32_t	 c_events;	/* epoll interest */
	uint32_t	 c_start;	/* pattern offset of the stream's byte 0 */
	uint64_t	 c_sent;	/* stream bytes written */
	uint64_t	 c_rcvd;	/* stream bytes echoed and verified */
	uint64_t	 c_want;	/* write up to here (message or bulk end) */
	uint64_t	 c_t0;		/* ns: connect or message start */
	unsigned long	 c_idx;
};

static struct {
	enum mode	 mode;
	const char	*host;
	unsigned	 port;
	const char	*label;
	const char	*listen;
	const char	*until_file;
	long		 conns;
	long		 parallel;
	long		 concurrency;
	long		 count;
	long		 warmup;
	uint64_t	 bytes;
	uint64_t	 size;
	uint64_t	 write_size;
	double		 seconds;
	double		 hold_seconds;
	double		 timeout;
	long		 conn_timeout_ms;
	long		 interval_ms;
	uint64_t	 seed;
	int		 quiet;
	/* register over an encrypted session (IK) */
	uint8_t		 key_priv[32];
	uint8_t		 relay_pub[32];
	int		 has_key, has_relay_key;
} opt;

static unsigned char		*pat;
static unsigned char		*rbuf;
static int			 epfd = -1;
static struct sockaddr_storage	 dst;
static socklen_t		 dstlen;
static char			 dststr[NET_ADDRSTRLEN];
static volatile sig_atomic_t	 got_signal;

static uint64_t		 fails[F_N];
static uint64_t		 established;	/* connects that succeeded */
static uint64_t		 attempts;	/* connects tried */
static int		 connect_errno;	/* last connect failure */
static int		 diag_lines;	/* mismatch diagnostics printed */

/* ---- small helpers ---- */

static void
warnx_(const char *fmt, ...)
{
	va_list	 ap;

	if (opt.quiet)
		return;
	va_start(ap, fmt);
	fputs("relaybench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

static void __attribute__((noreturn))
die(int code, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fputs("relaybench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static uint64_t
now_ns(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS + (uint64_t)ts.tv_nsec;
}

static uint64_t
secs_ns(double s)
{
	return (uint64_t)(s * 1e9);
}

static void
on_signal(int sig)
{
	(void)sig;
	got_signal = 1;
}

static void
signals_init(void)
{
	struct sigaction	 sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	/* A second signal kills: a stuck run can always be ended. */
	sa.sa_flags = SA_RESETHAND;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

/* Descriptors are the one resource a run of 10,000 clients runs out of. */
static long
nofile_raise(void)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return 1024;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return rl.rlim_cur == RLIM_INFINITY ? LONG_MAX : (long)rl.rlim_cur;
}

static enum fail
fail_of_errno(int e)
{
	switch (e) {
	case ECONNREFUSED:
		return F_REFUSED;
	case ECONNRESET:
	case EPIPE:
	case ECONNABORTED:
		return F_RESET;
	case ETIMEDOUT:
		return F_TIMEOUT;
	default:
		return F_OTHER;
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t	 x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted samples, in microseconds. */
static double
pct_us(const uint64_t *v, size_t n, double p)
{
	size_t	 i;

	if (n == 0)
		return 0;
	i = (size_t)((p / 100.0) * (double)n + 0.999999);
	if (i < 1)
		i = 1;
	if (i > n)
		i = n;
	return (double)v[i - 1] / 1000.0;
}

/* ---- the pattern ---- */

static void
pattern_init(void)
{
	uint64_t	 x = opt.seed * 0x9e3779b97f4a7c15ull + 0x2545f4914f6cdd1dull;
	size_t		 i;

	if ((pat = malloc(PAT_LEN + CHUNK_MAX)) == NULL ||
	    (rbuf = malloc(RBUF_LEN)) == NULL)
		die(EX_SOFTWARE, "out of memory");
	for (i = 0; i < PAT_LEN; i++) {
		/* xorshift64* */
		x ^= x >> 12;
		x ^= x << 25;
		x ^= x >> 27;
		pat[i] = (unsigned char)((x * 0x2545f4914f6cdd1dull) >> 56);
	}
	/* Forward, byte by byte: the copy is longer than the block. */
	for (i = PAT_LEN; i < PAT_LEN + CHUNK_MAX; i++)
		pat[i] = pat[i - PAT_LEN];
}

/* Where stream number idx starts in the pattern. */
static uint32_t
pattern_start(unsigned long idx)
{
	uint64_t	 h = ((uint64_t)idx + 1) * 0x9e3779b97f4a7c15ull;

	return (uint32_t)((h >> 17) % PAT_LEN);
}

/* Check n echoed bytes at stream offset c_rcvd; 0 or -1 (and say where). */
static int
pattern_check(struct conn *c, const unsigned char *buf, size_t n)
{
	const unsigned char	*want = pat + (c->c_start + c->c_rcvd) % PAT_LEN;
	size_t			 i;

	if (memcmp(buf, want, n) == 0)
		return 0;
	for (i = 0; i < n && buf[i] == want[i]; i++)
		;
	if (diag_lines++ < 5)
		warnx_("connection %lu: echoed byte %llu is 0x%02x, "
		    "sent 0x%02x", c->c_idx,
		    (unsigned long long)(c->c_rcvd + i), buf[i], want[i]);
	return -1;
}

/* ---- connections ---- */

static void
conn_events(struct conn *c, uint32_t ev)
{
	struct epoll_event	 ee;

	if (c->c_events == ev || c->c_fd == -1)
		return;
	memset(&ee, 0, sizeof(ee));
	ee.events = ev;
	ee.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->c_fd, &ee) == -1)
		die(EX_SOFTWARE, "epoll_ctl: %s", strerror(errno));
	c->c_events = ev;
}

static void
conn_close(struct conn *c, enum cstate st)
{
	if (c->c_fd != -1) {
		/* close() removes it from the epoll set. */
		close(c->c_fd);
		c->c_fd = -1;
	}
	c->c_state = st;
	c->c_events = 0;
}

static void
conn_fail(struct conn *c, enum fail kind)
{
	fails[kind]++;
	conn_close(c, CS_FAILED);
}

/* Start a non-blocking connect; 0, or -1 with the failure counted. */
static int
conn_open(struct conn *c, unsigned long idx, uint64_t now)
{
	struct epoll_event	 ee;

	memset(c, 0, sizeof(*c));
	c->c_idx = idx;
	c->c_start = pattern_start(idx);
	c->c_t0 = now;
	attempts++;
	if ((c->c_fd = net_connect(&dst, dstlen)) == -1) {
		connect_errno = errno;
		fails[fail_of_errno(errno)]++;
		c->c_state = CS_FAILED;
		return -1;
	}
	net_nodelay(c->c_fd);
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLOUT;
	ee.data.ptr = c;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, c->c_fd, &ee) == -1)
		die(EX_SOFTWARE, "epoll_ctl: %s", strerror(errno));
	c->c_events = EPOLLOUT;
	c->c_state = CS_CONNECTING;
	return 0;
}

/* The connect finished (writable); 0 when it succeeded. */
static int
conn_connected(struct conn *c)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(c->c_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err != 0) {
		connect_errno = err;
		conn_fail(c, fail_of_errno(err));
		return -1;
	}
	established++;
	c->c_state = CS_RUN;
	return 0;
}

/*
 * Write the stream up to c_want, chunk bytes per call, at most WAKE_BYTES
 * per call of this function so one connection does not starve the others.
 * 1 when all is written, 0 when the socket is full, -1 on error (counted).
 */
static int
conn_write(struct conn *c, uint64_t chunk)
{
	uint64_t	 budget = WAKE_BYTES;
	ssize_t		 w;

	while (c->c_sent < c->c_want) {
		uint64_t n = c->c_want - c->c_sent;
		if (n > chunk)
			n = chunk;
		if (n > CHUNK_MAX)
			n = CHUNK_MAX;
		w = write(c->c_fd, pat + (c->c_start + c->c_sent) % PAT_LEN,
		    (size_t)n);
		if (w > 0) {
			c->c_sent += (uint64_t)w;
			if ((uint64_t)w >= budget)
				return c->c_sent == c->c_want;
			budget -= (uint64_t)w;
			continue;
		}
		if (w == -1 && errno == EINTR)
			continue;
		if (w == -1 && errno == EAGAIN)
			return 0;
		conn_fail(c, fail_of_errno(errno));
		return -1;
	}
	return 1;
}

/*
 * Read and verify what the peer echoed.  1 when something was read (or
 * nothing is there yet), 0 at EOF, -1 on error (counted, closed).
 */
static int
conn_read(struct conn *c)
{
	uint64_t	 budget = WAKE_BYTES;
	ssize_t		 r;

	for (;;) {
		r = read(c->c_fd, rbuf, RBUF_LEN);
		if (r > 0) {
			if (c->c_rcvd + (uint64_t)r > c->c_sent) {
				if (diag_lines++ < 5)
					warnx_("connection %lu: %llu bytes "
					    "echoed, only %llu sent", c->c_idx,
					    (unsigned long long)(c->c_rcvd + r),
					    (unsigned long long)c->c_sent);
				conn_fail(c, F_MISMATCH);
				return -1;
			}
			if (pattern_check(c, rbuf, (size_t)r) == -1) {
				conn_fail(c, F_MISMATCH);
				return -1;
			}
			c->c_rcvd += (uint64_t)r;
			if ((uint64_t)r >= budget || (size_t)r < RBUF_LEN)
				return 1;
			budget -= (uint64_t)r;
			continue;
		}
		if (r == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN)
			return 1;
		conn_fail(c, fail_of_errno(errno));
		return -1;
	}
}

/* Premature EOF: the peer closed before echoing all we sent. */
static void
conn_eof(struct conn *c)
{
	if (diag_lines++ < 5)
		warnx_("connection %lu: closed by the peer after %llu of %llu "
		    "bytes echoed", c->c_idx, (unsigned long long)c->c_rcvd,
		    (unsigned long long)c->c_sent);
	conn_fail(c, F_CLOSED);
}

static struct conn *
conns_alloc(long n)
{
	struct conn	*c;
	long		 i;

	if ((c = calloc((size_t)n, sizeof(*c))) == NULL)
		die(EX_SOFTWARE, "out of memory");
	for (i = 0; i < n; i++) {
		c[i].c_fd = -1;
		c[i].c_state = CS_IDLE;
	}
	return c;
}

static int
epoll_wait_ms(struct epoll_event *evs, int max, int ms)
{
	int	 n = epoll_wait(epfd, evs, max, ms);

	if (n == -1) {
		if (errno != EINTR)
			die(EX_SOFTWARE, "epoll_wait: %s", strerror(errno));
		n = 0;
	}
	return n;
}

/*
 * Connect all of conns, up to the deadline.  Returns how many connected;
 * the others are counted as failures.
 */
static long
conns_connect_all(struct conn *cs, long n, uint64_t deadline)
{
	struct epoll_event	 evs[256];
	long			 i, pending = 0, ok = 0;
	uint64_t		 now = now_ns();

	for (i = 0; i < n; i++)
		if (conn_open(&cs[i], (unsigned long)i, now) == 0)
			pending++;
	while (pending > 0 && !got_signal) {
		int k, ne;
		if ((now = now_ns()) >= deadline)
			break;
		ne = epoll_wait_ms(evs, 256, 50);
		for (k = 0; k < ne; k++) {
			struct conn *c = evs[k].data.ptr;
			if (c->c_state != CS_CONNECTING)
				continue;
			pending--;
			if (conn_connected(c) == 0) {
				ok++;
				conn_events(c, EPOLLIN);
			}
		}
	}
	for (i = 0; i < n; i++)
		if (cs[i].c_state == CS_CONNECTING)
			conn_fail(&cs[i], F_TIMEOUT);
	return ok;
}

/* ---- JSON output ---- */

static char	 jbuf[4096];
static size_t	 jlen;

static void
json_raw(const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(jbuf + jlen, sizeof(jbuf) - jlen, fmt, ap);
	va_end(ap);
	if (n > 0)
		jlen += (size_t)n;
	if (jlen >= sizeof(jbuf))
		jlen = sizeof(jbuf) - 1;
}

static void
json_str(const char *key, const char *s)
{
	json_raw(",\"%s\":\"", key);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;
		if (ch == '"' || ch == '\\')
			json_raw("\\%c", ch);
		else if (ch < 0x20)
			json_raw("\\u%04x", ch);
		else
			json_raw("%c", ch);
	}
	json_raw("\"");
}

static void
json_u(const char *key, uint64_t v)
{
	json_raw(",\"%s\":%llu", key, (unsigned long long)v);
}

static void
json_f(const char *key, double v, int prec)
{
	if (!(v == v) || v > 1e300 || v < -1e300)
		v = 0;
	json_raw(",\"%s\":%.*f", key, prec, v);
}

static void
json_begin(void)
{
	jlen = 0;
	json_raw("{\"mode\":\"%s\"", mode_names[opt.mode]);
	if (opt.label != NULL)
		json_str("label", opt.label);
	json_str("target", dststr);
}

static uint64_t
fails_total(void)
{
	uint64_t	 t = 0;
	int		 i;

	for (i = 0; i < F_N; i++)
		t += fails[i];
	return t;
}

static void
json_failures(void)
{
	int	 i;

	json_raw(",\"failures\":{");
	for (i = 0; i < F_N; i++)
		json_raw("%s\"%s\":%llu", i ? "," : "", fail_names[i],
		    (unsigned long long)fails[i]);
	json_raw("}");
	json_u("errors", fails_total());
}

/* Print the line; the exit status follows from the failures. */
static int
json_end(void)
{
	json_raw("}\n");
	fwrite(jbuf, 1, jlen, stdout);
	fflush(stdout);
	if (attempts > 0 && established == 0) {
		warnx_("cannot connect to %s: %s", dststr,
		    strerror(connect_errno ? connect_errno : ETIMEDOUT));
		return EX_UNAVAILABLE;
	}
	return fails_total() > 0 ? EX_VERIFY : 0;
}

/* ---- bulk: N connections stream the pattern and verify the echo ---- */

static int
run_bulk(void)
{
	struct epoll_event	 evs[256];
	struct conn		*cs = conns_alloc(opt.conns);
	uint64_t		 t_begin = now_ns(), t_start, t_stop, t_end;
	uint64_t		 deadline = t_begin + secs_ns(opt.timeout);
	uint64_t		 total = 0, want;
	long			 i, active, n_ok;
	int			 stopped = 0, interrupted = 0, timed_out = 0;

	n_ok = conns_connect_all(cs, opt.conns, deadline);
	t_start = t_end = now_ns();
	t_stop = opt.bytes ? UINT64_MAX : t_start + secs_ns(opt.seconds);
	want = opt.bytes ? opt.bytes : UINT64_MAX;
	active = 0;
	for (i = 0; i < opt.conns; i++) {
		if (cs[i].c_state != CS_RUN)
			continue;
		cs[i].c_want = want;
		conn_events(&cs[i], EPOLLIN | EPOLLOUT);
		active++;
	}
	while (active > 0) {
		uint64_t now = now_ns();
		int k, ne, ms;
		if (!stopped && (now >= t_stop || got_signal)) {
			/* Stop writing; finish when all written is echoed. */
			stopped = 1;
			interrupted = got_signal != 0;
			for (i = 0; i < opt.conns; i++) {
				struct conn *c = &cs[i];
				if (c->c_state != CS_RUN)
					continue;
				c->c_want = c->c_sent;
				if (c->c_rcvd == c->c_sent) {
					conn_close(c, CS_DONE);
					active--;
					t_end = now;
				} else
					conn_events(c, EPOLLIN);
			}
			continue;
		}
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		ms = 50;
		if (!stopped && t_stop != UINT64_MAX && t_stop - now < 50000000)
			ms = (int)((t_stop - now) / 1000000) + 1;
		ne = epoll_wait_ms(evs, 256, ms);
		for (k = 0; k < ne; k++) {
			struct conn *c = evs[k].data.ptr;
			uint32_t ev = evs[k].events;
			int r;
			if (c->c_state != CS_RUN)
				continue;
			if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				r = conn_read(c);
				if (r == 0 && c->c_rcvd < c->c_want)
					conn_eof(c);
				if (c->c_state != CS_RUN) {
					active--;
					t_end = now_ns();
					continue;
				}
			}
			if ((ev & EPOLLOUT) && c->c_sent < c->c_want) {
				r = conn_write(c, opt.write_size);
				if (r == -1) {
					active--;
					t_end = now_ns();
					continue;
				}
				if (r == 1)
					conn_events(c, EPOLLIN);
			}
			if (c->c_sent == c->c_want && c->c_rcvd == c->c_want) {
				conn_close(c, CS_DONE);
				active--;
				t_end = now_ns();
			}
		}
	}
	if (timed_out) {
		for (i = 0; i < opt.conns; i++)
			if (cs[i].c_state == CS_RUN)
				conn_fail(&cs[i], F_TIMEOUT);
		t_end = now_ns();
		warnx_("bulk: timed out after %.0f s", opt.timeout);
	}
	for (i = 0; i < opt.conns; i++)
		total += cs[i].c_rcvd;
	{
		double secs = (double)(t_end - t_start) / 1e9;
		json_begin();
		json_u("conns", (uint64_t)opt.conns);
		json_u("connected", (uint64_t)n_ok);
		json_u("write_size", opt.write_size);
		json_u("bytes", total);
		json_f("seconds", secs, 3);
		json_f("mib_per_s", secs > 0 ? (double)total / secs /
		    1048576.0 : 0, 1);
		if (interrupted)
			json_raw(",\"interrupted\":true");
		json_failures();
	}
	free(cs);
	return json_end();
}

/* ---- rtt: ping-pong of SIZE-byte messages ---- */

static int
run_rtt(void)
{
	struct epoll_event	 evs[256];
	struct conn		*cs = conns_alloc(opt.conns);
	uint64_t		 t_begin = now_ns(), t_start, t_end;
	uint64_t		 deadline = t_begin + secs_ns(opt.timeout);
	uint64_t		 t_stop, *lat;
	uint64_t		 limit = (uint64_t)opt.count + (uint64_t)opt.warmup;
	uint64_t		 issued = 0, done = 0;
	size_t			 nlat = 0;
	long			 i, active = 0, n_ok;
	int			 interrupted = 0, timed_out = 0;

	if ((lat = malloc((size_t)opt.count * sizeof(*lat))) == NULL)
		die(EX_SOFTWARE, "out of memory");
	n_ok = conns_connect_all(cs, opt.conns, deadline);
	t_start = t_end = now_ns();
	t_stop = opt.seconds > 0 ? t_start + secs_ns(opt.seconds) : UINT64_MAX;
	for (i = 0; i < opt.conns; i++) {
		struct conn *c = &cs[i];
		int r;
		if (c->c_state != CS_RUN)
			continue;
		if (issued >= limit) {
			conn_close(c, CS_DONE);
			continue;
		}
		active++;
		issued++;
		c->c_want = c->c_sent + opt.size;
		c->c_t0 = now_ns();
		if ((r = conn_write(c, CHUNK_MAX)) == -1)
			active--;
		else if (r == 0)
			conn_events(c, EPOLLIN | EPOLLOUT);
	}
	while (active > 0) {
		uint64_t now;
		int k, ne;
		if (got_signal && !interrupted) {
			interrupted = 1;
			t_stop = 0;
		}
		ne = epoll_wait_ms(evs, 256, 50);
		now = now_ns();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		for (k = 0; k < ne; k++) {
			struct conn *c = evs[k].data.ptr;
			uint32_t ev = evs[k].events;
			int r;
			if (c->c_state != CS_RUN)
				continue;
			if ((ev & EPOLLOUT) && c->c_sent < c->c_want) {
				if ((r = conn_write(c, CHUNK_MAX)) == -1) {
					active--;
					continue;
				}
				if (r == 1)
					conn_events(c, EPOLLIN);
			}
			if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			if ((r = conn_read(c)) == -1) {
				active--;
				continue;
			}
			if (c->c_rcvd < c->c_want) {
				if (r == 0) {
					conn_eof(c);
					active--;
				}
				continue;
			}
			/* One round trip complete. */
			now = now_ns();
			if (done++ >= (uint64_t)opt.warmup &&
			    nlat < (size_t)opt.count)
				lat[nlat++] = now - c->c_t0;
			t_end = now;
			if (r == 0 || issued >= limit || now >= t_stop) {
				conn_close(c, r == 0 ? CS_FAILED : CS_DONE);
				if (r == 0)
					fails[F_CLOSED]++;
				active--;
				continue;
			}
			issued++;
			c->c_want = c->c_sent + opt.size;
			c->c_t0 = now;
			if ((r = conn_write(c, CHUNK_MAX)) == -1)
				active--;
			else if (r == 0)
				conn_events(c, EPOLLIN | EPOLLOUT);
		}
	}
	if (timed_out) {
		for (i = 0; i < opt.conns; i++)
			if (cs[i].c_state == CS_RUN)
				conn_fail(&cs[i], F_TIMEOUT);
		warnx_("rtt: timed out after %.0f s", opt.timeout);
	}
	if (nlat > 1)
		qsort(lat, nlat, sizeof(*lat), cmp_u64);
	{
		double secs = (double)(t_end - t_start) / 1e9, sum = 0;
		size_t j;
		for (j = 0; j < nlat; j++)
			sum += (double)lat[j];
		json_begin();
		json_u("conns", (uint64_t)opt.conns);
		json_u("connected", (uint64_t)n_ok);
		json_u("size", opt.size);
		json_u("count", nlat);
		json_u("warmup", (uint64_t)opt.warmup);
		json_f("seconds", secs, 3);
		json_f("per_s", secs > 0 ? (double)done / secs : 0, 1);
		json_f("mean_us", nlat ? sum / (double)nlat / 1000.0 : 0, 1);
		json_f("min_us", nlat ? (double)lat[0] / 1000.0 : 0, 1);
		json_f("p50_us", pct_us(lat, nlat, 50), 1);
		json_f("p90_us", pct_us(lat, nlat, 90), 1);
		json_f("p99_us", pct_us(lat, nlat, 99), 1);
		json_f("p999_us", pct_us(lat, nlat, 99.9), 1);
		json_f("max_us", pct_us(lat, nlat, 100), 1);
		if (interrupted)
			json_raw(",\"interrupted\":true");
		json_failures();
	}
	free(lat);
	free(cs);
	return json_end();
}

/* ---- connrate: P parallel connect, echo SIZE bytes, close loops ---- */

struct rate {
	struct conn	*slots;
	uint64_t	 started, ok, t_stop, t_end;
	uint64_t	*lat;
	size_t		 nlat, caplat;
	long		 active;
};

static int
rate_may_start(struct rate *rt, uint64_t now)
{
	if (got_signal || now >= rt->t_stop)
		return 0;
	return opt.count == 0 || rt->started < (uint64_t)opt.count;
}

/* (Re)fill one slot with a new connection unless the run is ending. */
static void
rate_next(struct rate *rt, struct conn *c)
{
	uint64_t	 now = now_ns();

	while (rate_may_start(rt, now)) {
		if (conn_open(c, (unsigned long)rt->started++, now) == 0)
			return;
		now = now_ns();
	}
	rt->active--;
}

static void
rate_done(struct rate *rt, struct conn *c, uint64_t now)
{
	conn_close(c, CS_DONE);
	rt->ok++;
	if (rt->nlat == rt->caplat) {
		size_t n = rt->caplat ? rt->caplat * 2 : 4096;
		uint64_t *l = realloc(rt->lat, n * sizeof(*l));
		if (l == NULL)
			die(EX_SOFTWARE, "out of memory");
		rt->lat = l;
		rt->caplat = n;
	}
	rt->lat[rt->nlat++] = now - c->c_t0;
}

static int
run_connrate(void)
{
	struct epoll_event	 evs[256];
	struct rate		 rt;
	uint64_t		 t_start = now_ns();
	uint64_t		 deadline = t_start + secs_ns(opt.timeout);
	uint64_t		 per_conn = (uint64_t)opt.conn_timeout_ms * 1000000;
	uint64_t		 last_scan = t_start;
	long			 i;
	int			 timed_out = 0;

	memset(&rt, 0, sizeof(rt));
	rt.slots = conns_alloc(opt.parallel);
	rt.t_stop = opt.seconds > 0 ? t_start + secs_ns(opt.seconds) :
	    UINT64_MAX;
	rt.t_end = t_start;
	rt.active = opt.parallel;
	for (i = 0; i < opt.parallel; i++)
		rate_next(&rt, &rt.slots[i]);
	while (rt.active > 0) {
		uint64_t now;
		int k, ne;
		ne = epoll_wait_ms(evs, 256, 50);
		now = now_ns();
		if (now >= deadline) {
			timed_out = 1;
			break;
		}
		for (k = 0; k < ne; k++) {
			struct conn *c = evs[k].data.ptr;
			uint32_t ev = evs[k].events;
			int r;
			if (c->c_state == CS_CONNECTING) {
				if (conn_connected(c) == -1) {
					rate_next(&rt, c);
					continue;
				}
				c->c_want = opt.size;
				if ((r = conn_write(c, CHUNK_MAX)) == -1) {
					rate_next(&rt, c);
					continue;
				}
				conn_events(c, r == 1 ? EPOLLIN :
				    EPOLLIN | EPOLLOUT);
				continue;
			}
			if (c->c_state != CS_RUN)
				continue;
			if ((ev & EPOLLOUT) && c->c_sent < c->c_want) {
				if ((r = conn_write(c, CHUNK_MAX)) == -1) {
					rate_next(&rt, c);
					continue;
				}
				if (r == 1)
					conn_events(c, EPOLLIN);
			}
			if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				continue;
			if ((r = conn_read(c)) == -1) {
				rate_next(&rt, c);
				continue;
			}
			if (c->c_rcvd == c->c_want) {
				rate_done(&rt, c, now_ns());
				rate_next(&rt, c);
			} else if (r == 0) {
				conn_eof(c);
				rate_next(&rt, c);
			}
		}
		if (now - last_scan >= 20000000) {
			last_scan = now;
			for (i = 0; i < opt.parallel; i++) {
				struct conn *c = &rt.slots[i];
				if ((c->c_state == CS_CONNECTING ||
				    c->c_state == CS_RUN) &&
				    now > c->c_t0 && now - c->c_t0 >= per_conn) {
					conn_fail(c, F_TIMEOUT);
					rate_next(&rt, c);
				}
			}
		}
	}
	if (timed_out) {
		for (i = 0; i < opt.parallel; i++) {
			struct conn *c = &rt.slots[i];
			if (c->c_state == CS_CONNECTING || c->c_state == CS_RUN)
				conn_fail(c, F_TIMEOUT);
		}
		warnx_("connrate: timed out after %.0f s", opt.timeout);
	}
	/* The loop ends as soon as the last connection has finished. */
	rt.t_end = now_ns();
	if (rt.nlat > 1)
		qsort(rt.lat, rt.nlat, sizeof(*rt.lat), cmp_u64);
	{
		double secs = (double)(rt.t_end - t_start) / 1e9;
		json_begin();
		json_u("parallel", (uint64_t)opt.parallel);
		json_u("size", opt.size);
		json_u("attempts", attempts);
		json_u("conns", rt.ok);
		json_f("seconds", secs, 3);
		json_f("per_s", secs > 0 ? (double)rt.ok / secs : 0, 1);
		json_f("p50_us", pct_us(rt.lat, rt.nlat, 50), 1);
		json_f("p99_us", pct_us(rt.lat, rt.nlat, 99), 1);
		json_f("max_us", pct_us(rt.lat, rt.nlat, 100), 1);
		if (got_signal)
			json_raw(",\"interrupted\":true");
		json_failures();
	}
	free(rt.lat);
	free(rt.slots);
	return json_end();
}

/* ---- hold: open N verified connections, keep them, check them again ---- */

static int
hold_should_end(uint64_t now, uint64_t t_until)
{
	struct stat	 st;

	if (got_signal || now >= t_until)
		return 1;
	return opt.until_file != NULL && stat(opt.until_file, &st) == -1 &&
	    errno == ENOENT;
}

static void
hold_send(struct conn *c, uint64_t now)
{
	int	 r;

	c->c_want = c->c_sent + opt.size;
	c->c_t0 = now;
	if ((r = conn_write(c, CHUNK_MAX)) == -1)
		return;
	conn_events(c, r == 1 ? EPOLLIN : EPOLLIN | EPOLLOUT);
}

/* Bytes echoed on an established connection; 1 when its echo is complete. */
static int
hold_io(struct conn *c, uint32_t ev)
{
	int	 r;

	if ((ev & EPOLLOUT) && c->c_sent < c->c_want) {
		if ((r = conn_write(c, CHUNK_MAX)) == -1)
			return -1;
		if (r == 1)
			conn_events(c, EPOLLIN);
	}
	if (!(ev & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		return 0;
	if ((r = conn_read(c)) == -1)
		return -1;
	if (c->c_rcvd == c->c_want)
		return 1;
	if (r == 0) {
		conn_eof(c);
		return -1;
	}
	return 0;
}

static int
run_hold(void)
{
	struct epoll_event	 evs[256];
	struct conn		*cs = conns_alloc(opt.conns);
	uint64_t		 t_start = now_ns(), t_open, t_held, t_end;
	uint64_t		 deadline = t_start + secs_ns(opt.timeout);
	uint64_t		 per_conn = (uint64_t)opt.conn_timeout_ms * 1000000;
	uint64_t		 last_scan = t_start, t_until, dropped = 0;
	uint64_t		 fails_open[F_N];
	long			 next = 0, inflight = 0, verified = 0, held;
	long			 rechecked = 0, pending, i;
	int			 k, ne;

	/* Phase 1: open, bounded concurrency, each verified by one echo. */
	for (;;) {
		uint64_t now = now_ns();
		while (inflight < opt.concurrency && next < opt.conns &&
		    !got_signal) {
			if (conn_open(&cs[next], (unsigned long)next, now) == 0)
				inflight++;
			next++;
		}
		if (inflight == 0 && (next == opt.conns || got_signal))
			break;
		if (now >= deadline) {
			warnx_("hold: opening timed out after %.0f s",
			    opt.timeout);
			break;
		}
		ne = epoll_wait_ms(evs, 256, 50);
		now = now_ns();
		for (k = 0; k < ne; k++) {
			struct conn *c = evs[k].data.ptr;
			int r;
			if (c->c_state == CS_CONNECTING) {
				if (conn_connected(c) == -1) {
					inflight--;
					continue;
				}
				hold_send(c, now);
				if (c->c_state == CS_FAILED)
					inflight--;
				continue;
			}
			if (c->c_state == CS_HELD) {
				/* Anything on a held connection is a loss. */
				if ((r = conn_read(c)) == 0)
					conn_fail(c, F_CLOSED);
				if (c->c_state == CS_FAILED) {
					dropped++;
					verified--;
				}
				continue;
			}
			if (c->c_state != CS_RUN)
				continue;
			if ((r = hold_io(c, evs[k].events)) == -1)
				inflight--;
			else if (r == 1) {
				c->c_state = CS_HELD;
				verified++;
				inflight--;
			}
		}
		if (now - last_scan >= 100000000) {
			last_scan = now;
			for (i = 0; i < next; i++) {
				struct conn *c = &cs[i];
				if ((c->c_state == CS_CONNECTING ||
				    c->c_state == CS_RUN) &&
				    now > c->c_t0 && now - c->c_t0 >= per_conn) {
					conn_fail(c, F_TIMEOUT);
					inflight--;
				}
			}
		}
	}
	for (i = 0; i < opt.conns; i++)
		if (cs[i].c_state == CS_CONNECTING || cs[i].c_state == CS_RUN)
			conn_fail(&cs[i], F_TIMEOUT);
	memcpy(fails_open, fails, sizeof(fails));
	t_open = now_ns();
	held = verified;
	/* The line a driver waits for before it measures. */
	fprintf(stderr, "relaybench: holding %ld of %ld connections\n", held,
	    opt.conns);
	fflush(stderr);

	/* Phase 2: hold; a held connection that reads anything is lost. */
	t_until = t_open + secs_ns(opt.hold_seconds);
	while (!hold_should_end(now_ns(), t_until)) {
		ne = epoll_wait_ms(evs, 256, 100);
		for (k = 0; k < ne; k++) {
			struct conn *c = evs[k].data.ptr;
			if (c->c_state != CS_HELD)
				continue;
			/* Bytes nobody asked for fail it as a mismatch. */
			if (conn_read(c) == 0)
				conn_fail(c, F_CLOSED);
			if (c->c_state == CS_FAILED)
				dropped++;
		}
	}
	t_held = now_ns();

	/* Phase 3: every held connection echoes once more, then closes. */
	pending = 0;
	deadline = t_held + secs_ns(opt.timeout);
	for (i = 0; i < opt.conns; i++) {
		struct conn *c = &cs[i];
		if (c->c_state != CS_HELD)
			continue;
		c->c_state = CS_RUN;
		hold_send(c, t_held);
		if (c->c_state == CS_RUN)
			pending++;
	}
	while (pending > 0 && now_ns() < deadline) {
		ne = epoll_wait_ms(evs, 256, 50);
		for (k = 0; k < ne; k++) {
			struct conn *c = evs[k].data.ptr;
			int r;
			if (c->c_state != CS_RUN)
				continue;
			if ((r = hold_io(c, evs[k].events)) == -1)
				pending--;
			else if (r == 1) {
				conn_close(c, CS_DONE);
				rechecked++;
				pending--;
			}
		}
	}
	for (i = 0; i < opt.conns; i++) {
		if (cs[i].c_state == CS_RUN)
			conn_fail(&cs[i], F_TIMEOUT);
		else if (cs[i].c_state != CS_FAILED)
			conn_close(&cs[i], CS_DONE);
	}
	t_end = now_ns();
	{
		double os = (double)(t_open - t_start) / 1e9;
		uint64_t fo = 0;
		for (k = 0; k < F_N; k++)
			fo += fails_open[k];
		json_begin();
		json_u("conns", (uint64_t)opt.conns);
		json_u("size", opt.size);
		json_u("opened", established);
		json_u("verified", (uint64_t)held);
		json_u("failed", fo);
		json_u("dropped", dropped);
		json_u("rechecked", (uint64_t)rechecked);
		json_f("open_seconds", os, 3);
		json_f("open_per_s", os > 0 ? (double)held / os : 0, 1);
		json_f("held_seconds", (double)(t_held - t_open) / 1e9, 3);
		json_f("seconds", (double)(t_end - t_start) / 1e9, 3);
		json_failures();
	}
	free(cs);
	return json_end();
}

/* ---- register: a plain yamux client registers, timed ---- */

/*
 * The minimal registration of docs/PROTOCOL.md: open stream 1 (WindowUpdate
 * with SYN, as hashicorp's Open() does), read the relay's Data on it to the
 * FIN.  The time is from before connect() to the FIN: what a backend waits
 * for its address.  0 and the address, or -1 with the failure counted.
 */
static int
register_once(uint64_t *ns, char *addr, size_t addrlen)
{
	static const unsigned char open1[12] = {
		0, 1, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0
	};
	unsigned char	 buf[4096], rec[NOISE_REC_HDR + 12 + NOISE_TAG_LEN];
	unsigned char	 raw[4096];
	struct noise_cs	 tx, rx;
	struct noise_rec_rx *rrx = NULL;
	uint8_t		 rpub[32];
	char		 herr[200];
	int		 has_rpub;
	size_t		 have = 0, alen = 0;
	uint64_t	 t0 = now_ns(), end = t0 +
			    (uint64_t)opt.conn_timeout_ms * 1000000;
	struct pollfd	 pfd;
	int		 fd, fin = 0, err = 0;
	socklen_t	 elen = sizeof(err);

	attempts++;
	if ((fd = net_connect(&dst, dstlen)) == -1) {
		connect_errno = errno;
		fails[fail_of_errno(errno)]++;
		return -1;
	}
	net_nodelay(fd);
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if (poll(&pfd, 1, (int)opt.conn_timeout_ms) != 1) {
		fails[F_TIMEOUT]++;
		goto fail;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == -1 ||
	    err != 0) {
		connect_errno = err ? err : errno;
		fails[fail_of_errno(connect_errno)]++;
		goto fail;
	}
	established++;
	if (opt.has_key) {
		/* The handshake, then stream 1's open inside a record. */
		if (hs_initiate(fd, HS_IK, opt.key_priv, opt.relay_pub, NULL,
		    (unsigned)opt.conn_timeout_ms, &tx, &rx, rpub, &has_rpub,
		    herr, sizeof(herr)) != 0) {
			if (diag_lines++ < 5)
				warnx_("handshake: %s", herr);
			fails[F_OTHER]++;
			goto fail;
		}
		if ((rrx = malloc(sizeof(*rrx))) == NULL)
			die(EX_SOFTWARE, "out of memory");
		noise_rec_rx_init(rrx, &rx);
		memcpy(rec + NOISE_REC_HDR, open1, sizeof(open1));
		if (noise_rec_seal(&tx, rec + NOISE_REC_HDR, sizeof(open1),
		    rec) != sizeof(rec) ||
		    write(fd, rec, sizeof(rec)) != (ssize_t)sizeof(rec)) {
			fails[fail_of_errno(errno)]++;
			goto fail;
		}
		noise_cs_wipe(&tx);
	} else if (write(fd, open1, sizeof(open1)) != (ssize_t)sizeof(open1)) {
		fails[fail_of_errno(errno)]++;
		goto fail;
	}
	while (!fin) {
		uint64_t now = now_ns();
		ssize_t r;
		size_t off = 0;
		if (now >= end) {
			fails[F_TIMEOUT]++;
			goto fail;
		}
		pfd.events = POLLIN;
		if (poll(&pfd, 1, (int)((end - now) / 1000000) + 1) == 0)
			continue;
		if ((r = read(fd, rrx != NULL ? raw : buf + have, rrx != NULL ?
		    sizeof(raw) : sizeof(buf) - have)) <= 0) {
			if (r == -1 && (errno == EAGAIN || errno == EINTR))
				continue;
			fails[r == 0 ? F_CLOSED : fail_of_errno(errno)]++;
			goto fail;
		}
		if (rrx != NULL) {
			/* Records in, the yamux bytes they carry out. */
			size_t roff = 0, ptlen;
			const uint8_t *pt;
			ssize_t used;
			while (roff < (size_t)r) {
				used = noise_rec_open(rrx, raw + roff,
				    (size_t)r - roff, &pt, &ptlen);
				if (used < 0 || (pt != NULL &&
				    ptlen > sizeof(buf) - have)) {
					fails[F_OTHER]++;
					goto fail;
				}
				roff += (size_t)used;
				if (pt != NULL) {
					memcpy(buf + have, pt, ptlen);
					have += ptlen;
				}
			}
		} else
			have += (size_t)r;
		while (have - off >= 12) {
			const unsigned char *h = buf + off;
			unsigned type = h[1], flags = (h[2] << 8) | h[3];
			uint32_t sid = ((uint32_t)h[4] << 24) | (h[5] << 16) |
			    (h[6] << 8) | h[7];
			uint32_t len = ((uint32_t)h[8] << 24) | (h[9] << 16) |
			    (h[10] << 8) | h[11];
			size_t plen = type == 0 ? len : 0;
			if (h[0] != 0 || type > 3 || type == 3 ||
			    plen > sizeof(buf) - 12) {
				fails[F_OTHER]++;
				goto fail;
			}
			if (have - off < 12 + plen)
				break;
			if (sid == 1 && plen > 0) {
				size_t n = plen;
				if (n > addrlen - 1 - alen)
					n = addrlen - 1 - alen;
				memcpy(addr + alen, h + 12, n);
				alen += n;
			}
			if (sid == 1 && (flags & 8)) {
				fails[F_RESET]++;
				goto fail;
			}
			if (sid == 1 && (flags & 4))
				fin = 1;
			off += 12 + plen;
		}
		memmove(buf, buf + off, have - off);
		have -= off;
	}
	*ns = now_ns() - t0;
	addr[alen] = '\0';
	close(fd);
	if (rrx != NULL) {
		noise_rec_rx_wipe(rrx);
		free(rrx);
	}
	if (alen == 0 || strncmp(addr, "error", 5) == 0 ||
	    strchr(addr, ':') == NULL) {
		if (diag_lines++ < 5)
			warnx_("registration refused: %s",
			    alen ? addr : "(empty answer)");
		fails[F_OTHER]++;
		return -1;
	}
	return 0;
fail:
	close(fd);
	if (rrx != NULL) {
		noise_rec_rx_wipe(rrx);
		free(rrx);
	}
	return -1;
}

static int
run_register(void)
{
	uint64_t	*lat;
	uint64_t	 t_start = now_ns();
	uint64_t	 deadline = t_start + secs_ns(opt.timeout);
	char		 addr[256] = "";
	size_t		 n = 0;
	long		 i;

	if ((lat = malloc((size_t)opt.count * sizeof(*lat))) == NULL)
		die(EX_SOFTWARE, "out of memory");
	for (i = 0; i < opt.count && !got_signal && now_ns() < deadline;
	    i++) {
		struct timespec ts;
		if (i > 0 && opt.interval_ms > 0) {
			/* Let the relay refill its pool of idle workers. */
			ts.tv_sec = opt.interval_ms / 1000;
			ts.tv_nsec = (opt.interval_ms % 1000) * 1000000;
			nanosleep(&ts, NULL);
		}
		if (register_once(&lat[n], addr, sizeof(addr)) == 0)
			n++;
	}
	if (n > 1)
		qsort(lat, n, sizeof(*lat), cmp_u64);
	json_begin();
	json_u("count", n);
	json_u("attempts", attempts);
	json_str("tunnel", addr);
	json_f("p50_us", pct_us(lat, n, 50), 1);
	json_f("p90_us", pct_us(lat, n, 90), 1);
	json_f("max_us", pct_us(lat, n, 100), 1);
	json_failures();
	free(lat);
	return json_end();
}

/* ---- serve: the direct echo server, the baseline ---- */

struct sconn {
	int		 s_fd;
	unsigned char	*s_pend;	/* what the client did not take yet */
	size_t		 s_off, s_len;
};

static void
serve_close(struct sconn *s)
{
	close(s->s_fd);
	free(s->s_pend);
	free(s);
}

static void
serve_interest(struct sconn *s, uint32_t ev)
{
	struct epoll_event	 ee;

	memset(&ee, 0, sizeof(ee));
	ee.events = ev;
	ee.data.ptr = s;
	if (epoll_ctl(epfd, EPOLL_CTL_MOD, s->s_fd, &ee) == -1)
		die(EX_SOFTWARE, "epoll_ctl: %s", strerror(errno));
}

/*
 * Echo what can be read, straight from the read buffer; only what the
 * client refuses is kept, and the connection reads no more until it has
 * taken it (a slow reader costs one buffer, never more).
 */
static void
serve_io(struct sconn *s, uint32_t ev)
{
	ssize_t	 r, w;

	if (s->s_len > 0) {
		if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
			return;
		w = write(s->s_fd, s->s_pend + s->s_off, s->s_len);
		if (w == -1) {
			if (errno != EAGAIN && errno != EINTR)
				serve_close(s);
			return;
		}
		s->s_off += (size_t)w;
		s->s_len -= (size_t)w;
		if (s->s_len > 0)
			return;
		free(s->s_pend);
		s->s_pend = NULL;
		s->s_off = 0;
		serve_interest(s, EPOLLIN);
		return;
	}
	r = read(s->s_fd, rbuf, RBUF_LEN);
	if (r == 0) {
		serve_close(s);
		return;
	}
	if (r == -1) {
		if (errno != EAGAIN && errno != EINTR)
			serve_close(s);
		return;
	}
	w = write(s->s_fd, rbuf, (size_t)r);
	if (w == -1) {
		if (errno != EAGAIN) {
			serve_close(s);
			return;
		}
		w = 0;
	}
	if (w == r)
		return;
	s->s_len = (size_t)(r - w);
	if ((s->s_pend = malloc(s->s_len)) == NULL)
		die(EX_SOFTWARE, "out of memory");
	memcpy(s->s_pend, rbuf + w, s->s_len);
	serve_interest(s, EPOLLOUT);
}

static int
run_serve(void)
{
	struct epoll_event	 evs[256], ee;
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	char			 addr[NET_ADDRSTRLEN];
	const char		*why;
	uint64_t		 deadline;
	int			 lfd, k, ne;

	if (net_resolve(opt.listen, opt.port, &ss, &sl, &why) == -1)
		die(EX_USAGE, "bad listen address %s: %s", opt.listen, why);
	if ((lfd = net_listen(&ss, sl, opt.port, 4096)) == -1)
		die(EX_UNAVAILABLE, "cannot listen on %s port %u: %s",
		    opt.listen, opt.port, strerror(errno));
	sl = sizeof(ss);
	getsockname(lfd, (struct sockaddr *)&ss, &sl);
	net_addr_str((struct sockaddr *)&ss, addr, sizeof(addr));
	memset(&ee, 0, sizeof(ee));
	ee.events = EPOLLIN;
	ee.data.ptr = NULL;
	if (epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ee) == -1)
		die(EX_SOFTWARE, "epoll_ctl: %s", strerror(errno));
	printf("listening on %s\n", addr);
	fflush(stdout);
	deadline = opt.timeout > 0 ? now_ns() + secs_ns(opt.timeout) :
	    UINT64_MAX;
	while (!got_signal && now_ns() < deadline) {
		ne = epoll_wait_ms(evs, 256, 500);
		for (k = 0; k < ne; k++) {
			struct sconn *s = evs[k].data.ptr;
			if (s != NULL) {
				serve_io(s, evs[k].events);
				continue;
			}
			for (;;) {
				int fd = accept4(lfd, NULL, NULL,
				    SOCK_NONBLOCK | SOCK_CLOEXEC);
				if (fd == -1) {
					if (errno == EINTR ||
					    errno == ECONNABORTED)
						continue;
					if (errno == EMFILE || errno == ENFILE)
						warnx_("accept: %s",
						    strerror(errno));
					break;
				}
				net_nodelay(fd);
				if ((s = calloc(1, sizeof(*s))) == NULL)
					die(EX_SOFTWARE, "out of memory");
				s->s_fd = fd;
				ee.events = EPOLLIN;
				ee.data.ptr = s;
				if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd,
				    &ee) == -1) {
					warnx_("epoll_ctl: %s",
					    strerror(errno));
					serve_close(s);
				}
			}
		}
	}
	close(lfd);
	return 0;
}

/* ---- command line ---- */

static void
usage_help(void)
{
	printf(
"usage: relaybench MODE [OPTIONS] HOST PORT\n"
"       relaybench serve [--listen ADDR] PORT\n"
"\n"
"Load generator for TCP echo services, direct or through a relay.  Every\n"
"byte sent is a known pseudo-random pattern and every echoed byte is\n"
"checked.  Prints one JSON line per run.  Exit status: 0 all verified,\n"
"1 a failure (mismatch, reset, timeout...), 64 usage, 69 cannot connect.\n"
"\n"
"Modes:\n"
"  bulk       N connections stream the pattern and verify the echo;\n"
"             reports echoed MiB/s (bytes back and verified / time)\n"
"    -c, --conns N           connections (default 1)\n"
"    -b, --bytes B           bytes per connection (k, M, G suffixes), or\n"
"    -s, --seconds S         write for S seconds (default 5)\n"
"    -w, --write-size B      bytes per write (default 16384)\n"
"  rtt        ping-pong of SIZE-byte messages; latency percentiles\n"
"    -m, --size B            message size (default 64)\n"
"    -n, --count N           measured round trips (default 10000)\n"
"        --warmup N          round trips not measured first (default 100)\n"
"    -c, --conns N           connections taking turns (default 1)\n"
"    -s, --seconds S         stop after S seconds even if count is not met\n"
"  connrate   P parallel loops of connect, echo SIZE bytes, close\n"
"    -p, --parallel P        loops (default 8)\n"
"    -s, --seconds S         run for S seconds (default 5), or\n"
"    -n, --count N           make N connections\n"
"    -m, --size B            bytes echoed per connection (default 64)\n"
"        --conn-timeout MS   one connection's limit (default 5000)\n"
"  hold       open N connections, verify each with an echo, hold them,\n"
"             then verify each again and close\n"
"    -c, --conns N           connections (default 1000)\n"
"        --concurrency C     connections being opened at once (default 200)\n"
"        --hold-seconds S    hold for S seconds (default 10)\n"
"        --until-file F      end the hold early when F no longer exists\n"
"    -m, --size B            bytes echoed per check (default 16)\n"
"        --conn-timeout MS   one connection's limit to open (default 5000)\n"
"             Prints 'relaybench: holding N of M connections' on stderr\n"
"             once all are open.  SIGINT/SIGTERM ends the hold.\n"
"  register   register with a relay's control port as a plain yamux\n"
"             client and time connect -> tunnel address (p50/p90/max)\n"
"    -n, --count N           registrations (default 20)\n"
"        --interval MS       pause between them (default 50)\n"
"        --conn-timeout MS   one registration's limit (default 5000)\n"
"        --key FILE          register over an encrypted session with this\n"
"                            private key (Noise IK; the handshake is timed)\n"
"        --relay-key PUBKEY  the relay's public key, with --key\n"
"  serve      direct echo server on PORT (0 = any free port); prints\n"
"             'listening on HOST:PORT' and runs until SIGTERM/SIGINT\n"
"    -l, --listen ADDR       address (default 127.0.0.1)\n"
"\n"
"Common options:\n"
"  -t, --timeout S           a run never lasts longer (default 60; for\n"
"                            hold: each of opening and re-checking; for\n"
"                            serve: default 0, no limit)\n"
"  -L, --label STR           copied into the JSON line\n"
"      --seed N              pattern seed (default 1)\n"
"  -q, --quiet               no diagnostics on stderr\n"
"  -h, --help                this help\n"
"  -V, --version             print the version\n"
"\n"
"Examples:\n"
"  relaybench serve 0                         # baseline echo server\n"
"  relaybench bulk -c 16 -s 10 127.0.0.1 9001 # through a tunnel port\n"
"  relaybench rtt -m 64 -n 100000 127.0.0.1 9001\n"
"  relaybench hold -c 10000 --hold-seconds 30 127.0.0.1 9001\n"
"  relaybench register 127.0.0.1 9000         # a relay's control port\n");
}

static void __attribute__((noreturn))
usage_err(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	fputs("relaybench: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	fputs("usage: relaybench MODE [OPTIONS] HOST PORT "
	    "(relaybench --help for more)\n", stderr);
	exit(EX_USAGE);
}

/* Integer with an optional k/M/G (binary) suffix, within [lo, hi]. */
static uint64_t
parse_num(const char *name, const char *s, uint64_t lo, uint64_t hi,
    int suffix)
{
	char			*end;
	unsigned long long	 v;
	uint64_t		 mul = 1;

	if (s == NULL || *s < '0' || *s > '9')
		usage_err("%s: not a number: %s", name, s ? s : "");
	errno = 0;
	v = strtoull(s, &end, 10);
	if (suffix && *end != '\0' && end[1] == '\0') {
		switch (*end) {
		case 'k': case 'K': mul = 1ull << 10; end++; break;
		case 'm': case 'M': mul = 1ull << 20; end++; break;
		case 'g': case 'G': mul = 1ull << 30; end++; break;
		}
	}
	if (errno != 0 || *end != '\0')
		usage_err("%s: not a number: %s", name, s);
	if (v > hi / mul || v * mul < lo || v * mul > hi)
		usage_err("%s: %s is out of range %llu-%llu", name, s,
		    (unsigned long long)lo, (unsigned long long)hi);
	return v * mul;
}

static double
parse_secs(const char *name, const char *s, double lo)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= lo) ||
	    v > 1e7)
		usage_err("%s: not a number of seconds (>= %g): %s", name, lo,
		    s);
	return v;
}

enum {
	O_WARMUP = 256, O_CONN_TIMEOUT, O_CONCURRENCY, O_HOLD_SECONDS,
	O_UNTIL_FILE, O_INTERVAL, O_SEED, O_KEY, O_RELAY_KEY
};

#define MB(m)	(1u << (m))
#define M_CLIENT (MB(M_BULK) | MB(M_RTT) | MB(M_CONNRATE) | MB(M_HOLD) | \
	MB(M_REGISTER))
#define M_ALL	(M_CLIENT | MB(M_SERVE))

static const struct {
	int		 val;
	unsigned	 modes;
} opt_modes[] = {
	{ 'c', MB(M_BULK) | MB(M_RTT) | MB(M_HOLD) },
	{ 'b', MB(M_BULK) },
	{ 's', MB(M_BULK) | MB(M_RTT) | MB(M_CONNRATE) },
	{ 'w', MB(M_BULK) },
	{ 'm', MB(M_RTT) | MB(M_CONNRATE) | MB(M_HOLD) },
	{ 'n', MB(M_RTT) | MB(M_CONNRATE) | MB(M_REGISTER) },
	{ 'p', MB(M_CONNRATE) },
	{ 'l', MB(M_SERVE) },
	{ 't', M_ALL },
	{ 'L', M_CLIENT },
	{ 'q', M_ALL },
	{ O_WARMUP, MB(M_RTT) },
	{ O_CONN_TIMEOUT, MB(M_CONNRATE) | MB(M_HOLD) | MB(M_REGISTER) },
	{ O_CONCURRENCY, MB(M_HOLD) },
	{ O_HOLD_SECONDS, MB(M_HOLD) },
	{ O_UNTIL_FILE, MB(M_HOLD) },
	{ O_INTERVAL, MB(M_REGISTER) },
	{ O_SEED, MB(M_BULK) | MB(M_RTT) | MB(M_CONNRATE) | MB(M_HOLD) },
	{ O_KEY, MB(M_REGISTER) },
	{ O_RELAY_KEY, MB(M_REGISTER) },
};

static const struct option longopts[] = {
	{ "conns",		required_argument, NULL, 'c' },
	{ "bytes",		required_argument, NULL, 'b' },
	{ "seconds",		required_argument, NULL, 's' },
	{ "write-size",		required_argument, NULL, 'w' },
	{ "size",		required_argument, NULL, 'm' },
	{ "count",		required_argument, NULL, 'n' },
	{ "parallel",		required_argument, NULL, 'p' },
	{ "listen",		required_argument, NULL, 'l' },
	{ "timeout",		required_argument, NULL, 't' },
	{ "label",		required_argument, NULL, 'L' },
	{ "quiet",		no_argument,	   NULL, 'q' },
	{ "warmup",		required_argument, NULL, O_WARMUP },
	{ "conn-timeout",	required_argument, NULL, O_CONN_TIMEOUT },
	{ "concurrency",	required_argument, NULL, O_CONCURRENCY },
	{ "hold-seconds",	required_argument, NULL, O_HOLD_SECONDS },
	{ "until-file",		required_argument, NULL, O_UNTIL_FILE },
	{ "interval",		required_argument, NULL, O_INTERVAL },
	{ "seed",		required_argument, NULL, O_SEED },
	{ "key",		required_argument, NULL, O_KEY },
	{ "relay-key",		required_argument, NULL, O_RELAY_KEY },
	{ "help",		no_argument,	   NULL, 'h' },
	{ "version",		no_argument,	   NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

static const char *
opt_name(int val)
{
	size_t	 i;

	for (i = 0; longopts[i].name != NULL; i++)
		if (longopts[i].val == val)
			return longopts[i].name;
	return "?";
}

static void
parse_args(int argc, char **argv)
{
	const char	*m;
	int		 ch, i, seen_seconds = 0, seen_bytes = 0, seen_count = 0;
	int		 seen_timeout = 0;

	if (argc < 2)
		usage_err("no mode given");
	m = argv[1];
	if (strcmp(m, "-h") == 0 || strcmp(m, "--help") == 0) {
		usage_help();
		exit(0);
	}
	if (strcmp(m, "-V") == 0 || strcmp(m, "--version") == 0) {
		printf("relaybench %s\n", RELAY_VERSION);
		exit(0);
	}
	for (i = 0; i < M_N; i++)
		if (strcmp(m, mode_names[i]) == 0)
			break;
	if (i == M_N)
		usage_err("unknown mode: %s (bulk, rtt, connrate, hold, "
		    "register, serve)", m);
	opt.mode = (enum mode)i;

	opt.conns = opt.mode == M_HOLD ? 1000 : 1;
	opt.parallel = 8;
	opt.concurrency = 200;
	opt.count = opt.mode == M_REGISTER ? 20 : 10000;
	opt.warmup = 100;
	opt.size = opt.mode == M_HOLD ? 16 : 64;
	opt.write_size = 16384;
	opt.seconds = 5;
	opt.hold_seconds = 10;
	opt.timeout = 60;
	opt.conn_timeout_ms = 5000;
	opt.interval_ms = 50;
	opt.seed = 1;
	opt.listen = "127.0.0.1";

	optind = 1;
	while ((ch = getopt_long(argc - 1, argv + 1, "c:b:s:w:m:n:p:l:t:L:qhV",
	    longopts, NULL)) != -1) {
		size_t k;
		if (ch == 'h') {
			usage_help();
			exit(0);
		}
		if (ch == 'V') {
			printf("relaybench %s\n", RELAY_VERSION);
			exit(0);
		}
		if (ch == '?')
			usage_err("bad option for %s", m);
		for (k = 0; k < sizeof(opt_modes) / sizeof(opt_modes[0]); k++)
			if (opt_modes[k].val == ch)
				break;
		if (k == sizeof(opt_modes) / sizeof(opt_modes[0]) ||
		    !(opt_modes[k].modes & MB(opt.mode)))
			usage_err("--%s does not apply to %s", opt_name(ch), m);
		switch (ch) {
		case 'c':
			opt.conns = (long)parse_num("--conns", optarg, 1,
			    1000000, 0);
			break;
		case 'b':
			opt.bytes = parse_num("--bytes", optarg, 1,
			    1ull << 50, 1);
			seen_bytes = 1;
			break;
		case 's':
			opt.seconds = parse_secs("--seconds", optarg, 0.001);
			seen_seconds = 1;
			break;
		case 'w':
			opt.write_size = parse_num("--write-size", optarg, 1,
			    CHUNK_MAX, 1);
			break;
		case 'm':
			opt.size = parse_num("--size", optarg, 1, 1ull << 30,
			    1);
			break;
		case 'n':
			opt.count = (long)parse_num("--count", optarg, 1,
			    100000000, 0);
			seen_count = 1;
			break;
		case 'p':
			opt.parallel = (long)parse_num("--parallel", optarg, 1,
			    100000, 0);
			break;
		case 'l':
			opt.listen = optarg;
			break;
		case 't':
			opt.timeout = parse_secs("--timeout", optarg,
			    opt.mode == M_SERVE ? 0 : 0.001);
			seen_timeout = 1;
			break;
		case 'L':
			opt.label = optarg;
			break;
		case 'q':
			opt.quiet = 1;
			break;
		case O_WARMUP:
			opt.warmup = (long)parse_num("--warmup", optarg, 0,
			    100000000, 0);
			break;
		case O_CONN_TIMEOUT:
			opt.conn_timeout_ms = (long)parse_num("--conn-timeout",
			    optarg, 1, 3600000, 0);
			break;
		case O_CONCURRENCY:
			opt.concurrency = (long)parse_num("--concurrency",
			    optarg, 1, 1000000, 0);
			break;
		case O_HOLD_SECONDS:
			opt.hold_seconds = parse_secs("--hold-seconds", optarg,
			    0);
			break;
		case O_UNTIL_FILE:
			opt.until_file = optarg;
			break;
		case O_INTERVAL:
			opt.interval_ms = (long)parse_num("--interval", optarg,
			    0, 3600000, 0);
			break;
		case O_SEED:
			opt.seed = parse_num("--seed", optarg, 0, UINT64_MAX,
			    0);
			break;
		case O_KEY: {
			char why[KEYS_ERR_MAX];
			if (keys_load_private(optarg, opt.key_priv, why,
			    sizeof(why)) == -1)
				usage_err("--key: %s", why);
			opt.has_key = 1;
			break;
		}
		case O_RELAY_KEY:
			if (keys_b64_decode(opt.relay_pub, optarg,
			    strlen(optarg)) == -1)
				usage_err("--relay-key: not a public key");
			opt.has_relay_key = 1;
			break;
		}
	}
	argc -= optind + 1;
	argv += optind + 1;
	if (opt.mode == M_BULK && seen_bytes && seen_seconds)
		usage_err("give --bytes or --seconds, not both");
	if (opt.mode == M_CONNRATE) {
		if (seen_count && seen_seconds)
			usage_err("give --count or --seconds, not both");
		if (seen_count)
			opt.seconds = 0;
		else
			opt.count = 0;
	}
	if (opt.mode == M_RTT && !seen_seconds)
		opt.seconds = 0;
	if (opt.has_key != opt.has_relay_key)
		usage_err("--key and --relay-key go together");
	if (opt.mode == M_SERVE) {
		if (!seen_timeout)
			opt.timeout = 0;
		if (argc != 1)
			usage_err("serve takes one argument, the PORT");
		if (net_parse_port(argv[0], &opt.port) == -1)
			usage_err("bad port: %s", argv[0]);
		return;
	}
	if (argc != 2)
		usage_err("%s takes two arguments, HOST and PORT", m);
	opt.host = argv[0];
	if (net_parse_port(argv[1], &opt.port) == -1 || opt.port == 0)
		usage_err("bad port: %s", argv[1]);
}

int
main(int argc, char **argv)
{
	const char	*why;
	long		 fds, need;

	parse_args(argc, argv);
	signals_init();
	fds = nofile_raise();
	need = opt.mode == M_CONNRATE ? opt.parallel : opt.conns;
	if (opt.mode != M_SERVE && opt.mode != M_REGISTER && need + 16 > fds)
		usage_err("%ld connections need %ld descriptors; the limit "
		    "is %ld (ulimit -n)", need, need + 16, fds);
	if ((epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		die(EX_SOFTWARE, "epoll_create1: %s", strerror(errno));
	pattern_init();
	if (opt.mode == M_SERVE)
		return run_serve();
	if (net_resolve(opt.host, opt.port, &dst, &dstlen, &why) == -1)
		die(EX_UNAVAILABLE, "cannot resolve %s: %s", opt.host, why);
	net_addr_str((struct sockaddr *)&dst, dststr, sizeof(dststr));
	switch (opt.mode) {
	case M_BULK:
		return run_bulk();
	case M_RTT:
		return run_rtt();
	case M_CONNRATE:
		return run_connrate();
	case M_HOLD:
		return run_hold();
	case M_REGISTER:
		return run_register();
	default:
		return EX_SOFTWARE;
	}
}
