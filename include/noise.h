/*
 * noise: the Noise Protocol Framework (noiseprotocol.org, revision 34) for
 * relay's encrypted sessions, and the record layer the session runs in.
 *
 * Two protocols, one suite (25519, ChaChaPoly, BLAKE2s):
 *
 *	Noise_IK_25519_ChaChaPoly_BLAKE2s	backends with their own static
 *	    <- s				keys; the backend (initiator)
 *	    ...					pins the relay's static public
 *	    -> e, es, s, ss			key, the relay (responder)
 *	    <- e, ee, se			learns the backend's from
 *						message 1
 *	Noise_NNpsk0_25519_ChaChaPoly_BLAKE2s	one shared secret (the PSK,
 *	    -> psk, e				keys_psk() of --secret-file)
 *	    <- e, ee
 *
 * Sans-I/O: nothing here reads, writes, allocates or logs.  All state lives
 * in the caller's structs; every secret in them is wiped by noise_*_wipe,
 * on every error of a handshake or of a record stream, and as soon as it
 * is no longer needed (noise_hs_split leaves only public values in the
 * handshake state).  noise_hs_init copies the keys it is given: the
 * caller's own copies are the caller's to wipe.
 *
 * Constant time: all work on secrets is done by crypto.h's primitives;
 * this file decides only on public values (lengths, the state machine)
 * and on two verdicts that are public by design, whether a DH result was
 * all zeros and whether a tag verified (both declassified, see crypto.h).
 *
 * An IK responder need not hold its static private key: it may get the
 * public key and a callback that returns DH(s_priv, remote_pub).  Message
 * 1 calls it twice: es (with the initiator's ephemeral key), then ss (with
 * the initiator's static key, after decrypting it).  The relay does not
 * use this: its master runs the whole responder side itself (hs.h), since
 * a worker holding a DH oracle could complete a handshake it replayed.
 *
 * Wire lengths.  A handshake message is at most NOISE_MSG_MAX bytes:
 *	IK message 1	96 + payload	(e 32, s 32+16, payload+16)
 *	IK message 2	48 + payload	(e 32, payload+16)
 *	NNpsk0 1 and 2	48 + payload
 * How handshake messages are framed on the wire is the caller's business
 * (a 2-byte big-endian length, like the records below, is the usual way).
 *
 * THE RECORD LAYER (ours, not Noise's).  After the handshake each
 * direction of the byte stream is a sequence of records:
 *
 *	+--------+--------+-------------------------------------------+
 *	|   L (16 bits, big-endian)  | L bytes: ChaChaPoly ciphertext  |
 *	+--------+--------+-------------------------------------------+
 *
 * with 17 <= L <= 65535: L - 16 >= 1 bytes of plaintext, then the 16-byte
 * tag.  AD is empty; the nonce is the direction's cipher-state counter
 * (Noise's nonce encoding: 4 zero bytes, 64-bit counter little-endian), so
 * one record is one nonce, starting at 0 after the split.  After every
 * NOISE_REKEY_RECORDS records each direction rekeys (Noise's Rekey(): k =
 * the first 32 bytes of ENCRYPT(k, 2^64 - 1, empty, 32 zero bytes)) and
 * its counter carries on; both ends count the same records, so no
 * signalling is needed.  Precisely: the record sent with nonce n is
 * followed by a rekey when (n + 1) is a multiple of the interval.  An empty
 * record (L = 16) is refused: it carries nothing and would only let a peer
 * spin the receiver.  A bad length or tag ends the stream: the receiver
 * stays failed and the caller closes the session.
 */
#ifndef RELAY_NOISE_H
#define RELAY_NOISE_H

#include <sys/types.h>

#include <stddef.h>
#include <stdint.h>

#include "crypto.h"

#define NOISE_KEY_LEN		32	/* DHLEN, HASHLEN, a cipher key */
#define NOISE_TAG_LEN		16
#define NOISE_MSG_MAX		65535	/* a handshake message */
#define NOISE_REC_HDR		2
#define NOISE_REC_MAX		65535	/* L: ciphertext and tag */
#define NOISE_REC_PT_MAX	(NOISE_REC_MAX - NOISE_TAG_LEN)	/* 65519 */
#define NOISE_REC_OVERHEAD	(NOISE_REC_HDR + NOISE_TAG_LEN)	/* 18 */
#define NOISE_REKEY_RECORDS	(UINT64_C(1) << 20)

/*
 * Errors (negative; noise_strerror names them).  A failed handshake or
 * record stream stays failed: every later call returns NOISE_ERR_STATE.
 *	MALFORMED	a message of the wrong length for its place
 *	AUTH		decryption failed: the static key or a payload did not
 *			authenticate.  For an IK initiator reading message 2
 *			(and an IK responder reading message 1) this is what
 *			a wrong pinned key looks like: "the relay's key is
 *			not the one you pinned"; for NNpsk0, a wrong PSK.
 *	DH		a Diffie-Hellman result was all zeros (a low-order
 *			public key from the peer), or the DH callback failed
 *	STATE		out of turn, after a failure, or split too early
 *	SPACE		the caller's buffer is too small (nothing changed:
 *			the call may be repeated with a bigger buffer)
 *	RANDOM		getrandom(2) failed while making an ephemeral key
 *	NONCE		the cipher state's nonce is exhausted (2^64 - 1)
 *	ARG		a bad argument (a missing key, a length out of range)
 */
