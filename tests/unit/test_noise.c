/*
 * test_noise: the handshakes against the published Noise test vectors for
 * our two protocol names, then everything the integrator relies on: the
 * DH callback (no private key in the responder), the error classes, state
 * and wiping rules, the cipher state's nonce limit and Rekey(), and the
 * record layer (any split of the stream, the rekey interval, bad lengths
 * and tags, in-place decryption).
 *
 * The vectors are the entries named Noise_IK_25519_ChaChaPoly_BLAKE2s and
 * Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s, copied as hex from
 *	cacophony.txt: github.com/haskell-cryptography/cacophony,
 *	    vectors/cacophony.txt (commit 8ee9d41e34a1)
 *	snow.txt: github.com/mcginty/snow, tests/vectors/snow.txt
 *	    (commit 8ac60f51cfe3)
 * Messages 0 and 1 are the handshake, 2 onwards transport messages
 * (initiator to responder on even indexes), AD empty, nonces from 0.
 * They exercise HMAC-BLAKE2s and the HKDF through every MixKey.
 */
#include <stdint.h>

#include "crypto.h"
#include "noise.h"
#include "unit.h"

struct vector {
	const char	*name;
	int		 pattern;
	const char	*prologue;
	const char	*init_static;
	const char	*init_ephemeral;
	const char	*init_remote_static;
	const char	*resp_static;
	const char	*resp_ephemeral;
	const char	*psk;
	const char	*hash;
	int		 nmsg;
	struct {
		const char	*payload;
		const char	*ciphertext;
	}		 msg[6];
};

static const struct vector vectors[] = {
	/* cacophony.txt */
	{ "Noise_IK_25519_ChaChaPoly_BLAKE2s", NOISE_IK,
	    "4a6f686e2047616c74",
	    "e61ef9919cde45dd5f82166404bd08e38bceb5dfdfded0a34c8df7ed"
	    "542214d1",
	    "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da"
	    "977c464a",
	    "31e0303fd6418d2f8c0e78b91f22e8caed0fbe48656dcf4767e4834f"
	    "701b8f62",
	    "4a3acbfdb163dec651dfa3194dece676d437029c62a408b4c5ea9114"
	    "246e4893",
	    "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63"
	    "da6b375b",
	    NULL,
	    "48f3cb8bc9319da4ba1e9933991b1c4ed4034f1f126a76d3a1fbcfd7"
	    "f94248d4",
	    6, {
	    { "4c756477696720766f6e204d69736573",
	      "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3a"
	      "fa4c79440b03ddc7aac5123d06a1b23b71670e32e76c28239a7ca4ac"
	      "8f784de7e44c1adbfc6e83fef7352a58d9d56157400c0a737b1d171c"
	      "e368229c7b752ac25b8faf4eca690f6d896f543be02c996ab2b86b76" },
	    { "4d757272617920526f746862617264",
	      "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1"
	      "44808843d9b5a8927f0ac9655ef76833bc7e5561f42e691ac8404efd"
	      "6fbd6308b6a27c" },
	    { "462e20412e20486179656b",
	      "2c256ed08fcd08c2980f954ee4beaccb61c9581340f5dd2fd1cf3b" },
	    { "4361726c204d656e676572",
	      "d6033f70eee20945c7c9dba304e397ee3b284ff5e00fd9efb095d3" },
	    { "4a65616e2d426170746973746520536179",
	      "a9c068ca5d8babf72560652d8e851adbfac35c8a66e810d560863173"
	      "e96adf4cfe" },
	    { "457567656e2042f6686d20766f6e2042617765726b",
	      "2a09d8f459e5927e40fdd2eddc99bdafb04e13a26f145cb5cfe9e6ba"
	      "34c94331ebc17d5156" },
	} },
	/* cacophony.txt */
	{ "Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s", NOISE_NNPSK0,
	    "4a6f686e2047616c74",
	    NULL,
	    "893e28b9dc6ca8d611ab664754b8ceb7bac5117349a4439a6b0569da"
	    "977c464a",
	    NULL,
	    NULL,
	    "bbdb4cdbd309f1a1f2e1456967fe288cadd6f712d65dc7b7793d5e63"
	    "da6b375b",
	    "54686973206973206d7920417573747269616e207065727370656374"
	    "69766521",
	    "b3e9c846d264120a4211e18307da91157a21e92e69b639c50f027f10"
	    "1db3e1a6",
	    6, {
	    { "4c756477696720766f6e204d69736573",
	      "ca35def5ae56cec33dc2036731ab14896bc4c75dbb07a61f879f8e3a"
	      "fa4c7944fda936bec35a8adfdff198386f7d5475880897edaaf74953"
	      "14c99095a2e4d66a" },
	    { "4d757272617920526f746862617264",
	      "95ebc60d2b1fa672c1f46a8aa265ef51bfe38e7ccb39ec5be34069f1"
	      "448088434cd2a371993ba41ea11448024fca32766b169183c9e691a7"
	      "a433279da7e729" },
	    { "462e20412e20486179656b",
	      "bc44da303ae0beb08075fc4eb4e58235c67c2d1f53a4f2fff0bca7" },
	    { "4361726c204d656e676572",
	      "416d1af83e9fa6966ce4e871156b131aa9bd7e9a1d6f8794f4872a" },
	    { "4a65616e2d426170746973746520536179",
	      "8a7d81b77bcc6c072f2b807da066efba6b5fab9edf71a7faceb2c845"
	      "4b0cfef608" },
	    { "457567656e2042f6686d20766f6e2042617765726b",
	      "1e2ee010f72894824a25a867664ff298f2548a145dc4e9d27b1cad83"
	      "f32fa7c54d69dc3279" },
	} },
	/* snow.txt (no handshake_hash in this file) */
	{ "Noise_IK_25519_ChaChaPoly_BLAKE2s", NOISE_IK,
	    "5468657265206973206e6f20726967687420616e642077726f6e672e"
	    "2054686572652773206f6e6c792066756e20616e6420626f72696e67"
	    "2e",
	    "b7e117ce8ede06ceb89500799a3778d097fc54a3f90bea744493dfc2"
	    "4ec21f32",
	    "cc95b4ccc4912c5a52c8d2f6b808e13712392c4468f4e3f02a7d2d15"
	    "90cb9178",
	    "ea82fd2e81d1285f1b2029e46ca7bcaeeeafed15396d002bd434624a"
	    "4d580655",
	    "e3187f5c10734e934be3a73c398c7fae07ba3e0cde2fcd9ab03a1c93"
	    "dcae10f8",
	    "587f83fe736432043d2665fbd47b0506b2cd103b6ba8577f72e117c7"
	    "ffeb5105",
	    NULL,
	    NULL,
	    4, {
	    { "910ef4a7c04090f66403fcd8ffaed066e70ed38b576792c4a554cc50"
	      "16fe5120",
	      "df44a475167152d3e4767b9ad5b28468fb8bd6aaa0b0e7181afd87ed"
	      "e7a8c971e818de301c97393bfa71ac250becfc8acef64a969e039f40"
	      "7fe44c5ffc3d66d94ff57627ad4cc53882a1b2993babac3940edd1ea"
	      "ff34a3d3f08c53570166b3d29d06bd5de3cfb9b85b66001a60a5bb98"
	      "d72b80da9485655f86db72b46f745c4e" },
	    { "3ce1e4d6e5f02bfeea1d6620cbf1473b5f55372d6954e98d3e12b6ff"
	      "d04879d5",
	      "2818be348d38de5f9e3ef545c62e8e276c12e2a64410801a0284e02d"
	      "fb0d450a848d1001977ef31dfe04b5c824acc04c7bda8490eab6cb6a"
	      "aa844c4ddf0fda83ec84ed26cd6bee22fab17360b73de5b8" },
	    { "31e7554ebce419a76bf5cd464e00594ccf55bdc09c234c450850d26a"
	      "b164238c",
	      "89545eb9b2477d482156692214def7d5aecc00b9244b4435bdb76817"
	      "3841d2a2a2e52bcee32d64fe938c87594b17ee69" },
	    { "794f643ba08cc7ee7aa39bc055560a0850dbc77bf34d8ab22019bf16"
	      "0ab2c573",
	      "fe35983c049b535cf9ca61cfad5b48e461da90c7c51cb5b873be10e5"
	      "8ae34a384aaebba7f96958b0ef0ac043c5e9c622" },
	} },

};
#define NVECTORS	(sizeof(vectors) / sizeof(vectors[0]))

