/*
 * conn: one socket <-> one stream, both ways (include/conn.h has the
 * states).  Every event handler does its part of the I/O and then calls
 * conn_step(), the one place that decides what follows: shutting the
 * socket's write side, closing, changing state, what to wait for.
 */
#include <errno.h>
#include <linux/sockios.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "conn.h"
#include "ev.h"
#include "mux.h"
#include "session.h"

/*
 * The kernel's unsent queue toward the socket: beyond it, bytes wait here,
 * counted, and the stream's window closes (a socket buffer can otherwise
 * grow to megabytes for a client that does not read).
 */
#define CONN_NOTSENT_LOWAT	(32 * 1024)
/* How often an orphan asks the kernel whether everything was sent. */
#define CONN_OUTQ_POLL_MS	20
/* Reads per wake-up; the first buffer taken from a fresh stream. */
#define CONN_READS		8
#define CONN_BUF_MIN		16384u

static void	conn_io(int, uint32_t, void *);
static void	conn_step(struct conn *);

static struct conn *
conn_of(struct endpoint *ep)
{
	return (struct conn *)ep;
}

static struct mux_stream *
conn_stream(const struct conn *c)
{
	return c->c_ep.ep_stream;
}

/* What to wait for, from the state. */
static void
conn_interest(struct conn *c)
{
	uint32_t	 ev = 0;

	if (c->c_fd == -1 || c->c_parked)
		return;
	switch (c->c_state) {
	case CONN_CONNECTING:
		ev = EV_WRITE;
		break;
	case CONN_OPEN:
		if (!c->c_up_done && !c->c_paused && conn_stream(c) != NULL)
			ev |= EV_READ;
		if (c->c_len > 0)
			ev |= EV_WRITE;
		break;
	case CONN_ORPHAN:
		if (c->c_len > 0)
			ev |= EV_WRITE;
		break;
	case CONN_LINGER:
		ev = EV_READ;
		break;
	case CONN_CLOSED:
		return;
	}
	ev_set(c->c_fd, ev);
}

/*
 * Close the socket, with a reset (SO_LINGER 0) or, when every byte has
 * gone both ways, in good order.  The stream, if still there, is reset
 * too, or left to finish the FIN already queued on it.
 */
static void
conn_close(struct conn *c, int rst)
{
	struct mux_stream	*st = conn_stream(c);
	struct linger		 l;

	if (c->c_state == CONN_CLOSED)
		return;
	if (st != NULL) {
		c->c_ep.ep_stream = NULL;
		mux_stream_set_udata(st, NULL);
		if (rst)
			mux_stream_reset(st);
	}
	endpoint_detach(&c->c_ep);
	ev_timer_cancel(&c->c_timer);
	if (c->c_fd != -1) {
		if (rst) {
			l.l_onoff = 1;
			l.l_linger = 0;
			(void)setsockopt(c->c_fd, SOL_SOCKET, SO_LINGER, &l,
			    sizeof(l));
		}
		if (!c->c_parked)
			ev_del(c->c_fd);
		close(c->c_fd);
		c->c_fd = -1;
	}
	free(c->c_buf);
	c->c_buf = NULL;
	c->c_off = c->c_len = c->c_cap = c->c_pre = 0;
	c->c_ep.ep_held = 0;
	c->c_state = CONN_CLOSED;
	c->c_reap_next = c->c_set->cs_reap;
	c->c_set->cs_reap = c;
}

static void
conn_fail(struct conn *c, const char *why)
{
	if (c->c_state == CONN_CLOSED)
		return;
	if (c->c_end == NULL)
		c->c_end = why;
	c->c_failed = 1;
	conn_close(c, 1);
}

/* The bytes for the socket that it has not taken yet. */
static int
conn_keep(struct conn *c, const uint8_t *p, size_t len)
{
	size_t	 ncap;
	uint8_t	*nb;

	if (c->c_off + c->c_len + len > c->c_cap) {
		if (c->c_off > 0) {
			memmove(c->c_buf, c->c_buf + c->c_off, c->c_len);
			c->c_off = 0;
		}
		if (c->c_len + len > c->c_cap) {
			ncap = c->c_cap ? c->c_cap : CONN_BUF_MIN;
			while (ncap < c->c_len + len)
				ncap *= 2;
			if ((nb = realloc(c->c_buf, ncap)) == NULL)
				return -1;
			c->c_buf = nb;
			c->c_cap = ncap;
		}
	}
	memcpy(c->c_buf + c->c_off + c->c_len, p, len);
	c->c_len += len;
	return 0;
}

