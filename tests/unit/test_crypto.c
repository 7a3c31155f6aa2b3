/*
 * test_crypto: the primitives against every test vector of their RFCs.
 *	RFC 8439: 2.1.1, 2.2.1, 2.3.2, 2.4.2, 2.5.2, 2.6.2, 2.8.2 and
 *	    Appendix A.1-A.5 (ChaCha20, Poly1305, key generation, AEAD)
 *	RFC 7748: 5.2 (both vectors; iterated 1 and 1,000 times, and
 *	    1,000,000 times when RELAY_SLOW_TESTS=1), 6.1 (Alice and Bob)
 *	RFC 7693: Appendix B (BLAKE2s-256 "abc"), Appendix E (self-test)
 * and beyond them: every vector level (scalar, SSE2, AVX2) gives the same
 * bytes for every length and alignment, low-order points are refused,
 * tampered AEAD input is refused with the output wiped, and incremental
 * hashing and MACs equal the one-shot forms.  HMAC and HKDF are checked
 * through the Noise vectors (test_noise).
 */
#include <stdint.h>

#include "crypto.h"
#include "unit.h"

/* Hex (whitespace and ':' ignored) into out; returns the byte count. */
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
		else if (*s >= 'A' && *s <= 'F')
			v = *s - 'A' + 10;
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

/* Equal to the hex string? */
static int
eqhex(const uint8_t *p, size_t n, const char *hex)
{
	static uint8_t	 want[4096];
	size_t		 m = unhex(hex, want);

	return m == n && memcmp(p, want, n) == 0;
}

/* The vector levels this CPU has; every test runs at each. */
static int	 levels[3], nlevels;

static void
find_levels(void)
{
	int	 l;

	for (l = CRYPTO_IMPL_SCALAR; l <= CRYPTO_IMPL_AVX2; l++)
		if (crypto_impl_set(l) == l)
			levels[nlevels++] = l;
	crypto_impl_set(CRYPTO_IMPL_AVX2);
}

/* Long inputs of the RFC, extracted from the text of RFC 8439. */
static const char ietf_text[] =
	"416e79207375626d697373696f6e20746f20746865204945544620696e74656e"
	"6465642062792074686520436f6e7472696275746f7220666f72207075626c69"
	"636174696f6e20617320616c6c206f722070617274206f6620616e2049455446"
	"20496e7465726e65742d4472616674206f722052464320616e6420616e792073"
	"746174656d656e74206d6164652077697468696e2074686520636f6e74657874"
	"206f6620616e204945544620616374697669747920697320636f6e7369646572"
	"656420616e20224945544620436f6e747269627574696f6e222e205375636820"
	"73746174656d656e747320696e636c756465206f72616c2073746174656d656e"
	"747320696e20494554462073657373696f6e732c2061732077656c6c20617320"
	"7772697474656e20616e6420656c656374726f6e696320636f6d6d756e696361"
	"74696f6e73206d61646520617420616e792074696d65206f7220706c6163652c"
	"207768696368206172652061646472657373656420746f";

static const char jabberwocky[] =
	"2754776173206272696c6c69672c20616e642074686520736c6974687920746f"
	"7665730a446964206779726520616e642067696d626c6520696e207468652077"
	"6162653a0a416c6c206d696d737920776572652074686520626f726f676f7665"
	"732c0a416e6420746865206d6f6d65207261746873206f757467726162652e";

static const char sunscreen[] =
	"4c616469657320616e642047656e746c656d656e206f662074686520636c6173"
	"73206f66202739393a204966204920636f756c64206f6666657220796f75206f"
	"6e6c79206f6e652074697020666f7220746865206675747572652c2073756e73"
	"637265656e20776f756c642062652069742e";

static const char sunscreen_ct[] =
	"6e2e359a2568f98041ba0728dd0d6981e97e7aec1d4360c20a27afccfd9fae0b"
	"f91b65c5524733ab8f593dabcd62b3571639d624e65152ab8f530c359f0861d8"
	"07ca0dbf500d6a6156a38e088a22b65e52bc514d16ccf806818ce91ab7793736"
	"5af90bbf74a35be6b40b8eedf2785e42874d";

static const char b232_block[] =
	"10f1e7e4d13b5915500fdd1fa32071c4c7d1f4c733c068030422aa9ac3d46c4e"
	"d2826446079faa0914c2d705d98b02a2b5129cd1de164eb9cbd083e8a2503c4e";

static const char a1_ks1[] =
	"76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7"
	"da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586";

static const char a1_ks2[] =
	"9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed"
	"29b721769ce64e43d57133b074d839d531ed1f28510afb45ace10a1f4b794d6f";

static const char a1_ks3[] =
	"3aeb5224ecf849929b9d828db1ced4dd832025e8018b8160b82284f3c949aa5a"
	"8eca00bbb4a73bdad192b5c42f73f2fd4e273644c8b36125a64addeb006c13a0";

static const char a1_ks4[] =
	"72d54dfbf12ec44b362692df94137f328fea8da73990265ec1bbbea1ae9af0ca"
	"13b25aa26cb4a648cb9b9d1be65b2c0924a66c54d545ec1b7374f4872e99f096";

