/*
 * chacha: ChaCha20, Poly1305 and AEAD_CHACHA20_POLY1305 (RFC 8439).
 *
 * Bulk speed is the point of this file: every byte a backend sends or
 * receives goes through ChaCha20 and Poly1305 once at each end.  ChaCha20
 * runs several blocks side by side, one block per vector lane (word i of
 * every block in vector i), then transposes the lanes back into blocks:
 * 8 blocks with AVX2 when the CPU has it, 4 with SSE2 on any x86-64, and
 * the scalar block function everywhere else and for the last bytes.
 * Poly1305 works in base 2^64: h = h0 + h1 2^64 + h2 2^128 with h2 small,
 * and since the clamped r1 is a multiple of 4, the terms above 2^130 fold
 * back times 5/4 with s1 = r1 + r1 / 4: four 64x64->128 multiplications
 * per 16-byte block.
 */
#include <string.h>

#if defined(__x86_64__) && defined(__SSE2__)
#include <immintrin.h>
#define CHACHA_X86	1
#endif

#include "crypto.h"
#include "crypto_impl.h"

#define ROTL32(x, n)	((uint32_t)((x) << (n)) | ((x) >> (32 - (n))))

#define QR(a, b, c, d) do {						\
	a += b; d ^= a; d = ROTL32(d, 16);				\
	c += d; b ^= c; b = ROTL32(b, 12);				\
	a += b; d ^= a; d = ROTL32(d, 8);				\
	c += d; b ^= c; b = ROTL32(b, 7);				\
} while (0)

void
crypto_chacha20_qround(uint32_t s[16], int a, int b, int c, int d)
{
	QR(s[a], s[b], s[c], s[d]);
}

void
crypto_chacha20_block(uint32_t out[16], const uint32_t in[16])
{
	uint32_t	 x0 = in[0], x1 = in[1], x2 = in[2], x3 = in[3],
			 x4 = in[4], x5 = in[5], x6 = in[6], x7 = in[7],
			 x8 = in[8], x9 = in[9], x10 = in[10], x11 = in[11],
			 x12 = in[12], x13 = in[13], x14 = in[14],
			 x15 = in[15];
	int		 i;

	for (i = 0; i < 10; i++) {
		QR(x0, x4, x8, x12);
		QR(x1, x5, x9, x13);
		QR(x2, x6, x10, x14);
		QR(x3, x7, x11, x15);
		QR(x0, x5, x10, x15);
		QR(x1, x6, x11, x12);
		QR(x2, x7, x8, x13);
		QR(x3, x4, x9, x14);
	}
	out[0] = x0 + in[0]; out[1] = x1 + in[1];
	out[2] = x2 + in[2]; out[3] = x3 + in[3];
	out[4] = x4 + in[4]; out[5] = x5 + in[5];
	out[6] = x6 + in[6]; out[7] = x7 + in[7];
	out[8] = x8 + in[8]; out[9] = x9 + in[9];
	out[10] = x10 + in[10]; out[11] = x11 + in[11];
	out[12] = x12 + in[12]; out[13] = x13 + in[13];
	out[14] = x14 + in[14]; out[15] = x15 + in[15];
}

/* The initial state of section 2.3: constants, key, counter, nonce. */
static void
chacha_setup(uint32_t st[16], const uint8_t key[32], const uint8_t nonce[12],
    uint32_t counter)
{
	int	 i;

	st[0] = 0x61707865;
	st[1] = 0x3320646e;
	st[2] = 0x79622d32;
	st[3] = 0x6b206574;
	for (i = 0; i < 8; i++)
		st[4 + i] = crypto_load32_le(key + 4 * i);
	st[12] = counter;
	st[13] = crypto_load32_le(nonce);
	st[14] = crypto_load32_le(nonce + 4);
	st[15] = crypto_load32_le(nonce + 8);
}

/* XOR len bytes (any length) with the stream from block st[12] onwards. */
static void
chacha_scalar(uint8_t *out, const uint8_t *in, size_t len, uint32_t st[16])
{
	uint32_t	 ks[16];
	uint8_t		 b[64];
	size_t		 i, n;

	while (len > 0) {
		crypto_chacha20_block(ks, st);
		st[12]++;
		for (i = 0; i < 16; i++)
			crypto_store32_le(b + 4 * i, ks[i]);
		n = len < 64 ? len : 64;
		for (i = 0; i < n; i++)
			out[i] = in[i] ^ b[i];
		in += n;
		out += n;
		len -= n;
	}
	crypto_wipe(ks, sizeof(ks));
	crypto_wipe(b, sizeof(b));
}

