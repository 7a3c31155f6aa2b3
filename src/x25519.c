/*
 * X25519 (RFC 7748 section 5): the Montgomery ladder over GF(2^255 - 19).
 *
 * A field element is five limbs of (about) 51 bits, value = sum l[i] *
 * 2^(51 i); products go through unsigned __int128.  Limbs are kept "loosely
 * reduced": every operation below states the bound it needs and the bound
 * it gives, so that no 128-bit accumulator can overflow:
 *	fe_mul, fe_sq:	inputs < 2^54, output < 2^51 + 2^19
 *	fe_add:		sum of inputs (two outputs of fe_mul: < 2^53)
 *	fe_sub:		a + 4p - b, for b < 2^53: output < 2^54
 *	fe_mul_a24:	input < 2^54, output < 2^51 + 2^19
 * Only fe_tobytes reduces fully, once, at the end.  Nothing branches on
 * or indexes by a value; the ladder swaps with a mask.
 */
#include "crypto.h"
#include "crypto_impl.h"

typedef uint64_t		fe[5];
typedef unsigned __int128	u128;

#define MASK51		((UINT64_C(1) << 51) - 1)

static void
fe_frombytes(fe h, const uint8_t s[32])
{
	uint64_t	 w0 = crypto_load64_le(s), w1 = crypto_load64_le(s + 8),
			 w2 = crypto_load64_le(s + 16),
			 w3 = crypto_load64_le(s + 24);

	/* The top bit is ignored (RFC 7748 section 5). */
	h[0] = w0 & MASK51;
	h[1] = (w0 >> 51 | w1 << 13) & MASK51;
	h[2] = (w1 >> 38 | w2 << 26) & MASK51;
	h[3] = (w2 >> 25 | w3 << 39) & MASK51;
	h[4] = (w3 >> 12) & MASK51;
}

/* Carry h until every limb is < 2^51 (the value may still be >= p). */
static void
fe_carry(fe h)
{
	uint64_t	 c;

	c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
	c = h[1] >> 51; h[1] &= MASK51; h[2] += c;
	c = h[2] >> 51; h[2] &= MASK51; h[3] += c;
	c = h[3] >> 51; h[3] &= MASK51; h[4] += c;
	c = h[4] >> 51; h[4] &= MASK51; h[0] += c * 19;
	c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
}

static void
fe_tobytes(uint8_t s[32], const fe f)
{
	fe		 h;
	uint64_t	 q, c;

	memcpy(h, f, sizeof(h));
	fe_carry(h);
	fe_carry(h);
	/*
	 * Now h < 2^255 + 2^13, limbs < 2^51 but maybe h >= p.  q is 1 exactly
	 * when h + 19 >= 2^255, that is h >= p; then subtracting p is adding
	 * 19 and dropping bit 255.
	 */
	q = (h[0] + 19) >> 51;
	q = (h[1] + q) >> 51;
	q = (h[2] + q) >> 51;
	q = (h[3] + q) >> 51;
	q = (h[4] + q) >> 51;
	h[0] += 19 * q;
	c = h[0] >> 51; h[0] &= MASK51; h[1] += c;
	c = h[1] >> 51; h[1] &= MASK51; h[2] += c;
	c = h[2] >> 51; h[2] &= MASK51; h[3] += c;
	c = h[3] >> 51; h[3] &= MASK51; h[4] += c;
	h[4] &= MASK51;
	crypto_store64_le(s, h[0] | h[1] << 51);
	crypto_store64_le(s + 8, h[1] >> 13 | h[2] << 38);
	crypto_store64_le(s + 16, h[2] >> 26 | h[3] << 25);
	crypto_store64_le(s + 24, h[3] >> 39 | h[4] << 12);
	crypto_wipe(h, sizeof(h));
}

static void
fe_add(fe h, const fe f, const fe g)
{
	h[0] = f[0] + g[0];
	h[1] = f[1] + g[1];
	h[2] = f[2] + g[2];
	h[3] = f[3] + g[3];
	h[4] = f[4] + g[4];
}

/* f + 4p - g: no limb goes negative for g < 2^53. */
static void
fe_sub(fe h, const fe f, const fe g)
{
	h[0] = f[0] + UINT64_C(0x1fffffffffffb4) - g[0];
	h[1] = f[1] + UINT64_C(0x1ffffffffffffc) - g[1];
	h[2] = f[2] + UINT64_C(0x1ffffffffffffc) - g[2];
	h[3] = f[3] + UINT64_C(0x1ffffffffffffc) - g[3];
	h[4] = f[4] + UINT64_C(0x1ffffffffffffc) - g[4];
}

/*
 * Reduce five 128-bit column sums (each < 2^115) to limbs.  The last carry
 * is at most 2^64 and is multiplied by 19 in 128 bits.
 */
