/*
 * mux: a yamux session core with no I/O of its own.
 *
 * Wire-compatible with hashicorp/yamux (spec.md in that repository).  The
 * caller feeds the bytes it read from the peer into mux_input(), writes the
 * bytes mux_output_iov() hands out and reports how many left with
 * mux_output_done(), and learns what happened through the handler callbacks.
 * Time is whatever the caller passes in as "now" (milliseconds, monotonic);
 * there are no hidden timers.
 *
 * Received payload is never buffered here: the data handler gets a pointer
 * into the caller's input buffer and must take all of it (write it out or
 * copy the rest).  The caller reports with mux_stream_consumed() when bytes
 * have really left, which is what reopens the peer's window.
 *
 * Outgoing payload is queued per stream (mux_stream_send_buf() and
 * mux_stream_send_commit() let a relay read a socket straight into that
 * queue) and framed only when the caller asks for output.  Output is
 * scheduled so that no stream and no backlog can hold up the session:
 *   - control frames (pings and pongs, window updates, SYN, ACK, RST,
 *     GoAway) go out before any queued data;
 *   - Data frames are taken from the streams in turn, at most max_frame
 *     bytes each per turn (round-robin), within each stream's send window;
 *   - a stream's FIN follows the last byte queued on it.
 * Only a frame that the caller's socket took in part must be finished
 * before anything else; its rest is kept here.
 *
 * Re-entrancy: handlers may call any mux_ function on the same session
 * (open, accept, write, close, reset, consumed, goaway, ping), except
 * mux_free() and mux_input().  A stream handle is valid from the moment it is
 * returned by mux_open() or passed to the opened handler until the closed
 * handler has returned for it.
 */
#ifndef RELAY_MUX_H
#define RELAY_MUX_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#define MUX_VERSION		0
#define MUX_HEADER_SIZE		12
#define MUX_INITIAL_WINDOW	(256u * 1024u)

/* Frame types. */
#define MUX_T_DATA		0
#define MUX_T_WINDOW_UPDATE	1
#define MUX_T_PING		2
#define MUX_T_GOAWAY		3

/* Flags. */
#define MUX_F_SYN		0x1
#define MUX_F_ACK		0x2
#define MUX_F_FIN		0x4
#define MUX_F_RST		0x8

/* GoAway codes. */
#define MUX_GOAWAY_NORMAL	0
#define MUX_GOAWAY_PROTOCOL	1
#define MUX_GOAWAY_INTERNAL	2

/* Roles: the client opens odd stream ids, the server even ones. */
#define MUX_CLIENT		1
#define MUX_SERVER		2

/* How a stream was cut, as the reset handler is told. */
#define MUX_CUT_RESET		0	/* RST from the peer, or a local limit
					   or timeout of this stream alone */
#define MUX_CUT_ERROR		1	/* the session failed (protocol error,
					   silence, GoAway with an error) */
#define MUX_CUT_EOF		2	/* the peer closed the connection in
					   good order (mux_close()) */

/* Most iovecs mux_output_iov() fills. */
#define MUX_IOV_MAX		64

struct mux_hdr {
	uint8_t		 version;
	uint8_t		 type;
	uint16_t	 flags;
	uint32_t	 stream_id;
	uint32_t	 length;
};

/* Header encoding, exposed for tests and tools. */
void	 mux_hdr_encode(uint8_t out[MUX_HEADER_SIZE], const struct mux_hdr *);
void	 mux_hdr_decode(struct mux_hdr *, const uint8_t in[MUX_HEADER_SIZE]);

struct mux;
struct mux_stream;

/*
 * Why a stream or session ended, as passed to the reset and error handlers.
 * The text is static and fit for a log line.
 */
struct mux_handlers {
	/*
	 * The peer opened a stream.  syn_type is the frame type that carried
	 * the SYN and syn_len its length field (for a Data frame, the payload
	 * that follows through the data handler).  The caller either accepts
	 * it (mux_stream_accept(), which sends the ACK) or resets it.
	 */
	void	(*opened)(void *arg, struct mux_stream *, int syn_type,
		    uint32_t syn_len);
	/* Our stream was acknowledged by the peer (its ACK arrived). */
	void	(*acked)(void *arg, struct mux_stream *);
	/*
	 * Payload for a stream, possibly a part of a frame.  The caller must
	 * take all of it; it counts as buffered until mux_stream_consumed().
	 */
	void	(*data)(void *arg, struct mux_stream *, const uint8_t *, size_t);
	/* The peer half-closed its side: no more data on this stream. */
	void	(*fin)(void *arg, struct mux_stream *);
	/*
	 * A stream that found no send space (mux_stream_send_space() was 0)
	 * has some again: its queue drained, the session's did, or the peer
	 * opened its window.
	 */
	void	(*writable)(void *arg, struct mux_stream *);
	/*
	 * The stream was cut: cut is MUX_CUT_RESET (by the peer, why "reset
	 * by peer", or locally because of a limit or timeout, why says
	 * which), MUX_CUT_ERROR (the session failed; why is the session's
	 * reason) or MUX_CUT_EOF (the peer closed the connection).  The
	 * closed handler follows.
	 */
	void	(*reset)(void *arg, struct mux_stream *, const char *why,
		    int cut);
	/*
	 * The stream is finished (both sides closed, or cut) and is freed
	 * once this returns.  Always called exactly once per stream.
	 */
	void	(*closed)(void *arg, struct mux_stream *);
	/*
	 * A reply to our mux_ping(): its opaque id and the measured round
	 * trip.  Keepalive pongs only update mux_last_rtt().
	 */
	void	(*pong)(void *arg, uint32_t id, uint64_t rtt_ms);
	/* The peer sent GoAway with this code (0: no new streams). */
	void	(*goaway)(void *arg, uint32_t code);
	/*
	 * The session is dead: a protocol violation by the peer, silence
	 * after a ping, a GoAway with a non-zero code from the peer, the
	 * caller's mux_abort() or mux_close().  Any GoAway we owe the
	 * peer is queued ahead of everything else; the caller should write
	 * the output that is left (it holds no data) and close.  Every live
	 * stream gets its reset and closed handlers after this.
	 */
	void	(*error)(void *arg, const char *why);
};

