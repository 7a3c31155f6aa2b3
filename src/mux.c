/*
 * mux.c: a yamux session core with no I/O of its own.
 *
 * Behaviour follows hashicorp/yamux (the implementation our backends run),
 * see include/mux.h for the contract.  Everything here is driven by the
 * caller: bytes in through mux_input(), frames out through
 * mux_output_iov()/mux_output_done(), time through the "now" arguments.
 *
 * Output is built when the caller asks for it, in this order: the rest of
 * a frame the socket took only in part (it must be finished first or the
 * framing breaks), the control queue (every frame without payload, and the
 * registration hello), then Data frames taken from the streams' own send
 * queues in turn, at most max_frame bytes per stream per turn.  A stream's
 * FIN is framed after its last queued byte.  Frames are committed (windows
 * debited, queues advanced) only when mux_output_done() says they were
 * written, so frames that did not fit are framed again next time, behind
 * any control frame queued meanwhile.
 *
 * Life cycle of the session's death: a failure anywhere only marks the
 * session dead (and queues the GoAway we owe).  The handlers and the freeing
 * of streams run when the outermost mux_ call returns, so no function ever
 * finds a stream freed under its feet halfway through.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mux.h"

/* Per-stream state bits. */
#define SF_OURS		0x001	/* we opened it */
#define SF_ACKED	0x002	/* ours: ACK received; theirs: ACK sent */
#define SF_LFIN		0x004	/* we closed our side (FIN queued) */
#define SF_FIN_OUT	0x008	/* our FIN has been written */
#define SF_RFIN		0x010	/* the peer sent FIN */
#define SF_TIMED	0x020	/* on the timed list */
#define SF_DONE		0x040	/* ending: handlers running, then freed */
#define SF_ACTIVE	0x080	/* on the ring of streams with output */
#define SF_WAIT		0x100	/* found no send space: tell it (writable) */
#define SF_WAITQ	0x200	/* ... and waits on the session's queue */
#define SF_FIN_PLAN	0x400	/* its FIN is in the current output plan */

/*
 * Slot 0 belongs to the keepalive; the others hold pings from mux_ping().
 * A handful is plenty: pings are for liveness and round trips, not a queue.
 */
#define MUX_PINGS	8

/* Keepalive ping ids live in the high half, away from typical caller ids. */
#define MUX_KA_ID_BASE	0x80000000u

/* Drained control buffers larger than this are freed: idle sessions are many. */
#define MUX_CTL_KEEP	(16u * 1024u)
#define MUX_CTL_MIN	1024u

#define MUX_TAB_MIN	16u

/* One planned frame: a header and (unless a FIN) a slice of a queue. */
#define MUX_PLAN_MAX	(MUX_IOV_MAX / 2)

struct mux_stream {
	struct mux		*st_mux;
	void			*st_udata;
	struct mux_stream	*st_hnext;	/* hash chain */
	struct mux_stream	*st_tprev;	/* timed list */
	struct mux_stream	*st_tnext;
	struct mux_stream	*st_aprev;	/* ring of streams with output */
	struct mux_stream	*st_anext;
	struct mux_stream	*st_wprev;	/* waiting for queue space */
	struct mux_stream	*st_wnext;
	uint64_t		 st_open_dl;	/* ACK due by, 0 = none */
	uint64_t		 st_close_dl;	/* peer FIN due by, 0 = none */
	uint64_t		 st_cycle;	/* when the last window update went */
	uint32_t		 st_id;
	uint32_t		 st_flags;
	uint32_t		 st_send_window; /* the peer allows us */
	uint32_t		 st_recv_window; /* we still allow it */
	uint32_t		 st_recv_max;	/* its window: what we grant */
	uint32_t		 st_buffered;	/* delivered, not consumed */
	/* Send queue: bytes [st_soff, st_soff + st_slen) of st_sbuf. */
	uint8_t			*st_sbuf;
	uint32_t		 st_soff;
	uint32_t		 st_slen;
	uint32_t		 st_scap;
	uint32_t		 st_planned;	/* of st_slen, in the current plan */
};

struct mux_ping_slot {
	uint64_t	 ps_sent;
	uint32_t	 ps_id;
	int		 ps_used;
};

struct mux_plan {
	struct mux_stream	*pl_s;
	uint32_t		 pl_len;	/* payload bytes */
	int			 pl_fin;	/* a FIN frame, no payload */
	uint8_t			 pl_hdr[MUX_HEADER_SIZE];
};

struct mux {
	struct mux_config	 cfg;
	struct mux_handlers	 h;
	void			*arg;
	uint64_t		 now;

	/* Streams, hashed by id with chaining. */
	struct mux_stream	**tab;
	size_t			 tab_size;	/* power of two, or 0 */
	size_t			 nstreams;
	uint32_t		 unacked;	/* peer-opened, not accepted */
	uint32_t		 next_id;
	size_t			 buffered;	/* sum of st_buffered */
	size_t			 queued;	/* sum of st_slen */
	size_t			 grown;		/* sum of windows beyond recv_window */

	/* Streams with a deadline, unsorted; hint <= the earliest one. */
	struct mux_stream	*timed_head;
	struct mux_stream	*timed_tail;
	uint64_t		 timer_hint;

	/* Streams with data or a FIN to send, in turn order. */
	struct mux_stream	*ring_head;
	struct mux_stream	*ring_tail;
	/* Streams waiting for the session's queue to drain. */
	struct mux_stream	*wait_head;

	/* Control queue: bytes [ctl_head, ctl_tail) of ctl. */
	uint8_t			*ctl;
	size_t			 ctl_head;
	size_t			 ctl_tail;
	size_t			 ctl_cap;
	/* The unwritten rest of a frame the caller wrote in part. */
	uint8_t			*part;
	size_t			 part_off;
	size_t			 part_len;
	size_t			 part_cap;
	/* The frames handed out by the last mux_output_iov(). */
	struct mux_plan		 plan[MUX_PLAN_MAX];
	int			 nplan;
	size_t			 plan_part;	/* bytes of part and ctl in it */
	size_t			 plan_ctl;
	/* mux_output()'s contiguous copy. */
	uint8_t			*lin;
	size_t			 lin_cap;

	/* Input: a partial header, then the payload of the current frame. */
	uint8_t			 hbuf[MUX_HEADER_SIZE];
	size_t			 hlen;
	uint32_t		 cur_id;
	uint32_t		 cur_left;	/* payload still to come */
	int			 cur_deliver;	/* 0: skip them */
	int			 cur_fin;	/* FIN after the payload */

	struct mux_ping_slot	 pings[MUX_PINGS];
	uint64_t		 ka_next;	/* next keepalive ping */
	uint32_t		 ka_seq;
	int64_t			 last_rtt;
	uint64_t		 min_rtt;	/* least seen, UINT64_MAX: none */
	uint64_t		 silence_dl;	/* input due by, 0 = none */
	uint64_t		 silence_from;	/* when that deadline was set */

	int			 depth;		/* nesting of mux_ calls */
	int			 dead;
	int			 cut;		/* MUX_CUT_* for the streams */
	int			 torn_down;
	int			 local_goaway;
	int			 remote_goaway;
	const char		*why;
	char			 why_buf[48];
};

/* For tests only: reach the end of the id space without 2^31 opens. */
void	mux_test_set_next_id(struct mux *, uint32_t);

static void	teardown(struct mux *);
static void	stream_end(struct mux_stream *, const char *);
static void	window_update(struct mux_stream *, uint16_t);
static void	ring_update(struct mux_stream *);
static void	wait_check(struct mux_stream *);

/*
 * Header encoding.
 */

static void
put32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static uint32_t
get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

