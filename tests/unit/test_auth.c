/*
 * test_auth: SHA-256 (FIPS 180-4 vectors), HMAC-SHA256 (RFC 4231), the
 * registration proof, the shared replay cache and the secret file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "auth.h"
#include "unit.h"

static const uint8_t	 secret[] = "correct horse battery staple";
#define SLEN		 (sizeof(secret) - 1)
#define NOW		 1700000000ULL

/* Hex of a digest, for comparing against the published vectors. */
static const char *
hexof(const uint8_t *p, size_t n)
{
	static char	 buf[2 * 256 + 1];

	auth_hex(p, n, buf);
	return buf;
}

static const char *
sha_hex(const void *p, size_t n)
{
	uint8_t		 d[SHA256_LEN];

	sha256(p, n, d);
	return hexof(d, sizeof(d));
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", SHA2 additional). */

static void
test_sha256_abc(void)
{
	CHECK(strcmp(sha_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad") == 0);
}

static void
test_sha256_empty(void)
{
	CHECK(strcmp(sha_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855") == 0);
}

static void
test_sha256_448(void)
{
	const char	*m = "abcdbcdecdefdefgefghfghighijhijk"
	    "ijkljklmklmnlmnomnopnopq";

	CHECK_EQ(strlen(m), 56);
	CHECK(strcmp(sha_hex(m, strlen(m)), "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1") == 0);
}

static void
test_sha256_896(void)
{
	const char	*m = "abcdefghbcdefghicdefghijdefghijk"
	    "efghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
	    "lmnopqrsmnopqrstnopqrstu";

	CHECK_EQ(strlen(m), 112);
	CHECK(strcmp(sha_hex(m, strlen(m)), "cf5b16a778af8380036ce59e7b049237"
	    "0b249b11e8f07a51afac45037afee9d1") == 0);
}

static void
test_sha256_million_a(void)
{
	struct sha256_ctx	 c;
	uint8_t			 chunk[1000], d[SHA256_LEN];
	int			 i;

	/* Fed in odd-sized pieces so the buffering is exercised too. */
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&c);
	for (i = 0; i < 1000; i++)
		sha256_update(&c, chunk, sizeof(chunk));
	sha256_final(&c, d);
	CHECK(strcmp(hexof(d, sizeof(d)), "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void
test_sha256_split(void)
{
	struct sha256_ctx	 c;
	uint8_t			 m[200], one[SHA256_LEN], d[SHA256_LEN];
	size_t			 i, j;

	for (i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)(i * 7 + 3);
	sha256(m, sizeof(m), one);
	for (i = 0; i <= sizeof(m); i++) {
		sha256_init(&c);
		sha256_update(&c, m, i);
		sha256_update(&c, m + i, sizeof(m) - i);
		sha256_final(&c, d);
		CHECK(memcmp(d, one, sizeof(d)) == 0);
	}
	/* Byte at a time, and three pieces around each block edge. */
	sha256_init(&c);
	for (i = 0; i < sizeof(m); i++)
		sha256_update(&c, m + i, 1);
	sha256_final(&c, d);
	CHECK(memcmp(d, one, sizeof(d)) == 0);
	for (i = 55; i <= 129; i++) {
		for (j = i; j <= 129; j += 9) {
			sha256_init(&c);
			sha256_update(&c, m, i);
			sha256_update(&c, m + i, j - i);
			sha256_update(&c, m + j, sizeof(m) - j);
			sha256_final(&c, d);
			CHECK(memcmp(d, one, sizeof(d)) == 0);
		}
	}
}

static void
test_sha256_padding_edges(void)
{
	/* 55, 56 and 64 bytes: the length fits, just misses, fills a block. */
	static const char *want[] = {
		"9f4390f8d30c2dd92ec9f095b65e2b9a"
		"e9b0a925a5258e241c9f1e910f734318",
		"b35439a4ac6f0948b6d6f9e3c6af0f5f"
		"590ce20f1bde7090ef7970686ec6738a",
		"ffe054fe7ae0cb6dc65c3af9b61d5209"
		"f439851db43d0ba5997337df154668eb",
	};
	static const size_t lens[] = { 55, 56, 64 };
	uint8_t		 m[64];
	size_t		 i;

	memset(m, 'a', sizeof(m));
	for (i = 0; i < 3; i++)
		CHECK(strcmp(sha_hex(m, lens[i]), want[i]) == 0);
}

/* RFC 4231 section 4. */

static int
hmac_case(const uint8_t *key, size_t klen, const void *data, size_t dlen,
    const char *want)
{
	uint8_t		 d[SHA256_LEN];

	hmac_sha256(key, klen, data, dlen, d);
	/* Case 5 publishes only the first 128 bits. */
	return strncmp(hexof(d, sizeof(d)), want, strlen(want)) == 0;
}

static void
test_hmac_rfc4231_1(void)
{
	uint8_t		 k[20];

	memset(k, 0x0b, sizeof(k));
	CHECK(hmac_case(k, sizeof(k), "Hi There", 8,
	    "b0344c61d8db38535ca8afceaf0bf12b"
	    "881dc200c9833da726e9376c2e32cff7"));
}

static void
test_hmac_rfc4231_2(void)
{
	const char	*m = "what do ya want for nothing?";

	CHECK(hmac_case((const uint8_t *)"Jefe", 4, m, strlen(m),
	    "5bdcc146bf60754e6a042426089575c7"
	    "5a003f089d2739839dec58b964ec3843"));
}

static void
test_hmac_rfc4231_3(void)
{
	uint8_t		 k[20], m[50];

	memset(k, 0xaa, sizeof(k));
	memset(m, 0xdd, sizeof(m));
	CHECK(hmac_case(k, sizeof(k), m, sizeof(m),
	    "773ea91e36800e46854db8ebd09181a7"
	    "2959098b3ef8c122d9635514ced565fe"));
}

static void
test_hmac_rfc4231_4(void)
{
	uint8_t		 k[25], m[50];
	size_t		 i;

	for (i = 0; i < sizeof(k); i++)
		k[i] = i + 1;
	memset(m, 0xcd, sizeof(m));
	CHECK(hmac_case(k, sizeof(k), m, sizeof(m),
	    "82558a389a443c0ea4cc819899f2083a"
	    "85f0faa3e578f8077a2e3ff46729665b"));
}

static void
test_hmac_rfc4231_5(void)
{
	uint8_t		 k[20];

	memset(k, 0x0c, sizeof(k));
	CHECK(hmac_case(k, sizeof(k), "Test With Truncation", 20,
	    "a3b6167473100ee06e0c796c2955552b"));
}

static void
test_hmac_rfc4231_6(void)
{
	const char	*m = "Test Using Larger Than Block-Size Key - Hash Key "
	    "First";
	uint8_t		 k[131];

	memset(k, 0xaa, sizeof(k));
	CHECK(hmac_case(k, sizeof(k), m, strlen(m),
	    "60e431591ee0b67f0d8a26aacbf5b77f"
	    "8e0bc6213728c5140546040f0ee37f54"));
}

static void
test_hmac_rfc4231_7(void)
{
	const char	*m = "This is a test using a larger than "
	    "block-size key and a larger than block-size data. The key needs "
	    "to be hashed before being used by the HMAC algorithm.";
	uint8_t		 k[131];

	memset(k, 0xaa, sizeof(k));
	CHECK(hmac_case(k, sizeof(k), m, strlen(m),
	    "9b09ffa71b942fcb27635fbcd5b0e944"
	    "bfdc63644f0713938a7f51535c3a35e2"));
}

/* Primitives. */

static void
test_equal(void)
{
	uint8_t		 a[32], b[32];
	size_t		 i;
	int		 bit;

	for (i = 0; i < sizeof(a); i++)
		a[i] = b[i] = (uint8_t)(i * 37);
	CHECK_EQ(auth_equal(a, b, sizeof(a)), 1);
	CHECK_EQ(auth_equal(a, b, 0), 1);
	for (i = 0; i < sizeof(a); i++) {
		for (bit = 0; bit < 8; bit++) {
			b[i] ^= 1 << bit;
			CHECK_EQ(auth_equal(a, b, sizeof(a)), 0);
			b[i] ^= 1 << bit;
		}
	}
	CHECK_EQ(auth_equal(a, b, sizeof(a)), 1);
}

static void
test_hex_round_trip(void)
{
	uint8_t		 in[256], out[256];
	char		 hex[513];
	size_t		 i;

	for (i = 0; i < sizeof(in); i++)
		in[i] = i;
	auth_hex(in, sizeof(in), hex);
	CHECK_EQ(strlen(hex), 512);
	CHECK(strncmp(hex, "000102", 6) == 0);
	CHECK(strcmp(hex + 506, "fdfeff") == 0);
	CHECK_EQ(auth_unhex(hex, 512, out), 256);
	CHECK(memcmp(in, out, sizeof(in)) == 0);
	CHECK_EQ(auth_unhex("", 0, out), 0);
}

static void
test_unhex_bad(void)
{
	static const char *bad[] = {
		"0", "abc", "0g", "g0", "AB", "aB", "Ff", "0x", " 0", "0 ",
		"/0", ":0", "`0", "0@", "\x80\x30", "\xff\xff", "ab\n",
	};
	uint8_t		 out[8];
	size_t		 i;
	int		 c;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ(auth_unhex(bad[i], strlen(bad[i]), out), -1);
	/* Every byte value: exactly 0-9 and a-f decode. */
	for (c = 0; c < 256; c++) {
		char	 s[2] = { '0', (char)c };
		int	 ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
		int	 r = auth_unhex(s, 2, out);

		CHECK_EQ(r, ok ? 1 : -1);
		if (ok)
			CHECK_EQ(out[0], c <= '9' ? c - '0' : c - 'a' + 10);
	}
}

static void
test_nonce_fresh(void)
{
	uint8_t		 a[AUTH_NONCE_LEN], b[AUTH_NONCE_LEN];
	uint8_t		 zero[AUTH_NONCE_LEN] = { 0 };

	auth_nonce(a);
	auth_nonce(b);
	CHECK(memcmp(a, b, sizeof(a)) != 0);
	CHECK(memcmp(a, zero, sizeof(a)) != 0);
}

/* The proof. */

static const char	 nonce1[] = "000102030405060708090a0b0c0d0e0f";

static void
test_sign_known_vector(void)
{
	char		 mac[AUTH_MAC_HEX + 1];

	/*
	 * Computed with Python's hmac module over the message of auth.h:
	 * "relay-auth 1\n1700000000\n<nonce>\nweb-1\n9005\n", key "s3cret".
	 */
	auth_sign((const uint8_t *)"s3cret", 6, NOW, nonce1, "web-1", 9005,
	    mac);
	CHECK(strcmp(mac, "87d997a5503bbbdcc360e874f06fd1ca"
	    "206c373e54f0699979fd4ca95fcf0b5d") == 0);
}

static void
test_sign_verify(void)
{
	char		 mac[AUTH_MAC_HEX + 1];

	auth_sign(secret, SLEN, NOW, nonce1, "web-1", 9005, mac);
	CHECK_EQ(strlen(mac), AUTH_MAC_HEX);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9005, mac), 1);
	/* No name, any port: the plain hello. */
	auth_sign(secret, SLEN, NOW, nonce1, "", 0, mac);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "", 0, mac), 1);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "", 1, mac), 0);
}

static void
test_verify_field_changed(void)
{
	const char	*nonce2 = "100102030405060708090a0b0c0d0e0f";
	char		 mac[AUTH_MAC_HEX + 1], bad[AUTH_MAC_HEX + 1];
	uint8_t		 raw[AUTH_MAC_LEN];
	size_t		 i;
	int		 bit;

	auth_sign(secret, SLEN, NOW, nonce1, "web-1", 9005, mac);
	CHECK_EQ(auth_verify(secret, SLEN, NOW + 1, nonce1, "web-1", 9005,
	    mac), 0);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce2, "web-1", 9005, mac), 0);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-2", 9005, mac), 0);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9006, mac), 0);
	CHECK_EQ(auth_verify(secret, SLEN - 1, NOW, nonce1, "web-1", 9005,
	    mac), 0);
	/* Every single-bit change of the MAC. */
	CHECK_EQ(auth_unhex(mac, AUTH_MAC_HEX, raw), AUTH_MAC_LEN);
	for (i = 0; i < sizeof(raw); i++) {
		for (bit = 0; bit < 8; bit++) {
			raw[i] ^= 1 << bit;
			auth_hex(raw, sizeof(raw), bad);
			CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1",
			    9005, bad), 0);
			raw[i] ^= 1 << bit;
		}
	}
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9005, mac), 1);
}

