/*
 * test_mux.c: the yamux session core against byte vectors and against
 * itself (a client and a server wired back to back).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mux.h"
#include "unit.h"

void	mux_test_set_next_id(struct mux *, uint32_t);

#define KB	1024u
#define WIN	MUX_INITIAL_WINDOW

/*
 * One end of a test session: its mux, an event log and what it received.
 * The log names each event with the stream id; consecutive data events of
 * one stream log once, so chunking never changes it.
 */
struct side {
	struct mux		*m;
	char			 log[16384];
	size_t			 loglen;
	char			 lastev[128];
	uint8_t			*data;
	size_t			 datalen;
	struct mux_stream	*last_opened;
	struct mux_stream	*last_acked;
	int			 opened, acked, fins, writables, resets;
	int			 closed, pongs, goaways, errors, events;
	uint32_t		 pong_id;
	uint64_t		 pong_rtt;
	const char		*reset_why;
	const char		*error_why;
	int			 error_streams;	/* streams alive at error */
	int			 auto_accept;
	int			 auto_consume;
	uint32_t		 reset_in_data;	/* stream id, 0 = none */
	uint32_t		 close_in_data;
	uint32_t		 echo_in_data;
	int			 open_in_opened;
	uint32_t		 syn_len;
	int			 last_cut;
	int			 write_in_acked;
};

static struct side	A, B;	/* A: client, B: server, unless said */

#define DATA_CAP	(4u * 1024 * 1024)

static void
logev(struct side *sd, const char *fmt, ...)
{
	char	 buf[128];
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	sd->events++;
	if (buf[0] == 'D' && strcmp(buf, sd->lastev) == 0)
		return;
	snprintf(sd->lastev, sizeof(sd->lastev), "%s", buf);
	if (sd->loglen + (size_t)n + 1 < sizeof(sd->log)) {
		memcpy(sd->log + sd->loglen, buf, (size_t)n);
		sd->loglen += (size_t)n;
		sd->log[sd->loglen] = '\0';
	}
}

static void
h_opened(void *arg, struct mux_stream *s, int type, uint32_t len)
{
	struct side	*sd = arg;

	sd->opened++;
	sd->syn_len = len;
	sd->last_opened = s;
	logev(sd, "O%u:%d ", mux_stream_id(s), type);
	if (sd->auto_accept)
		mux_stream_accept(s);
	if (sd->open_in_opened)
		mux_open(sd->m, 0, NULL);
}

static void
h_acked(void *arg, struct mux_stream *s)
{
	struct side	*sd = arg;

	sd->acked++;
	sd->last_acked = s;
	logev(sd, "A%u ", mux_stream_id(s));
	if (sd->write_in_acked)
		mux_stream_write(s, (const uint8_t *)"hi", 2);
}

static void
h_data(void *arg, struct mux_stream *s, const uint8_t *p, size_t n)
{
	struct side	*sd = arg;
	uint32_t	 id = mux_stream_id(s);

	logev(sd, "D%u ", id);
	if (sd->data != NULL && sd->datalen + n <= DATA_CAP) {
		memcpy(sd->data + sd->datalen, p, n);
		sd->datalen += n;
	}
	if (sd->auto_consume)
		mux_stream_consumed(s, n);
	if (sd->echo_in_data == id)
		mux_stream_write(s, p, n);
	if (sd->close_in_data == id)
		mux_stream_close(s);
	if (sd->reset_in_data == id)
		mux_stream_reset(s);
}

static void
h_fin(void *arg, struct mux_stream *s)
{
	struct side	*sd = arg;

	sd->fins++;
	logev(sd, "F%u ", mux_stream_id(s));
}

static void
h_writable(void *arg, struct mux_stream *s)
{
	struct side	*sd = arg;

	sd->writables++;
	logev(sd, "W%u ", mux_stream_id(s));
}

static void
h_reset(void *arg, struct mux_stream *s, const char *why, int cut)
{
	struct side	*sd = arg;

	sd->resets++;
	sd->reset_why = why;
	sd->last_cut = cut;
	logev(sd, "R%u:%s ", mux_stream_id(s), why);
}

static void
h_closed(void *arg, struct mux_stream *s)
{
	struct side	*sd = arg;

	sd->closed++;
	if (sd->last_opened == s)
		sd->last_opened = NULL;
	if (sd->last_acked == s)
		sd->last_acked = NULL;
	logev(sd, "C%u ", mux_stream_id(s));
}

static void
h_pong(void *arg, uint32_t id, uint64_t rtt)
{
	struct side	*sd = arg;

	sd->pongs++;
	sd->pong_id = id;
	sd->pong_rtt = rtt;
	logev(sd, "P%u:%llu ", id, (unsigned long long)rtt);
}

static void
h_goaway(void *arg, uint32_t code)
{
	struct side	*sd = arg;

	sd->goaways++;
	logev(sd, "G%u ", code);
}

static void
h_error(void *arg, const char *why)
{
	struct side	*sd = arg;

	sd->errors++;
	sd->error_why = why;
	sd->error_streams = (int)mux_stream_count(sd->m);
	logev(sd, "E:%s ", why);
}

static const struct mux_handlers handlers = {
	h_opened, h_acked, h_data, h_fin, h_writable, h_reset, h_closed,
	h_pong, h_goaway, h_error
};

/* The clock of mux_stream_consumed() and the like. */
static uint64_t	test_now;

static uint64_t
test_clock(void)
{
	return test_now;
}

/* Windows are what these tests look at: queues do not bind first. */
static void
cfg_init(struct mux_config *c, int role)
{
	mux_config_default(c, role);
	c->keepalive_ms = 0;
	c->stream_send_max = 4096 * KB;
	c->clock = test_clock;
}

static void
side_init_cfg(struct side *sd, const struct mux_config *c)
{
	uint8_t	*data = sd->data;

	if (sd->m != NULL)
		mux_free(sd->m);
	memset(sd, 0, sizeof(*sd));
	sd->data = data != NULL ? data : malloc(DATA_CAP);
	sd->m = mux_new(c, &handlers, sd, 0);
}

static void
side_init(struct side *sd, int role)
{
	struct mux_config	 c;

	cfg_init(&c, role);
	side_init_cfg(sd, &c);
}

/* The usual pair: A the client, B the server. */
static void
pair(void)
{
	side_init(&A, MUX_CLIENT);
	side_init(&B, MUX_SERVER);
}

/* Move what from has to send into to; returns the bytes moved. */
static size_t
pump1(struct side *from, struct side *to, uint64_t now)
{
	const uint8_t	*p;
	size_t		 n;

	n = mux_output(from->m, &p);
	if (n == 0)
		return 0;
	mux_input(to->m, p, n, now);
	mux_output_done(from->m, n);
	return n;
}

static void
pump_at(uint64_t now)
{
	while (pump1(&A, &B, now) + pump1(&B, &A, now) > 0)
		;
}

static void
pump(void)
{
	pump_at(0);
}

static size_t
enc(uint8_t *out, uint8_t type, uint16_t flags, uint32_t id, uint32_t len)
{
	struct mux_hdr	h;

	h.version = 0;
	h.type = type;
	h.flags = flags;
	h.stream_id = id;
	h.length = len;
	mux_hdr_encode(out, &h);
	return MUX_HEADER_SIZE;
}

/* Feed one hand-made frame (payload of plen bytes of 'x' unless given). */
static int
inject(struct side *sd, uint8_t type, uint16_t flags, uint32_t id,
    uint32_t len, const void *payload, size_t plen)
{
	static uint8_t	 buf[MUX_HEADER_SIZE + 1024 * 1024];
	size_t		 n;

	n = enc(buf, type, flags, id, len);
	if (plen > sizeof(buf) - n)
		plen = sizeof(buf) - n;
	if (payload != NULL)
		memcpy(buf + n, payload, plen);
	else
		memset(buf + n, 'x', plen);
	return mux_input(sd->m, buf, n + plen, 0);
}

/* A frame without payload, fed at a given time. */
static int
inject_at(struct side *sd, uint64_t now, uint8_t type, uint16_t flags,
    uint32_t id, uint32_t len)
{
	uint8_t	 buf[MUX_HEADER_SIZE];

	enc(buf, type, flags, id, len);
	return mux_input(sd->m, buf, sizeof(buf), now);
}

/* Drain the output of sd and parse it into headers. */
struct frames {
	struct mux_hdr	 h[4096];
	int		 n;
	size_t		 payload;	/* sum of Data lengths */
	int		 bad;		/* the output did not parse */
};

static struct frames	F;

static struct frames *
frames(struct side *sd)
{
	const uint8_t	*p;
	size_t		 n, off = 0;

	memset(&F, 0, sizeof(F));
	n = mux_output(sd->m, &p);
	while (off < n) {
		if (n - off < MUX_HEADER_SIZE) {
			F.bad = 1;
			break;
		}
		mux_hdr_decode(&F.h[F.n], p + off);
		off += MUX_HEADER_SIZE;
		if (F.h[F.n].type == MUX_T_DATA) {
			if (F.h[F.n].length > n - off) {
				F.bad = 1;
				break;
			}
			off += F.h[F.n].length;
			F.payload += F.h[F.n].length;
		}
		if (F.n < 4095)
			F.n++;
	}
	mux_output_done(sd->m, n);
	return &F;
}

static int
count_frames(const struct frames *f, int type, uint16_t flags, uint32_t id)
{
	int	 i, c = 0;

	for (i = 0; i < f->n; i++)
		if (f->h[i].type == type && f->h[i].flags == flags &&
		    f->h[i].stream_id == id)
			c++;
	return c;
}

static int
has_goaway(const struct frames *f, uint32_t code)
{
	int	 i;

	for (i = 0; i < f->n; i++)
		if (f->h[i].type == MUX_T_GOAWAY && f->h[i].length == code)
			return 1;
	return 0;
}

static uint8_t	 big[1024 * 1024];

/*
 * Header vectors.
 */

static void
test_hdr_data_syn_vector(void)
{
	static const uint8_t	 want[12] = { 0, 0, 0, 1, 0, 0, 0, 1, 0, 0,
	    0, 5 };
	struct mux_hdr		 h = { 0, MUX_T_DATA, MUX_F_SYN, 1, 5 }, d;
	uint8_t			 out[12];

	mux_hdr_encode(out, &h);
	CHECK(memcmp(out, want, 12) == 0);
	mux_hdr_decode(&d, want);
	CHECK_EQ(d.version, 0);
	CHECK_EQ(d.type, MUX_T_DATA);
	CHECK_EQ(d.flags, MUX_F_SYN);
	CHECK_EQ(d.stream_id, 1);
	CHECK_EQ(d.length, 5);
}

