/*
 * bridge: one socket <-> one mux stream, both ways, with flow control and
 * half-close (EOF on the socket becomes FIN, FIN becomes shutdown(SHUT_WR)).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bridge.h"
#include "ev.h"
#include "mux.h"

#define B_RD_EOF	0x01	/* socket sent EOF; our FIN is sent */
#define B_REMOTE_FIN	0x02	/* the stream's peer half-closed */
#define B_WR_SHUT	0x04	/* we shut down the socket's write side */
#define B_DEAD		0x08	/* socket failed or stream reset */
#define B_WAIT_OUT	0x10	/* waiting for session output space */
#define B_WAIT_WIN	0x20	/* waiting for the stream's send window */
#define B_REAP		0x40	/* on the reap list */
#define B_CONNECTING	0x80	/* connect(2) in progress */

static void	bridge_io(int, uint32_t, void *);

static size_t
output_pending(struct bridge_set *bs)
{
	const uint8_t	*p;

	return mux_output(bs->bs_mux, &p);
}

static void
bridge_events(struct bridge *b)
{
	uint32_t	 ev = 0;

	if (b->b_flags & (B_DEAD | B_REAP))
		return;
	if (b->b_flags & B_CONNECTING)
		ev = EV_WRITE;
	else {
		if (!(b->b_flags & (B_RD_EOF | B_WAIT_OUT | B_WAIT_WIN)) &&
		    b->b_stream != NULL)
			ev |= EV_READ;
		if (b->b_len > 0)
			ev |= EV_WRITE;
	}
	ev_set(b->b_fd, ev);
}

static void
bridge_detach(struct bridge *b)
{
	if (b->b_stream != NULL) {
		mux_stream_set_udata(b->b_stream, NULL);
		b->b_stream = NULL;
	}
}

/*
 * Queue the bridge for freeing once both directions are done, or at once
 * when it failed.  Freeing waits for bridge_reap() so that no handler up
 * the stack is left holding a freed bridge.
 */
static void
bridge_check(struct bridge *b)
{
	struct mux_stream	*s;

	if (b->b_flags & B_REAP)
		return;
	if (!(b->b_flags & B_DEAD) && (b->b_stream != NULL || b->b_len > 0))
		return;
	if ((s = b->b_stream) != NULL) {
		bridge_detach(b);
		mux_stream_reset(s);
	}
	ev_timer_cancel(&b->b_timer);
	if (b->b_fd != -1) {
		ev_del(b->b_fd);
		close(b->b_fd);
		b->b_fd = -1;
	}
	b->b_flags |= B_REAP;
	b->b_reap_next = b->b_set->bs_reap;
	b->b_set->bs_reap = b;
}

static void
bridge_fail(struct bridge *b, const char *why)
{
	if (b->b_flags & B_DEAD)
		return;
	b->b_flags |= B_DEAD;
	if (b->b_end == NULL)
		b->b_end = why;
	bridge_check(b);
}

static void
bridge_connect_timeout(void *arg)
{
	struct bridge	*b = arg;

	bridge_fail(b, "connect timed out");
}

struct bridge *
bridge_new(struct bridge_set *bs, int fd, struct mux_stream *s,
    unsigned connect_ms)
{
	struct bridge	*b;

	if ((b = calloc(1, sizeof(*b))) == NULL)
		return NULL;
	b->b_fd = fd;
	b->b_set = bs;
	b->b_stream = s;
	b->b_since = ev_now();
	ev_timer_init(&b->b_timer, bridge_connect_timeout, b);
	net_peer_str(fd, b->b_addr, sizeof(b->b_addr));
	if (ev_add(fd, connect_ms ? EV_WRITE : EV_READ, bridge_io, b) == -1) {
		free(b);
		return NULL;
	}
	if (connect_ms) {
		b->b_flags |= B_CONNECTING;
		ev_timer_at(&b->b_timer, ev_now() + connect_ms);
	}
	net_nodelay(fd);
	mux_stream_set_udata(s, b);
	b->b_next = bs->bs_all;
	if (bs->bs_all != NULL)
		bs->bs_all->b_prev = b;
	bs->bs_all = b;
	bs->bs_count++;
	return b;
}