static void
test_verify_malformed(void)
{
	char		 mac[AUTH_MAC_HEX + 1], bad[AUTH_MAC_HEX + 2];
	char		 nonce[AUTH_NONCE_HEX + 2];
	size_t		 i;

	auth_sign(secret, SLEN, NOW, nonce1, "web-1", 9005, mac);
	/* Upper case is another spelling: refused, not normalised. */
	for (i = 0; i <= AUTH_MAC_HEX; i++)
		bad[i] = (mac[i] >= 'a' && mac[i] <= 'f') ? mac[i] - 32 :
		    mac[i];
	CHECK(strcmp(bad, mac) != 0);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9005, bad), 0);
	/* Short, long, empty, non-hex. */
	memcpy(bad, mac, AUTH_MAC_HEX + 1);
	bad[AUTH_MAC_HEX - 1] = '\0';
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9005, bad), 0);
	memcpy(bad, mac, AUTH_MAC_HEX);
	bad[AUTH_MAC_HEX] = '0';
	bad[AUTH_MAC_HEX + 1] = '\0';
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9005, bad), 0);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9005, ""), 0);
	memcpy(bad, mac, AUTH_MAC_HEX + 1);
	bad[10] = 'g';
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce1, "web-1", 9005, bad), 0);
	/*
	 * Characters that are not digits decode to 0 in the branch-free
	 * decoder: in place of a true '0' they would give the right bytes,
	 * so the parse failure itself has to refuse them.
	 */
	strcpy(mac, "87d997a5503bbbdcc360e874f06fd1ca"
	    "206c373e54f0699979fd4ca95fcf0b5d");
	CHECK_EQ(auth_verify((const uint8_t *)"s3cret", 6, NOW, nonce1,
	    "web-1", 9005, mac), 1);
	for (i = 0; i < AUTH_MAC_HEX; i++) {
		if (mac[i] != '0')
			continue;
		memcpy(bad, mac, AUTH_MAC_HEX + 1);
		bad[i] = 'g';
		CHECK_EQ(auth_verify((const uint8_t *)"s3cret", 6, NOW, nonce1,
		    "web-1", 9005, bad), 0);
		bad[i] = 'G';
		CHECK_EQ(auth_verify((const uint8_t *)"s3cret", 6, NOW, nonce1,
		    "web-1", 9005, bad), 0);
	}
	/* The nonce must be 32 lower-case digits, signed as such. */
	memcpy(nonce, nonce1, sizeof(nonce1));
	nonce[AUTH_NONCE_HEX - 1] = '\0';
	auth_sign(secret, SLEN, NOW, nonce, "web-1", 9005, mac);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce, "web-1", 9005, mac), 0);
	memcpy(nonce, "0A0102030405060708090a0b0c0d0e0f", AUTH_NONCE_HEX + 1);
	auth_sign(secret, SLEN, NOW, nonce, "web-1", 9005, mac);
	CHECK_EQ(auth_verify(secret, SLEN, NOW, nonce, "web-1", 9005, mac), 0);
}

