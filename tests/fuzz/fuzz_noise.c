/*
 * fuzz_noise: everything noise.c takes from the network.  The first input
 * byte picks a mode, the rest is its data:
 *  0, 1	a handshake message 1 into an IK / NNpsk0 responder
 *  2, 3	a message 2 into an IK / NNpsk0 initiator (after its message 1)
 *  4, 5	a valid IK / NNpsk0 message 1 with the data XORed over it (and
 *		appended past its end); unchanged, the handshake must then
 *		complete and both sides agree
 *  6	an arbitrary ciphertext stream into the record opener, cut into
 *		pieces whose sizes come from the data
 *  7	records sealed from the data and opened through pieces of sizes
 *		from the data (rekey every 2 records), one byte optionally
 *		corrupted: the opener must return exactly what was sealed,
 *		and after a corrupted byte nothing more
 * Checked throughout: a failed handshake reports FAILED and holds no key
 * material; an opener never consumes more than it was given, never hands
 * out more than one record's plaintext, never a pointer outside its input
 * or its own buffer, and stays failed.  Any violation aborts.
 *
 * Keys and ephemerals are fixed, so runs are reproducible.  The seed
 * corpus (tests/fuzz/corpus/noise) comes from this file built with
 * -DFUZZ_NOISE_SEEDS: `fuzz_noise_seeds DIR` writes one file per mode.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto.h"
#include "noise.h"

static const uint8_t	 k_is[32] = { 1, 2, 3 }, k_ie[32] = { 4, 5, 6 },
			 k_rs[32] = { 7, 8, 9 }, k_re[32] = { 10, 11, 12 },
			 k_psk[32] = { 13, 14, 15 };
static const uint8_t	 prologue[] = "relay fuzz";

static int
all_zero(const void *p, size_t n)
{
	const uint8_t	*b = p;
	size_t		 i;

	for (i = 0; i < n; i++)
		if (b[i] != 0)
			return 0;
	return 1;
}

/* A failed handshake keeps no secret. */
static void
check_failed(const struct noise_hs *hs, int r)
{
	if (r == NOISE_OK || r == NOISE_ERR_SPACE)
		return;
	if (noise_hs_next(hs) != NOISE_FAILED ||
	    !all_zero(hs->hs_ck, 32) || !all_zero(hs->hs_s_priv, 32) ||
	    !all_zero(hs->hs_e_priv, 32) || !all_zero(hs->hs_psk, 32) ||
	    !all_zero(&hs->hs_cs, sizeof(hs->hs_cs)))
		abort();
}

static void
init_side(struct noise_hs *hs, int pattern, int role)
{
	struct noise_config	 c;
	uint8_t			 rs_pub[32];

	memset(&c, 0, sizeof(c));
	c.nc_pattern = pattern;
	c.nc_role = role;
	c.nc_prologue = prologue;
	c.nc_prologue_len = sizeof(prologue) - 1;
	if (pattern == NOISE_IK) {
		if (role == NOISE_INITIATOR) {
			crypto_x25519_base(rs_pub, k_rs);
			c.nc_s_priv = k_is;
			c.nc_rs = rs_pub;
		} else
			c.nc_s_priv = k_rs;
	} else
		c.nc_psk = k_psk;
	if (noise_hs_init(hs, &c) != NOISE_OK ||
	    noise_hs_set_ephemeral(hs, role == NOISE_INITIATOR ? k_ie :
	    k_re) != NOISE_OK)
		abort();
}

/* The valid message 1 of the fixed keys. */
static size_t
valid_msg1(int pattern, uint8_t *out, size_t cap)
{
	struct noise_hs	 hs;
	size_t		 n;

	init_side(&hs, pattern, NOISE_INITIATOR);
	if (noise_hs_write(&hs, (const uint8_t *)"hi", 2, out, cap, &n) != 0)
		abort();
	return n;
}

