/*
 * worker: one process per backend.  Runs the yamux server session over the
 * backend's connection, owns the tunnel listener, and relays every client
 * of the tunnel port as one stream.  Idle workers wait in the master's pool
 * for a backend connection.
 *
 * Everything that belongs to one backend lives in one struct backend, made
 * when the master hands over the connection and freed whole when that
 * session ends: a worker whose backend never registered goes back to the
 * pool with nothing of it left.  A worker whose registered backend is gone
 * lets its clients take what they are owed, then exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "conn.h"
#include "ev.h"
#include "hello.h"
#include "hs.h"
#include "keys.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "proc.h"
#include "proxy.h"
#include "relay.h"
#include "sandbox.h"
#include "session.h"
#include "stats.h"

/* What a plain session hears from a relay that takes only encrypted ones. */
#define REG_WHY_PLAIN	"this relay takes only encrypted sessions"

/* A hello begins with this; anything else on the stream is a plain client. */
#define HELLO_PREFIX		"relay-hello "
#define HELLO_PREFIX_LEN	(sizeof(HELLO_PREFIX) - 1)

enum bk_state {
	BK_HANDSHAKE,		/* reading an encrypted session's message 1 */
	BK_HANDSHAKE_WAIT,	/* the master is answering it */
	BK_HANDSHAKE_REC,	/* reading the backend's first record */
	BK_HANDSHAKE_KEYS,	/* the master is opening it */
	BK_REGISTERING,		/* waiting for the registration */
	BK_WAIT_PORT,		/* the master is binding the tunnel port */
	BK_REFUSING,		/* the refusal is being written */
	BK_SERVING,		/* registered: clients come and go */
	BK_DRAINING,		/* no new clients; open ones finish */
	BK_FINISHING,		/* the session is ending in good order */
	BK_ENDED,		/* session over; clients take what they hold */
};

/* How the registration stream's first bytes read. */
enum reg_form { REG_UNKNOWN, REG_HELLO, REG_PLAIN };

struct backend;

/* The registration stream, an endpoint of the session. */
struct reg {
	struct endpoint		 r_ep;
	struct backend		*r_bk;
	enum reg_form		 r_form;
	int			 r_deciding;	/* first bytes still to come */
	char			 r_hello[HELLO_MAX + 1];
	size_t			 r_len;
};

struct backend {
	enum bk_state		 bk_state;
	struct session		*bk_sess;
	int			 bk_fd;		/* until the session has it */
	char			 bk_fp[KEYS_FP_LEN + 1];	/* its key's */
	uint8_t			 bk_hs[HS_REC1_MAX];	/* message 1, the
							   first record */
	size_t			 bk_hs_len;
	struct reg		 bk_reg;
	int			 bk_lfd;	/* tunnel listener */
	struct conn_set		 bk_clients;
	char			 bk_addr[PROC_ADDR_MAX];
	char			 bk_name[PROC_NAME_MAX];
	unsigned		 bk_port;
	uint32_t		 bk_slot;
	struct stats_backend	*bk_st;
	uint64_t		 bk_since;
	struct ev_timer		 bk_reg_timer;
	struct ev_timer		 bk_ka_timer;
	struct ev_timer		 bk_accept_timer;
	struct ev_timer		 bk_drain_timer;
	uint64_t		 bk_accept_warned;
	uint32_t		 bk_ping_id;
	uint32_t		 bk_timed_id;	/* the ping being timed */
	uint64_t		 bk_timed_us;	/* 0: none outstanding */
	uint64_t		 bk_rate_start;	/* stream opens/resets window */
	unsigned		 bk_rate_count;
	unsigned		 bk_clients_at_end;
	char			 bk_why[160];	/* how the session ended */
	/* Why registering failed, for the master to log (rate-limited). */
	char			 bk_idle_why[PROC_REASON_MAX];
	uint32_t		 bk_idle_flags;
	int			 bk_client_addr; /* hello addr=1 */
};

static struct {
	struct relay_config	*cfg;
	int			 chan;
	uint8_t			*rbuf;
	size_t			 rbuf_size;
	struct backend		*bk;		/* NULL while idle in the pool */
	int			 draining;	/* the relay shuts down */
} w;

static void	backend_drain(struct backend *, const char *why);
static void	bk_idle(struct backend *);
static void	bk_hs_fail(struct backend *, uint32_t flags, const char *why);
/* mux.c, for tests: where the stream ids start. */
void		mux_test_set_next_id(struct mux *, uint32_t);

static int64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static uint64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static struct mux *
bk_mux(struct backend *bk)
{
	return bk->bk_sess->s_mux;
}

/* ---- the backend's life ---- */

static void
backend_free(struct backend *bk)
{
	ev_timer_cancel(&bk->bk_reg_timer);
	ev_timer_cancel(&bk->bk_ka_timer);
	ev_timer_cancel(&bk->bk_accept_timer);
	ev_timer_cancel(&bk->bk_drain_timer);
	if (bk->bk_lfd != -1) {
		ev_del(bk->bk_lfd);
		close(bk->bk_lfd);
	}
	if (bk->bk_fd != -1) {
		ev_del(bk->bk_fd);
		close(bk->bk_fd);
	}
	session_free(bk->bk_sess);
	conn_reap(&bk->bk_clients);
	explicit_bzero(bk, sizeof(*bk));
	free(bk);
}

/* Stop taking clients; they wait in the listen queue meanwhile. */
static void
backend_stop_accepting(struct backend *bk)
{
	if (bk->bk_lfd != -1)
		ev_set(bk->bk_lfd, 0);
}

/*
 * The session is over (from the presleep hook: nothing of it is on the
 * stack).  Before registration the backend is dropped whole and the worker
 * goes back to the pool; after it, the clients are handed what they are
 * owed and the worker exits once they are done.
 */