/* The replay cache. */

static void
mknonce(uint8_t n[AUTH_NONCE_LEN], uint32_t i)
{
	memset(n, 0, AUTH_NONCE_LEN);
	memcpy(n, &i, sizeof(i));
	n[AUTH_NONCE_LEN - 1] = 0x5a;
}

static void
test_replay_fresh_and_replayed(void)
{
	struct auth_replay	*r;
	const char		*why = NULL;
	uint8_t			 a[AUTH_NONCE_LEN], b[AUTH_NONCE_LEN];
	int			 rc1, rc2, rc3, rc4;

	CHECK((r = auth_replay_create()) != NULL);
	mknonce(a, 1);
	mknonce(b, 2);
	rc1 = auth_replay_check(r, NOW, NOW, a, 120, &why);
	rc2 = auth_replay_check(r, NOW, NOW, b, 120, &why);
	rc3 = auth_replay_check(r, NOW + 5, NOW, a, 120, &why);
	/* A different timestamp does not make an old nonce new. */
	rc4 = auth_replay_check(r, NOW + 5, NOW + 5, b, 120, &why);
	auth_replay_destroy(r);
	CHECK_EQ(rc1, 0);
	CHECK_EQ(rc2, 0);
	CHECK_EQ(rc3, -1);
	CHECK_EQ(rc4, -1);
	CHECK(why != NULL && strcmp(why, "replayed nonce") == 0);
}