static size_t
unhex(const char *s, uint8_t *out)
{
	size_t		 n = 0;
	int		 hi = -1, v;

	for (; *s != '\0'; s++) {
		if (*s >= '0' && *s <= '9')
			v = *s - '0';
		else if (*s >= 'a' && *s <= 'f')
			v = *s - 'a' + 10;
		else
			continue;
		if (hi < 0)
			hi = v;
		else {
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	return n;
}

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

/* The responder's static key for the DH callback: held "in the master". */
static uint8_t	 master_priv[32];
static int	 master_calls, master_fail;

static int
master_dh(void *arg, uint8_t out[32], const uint8_t remote[32])
{
	(void)arg;
	master_calls++;
	if (master_fail)
		return -1;
	return crypto_x25519(out, master_priv, remote);
}

/* Keys of one side of a vector, and the config for it. */
struct side {
	uint8_t		 s[32], e[32], rs[32], psk[32], prologue[128];
	uint8_t		 s_pub[32];
	struct noise_config c;
};

static void
side_setup(struct side *sd, const struct vector *v, int role, int use_dh)
{
	int	 init = role == NOISE_INITIATOR;

	memset(sd, 0, sizeof(*sd));
	sd->c.nc_pattern = v->pattern;
	sd->c.nc_role = role;
	sd->c.nc_prologue = sd->prologue;
	sd->c.nc_prologue_len = unhex(v->prologue, sd->prologue);
	unhex(init ? v->init_ephemeral : v->resp_ephemeral, sd->e);
	if (v->pattern == NOISE_IK) {
		unhex(init ? v->init_static : v->resp_static, sd->s);
		if (init) {
			unhex(v->init_remote_static, sd->rs);
			sd->c.nc_rs = sd->rs;
		}
		if (use_dh) {
			memcpy(master_priv, sd->s, 32);
			crypto_x25519_base(sd->s_pub, sd->s);
			sd->c.nc_s_pub = sd->s_pub;
			sd->c.nc_dh = master_dh;
		} else
			sd->c.nc_s_priv = sd->s;
	} else {
		unhex(v->psk, sd->psk);
		sd->c.nc_psk = sd->psk;
	}
}

/*
 * Run vector v: both roles with the vector's ephemerals, every message
 * checked against its ciphertext and read back by the other side, then the
 * transport messages through the split cipher states.  use_dh: the
 * responder's static key lives behind the DH callback.
 */
static int
run_vector(const struct vector *v, int use_dh)
{
	static uint8_t	 buf[1024], pt[1024], want[1024], payload[1024];
	struct side	 si, sr;
	struct noise_hs	 hi, hr;
	struct noise_cs	 is, ir, rs, rr;
	uint8_t		 h1[32], h2[32];
	size_t		 n, m, plen, wlen;
	int		 k, ok = 0;

	side_setup(&si, v, NOISE_INITIATOR, 0);
	side_setup(&sr, v, NOISE_RESPONDER, use_dh);
	master_calls = 0;
	if (noise_hs_init(&hi, &si.c) != 0 || noise_hs_init(&hr, &sr.c) != 0 ||
	    noise_hs_set_ephemeral(&hi, si.e) != 0 ||
	    noise_hs_set_ephemeral(&hr, sr.e) != 0) {
		fprintf(stderr, "  %s: init failed\n", v->name);
		return 0;
	}
	for (k = 0; k < 2; k++) {
		struct noise_hs	*w = k == 0 ? &hi : &hr;
		struct noise_hs	*r = k == 0 ? &hr : &hi;

		plen = unhex(v->msg[k].payload, payload);
		wlen = unhex(v->msg[k].ciphertext, want);
		if (noise_hs_next(w) != NOISE_WRITE ||
		    noise_hs_next(r) != NOISE_READ ||
		    noise_hs_write(w, payload, plen, buf, sizeof(buf),
		    &n) != 0 ||
		    n != wlen || memcmp(buf, want, n) != 0) {
			fprintf(stderr, "  %s: message %d differs\n", v->name,
			    k);
			return 0;
		}
		if (noise_hs_read(r, buf, n, pt, sizeof(pt), &m) != 0 ||
		    m != plen || memcmp(pt, payload, m) != 0) {
			fprintf(stderr, "  %s: message %d not read back\n",
			    v->name, k);
			return 0;
		}
	}
	if (noise_hs_next(&hi) != NOISE_SPLIT ||
	    noise_hs_next(&hr) != NOISE_SPLIT ||
	    noise_hs_handshake_hash(&hi, h1) != 0 ||
	    noise_hs_handshake_hash(&hr, h2) != 0 || memcmp(h1, h2, 32) != 0)
		return 0;
	if (v->hash != NULL && (unhex(v->hash, want) != 32 ||
	    memcmp(h1, want, 32) != 0)) {
		fprintf(stderr, "  %s: handshake hash differs\n", v->name);
		return 0;
	}
	if (noise_hs_split(&hi, &is, &ir) != 0 ||
	    noise_hs_split(&hr, &rs, &rr) != 0)
		return 0;
	for (k = 2; k < v->nmsg; k++) {
		struct noise_cs *w = k % 2 == 0 ? &is : &rs;
		struct noise_cs *r = k % 2 == 0 ? &rr : &ir;

		plen = unhex(v->msg[k].payload, payload);
		wlen = unhex(v->msg[k].ciphertext, want);
		if (noise_cs_encrypt(w, NULL, 0, payload, plen, buf) != 0 ||
		    plen + 16 != wlen || memcmp(buf, want, wlen) != 0 ||
		    noise_cs_decrypt(r, NULL, 0, buf, wlen, pt) != 0 ||
		    memcmp(pt, payload, plen) != 0) {
			fprintf(stderr, "  %s: transport message %d differs\n",
			    v->name, k);
			return 0;
		}
	}
	/* The IK responder's static key was used exactly twice: es, ss. */
	ok = !use_dh || master_calls == 2;
	noise_hs_wipe(&hi);
	noise_hs_wipe(&hr);
	return ok;
}

static void
test_vectors(void)
{
	size_t	 i;

	CHECK_EQ(NVECTORS, 3);
	for (i = 0; i < NVECTORS; i++)
		CHECK(run_vector(&vectors[i], 0));
}

static void
test_vectors_dh_callback(void)
{
	size_t	 i;

	for (i = 0; i < NVECTORS; i++)
		if (vectors[i].pattern == NOISE_IK)
			CHECK(run_vector(&vectors[i], 1));
}

/* Fresh random keys for an IK pair; the responder behind the callback. */
struct pair {
	uint8_t		 i_priv[32], i_pub[32], r_priv[32], r_pub[32];
	uint8_t		 psk[32];
	struct noise_hs	 hi, hr;
};

static int
pair_init(struct pair *p, int pattern)
{
	struct noise_config	 ci, cr;

	crypto_keypair(p->i_pub, p->i_priv);
	crypto_keypair(p->r_pub, p->r_priv);
	crypto_random(p->psk, 32);
	memcpy(master_priv, p->r_priv, 32);
	master_fail = 0;
	memset(&ci, 0, sizeof(ci));
	memset(&cr, 0, sizeof(cr));
	ci.nc_pattern = cr.nc_pattern = pattern;
	ci.nc_role = NOISE_INITIATOR;
	cr.nc_role = NOISE_RESPONDER;
	ci.nc_prologue = cr.nc_prologue = (const uint8_t *)"relay";
	ci.nc_prologue_len = cr.nc_prologue_len = 5;
	if (pattern == NOISE_IK) {
		ci.nc_s_priv = p->i_priv;
		ci.nc_rs = p->r_pub;
		cr.nc_s_pub = p->r_pub;
		cr.nc_dh = master_dh;
	} else
		ci.nc_psk = cr.nc_psk = p->psk;
	return noise_hs_init(&p->hi, &ci) == 0 &&
	    noise_hs_init(&p->hr, &cr) == 0 ? 0 : -1;
}

/* Message 1 from initiator to responder; the responder's read result. */
static int
pair_msg1(struct pair *p, uint8_t *msg, size_t *n)
{
	uint8_t		 pt[64];
	size_t		 m;

	if (noise_hs_write(&p->hi, (const uint8_t *)"hello", 5, msg, 256,
	    n) != 0)
		return -100;
	return noise_hs_read(&p->hr, msg, *n, pt, sizeof(pt), &m);
}

/* The remote static key of an IK responder is there right after msg 1. */
static void
test_ik_remote_static(void)
{
	struct pair	 p;
	uint8_t		 msg[256], pt[64];
	size_t		 n, m;

	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK(noise_hs_remote_static(&p.hr) == NULL);
	CHECK(noise_hs_remote_static(&p.hi) != NULL);
	CHECK(pair_msg1(&p, msg, &n) == 0);
	CHECK_EQ(n, 96 + 5);
	CHECK(noise_hs_remote_static(&p.hr) != NULL);
	CHECK(memcmp(noise_hs_remote_static(&p.hr), p.i_pub, 32) == 0);
	CHECK_EQ(noise_hs_next(&p.hr), NOISE_WRITE);
	CHECK(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n) == 0);
	CHECK_EQ(n, 48);
	CHECK(noise_hs_read(&p.hi, msg, n, pt, sizeof(pt), &m) == 0);
	CHECK_EQ(m, 0);
	CHECK(memcmp(noise_hs_remote_static(&p.hr), p.i_pub, 32) == 0);
	noise_hs_wipe(&p.hi);
	noise_hs_wipe(&p.hr);
}

/*
 * The backend pinned a key that is not the relay's: the relay cannot
 * decrypt the static key (AUTH).  A reply from a responder with another
 * key fails at the initiator (AUTH): "not the key you pinned".
 */
static void
test_ik_wrong_pinned_key(void)
{
	struct pair	 p;
	uint8_t		 msg[256], other_pub[32], other_priv[32], pt[64];
	size_t		 n, m;

	CHECK(pair_init(&p, NOISE_IK) == 0);
	crypto_keypair(other_pub, other_priv);
	memcpy(master_priv, other_priv, 32);	/* the relay has another key */
	CHECK_EQ(pair_msg1(&p, msg, &n), NOISE_ERR_AUTH);
	CHECK_EQ(noise_hs_next(&p.hr), NOISE_FAILED);
	CHECK(all_zero(p.hr.hs_ck, 32) && all_zero(p.hr.hs_rs, 32));
	CHECK(noise_hs_remote_static(&p.hr) == NULL);

	/* A man in the middle answers message 1 with its own handshake. */
	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK(pair_msg1(&p, msg, &n) == 0);
	{
		struct noise_config	 c;
		struct noise_hs		 mitm;

		memset(&c, 0, sizeof(c));
		c.nc_pattern = NOISE_IK;
		c.nc_role = NOISE_RESPONDER;
		c.nc_prologue = (const uint8_t *)"relay";
		c.nc_prologue_len = 5;
		c.nc_s_priv = other_priv;
		CHECK(noise_hs_init(&mitm, &c) == 0);
		/* it cannot even read message 1 */
		CHECK_EQ(noise_hs_read(&mitm, msg, n, pt, sizeof(pt), &m),
		    NOISE_ERR_AUTH);
	}
	CHECK(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n) == 0);
	msg[40] ^= 1;		/* message 2 altered in flight */
	CHECK_EQ(noise_hs_read(&p.hi, msg, n, pt, sizeof(pt), &m),
	    NOISE_ERR_AUTH);
	CHECK_EQ(noise_hs_next(&p.hi), NOISE_FAILED);
	CHECK(all_zero(p.hi.hs_s_priv, 32) && all_zero(p.hi.hs_e_priv, 32));
}

