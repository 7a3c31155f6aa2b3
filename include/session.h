/*
 * session: one yamux session over one TCP connection, with its I/O.  The
 * relay's workers (one session per backend) and the backend programs (one
 * session per connection to the relay) run the same code: reading the
 * socket into the mux, writing the mux's output with writev, keeping the
 * kernel's unsent queue small (TCP_NOTSENT_LOWAT) so that control frames
 * wait behind little, the mux's timers, and the end of the session.
 *
 * Every stream of a session carries an endpoint (its udata): an object
 * whose first member is a struct endpoint, told about its stream through
 * struct endpoint_ops.  A client connection of the relay, a connection to
 * relayexpose's target, an echo and a registration stream are endpoints.
 *
 * How a session ends, and what its endpoints are told:
 *   - the peer closed the connection (EOF): every endpoint is cut with
 *     MUX_CUT_EOF, so it delivers what it holds before it ends;
 *   - a protocol error, silence after a ping, mux_abort(): the GoAway we
 *     owe is written ahead of everything else (bounded in time), and every
 *     endpoint is cut with MUX_CUT_ERROR (a reset);
 *   - session_finish(): the owner's own orderly end (a refusal, a
 *     shutdown): what is queued is written, our side is shut, the peer's
 *     EOF is awaited (bounded), and endpoints are cut with MUX_CUT_EOF.
 * The owner learns of the end through session_ops.ended, always from the
 * presleep hook (never from inside a handler), and frees the session there.
 */
#ifndef RELAY_SESSION_H
#define RELAY_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include "ev.h"
#include "mux.h"
#include "noise.h"

struct endpoint;
struct session;

struct endpoint_ops {
	/* Stream payload; the endpoint takes all of it (see mux.h). */
	void	(*data)(struct endpoint *, const uint8_t *, size_t);
	/* The peer half-closed the stream. */
	void	(*fin)(struct endpoint *);
	/* The stream has send space again. */
	void	(*writable)(struct endpoint *);
	/*
	 * The stream was cut (MUX_CUT_*): by a reset, by the session's
	 * failure, or by the session's orderly end.  The stream is gone when
	 * closed follows.  May be NULL.
	 */
	void	(*cut)(struct endpoint *, const char *why, int cut);
	/* The stream is finished and gone; the endpoint may live on. */
	void	(*closed)(struct endpoint *);
	/* Our stream was acknowledged (optional). */
	void	(*acked)(struct endpoint *);
};

struct endpoint {
	const struct endpoint_ops	*ep_ops;
	struct mux_stream		*ep_stream;	/* NULL once gone */
	struct session			*ep_sess;	/* NULL once detached */
	size_t				 ep_held;	/* received bytes it
							   still holds */
	int				 ep_cut;	/* cut was called */
	struct endpoint			*ep_next, *ep_prev;
};

struct session_ops {
	/* The peer opened a stream: attach an endpoint, or reset it. */
	void	(*opened)(void *owner, struct mux_stream *, int syn_type,
		    uint32_t syn_len);
	/* The session is over (why says how); free it with session_free(). */
	void	(*ended)(void *owner, const char *why);
	/* GoAway from the peer (optional). */
	void	(*goaway)(void *owner, uint32_t code);
	/* A reply to session_ping() (optional). */
	void	(*pong)(void *owner, uint32_t id, uint64_t rtt_ms);
	/* The output queue emptied: producers may add more (optional). */
	void	(*drained)(void *owner);
	/* Why the session failed, for the owner's log line (optional). */
	void	(*failed)(void *owner, const char *why);
	/*
	 * The session is ending, however: called once, before any endpoint
	 * is cut (optional).
	 */
	void	(*ending)(void *owner);
};

struct session_config {
	struct mux_config	 sc_mux;
	size_t			 sc_held_max;	/* bytes all endpoints may hold
						   toward their sockets; beyond,
						   the biggest holders are
						   reset (0: no limit) */
	unsigned		 sc_linger_ms;	/* bound on writing what we owe
						   and awaiting the peer's EOF
						   at the end */
	const char		*sc_peer;	/* "backend", "the relay": for
						   the reasons it ended */
	/*
	 * An encrypted session: the cipher states of the finished
	 * handshake (what we send, what we receive), copied by
	 * session_new; the caller wipes its own.  NULL: plain yamux.
	 */
	const struct noise_cs	*sc_tx;
	const struct noise_cs	*sc_rx;
};

