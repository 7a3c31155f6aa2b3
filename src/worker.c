/*
 * worker: one process per backend.  Runs the yamux server session over the
 * backend's connection, owns the tunnel listener, and relays every client
 * of the tunnel port as one stream.  Idle workers wait in the master's pool
 * for a backend connection; a worker whose backend never registered goes
 * back to the pool, one whose registered backend is gone exits.
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

#include "auth.h"
#include "bridge.h"
#include "ev.h"
#include "hello.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "proc.h"
#include "relay.h"
#include "sandbox.h"
#include "stats.h"

enum wstate { WS_IDLE, WS_REGISTERING, WS_WAIT_PORT, WS_REFUSING,
	WS_SERVING };

static struct {
	struct relay_config	*cfg;
	int			 chan;
	int			 bfd;		/* backend connection */
	int			 lfd;		/* tunnel listener */
	enum wstate		 state;
	struct mux		*mux;
	struct mux_stream	*reg;		/* registration stream */
	int			 reg_hello;	/* a hello is expected on it */
	int			 shut_sent;	/* refusal sent, write side shut */
	char			 hello[HELLO_MAX + 1];
	size_t			 hello_len;
	char			 addr[PROC_ADDR_MAX];
	char			 name[PROC_NAME_MAX];
	unsigned		 port;
	uint32_t		 slot;
	struct stats_backend	*st;
	struct ev_timer		 mux_timer;
	struct ev_timer		 reg_timer;
	struct ev_timer		 accept_timer;
	struct ev_timer		 drain_timer;
	struct ev_timer		 ka_timer;
	uint32_t		 ping_id;
	uint64_t		 accept_warned;
	uint64_t		 ping_sent_us;
	int			 draining;
	int			 flood;		/* end the session now */
	uint64_t		 rate_start;	/* stream opens/resets window */
	unsigned		 rate_count;
	struct bridge_set	 bridges;	/* one per client */
	uint8_t			*rbuf;
	size_t			 rbuf_size;
	uint64_t		 since;
	const char		*end;
	char			 end_buf[160];
	/* Issue 12: why registering failed, for the master to log. */
	char			 idle_why[PROC_REASON_MAX];
	uint32_t		 idle_flags;
} w;

static void	worker_session_end(const char *why);

static int64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- backend connection output ---- */

static size_t
output_pending(void)
{
	const uint8_t	*p;

	return w.mux == NULL ? 0 : mux_output(w.mux, &p);
}

/* Write what the session has queued; 0, or -1 when the backend is gone. */
static int
backend_flush(void)
{
	int	 rv;

	if (w.bfd == -1 || w.mux == NULL)
		return 0;
	if ((rv = bridge_flush_session(w.mux, w.bfd)) == -1) {
		snprintf(w.end_buf, sizeof(w.end_buf), "write to backend: %s",
		    strerror(errno));
		return -1;
	}
	if (rv == 0 && w.bridges.bs_waiting != NULL)
		bridge_output_drained(&w.bridges);
	return 0;
}

/* ---- clients ---- */

static void
accept_resume(void *arg)
{
	(void)arg;
	if (w.lfd != -1)
		ev_set(w.lfd, EV_READ);
}

static void
client_closed(struct bridge *b)
{
	uint64_t	 ms = ev_now() - b->b_since;

	log_info("client %s on tunnel port %u closed: %llu bytes in, "
	    "%llu bytes out, %llu.%03llu s, %s", b->b_addr, w.port,
	    (unsigned long long)b->b_in, (unsigned long long)b->b_out,
	    (unsigned long long)(ms / 1000), (unsigned long long)(ms % 1000),
	    b->b_end ? b->b_end : "closed");
	stats_client_end(&w.cfg->stats, w.slot, b->b_stats);
}