static void
bk_ended(void *arg, const char *why)
{
	struct backend	*bk = arg;
	unsigned	 n;

	if (bk->bk_why[0] == '\0')
		snprintf(bk->bk_why, sizeof(bk->bk_why), "%s", why);
	if (bk->bk_state >= BK_SERVING) {
		n = bk->bk_clients_at_end;
		log_info("backend %s%s%s gone: %s; closing %u client%s",
		    bk->bk_addr, bk->bk_name[0] ? " " : "", bk->bk_name,
		    bk->bk_why, n, n == 1 ? "" : "s");
		session_free(bk->bk_sess);
		bk->bk_sess = NULL;
		if (bk->bk_lfd != -1) {
			ev_del(bk->bk_lfd);
			close(bk->bk_lfd);
			bk->bk_lfd = -1;
		}
		ev_timer_cancel(&bk->bk_ka_timer);
		ev_timer_cancel(&bk->bk_drain_timer);
		bk->bk_state = BK_ENDED;
		return;
	}
	bk_idle(bk);
}

/*
 * The backend never registered: it is dropped whole and the worker goes
 * back to the pool.  The master logs why, rate-limited relay-wide: each
 * connection of a stranger's flood lands in another pooled worker.
 */
static void
bk_idle(struct backend *bk)
{
	struct proc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_IDLE;
	if (bk->bk_idle_why[0] == '\0')
		snprintf(bk->bk_idle_why, sizeof(bk->bk_idle_why), "%.120s",
		    bk->bk_why);
	m.pm_flags = bk->bk_idle_flags;
	snprintf(m.pm_reason, sizeof(m.pm_reason), "%s", bk->bk_idle_why[0] ?
	    bk->bk_idle_why : "registration failed");
	log_debug("backend %s: %s", bk->bk_addr, bk->bk_why);
	backend_free(bk);
	w.bk = NULL;
	log_set_role("worker");
	if (proc_send(w.chan, &m, -1) == -1)
		fatal("channel to master");
}

/* Before its clients are cut: how many it had, for the log line. */
static void
bk_ending(void *arg)
{
	struct backend	*bk = arg;

	bk->bk_clients_at_end = bk->bk_clients.cs_count;
}

static void
bk_failed(void *arg, const char *why)
{
	struct backend	*bk = arg;

	if (bk->bk_why[0] != '\0')
		return;
	if (strcmp(why, "no answer") == 0)
		snprintf(bk->bk_why, sizeof(bk->bk_why), "backend sent nothing "
		    "for %u ms after a ping (alive timeout)",
		    w.cfg->alive_timeout_ms);
	else
		snprintf(bk->bk_why, sizeof(bk->bk_why), "session error: %s",
		    why);
}

static void
bk_goaway(void *arg, uint32_t code)
{
	struct backend	*bk = arg;

	log_info("backend %s sent GoAway(%u)", bk->bk_addr, code);
	if (code != MUX_GOAWAY_NORMAL || bk->bk_state < BK_SERVING)
		return;
	/*
	 * No new streams: new clients wait in the listen queue (or find the
	 * port closed once this session is over), none is accepted only to
	 * be closed.
	 */
	snprintf(bk->bk_why, sizeof(bk->bk_why), "backend is going away");
	backend_stop_accepting(bk);
}

static void
bk_pong(void *arg, uint32_t id, uint64_t rtt_ms)
{
	struct backend	*bk = arg;
	uint64_t	 rtt;

	(void)rtt_ms;
	if (id != bk->bk_timed_id || bk->bk_timed_us == 0)
		return;
	rtt = mono_us() - bk->bk_timed_us;
	bk->bk_timed_us = 0;
	if (bk->bk_st != NULL)
		stats_set(&bk->bk_st->sb_rtt_us, rtt > 0 ? rtt : 1);
}

/*
 * A ping: the session dies if nothing at all comes from the backend
 * within the alive timeout (the mux keeps that deadline; any byte ends
 * it, the pong need not be first).  One ping at a time is timed, in
 * microseconds, for the stats.
 */
static void
bk_ping(struct backend *bk)
{
	uint32_t	 id = ++bk->bk_ping_id;
	int		 timed = bk->bk_timed_us == 0 || mono_us() -
			    bk->bk_timed_us > w.cfg->alive_timeout_ms * 1000ULL;

	if (timed) {
		bk->bk_timed_id = id;
		bk->bk_timed_us = mono_us();
	}
	if (session_ping(bk->bk_sess, id) == -1 && timed)
		bk->bk_timed_us = 0;
}

static void
bk_ka_fire(void *arg)
{
	struct backend	*bk = arg;

	if (!session_alive(bk->bk_sess))
		return;
	bk_ping(bk);
	ev_timer_at(&bk->bk_ka_timer, ev_now() + w.cfg->keepalive_s * 1000ULL);
}

/*
 * Stream opens and resets caused by the backend, per second.  A backend
 * has no reason to open streams after registering, and resets come one per
 * client at most; a flood of either ends that session, not the service.
 */
static void
bk_rate_count(struct backend *bk)
{
	if (ev_now() - bk->bk_rate_start >= 1000) {
		bk->bk_rate_start = ev_now();
		bk->bk_rate_count = 0;
	}
	if (++bk->bk_rate_count > w.cfg->stream_rate &&
	    session_alive(bk->bk_sess)) {
		snprintf(bk->bk_why, sizeof(bk->bk_why), "stream flood: more "
		    "than %u stream opens and resets in a second",
		    w.cfg->stream_rate);
		session_abort(bk->bk_sess, MUX_GOAWAY_PROTOCOL, bk->bk_why);
	}
}

