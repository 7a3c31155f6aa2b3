/*
 * ctcheck: the constant-time check ("ctgrind").  Run under valgrind's
 * memcheck, it marks every secret input undefined
 * (VALGRIND_MAKE_MEM_UNDEFINED) and runs the code that handles it;
 * memcheck then reports any conditional jump, conditional move or memory
 * address that depends on a secret.  What is public by design (a tag
 * verified or not, a DH result was zero or not, a key line was well-formed
 * or not) is declassified in the code itself (CRYPTO_DECLASSIFY, a no-op
 * outside this build); this harness declassifies outputs only before it
 * checks them.
 *
 * Covered, with secrets: X25519 (scalar) and the base-point multiplication;
 * ChaCha20 at every vector level the CPU (as valgrind shows it) has; the
 * AEAD seal and open (key and plaintext) with a good and a bad tag;
 * Poly1305; BLAKE2s keyed, HMAC and HKDF; base64 of private keys; complete
 * IK (with and without the DH callback) and NNpsk0 handshakes with secret
 * static, ephemeral and pre-shared keys, and records both ways.
 *
 *	valgrind -q --error-exitcode=99 bin/ctcheck		must exit 0
 *	valgrind -q --error-exitcode=99 bin/ctcheck --leak-branch	99
 *	valgrind -q --error-exitcode=99 bin/ctcheck --leak-index	99
 * The two --leak modes branch on, and index by, a secret on purpose: they
 * show that the check can fail.  Outside valgrind it exits 77.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <valgrind/memcheck.h>

#include "crypto.h"
#include "keys.h"
#include "noise.h"

#define SECRET(p, n)	VALGRIND_MAKE_MEM_UNDEFINED((p), (n))
#define PUBLIC(p, n)	VALGRIND_MAKE_MEM_DEFINED((p), (n))

static int	 failures;

static void
expect(int cond, const char *what)
{
	if (!cond) {
		fprintf(stderr, "ctcheck: %s\n", what);
		failures++;
	}
}

static void
fill(uint8_t *p, size_t n)
{
	if (crypto_random(p, n) == -1) {
		perror("getrandom");
		exit(70);
	}
}

static void
check_x25519(void)
{
	uint8_t		 k[32], u[32], out[32], pub[32];
	int		 i, r;

	for (i = 0; i < 4; i++) {
		fill(k, 32);
		fill(u, 32);
		SECRET(k, 32);
		r = crypto_x25519(out, k, u);
		crypto_x25519_base(pub, k);
		PUBLIC(&r, sizeof(r));
		PUBLIC(out, 32);
		PUBLIC(pub, 32);
		expect(r == 0, "x25519 of a random point failed");
	}
	/* the low-order path: same code, a zero result */
	memset(u, 0, 32);
	SECRET(k, 32);
	r = crypto_x25519(out, k, u);
	PUBLIC(&r, sizeof(r));
	expect(r == -1, "x25519 accepted a low-order point");
	(void)crypto_keypair(pub, k);
}

static void
check_aead(void)
{
	static uint8_t	 pt[3000], ct[3000 + 16], out[3000];
	uint8_t		 key[32], nonce[12], ad[20], tag[16];
	int		 level, r;

	for (level = CRYPTO_IMPL_SCALAR; level <= CRYPTO_IMPL_AVX2; level++) {
		if (crypto_impl_set(level) != level)
			break;
		printf("ctcheck: chacha20 at level %s\n",
		    crypto_impl_name(level));
		fill(key, 32);
		fill(nonce, 12);
		fill(ad, sizeof(ad));
		fill(pt, sizeof(pt));
		SECRET(key, 32);
		SECRET(pt, sizeof(pt));
		crypto_aead_seal(ct, pt, sizeof(pt), ad, sizeof(ad), nonce,
		    key);
		/* the ciphertext goes on the wire: public */
		PUBLIC(ct, sizeof(ct));
		r = crypto_aead_open(out, ct, sizeof(ct), ad, sizeof(ad),
		    nonce, key);
		PUBLIC(&r, sizeof(r));
		expect(r == 0, "aead open of a good message failed");
		ct[100] ^= 1;
		r = crypto_aead_open(out, ct, sizeof(ct), ad, sizeof(ad),
		    nonce, key);
		PUBLIC(&r, sizeof(r));
		expect(r == -1, "aead open of a bad message succeeded");
		crypto_chacha20(out, pt, 1000, key, nonce, 7);
		crypto_poly1305(tag, pt, 999, key);
	}
	crypto_impl_set(CRYPTO_IMPL_AVX2);
}

static void
check_hashes(void)
{
	uint8_t		 key[32], msg[200], d[32], o1[32], o2[32], o3[32];

	fill(key, 32);
	fill(msg, sizeof(msg));
	SECRET(key, 32);
	SECRET(msg, sizeof(msg));
	(void)crypto_blake2s(d, 32, key, 32, msg, sizeof(msg));
	crypto_hmac_blake2s(d, key, 32, msg, sizeof(msg));
	crypto_hkdf3(o1, o2, o3, key, msg, 32);
	keys_psk(d, msg, sizeof(msg));
}

