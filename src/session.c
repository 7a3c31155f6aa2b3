/*
 * session: a yamux session's I/O over one TCP connection (include/session.h).
 */
#include <errno.h>
#include <linux/sockios.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "session.h"

/*
 * The kernel may hold this much of our output not yet sent: a control
 * frame written now waits behind at most about this (plus one segment
 * being built).  In-flight data is not limited by it, only what waits to
 * be sent; we refill as soon as the socket says it has room again.
 */
#define SESSION_NOTSENT_LOWAT	(32 * 1024)

/* Reads per wake-up: other descriptors get their turn. */
#define SESSION_READS		4

/*
 * Data in flight on the connection is kept to about 1.5 times what the
 * path holds (the bandwidth measured below, times the least round trip
 * the kernel saw), and never limited below SESSION_INFLIGHT_MIN.  Every
 * stream of a session shares one TCP connection: a packet lost to an
 * overfull bottleneck stalls all of them behind it, so a standing queue of
 * a whole bandwidth-delay product (what a congestion control that fills
 * the buffer builds) costs every small message a round trip or more.
 * Half a product of slack keeps the link full without filling the buffer.
 */
#define SESSION_INFLIGHT_MIN	(512u * 1024)
#define SESSION_RATE_WINDOW_MS	2000
#define SESSION_RETRY_MS	2

/*
 * Encrypted sessions: plaintext taken from the mux per fill, and the most
 * one record carries.  A record is opened only once all of it arrived, so
 * smaller records cost the receiver less waiting on a slow link; at 16 KiB
 * the tag and length are 0.1 % of the bytes.
 */
#define SESSION_SEAL_MAX	(64u * 1024)
#define SESSION_RECORD_PT	(16u * 1024)
#define SESSION_OBUF_SIZE	(SESSION_SEAL_MAX + NOISE_REC_OVERHEAD * \
	(SESSION_SEAL_MAX / SESSION_RECORD_PT + 1))

static void	session_io(int, uint32_t, void *);
static int	session_flush(struct session *);
static void	session_done(struct session *, int cut, const char *why);

/* Wipe the keys and what is left of the records, and free them. */
static void
session_crypt_free(struct session *s)
{
	if (s->s_crypt == NULL)
		return;
	noise_cs_wipe(&s->s_crypt->sx_tx);
	noise_rec_rx_wipe(&s->s_crypt->sx_rx);
	explicit_bzero(s->s_crypt->sx_obuf, SESSION_OBUF_SIZE);
	free(s->s_crypt);
	s->s_crypt = NULL;
}

/* Output the mux holds, or records sealed and not yet written. */
static int
session_out_pending(const struct session *s)
{
	return mux_output_pending(s->s_mux) ||
	    (s->s_crypt != NULL && s->s_crypt->sx_len > 0);
}

void
session_config_default(struct session_config *c, int role)
{
	memset(c, 0, sizeof(*c));
	mux_config_default(&c->sc_mux, role);
	c->sc_held_max = 0;
	c->sc_linger_ms = 2000;
	c->sc_peer = role == MUX_SERVER ? "backend" : "the relay";
}

/* ---- endpoints ---- */

void
endpoint_attach(struct endpoint *ep, const struct endpoint_ops *ops,
    struct session *s, struct mux_stream *st)
{
	ep->ep_ops = ops;
	ep->ep_stream = st;
	ep->ep_sess = s;
	ep->ep_held = 0;
	ep->ep_cut = 0;
	ep->ep_prev = NULL;
	ep->ep_next = s->s_eps;
	if (s->s_eps != NULL)
		s->s_eps->ep_prev = ep;
	s->s_eps = ep;
	if (st != NULL)
		mux_stream_set_udata(st, ep);
}

void
endpoint_detach(struct endpoint *ep)
{
	struct session		*s = ep->ep_sess;
	struct mux_stream	*st = ep->ep_stream;

	if (st != NULL) {
		ep->ep_stream = NULL;
		mux_stream_set_udata(st, NULL);
		mux_stream_reset(st);
	}
	if (s == NULL)
		return;
	s->s_held -= ep->ep_held;
	if (ep->ep_prev != NULL)
		ep->ep_prev->ep_next = ep->ep_next;
	else
		s->s_eps = ep->ep_next;
	if (ep->ep_next != NULL)
		ep->ep_next->ep_prev = ep->ep_prev;
	ep->ep_next = ep->ep_prev = NULL;
	ep->ep_sess = NULL;
}

