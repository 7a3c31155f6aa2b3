/*
 * fuzz_mux.c: libFuzzer target for the yamux session core.
 *
 * Input: byte 0 picks the role and the limits, byte 1 seeds the schedule
 * (chunk sizes, what the handlers and the driver do), the rest is what the
 * peer sends.  Everything the mux sends (the bytes the driver reports as
 * written: frames not written are framed again later, in an order of the
 * mux's choosing) is parsed and checked against a shadow model of the
 * peer: well-formed frames, Data within the window the peer granted and
 * within max_frame, one FIN and at most one ACK per stream, no data after
 * the FIN, nothing after a RST or a GoAway for an error.  Any breach
 * aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mux.h"

#define MAXS		128		/* > max_streams below */
#define SHADOW		8192		/* power of two */

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* What the peer allowed us and what we did, per stream id. */
struct shadow {
	uint32_t	 gen;
	uint32_t	 id;
	uint64_t	 granted;
	uint64_t	 sent;
	int		 ours;
	int		 fin, ack, rst;
	int		 reused;	/* the peer opened this id again */
};

static struct shadow	 sh[SHADOW];
static uint32_t		 gen;

static struct mux		*m;
static struct mux_config	 cfg;
static struct mux_stream	*live[MAXS];
static int			 nlive;
static uint64_t			 rng, now;
static int			 died, dead_goaway;
static int			 stalled;	/* the caller stops draining */
static uint8_t			 junk[70000];

/* Output parser state: it sees the bytes written, as the peer would. */
static uint8_t		 ohdr[MUX_HEADER_SIZE];
static size_t		 ohlen;
static uint64_t		 oskip;		/* payload bytes still to skip */

static uint32_t
rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng >> 11);
}

static struct shadow *
sh_find(uint32_t id, int create)
{
	uint32_t	 i = (id * 2654435761u) & (SHADOW - 1), n;

	for (n = 0; n < SHADOW; n++, i = (i + 1) & (SHADOW - 1)) {
		if (sh[i].gen != gen) {
			if (!create)
				return NULL;
			memset(&sh[i], 0, sizeof(sh[i]));
			sh[i].gen = gen;
			sh[i].id = id;
			sh[i].granted = MUX_INITIAL_WINDOW;
			return &sh[i];
		}
		if (sh[i].id == id)
			return &sh[i];
	}
	abort();	/* more ids than an input can hold */
}

static void
sh_reset(struct shadow *s, int ours)
{
	s->granted = MUX_INITIAL_WINDOW;
	s->sent = 0;
	s->ours = ours;
	s->fin = s->ack = s->rst = 0;
}

static int
ours(uint32_t id)
{
	return (id & 1) == (cfg.role == MUX_CLIENT);
}

/* One frame header the mux sent. */
static void
check_out_frame(const struct mux_hdr *h)
{
	struct shadow	*s;

	if (h->version != 0 || h->type > MUX_T_GOAWAY)
		abort();
	if (dead_goaway)
		abort();	/* nothing after GoAway(protocol error) */
	if (h->type == MUX_T_GOAWAY) {
		/* The driver never sends this one: the mux died. */
		if (h->length == MUX_GOAWAY_PROTOCOL)
			dead_goaway = 1;
		return;
	}
	if (h->type == MUX_T_PING)
		return;
	if (h->stream_id == 0)
		abort();
	if (h->flags & ~(MUX_F_SYN | MUX_F_ACK | MUX_F_FIN | MUX_F_RST))
		abort();
	if (h->flags & MUX_F_SYN) {
		if (!ours(h->stream_id) || (h->flags & MUX_F_ACK))
			abort();
		if (sh_find(h->stream_id, 0) != NULL &&
		    sh_find(h->stream_id, 0)->ours)
			abort();	/* an id of ours used twice */
		s = sh_find(h->stream_id, 1);
		sh_reset(s, 1);
	} else if ((s = sh_find(h->stream_id, 0)) == NULL)
		abort();		/* a stream nobody opened */
	/*
	 * The peer used an id again (a violation we answer with RST): our
	 * frames of the first stream may still come out after its SYN, since
	 * we frame when written.  Nothing reliable is left to check there.
	 */
	if (s->reused)
		return;
	if (s->rst)
		abort();		/* anything after our RST */
	if (h->flags & MUX_F_ACK) {
		if (s->ours || s->ack)
			abort();
		s->ack = 1;
	}
	if (h->flags & MUX_F_RST) {
		s->rst = 1;
		return;
	}
	if (h->type == MUX_T_DATA) {
		if (s->fin)
			abort();	/* data after our FIN */
		if (h->length > cfg.max_frame && !(h->flags & MUX_F_SYN))
			abort();
		s->sent += h->length;
		if (s->sent > s->granted)
			abort();	/* beyond the peer's window */
	}
	if (h->flags & MUX_F_FIN) {
		if (s->fin)
			abort();
		s->fin = 1;
	}
}