static void
test_hdr_window_update_vector(void)
{
	static const uint8_t	 want[12] = { 0, 1, 0, 2, 0, 0, 0, 2, 0, 3,
	    0, 0 };
	struct mux_hdr		 h = { 0, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 2,
	    0x30000 }, d;
	uint8_t			 out[12];

	mux_hdr_encode(out, &h);
	CHECK(memcmp(out, want, 12) == 0);
	mux_hdr_decode(&d, want);
	CHECK_EQ(d.type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(d.flags, MUX_F_ACK);
	CHECK_EQ(d.stream_id, 2);
	CHECK_EQ(d.length, 0x30000);
}

static void
test_hdr_ping_goaway_vectors(void)
{
	static const uint8_t	 ping[12] = { 0, 2, 0, 1, 0, 0, 0, 0, 0x12,
	    0x34, 0x56, 0x78 };
	static const uint8_t	 ga[12] = { 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    1 };
	struct mux_hdr		 h = { 0, MUX_T_PING, MUX_F_SYN, 0,
	    0x12345678 };
	uint8_t			 out[12];

	mux_hdr_encode(out, &h);
	CHECK(memcmp(out, ping, 12) == 0);
	h.type = MUX_T_GOAWAY;
	h.flags = 0;
	h.length = MUX_GOAWAY_PROTOCOL;
	mux_hdr_encode(out, &h);
	CHECK(memcmp(out, ga, 12) == 0);
}

static void
test_hdr_roundtrip_extremes(void)
{
	struct mux_hdr	 cases[] = {
		{ 0, 0, 0, 0, 0 },
		{ 0xff, 0xff, 0xffff, 0xffffffff, 0xffffffff },
		{ 0x80, 0x01, 0x8001, 0x80000001, 0x80000000 },
		{ 0, 3, 0xf, 0x7fffffff, 1 },
	};
	struct mux_hdr	 d;
	uint8_t		 out[12];
	size_t		 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		mux_hdr_encode(out, &cases[i]);
		mux_hdr_decode(&d, out);
		CHECK_EQ(d.version, cases[i].version);
		CHECK_EQ(d.type, cases[i].type);
		CHECK_EQ(d.flags, cases[i].flags);
		CHECK_EQ(d.stream_id, cases[i].stream_id);
		CHECK_EQ(d.length, cases[i].length);
	}
	mux_hdr_encode(out, &cases[1]);
	for (i = 0; i < 12; i++)
		CHECK_EQ(out[i], 0xff);
}

/*
 * Opening streams.
 */

static void
test_open_accept_roundtrip(void)
{
	struct mux_stream	*s;
	struct frames		*f;

	pair();
	s = mux_open(A.m, 0, NULL);
	CHECK(s != NULL);
	CHECK_EQ(mux_stream_id(s), 1);
	CHECK(!mux_stream_acked(s));
	f = frames(&A);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[0].flags, MUX_F_SYN);
	CHECK_EQ(f->h[0].length, 0);
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0), 0);
	CHECK(strcmp(B.log, "O1:1 ") == 0);
	CHECK(mux_stream_acked(B.last_opened));
	mux_stream_accept(B.last_opened);
	pump();
	CHECK(strcmp(A.log, "A1 ") == 0);
	CHECK(mux_stream_acked(s));
	CHECK_EQ(mux_stream_count(A.m), 1);
	CHECK_EQ(mux_stream_count(B.m), 1);
}

static void
test_stream_ids_by_role(void)
{
	int	 i;

	pair();
	for (i = 0; i < 3; i++) {
		CHECK_EQ(mux_stream_id(mux_open(A.m, 0, NULL)), 1 + 2 * i);
		CHECK_EQ(mux_stream_id(mux_open(B.m, 0, NULL)), 2 + 2 * i);
	}
	B.auto_accept = A.auto_accept = 1;
	pump();
	CHECK_EQ(A.opened, 3);
	CHECK_EQ(B.opened, 3);
	CHECK_EQ(A.acked, 3);
	CHECK_EQ(B.acked, 3);
	CHECK_EQ(A.errors + B.errors, 0);
}

static void
test_open_data_syn(void)
{
	struct mux_stream	*s;
	const char		*why = NULL;
	struct frames		*f;

	pair();
	s = mux_open_data(A.m, (const uint8_t *)"hello", 5, 0, &why);
	CHECK(s != NULL);
	f = frames(&A);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].type, MUX_T_DATA);
	CHECK_EQ(f->h[0].flags, MUX_F_SYN);
	CHECK_EQ(f->h[0].length, 5);
	CHECK_EQ(mux_stream_send_space(s), WIN - 5);
	inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 5, "hello", 5);
	CHECK(strcmp(B.log, "O1:0 D1 ") == 0);
	CHECK_EQ(B.datalen, 5);
	CHECK(memcmp(B.data, "hello", 5) == 0);
	CHECK_EQ(mux_stream_buffered(B.last_opened), 5);
	CHECK(mux_open_data(A.m, big, WIN + 1, 0, &why) == NULL);
	CHECK(strcmp(why, "hello too large") == 0);
}

static void
test_id_exhaustion(void)
{
	struct mux_stream	*s;
	const char		*why = NULL;

	pair();
	mux_test_set_next_id(A.m, 0xfffffffd);
	s = mux_open(A.m, 0, &why);
	CHECK(s != NULL);
	CHECK_EQ(mux_stream_id(s), 0xfffffffdu);
	CHECK(mux_open(A.m, 0, &why) == NULL);
	CHECK(strcmp(why, "stream ids exhausted") == 0);
	mux_test_set_next_id(B.m, 0xfffffffc);
	s = mux_open(B.m, 0, &why);
	CHECK(s != NULL);
	CHECK_EQ(mux_stream_id(s), 0xfffffffcu);
	CHECK(mux_open(B.m, 0, &why) == NULL);
	CHECK(strcmp(why, "stream ids exhausted") == 0);
	CHECK(!mux_is_dead(A.m) && !mux_is_dead(B.m));
}

static void
test_ids_never_reused(void)
{
	struct mux_stream	*s;

	pair();
	s = mux_open(A.m, 0, NULL);
	CHECK_EQ(mux_stream_id(s), 1);
	mux_stream_reset(s);
	CHECK_EQ(mux_stream_count(A.m), 0);
	s = mux_open(A.m, 0, NULL);
	CHECK_EQ(mux_stream_id(s), 3);
}

/*
 * A fixed byte stream, fed whole and split at every boundary.
 */

static size_t
script(uint8_t *buf)
{
	size_t	 n = 0, i;

	n += enc(buf + n, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 1000);
	n += enc(buf + n, MUX_T_DATA, 0, 1, 100);
	for (i = 0; i < 100; i++)
		buf[n++] = (uint8_t)i;
	n += enc(buf + n, MUX_T_DATA, MUX_F_SYN, 3, 7);
	memcpy(buf + n, "sevenby", 7);
	n += 7;
	n += enc(buf + n, MUX_T_PING, MUX_F_SYN, 0, 42);
	n += enc(buf + n, MUX_T_WINDOW_UPDATE, 0, 1, 4096);
	n += enc(buf + n, MUX_T_DATA, 0, 1, 0);
	n += enc(buf + n, MUX_T_DATA, 0, 9, 10);	/* unknown: skipped */
	memset(buf + n, 'u', 10);
	n += 10;
	n += enc(buf + n, MUX_T_DATA, 0, 3, 3);
	memcpy(buf + n, "abc", 3);
	n += 3;
	n += enc(buf + n, MUX_T_DATA, MUX_F_FIN, 1, 5);
	memcpy(buf + n, "final", 5);
	n += 5;
	n += enc(buf + n, MUX_T_WINDOW_UPDATE, MUX_F_FIN, 3, 0);
	n += enc(buf + n, MUX_T_PING, MUX_F_ACK, 0, 77);
	n += enc(buf + n, MUX_T_WINDOW_UPDATE, MUX_F_RST, 11, 0);
	n += enc(buf + n, MUX_T_GOAWAY, 0, 0, 0);
	return n;
}

static char		 want_log[16384];
static uint8_t		 want_data[1024];
static size_t		 want_datalen;

static void
script_reference(const uint8_t *buf, size_t n)
{
	side_init(&B, MUX_SERVER);
	B.auto_accept = 1;
	mux_input(B.m, buf, n, 0);
	memcpy(want_log, B.log, sizeof(want_log));
	memcpy(want_data, B.data, B.datalen);
	want_datalen = B.datalen;
}

static void
test_split_every_boundary(void)
{
	uint8_t	 buf[1024];
	size_t	 n, k;

	n = script(buf);
	script_reference(buf, n);
	CHECK(strcmp(want_log, "O1:1 D1 O3:0 D3 D1 F1 F3 G0 ") == 0);
	CHECK_EQ(want_datalen, 100 + 7 + 3 + 5);
	for (k = 0; k <= n; k++) {
		side_init(&B, MUX_SERVER);
		B.auto_accept = 1;
		CHECK_EQ(mux_input(B.m, buf, k, 0), 0);
		CHECK_EQ(mux_input(B.m, buf + k, n - k, 0), 0);
		CHECK(strcmp(B.log, want_log) == 0);
		CHECK_EQ(B.datalen, want_datalen);
		CHECK(memcmp(B.data, want_data, want_datalen) == 0);
	}
}

static void
test_split_byte_by_byte(void)
{
	uint8_t		 buf[1024];
	size_t		 n, k;
	struct frames	*f;

	n = script(buf);
	script_reference(buf, n);
	side_init(&B, MUX_SERVER);
	B.auto_accept = 1;
	for (k = 0; k < n; k++)
		CHECK_EQ(mux_input(B.m, buf + k, 1, 0), 0);
	CHECK(strcmp(B.log, want_log) == 0);
	CHECK_EQ(B.datalen, want_datalen);
	CHECK(memcmp(B.data, want_data, want_datalen) == 0);
	f = frames(&B);
	CHECK_EQ(count_frames(f, MUX_T_PING, MUX_F_ACK, 0), 1);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 1), 1);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 3), 1);
}