void
endpoint_reset(struct endpoint *ep, const char *why)
{
	struct mux_stream	*st = ep->ep_stream;

	/* The stream first: the endpoint's cut may free nothing it needs. */
	if (st != NULL) {
		ep->ep_stream = NULL;
		mux_stream_set_udata(st, NULL);
		mux_stream_reset(st);
	}
	ep->ep_cut = 1;
	if (ep->ep_ops->cut != NULL)
		ep->ep_ops->cut(ep, why, MUX_CUT_RESET);
}

/*
 * The session's endpoints hold more than they may: reset the ones that
 * hold the most until the total is back under the limit.  Those are the
 * streams whose readers do not keep up, not whoever received last.
 */
static void
held_enforce(struct session *s)
{
	struct endpoint	*ep, *big;
	int		 rounds = 0;

	while (s->s_cfg.sc_held_max > 0 && s->s_held > s->s_cfg.sc_held_max &&
	    rounds++ < 1024) {
		big = NULL;
		for (ep = s->s_eps; ep != NULL; ep = ep->ep_next)
			if (big == NULL || ep->ep_held > big->ep_held)
				big = ep;
		if (big == NULL || big->ep_held == 0)
			break;
		endpoint_reset(big, "session buffer full");
		/* Whatever cut did, it holds nothing for this session now. */
		if (big->ep_sess == s)
			endpoint_detach(big);
	}
}

void
endpoint_held(struct endpoint *ep, long delta)
{
	ep->ep_held += delta;
	if (ep->ep_sess == NULL)
		return;
	ep->ep_sess->s_held += delta;
	if (delta > 0)
		held_enforce(ep->ep_sess);
}

/* ---- mux handlers ---- */

static struct endpoint *
ep_of(struct mux_stream *st)
{
	return mux_stream_udata(st);
}

static void
h_opened(void *arg, struct mux_stream *st, int type, uint32_t len)
{
	struct session	*s = arg;

	if (s->s_state != SS_OPEN || s->s_ops->opened == NULL) {
		mux_stream_reset(st);
		return;
	}
	s->s_ops->opened(s->s_owner, st, type, len);
}

static void
h_acked(void *arg, struct mux_stream *st)
{
	struct endpoint	*ep = ep_of(st);

	(void)arg;
	if (ep != NULL && ep->ep_ops->acked != NULL)
		ep->ep_ops->acked(ep);
}

static void
h_data(void *arg, struct mux_stream *st, const uint8_t *p, size_t n)
{
	struct endpoint	*ep = ep_of(st);

	(void)arg;
	if (ep != NULL)
		ep->ep_ops->data(ep, p, n);
	else
		mux_stream_consumed(st, n);
}

static void
h_fin(void *arg, struct mux_stream *st)
{
	struct endpoint	*ep = ep_of(st);

	(void)arg;
	if (ep != NULL)
		ep->ep_ops->fin(ep);
}

static void
h_writable(void *arg, struct mux_stream *st)
{
	struct endpoint	*ep = ep_of(st);

	(void)arg;
	if (ep != NULL && ep->ep_ops->writable != NULL)
		ep->ep_ops->writable(ep);
}

static void
h_reset(void *arg, struct mux_stream *st, const char *why, int cut)
{
	struct endpoint	*ep = ep_of(st);

	(void)arg;
	if (ep == NULL)
		return;
	ep->ep_cut = 1;
	if (ep->ep_ops->cut != NULL)
		ep->ep_ops->cut(ep, why, cut);
}

static void
h_closed(void *arg, struct mux_stream *st)
{
	struct endpoint	*ep = ep_of(st);

	(void)arg;
	if (ep == NULL)
		return;
	ep->ep_stream = NULL;
	mux_stream_set_udata(st, NULL);
	if (ep->ep_ops->closed != NULL)
		ep->ep_ops->closed(ep);
}

static void
h_pong(void *arg, uint32_t id, uint64_t rtt)
{
	struct session	*s = arg;

	if (s->s_ops->pong != NULL)
		s->s_ops->pong(s->s_owner, id, rtt);
}

static void
h_goaway(void *arg, uint32_t code)
{
	struct session	*s = arg;

	if (s->s_ops->goaway != NULL)
		s->s_ops->goaway(s->s_owner, code);
}

/*
 * The mux died of itself (a protocol error, silence, a GoAway with an
 * error) or through session_abort(): the GoAway we owe is in its output,
 * which is written before the connection closes.
 */