/* NNpsk0 with different PSKs: the responder fails on message 1. */
static void
test_nnpsk0_wrong_psk(void)
{
	struct pair		 p;
	struct noise_config	 c;
	uint8_t			 msg[256], psk2[32], pt[64];
	size_t			 n, m;

	CHECK(pair_init(&p, NOISE_NNPSK0) == 0);
	memset(&c, 0, sizeof(c));
	c.nc_pattern = NOISE_NNPSK0;
	c.nc_role = NOISE_RESPONDER;
	c.nc_prologue = (const uint8_t *)"relay";
	c.nc_prologue_len = 5;
	memcpy(psk2, p.psk, 32);
	psk2[31] ^= 1;
	c.nc_psk = psk2;
	CHECK(noise_hs_init(&p.hr, &c) == 0);
	CHECK(noise_hs_write(&p.hi, NULL, 0, msg, sizeof(msg), &n) == 0);
	CHECK_EQ(n, 48);
	CHECK_EQ(noise_hs_read(&p.hr, msg, n, pt, sizeof(pt), &m),
	    NOISE_ERR_AUTH);
	/* a different prologue fails the same way */
	CHECK(pair_init(&p, NOISE_NNPSK0) == 0);
	c.nc_psk = p.psk;
	c.nc_prologue = (const uint8_t *)"relaX";
	CHECK(noise_hs_init(&p.hr, &c) == 0);
	CHECK(noise_hs_write(&p.hi, NULL, 0, msg, sizeof(msg), &n) == 0);
	CHECK_EQ(noise_hs_read(&p.hr, msg, n, pt, sizeof(pt), &m),
	    NOISE_ERR_AUTH);
}