#ifdef CHACHA_X86

/* SSE2 has no rotate and no byte shuffle: two shifts and an OR. */
#define ROTV4(x, n)	_mm_or_si128(_mm_slli_epi32((x), (n)),		\
			    _mm_srli_epi32((x), 32 - (n)))
#define QRV4(a, b, c, d) do {						\
	a = _mm_add_epi32(a, b); d = _mm_xor_si128(d, a); d = ROTV4(d, 16); \
	c = _mm_add_epi32(c, d); b = _mm_xor_si128(b, c); b = ROTV4(b, 12); \
	a = _mm_add_epi32(a, b); d = _mm_xor_si128(d, a); d = ROTV4(d, 8); \
	c = _mm_add_epi32(c, d); b = _mm_xor_si128(b, c); b = ROTV4(b, 7); \
} while (0)

/*
 * Transpose four vectors (word w of blocks 0..3 in a, w+1 in b, ...) so that
 * each holds four consecutive words of one block, then XOR the input at
 * offset `off` of each block and store.
 */
#define STORE4(a, b, c, d, off) do {					\
	__m128i t0_ = _mm_unpacklo_epi32(a, b),				\
	    t1_ = _mm_unpacklo_epi32(c, d),				\
	    t2_ = _mm_unpackhi_epi32(a, b), t3_ = _mm_unpackhi_epi32(c, d); \
	__m128i r0_ = _mm_unpacklo_epi64(t0_, t1_),			\
	    r1_ = _mm_unpackhi_epi64(t0_, t1_),				\
	    r2_ = _mm_unpacklo_epi64(t2_, t3_),				\
	    r3_ = _mm_unpackhi_epi64(t2_, t3_);				\
	_mm_storeu_si128((__m128i *)(out + (off)), _mm_xor_si128(r0_,	\
	    _mm_loadu_si128((const __m128i *)(in + (off)))));		\
	_mm_storeu_si128((__m128i *)(out + 64 + (off)), _mm_xor_si128(r1_, \
	    _mm_loadu_si128((const __m128i *)(in + 64 + (off)))));	\
	_mm_storeu_si128((__m128i *)(out + 128 + (off)), _mm_xor_si128(r2_, \
	    _mm_loadu_si128((const __m128i *)(in + 128 + (off)))));	\
	_mm_storeu_si128((__m128i *)(out + 192 + (off)), _mm_xor_si128(r3_, \
	    _mm_loadu_si128((const __m128i *)(in + 192 + (off)))));	\
} while (0)

/* 4 blocks (256 bytes) per step; returns the bytes done. */
static size_t
chacha_sse2(uint8_t *out, const uint8_t *in, size_t len, uint32_t st[16])
{
	__m128i		 s[16], x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10,
			 x11, x12, x13, x14, x15;
	size_t		 done = 0;
	int		 i;

	for (i = 0; i < 16; i++)
		s[i] = _mm_set1_epi32((int)st[i]);
	s[12] = _mm_add_epi32(s[12], _mm_setr_epi32(0, 1, 2, 3));
	for (; len - done >= 256; done += 256, in += 256, out += 256) {
		x0 = s[0]; x1 = s[1]; x2 = s[2]; x3 = s[3];
		x4 = s[4]; x5 = s[5]; x6 = s[6]; x7 = s[7];
		x8 = s[8]; x9 = s[9]; x10 = s[10]; x11 = s[11];
		x12 = s[12]; x13 = s[13]; x14 = s[14]; x15 = s[15];
		for (i = 0; i < 10; i++) {
			QRV4(x0, x4, x8, x12);
			QRV4(x1, x5, x9, x13);
			QRV4(x2, x6, x10, x14);
			QRV4(x3, x7, x11, x15);
			QRV4(x0, x5, x10, x15);
			QRV4(x1, x6, x11, x12);
			QRV4(x2, x7, x8, x13);
			QRV4(x3, x4, x9, x14);
		}
		x0 = _mm_add_epi32(x0, s[0]); x1 = _mm_add_epi32(x1, s[1]);
		x2 = _mm_add_epi32(x2, s[2]); x3 = _mm_add_epi32(x3, s[3]);
		x4 = _mm_add_epi32(x4, s[4]); x5 = _mm_add_epi32(x5, s[5]);
		x6 = _mm_add_epi32(x6, s[6]); x7 = _mm_add_epi32(x7, s[7]);
		x8 = _mm_add_epi32(x8, s[8]); x9 = _mm_add_epi32(x9, s[9]);
		x10 = _mm_add_epi32(x10, s[10]);
		x11 = _mm_add_epi32(x11, s[11]);
		x12 = _mm_add_epi32(x12, s[12]);
		x13 = _mm_add_epi32(x13, s[13]);
		x14 = _mm_add_epi32(x14, s[14]);
		x15 = _mm_add_epi32(x15, s[15]);
		STORE4(x0, x1, x2, x3, 0);
		STORE4(x4, x5, x6, x7, 16);
		STORE4(x8, x9, x10, x11, 32);
		STORE4(x12, x13, x14, x15, 48);
		s[12] = _mm_add_epi32(s[12], _mm_set1_epi32(4));
	}
	st[12] += (uint32_t)(done / 64);
	/* Key material in registers spilled to the stack: wipe the copies. */
	crypto_wipe(s, sizeof(s));
	return done;
}