static const char a1_ks5[] =
	"c2c64d378cd536374ae204b9ef933fcd1a8b2288b3dfa49672ab765b54ee27c7"
	"8a970e0e955c14f3a88e741b97c286f75f8fc299e8148362fa198a39531bed6d";

static const char a2_ct2[] =
	"a3fbf07df3fa2fde4f376ca23e82737041605d9f4f4f57bd8cff2c1d4b7955ec"
	"2a97948bd3722915c8f3d337f7d370050e9e96d647b7c39f56e031ca5eb6250d"
	"4042e02785ececfa4b4bb5e8ead0440e20b6e8db09d881a7c6132f420e527950"
	"42bdfa7773d8a9051447b3291ce1411c680465552aa6c405b7764d5e87bea85a"
	"d00f8449ed8f72d0d662ab052691ca66424bc86d2df80ea41f43abf937d3259d"
	"c4b2d0dfb48a6c9139ddd7f76966e928e635553ba76c5c879d7b35d49eb2e62b"
	"0871cdac638939e25e8a1e0ef9d5280fa8ca328b351c3c765989cbcf3daa8b6c"
	"cc3aaf9f3979c92b3720fc88dc95ed84a1be059c6499b9fda236e7e818b04b0b"
	"c39c1e876b193bfe5569753f88128cc08aaa9b63d1a16f80ef2554d7189c411f"
	"5869ca52c5b83fa36ff216b9c1d30062bebcfd2dc5bce0911934fda79a86f6e6"
	"98ced759c3ff9b6477338f3da4f9cd8514ea9982ccafb341b2384dd902f3d1ab"
	"7ac61dd29c6f21ba5b862f3730e37cfdc4fd806c22f221";

static const char a2_ct3[] =
	"62e6347f95ed87a45ffae7426f27a1df5fb69110044c0d73118effa95b01e5cf"
	"166d3df2d721caf9b21e5fb14c616871fd84c54f9d65b283196c7fe4f60553eb"
	"f39c6402c42234e32a356b3e764312a61a5532055716ead6962568f87d3f3f77"
	"04c6a8d1bcd1bf4d50d6154b6da731b187b58dfd728afa36757a797ac188d1";

static const char aead_ct[] =
	"d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6"
	"3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36"
	"92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc"
	"3ff4def08e4b7a9de576d26586cec64b6116";

static const char a5_ct[] =
	"64a0861575861af460f062c79be643bd5e805cfd345cf389f108670ac76c8cb2"
	"4c6cfc18755d43eea09ee94e382d26b0bdb7b73c321b0100d4f03b7f355894cf"
	"332f830e710b97ce98c8a84abd0b948114ad176e008d33bd60f982b1ff37c855"
	"9797a06ef4f0ef61c186324e2b3506383606907b6a7c02b0f9f6157b53c867e4"
	"b9166c767b804d46a59b5216cde7a4e99040c5a40433225ee282a1b0a06c523e"
	"af4534d7f83fa1155b0047718cbc546a0d072b04b3564eea1b422273f548271a"
	"0bb2316053fa76991955ebd63159434ecebb4e466dae5a1073a6727627097a10"
	"49e617d91d361094fa68f0ff77987130305beaba2eda04df997b714d6c6f2c29"
	"a6ad5cb4022b02709b";

static const char a5_pt[] =
	"496e7465726e65742d4472616674732061726520647261667420646f63756d65"
	"6e74732076616c696420666f722061206d6178696d756d206f6620736978206d"
	"6f6e74687320616e64206d617920626520757064617465642c207265706c6163"
	"65642c206f72206f62736f6c65746564206279206f7468657220646f63756d65"
	"6e747320617420616e792074696d652e20497420697320696e617070726f7072"
	"6961746520746f2075736520496e7465726e65742d4472616674732061732072"
	"65666572656e6365206d6174657269616c206f7220746f206369746520746865"
	"6d206f74686572207468616e206173202fe2809c776f726b20696e2070726f67"
	"726573732e2fe2809d";

static const char poly_msg[] =
	"43727970746f6772617068696320466f72756d2052657365617263682047726f"
	"7570";


#define KEY_COUNTING	"000102030405060708090a0b0c0d0e0f" \
			"101112131415161718191a1b1c1d1e1f"
#define KEY_ZERO	"00000000000000000000000000000000" \
			"00000000000000000000000000000000"
#define KEY_ONE		"00000000000000000000000000000000" \
			"00000000000000000000000000000001"
#define KEY_1C92	"1c9240a5eb55d38af333888604f6b5f0" \
			"473917c1402b80099dca5cbc207075c0"
#define NONCE_ZERO	"000000000000000000000000"
#define NONCE_TWO	"000000000000000000000002"

/* RFC 8439 2.1.1 */
static void
test_qround_2_1_1(void)
{
	uint32_t	 s[16] = { 0 };

	s[0] = 0x11111111;
	s[1] = 0x01020304;
	s[2] = 0x9b8d6f43;
	s[3] = 0x01234567;
	crypto_chacha20_qround(s, 0, 1, 2, 3);
	CHECK_EQ(s[0], 0xea2a92f4);
	CHECK_EQ(s[1], 0xcb1cf8ce);
	CHECK_EQ(s[2], 0x4581472e);
	CHECK_EQ(s[3], 0x5881c4bb);
}