static void
fe_reduce128(fe h, u128 t0, u128 t1, u128 t2, u128 t3, u128 t4)
{
	u128		 c;

	t1 += (uint64_t)(t0 >> 51);
	h[0] = (uint64_t)t0 & MASK51;
	t2 += (uint64_t)(t1 >> 51);
	h[1] = (uint64_t)t1 & MASK51;
	t3 += (uint64_t)(t2 >> 51);
	h[2] = (uint64_t)t2 & MASK51;
	t4 += (uint64_t)(t3 >> 51);
	h[3] = (uint64_t)t3 & MASK51;
	h[4] = (uint64_t)t4 & MASK51;
	c = (u128)(uint64_t)(t4 >> 51) * 19 + h[0];
	h[0] = (uint64_t)c & MASK51;
	h[1] += (uint64_t)(c >> 51);
}

static void
fe_mul(fe h, const fe f, const fe g)
{
	uint64_t	 f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
	uint64_t	 g0 = g[0], g1 = g[1], g2 = g[2], g3 = g[3], g4 = g[4];
	uint64_t	 g1_19 = 19 * g1, g2_19 = 19 * g2, g3_19 = 19 * g3,
			 g4_19 = 19 * g4;
	u128		 t0, t1, t2, t3, t4;

	/* 2^255 = 19 mod p: columns past the fifth fold back times 19. */
	t0 = (u128)f0 * g0 + (u128)f1 * g4_19 + (u128)f2 * g3_19 +
	    (u128)f3 * g2_19 + (u128)f4 * g1_19;
	t1 = (u128)f0 * g1 + (u128)f1 * g0 + (u128)f2 * g4_19 +
	    (u128)f3 * g3_19 + (u128)f4 * g2_19;
	t2 = (u128)f0 * g2 + (u128)f1 * g1 + (u128)f2 * g0 +
	    (u128)f3 * g4_19 + (u128)f4 * g3_19;
	t3 = (u128)f0 * g3 + (u128)f1 * g2 + (u128)f2 * g1 +
	    (u128)f3 * g0 + (u128)f4 * g4_19;
	t4 = (u128)f0 * g4 + (u128)f1 * g3 + (u128)f2 * g2 +
	    (u128)f3 * g1 + (u128)f4 * g0;
	fe_reduce128(h, t0, t1, t2, t3, t4);
}

static void
fe_sq(fe h, const fe f)
{
	uint64_t	 f0 = f[0], f1 = f[1], f2 = f[2], f3 = f[3], f4 = f[4];
	uint64_t	 f0_2 = 2 * f0, f1_2 = 2 * f1, f1_38 = 38 * f1,
			 f2_38 = 38 * f2, f3_38 = 38 * f3, f3_19 = 19 * f3,
			 f4_19 = 19 * f4;
	u128		 t0, t1, t2, t3, t4;

	t0 = (u128)f0 * f0 + (u128)f1_38 * f4 + (u128)f2_38 * f3;
	t1 = (u128)f0_2 * f1 + (u128)f2_38 * f4 + (u128)f3_19 * f3;
	t2 = (u128)f0_2 * f2 + (u128)f1 * f1 + (u128)f3_38 * f4;
	t3 = (u128)f0_2 * f3 + (u128)f1_2 * f2 + (u128)f4_19 * f4;
	t4 = (u128)f0_2 * f4 + (u128)f1_2 * f3 + (u128)f2 * f2;
	fe_reduce128(h, t0, t1, t2, t3, t4);
}

/* h = f^(2^n), n >= 1. */
static void
fe_sqn(fe h, const fe f, int n)
{
	fe_sq(h, f);
	while (--n > 0)
		fe_sq(h, h);
}

/* a24 = (486662 - 2) / 4 = 121665 (RFC 7748 section 5). */
static void
fe_mul_a24(fe h, const fe f)
{
	fe_reduce128(h, (u128)f[0] * 121665, (u128)f[1] * 121665,
	    (u128)f[2] * 121665, (u128)f[3] * 121665, (u128)f[4] * 121665);
}

/* Swap f and g when swap is 1, leave them when it is 0; no branch. */
static void
fe_cswap(fe f, fe g, uint64_t swap)
{
	uint64_t	 m = 0 - swap, x;
	int		 i;

	for (i = 0; i < 5; i++) {
		x = m & (f[i] ^ g[i]);
		f[i] ^= x;
		g[i] ^= x;
	}
}

