/*
 * blake2s: BLAKE2s (RFC 7693), and on top of it HMAC-BLAKE2s and the HKDF
 * of the Noise Protocol Framework (revision 34, section 4.3).  Only the
 * handshake hashes, a few hundred bytes per session: plain C is enough.
 */
#include <string.h>

#include "crypto.h"
#include "crypto_impl.h"

static const uint32_t blake2s_iv[8] = {
	0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
	0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
};

/* The message schedule of section 2.7; indexed by the round only. */
static const uint8_t blake2s_sigma[10][16] = {
	{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 },
	{ 14, 10, 4, 8, 9, 15, 13, 6, 1, 12, 0, 2, 11, 7, 5, 3 },
	{ 11, 8, 12, 0, 5, 2, 15, 13, 10, 14, 3, 6, 7, 1, 9, 4 },
	{ 7, 9, 3, 1, 13, 12, 11, 14, 2, 6, 5, 10, 4, 0, 15, 8 },
	{ 9, 0, 5, 7, 2, 4, 10, 15, 14, 1, 11, 12, 6, 8, 3, 13 },
	{ 2, 12, 6, 10, 0, 11, 8, 3, 4, 13, 7, 5, 15, 14, 1, 9 },
	{ 12, 5, 1, 15, 14, 13, 4, 10, 0, 7, 6, 3, 9, 2, 8, 11 },
	{ 13, 11, 7, 14, 12, 1, 3, 9, 5, 0, 15, 4, 8, 6, 2, 10 },
	{ 6, 15, 14, 9, 11, 3, 0, 8, 12, 2, 13, 7, 1, 4, 10, 5 },
	{ 10, 2, 8, 4, 7, 6, 1, 5, 15, 11, 9, 14, 3, 12, 13, 0 }
};

#define ROTR32(x, n)	((uint32_t)((x) >> (n)) | ((x) << (32 - (n))))

/* The mixing function G of section 3.1, rotations (R1..R4) = 16, 12, 8, 7. */
#define G(a, b, c, d, x, y) do {					\
	v[a] = v[a] + v[b] + (x); v[d] = ROTR32(v[d] ^ v[a], 16);	\
	v[c] = v[c] + v[d];       v[b] = ROTR32(v[b] ^ v[c], 12);	\
	v[a] = v[a] + v[b] + (y); v[d] = ROTR32(v[d] ^ v[a], 8);	\
	v[c] = v[c] + v[d];       v[b] = ROTR32(v[b] ^ v[c], 7);	\
} while (0)

/* The compression function F of section 3.2. */
static void
blake2s_compress(struct crypto_blake2s *b, const uint8_t block[64], int last)
{
	uint32_t	 v[16], m[16];
	int		 i;

	for (i = 0; i < 16; i++)
		m[i] = crypto_load32_le(block + 4 * i);
	for (i = 0; i < 8; i++) {
		v[i] = b->b_h[i];
		v[i + 8] = blake2s_iv[i];
	}
	v[12] ^= b->b_t[0];
	v[13] ^= b->b_t[1];
	if (last)
		v[14] = ~v[14];
	for (i = 0; i < 10; i++) {
		const uint8_t *s = blake2s_sigma[i];

		G(0, 4, 8, 12, m[s[0]], m[s[1]]);
		G(1, 5, 9, 13, m[s[2]], m[s[3]]);
		G(2, 6, 10, 14, m[s[4]], m[s[5]]);
		G(3, 7, 11, 15, m[s[6]], m[s[7]]);
		G(0, 5, 10, 15, m[s[8]], m[s[9]]);
		G(1, 6, 11, 12, m[s[10]], m[s[11]]);
		G(2, 7, 8, 13, m[s[12]], m[s[13]]);
		G(3, 4, 9, 14, m[s[14]], m[s[15]]);
	}
	for (i = 0; i < 8; i++)
		b->b_h[i] ^= v[i] ^ v[i + 8];
	crypto_wipe(v, sizeof(v));
	crypto_wipe(m, sizeof(m));
}

static void
blake2s_count(struct crypto_blake2s *b, uint32_t n)
{
	b->b_t[0] += n;
	b->b_t[1] += b->b_t[0] < n;
}

int
crypto_blake2s_init(struct crypto_blake2s *b, size_t outlen, const void *key,
    size_t keylen)
{
	if (outlen == 0 || outlen > 32 || keylen > 32 ||
	    (key == NULL && keylen != 0))
		return -1;
	memcpy(b->b_h, blake2s_iv, sizeof(b->b_h));
	/* Parameter block: digest length, key length, fanout 1, depth 1. */
	b->b_h[0] ^= 0x01010000 ^ (uint32_t)keylen << 8 ^ (uint32_t)outlen;
	b->b_t[0] = b->b_t[1] = 0;
	b->b_nbuf = 0;
	b->b_outlen = outlen;
	if (keylen > 0) {
		/* The key, zero-padded, is the first block (section 3.3). */
		memset(b->b_buf, 0, sizeof(b->b_buf));
		memcpy(b->b_buf, key, keylen);
		b->b_nbuf = 64;
	}
	return 0;
}