static void
h_error(void *arg, const char *why)
{
	struct session	*s = arg;

	if (s->s_ops->ending != NULL)
		s->s_ops->ending(s->s_owner);
	if (s->s_state == SS_OPEN || s->s_state == SS_FINISHING) {
		s->s_state = SS_FAILING;
		if (s->s_why[0] == '\0')
			snprintf(s->s_why, sizeof(s->s_why), "%s", why);
		ev_timer_at(&s->s_linger, ev_now() + s->s_cfg.sc_linger_ms);
		if (s->s_ops->failed != NULL)
			s->s_ops->failed(s->s_owner, why);
	}
}

static const struct mux_handlers session_handlers = {
	.opened = h_opened,
	.acked = h_acked,
	.data = h_data,
	.fin = h_fin,
	.writable = h_writable,
	.reset = h_reset,
	.closed = h_closed,
	.pong = h_pong,
	.goaway = h_goaway,
	.error = h_error,
};

/* ---- life ---- */

static void
session_timer_fire(void *arg)
{
	struct session	*s = arg;

	if (s->s_state == SS_OPEN || s->s_state == SS_FINISHING)
		mux_tick(s->s_mux, ev_now());
}

static void
session_retry_fire(void *arg)
{
	struct session	*s = arg;

	if (s->s_state != SS_DONE)
		session_flush(s);
}

/* Writing what we owed, or awaiting the peer's EOF, took too long. */
static void
session_linger_fire(void *arg)
{
	struct session	*s = arg;

	if (s->s_state == SS_FINISHING)
		session_done(s, MUX_CUT_EOF, NULL);
	else if (s->s_state == SS_FAILING)
		session_done(s, MUX_CUT_ERROR, NULL);
}

struct session *
session_new(int fd, const struct session_config *cfg,
    const struct session_ops *ops, void *owner, uint8_t *rbuf,
    size_t rbuf_size)
{
	struct session	*s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->s_fd = fd;
	s->s_cfg = *cfg;
	s->s_ops = ops;
	s->s_owner = owner;
	s->s_rbuf = rbuf;
	s->s_rbuf_size = rbuf_size;
	s->s_state = SS_OPEN;
	ev_timer_init(&s->s_timer, session_timer_fire, s);
	ev_timer_init(&s->s_linger, session_linger_fire, s);
	ev_timer_init(&s->s_retry, session_retry_fire, s);
	if ((s->s_mux = mux_new(&cfg->sc_mux, &session_handlers, s,
	    ev_now())) == NULL) {
		free(s);
		errno = ENOMEM;
		return NULL;
	}
	if (cfg->sc_tx != NULL && cfg->sc_rx != NULL) {
		if ((s->s_crypt = calloc(1, sizeof(*s->s_crypt) +
		    SESSION_OBUF_SIZE)) == NULL) {
			mux_free(s->s_mux);
			free(s);
			errno = ENOMEM;
			return NULL;
		}
		struct noise_cs	 rx = *cfg->sc_rx;

		s->s_crypt->sx_tx = *cfg->sc_tx;
		noise_rec_rx_init(&s->s_crypt->sx_rx, &rx);	/* wipes rx */
	}
	s->s_cfg.sc_tx = s->s_cfg.sc_rx = NULL;
	net_nodelay(fd);
	net_notsent_lowat(fd, SESSION_NOTSENT_LOWAT);
	if (ev_add(fd, EV_READ, session_io, s) == -1) {
		session_crypt_free(s);
		mux_free(s->s_mux);
		free(s);
		return NULL;
	}
	return s;
}

void
session_free(struct session *s)
{
	struct endpoint	*ep;

	if (s == NULL)
		return;
	while ((ep = s->s_eps) != NULL) {
		ep->ep_stream = NULL;
		endpoint_detach(ep);
	}
	ev_timer_cancel(&s->s_timer);
	ev_timer_cancel(&s->s_linger);
	ev_timer_cancel(&s->s_retry);
	if (s->s_fd != -1) {
		ev_del(s->s_fd);
		close(s->s_fd);
	}
	session_crypt_free(s);
	mux_free(s->s_mux);
	free(s);
}

/*
 * The session is over.  Streams still open are cut as said; endpoints
 * that outlived their streams (delivering what they hold) hear that the
 * session ended in good order, whatever ended it: their streams did.
 */
