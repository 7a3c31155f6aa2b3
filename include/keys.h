/*
 * keys: the encodings and files of relay's static keys.
 *
 * A key (X25519 private or public) is 32 bytes, written as standard
 * base64 with padding: 44 characters, the last one '=', like WireGuard's.
 * Only the canonical spelling is accepted (the unused low bits of the 43rd
 * character must be zero), so a key has exactly one text form.
 *
 * A private key file holds that one line and a newline, nothing else; it
 * must be a regular file (opened with O_NOFOLLOW: not a symbolic link),
 * owned by the effective uid, and neither readable nor writable by group
 * or others.  relaykey(1) writes such files.
 *
 * The authorized-keys file binds each backend's public key to what it may
 * register.  One line per key:
 *
 *	PUBLICKEY [name=NAME]... [port=N | ports=LO-HI] [# comment]
 *
 * Fields are separated by spaces or tabs.  Blank lines, and lines whose
 * first non-blank character is '#', are ignored; a field starting with '#'
 * starts a comment to the end of the line.  NAME follows the hello's rules
 * (1..63 of A-Za-z0-9._-) or is '*': any name that no other line lists.
 * A key with no name= at all may register only unnamed backends; a key
 * with names may register only with one of them (or, with '*', a name no
 * other key lists), never unnamed.  port= or ports= (at most one of them,
 * once; absent: any port) limits the tunnel ports it may ask for or be
 * given.  Refused, as "FILE:LINE: reason": a bad key, a key on two lines,
 * a name listed by two keys (or twice by one), an unknown field, a bad
 * name or number, a second port field, a NUL byte.
 *
 * Constant time: the base64 of private keys maps characters to values with
 * arithmetic on masks (no table indexed by a secret, no branch on one) and
 * decides validity once, at the end.  Public keys and the authorized-keys
 * file are not secret: their lookups are ordinary binary searches.
 */
#ifndef RELAY_KEYS_H
#define RELAY_KEYS_H

#include <stddef.h>
#include <stdint.h>

#define KEYS_LEN		32
#define KEYS_B64_LEN		44	/* characters, without a NUL */
#define KEYS_FP_PREFIX		"SHA256:"
#define KEYS_FP_LEN		(7 + 43)	/* "SHA256:", base64 */
#define KEYS_ERR_MAX		256	/* a big enough reason buffer */
#define KEYS_NAME_MAX		63
#define KEYS_AUTH_FILE_MAX	(8 * 1024 * 1024)	/* bytes */

/*
 * Base64 of exactly 32 bytes.  encode writes 44 characters and a NUL.
 * decode takes exactly len == 44 characters (no NUL needed) and returns 0,
 * or -1 for anything else, after looking at all of them (its time depends
 * on len only); on -1 key is zeroed.
 */
void	 keys_b64_encode(char out[KEYS_B64_LEN + 1],
	    const uint8_t key[KEYS_LEN]);
int	 keys_b64_decode(uint8_t key[KEYS_LEN], const char *s, size_t len);

/* "SHA256:" + unpadded base64 of SHA-256(pub), and a NUL (like SSH's). */
void	 keys_fingerprint(char out[KEYS_FP_LEN + 1],
	    const uint8_t pub[KEYS_LEN]);

/*
 * Private key files.  load: 0, or -1 with why (whylen bytes) holding a
 * one-line reason that names the file ("key file F must not be accessible
 * by group or others (chmod 600)"); priv is zeroed on failure and every
 * buffer that held the key is wiped.  write creates path with mode 0600
 * (O_CREAT | O_EXCL | O_NOFOLLOW: never an existing file or a link),
 * writes the key line and syncs it: 0, or -1 with why (and no file left).
 */
int	 keys_load_private(const char *path, uint8_t priv[KEYS_LEN],
	    char *why, size_t whylen);
int	 keys_write_private(const char *path, const uint8_t priv[KEYS_LEN],
	    char *why, size_t whylen);

/*
 * The PSK of the shared-secret mode: BLAKE2s-256("relay-psk-1" || secret)
 * over the bytes auth_load_secret() returns for --secret-file.
 */
#define KEYS_PSK_LABEL		"relay-psk-1"
void	 keys_psk(uint8_t psk[KEYS_LEN], const uint8_t *secret, size_t len);

/*
 * The authorized-keys file, parsed.  Plain data, no global state: the
 * relay parses the file again on SIGHUP into a new struct and keeps the
 * old one if that fails.
 */
struct keys_auth_entry {
	uint8_t		 ke_key[KEYS_LEN];
	unsigned	 ke_line;
	unsigned	 ke_port_lo;	/* 0: any port */
	unsigned	 ke_port_hi;
	unsigned	 ke_nnames;	/* name= fields other than '*' */
	int		 ke_any_name;	/* name=* */
};

struct keys_auth_name {
	char		 kn_name[KEYS_NAME_MAX + 1];
	uint8_t		 kn_key[KEYS_LEN];	/* the one key listing it */
	unsigned	 kn_line;
};

struct keys_auth {
	struct keys_auth_entry	*ka_ent;	/* sorted by key */
	size_t			 ka_nent;
	struct keys_auth_name	*ka_names;	/* sorted by name */
	size_t			 ka_nnames;
};

/*
 * parse: the text (len bytes, need not end in a newline or a NUL) of a
 * file that error messages call fname.  load: read path (a regular file
 * of at most KEYS_AUTH_FILE_MAX bytes that group and others cannot write)
 * and parse it.  Both return a new struct, or NULL with err (errlen
 * bytes) holding "FILE:LINE: reason" (or "FILE: reason").  free takes
 * NULL.
 */
struct keys_auth *keys_auth_parse(const char *text, size_t len,
	    const char *fname, char *err, size_t errlen);
struct keys_auth *keys_auth_load(const char *path, char *err, size_t errlen);
void	 keys_auth_free(struct keys_auth *);

/* The line that lists this name (not "*"), or NULL. */
const struct keys_auth_name *keys_auth_name(const struct keys_auth *,
	    const char *name);

/* The entry of a public key, or NULL. */
const struct keys_auth_entry *keys_auth_find(const struct keys_auth *,
	    const uint8_t pub[KEYS_LEN]);

/*
 * May key pub register under name (NULL or "" for an unnamed backend; any
 * other name must pass hello_name_ok, so never "*") and ask for tunnel
 * port `port` (0: no particular port)?  1 yes; 0 no, with
 * *why one of "key not authorized", "name not allowed for this key", "this
 * key may only register with a name", "port not allowed for this key".
 * With port 0 and an entry with a port range, the caller must choose the
 * port within [ke_port_lo, ke_port_hi] (keys_auth_find).
 */
int	 keys_auth_permit(const struct keys_auth *, const uint8_t pub[KEYS_LEN],
	    const char *name, unsigned port, const char **why);

#endif /* RELAY_KEYS_H */
