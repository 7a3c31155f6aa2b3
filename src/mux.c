/*
 * mux.c: a yamux session core with no I/O of its own.
 *
 * Behaviour follows hashicorp/yamux (the implementation our backends run),
 * see include/mux.h for the contract.  Everything here is driven by the
 * caller: bytes in through mux_input(), frames out through mux_output(),
 * time through the "now" arguments.
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
#define SF_OURS		0x01	/* we opened it */
#define SF_ACKED	0x02	/* ours: ACK received; theirs: ACK sent */
#define SF_LFIN		0x04	/* we sent FIN */
#define SF_RFIN		0x08	/* the peer sent FIN */
#define SF_TIMED	0x10	/* on the timed list */
#define SF_DONE		0x20	/* ending: handlers running, then freed */

/*
 * Slot 0 belongs to the keepalive; the others hold pings from mux_ping().
 * A handful is plenty: pings are for liveness and round trips, not a queue.
 */
#define MUX_PINGS	8

/* Keepalive ping ids live in the high half, away from typical caller ids. */
#define MUX_KA_ID_BASE	0x80000000u

/* Drained output buffers larger than this are freed: idle sessions are many. */
#define MUX_OB_KEEP	(16u * 1024u)
#define MUX_OB_MIN	4096u

#define MUX_TAB_MIN	16u

struct mux_stream {
	struct mux		*st_mux;
	void			*st_udata;
	struct mux_stream	*st_hnext;	/* hash chain */
	struct mux_stream	*st_tprev;	/* timed list */
	struct mux_stream	*st_tnext;
	uint64_t		 st_open_dl;	/* ACK due by, 0 = none */
	uint64_t		 st_close_dl;	/* peer FIN due by, 0 = none */
	uint32_t		 st_id;
	uint32_t		 st_flags;
	uint32_t		 st_send_window; /* the peer allows us */
	uint32_t		 st_recv_window; /* we still allow it */
	uint32_t		 st_buffered;	/* delivered, not consumed */
};

struct mux_ping_slot {
	uint64_t	 ps_sent;
	uint32_t	 ps_id;
	int		 ps_used;
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

	/* Streams with a deadline, unsorted; hint <= the earliest one. */
	struct mux_stream	*timed_head;
	struct mux_stream	*timed_tail;
	uint64_t		 timer_hint;

	/* Output: bytes [ob_head, ob_tail) are queued. */
	uint8_t			*ob;
	size_t			 ob_head;
	size_t			 ob_tail;
	size_t			 ob_cap;
	struct mux_stream	*resv;		/* reserve()d, not committed */
	size_t			 resv_cap;

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

	int			 depth;		/* nesting of mux_ calls */
	int			 dead;
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
	c->max_streams = 4096;
	c->max_unacked = 256;
	c->session_buf_max = 64u * 1024 * 1024;
	c->output_max = 1024u * 1024;
	c->max_frame = 64u * 1024;
	c->keepalive_ms = 30000;
	c->ping_timeout_ms = 10000;
	c->open_timeout_ms = 0;
	c->close_timeout_ms = 0;
}

/*
 * Entry and exit of every mux_ function that may queue frames or run
 * handlers.  The teardown of a dead session waits for the outermost one.
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

/*
 * Output buffer.
 */

static size_t
ob_pending(const struct mux *m)
{
	return m->ob_tail - m->ob_head;
}

/* Room for n more bytes at the tail; NULL when memory ran out. */
static uint8_t *
ob_space(struct mux *m, size_t n)
{
	size_t	 pending = ob_pending(m), ncap;
	uint8_t	*nb;

	if (pending == 0)
		m->ob_head = m->ob_tail = 0;
	if (m->ob != NULL && m->ob_cap - m->ob_tail >= n)
		return m->ob + m->ob_tail;
	/* Sliding the queue down is cheap once most of it has been sent. */
	if (m->ob != NULL && pending + n <= m->ob_cap &&
	    m->ob_head >= m->ob_cap / 2) {
		memmove(m->ob, m->ob + m->ob_head, pending);
		m->ob_head = 0;
		m->ob_tail = pending;
		return m->ob + m->ob_tail;
	}
	ncap = m->ob_cap ? m->ob_cap : MUX_OB_MIN;
	while (ncap < pending + n) {
		if (ncap > SIZE_MAX / 2)
			return NULL;
		ncap *= 2;
	}
	if ((nb = malloc(ncap)) == NULL)
		return NULL;
	if (pending > 0)
		memcpy(nb, m->ob + m->ob_head, pending);
	free(m->ob);
	m->ob = nb;
	m->ob_cap = ncap;
	m->ob_head = 0;
	m->ob_tail = pending;
	return m->ob + m->ob_tail;
}

