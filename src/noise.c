/*
 * noise: the Noise handshakes IK and NNpsk0 (revision 34, sections 5 and 7)
 * and the record layer (noise.h).  The handshake runs the spec's token
 * interpreter over a table of message patterns, so both protocols and both
 * roles share one code path; the symmetric state functions keep the spec's
 * names.  Every error path goes through hs_fail(), which wipes the state.
 */
#include <string.h>

#include "crypto.h"
#include "noise.h"

#define HS_RUNNING	0
#define HS_COMPLETE	1	/* all messages done, split pending */
#define HS_SPLIT	2
#define HS_FAILED	3

enum { T_END, T_E, T_S, T_EE, T_ES, T_SE, T_SS, T_PSK };

#define HS_MESSAGES	2
#define HS_TOKENS	5

struct hs_pattern {
	const char	*name;
	int		 psk;		/* psk handshake: "e" mixes a key */
	uint8_t		 msg[HS_MESSAGES][HS_TOKENS];
};

static const struct hs_pattern hs_ik = {
	"Noise_IK_25519_ChaChaPoly_BLAKE2s", 0,
	{ { T_E, T_ES, T_S, T_SS, T_END }, { T_E, T_EE, T_SE, T_END } }
};
static const struct hs_pattern hs_nnpsk0 = {
	"Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s", 1,
	{ { T_PSK, T_E, T_END }, { T_E, T_EE, T_END } }
};

const char *
noise_strerror(int e)
{
	switch (e) {
	case NOISE_OK:
		return "success";
	case NOISE_ERR_MALFORMED:
		return "malformed message";
	case NOISE_ERR_AUTH:
		return "authentication failed";
	case NOISE_ERR_DH:
		return "key agreement failed";
	case NOISE_ERR_STATE:
		return "out of turn or already failed";
	case NOISE_ERR_SPACE:
		return "buffer too small";
	case NOISE_ERR_RANDOM:
		return "no random bytes";
	case NOISE_ERR_NONCE:
		return "nonce exhausted";
	case NOISE_ERR_ARG:
		return "bad argument";
	}
	return "unknown error";
}

/* The cipher state (section 5.1). */

static void
cs_init_key(struct noise_cs *cs, const uint8_t k[NOISE_KEY_LEN])
{
	memcpy(cs->cs_k, k, NOISE_KEY_LEN);
	cs->cs_n = 0;
	cs->cs_haskey = 1;
	cs->cs_rekey = 0;
}

int
noise_cs_encrypt(struct noise_cs *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t		 nonce[CRYPTO_NONCE_LEN];

	if (!cs->cs_haskey) {
		if (out != in && len > 0)
			memmove(out, in, len);
		return NOISE_OK;
	}
	if (cs->cs_n == UINT64_MAX)
		return NOISE_ERR_NONCE;
	crypto_aead_nonce(nonce, cs->cs_n);
	crypto_aead_seal(out, in, len, ad, adlen, nonce, cs->cs_k);
	cs->cs_n++;
	return NOISE_OK;
}

int
noise_cs_decrypt(struct noise_cs *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *in, size_t len, uint8_t *out)
{
	uint8_t		 nonce[CRYPTO_NONCE_LEN];

	if (!cs->cs_haskey) {
		if (out != in && len > 0)
			memmove(out, in, len);
		return NOISE_OK;
	}
	if (len < NOISE_TAG_LEN)
		return NOISE_ERR_MALFORMED;
	if (cs->cs_n == UINT64_MAX)
		return NOISE_ERR_NONCE;
	crypto_aead_nonce(nonce, cs->cs_n);
	if (crypto_aead_open(out, in, len, ad, adlen, nonce, cs->cs_k) == -1)
		return NOISE_ERR_AUTH;
	cs->cs_n++;
	return NOISE_OK;
}

void
noise_cs_rekey(struct noise_cs *cs)
{
	static const uint8_t	 zeros[NOISE_KEY_LEN];
	uint8_t			 nonce[CRYPTO_NONCE_LEN];
	uint8_t			 t[NOISE_KEY_LEN + NOISE_TAG_LEN];

	/* REKEY(k) = ENCRYPT(k, 2^64 - 1, zerolen, zeros)[0:32] (4.2). */
	crypto_aead_nonce(nonce, UINT64_MAX);
	crypto_aead_seal(t, zeros, sizeof(zeros), NULL, 0, nonce, cs->cs_k);
	memcpy(cs->cs_k, t, NOISE_KEY_LEN);
	crypto_wipe(t, sizeof(t));
}

