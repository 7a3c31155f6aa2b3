/*
 * wanlink: a user-space WAN link between two network namespaces.
 *
 * It holds one TUN device in each namespace and forwards every IP packet
 * read from one to the other, applying per direction what a long, fat,
 * lossy uplink does to it: serialisation at a rate, a bounded drop-tail
 * queue in front of that bottleneck, random loss on the wire and a fixed
 * propagation delay.  This kernel has no netem qdisc, hence user space.
 *
 * Model, per direction, for a packet of L bytes arriving at time t:
 *   - queue: the link is busy until t_free.  The bytes still waiting to be
 *     serialised at t are (t_free - t) * rate; if they plus L exceed the
 *     queue limit, the packet is dropped (tail drop), as a router does.
 *   - serialisation: it leaves the queue at max(t, t_free) + L * 8 / rate.
 *   - loss: a packet that was serialised is lost on the wire with the loss
 *     probability (a seeded PRNG per direction, so runs are reproducible).
 *   - delay: it is written to the other TUN device one-way delay later.
 * The delay is constant and departures are FIFO, so the release times of
 * one direction are non-decreasing: each direction's timer queue is a FIFO
 * ring, its head the next release, and one timerfd is armed at the earlier
 * (absolute CLOCK_MONOTONIC, nanoseconds).
 *
 * Each direction is one thread with its own non-blocking epoll loop, TUN
 * reader, ring and timerfd: a write to a TUN device runs the receiving
 * namespace's whole TCP stack (and the sender's, when an ACK opens its
 * window) in the writer's context, so one thread for both directions
 * cannot keep up with 200 Mbit/s each way on a small machine.  The main
 * thread takes signals (signalfd), watches --owner PID (pidfd) and
 * --max-seconds, so the link can never outlive a test.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/syscall.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <linux/if.h>
#include <linux/if_tun.h>

#ifndef RELAY_VERSION
#define RELAY_VERSION	"0.1.0"
#endif

#define EX_USAGE	64
#define EX_UNAVAILABLE	69
#define EX_SOFTWARE	70

#define NS_PER_S	1000000000ull
#define PS_PER_NS	1000ull
#define PKT_MAX		65536u		/* largest read from a TUN device */
#define HDR_LEN		16u		/* ring entry header, the alignment */
#define READ_BATCH	64		/* packets read per device and wake-up */
#define LATE_BUCKETS	2801		/* see late_bucket() */
#define MIN_QUEUE	(32u * 1500u)	/* default floor of the queue limit */
#define RING_UNLIMITED	(64u << 20)	/* ring of a direction without rate */

enum { DIR_AB, DIR_BA, DIR_N };

/*
 * Counters have one writer (the direction's thread) and are read by the
 * main thread on SIGUSR1: relaxed atomic stores and loads, plain moves on
 * x86, so a reader never sees a torn value and the writer pays nothing.
 */
#define CNT_ADD(x, n)	__atomic_store_n(&(x), (x) + (n), __ATOMIC_RELAXED)
#define CNT_SET(x, v)	__atomic_store_n(&(x), (v), __ATOMIC_RELAXED)
#define CNT(x)		__atomic_load_n(&(x), __ATOMIC_RELAXED)

/* What the main thread asks of a direction's thread, with an eventfd. */
#define CMD_STOP	1
static const char *const dir_names[DIR_N] = { "ab", "ba" };

/* One packet in a ring: when to write it, how long it is. */
struct pkt_hdr {
	uint64_t	 ph_release;	/* ns, CLOCK_MONOTONIC; 0 = wrap mark */
	uint32_t	 ph_len;
	uint32_t	 ph_pad;
};

/*
 * A FIFO of variable-size packets in one contiguous buffer.  Data lies in
 * [head, tail), or, once wrapped, in [head, wrap mark) and [0, tail); the
 * count tells full from empty when head == tail.
 */
struct ring {
	unsigned char	*r_buf;
	size_t		 r_size;
	size_t		 r_head;
	size_t		 r_tail;
	size_t		 r_count;
	size_t		 r_res;		/* offset handed out by ring_reserve */
};