/* RFC 8439 2.2.1: QUARTERROUND(2, 7, 8, 13) changes those four only. */
static void
test_qround_2_2_1(void)
{
	uint32_t	 s[16] = {
		0x879531e0, 0xc5ecf37d, 0x516461b1, 0xc9a62f8a,
		0x44c20ef3, 0x3390af7f, 0xd9fc690b, 0x2a5f714c,
		0x53372767, 0xb00a5631, 0x974c541a, 0x359e9963,
		0x5c971061, 0x3d631689, 0x2098d9d6, 0x91dbd320
	};
	const uint32_t	 want[16] = {
		0x879531e0, 0xc5ecf37d, 0xbdb886dc, 0xc9a62f8a,
		0x44c20ef3, 0x3390af7f, 0xd9fc690b, 0xcfacafd2,
		0xe46bea80, 0xb00a5631, 0x974c541a, 0x359e9963,
		0x5c971061, 0xccc07c79, 0x2098d9d6, 0x91dbd320
	};

	crypto_chacha20_qround(s, 2, 7, 8, 13);
	CHECK(memcmp(s, want, sizeof(want)) == 0);
}

/* RFC 8439 2.3.2: the block function, on the state and through the API. */
static void
test_block_2_3_2(void)
{
	const uint32_t	 in[16] = {
		0x61707865, 0x3320646e, 0x79622d32, 0x6b206574,
		0x03020100, 0x07060504, 0x0b0a0908, 0x0f0e0d0c,
		0x13121110, 0x17161514, 0x1b1a1918, 0x1f1e1d1c,
		0x00000001, 0x09000000, 0x4a000000, 0x00000000
	};
	const uint32_t	 want[16] = {
		0xe4e7f110, 0x15593bd1, 0x1fdd0f50, 0xc47120a3,
		0xc7f4d1c7, 0x0368c033, 0x9aaa2204, 0x4e6cd4c3,
		0x466482d2, 0x09aa9f07, 0x05d7c214, 0xa2028bd9,
		0xd19c12b5, 0xb94e16de, 0xe883d0cb, 0x4e3c50a2
	};
	uint32_t	 out[16];
	uint8_t		 key[32], nonce[12], ks[64];
	int		 i;

	crypto_chacha20_block(out, in);
	CHECK(memcmp(out, want, sizeof(want)) == 0);
	unhex(KEY_COUNTING, key);
	unhex("000000090000004a00000000", nonce);
	for (i = 0; i < nlevels; i++) {
		crypto_impl_set(levels[i]);
		memset(ks, 0, sizeof(ks));
		crypto_chacha20(ks, ks, sizeof(ks), key, nonce, 1);
		CHECK(eqhex(ks, 64, b232_block));
	}
}

/* ChaCha20 of hex pt under key/nonce/counter equals hex ct at every level. */
static int
chacha_case(const char *key_hex, const char *nonce_hex, uint32_t counter,
    const char *pt_hex, const char *ct_hex)
{
	static uint8_t	 pt[1024], out[1024];
	uint8_t		 key[32], nonce[12];
	size_t		 n = unhex(pt_hex, pt);
	int		 i;

	unhex(key_hex, key);
	unhex(nonce_hex, nonce);
	for (i = 0; i < nlevels; i++) {
		crypto_impl_set(levels[i]);
		crypto_chacha20(out, pt, n, key, nonce, counter);
		if (!eqhex(out, n, ct_hex))
			return 0;
		/* and in place, back again */
		crypto_chacha20(out, out, n, key, nonce, counter);
		if (memcmp(out, pt, n) != 0)
			return 0;
	}
	return 1;
}

/* RFC 8439 2.4.2 */
static void
test_chacha_2_4_2(void)
{
	CHECK(chacha_case(KEY_COUNTING, "000000000000004a00000000", 1,
	    sunscreen, sunscreen_ct));
}

/* RFC 8439 A.1: the key stream (ChaCha20 of zeros). */
static void
test_chacha_a1(void)
{
	static const char zeros64[] = KEY_ZERO KEY_ZERO;

	CHECK(chacha_case(KEY_ZERO, NONCE_ZERO, 0, zeros64, a1_ks1));
	CHECK(chacha_case(KEY_ZERO, NONCE_ZERO, 1, zeros64, a1_ks2));
	CHECK(chacha_case(KEY_ONE, NONCE_ZERO, 1, zeros64, a1_ks3));
	CHECK(chacha_case("00ff000000000000000000000000000000000000000000"
	    "000000000000000000", NONCE_ZERO, 2, zeros64, a1_ks4));
	CHECK(chacha_case(KEY_ZERO, NONCE_TWO, 0, zeros64, a1_ks5));
}

/* RFC 8439 A.2 */
static void
test_chacha_a2(void)
{
	static const char zeros64[] = KEY_ZERO KEY_ZERO;

	CHECK(chacha_case(KEY_ZERO, NONCE_ZERO, 0, zeros64, a1_ks1));
	CHECK(chacha_case(KEY_ONE, NONCE_TWO, 1, ietf_text, a2_ct2));
	CHECK(chacha_case(KEY_1C92, NONCE_TWO, 42, jabberwocky, a2_ct3));
}