/* ---- clients ---- */

/*
 * The client's stream.  For a backend that asked (addr=1), the SYN rides
 * on a Data frame whose payload is a PROXY v2 header, the client and the
 * address it reached (docs/PROTOCOL.md): it is queued with the SYN, ahead
 * of any byte of the client's, within the initial window.  A client whose
 * address is gone already (it reset) gets no stream (NULL, *why NULL).
 * The text of the address, for the log and the stats, goes to a.
 */
static struct mux_stream *
client_stream_open(struct backend *bk, int cfd, char *a, size_t alen,
    const char **why)
{
	struct sockaddr_storage	 src, dst;
	socklen_t		 sl = sizeof(src), dl = sizeof(dst);
	struct proxy_addr	 pa;
	uint8_t			 hdr[PROXY_V2_MAX];
	int			 n;

	if (!bk->bk_client_addr) {
		a[0] = '\0';
		return mux_open(bk_mux(bk), ev_now(), why);
	}
	if (getpeername(cfd, (struct sockaddr *)&src, &sl) == -1 ||
	    getsockname(cfd, (struct sockaddr *)&dst, &dl) == -1 ||
	    proxy_addr_set(&pa, (struct sockaddr *)&src,
	    (struct sockaddr *)&dst) == -1 ||
	    (n = proxy_v2_build(&pa, hdr, sizeof(hdr))) == -1) {
		/* Not the relay's trouble: the client left on its own. */
		log_info("client on tunnel port %u reset before its address "
		    "could be read; dropped", bk->bk_port);
		snprintf(a, alen, "?");
		*why = NULL;
		return NULL;
	}
	net_addr_str((struct sockaddr *)&src, a, alen);
	return mux_open_data(bk_mux(bk), hdr, n, ev_now(), why);
}

static void
client_closed(struct conn *c)
{
	struct backend	*bk = w.bk;
	uint64_t	 ms = ev_now() - c->c_since;

	log_info("client %s on tunnel port %u closed: %llu bytes in, "
	    "%llu bytes out, %llu.%03llu s, %s", c->c_addr, bk->bk_port,
	    (unsigned long long)c->c_in, (unsigned long long)c->c_out,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
	    c->c_end ? c->c_end : "closed");
	stats_client_end(&w.cfg->stats, bk->bk_slot, c->c_stats);
}

static void
accept_resume(void *arg)
{
	struct backend	*bk = arg;

	if (bk->bk_lfd != -1 && bk->bk_state == BK_SERVING &&
	    !mux_remote_goaway(bk_mux(bk)))
		ev_set(bk->bk_lfd, EV_READ);
}

static void
tunnel_accept(int fd, uint32_t events, void *arg)
{
	struct backend		*bk = arg;
	struct mux_stream	*st;
	struct conn		*c;
	const char		*why;
	char			 a[NET_ADDRSTRLEN];
	int			 cfd, n;

	(void)events;
	for (n = 0; n < 64 && bk->bk_state == BK_SERVING; n++) {
		if (mux_ids_left(bk_mux(bk)) == 0) {
			/*
			 * A new session starts the ids afresh: let this one
			 * end so that the backend reconnects.  The clients
			 * wait in the listen queue meanwhile.
			 */
			log_warnx("tunnel port %u: %s; ending the session so "
			    "that the backend reconnects", bk->bk_port,
			    MUX_WHY_IDS);
			backend_drain(bk, MUX_WHY_IDS);
			return;
		}
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (log_ratelimit(&bk->bk_accept_warned,
				    ev_now(), 1000))
					log_warn("accept on tunnel port %u; "
					    "pausing 100 ms", bk->bk_port);
				ev_set(fd, 0);
				ev_timer_at(&bk->bk_accept_timer,
				    ev_now() + 100);
			}
			return;
		}
		if (bk->bk_clients.cs_count >= w.cfg->max_clients) {
			net_peer_str(cfd, a, sizeof(a));
			log_warnx("client %s refused: %u clients is the limit",
			    a, w.cfg->max_clients);
			close(cfd);
			continue;
		}
		if ((st = client_stream_open(bk, cfd, a, sizeof(a),
		    &why)) == NULL) {
			if (a[0] == '\0')
				net_peer_str(cfd, a, sizeof(a));
			close(cfd);
			if (why != NULL)
				log_warnx("client %s refused: cannot open a "
				    "stream: %s", a, why);
			continue;
		}
		if ((c = conn_new(&bk->bk_clients, bk->bk_sess, cfd, st,
		    0)) == NULL) {
			log_warn("client");
			mux_stream_reset(st);
			close(cfd);
			continue;
		}
		/* The stats say what the backend was told. */
		if (a[0] != '\0')
			snprintf(c->c_addr, sizeof(c->c_addr), "%s", a);
		c->c_stats = stats_client_begin(&w.cfg->stats, bk->bk_slot,
		    bk->bk_port, c->c_addr, wall_ms());
		log_debug("client %s on tunnel port %u: stream %u", c->c_addr,
		    bk->bk_port, mux_stream_id(st));
		/* Is the backend there?  Its answer, not its past, tells. */
		bk_ping(bk);
	}
}

/*
 * No new clients; the open ones finish (bounded by --drain-timeout), then
 * the session ends in good order.  The relay's shutdown, and a session
 * whose stream ids ran out, end this way.
 */