static void
test_split_two_muxes(void)
{
	struct mux_stream	*s;
	uint8_t			 wire[8192];
	const uint8_t		*p;
	size_t			 n, k, i;
	char			 ref[16384];

	/* Real output of a client, fed to servers in two pieces. */
	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	for (i = 0; i < 300; i++)
		big[i] = (uint8_t)(i * 7);
	mux_stream_write(s, big, 300);
	mux_ping(A.m, 5, 0);
	mux_stream_close(s);
	mux_open_data(A.m, (const uint8_t *)"hey", 3, 0, NULL);
	n = mux_output(A.m, &p);
	CHECK(n < sizeof(wire));
	memcpy(wire, p, n);
	side_init(&B, MUX_SERVER);
	mux_input(B.m, wire, n, 0);
	memcpy(ref, B.log, sizeof(ref));
	/* Control frames (both SYNs, the ping) ahead of stream 1's data. */
	CHECK(strcmp(ref, "O1:1 O3:0 D3 D1 F1 ") == 0);
	for (k = 1; k < n; k++) {
		side_init(&B, MUX_SERVER);
		mux_input(B.m, wire, k, 0);
		mux_input(B.m, wire + k, n - k, 0);
		CHECK(strcmp(B.log, ref) == 0);
		CHECK_EQ(B.datalen, 303);
		CHECK(memcmp(B.data + 3, big, 300) == 0);
	}
}

/*
 * Protocol violations: each ends the session with GoAway(protocol error).
 */

static void
violation_check(struct side *sd, int rc, const char *why)
{
	struct frames	*f;

	CHECK_EQ(rc, -1);
	CHECK(mux_is_dead(sd->m));
	CHECK_EQ(sd->errors, 1);
	CHECK(sd->error_why != NULL && strcmp(sd->error_why, why) == 0);
	CHECK(strcmp(mux_error(sd->m), why) == 0);
	f = frames(sd);
	CHECK(!f->bad);
	CHECK(has_goaway(f, MUX_GOAWAY_PROTOCOL));
	CHECK_EQ(mux_input(sd->m, (const uint8_t *)"x", 1, 0), -1);
}

#define VIOLATION(sd, rc, why) do {					\
	violation_check((sd), (rc), (why));				\
	if (unit_case_failed)						\
		return;							\
} while (0)

static void
test_violation_bad_version(void)
{
	uint8_t	 buf[12];

	side_init(&B, MUX_SERVER);
	enc(buf, MUX_T_PING, MUX_F_SYN, 0, 1);
	buf[0] = 1;
	VIOLATION(&B, mux_input(B.m, buf, 12, 0), "bad version");
	CHECK_EQ(B.events, 1);
}

static void
test_violation_bad_frame_type(void)
{
	side_init(&B, MUX_SERVER);
	VIOLATION(&B, inject(&B, 4, 0, 0, 0, NULL, 0), "bad frame type");
}

static void
test_violation_duplicate_syn(void)
{
	side_init(&B, MUX_SERVER);
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0), 0);
	VIOLATION(&B, inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 0, NULL, 0),
	    "duplicate SYN");
	/* The stream that was live got its reset and closed. */
	CHECK_EQ(B.resets, 1);
	CHECK_EQ(B.closed, 1);
}

static void
test_violation_syn_wrong_parity(void)
{
	side_init(&B, MUX_SERVER);
	VIOLATION(&B, inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 2, 0, NULL,
	    0), "SYN with wrong stream id parity");
	side_init(&A, MUX_CLIENT);
	VIOLATION(&A, inject(&A, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 7, 0, NULL,
	    0), "SYN with wrong stream id parity");
}

static void
test_violation_syn_id_zero(void)
{
	side_init(&A, MUX_CLIENT);
	VIOLATION(&A, inject(&A, MUX_T_DATA, MUX_F_SYN, 0, 0, NULL, 0),
	    "SYN with wrong stream id parity");
}

static void
test_violation_data_beyond_window(void)
{
	side_init(&B, MUX_SERVER);
	CHECK_EQ(inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 200 * KB, NULL,
	    200 * KB), 0);
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 1, 56 * KB, NULL, 56 * KB), 0);
	CHECK_EQ(B.datalen, WIN);
	VIOLATION(&B, inject(&B, MUX_T_DATA, 0, 1, 1, NULL, 1),
	    "data beyond window");
}

static void
test_violation_data_beyond_advertised(void)
{
	side_init(&B, MUX_SERVER);
	/* Unknown stream, but more than any window we ever offered. */
	VIOLATION(&B, inject(&B, MUX_T_DATA, 0, 5, WIN + 1, NULL, 0),
	    "data beyond window");
	side_init(&B, MUX_SERVER);
	VIOLATION(&B, inject(&B, MUX_T_DATA, MUX_F_SYN, 5, WIN + 1, NULL, 0),
	    "data beyond window");
}

static void
test_violation_window_overflow(void)
{
	side_init(&B, MUX_SERVER);
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1,
	    0xffffffffu - WIN, NULL, 0), 0);
	CHECK_EQ(mux_stream_send_space(B.last_opened), 1024 * 1024);
	VIOLATION(&B, inject(&B, MUX_T_WINDOW_UPDATE, 0, 1, 1, NULL, 0),
	    "window overflow");
}

static void
test_violation_second_fin(void)
{
	side_init(&B, MUX_SERVER);
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0), 0);
	CHECK_EQ(inject(&B, MUX_T_DATA, MUX_F_FIN, 1, 0, NULL, 0), 0);
	CHECK_EQ(B.fins, 1);
	VIOLATION(&B, inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_FIN, 1, 0, NULL,
	    0), "second FIN");
}

static void
test_dead_session_quiet(void)
{
	int	 ev;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 3, 0, NULL, 0);
	CHECK_EQ(inject(&B, 9, 0, 0, 0, NULL, 0), -1);
	CHECK_EQ(B.resets, 2);
	CHECK_EQ(B.closed, 2);
	CHECK_EQ(B.error_streams, 2);	/* error handler ran first */
	CHECK_EQ(mux_stream_count(B.m), 0);
	ev = B.events;
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 5, 0, NULL, 0),
	    -1);
	CHECK_EQ(inject(&B, MUX_T_PING, MUX_F_SYN, 0, 1, NULL, 0), -1);
	mux_tick(B.m, 1000000);
	CHECK_EQ(B.events, ev);
	CHECK(mux_open(B.m, 0, NULL) == NULL);
	CHECK_EQ(mux_ping(B.m, 1, 0), -1);
	CHECK_EQ(mux_next_timeout(B.m, 0), -1);
}

/*
 * Frames for streams we do not know.
 */

static void
test_unknown_stream_skipped(void)
{
	side_init(&B, MUX_SERVER);
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 7, 1000, NULL, 1000), 0);
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 9, 5, NULL, 0), 0);
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_FIN, 9, 0, NULL, 0), 0);
	CHECK_EQ(inject(&B, MUX_T_DATA, MUX_F_RST, 9, 3, NULL, 3), 0);
	CHECK_EQ(B.events, 0);
	CHECK_EQ(frames(&B)->n, 0);
	CHECK_EQ(inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 4, "abcd", 4), 0);
	CHECK(strcmp(B.log, "O1:0 D1 ") == 0);
	CHECK(memcmp(B.data, "abcd", 4) == 0);
}

static void
test_closed_stream_frames_skipped(void)
{
	struct mux_stream	*s;

	pair();
	A.auto_accept = B.auto_accept = 1;
	s = mux_open(B.m, 0, NULL);
	pump();
	mux_stream_reset(s);
	CHECK_EQ(mux_stream_count(B.m), 0);
	/* Late data for the reset stream: dropped without a trace. */
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 2, 5000, NULL, 5000), 0);
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_FIN, 2, 10, NULL, 0),
	    0);
	CHECK_EQ(B.datalen, 0);
	CHECK_EQ(B.closed, 1);
	CHECK(!mux_is_dead(B.m));
	CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0), 0);
	CHECK_EQ(B.opened, 1);
}

static void
test_data_after_fin_dropped(void)
{
	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_DATA, MUX_F_SYN | MUX_F_FIN, 1, 2, "ok", 2);
	CHECK(strcmp(B.log, "O1:0 D1 F1 ") == 0);
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 1, 3, "bad", 3), 0);
	CHECK_EQ(B.datalen, 2);
	CHECK(!mux_is_dead(B.m));
}

/*
 * Flow control.
 */

static void
test_send_window_stops_at_256k(void)
{
	struct mux_stream	*s;
	struct frames		*f;
	size_t			 n;
	int			 i;

	pair();
	B.auto_accept = 1;
	s = mux_open(A.m, 0, NULL);
	pump();
	CHECK_EQ(mux_stream_send_space(s), WIN);
	n = mux_stream_write(s, big, 300 * KB);
	CHECK_EQ(n, WIN);
	CHECK_EQ(mux_stream_send_space(s), 0);
	CHECK_EQ(mux_stream_write(s, big, 1), 0);
	CHECK(mux_stream_send_buf(s, &n) == NULL);
	CHECK_EQ(n, 0);
	f = frames(&A);
	CHECK_EQ(f->payload, WIN);
	for (i = 0; i < f->n; i++)
		CHECK(f->h[i].length <= 64 * KB);
	CHECK_EQ(f->n, 4);
}

static void
test_window_update_after_half_consumed(void)
{
	struct mux_stream	*s;
	struct frames		*f;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 200 * KB, NULL, 200 * KB);
	s = B.last_opened;
	mux_stream_accept(s);
	f = frames(&B);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 1), 1);
	CHECK_EQ(f->h[0].length, 0);
	mux_stream_consumed(s, 128 * KB - 1);
	CHECK_EQ(frames(&B)->n, 0);
	CHECK_EQ(mux_stream_buffered(s), 72 * KB + 1);
	mux_stream_consumed(s, 1);
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[0].flags, 0);
	CHECK_EQ(f->h[0].length, 128 * KB);
	/* The peer may now send 56K + 128K. */
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 1, 184 * KB, NULL, 184 * KB), 0);
	CHECK(!mux_is_dead(B.m));
}

static void
test_writable_after_update(void)
{
	struct mux_stream	*s;

	pair();
	B.auto_accept = 1;
	s = mux_open(A.m, 0, NULL);
	pump();
	CHECK_EQ(mux_stream_write(s, big, WIN), WIN);
	pump();
	CHECK_EQ(A.writables, 0);
	mux_stream_consumed(B.last_opened, 127 * KB);
	pump();
	CHECK_EQ(A.writables, 0);
	mux_stream_consumed(B.last_opened, KB);
	pump();
	CHECK_EQ(A.writables, 1);
	CHECK_EQ(mux_stream_send_space(s), 128 * KB);
	CHECK(strstr(A.log, "W1 ") != NULL);
}