/* Short, long and empty messages are MALFORMED, not AUTH. */
static void
test_malformed(void)
{
	static uint8_t	 big[NOISE_MSG_MAX + 2];
	struct pair	 p;
	uint8_t		 msg[256], pt[256];
	size_t		 n, m, cut;

	for (cut = 0; cut < 96; cut += 7) {
		CHECK(pair_init(&p, NOISE_IK) == 0);
		CHECK(noise_hs_write(&p.hi, NULL, 0, msg, sizeof(msg), &n) ==
		    0);
		CHECK_EQ(n, 96);
		CHECK_EQ(noise_hs_read(&p.hr, msg, cut, pt, sizeof(pt), &m),
		    NOISE_ERR_MALFORMED);
		CHECK_EQ(noise_hs_next(&p.hr), NOISE_FAILED);
	}
	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK_EQ(noise_hs_read(&p.hr, big, sizeof(big), pt, sizeof(pt), &m),
	    NOISE_ERR_MALFORMED);
	CHECK(pair_init(&p, NOISE_NNPSK0) == 0);
	CHECK_EQ(noise_hs_read(&p.hr, msg, 47, pt, sizeof(pt), &m),
	    NOISE_ERR_MALFORMED);
	/* message 2 a byte short of its minimum */
	CHECK(pair_init(&p, NOISE_NNPSK0) == 0);
	CHECK(pair_msg1(&p, msg, &n) == 0);
	CHECK(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n) == 0);
	CHECK_EQ(noise_hs_read(&p.hi, msg, n - 1, pt, sizeof(pt), &m),
	    NOISE_ERR_MALFORMED);
}