/* Write some or all of the output, and parse what was written. */
static void
drain(int all)
{
	const uint8_t	*p;
	size_t		 n, i, j, k;
	struct mux_hdr	 h;

	n = mux_output(m, &p);
	if ((n > 0) != (mux_output_pending(m) != 0) && n > 0)
		abort();
	if (stalled && !mux_is_dead(m))
		k = 0;
	else
		k = all || n == 0 ? n : rnd() % (n + 1);
	for (i = 0; i < k; ) {
		if (oskip > 0) {
			j = k - i < oskip ? k - i : (size_t)oskip;
			oskip -= j;
			i += j;
			continue;
		}
		ohdr[ohlen++] = p[i++];
		if (ohlen < MUX_HEADER_SIZE)
			continue;
		ohlen = 0;
		mux_hdr_decode(&h, ohdr);
		check_out_frame(&h);
		if (h.type == MUX_T_DATA)
			oskip = h.length;
	}
	mux_output_done(m, k);
	if ((size_t)nlive != mux_stream_count(m))
		abort();
	if (mux_is_dead(m)) {
		if (nlive != 0)
			abort();	/* teardown closed every stream */
		died = 1;
	}
}

/* The peer's header, seen just before the mux completes it. */
static void
shadow_in(const struct mux_hdr *h)
{
	struct shadow	*s;

	if (mux_is_dead(m) || h->version != 0)
		return;
	if (h->type != MUX_T_DATA && h->type != MUX_T_WINDOW_UPDATE)
		return;
	if ((h->flags & MUX_F_SYN) && !ours(h->stream_id)) {
		if ((s = sh_find(h->stream_id, 0)) != NULL) {
			s->reused = 1;
			return;
		}
		s = sh_find(h->stream_id, 1);
		sh_reset(s, 0);
	} else if ((s = sh_find(h->stream_id, 1)) == NULL)
		return;
	if (h->type == MUX_T_WINDOW_UPDATE)
		s->granted += h->length;
}

static int
live_index(struct mux_stream *st)
{
	int	 i;

	for (i = 0; i < nlive; i++)
		if (live[i] == st)
			return i;
	return -1;
}

static void
live_add(struct mux_stream *st)
{
	if (st == NULL)
		return;
	if (live_index(st) != -1 || nlive == MAXS)
		abort();
	live[nlive++] = st;
}

static void
write_some(struct mux_stream *st)
{
	size_t	 cap, n;
	uint8_t	*p;

	if (rnd() & 1) {
		n = (rnd() & 3) ? 300 : 70000;
		mux_stream_write(st, junk, rnd() % n);
		return;
	}
	if ((p = mux_stream_send_buf(st, &cap)) == NULL) {
		if (cap != 0)
			abort();
		return;
	}
	if (cap != mux_stream_send_space(st))
		abort();
	n = rnd() % (cap + 1);
	memset(p, 'z', n);
	mux_stream_send_commit(st, n);
	if (mux_stream_unsent(st) > cfg.stream_send_max)
		abort();
}

/*
 * Handlers: do what a relay might, chosen by the schedule.
 */