static void
backend_drain(struct backend *bk, const char *why)
{
	if (bk->bk_state != BK_SERVING)
		return;
	bk->bk_state = BK_DRAINING;
	snprintf(bk->bk_why, sizeof(bk->bk_why), "%s", why);
	if (bk->bk_lfd != -1) {
		ev_del(bk->bk_lfd);
		close(bk->bk_lfd);
		bk->bk_lfd = -1;
	}
	mux_goaway(bk_mux(bk), MUX_GOAWAY_NORMAL);
	log_info("draining %u client%s for up to %us",
	    bk->bk_clients.cs_count, bk->bk_clients.cs_count == 1 ? "" : "s",
	    w.cfg->drain_timeout_s);
	ev_timer_at(&bk->bk_drain_timer, ev_now() +
	    w.cfg->drain_timeout_s * 1000ULL);
}

static void
bk_drain_fire(void *arg)
{
	struct backend	*bk = arg;

	log_info("drain time over: closing %u client%s",
	    bk->bk_clients.cs_count, bk->bk_clients.cs_count == 1 ? "" : "s");
	conn_reset_all(&bk->bk_clients, "drain time over");
	bk->bk_state = BK_FINISHING;
	session_finish(bk->bk_sess, bk->bk_why);
}

/* ---- registration ---- */

static void
reg_request_port(struct backend *bk, const struct hello *h)
{
	struct proc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_PORT_REQ;
	if (h != NULL) {
		m.pm_port = h->h_port;
		snprintf(m.pm_name, sizeof(m.pm_name), "%s", h->h_name);
		snprintf(bk->bk_name, sizeof(bk->bk_name), "%s", h->h_name);
	}
	snprintf(m.pm_addr, sizeof(m.pm_addr), "%s", bk->bk_addr);
	bk->bk_state = BK_WAIT_PORT;
	if (proc_send(w.chan, &m, -1) == -1)
		fatal("channel to master");
}

/* Answer "error: WHY" on the registration stream and end the session. */
static void
reg_refuse_quiet(struct backend *bk, const char *why)
{
	struct mux_stream	*st = bk->bk_reg.r_ep.ep_stream;
	char			 line[PROC_REASON_MAX + 16];
	int			 n;

	if (bk->bk_state == BK_REFUSING)
		return;
	n = snprintf(line, sizeof(line), "error: %s", why);
	if (st != NULL) {
		mux_stream_write(st, (uint8_t *)line, n);
		mux_stream_close(st);
	}
	mux_goaway(bk_mux(bk), MUX_GOAWAY_NORMAL);
	bk->bk_state = BK_REFUSING;
	snprintf(bk->bk_why, sizeof(bk->bk_why), "registration refused: %s",
	    why);
	/*
	 * The answer goes out, our side is shut and the backend's EOF
	 * awaited: closing with unread input would send a reset that can
	 * destroy the answer in flight.
	 */
	session_finish(bk->bk_sess, bk->bk_why);
}

/* Refuse, and have the master log it (rate-limited). */
static void
reg_refuse(struct backend *bk, const char *why)
{
	snprintf(bk->bk_idle_why, sizeof(bk->bk_idle_why), "%s", why);
	bk->bk_idle_flags = PROC_F_REFUSED;
	reg_refuse_quiet(bk, why);
}

/* A registration without a hello: the original relay's. */
static void
reg_plain(struct backend *bk)
{
	bk->bk_reg.r_form = REG_PLAIN;
	reg_request_port(bk, NULL);
}

static void
reg_hello_line(struct backend *bk)
{
	struct reg	*r = &bk->bk_reg;
	struct hello	 h;
	const char	*why;
	char		*nl;

	if ((nl = memchr(r->r_hello, '\n', r->r_len)) == NULL)
		return;
	if (hello_parse(r->r_hello, nl - r->r_hello + 1, &h, &why) == -1) {
		reg_refuse(bk, why);
		return;
	}
	bk->bk_client_addr = h.h_addr;
	reg_request_port(bk, &h);
}

static void
reg_on_data(struct endpoint *ep, const uint8_t *p, size_t len)
{
	struct reg	*r = (struct reg *)ep;
	struct backend	*bk = r->r_bk;
	size_t		 n;

	mux_stream_consumed(ep->ep_stream, len);
	if (bk->bk_state != BK_REGISTERING || r->r_form == REG_PLAIN)
		return;
	if (len > HELLO_MAX - r->r_len) {
		reg_refuse(bk, "registration hello too long");
		return;
	}
	memcpy(r->r_hello + r->r_len, p, len);
	r->r_len += len;
	r->r_hello[r->r_len] = '\0';
	if (r->r_form == REG_UNKNOWN) {
		/*
		 * The payload tells the forms apart, not the frame type: a
		 * plain client (rust-yamux, say) may put its SYN on a Data
		 * frame too.
		 */
		n = r->r_len < HELLO_PREFIX_LEN ? r->r_len : HELLO_PREFIX_LEN;
		if (memcmp(r->r_hello, HELLO_PREFIX, n) != 0) {
			reg_plain(bk);
			return;
		}
		if (n < HELLO_PREFIX_LEN)
			return;
		r->r_form = REG_HELLO;
	}
	reg_hello_line(bk);
}

static void
reg_on_fin(struct endpoint *ep)
{
	struct reg	*r = (struct reg *)ep;

	if (r->r_bk->bk_state == BK_REGISTERING && r->r_form != REG_PLAIN)
		reg_refuse(r->r_bk, "incomplete registration hello");
}

static void
reg_on_gone(struct endpoint *ep)
{
	endpoint_detach(ep);
}

static void
reg_on_cut(struct endpoint *ep, const char *why, int cut)
{
	(void)why;
	(void)cut;
	endpoint_detach(ep);
}

static const struct endpoint_ops reg_ops = {
	.data = reg_on_data,
	.fin = reg_on_fin,
	.cut = reg_on_cut,
	.closed = reg_on_gone,
};