static void
test_large_recv_window_on_syn(void)
{
	struct mux_config	 c;
	struct mux_stream	*s;
	struct frames		*f;

	cfg_init(&c, MUX_CLIENT);
	c.recv_window = 1024 * KB;
	side_init_cfg(&A, &c);
	side_init(&B, MUX_SERVER);
	s = mux_open(A.m, 0, NULL);
	CHECK(s != NULL);
	f = frames(&A);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].flags, MUX_F_SYN);
	CHECK_EQ(f->h[0].length, 768 * KB);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 768 * KB, NULL, 0);
	CHECK_EQ(mux_stream_send_space(B.last_opened), 1024 * KB);
	/* And A accepts a whole MiB on that stream. */
	CHECK_EQ(inject(&A, MUX_T_DATA, MUX_F_ACK, 1, 1024 * KB, NULL,
	    1024 * KB), 0);
	CHECK_EQ(A.datalen, 1024 * KB);
	CHECK_EQ(inject(&A, MUX_T_DATA, 0, 1, 1, NULL, 1), -1);
	CHECK(strcmp(A.error_why, "data beyond window") == 0);
}

static void
test_large_recv_window_on_ack(void)
{
	struct mux_config	 c;
	struct mux_stream	*s;
	struct frames		*f;

	cfg_init(&c, MUX_CLIENT);
	c.output_max = 4096 * KB;
	side_init_cfg(&A, &c);
	cfg_init(&c, MUX_SERVER);
	c.recv_window = 1024 * KB;
	side_init_cfg(&B, &c);
	s = mux_open(A.m, 0, NULL);
	pump1(&A, &B, 0);
	mux_stream_accept(B.last_opened);
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[0].flags, MUX_F_ACK);
	CHECK_EQ(f->h[0].length, 768 * KB);
	inject(&A, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 1, 768 * KB, NULL, 0);
	CHECK_EQ(mux_stream_send_space(s), 1024 * KB);
	CHECK_EQ(mux_stream_write(s, big, 1024 * KB), 1024 * KB);
	pump1(&A, &B, 0);
	CHECK(!mux_is_dead(B.m));
	CHECK_EQ(B.datalen, 1024 * KB);
}

static void
test_open_data_large_window_update(void)
{
	struct mux_config	 c;
	struct frames		*f;

	cfg_init(&c, MUX_CLIENT);
	c.recv_window = 1024 * KB;
	side_init_cfg(&A, &c);
	CHECK(mux_open_data(A.m, (const uint8_t *)"hi", 2, 0, NULL) != NULL);
	f = frames(&A);
	CHECK_EQ(f->n, 2);
	CHECK_EQ(f->h[0].type, MUX_T_DATA);
	CHECK_EQ(f->h[0].flags, MUX_F_SYN);
	CHECK_EQ(f->h[1].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[1].flags, 0);
	CHECK_EQ(f->h[1].length, 768 * KB);
}

static void
test_peer_larger_window_honored(void)
{
	struct mux_stream	*s;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 100000, NULL, 0);
	s = B.last_opened;
	CHECK_EQ(mux_stream_send_space(s), WIN + 100000);
	inject(&B, MUX_T_WINDOW_UPDATE, 0, 1, 5, NULL, 0);
	CHECK_EQ(mux_stream_send_space(s), WIN + 100005);
	CHECK_EQ(mux_stream_write(s, big, WIN + 200000), WIN + 100005);
	CHECK_EQ(frames(&B)->payload, WIN + 100005);
	/* Our own stream: the delta rides on the peer's ACK. */
	s = mux_open(B.m, 0, NULL);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 2, 1000, NULL, 0);
	CHECK_EQ(mux_stream_send_space(s), WIN + 1000);
	CHECK_EQ(B.writables, 0);
}

static void
test_consumed_mid_frame(void)
{
	side_init(&B, MUX_SERVER);
	B.auto_consume = 1;
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	mux_stream_accept(B.last_opened);
	frames(&B);
	/* A frame of 200K arriving in pieces, consumed as it comes. */
	{
		uint8_t	 h[12];
		size_t	 i;

		enc(h, MUX_T_DATA, 0, 1, 200 * KB);
		mux_input(B.m, h, 12, 0);
		for (i = 0; i < 200; i++)
			mux_input(B.m, big, KB, 0);
	}
	/*
	 * hashicorp's rule: one update of 128K once half is consumed, the
	 * remaining 72K wait for more consumption.
	 */
	{
		struct frames	*f = frames(&B);
		uint64_t	 granted = 0;
		int		 i;

		for (i = 0; i < f->n; i++)
			granted += f->h[i].length;
		CHECK_EQ(granted, 128 * KB);
		CHECK_EQ(f->n, 1);
	}
	B.auto_consume = 0;
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 1, 184 * KB, NULL, 184 * KB), 0);
	CHECK(!mux_is_dead(B.m));
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 1, 1, NULL, 1), -1);
}

/*
 * Half-close and reset.
 */

static void
test_half_close_client_first(void)
{
	struct mux_stream	*s;

	pair();
	B.auto_accept = 1;
	s = mux_open(A.m, 0, NULL);
	mux_stream_write(s, (const uint8_t *)"ping", 4);
	mux_stream_close(s);
	CHECK(mux_stream_local_closed(s));
	CHECK_EQ(mux_stream_write(s, big, 1), 0);
	CHECK_EQ(mux_stream_send_space(s), 0);
	pump();
	CHECK(strcmp(B.log, "O1:1 D1 F1 ") == 0);
	CHECK(mux_stream_remote_closed(B.last_opened));
	CHECK_EQ(mux_stream_write(B.last_opened, (const uint8_t *)"pong", 4),
	    4);
	mux_stream_close(B.last_opened);
	/* B's stream ends once its FIN is out. */
	CHECK_EQ(B.closed, 0);
	pump();
	CHECK_EQ(B.closed, 1);
	CHECK(strcmp(A.log, "A1 D1 F1 C1 ") == 0);
	CHECK(memcmp(A.data, "pong", 4) == 0);
	CHECK_EQ(mux_stream_count(A.m), 0);
	CHECK_EQ(mux_stream_count(B.m), 0);
}

static void
test_half_close_server_first(void)
{
	struct mux_stream	*s;

	pair();
	A.auto_accept = 1;
	s = mux_open(B.m, 0, NULL);
	pump();
	mux_stream_close(s);
	pump();
	CHECK(strcmp(A.log, "O2:1 F2 ") == 0);
	CHECK_EQ(mux_stream_write(A.last_opened, (const uint8_t *)"late", 4),
	    4);
	pump();
	CHECK(memcmp(B.data, "late", 4) == 0);
	mux_stream_close(A.last_opened);
	pump();
	CHECK(strcmp(B.log, "A2 D2 F2 C2 ") == 0);
	CHECK_EQ(A.closed, 1);
	CHECK_EQ(B.closed, 1);
}

static void
test_rst_from_client(void)
{
	struct mux_stream	*s;
	struct frames		*f;

	pair();
	B.auto_accept = 1;
	s = mux_open(A.m, 0, NULL);
	pump();
	mux_stream_reset(s);
	CHECK_EQ(A.closed, 1);
	CHECK_EQ(A.resets, 0);
	CHECK_EQ(mux_stream_count(A.m), 0);
	f = frames(&A);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_RST, 1), 1);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_RST, 1, 0, NULL, 0);
	CHECK(strcmp(B.log, "O1:1 R1:reset by peer C1 ") == 0);
	CHECK_EQ(mux_stream_count(B.m), 0);
}

static void
test_rst_from_server(void)
{
	pair();
	B.auto_accept = 1;
	mux_open(A.m, 0, NULL);
	pump();
	mux_stream_reset(B.last_opened);
	CHECK_EQ(B.closed, 1);
	CHECK_EQ(B.resets, 0);
	pump();
	CHECK(strcmp(A.log, "A1 R1:reset by peer C1 ") == 0);
	CHECK(strcmp(A.reset_why, "reset by peer") == 0);
}

static void
test_rst_unknown_ignored(void)
{
	side_init(&A, MUX_CLIENT);
	CHECK_EQ(inject(&A, MUX_T_WINDOW_UPDATE, MUX_F_RST, 1, 0, NULL, 0), 0);
	CHECK_EQ(inject(&A, MUX_T_DATA, MUX_F_RST, 2, 0, NULL, 0), 0);
	CHECK_EQ(A.events, 0);
	CHECK_EQ(frames(&A)->n, 0);
	CHECK(!mux_is_dead(A.m));
}

static void
test_fin_with_data_one_frame(void)
{
	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	inject(&B, MUX_T_DATA, MUX_F_FIN, 1, 6, "byebye", 6);
	CHECK(strcmp(B.log, "O1:1 D1 F1 ") == 0);
	CHECK(memcmp(B.data, "byebye", 6) == 0);
	mux_stream_close(B.last_opened);
	CHECK(strcmp(B.log, "O1:1 D1 F1 ") == 0);
	frames(&B);
	CHECK(strcmp(B.log, "O1:1 D1 F1 C1 ") == 0);
	/* SYN, data and FIN on a single frame. */
	inject(&B, MUX_T_DATA, MUX_F_SYN | MUX_F_FIN, 3, 3, "one", 3);
	CHECK(strcmp(B.log, "O1:1 D1 F1 C1 O3:0 D3 F3 ") == 0);
}

static void
test_ack_exactly_once(void)
{
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	mux_stream_accept(B.last_opened);
	mux_stream_accept(B.last_opened);
	mux_stream_write(B.last_opened, (const uint8_t *)"x", 1);
	mux_stream_close(B.last_opened);
	f = frames(&B);
	CHECK_EQ(f->n, 3);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 1), 1);
	CHECK_EQ(count_frames(f, MUX_T_DATA, 0, 1), 1);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_FIN, 1), 1);
	/* Our own streams are never ACKed by us. */
	mux_stream_accept(mux_open(B.m, 0, NULL));
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].flags, MUX_F_SYN);
}

static void
test_close_before_accept_carries_ack(void)
{
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	mux_stream_close(B.last_opened);
	mux_stream_accept(B.last_opened);
	/* The ACK goes first, the FIN after what was queued (nothing). */
	f = frames(&B);
	CHECK_EQ(f->n, 2);
	CHECK_EQ(f->h[0].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[0].flags, MUX_F_ACK);
	CHECK_EQ(f->h[1].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[1].flags, MUX_F_FIN);
	CHECK_EQ(f->h[1].length, 0);
}