void
crypto_blake2s_update(struct crypto_blake2s *b, const void *in, size_t len)
{
	const uint8_t	*p = in;
	size_t		 n;

	/*
	 * The last block is compressed with the final flag, so a full
	 * buffer waits until more input shows it was not the last.
	 */
	while (len > 0) {
		if (b->b_nbuf == 64) {
			blake2s_count(b, 64);
			blake2s_compress(b, b->b_buf, 0);
			b->b_nbuf = 0;
		}
		if (b->b_nbuf == 0) {
			while (len > 64) {
				blake2s_count(b, 64);
				blake2s_compress(b, p, 0);
				p += 64;
				len -= 64;
			}
		}
		n = 64 - b->b_nbuf;
		if (n > len)
			n = len;
		memcpy(b->b_buf + b->b_nbuf, p, n);
		b->b_nbuf += n;
		p += n;
		len -= n;
	}
}

void
crypto_blake2s_final(struct crypto_blake2s *b, uint8_t *out)
{
	uint8_t		 d[32];
	int		 i;

	blake2s_count(b, (uint32_t)b->b_nbuf);
	memset(b->b_buf + b->b_nbuf, 0, 64 - b->b_nbuf);
	blake2s_compress(b, b->b_buf, 1);
	for (i = 0; i < 8; i++)
		crypto_store32_le(d + 4 * i, b->b_h[i]);
	memcpy(out, d, b->b_outlen);
	crypto_wipe(d, sizeof(d));
	crypto_wipe(b, sizeof(*b));
}

int
crypto_blake2s(uint8_t *out, size_t outlen, const void *key, size_t keylen,
    const void *in, size_t inlen)
{
	struct crypto_blake2s	 b;

	if (crypto_blake2s_init(&b, outlen, key, keylen) == -1)
		return -1;
	crypto_blake2s_update(&b, in, inlen);
	crypto_blake2s_final(&b, out);
	return 0;
}

/* HMAC (RFC 2104) with HASH = BLAKE2s-256, B = 64, two inputs. */
static void
hmac2(uint8_t out[32], const uint8_t *key, size_t keylen, const uint8_t *a,
    size_t alen, const uint8_t *b, size_t blen)
{
	struct crypto_blake2s	 h;
	uint8_t			 k[64], pad[64], inner[32];
	int			 i;

	memset(k, 0, sizeof(k));
	if (keylen > 64)
		(void)crypto_blake2s(k, 32, NULL, 0, key, keylen);
	else if (keylen > 0)
		memcpy(k, key, keylen);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x36;
	(void)crypto_blake2s_init(&h, 32, NULL, 0);
	crypto_blake2s_update(&h, pad, 64);
	crypto_blake2s_update(&h, a, alen);
	crypto_blake2s_update(&h, b, blen);
	crypto_blake2s_final(&h, inner);
	for (i = 0; i < 64; i++)
		pad[i] = k[i] ^ 0x5c;
	(void)crypto_blake2s_init(&h, 32, NULL, 0);
	crypto_blake2s_update(&h, pad, 64);
	crypto_blake2s_update(&h, inner, 32);
	crypto_blake2s_final(&h, out);
	crypto_wipe(k, sizeof(k));
	crypto_wipe(pad, sizeof(pad));
	crypto_wipe(inner, sizeof(inner));
}

void
crypto_hmac_blake2s(uint8_t out[32], const uint8_t *key, size_t keylen,
    const uint8_t *in, size_t inlen)
{
	hmac2(out, key, keylen, in, inlen, NULL, 0);
}

/* Noise section 4.3, num_outputs 2 or 3; outputs may alias the inputs. */
static void
hkdf(uint8_t *out1, uint8_t *out2, uint8_t *out3, const uint8_t ck[32],
    const uint8_t *ikm, size_t ikmlen)
{
	static const uint8_t	 one = 1, two = 2, three = 3;
	uint8_t			 tk[32], o1[32], o2[32];

	hmac2(tk, ck, 32, ikm, ikmlen, NULL, 0);
	hmac2(o1, tk, 32, &one, 1, NULL, 0);
	hmac2(o2, tk, 32, o1, 32, &two, 1);
	if (out3 != NULL)
		hmac2(out3, tk, 32, o2, 32, &three, 1);
	memcpy(out1, o1, 32);
	memcpy(out2, o2, 32);
	crypto_wipe(tk, sizeof(tk));
	crypto_wipe(o1, sizeof(o1));
	crypto_wipe(o2, sizeof(o2));
}

void
crypto_hkdf2(uint8_t out1[32], uint8_t out2[32], const uint8_t ck[32],
    const uint8_t *ikm, size_t ikmlen)
{
	hkdf(out1, out2, NULL, ck, ikm, ikmlen);
}

void
crypto_hkdf3(uint8_t out1[32], uint8_t out2[32], uint8_t out3[32],
    const uint8_t ck[32], const uint8_t *ikm, size_t ikmlen)
{
	hkdf(out1, out2, out3, ck, ikm, ikmlen);
}