static void
test_replay_window(void)
{
	struct auth_replay	*r;
	const char		*why = NULL;
	uint8_t			 n[AUTH_NONCE_LEN];
	int			 rc[6];

	CHECK((r = auth_replay_create()) != NULL);
	mknonce(n, 1);
	rc[0] = auth_replay_check(r, NOW, NOW - 121, n, 120, &why);
	rc[1] = auth_replay_check(r, NOW, NOW + 121, n, 120, &why);
	/* A refused timestamp must not have recorded the nonce. */
	rc[2] = auth_replay_check(r, NOW, NOW - 120, n, 120, &why);
	mknonce(n, 2);
	rc[3] = auth_replay_check(r, NOW, NOW + 120, n, 120, &why);
	mknonce(n, 3);
	rc[4] = auth_replay_check(r, NOW, 0, n, 120, &why);
	rc[5] = auth_replay_check(r, NOW, UINT64_MAX, n, 120, &why);
	auth_replay_destroy(r);
	CHECK_EQ(rc[0], -1);
	CHECK_EQ(rc[1], -1);
	CHECK_EQ(rc[2], 0);
	CHECK_EQ(rc[3], 0);
	CHECK_EQ(rc[4], -1);
	CHECK_EQ(rc[5], -1);
	CHECK(strcmp(why, "timestamp outside the replay window") == 0);
}