/*
 * AVX2: rotations by 16 and 8 are byte shuffles (one instruction instead
 * of three); by 12 and 7 two shifts and an OR.
 */
#define ROTV8(x, n)	_mm256_or_si256(_mm256_slli_epi32((x), (n)),	\
			    _mm256_srli_epi32((x), 32 - (n)))
#define QRV8(a, b, c, d) do {						\
	a = _mm256_add_epi32(a, b); d = _mm256_xor_si256(d, a);		\
	d = _mm256_shuffle_epi8(d, rot16);				\
	c = _mm256_add_epi32(c, d); b = _mm256_xor_si256(b, c);		\
	b = ROTV8(b, 12);						\
	a = _mm256_add_epi32(a, b); d = _mm256_xor_si256(d, a);		\
	d = _mm256_shuffle_epi8(d, rot8);				\
	c = _mm256_add_epi32(c, d); b = _mm256_xor_si256(b, c);		\
	b = ROTV8(b, 7);						\
} while (0)

/*
 * Transpose 4x4 words within each 128-bit lane: afterwards vector j holds
 * words off/4..off/4+3 of block j in its low lane and of block j + 4 in its
 * high lane.
 */
#define TRANSPOSE8(a, b, c, d) do {					\
	__m256i t0_ = _mm256_unpacklo_epi32(a, b),			\
	    t1_ = _mm256_unpacklo_epi32(c, d),				\
	    t2_ = _mm256_unpackhi_epi32(a, b),				\
	    t3_ = _mm256_unpackhi_epi32(c, d);				\
	a = _mm256_unpacklo_epi64(t0_, t1_);				\
	b = _mm256_unpackhi_epi64(t0_, t1_);				\
	c = _mm256_unpacklo_epi64(t2_, t3_);				\
	d = _mm256_unpackhi_epi64(t2_, t3_);				\
} while (0)

/* 32 bytes at offset off: the low lanes (sel 0x20) or high lanes (0x31). */
#define STORE8(lo, hi, sel, off) _mm256_storeu_si256(			\
	(__m256i *)(out + (off)), _mm256_xor_si256(			\
	_mm256_permute2x128_si256(lo, hi, sel),				\
	_mm256_loadu_si256((const __m256i *)(in + (off)))))