void
mux_hdr_encode(uint8_t out[MUX_HEADER_SIZE], const struct mux_hdr *h)
{
	out[0] = h->version;
	out[1] = h->type;
	out[2] = h->flags >> 8;
	out[3] = h->flags;
	put32(out + 4, h->stream_id);
	put32(out + 8, h->length);
}

void
mux_hdr_decode(struct mux_hdr *h, const uint8_t in[MUX_HEADER_SIZE])
{
	h->version = in[0];
	h->type = in[1];
	h->flags = (uint16_t)(in[2] << 8 | in[3]);
	h->stream_id = get32(in + 4);
	h->length = get32(in + 8);
}

static void
hdr_put(uint8_t *p, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
	struct mux_hdr	h;

	h.version = MUX_VERSION;
	h.type = type;
	h.flags = flags;
	h.stream_id = id;
	h.length = len;
	mux_hdr_encode(p, &h);
}

/*
 * Configuration.
 */

void
mux_config_default(struct mux_config *c, int role)
{
	memset(c, 0, sizeof(*c));
	c->role = role;
	c->recv_window = MUX_INITIAL_WINDOW;
	c->recv_window_max = MUX_INITIAL_WINDOW;
	c->recv_budget = 64u * 1024 * 1024;
	c->max_streams = 4096;
	c->max_unacked = 256;
	c->output_max = 1024u * 1024;
	c->stream_send_max = 256u * 1024;
	c->max_frame = 64u * 1024;
	c->keepalive_ms = 30000;
	c->ping_timeout_ms = 10000;
	c->open_timeout_ms = 0;
	c->close_timeout_ms = 0;
}

/*
 * Entry and exit of every mux_ function that may queue frames or run
 * handlers.  The teardown of a dead session waits for the outermost one.
 * Any such call also invalidates the last output plan.
 */

static void
enter(struct mux *m)
{
	m->depth++;
}

static void
leave(struct mux *m)
{
	if (--m->depth == 0 && m->dead && !m->torn_down)
		teardown(m);
}

static void
plan_drop(struct mux *m)
{
	int	 i;

	for (i = 0; i < m->nplan; i++) {
		if (m->plan[i].pl_s != NULL) {
			m->plan[i].pl_s->st_planned = 0;
			m->plan[i].pl_s->st_flags &= ~SF_FIN_PLAN;
		}
	}
	m->nplan = 0;
	m->plan_part = m->plan_ctl = 0;
}

/*
 * The control queue.
 */

static size_t
ctl_pending(const struct mux *m)
{
	return m->ctl_tail - m->ctl_head;
}

/* Room for n more bytes at the tail; NULL when memory ran out. */
static uint8_t *
ctl_space(struct mux *m, size_t n)
{
	size_t	 pending = ctl_pending(m), ncap;
	uint8_t	*nb;

	if (pending == 0)
		m->ctl_head = m->ctl_tail = 0;
	if (m->ctl != NULL && m->ctl_cap - m->ctl_tail >= n)
		return m->ctl + m->ctl_tail;
	/* Sliding the queue down is cheap once most of it has been sent. */
	if (m->ctl != NULL && pending + n <= m->ctl_cap &&
	    m->ctl_head >= m->ctl_cap / 2) {
		memmove(m->ctl, m->ctl + m->ctl_head, pending);
		m->ctl_head = 0;
		m->ctl_tail = pending;
		return m->ctl + m->ctl_tail;
	}
	ncap = m->ctl_cap ? m->ctl_cap : MUX_CTL_MIN;
	while (ncap < pending + n) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	if ((nb = malloc(ncap)) == NULL)
		return NULL;
	if (pending > 0)
		memcpy(nb, m->ctl + m->ctl_head, pending);
	free(m->ctl);
	m->ctl = nb;
	m->ctl_cap = ncap;
	m->ctl_head = 0;
	m->ctl_tail = pending;
	return m->ctl + m->ctl_tail;
}

/*
 * Mark the session dead; handlers and frees wait for leave().  The GoAway
 * we owe goes into the control queue, which is written before anything
 * but the rest of a frame already begun; no data is framed any more.
 */
static void
mux_fail(struct mux *m, const char *why, int goaway_code, int cut)
{
	uint8_t	*p;

	if (m->dead)
		return;
	m->dead = 1;
	m->why = why;
	m->cut = cut;
	plan_drop(m);
	if (goaway_code >= 0) {
		m->local_goaway = 1;
		/* Owed to the peer whatever the output limits say. */
		if ((p = ctl_space(m, MUX_HEADER_SIZE)) != NULL) {
			hdr_put(p, MUX_T_GOAWAY, 0, 0, (uint32_t)goaway_code);
			m->ctl_tail += MUX_HEADER_SIZE;
		}
	}
}

static void
proto_error(struct mux *m, const char *why)
{
	mux_fail(m, why, MUX_GOAWAY_PROTOCOL, MUX_CUT_ERROR);
}

/*
 * Queue a control frame (len is its length field; payload, if any, is
 * len bytes).  These are never refused (the peer must get its ACKs, pongs
 * and RSTs), but a peer that lets them pile up far beyond output_max is
 * not reading at all.
 */
static void
push_frame(struct mux *m, uint8_t type, uint16_t flags, uint32_t id,
    uint32_t len, const uint8_t *payload)
{
	size_t	 plen = payload != NULL ? len : 0;
	uint8_t	*p;

	if (m->dead)
		return;
	if ((p = ctl_space(m, MUX_HEADER_SIZE + plen)) == NULL) {
		mux_fail(m, "out of memory", -1, MUX_CUT_ERROR);
		return;
	}
	hdr_put(p, type, flags, id, len);
	if (plen > 0)
		memcpy(p + MUX_HEADER_SIZE, payload, plen);
	m->ctl_tail += MUX_HEADER_SIZE + plen;
	if (ctl_pending(m) / 4 > m->cfg.output_max)
		mux_fail(m, "peer not reading", -1, MUX_CUT_ERROR);
}

static void
push_ctl(struct mux *m, uint8_t type, uint16_t flags, uint32_t id,
    uint32_t len)
{
	push_frame(m, type, flags, id, len, NULL);
}

/*
 * Stream table.
 */

static size_t
tab_slot(const struct mux *m, uint32_t id)
{
	/* Ids go up by two: mix them so both parities spread evenly. */
	return (size_t)((id * 0x9e3779b1u) >> 7 ^ id) & (m->tab_size - 1);
}

static struct mux_stream *
stream_find(const struct mux *m, uint32_t id)
{
	struct mux_stream	*s;

	if (m->tab_size == 0)
		return NULL;
	for (s = m->tab[tab_slot(m, id)]; s != NULL; s = s->st_hnext)
		if (s->st_id == id)
			return s;
	return NULL;
}

static void
tab_grow(struct mux *m)
{
	struct mux_stream	**ntab, **otab = m->tab, *s, *next;
	size_t			  osize = m->tab_size, i, nsize;

	nsize = osize ? osize * 2 : MUX_TAB_MIN;
	if ((ntab = calloc(nsize, sizeof(*ntab))) == NULL)
		return;		/* longer chains, still correct */
	m->tab = ntab;
	m->tab_size = nsize;
	for (i = 0; i < osize; i++) {
		for (s = otab[i]; s != NULL; s = next) {
			next = s->st_hnext;
			s->st_hnext = ntab[tab_slot(m, s->st_id)];
			ntab[tab_slot(m, s->st_id)] = s;
		}
	}
	free(otab);
}

