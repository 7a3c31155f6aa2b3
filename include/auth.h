/*
 * auth: proof that a registering backend knows the shared secret.
 *
 * relay --secret-file FILE and the backends' --secret-file FILE load the
 * same secret.  The secret never crosses the wire: the backend sends, in its
 * registration hello (hello.h), three extra fields
 *
 *	ts=<unix seconds, decimal>
 *	nonce=<32 lowercase hex digits: 16 fresh random bytes>
 *	mac=<64 lowercase hex digits>
 *
 * where mac is HMAC-SHA256(secret, m) over the canonical message
 *
 *	"relay-auth 1\n" ts "\n" nonce "\n" name "\n" port "\n"
 *
 * with ts and port in decimal without leading zeros (port 0 = any, name
 * empty when the hello has none).  The MAC binds the name and port, so a
 * captured hello cannot be replayed for another name or port, and the
 * nonce and timestamp make each hello good for one registration: the relay
 * refuses a timestamp outside now +- window and a nonce it has already seen
 * within the window (auth_replay_check).  The encoding is unambiguous: ts
 * and port are digits only, the nonce has a fixed length, and the name is
 * whatever lies between the nonce line and the last line.
 *
 * Order of checks on the relay: hello_parse, then auth_verify (in the
 * worker), then auth_replay_check (in the master, on the nonce and ts the
 * worker passes on).  Only a verified hello may enter the replay cache;
 * otherwise a stranger could fill it and push out live nonces.  Any failure
 * is reported to the peer and the log as "authentication failed", nothing
 * finer, and never with the secret or the MAC.
 */
#ifndef RELAY_AUTH_H
#define RELAY_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define AUTH_MAGIC		"relay-auth 1"
#define AUTH_SECRET_MAX		1024	/* bytes in a secret file */
#define AUTH_NONCE_LEN		16
#define AUTH_NONCE_HEX		(2 * AUTH_NONCE_LEN)	/* 32 */
#define AUTH_MAC_LEN		32
#define AUTH_MAC_HEX		(2 * AUTH_MAC_LEN)	/* 64 */
#define AUTH_WINDOW		120	/* seconds; suggested replay window */

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

/* HMAC-SHA256 (RFC 2104); keys longer than 64 bytes are hashed first. */
void	 hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg,
	    size_t len, uint8_t out[SHA256_LEN]);

/*
 * Primitives.  auth_equal compares n bytes in time that depends on n only
 * and returns 1 when they are equal.  auth_hex writes 2n lowercase digits
 * and a NUL.  auth_unhex decodes exactly hexlen lowercase digits into
 * hexlen / 2 bytes and returns that count, or -1 for an odd length or any
 * other character (after looking at every character: the time depends on
 * hexlen only).  Only lowercase is accepted so that every value has one
 * spelling on the wire, the one that was signed.
 */
int	 auth_equal(const uint8_t *, const uint8_t *, size_t);
void	 auth_hex(const uint8_t *, size_t, char *out);
int	 auth_unhex(const char *, size_t hexlen, uint8_t *out);
/* Fresh random bytes from getrandom(2); aborts if the kernel has none. */
void	 auth_nonce(uint8_t out[AUTH_NONCE_LEN]);

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

/*
 * The proof.  auth_sign writes 64 hex digits and a NUL into mac_hex.
 * auth_verify returns 1 only when nonce_hex is 32 lowercase hex digits,
 * mac_hex is 64, and mac_hex is the MAC of the other fields; 0 otherwise.
 * The MAC is compared in constant time, and a malformed mac_hex costs the
 * same as a wrong one.
 */
void	 auth_sign(const uint8_t *secret, size_t slen, uint64_t ts,
	    const char *nonce_hex, const char *name, unsigned port,
	    char mac_hex[AUTH_MAC_HEX + 1]);
int	 auth_verify(const uint8_t *secret, size_t slen, uint64_t ts,
	    const char *nonce_hex, const char *name, unsigned port,
	    const char *mac_hex);

/*
 * The replay cache: the nonces of the last AUTH_REPLAY_SLOTS verified
 * registrations.  Workers verify the proof, but one process per backend
 * could not share a cache without sharing memory that every worker can
 * write (a worker that wrote a lock word or a live pid there could wedge
 * every registration): so the master keeps the cache in its own memory.
 * The worker sends the verified hello's nonce and timestamp with its port
 * request, and the master calls auth_replay_check before it grants a port.
 *
 * Memory is fixed: a ring of entries in arrival order plus an open-
 * addressing index (twice as many buckets as entries, so a probe always
 * ends).  An entry is kept while its timestamp could still pass the window
 * check; older entries are dropped, and a full cache drops its oldest entry
 * even if it is still live (counted in ar_overflows).  That bounds memory,
 * but the cache only stops every replay if it can hold all registrations of
 * one window (4096 entries with a 120 s window: 34 registrations a second,
 * sustained).  Raise AUTH_REPLAY_SLOTS rather than the window if
 * ar_overflows moves.  One process only: there is no lock.
 */
#define AUTH_REPLAY_SLOTS	4096	/* entries; < 65536 (uint16_t index) */
#define AUTH_REPLAY_BUCKETS	(2 * AUTH_REPLAY_SLOTS)	/* power of two */

struct auth_replay_entry {
	uint8_t		 re_nonce[AUTH_NONCE_LEN];
	uint64_t	 re_ts;
	uint32_t	 re_used;	/* 0: a hole left by an early removal */
};

struct auth_replay {
	uint32_t	 ar_head;	/* next ring slot to fill */
	uint32_t	 ar_count;	/* ring slots in use, holes included */
	uint64_t	 ar_key;	/* keys the index hash */
	uint64_t	 ar_overflows;	/* live entries dropped: cache full */
	struct auth_replay_entry ar_ent[AUTH_REPLAY_SLOTS];
	uint16_t	 ar_index[AUTH_REPLAY_BUCKETS];	/* entry + 1, 0 free */
};

/* NULL with errno set if there is no memory. */
struct auth_replay *auth_replay_create(void);
void	 auth_replay_destroy(struct auth_replay *);
/*
 * 0 when ts lies within now +- window_s and the nonce is new (it is then
 * recorded); -1 with *why "timestamp outside the replay window" or
 * "replayed nonce".
 */
int	 auth_replay_check(struct auth_replay *, uint64_t now, uint64_t ts,
	    const uint8_t nonce[AUTH_NONCE_LEN], unsigned window_s,
	    const char **why);
/* Live entries pushed out by a full cache, for stats and logs. */
uint64_t auth_replay_overflows(const struct auth_replay *);

#endif /* RELAY_AUTH_H */