/*
 * The record layer of an encrypted session (noise.h): the mux's output is
 * sealed into records in s_obuf, written before the mux is asked for more;
 * what arrives is opened record by record into the mux.
 */
struct session_crypt {
	struct noise_cs		 sx_tx;
	struct noise_rec_rx	 sx_rx;
	size_t			 sx_off, sx_len;	/* sealed, unwritten */
	uint8_t			 sx_obuf[];
};

enum session_state { SS_OPEN, SS_FINISHING, SS_FAILING, SS_DONE };

struct session {
	int				 s_fd;
	struct mux			*s_mux;
	enum session_state		 s_state;
	const struct session_ops	*s_ops;
	void				*s_owner;
	struct session_config		 s_cfg;
	uint8_t				*s_rbuf;	/* the process's */
	size_t				 s_rbuf_size;
	struct endpoint			*s_eps;		/* attached endpoints */
	size_t				 s_held;	/* sum of their ep_held */
	int				 s_shut;	/* our write side shut */
	int				 s_eof;		/* the peer's EOF came */
	int				 s_ended;	/* ended told */
	struct ev_timer			 s_timer;	/* the mux's timers */
	struct ev_timer			 s_linger;	/* bound on the end */
	struct ev_timer			 s_retry;	/* data held back */
	uint64_t			 s_info_at;	/* TCP_INFO read (ms) */
	uint64_t			 s_rate_cur;	/* delivery rate, B/s: */
	uint64_t			 s_rate_prev;	/* max of this window, */
	uint64_t			 s_rate_since;	/* and the last one */
	uint32_t			 s_acked;	/* segments delivered */
	uint64_t			 s_acked_at;	/* ... then (ms) */
	uint32_t			 s_min_rtt_us;
	uint64_t			 s_bytes_in;
	struct session_crypt		*s_crypt;	/* NULL: plain */
	char				 s_why[160];
};

void	 session_config_default(struct session_config *, int role);
/*
 * A session on a connected socket (non-blocking), registered with the
 * event loop.  rbuf is a read buffer the caller owns (shared by all of a
 * process's sessions).  NULL on failure (errno).
 */
struct session	*session_new(int fd, const struct session_config *,
		    const struct session_ops *, void *owner, uint8_t *rbuf,
		    size_t rbuf_size);
/* Close the socket and free everything; endpoints must be detached. */
void	 session_free(struct session *);
/*
 * Run from the process's presleep hook for every session: writes the
 * output, arms the mux's timer, and tells the owner when it has ended.
 */
void	 session_presleep(struct session *);

/*
 * Input that came before the session did (an encrypted session's first
 * record, opened by the relay's master): as if read from the socket.
 */
void	 session_input(struct session *, const uint8_t *, size_t);
/* End the session in good order (see above); why is for the log. */
void	 session_finish(struct session *, const char *why);
/* End it now, without a word to the peer (a registration timed out). */
void	 session_drop(struct session *, const char *why);
/* End it now with GoAway(code) first (a flood, an internal error). */
void	 session_abort(struct session *, uint32_t code, const char *why);
int	 session_ping(struct session *, uint32_t id);
int	 session_alive(const struct session *);	/* SS_OPEN */

/* Endpoints. */
void	 endpoint_attach(struct endpoint *, const struct endpoint_ops *,
	    struct session *, struct mux_stream *);
/* Take it off its session (its stream, if any, is reset). */
void	 endpoint_detach(struct endpoint *);
/* The endpoint holds n more (delta > 0) or fewer bytes. */
void	 endpoint_held(struct endpoint *, long delta);
/* Cut it as a reset: its stream gets RST, it hears cut(why). */
void	 endpoint_reset(struct endpoint *, const char *why);

#endif /* RELAY_SESSION_H */