struct mux_config {
	int		 role;			/* MUX_CLIENT or MUX_SERVER */
	uint32_t	 recv_window;		/* per-stream window we start with,
						   >= MUX_INITIAL_WINDOW (default) */
	uint32_t	 recv_window_max;	/* a stream's window may grow to
						   this (default recv_window: no
						   growth); see "Windows" below */
	size_t		 recv_budget;		/* windows beyond recv_window, all
						   streams together, may add up to
						   this many bytes (default 64 MiB) */
	uint32_t	 max_streams;		/* concurrent streams, both directions
						   (default 4096); peer's SYN beyond: RST */
	uint32_t	 max_unacked;		/* peer-opened streams not yet accepted
						   (default 256, as hashicorp's backlog);
						   beyond: RST */
	size_t		 output_max;		/* data queued to send, all streams
						   together (default 1 MiB); control
						   frames may pile up to 4x that, then
						   the session fails ("peer not
						   reading") */
	uint32_t	 stream_send_max;	/* data queued per stream (default
						   256 KiB) */
	uint32_t	 max_frame;		/* largest Data frame we send, and a
						   stream's share of one turn
						   (default 64 KiB) */
	uint64_t	 keepalive_ms;		/* ping interval, 0 = off (default 30 s) */
	uint64_t	 ping_timeout_ms;	/* after any ping of ours, nothing at
						   all from the peer within this: the
						   session fails ("no answer"), 0 =
						   never (default 10 s) */
	uint64_t	 open_timeout_ms;	/* our SYN without ACK within: that
						   stream is reset ("open timeout"),
						   0 = off (default 0) */
	uint64_t	 close_timeout_ms;	/* after our FIN, the peer's FIN must
						   come within, else RST, 0 = off
						   (default 0) */
	uint64_t	(*clock)(void);		/* "now" where a call takes none
						   (mux_stream_consumed()); NULL:
						   the last time given */
};

/*
 * Windows.  Every stream starts with recv_window.  When a stream's reader
 * consumes half its window in less than two round trips (the least round
 * trip the pings measured), the window doubles, up to recv_window_max, as long as the growth
 * of all streams stays within recv_budget.  Updates are sent once half the
 * window has been consumed, as hashicorp does.
 */

/*
 * Fill a config with the defaults above for the given role.  mux_new()
 * also takes a zero limit (streams, unacked, buffers, frame) as its default.
 */
void	 mux_config_default(struct mux_config *, int role);

/* Session life. */
struct mux	*mux_new(const struct mux_config *, const struct mux_handlers *,
		    void *arg, uint64_t now);
void		 mux_free(struct mux *);	/* frees every stream silently */

/*
 * Feed bytes read from the peer.  Returns 0, or -1 once the session is dead
 * (the error handler has been called; further input is ignored).
 */
int		 mux_input(struct mux *, const uint8_t *, size_t, uint64_t now);
/*
 * The connection is gone: closed by the peer in good order (cut
 * MUX_CUT_EOF, so that the caller can deliver what it holds) or failed
 * (MUX_CUT_ERROR).  The session ends without a GoAway: the error handler
 * hears why, then every stream is cut that way.
 */
void		 mux_close(struct mux *, int cut, const char *why);
/*
 * End the session for a reason of the caller's (a flood, say): GoAway with
 * code is queued first, then as for a protocol error.
 */
void		 mux_abort(struct mux *, uint32_t code, const char *why);

/*
 * Bytes to send to the peer, as up to *n iovecs (at most MUX_IOV_MAX; *n
 * is set to the number used), with at most data_max bytes of Data payload
 * (control frames are never held back).  Returns their total length, 0
 * when there is nothing.  The iovecs are good until the next mux_ call on the
 * session, which must be mux_output_done() with the number of bytes
 * actually written (0 if none): only then are frames committed.
 */
size_t		 mux_output_iov(struct mux *, struct iovec *, int *n,
		    size_t data_max);