void
noise_cs_set_rekey(struct noise_cs *cs, uint64_t n)
{
	cs->cs_rekey = n;
}

void
noise_cs_wipe(struct noise_cs *cs)
{
	crypto_wipe(cs, sizeof(*cs));
}

/* The symmetric state (section 5.2). */

static void
mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	struct crypto_blake2s	 b;

	(void)crypto_blake2s_init(&b, NOISE_KEY_LEN, NULL, 0);
	crypto_blake2s_update(&b, hs->hs_h, NOISE_KEY_LEN);
	crypto_blake2s_update(&b, data, len);
	crypto_blake2s_final(&b, hs->hs_h);
}

static void
mix_key(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t		 k[NOISE_KEY_LEN];

	crypto_hkdf2(hs->hs_ck, k, hs->hs_ck, ikm, len);
	cs_init_key(&hs->hs_cs, k);
	crypto_wipe(k, sizeof(k));
}

static void
mix_key_and_hash(struct noise_hs *hs, const uint8_t *ikm, size_t len)
{
	uint8_t		 th[NOISE_KEY_LEN], k[NOISE_KEY_LEN];

	crypto_hkdf3(hs->hs_ck, th, k, hs->hs_ck, ikm, len);
	mix_hash(hs, th, sizeof(th));
	cs_init_key(&hs->hs_cs, k);
	crypto_wipe(th, sizeof(th));
	crypto_wipe(k, sizeof(k));
}

/* out gets len + 16 bytes once a key is set, else len. */
static int
encrypt_and_hash(struct noise_hs *hs, const uint8_t *pt, size_t len,
    uint8_t *out)
{
	size_t	 n = len + (hs->hs_cs.cs_haskey ? NOISE_TAG_LEN : 0);
	int	 r;

	if ((r = noise_cs_encrypt(&hs->hs_cs, hs->hs_h, NOISE_KEY_LEN, pt, len,
	    out)) != NOISE_OK)
		return r;
	mix_hash(hs, out, n);
	return NOISE_OK;
}

/* ct is len bytes (tag included once a key is set); out must not alias. */
static int
decrypt_and_hash(struct noise_hs *hs, const uint8_t *ct, size_t len,
    uint8_t *out)
{
	int	 r;

	if ((r = noise_cs_decrypt(&hs->hs_cs, hs->hs_h, NOISE_KEY_LEN, ct, len,
	    out)) != NOISE_OK)
		return r;
	mix_hash(hs, ct, len);
	return NOISE_OK;
}

/* The handshake state (section 5.3). */

static const struct hs_pattern *
hs_pattern(const struct noise_hs *hs)
{
	return hs->hs_pattern == NOISE_IK ? &hs_ik : &hs_nnpsk0;
}

static int
hs_fail(struct noise_hs *hs, int err)
{
	noise_hs_wipe(hs);
	hs->hs_state = HS_FAILED;
	return err;
}