/* h = z^(p - 2) = 1 / z: p - 2 = 2^255 - 21, a fixed addition chain. */
static void
fe_invert(fe h, const fe z)
{
	fe		 z2, z9, z11, a, b, c;

	fe_sq(z2, z);			/* 2 */
	fe_sqn(a, z2, 2);		/* 8 */
	fe_mul(z9, a, z);		/* 9 */
	fe_mul(z11, z9, z2);		/* 11 */
	fe_sq(a, z11);			/* 22 */
	fe_mul(a, a, z9);		/* 2^5 - 1 */
	fe_sqn(b, a, 5);
	fe_mul(b, b, a);		/* 2^10 - 1 */
	fe_sqn(c, b, 10);
	fe_mul(c, c, b);		/* 2^20 - 1 */
	fe_sqn(h, c, 20);
	fe_mul(h, h, c);		/* 2^40 - 1 */
	fe_sqn(h, h, 10);
	fe_mul(a, h, b);		/* 2^50 - 1 */
	fe_sqn(b, a, 50);
	fe_mul(b, b, a);		/* 2^100 - 1 */
	fe_sqn(c, b, 100);
	fe_mul(c, c, b);		/* 2^200 - 1 */
	fe_sqn(c, c, 50);
	fe_mul(c, c, a);		/* 2^250 - 1 */
	fe_sqn(c, c, 5);		/* 2^255 - 32 */
	fe_mul(h, c, z11);		/* 2^255 - 21 */
	crypto_wipe(z2, sizeof(z2));
	crypto_wipe(z9, sizeof(z9));
	crypto_wipe(z11, sizeof(z11));
	crypto_wipe(a, sizeof(a));
	crypto_wipe(b, sizeof(b));
	crypto_wipe(c, sizeof(c));
}

int
crypto_x25519(uint8_t out[32], const uint8_t scalar[32],
    const uint8_t point[32])
{
	uint8_t		 k[32], d;
	fe		 x1, x2, z2, x3, z3, a, aa, b, bb, e, c, dd, da, cb;
	uint64_t	 swap = 0, kt;
	int		 t, i;

	memcpy(k, scalar, 32);
	k[0] &= 248;
	k[31] &= 127;
	k[31] |= 64;
	fe_frombytes(x1, point);
	memset(x2, 0, sizeof(x2));
	x2[0] = 1;
	memset(z2, 0, sizeof(z2));
	memcpy(x3, x1, sizeof(x3));
	memset(z3, 0, sizeof(z3));
	z3[0] = 1;
	for (t = 254; t >= 0; t--) {
		kt = (k[t >> 3] >> (t & 7)) & 1;
		swap ^= kt;
		fe_cswap(x2, x3, swap);
		fe_cswap(z2, z3, swap);
		swap = kt;
		fe_add(a, x2, z2);
		fe_sq(aa, a);
		fe_sub(b, x2, z2);
		fe_sq(bb, b);
		fe_sub(e, aa, bb);
		fe_add(c, x3, z3);
		fe_sub(dd, x3, z3);
		fe_mul(da, dd, a);
		fe_mul(cb, c, b);
		fe_add(x3, da, cb);
		fe_sq(x3, x3);
		fe_sub(z3, da, cb);
		fe_sq(z3, z3);
		fe_mul(z3, z3, x1);
		fe_mul(x2, aa, bb);
		fe_mul_a24(z2, e);
		fe_add(z2, z2, aa);
		fe_mul(z2, z2, e);
	}
	fe_cswap(x2, x3, swap);
	fe_cswap(z2, z3, swap);
	fe_invert(z2, z2);
	fe_mul(x2, x2, z2);
	fe_tobytes(out, x2);

	/* All zeros: d is 0; the borrow of d - 1 then sets bit 8. */
	d = 0;
	for (i = 0; i < 32; i++)
		d |= out[i];
	crypto_wipe(k, sizeof(k));
	crypto_wipe(x2, sizeof(x2));
	crypto_wipe(z2, sizeof(z2));
	crypto_wipe(x3, sizeof(x3));
	crypto_wipe(z3, sizeof(z3));
	crypto_wipe(a, sizeof(a));
	crypto_wipe(aa, sizeof(aa));
	crypto_wipe(b, sizeof(b));
	crypto_wipe(bb, sizeof(bb));
	crypto_wipe(e, sizeof(e));
	crypto_wipe(c, sizeof(c));
	crypto_wipe(dd, sizeof(dd));
	crypto_wipe(da, sizeof(da));
	crypto_wipe(cb, sizeof(cb));
	return -(int)((((uint32_t)d - 1) >> 8) & 1);
}

void
crypto_x25519_base(uint8_t pub[32], const uint8_t priv[32])
{
	static const uint8_t	 nine[32] = { 9 };

	/* The base point has order 8p': the result is never zero. */
	(void)crypto_x25519(pub, priv, nine);
}

int
crypto_keypair(uint8_t pub[32], uint8_t priv[32])
{
	if (crypto_random(priv, 32) == -1) {
		crypto_wipe(priv, 32);
		crypto_wipe(pub, 32);
		return -1;
	}
	crypto_x25519_base(pub, priv);
	return 0;
}