struct dir {
	const char	*d_name;
	pthread_t	 d_thread;
	int		 d_in;		/* TUN fd we read from */
	int		 d_out;		/* TUN fd we write to */
	int		 d_ep;
	int		 d_timer;
	int		 d_ctl;		/* eventfd: the main thread's commands */
	int		 d_cmd;
	double		 d_cpu_s;	/* the thread's CPU time, at its end */
	uint64_t	 d_delay_ns;
	uint64_t	 d_rate;	/* bit/s, 0 = no limit */
	double		 d_loss;	/* probability */
	uint64_t	 d_loss_thresh;	/* lost when prng < this */
	int		 d_loss_all;
	uint64_t	 d_qlimit;	/* bytes */
	uint64_t	 d_qlimit_ps;	/* the same as serialisation time */
	uint64_t	 d_free_ps;	/* link busy until (ps since start) */
	uint64_t	 d_prng[4];
	struct ring	 d_ring;
	/* counters */
	uint64_t	 d_rx;		/* packets read */
	uint64_t	 d_fwd;		/* packets written */
	uint64_t	 d_fwd_bytes;
	uint64_t	 d_lost;	/* random loss */
	uint64_t	 d_qdrop;	/* queue full */
	uint64_t	 d_overflow;	/* ring full (memory bound) */
	uint64_t	 d_errors;	/* write failures, oversize reads */
	uint64_t	 d_maxq_ps;	/* deepest backlog seen */
	uint64_t	 d_late[LATE_BUCKETS];
	uint64_t	 d_late_max_ns;
	uint64_t	 d_late_sum_ns;
	size_t		 d_queued;	/* packets in the ring */
};

static struct {
	const char	*ns[DIR_N];
	const char	*dev[DIR_N];
	double		 delay_ms[DIR_N];
	uint64_t	 rate[DIR_N];
	double		 loss_pct[DIR_N];
	uint64_t	 queue[DIR_N];	/* 0 = one bandwidth-delay product */
	uint64_t	 ring;		/* 0 = computed */
	uint64_t	 seed;
	double		 max_seconds;
	long		 owner;
	int		 realtime;
	int		 verbose;
} opt = { .seed = 1 };

static struct dir	 dirs[DIR_N];
static uint64_t		 t_base;	/* ns at start: ps times count from it */

static void
usage(FILE *f)
{
	fprintf(f,
"usage: wanlink [OPTIONS] NETNS_A DEV_A NETNS_B DEV_B\n"
"\n"
"Forwards IP packets between TUN device DEV_A in network namespace NETNS_A\n"
"and DEV_B in NETNS_B, emulating a WAN link: per direction a bounded\n"
"drop-tail queue, serialisation at a rate, random loss, one-way delay.\n"
"A namespace is a name under /run/netns, a path, or '-' (this one).  The\n"
"devices are attached if they exist (ip tuntap add ... mode tun), created\n"
"otherwise (then they vanish with wanlink).  Direction ab is A to B.\n"
"\n"
"Options (each also as --NAME-ab / --NAME-ba for one direction):\n"
"  -d, --delay MS        one-way delay in ms, decimals allowed (default 0)\n"
"  -r, --rate BITS       bottleneck rate in bit/s, k/M/G suffixes (x1000),\n"
"                        0 = no limit (default 0)\n"
"  -l, --loss PCT        random loss in percent, e.g. 0.1 (default 0)\n"
"  -Q, --queue BYTES     queue limit in front of the bottleneck, k/M\n"
"                        suffixes (x1024); default one bandwidth-delay\n"
"                        product, rate x (delay ab + delay ba), at least\n"
"                        48000 bytes\n"
"      --ring BYTES      memory per direction for queued and delayed\n"
"                        packets (default: enough for queue and delay)\n"
"      --seed N          loss PRNG seed (default 1)\n"
"      --max-seconds S   exit after S seconds (default 0, no limit)\n"
"      --owner PID       exit when process PID exits\n"
"      --realtime        run under SCHED_FIFO (priority 10) for timing\n"
"  -v, --verbose         log each direction's set-up\n"
"  -h, --help    -V, --version\n"
"\n"
"Prints 'wanlink: forwarding ...' on stdout once packets flow; on exit and\n"
"on SIGUSR1 one 'wanlink: stats DIR key=value...' line per direction and a\n"
"'wanlink: cpu ...' line.  Ends on SIGTERM/SIGINT.  Exit status: 0, 64\n"
"usage, 69 a namespace or device cannot be used, 70 internal error.\n");
}

static void
fatal(int code, const char *what)
{
	fprintf(stderr, "wanlink: %s: %s\n", what, strerror(errno));
	exit(code);
}

static void
fatalx(int code, const char *what)
{
	fprintf(stderr, "wanlink: %s\n", what);
	exit(code);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* ---- PRNG: xoshiro256** seeded with splitmix64 ---- */

static uint64_t
splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ull);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

static uint64_t
rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t
prng_next(uint64_t s[4])
{
	uint64_t r = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return r;
}

/* ---- the ring ---- */

static size_t
align_hdr(size_t n)
{
	return (n + HDR_LEN - 1) & ~(size_t)(HDR_LEN - 1);
}