static void
session_done(struct session *s, int cut, const char *why)
{
	struct endpoint	*ep;

	if (s->s_state == SS_DONE)
		return;
	if (why != NULL && s->s_why[0] == '\0')
		snprintf(s->s_why, sizeof(s->s_why), "%s", why);
	s->s_state = SS_DONE;
	ev_timer_cancel(&s->s_linger);
	ev_timer_cancel(&s->s_timer);
	ev_timer_cancel(&s->s_retry);
	if (s->s_fd != -1)
		ev_set(s->s_fd, 0);
	mux_close(s->s_mux, cut, s->s_why[0] ? s->s_why : "session ended");
	while ((ep = s->s_eps) != NULL) {
		if (!ep->ep_cut) {
			ep->ep_cut = 1;
			if (ep->ep_ops->cut != NULL)
				ep->ep_ops->cut(ep, s->s_why, MUX_CUT_EOF);
		}
		if (s->s_eps == ep)
			endpoint_detach(ep);
	}
}

void
session_input(struct session *s, const uint8_t *p, size_t len)
{
	if (s->s_state == SS_OPEN && len > 0)
		mux_input(s->s_mux, p, len, ev_now());
}

void
session_finish(struct session *s, const char *why)
{
	if (s->s_state != SS_OPEN)
		return;
	s->s_state = SS_FINISHING;
	if (why != NULL && s->s_why[0] == '\0')
		snprintf(s->s_why, sizeof(s->s_why), "%s", why);
	ev_timer_at(&s->s_linger, ev_now() + s->s_cfg.sc_linger_ms);
}

void
session_drop(struct session *s, const char *why)
{
	session_done(s, MUX_CUT_ERROR, why);
}

void
session_abort(struct session *s, uint32_t code, const char *why)
{
	if (s->s_state != SS_OPEN && s->s_state != SS_FINISHING)
		return;
	snprintf(s->s_why, sizeof(s->s_why), "%s", why);
	mux_abort(s->s_mux, code, why);
}

int
session_ping(struct session *s, uint32_t id)
{
	if (s->s_state != SS_OPEN)
		return -1;
	return mux_ping(s->s_mux, id, ev_now());
}

int
session_alive(const struct session *s)
{
	return s->s_state == SS_OPEN;
}

/* ---- I/O ---- */

/*
 * Open the records in the n bytes just read (in place) into the mux.  A
 * record that does not authenticate ends the session at once: nothing
 * after it can be trusted, and no GoAway can be owed to a peer whose
 * bytes were forged.
 */
static void
session_open_records(struct session *s, size_t n)
{
	const uint8_t	*pt;
	size_t		 off = 0, ptlen;
	ssize_t		 used;
	char		 buf[160];

	while (off < n && s->s_state == SS_OPEN) {
		used = noise_rec_open(&s->s_crypt->sx_rx, s->s_rbuf + off,
		    n - off, &pt, &ptlen);
		if (used < 0) {
			snprintf(buf, sizeof(buf), "a record from %s did not "
			    "authenticate (corrupt or tampered)",
			    s->s_cfg.sc_peer);
			session_done(s, MUX_CUT_ERROR, buf);
			return;
		}
		off += (size_t)used;
		if (pt != NULL)
			mux_input(s->s_mux, pt, ptlen, ev_now());
	}
}

/*
 * Seal up to SESSION_SEAL_MAX bytes of the mux's output (data within
 * room) into records.  Returns the plaintext bytes taken, 0 when the mux
 * has nothing it may send now, or -1 when the nonces ran out (2^64
 * records: never in practice, but then the session must end).
 */
static ssize_t
session_seal(struct session *s, size_t room)
{
	struct session_crypt	*sx = s->s_crypt;
	struct iovec		 iov[MUX_IOV_MAX];
	uint8_t			*o = sx->sx_obuf;
	size_t			 total, take, chunk, sealed, out = 0, n;
	int			 niov = MUX_IOV_MAX, i = 0;
	size_t			 ioff = 0;

	total = mux_output_iov(s->s_mux, iov, &niov, room);
	if (total == 0)
		return 0;
	take = total < SESSION_SEAL_MAX ? total : SESSION_SEAL_MAX;
	for (sealed = 0; sealed < take; sealed += chunk) {
		chunk = take - sealed;
		if (chunk > SESSION_RECORD_PT)
			chunk = SESSION_RECORD_PT;
		/* Gather the plaintext behind the record's length field. */
		for (n = 0; n < chunk; ) {
			size_t	 c = iov[i].iov_len - ioff;

			if (c > chunk - n)
				c = chunk - n;
			memcpy(o + out + NOISE_REC_HDR + n,
			    (uint8_t *)iov[i].iov_base + ioff, c);
			n += c;
			ioff += c;
			if (ioff == iov[i].iov_len) {
				i++;
				ioff = 0;
			}
		}
		if (noise_rec_seal(&sx->sx_tx, o + out + NOISE_REC_HDR, chunk,
		    o + out) == 0) {
			mux_output_done(s->s_mux, 0);
			return -1;
		}
		out += chunk + NOISE_REC_OVERHEAD;
	}
	mux_output_done(s->s_mux, take);
	sx->sx_off = 0;
	sx->sx_len = out;
	return (ssize_t)take;
}