static void
test_replay_evict_after_window(void)
{
	struct auth_replay	*r;
	const char		*why;
	uint8_t			 a[AUTH_NONCE_LEN], b[AUTH_NONCE_LEN];
	int			 rc[5];

	CHECK((r = auth_replay_create()) != NULL);
	mknonce(a, 1);
	mknonce(b, 2);
	rc[0] = auth_replay_check(r, NOW, NOW, a, 120, &why);
	rc[1] = auth_replay_check(r, NOW + 60, NOW + 60, b, 120, &why);
	/* At NOW+120 a could still pass the window check: still refused. */
	rc[2] = auth_replay_check(r, NOW + 120, NOW + 120, a, 120, &why);
	/* Past it, the entry is gone and the cache is empty again. */
	rc[3] = auth_replay_check(r, NOW + 121, NOW + 121, a, 120, &why);
	rc[4] = auth_replay_check(r, NOW + 121, NOW + 121, b, 120, &why);
	CHECK_EQ(rc[0], 0);
	CHECK_EQ(rc[1], 0);
	CHECK_EQ(rc[2], -1);
	CHECK_EQ(rc[3], 0);
	CHECK_EQ(rc[4], -1);
	CHECK_EQ(r->ar_count, 2);
	CHECK_EQ(auth_replay_overflows(r), 0);
	auth_replay_destroy(r);
}

/* An expired entry found in the middle of the ring is replaced, not kept. */
static void
test_replay_expired_in_middle(void)
{
	struct auth_replay	*r;
	const char		*why;
	uint8_t			 a[AUTH_NONCE_LEN], b[AUTH_NONCE_LEN];

	CHECK((r = auth_replay_create()) != NULL);
	mknonce(a, 1);
	mknonce(b, 2);
	/* b arrives first but with a timestamp that expires later. */
	CHECK_EQ(auth_replay_check(r, NOW, NOW + 100, b, 120, &why), 0);
	CHECK_EQ(auth_replay_check(r, NOW, NOW - 100, a, 120, &why), 0);
	/* At NOW+30 a is dead, b (the ring's tail) is alive. */
	CHECK_EQ(auth_replay_check(r, NOW + 30, NOW + 30, a, 120, &why), 0);
	CHECK_EQ(auth_replay_check(r, NOW + 30, NOW + 30, a, 120, &why), -1);
	CHECK_EQ(auth_replay_check(r, NOW + 30, NOW + 30, b, 120, &why), -1);
	auth_replay_destroy(r);
}