static void
ring_init(struct ring *r, size_t size)
{
	r->r_size = align_hdr(size);
	if ((r->r_buf = malloc(r->r_size)) == NULL)
		fatal(EX_SOFTWARE, "ring");
	r->r_head = r->r_tail = r->r_count = 0;
}

/* Room for one entry of up to need bytes, header included; NULL if full. */
static unsigned char *
ring_reserve(struct ring *r, size_t need)
{
	if (r->r_count == 0)
		r->r_head = r->r_tail = 0;
	if (r->r_count == 0 || r->r_tail > r->r_head) {
		if (r->r_size - r->r_tail >= need)
			r->r_res = r->r_tail;
		else if (r->r_head >= need)
			r->r_res = 0;
		else
			return NULL;
	} else {
		if (r->r_head - r->r_tail >= need)
			r->r_res = r->r_tail;
		else
			return NULL;
	}
	return r->r_buf + r->r_res;
}

/* Keep the reserved entry with len bytes of packet after its header. */
static void
ring_commit(struct ring *r, uint64_t release, uint32_t len)
{
	struct pkt_hdr *h;

	if (r->r_res != r->r_tail && r->r_size - r->r_tail >= HDR_LEN) {
		h = (struct pkt_hdr *)(r->r_buf + r->r_tail);
		h->ph_release = 0;
		h->ph_len = 0;
	}
	h = (struct pkt_hdr *)(r->r_buf + r->r_res);
	h->ph_release = release;
	h->ph_len = len;
	r->r_tail = r->r_res + align_hdr(HDR_LEN + len);
	r->r_count++;
}

static struct pkt_hdr *
ring_head(struct ring *r)
{
	struct pkt_hdr *h;

	if (r->r_count == 0)
		return NULL;
	if (r->r_size - r->r_head < HDR_LEN)
		r->r_head = 0;
	h = (struct pkt_hdr *)(r->r_buf + r->r_head);
	if (h->ph_release == 0) {
		r->r_head = 0;
		h = (struct pkt_hdr *)r->r_buf;
	}
	return h;
}

static void
ring_pop(struct ring *r)
{
	struct pkt_hdr *h = ring_head(r);

	r->r_head += align_hdr(HDR_LEN + h->ph_len);
	r->r_count--;
}

/* ---- one direction ---- */

static void
dir_init(struct dir *d, int i, int in, int out)
{
	uint64_t	 x = opt.seed ^ (0x5851f42d4c957f2dull * (uint64_t)(i + 1));
	uint64_t	 rtt_ns, ring, bdp;
	double		 rtt_ms;
	int		 k;

	memset(d, 0, sizeof(*d));
	d->d_name = dir_names[i];
	d->d_in = in;
	d->d_out = out;
	d->d_delay_ns = (uint64_t)llround(opt.delay_ms[i] * 1e6);
	d->d_rate = opt.rate[i];
	d->d_loss = opt.loss_pct[i] / 100.0;
	d->d_loss_all = d->d_loss >= 1.0;
	if (!d->d_loss_all)
		d->d_loss_thresh = (uint64_t)ldexp(d->d_loss, 64);
	for (k = 0; k < 4; k++)
		d->d_prng[k] = splitmix64(&x);

	/* The round trip this direction's traffic sees: both delays. */
	rtt_ms = opt.delay_ms[DIR_AB] + opt.delay_ms[DIR_BA];
	rtt_ns = (uint64_t)llround(rtt_ms * 1e6);
	bdp = d->d_rate ? (uint64_t)((double)d->d_rate * (double)rtt_ns /
	    8e9) : 0;
	d->d_qlimit = opt.queue[i] ? opt.queue[i] :
	    (bdp > MIN_QUEUE ? bdp : MIN_QUEUE);
	if (d->d_rate)
		d->d_qlimit_ps = (uint64_t)((double)d->d_qlimit * 8e12 /
		    (double)d->d_rate);

	/*
	 * Memory for what is queued plus what is on the wire (rate x delay),
	 * twice over for headers of small packets, plus room for the largest
	 * read: overflowing it is a bug in these sizes, counted apart.
	 */
	if (opt.ring)
		ring = opt.ring;
	else if (d->d_rate)
		ring = 2 * (d->d_qlimit + (uint64_t)((double)d->d_rate *
		    (double)d->d_delay_ns / 8e9)) + 4 * (PKT_MAX + HDR_LEN) +
		    (1u << 20);
	else
		ring = RING_UNLIMITED;
	ring_init(&d->d_ring, (size_t)ring);
	if (opt.verbose)
		fprintf(stderr, "wanlink: %s: delay %.3f ms, rate %" PRIu64
		    " bit/s, loss %g %%, queue %" PRIu64 " B, ring %zu B\n",
		    d->d_name, opt.delay_ms[i], d->d_rate, opt.loss_pct[i],
		    d->d_qlimit, d->d_ring.r_size);
}