static void
bridge_free(struct bridge *b)
{
	struct bridge_set	*bs = b->b_set;
	struct bridge		**pp;

	if (bs->bs_closed != NULL)
		bs->bs_closed(b);
	ev_timer_cancel(&b->b_timer);
	if (b->b_fd != -1) {
		ev_del(b->b_fd);
		close(b->b_fd);
	}
	if (b->b_flags & B_WAIT_OUT) {
		for (pp = &bs->bs_waiting; *pp != NULL;
		    pp = &(*pp)->b_wait_next)
			if (*pp == b) {
				*pp = b->b_wait_next;
				break;
			}
	}
	if (b->b_prev != NULL)
		b->b_prev->b_next = b->b_next;
	else
		bs->bs_all = b->b_next;
	if (b->b_next != NULL)
		b->b_next->b_prev = b->b_prev;
	bs->bs_count--;
	free(b->b_buf);
	free(b);
}

void
bridge_reap(struct bridge_set *bs)
{
	struct bridge	*b, *next;

	b = bs->bs_reap;
	bs->bs_reap = NULL;
	for (; b != NULL; b = next) {
		next = b->b_reap_next;
		bridge_free(b);
	}
}

void
bridge_close_all(struct bridge_set *bs, const char *why)
{
	struct bridge	*b;

	bridge_reap(bs);
	for (b = bs->bs_all; b != NULL; b = b->b_next) {
		if (b->b_end == NULL || b->b_stream != NULL)
			b->b_end = why;
		bridge_detach(b);
	}
	while (bs->bs_all != NULL)
		bridge_free(bs->bs_all);
	bs->bs_waiting = NULL;
}

void
bridge_output_drained(struct bridge_set *bs)
{
	struct bridge	*b, *next;

	b = bs->bs_waiting;
	bs->bs_waiting = NULL;
	for (; b != NULL; b = next) {
		next = b->b_wait_next;
		b->b_wait_next = NULL;
		b->b_flags &= ~B_WAIT_OUT;
		bridge_events(b);
	}
}

/* Shut the socket's write side once everything for it has been written. */
static void
bridge_maybe_shut(struct bridge *b)
{
	if ((b->b_flags & (B_REMOTE_FIN | B_WR_SHUT | B_DEAD |
	    B_CONNECTING)) == B_REMOTE_FIN && b->b_len == 0) {
		shutdown(b->b_fd, SHUT_WR);
		b->b_flags |= B_WR_SHUT;
	}
}

static void
bridge_sent(struct bridge *b, size_t n)
{
	b->b_out += n;
	stats_client_bytes(b->b_set->bs_stats, b->b_stats, 0, n);
	if (b->b_stream != NULL)
		mux_stream_consumed(b->b_stream, n);
}

