/*
 * crypto: the primitives of relay's encrypted sessions, written from the
 * specifications with nothing but libc: X25519 (RFC 7748), ChaCha20,
 * Poly1305 and their AEAD (RFC 8439), BLAKE2s (RFC 7693), HMAC-BLAKE2s and
 * the HKDF of the Noise Protocol Framework (revision 34, section 4.3).
 *
 * Nothing here allocates, logs or keeps global state beyond the choice of
 * the vector code (made once, from the CPU).  Every function that is handed
 * secret data runs in time independent of it; how each one manages is said
 * next to it.  In short: no branch and no memory index ever depends on a
 * secret; the only data-dependent decisions are on public values (lengths,
 * loop counters, whether a tag was valid).  tests/ct/ctcheck.c checks this
 * under valgrind: it marks the secrets undefined and memcheck reports any
 * branch or address computed from them.  The few places where a result
 * derived from secrets becomes public on purpose (a tag did or did not
 * verify) say so with CRYPTO_DECLASSIFY.
 */
#ifndef RELAY_CRYPTO_H
#define RELAY_CRYPTO_H

#include <stddef.h>
#include <stdint.h>

#define CRYPTO_X25519_LEN	32	/* keys, points and shared secrets */
#define CRYPTO_KEY_LEN		32	/* ChaCha20-Poly1305 key */
#define CRYPTO_NONCE_LEN	12	/* ChaCha20-Poly1305 nonce */
#define CRYPTO_TAG_LEN		16	/* Poly1305 tag */
#define CRYPTO_BLAKE2S_LEN	32	/* BLAKE2s-256 digest, Noise HASHLEN */
#define CRYPTO_BLAKE2S_BLOCK	64	/* BLAKE2s block, Noise BLOCKLEN */
#define CRYPTO_BLAKE2S_KEYMAX	32

/*
 * ctcheck builds this code with CRYPTO_CTGRIND: a value computed from
 * secrets that is public by design (a tag check's verdict) is marked
 * defined before anything branches on it.  Elsewhere it costs nothing.
 */
#ifdef CRYPTO_CTGRIND
#include <valgrind/memcheck.h>
#define CRYPTO_DECLASSIFY(p, n)	VALGRIND_MAKE_MEM_DEFINED((p), (n))
#else
#define CRYPTO_DECLASSIFY(p, n)	((void)(p), (void)(n))
#endif

/*
 * Utilities.  crypto_wipe is explicit_bzero: the compiler may not drop it
 * as a dead store.  crypto_memeq returns 1 when the n bytes are equal, 0
 * otherwise; it ORs the XOR of every pair of bytes and looks at the result
 * once, so its time depends on n only.  crypto_random fills the buffer from
 * getrandom(2) (blocking until the kernel pool is initialised, retrying on
 * EINTR): 0, or -1 with errno set.
 */
void	 crypto_wipe(void *, size_t);
int	 crypto_memeq(const void *, const void *, size_t);
int	 crypto_random(void *, size_t);

/*
 * X25519 (RFC 7748 section 5).  The scalar is clamped as the RFC says (the
 * caller's copy is not changed) and the top bit of the point is ignored.
 * crypto_x25519 returns -1 when the result is all zeros (the point has low
 * order: section 6.1's check), 0 otherwise; out is written either way.
 *
 * Constant time: field elements are five 51-bit limbs multiplied with
 * unsigned __int128, so no operation has a data-dependent time on x86-64
 * (64x64->128 multiplication is constant-latency there); the Montgomery
 * ladder runs all 255 steps for every scalar and swaps with a mask
 * (crypto_x25519 never branches on a scalar bit); the inversion is a fixed
 * chain of squarings and multiplications; the final reduction and the
 * all-zero test are masks, and the return value is computed from the
 * mask without a branch.
 */
int	 crypto_x25519(uint8_t out[CRYPTO_X25519_LEN],
	    const uint8_t scalar[CRYPTO_X25519_LEN],
	    const uint8_t point[CRYPTO_X25519_LEN]);