/* n bytes reached the socket: count them, reopen the window. */
static void
conn_sent(struct conn *c, size_t n)
{
	c->c_out += n;
	stats_client_bytes(c->c_set->cs_stats, c->c_stats, 0, n);
	if (conn_stream(c) != NULL)
		mux_stream_consumed(conn_stream(c), n);
}

static void
conn_write(struct conn *c)
{
	ssize_t	 n;
	size_t	 pre;

	while (c->c_len > 0) {
		n = write(c->c_fd, c->c_buf + c->c_off, c->c_len);
		if (n > 0) {
			c->c_off += n;
			c->c_len -= n;
			if (c->c_pre > 0) {
				/* Ours: the stream neither sent nor counts it. */
				pre = (size_t)n < c->c_pre ? (size_t)n : c->c_pre;
				c->c_pre -= pre;
				if ((n -= pre) == 0)
					continue;
			}
			endpoint_held(&c->c_ep, -(long)n);
			conn_sent(c, n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_fail(c, "write failed");
		return;
	}
	if (c->c_len == 0) {
		/* An idle connection holds no buffer. */
		free(c->c_buf);
		c->c_buf = NULL;
		c->c_off = c->c_cap = 0;
	}
}

static void
conn_read(struct conn *c)
{
	struct mux_stream	*st;
	uint8_t			*p;
	size_t			 cap;
	ssize_t			 n;
	int			 i;

	/*
	 * A parked socket (hung up while we were paused) gets no more
	 * events: read on to its EOF, or until the stream has no room.
	 */
	for (i = 0; i < CONN_READS || c->c_parked; i++) {
		if ((st = conn_stream(c)) == NULL || c->c_up_done)
			return;
		if ((p = mux_stream_send_buf(st, &cap)) == NULL) {
			/* No room: the writable handler resumes us. */
			c->c_paused = 1;
			return;
		}
		n = read(c->c_fd, p, cap);
		if (n > 0) {
			mux_stream_send_commit(st, n);
			c->c_in += n;
			stats_client_bytes(c->c_set->cs_stats, c->c_stats, n,
			    0);
			if ((size_t)n < cap && !c->c_parked)
				return;
			continue;
		}
		if (n == 0) {
			c->c_up_done = 1;
			if (c->c_end == NULL)
				c->c_end = c->c_set->cs_why_eof;
			mux_stream_close(st);	/* FIN after what is queued */
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_fail(c, "read failed");
		return;
	}
}

/* LINGER: the peer's last bytes have nowhere to go. */
static void
conn_drop_input(struct conn *c)
{
	uint8_t	 buf[4096];
	ssize_t	 n;
	int	 i;

	for (i = 0; i < 16; i++) {
		n = read(c->c_fd, buf, sizeof(buf));
		if (n > 0)
			continue;
		if (n == 0)
			c->c_up_done = 1;
		else if (errno == EINTR)
			continue;
		else if (errno != EAGAIN && errno != EWOULDBLOCK)
			conn_fail(c, "read failed");
		return;
	}
}

/* Bytes the kernel still has to get acknowledged, or 0 when unknown. */
static int
conn_outq(const struct conn *c)
{
	int	 n = 0;

	if (ioctl(c->c_fd, SIOCOUTQ, &n) == -1)
		return 0;
	return n;
}

static void
conn_deadline(struct conn *c, unsigned ms)
{
	ev_timer_at(&c->c_timer, ev_now() + ms);
}

/*
 * The one place that decides what follows an event.  The stream's FIN
 * becomes our shutdown once every byte is out; each state ends when its
 * work is done.
 */
static void
conn_step(struct conn *c)
{
	if (c->c_state == CONN_CLOSED)
		return;
	if (c->c_state == CONN_CONNECTING) {
		conn_interest(c);
		return;
	}
	if (c->c_down_fin && !c->c_down_shut && c->c_len == 0) {
		shutdown(c->c_fd, SHUT_WR);
		c->c_down_shut = 1;
	}
	switch (c->c_state) {
	case CONN_OPEN:
		if (c->c_up_done && c->c_down_shut) {
			conn_close(c, 0);
			return;
		}
		break;
	case CONN_ORPHAN:
		if (c->c_len > 0)
			break;
		if (c->c_down_shut) {
			/* Delivered and FINed; the peer may still talk. */
			if (c->c_up_done) {
				conn_close(c, 0);
				return;
			}
			c->c_state = CONN_LINGER;
			break;
		}
		/*
		 * The stream was cut before its end: every byte we had is
		 * handed over; the reset follows once the kernel has sent
		 * them all, so it cannot destroy them in flight.
		 */
		if (conn_outq(c) == 0) {
			if (c->c_end == NULL || c->c_end == c->c_set->cs_why_eof)
				c->c_end = "cut: the session ended before "
				    "the stream did";
			c->c_failed = 1;
			conn_close(c, 1);
			return;
		}
		/* Poll for it, the drain bound still standing. */
		ev_timer_at(&c->c_timer, ev_now() + CONN_OUTQ_POLL_MS <
		    c->c_orphan_at + c->c_set->cs_drain_ms ?
		    ev_now() + CONN_OUTQ_POLL_MS :
		    c->c_orphan_at + c->c_set->cs_drain_ms);
		break;
	case CONN_LINGER:
		if (c->c_up_done) {
			conn_close(c, 0);
			return;
		}
		break;
	default:
		break;
	}
	conn_interest(c);
}

/* The session ended in good order: deliver what we hold, then end. */
static void
conn_orphan(struct conn *c)
{
	c->c_state = CONN_ORPHAN;
	c->c_paused = 0;
	c->c_orphan_at = ev_now();
	ev_timer_at(&c->c_timer, c->c_orphan_at + c->c_set->cs_drain_ms);
	conn_step(c);
}

static void
conn_timer_fire(void *arg)
{
	struct conn	*c = arg;

	switch (c->c_state) {
	case CONN_CONNECTING:
		conn_fail(c, "connect timed out");
		return;
	case CONN_ORPHAN:
	case CONN_LINGER:
		if (ev_now() - c->c_orphan_at >= c->c_set->cs_drain_ms) {
			c->c_end = c->c_state == CONN_ORPHAN ?
			    "not delivered within the drain time" :
			    "did not close within the drain time";
			c->c_failed = 1;
			conn_close(c, 1);
			return;
		}
		conn_step(c);
		if (c->c_state != CONN_CLOSED && !ev_timer_pending(&c->c_timer))
			ev_timer_at(&c->c_timer, c->c_orphan_at +
			    c->c_set->cs_drain_ms);
		return;
	default:
		return;
	}
}

static void
conn_connected(struct conn *c)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(c->c_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	ev_timer_cancel(&c->c_timer);
	if (err != 0) {
		conn_fail(c, strerror(err));
		return;
	}
	net_peer_str(c->c_fd, c->c_addr, sizeof(c->c_addr));
	/* What arrived while connecting, and a FIN that came with it. */
	if (c->c_len > 0)
		conn_write(c);
	if (c->c_state == CONN_CLOSED)
		return;
	if (c->c_orphaned)
		conn_orphan(c);
	else {
		c->c_state = CONN_OPEN;
		conn_step(c);
	}
}

static void
conn_io(int fd, uint32_t events, void *arg)
{
	struct conn	*c = arg;
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	(void)fd;
	if (c->c_state == CONN_CLOSED)
		return;
	if (c->c_state == CONN_CONNECTING) {
		conn_connected(c);
		return;
	}
	/*
	 * An error is consumed whatever the flow-control state: the peer
	 * reset, so the stream is reset too.
	 */
	if (events & EPOLLERR) {
		if (getsockopt(c->c_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		conn_fail(c, err == ECONNRESET || err == EPIPE ?
		    "reset by peer" : err ? strerror(err) : "socket error");
		return;
	}
	if ((events & (EPOLLOUT | EPOLLHUP)) && c->c_len > 0)
		conn_write(c);
	if (c->c_state == CONN_CLOSED)
		return;
	if (events & (EPOLLIN | EPOLLHUP)) {
		if (c->c_state == CONN_LINGER)
			conn_drop_input(c);
		else if (c->c_state == CONN_OPEN && !c->c_up_done &&
		    !c->c_paused)
			conn_read(c);
		else if ((events & EPOLLHUP) && !c->c_parked) {
			/*
			 * Both directions are shut at the socket but we are
			 * not reading now: a hang-up cannot be masked in
			 * epoll, so wait outside it; what is left to read is
			 * read directly when we resume.
			 */
			ev_del(c->c_fd);
			c->c_parked = 1;
		}
	}
	conn_step(c);
}

/* ---- the stream's side ---- */

static void
conn_on_data(struct endpoint *ep, const uint8_t *p, size_t len)
{
	struct conn	*c = conn_of(ep);
	ssize_t		 n = 0;

	if (c->c_state == CONN_OPEN && c->c_len == 0 && !c->c_down_shut) {
		/* Straight to the socket: the common case copies nothing. */
		do {
			n = write(c->c_fd, p, len);
		} while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				if (conn_stream(c) != NULL)
					mux_stream_consumed(conn_stream(c), len);
				conn_fail(c, "write failed");
				return;
			}
			n = 0;
		}
		if (n > 0)
			conn_sent(c, n);
		if ((size_t)n == len)
			return;
		p += n;
		len -= n;
	}
	/* The socket is slow: keep the rest, bounded by the stream window. */
	if (conn_keep(c, p, len) == -1) {
		if (conn_stream(c) != NULL)
			mux_stream_consumed(conn_stream(c), len);
		conn_fail(c, "out of memory");
		return;
	}
	endpoint_held(ep, (long)len);	/* may reset us: over the limit */
	if (c->c_state != CONN_CLOSED)
		conn_interest(c);
}

static void
conn_on_fin(struct endpoint *ep)
{
	struct conn	*c = conn_of(ep);

	c->c_down_fin = 1;
	if (c->c_end == NULL)
		c->c_end = c->c_set->cs_why_fin;
	conn_step(c);
}

static void
conn_on_writable(struct endpoint *ep)
{
	struct conn	*c = conn_of(ep);

	if (!c->c_paused)
		return;
	c->c_paused = 0;
	if (c->c_parked) {
		/* Hung up: no event will come, so read what is left now. */
		conn_read(c);
	}
	conn_step(c);
}

static void
conn_on_cut(struct endpoint *ep, const char *why, int cut)
{
	struct conn		*c = conn_of(ep);
	struct mux_stream	*st = conn_stream(c);

	if (c->c_state == CONN_CLOSED)
		return;
	/* The mux ends the stream itself; we only let go of it. */
	if (st != NULL) {
		c->c_ep.ep_stream = NULL;
		mux_stream_set_udata(st, NULL);
	}
	if (cut != MUX_CUT_EOF) {
		c->c_end = cut == MUX_CUT_ERROR && c->c_set->cs_why_gone != NULL ?
		    c->c_set->cs_why_gone : why;
		c->c_failed = 1;
		conn_close(c, 1);
		return;
	}
	endpoint_detach(ep);
	c->c_orphaned = 1;
	if (c->c_state == CONN_OPEN)
		conn_orphan(c);
}

static void
conn_on_closed(struct endpoint *ep)
{
	conn_step(conn_of(ep));
}

static const struct endpoint_ops conn_ops = {
	.data = conn_on_data,
	.fin = conn_on_fin,
	.writable = conn_on_writable,
	.cut = conn_on_cut,
	.closed = conn_on_closed,
};

/* ---- the set ---- */

struct conn *
conn_new(struct conn_set *cs, struct session *sess, int fd,
    struct mux_stream *st, unsigned connect_ms)
{
	struct conn	*c;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return NULL;
	c->c_fd = fd;
	c->c_set = cs;
	c->c_since = ev_now();
	c->c_state = connect_ms ? CONN_CONNECTING : CONN_OPEN;
	ev_timer_init(&c->c_timer, conn_timer_fire, c);
	net_peer_str(fd, c->c_addr, sizeof(c->c_addr));
	if (ev_add(fd, connect_ms ? EV_WRITE : EV_READ, conn_io, c) == -1) {
		free(c);
		return NULL;
	}
	if (connect_ms)
		conn_deadline(c, connect_ms);
	net_nodelay(fd);
	net_notsent_lowat(fd, CONN_NOTSENT_LOWAT);
	endpoint_attach(&c->c_ep, &conn_ops, sess, st);
	c->c_next = cs->cs_all;
	if (cs->cs_all != NULL)
		cs->cs_all->c_prev = c;
	cs->cs_all = c;
	cs->cs_count++;
	return c;
}

int
conn_preface(struct conn *c, const uint8_t *p, size_t len)
{
	if (c->c_state == CONN_CLOSED || c->c_len != 0 || c->c_out != 0)
		return -1;
	if (conn_keep(c, p, len) == -1)
		return -1;
	c->c_pre = len;
	conn_interest(c);
	return 0;
}

int
conn_failed(const struct conn *c)
{
	return c->c_failed;
}

void
conn_reset_all(struct conn_set *cs, const char *why)
{
	struct conn	*c;

	for (c = cs->cs_all; c != NULL; c = c->c_next) {
		if (c->c_state == CONN_CLOSED)
			continue;
		c->c_end = why;
		c->c_failed = 1;
		conn_close(c, 1);
	}
}

void
conn_reap(struct conn_set *cs)
{
	struct conn	*c, *next;

	c = cs->cs_reap;
	cs->cs_reap = NULL;
	for (; c != NULL; c = next) {
		next = c->c_reap_next;
		if (cs->cs_closed != NULL)
			cs->cs_closed(c);
		if (c->c_prev != NULL)
			c->c_prev->c_next = c->c_next;
		else
			cs->cs_all = c->c_next;
		if (c->c_next != NULL)
			c->c_next->c_prev = c->c_prev;
		cs->cs_count--;
		free(c);
	}
}