#define NOISE_OK		0
#define NOISE_ERR_MALFORMED	(-1)
#define NOISE_ERR_AUTH		(-2)
#define NOISE_ERR_DH		(-3)
#define NOISE_ERR_STATE		(-4)
#define NOISE_ERR_SPACE		(-5)
#define NOISE_ERR_RANDOM	(-6)
#define NOISE_ERR_NONCE		(-7)
#define NOISE_ERR_ARG		(-8)

const char	*noise_strerror(int);

/*
 * A cipher state (section 5.1).  cs_n is the next nonce.  cs_rekey is the
 * record layer's interval (records between rekeys, 0 = never); only tests
 * change it (noise_cs_set_rekey), and both ends must agree.
 */
struct noise_cs {
	uint8_t		 cs_k[NOISE_KEY_LEN];
	uint64_t	 cs_n;
	uint64_t	 cs_rekey;
	int		 cs_haskey;
};

/*
 * EncryptWithAd / DecryptWithAd.  encrypt writes len + 16 bytes; decrypt
 * reads len >= 16 bytes and writes len - 16 (with no key, both copy len
 * bytes unchanged).  out == in is allowed.  0, or NOISE_ERR_NONCE when the
 * nonce would be 2^64 - 1 (reserved), NOISE_ERR_MALFORMED for a ciphertext
 * shorter than a tag, NOISE_ERR_AUTH on a bad tag (out is then zeroed and
 * the nonce not advanced, as section 5.1 says).
 */
int	 noise_cs_encrypt(struct noise_cs *, const uint8_t *ad, size_t adlen,
	    const uint8_t *in, size_t len, uint8_t *out);
int	 noise_cs_decrypt(struct noise_cs *, const uint8_t *ad, size_t adlen,
	    const uint8_t *in, size_t len, uint8_t *out);
void	 noise_cs_rekey(struct noise_cs *);
/* For tests: rekey every n records instead of NOISE_REKEY_RECORDS. */
void	 noise_cs_set_rekey(struct noise_cs *, uint64_t n);
void	 noise_cs_wipe(struct noise_cs *);

/* The handshake. */

#define NOISE_IK		1
#define NOISE_NNPSK0		2
#define NOISE_INITIATOR		1
#define NOISE_RESPONDER		2

/* DH(s_priv, remote_pub) into out: 0, or -1 (fails the handshake). */
typedef int	 noise_dh_fn(void *arg, uint8_t out[NOISE_KEY_LEN],
		    const uint8_t remote_pub[NOISE_KEY_LEN]);

/*
 * What noise_hs_init needs.  IK initiator: s_priv and rs.  IK responder:
 * s_priv, or s_pub with dh (and dh_arg).  NNpsk0: psk, both roles.  Fields
 * a role does not use must be NULL.  The prologue (may be empty) must be
 * the same at both ends; it binds whatever preceded the handshake.
 */
struct noise_config {
	int		 nc_pattern;		/* NOISE_IK, NOISE_NNPSK0 */
	int		 nc_role;		/* NOISE_INITIATOR, ... */
	const uint8_t	*nc_prologue;
	size_t		 nc_prologue_len;
	const uint8_t	*nc_s_priv;		/* local static private key */
	const uint8_t	*nc_s_pub;		/* with nc_dh instead */
	noise_dh_fn	*nc_dh;
	void		*nc_dh_arg;
	const uint8_t	*nc_rs;			/* remote static (pinned) */
	const uint8_t	*nc_psk;		/* 32 bytes */
};

struct noise_hs {
	/* the symmetric state (section 5.2) */
	uint8_t		 hs_ck[NOISE_KEY_LEN];
	uint8_t		 hs_h[NOISE_KEY_LEN];
	struct noise_cs	 hs_cs;
	/* keys (section 5.3) */
	uint8_t		 hs_s_priv[NOISE_KEY_LEN];
	uint8_t		 hs_s_pub[NOISE_KEY_LEN];
	uint8_t		 hs_e_priv[NOISE_KEY_LEN];
	uint8_t		 hs_e_pub[NOISE_KEY_LEN];
	uint8_t		 hs_rs[NOISE_KEY_LEN];
	uint8_t		 hs_re[NOISE_KEY_LEN];
	uint8_t		 hs_psk[NOISE_KEY_LEN];
	noise_dh_fn	*hs_dh;
	void		*hs_dh_arg;
	int		 hs_has_s_priv, hs_has_rs, hs_has_e;
	int		 hs_pattern, hs_role;
	int		 hs_msg;		/* messages done so far */
	int		 hs_state;		/* private */
};