int
noise_hs_init(struct noise_hs *hs, const struct noise_config *c)
{
	const struct hs_pattern	*p;
	size_t			 n;
	int			 init;

	memset(hs, 0, sizeof(*hs));
	hs->hs_state = HS_FAILED;
	if (c->nc_role != NOISE_INITIATOR && c->nc_role != NOISE_RESPONDER)
		return NOISE_ERR_ARG;
	if ((c->nc_prologue == NULL && c->nc_prologue_len > 0) ||
	    (c->nc_s_priv != NULL && (c->nc_s_pub != NULL ||
	    c->nc_dh != NULL)) || (c->nc_dh == NULL) != (c->nc_s_pub == NULL))
		return NOISE_ERR_ARG;
	init = c->nc_role == NOISE_INITIATOR;
	switch (c->nc_pattern) {
	case NOISE_IK:
		/* The initiator needs both keys; the responder its own. */
		if (c->nc_psk != NULL ||
		    (c->nc_s_priv == NULL && c->nc_dh == NULL) ||
		    (init && c->nc_rs == NULL) || (!init && c->nc_rs != NULL))
			return NOISE_ERR_ARG;
		break;
	case NOISE_NNPSK0:
		if (c->nc_psk == NULL || c->nc_s_priv != NULL ||
		    c->nc_dh != NULL || c->nc_rs != NULL)
			return NOISE_ERR_ARG;
		break;
	default:
		return NOISE_ERR_ARG;
	}
	hs->hs_pattern = c->nc_pattern;
	hs->hs_role = c->nc_role;
	if (c->nc_s_priv != NULL) {
		memcpy(hs->hs_s_priv, c->nc_s_priv, NOISE_KEY_LEN);
		crypto_x25519_base(hs->hs_s_pub, hs->hs_s_priv);
		hs->hs_has_s_priv = 1;
	} else if (c->nc_s_pub != NULL) {
		memcpy(hs->hs_s_pub, c->nc_s_pub, NOISE_KEY_LEN);
		hs->hs_dh = c->nc_dh;
		hs->hs_dh_arg = c->nc_dh_arg;
	}
	if (c->nc_rs != NULL) {
		memcpy(hs->hs_rs, c->nc_rs, NOISE_KEY_LEN);
		hs->hs_has_rs = 1;
	}
	if (c->nc_psk != NULL)
		memcpy(hs->hs_psk, c->nc_psk, NOISE_KEY_LEN);

	/* InitializeSymmetric(protocol_name): both names exceed HASHLEN. */
	p = hs_pattern(hs);
	n = strlen(p->name);
	if (n <= NOISE_KEY_LEN)
		memcpy(hs->hs_h, p->name, n);
	else
		(void)crypto_blake2s(hs->hs_h, NOISE_KEY_LEN, NULL, 0, p->name,
		    n);
	memcpy(hs->hs_ck, hs->hs_h, NOISE_KEY_LEN);
	mix_hash(hs, c->nc_prologue, c->nc_prologue_len);
	/* IK's pre-message "<- s": the responder's static key. */
	if (hs->hs_pattern == NOISE_IK)
		mix_hash(hs, init ? hs->hs_rs : hs->hs_s_pub, NOISE_KEY_LEN);
	hs->hs_state = HS_RUNNING;
	return NOISE_OK;
}

int
noise_hs_set_ephemeral(struct noise_hs *hs, const uint8_t priv[NOISE_KEY_LEN])
{
	if (hs->hs_state != HS_RUNNING || hs->hs_has_e)
		return NOISE_ERR_STATE;
	memcpy(hs->hs_e_priv, priv, NOISE_KEY_LEN);
	crypto_x25519_base(hs->hs_e_pub, hs->hs_e_priv);
	hs->hs_has_e = 1;
	return NOISE_OK;
}

int
noise_hs_next(const struct noise_hs *hs)
{
	int	 ours;

	switch (hs->hs_state) {
	case HS_RUNNING:
		/* The initiator writes the even messages. */
		ours = (hs->hs_msg % 2 == 0) ==
		    (hs->hs_role == NOISE_INITIATOR);
		return ours ? NOISE_WRITE : NOISE_READ;
	case HS_COMPLETE:
		return NOISE_SPLIT;
	case HS_SPLIT:
		return NOISE_DONE;
	}
	return NOISE_FAILED;
}

/*
 * DH(local, remote): the static side may go through the callback.  A
 * result of all zeros fails, as does the callback.  Whether it failed is
 * public (the handshake stops), whatever the keys.
 */
static int
hs_dh(struct noise_hs *hs, uint8_t out[NOISE_KEY_LEN], int local_static,
    const uint8_t remote[NOISE_KEY_LEN])
{
	static const uint8_t	 zeros[NOISE_KEY_LEN];
	int			 r;

	/* No && or ?: before the declassification: they could branch. */
	if (local_static && !hs->hs_has_s_priv) {
		r = hs->hs_dh(hs->hs_dh_arg, out, remote) != 0;
		r |= crypto_memeq(out, zeros, NOISE_KEY_LEN);
	} else
		r = crypto_x25519(out, local_static ? hs->hs_s_priv :
		    hs->hs_e_priv, remote) != 0;
	CRYPTO_DECLASSIFY(&r, sizeof(r));
	return r == 0 ? NOISE_OK : NOISE_ERR_DH;
}