void	 crypto_x25519_base(uint8_t pub[CRYPTO_X25519_LEN],
	    const uint8_t priv[CRYPTO_X25519_LEN]);
/* A fresh key pair from getrandom(2): 0, or -1 (errno) with both wiped. */
int	 crypto_keypair(uint8_t pub[CRYPTO_X25519_LEN],
	    uint8_t priv[CRYPTO_X25519_LEN]);

/*
 * ChaCha20 (RFC 8439 section 2.4): out = in XOR the key stream that starts
 * at block `counter` (32 bits, wrapping as the RFC's block count does).
 * in == out is allowed (in place); other overlaps are not.  Several blocks
 * at a time in vector registers: 8 with AVX2 (chosen at run time from
 * CPUID), 4 with SSE2 (every x86-64), one at a time elsewhere and for the
 * tail; all give identical results (tests/unit/test_crypto.c compares
 * them).  Constant time: additions, XORs and fixed rotations only.
 */
void	 crypto_chacha20(uint8_t *out, const uint8_t *in, size_t len,
	    const uint8_t key[CRYPTO_KEY_LEN],
	    const uint8_t nonce[CRYPTO_NONCE_LEN], uint32_t counter);

/*
 * Poly1305 (RFC 8439 section 2.5), incremental and one-shot.  The state
 * holds the accumulator in base 2^64 (two 64-bit limbs and a small third)
 * and r clamped; a block costs four 64x64->128 multiplications.  Constant
 * time: multiplications, additions and masks; the final reduction mod
 * 2^130-5 selects with a mask.  crypto_poly1305_final writes the tag and
 * wipes the state.  The key is one-time: never reuse it for two messages.
 */
struct crypto_poly1305 {
	uint64_t	 p_r0, p_r1, p_s1;	/* r, and s1 = r1 + r1 / 4 */
	uint64_t	 p_h0, p_h1, p_h2;	/* accumulator */
	uint64_t	 p_pad0, p_pad1;	/* s, the second key half */
	uint8_t		 p_buf[16];
	size_t		 p_nbuf;
};

void	 crypto_poly1305_init(struct crypto_poly1305 *,
	    const uint8_t key[32]);
void	 crypto_poly1305_update(struct crypto_poly1305 *, const uint8_t *,
	    size_t);
void	 crypto_poly1305_final(struct crypto_poly1305 *,
	    uint8_t tag[CRYPTO_TAG_LEN]);
void	 crypto_poly1305(uint8_t tag[CRYPTO_TAG_LEN], const uint8_t *msg,
	    size_t len, const uint8_t key[32]);

/*
 * AEAD_CHACHA20_POLY1305 (RFC 8439 section 2.8).  seal writes len bytes of
 * ciphertext then the 16-byte tag into out (len + 16 bytes).  open takes
 * ciphertext || tag (len >= 16 bytes in all) and writes len - 16 bytes of
 * plaintext: 0, or -1 when len < 16 or the tag is wrong, and then out's
 * len - 16 bytes are zero and nothing was decrypted (the tag is checked
 * before the decryption).  out == in is allowed for both (in place); other
 * overlaps are not.  ad may be NULL when adlen is 0, likewise in.
 *
 * Constant time: ChaCha20 and Poly1305 as above; the tag comparison is
 * crypto_memeq, and only its verdict (public: the peer learns it anyway)
 * decides whether to decrypt.
 */
void	 crypto_aead_seal(uint8_t *out, const uint8_t *in, size_t len,
	    const uint8_t *ad, size_t adlen,
	    const uint8_t nonce[CRYPTO_NONCE_LEN],
	    const uint8_t key[CRYPTO_KEY_LEN]);
int	 crypto_aead_open(uint8_t *out, const uint8_t *in, size_t len,
	    const uint8_t *ad, size_t adlen,
	    const uint8_t nonce[CRYPTO_NONCE_LEN],
	    const uint8_t key[CRYPTO_KEY_LEN]);