/*
 * 0, or NOISE_ERR_ARG for a configuration its role cannot run (the state
 * is then wiped).  Initialises the symmetric state with the protocol
 * name, mixes the prologue and, for IK, the responder's static key.
 */
int	 noise_hs_init(struct noise_hs *, const struct noise_config *);
/* Test vectors: use this ephemeral key instead of a random one. */
int	 noise_hs_set_ephemeral(struct noise_hs *,
	    const uint8_t priv[NOISE_KEY_LEN]);

/*
 * What the handshake needs next: NOISE_WRITE (call noise_hs_write),
 * NOISE_READ (noise_hs_read), NOISE_SPLIT (complete: call noise_hs_split)
 * or NOISE_FAILED.  After a split: NOISE_DONE.
 */
#define NOISE_WRITE		1
#define NOISE_READ		2
#define NOISE_SPLIT		3
#define NOISE_DONE		4
#define NOISE_FAILED		5
int	 noise_hs_next(const struct noise_hs *);

/*
 * WriteMessage: the next message with `payload` (len bytes, may be 0) in
 * out (cap bytes); *outlen its length.  ReadMessage: msg (len bytes) in,
 * its payload out into payload (cap bytes), *plen its length.  0 or a
 * NOISE_ERR_*; on any error but SPACE the handshake has failed and its
 * secrets are wiped.
 */
int	 noise_hs_write(struct noise_hs *, const uint8_t *payload, size_t len,
	    uint8_t *out, size_t cap, size_t *outlen);
int	 noise_hs_read(struct noise_hs *, const uint8_t *msg, size_t len,
	    uint8_t *payload, size_t cap, size_t *plen);

/*
 * The remote static key: the pinned one for an IK initiator, the one
 * learned from message 1 for an IK responder (readable as soon as message
 * 1 was read, so the caller can look it up before answering), NULL
 * otherwise.  Valid until noise_hs_wipe.
 */
const uint8_t	*noise_hs_remote_static(const struct noise_hs *);

/*
 * Split (section 5.2) once noise_hs_next() is NOISE_SPLIT: the cipher
 * state for what this side sends and the one for what it receives (the
 * initiator sends with the first).  Both get the product's rekey interval.
 * The handshake state keeps only the handshake hash and the public keys.
 * 0, or NOISE_ERR_STATE.
 */
int	 noise_hs_split(struct noise_hs *, struct noise_cs *send,
	    struct noise_cs *recv);
/* h after the last message: the same at both ends (channel binding). */
int	 noise_hs_handshake_hash(const struct noise_hs *,
	    uint8_t out[NOISE_KEY_LEN]);
void	 noise_hs_wipe(struct noise_hs *);

/*
 * Records (the format above).  noise_rec_seal encrypts len bytes (1..
 * NOISE_REC_PT_MAX) of pt into out, which must have room for NOISE_REC_HDR
 * + len + NOISE_TAG_LEN bytes, and returns that count; 0 (nothing written)
 * for a bad len or an exhausted nonce.  pt == out + NOISE_REC_HDR is
 * allowed (seal in place: leave two bytes in front of the plaintext).
 */
size_t	 noise_rec_seal(struct noise_cs *, const uint8_t *pt, size_t len,
	    uint8_t *out);

/*
 * The receiving side: a cipher state and at most one partial record.
 * noise_rec_rx_init takes over *cs (which it wipes).
 *
 * noise_rec_open consumes ciphertext from in (len bytes, split anywhere)
 * until it completes one record or runs out, and returns how many bytes
 * it consumed; when a record completed, *pt and *ptlen are its plaintext
 * (valid until the next call on rx, and while `in` is unchanged), else
 * *pt is NULL and *ptlen 0 (then it consumed all of len).  Call it again
 * with the rest of the input until all of it is consumed.  -1 on a bad
 * length or tag (and from then on).
 *
 * No copy when a whole record lies in the input: it is authenticated and
 * decrypted IN PLACE, so `in` must be writable and its bytes of that
 * record are overwritten (the plaintext is then in[2 .. L-16+2) of the
 * record).  Only a record that arrives in pieces is assembled in rx's own
 * buffer (at most one record, NOISE_REC_HDR + NOISE_REC_MAX bytes).
 */
struct noise_rec_rx {
	struct noise_cs	 rx_cs;
	size_t		 rx_have;		/* bytes in rx_buf */
	size_t		 rx_need;		/* record size, 0 until known */
	int		 rx_failed;
	uint8_t		 rx_buf[NOISE_REC_HDR + NOISE_REC_MAX];
};

void	 noise_rec_rx_init(struct noise_rec_rx *, struct noise_cs *);
ssize_t	 noise_rec_open(struct noise_rec_rx *, uint8_t *in, size_t len,
	    const uint8_t **pt, size_t *ptlen);
void	 noise_rec_rx_wipe(struct noise_rec_rx *);

#endif /* RELAY_NOISE_H */
