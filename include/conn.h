/*
 * conn: one TCP connection joined to one stream of a session, copying
 * bytes both ways with flow control and half-close.  The relay's workers
 * join each tunnel client to its stream; relayexpose joins each stream to
 * a connection to its target.  It is the endpoint (session.h) of that
 * stream.
 *
 * Socket -> stream bytes are read straight into the stream's send queue
 * (mux_stream_send_buf); stream -> socket bytes are written straight from
 * the session's input buffer, and only what the socket refuses is kept
 * (bounded by the stream window, since the window reopens only as bytes
 * leave).
 *
 * The life of a connection, one state at a time (docs/DATAPATH.md tells
 * the whole story of a byte and a FIN):
 *
 *   CONNECTING  connect(2) in progress (relayexpose); what the stream sends
 *               meanwhile is kept, and written once connected.
 *   OPEN        bytes flow both ways.  Each direction ends on its own: the
 *               socket's EOF becomes our FIN on the stream (up), the
 *               stream's FIN becomes shutdown(SHUT_WR) once every byte for
 *               the socket is written (down).  Both ended: CLOSED.
 *   ORPHAN      the session ended in good order while bytes for the socket
 *               were still held: they are delivered, then the socket gets
 *               a FIN if the stream had ended with one, or a reset if it
 *               was cut, once the kernel has sent everything.  Bounded by
 *               the set's drain time; past it, a reset.
 *   LINGER      our FIN is out but the peer may still send: its last bytes
 *               are read and dropped until its EOF (closing with unread
 *               bytes would send a reset that destroys what we delivered).
 *               Bounded too.
 *   CLOSED      the socket is closed; freed at the next conn_reap().
 *
 * A reset (RST from the stream, the session's failure, a socket error, a
 * limit) takes any state straight to CLOSED with a reset on the other
 * side too: the socket is closed with SO_LINGER 0, the stream gets RST.
 * Never a clean FIN after a loss.
 */
#ifndef RELAY_CONN_H
#define RELAY_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "ev.h"
#include "mux.h"
#include "net.h"
#include "session.h"
#include "stats.h"

enum conn_state {
	CONN_CONNECTING,
	CONN_OPEN,
	CONN_ORPHAN,
	CONN_LINGER,
	CONN_CLOSED,
};

struct conn;

struct conn_set {
	struct conn		*cs_all;
	unsigned		 cs_count;
	struct conn		*cs_reap;
	struct stats_backend	*cs_stats;	/* NULL: no counters */
	/* How a connection ended, for the summary: socket EOF first, FIN first. */
	const char		*cs_why_eof;
	const char		*cs_why_fin;
	const char		*cs_why_gone;	/* the session failed */
	unsigned		 cs_drain_ms;	/* ORPHAN and LINGER bound */
	/* Called just before a connection is freed (summary log, stats). */
	void			(*cs_closed)(struct conn *);
};

struct conn {
	struct endpoint		 c_ep;		/* first: the stream's udata */
	struct conn_set		*c_set;
	int			 c_fd;
	enum conn_state		 c_state;
	int			 c_up_done;	/* socket EOF read, our FIN queued */
	int			 c_down_fin;	/* the stream's FIN came */
	int			 c_down_shut;	/* ... and our write side is shut */
	int			 c_paused;	/* no send space: not reading */
	int			 c_parked;	/* hung up while paused: out of
						   epoll, read directly */
	int			 c_failed;	/* ended by a reset or an error */
	int			 c_orphaned;	/* the session ended in good order */
	uint64_t		 c_orphan_at;	/* ... at this time (ms) */
	uint8_t			*c_buf;		/* stream -> socket, unwritten */
	size_t			 c_off, c_len, c_cap;
	size_t			 c_pre;		/* of c_len: our preface, not
						   the stream's bytes */
	uint64_t		 c_since;	/* ms, monotonic */
	uint64_t		 c_in;		/* socket -> stream */
	uint64_t		 c_out;		/* stream -> socket */
	const char		*c_end;		/* how it ended */
	struct stats_client	*c_stats;
	struct ev_timer		 c_timer;	/* connect, drain or linger bound */
	struct conn		*c_next, *c_prev;
	struct conn		*c_reap_next;
	char			 c_addr[NET_ADDRSTRLEN];
};

/*
 * Join fd to a stream of session sess.  With connect_ms > 0 the socket is
 * a connection in progress: nothing is read or written until it completes,
 * and the stream is reset when it fails or takes longer than connect_ms.
 */
struct conn	*conn_new(struct conn_set *, struct session *, int fd,
		    struct mux_stream *, unsigned connect_ms);
/*
 * Bytes of our own for the socket ahead of any from the stream (a PROXY
 * header): not counted as the stream's, nor in its window.  Only before
 * the stream's first byte; 0 or -1 (out of memory, or too late).
 */
int		 conn_preface(struct conn *, const uint8_t *, size_t);
/* Non-zero when the connection ended in failure (connect, I/O, reset). */
int		 conn_failed(const struct conn *);
/* Reset every connection of the set (a drain that ran out of time). */
void		 conn_reset_all(struct conn_set *, const char *why);
/* Free the connections that finished; call outside any handler. */
void		 conn_reap(struct conn_set *);

#endif /* RELAY_CONN_H */