static void
fuzz_read1(int pattern, const uint8_t *msg, size_t len)
{
	static uint8_t	 pay[NOISE_MSG_MAX], out[NOISE_MSG_MAX];
	struct noise_hs	 hs;
	struct noise_cs	 a, b;
	size_t		 n;
	int		 r;

	init_side(&hs, pattern, NOISE_RESPONDER);
	r = noise_hs_read(&hs, msg, len, pay, sizeof(pay), &n);
	check_failed(&hs, r);
	if (r != NOISE_OK)
		return;
	if (n > len || (pattern == NOISE_IK &&
	    noise_hs_remote_static(&hs) == NULL))
		abort();
	r = noise_hs_write(&hs, pay, n, out, sizeof(out), &n);
	check_failed(&hs, r);
	if (r == NOISE_OK && noise_hs_split(&hs, &a, &b) != NOISE_OK)
		abort();
}

static void
fuzz_read2(int pattern, const uint8_t *msg, size_t len)
{
	static uint8_t	 pay[NOISE_MSG_MAX];
	uint8_t		 m1[256];
	struct noise_hs	 hs;
	size_t		 n;
	int		 r;

	init_side(&hs, pattern, NOISE_INITIATOR);
	if (noise_hs_write(&hs, NULL, 0, m1, sizeof(m1), &n) != 0)
		abort();
	r = noise_hs_read(&hs, msg, len, pay, sizeof(pay), &n);
	check_failed(&hs, r);
	if (r == NOISE_OK && n > len)
		abort();
}

/* A valid message 1 altered by the data: only no change may succeed. */
static void
fuzz_mutated(int pattern, const uint8_t *d, size_t len)
{
	static uint8_t	 msg[NOISE_MSG_MAX], pay[NOISE_MSG_MAX];
	uint8_t		 m2[256], p2[64], h1[32], h2[32];
	struct noise_hs	 hi, hr;
	struct noise_cs	 is, ir, rs, rr;
	size_t		 n, i, m, total;
	int		 r, changed = 0;

	n = valid_msg1(pattern, msg, sizeof(msg));
	total = len > n ? len : n;
	if (total > sizeof(msg))
		total = sizeof(msg);
	for (i = 0; i < total; i++) {
		uint8_t	 x = i < len ? d[i] : 0;

		if (i >= n)
			msg[i] = x;
		else
			msg[i] ^= x;
		changed |= i >= n || x != 0;
	}
	init_side(&hr, pattern, NOISE_RESPONDER);
	r = noise_hs_read(&hr, msg, total, pay, sizeof(pay), &m);
	check_failed(&hr, r);
	if ((r == NOISE_OK) == changed)
		abort();
	if (r != NOISE_OK)
		return;
	/* unchanged: the whole handshake, and both sides agree */
	init_side(&hi, pattern, NOISE_INITIATOR);
	if (noise_hs_write(&hi, (const uint8_t *)"hi", 2, msg, sizeof(msg),
	    &n) != 0 || noise_hs_write(&hr, NULL, 0, m2, sizeof(m2), &n) != 0 ||
	    noise_hs_read(&hi, m2, n, p2, sizeof(p2), &m) != 0 ||
	    noise_hs_split(&hi, &is, &ir) != 0 ||
	    noise_hs_split(&hr, &rs, &rr) != 0 ||
	    noise_hs_handshake_hash(&hi, h1) != 0 ||
	    noise_hs_handshake_hash(&hr, h2) != 0 || memcmp(h1, h2, 32) != 0 ||
	    memcmp(is.cs_k, rr.cs_k, 32) != 0 ||
	    memcmp(ir.cs_k, rs.cs_k, 32) != 0)
		abort();
}

static void
rec_key(struct noise_cs *cs, uint64_t rekey)
{
	memset(cs, 0, sizeof(*cs));
	memcpy(cs->cs_k, k_psk, 32);
	cs->cs_haskey = 1;
	noise_cs_set_rekey(cs, rekey);
}