/*
 * Read what the device has (a bounded batch, so the other direction and
 * the releases are served too) and schedule or drop each packet.
 */
static void
dir_read(struct dir *d)
{
	static __thread unsigned char scratch[PKT_MAX];
	int	 n;

	for (n = 0; n < READ_BATCH; n++) {
		unsigned char	*p;
		ssize_t		 len;
		uint64_t	 now, now_ps, start_ps, release;

		p = ring_reserve(&d->d_ring, HDR_LEN + PKT_MAX);
		len = read(d->d_in, p ? p + HDR_LEN : scratch, PKT_MAX);
		if (len == -1) {
			if (errno == EAGAIN || errno == EINTR)
				return;
			fatal(EX_SOFTWARE, "read");
		}
		if (len == 0)
			return;
		CNT_ADD(d->d_rx, 1);
		if (p == NULL) {
			CNT_ADD(d->d_overflow, 1);
			continue;
		}
		now = now_ns();
		if (d->d_rate) {
			uint64_t tx_ps = (uint64_t)len * 8000000000000ull /
			    d->d_rate;
			uint64_t backlog;
			now_ps = (now - t_base) * PS_PER_NS;
			start_ps = d->d_free_ps > now_ps ? d->d_free_ps : now_ps;
			backlog = start_ps - now_ps;
			if (backlog + tx_ps > d->d_qlimit_ps) {
				CNT_ADD(d->d_qdrop, 1);
				continue;
			}
			if (backlog + tx_ps > d->d_maxq_ps)
				CNT_SET(d->d_maxq_ps, backlog + tx_ps);
			d->d_free_ps = start_ps + tx_ps;
			release = t_base + d->d_free_ps / PS_PER_NS +
			    d->d_delay_ns;
		} else
			release = now + d->d_delay_ns;
		/* Lost on the wire, after it took its slot on the link. */
		if (d->d_loss_all || (d->d_loss_thresh &&
		    prng_next(d->d_prng) < d->d_loss_thresh)) {
			CNT_ADD(d->d_lost, 1);
			continue;
		}
		ring_commit(&d->d_ring, release, (uint32_t)len);
		CNT_SET(d->d_queued, d->d_ring.r_count);
	}
}

/*
 * Lateness histogram: 1 us buckets to 1 ms, 10 us to 10 ms, 100 us to
 * 100 ms, then one for anything later.
 */
static int
late_bucket(uint64_t us)
{
	if (us < 1000)
		return (int)us;
	if (us < 10000)
		return 1000 + (int)((us - 1000) / 10);
	if (us < 100000)
		return 1900 + (int)((us - 10000) / 100);
	return LATE_BUCKETS - 1;
}

/* Write every packet due by now; the release time of the next, or 0. */
static uint64_t
dir_release(struct dir *d)
{
	struct pkt_hdr	*h;
	uint64_t	 now = now_ns(), late;
	int		 n = 0;

	while ((h = ring_head(&d->d_ring)) != NULL) {
		if (h->ph_release > now) {
			/* Writes take time: look at the clock again. */
			if (n == 0)
				return h->ph_release;
			now = now_ns();
			n = 0;
			continue;
		}
		late = now - h->ph_release;
		CNT_ADD(d->d_late[late_bucket(late / 1000)], 1);
		CNT_ADD(d->d_late_sum_ns, late);
		if (late > d->d_late_max_ns)
			CNT_SET(d->d_late_max_ns, late);
		if (write(d->d_out, (unsigned char *)h + HDR_LEN,
		    h->ph_len) == (ssize_t)h->ph_len) {
			CNT_ADD(d->d_fwd, 1);
			CNT_ADD(d->d_fwd_bytes, h->ph_len);
		} else
			CNT_ADD(d->d_errors, 1);
		ring_pop(&d->d_ring);
		CNT_SET(d->d_queued, d->d_ring.r_count);
		/*
		 * A long burst of releases must not leave the input unread:
		 * the device's own queue would overflow, a loss the model
		 * does not know of.
		 */
		if (++n % 16 == 0)
			dir_read(d);
	}
	return 0;
}

static double	 cpu_seconds(clockid_t);

/* The lower bound in us of a lateness histogram bucket. */
static uint64_t
bucket_us(int i)
{
	if (i < 1000)
		return (uint64_t)i;
	if (i < 1900)
		return 1000 + (uint64_t)(i - 1000) * 10;
	return 10000 + (uint64_t)(i - 1900) * 100;
}