/* A low-order ephemeral key from the peer, or a failing callback: DH. */
static void
test_dh_failures(void)
{
	struct pair	 p;
	uint8_t		 msg[256], pt[64];
	size_t		 n, m;

	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK(noise_hs_write(&p.hi, NULL, 0, msg, sizeof(msg), &n) == 0);
	memset(msg, 0, 32);			/* e = 0: low order */
	CHECK_EQ(noise_hs_read(&p.hr, msg, n, pt, sizeof(pt), &m),
	    NOISE_ERR_DH);
	CHECK(pair_init(&p, NOISE_NNPSK0) == 0);
	CHECK(noise_hs_write(&p.hi, NULL, 0, msg, sizeof(msg), &n) == 0);
	CHECK(noise_hs_read(&p.hr, msg, n, pt, sizeof(pt), &m) == 0);
	CHECK(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n) == 0);
	memset(msg, 0, 32);
	msg[0] = 1;				/* e = 1: low order */
	CHECK_EQ(noise_hs_read(&p.hi, msg, n, pt, sizeof(pt), &m),
	    NOISE_ERR_DH);
	/* the master cannot answer */
	CHECK(pair_init(&p, NOISE_IK) == 0);
	master_fail = 1;
	CHECK_EQ(pair_msg1(&p, msg, &n), NOISE_ERR_DH);
	master_fail = 0;
	CHECK(all_zero(p.hr.hs_ck, 32) && all_zero(p.hr.hs_h, 32));
}

/* Out of turn, split early, after failure: STATE; nothing else changes. */
static void
test_state_rules(void)
{
	struct pair	 p;
	struct noise_cs	 a, b;
	uint8_t		 msg[256], pt[64], h[32];
	size_t		 n, m;

	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK_EQ(noise_hs_read(&p.hi, msg, 96, pt, sizeof(pt), &m),
	    NOISE_ERR_STATE);
	CHECK_EQ(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n),
	    NOISE_ERR_STATE);
	CHECK_EQ(noise_hs_split(&p.hi, &a, &b), NOISE_ERR_STATE);
	CHECK_EQ(noise_hs_handshake_hash(&p.hi, h), NOISE_ERR_STATE);
	CHECK_EQ(noise_hs_next(&p.hi), NOISE_WRITE);	/* unharmed */
	CHECK(pair_msg1(&p, msg, &n) == 0);
	CHECK(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n) == 0);
	CHECK(noise_hs_read(&p.hi, msg, n, pt, sizeof(pt), &m) == 0);
	CHECK_EQ(noise_hs_write(&p.hi, NULL, 0, msg, sizeof(msg), &n),
	    NOISE_ERR_STATE);
	CHECK(noise_hs_split(&p.hi, &a, &b) == 0);
	CHECK_EQ(noise_hs_next(&p.hi), NOISE_DONE);
	CHECK_EQ(noise_hs_split(&p.hi, &a, &b), NOISE_ERR_STATE);
	CHECK(noise_hs_handshake_hash(&p.hi, h) == 0);
	/* a failed handshake answers STATE from then on */
	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK_EQ(noise_hs_read(&p.hr, msg, 3, pt, sizeof(pt), &m),
	    NOISE_ERR_MALFORMED);
	CHECK_EQ(noise_hs_read(&p.hr, msg, 96, pt, sizeof(pt), &m),
	    NOISE_ERR_STATE);
	CHECK_EQ(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n),
	    NOISE_ERR_STATE);
}

/* A buffer too small is SPACE and harmless: retry with a bigger one. */
static void
test_space(void)
{
	struct pair	 p;
	uint8_t		 msg[256], pt[64];
	size_t		 n, m;

	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK_EQ(noise_hs_write(&p.hi, (const uint8_t *)"hello", 5, msg, 100,
	    &n), NOISE_ERR_SPACE);
	CHECK(noise_hs_write(&p.hi, (const uint8_t *)"hello", 5, msg, 101,
	    &n) == 0);
	CHECK_EQ(noise_hs_read(&p.hr, msg, n, pt, 4, &m), NOISE_ERR_SPACE);
	CHECK_EQ(noise_hs_next(&p.hr), NOISE_READ);
	CHECK(noise_hs_read(&p.hr, msg, n, pt, 5, &m) == 0);
	CHECK_EQ(m, 5);
	CHECK(memcmp(pt, "hello", 5) == 0);
}

/* Configurations a role cannot run are refused. */
static void
test_config_errors(void)
{
	struct noise_config	 c;
	struct noise_hs		 hs;
	uint8_t			 k[32] = { 1 };

	memset(&c, 0, sizeof(c));
	c.nc_pattern = NOISE_IK;
	c.nc_role = NOISE_INITIATOR;
	c.nc_s_priv = k;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);	/* no rs */
	c.nc_rs = k;
	CHECK(noise_hs_init(&hs, &c) == 0);
	c.nc_psk = k;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);	/* psk in IK */
	c.nc_psk = NULL;
	c.nc_role = NOISE_RESPONDER;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);	/* rs given */
	c.nc_rs = NULL;
	CHECK(noise_hs_init(&hs, &c) == 0);
	c.nc_s_pub = k;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);	/* both */
	c.nc_s_priv = NULL;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);	/* no dh */
	c.nc_dh = master_dh;
	CHECK(noise_hs_init(&hs, &c) == 0);
	c.nc_pattern = NOISE_NNPSK0;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);
	memset(&c, 0, sizeof(c));
	c.nc_pattern = NOISE_NNPSK0;
	c.nc_role = NOISE_RESPONDER;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);	/* no psk */
	c.nc_psk = k;
	CHECK(noise_hs_init(&hs, &c) == 0);
	c.nc_role = 7;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);
	c.nc_role = NOISE_INITIATOR;
	c.nc_pattern = 9;
	CHECK_EQ(noise_hs_init(&hs, &c), NOISE_ERR_ARG);
	CHECK(strcmp(noise_strerror(NOISE_ERR_AUTH), "authentication failed")
	    == 0);
}