static void
test_write_before_accept_carries_ack(void)
{
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	mux_stream_write(B.last_opened, (const uint8_t *)"ab", 2);
	mux_stream_write(B.last_opened, (const uint8_t *)"cd", 2);
	mux_stream_accept(B.last_opened);
	/* The ACK on its own, first; the queued bytes in one frame after. */
	f = frames(&B);
	CHECK_EQ(f->n, 2);
	CHECK_EQ(f->h[0].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[0].flags, MUX_F_ACK);
	CHECK_EQ(f->h[1].type, MUX_T_DATA);
	CHECK_EQ(f->h[1].flags, 0);
	CHECK_EQ(f->h[1].length, 4);
	/* The zero-copy path too. */
	{
		size_t	 cap;
		uint8_t	*p;

		inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 3, 0, NULL, 0);
		p = mux_stream_send_buf(B.last_opened, &cap);
		CHECK(p != NULL);
		memcpy(p, "zc", 2);
		mux_stream_send_commit(B.last_opened, 2);
		f = frames(&B);
		CHECK_EQ(f->n, 2);
		CHECK_EQ(f->h[0].flags, MUX_F_ACK);
		CHECK_EQ(f->h[1].type, MUX_T_DATA);
		CHECK_EQ(f->h[1].length, 2);
	}
}

static void
test_reset_before_accept_carries_ack(void)
{
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	mux_stream_reset(B.last_opened);
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].flags, MUX_F_ACK | MUX_F_RST);
	CHECK_EQ(B.closed, 1);
	CHECK_EQ(B.resets, 0);
}

static void
test_never_second_fin(void)
{
	struct mux_stream	*s;
	struct frames		*f;
	size_t			 cap;

	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	mux_stream_close(s);
	mux_stream_close(s);
	mux_stream_close(s);
	f = frames(&A);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_FIN, 1), 1);
	CHECK_EQ(f->n, 2);
	CHECK_EQ(mux_stream_write(s, big, 10), 0);
	CHECK(mux_stream_send_buf(s, &cap) == NULL);
	CHECK_EQ(cap, 0);
	CHECK_EQ(frames(&A)->n, 0);
	/* A reset after the FIN is still fine. */
	mux_stream_reset(s);
	CHECK_EQ(count_frames(frames(&A), MUX_T_WINDOW_UPDATE, MUX_F_RST, 1),
	    1);
}

/*
 * Ping, keepalive and timeouts.
 */

static void
test_ping_pong_rtt(void)
{
	pair();
	CHECK_EQ(mux_last_rtt(A.m), -1);
	CHECK_EQ(mux_ping(A.m, 7, 100), 0);
	pump1(&A, &B, 110);
	pump1(&B, &A, 130);
	CHECK_EQ(A.pongs, 1);
	CHECK_EQ(A.pong_id, 7);
	CHECK_EQ(A.pong_rtt, 30);
	CHECK_EQ(mux_last_rtt(A.m), 30);
	CHECK_EQ(B.events, 0);
	/* An unsolicited pong is ignored. */
	inject(&A, MUX_T_PING, MUX_F_ACK, 0, 7, NULL, 0);
	CHECK_EQ(A.pongs, 1);
}

static void
test_ping_reply_immediate(void)
{
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	/* hashicorp ignores the stream id of a Ping; so do we. */
	inject(&B, MUX_T_PING, MUX_F_SYN, 9, 0xdeadbeef, NULL, 0);
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].type, MUX_T_PING);
	CHECK_EQ(f->h[0].flags, MUX_F_ACK);
	CHECK_EQ(f->h[0].stream_id, 0);
	CHECK_EQ(f->h[0].length, 0xdeadbeef);
	CHECK_EQ(B.events, 0);
}

static void
test_keepalive_sends_ping(void)
{
	struct mux_config	 c;
	struct frames		*f;
	uint32_t		 id;

	cfg_init(&c, MUX_SERVER);
	c.keepalive_ms = 1000;
	c.ping_timeout_ms = 500;
	side_init_cfg(&B, &c);
	side_init(&A, MUX_CLIENT);
	CHECK_EQ(mux_next_timeout(B.m, 0), 1000);
	mux_tick(B.m, 999);
	CHECK_EQ(frames(&B)->n, 0);
	mux_tick(B.m, 1000);
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].type, MUX_T_PING);
	CHECK_EQ(f->h[0].flags, MUX_F_SYN);
	id = f->h[0].length;
	/* Nothing more until the next interval; the silence deadline runs. */
	mux_tick(B.m, 1200);
	CHECK_EQ(frames(&B)->n, 0);
	CHECK_EQ(mux_next_timeout(B.m, 1200), 300);
	inject(&A, MUX_T_PING, MUX_F_SYN, 0, id, NULL, 0);
	pump1(&A, &B, 1250);
	CHECK_EQ(mux_last_rtt(B.m), 250);
	CHECK_EQ(B.pongs, 0);		/* keepalive pongs are ours */
	/* Answered: only the next interval is due, counted from the ping. */
	CHECK_EQ(mux_next_timeout(B.m, 1250), 750);
	mux_tick(B.m, 1999);
	CHECK_EQ(frames(&B)->n, 0);
	mux_tick(B.m, 2000);
	CHECK_EQ(frames(&B)->n, 1);
	CHECK(!mux_is_dead(B.m));
}

static void
test_keepalive_timeout(void)
{
	struct mux_config	 c;

	cfg_init(&c, MUX_SERVER);
	c.keepalive_ms = 1000;
	c.ping_timeout_ms = 500;
	side_init_cfg(&B, &c);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	mux_tick(B.m, 1000);
	mux_tick(B.m, 1499);
	CHECK(!mux_is_dead(B.m));
	mux_tick(B.m, 1500);
	CHECK(mux_is_dead(B.m));
	CHECK(strcmp(B.error_why, "no answer") == 0);
	CHECK(strcmp(B.reset_why, "no answer") == 0);
	CHECK_EQ(B.last_cut, MUX_CUT_ERROR);
	CHECK_EQ(B.closed, 1);
	CHECK(!has_goaway(frames(&B), MUX_GOAWAY_PROTOCOL));
}

static void
test_ping_timeout(void)
{
	struct mux_config	 c;

	cfg_init(&c, MUX_SERVER);
	c.ping_timeout_ms = 100;
	side_init_cfg(&B, &c);
	CHECK_EQ(mux_next_timeout(B.m, 0), -1);
	CHECK_EQ(mux_ping(B.m, 1, 50), 0);
	CHECK_EQ(mux_next_timeout(B.m, 60), 90);
	mux_tick(B.m, 149);
	CHECK(!mux_is_dead(B.m));
	mux_tick(B.m, 150);
	CHECK(strcmp(B.error_why, "no answer") == 0);
}

static void
test_open_timeout(void)
{
	struct mux_config	 c;
	struct mux_stream	*s;
	struct frames		*f;

	cfg_init(&c, MUX_SERVER);
	c.open_timeout_ms = 300;
	c.ping_timeout_ms = 300;
	side_init_cfg(&B, &c);
	side_init(&A, MUX_CLIENT);
	A.auto_accept = 1;
	/* Answered in time: no error. */
	s = mux_open(B.m, 100, NULL);
	CHECK_EQ(mux_next_timeout(B.m, 100), 300);
	pump_at(200);
	CHECK(mux_stream_acked(s));
	mux_tick(B.m, 1000);
	CHECK(!mux_is_dead(B.m));
	CHECK_EQ(mux_next_timeout(B.m, 1000), -1);
	/*
	 * Not answered: only that stream is reset, and a ping asks whether
	 * the peer is there at all.
	 */
	A.auto_accept = 0;
	mux_open(B.m, 1000, NULL);
	pump_at(1000);
	mux_tick(B.m, 1299);
	CHECK_EQ(B.resets, 0);
	mux_tick(B.m, 1300);
	CHECK(!mux_is_dead(B.m));
	CHECK_EQ(B.resets, 1);
	CHECK(strcmp(B.reset_why, "open timeout") == 0);
	CHECK_EQ(B.last_cut, MUX_CUT_RESET);
	CHECK_EQ(B.closed, 1);
	CHECK_EQ(mux_stream_count(B.m), 1);
	f = frames(&B);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_RST, 4), 1);
	CHECK_EQ(count_frames(f, MUX_T_PING, MUX_F_SYN, 0), 1);
	/* The peer is there (it sends anything at all): the session lives. */
	CHECK_EQ(inject_at(&B, 1301, MUX_T_WINDOW_UPDATE, 0, 999, 1), 0);
	mux_tick(B.m, 1700);
	CHECK(!mux_is_dead(B.m));
	/* And when it is not, silence ends it. */
	side_init_cfg(&B, &c);
	mux_open(B.m, 0, NULL);
	mux_tick(B.m, 300);
	CHECK(!mux_is_dead(B.m));
	mux_tick(B.m, 600);
	CHECK(mux_is_dead(B.m));
	CHECK(strcmp(B.error_why, "no answer") == 0);
}

static void
test_close_timeout(void)
{
	struct mux_config	 c;
	struct mux_stream	*s;
	struct frames		*f;

	cfg_init(&c, MUX_CLIENT);
	c.close_timeout_ms = 500;
	side_init_cfg(&A, &c);
	s = mux_open(A.m, 0, NULL);
	inject(&A, MUX_T_WINDOW_UPDATE, MUX_F_ACK, 1, 0, NULL, 0);
	mux_tick(A.m, 100);
	mux_stream_close(s);
	frames(&A);
	CHECK_EQ(mux_next_timeout(A.m, 100), 500);
	mux_tick(A.m, 599);
	CHECK_EQ(A.closed, 0);
	mux_tick(A.m, 600);
	CHECK(strcmp(A.log, "A1 R1:close timeout C1 ") == 0);
	f = frames(&A);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_RST, 1), 1);
	CHECK(!mux_is_dead(A.m));
	/* The peer's FIN in time cancels it. */
	s = mux_open(A.m, 1000, NULL);
	mux_stream_close(s);
	frames(&A);
	inject(&A, MUX_T_WINDOW_UPDATE, MUX_F_ACK | MUX_F_FIN, 3, 0, NULL, 0);
	CHECK_EQ(A.closed, 2);
	mux_tick(A.m, 5000);
	CHECK_EQ(A.resets, 1);
}

/*
 * GoAway.
 */

static void
test_goaway_normal_remote(void)
{
	struct mux_stream	*s;
	const char		*why;

	pair();
	B.auto_accept = 1;
	s = mux_open(A.m, 0, NULL);
	pump();
	mux_goaway(B.m, MUX_GOAWAY_NORMAL);
	CHECK(mux_open(B.m, 0, &why) == NULL);
	CHECK(strcmp(why, "goaway sent") == 0);
	pump();
	CHECK(strstr(A.log, "G0 ") != NULL);
	CHECK(mux_remote_goaway(A.m));
	CHECK(!mux_is_dead(A.m));
	CHECK(mux_open(A.m, 0, &why) == NULL);
	CHECK(strcmp(why, "remote goaway") == 0);
	/* The existing stream carries on. */
	CHECK_EQ(mux_stream_write(s, (const uint8_t *)"still", 5), 5);
	pump();
	CHECK(memcmp(B.data, "still", 5) == 0);
}