/* The DH tokens: which keys each role uses (section 7.1). */
static int
hs_dh_token(struct noise_hs *hs, int token)
{
	uint8_t		 dh[NOISE_KEY_LEN];
	int		 init = hs->hs_role == NOISE_INITIATOR, r;

	switch (token) {
	case T_EE:
		r = hs_dh(hs, dh, 0, hs->hs_re);
		break;
	case T_ES:
		r = init ? hs_dh(hs, dh, 0, hs->hs_rs) : hs_dh(hs, dh, 1,
		    hs->hs_re);
		break;
	case T_SE:
		r = init ? hs_dh(hs, dh, 1, hs->hs_re) : hs_dh(hs, dh, 0,
		    hs->hs_rs);
		break;
	default:			/* T_SS */
		r = hs_dh(hs, dh, 1, hs->hs_rs);
		break;
	}
	if (r == NOISE_OK)
		mix_key(hs, dh, sizeof(dh));
	crypto_wipe(dh, sizeof(dh));
	return r;
}

/*
 * The length of the current message without its payload, and whether the
 * payload is encrypted (a key is set by then): known before any state
 * changes, so a short buffer or message is refused without harm.
 */
static size_t
hs_overhead(const struct noise_hs *hs, int *haskey)
{
	const uint8_t	*t = hs_pattern(hs)->msg[hs->hs_msg];
	size_t		 n = 0;
	int		 k = hs->hs_cs.cs_haskey, i;

	for (i = 0; i < HS_TOKENS && t[i] != T_END; i++) {
		switch (t[i]) {
		case T_E:
			n += NOISE_KEY_LEN;
			if (hs_pattern(hs)->psk)
				k = 1;
			break;
		case T_S:
			n += NOISE_KEY_LEN + (k ? NOISE_TAG_LEN : 0);
			break;
		default:
			k = 1;
			break;
		}
	}
	*haskey = k;
	return n + (k ? NOISE_TAG_LEN : 0);
}

static void
hs_advance(struct noise_hs *hs)
{
	if (++hs->hs_msg == HS_MESSAGES) {
		hs->hs_state = HS_COMPLETE;
		/* Only Split() needs ck from here on: no DH is left. */
		crypto_wipe(hs->hs_e_priv, sizeof(hs->hs_e_priv));
		crypto_wipe(hs->hs_s_priv, sizeof(hs->hs_s_priv));
		crypto_wipe(hs->hs_psk, sizeof(hs->hs_psk));
		hs->hs_has_s_priv = 0;
		hs->hs_dh = NULL;
		hs->hs_dh_arg = NULL;
	}
}

int
noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t len,
    uint8_t *out, size_t cap, size_t *outlen)
{
	const struct hs_pattern	*p;
	const uint8_t		*t;
	size_t			 need, o = 0;
	int			 haskey, i, r;

	*outlen = 0;
	if (noise_hs_next(hs) != NOISE_WRITE)
		return NOISE_ERR_STATE;
	need = hs_overhead(hs, &haskey);
	if (len > NOISE_MSG_MAX - need || (payload == NULL && len > 0))
		return NOISE_ERR_ARG;
	if (cap < need + len)
		return NOISE_ERR_SPACE;
	p = hs_pattern(hs);
	t = p->msg[hs->hs_msg];
	for (i = 0; i < HS_TOKENS && t[i] != T_END; i++) {
		switch (t[i]) {
		case T_E:
			if (!hs->hs_has_e) {
				if (crypto_keypair(hs->hs_e_pub,
				    hs->hs_e_priv) == -1)
					return hs_fail(hs, NOISE_ERR_RANDOM);
				hs->hs_has_e = 1;
			}
			memcpy(out + o, hs->hs_e_pub, NOISE_KEY_LEN);
			o += NOISE_KEY_LEN;
			mix_hash(hs, hs->hs_e_pub, NOISE_KEY_LEN);
			if (p->psk)
				mix_key(hs, hs->hs_e_pub, NOISE_KEY_LEN);
			break;
		case T_S:
			haskey = hs->hs_cs.cs_haskey;
			if ((r = encrypt_and_hash(hs, hs->hs_s_pub,
			    NOISE_KEY_LEN, out + o)) != NOISE_OK)
				return hs_fail(hs, r);
			o += NOISE_KEY_LEN + (haskey ? NOISE_TAG_LEN : 0);
			break;
		case T_PSK:
			mix_key_and_hash(hs, hs->hs_psk, NOISE_KEY_LEN);
			break;
		default:
			if ((r = hs_dh_token(hs, t[i])) != NOISE_OK)
				return hs_fail(hs, r);
			break;
		}
	}
	haskey = hs->hs_cs.cs_haskey;
	if ((r = encrypt_and_hash(hs, payload, len, out + o)) != NOISE_OK)
		return hs_fail(hs, r);
	o += len + (haskey ? NOISE_TAG_LEN : 0);
	*outlen = o;
	hs_advance(hs);
	return NOISE_OK;
}