static void
tunnel_accept(int fd, uint32_t events, void *arg)
{
	struct bridge		*b;
	struct mux_stream	*s;
	const char		*why;
	char			 a[NET_ADDRSTRLEN];
	int			 cfd, n;

	(void)events;
	(void)arg;
	for (n = 0; n < 64 && w.state == WS_SERVING; n++) {
		cfd = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (cfd == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				if (log_ratelimit(&w.accept_warned, ev_now(),
				    1000))
					log_warn("accept on tunnel port %u; "
					    "pausing 100 ms", w.port);
				ev_set(fd, 0);
				ev_timer_at(&w.accept_timer, ev_now() + 100);
			}
			return;
		}
		if (w.bridges.bs_count >= w.cfg->max_clients) {
			net_peer_str(cfd, a, sizeof(a));
			log_warnx("client %s refused: %u clients is the limit",
			    a, w.cfg->max_clients);
			close(cfd);
			continue;
		}
		if ((s = mux_open(w.mux, ev_now(), &why)) == NULL) {
			net_peer_str(cfd, a, sizeof(a));
			log_warnx("client %s refused: cannot open a stream: %s",
			    a, why);
			close(cfd);
			continue;
		}
		if ((b = bridge_new(&w.bridges, cfd, s, 0)) == NULL) {
			log_warn("client");
			mux_stream_reset(s);
			close(cfd);
			continue;
		}
		b->b_stats = stats_client_begin(&w.cfg->stats, w.slot, w.port,
		    b->b_addr, wall_ms());
		log_debug("client %s on tunnel port %u: stream %u", b->b_addr,
		    w.port, mux_stream_id(s));
	}
}

/* ---- registration ---- */

static void
reg_request_port(const struct hello *h)
{
	struct proc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_PORT_REQ;
	if (h != NULL) {
		m.pm_port = h->h_port;
		snprintf(m.pm_name, sizeof(m.pm_name), "%s", h->h_name);
		snprintf(w.name, sizeof(w.name), "%s", h->h_name);
	}
	/* Issue 12: the master checks the verified nonce for replays. */
	if (h != NULL && h->h_auth && w.cfg->secret_len > 0 &&
	    auth_unhex(h->h_nonce, AUTH_NONCE_HEX, m.pm_nonce) ==
	    AUTH_NONCE_LEN) {
		m.pm_flags |= PROC_F_AUTH;
		m.pm_ts = h->h_ts;
	}
	snprintf(m.pm_addr, sizeof(m.pm_addr), "%s", w.addr);
	w.state = WS_WAIT_PORT;
	if (proc_send(w.chan, &m, -1) == -1)
		fatal("channel to master");
}

static void	reg_refuse_quiet(const char *);

static void
reg_refuse(const char *why)
{
	/* Issue 12: the master logs it, rate-limited (was log_info here). */
	snprintf(w.idle_why, sizeof(w.idle_why), "%s", why);
	w.idle_flags = PROC_F_REFUSED;
	reg_refuse_quiet(why);
}

/* Answer "error: WHY" on the registration stream and end the session. */
static void
reg_refuse_quiet(const char *why)
{
	char	 line[PROC_REASON_MAX + 16];
	int	 n;

	n = snprintf(line, sizeof(line), "error: %s", why);
	if (w.reg != NULL) {
		mux_stream_write(w.reg, (uint8_t *)line, n);
		mux_stream_close(w.reg);
	}
	mux_goaway(w.mux, MUX_GOAWAY_NORMAL);
	w.state = WS_REFUSING;
	snprintf(w.end_buf, sizeof(w.end_buf), "registration refused: %s",
	    why);
	/* Give the answer a moment to leave, then drop the connection. */
	ev_timer_at(&w.reg_timer, ev_now() + 2000);
}

/*
 * The proof of the shared secret: an HMAC over a fresh nonce, a timestamp
 * and what the backend asks for.  Each nonce is accepted once: the master
 * checks that (reg_request_port passes it on).  The reason stays in the
 * debug log; the backend learns only that it failed.
 */
static int
reg_authenticate(const struct hello *h)
{
	uint8_t		 nonce[AUTH_NONCE_LEN];
	const char	*why = "no proof of the secret";

	if (!h->h_auth)
		goto fail;
	why = "wrong proof of the secret";
	if (auth_unhex(h->h_nonce, AUTH_NONCE_HEX, nonce) != AUTH_NONCE_LEN ||
	    !auth_verify(w.cfg->secret, w.cfg->secret_len, h->h_ts,
	    h->h_nonce, h->h_name, h->h_port, h->h_mac))
		goto fail;
	return 0;
fail:
	log_debug("backend %s: %s", w.addr, why);
	/* Issue 12: the master logs it, rate-limited (was log_warnx here). */
	snprintf(w.idle_why, sizeof(w.idle_why), "authentication failed");
	w.idle_flags = PROC_F_REFUSED | PROC_F_AUTHFAIL;
	reg_refuse_quiet("authentication failed");
	return -1;
}