/*
 * Every level gives the scalar bytes: each length up to 2100 (all the
 * tails of the 8- and 4-block loops), at odd alignments, in place and
 * not, and with the 32-bit block counter wrapping inside a batch.
 */
static void
test_chacha_levels_agree(void)
{
	static uint8_t	 in[2200], ref[2200], out[2200];
	uint8_t		 key[32], nonce[12];
	uint32_t	 counters[] = { 0, 1, 0xfffffffd, 0xffffffff };
	size_t		 len, off, c, i;
	int		 l;

	for (i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 131 + 7);
	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)(i * 29 + 3);
	for (i = 0; i < 12; i++)
		nonce[i] = (uint8_t)(i * 17 + 1);
	for (c = 0; c < sizeof(counters) / sizeof(counters[0]); c++) {
		for (len = 0; len <= 2100; len += (len < 600 ? 1 : 37)) {
			off = len % 5;
			crypto_impl_set(CRYPTO_IMPL_SCALAR);
			crypto_chacha20(ref, in + off, len, key, nonce,
			    counters[c]);
			for (l = 1; l < nlevels; l++) {
				crypto_impl_set(levels[l]);
				crypto_chacha20(out + 3, in + off, len, key,
				    nonce, counters[c]);
				CHECK(memcmp(out + 3, ref, len) == 0);
				memcpy(out + 1, in + off, len);
				crypto_chacha20(out + 1, out + 1, len, key,
				    nonce, counters[c]);
				CHECK(memcmp(out + 1, ref, len) == 0);
			}
		}
	}
	crypto_impl_set(CRYPTO_IMPL_AVX2);
}

static int
poly_case(const char *key_hex, const char *msg_hex, const char *tag_hex)
{
	static uint8_t	 msg[1024];
	uint8_t		 key[32], tag[16];
	size_t		 n = unhex(msg_hex, msg);

	unhex(key_hex, key);
	crypto_poly1305(tag, msg, n, key);
	return eqhex(tag, 16, tag_hex);
}

/* RFC 8439 2.5.2 */
static void
test_poly1305_2_5_2(void)
{
	CHECK(poly_case("85d6be7857556d337f4452fe42d506a8"
	    "0103808afb0db2fd4abff6af4149f51b", poly_msg,
	    "a8061dc1305136c6c22b8baf0c0127a9"));
}

/* RFC 8439 A.3: #1-#4, then #5-#11, the edge cases of the reduction. */
static void
test_poly1305_a3(void)
{
	static const char zeros64[] = KEY_ZERO KEY_ZERO;

	CHECK(poly_case(KEY_ZERO, zeros64, "00000000000000000000000000000000"));
	CHECK(poly_case("00000000000000000000000000000000"
	    "36e5f6b5c5e06070f0efca96227a863e", ietf_text,
	    "36e5f6b5c5e06070f0efca96227a863e"));
	CHECK(poly_case("36e5f6b5c5e06070f0efca96227a863e"
	    "00000000000000000000000000000000", ietf_text,
	    "f3477e7cd95417af89a6b8794c310cf0"));
	CHECK(poly_case(KEY_1C92, jabberwocky,
	    "4541669a7eaaee61e708dc7cbcc5eb62"));
	/* #5 */
	CHECK(poly_case("02000000000000000000000000000000"
	    "00000000000000000000000000000000",
	    "ffffffffffffffffffffffffffffffff",
	    "03000000000000000000000000000000"));
	/* #6 */
	CHECK(poly_case("02000000000000000000000000000000"
	    "ffffffffffffffffffffffffffffffff",
	    "02000000000000000000000000000000",
	    "03000000000000000000000000000000"));
	/* #7 */
	CHECK(poly_case("01000000000000000000000000000000"
	    "00000000000000000000000000000000",
	    "ffffffffffffffffffffffffffffffff"
	    "f0ffffffffffffffffffffffffffffff"
	    "11000000000000000000000000000000",
	    "05000000000000000000000000000000"));
	/* #8 */
	CHECK(poly_case("01000000000000000000000000000000"
	    "00000000000000000000000000000000",
	    "ffffffffffffffffffffffffffffffff"
	    "fbfefefefefefefefefefefefefefefe"
	    "01010101010101010101010101010101",
	    "00000000000000000000000000000000"));
	/* #9 */
	CHECK(poly_case("02000000000000000000000000000000"
	    "00000000000000000000000000000000",
	    "fdffffffffffffffffffffffffffffff",
	    "faffffffffffffffffffffffffffffff"));
	/* #10 */
	CHECK(poly_case("01000000000000000400000000000000"
	    "00000000000000000000000000000000",
	    "e33594d7505e43b90000000000000000"
	    "3394d7505e4379cd0100000000000000"
	    "00000000000000000000000000000000"
	    "01000000000000000000000000000000",
	    "14000000000000005500000000000000"));
	/* #11 */
	CHECK(poly_case("01000000000000000400000000000000"
	    "00000000000000000000000000000000",
	    "e33594d7505e43b90000000000000000"
	    "3394d7505e4379cd0100000000000000"
	    "00000000000000000000000000000000",
	    "13000000000000000000000000000000"));
}