int
noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len,
    uint8_t *payload, size_t cap, size_t *plen)
{
	const struct hs_pattern	*p;
	const uint8_t		*t;
	size_t			 need, o = 0, n;
	int			 haskey, i, r;

	*plen = 0;
	if (noise_hs_next(hs) != NOISE_READ)
		return NOISE_ERR_STATE;
	need = hs_overhead(hs, &haskey);
	if (len < need || len > NOISE_MSG_MAX)
		return hs_fail(hs, NOISE_ERR_MALFORMED);
	if (cap < len - need)
		return NOISE_ERR_SPACE;
	p = hs_pattern(hs);
	t = p->msg[hs->hs_msg];
	for (i = 0; i < HS_TOKENS && t[i] != T_END; i++) {
		switch (t[i]) {
		case T_E:
			memcpy(hs->hs_re, msg + o, NOISE_KEY_LEN);
			o += NOISE_KEY_LEN;
			mix_hash(hs, hs->hs_re, NOISE_KEY_LEN);
			if (p->psk)
				mix_key(hs, hs->hs_re, NOISE_KEY_LEN);
			break;
		case T_S:
			n = NOISE_KEY_LEN +
			    (hs->hs_cs.cs_haskey ? NOISE_TAG_LEN : 0);
			if ((r = decrypt_and_hash(hs, msg + o, n,
			    hs->hs_rs)) != NOISE_OK)
				return hs_fail(hs, r);
			hs->hs_has_rs = 1;
			o += n;
			break;
		case T_PSK:
			mix_key_and_hash(hs, hs->hs_psk, NOISE_KEY_LEN);
			break;
		default:
			if ((r = hs_dh_token(hs, t[i])) != NOISE_OK)
				return hs_fail(hs, r);
			break;
		}
	}
	n = len - o;
	if ((r = decrypt_and_hash(hs, msg + o, n, payload)) != NOISE_OK)
		return hs_fail(hs, r);
	*plen = n - (haskey ? NOISE_TAG_LEN : 0);
	hs_advance(hs);
	return NOISE_OK;
}

const uint8_t *
noise_hs_remote_static(const struct noise_hs *hs)
{
	return hs->hs_has_rs ? hs->hs_rs : NULL;
}

int
noise_hs_split(struct noise_hs *hs, struct noise_cs *send,
    struct noise_cs *recv)
{
	uint8_t		 k1[NOISE_KEY_LEN], k2[NOISE_KEY_LEN];

	if (hs->hs_state != HS_COMPLETE)
		return NOISE_ERR_STATE;
	crypto_hkdf2(k1, k2, hs->hs_ck, NULL, 0);
	if (hs->hs_role == NOISE_INITIATOR) {
		cs_init_key(send, k1);
		cs_init_key(recv, k2);
	} else {
		cs_init_key(send, k2);
		cs_init_key(recv, k1);
	}
	send->cs_rekey = recv->cs_rekey = NOISE_REKEY_RECORDS;
	crypto_wipe(k1, sizeof(k1));
	crypto_wipe(k2, sizeof(k2));
	/* What is left is public: h, the static and ephemeral public keys. */
	crypto_wipe(hs->hs_ck, sizeof(hs->hs_ck));
	noise_cs_wipe(&hs->hs_cs);
	hs->hs_state = HS_SPLIT;
	return NOISE_OK;
}

int
noise_hs_handshake_hash(const struct noise_hs *hs, uint8_t out[NOISE_KEY_LEN])
{
	if (hs->hs_state != HS_COMPLETE && hs->hs_state != HS_SPLIT)
		return NOISE_ERR_STATE;
	memcpy(out, hs->hs_h, NOISE_KEY_LEN);
	return NOISE_OK;
}

void
noise_hs_wipe(struct noise_hs *hs)
{
	crypto_wipe(hs, sizeof(*hs));
	hs->hs_state = HS_FAILED;
}