static uint64_t
late_pct_us(struct dir *d, double pct)
{
	static uint64_t	 snap[LATE_BUCKETS];
	uint64_t	 total = 0, want, acc = 0;
	int		 i;

	for (i = 0; i < LATE_BUCKETS; i++)
		total += (snap[i] = CNT(d->d_late[i]));
	if (total == 0)
		return 0;
	want = (uint64_t)ceil((double)total * pct / 100.0);
	for (i = 0; i < LATE_BUCKETS; i++) {
		acc += snap[i];
		if (acc >= want)
			return bucket_us(i);
	}
	return bucket_us(LATE_BUCKETS - 1);
}

static void
print_stats(uint64_t t_start, int done)
{
	struct rusage	 ru;
	int		 i;

	for (i = 0; i < DIR_N; i++) {
		struct dir *d = &dirs[i];
		uint64_t fwd = CNT(d->d_fwd);
		clockid_t cid;
		double cpu = d->d_cpu_s;

		if (!done && pthread_getcpuclockid(d->d_thread, &cid) == 0)
			cpu = cpu_seconds(cid);
		uint64_t maxq = d->d_rate ? (uint64_t)((double)CNT(d->d_maxq_ps) *
		    (double)d->d_rate / 8e12) : 0;
		printf("wanlink: stats %s read=%" PRIu64 " forwarded=%" PRIu64
		    " bytes=%" PRIu64 " lost=%" PRIu64 " queue_dropped=%" PRIu64
		    " overflow=%" PRIu64 " errors=%" PRIu64 " queued=%zu"
		    " max_queue_bytes=%" PRIu64 " late_p50_us=%" PRIu64
		    " late_p99_us=%" PRIu64 " late_max_us=%" PRIu64
		    " late_mean_us=%.1f cpu_s=%.3f\n", d->d_name, CNT(d->d_rx),
		    fwd, CNT(d->d_fwd_bytes), CNT(d->d_lost), CNT(d->d_qdrop),
		    CNT(d->d_overflow), CNT(d->d_errors), CNT(d->d_queued),
		    maxq, late_pct_us(d, 50), late_pct_us(d, 99),
		    CNT(d->d_late_max_ns) / 1000, fwd ?
		    (double)CNT(d->d_late_sum_ns) / (double)fwd / 1000.0 : 0,
		    cpu);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0)
		printf("wanlink: cpu user_s=%.3f sys_s=%.3f wall_s=%.3f\n",
		    (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6,
		    (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
		    (double)(now_ns() - t_start) / 1e9);
	fflush(stdout);
}

/* ---- set-up ---- */

static int
open_ns(const char *ns)
{
	char	 path[PATH_MAX];
	int	 fd;

	if (strchr(ns, '/') != NULL)
		snprintf(path, sizeof(path), "%s", ns);
	else
		snprintf(path, sizeof(path), "/run/netns/%s", ns);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fprintf(stderr, "wanlink: network namespace %s: %s\n", path,
		    strerror(errno));
		exit(EX_UNAVAILABLE);
	}
	return fd;
}

/* A TUN device of the namespace: the one named dev, created if absent. */
static int
open_tun(const char *ns, const char *dev, int home)
{
	struct ifreq	 ifr;
	int		 nsfd = -1, fd;

	if (strcmp(ns, "-") != 0) {
		nsfd = open_ns(ns);
		if (setns(nsfd, CLONE_NEWNET) == -1) {
			fprintf(stderr, "wanlink: enter namespace %s: %s\n", ns,
			    strerror(errno));
			exit(EX_UNAVAILABLE);
		}
	}
	if ((fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC)) ==
	    -1)
		fatal(EX_UNAVAILABLE, "/dev/net/tun");
	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = IFF_TUN | IFF_NO_PI;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", dev);
	if (ioctl(fd, TUNSETIFF, &ifr) == -1) {
		fprintf(stderr, "wanlink: TUN device %s in %s: %s\n", dev, ns,
		    strerror(errno));
		exit(EX_UNAVAILABLE);
	}
	if (nsfd != -1) {
		if (setns(home, CLONE_NEWNET) == -1)
			fatal(EX_SOFTWARE, "return to the first namespace");
		close(nsfd);
	}
	return fd;
}

static double
parse_double(const char *s, const char *what, double lo, double hi)
{
	char	*end;
	double	 v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || *end != '\0' || !isfinite(v) || v < lo ||
	    v > hi) {
		fprintf(stderr, "wanlink: bad %s: %s (%g to %g)\n", what, s, lo,
		    hi);
		exit(EX_USAGE);
	}
	return v;
}