/* Fed in pieces of every size, Poly1305 gives the one-shot tag. */
static void
test_poly1305_incremental(void)
{
	static uint8_t		 msg[600];
	struct crypto_poly1305	 p;
	uint8_t			 key[32], want[16], tag[16];
	size_t			 len, step, off, n;

	for (off = 0; off < sizeof(msg); off++)
		msg[off] = (uint8_t)(off * 7 + 1);
	for (off = 0; off < 32; off++)
		key[off] = (uint8_t)(off * 13 + 5);
	for (len = 0; len < 200; len++) {
		crypto_poly1305(want, msg, len, key);
		for (step = 1; step <= 33; step += 4) {
			crypto_poly1305_init(&p, key);
			for (off = 0; off < len; off += n) {
				n = len - off < step ? len - off : step;
				crypto_poly1305_update(&p, msg + off, n);
				crypto_poly1305_update(&p, msg, 0);
			}
			crypto_poly1305_final(&p, tag);
			CHECK(memcmp(tag, want, 16) == 0);
		}
	}
}

/* The one-time key: block 0 of the stream (RFC 8439 2.6.2 and A.4). */
static int
keygen_case(const char *key_hex, const char *nonce_hex, const char *want)
{
	uint8_t		 key[32], nonce[12], out[32];

	unhex(key_hex, key);
	unhex(nonce_hex, nonce);
	memset(out, 0, sizeof(out));
	crypto_chacha20(out, out, sizeof(out), key, nonce, 0);
	return eqhex(out, 32, want);
}

static void
test_keygen_2_6_2_and_a4(void)
{
	CHECK(keygen_case("808182838485868788898a8b8c8d8e8f"
	    "909192939495969798999a9b9c9d9e9f", "000000000001020304050607",
	    "8ad5a08b905f81cc815040274ab29471"
	    "a833b637e3fd0da508dbb8e2fdd1a646"));
	CHECK(keygen_case(KEY_ZERO, NONCE_ZERO,
	    "76b8e0ada0f13d90405d6ae55386bd28"
	    "bdd219b8a08ded1aa836efcc8b770dc7"));
	CHECK(keygen_case(KEY_ONE, NONCE_TWO,
	    "ecfa254f845f647473d3cb140da9e876"
	    "06cb33066c447b87bc2666dde3fbb739"));
	CHECK(keygen_case(KEY_1C92, NONCE_TWO,
	    "965e3bc6f9ec7ed9560808f4d229f94b"
	    "137ff275ca9b3fcbdd59deaad23310ae"));
}

/* RFC 8439 2.8.2: seal, open, in place, and every kind of tampering. */
static void
test_aead_2_8_2(void)
{
	static uint8_t	 pt[256], ct[256], out[256];
	uint8_t		 key[32], nonce[12], ad[12];
	size_t		 n, adlen, i;
	int		 l;

	n = unhex(sunscreen, pt);
	adlen = unhex("50515253c0c1c2c3c4c5c6c7", ad);
	unhex("808182838485868788898a8b8c8d8e8f"
	    "909192939495969798999a9b9c9d9e9f", key);
	unhex("07000000" "4041424344454647", nonce);
	for (l = 0; l < nlevels; l++) {
		crypto_impl_set(levels[l]);
		crypto_aead_seal(ct, pt, n, ad, adlen, nonce, key);
		CHECK(eqhex(ct, n, aead_ct));
		CHECK(eqhex(ct + n, 16, "1ae10b594f09e26a7e902ecbd0600691"));
		CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen, nonce,
		    key) == 0);
		CHECK(memcmp(out, pt, n) == 0);
		/* in place both ways */
		memcpy(out, pt, n);
		crypto_aead_seal(out, out, n, ad, adlen, nonce, key);
		CHECK(memcmp(out, ct, n + 16) == 0);
		CHECK(crypto_aead_open(out, out, n + 16, ad, adlen, nonce,
		    key) == 0);
		CHECK(memcmp(out, pt, n) == 0);
	}
	/* a flipped bit anywhere in ciphertext or tag, ad, nonce or key */
	for (i = 0; i < n + 16; i++) {
		ct[i] ^= 0x10;
		memset(out, 0xaa, sizeof(out));
		CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen, nonce,
		    key) == -1);
		ct[i] ^= 0x10;
		for (l = 0; l < (int)n; l++)
			CHECK(out[l] == 0);
		CHECK(out[n] == 0xaa);
	}
	ad[3] ^= 1;
	CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen, nonce, key) == -1);
	ad[3] ^= 1;
	CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen - 1, nonce,
	    key) == -1);
	nonce[11] ^= 1;
	CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen, nonce, key) == -1);
	nonce[11] ^= 1;
	key[0] ^= 1;
	CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen, nonce, key) == -1);
	key[0] ^= 1;
	/* truncated: shorter than a tag, or a byte short */
	CHECK(crypto_aead_open(out, ct, 15, ad, adlen, nonce, key) == -1);
	CHECK(crypto_aead_open(out, ct, n + 15, ad, adlen, nonce, key) == -1);
	CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen, nonce, key) == 0);
}