static void
bk_opened(void *arg, struct mux_stream *st, int syn_type, uint32_t syn_len)
{
	struct backend	*bk = arg;
	struct reg	*r = &bk->bk_reg;

	if (bk->bk_state == BK_REGISTERING && r->r_bk == NULL) {
		r->r_bk = bk;
		endpoint_attach(&r->r_ep, &reg_ops, bk->bk_sess, st);
		mux_stream_accept(st);
		/* A Data frame's payload decides; no payload, no hello. */
		if (syn_type != MUX_T_DATA || syn_len == 0)
			reg_plain(bk);
		return;
	}
	/* Backends do not open streams after registering. */
	log_debug("backend %s opened stream %u; reset", bk->bk_addr,
	    mux_stream_id(st));
	mux_stream_reset(st);
	bk_rate_count(bk);
}

static void
reg_port_ok(struct backend *bk, int fd, const struct proc_msg *m)
{
	struct mux_stream	*st = bk->bk_reg.r_ep.ep_stream;
	struct proc_msg		 r;
	char			 line[300];
	int			 n;

	bk->bk_lfd = fd;
	bk->bk_port = m->pm_port;
	bk->bk_slot = m->pm_slot;
	if (ev_add(fd, EV_READ, tunnel_accept, bk) == -1)
		fatal("ev_add tunnel listener");
	n = snprintf(line, sizeof(line), strchr(w.cfg->advertise, ':') ?
	    "[%s]:%u" : "%s:%u", w.cfg->advertise, bk->bk_port);
	if (st != NULL) {
		mux_stream_write(st, (uint8_t *)line, n);
		/* Our answer to addr=1: every stream opens with the header. */
		if (bk->bk_client_addr)
			mux_stream_write(st, (const uint8_t *)" addr=1", 7);
		mux_stream_close(st);
	}
	bk->bk_state = BK_SERVING;
	ev_timer_cancel(&bk->bk_reg_timer);
	if (w.cfg->keepalive_s > 0)
		ev_timer_at(&bk->bk_ka_timer, ev_now() + 1000ULL *
		    (w.cfg->keepalive_s < 2 ? w.cfg->keepalive_s : 2));
	bk->bk_since = ev_now();
	bk->bk_st = stats_backend_begin(&w.cfg->stats, bk->bk_slot, getpid(),
	    bk->bk_port, bk->bk_addr, bk->bk_name, bk->bk_fp, wall_ms());
	bk->bk_clients.cs_stats = bk->bk_st;
	log_set_role("worker[%u]", bk->bk_port);
	log_info("backend %s registered%s%s%s%s, tunnel %s", bk->bk_addr,
	    bk->bk_name[0] ? " as " : "", bk->bk_name,
	    bk->bk_fp[0] ? " with key " : "", bk->bk_fp, line);
	memset(&r, 0, sizeof(r));
	r.pm_type = PROC_REGISTERED;
	r.pm_port = bk->bk_port;
	if (proc_send(w.chan, &r, -1) == -1)
		fatal("channel to master");
	sandbox_test_violation(bk->bk_name);	/* test hook, see sandbox.h */
	/* The round trip, for the stats and the windows. */
	bk_ping(bk);
}

static void
bk_reg_fire(void *arg)
{
	struct backend	*bk = arg;

	log_warnx("backend %s did not register within %u ms", bk->bk_addr,
	    w.cfg->register_timeout_ms);
	snprintf(bk->bk_why, sizeof(bk->bk_why), "registration timed out");
	if (bk->bk_sess == NULL) {
		bk_hs_fail(bk, 0, bk->bk_why);
		return;
	}
	session_drop(bk->bk_sess, bk->bk_why);
}

static const struct session_ops backend_ops = {
	.opened = bk_opened,
	.ended = bk_ended,
	.goaway = bk_goaway,
	.pong = bk_pong,
	.failed = bk_failed,
	.ending = bk_ending,
};

/* The yamux session over the backend's connection: registration next. */
static void
bk_start_session(struct backend *bk, const struct noise_cs *tx,
    const struct noise_cs *rx)
{
	struct session_config	 sc;
	const char		*v;
	int			 fd = bk->bk_fd;

	session_config_default(&sc, MUX_SERVER);
	sc.sc_mux.recv_window = w.cfg->window;
	sc.sc_mux.recv_window_max = w.cfg->window_max;
	/*
	 * Windows grow only within the session buffer: a window the
	 * relay advertised must never by itself be enough to push the
	 * session over its limit (a client reading at full speed still
	 * holds a window's worth for a moment).
	 */
	sc.sc_mux.recv_budget = w.cfg->window_budget;
	if (w.cfg->session_buffer > 0 &&
	    sc.sc_mux.recv_budget > w.cfg->session_buffer)
		sc.sc_mux.recv_budget = w.cfg->session_buffer;
	sc.sc_mux.clock = ev_now;
	sc.sc_mux.max_streams = w.cfg->max_streams;
	sc.sc_mux.keepalive_ms = 0;		/* bk_ka_fire() */
	sc.sc_mux.ping_timeout_ms = w.cfg->alive_timeout_ms;
	sc.sc_mux.open_timeout_ms = w.cfg->alive_timeout_ms;
	sc.sc_mux.max_unacked = w.cfg->max_unacked;
	sc.sc_held_max = w.cfg->session_buffer;
	sc.sc_tx = tx;
	sc.sc_rx = rx;
	bk->bk_fd = -1;
	if ((bk->bk_sess = session_new(fd, &sc, &backend_ops, bk, w.rbuf,
	    w.rbuf_size)) == NULL)
		fatal("session");
	/* Test only: start near the end of the id space. */
	if ((v = getenv("RELAY_TEST_STREAM_ID")) != NULL)
		mux_test_set_next_id(bk_mux(bk), (uint32_t)strtoul(v, NULL, 10));
	bk->bk_state = BK_REGISTERING;
}