static void
h_opened(void *arg, struct mux_stream *st, int type, uint32_t len)
{
	(void)arg;
	if (type != MUX_T_DATA && type != MUX_T_WINDOW_UPDATE)
		abort();
	if (type == MUX_T_DATA && len > MUX_INITIAL_WINDOW)
		abort();
	live_add(st);
	switch (rnd() % 6) {
	case 0:
		mux_stream_reset(st);
		break;
	case 1:
		break;		/* accept later, maybe */
	case 2:
		mux_stream_accept(st);
		write_some(st);
		break;
	case 3:
		mux_stream_close(st);
		break;
	default:
		mux_stream_accept(st);
		break;
	}
}

static void
h_acked(void *arg, struct mux_stream *st)
{
	(void)arg;
	if (live_index(st) < 0 || !mux_stream_acked(st))
		abort();
	if (rnd() % 3 == 0)
		write_some(st);
	else if (rnd() % 5 == 0)
		mux_stream_reset(st);
}

static void
h_data(void *arg, struct mux_stream *st, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	if (live_index(st) < 0 || n == 0 || mux_stream_buffered(st) < n)
		abort();
	switch (rnd() % 8) {
	case 0:
		mux_stream_reset(st);
		return;
	case 1:
		mux_stream_close(st);
		return;
	case 2:
		break;		/* keep it buffered */
	case 3:
		mux_stream_consumed(st, n / 2);
		write_some(st);
		break;
	default:
		mux_stream_consumed(st, n);
		break;
	}
}

static void
h_fin(void *arg, struct mux_stream *st)
{
	(void)arg;
	if (live_index(st) < 0 || !mux_stream_remote_closed(st))
		abort();
	if (rnd() % 2)
		mux_stream_close(st);
}

static void
h_writable(void *arg, struct mux_stream *st)
{
	(void)arg;
	if (live_index(st) < 0 || mux_stream_local_closed(st))
		abort();
	write_some(st);
}

static void
h_reset(void *arg, struct mux_stream *st, const char *why, int cut)
{
	(void)arg;
	if (live_index(st) < 0 || why == NULL)
		abort();
	if (cut != MUX_CUT_RESET && cut != MUX_CUT_ERROR && cut != MUX_CUT_EOF)
		abort();
	if (cut != MUX_CUT_RESET && !mux_is_dead(m))
		abort();
	/* Calls on a stream being reset must be harmless. */
	mux_stream_close(st);
	mux_stream_reset(st);
}

static void
h_closed(void *arg, struct mux_stream *st)
{
	int	 i;

	(void)arg;
	if ((i = live_index(st)) < 0)
		abort();
	live[i] = live[--nlive];
	mux_stream_reset(st);
	mux_stream_write(st, junk, 10);
}

static void
h_pong(void *arg, uint32_t id, uint64_t rtt)
{
	(void)arg;
	(void)id;
	(void)rtt;
}

static void
h_goaway(void *arg, uint32_t code)
{
	(void)arg;
	(void)code;
	if (rnd() % 4 == 0)
		live_add(mux_open(m, now, NULL));
}

static void
h_error(void *arg, const char *why)
{
	(void)arg;
	if (why == NULL || !mux_is_dead(m) || mux_error(m) != why)
		abort();
	if (mux_open(m, now, NULL) != NULL)
		abort();
}

static const struct mux_handlers handlers = {
	h_opened, h_acked, h_data, h_fin, h_writable, h_reset, h_closed,
	h_pong, h_goaway, h_error
};