/* Unsigned integer with an optional suffix multiplying by unit^1..3. */
static uint64_t
parse_num(const char *s, const char *what, uint64_t unit, uint64_t hi)
{
	char			*end;
	unsigned long long	 v;
	uint64_t		 m = 1;

	errno = 0;
	if (*s == '-' || *s == '\0')
		goto bad;
	v = strtoull(s, &end, 10);
	if (errno || end == s)
		goto bad;
	if (*end != '\0') {
		switch (*end) {
		case 'k': case 'K': m = unit; break;
		case 'm': case 'M': m = unit * unit; break;
		case 'g': case 'G': m = unit * unit * unit; break;
		default: goto bad;
		}
		if (end[1] != '\0')
			goto bad;
	}
	if (v > hi / m)
		goto bad;
	return (uint64_t)v * m;
bad:
	fprintf(stderr, "wanlink: bad %s: %s\n", what, s);
	exit(EX_USAGE);
}

enum {
	O_DELAY_AB = 256, O_DELAY_BA, O_RATE_AB, O_RATE_BA, O_LOSS_AB,
	O_LOSS_BA, O_QUEUE_AB, O_QUEUE_BA, O_RING, O_SEED, O_MAX_SECONDS,
	O_OWNER, O_REALTIME
};

static void
parse_args(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "delay",	 required_argument, NULL, 'd' },
		{ "delay-ab",	 required_argument, NULL, O_DELAY_AB },
		{ "delay-ba",	 required_argument, NULL, O_DELAY_BA },
		{ "rate",	 required_argument, NULL, 'r' },
		{ "rate-ab",	 required_argument, NULL, O_RATE_AB },
		{ "rate-ba",	 required_argument, NULL, O_RATE_BA },
		{ "loss",	 required_argument, NULL, 'l' },
		{ "loss-ab",	 required_argument, NULL, O_LOSS_AB },
		{ "loss-ba",	 required_argument, NULL, O_LOSS_BA },
		{ "queue",	 required_argument, NULL, 'Q' },
		{ "queue-ab",	 required_argument, NULL, O_QUEUE_AB },
		{ "queue-ba",	 required_argument, NULL, O_QUEUE_BA },
		{ "ring",	 required_argument, NULL, O_RING },
		{ "seed",	 required_argument, NULL, O_SEED },
		{ "max-seconds", required_argument, NULL, O_MAX_SECONDS },
		{ "owner",	 required_argument, NULL, O_OWNER },
		{ "realtime",	 no_argument,	    NULL, O_REALTIME },
		{ "verbose",	 no_argument,	    NULL, 'v' },
		{ "help",	 no_argument,	    NULL, 'h' },
		{ "version",	 no_argument,	    NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	int	 c, i;

	while ((c = getopt_long(argc, argv, "d:r:l:Q:vhV", longopts, NULL)) !=
	    -1) {
		switch (c) {
		case 'd':
			opt.delay_ms[0] = opt.delay_ms[1] =
			    parse_double(optarg, "delay", 0, 10000);
			break;
		case O_DELAY_AB: case O_DELAY_BA:
			opt.delay_ms[c - O_DELAY_AB] =
			    parse_double(optarg, "delay", 0, 10000);
			break;
		case 'r':
			opt.rate[0] = opt.rate[1] =
			    parse_num(optarg, "rate", 1000, 100000000000ull);
			break;
		case O_RATE_AB: case O_RATE_BA:
			opt.rate[c - O_RATE_AB] =
			    parse_num(optarg, "rate", 1000, 100000000000ull);
			break;
		case 'l':
			opt.loss_pct[0] = opt.loss_pct[1] =
			    parse_double(optarg, "loss", 0, 100);
			break;
		case O_LOSS_AB: case O_LOSS_BA:
			opt.loss_pct[c - O_LOSS_AB] =
			    parse_double(optarg, "loss", 0, 100);
			break;
		case 'Q':
			opt.queue[0] = opt.queue[1] =
			    parse_num(optarg, "queue", 1024, 1ull << 32);
			break;
		case O_QUEUE_AB: case O_QUEUE_BA:
			opt.queue[c - O_QUEUE_AB] =
			    parse_num(optarg, "queue", 1024, 1ull << 32);
			break;
		case O_RING:
			opt.ring = parse_num(optarg, "ring", 1024, 1ull << 32);
			if (opt.ring < 4 * (PKT_MAX + HDR_LEN))
				fatalx(EX_USAGE, "bad ring: at least 256k");
			break;
		case O_SEED:
			opt.seed = parse_num(optarg, "seed", 1, UINT64_MAX);
			break;
		case O_MAX_SECONDS:
			opt.max_seconds = parse_double(optarg, "max-seconds", 0,
			    1e7);
			break;
		case O_OWNER:
			opt.owner = (long)parse_num(optarg, "owner", 1, INT_MAX);
			if (opt.owner < 1)
				fatalx(EX_USAGE, "bad owner: 0");
			break;
		case O_REALTIME:
			opt.realtime = 1;
			break;
		case 'v':
			opt.verbose = 1;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		case 'V':
			printf("wanlink %s\n", RELAY_VERSION);
			exit(0);
		default:
			usage(stderr);
			exit(EX_USAGE);
		}
	}
	if (argc - optind != 4) {
		usage(stderr);
		exit(EX_USAGE);
	}
	for (i = 0; i < DIR_N; i++) {
		opt.ns[i] = argv[optind + 2 * i];
		opt.dev[i] = argv[optind + 2 * i + 1];
		if (*opt.ns[i] == '\0' || *opt.dev[i] == '\0' ||
		    strlen(opt.dev[i]) >= IFNAMSIZ)
			fatalx(EX_USAGE, "bad namespace or device name");
	}
	if (strcmp(opt.ns[0], opt.ns[1]) == 0 &&
	    strcmp(opt.dev[0], opt.dev[1]) == 0)
		fatalx(EX_USAGE, "the two ends are the same device");
}