/* A new stream in the table, or NULL when out of memory. */
static struct mux_stream *
stream_new(struct mux *m, uint32_t id, uint32_t flags)
{
	struct mux_stream	*s;
	size_t			 slot;

	if (m->nstreams >= m->tab_size)
		tab_grow(m);
	if (m->tab_size == 0)
		return NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->st_mux = m;
	s->st_id = id;
	s->st_flags = flags;
	s->st_send_window = MUX_INITIAL_WINDOW;
	s->st_recv_window = MUX_INITIAL_WINDOW;
	s->st_recv_max = MUX_INITIAL_WINDOW;
	s->st_cycle = m->now;
	slot = tab_slot(m, id);
	s->st_hnext = m->tab[slot];
	m->tab[slot] = s;
	m->nstreams++;
	if (!(flags & SF_OURS))
		m->unacked++;
	return s;
}

static void
timed_unlink(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (!(s->st_flags & SF_TIMED))
		return;
	if (s->st_tprev)
		s->st_tprev->st_tnext = s->st_tnext;
	else
		m->timed_head = s->st_tnext;
	if (s->st_tnext)
		s->st_tnext->st_tprev = s->st_tprev;
	else
		m->timed_tail = s->st_tprev;
	s->st_tprev = s->st_tnext = NULL;
	s->st_flags &= ~SF_TIMED;
}

/* Called after setting or clearing one of the stream's deadlines. */
static void
timed_update(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;
	uint64_t	 dl;

	if (s->st_open_dl == 0 && s->st_close_dl == 0) {
		timed_unlink(s);
		return;
	}
	dl = s->st_open_dl;
	if (dl == 0 || (s->st_close_dl != 0 && s->st_close_dl < dl))
		dl = s->st_close_dl;
	if (m->timed_head == NULL || dl < m->timer_hint)
		m->timer_hint = dl;
	if (s->st_flags & SF_TIMED)
		return;
	s->st_tprev = m->timed_tail;
	s->st_tnext = NULL;
	if (m->timed_tail)
		m->timed_tail->st_tnext = s;
	else
		m->timed_head = s;
	m->timed_tail = s;
	s->st_flags |= SF_TIMED;
}

/*
 * The ring of streams with output, and the streams waiting for space.
 */

static void
ring_unlink(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (!(s->st_flags & SF_ACTIVE))
		return;
	if (s->st_aprev)
		s->st_aprev->st_anext = s->st_anext;
	else
		m->ring_head = s->st_anext;
	if (s->st_anext)
		s->st_anext->st_aprev = s->st_aprev;
	else
		m->ring_tail = s->st_aprev;
	s->st_aprev = s->st_anext = NULL;
	s->st_flags &= ~SF_ACTIVE;
}

static void
ring_append(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	s->st_aprev = m->ring_tail;
	s->st_anext = NULL;
	if (m->ring_tail)
		m->ring_tail->st_anext = s;
	else
		m->ring_head = s;
	m->ring_tail = s;
	s->st_flags |= SF_ACTIVE;
}

/* A stream has output when it may send data or its FIN is due. */
static int
has_output(const struct mux_stream *s)
{
	if (s->st_mux->dead || (s->st_flags & SF_DONE))
		return 0;
	if (s->st_slen > 0)
		return s->st_send_window > 0;
	return (s->st_flags & (SF_LFIN | SF_FIN_OUT)) == SF_LFIN;
}

static void
ring_update(struct mux_stream *s)
{
	int	 want = has_output(s);

	if (want && !(s->st_flags & SF_ACTIVE))
		ring_append(s);
	else if (!want)
		ring_unlink(s);
}

/* Its turn is over: to the back of the ring. */
static void
ring_rotate(struct mux_stream *s)
{
	if (!(s->st_flags & SF_ACTIVE) || s->st_mux->ring_tail == s)
		return;
	ring_unlink(s);
	ring_append(s);
}

static void
waitq_unlink(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (!(s->st_flags & SF_WAITQ))
		return;
	if (s->st_wprev)
		s->st_wprev->st_wnext = s->st_wnext;
	else
		m->wait_head = s->st_wnext;
	if (s->st_wnext)
		s->st_wnext->st_wprev = s->st_wprev;
	s->st_wprev = s->st_wnext = NULL;
	s->st_flags &= ~SF_WAITQ;
}

/*
 * Send space of a stream: what its window and its own queue limit allow,
 * and what the session's queue allows.  *session is set when the session's
 * queue is what limits it.
 */
static size_t
space_of(const struct mux_stream *s, int *session)
{
	const struct mux	*m = s->st_mux;
	size_t			 own, room, lim;

	*session = 0;
	if (m->dead || (s->st_flags & (SF_DONE | SF_LFIN)))
		return 0;
	lim = s->st_send_window < m->cfg.stream_send_max ?
	    s->st_send_window : m->cfg.stream_send_max;
	own = lim > s->st_slen ? lim - s->st_slen : 0;
	room = m->queued < m->cfg.output_max ? m->cfg.output_max - m->queued : 0;
	if (room < own) {
		*session = 1;
		return room;
	}
	return own;
}

/* A waiting stream may have space now: tell it. */
static void
wait_check(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;
	int		 session;

	if (!(s->st_flags & SF_WAIT) || m->dead)
		return;
	if (space_of(s, &session) == 0) {
		if (session && !(s->st_flags & SF_WAITQ)) {
			s->st_wprev = NULL;
			s->st_wnext = m->wait_head;
			if (m->wait_head)
				m->wait_head->st_wprev = s;
			m->wait_head = s;
			s->st_flags |= SF_WAITQ;
		}
		return;
	}
	waitq_unlink(s);
	s->st_flags &= ~SF_WAIT;
	if (m->h.writable != NULL)
		m->h.writable(m->arg, s);
}

/* The session's queue shrank: wake the streams waiting on it. */
static void
wake_waiters(struct mux *m)
{
	struct mux_stream	*s;
	uint32_t		 id;

	while ((s = m->wait_head) != NULL && !m->dead &&
	    m->queued < m->cfg.output_max) {
		id = s->st_id;
		waitq_unlink(s);
		wait_check(s);
		/* A handler may have queued again, or ended streams. */
		if ((s = stream_find(m, id)) != NULL &&
		    (s->st_flags & SF_WAITQ))
			break;
	}
}

static void
sbuf_free(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	m->queued -= s->st_slen;
	free(s->st_sbuf);
	s->st_sbuf = NULL;
	s->st_soff = s->st_slen = s->st_scap = s->st_planned = 0;
}

/* Take the stream out of the table and all accounting. */
static void
stream_detach(struct mux_stream *s)
{
	struct mux		 *m = s->st_mux;
	struct mux_stream	**pp;
	int			  i;

	for (pp = &m->tab[tab_slot(m, s->st_id)]; *pp != NULL;
	    pp = &(*pp)->st_hnext) {
		if (*pp == s) {
			*pp = s->st_hnext;
			break;
		}
	}
	m->nstreams--;
	timed_unlink(s);
	ring_unlink(s);
	waitq_unlink(s);
	sbuf_free(s);
	m->buffered -= s->st_buffered;
	if (s->st_recv_max > m->cfg.recv_window)
		m->grown -= s->st_recv_max - m->cfg.recv_window;
	if (!(s->st_flags & (SF_OURS | SF_ACKED)))
		m->unacked--;
	if (m->cur_id == s->st_id) {
		/* The rest of the frame in flight is for nobody now. */
		m->cur_deliver = 0;
		m->cur_fin = 0;
	}
	/* The plan may name it; it must not outlive it. */
	for (i = 0; i < m->nplan; i++)
		if (m->plan[i].pl_s == s)
			m->plan[i].pl_s = NULL;
}

/*
 * The stream is finished: reset handler (when why is set), closed handler,
 * free.  On a dead session the teardown does this for every stream.
 */
