/*
 * mux: a yamux session core with no I/O of its own.
 *
 * Wire-compatible with hashicorp/yamux (spec.md in that repository).  The
 * caller feeds the bytes it read from the peer into mux_input(), drains the
 * bytes to send with mux_output()/mux_output_done(), and learns what happened
 * through the handler callbacks.  Time is whatever the caller passes in as
 * "now" (milliseconds, monotonic); there are no hidden timers.
 *
 * Received payload is never buffered here: the data handler gets a pointer
 * into the caller's input buffer and must take all of it (write it out or copy
 * the rest).  The caller reports with mux_stream_consumed() when bytes have
 * really left, which is what reopens the peer's window.  Outgoing payload can
 * be read straight into the output buffer with mux_stream_reserve() and
 * mux_stream_commit(), so a relay copies each byte once.
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
	 * the SYN (MUX_T_DATA when the opening frame had payload, which then
	 * follows through the data handler).  The caller either accepts it
	 * (mux_stream_accept(), which sends the ACK) or resets it.
	 */
	void	(*opened)(void *arg, struct mux_stream *, int syn_type);
	/* Our stream was acknowledged by the peer (its ACK arrived). */
	void	(*acked)(void *arg, struct mux_stream *);
	/*
	 * Payload for a stream, possibly a part of a frame.  The caller must
	 * take all of it; it counts as buffered until mux_stream_consumed().
	 */
	void	(*data)(void *arg, struct mux_stream *, const uint8_t *, size_t);
	/* The peer half-closed its side: no more data on this stream. */
	void	(*fin)(void *arg, struct mux_stream *);
	/* The send window of a stream grew from zero: writing may resume. */
	void	(*writable)(void *arg, struct mux_stream *);
	/*
	 * The stream was reset, by the peer (why = "reset by peer") or locally
	 * because of a limit or a timeout (why says which).  The closed
	 * handler follows.
	 */
	void	(*reset)(void *arg, struct mux_stream *, const char *why);
	/*
	 * The stream is finished (both sides closed, or reset) and is freed
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
	 * The session is dead: a protocol violation by the peer, a keepalive
	 * or open timeout, or a GoAway with a non-zero code from the peer.
	 * Any GoAway we owe the peer is already queued in the output; the
	 * caller should flush it (best effort) and close the connection.
	 * Every live stream gets its reset and closed handlers after this.
	 */
	void	(*error)(void *arg, const char *why);
};

struct mux_config {
	int		 role;			/* MUX_CLIENT or MUX_SERVER */
	uint32_t	 recv_window;		/* per-stream window we advertise,
						   >= MUX_INITIAL_WINDOW (default) */
	uint32_t	 max_streams;		/* concurrent streams, both directions
						   (default 4096); peer's SYN beyond: RST */
	uint32_t	 max_unacked;		/* peer-opened streams not yet accepted
						   (default 256, as hashicorp's backlog);
						   beyond: RST */
	size_t		 session_buf_max;	/* received bytes not yet consumed,
						   all streams together (default 64 MiB);
						   data beyond it resets that stream */
	size_t		 output_max;		/* output buffer bytes the caller has
						   not drained; data writes stop there
						   (default 1 MiB); control frames may
						   exceed it up to 4x, then the session
						   fails ("peer not reading") */
	uint32_t	 max_frame;		/* largest Data frame we send
						   (default 64 KiB) */
	uint64_t	 keepalive_ms;		/* ping interval, 0 = off (default 30 s) */
	uint64_t	 ping_timeout_ms;	/* no pong within: session fails
						   ("keepalive timeout", or "ping
						   timeout" for mux_ping()'s),
						   0 = never (default 10 s) */
	uint64_t	 open_timeout_ms;	/* our SYN without ACK within: session
						   fails ("open timeout"), 0 = off
						   (default 0) */
	uint64_t	 close_timeout_ms;	/* after our FIN, the peer's FIN must
						   come within, else RST, 0 = off
						   (default 0) */
};

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
 * Bytes to send to the peer: *p points at mux_output() of them (0 when there
 * is nothing).  After writing n of them, call mux_output_done(n).  The
 * pointer is good until the next mux_ call on the session.
 */
size_t		 mux_output(struct mux *, const uint8_t **p);
void		 mux_output_done(struct mux *, size_t n);

/*
 * Timers.  mux_tick() runs whatever is due at now (keepalive ping, ping,
 * open and close timeouts).  mux_next_timeout() is the time until the next
 * one is due, in ms, or -1 when none is pending.
 */
void		 mux_tick(struct mux *, uint64_t now);
int64_t		 mux_next_timeout(struct mux *, uint64_t now);

/*
 * Ping with an opaque id; the pong handler reports the round trip.  -1 when
 * the session is dead or seven pings are already outstanding.
 */
int		 mux_ping(struct mux *, uint32_t id, uint64_t now);
/* GoAway to the peer: code 0 means "no new streams from me". */
void		 mux_goaway(struct mux *, uint32_t code);

int		 mux_is_dead(const struct mux *);
/* Non-zero once the peer has sent GoAway(0): mux_open() refuses. */
int		 mux_remote_goaway(const struct mux *);
size_t		 mux_stream_count(const struct mux *);
/* Last round trip measured by a pong, ms, or -1 when none yet. */
int64_t		 mux_last_rtt(const struct mux *);
/* The reason the session died, or NULL. */
const char	*mux_error(const struct mux *);

/*
 * Streams.  mux_open() sends the SYN (a WindowUpdate carrying the window
 * delta) and returns the stream, or NULL with the reason in *why (session
 * dead, GoAway received or sent, stream limit, ids exhausted, output far
 * beyond output_max).  why may be NULL.
 */
struct mux_stream	*mux_open(struct mux *, uint64_t now, const char **why);
/*
 * Open a stream whose SYN rides on a Data frame carrying payload (the
 * registration hello).  len must fit in the initial window.
 */
struct mux_stream	*mux_open_data(struct mux *, const uint8_t *, size_t,
			    uint64_t now, const char **why);
/* Accept a peer-opened stream: sends the ACK (exactly once). */
void		 mux_stream_accept(struct mux_stream *);

/* Bytes we may send now on this stream (peer window, output space). */
size_t		 mux_stream_send_space(const struct mux_stream *);
/*
 * Copying write: queues up to len bytes as Data frames and returns how
 * many were taken (0 when the window or output is full).
 */
size_t		 mux_stream_write(struct mux_stream *, const uint8_t *, size_t);
/*
 * Zero-copy write: reserve space for one Data frame's payload in the output
 * buffer (*cap is set to at most the send space and max_frame; NULL when
 * 0), fill it, then commit n <= *cap bytes (n == 0 cancels).  Nothing else
 * may be queued on the session between reserve and commit.
 */
uint8_t		*mux_stream_reserve(struct mux_stream *, size_t *cap);
void		 mux_stream_commit(struct mux_stream *, size_t n);

/*
 * Half-close our side (FIN, at most once; later calls do nothing).  When the
 * peer had already closed its side, the closed handler runs before this
 * returns and the handle is invalid afterwards.
 */
void		 mux_stream_close(struct mux_stream *);
/*
 * Reset the stream (RST).  The closed handler (not the reset handler) runs
 * before this returns; the handle is invalid afterwards.
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
/* Non-zero once the peer has sent FIN / we have sent FIN. */
int		 mux_stream_remote_closed(const struct mux_stream *);
int		 mux_stream_local_closed(const struct mux_stream *);
/* Non-zero once an ACK arrived for a stream we opened (always for theirs). */
int		 mux_stream_acked(const struct mux_stream *);

#endif /* RELAY_MUX_H */