static void
test_goaway_local_rsts_syn(void)
{
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	mux_goaway(B.m, MUX_GOAWAY_NORMAL);
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK(has_goaway(f, 0));
	CHECK_EQ(inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 3, "abc", 3), 0);
	CHECK_EQ(B.events, 0);
	f = frames(&B);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_RST, 1), 1);
	CHECK(!mux_is_dead(B.m));
	CHECK_EQ(mux_stream_count(B.m), 0);
}

static void
test_goaway_error_remote(void)
{
	pair();
	B.auto_accept = 1;
	mux_open(A.m, 0, NULL);
	mux_open(A.m, 0, NULL);
	pump();
	mux_goaway(B.m, MUX_GOAWAY_INTERNAL);
	pump1(&B, &A, 0);
	CHECK(mux_is_dead(A.m));
	CHECK(strcmp(A.error_why, "remote goaway: internal error") == 0);
	CHECK(strcmp(A.log, "A1 A3 G2 E:remote goaway: internal error "
	    "R1:remote goaway: internal error C1 "
	    "R3:remote goaway: internal error C3 ") == 0 ||
	    strcmp(A.log, "A1 A3 G2 E:remote goaway: internal error "
	    "R3:remote goaway: internal error C3 "
	    "R1:remote goaway: internal error C1 ") == 0);
	CHECK_EQ(mux_stream_count(A.m), 0);
	CHECK(mux_open(A.m, 0, NULL) == NULL);
	/* No GoAway owed back. */
	CHECK_EQ(frames(&A)->n, 0);
}

static void
test_goaway_codes(void)
{
	side_init(&A, MUX_CLIENT);
	CHECK_EQ(inject(&A, MUX_T_GOAWAY, 0, 0, MUX_GOAWAY_PROTOCOL, NULL, 0),
	    -1);
	CHECK(strcmp(A.error_why, "remote goaway: protocol error") == 0);
	side_init(&A, MUX_CLIENT);
	CHECK_EQ(inject(&A, MUX_T_GOAWAY, 0, 0, 4294967295u, NULL, 0), -1);
	CHECK(strcmp(A.error_why, "remote goaway: code 4294967295") == 0);
	CHECK(strcmp(A.log, "G4294967295 E:remote goaway: code 4294967295 ")
	    == 0);
}

/*
 * Limits.
 */

static void
test_max_streams_peer(void)
{
	struct mux_config	 c;
	struct frames		*f;

	cfg_init(&c, MUX_SERVER);
	c.max_streams = 2;
	side_init_cfg(&B, &c);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 3, 0, NULL, 0);
	frames(&B);
	CHECK_EQ(inject(&B, MUX_T_DATA, MUX_F_SYN, 5, 4, "lost", 4), 0);
	CHECK_EQ(B.opened, 2);
	CHECK_EQ(B.datalen, 0);
	f = frames(&B);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_RST, 5), 1);
	CHECK(!mux_is_dead(B.m));
	CHECK(mux_open(B.m, 0, NULL) == NULL);
}

static void
test_max_streams_local(void)
{
	struct mux_config	 c;
	const char		*why = NULL;

	cfg_init(&c, MUX_CLIENT);
	c.max_streams = 3;
	side_init_cfg(&A, &c);
	CHECK(mux_open(A.m, 0, &why) != NULL);
	CHECK(mux_open(A.m, 0, &why) != NULL);
	inject(&A, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 2, 0, NULL, 0);
	CHECK(mux_open(A.m, 0, &why) == NULL);
	CHECK(strcmp(why, "too many streams") == 0);
	mux_stream_reset(A.last_opened);
	CHECK(mux_open(A.m, 0, &why) != NULL);
}

static void
test_max_unacked(void)
{
	struct mux_config	 c;
	struct frames		*f;

	cfg_init(&c, MUX_SERVER);
	c.max_unacked = 2;
	side_init_cfg(&B, &c);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 3, 0, NULL, 0);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 5, 0, NULL, 0);
	CHECK_EQ(B.opened, 2);
	f = frames(&B);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].flags, MUX_F_RST);
	CHECK_EQ(f->h[0].stream_id, 5);
	/* Accepting one frees a place. */
	mux_stream_accept(B.last_opened);
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 7, 0, NULL, 0);
	CHECK_EQ(B.opened, 3);
	CHECK_EQ(mux_stream_count(B.m), 3);
}

static void
test_send_space_limits(void)
{
	struct mux_config	 c;
	struct mux_stream	*s1, *s2;
	struct frames		*f;

	cfg_init(&c, MUX_CLIENT);
	c.output_max = 100000;
	c.stream_send_max = 60000;
	c.max_frame = 30000;
	side_init_cfg(&A, &c);
	s1 = mux_open(A.m, 0, NULL);
	s2 = mux_open(A.m, 0, NULL);
	frames(&A);
	/* The stream's own limit, then the session's. */
	CHECK_EQ(mux_stream_send_space(s1), 60000);
	CHECK_EQ(mux_stream_write(s1, big, 70000), 60000);
	CHECK_EQ(mux_stream_send_space(s1), 0);
	CHECK_EQ(mux_stream_send_space(s2), 40000);
	CHECK_EQ(mux_stream_write(s2, big, 50000), 40000);
	CHECK_EQ(mux_stream_send_space(s2), 0);
	CHECK_EQ(mux_queued(A.m), 100000);
	/* Out in turns, max_frame each; both hear they may write again. */
	f = frames(&A);
	CHECK_EQ(f->n, 4);
	CHECK_EQ(f->h[0].stream_id, 1);
	CHECK_EQ(f->h[0].length, 30000);
	CHECK_EQ(f->h[1].stream_id, 3);
	CHECK_EQ(f->h[1].length, 30000);
	CHECK_EQ(f->h[2].stream_id, 1);
	CHECK_EQ(f->h[3].stream_id, 3);
	CHECK_EQ(f->h[3].length, 10000);
	CHECK_EQ(mux_queued(A.m), 0);
	CHECK_EQ(A.writables, 2);
	CHECK_EQ(mux_stream_send_space(s1), 60000);
	/* Now the window binds: 256K - 60000 left on stream 1. */
	CHECK_EQ(mux_stream_write(s1, big, 60000), 60000);
	frames(&A);
	CHECK_EQ(mux_stream_write(s1, big, 60000), 60000);
	frames(&A);
	CHECK_EQ(mux_stream_write(s1, big, 60000), 60000);
	frames(&A);
	CHECK_EQ(mux_stream_send_space(s1), WIN - 240000);
}

static void
test_control_before_data(void)
{
	struct mux_stream	*s;
	struct frames		*f;

	pair();
	B.auto_accept = 1;
	s = mux_open(A.m, 0, NULL);
	pump();
	CHECK_EQ(mux_stream_write(s, big, WIN), WIN);
	/* A ping and a new stream's SYN come after the data was queued... */
	inject(&A, MUX_T_PING, MUX_F_SYN, 0, 42, NULL, 0);
	mux_open(A.m, 0, NULL);
	/* ... and go out before it. */
	f = frames(&A);
	CHECK_EQ(f->h[0].type, MUX_T_PING);
	CHECK_EQ(f->h[0].flags, MUX_F_ACK);
	CHECK_EQ(f->h[0].length, 42);
	CHECK_EQ(f->h[1].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[1].flags, MUX_F_SYN);
	CHECK_EQ(f->h[1].stream_id, 3);
	CHECK_EQ(f->h[2].type, MUX_T_DATA);
	CHECK_EQ(f->payload, WIN);
}

static void
test_round_robin(void)
{
	struct mux_stream	*s1, *s2, *s3;
	struct frames		*f;

	side_init(&A, MUX_CLIENT);
	s1 = mux_open(A.m, 0, NULL);
	s2 = mux_open(A.m, 0, NULL);
	s3 = mux_open(A.m, 0, NULL);
	frames(&A);
	CHECK_EQ(mux_stream_write(s1, big, WIN), WIN);
	CHECK_EQ(mux_stream_write(s2, big, 10), 10);
	CHECK_EQ(mux_stream_write(s3, big, 100 * KB), 100 * KB);
	/* One frame of each per turn: the bulk stream cannot hold the rest. */
	f = frames(&A);
	CHECK_EQ(f->n, 4 + 1 + 2);
	CHECK_EQ(f->h[0].stream_id, 1);
	CHECK_EQ(f->h[0].length, 64 * KB);
	CHECK_EQ(f->h[1].stream_id, 3);
	CHECK_EQ(f->h[1].length, 10);
	CHECK_EQ(f->h[2].stream_id, 5);
	CHECK_EQ(f->h[2].length, 64 * KB);
	CHECK_EQ(f->h[3].stream_id, 1);
	CHECK_EQ(f->h[4].stream_id, 5);
	CHECK_EQ(f->h[4].length, 36 * KB);
	CHECK_EQ(f->h[5].stream_id, 1);
	CHECK_EQ(f->h[6].stream_id, 1);
	/* The stream whose frame went last waits for the others next time. */
	CHECK_EQ(mux_stream_write(s2, big, 10), 10);
	CHECK_EQ(mux_stream_write(s1, big, 10), 0);	/* window used up */
	f = frames(&A);
	CHECK_EQ(f->n, 1);
	CHECK_EQ(f->h[0].stream_id, 3);
}

static void
test_partial_frame_finished_first(void)
{
	struct iovec		 iov[MUX_IOV_MAX];
	struct mux_stream	*s;
	const uint8_t		*p;
	struct mux_hdr		 h;
	size_t			 n, rest;
	int			 niov = MUX_IOV_MAX, i;

	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	frames(&A);
	for (i = 0; i < 100; i++)
		big[i] = (uint8_t)i;
	CHECK_EQ(mux_stream_write(s, big, 100 * KB), 100 * KB);
	/* The socket takes the header and 1000 bytes of the first frame. */
	n = mux_output_iov(A.m, iov, &niov, SIZE_MAX);
	CHECK_EQ(n, 100 * KB + 24);
	mux_output_done(A.m, 12 + 1000);
	/* A pong is owed now; the frame begun must still come first. */
	inject(&A, MUX_T_PING, MUX_F_SYN, 0, 7, NULL, 0);
	n = mux_output(A.m, &p);
	rest = 64 * KB - 1000;
	CHECK(n > rest + 24);
	CHECK(memcmp(p, big + 1000, 16) == 0);
	mux_hdr_decode(&h, p + rest);
	CHECK_EQ(h.type, MUX_T_PING);
	CHECK_EQ(h.flags, MUX_F_ACK);
	mux_hdr_decode(&h, p + rest + 12);
	CHECK_EQ(h.type, MUX_T_DATA);
	CHECK_EQ(h.length, 36 * KB);
	CHECK_EQ(n, rest + 12 + 12 + 36 * KB);
	mux_output_done(A.m, n);
	CHECK(!mux_output_pending(A.m));
	/* A stream reset while its frame is half out: the frame completes. */
	CHECK_EQ(mux_stream_write(s, big, 1000), 1000);
	niov = MUX_IOV_MAX;
	n = mux_output_iov(A.m, iov, &niov, SIZE_MAX);
	mux_output_done(A.m, 500);
	mux_stream_reset(s);
	n = mux_output(A.m, &p);
	CHECK_EQ(n, 512 + 12);
	mux_hdr_decode(&h, p + 512);
	CHECK_EQ(h.flags, MUX_F_RST);
}