/* The opener's promises for one call. */
static void
check_open(const struct noise_rec_rx *rx, const uint8_t *in, size_t len,
    ssize_t r, const uint8_t *pt, size_t ptlen)
{
	if (r < 0) {
		if (!rx->rx_failed || pt != NULL || ptlen != 0)
			abort();
		return;
	}
	if ((size_t)r > len || ptlen > NOISE_REC_PT_MAX)
		abort();
	if (ptlen == 0 && (pt != NULL || (size_t)r != len))
		abort();
	if (ptlen > 0 && !(pt >= in && pt + ptlen <= in + len) &&
	    !(pt >= rx->rx_buf && pt + ptlen <= rx->rx_buf +
	    sizeof(rx->rx_buf)))
		abort();
}

static void
fuzz_stream(const uint8_t *d, size_t len)
{
	static struct noise_rec_rx rx;
	static uint8_t	 in[1 << 17];
	struct noise_cs	 cs;
	const uint8_t	*pt;
	size_t		 off = 0, n, ptlen, step;
	ssize_t		 r;
	int		 failed = 0;

	if (len > sizeof(in))
		len = sizeof(in);
	memcpy(in, d, len);
	rec_key(&cs, 2);
	noise_rec_rx_init(&rx, &cs);
	/* piece sizes from the data itself: any split of the stream */
	for (step = 1; off < len; off += n) {
		n = 1 + (in[off] * step) % 4099;
		step = step * 31 + 7;
		if (n > len - off)
			n = len - off;
		while (n > 0) {
			r = noise_rec_open(&rx, in + off, n, &pt, &ptlen);
			check_open(&rx, in + off, n, r, pt, ptlen);
			if (r < 0) {
				failed = 1;
				break;
			}
			if (failed)
				abort();	/* it must stay failed */
			off += (size_t)r;
			n -= (size_t)r;
		}
		if (failed)
			break;
	}
	if (failed && noise_rec_open(&rx, in, len, &pt, &ptlen) != -1)
		abort();
	noise_rec_rx_wipe(&rx);
}

/*
 * The data as a script: records of lengths from its bytes, their content
 * the data again; pieces of sizes from it; corrupt one byte when asked.
 */
static void
fuzz_roundtrip(const uint8_t *d, size_t len)
{
	static uint8_t	 stream[1 << 18], sent[1 << 18];
	static struct noise_rec_rx rx;
	struct noise_cs	 tx, cs;
	const uint8_t	*pt;
	size_t		 off = 0, so = 0, nsent = 0, got = 0, i, n, l, ptlen,
			 bad = SIZE_MAX;
	ssize_t		 r;

	if (len < 4)
		return;
	rec_key(&tx, 2);
	cs = tx;
	noise_rec_rx_init(&rx, &cs);
	/* up to 8 records */
	for (i = 0; i < 8 && 2 * i + 1 < len; i++) {
		l = 1 + ((size_t)d[2 * i] << 8 | d[2 * i + 1]) % 3000;
		if (so + l + NOISE_REC_OVERHEAD > sizeof(stream))
			break;
		for (n = 0; n < l; n++)
			sent[nsent + n] = d[(n * 7 + i) % len];
		so += noise_rec_seal(&tx, sent + nsent, l, stream + so);
		nsent += l;
	}
	if (d[len - 1] & 1)
		bad = ((size_t)d[len - 2] << 8 | d[len - 3]) % so;
	if (bad != SIZE_MAX)
		stream[bad] ^= (uint8_t)(d[len - 1] | 1);
	for (i = 0; off < so; i++) {
		n = 1 + d[i % len] * 13 % 5000;
		if (n > so - off)
			n = so - off;
		r = noise_rec_open(&rx, stream + off, n, &pt, &ptlen);
		check_open(&rx, stream + off, n, r, pt, ptlen);
		if (r < 0) {
			if (bad == SIZE_MAX)
				abort();	/* nothing was corrupted */
			break;
		}
		/* what comes out is what was sealed, in order */
		if (ptlen > 0) {
			if (got + ptlen > nsent ||
			    memcmp(pt, sent + got, ptlen) != 0)
				abort();
			got += ptlen;
		}
		off += (size_t)r;
	}
	if (bad == SIZE_MAX && got != nsent)
		abort();
	if (bad != SIZE_MAX && got == nsent)
		abort();			/* the corruption went unseen */
	noise_rec_rx_wipe(&rx);
}

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	switch (data[0] % 8) {
	case 0:
		fuzz_read1(NOISE_IK, data + 1, size - 1);
		break;
	case 1:
		fuzz_read1(NOISE_NNPSK0, data + 1, size - 1);
		break;
	case 2:
		fuzz_read2(NOISE_IK, data + 1, size - 1);
		break;
	case 3:
		fuzz_read2(NOISE_NNPSK0, data + 1, size - 1);
		break;
	case 4:
		fuzz_mutated(NOISE_IK, data + 1, size - 1);
		break;
	case 5:
		fuzz_mutated(NOISE_NNPSK0, data + 1, size - 1);
		break;
	case 6:
		fuzz_stream(data + 1, size - 1);
		break;
	default:
		fuzz_roundtrip(data + 1, size - 1);
		break;
	}
	return 0;
}