/* RFC 8439 A.5: decryption of a received message. */
static void
test_aead_a5(void)
{
	static uint8_t	 ct[512], out[512];
	uint8_t		 key[32], nonce[12], ad[12];
	size_t		 n, adlen;

	n = unhex(a5_ct, ct);
	CHECK_EQ(n, 265);
	unhex("eead9d67890cbb22392336fea1851f38", ct + n);
	adlen = unhex("f33388860000000000004e91", ad);
	unhex(KEY_1C92, key);
	unhex("000000000102030405060708", nonce);
	CHECK(crypto_aead_open(out, ct, n + 16, ad, adlen, nonce, key) == 0);
	CHECK(eqhex(out, n, a5_pt));
}

/* Empty plaintext and empty AD are legal; NULL pointers with them too. */
static void
test_aead_empty(void)
{
	uint8_t		 key[32] = { 1 }, nonce[12] = { 2 }, tag[16], out[1];

	crypto_aead_seal(tag, NULL, 0, NULL, 0, nonce, key);
	CHECK(crypto_aead_open(out, tag, 16, NULL, 0, nonce, key) == 0);
	tag[15] ^= 0x80;
	CHECK(crypto_aead_open(out, tag, 16, NULL, 0, nonce, key) == -1);
}

static void
test_aead_nonce(void)
{
	uint8_t		 n[12];

	crypto_aead_nonce(n, UINT64_C(0x0102030405060708));
	CHECK(eqhex(n, 12, "00000000" "0807060504030201"));
	crypto_aead_nonce(n, 0);
	CHECK(eqhex(n, 12, NONCE_ZERO));
}

/* RFC 7748 5.2 */
static void
test_x25519_5_2(void)
{
	uint8_t		 k[32], u[32], out[32];

	unhex("a546e36bf0527c9d3b16154b82465edd"
	    "62144c0ac1fc5a18506a2244ba449ac4", k);
	unhex("e6db6867583030db3594c1a424b15f7c"
	    "726624ec26b3353b10a903a6d0ab1c4c", u);
	CHECK(crypto_x25519(out, k, u) == 0);
	CHECK(eqhex(out, 32, "c3da55379de9c6908e94ea4df28d084f"
	    "32eccf03491c71f754b4075577a28552"));
	/* The second point has its top bit set: it must be ignored. */
	unhex("4b66e9d4d1b4673c5ad22691957d6af5"
	    "c11b6421e0ea01d42ca4169e7918ba0d", k);
	unhex("e5210f12786811d3f4b7959d0538ae2c"
	    "31dbe7106fc03c3efc4cd549c715a493", u);
	CHECK(crypto_x25519(out, k, u) == 0);
	CHECK(eqhex(out, 32, "95cbde9476e8907d7aade45cb4b873f8"
	    "8b595a68799fa152e6f8f7647aac7957"));
}

/* RFC 7748 5.2: k = X25519(k, u), u = old k, from k = u = 9. */
static void
test_x25519_iterated(void)
{
	uint8_t		 k[32] = { 9 }, u[32] = { 9 }, r[32];
	unsigned long	 i, n = 1000;

	if (getenv("RELAY_SLOW_TESTS") != NULL)
		n = 1000000;
	for (i = 1; i <= n; i++) {
		crypto_x25519(r, k, u);
		memcpy(u, k, 32);
		memcpy(k, r, 32);
		if (i == 1)
			CHECK(eqhex(k, 32, "422c8e7a6227d7bca1350b3e2bb7279f"
			    "7897b87bb6854b783c60e80311ae3079"));
		if (i == 1000)
			CHECK(eqhex(k, 32, "684cf59ba83309552800ef566f2f4d3c"
			    "1c3887c49360e3875f2eb94d99532c51"));
		if (i == 1000000)
			CHECK(eqhex(k, 32, "7c3911e0ab2586fd864497297e575e6f"
			    "3bc601c0883c30df5f4dd2d24f665424"));
	}
	if (n == 1000)
		printf("  (1,000,000 iterations: RELAY_SLOW_TESTS=1)\n");
}

/* RFC 7748 6.1 */
static void
test_x25519_6_1(void)
{
	uint8_t		 a[32], b[32], apub[32], bpub[32], s1[32], s2[32];

	unhex("77076d0a7318a57d3c16c17251b26645"
	    "df4c2f87ebc0992ab177fba51db92c2a", a);
	unhex("5dab087e624a8a4b79e17f8b83800ee6"
	    "6f3bb1292618b6fd1c2f8b27ff88e0eb", b);
	crypto_x25519_base(apub, a);
	crypto_x25519_base(bpub, b);
	CHECK(eqhex(apub, 32, "8520f0098930a754748b7ddcb43ef75a"
	    "0dbf3a0d26381af4eba4a98eaa9b4e6a"));
	CHECK(eqhex(bpub, 32, "de9edb7d7b7dc1b4d35b61c2ece43537"
	    "3f8343c85b78674dadfc7e146f882b4f"));
	CHECK(crypto_x25519(s1, a, bpub) == 0);
	CHECK(crypto_x25519(s2, b, apub) == 0);
	CHECK(eqhex(s1, 32, "4a5d9d5ba4ce2de1728e3bf480350f25"
	    "e07e21c947d19e3376f09b3c1e161742"));
	CHECK(memcmp(s1, s2, 32) == 0);
}