static void
check_base64(void)
{
	uint8_t		 key[32], back[32];
	char		 s[KEYS_B64_LEN + 1];
	int		 r;

	fill(key, 32);
	SECRET(key, 32);
	keys_b64_encode(s, key);
	r = keys_b64_decode(back, s, KEYS_B64_LEN);
	PUBLIC(&r, sizeof(r));
	expect(r == 0, "base64 of a key did not decode");
	/* a bad character: the same code path, refused at the end */
	s[7] = '!';
	SECRET(s, KEYS_B64_LEN);
	r = keys_b64_decode(back, s, KEYS_B64_LEN);
	PUBLIC(&r, sizeof(r));
	expect(r == -1, "bad base64 decoded");
}

static uint8_t	 master_priv[32];

static int
master_dh(void *arg, uint8_t out[32], const uint8_t pub[32])
{
	(void)arg;
	return crypto_x25519(out, master_priv, pub);
}

/* One handshake and a few records each way, every key secret. */
static void
check_noise(int pattern, int use_dh)
{
	static struct noise_rec_rx rxi, rxr;
	static uint8_t		 rec[70000], pt[20000];
	struct noise_config	 ci, cr;
	struct noise_hs		 hi, hr;
	struct noise_cs		 is, ir, rs, rr;
	uint8_t			 si[32], sr[32], srpub[32], ei[32], er[32],
				 psk[32], msg[512], pay[512];
	const uint8_t		*p;
	size_t			 n, m, plen;
	int			 i, r;

	fill(si, 32);
	fill(sr, 32);
	fill(ei, 32);
	fill(er, 32);
	fill(psk, 32);
	crypto_x25519_base(srpub, sr);	/* the pinned key: public */
	memcpy(master_priv, sr, 32);
	SECRET(si, 32);
	SECRET(sr, 32);
	SECRET(master_priv, 32);
	SECRET(ei, 32);
	SECRET(er, 32);
	SECRET(psk, 32);
	memset(&ci, 0, sizeof(ci));
	memset(&cr, 0, sizeof(cr));
	ci.nc_pattern = cr.nc_pattern = pattern;
	ci.nc_role = NOISE_INITIATOR;
	cr.nc_role = NOISE_RESPONDER;
	if (pattern == NOISE_IK) {
		ci.nc_s_priv = si;
		ci.nc_rs = srpub;
		if (use_dh) {
			cr.nc_s_pub = srpub;
			cr.nc_dh = master_dh;
		} else
			cr.nc_s_priv = sr;
	} else
		ci.nc_psk = cr.nc_psk = psk;
	r = noise_hs_init(&hi, &ci) | noise_hs_init(&hr, &cr);
	r |= noise_hs_set_ephemeral(&hi, ei) | noise_hs_set_ephemeral(&hr, er);
	r |= noise_hs_write(&hi, (const uint8_t *)"hello", 5, msg, sizeof(msg),
	    &n);
	r |= noise_hs_read(&hr, msg, n, pay, sizeof(pay), &plen);
	r |= noise_hs_write(&hr, NULL, 0, msg, sizeof(msg), &n);
	r |= noise_hs_read(&hi, msg, n, pay, sizeof(pay), &plen);
	r |= noise_hs_split(&hi, &is, &ir) | noise_hs_split(&hr, &rs, &rr);
	expect(r == 0, "handshake failed");
	noise_rec_rx_init(&rxi, &ir);
	noise_rec_rx_init(&rxr, &rr);
	noise_cs_set_rekey(&is, 2);
	noise_cs_set_rekey(&rxr.rx_cs, 2);
	for (i = 0; i < 5; i++) {
		fill(pt, sizeof(pt));
		SECRET(pt, sizeof(pt));
		n = noise_rec_seal(&is, pt, sizeof(pt), rec);
		PUBLIC(rec, n);		/* on the wire */
		expect(noise_rec_open(&rxr, rec, n, &p, &m) == (ssize_t)n &&
		    m == sizeof(pt), "record failed");
		n = noise_rec_seal(&rs, p, 100, rec);
		PUBLIC(rec, n);
		/* byte by byte: the buffered path */
		for (m = 0; m < n; m++)
			expect(noise_rec_open(&rxi, rec + m, 1, &p, &plen) ==
			    1, "record byte refused");
	}
	rec[20] ^= 1;
	expect(noise_rec_open(&rxi, rec, n, &p, &m) == -1,
	    "a bad record was accepted");
	noise_hs_wipe(&hi);
	noise_hs_wipe(&hr);
	noise_rec_rx_wipe(&rxi);
	noise_rec_rx_wipe(&rxr);
}

int
main(int argc, char *argv[])
{
	static const uint8_t	 table[256] = { 1 };
	volatile uint8_t	 sink;
	uint8_t			 s[32];

	if (!RUNNING_ON_VALGRIND) {
		fprintf(stderr, "ctcheck: run me under valgrind\n");
		return 77;
	}
	if (argc == 2 && strcmp(argv[1], "--leak-branch") == 0) {
		fill(s, 32);
		SECRET(s, 32);
		if (s[0] & 1)		/* a secret-dependent branch */
			sink = 1;
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--leak-index") == 0) {
		fill(s, 32);
		SECRET(s, 32);
		sink = table[s[0]];	/* a secret-dependent address */
		(void)sink;
		return 0;
	}
	check_x25519();
	check_aead();
	check_hashes();
	check_base64();
	check_noise(NOISE_IK, 0);
	check_noise(NOISE_IK, 1);
	check_noise(NOISE_NNPSK0, 0);
	if (failures > 0)
		return 1;
	printf("ctcheck: done\n");
	return 0;
}