/* Before its session: the connection is dropped, the worker idles. */
static void
bk_hs_fail(struct backend *bk, uint32_t flags, const char *why)
{
	if (why != bk->bk_why)
		snprintf(bk->bk_why, sizeof(bk->bk_why), "%s", why);
	snprintf(bk->bk_idle_why, sizeof(bk->bk_idle_why), "%.120s", why);
	bk->bk_idle_flags = flags;
	bk_idle(bk);
}

/*
 * An encrypted session's first bytes: the preamble, the length and message
 * 1, read exactly (a backend sends nothing more before our answer).  The
 * master answers it; we only check the framing.
 */
/*
 * Read, exactly, one message framed by a 2-byte length into bk_hs, after
 * skip bytes that must be a preamble (0: none); lengths lo..hi.  1 once
 * it is all there (*len its length), 0 to wait for more, -1 when the
 * backend was dropped.
 */
static int
bk_hs_fill(struct backend *bk, int fd, size_t skip, size_t lo, size_t hi,
    size_t *len, const char *what)
{
	size_t	 need = skip + 2;
	ssize_t	 n;

	for (;;) {
		if (bk->bk_hs_len >= skip + 2) {
			*len = (size_t)bk->bk_hs[skip] << 8 | bk->bk_hs[skip + 1];
			if (*len < lo || *len > hi) {
				bk_hs_fail(bk, 0, what);
				return -1;
			}
			need = skip + 2 + *len;
			if (bk->bk_hs_len == need)
				return 1;
		}
		n = read(fd, bk->bk_hs + bk->bk_hs_len, need - bk->bk_hs_len);
		if (n > 0) {
			bk->bk_hs_len += (size_t)n;
			if (skip > 0 && bk->bk_hs_len >= skip &&
			    hs_kind(bk->bk_hs) == 0) {
				bk_hs_fail(bk, 0, "not a relay session (bad "
				    "preamble)");
				return -1;
			}
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		bk_hs_fail(bk, 0, n == 0 ? "closed during the handshake" :
		    "read error during the handshake");
		return -1;
	}
}

static void
bk_hs_read(int fd, uint32_t events, void *arg)
{
	struct backend	*bk = arg;
	struct proc_msg	 m;
	size_t		 len;

	(void)events;
	if (bk_hs_fill(bk, fd, HS_PREAMBLE_LEN, 1, HS_MSG1_MAX, &len,
	    "bad handshake message length") != 1)
		return;
	ev_set(fd, 0);
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_HS_REQ;
	m.pm_flags = hs_kind(bk->bk_hs) == HS_IK ? PROC_HS_IK : PROC_HS_PSK;
	m.pm_len = (uint32_t)len;
	memcpy(m.pm_data, bk->bk_hs + HS_PREAMBLE_LEN + 2, len);
	bk->bk_state = BK_HANDSHAKE_WAIT;
	if (proc_send(w.chan, &m, -1) == -1)
		fatal("channel to master");
}

/* The backend's first record, read exactly: the master opens it. */
static void
bk_hs_rec_read(int fd, uint32_t events, void *arg)
{
	struct backend	*bk = arg;
	struct proc_msg	 m;
	size_t		 len;

	(void)events;
	if (bk_hs_fill(bk, fd, 0, NOISE_TAG_LEN + 1, HS_REC1_MAX -
	    NOISE_REC_HDR, &len, "bad first record length") != 1)
		return;
	ev_set(fd, 0);
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_HS_REC;
	m.pm_len = (uint32_t)(NOISE_REC_HDR + len);
	memcpy(m.pm_data, bk->bk_hs, m.pm_len);
	bk->bk_state = BK_HANDSHAKE_KEYS;
	if (proc_send(w.chan, &m, -1) == -1)
		fatal("channel to master");
}

/* The master's answer: pass it on, then the first record, or the end. */
static void
bk_hs_reply(struct backend *bk, const struct proc_msg *m)
{
	ssize_t		 n;

	if (m->pm_len > HS_REPLY_MAX)
		fatalx("bad handshake answer from master");
	if (bk->bk_state == BK_HANDSHAKE_KEYS) {
		/* The first record did not open; the master logged it. */
		bk_hs_fail(bk, PROC_F_REFUSED | PROC_F_AUTHFAIL,
		    "first record did not open");
		return;
	}
	/* A fresh connection's socket buffer takes this much at once. */
	do {
		n = write(bk->bk_fd, m->pm_data, m->pm_len);
	} while (n == -1 && errno == EINTR);
	if (n != (ssize_t)m->pm_len) {
		bk_hs_fail(bk, 0, "could not send the handshake reply");
		return;
	}
	if (m->pm_flags != PROC_HS_OK) {
		/* The master logged it. */
		bk_hs_fail(bk, PROC_F_REFUSED | PROC_F_AUTHFAIL,
		    m->pm_flags == PROC_HS_REFUSED ? "key refused" :
		    "handshake failed");
		return;
	}
	bk->bk_state = BK_HANDSHAKE_REC;
	bk->bk_hs_len = 0;
	ev_del(bk->bk_fd);
	if (ev_add(bk->bk_fd, EV_READ, bk_hs_rec_read, bk) == -1)
		fatal("ev_add backend");
}

/* The session is the key's: its keys, and what the first record held. */
static void
bk_hs_keys(struct backend *bk, const struct proc_msg *m)
{
	struct noise_cs	 tx, rx;

	if (m->pm_len < 64)
		fatalx("bad session keys from master");
	memset(&tx, 0, sizeof(tx));
	memset(&rx, 0, sizeof(rx));
	memcpy(tx.cs_k, m->pm_data, 32);
	memcpy(rx.cs_k, m->pm_data + 32, 32);
	tx.cs_haskey = rx.cs_haskey = 1;
	tx.cs_rekey = rx.cs_rekey = NOISE_REKEY_RECORDS;
	rx.cs_n = 1;			/* the first record is opened */
	snprintf(bk->bk_fp, sizeof(bk->bk_fp), "%.*s", KEYS_FP_LEN,
	    m->pm_reason);
	ev_del(bk->bk_fd);
	bk_start_session(bk, &tx, &rx);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
	session_input(bk->bk_sess, m->pm_data + 64, m->pm_len - 64);
}

/* Until the backend's EOF (or the registration timer): then idle. */
static void
bk_refused_drain(int fd, uint32_t events, void *arg)
{
	struct backend	*bk = arg;
	uint8_t		 buf[512];
	ssize_t		 n;
	int		 i;

	(void)events;
	for (i = 0; i < 16; i++) {
		n = read(fd, buf, sizeof(buf));
		if (n > 0)
			continue;
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		break;
	}
	if (i == 16)
		return;
	bk_hs_fail(bk, PROC_F_REFUSED | PROC_F_AUTHFAIL, REG_WHY_PLAIN);
}

static void
put_frame(uint8_t *p, uint8_t type, uint16_t flags, uint32_t id,
    uint32_t len)
{
	struct mux_hdr	 h = { 0, type, flags, id, len };

	mux_hdr_encode(p, &h);
}

/*
 * A plain session where only encrypted ones are taken.  It gets its answer
 * without a byte of it being parsed: the answer a registration expects on
 * stream 1 (the first stream every yamux client opens), canned: ACK, the
 * reason, FIN, then GoAway(0).  What it sends is read and dropped until
 * its EOF, so that closing sends no reset over the answer.
 */
static void
bk_refuse_plain(struct backend *bk)
{
	static const char	 why[] = "error: " REG_WHY_PLAIN;
	uint8_t			 out[4 * 12 + sizeof(why)];
	size_t			 n = 0, len = sizeof(why) - 1;
	ssize_t			 w;

	put_frame(out + n, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 1, 0);
	n += 12;
	put_frame(out + n, MUX_T_DATA, 0, 1, (uint32_t)len);
	memcpy(out + n + 12, why, len);
	n += 12 + len;
	put_frame(out + n, MUX_T_WINDOW_UPDATE, MUX_F_FIN, 1, 0);
	n += 12;
	put_frame(out + n, MUX_T_GOAWAY, 0, 0, MUX_GOAWAY_NORMAL);
	n += 12;
	do {
		w = write(bk->bk_fd, out, n);
	} while (w == -1 && errno == EINTR);
	if (w != (ssize_t)n) {
		bk_hs_fail(bk, PROC_F_REFUSED | PROC_F_AUTHFAIL, REG_WHY_PLAIN);
		return;
	}
	shutdown(bk->bk_fd, SHUT_WR);
	if (ev_add(bk->bk_fd, EV_READ, bk_refused_drain, bk) == -1)
		fatal("ev_add backend");
}

static void
worker_backend(int fd, const struct proc_msg *m)
{
	struct backend		*bk;
	uint8_t			 c = 0;

	if (w.bk != NULL) {
		log_warnx("backend handed to a busy worker; dropped");
		close(fd);
		return;
	}
	if ((bk = calloc(1, sizeof(*bk))) == NULL)
		fatal("backend");
	bk->bk_lfd = -1;
	bk->bk_fd = fd;
	bk->bk_slot = UINT32_MAX;
	snprintf(bk->bk_addr, sizeof(bk->bk_addr), "%s", m->pm_addr);
	bk->bk_clients.cs_closed = client_closed;
	bk->bk_clients.cs_why_eof = "client closed first";
	bk->bk_clients.cs_why_fin = "backend closed first";
	bk->bk_clients.cs_why_gone = "backend gone";
	bk->bk_clients.cs_drain_ms = w.cfg->drain_timeout_s * 1000;
	ev_timer_init(&bk->bk_reg_timer, bk_reg_fire, bk);
	ev_timer_init(&bk->bk_ka_timer, bk_ka_fire, bk);
	ev_timer_init(&bk->bk_accept_timer, accept_resume, bk);
	ev_timer_init(&bk->bk_drain_timer, bk_drain_fire, bk);
	w.bk = bk;
	ev_timer_at(&bk->bk_reg_timer, ev_now() + w.cfg->register_timeout_ms);
	log_debug("backend %s connected", bk->bk_addr);
	/*
	 * The first byte tells the forms apart (the master saw one arrive):
	 * a yamux frame starts with version 0, our encrypted forms with the
	 * preamble.
	 */
	if (recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT) == 1 &&
	    c == (uint8_t)HS_PREAMBLE_IK[0]) {
		bk->bk_state = BK_HANDSHAKE;
		if (ev_add(fd, EV_READ, bk_hs_read, bk) == -1)
			fatal("ev_add backend");
		return;
	}
	if (w.cfg->encrypted_only) {
		bk_refuse_plain(bk);
		return;
	}
	bk_start_session(bk, NULL, NULL);
}