static void
session_read(struct session *s)
{
	char	 buf[160];
	ssize_t	 n;
	int	 i;

	for (i = 0; i < SESSION_READS && s->s_state != SS_DONE; i++) {
		n = read(s->s_fd, s->s_rbuf, s->s_rbuf_size);
		if (n > 0) {
			s->s_bytes_in += n;
			/* At the end nothing more is parsed, only drained. */
			if (s->s_state == SS_OPEN && s->s_crypt != NULL)
				session_open_records(s, (size_t)n);
			else if (s->s_state == SS_OPEN)
				mux_input(s->s_mux, s->s_rbuf, n, ev_now());
			if ((size_t)n < s->s_rbuf_size)
				return;
			continue;
		}
		if (n == 0) {
			s->s_eof = 1;
			snprintf(buf, sizeof(buf), "%s closed the connection",
			    s->s_cfg.sc_peer);
			session_done(s, s->s_state == SS_FAILING ?
			    MUX_CUT_ERROR : MUX_CUT_EOF, buf);
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(buf, sizeof(buf), "read from %s: %s",
			    s->s_cfg.sc_peer, strerror(errno));
			session_done(s, MUX_CUT_ERROR, buf);
		}
		return;
	}
}

/*
 * How many more data bytes may go into the connection now (see
 * SESSION_INFLIGHT_MIN).  The bandwidth is measured here, from the
 * segments the peer received (acknowledged or selectively acknowledged:
 * the cumulative count leaps when a retransmission fills a hole, and a
 * leap would pass for bandwidth) over intervals of four round trips
 * (samples over less overshoot when ACKs come in bunches), as the largest
 * rate of the last two windows of SESSION_RATE_WINDOW_MS: a dip does not
 * starve us and a lower rate is followed within seconds.  The kernel is
 * asked at most once a millisecond.
 */
static size_t
session_room(struct session *s)
{
	struct tcp_info	 ti;
	socklen_t	 len = sizeof(ti);
	uint64_t	 rate, bdp, cap, now = ev_now(), span;
	int		 outq;

	if (now != s->s_info_at) {
		s->s_info_at = now;
		memset(&ti, 0, sizeof(ti));
		if (getsockopt(s->s_fd, IPPROTO_TCP, TCP_INFO, &ti, &len) == 0 &&
		    len >= offsetof(struct tcp_info, tcpi_delivered) +
		    sizeof(ti.tcpi_delivered)) {
			if (ti.tcpi_min_rtt != 0)
				s->s_min_rtt_us = ti.tcpi_min_rtt;
			span = 4 * (s->s_min_rtt_us / 1000 + 1);
			if (span < 40)
				span = 40;
			if (s->s_acked_at == 0) {
				s->s_acked_at = now;
				s->s_acked = ti.tcpi_delivered;
			} else if (now - s->s_acked_at >= span) {
				rate = (uint64_t)(ti.tcpi_delivered - s->s_acked) *
				    ti.tcpi_snd_mss * 1000 / (now - s->s_acked_at);
				s->s_acked_at = now;
				s->s_acked = ti.tcpi_delivered;
				if (now - s->s_rate_since >=
				    SESSION_RATE_WINDOW_MS) {
					s->s_rate_prev = s->s_rate_cur;
					s->s_rate_cur = 0;
					s->s_rate_since = now;
				}
				if (rate > s->s_rate_cur)
					s->s_rate_cur = rate;
			}
		}
	}
	if (ioctl(s->s_fd, SIOCOUTQ, &outq) == -1 || outq < 0)
		return SIZE_MAX;
	rate = s->s_rate_cur > s->s_rate_prev ? s->s_rate_cur : s->s_rate_prev;
	bdp = rate / 1000 * s->s_min_rtt_us / 1000;
	cap = bdp + bdp / 2;
	if (cap < SESSION_INFLIGHT_MIN)
		cap = SESSION_INFLIGHT_MIN;
	return (uint64_t)outq >= cap ? 0 : (size_t)(cap - (uint64_t)outq);
}