/* After the split only public values remain in the handshake state. */
static void
test_split_wipes(void)
{
	struct pair	 p;
	struct noise_cs	 a, b, c, d;
	uint8_t		 msg[256], pt[64];
	size_t		 n, m;

	CHECK(pair_init(&p, NOISE_IK) == 0);
	CHECK(pair_msg1(&p, msg, &n) == 0);
	CHECK(noise_hs_write(&p.hr, NULL, 0, msg, sizeof(msg), &n) == 0);
	CHECK(noise_hs_read(&p.hi, msg, n, pt, sizeof(pt), &m) == 0);
	CHECK(noise_hs_split(&p.hi, &a, &b) == 0);
	CHECK(noise_hs_split(&p.hr, &c, &d) == 0);
	CHECK(memcmp(a.cs_k, d.cs_k, 32) == 0);
	CHECK(memcmp(b.cs_k, c.cs_k, 32) == 0);
	CHECK(memcmp(a.cs_k, b.cs_k, 32) != 0);
	CHECK_EQ(a.cs_rekey, NOISE_REKEY_RECORDS);
	CHECK(all_zero(p.hi.hs_ck, 32) && all_zero(p.hi.hs_s_priv, 32) &&
	    all_zero(p.hi.hs_e_priv, 32) && all_zero(&p.hi.hs_cs,
	    sizeof(p.hi.hs_cs)));
	CHECK(all_zero(p.hr.hs_ck, 32) && all_zero(p.hr.hs_e_priv, 32) &&
	    p.hr.hs_dh == NULL);
	noise_hs_wipe(&p.hi);
	CHECK(all_zero(p.hi.hs_h, 32));
}

/* Nonce 2^64 - 1 is reserved; Rekey is ENCRYPT(k, 2^64 - 1, "", 0^32). */
static void
test_cipher_state(void)
{
	struct noise_cs	 cs;
	uint8_t		 k[32], nonce[12], zeros[32] = { 0 }, t[48], out[32];

	memset(&cs, 0, sizeof(cs));
	CHECK(noise_cs_encrypt(&cs, NULL, 0, (const uint8_t *)"ab", 2, out) ==
	    0);
	CHECK(memcmp(out, "ab", 2) == 0);		/* no key: a copy */
	crypto_random(k, 32);
	memcpy(cs.cs_k, k, 32);
	cs.cs_haskey = 1;
	cs.cs_n = UINT64_MAX - 1;
	CHECK(noise_cs_encrypt(&cs, NULL, 0, zeros, 1, out) == 0);
	CHECK_EQ(noise_cs_encrypt(&cs, NULL, 0, zeros, 1, out),
	    NOISE_ERR_NONCE);
	CHECK(cs.cs_n == UINT64_MAX);
	CHECK_EQ(noise_cs_decrypt(&cs, NULL, 0, out, 17, out), NOISE_ERR_NONCE);
	CHECK_EQ(noise_cs_decrypt(&cs, NULL, 0, out, 15, out),
	    NOISE_ERR_MALFORMED);
	noise_cs_rekey(&cs);
	crypto_aead_nonce(nonce, UINT64_MAX);
	crypto_aead_seal(t, zeros, 32, NULL, 0, nonce, k);
	CHECK(memcmp(cs.cs_k, t, 32) == 0);
	CHECK(cs.cs_n == UINT64_MAX);		/* Rekey keeps the nonce */
	/* a failed decryption does not advance the nonce */
	cs.cs_n = 5;
	memset(out, 0, sizeof(out));
	CHECK_EQ(noise_cs_decrypt(&cs, NULL, 0, out, 20, out), NOISE_ERR_AUTH);
	CHECK(cs.cs_n == 5);
	noise_cs_wipe(&cs);
	CHECK(all_zero(&cs, sizeof(cs)));
}

/* Two connected record streams with a fresh key and a rekey interval. */
static void
rec_pair(struct noise_cs *tx, struct noise_rec_rx *rx, uint64_t interval)
{
	struct noise_cs	 cs;

	memset(tx, 0, sizeof(*tx));
	crypto_random(tx->cs_k, 32);
	tx->cs_haskey = 1;
	noise_cs_set_rekey(tx, interval);
	cs = *tx;
	noise_rec_rx_init(rx, &cs);
	CHECK_EQ(cs.cs_haskey, 0);		/* taken over and wiped */
}

/* Feed stream (len bytes) to rx in pieces of `step`; concatenate out. */
static ssize_t
rec_feed(struct noise_rec_rx *rx, uint8_t *stream, size_t len, size_t step,
    uint8_t *out, size_t *nrec, int *inplace)
{
	const uint8_t	*pt;
	size_t		 off = 0, o = 0, n, ptlen, used;
	ssize_t		 r;

	*nrec = 0;
	while (off < len) {
		n = len - off < step ? len - off : step;
		used = 0;
		while (used < n) {
			if ((r = noise_rec_open(rx, stream + off + used,
			    n - used, &pt, &ptlen)) < 0)
				return -1;
			if (ptlen > 0) {
				if (pt >= stream && pt < stream + len)
					(*inplace)++;
				memcpy(out + o, pt, ptlen);
				o += ptlen;
				(*nrec)++;
			} else if ((size_t)r != n - used)
				return -2;	/* no record, not all used */
			used += (size_t)r;
		}
		off += n;
	}
	return (ssize_t)o;
}

static uint8_t	 rec_stream[600000], rec_copy[600000], rec_pt[600000],
		 rec_out[600000];

/*
 * Records of sizes 1..65519 through every kind of split: byte by byte,
 * odd pieces, all at once; an interval of 3 makes several rekeys happen.
 * With all of it at once, every record is decrypted in place.
 */