static void
bridge_write(struct bridge *b)
{
	ssize_t	 n;

	while (b->b_len > 0) {
		n = write(b->b_fd, b->b_buf + b->b_off, b->b_len);
		if (n > 0) {
			b->b_off += n;
			b->b_len -= n;
			bridge_sent(b, n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		bridge_fail(b, "write failed");
		return;
	}
	if (b->b_len == 0) {
		/* An idle connection holds no buffer. */
		free(b->b_buf);
		b->b_buf = NULL;
		b->b_off = b->b_cap = 0;
		bridge_maybe_shut(b);
	}
	bridge_events(b);
	bridge_check(b);
}

static void
bridge_read(struct bridge *b)
{
	struct bridge_set	*bs = b->b_set;
	uint8_t			*p;
	size_t			 cap;
	ssize_t			 n;
	int			 i;

	for (i = 0; i < 8 && b->b_stream != NULL; i++) {
		if ((p = mux_stream_reserve(b->b_stream, &cap)) == NULL) {
			if (output_pending(bs) >= bs->bs_output_max) {
				b->b_flags |= B_WAIT_OUT;
				b->b_wait_next = bs->bs_waiting;
				bs->bs_waiting = b;
			} else if (!mux_stream_local_closed(b->b_stream))
				b->b_flags |= B_WAIT_WIN;
			break;
		}
		n = read(b->b_fd, p, cap);
		if (n > 0) {
			mux_stream_commit(b->b_stream, n);
			b->b_in += n;
			stats_client_bytes(bs->bs_stats, b->b_stats, n, 0);
			if ((size_t)n < cap)
				break;
			continue;
		}
		mux_stream_commit(b->b_stream, 0);
		if (n == 0) {
			b->b_flags |= B_RD_EOF;
			if (b->b_end == NULL)
				b->b_end = b->b_set->bs_why_eof;
			/* May run the closed handler. */
			mux_stream_close(b->b_stream);
			break;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			bridge_fail(b, "read failed");
		break;
	}
	bridge_events(b);
	bridge_check(b);
}

static void
bridge_connected(struct bridge *b)
{
	int		 err = 0;
	socklen_t	 len = sizeof(err);

	if (getsockopt(b->b_fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
		err = errno;
	if (err == EINPROGRESS || err == EALREADY)
		return;
	ev_timer_cancel(&b->b_timer);
	if (err != 0) {
		b->b_end = strerror(err);
		bridge_fail(b, b->b_end);
		return;
	}
	b->b_flags &= ~B_CONNECTING;
	net_peer_str(b->b_fd, b->b_addr, sizeof(b->b_addr));
	/* What arrived while connecting, and a FIN that came with it. */
	if (b->b_len > 0)
		bridge_write(b);
	else {
		bridge_maybe_shut(b);
		bridge_events(b);
	}
}

static void
bridge_io(int fd, uint32_t events, void *arg)
{
	struct bridge	*b = arg;

	(void)fd;
	if (b->b_flags & (B_DEAD | B_REAP))
		return;
	if (b->b_flags & B_CONNECTING) {
		bridge_connected(b);
		return;
	}
	if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
		bridge_write(b);
	if (!(b->b_flags & (B_DEAD | B_REAP)) &&
	    (events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
		bridge_read(b);
}

void
bridge_on_data(struct bridge *b, const uint8_t *p, size_t len)
{
	ssize_t	 n = 0;

	if (b->b_flags & (B_DEAD | B_REAP)) {
		if (b->b_stream != NULL)
			mux_stream_consumed(b->b_stream, len);
		return;
	}
	if (b->b_len == 0 && !(b->b_flags & B_CONNECTING)) {
		/* Straight to the socket: the common case copies nothing. */
		do {
			n = write(b->b_fd, p, len);
		} while (n == -1 && errno == EINTR);
		if (n == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK) {
				bridge_fail(b, "write failed");
				return;
			}
			n = 0;
		}
		if (n > 0)
			bridge_sent(b, n);
		if ((size_t)n == len)
			return;
		p += n;
		len -= n;
	}
	/* The socket is slow: keep the rest, bounded by the stream window. */
	if (b->b_off + b->b_len + len > b->b_cap) {
		if (b->b_off > 0) {
			memmove(b->b_buf, b->b_buf + b->b_off, b->b_len);
			b->b_off = 0;
		}
		if (b->b_len + len > b->b_cap) {
			size_t ncap = b->b_cap ? b->b_cap : 16384;
			uint8_t *nb;
			while (ncap < b->b_len + len)
				ncap *= 2;
			if ((nb = realloc(b->b_buf, ncap)) == NULL) {
				bridge_fail(b, "out of memory");
				return;
			}
			b->b_buf = nb;
			b->b_cap = ncap;
		}
	}
	memcpy(b->b_buf + b->b_off + b->b_len, p, len);
	b->b_len += len;
	bridge_events(b);
}

void
bridge_on_fin(struct bridge *b)
{
	b->b_flags |= B_REMOTE_FIN;
	if (b->b_end == NULL)
		b->b_end = b->b_set->bs_why_fin;
	bridge_maybe_shut(b);
}

void
bridge_on_writable(struct bridge *b)
{
	if (!(b->b_flags & B_WAIT_WIN))
		return;
	b->b_flags &= ~B_WAIT_WIN;
	bridge_events(b);
}

void
bridge_on_reset(struct bridge *b, const char *why)
{
	bridge_detach(b);
	bridge_fail(b, why);
}

void
bridge_on_closed(struct bridge *b)
{
	bridge_detach(b);
	b->b_flags &= ~B_WAIT_WIN;
	bridge_events(b);
	bridge_check(b);
}

int
bridge_failed(const struct bridge *b)
{
	return (b->b_flags & B_DEAD) != 0;
}

int
bridge_flush_session(struct mux *m, int fd)
{
	const uint8_t	*p;
	size_t		 len;
	ssize_t		 n;

	while ((len = mux_output(m, &p)) > 0) {
		n = write(fd, p, len);
		if (n > 0) {
			mux_output_done(m, n);
			continue;
		}
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			ev_set(fd, EV_READ | EV_WRITE);
			return 1;
		}
		return -1;
	}
	ev_set(fd, EV_READ);
	return 0;
}