static void
epoll_add(int ep, int fd, uint32_t tag)
{
	struct epoll_event ev = { .events = EPOLLIN, .data.u32 = tag };

	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) == -1)
		fatal(EX_SOFTWARE, "epoll_ctl");
}

enum { TAG_IN, TAG_TIMER, TAG_CTL, TAG_SIGNAL, TAG_OWNER };

static double
cpu_seconds(clockid_t cid)
{
	struct timespec ts;

	if (clock_gettime(cid, &ts) == -1)
		return 0;
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One direction: read, schedule, release, until told to stop. */
static void *
dir_main(void *arg)
{
	struct dir		*d = arg;
	struct epoll_event	 evs[4];
	struct itimerspec	 its;
	uint64_t		 armed = 0, next;
	int			 n, k, timer_fired;

	if (opt.realtime) {
		struct sched_param sp = { .sched_priority = 10 };
		int e = pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp);
		if (e != 0)
			fprintf(stderr, "wanlink: %s: SCHED_FIFO: %s (going "
			    "on)\n", d->d_name, strerror(e));
	}
	/* Late releases are the link's jitter: ask for tight wake-ups. */
	prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
	for (;;) {
		n = epoll_wait(d->d_ep, evs, 4, -1);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal(EX_SOFTWARE, "epoll_wait");
		}
		timer_fired = 0;
		for (k = 0; k < n; k++) {
			switch (evs[k].data.u32) {
			case TAG_IN:
				dir_read(d);
				break;
			case TAG_TIMER:
				timer_fired = 1;
				break;
			case TAG_CTL:
				if (__atomic_load_n(&d->d_cmd,
				    __ATOMIC_ACQUIRE) & CMD_STOP)
					goto out;
				break;
			}
		}
		next = dir_release(d);
		if (next != armed) {
			memset(&its, 0, sizeof(its));
			its.it_value.tv_sec = (time_t)(next / NS_PER_S);
			its.it_value.tv_nsec = (long)(next % NS_PER_S);
			if (timerfd_settime(d->d_timer, TFD_TIMER_ABSTIME, &its,
			    NULL) == -1)
				fatal(EX_SOFTWARE, "timerfd_settime");
			armed = next;
		} else if (timer_fired) {
			uint64_t ticks;
			/* Not re-armed: clear it so it stops waking us. */
			if (read(d->d_timer, &ticks, sizeof(ticks)) == -1 &&
			    errno != EAGAIN)
				fatal(EX_SOFTWARE, "timerfd read");
		}
	}
out:
	d->d_cpu_s = cpu_seconds(CLOCK_THREAD_CPUTIME_ID);
	return NULL;
}