static void
reg_hello_data(const uint8_t *p, size_t len)
{
	struct hello	 h;
	const char	*why;
	char		*nl;

	if (w.state != WS_REGISTERING || !w.reg_hello)
		return;
	if (len > HELLO_MAX - w.hello_len) {
		/* Issue 12: logged by the master (was log_warnx here too). */
		reg_refuse("registration hello too long");
		return;
	}
	memcpy(w.hello + w.hello_len, p, len);
	w.hello_len += len;
	w.hello[w.hello_len] = '\0';
	if ((nl = memchr(w.hello, '\n', w.hello_len)) == NULL)
		return;
	if (hello_parse(w.hello, nl - w.hello + 1, &h, &why) == -1) {
		reg_refuse(why);
		return;
	}
	if (w.cfg->secret_len > 0 && reg_authenticate(&h) == -1)
		return;
	reg_request_port(&h);
}

static void
reg_port_ok(int fd, const struct proc_msg *m)
{
	struct proc_msg	 r;
	char		 line[300];
	int		 n;

	w.lfd = fd;
	w.port = m->pm_port;
	w.slot = m->pm_slot;
	if (ev_add(fd, EV_READ, tunnel_accept, NULL) == -1)
		fatal("ev_add tunnel listener");
	n = snprintf(line, sizeof(line), strchr(w.cfg->advertise, ':') ?
	    "[%s]:%u" : "%s:%u", w.cfg->advertise, w.port);
	if (w.reg != NULL) {
		mux_stream_write(w.reg, (uint8_t *)line, n);
		mux_stream_close(w.reg);
	}
	w.state = WS_SERVING;
	ev_timer_cancel(&w.reg_timer);
	if (w.cfg->keepalive_s > 0)
		ev_timer_at(&w.ka_timer, ev_now() + 1000ULL *
		    (w.cfg->keepalive_s < 2 ? w.cfg->keepalive_s : 2));
	w.since = ev_now();
	w.st = stats_backend_begin(&w.cfg->stats, w.slot, getpid(), w.port,
	    w.addr, w.name, wall_ms());
	w.bridges.bs_stats = w.st;
	w.bridges.bs_slot = w.slot;
	log_set_role("worker[%u]", w.port);
	log_info("backend %s registered%s%s, tunnel %s", w.addr,
	    w.name[0] ? " as " : "", w.name, line);
	memset(&r, 0, sizeof(r));
	r.pm_type = PROC_REGISTERED;
	r.pm_port = w.port;
	if (proc_send(w.chan, &r, -1) == -1)
		fatal("channel to master");
	/*
	 * Issue 12: this worker serves this backend until it exits and will
	 * verify no other: it has no more use for the secret.
	 */
	explicit_bzero(w.cfg->secret, sizeof(w.cfg->secret));
	w.cfg->secret_len = 0;
	sandbox_test_violation(w.name);		/* test hook, see sandbox.h */
}

/* ---- mux handlers ---- */

/*
 * Stream opens and resets caused by the backend, per second.  A backend
 * has no reason to open streams after registering, and resets come one per
 * client at most; a flood of either ends that session, not the service.
 */
static void
stream_rate_count(void)
{
	if (ev_now() - w.rate_start >= 1000) {
		w.rate_start = ev_now();
		w.rate_count = 0;
	}
	if (++w.rate_count > w.cfg->stream_rate && !mux_is_dead(w.mux)) {
		snprintf(w.end_buf, sizeof(w.end_buf), "stream flood: more "
		    "than %u stream opens and resets in a second",
		    w.cfg->stream_rate);
		mux_goaway(w.mux, MUX_GOAWAY_PROTOCOL);
		w.flood = 1;
	}
}

static void
h_opened(void *arg, struct mux_stream *s, int syn_type)
{
	(void)arg;
	if (w.state == WS_REGISTERING && w.reg == NULL) {
		w.reg = s;
		mux_stream_accept(s);
		if (syn_type == MUX_T_DATA)
			w.reg_hello = 1;	/* our own backends */
		else if (w.cfg->secret_len > 0) {
			/* A plain yamux client cannot prove the secret. */
			/* Issue 12: the master logs it (was log_warnx). */
			snprintf(w.idle_why, sizeof(w.idle_why),
			    "authentication failed (registration without a "
			    "hello)");
			w.idle_flags = PROC_F_REFUSED | PROC_F_AUTHFAIL;
			reg_refuse_quiet("authentication failed");
		} else
			reg_request_port(NULL);	/* a plain yamux client */
		return;
	}
	/* Backends do not open streams after registering. */
	log_debug("backend %s opened stream %u; reset", w.addr,
	    mux_stream_id(s));
	mux_stream_reset(s);
	stream_rate_count();
}