/* Mark the session dead; handlers and frees wait for leave(). */
static void
mux_fail(struct mux *m, const char *why, int goaway_code)
{
	uint8_t	*p;

	if (m->dead)
		return;
	m->dead = 1;
	m->why = why;
	m->resv = NULL;
	if (goaway_code >= 0) {
		m->local_goaway = 1;
		/* Owed to the peer whatever the output limits say. */
		if ((p = ob_space(m, MUX_HEADER_SIZE)) != NULL) {
			hdr_put(p, MUX_T_GOAWAY, 0, 0, (uint32_t)goaway_code);
			m->ob_tail += MUX_HEADER_SIZE;
		}
	}
}

static void
proto_error(struct mux *m, const char *why)
{
	mux_fail(m, why, MUX_GOAWAY_PROTOCOL);
}

/*
 * Queue a frame without payload.  These are never refused (the peer must
 * get its ACKs, pongs and RSTs), but a peer that lets them pile up far
 * beyond output_max is not reading at all.
 */
static void
push_ctl(struct mux *m, uint8_t type, uint16_t flags, uint32_t id,
    uint32_t len)
{
	uint8_t	*p;

	if (m->dead)
		return;
	if ((p = ob_space(m, MUX_HEADER_SIZE)) == NULL) {
		mux_fail(m, "out of memory", -1);
		return;
	}
	hdr_put(p, type, flags, id, len);
	m->ob_tail += MUX_HEADER_SIZE;
	if (ob_pending(m) / 4 > m->cfg.output_max)
		mux_fail(m, "peer not reading", -1);
}

size_t
mux_output(struct mux *m, const uint8_t **p)
{
	size_t	 n = ob_pending(m);

	*p = n ? m->ob + m->ob_head : NULL;
	return n;
}

void
mux_output_done(struct mux *m, size_t n)
{
	if (n > ob_pending(m))
		n = ob_pending(m);
	m->ob_head += n;
	if (m->ob_head == m->ob_tail && m->resv == NULL) {
		m->ob_head = m->ob_tail = 0;
		if (m->ob_cap > MUX_OB_KEEP) {
			free(m->ob);
			m->ob = NULL;
			m->ob_cap = 0;
		}
	}
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

/* Take the stream out of the table and all accounting. */
static void
stream_detach(struct mux_stream *s)
{
	struct mux		 *m = s->st_mux;
	struct mux_stream	**pp;

	for (pp = &m->tab[tab_slot(m, s->st_id)]; *pp != NULL;
	    pp = &(*pp)->st_hnext) {
		if (*pp == s) {
			*pp = s->st_hnext;
			break;
		}
	}
	m->nstreams--;
	timed_unlink(s);
	m->buffered -= s->st_buffered;
	if (!(s->st_flags & (SF_OURS | SF_ACKED)))
		m->unacked--;
	if (m->cur_id == s->st_id) {
		/* The rest of the frame in flight is for nobody now. */
		m->cur_deliver = 0;
		m->cur_fin = 0;
	}
	if (m->resv == s)
		m->resv = NULL;
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
		m->h.reset(m->arg, s, why);
	if (m->h.closed != NULL)
		m->h.closed(m->arg, s);
	free(s);
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
				m->h.reset(m->arg, s, m->why);
			if (m->h.closed != NULL)
				m->h.closed(m->arg, s);
			free(s);
		}
	}
	m->depth--;
}

/*
 * The flags our next frame on this stream must carry: the ACK of a
 * peer-opened stream goes on whatever we send first (hashicorp sendFlags).
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

/* Queue a Data frame with payload; the caller checked the window. */
static int
push_data(struct mux_stream *s, uint16_t flags, const uint8_t *buf,
    uint32_t n)
{
	struct mux	*m = s->st_mux;
	uint8_t		*p;

	if ((p = ob_space(m, MUX_HEADER_SIZE + (size_t)n)) == NULL)
		return -1;
	hdr_put(p, MUX_T_DATA, flags, s->st_id, n);
	if (n > 0)
		memcpy(p + MUX_HEADER_SIZE, buf, n);
	m->ob_tail += MUX_HEADER_SIZE + (size_t)n;
	s->st_send_window -= n;
	return 0;
}

/*
 * Reopen the peer's window as hashicorp's sendWindowUpdate does: grant
 * what the caller has consumed once it reaches half the window, or right
 * away when flags (SYN, ACK) must go out anyway.
 */