/* Write what the mux has; 0, or -1 once the session is done. */
static int
session_flush(struct session *s)
{
	struct iovec		 iov[MUX_IOV_MAX];
	struct session_crypt	*sx = s->s_crypt;
	char			 buf[160];
	size_t			 total;
	ssize_t			 n;
	int			 niov, rounds = 0;

	for (;;) {
		if (s->s_state == SS_DONE || s->s_shut)
			return -1;
		if (sx != NULL) {
			/* Records sealed earlier go first, whole. */
			if (sx->sx_len == 0 &&
			    session_seal(s, session_room(s)) == -1) {
				session_done(s, MUX_CUT_ERROR, "the session's "
				    "nonces are used up");
				return -1;
			}
			niov = 1;
			iov[0].iov_base = sx->sx_obuf + sx->sx_off;
			iov[0].iov_len = total = sx->sx_len;
		} else {
			niov = MUX_IOV_MAX;
			total = mux_output_iov(s->s_mux, iov, &niov,
			    session_room(s));
		}
		if (total == 0 && mux_output_pending(s->s_mux)) {
			/* Data waits for the path to drain: no event says when. */
			if (!ev_timer_pending(&s->s_retry))
				ev_timer_at(&s->s_retry, ev_now() +
				    SESSION_RETRY_MS);
			ev_set(s->s_fd, EV_READ);
			return 0;
		}
		if (total == 0) {
			/* Producers waiting for room may add more. */
			if (s->s_ops->drained != NULL && rounds++ < 4 &&
			    s->s_state == SS_OPEN) {
				s->s_ops->drained(s->s_owner);
				if (mux_output_pending(s->s_mux))
					continue;
			}
			ev_set(s->s_fd, EV_READ);
			return 0;
		}
		n = writev(s->s_fd, iov, niov);
		if (n >= 0) {
			if (sx != NULL) {
				sx->sx_off += (size_t)n;
				sx->sx_len -= (size_t)n;
			} else
				mux_output_done(s->s_mux, (size_t)n);
			if ((size_t)n == total)
				continue;
			ev_set(s->s_fd, EV_READ | EV_WRITE);
			return 0;
		}
		if (sx == NULL)
			mux_output_done(s->s_mux, 0);
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK) {
			ev_set(s->s_fd, EV_READ | EV_WRITE);
			return 0;
		}
		snprintf(buf, sizeof(buf), "write to %s: %s", s->s_cfg.sc_peer,
		    strerror(errno));
		session_done(s, MUX_CUT_ERROR, buf);
		return -1;
	}
}

static void
session_io(int fd, uint32_t events, void *arg)
{
	struct session	*s = arg;

	(void)fd;
	if (s->s_state == SS_DONE)
		return;
	if (events & EPOLLOUT)
		session_flush(s);
	if (s->s_state != SS_DONE && (events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
		session_read(s);
}

void
session_presleep(struct session *s)
{
	int64_t	 t;

	if (s->s_state != SS_DONE) {
		session_flush(s);
		/*
		 * What we owed is out: shut our side and await the peer's
		 * EOF (bounded by the linger timer), reading what it still
		 * sends.  Closing with its bytes unread would send a reset,
		 * and a reset throws away what the kernel has not sent yet:
		 * the GoAway we owe among it.
		 */
		if ((s->s_state == SS_FAILING || s->s_state == SS_FINISHING) &&
		    !s->s_shut && !session_out_pending(s)) {
			shutdown(s->s_fd, SHUT_WR);
			s->s_shut = 1;
			ev_set(s->s_fd, EV_READ);
		}
	}
	if (s->s_state == SS_OPEN || s->s_state == SS_FINISHING) {
		if ((t = mux_next_timeout(s->s_mux, ev_now())) < 0)
			ev_timer_cancel(&s->s_timer);
		else
			ev_timer_at(&s->s_timer, ev_now() + t);
	}
	if (s->s_state == SS_DONE && !s->s_ended) {
		s->s_ended = 1;
		/* The owner frees the session here: touch nothing after. */
		s->s_ops->ended(s->s_owner, s->s_why[0] ? s->s_why :
		    "session ended");
	}
}
