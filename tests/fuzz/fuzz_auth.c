/*
 * fuzz_auth: the parts of auth that see bytes from the network, and
 * SHA-256's buffering.  Each input is used three ways:
 *  (a) as hex for auth_unhex: it decodes exactly when it is lowercase hex
 *      of even length, and then re-encodes to the same text;
 *  (b) as the first 32 bytes a nonce, the rest a MAC, for auth_verify with
 *      a fixed secret: it accepts exactly the true MAC of a well-formed
 *      nonce, and a true MAC over any name (the rest again) verifies;
 *  (c) as data for SHA-256, streamed in three pieces cut where the data
 *      says, which must equal the one-shot digest.
 * Any disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"

static const uint8_t	 secret[] = "s3cret";
#define SLEN		 (sizeof(secret) - 1)
#define TS		 1700000000ULL

static int
is_lower_hex(const uint8_t *p, size_t n)
{
	size_t	 i;

	if (n % 2 != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') ||
		    (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

static void
fuzz_unhex(const uint8_t *data, size_t size)
{
	uint8_t	*out;
	char	*hex;
	int	 r;

	/* Exactly size / 2 bytes, so ASan sees any write past the end. */
	if ((out = malloc(size / 2 + 1)) == NULL)
		abort();
	r = auth_unhex((const char *)data, size, out);
	if ((r >= 0) != is_lower_hex(data, size))
		abort();
	if (r >= 0) {
		if ((size_t)r != size / 2 || (hex = malloc(size + 1)) == NULL)
			abort();
		auth_hex(out, r, hex);
		if (memcmp(hex, data, size) != 0)
			abort();
		free(hex);
	}
	free(out);
}

static void
fuzz_verify(const uint8_t *data, size_t size)
{
	char		*nonce, *rest, want[AUTH_MAC_HEX + 1];
	size_t		 nlen = size < AUTH_NONCE_HEX ? size : AUTH_NONCE_HEX;
	unsigned	 port;
	int		 ok, good_nonce;

	/* As C strings, cut at the first NUL the way a hello would be. */
	if ((nonce = calloc(1, nlen + 1)) == NULL ||
	    (rest = calloc(1, size - nlen + 1)) == NULL)
		abort();
	memcpy(nonce, data, nlen);
	memcpy(rest, data + nlen, size - nlen);
	good_nonce = strlen(nonce) == AUTH_NONCE_HEX &&
	    is_lower_hex((const uint8_t *)nonce, AUTH_NONCE_HEX);

	ok = auth_verify(secret, SLEN, TS, nonce, "web-1", 9005, rest);
	auth_sign(secret, SLEN, TS, nonce, "web-1", 9005, want);
	if (ok != (good_nonce && strcmp(rest, want) == 0))
		abort();

	/* The true MAC over an arbitrary name and port verifies. */
	port = size > 0 ? data[size - 1] * 257U : 0;
	auth_sign(secret, SLEN, TS + size, nonce, rest, port, want);
	if (auth_verify(secret, SLEN, TS + size, nonce, rest, port, want) !=
	    good_nonce)
		abort();
	free(nonce);
	free(rest);
}

static void
fuzz_sha256(const uint8_t *data, size_t size)
{
	struct sha256_ctx	 c;
	uint8_t			 one[SHA256_LEN], streamed[SHA256_LEN];
	size_t			 a = 0, b = 0;

	if (size >= 2) {
		a = (data[0] | (size_t)data[1] << 8) % (size + 1);
		b = a + (data[size - 1] * 31U) % (size - a + 1);
	}
	sha256(data, size, one);
	sha256_init(&c);
	sha256_update(&c, data, a);
	sha256_update(&c, data + a, b - a);
	sha256_update(&c, data + b, size - b);
	sha256_final(&c, streamed);
	if (memcmp(one, streamed, sizeof(one)) != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_unhex(data, size);
	fuzz_verify(data, size);
	fuzz_sha256(data, size);
	return 0;
}