static void
stream_end(struct mux_stream *s, const char *why)
{
	struct mux	*m = s->st_mux;

	if (m->dead || (s->st_flags & SF_DONE))
		return;
	s->st_flags |= SF_DONE;
	stream_detach(s);
	if (why != NULL && m->h.reset != NULL)
		m->h.reset(m->arg, s, why, MUX_CUT_RESET);
	if (m->h.closed != NULL)
		m->h.closed(m->arg, s);
	free(s);
	if (m->wait_head != NULL)
		wake_waiters(m);
}

static void
teardown(struct mux *m)
{
	struct mux_stream	*s;
	size_t			 i;

	m->torn_down = 1;
	m->depth++;		/* handlers may call us; nothing must recurse */
	if (m->h.error != NULL)
		m->h.error(m->arg, m->why);
	for (i = 0; i < m->tab_size; i++) {
		while ((s = m->tab[i]) != NULL) {
			s->st_flags |= SF_DONE;
			stream_detach(s);
			if (m->h.reset != NULL)
				m->h.reset(m->arg, s, m->why, m->cut);
			if (m->h.closed != NULL)
				m->h.closed(m->arg, s);
			free(s);
		}
	}
	m->depth--;
}

/*
 * The ACK of a peer-opened stream goes with the first frame we send on it
 * (hashicorp's sendFlags); mux_stream_accept() sends it on its own.
 */
static uint16_t
send_flags(struct mux_stream *s)
{
	if (s->st_flags & (SF_OURS | SF_ACKED))
		return 0;
	s->st_flags |= SF_ACKED;
	s->st_mux->unacked--;
	return MUX_F_ACK;
}

static uint64_t
mux_now(const struct mux *m)
{
	return m->cfg.clock != NULL ? m->cfg.clock() : m->now;
}

/*
 * Reopen the peer's window as hashicorp's sendWindowUpdate does: grant
 * what the caller has consumed once it reaches half the window, or right
 * away when flags (SYN, ACK) must go out anyway.  A window that was used
 * up in less than two round trips doubles first, within the budget: the
 * peer could send faster than the window lets it.
 */
static void
window_update(struct mux_stream *s, uint16_t flags)
{
	struct mux	*m = s->st_mux;
	uint64_t	 max = s->st_recv_max, used, delta, grow, now;

	if (flags == 0) {
		/* The ACK must come from accept, not from consumption. */
		if (!(s->st_flags & (SF_OURS | SF_ACKED)))
			return;
		/* The peer is done sending: nothing to open. */
		if (s->st_flags & SF_RFIN)
			return;
	}
	used = (uint64_t)s->st_buffered + s->st_recv_window;
	if (m->cur_deliver && m->cur_id == s->st_id)
		used += m->cur_left;
	delta = used < max ? max - used : 0;
	if (delta < max / 2 && flags == 0)
		return;
	now = mux_now(m);
	/* The least round trip: one inflated by a queue would flatter. */
	if (flags == 0 && m->min_rtt != UINT64_MAX && m->min_rtt > 0 &&
	    max < m->cfg.recv_window_max &&
	    now - s->st_cycle < 2 * m->min_rtt) {
		grow = max;
		if (grow > m->cfg.recv_window_max - max)
			grow = m->cfg.recv_window_max - max;
		if (m->grown + grow <= m->cfg.recv_budget) {
			m->grown += grow;
			s->st_recv_max += (uint32_t)grow;
			delta += grow;
		}
	}
	s->st_cycle = now;
	s->st_recv_window += (uint32_t)delta;
	push_ctl(m, MUX_T_WINDOW_UPDATE, flags, s->st_id, (uint32_t)delta);
}

/*
 * Accept a peer-opened stream: the ACK goes now, with the delta of our
 * window beyond the spec's default.
 */
static void
accept_now(struct mux_stream *s)
{
	if (s->st_flags & (SF_OURS | SF_ACKED))
		return;
	s->st_recv_max = s->st_mux->cfg.recv_window;
	window_update(s, send_flags(s));
}

/* RST our side for a local reason; the handlers hear why. */
static void
stream_reset_local(struct mux_stream *s, const char *why)
{
	struct mux	*m = s->st_mux;

	push_ctl(m, MUX_T_WINDOW_UPDATE, MUX_F_RST | send_flags(s), s->st_id,
	    0);
	stream_end(s, why);
}

/* Our FIN is out: the stream ends once the peer's came too. */
static void
fin_sent(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	s->st_flags |= SF_FIN_OUT;
	ring_update(s);
	if (s->st_flags & SF_RFIN)
		stream_end(s, NULL);
	else if (m->cfg.close_timeout_ms > 0) {
		s->st_close_dl = m->now + m->cfg.close_timeout_ms;
		timed_update(s);
	}
}

/*
 * Input.
 */

static void
skip_payload(struct mux *m, uint32_t id, uint32_t len)
{
	m->cur_id = id;
	m->cur_left = len;
	m->cur_deliver = 0;
	m->cur_fin = 0;
}

/* The peer's FIN took effect (after any payload on the same frame). */
static void
remote_fin(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;
	uint32_t	 id = s->st_id;

	s->st_flags |= SF_RFIN;
	if (s->st_close_dl != 0) {
		s->st_close_dl = 0;
		timed_update(s);
	}
	if (m->h.fin != NULL)
		m->h.fin(m->arg, s);
	if (m->dead || (s = stream_find(m, id)) == NULL)
		return;
	if (s->st_flags & SF_FIN_OUT)
		stream_end(s, NULL);
}

static void
input_ping(struct mux *m, const struct mux_hdr *h)
{
	struct mux_ping_slot	*ps;
	uint64_t		 rtt;
	int			 i;

	if (h->flags & MUX_F_SYN) {
		push_ctl(m, MUX_T_PING, MUX_F_ACK, 0, h->length);
		return;
	}
	/* A reply: hashicorp treats any Ping without SYN as one. */
	for (i = 0; i < MUX_PINGS; i++) {
		ps = &m->pings[i];
		if (!ps->ps_used || ps->ps_id != h->length)
			continue;
		ps->ps_used = 0;
		/* An answer to a ping sent since the deadline began: alive. */
		if (m->silence_dl != 0 && ps->ps_sent >= m->silence_from)
			m->silence_dl = 0;
		rtt = m->now >= ps->ps_sent ? m->now - ps->ps_sent : 0;
		m->last_rtt = rtt > INT64_MAX ? INT64_MAX : (int64_t)rtt;
		if (rtt < m->min_rtt)
			m->min_rtt = rtt;
		if (i == 0)
			return;
		if (m->h.pong != NULL)
			m->h.pong(m->arg, h->length, rtt);
		return;
	}
}

static void
input_goaway(struct mux *m, const struct mux_hdr *h)
{
	uint32_t	 code = h->length;
	char		 digits[12], *d;
	size_t		 n;

	if (code == MUX_GOAWAY_NORMAL)
		m->remote_goaway = 1;
	if (m->h.goaway != NULL)
		m->h.goaway(m->arg, code);
	if (code == MUX_GOAWAY_NORMAL || m->dead)
		return;
	if (code == MUX_GOAWAY_PROTOCOL) {
		mux_fail(m, "remote goaway: protocol error", -1, MUX_CUT_ERROR);
		return;
	}
	if (code == MUX_GOAWAY_INTERNAL) {
		mux_fail(m, "remote goaway: internal error", -1, MUX_CUT_ERROR);
		return;
	}
	d = digits + sizeof(digits);
	*--d = '\0';
	do {
		*--d = '0' + code % 10;
		code /= 10;
	} while (code != 0);
	n = strlen("remote goaway: code ");
	memcpy(m->why_buf, "remote goaway: code ", n);
	memcpy(m->why_buf + n, d, strlen(d) + 1);
	mux_fail(m, m->why_buf, -1, MUX_CUT_ERROR);
}