/* ---- the loop ---- */

static void
worker_presleep(void *arg)
{
	struct backend	*bk = w.bk;

	(void)arg;
	if (bk == NULL)
		return;
	if (bk->bk_clients.cs_reap != NULL)
		conn_reap(&bk->bk_clients);
	if (bk->bk_state == BK_DRAINING && bk->bk_clients.cs_count == 0) {
		log_info("all clients done");
		ev_timer_cancel(&bk->bk_drain_timer);
		bk->bk_state = BK_FINISHING;
		session_finish(bk->bk_sess, bk->bk_why);
	}
	if (bk->bk_sess != NULL)
		session_presleep(bk->bk_sess);	/* may free bk */
	if ((bk = w.bk) != NULL && bk->bk_state == BK_ENDED &&
	    bk->bk_clients.cs_count == 0) {
		conn_reap(&bk->bk_clients);
		exit(0);
	}
}

/*
 * The relay is shutting down: take no new clients, tell the backend
 * (GoAway(0): no new streams), and let the open clients finish.
 */
static void
worker_drain(void)
{
	w.draining = 1;
	if (w.bk == NULL || w.bk->bk_state < BK_SERVING)
		exit(0);
	backend_drain(w.bk, "relay shutting down");
}

/* The backend's key was withdrawn (SIGHUP): its session ends now. */
static void
worker_revoke(void)
{
	struct backend	*bk = w.bk;

	if (bk == NULL)
		return;
	if (bk->bk_sess == NULL) {
		bk_hs_fail(bk, PROC_F_REFUSED, "key no longer authorized");
		return;
	}
	snprintf(bk->bk_why, sizeof(bk->bk_why), "its key is no longer "
	    "authorized");
	log_warnx("backend %s%s%s: key %s is no longer authorized; closing "
	    "%u client%s", bk->bk_addr, bk->bk_name[0] ? " " : "",
	    bk->bk_name, bk->bk_fp, bk->bk_clients.cs_count,
	    bk->bk_clients.cs_count == 1 ? "" : "s");
	conn_reset_all(&bk->bk_clients, "key no longer authorized");
	session_abort(bk->bk_sess, MUX_GOAWAY_NORMAL, bk->bk_why);
}