static void
test_records_splits(void)
{
	static const size_t	 sizes[] = { 1, 2, 15, 16, 17, 100, 1000,
				    16384, 65519, 3, 65519, 7, 4096, 1 };
	static const size_t	 steps[] = { 1, 2, 3, 17, 1000, 65537,
				    600000 };
	struct noise_cs		 tx;
	struct noise_rec_rx	 rx;
	size_t			 i, s, off, ptoff, nrec, total = 0, k;
	ssize_t			 r;
	int			 inplace;

	for (i = 0; i < sizeof(rec_pt); i++)
		rec_pt[i] = (uint8_t)(i * 7 + i / 251);
	for (s = 0; s < sizeof(steps) / sizeof(steps[0]); s++) {
		rec_pair(&tx, &rx, 3);
		off = ptoff = 0;
		for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
			k = noise_rec_seal(&tx, rec_pt + ptoff, sizes[i],
			    rec_stream + off);
			CHECK_EQ(k, sizes[i] + NOISE_REC_OVERHEAD);
			CHECK_EQ((rec_stream[off] << 8 | rec_stream[off + 1]),
			    sizes[i] + 16);
			off += k;
			ptoff += sizes[i];
		}
		total = ptoff;
		memcpy(rec_copy, rec_stream, off);
		inplace = 0;
		r = rec_feed(&rx, rec_copy, off, steps[s], rec_out, &nrec,
		    &inplace);
		CHECK_EQ(r, (ssize_t)total);
		CHECK_EQ(nrec, sizeof(sizes) / sizeof(sizes[0]));
		CHECK(memcmp(rec_out, rec_pt, total) == 0);
		CHECK(rx.rx_cs.cs_n == tx.cs_n);
		CHECK(memcmp(rx.rx_cs.cs_k, tx.cs_k, 32) == 0);
		if (steps[s] == 600000)
			CHECK_EQ(inplace, (int)nrec);
		if (steps[s] < 17)
			CHECK_EQ(inplace, 0);
		noise_rec_rx_wipe(&rx);
	}
}

/*
 * The rekey: after `interval` records the key changes (and both sides
 * agree); a receiver that did not rekey at the same point would fail.
 */
static void
test_records_rekey(void)
{
	struct noise_cs		 tx, plain;
	struct noise_rec_rx	 rx;
	const uint8_t		*pt;
	uint8_t			 k0[32], rec[64];
	size_t			 ptlen, i, n;

	rec_pair(&tx, &rx, 4);
	memcpy(k0, tx.cs_k, 32);
	plain = tx;
	for (i = 0; i < 9; i++) {
		n = noise_rec_seal(&tx, (const uint8_t *)"x", 1, rec);
		CHECK_EQ(n, 19);
		CHECK(noise_rec_open(&rx, rec, n, &pt, &ptlen) == 19);
		CHECK(ptlen == 1 && pt[0] == 'x');
		/* key changes after the 4th and 8th records (n = 4, 8) */
		CHECK((memcmp(tx.cs_k, k0, 32) == 0) == (i < 3));
	}
	CHECK(tx.cs_n == 9);
	noise_cs_rekey(&plain);
	noise_cs_rekey(&plain);
	CHECK(memcmp(plain.cs_k, tx.cs_k, 32) == 0);
	/* the product's interval is 2^20 records */
	CHECK_EQ(NOISE_REKEY_RECORDS, 1048576);
	/* a receiver with another interval fails at the first rekey */
	rec_pair(&tx, &rx, 4);
	noise_cs_set_rekey(&rx.rx_cs, 5);
	for (i = 0; i < 4; i++) {
		n = noise_rec_seal(&tx, (const uint8_t *)"y", 1, rec);
		CHECK(noise_rec_open(&rx, rec, n, &pt, &ptlen) == 19);
	}
	n = noise_rec_seal(&tx, (const uint8_t *)"y", 1, rec);
	CHECK(noise_rec_open(&rx, rec, n, &pt, &ptlen) == -1);
}

/* A length under 17 or a bad tag fails, and the stream stays failed. */
static void
test_records_bad(void)
{
	struct noise_cs		 tx;
	struct noise_rec_rx	 rx;
	const uint8_t		*pt;
	uint8_t			 rec[100], bad[2];
	size_t			 ptlen, n, i;

	for (i = 0; i <= 16; i++) {
		rec_pair(&tx, &rx, 0);
		bad[0] = 0;
		bad[1] = (uint8_t)i;
		/* whole header at once, then byte by byte */
		CHECK(noise_rec_open(&rx, bad, 2, &pt, &ptlen) == -1);
		rec_pair(&tx, &rx, 0);
		CHECK(noise_rec_open(&rx, bad, 1, &pt, &ptlen) == 1);
		CHECK(noise_rec_open(&rx, bad + 1, 1, &pt, &ptlen) == -1);
		CHECK(pt == NULL && ptlen == 0);
	}
	for (i = 2; i < 2 + 5 + 16; i++) {
		rec_pair(&tx, &rx, 0);
		n = noise_rec_seal(&tx, (const uint8_t *)"hello", 5, rec);
		rec[i] ^= 0x01;
		CHECK(noise_rec_open(&rx, rec, n, &pt, &ptlen) == -1);
		rec[i] ^= 0x01;
		/* failed for good: even the true record is refused now */
		CHECK(noise_rec_open(&rx, rec, n, &pt, &ptlen) == -1);
		CHECK(all_zero(&rx.rx_cs, sizeof(rx.rx_cs)));
	}
	/*
	 * An authentic empty record (L = 16, a valid tag over nothing) is
	 * refused too, whole or in pieces: the length alone decides.
	 */
	for (i = 0; i < 2; i++) {
		struct noise_cs	 c;

		rec_pair(&tx, &rx, 0);
		c = tx;
		CHECK(noise_cs_encrypt(&c, NULL, 0, NULL, 0, rec + 2) == 0);
		rec[0] = 0;
		rec[1] = 16;
		if (i == 0)
			CHECK(noise_rec_open(&rx, rec, 18, &pt, &ptlen) == -1);
		else {
			CHECK(noise_rec_open(&rx, rec, 1, &pt, &ptlen) == 1);
			CHECK(noise_rec_open(&rx, rec + 1, 17, &pt, &ptlen) ==
			    -1);
		}
		CHECK(pt == NULL && ptlen == 0);
	}
	/* split case: the bad tag found in rx's buffer */
	rec_pair(&tx, &rx, 0);
	n = noise_rec_seal(&tx, (const uint8_t *)"hello", 5, rec);
	rec[n - 1] ^= 0x80;
	CHECK(noise_rec_open(&rx, rec, 3, &pt, &ptlen) == 3);
	CHECK(noise_rec_open(&rx, rec + 3, n - 3, &pt, &ptlen) == -1);
	/* a record replayed, or two swapped, fails (the nonce moved on) */
	rec_pair(&tx, &rx, 0);
	n = noise_rec_seal(&tx, (const uint8_t *)"hello", 5, rec);
	memcpy(rec + 50, rec, n);
	CHECK(noise_rec_open(&rx, rec, n, &pt, &ptlen) == (ssize_t)n);
	CHECK(noise_rec_open(&rx, rec + 50, n, &pt, &ptlen) == -1);
}