static void
dir_start(struct dir *d)
{
	int e;

	if ((d->d_ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal(EX_SOFTWARE, "epoll_create1");
	if ((d->d_timer = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK |
	    TFD_CLOEXEC)) == -1)
		fatal(EX_SOFTWARE, "timerfd_create");
	if ((d->d_ctl = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) == -1)
		fatal(EX_SOFTWARE, "eventfd");
	epoll_add(d->d_ep, d->d_in, TAG_IN);
	epoll_add(d->d_ep, d->d_timer, TAG_TIMER);
	epoll_add(d->d_ep, d->d_ctl, TAG_CTL);
	if ((e = pthread_create(&d->d_thread, NULL, dir_main, d)) != 0) {
		errno = e;
		fatal(EX_SOFTWARE, "pthread_create");
	}
}

static void
dir_stop(struct dir *d)
{
	uint64_t one = 1;

	__atomic_store_n(&d->d_cmd, CMD_STOP, __ATOMIC_RELEASE);
	if (write(d->d_ctl, &one, sizeof(one)) != (ssize_t)sizeof(one))
		fatal(EX_SOFTWARE, "eventfd write");
	pthread_join(d->d_thread, NULL);
}

int
main(int argc, char **argv)
{
	struct epoll_event	 evs[4];
	sigset_t		 sigs;
	uint64_t		 t_start, deadline = 0;
	int			 home, tun[DIR_N], ep, sfd, pfd = -1;
	int			 i, running = 1;

	parse_args(argc, argv);

	if ((home = open("/proc/self/ns/net", O_RDONLY | O_CLOEXEC)) == -1)
		fatal(EX_UNAVAILABLE, "/proc/self/ns/net");
	for (i = 0; i < DIR_N; i++)
		tun[i] = open_tun(opt.ns[i], opt.dev[i], home);
	close(home);

	/*
	 * Blocked before the threads start, so only the signalfd sees them;
	 * a shell starts background jobs with SIGINT ignored: undo that.
	 */
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	sigaddset(&sigs, SIGUSR1);
	if (sigprocmask(SIG_BLOCK, &sigs, NULL) == -1)
		fatal(EX_SOFTWARE, "sigprocmask");
	signal(SIGPIPE, SIG_IGN);
	if ((sfd = signalfd(-1, &sigs, SFD_NONBLOCK | SFD_CLOEXEC)) == -1)
		fatal(EX_SOFTWARE, "signalfd");
	if (opt.owner) {
		pfd = (int)syscall(SYS_pidfd_open, (pid_t)opt.owner, 0);
		if (pfd == -1) {
			fprintf(stderr, "wanlink: owner %ld: %s\n", opt.owner,
			    strerror(errno));
			exit(EX_UNAVAILABLE);
		}
	}
	if ((ep = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal(EX_SOFTWARE, "epoll_create1");
	epoll_add(ep, sfd, TAG_SIGNAL);
	if (pfd != -1)
		epoll_add(ep, pfd, TAG_OWNER);

	t_base = t_start = now_ns();
	if (opt.max_seconds > 0)
		deadline = t_start + (uint64_t)(opt.max_seconds * 1e9);
	dir_init(&dirs[DIR_AB], DIR_AB, tun[DIR_AB], tun[DIR_BA]);
	dir_init(&dirs[DIR_BA], DIR_BA, tun[DIR_BA], tun[DIR_AB]);
	for (i = 0; i < DIR_N; i++)
		dir_start(&dirs[i]);

	printf("wanlink: forwarding %s/%s <-> %s/%s: delay %.3f/%.3f ms, "
	    "rate %" PRIu64 "/%" PRIu64 " bit/s, loss %g/%g %%, queue %" PRIu64
	    "/%" PRIu64 " B, seed %" PRIu64 "\n", opt.ns[0], opt.dev[0],
	    opt.ns[1], opt.dev[1], opt.delay_ms[0], opt.delay_ms[1],
	    opt.rate[0], opt.rate[1], opt.loss_pct[0], opt.loss_pct[1],
	    dirs[0].d_qlimit, dirs[1].d_qlimit, opt.seed);
	fflush(stdout);

	while (running) {
		int n, k, ms = -1;

		if (deadline) {
			uint64_t now = now_ns();
			if (now >= deadline) {
				fprintf(stderr, "wanlink: --max-seconds %g "
				    "reached\n", opt.max_seconds);
				break;
			}
			ms = (int)((deadline - now) / 1000000) + 1;
		}
		n = epoll_wait(ep, evs, 4, ms);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fatal(EX_SOFTWARE, "epoll_wait");
		}
		for (k = 0; k < n; k++) {
			if (evs[k].data.u32 == TAG_OWNER) {
				fprintf(stderr, "wanlink: owner %ld exited\n",
				    opt.owner);
				running = 0;
				continue;
			}
			for (;;) {
				struct signalfd_siginfo si;
				if (read(sfd, &si, sizeof(si)) !=
				    (ssize_t)sizeof(si))
					break;
				if (si.ssi_signo == SIGUSR1)
					print_stats(t_start, 0);
				else
					running = 0;
			}
		}
	}
	for (i = 0; i < DIR_N; i++)
		dir_stop(&dirs[i]);
	print_stats(t_start, 1);
	return 0;
}