static void
test_fin_after_queued_data(void)
{
	struct mux_stream	*s;
	struct frames		*f;

	pair();
	B.auto_accept = 1;
	s = mux_open(A.m, 0, NULL);
	pump();
	CHECK_EQ(mux_stream_write(s, big, 200 * KB), 200 * KB);
	mux_stream_close(s);
	CHECK_EQ(mux_stream_write(s, big, 1), 0);
	f = frames(&A);
	CHECK_EQ(f->n, 5);
	CHECK_EQ(f->payload, 200 * KB);
	CHECK_EQ(f->h[4].type, MUX_T_WINDOW_UPDATE);
	CHECK_EQ(f->h[4].flags, MUX_F_FIN);
	/* Its close waits for the peer's FIN, as before. */
	CHECK_EQ(A.closed, 0);
	CHECK_EQ(mux_stream_count(A.m), 1);
}

static void
test_goaway_ahead_of_data(void)
{
	struct iovec		 iov[MUX_IOV_MAX];
	struct mux_stream	*s;
	struct frames		*f;
	const uint8_t		*p;
	struct mux_hdr		 h;
	size_t			 n;
	int			 niov = MUX_IOV_MAX;

	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	frames(&A);
	CHECK_EQ(mux_stream_write(s, big, WIN), WIN);
	/* A protocol error with 256 KiB queued: only the GoAway is left. */
	CHECK_EQ(inject(&A, 7, 0, 0, 0, NULL, 0), -1);
	f = frames(&A);
	CHECK_EQ(f->n, 1);
	CHECK(has_goaway(f, MUX_GOAWAY_PROTOCOL));
	/* With a frame half out, its rest goes first, then the GoAway. */
	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	frames(&A);
	CHECK_EQ(mux_stream_write(s, big, WIN), WIN);
	n = mux_output_iov(A.m, iov, &niov, SIZE_MAX);
	mux_output_done(A.m, 100);
	mux_abort(A.m, MUX_GOAWAY_INTERNAL, "flood");
	CHECK(strcmp(A.error_why, "flood") == 0);
	n = mux_output(A.m, &p);
	CHECK_EQ(n, 64 * KB + 12 - 100 + 12);
	mux_hdr_decode(&h, p + 64 * KB + 12 - 100);
	CHECK_EQ(h.type, MUX_T_GOAWAY);
	CHECK_EQ(h.length, MUX_GOAWAY_INTERNAL);
}

static void
test_send_buf_commit(void)
{
	struct mux_stream	*s;
	const uint8_t		*p;
	uint8_t			*w;
	size_t			 cap, n;
	struct mux_hdr		 h;

	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	frames(&A);
	w = mux_stream_send_buf(s, &cap);
	CHECK(w != NULL);
	CHECK_EQ(cap, WIN);
	memcpy(w, "zero-copy", 9);
	mux_stream_send_commit(s, 9);
	CHECK_EQ(mux_stream_unsent(s), 9);
	CHECK_EQ(mux_stream_send_space(s), WIN - 9);
	n = mux_output(A.m, &p);
	CHECK_EQ(n, 21);
	mux_hdr_decode(&h, p);
	CHECK_EQ(h.type, MUX_T_DATA);
	CHECK_EQ(h.flags, 0);
	CHECK_EQ(h.stream_id, 1);
	CHECK_EQ(h.length, 9);
	CHECK(memcmp(p + 12, "zero-copy", 9) == 0);
	mux_output_done(A.m, n);
	CHECK_EQ(mux_stream_unsent(s), 0);
	CHECK_EQ(mux_stream_send_space(s), WIN - 9);
	/* A commit without a buffer does nothing. */
	mux_stream_send_commit(s, 5);
	CHECK_EQ(mux_output(A.m, &p), 0);
}

static void
test_silence_not_lateness(void)
{
	struct mux_config	 c;

	cfg_init(&c, MUX_SERVER);
	c.ping_timeout_ms = 100;
	side_init_cfg(&B, &c);
	CHECK_EQ(mux_ping(B.m, 1, 0), 0);
	/* Anything from the peer after the ping will do, pong or not. */
	CHECK_EQ(inject_at(&B, 50, MUX_T_WINDOW_UPDATE, 0, 99, 0), 0);
	mux_tick(B.m, 200);
	CHECK(!mux_is_dead(B.m));
	/* A second ping while the first is unanswered: a new deadline. */
	CHECK_EQ(mux_ping(B.m, 2, 300), 0);
	mux_tick(B.m, 399);
	CHECK(!mux_is_dead(B.m));
	mux_tick(B.m, 400);
	CHECK(mux_is_dead(B.m));
	CHECK(strcmp(B.error_why, "no answer") == 0);
	/* Bytes read in the ping's own millisecond do not count... */
	side_init_cfg(&B, &c);
	mux_ping(B.m, 1, 500);
	inject_at(&B, 500, MUX_T_WINDOW_UPDATE, 0, 99, 0);
	mux_tick(B.m, 600);
	CHECK(mux_is_dead(B.m));
	/* ... but the pong does, whenever it comes. */
	side_init_cfg(&B, &c);
	mux_ping(B.m, 9, 500);
	inject_at(&B, 500, MUX_T_PING, MUX_F_ACK, 0, 9);
	CHECK_EQ(B.pongs, 1);
	mux_tick(B.m, 700);
	CHECK(!mux_is_dead(B.m));
	/* All ping slots busy: the deadline still starts. */
	side_init_cfg(&B, &c);
	CHECK_EQ(mux_ping(B.m, 1, 0), 0);
	CHECK_EQ(mux_ping(B.m, 2, 0), 0);
	CHECK_EQ(mux_ping(B.m, 3, 0), 0);
	CHECK_EQ(mux_ping(B.m, 4, 0), 0);
	CHECK_EQ(mux_ping(B.m, 5, 0), 0);
	CHECK_EQ(mux_ping(B.m, 6, 0), 0);
	CHECK_EQ(mux_ping(B.m, 7, 0), 0);
	inject_at(&B, 1, MUX_T_WINDOW_UPDATE, 0, 99, 0);
	CHECK_EQ(mux_ping(B.m, 8, 10), -1);
	mux_tick(B.m, 110);
	CHECK(mux_is_dead(B.m));
}

/* A side whose stream 1 the other side sends to, with a round trip. */
static struct mux_stream *
tuned_pair(uint32_t max, size_t budget, uint64_t rtt)
{
	struct mux_config	 c;

	cfg_init(&c, MUX_CLIENT);
	c.recv_window_max = max;
	c.recv_budget = budget;
	side_init_cfg(&A, &c);
	cfg_init(&c, MUX_SERVER);
	c.stream_send_max = 8192 * KB;
	c.output_max = 8192 * KB;
	side_init_cfg(&B, &c);
	B.auto_accept = 1;
	test_now = 0;
	mux_ping(A.m, 1, 0);
	pump1(&A, &B, 0);
	pump1(&B, &A, rtt);
	return mux_open(A.m, rtt, NULL);
}

static void
test_window_grows(void)
{
	struct mux_stream	*s, *bs;
	uint64_t		 now = 10;
	uint32_t		 before;
	int			 i;

	s = tuned_pair(4096 * KB, 64 * 1024 * KB, 10);
	CHECK_EQ(mux_last_rtt(A.m), 10);
	pump_at(now);
	bs = B.last_opened;
	CHECK_EQ(mux_stream_window(s), WIN);
	/* Consumed as fast as it comes: the window doubles each time. */
	for (i = 0; i < 12; i++) {
		before = mux_stream_window(s);
		while (mux_stream_write(bs, big, 256 * KB) > 0)
			;
		pump1(&B, &A, now);
		test_now = now;
		mux_stream_consumed(s, mux_stream_buffered(s));
		pump1(&A, &B, now);
		now += 5;
		CHECK(mux_stream_window(s) >= before);
	}
	CHECK_EQ(mux_stream_window(s), 4096 * KB);
	CHECK(!mux_is_dead(A.m));
	CHECK(!mux_is_dead(B.m));
}

static void
test_window_slow_reader_stays(void)
{
	struct mux_stream	*s, *bs;
	uint64_t		 now = 10;
	int			 i;

	s = tuned_pair(4096 * KB, 64 * 1024 * KB, 10);
	pump_at(now);
	bs = B.last_opened;
	/* A reader slower than two round trips a window: no growth. */
	for (i = 0; i < 6; i++) {
		while (mux_stream_write(bs, big, 256 * KB) > 0)
			;
		pump1(&B, &A, now);
		now += 100;
		test_now = now;
		mux_stream_consumed(s, mux_stream_buffered(s));
		pump1(&A, &B, now);
	}
	CHECK_EQ(mux_stream_window(s), WIN);
}

static void
test_window_budget(void)
{
	struct mux_stream	*s, *s2, *bs;
	uint64_t		 now = 10;
	int			 i;

	s = tuned_pair(4096 * KB, 256 * KB, 10);
	s2 = mux_open(A.m, now, NULL);
	pump_at(now);
	bs = B.last_opened;	/* stream 3 on B's side */
	(void)s2;
	for (i = 0; i < 8; i++) {
		while (mux_stream_write(bs, big, 256 * KB) > 0)
			;
		pump1(&B, &A, now);
		test_now = now;
		mux_stream_consumed(s2, mux_stream_buffered(s2));
		pump1(&A, &B, now);
		now += 5;
	}
	/* One doubling fits the budget; more does not. */
	CHECK_EQ(mux_stream_window(s2), 512 * KB);
	CHECK_EQ(mux_stream_window(s), WIN);
	/* Its end gives the budget back. */
	mux_stream_reset(s2);
	pump_at(now);
	CHECK(!mux_is_dead(A.m));
}