/* A new stream from the peer, or NULL when refused (RST already queued). */
static struct mux_stream *
input_syn(struct mux *m, uint32_t id)
{
	struct mux_stream	*s = NULL;

	/* Refusals are per stream, as hashicorp does for its backlog. */
	if (!m->local_goaway && m->nstreams < m->cfg.max_streams &&
	    m->unacked < m->cfg.max_unacked)
		s = stream_new(m, id, 0);
	if (s == NULL)
		push_ctl(m, MUX_T_WINDOW_UPDATE, MUX_F_RST, id, 0);
	return s;
}

/* A Data or WindowUpdate header. */
static void
input_stream(struct mux *m, const struct mux_hdr *h)
{
	struct mux_stream	*s;
	uint32_t		 id = h->stream_id, len = h->length;
	int			 data = h->type == MUX_T_DATA, created = 0;
	uint16_t		 fl = h->flags;

	/* Nothing we advertised allows this much, whatever the stream. */
	if (data && len > m->cfg.recv_window_max) {
		proto_error(m, "data beyond window");
		return;
	}
	if (fl & MUX_F_SYN) {
		if (id == 0 || (id & 1) != (m->cfg.role == MUX_SERVER)) {
			proto_error(m, "SYN with wrong stream id parity");
			return;
		}
		if (stream_find(m, id) != NULL) {
			proto_error(m, "duplicate SYN");
			return;
		}
		if (data && len > MUX_INITIAL_WINDOW) {
			proto_error(m, "data beyond window");
			return;
		}
		if (!data && len > UINT32_MAX - MUX_INITIAL_WINDOW) {
			proto_error(m, "window overflow");
			return;
		}
		if ((s = input_syn(m, id)) == NULL || m->dead) {
			if (data)
				skip_payload(m, id, len);
			return;
		}
		created = 1;
	} else if ((s = stream_find(m, id)) == NULL) {
		/* Likely one we reset: drain it, touch no window. */
		if (data)
			skip_payload(m, id, len);
		return;
	} else {
		if (data && len > s->st_recv_window) {
			proto_error(m, "data beyond window");
			return;
		}
		if ((fl & MUX_F_FIN) && (s->st_flags & SF_RFIN)) {
			proto_error(m, "second FIN");
			return;
		}
		if (!data && len > UINT32_MAX - s->st_send_window) {
			proto_error(m, "window overflow");
			return;
		}
	}

	/* Flags first, as hashicorp's processFlags; each handler may end s. */
	if (created && m->h.opened != NULL) {
		m->h.opened(m->arg, s, h->type, len);
		if (m->dead || (s = stream_find(m, id)) == NULL)
			goto gone;
	}
	if ((fl & MUX_F_ACK) && (s->st_flags & SF_OURS) &&
	    !(s->st_flags & SF_ACKED)) {
		s->st_flags |= SF_ACKED;
		if (s->st_open_dl != 0) {
			s->st_open_dl = 0;
			timed_update(s);
		}
		if (m->h.acked != NULL) {
			m->h.acked(m->arg, s);
			if (m->dead || (s = stream_find(m, id)) == NULL)
				goto gone;
		}
	}
	if (fl & MUX_F_RST) {
		stream_end(s, "reset by peer");
		goto gone;
	}

	if (!data) {
		s->st_send_window += len;
		if (len > 0) {
			ring_update(s);
			wait_check(s);
			if (m->dead || (s = stream_find(m, id)) == NULL)
				return;
		}
		if (fl & MUX_F_FIN)
			remote_fin(s);
		return;
	}

	if (s->st_flags & SF_RFIN) {
		/*
		 * Data after the peer's FIN: the caller has seen the end of
		 * the stream already.  Drop it rather than resurrect it.
		 */
		skip_payload(m, id, len);
		return;
	}
	s->st_recv_window -= len;
	if (len == 0) {
		if (fl & MUX_F_FIN)
			remote_fin(s);
		return;
	}
	m->cur_id = id;
	m->cur_left = len;
	m->cur_deliver = 1;
	m->cur_fin = (fl & MUX_F_FIN) != 0;
	return;
gone:
	if (data)
		skip_payload(m, id, len);
}

static void
input_frame(struct mux *m, const struct mux_hdr *h)
{
	if (h->version != MUX_VERSION) {
		proto_error(m, "bad version");
		return;
	}
	switch (h->type) {
	case MUX_T_DATA:
	case MUX_T_WINDOW_UPDATE:
		input_stream(m, h);
		break;
	case MUX_T_PING:
		input_ping(m, h);
		break;
	case MUX_T_GOAWAY:
		input_goaway(m, h);
		break;
	default:
		proto_error(m, "bad frame type");
		break;
	}
}

int
mux_input(struct mux *m, const uint8_t *p, size_t len, uint64_t now)
{
	struct mux_stream	*s;
	struct mux_hdr		 h;
	size_t			 n;

	if (m->dead)
		return -1;
	m->now = now;
	enter(m);
	plan_drop(m);
	/*
	 * Liveness is silence, not lateness: anything from the peer after a
	 * ping proves it is there, whether or not the pong came yet.  Bytes
	 * read in the same millisecond may have left before the ping did.
	 */
	if (len > 0 && m->silence_dl != 0 && now > m->silence_from)
		m->silence_dl = 0;
	while (len > 0 && !m->dead) {
		if (m->cur_left > 0) {
			n = len < m->cur_left ? len : m->cur_left;
			m->cur_left -= (uint32_t)n;
			if (m->cur_deliver &&
			    (s = stream_find(m, m->cur_id)) != NULL) {
				s->st_buffered += (uint32_t)n;
				m->buffered += n;
				if (m->h.data != NULL)
					m->h.data(m->arg, s, p, n);
			}
			p += n;
			len -= n;
			if (m->cur_left == 0 && !m->dead) {
				if (m->cur_deliver && m->cur_fin &&
				    (s = stream_find(m, m->cur_id)) != NULL) {
					m->cur_deliver = 0;
					m->cur_fin = 0;
					remote_fin(s);
				}
				m->cur_deliver = 0;
				m->cur_fin = 0;
			}
			continue;
		}
		n = MUX_HEADER_SIZE - m->hlen;
		if (n > len)
			n = len;
		memcpy(m->hbuf + m->hlen, p, n);
		m->hlen += n;
		p += n;
		len -= n;
		if (m->hlen < MUX_HEADER_SIZE)
			break;
		m->hlen = 0;
		mux_hdr_decode(&h, m->hbuf);
		input_frame(m, &h);
	}
	leave(m);
	return m->dead ? -1 : 0;
}

void
mux_close(struct mux *m, int cut, const char *why)
{
	if (m->dead)
		return;
	enter(m);
	mux_fail(m, why != NULL ? why : "connection closed", -1,
	    cut == MUX_CUT_EOF ? MUX_CUT_EOF : MUX_CUT_ERROR);
	leave(m);
}

void
mux_abort(struct mux *m, uint32_t code, const char *why)
{
	if (m->dead)
		return;
	enter(m);
	mux_fail(m, why, (int)code, MUX_CUT_ERROR);
	leave(m);
}

/*
 * Output.
 */

int
mux_output_pending(const struct mux *m)
{
	if (m->part_len > m->part_off || ctl_pending(m) > 0)
		return 1;
	return m->ring_head != NULL && !m->dead;
}

size_t
mux_queued(const struct mux *m)
{
	return m->queued;
}