static void
h_data(void *arg, struct mux_stream *s, const uint8_t *p, size_t len)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (s == w.reg) {
		reg_hello_data(p, len);
		mux_stream_consumed(s, len);
	} else if (b != NULL)
		bridge_on_data(b, p, len);
	else
		mux_stream_consumed(s, len);
}

static void
h_fin(void *arg, struct mux_stream *s)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (s == w.reg) {
		if (w.state == WS_REGISTERING && w.reg_hello)
			reg_refuse("incomplete registration hello");
	} else if (b != NULL)
		bridge_on_fin(b);
}

static void
h_writable(void *arg, struct mux_stream *s)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (b != NULL && s != w.reg)
		bridge_on_writable(b);
}

static void
h_reset(void *arg, struct mux_stream *s, const char *why)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (strcmp(why, "reset by peer") == 0)
		stream_rate_count();
	if (s == w.reg)
		w.reg = NULL;
	else if (b != NULL)
		bridge_on_reset(b, why);
}

static void
h_closed(void *arg, struct mux_stream *s)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (s == w.reg)
		w.reg = NULL;
	else if (b != NULL)
		bridge_on_closed(b);
}

static uint64_t
mono_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * Keepalive: our own pings rather than the mux's, so the round trip is
 * measured in microseconds for the stats table.  A ping not answered
 * within the alive timeout ends the session (the mux enforces it).
 */
static void
ka_timer_fire(void *arg)
{
	(void)arg;
	if (w.mux == NULL || mux_is_dead(w.mux) || w.state != WS_SERVING)
		return;
	w.ping_id++;
	w.ping_sent_us = mono_us();
	if (mux_ping(w.mux, w.ping_id, ev_now()) == -1)
		w.ping_sent_us = 0;
	ev_timer_at(&w.ka_timer, ev_now() + w.cfg->keepalive_s * 1000ULL);
}

static void
h_pong(void *arg, uint32_t id, uint64_t rtt_ms)
{
	uint64_t	 rtt;

	(void)arg;
	(void)rtt_ms;
	if (id != w.ping_id || w.ping_sent_us == 0 || w.st == NULL)
		return;
	rtt = mono_us() - w.ping_sent_us;
	stats_set(&w.st->sb_rtt_us, rtt > 0 ? rtt : 1);
	w.ping_sent_us = 0;
}

static void
h_goaway(void *arg, uint32_t code)
{
	(void)arg;
	log_info("backend %s sent GoAway(%u)", w.addr, code);
	if (code == MUX_GOAWAY_NORMAL && w.state == WS_SERVING)
		snprintf(w.end_buf, sizeof(w.end_buf),
		    "backend is going away");
}

static void
h_error(void *arg, const char *why)
{
	(void)arg;
	if (strcmp(why, "open timeout") == 0)
		snprintf(w.end_buf, sizeof(w.end_buf), "backend did not "
		    "answer a new client within the alive timeout (%u ms)",
		    w.cfg->alive_timeout_ms);
	else if (strcmp(why, "keepalive timeout") == 0 ||
	    strcmp(why, "ping timeout") == 0)
		snprintf(w.end_buf, sizeof(w.end_buf), "backend did not "
		    "answer a keepalive ping within %u ms",
		    w.cfg->alive_timeout_ms);
	else
		snprintf(w.end_buf, sizeof(w.end_buf), "session error: %s",
		    why);
}

static const struct mux_handlers handlers = {
	.opened = h_opened,
	.data = h_data,
	.fin = h_fin,
	.writable = h_writable,
	.reset = h_reset,
	.closed = h_closed,
	.pong = h_pong,
	.goaway = h_goaway,
	.error = h_error,
};

/* ---- the session ---- */

static void
mux_timer_fire(void *arg)
{
	(void)arg;
	if (w.mux == NULL)
		return;
	mux_tick(w.mux, ev_now());
	if (mux_is_dead(w.mux)) {
		worker_session_end(w.end_buf);
		return;
	}

}

