/*
 * auth: the shared secret file and SHA-256.
 *
 * relay --secret-file FILE and the backends' --secret-file FILE load the
 * same secret with auth_load_secret; keys_psk (keys.h) turns it into the
 * PSK of the encrypted sessions (Noise NNpsk0, docs/PROTOCOL.md), so the
 * secret itself never crosses the wire.  SHA-256 is what the key
 * fingerprints ("SHA256:...", keys_fingerprint) hash.
 */
#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_SECRET_MAX		1024	/* bytes in a secret file */

/* SHA-256 (FIPS 180-4). */
#define SHA256_BLOCK		64
#define SHA256_LEN		32

struct sha256_ctx {
	uint32_t	 sc_h[8];
	uint64_t	 sc_bytes;		/* total fed so far */
	uint8_t		 sc_buf[SHA256_BLOCK];
	size_t		 sc_nbuf;		/* bytes pending in sc_buf */
};

void	 sha256_init(struct sha256_ctx *);
void	 sha256_update(struct sha256_ctx *, const void *, size_t);
/* Writes the digest and wipes the context. */
void	 sha256_final(struct sha256_ctx *, uint8_t out[SHA256_LEN]);
void	 sha256(const void *, size_t, uint8_t out[SHA256_LEN]);

/*
 * Read the secret from path into secret (cap bytes, AUTH_SECRET_MAX is the
 * intended cap), dropping one trailing "\n" or "\r\n".  Refuses anything
 * but a regular file, a file that group or others may read or write, a
 * file that belongs to neither this user nor root, an empty secret and
 * one longer than cap.  0, or -1 with a complete
 * message in *why ("secret file FILE must not be accessible by group or
 * others (chmod 600)"): it names the file, never the contents, and lives in
 * static storage until the next call.  On failure secret is wiped.
 */
int	 auth_load_secret(const char *path, uint8_t *secret, size_t cap,
	    size_t *len, const char **why);

#endif /* RELAY_AUTH_H */