#ifdef FUZZ_NOISE_SEEDS
static void
seed(const char *dir, const char *name, uint8_t mode, const uint8_t *p,
    size_t n)
{
	char	 path[512];
	FILE	*f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((f = fopen(path, "wb")) == NULL || fputc(mode, f) == EOF ||
	    fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		perror(path);
		exit(1);
	}
}

int
main(int argc, char *argv[])
{
	static uint8_t	 m[4096], m2[256], pay[64], st[4096];
	struct noise_hs	 hi, hr;
	struct noise_cs	 tx;
	size_t		 n, k, o;
	int		 pat;

	if (argc != 2)
		return 64;
	for (pat = NOISE_IK; pat <= NOISE_NNPSK0; pat++) {
		const char *nm = pat == NOISE_IK ? "ik" : "nnpsk0";
		char name[64];

		n = valid_msg1(pat, m, sizeof(m));
		snprintf(name, sizeof(name), "%s_msg1", nm);
		seed(argv[1], name, (uint8_t)(pat - 1), m, n);
		/* message 2 of the fixed keys, for the initiator modes */
		init_side(&hi, pat, NOISE_INITIATOR);
		init_side(&hr, pat, NOISE_RESPONDER);
		if (noise_hs_write(&hi, NULL, 0, m, sizeof(m), &n) ||
		    noise_hs_read(&hr, m, n, pay, sizeof(pay), &k) ||
		    noise_hs_write(&hr, (const uint8_t *)"ok", 2, m2,
		    sizeof(m2), &n))
			return 1;
		snprintf(name, sizeof(name), "%s_msg2", nm);
		seed(argv[1], name, (uint8_t)(pat + 1), m2, n);
		/* the unchanged message 1: an all-zero mask */
		memset(m, 0, 10);
		snprintf(name, sizeof(name), "%s_valid_mask", nm);
		seed(argv[1], name, (uint8_t)(pat + 3), m, 10);
	}
	/* a stream of three good records (key k_psk, rekey every 2) */
	rec_key(&tx, 2);
	o = 0;
	for (k = 0; k < 3; k++)
		o += noise_rec_seal(&tx, (const uint8_t *)"record data", 11,
		    st + o);
	seed(argv[1], "stream", 6, st, o);
	memcpy(m, "\x00\x20\x01\x00\x00\x10hello there, fuzzer\x00\x00\x00",
	    28);
	seed(argv[1], "roundtrip", 7, m, 28);
	m[27] = 1;
	seed(argv[1], "roundtrip_bad", 7, m, 28);
	return 0;
}
#endif