static void
reg_timer_fire(void *arg)
{
	(void)arg;
	if (w.state == WS_REFUSING) {
		worker_session_end(w.end_buf);
		return;
	}
	log_warnx("backend %s did not register within %u ms", w.addr,
	    w.cfg->register_timeout_ms);
	worker_session_end("registration timed out");
}

static void
backend_io(int fd, uint32_t events, void *arg)
{
	ssize_t	 n;
	int	 i;

	(void)arg;
	if (events & EPOLLOUT) {
		if (backend_flush() == -1) {
			worker_session_end(w.end_buf);
			return;
		}
	}
	if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		return;
	for (i = 0; i < 4; i++) {
		n = read(fd, w.rbuf, w.rbuf_size);
		if (n > 0) {
			if (w.state == WS_REFUSING)
				continue;
			if (mux_input(w.mux, w.rbuf, n, ev_now()) == -1 ||
			    w.flood) {
				worker_session_end(w.end_buf);
				return;
			}
			if ((size_t)n < w.rbuf_size)
				break;
			continue;
		}
		if (n == 0) {
			worker_session_end(w.state == WS_REFUSING ?
			    w.end_buf : "backend closed the connection");
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(w.end_buf, sizeof(w.end_buf),
			    "read from backend: %s", strerror(errno));
			worker_session_end(w.end_buf);
		}
		return;
	}
}

static void
worker_presleep(void *arg)
{
	(void)arg;
	if (w.bridges.bs_reap != NULL)
		bridge_reap(&w.bridges);
	if (w.mux == NULL)
		return;
	if (backend_flush() == -1) {
		worker_session_end(w.end_buf);
		return;
	}
	if (w.state == WS_REFUSING && !w.shut_sent && output_pending() == 0) {
		/*
		 * The refusal is out.  Shut our side and wait for the
		 * backend's EOF (or the timer): closing with unread input
		 * would send a RST that can destroy the answer in flight.
		 */
		shutdown(w.bfd, SHUT_WR);
		w.shut_sent = 1;
		ev_set(w.bfd, EV_READ);
	}
	if (w.draining && w.bridges.bs_count == 0 && output_pending() == 0) {
		log_info("all clients done");
		exit(0);
	}
	if (w.mux != NULL) {
		int64_t t = mux_next_timeout(w.mux, ev_now());
		if (t < 0)
			ev_timer_cancel(&w.mux_timer);
		else
			ev_timer_at(&w.mux_timer, ev_now() + t);
	}
}

/*
 * The session is over.  A registered backend's worker exits (the master
 * frees its port); one that never registered goes back to the pool.
 */
static void
worker_session_end(const char *why)
{
	unsigned	 n = w.bridges.bs_count;
	struct proc_msg	 m;
	int		 refused;

	if (w.mux == NULL)
		return;
	if (why == NULL || why[0] == '\0')
		why = "session ended";
	/* Best effort: the GoAway or refusal we owe the backend. */
	backend_flush();
	if (w.state == WS_SERVING) {
		log_info("backend %s%s%s gone: %s; closing %u client%s",
		    w.addr, w.name[0] ? " " : "", w.name, why, n,
		    n == 1 ? "" : "s");
		bridge_close_all(&w.bridges, "backend gone");
		exit(0);
	}
	refused = w.state == WS_REFUSING;
	if (refused)
		log_debug("backend %s: %s", w.addr, why);	/* said already */
	else {
		/* Issue 12: the master logs it, rate-limited (was log_warnx). */
		snprintf(w.idle_why, sizeof(w.idle_why), "%s", why);
		w.idle_flags = 0;
	}
	mux_free(w.mux);
	w.mux = NULL;
	w.bridges.bs_mux = NULL;
	ev_del(w.bfd);
	close(w.bfd);
	w.bfd = -1;
	if (w.lfd != -1) {
		ev_del(w.lfd);
		close(w.lfd);
		w.lfd = -1;
	}
	ev_timer_cancel(&w.reg_timer);
	ev_timer_cancel(&w.mux_timer);
	w.state = WS_IDLE;
	w.reg = NULL;
	w.reg_hello = 0;
	w.shut_sent = 0;
	w.hello_len = 0;
	w.name[0] = '\0';
	w.end_buf[0] = '\0';
	log_set_role("worker");
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_IDLE;
	/* Issue 12: the reason, for the master's log. */
	m.pm_flags = w.idle_flags;
	snprintf(m.pm_reason, sizeof(m.pm_reason), "%s", w.idle_why[0] ?
	    w.idle_why : "registration failed");
	w.idle_why[0] = '\0';
	w.idle_flags = 0;
	if (proc_send(w.chan, &m, -1) == -1)
		fatal("channel to master");
}

