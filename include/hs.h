/*
 * hs: the encrypted session's preamble and handshake (docs/PROTOCOL.md,
 * "Encrypted sessions").  noise.h does the cryptography; this file frames
 * its messages on the backend's connection:
 *
 *	backend -> relay	preamble (8) | len (2, BE) | message 1
 *	relay -> backend	len (2, BE) | message 2	(accepted, or
 *				"error: ..." in its payload: refused)
 *			or	00 00 [relay's static public key, IK]
 *				(message 1 did not authenticate)
 *
 * then records both ways (noise.h).  The preamble is the Noise prologue.
 *
 * The relay's side runs in the master, which alone holds the relay's key
 * and secret (hs_respond); the worker only carries the bytes.  The master
 * also opens the backend's first record (hs_confirm) before the session
 * counts as the key's and the worker gets the session's keys.  The
 * backend's side is hs_initiate, on a blocking deadline: a backend has
 * nothing else to do before its session is up.
 */
#ifndef RELAY_HS_H
#define RELAY_HS_H

#include <stddef.h>
#include <stdint.h>

#include "noise.h"

#define HS_PREAMBLE_LEN		8
#define HS_PREAMBLE_IK		"RELAYIK1"	/* Noise_IK_25519_... */
#define HS_PREAMBLE_PSK		"RELAYNP1"	/* Noise_NNpsk0_25519_... */
#define HS_PAYLOAD_MAX		64	/* message 1's, ignored */
#define HS_MSG1_MAX		(96 + HS_PAYLOAD_MAX)
#define HS_ERR_MAX		120	/* "error: ..." in message 2 */
#define HS_REPLY_MAX		(2 + 48 + HS_ERR_MAX + NOISE_TAG_LEN)
/*
 * The backend's first record (its hello), framed: the relay's master
 * opens it itself before it takes the session as the key's, so that a
 * replayed message 1 (which gets a fresh message 2 no replayer can use)
 * never binds anything.
 */
#define HS_REC1_MAX		(NOISE_REC_HDR + 12 + 512 + 64 + NOISE_TAG_LEN)

/* Which handshake the 8 bytes announce: HS_IK, HS_PSK, or 0. */
#define HS_IK			1
#define HS_PSK			2
int	 hs_kind(const uint8_t pre[HS_PREAMBLE_LEN]);

/* Verdicts of hs_respond (the same values as PROC_HS_*). */
#define HS_OK			1
#define HS_REFUSED		2
#define HS_BAD			3

/*
 * May this backend key have a session?  NULL yes, or a reason (for
 * "error: REASON" and the log).
 */
typedef const char *hs_check_fn(void *arg, const uint8_t pub[32]);

/*
 * The relay's answer to message 1 (len bytes) of a handshake of the given
 * kind: its reply in out (up to HS_REPLY_MAX bytes, *outlen), and with
 * HS_OK the transport keys (keys[0..31] what the relay sends with,
 * keys[32..63] what it receives with) and, for IK, the backend's static
 * key in rs.  s_priv and s_pub (IK) or psk (PSK) must be set for the kind
 * (NULL: the relay does not take that kind: HS_BAD with an empty reply).
 * For IK, check decides whether the key may have a session.  Everything
 * secret on the way is wiped.
 */
int	 hs_respond(int kind, const uint8_t *s_priv, const uint8_t *s_pub,
	    const uint8_t *psk, hs_check_fn *check, void *arg,
	    const uint8_t *msg1, size_t len, uint8_t *out, size_t *outlen,
	    uint8_t keys[64], uint8_t rs[32], const char **why);

/*
 * Open the backend's first record (rec, len bytes, framed) with the receive
 * key of hs_respond.  The plaintext goes to pt (up to HS_REC1_MAX bytes,
 * *ptlen).  0, or -1 when it is not exactly one record that opens.
 */
int	 hs_confirm(const uint8_t rxkey[32], const uint8_t *rec, size_t len,
	    uint8_t *pt, size_t *ptlen);

/*
 * The backend's side on a connected blocking-or-not socket, within
 * timeout_ms: IK with s_priv and the pinned relay key rs, or PSK with psk.
 * 0 with *tx, *rx set; or
 *	HS_E_REFUSED	the relay refused: err is its reason
 *	HS_E_RELAYKEY	message 1 did not authenticate at the relay: for IK,
 *			relay_pub is the key the relay named (if it did:
 *			*has_relay_pub)
 *	HS_E_IO		the connection failed, timed out or spoke nonsense
 *			(err says how)
 */
#define HS_E_REFUSED		(-1)
#define HS_E_RELAYKEY		(-2)
#define HS_E_IO			(-3)
int	 hs_initiate(int fd, int kind, const uint8_t *s_priv,
	    const uint8_t *rs, const uint8_t *psk, unsigned timeout_ms,
	    struct noise_cs *tx, struct noise_cs *rx, uint8_t relay_pub[32],
	    int *has_relay_pub, char *err, size_t errlen);

#endif /* RELAY_HS_H */