static void
worker_chan(int fd, uint32_t events, void *arg)
{
	struct proc_msg	 m;
	int		 rfd, rv;

	(void)events;
	(void)arg;
	for (;;) {
		rv = proc_recv(fd, &m, &rfd);
		if (rv == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (rv == 0)
			exit(0);	/* the master is gone: no orphans */
		if (rv == -1 || proc_msg_check(&m, rfd) == -1)
			fatalx("corrupt message from master");
		switch (m.pm_type) {
		case PROC_BACKEND:
			worker_backend(rfd, &m);
			break;
		case PROC_PORT_OK:
			/*
			 * The backend may have gone while the master was
			 * answering; the master frees the port when it reads
			 * our PROC_IDLE.
			 */
			if (w.bk == NULL || w.bk->bk_state != BK_WAIT_PORT) {
				close(rfd);
				break;
			}
			reg_port_ok(w.bk, rfd, &m);
			break;
		case PROC_PORT_ERR:
			if (w.bk == NULL || w.bk->bk_state != BK_WAIT_PORT)
				break;
			reg_refuse(w.bk, m.pm_reason);
			break;
		case PROC_HS_REP:
			/*
			 * The answer for a backend that timed out meanwhile
			 * comes before any next backend: drop it.
			 */
			if (w.bk == NULL) {
				explicit_bzero(&m, sizeof(m));
				break;
			}
			if (w.bk->bk_state != BK_HANDSHAKE_WAIT &&
			    w.bk->bk_state != BK_HANDSHAKE_KEYS)
				fatalx("handshake answer out of turn");
			bk_hs_reply(w.bk, &m);
			explicit_bzero(&m, sizeof(m));
			break;
		case PROC_HS_KEYS:
			if (w.bk == NULL) {
				explicit_bzero(&m, sizeof(m));
				break;
			}
			if (w.bk->bk_state != BK_HANDSHAKE_KEYS)
				fatalx("session keys out of turn");
			bk_hs_keys(w.bk, &m);
			explicit_bzero(&m, sizeof(m));
			break;
		case PROC_REVOKE:
			worker_revoke();
			break;
		case PROC_SHUTDOWN:
			worker_drain();
			break;
		case PROC_LOGFD:
			/* The master reopened the log file for us. */
			if (dup3(rfd, 4, O_CLOEXEC) != -1)
				log_adopt_fd(4);
			close(rfd);
			break;
		default:
			fatalx("unexpected message %u from master", m.pm_type);
		}
	}
}

void
worker_main(struct relay_config *cfg, int chan)
{
	const char	*why;

	memset(&w, 0, sizeof(w));
	w.cfg = cfg;
	w.chan = chan;
	/* The master's secrets: a worker never needs them (master_hs_req). */
	explicit_bzero(cfg->key_priv, sizeof(cfg->key_priv));
	explicit_bzero(cfg->psk, sizeof(cfg->psk));
	explicit_bzero(cfg->secret, sizeof(cfg->secret));
	cfg->secret_len = 0;
	w.rbuf_size = cfg->buffer;
	if ((w.rbuf = malloc(w.rbuf_size)) == NULL)
		fatal("malloc");
	log_set_role("worker");
	/*
	 * Nothing a worker does needs privileges: its descriptors come from
	 * the master, its stats rows are mapped already, its log is an open
	 * descriptor.  It opens no files from here on.
	 */
	if (relay_drop_privileges(cfg) == -1)
		fatal("cannot switch to user %s", cfg->user);
	/* A change of credentials clears the parent-death signal. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() == 1)
		exit(0);
	ev_reset();
	if (ev_add(chan, EV_READ, worker_chan, NULL) == -1)
		fatal("ev_add channel");
	ev_set_presleep(worker_presleep, NULL);
	/* From here on, only the system calls of sandbox.c. */
	if (sandbox_worker_enter(&why) == -1)
		fatal("cannot enter the sandbox: %s", why);
	for (;;)
		ev_run_once(-1);
}