void		 mux_output_done(struct mux *, size_t n);
/* Non-zero when there is something to send. */
int		 mux_output_pending(const struct mux *);
/*
 * Convenience for tests and tools: all pending output in one contiguous
 * buffer (good until the next mux_ call), then mux_output_done().
 */
size_t		 mux_output(struct mux *, const uint8_t **p);

/*
 * Timers.  mux_tick() runs whatever is due at now (keepalive ping,
 * silence deadline, open and close timeouts).  mux_next_timeout() is the
 * time until the next one is due, in ms, or -1 when none is pending.
 */
void		 mux_tick(struct mux *, uint64_t now);
int64_t		 mux_next_timeout(struct mux *, uint64_t now);

/*
 * Ping with an opaque id; the pong handler reports the round trip.  Starts
 * a silence deadline (ping_timeout_ms) unless one is running.  -1 when the
 * session is dead or seven pings are already outstanding (the deadline
 * still starts).
 */
int		 mux_ping(struct mux *, uint32_t id, uint64_t now);
/* GoAway to the peer: code 0 means "no new streams from me". */
void		 mux_goaway(struct mux *, uint32_t code);

int		 mux_is_dead(const struct mux *);
/* Non-zero once the peer has sent GoAway(0): mux_open() refuses. */
int		 mux_remote_goaway(const struct mux *);
size_t		 mux_stream_count(const struct mux *);
/* Streams we can still open before the id space is used up. */
uint32_t	 mux_ids_left(const struct mux *);
/* Last round trip measured by a pong, ms, or -1 when none yet. */
int64_t		 mux_last_rtt(const struct mux *);
/* The reason the session died, or NULL. */
const char	*mux_error(const struct mux *);
/* Data queued to send, all streams together. */
size_t		 mux_queued(const struct mux *);

/*
 * Streams.  mux_open() queues the SYN (a WindowUpdate carrying the window
 * delta) and returns the stream, or NULL with the reason in *why (session
 * dead, GoAway received or sent, stream limit, MUX_WHY_IDS when the id
 * space is used up, output far beyond output_max).  why may be NULL.
 */
#define MUX_WHY_IDS	"stream ids exhausted"
struct mux_stream	*mux_open(struct mux *, uint64_t now, const char **why);
/*
 * Open a stream whose SYN rides on a Data frame carrying payload (the
 * registration hello).  len must fit in the initial window.
 */
struct mux_stream	*mux_open_data(struct mux *, const uint8_t *, size_t,
			    uint64_t now, const char **why);
/* Accept a peer-opened stream: sends the ACK (exactly once). */
void		 mux_stream_accept(struct mux_stream *);

/*
 * Bytes that may be queued on this stream now: what its send window and
 * its share of the queue allow.  0 also marks the stream as waiting, so
 * that the writable handler tells it when there is room (as does filling
 * all of it).
 */
size_t		 mux_stream_send_space(struct mux_stream *);
/*
 * Queue up to len bytes (copying) and return how many were taken (0 when
 * there is no space).
 */
size_t		 mux_stream_write(struct mux_stream *, const uint8_t *, size_t);
/*
 * Zero-copy queueing: room for *cap (the send space, > 0) bytes at the end
 * of the stream's queue, or NULL when there is no space; fill it, then
 * commit n <= *cap bytes.  Nothing else may be called on the session in
 * between.
 */
uint8_t		*mux_stream_send_buf(struct mux_stream *, size_t *cap);
void		 mux_stream_send_commit(struct mux_stream *, size_t n);
/* Bytes queued on the stream and not yet sent. */
size_t		 mux_stream_unsent(const struct mux_stream *);

/*
 * Half-close our side: FIN after what is queued (at most once; later
 * calls do nothing).  When the peer had already closed its side and
 * nothing was queued, the closed handler may run once the FIN is out.
 */
void		 mux_stream_close(struct mux_stream *);
/*
 * Reset the stream (RST, ahead of any data; what is queued is dropped).
 * The closed handler (not the reset handler) runs before this returns;
 * the handle is invalid afterwards.
 */
void		 mux_stream_reset(struct mux_stream *);
/*
 * n bytes delivered through the data handler have left the caller's
 * hands; reopens the window (an update is sent once at least half the
 * window has been consumed, as hashicorp does).
 */
void		 mux_stream_consumed(struct mux_stream *, size_t n);

uint32_t	 mux_stream_id(const struct mux_stream *);
void		 mux_stream_set_udata(struct mux_stream *, void *);
void		*mux_stream_udata(const struct mux_stream *);
/* Bytes received on the stream and not yet consumed. */
size_t		 mux_stream_buffered(const struct mux_stream *);
/* The window this stream currently grants the peer (grows when tuned). */
uint32_t	 mux_stream_window(const struct mux_stream *);
/* Non-zero once the peer has sent FIN / we have closed our side. */
int		 mux_stream_remote_closed(const struct mux_stream *);
int		 mux_stream_local_closed(const struct mux_stream *);
/* Non-zero once an ACK arrived for a stream we opened (always for theirs). */
int		 mux_stream_acked(const struct mux_stream *);

#endif /* RELAY_MUX_H */
