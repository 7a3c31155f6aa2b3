/*
 * bridge: joins one TCP socket and one mux stream and copies bytes both
 * ways with flow control and half-close.  The relay's workers bridge each
 * tunnel client to its stream; relayexpose bridges each stream to a
 * connection to its target.
 *
 * Socket -> stream bytes are read straight into the session's output
 * buffer; stream -> socket bytes are written straight from the input
 * buffer, and only what the socket refuses is kept (bounded by the stream
 * window, since the window reopens only as bytes leave).
 */
#ifndef RELAY_BRIDGE_H
#define RELAY_BRIDGE_H

#include <stddef.h>
#include <stdint.h>

#include "ev.h"
#include "mux.h"
#include "net.h"
#include "stats.h"

struct bridge;

struct bridge_set {
	struct mux		*bs_mux;
	size_t			 bs_output_max;	/* stop reading sockets here */
	struct bridge		*bs_all;
	unsigned		 bs_count;
	struct bridge		*bs_waiting;	/* for session output space */
	struct bridge		*bs_reap;
	struct stats_backend	*bs_stats;	/* NULL: no counters */
	uint32_t		 bs_slot;
	/* How a bridge ended, for the summary: socket EOF first, FIN first. */
	const char		*bs_why_eof;
	const char		*bs_why_fin;
	/* Called just before a bridge is freed (summary log, stats). */
	void			(*bs_closed)(struct bridge *);
};

struct bridge {
	int			 b_fd;
	unsigned		 b_flags;
	struct bridge_set	*b_set;
	struct mux_stream	*b_stream;
	struct stats_client	*b_stats;
	uint8_t			*b_buf;		/* stream -> socket, unsent */
	size_t			 b_off, b_len, b_cap;
	uint64_t		 b_since;	/* ms, monotonic */
	uint64_t		 b_in;		/* socket -> stream */
	uint64_t		 b_out;		/* stream -> socket */
	const char		*b_end;		/* how it ended */
	struct ev_timer		 b_timer;	/* connect timeout */
	struct bridge		*b_next, *b_prev;
	struct bridge		*b_wait_next;
	struct bridge		*b_reap_next;
	char			 b_addr[NET_ADDRSTRLEN];
};

/*
 * Join fd and stream.  With connect_ms > 0 the socket is a connection in
 * progress: nothing is read or written until it completes, and the stream
 * is reset when it fails or takes longer than connect_ms.
 */
struct bridge	*bridge_new(struct bridge_set *, int fd, struct mux_stream *,
		    unsigned connect_ms);

/* Forward the mux handlers of a bridged stream (udata is the bridge). */
void		 bridge_on_data(struct bridge *, const uint8_t *, size_t);
void		 bridge_on_fin(struct bridge *);
void		 bridge_on_writable(struct bridge *);
void		 bridge_on_reset(struct bridge *, const char *why);
void		 bridge_on_closed(struct bridge *);

/* Non-zero when the bridge ended in failure (connect, I/O, reset). */
int		 bridge_failed(const struct bridge *);

/*
 * Write the session's output to its connection: 0 when all of it went,
 * 1 when the socket is full (write interest is set), -1 on an error
 * (errno).  Read interest is kept either way.
 */
int		 bridge_flush_session(struct mux *, int fd);

/* The session's output drained below the limit: resume waiting readers. */
void		 bridge_output_drained(struct bridge_set *);
/* Free the bridges that finished; call outside any handler. */
void		 bridge_reap(struct bridge_set *);
/* The session is gone: detach every stream and free every bridge. */
void		 bridge_close_all(struct bridge_set *, const char *why);

#endif /* RELAY_BRIDGE_H */