/*
 * Points of small order give all zeros, which crypto_x25519 reports:
 * 0, 1, the two of order 8, and p - 1, p, p + 1 (non-canonical 0 and 1).
 */
static void
test_x25519_low_order(void)
{
	static const char *pts[] = {
		"00000000000000000000000000000000"
		    "00000000000000000000000000000000",
		"01000000000000000000000000000000"
		    "00000000000000000000000000000000",
		"e0eb7a7c3b41b8ae1656e3faf19fc46a"
		    "da098deb9c32b1fd866205165f49b800",
		"5f9c95bca3508c24b1d0b1559c83ef5b"
		    "04445cc4581c8e86d8224eddd09f1157",
		"ecffffffffffffffffffffffffffffff"
		    "ffffffffffffffffffffffffffffff7f",
		"edffffffffffffffffffffffffffffff"
		    "ffffffffffffffffffffffffffffff7f",
		"eeffffffffffffffffffffffffffffff"
		    "ffffffffffffffffffffffffffffff7f",
	};
	uint8_t		 k[32], u[32], out[32];
	size_t		 i;

	for (i = 0; i < 32; i++)
		k[i] = (uint8_t)(i + 1);
	for (i = 0; i < sizeof(pts) / sizeof(pts[0]); i++) {
		unhex(pts[i], u);
		memset(out, 0xff, sizeof(out));
		CHECK(crypto_x25519(out, k, u) == -1);
		CHECK(eqhex(out, 32, KEY_ZERO));
		/* with the ignored top bit set, too */
		u[31] |= 0x80;
		CHECK(crypto_x25519(out, k, u) == -1);
	}
}

/* u and u + p are the same point; the top bit never matters. */
static void
test_x25519_non_canonical(void)
{
	uint8_t		 k[32], u[32], a[32], b[32];
	size_t		 i;

	for (i = 0; i < 32; i++)
		k[i] = (uint8_t)(i * 5 + 11);
	memset(u, 0, sizeof(u));
	u[0] = 9;
	CHECK(crypto_x25519(a, k, u) == 0);
	/* 9 + p = 2^255 - 10: f6 ff .. ff 7f */
	memset(u, 0xff, sizeof(u));
	u[0] = 0xf6;
	u[31] = 0x7f;
	CHECK(crypto_x25519(b, k, u) == 0);
	CHECK(memcmp(a, b, 32) == 0);
	crypto_x25519_base(b, k);
	CHECK(memcmp(a, b, 32) == 0);
}

static void
test_keypair(void)
{
	uint8_t		 pub[32], priv[32], pub2[32], priv2[32], chk[32];

	CHECK(crypto_keypair(pub, priv) == 0);
	CHECK(crypto_keypair(pub2, priv2) == 0);
	crypto_x25519_base(chk, priv);
	CHECK(memcmp(chk, pub, 32) == 0);
	CHECK(memcmp(priv, priv2, 32) != 0);
	CHECK(memcmp(pub, pub2, 32) != 0);
	/* a DH both ways */
	CHECK(crypto_x25519(chk, priv, pub2) == 0);
	CHECK(crypto_x25519(pub, priv2, pub) == 0);
	CHECK(memcmp(chk, pub, 32) == 0);
}

/* RFC 7693 Appendix B */
static void
test_blake2s_abc(void)
{
	uint8_t		 d[32];

	CHECK(crypto_blake2s(d, 32, NULL, 0, "abc", 3) == 0);
	CHECK(eqhex(d, 32, "508c5e8c327c14e2e1a72ba34eeb452f"
	    "37458b209ed63a294d999b4c86675982"));
	CHECK(crypto_blake2s(d, 32, NULL, 0, "", 0) == 0);
	CHECK(eqhex(d, 32, "69217a3079908094e11121d042354a7c"
	    "1f55b6482ca1a51e1b250dfd1ed0eef9"));
}

/* RFC 7693 Appendix E: the generator of its self-test. */
static void
selftest_seq(uint8_t *out, size_t len, uint32_t seed)
{
	uint32_t	 t, a = 0xdead4bad * seed, b = 1;
	size_t		 i;

	for (i = 0; i < len; i++) {
		t = a + b;
		a = b;
		b = t;
		out[i] = (uint8_t)(t >> 24);
	}
}

static void
test_blake2s_selftest(void)
{
	static const size_t	 md_len[4] = { 16, 20, 28, 32 };
	static const size_t	 in_len[6] = { 0, 3, 64, 65, 255, 1024 };
	struct crypto_blake2s	 ctx;
	uint8_t			 in[1024], md[32], key[32];
	size_t			 i, j;

	CHECK(crypto_blake2s_init(&ctx, 32, NULL, 0) == 0);
	for (i = 0; i < 4; i++) {
		for (j = 0; j < 6; j++) {
			selftest_seq(in, in_len[j], (uint32_t)in_len[j]);
			CHECK(crypto_blake2s(md, md_len[i], NULL, 0, in,
			    in_len[j]) == 0);
			crypto_blake2s_update(&ctx, md, md_len[i]);
			selftest_seq(key, md_len[i], (uint32_t)md_len[i]);
			CHECK(crypto_blake2s(md, md_len[i], key, md_len[i], in,
			    in_len[j]) == 0);
			crypto_blake2s_update(&ctx, md, md_len[i]);
		}
	}
	crypto_blake2s_final(&ctx, md);
	CHECK(eqhex(md, 32, "6a411f08ce25adcdfb02aba641451cec"
	    "53c598b24f4fc787fbdc88797f4c1dfe"));
}