static void
test_replay_full(void)
{
	struct auth_replay	*r;
	const char		*why;
	uint8_t			 n[AUTH_NONCE_LEN];
	uint32_t		 i;

	CHECK((r = auth_replay_create()) != NULL);
	for (i = 0; i < AUTH_REPLAY_SLOTS; i++) {
		mknonce(n, i);
		CHECK_EQ(auth_replay_check(r, NOW, NOW, n, 120, &why), 0);
	}
	CHECK_EQ(auth_replay_overflows(r), 0);
	/* One more live entry pushes out the oldest, and says so. */
	mknonce(n, AUTH_REPLAY_SLOTS);
	CHECK_EQ(auth_replay_check(r, NOW, NOW, n, 120, &why), 0);
	CHECK_EQ(auth_replay_overflows(r), 1);
	for (i = 1; i <= AUTH_REPLAY_SLOTS; i++) {
		mknonce(n, i);
		CHECK_EQ(auth_replay_check(r, NOW, NOW, n, 120, &why), -1);
	}
	mknonce(n, 0);
	CHECK_EQ(auth_replay_check(r, NOW, NOW, n, 120, &why), 0);
	CHECK_EQ(auth_replay_overflows(r), 2);
	auth_replay_destroy(r);
}

/*
 * Many registrations over a long time: every nonce of the last window is
 * refused, and the index stays consistent through its deletions.
 */
static void
test_replay_churn(void)
{
	struct auth_replay	*r;
	const char		*why;
	uint8_t			 n[AUTH_NONCE_LEN];
	uint32_t		 i, j;
	uint64_t		 now;

	CHECK((r = auth_replay_create()) != NULL);
	for (i = 0; i < 100000; i++) {
		now = NOW + i / 30;	/* 30 a second: 3630 live at most */
		mknonce(n, i * 2654435761U);
		CHECK_EQ(auth_replay_check(r, now, now - i % 7, n, 120, &why),
		    0);
		if (i % 997 == 0) {
			for (j = i > 3000 ? i - 3000 : 0; j <= i; j += 13) {
				mknonce(n, j * 2654435761U);
				CHECK_EQ(auth_replay_check(r, now, now, n, 120,
				    &why), -1);
			}
		}
	}
	CHECK_EQ(auth_replay_overflows(r), 0);
	CHECK(r->ar_count <= AUTH_REPLAY_SLOTS);
	auth_replay_destroy(r);
}

/* The secret file. */

static char	 tmpdir[64];

static const char *
write_secret(const char *name, const char *data, size_t len, mode_t mode)
{
	static char	 path[128];
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return NULL;
	if (write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) == -1) {
		close(fd);
		return NULL;
	}
	close(fd);
	return path;
}