static void
test_syn_len_and_cut_kinds(void)
{
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 5, "hello", 5);
	CHECK_EQ(B.syn_len, 5);
	inject(&B, MUX_T_DATA, MUX_F_SYN, 3, 0, NULL, 0);
	CHECK_EQ(B.syn_len, 0);
	CHECK(strstr(B.log, "O3:0 ") != NULL);
	/* The connection closed in good order: streams cut with EOF. */
	mux_close(B.m, MUX_CUT_EOF, "closed by peer");
	CHECK(mux_is_dead(B.m));
	CHECK(strcmp(B.error_why, "closed by peer") == 0);
	CHECK_EQ(B.resets, 2);
	CHECK_EQ(B.last_cut, MUX_CUT_EOF);
	f = frames(&B);
	CHECK(!has_goaway(f, MUX_GOAWAY_PROTOCOL));
	CHECK(!has_goaway(f, MUX_GOAWAY_NORMAL));
	/* Failed: cut as errors. */
	side_init(&B, MUX_SERVER);
	inject(&B, MUX_T_DATA, MUX_F_SYN, 1, 0, NULL, 0);
	mux_close(B.m, MUX_CUT_ERROR, "read: reset");
	CHECK_EQ(B.last_cut, MUX_CUT_ERROR);
}

static void
test_peer_not_reading(void)
{
	struct mux_config	 c;
	uint8_t			 buf[12 * 100];
	int			 i;

	cfg_init(&c, MUX_SERVER);
	c.output_max = 120;
	side_init_cfg(&B, &c);
	for (i = 0; i < 100; i++)
		enc(buf + 12 * i, MUX_T_PING, MUX_F_SYN, 0, (uint32_t)i);
	CHECK_EQ(mux_input(B.m, buf, 12 * 40, 0), 0);	/* 480 bytes: ok */
	CHECK(!mux_is_dead(B.m));
	CHECK_EQ(mux_input(B.m, buf, sizeof(buf), 0), -1);
	CHECK(strcmp(B.error_why, "peer not reading") == 0);
	CHECK(mux_output(B.m, &(const uint8_t *){ NULL }) <= 4 * 120 + 12);
}

static void
test_output_buffer_freed_when_drained(void)
{
	struct mux_stream	*s;
	const uint8_t		*p;

	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	CHECK_EQ(mux_stream_write(s, big, 200 * KB), 200 * KB);
	CHECK(mux_output(A.m, &p) > 200 * KB);
	frames(&A);
	CHECK_EQ(mux_output(A.m, &p), 0);
	CHECK(p == NULL);
	/* Partial drains keep the rest intact. */
	mux_stream_write(s, (const uint8_t *)"abcdef", 6);
	CHECK_EQ(mux_output(A.m, &p), 18);
	mux_output_done(A.m, 12 + 2);
	CHECK_EQ(mux_output(A.m, &p), 4);
	CHECK(memcmp(p, "cdef", 4) == 0);
}

/*
 * Re-entrancy.
 */

static void
test_reset_inside_data_handler(void)
{
	uint8_t		 buf[12 + 50 + 12 + 3];
	size_t		 n;
	struct frames	*f;

	side_init(&B, MUX_SERVER);
	B.reset_in_data = 1;
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	frames(&B);
	n = enc(buf, MUX_T_DATA, MUX_F_FIN, 1, 50);
	memset(buf + n, 'a', 50);
	n += 50;
	n += enc(buf + n, MUX_T_DATA, MUX_F_SYN, 3, 3);
	memcpy(buf + n, "new", 3);
	n += 3;
	/* The first 10 payload bytes arrive, then the rest with a new frame. */
	CHECK_EQ(mux_input(B.m, buf, 22, 0), 0);
	CHECK_EQ(mux_input(B.m, buf + 22, n - 22, 0), 0);
	CHECK(strcmp(B.log, "O1:1 D1 C1 O3:0 D3 ") == 0);
	CHECK_EQ(B.datalen, 13);
	f = frames(&B);
	CHECK_EQ(count_frames(f, MUX_T_WINDOW_UPDATE, MUX_F_RST | MUX_F_ACK,
	    1), 1);
	CHECK_EQ(mux_stream_count(B.m), 1);
}

static void
test_close_inside_data_handler(void)
{
	side_init(&B, MUX_SERVER);
	B.close_in_data = 1;
	inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN, 1, 0, NULL, 0);
	mux_stream_accept(B.last_opened);
	inject(&B, MUX_T_DATA, MUX_F_FIN, 1, 4, "last", 4);
	CHECK(strcmp(B.log, "O1:1 D1 F1 ") == 0);
	CHECK_EQ(count_frames(frames(&B), MUX_T_WINDOW_UPDATE, MUX_F_FIN, 1),
	    1);
	CHECK(strcmp(B.log, "O1:1 D1 F1 C1 ") == 0);
	CHECK_EQ(mux_stream_count(B.m), 0);
}

static void
test_echo_and_open_inside_handlers(void)
{
	pair();
	B.auto_accept = A.auto_accept = 1;
	B.echo_in_data = 1;
	B.open_in_opened = 1;
	A.write_in_acked = 1;
	mux_open(A.m, 0, NULL);
	pump();
	CHECK_EQ(A.datalen, 2);
	CHECK(memcmp(A.data, "hi", 2) == 0);
	CHECK_EQ(A.opened, 1);
	CHECK_EQ(B.acked, 1);
	CHECK_EQ(mux_stream_count(A.m), 2);
	CHECK_EQ(mux_stream_count(B.m), 2);
}

static void
test_udata_and_counts(void)
{
	struct mux_stream	*s;
	int			 x;

	side_init(&A, MUX_CLIENT);
	s = mux_open(A.m, 0, NULL);
	CHECK(mux_stream_udata(s) == NULL);
	mux_stream_set_udata(s, &x);
	CHECK(mux_stream_udata(s) == &x);
	CHECK_EQ(mux_stream_count(A.m), 1);
	CHECK(mux_error(A.m) == NULL);
	CHECK(!mux_stream_local_closed(s));
	CHECK(!mux_stream_remote_closed(s));
}

static void
test_many_streams_table(void)
{
	struct mux_config	 c;
	int			 i;

	cfg_init(&c, MUX_SERVER);
	c.max_unacked = 10000;
	side_init_cfg(&B, &c);
	for (i = 0; i < 3000; i++)
		CHECK_EQ(inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_SYN,
		    1 + 2 * (uint32_t)i, 0, NULL, 0), 0);
	CHECK_EQ(mux_stream_count(B.m), 3000);
	for (i = 0; i < 3000; i += 2)
		inject(&B, MUX_T_WINDOW_UPDATE, MUX_F_RST, 1 + 2 * (uint32_t)i,
		    0, NULL, 0);
	CHECK_EQ(mux_stream_count(B.m), 1500);
	CHECK_EQ(B.closed, 1500);
	/* The odd ones are still found. */
	CHECK_EQ(inject(&B, MUX_T_DATA, 0, 3, 2, "ok", 2), 0);
	CHECK_EQ(B.datalen, 2);
}

int
main(void)
{
	RUN(test_hdr_data_syn_vector);
	RUN(test_hdr_window_update_vector);
	RUN(test_hdr_ping_goaway_vectors);
	RUN(test_hdr_roundtrip_extremes);
	RUN(test_open_accept_roundtrip);
	RUN(test_stream_ids_by_role);
	RUN(test_open_data_syn);
	RUN(test_id_exhaustion);
	RUN(test_ids_never_reused);
	RUN(test_split_every_boundary);
	RUN(test_split_byte_by_byte);
	RUN(test_split_two_muxes);
	RUN(test_violation_bad_version);
	RUN(test_violation_bad_frame_type);
	RUN(test_violation_duplicate_syn);
	RUN(test_violation_syn_wrong_parity);
	RUN(test_violation_syn_id_zero);
	RUN(test_violation_data_beyond_window);
	RUN(test_violation_data_beyond_advertised);
	RUN(test_violation_window_overflow);
	RUN(test_violation_second_fin);
	RUN(test_dead_session_quiet);
	RUN(test_unknown_stream_skipped);
	RUN(test_closed_stream_frames_skipped);
	RUN(test_data_after_fin_dropped);
	RUN(test_send_window_stops_at_256k);
	RUN(test_window_update_after_half_consumed);
	RUN(test_writable_after_update);
	RUN(test_large_recv_window_on_syn);
	RUN(test_large_recv_window_on_ack);
	RUN(test_open_data_large_window_update);
	RUN(test_peer_larger_window_honored);
	RUN(test_consumed_mid_frame);
	RUN(test_half_close_client_first);
	RUN(test_half_close_server_first);
	RUN(test_rst_from_client);
	RUN(test_rst_from_server);
	RUN(test_rst_unknown_ignored);
	RUN(test_fin_with_data_one_frame);
	RUN(test_ack_exactly_once);
	RUN(test_close_before_accept_carries_ack);
	RUN(test_write_before_accept_carries_ack);
	RUN(test_reset_before_accept_carries_ack);
	RUN(test_never_second_fin);
	RUN(test_ping_pong_rtt);
	RUN(test_ping_reply_immediate);
	RUN(test_keepalive_sends_ping);
	RUN(test_keepalive_timeout);
	RUN(test_ping_timeout);
	RUN(test_open_timeout);
	RUN(test_close_timeout);
	RUN(test_goaway_normal_remote);
	RUN(test_goaway_local_rsts_syn);
	RUN(test_goaway_error_remote);
	RUN(test_goaway_codes);
	RUN(test_max_streams_peer);
	RUN(test_max_streams_local);
	RUN(test_max_unacked);
	RUN(test_send_space_limits);
	RUN(test_control_before_data);
	RUN(test_round_robin);
	RUN(test_partial_frame_finished_first);
	RUN(test_fin_after_queued_data);
	RUN(test_goaway_ahead_of_data);
	RUN(test_send_buf_commit);
	RUN(test_silence_not_lateness);
	RUN(test_window_grows);
	RUN(test_window_slow_reader_stays);
	RUN(test_window_budget);
	RUN(test_syn_len_and_cut_kinds);
	RUN(test_peer_not_reading);
	RUN(test_output_buffer_freed_when_drained);
	RUN(test_reset_inside_data_handler);
	RUN(test_close_inside_data_handler);
	RUN(test_echo_and_open_inside_handlers);
	RUN(test_udata_and_counts);
	RUN(test_many_streams_table);
	mux_free(A.m);
	mux_free(B.m);
	free(A.data);
	free(B.data);
	UNIT_END();
}