size_t
mux_output_iov(struct mux *m, struct iovec *iov, int *niov, size_t data_max)
{
	struct mux_stream	*s;
	struct mux_plan		*pl;
	size_t			 total = 0, data = 0;
	uint32_t		 n;
	int			 k = 0, max = *niov, progress;

	plan_drop(m);
	if (max > MUX_IOV_MAX)
		max = MUX_IOV_MAX;
	if (m->part_len > m->part_off && k < max) {
		iov[k].iov_base = m->part + m->part_off;
		iov[k].iov_len = m->part_len - m->part_off;
		m->plan_part = iov[k].iov_len;
		total += iov[k++].iov_len;
	}
	if (ctl_pending(m) > 0 && k < max) {
		iov[k].iov_base = m->ctl + m->ctl_head;
		iov[k].iov_len = ctl_pending(m);
		m->plan_ctl = iov[k].iov_len;
		total += iov[k++].iov_len;
	}
	/* Data in turns: one quantum per stream per round. */
	progress = 1;
	while (progress && !m->dead) {
		progress = 0;
		for (s = m->ring_head; s != NULL; s = s->st_anext) {
			if (k + 2 > max || m->nplan == MUX_PLAN_MAX)
				goto done;
			pl = &m->plan[m->nplan];
			n = s->st_slen - s->st_planned;
			if (n > s->st_send_window - s->st_planned)
				n = s->st_send_window - s->st_planned;
			if (n > m->cfg.max_frame)
				n = m->cfg.max_frame;
			if (n > data_max - data)
				n = (uint32_t)(data_max - data);
			if (n > 0) {
				data += n;
				pl->pl_s = s;
				pl->pl_len = n;
				pl->pl_fin = 0;
				hdr_put(pl->pl_hdr, MUX_T_DATA, 0, s->st_id, n);
				iov[k].iov_base = pl->pl_hdr;
				iov[k++].iov_len = MUX_HEADER_SIZE;
				iov[k].iov_base = s->st_sbuf + s->st_soff +
				    s->st_planned;
				iov[k++].iov_len = n;
				s->st_planned += n;
				total += MUX_HEADER_SIZE + n;
				m->nplan++;
				progress = 1;
			} else if ((s->st_flags & (SF_LFIN | SF_FIN_OUT |
			    SF_FIN_PLAN)) == SF_LFIN &&
			    s->st_planned == s->st_slen) {
				/* Like hashicorp's sendClose: a bare update. */
				pl->pl_s = s;
				pl->pl_len = 0;
				pl->pl_fin = 1;
				hdr_put(pl->pl_hdr, MUX_T_WINDOW_UPDATE,
				    MUX_F_FIN, s->st_id, 0);
				iov[k].iov_base = pl->pl_hdr;
				iov[k++].iov_len = MUX_HEADER_SIZE;
				s->st_flags |= SF_FIN_PLAN;
				total += MUX_HEADER_SIZE;
				m->nplan++;
				progress = 1;
			}
		}
	}
done:
	*niov = k;
	return total;
}

/* Keep the unwritten rest of a frame begun (done bytes of it went out). */
static int
part_keep(struct mux *m, const struct mux_plan *pl, size_t done)
{
	const struct mux_stream	*s = pl->pl_s;
	size_t			 need = MUX_HEADER_SIZE + pl->pl_len - done;
	size_t			 off;
	uint8_t			*nb;

	if (need > m->part_cap) {
		if ((nb = realloc(m->part, need)) == NULL)
			return -1;
		m->part = nb;
		m->part_cap = need;
	}
	m->part_off = 0;
	m->part_len = need;
	off = 0;
	if (done < MUX_HEADER_SIZE) {
		memcpy(m->part, pl->pl_hdr + done, MUX_HEADER_SIZE - done);
		off = MUX_HEADER_SIZE - done;
		done = 0;
	} else
		done -= MUX_HEADER_SIZE;
	if (pl->pl_len > done)
		memcpy(m->part + off, s->st_sbuf + s->st_soff + done,
		    pl->pl_len - done);
	return 0;
}

/* n bytes of a stream's queue are framed: take them off it. */
static void
sbuf_consume(struct mux_stream *s, uint32_t n)
{
	struct mux	*m = s->st_mux;

	s->st_send_window -= n;
	s->st_soff += n;
	s->st_slen -= n;
	m->queued -= n;
	if (s->st_slen == 0) {
		/* An idle stream holds no buffer. */
		free(s->st_sbuf);
		s->st_sbuf = NULL;
		s->st_soff = s->st_scap = 0;
	}
}

void
mux_output_done(struct mux *m, size_t n)
{
	struct mux_plan		*pl;
	struct mux_stream	*s;
	uint32_t		 ids[MUX_PLAN_MAX];
	int			 fins[MUX_PLAN_MAX];
	size_t			 k, bytes;
	int			 i, ndone = 0, shrank = 0;

	enter(m);
	/* The rest of an earlier frame, then the control queue. */
	k = n < m->plan_part ? n : m->plan_part;
	m->part_off += k;
	n -= k;
	if (m->part_off >= m->part_len)
		m->part_off = m->part_len = 0;
	k = n < m->plan_ctl ? n : m->plan_ctl;
	m->ctl_head += k;
	n -= k;
	if (ctl_pending(m) == 0) {
		m->ctl_head = m->ctl_tail = 0;
		if (m->ctl_cap > MUX_CTL_KEEP) {
			free(m->ctl);
			m->ctl = NULL;
			m->ctl_cap = 0;
		}
	}
	/*
	 * Then the frames, in order, each committed once begun; a frame cut
	 * short keeps its rest for next time.  No handler runs in here.
	 */
	for (i = 0; i < m->nplan && n > 0; i++) {
		pl = &m->plan[i];
		if ((s = pl->pl_s) == NULL)
			break;
		bytes = MUX_HEADER_SIZE + pl->pl_len;
		if (n < bytes && part_keep(m, pl, n) == -1) {
			mux_fail(m, "out of memory", -1, MUX_CUT_ERROR);
			break;
		}
		if (!pl->pl_fin) {
			sbuf_consume(s, pl->pl_len);
			shrank = 1;
		}
		ring_rotate(s);
		ids[ndone] = s->st_id;
		fins[ndone++] = pl->pl_fin;
		n -= n < bytes ? n : bytes;
	}
	plan_drop(m);
	/* Now what follows from it, by id: handlers may end any stream. */
	for (i = 0; i < ndone && !m->dead; i++) {
		if ((s = stream_find(m, ids[i])) == NULL)
			continue;
		if (fins[i])
			fin_sent(s);
		else {
			ring_update(s);
			wait_check(s);
		}
	}
	if (shrank && m->wait_head != NULL)
		wake_waiters(m);
	leave(m);
}

size_t
mux_output(struct mux *m, const uint8_t **p)
{
	struct iovec	 iov[MUX_IOV_MAX];
	size_t		 total, off = 0, ncap;
	int		 n = MUX_IOV_MAX, i;
	uint8_t		*nb;

	total = mux_output_iov(m, iov, &n, SIZE_MAX);
	*p = NULL;
	if (total == 0)
		return 0;
	if (total > m->lin_cap) {
		ncap = total;
		if ((nb = realloc(m->lin, ncap)) == NULL)
			return 0;
		m->lin = nb;
		m->lin_cap = ncap;
	}
	for (i = 0; i < n; i++) {
		memcpy(m->lin + off, iov[i].iov_base, iov[i].iov_len);
		off += iov[i].iov_len;
	}
	*p = m->lin;
	return total;
}

/*
 * Session life.
 */