static void
window_update(struct mux_stream *s, uint16_t flags)
{
	struct mux	*m = s->st_mux;
	uint64_t	 max = m->cfg.recv_window, used, delta;

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
	s->st_recv_window += (uint32_t)delta;
	push_ctl(m, MUX_T_WINDOW_UPDATE, flags, s->st_id, (uint32_t)delta);
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
	if (s->st_flags & SF_LFIN)
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
		rtt = m->now >= ps->ps_sent ? m->now - ps->ps_sent : 0;
		m->last_rtt = rtt > INT64_MAX ? INT64_MAX : (int64_t)rtt;
		if (i == 0) {
			m->ka_next = m->now + m->cfg.keepalive_ms;
			return;
		}
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
		mux_fail(m, "remote goaway: protocol error", -1);
		return;
	}
	if (code == MUX_GOAWAY_INTERNAL) {
		mux_fail(m, "remote goaway: internal error", -1);
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
	mux_fail(m, m->why_buf, -1);
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
	uint32_t		 id = h->stream_id, len = h->length, was;
	int			 data = h->type == MUX_T_DATA, created = 0;
	uint16_t		 fl = h->flags;

	/* Nothing we advertised allows this much, whatever the stream. */
	if (data && len > m->cfg.recv_window) {
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
		m->h.opened(m->arg, s, h->type);
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
		was = s->st_send_window;
		s->st_send_window += len;
		if (was == 0 && len > 0 && !(s->st_flags & SF_LFIN) &&
		    m->h.writable != NULL) {
			m->h.writable(m->arg, s);
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
	if (len > 0 && (m->buffered > m->cfg.session_buf_max ||
	    len > m->cfg.session_buf_max - m->buffered)) {
		stream_reset_local(s, "session buffer full");
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
	if (m->cfg.max_streams == 0)
		m->cfg.max_streams = def.max_streams;
	if (m->cfg.max_unacked == 0)
		m->cfg.max_unacked = def.max_unacked;
	if (m->cfg.session_buf_max == 0)
		m->cfg.session_buf_max = def.session_buf_max;
	if (m->cfg.output_max == 0)
		m->cfg.output_max = def.output_max;
	if (m->cfg.max_frame == 0)
		m->cfg.max_frame = def.max_frame;
	if (h != NULL)
		m->h = *h;
	m->arg = arg;
	m->now = now;
	m->next_id = cfg->role == MUX_CLIENT ? 1 : 2;
	m->ka_next = now + m->cfg.keepalive_ms;
	m->last_rtt = -1;
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
			free(s);
		}
	}
	free(m->tab);
	free(m->ob);
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
	push_ctl(m, MUX_T_PING, MUX_F_SYN, 0, id);
}

void
mux_tick(struct mux *m, uint64_t now)
{
	struct mux_stream	*s;
	uint64_t		 hint;
	int			 i;

	if (m->dead)
		return;
	m->now = now;
	enter(m);
	for (i = 0; i < MUX_PINGS && m->cfg.ping_timeout_ms > 0; i++) {
		if (m->pings[i].ps_used && now >= m->pings[i].ps_sent &&
		    now - m->pings[i].ps_sent >= m->cfg.ping_timeout_ms) {
			mux_fail(m, i == 0 ? "keepalive timeout" :
			    "ping timeout", -1);
			goto out;
		}
	}
	if (m->cfg.keepalive_ms > 0 && !m->pings[0].ps_used &&
	    now >= m->ka_next)
		ping_send(m, 0, MUX_KA_ID_BASE | (m->ka_seq++ & 0x7fffffffu));
	if (m->timed_head == NULL || now < m->timer_hint)
		goto out;
	/* Handlers may end any stream: rescan from the start after each. */
again:
	for (s = m->timed_head; s != NULL && !m->dead; s = s->st_tnext) {
		if (s->st_open_dl != 0 && now >= s->st_open_dl) {
			mux_fail(m, "open timeout", -1);
			goto out;
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
	uint64_t	 t = UINT64_MAX, pt = m->cfg.ping_timeout_ms;
	int		 i;

	if (m->dead)
		return -1;
	if (m->cfg.keepalive_ms > 0 && !m->pings[0].ps_used)
		t = m->ka_next;
	for (i = 0; i < MUX_PINGS && pt > 0; i++)
		if (m->pings[i].ps_used && m->pings[i].ps_sent + pt < t)
			t = m->pings[i].ps_sent + pt;
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
	for (i = 1; i < MUX_PINGS; i++)
		if (!m->pings[i].ps_used)
			break;
	if (i == MUX_PINGS)
		return -1;
	enter(m);
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
	uint8_t			*p;

	if (why == NULL)
		why = &dummy;
	m->now = now;
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
		*why = "stream ids exhausted";
		return NULL;
	}
	if (m->nstreams >= m->cfg.max_streams) {
		*why = "too many streams";
		return NULL;
	}
	/* Room for the SYN and a window update after it, short of dying. */
	if ((ob_pending(m) + need + MUX_HEADER_SIZE) / 4 > m->cfg.output_max) {
		*why = "output full";
		return NULL;
	}
	if ((s = stream_new(m, m->next_id, SF_OURS)) == NULL) {
		*why = "out of memory";
		return NULL;
	}
	if ((p = ob_space(m, need)) == NULL) {
		stream_detach(s);
		free(s);
		*why = "out of memory";
		return NULL;
	}
	if (data) {
		hdr_put(p, MUX_T_DATA, MUX_F_SYN, s->st_id, (uint32_t)len);
		if (len > 0)
			memcpy(p + MUX_HEADER_SIZE, buf, len);
		s->st_send_window -= (uint32_t)len;
	} else {
		delta = m->cfg.recv_window - MUX_INITIAL_WINDOW;
		hdr_put(p, MUX_T_WINDOW_UPDATE, MUX_F_SYN, s->st_id, delta);
		s->st_recv_window += delta;
	}
	m->ob_tail += need;
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
	window_update(s, send_flags(s));
	leave(m);
}

size_t
mux_stream_send_space(const struct mux_stream *s)
{
	const struct mux	*m = s->st_mux;
	size_t			 pending = ob_pending(m), room;

	if (m->dead || (s->st_flags & (SF_DONE | SF_LFIN)))
		return 0;
	room = pending < m->cfg.output_max ? m->cfg.output_max - pending : 0;
	return room < s->st_send_window ? room : s->st_send_window;
}

size_t
mux_stream_write(struct mux_stream *s, const uint8_t *buf, size_t len)
{
	struct mux	*m = s->st_mux;
	size_t		 total = 0, n;
	uint16_t	 flags;

	if (m->dead)
		return 0;
	enter(m);
	while (total < len && !m->dead) {
		n = mux_stream_send_space(s);
		if (n > m->cfg.max_frame)
			n = m->cfg.max_frame;
		if (n > len - total)
			n = len - total;
		if (n == 0)
			break;
		flags = send_flags(s);
		if (push_data(s, flags, buf + total, (uint32_t)n) == -1) {
			mux_fail(m, "out of memory", -1);
			break;
		}
		total += n;
		if (flags != 0)
			window_update(s, 0);
	}
	leave(m);
	return total;
}

uint8_t *
mux_stream_reserve(struct mux_stream *s, size_t *cap)
{
	struct mux	*m = s->st_mux;
	size_t		 c;
	uint8_t		*p;

	*cap = 0;
	c = mux_stream_send_space(s);
	if (c > m->cfg.max_frame)
		c = m->cfg.max_frame;
	if (c == 0)
		return NULL;
	if ((p = ob_space(m, MUX_HEADER_SIZE + c)) == NULL)
		return NULL;
	m->resv = s;
	m->resv_cap = c;
	*cap = c;
	return p + MUX_HEADER_SIZE;
}

void
mux_stream_commit(struct mux_stream *s, size_t n)
{
	struct mux	*m = s->st_mux;
	uint16_t	 flags;

	if (m->resv != s || m->dead)
		return;
	m->resv = NULL;
	if (n == 0)
		return;
	if (n > m->resv_cap)
		n = m->resv_cap;
	enter(m);
	flags = send_flags(s);
	hdr_put(m->ob + m->ob_tail, MUX_T_DATA, flags, s->st_id, (uint32_t)n);
	m->ob_tail += MUX_HEADER_SIZE + n;
	s->st_send_window -= (uint32_t)n;
	if (flags != 0)
		window_update(s, 0);
	leave(m);
}

void
mux_stream_close(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (m->dead || (s->st_flags & (SF_DONE | SF_LFIN)))
		return;
	enter(m);
	/* Like hashicorp's sendClose: a bare WindowUpdate carries the FIN. */
	push_ctl(m, MUX_T_WINDOW_UPDATE, MUX_F_FIN | send_flags(s), s->st_id,
	    0);
	s->st_flags |= SF_LFIN;
	if (!m->dead) {
		if (s->st_flags & SF_RFIN)
			stream_end(s, NULL);
		else if (m->cfg.close_timeout_ms > 0) {
			s->st_close_dl = m->now + m->cfg.close_timeout_ms;
			timed_update(s);
		}
	}
	leave(m);
}

void
mux_stream_reset(struct mux_stream *s)
{
	struct mux	*m = s->st_mux;

	if (m->dead || (s->st_flags & SF_DONE))
		return;
	enter(m);
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