/* Noise's nonce for ChaChaPoly: 4 zero bytes, then n little-endian. */
void	 crypto_aead_nonce(uint8_t nonce[CRYPTO_NONCE_LEN], uint64_t n);

/*
 * BLAKE2s (RFC 7693), keyed (key 1..32 bytes) or unkeyed (key NULL or
 * keylen 0), digest 1..32 bytes.  init returns -1 on a bad outlen or
 * keylen, 0 otherwise; final writes outlen bytes and wipes the state.  The
 * one-shot form returns what init returned.  Constant time: the compression
 * function is additions, XORs and rotations; its message schedule (sigma)
 * is indexed by the round number only.
 */
struct crypto_blake2s {
	uint32_t	 b_h[8];
	uint32_t	 b_t[2];		/* bytes compressed so far */
	uint8_t		 b_buf[CRYPTO_BLAKE2S_BLOCK];
	size_t		 b_nbuf;
	size_t		 b_outlen;
};

int	 crypto_blake2s_init(struct crypto_blake2s *, size_t outlen,
	    const void *key, size_t keylen);
void	 crypto_blake2s_update(struct crypto_blake2s *, const void *, size_t);
void	 crypto_blake2s_final(struct crypto_blake2s *, uint8_t *out);
int	 crypto_blake2s(uint8_t *out, size_t outlen, const void *key,
	    size_t keylen, const void *in, size_t inlen);

/*
 * HMAC-BLAKE2s (RFC 2104 over unkeyed BLAKE2s-256, block 64 bytes, as the
 * Noise spec's HMAC-HASH), and Noise's HKDF(chaining_key, ikm) with two or
 * three 32-byte outputs: temp_key = HMAC(ck, ikm), out1 = HMAC(temp_key,
 * 0x01), out2 = HMAC(temp_key, out1 || 0x02), out3 = HMAC(temp_key, out2 ||
 * 0x03).  Outputs may alias ck or ikm.  A key longer than 64 bytes is
 * hashed first (RFC 2104).  Constant time: XOR pads and BLAKE2s.
 */
void	 crypto_hmac_blake2s(uint8_t out[CRYPTO_BLAKE2S_LEN],
	    const uint8_t *key, size_t keylen, const uint8_t *in,
	    size_t inlen);
void	 crypto_hkdf2(uint8_t out1[CRYPTO_BLAKE2S_LEN],
	    uint8_t out2[CRYPTO_BLAKE2S_LEN],
	    const uint8_t ck[CRYPTO_BLAKE2S_LEN], const uint8_t *ikm,
	    size_t ikmlen);
void	 crypto_hkdf3(uint8_t out1[CRYPTO_BLAKE2S_LEN],
	    uint8_t out2[CRYPTO_BLAKE2S_LEN],
	    uint8_t out3[CRYPTO_BLAKE2S_LEN],
	    const uint8_t ck[CRYPTO_BLAKE2S_LEN], const uint8_t *ikm,
	    size_t ikmlen);

/*
 * The vector code in use, for tests and benchmarks: crypto_impl() says
 * which; crypto_impl_set() caps it (a test compares every level on the same
 * input) and returns the level now in effect, never above what the CPU
 * has.  Not for the product: the default is the fastest.
 */
#define CRYPTO_IMPL_SCALAR	0	/* one block at a time, any CPU */
#define CRYPTO_IMPL_SSE2	1	/* 4 ChaCha20 blocks at a time */
#define CRYPTO_IMPL_AVX2	2	/* 8 ChaCha20 blocks at a time */
int	 crypto_impl(void);
int	 crypto_impl_set(int);
const char *crypto_impl_name(int);

/*
 * Exposed for RFC 8439's step-by-step vectors (sections 2.1.1, 2.2.1 and
 * 2.3.2): one quarter round on s[a], s[b], s[c], s[d], and the block
 * function on a full 16-word state.
 */
void	 crypto_chacha20_qround(uint32_t s[16], int a, int b, int c, int d);
void	 crypto_chacha20_block(uint32_t out[16], const uint32_t in[16]);

#endif /* RELAY_CRYPTO_H */