struct mux *
mux_new(const struct mux_config *cfg, const struct mux_handlers *h,
    void *arg, uint64_t now)
{
	struct mux_config	 def;
	struct mux		*m;

	if (cfg->role != MUX_CLIENT && cfg->role != MUX_SERVER)
		return NULL;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return NULL;
	mux_config_default(&def, cfg->role);
	m->cfg = *cfg;
	/* Zero limits mean the default; a smaller window would not interop. */
	if (m->cfg.recv_window < MUX_INITIAL_WINDOW)
		m->cfg.recv_window = MUX_INITIAL_WINDOW;
	if (m->cfg.recv_window_max < m->cfg.recv_window)
		m->cfg.recv_window_max = m->cfg.recv_window;
	if (m->cfg.max_streams == 0)
		m->cfg.max_streams = def.max_streams;
	if (m->cfg.max_unacked == 0)
		m->cfg.max_unacked = def.max_unacked;
	if (m->cfg.output_max == 0)
		m->cfg.output_max = def.output_max;
	if (m->cfg.stream_send_max == 0)
		m->cfg.stream_send_max = def.stream_send_max;
	if (m->cfg.max_frame == 0)
		m->cfg.max_frame = def.max_frame;
	if (h != NULL)
		m->h = *h;
	m->arg = arg;
	m->now = now;
	m->next_id = cfg->role == MUX_CLIENT ? 1 : 2;
	m->ka_next = now + m->cfg.keepalive_ms;
	m->last_rtt = -1;
	m->min_rtt = UINT64_MAX;
	return m;
}

void
mux_free(struct mux *m)
{
	struct mux_stream	*s, *next;
	size_t			 i;

	if (m == NULL)
		return;
	for (i = 0; i < m->tab_size; i++) {
		for (s = m->tab[i]; s != NULL; s = next) {
			next = s->st_hnext;
			free(s->st_sbuf);
			free(s);
		}
	}
	free(m->tab);
	free(m->ctl);
	free(m->part);
	free(m->lin);
	free(m);
}

void
mux_test_set_next_id(struct mux *m, uint32_t id)
{
	m->next_id = id;
}

int
mux_is_dead(const struct mux *m)
{
	return m->dead;
}

int
mux_remote_goaway(const struct mux *m)
{
	return m->remote_goaway;
}

size_t
mux_stream_count(const struct mux *m)
{
	return m->nstreams;
}

uint32_t
mux_ids_left(const struct mux *m)
{
	/* As hashicorp: the last two ids of the space are never used. */
	return m->next_id >= UINT32_MAX - 1 ? 0 :
	    (UINT32_MAX - 1 - m->next_id + 1) / 2;
}

int64_t
mux_last_rtt(const struct mux *m)
{
	return m->last_rtt;
}

const char *
mux_error(const struct mux *m)
{
	return m->why;
}

/*
 * Timers.
 */

static void
ping_send(struct mux *m, int slot, uint32_t id)
{
	m->pings[slot].ps_used = 1;
	m->pings[slot].ps_id = id;
	m->pings[slot].ps_sent = m->now;
	if (m->cfg.ping_timeout_ms > 0 && m->silence_dl == 0) {
		m->silence_dl = m->now + m->cfg.ping_timeout_ms;
		m->silence_from = m->now;
	}
	push_ctl(m, MUX_T_PING, MUX_F_SYN, 0, id);
}

void
mux_tick(struct mux *m, uint64_t now)
{
	struct mux_stream	*s;
	uint64_t		 hint;

	if (m->dead)
		return;
	m->now = now;
	enter(m);
	plan_drop(m);
	if (m->silence_dl != 0 && now >= m->silence_dl) {
		mux_fail(m, "no answer", -1, MUX_CUT_ERROR);
		goto out;
	}
	/* Every interval, answered or not: the pong may be behind data. */
	if (m->cfg.keepalive_ms > 0 && now >= m->ka_next) {
		ping_send(m, 0, MUX_KA_ID_BASE | (m->ka_seq++ & 0x7fffffffu));
		m->ka_next = now + m->cfg.keepalive_ms;
	}
	if (m->timed_head == NULL || now < m->timer_hint)
		goto out;
	/* Handlers may end any stream: rescan from the start after each. */
again:
	for (s = m->timed_head; s != NULL && !m->dead; s = s->st_tnext) {
		if (s->st_open_dl != 0 && now >= s->st_open_dl) {
			/*
			 * The peer did not accept this stream in time.  Only
			 * it is reset; whether the peer is there at all is
			 * what the silence deadline, started now if need be,
			 * decides.
			 */
			s->st_open_dl = 0;
			timed_update(s);
			if (m->silence_dl == 0)
				ping_send(m, 0, MUX_KA_ID_BASE |
				    (m->ka_seq++ & 0x7fffffffu));
			stream_reset_local(s, "open timeout");
			goto again;
		}
		if (s->st_close_dl != 0 && now >= s->st_close_dl) {
			s->st_close_dl = 0;
			timed_update(s);
			stream_reset_local(s, "close timeout");
			goto again;
		}
	}
	hint = UINT64_MAX;
	for (s = m->timed_head; s != NULL; s = s->st_tnext) {
		if (s->st_open_dl != 0 && s->st_open_dl < hint)
			hint = s->st_open_dl;
		if (s->st_close_dl != 0 && s->st_close_dl < hint)
			hint = s->st_close_dl;
	}
	m->timer_hint = hint;
out:
	leave(m);
}

int64_t
mux_next_timeout(struct mux *m, uint64_t now)
{
	uint64_t	 t = UINT64_MAX;

	if (m->dead)
		return -1;
	if (m->cfg.keepalive_ms > 0)
		t = m->ka_next;
	if (m->silence_dl != 0 && m->silence_dl < t)
		t = m->silence_dl;
	if (m->timed_head != NULL && m->timer_hint < t)
		t = m->timer_hint;
	if (t == UINT64_MAX)
		return -1;
	if (t <= now)
		return 0;
	return t - now > INT64_MAX ? INT64_MAX : (int64_t)(t - now);
}

int
mux_ping(struct mux *m, uint32_t id, uint64_t now)
{
	int	 i;

	if (m->dead)
		return -1;
	m->now = now;
	enter(m);
	plan_drop(m);
	for (i = 1; i < MUX_PINGS; i++)
		if (!m->pings[i].ps_used)
			break;
	if (i == MUX_PINGS) {
		/* No slot for the round trip; the deadline still counts. */
		if (m->cfg.ping_timeout_ms > 0 && m->silence_dl == 0) {
			m->silence_dl = now + m->cfg.ping_timeout_ms;
			m->silence_from = now;
		}
		leave(m);
		return -1;
	}
	ping_send(m, i, id);
	leave(m);
	return m->dead ? -1 : 0;
}

void
mux_goaway(struct mux *m, uint32_t code)
{
	if (m->dead)
		return;
	enter(m);
	plan_drop(m);
	m->local_goaway = 1;
	push_ctl(m, MUX_T_GOAWAY, 0, 0, code);
	leave(m);
}

/*
 * Streams.
 */

/*
 * Open a stream and queue the frame that carries its SYN: a WindowUpdate
 * with our window's delta, or a Data frame with the hello.  Nothing here
 * can kill the session, so a NULL return leaves no trace.
 */