/* Something the driver does between two pieces of input. */
static void
act(void)
{
	struct mux_stream	*st = nlive ? live[rnd() % nlive] : NULL;

	switch (rnd() % 16) {
	case 0:
		live_add(mux_open(m, now, NULL));
		break;
	case 1:
		live_add(mux_open_data(m, junk, rnd() % 300, now, NULL));
		break;
	case 2:
		/* Small ids, so that the input can answer them. */
		mux_ping(m, rnd() % 4, now);
		break;
	case 3:
		if (rnd() % 8 == 0)
			mux_goaway(m, rnd() % 16 == 0 ? 2 : 0);
		break;
	case 4:
	case 5:
		now += rnd() % 100;
		mux_tick(m, now);
		if (mux_next_timeout(m, now) < -1)
			abort();
		break;
	case 6:
		if (st)
			mux_stream_accept(st);
		break;
	case 7:
	case 8:
		if (st)
			write_some(st);
		break;
	case 9:
		if (st)
			mux_stream_consumed(st, mux_stream_buffered(st));
		break;
	case 10:
		if (st)
			mux_stream_close(st);
		break;
	case 11:
		if (st && rnd() % 4 == 0)
			mux_stream_reset(st);
		break;
	default:
		break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t	 frames[] = { 7, 100, 4096, 65536 };
	const uint8_t		*wire;
	struct mux_hdr		 h;
	size_t			 n, pos, hdr_at, len, end;
	uint64_t		 skip;
	uint8_t			 c;

	if (size < 2)
		return 0;
	c = data[0];
	mux_config_default(&cfg, (c & 1) ? MUX_SERVER : MUX_CLIENT);
	cfg.recv_window = (c & 2) ? 512 * 1024 : MUX_INITIAL_WINDOW;
	cfg.recv_window_max = (data[1] & 16) ? 2048 * 1024 : cfg.recv_window;
	cfg.recv_budget = (data[1] & 32) ? 300 * 1024 : 64 * 1024 * 1024;
	cfg.max_streams = (c & 4) ? 4 : 64;
	cfg.max_unacked = (c & 8) ? 2 : 32;
	cfg.stream_send_max = (c & 16) ? 1000 : 256 * 1024;
	cfg.output_max = (c & 32) ? 200 : 256 * 1024;
	cfg.max_frame = frames[(c >> 6) & 3];
	cfg.keepalive_ms = (data[1] & 1) ? 50 : 0;
	cfg.ping_timeout_ms = 120;
	cfg.open_timeout_ms = (data[1] & 2) ? 150 : 0;
	cfg.close_timeout_ms = (data[1] & 4) ? 80 : 0;
	rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)data[1] << 32 | size);
	now = 1000;
	nlive = 0;
	died = dead_goaway = 0;
	stalled = (data[1] & 8) != 0;
	ohlen = 0;
	oskip = 0;
	if (++gen == 0) {
		memset(sh, 0, sizeof(sh));
		gen = 1;
	}
	memset(junk, 'j', sizeof(junk));

	if ((m = mux_new(&cfg, &handlers, NULL, now)) == NULL)
		abort();
	wire = data + 2;
	n = size - 2;

	/*
	 * Walk the peer's bytes with the same framing as the mux; each header
	 * is fed alone in its last byte so the shadow learns of it first.
	 */
	pos = 0;
	hdr_at = 0;		/* where the next header starts */
	skip = 0;
	while (pos < n && !died) {
		if (rnd() % 3 == 0)
			act();
		drain(rnd() % 4 != 0);
		if (died)
			break;
		len = 1 + rnd() % ((rnd() & 1) ? 16 : 5000);
		end = pos + len < n ? pos + len : n;
		if (hdr_at + MUX_HEADER_SIZE - 1 < end)
			end = hdr_at + MUX_HEADER_SIZE - 1;
		if (end == pos) {
			/* The last byte of a header: tell the shadow. */
			mux_hdr_decode(&h, wire + hdr_at);
			drain(1);
			shadow_in(&h);
			mux_input(m, wire + pos, 1, now);
			pos++;
			skip = h.type == MUX_T_DATA ? h.length : 0;
			hdr_at = pos + (skip < n - pos ? skip : n - pos);
			if (skip > n - pos)
				hdr_at = n;
			drain(1);
			continue;
		}
		if (end > n)
			end = n;
		if (mux_input(m, wire + pos, end - pos, now) == -1 &&
		    !mux_is_dead(m))
			abort();
		pos = end;
		drain(rnd() % 2);
	}
	/* Let timers and the driver run a little after the input ends. */
	for (n = 0; n < 20 && !died; n++) {
		act();
		drain(rnd() % 2);
	}
	/* Sometimes the connection ends under it, in good order or not. */
	if (!died && (data[1] & 64))
		mux_close(m, (data[1] & 128) ? MUX_CUT_EOF : MUX_CUT_ERROR,
		    "closed");
	stalled = 0;
	drain(1);
	mux_free(m);
	m = NULL;
	return 0;
}