/* seal refuses 0 and > 65519 bytes, and a state without a key. */
static void
test_records_seal_limits(void)
{
	static uint8_t		 big[NOISE_REC_PT_MAX + 1 + NOISE_REC_OVERHEAD];
	struct noise_cs		 tx, none;
	struct noise_rec_rx	 rx;
	const uint8_t		*pt;
	size_t			 ptlen;

	rec_pair(&tx, &rx, 0);
	CHECK_EQ(noise_rec_seal(&tx, big, 0, big), 0);
	CHECK_EQ(noise_rec_seal(&tx, big, NOISE_REC_PT_MAX + 1, big), 0);
	CHECK(tx.cs_n == 0);
	memset(&none, 0, sizeof(none));
	CHECK_EQ(noise_rec_seal(&none, big, 5, big), 0);
	/* in place: the plaintext two bytes into the output buffer */
	memset(big + 2, 'z', NOISE_REC_PT_MAX);
	CHECK_EQ(noise_rec_seal(&tx, big + 2, NOISE_REC_PT_MAX, big),
	    NOISE_REC_HDR + NOISE_REC_MAX);
	CHECK(big[0] == 0xff && big[1] == 0xff);
	CHECK(noise_rec_open(&rx, big, NOISE_REC_HDR + NOISE_REC_MAX, &pt,
	    &ptlen) == NOISE_REC_HDR + NOISE_REC_MAX);
	CHECK_EQ(ptlen, NOISE_REC_PT_MAX);
	CHECK(pt == big + 2 && pt[0] == 'z' && pt[NOISE_REC_PT_MAX - 1] == 'z');
	/* nonce exhausted: no record */
	tx.cs_n = UINT64_MAX;
	CHECK_EQ(noise_rec_seal(&tx, big, 5, big), 0);
}

/* A complete session both ways over records, with a handshake first. */
static void
test_session(void)
{
	struct pair		 p;
	struct noise_cs		 is, ir, rs, rr;
	struct noise_rec_rx	 irx, rrx;
	const uint8_t		*pt;
	uint8_t			 msg[256], buf[200], rec[256];
	size_t			 n, m, ptlen;
	int			 i;

	CHECK(pair_init(&p, NOISE_NNPSK0) == 0);
	CHECK(pair_msg1(&p, msg, &n) == 0);
	CHECK(noise_hs_write(&p.hr, (const uint8_t *)"ok", 2, msg, sizeof(msg),
	    &n) == 0);
	CHECK(noise_hs_read(&p.hi, msg, n, buf, sizeof(buf), &m) == 0);
	CHECK(m == 2 && memcmp(buf, "ok", 2) == 0);
	CHECK(noise_hs_split(&p.hi, &is, &ir) == 0);
	CHECK(noise_hs_split(&p.hr, &rs, &rr) == 0);
	noise_rec_rx_init(&irx, &ir);
	noise_rec_rx_init(&rrx, &rr);
	for (i = 0; i < 100; i++) {
		snprintf((char *)buf, sizeof(buf), "ping %d", i);
		n = noise_rec_seal(&is, buf, strlen((char *)buf), rec);
		CHECK(noise_rec_open(&rrx, rec, n, &pt, &ptlen) ==
		    (ssize_t)n);
		CHECK(ptlen == strlen((char *)buf) && memcmp(pt, buf,
		    ptlen) == 0);
		n = noise_rec_seal(&rs, pt, ptlen, rec);
		CHECK(noise_rec_open(&irx, rec, n, &pt, &ptlen) ==
		    (ssize_t)n);
		CHECK(memcmp(pt, buf, ptlen) == 0);
	}
	noise_rec_rx_wipe(&irx);
	noise_rec_rx_wipe(&rrx);
	noise_cs_wipe(&is);
	noise_cs_wipe(&rs);
}

int
main(void)
{
	RUN(test_vectors);
	RUN(test_vectors_dh_callback);
	RUN(test_ik_remote_static);
	RUN(test_ik_wrong_pinned_key);
	RUN(test_nnpsk0_wrong_psk);
	RUN(test_malformed);
	RUN(test_dh_failures);
	RUN(test_state_rules);
	RUN(test_space);
	RUN(test_config_errors);
	RUN(test_split_wipes);
	RUN(test_cipher_state);
	RUN(test_records_splits);
	RUN(test_records_rekey);
	RUN(test_records_bad);
	RUN(test_records_seal_limits);
	RUN(test_session);
	UNIT_END();
}