static struct mux_stream *
open_stream(struct mux *m, uint64_t now, const char **why, int data,
    const uint8_t *buf, size_t len)
{
	struct mux_stream	*s;
	const char		*dummy;
	size_t			 need = MUX_HEADER_SIZE + len;
	uint32_t		 delta;

	if (why == NULL)
		why = &dummy;
	m->now = now;
	plan_drop(m);
	if (m->dead) {
		*why = "session dead";
		return NULL;
	}
	if (m->remote_goaway) {
		*why = "remote goaway";
		return NULL;
	}
	if (m->local_goaway) {
		*why = "goaway sent";
		return NULL;
	}
	/* As hashicorp: the last two ids of the space are never used. */
	if (m->next_id >= UINT32_MAX - 1) {
		*why = MUX_WHY_IDS;
		return NULL;
	}
	if (m->nstreams >= m->cfg.max_streams) {
		*why = "too many streams";
		return NULL;
	}
	/* Room for the SYN and a window update after it, short of dying. */
	if ((ctl_pending(m) + need + MUX_HEADER_SIZE) / 4 > m->cfg.output_max) {
		*why = "output full";
		return NULL;
	}
	if ((s = stream_new(m, m->next_id, SF_OURS)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	if (ctl_space(m, need) == NULL) {
		stream_detach(s);
		free(s);
		*why = "out of memory";
		return NULL;
	}
	if (data) {
		push_frame(m, MUX_T_DATA, MUX_F_SYN, s->st_id, (uint32_t)len,
		    buf);
		s->st_send_window -= (uint32_t)len;
	} else {
		delta = m->cfg.recv_window - MUX_INITIAL_WINDOW;
		push_ctl(m, MUX_T_WINDOW_UPDATE, MUX_F_SYN, s->st_id, delta);
		s->st_recv_window += delta;
	}
	s->st_recv_max = m->cfg.recv_window;
	m->next_id += 2;
	if (m->cfg.open_timeout_ms > 0) {
		s->st_open_dl = now + m->cfg.open_timeout_ms;
		timed_update(s);
	}
	return s;
}

struct mux_stream *
mux_open(struct mux *m, uint64_t now, const char **why)
{
	return open_stream(m, now, why, 0, NULL, 0);
}

struct mux_stream *
mux_open_data(struct mux *m, const uint8_t *buf, size_t len, uint64_t now,
    const char **why)
{
	struct mux_stream	*s;

	if (len > MUX_INITIAL_WINDOW) {
		if (why != NULL)
			*why = "hello too large";
		return NULL;
	}
	if ((s = open_stream(m, now, why, 1, buf, len)) == NULL)
		return NULL;
	/*
	 * The Data frame had no room for our window's delta; it follows as
	 * hashicorp would send it (only when worth half the window).
	 */
	enter(m);
	window_update(s, 0);
	leave(m);
	if (m->dead) {
		if (why != NULL)
			*why = "session dead";
		return NULL;
	}
	return s;
}

void
mux_stream_accept(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (m->dead || (s->st_flags & (SF_DONE | SF_OURS | SF_ACKED)))
		return;
	enter(m);
	plan_drop(m);
	accept_now(s);
	leave(m);
}

size_t
mux_stream_send_space(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;
	size_t		 n;
	int		 session;

	plan_drop(m);
	if ((n = space_of(s, &session)) == 0 && !m->dead &&
	    !(s->st_flags & (SF_DONE | SF_LFIN))) {
		s->st_flags |= SF_WAIT;
		if (session && !(s->st_flags & SF_WAITQ)) {
			s->st_wprev = NULL;
			s->st_wnext = m->wait_head;
			if (m->wait_head)
				m->wait_head->st_wprev = s;
			m->wait_head = s;
			s->st_flags |= SF_WAITQ;
		}
	}
	return n;
}

uint8_t *
mux_stream_send_buf(struct mux_stream *s, size_t *cap)
{
	size_t		 space, need, ncap;
	uint8_t		*nb;

	*cap = 0;
	if ((space = mux_stream_send_space(s)) == 0)
		return NULL;
	need = (size_t)s->st_slen + space;
	if ((size_t)s->st_soff + need > s->st_scap && s->st_soff > 0) {
		memmove(s->st_sbuf, s->st_sbuf + s->st_soff, s->st_slen);
		s->st_soff = 0;
	}
	if (need > s->st_scap) {
		/* Grow in steps: a small write does not take a big buffer. */
		ncap = s->st_scap ? s->st_scap : 16384;
		while (ncap < need)
			ncap *= 2;
		if (ncap > s->st_mux->cfg.stream_send_max && need <=
		    s->st_mux->cfg.stream_send_max)
			ncap = s->st_mux->cfg.stream_send_max;
		if ((nb = realloc(s->st_sbuf, ncap)) == NULL)
			return NULL;
		s->st_sbuf = nb;
		s->st_scap = (uint32_t)ncap;
	}
	*cap = space;
	return s->st_sbuf + s->st_soff + s->st_slen;
}

void
mux_stream_send_commit(struct mux_stream *s, size_t n)
{
	struct mux	*m = s->st_mux;
	size_t		 space;
	int		 session;

	if (n == 0 || m->dead || (s->st_flags & (SF_DONE | SF_LFIN)))
		return;
	space = space_of(s, &session);
	if (n > space)
		n = space;
	if (n > s->st_scap - s->st_soff - s->st_slen)
		n = s->st_scap - s->st_soff - s->st_slen;
	enter(m);
	plan_drop(m);
	accept_now(s);		/* the ACK before any data */
	s->st_slen += (uint32_t)n;
	m->queued += n;
	ring_update(s);
	/* Filled: it hears when there is room again. */
	if (space_of(s, &session) == 0)
		(void)mux_stream_send_space(s);
	leave(m);
}

size_t
mux_stream_write(struct mux_stream *s, const uint8_t *buf, size_t len)
{
	uint8_t	*p;
	size_t	 cap;

	if ((p = mux_stream_send_buf(s, &cap)) == NULL)
		return 0;
	if (cap > len)
		cap = len;
	memcpy(p, buf, cap);
	mux_stream_send_commit(s, cap);
	return cap;
}

size_t
mux_stream_unsent(const struct mux_stream *s)
{
	return s->st_slen;
}

void
mux_stream_close(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (m->dead || (s->st_flags & (SF_DONE | SF_LFIN)))
		return;
	enter(m);
	plan_drop(m);
	accept_now(s);		/* the ACK before the FIN */
	s->st_flags |= SF_LFIN;
	s->st_flags &= ~SF_WAIT;
	waitq_unlink(s);
	ring_update(s);
	leave(m);
}

void
mux_stream_reset(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (m->dead || (s->st_flags & SF_DONE))
		return;
	enter(m);
	plan_drop(m);
	stream_reset_local(s, NULL);
	leave(m);
}

void
mux_stream_consumed(struct mux_stream *s, size_t n)
{
	struct mux	*m = s->st_mux;

	if (m->dead || (s->st_flags & SF_DONE))
		return;
	if (n > s->st_buffered)
		n = s->st_buffered;
	s->st_buffered -= (uint32_t)n;
	m->buffered -= n;
	enter(m);
	plan_drop(m);
	window_update(s, 0);
	leave(m);
}

uint32_t
mux_stream_id(const struct mux_stream *s)
{
	return s->st_id;
}

void
mux_stream_set_udata(struct mux_stream *s, void *udata)
{
	s->st_udata = udata;
}

void *
mux_stream_udata(const struct mux_stream *s)
{
	return s->st_udata;
}

size_t
mux_stream_buffered(const struct mux_stream *s)
{
	return s->st_buffered;
}

uint32_t
mux_stream_window(const struct mux_stream *s)
{
	return s->st_recv_max;
}

int
mux_stream_remote_closed(const struct mux_stream *s)
{
	return (s->st_flags & SF_RFIN) != 0;
}

int
mux_stream_local_closed(const struct mux_stream *s)
{
	return (s->st_flags & SF_LFIN) != 0;
}

int
mux_stream_acked(const struct mux_stream *s)
{
	return !(s->st_flags & SF_OURS) || (s->st_flags & SF_ACKED) != 0;
}