static void
worker_backend(int fd, const struct proc_msg *m)
{
	struct mux_config	 mc;

	if (w.state != WS_IDLE) {
		log_warnx("backend handed to a busy worker; dropped");
		close(fd);
		return;
	}
	snprintf(w.addr, sizeof(w.addr), "%s", m->pm_addr);
	mux_config_default(&mc, MUX_SERVER);
	mc.recv_window = w.cfg->window;
	mc.max_streams = w.cfg->max_streams;
	mc.output_max = w.cfg->buffer;
	mc.keepalive_ms = 0;		/* ka_timer_fire() */
	mc.ping_timeout_ms = w.cfg->alive_timeout_ms;
	mc.open_timeout_ms = w.cfg->alive_timeout_ms;
	mc.max_unacked = w.cfg->max_unacked;
	mc.session_buf_max = w.cfg->session_buffer;
	/* Larger frames: fewer headers and system calls per byte. */
	mc.max_frame = w.cfg->buffer;
	if ((w.mux = mux_new(&mc, &handlers, NULL, ev_now())) == NULL)
		fatal("mux_new");
	w.bridges.bs_mux = w.mux;
	w.bfd = fd;
	net_nodelay(fd);
	if (ev_add(fd, EV_READ, backend_io, NULL) == -1)
		fatal("ev_add backend");
	w.state = WS_REGISTERING;
	w.end_buf[0] = '\0';
	ev_timer_at(&w.reg_timer, ev_now() + w.cfg->register_timeout_ms);
	log_debug("backend %s connected", w.addr);
}

static void
drain_timer_fire(void *arg)
{
	(void)arg;
	log_info("drain time over: closing %u client%s", w.bridges.bs_count,
	    w.bridges.bs_count == 1 ? "" : "s");
	backend_flush();
	bridge_close_all(&w.bridges, "relay shutting down");
	exit(0);
}

/*
 * The relay is shutting down: take no new clients, tell the backend
 * (GoAway(0): no new streams), and let the open clients finish.
 */
static void
worker_drain(void)
{
	if (w.state != WS_SERVING)
		exit(0);
	if (w.draining)
		return;
	w.draining = 1;
	if (w.lfd != -1) {
		ev_del(w.lfd);
		close(w.lfd);
		w.lfd = -1;
	}
	mux_goaway(w.mux, MUX_GOAWAY_NORMAL);
	log_info("draining %u client%s for up to %us", w.bridges.bs_count,
	    w.bridges.bs_count == 1 ? "" : "s", w.cfg->drain_timeout_s);
	ev_timer_at(&w.drain_timer, ev_now() +
	    w.cfg->drain_timeout_s * 1000ULL);
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
			if (w.state != WS_WAIT_PORT) {
				close(rfd);
				break;
			}
			reg_port_ok(rfd, &m);
			break;
		case PROC_PORT_ERR:
			if (w.state != WS_WAIT_PORT)
				break;
			reg_refuse(m.pm_reason);
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
	w.bfd = w.lfd = -1;
	w.slot = UINT32_MAX;
	w.rbuf_size = cfg->buffer;
	w.bridges.bs_output_max = cfg->buffer;
	w.bridges.bs_closed = client_closed;
	w.bridges.bs_why_eof = "client closed first";
	w.bridges.bs_why_fin = "backend closed first";
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
	ev_timer_init(&w.mux_timer, mux_timer_fire, NULL);
	ev_timer_init(&w.reg_timer, reg_timer_fire, NULL);
	ev_timer_init(&w.accept_timer, accept_resume, NULL);
	ev_timer_init(&w.drain_timer, drain_timer_fire, NULL);
	ev_timer_init(&w.ka_timer, ka_timer_fire, NULL);
	if (ev_add(chan, EV_READ, worker_chan, NULL) == -1)
		fatal("ev_add channel");
	ev_set_presleep(worker_presleep, NULL);
	/* Issue 12: from here on, only the system calls of sandbox.c. */
	if (sandbox_worker_enter(&why) == -1)
		fatal("cannot enter the sandbox: %s", why);
	for (;;)
		ev_run_once(-1);
}