/* Records (noise.h). */

/* One record used nonce n - 1: rekey when n is a multiple of the interval. */
static void
rec_advance(struct noise_cs *cs)
{
	if (cs->cs_rekey != 0 && cs->cs_n % cs->cs_rekey == 0)
		noise_cs_rekey(cs);
}

size_t
noise_rec_seal(struct noise_cs *cs, const uint8_t *pt, size_t len,
    uint8_t *out)
{
	size_t	 l = len + NOISE_TAG_LEN;

	if (len < 1 || len > NOISE_REC_PT_MAX || !cs->cs_haskey)
		return 0;
	if (noise_cs_encrypt(cs, NULL, 0, pt, len, out + NOISE_REC_HDR) !=
	    NOISE_OK)
		return 0;
	out[0] = (uint8_t)(l >> 8);
	out[1] = (uint8_t)l;
	rec_advance(cs);
	return NOISE_REC_HDR + l;
}

void
noise_rec_rx_init(struct noise_rec_rx *rx, struct noise_cs *cs)
{
	rx->rx_cs = *cs;
	noise_cs_wipe(cs);
	rx->rx_have = 0;
	rx->rx_need = 0;
	rx->rx_failed = 0;
}

static ssize_t
rec_fail(struct noise_rec_rx *rx)
{
	noise_rec_rx_wipe(rx);
	rx->rx_failed = 1;
	return -1;
}

/* Authenticate and decrypt the record at r (L bytes after the header). */
static int
rec_decrypt(struct noise_rec_rx *rx, uint8_t *r, size_t l)
{
	if (!rx->rx_cs.cs_haskey || noise_cs_decrypt(&rx->rx_cs, NULL, 0,
	    r + NOISE_REC_HDR, l, r + NOISE_REC_HDR) != NOISE_OK)
		return -1;
	rec_advance(&rx->rx_cs);
	return 0;
}

ssize_t
noise_rec_open(struct noise_rec_rx *rx, uint8_t *in, size_t len,
    const uint8_t **pt, size_t *ptlen)
{
	size_t	 used = 0, n, l;

	*pt = NULL;
	*ptlen = 0;
	if (rx->rx_failed)
		return -1;
	if (rx->rx_have == 0 && len >= NOISE_REC_HDR) {
		/* The common case: the whole record is in the input. */
		l = (size_t)in[0] << 8 | in[1];
		if (l <= NOISE_TAG_LEN)
			return rec_fail(rx);
		if (len >= NOISE_REC_HDR + l) {
			if (rec_decrypt(rx, in, l) == -1)
				return rec_fail(rx);
			*pt = in + NOISE_REC_HDR;
			*ptlen = l - NOISE_TAG_LEN;
			return (ssize_t)(NOISE_REC_HDR + l);
		}
	}
	while (used < len) {
		if (rx->rx_need == 0) {
			/* The header, perhaps one byte at a time. */
			rx->rx_buf[rx->rx_have++] = in[used++];
			if (rx->rx_have < NOISE_REC_HDR)
				continue;
			l = (size_t)rx->rx_buf[0] << 8 | rx->rx_buf[1];
			if (l <= NOISE_TAG_LEN)
				return rec_fail(rx);
			rx->rx_need = NOISE_REC_HDR + l;
			continue;
		}
		n = rx->rx_need - rx->rx_have;
		if (n > len - used)
			n = len - used;
		memcpy(rx->rx_buf + rx->rx_have, in + used, n);
		rx->rx_have += n;
		used += n;
		if (rx->rx_have < rx->rx_need)
			break;
		l = rx->rx_need - NOISE_REC_HDR;
		if (rec_decrypt(rx, rx->rx_buf, l) == -1)
			return rec_fail(rx);
		rx->rx_have = 0;
		rx->rx_need = 0;
		*pt = rx->rx_buf + NOISE_REC_HDR;
		*ptlen = l - NOISE_TAG_LEN;
		break;
	}
	return (ssize_t)used;
}

void
noise_rec_rx_wipe(struct noise_rec_rx *rx)
{
	noise_cs_wipe(&rx->rx_cs);
	crypto_wipe(rx->rx_buf, sizeof(rx->rx_buf));
	rx->rx_have = 0;
	rx->rx_need = 0;
}