static void
test_secret_good(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len = 99;
	const char	*path, *why = NULL;

	CHECK((path = write_secret("good", "hunter2", 7, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 7);
	CHECK(memcmp(s, "hunter2", 7) == 0);
	/* 0400 is fine too: only group and other bits matter. */
	CHECK((path = write_secret("ro", "x", 1, 0400)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 1);
}

static void
test_secret_newline(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why;

	CHECK((path = write_secret("nl", "hunter2\n", 8, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 7);
	CHECK((path = write_secret("crlf", "hunter2\r\n", 9, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 7);
	CHECK(memcmp(s, "hunter2", 7) == 0);
	/* Only one newline goes; the rest is the secret. */
	CHECK((path = write_secret("nl2", "ab\n\n", 4, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 3);
	CHECK(memcmp(s, "ab\n", 3) == 0);
	/* Binary is allowed. */
	CHECK((path = write_secret("bin", "\0\1\2", 3, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 3);
}

static void
test_secret_mode(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;
	static const mode_t bad[] = { 0644, 0640, 0604, 0602, 0620, 0601 };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK((path = write_secret("open", "topsecret", 9, bad[i])) !=
		    NULL);
		why = NULL;
		CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
		CHECK(why != NULL);
		CHECK(strstr(why, "must not be accessible by group or others "
		    "(chmod 600)") != NULL);
		CHECK(strstr(why, path) != NULL);
		CHECK(strstr(why, "topsecret") == NULL);
	}
}

static void
test_secret_owner(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;

	if (geteuid() != 0) {
		printf("# skipped: needs root to give a file to another user\n");
		return;
	}
	CHECK((path = write_secret("foreign", "topsecret", 9, 0600)) != NULL);
	CHECK(chown(path, 65534, 65534) == 0);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(why != NULL && strstr(why, "belongs to uid 65534") != NULL);
	CHECK(strstr(why, "topsecret") == NULL);
	/* Root's own file: fine. */
	CHECK(chown(path, 0, 0) == 0);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 9);
}

static void
test_secret_empty(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;

	CHECK((path = write_secret("empty", "", 0, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(why != NULL && strstr(why, "is empty") != NULL);
	CHECK((path = write_secret("nlonly", "\n", 1, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK((path = write_secret("crlfonly", "\r\n", 2, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
}

static void
test_secret_missing_or_odd(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	char		 path[128];
	const char	*why = NULL;

	snprintf(path, sizeof(path), "%s/does-not-exist", tmpdir);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(why != NULL && strstr(why, "does-not-exist") != NULL);
	CHECK(strstr(why, "No such file") != NULL);
	/* A directory, and a FIFO (which must not hang the open). */
	CHECK_EQ(auth_load_secret(tmpdir, s, sizeof(s), &len, &why), -1);
	CHECK(strstr(why, "not a regular file") != NULL);
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	unlink(path);
	CHECK_EQ(mkfifo(path, 0600), 0);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(strstr(why, "not a regular file") != NULL);
	unlink(path);
}

static void
test_secret_too_long(void)
{
	static char	 big[AUTH_SECRET_MAX + 3];
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;

	memset(big, 'k', sizeof(big));
	/* Exactly the cap, bare, with "\n" and with "\r\n": all fine. */
	CHECK((path = write_secret("cap", big, AUTH_SECRET_MAX, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX);
	big[AUTH_SECRET_MAX] = '\n';
	CHECK((path = write_secret("capnl", big, AUTH_SECRET_MAX + 1, 0600)) !=
	    NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX);
	big[AUTH_SECRET_MAX] = '\r';
	big[AUTH_SECRET_MAX + 1] = '\n';
	CHECK((path = write_secret("capcrlf", big, AUTH_SECRET_MAX + 2,
	    0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX);
	/* One byte over, and the "\r\n" straddling the cap. */
	memset(big, 'k', sizeof(big));
	CHECK((path = write_secret("over", big, AUTH_SECRET_MAX + 1, 0600)) !=
	    NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(strstr(why, "longer than 1024 bytes") != NULL);
	big[AUTH_SECRET_MAX - 1] = '\r';
	big[AUTH_SECRET_MAX] = '\n';
	CHECK((path = write_secret("straddle", big, AUTH_SECRET_MAX + 1,
	    0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX - 1);
	big[AUTH_SECRET_MAX] = 'k';
	big[AUTH_SECRET_MAX + 1] = '\n';
	CHECK((path = write_secret("over2", big, AUTH_SECRET_MAX + 2, 0600)) !=
	    NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	/* A failed load leaves nothing of the file behind. */
	CHECK_EQ(s[0], 0);
}

int
main(void)
{
	char	 cmd[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_auth.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* Group/other bits must come from fchmod, not be masked away. */
	umask(0);

	RUN(test_sha256_abc);
	RUN(test_sha256_empty);
	RUN(test_sha256_448);
	RUN(test_sha256_896);
	RUN(test_sha256_million_a);
	RUN(test_sha256_split);
	RUN(test_sha256_padding_edges);
	RUN(test_hmac_rfc4231_1);
	RUN(test_hmac_rfc4231_2);
	RUN(test_hmac_rfc4231_3);
	RUN(test_hmac_rfc4231_4);
	RUN(test_hmac_rfc4231_5);
	RUN(test_hmac_rfc4231_6);
	RUN(test_hmac_rfc4231_7);
	RUN(test_equal);
	RUN(test_hex_round_trip);
	RUN(test_unhex_bad);
	RUN(test_nonce_fresh);
	RUN(test_sign_known_vector);
	RUN(test_sign_verify);
	RUN(test_verify_field_changed);
	RUN(test_verify_malformed);
	RUN(test_replay_fresh_and_replayed);
	RUN(test_replay_window);
	RUN(test_replay_evict_after_window);
	RUN(test_replay_expired_in_middle);
	RUN(test_replay_full);
	RUN(test_replay_churn);
	RUN(test_secret_good);
	RUN(test_secret_newline);
	RUN(test_secret_mode);
	RUN(test_secret_owner);
	RUN(test_secret_empty);
	RUN(test_secret_missing_or_odd);
	RUN(test_secret_too_long);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	UNIT_END();
}