/*
 * Keyed: the first keyed entry of the BLAKE2 reference test vectors
 * (blake2s-kat.txt: key 00..1f, empty input); incremental in pieces of
 * every size equals one-shot, with and without a key; bad sizes refused.
 */
static void
test_blake2s_keyed_incremental(void)
{
	struct crypto_blake2s	 b;
	uint8_t			 key[32], msg[300], want[32], d[32];
	size_t			 len, step, off, n, i;

	for (i = 0; i < 32; i++)
		key[i] = (uint8_t)i;
	CHECK(crypto_blake2s(d, 32, key, 32, "", 0) == 0);
	CHECK(eqhex(d, 32, "48a8997da407876b3d79c0d92325ad3b"
	    "89cbb754d86ab71aee047ad345fd2c49"));
	for (i = 0; i < sizeof(msg); i++)
		msg[i] = (uint8_t)(i * 3);
	for (len = 0; len < sizeof(msg); len += 7) {
		for (i = 0; i < 2; i++) {
			crypto_blake2s(want, 32, i ? key : NULL, i ? 32 : 0,
			    msg, len);
			for (step = 1; step < 70; step += 11) {
				crypto_blake2s_init(&b, 32, i ? key : NULL,
				    i ? 32 : 0);
				for (off = 0; off < len; off += n) {
					n = len - off < step ? len - off : step;
					crypto_blake2s_update(&b, msg + off, n);
				}
				crypto_blake2s_final(&b, d);
				CHECK(memcmp(d, want, 32) == 0);
			}
		}
	}
	CHECK(crypto_blake2s_init(&b, 0, NULL, 0) == -1);
	CHECK(crypto_blake2s_init(&b, 33, NULL, 0) == -1);
	CHECK(crypto_blake2s_init(&b, 32, key, 33) == -1);
	CHECK(crypto_blake2s_init(&b, 32, NULL, 5) == -1);
}

/* HMAC: a key longer than the block is hashed first (RFC 2104). */
static void
test_hmac_long_key(void)
{
	uint8_t		 key[100], hk[32], a[32], b[32];
	size_t		 i;

	for (i = 0; i < sizeof(key); i++)
		key[i] = (uint8_t)i;
	crypto_hmac_blake2s(a, key, sizeof(key), (const uint8_t *)"m", 1);
	crypto_blake2s(hk, 32, NULL, 0, key, sizeof(key));
	crypto_hmac_blake2s(b, hk, 32, (const uint8_t *)"m", 1);
	CHECK(memcmp(a, b, 32) == 0);
	/* HKDF outputs may alias the chaining key */
	crypto_hkdf2(a, b, hk, key, 10);
	crypto_hkdf3(hk, key, key + 32, hk, key, 10);
	CHECK(memcmp(hk, a, 32) == 0);
	CHECK(memcmp(key, b, 32) == 0);
}

static void
test_memeq(void)
{
	uint8_t		 a[64], b[64];
	size_t		 i;

	for (i = 0; i < 64; i++)
		a[i] = b[i] = (uint8_t)i;
	CHECK(crypto_memeq(a, b, 64) == 1);
	CHECK(crypto_memeq(a, b, 0) == 1);
	for (i = 0; i < 64; i++) {
		b[i] ^= 0x80;
		CHECK(crypto_memeq(a, b, 64) == 0);
		b[i] ^= 0x81;
		CHECK(crypto_memeq(a, b, 64) == 0);
		b[i] ^= 0x01;
	}
}

int
main(void)
{
	find_levels();
	printf("# vector levels:");
	for (int i = 0; i < nlevels; i++)
		printf(" %s", crypto_impl_name(levels[i]));
	printf("\n");
	RUN(test_qround_2_1_1);
	RUN(test_qround_2_2_1);
	RUN(test_block_2_3_2);
	RUN(test_chacha_2_4_2);
	RUN(test_chacha_a1);
	RUN(test_chacha_a2);
	RUN(test_chacha_levels_agree);
	RUN(test_poly1305_2_5_2);
	RUN(test_poly1305_a3);
	RUN(test_poly1305_incremental);
	RUN(test_keygen_2_6_2_and_a4);
	RUN(test_aead_2_8_2);
	RUN(test_aead_a5);
	RUN(test_aead_empty);
	RUN(test_aead_nonce);
	RUN(test_x25519_5_2);
	RUN(test_x25519_iterated);
	RUN(test_x25519_6_1);
	RUN(test_x25519_low_order);
	RUN(test_x25519_non_canonical);
	RUN(test_keypair);
	RUN(test_blake2s_abc);
	RUN(test_blake2s_selftest);
	RUN(test_blake2s_keyed_incremental);
	RUN(test_hmac_long_key);
	RUN(test_memeq);
	UNIT_END();
}