__attribute__((target("avx2"))) static size_t
chacha_avx2(uint8_t *out, const uint8_t *in, size_t len, uint32_t st[16])
{
	const __m256i	 rot16 = _mm256_setr_epi8(2, 3, 0, 1, 6, 7, 4, 5,
			    10, 11, 8, 9, 14, 15, 12, 13, 2, 3, 0, 1, 6, 7, 4,
			    5, 10, 11, 8, 9, 14, 15, 12, 13);
	const __m256i	 rot8 = _mm256_setr_epi8(3, 0, 1, 2, 7, 4, 5, 6,
			    11, 8, 9, 10, 15, 12, 13, 14, 3, 0, 1, 2, 7, 4, 5,
			    6, 11, 8, 9, 10, 15, 12, 13, 14);
	__m256i		 s[16], x0, x1, x2, x3, x4, x5, x6, x7, x8, x9, x10,
			 x11, x12, x13, x14, x15;
	size_t		 done = 0, j;
	int		 i;

	for (i = 0; i < 16; i++)
		s[i] = _mm256_set1_epi32((int)st[i]);
	s[12] = _mm256_add_epi32(s[12],
	    _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
	for (; len - done >= 512; done += 512, in += 512, out += 512) {
		x0 = s[0]; x1 = s[1]; x2 = s[2]; x3 = s[3];
		x4 = s[4]; x5 = s[5]; x6 = s[6]; x7 = s[7];
		x8 = s[8]; x9 = s[9]; x10 = s[10]; x11 = s[11];
		x12 = s[12]; x13 = s[13]; x14 = s[14]; x15 = s[15];
		for (i = 0; i < 10; i++) {
			QRV8(x0, x4, x8, x12);
			QRV8(x1, x5, x9, x13);
			QRV8(x2, x6, x10, x14);
			QRV8(x3, x7, x11, x15);
			QRV8(x0, x5, x10, x15);
			QRV8(x1, x6, x11, x12);
			QRV8(x2, x7, x8, x13);
			QRV8(x3, x4, x9, x14);
		}
		x0 = _mm256_add_epi32(x0, s[0]);
		x1 = _mm256_add_epi32(x1, s[1]);
		x2 = _mm256_add_epi32(x2, s[2]);
		x3 = _mm256_add_epi32(x3, s[3]);
		x4 = _mm256_add_epi32(x4, s[4]);
		x5 = _mm256_add_epi32(x5, s[5]);
		x6 = _mm256_add_epi32(x6, s[6]);
		x7 = _mm256_add_epi32(x7, s[7]);
		x8 = _mm256_add_epi32(x8, s[8]);
		x9 = _mm256_add_epi32(x9, s[9]);
		x10 = _mm256_add_epi32(x10, s[10]);
		x11 = _mm256_add_epi32(x11, s[11]);
		x12 = _mm256_add_epi32(x12, s[12]);
		x13 = _mm256_add_epi32(x13, s[13]);
		x14 = _mm256_add_epi32(x14, s[14]);
		x15 = _mm256_add_epi32(x15, s[15]);
		TRANSPOSE8(x0, x1, x2, x3);
		TRANSPOSE8(x4, x5, x6, x7);
		TRANSPOSE8(x8, x9, x10, x11);
		TRANSPOSE8(x12, x13, x14, x15);
		/* Block j: x_j (words 0-3), x_4+j, x_8+j, x_12+j. */
		j = 0;
		STORE8(x0, x4, 0x20, j);
		STORE8(x8, x12, 0x20, j + 32);
		STORE8(x0, x4, 0x31, j + 256);
		STORE8(x8, x12, 0x31, j + 288);
		j = 64;
		STORE8(x1, x5, 0x20, j);
		STORE8(x9, x13, 0x20, j + 32);
		STORE8(x1, x5, 0x31, j + 256);
		STORE8(x9, x13, 0x31, j + 288);
		j = 128;
		STORE8(x2, x6, 0x20, j);
		STORE8(x10, x14, 0x20, j + 32);
		STORE8(x2, x6, 0x31, j + 256);
		STORE8(x10, x14, 0x31, j + 288);
		j = 192;
		STORE8(x3, x7, 0x20, j);
		STORE8(x11, x15, 0x20, j + 32);
		STORE8(x3, x7, 0x31, j + 256);
		STORE8(x11, x15, 0x31, j + 288);
		s[12] = _mm256_add_epi32(s[12], _mm256_set1_epi32(8));
	}
	st[12] += (uint32_t)(done / 64);
	crypto_wipe(s, sizeof(s));
	return done;
}

#endif /* CHACHA_X86 */

void
crypto_chacha20(uint8_t *out, const uint8_t *in, size_t len,
    const uint8_t key[32], const uint8_t nonce[12], uint32_t counter)
{
	uint32_t	 st[16];
	size_t		 n;

	chacha_setup(st, key, nonce, counter);
#ifdef CHACHA_X86
	if (crypto_level >= CRYPTO_IMPL_AVX2 && len >= 512) {
		n = chacha_avx2(out, in, len, st);
		out += n;
		in += n;
		len -= n;
	}
	if (crypto_level >= CRYPTO_IMPL_SSE2 && len >= 256) {
		n = chacha_sse2(out, in, len, st);
		out += n;
		in += n;
		len -= n;
	}
#else
	(void)n;
#endif
	chacha_scalar(out, in, len, st);
	crypto_wipe(st, sizeof(st));
}

/* Poly1305. */

typedef unsigned __int128	u128;

void
crypto_poly1305_init(struct crypto_poly1305 *p, const uint8_t key[32])
{
	/* Clamping (section 2.5): r &= 0x0ffffffc0ffffffc0ffffffc0fffffff. */
	p->p_r0 = crypto_load64_le(key) & UINT64_C(0x0ffffffc0fffffff);
	p->p_r1 = crypto_load64_le(key + 8) & UINT64_C(0x0ffffffc0ffffffc);
	p->p_s1 = p->p_r1 + (p->p_r1 >> 2);
	p->p_h0 = p->p_h1 = p->p_h2 = 0;
	p->p_pad0 = crypto_load64_le(key + 16);
	p->p_pad1 = crypto_load64_le(key + 24);
	p->p_nbuf = 0;
}

/*
 * h = (h + m + hibit 2^128) r mod 2^130 - 5 for each 16-byte block, with h
 * kept below 2^130 + small (h2 <= 4 after each block) but not fully
 * reduced.  hibit is 1 for full blocks, 0 for the padded last block.
 */
static void
poly1305_blocks(struct crypto_poly1305 *p, const uint8_t *m, size_t nblocks,
    uint64_t hibit)
{
	uint64_t	 r0 = p->p_r0, r1 = p->p_r1, s1 = p->p_s1;
	uint64_t	 h0 = p->p_h0, h1 = p->p_h1, h2 = p->p_h2;
	uint64_t	 m0, m1, c, d2;
	u128		 d0, d1;

	/*
	 * 128-bit arithmetic only for products: gcc spills 128-bit sums of
	 * zero-extended words, so those are 64-bit adds with the carry
	 * taken from a comparison (setc, no branch).
	 */
	while (nblocks-- > 0) {
		m0 = crypto_load64_le(m);
		m1 = crypto_load64_le(m + 8);
		h0 += m0;
		c = h0 < m0;
		h1 += c;
		c = h1 < c;
		h1 += m1;
		c += h1 < m1;
		h2 += c + hibit;
		/*
		 * h r with 2^128 r1 = 2^130 r1 / 4 = 5 r1 / 4 = s1 (mod p):
		 * d0 = h0 r0 + h1 s1, d1 = h0 r1 + h1 r0 + h2 s1, d2 = h2 r0
		 * (h2 <= 6 and r, s1 < 2^61: h2 s1 and h2 r0 fit 64 bits).
		 */
		d0 = (u128)h0 * r0 + (u128)h1 * s1;
		d1 = (u128)h0 * r1 + (u128)h1 * r0 + h2 * s1;
		d2 = h2 * r0;
		h0 = (uint64_t)d0;
		d1 += (uint64_t)(d0 >> 64);
		h1 = (uint64_t)d1;
		d2 += (uint64_t)(d1 >> 64);
		/* Fold bits 130 and up back in: 2^130 = 5. */
		c = (d2 >> 2) + (d2 & ~UINT64_C(3));
		h2 = d2 & 3;
		h0 += c;
		c = h0 < c;
		h1 += c;
		h2 += h1 < c;
		m += 16;
	}
	p->p_h0 = h0;
	p->p_h1 = h1;
	p->p_h2 = h2;
}

void
crypto_poly1305_update(struct crypto_poly1305 *p, const uint8_t *m,
    size_t len)
{
	size_t	 n;

	if (len == 0)
		return;
	if (p->p_nbuf > 0) {
		n = 16 - p->p_nbuf;
		if (n > len)
			n = len;
		memcpy(p->p_buf + p->p_nbuf, m, n);
		p->p_nbuf += n;
		m += n;
		len -= n;
		if (p->p_nbuf < 16)
			return;
		poly1305_blocks(p, p->p_buf, 1, 1);
		p->p_nbuf = 0;
	}
	if (len >= 16) {
		n = len / 16;
		poly1305_blocks(p, m, n, 1);
		m += 16 * n;
		len -= 16 * n;
	}
	if (len > 0) {
		memcpy(p->p_buf, m, len);
		p->p_nbuf = len;
	}
}

void
crypto_poly1305_final(struct crypto_poly1305 *p, uint8_t tag[16])
{
	uint64_t	 h0, h1, h2, g0, g1, g2, mask;
	u128		 t;

	if (p->p_nbuf > 0) {
		/* The last partial block: a 1 byte after it, then zeros. */
		p->p_buf[p->p_nbuf] = 1;
		memset(p->p_buf + p->p_nbuf + 1, 0, 15 - p->p_nbuf);
		poly1305_blocks(p, p->p_buf, 1, 0);
	}
	h0 = p->p_h0;
	h1 = p->p_h1;
	h2 = p->p_h2;
	/*
	 * h < 2^130 + 2^64 or so, so h mod p is h or h - p: compute g = h + 5
	 * and keep it (minus 2^130) when it reaches 2^130, with a mask.
	 */
	t = (u128)h0 + 5;
	g0 = (uint64_t)t;
	t = (u128)h1 + (uint64_t)(t >> 64);
	g1 = (uint64_t)t;
	g2 = h2 + (uint64_t)(t >> 64);
	mask = 0 - (g2 >> 2);		/* all ones when g >= 2^130 */
	h0 = (h0 & ~mask) | (g0 & mask);
	h1 = (h1 & ~mask) | (g1 & mask);
	/* tag = (h + s) mod 2^128 */
	t = (u128)h0 + p->p_pad0;
	h0 = (uint64_t)t;
	h1 = h1 + p->p_pad1 + (uint64_t)(t >> 64);
	crypto_store64_le(tag, h0);
	crypto_store64_le(tag + 8, h1);
	crypto_wipe(p, sizeof(*p));
}

void
crypto_poly1305(uint8_t tag[16], const uint8_t *msg, size_t len,
    const uint8_t key[32])
{
	struct crypto_poly1305	 p;

	crypto_poly1305_init(&p, key);
	crypto_poly1305_update(&p, msg, len);
	crypto_poly1305_final(&p, tag);
}

/* The AEAD (section 2.8). */

void
crypto_aead_nonce(uint8_t nonce[12], uint64_t n)
{
	memset(nonce, 0, 4);
	crypto_store64_le(nonce + 4, n);
}

/* Section 2.6: the one-time Poly1305 key is block 0 of the stream. */
static void
aead_mac_init(struct crypto_poly1305 *p, const uint8_t key[32],
    const uint8_t nonce[12])
{
	uint32_t	 st[16], ks[16];
	uint8_t		 pk[32];
	int		 i;

	chacha_setup(st, key, nonce, 0);
	crypto_chacha20_block(ks, st);
	for (i = 0; i < 8; i++)
		crypto_store32_le(pk + 4 * i, ks[i]);
	crypto_poly1305_init(p, pk);
	crypto_wipe(st, sizeof(st));
	crypto_wipe(ks, sizeof(ks));
	crypto_wipe(pk, sizeof(pk));
}

/* Data padded with zeros to a multiple of 16: every block is a full one. */
static void
aead_mac_padded(struct crypto_poly1305 *p, const uint8_t *m, size_t len)
{
	uint8_t		 b[16];
	size_t		 full = len / 16;

	if (full > 0)
		poly1305_blocks(p, m, full, 1);
	if (len % 16 != 0) {
		memset(b, 0, sizeof(b));
		memcpy(b, m + 16 * full, len % 16);
		poly1305_blocks(p, b, 1, 1);
	}
}

static void
aead_tag(uint8_t tag[16], const uint8_t key[32], const uint8_t nonce[12],
    const uint8_t *ad, size_t adlen, const uint8_t *ct, size_t len)
{
	struct crypto_poly1305	 p;
	uint8_t			 lens[16];

	aead_mac_init(&p, key, nonce);
	aead_mac_padded(&p, ad, adlen);
	aead_mac_padded(&p, ct, len);
	crypto_store64_le(lens, (uint64_t)adlen);
	crypto_store64_le(lens + 8, (uint64_t)len);
	poly1305_blocks(&p, lens, 1, 1);
	crypto_poly1305_final(&p, tag);
}

void
crypto_aead_seal(uint8_t *out, const uint8_t *in, size_t len,
    const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
    const uint8_t key[32])
{
	crypto_chacha20(out, in, len, key, nonce, 1);
	aead_tag(out + len, key, nonce, ad, adlen, out, len);
}

int
crypto_aead_open(uint8_t *out, const uint8_t *in, size_t len,
    const uint8_t *ad, size_t adlen, const uint8_t nonce[12],
    const uint8_t key[32])
{
	uint8_t		 tag[16];
	int		 ok;

	if (len < 16)
		return -1;
	len -= 16;
	aead_tag(tag, key, nonce, ad, adlen, in, len);
	ok = crypto_memeq(tag, in + len, 16);
	crypto_wipe(tag, sizeof(tag));
	/* Whether the tag verified is public: the sender learns it anyway. */
	CRYPTO_DECLASSIFY(&ok, sizeof(ok));
	if (!ok) {
		crypto_wipe(out, len);
		return -1;
	}
	crypto_chacha20(out, in, len, key, nonce, 1);
	return 0;
}
