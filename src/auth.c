/*
 * auth: SHA-256, HMAC-SHA256, the registration proof and the master's replay
 * cache (see auth.h for the protocol).  No library beyond libc: the relay
 * must build on a bare C toolchain.  Nothing here logs; callers report
 * "authentication failed" and nothing that could help a guesser.
 */
#include <sys/types.h>
#include <sys/random.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

/* SHA-256, FIPS 180-4 section 6.2. */

static const uint32_t sha256_k[64] = {
	0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1,
	0x923f82a4, 0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3,
	0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786,
	0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
	0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147,
	0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13,
	0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
	0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
	0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a,
	0x5b9cca4f, 0x682e6ff3, 0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208,
	0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2
};

#define ROR(x, n)	(((x) >> (n)) | ((x) << (32 - (n))))

static uint32_t
load_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static void
store_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

static void
sha256_block(uint32_t h[8], const uint8_t *p)
{
	uint32_t	 w[64], a, b, c, d, e, f, g, hh, t1, t2;
	int		 i;

	for (i = 0; i < 16; i++)
		w[i] = load_be32(p + 4 * i);
	for (i = 16; i < 64; i++) {
		uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^
		    (w[i - 15] >> 3);
		uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^
		    (w[i - 2] >> 10);
		w[i] = w[i - 16] + s0 + w[i - 7] + s1;
	}
	a = h[0]; b = h[1]; c = h[2]; d = h[3];
	e = h[4]; f = h[5]; g = h[6]; hh = h[7];
	for (i = 0; i < 64; i++) {
		t1 = hh + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) +
		    ((e & f) ^ (~e & g)) + sha256_k[i] + w[i];
		t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) +
		    ((a & b) ^ (a & c) ^ (b & c));
		hh = g; g = f; f = e; e = d + t1;
		d = c; c = b; b = a; a = t1 + t2;
	}
	h[0] += a; h[1] += b; h[2] += c; h[3] += d;
	h[4] += e; h[5] += f; h[6] += g; h[7] += hh;
	/* The schedule holds key material when this hashes an HMAC pad. */
	explicit_bzero(w, sizeof(w));
}

void
sha256_init(struct sha256_ctx *c)
{
	static const uint32_t iv[8] = {
		0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
		0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19
	};

	memcpy(c->sc_h, iv, sizeof(iv));
	c->sc_bytes = 0;
	c->sc_nbuf = 0;
}

void
sha256_update(struct sha256_ctx *c, const void *data, size_t len)
{
	const uint8_t	*p = data;
	size_t		 n;

	c->sc_bytes += len;
	if (c->sc_nbuf > 0) {
		n = SHA256_BLOCK - c->sc_nbuf;
		if (n > len)
			n = len;
		memcpy(c->sc_buf + c->sc_nbuf, p, n);
		c->sc_nbuf += n;
		p += n;
		len -= n;
		if (c->sc_nbuf < SHA256_BLOCK)
			return;
		sha256_block(c->sc_h, c->sc_buf);
		c->sc_nbuf = 0;
	}
	for (; len >= SHA256_BLOCK; p += SHA256_BLOCK, len -= SHA256_BLOCK)
		sha256_block(c->sc_h, p);
	if (len > 0) {
		memcpy(c->sc_buf, p, len);
		c->sc_nbuf = len;
	}
}

void
sha256_final(struct sha256_ctx *c, uint8_t out[SHA256_LEN])
{
	uint64_t	 bits = c->sc_bytes * 8;
	int		 i;

	c->sc_buf[c->sc_nbuf++] = 0x80;
	if (c->sc_nbuf > SHA256_BLOCK - 8) {
		memset(c->sc_buf + c->sc_nbuf, 0, SHA256_BLOCK - c->sc_nbuf);
		sha256_block(c->sc_h, c->sc_buf);
		c->sc_nbuf = 0;
	}
	memset(c->sc_buf + c->sc_nbuf, 0, SHA256_BLOCK - 8 - c->sc_nbuf);
	for (i = 0; i < 8; i++)
		c->sc_buf[SHA256_BLOCK - 1 - i] = bits >> (8 * i);
	sha256_block(c->sc_h, c->sc_buf);
	for (i = 0; i < 8; i++)
		store_be32(out + 4 * i, c->sc_h[i]);
	explicit_bzero(c, sizeof(*c));
}

void
sha256(const void *data, size_t len, uint8_t out[SHA256_LEN])
{
	struct sha256_ctx	 c;

	sha256_init(&c);
	sha256_update(&c, data, len);
	sha256_final(&c, out);
}

/* HMAC, RFC 2104: H((K ^ opad) || H((K ^ ipad) || m)). */

struct hmac_ctx {
	struct sha256_ctx	 hc_inner;
	struct sha256_ctx	 hc_outer;
};

static void
hmac_init(struct hmac_ctx *h, const uint8_t *key, size_t keylen)
{
	uint8_t		 k[SHA256_BLOCK], pad[SHA256_BLOCK];
	size_t		 i;

	memset(k, 0, sizeof(k));
	if (keylen > SHA256_BLOCK)
		sha256(key, keylen, k);
	else if (keylen > 0)
		memcpy(k, key, keylen);
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x36;
	sha256_init(&h->hc_inner);
	sha256_update(&h->hc_inner, pad, sizeof(pad));
	for (i = 0; i < SHA256_BLOCK; i++)
		pad[i] = k[i] ^ 0x5c;
	sha256_init(&h->hc_outer);
	sha256_update(&h->hc_outer, pad, sizeof(pad));
	explicit_bzero(k, sizeof(k));
	explicit_bzero(pad, sizeof(pad));
}

static void
hmac_update(struct hmac_ctx *h, const void *p, size_t len)
{
	sha256_update(&h->hc_inner, p, len);
}

static void
hmac_final(struct hmac_ctx *h, uint8_t out[SHA256_LEN])
{
	uint8_t		 ih[SHA256_LEN];

	sha256_final(&h->hc_inner, ih);
	sha256_update(&h->hc_outer, ih, sizeof(ih));
	sha256_final(&h->hc_outer, out);
	explicit_bzero(ih, sizeof(ih));
}

void
hmac_sha256(const uint8_t *key, size_t keylen, const uint8_t *msg,
    size_t len, uint8_t out[SHA256_LEN])
{
	struct hmac_ctx	 h;

	hmac_init(&h, key, keylen);
	hmac_update(&h, msg, len);
	hmac_final(&h, out);
}

/* Primitives. */

int
auth_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
	/* volatile: keep the compiler from turning the loop into memcmp. */
	volatile uint8_t	 d = 0;
	size_t			 i;

	for (i = 0; i < n; i++)
		d |= a[i] ^ b[i];
	return 1 & (((unsigned)d - 1) >> 8);
}

void
auth_hex(const uint8_t *p, size_t n, char *out)
{
	static const char	 digits[] = "0123456789abcdef";
	size_t			 i;

	for (i = 0; i < n; i++) {
		out[2 * i] = digits[p[i] >> 4];
		out[2 * i + 1] = digits[p[i] & 15];
	}
	out[2 * n] = '\0';
}

/*
 * Decoded without a branch on the character (the libsodium hex2bin idea),
 * so a MAC that fails to parse costs the same as one that fails to match.
 * Returns the digit's value, or sets *bad.
 */
static unsigned
unhex_digit(unsigned char ch, unsigned *bad)
{
	unsigned	 c = ch, num = c ^ 0x30U, alpha = c - 87U;
	unsigned	 is_num, is_alpha;

	is_num = (num - 10U) >> 31;			/* '0'..'9' */
	is_alpha = (~(alpha - 10U) & (alpha - 16U)) >> 31;	/* 'a'..'f' */
	*bad |= 1U ^ (is_num | is_alpha);
	return (num & (0U - is_num)) | (alpha & (0U - is_alpha));
}

int
auth_unhex(const char *s, size_t hexlen, uint8_t *out)
{
	unsigned	 bad = 0, hi, lo;
	size_t		 i;

	if (hexlen % 2 != 0 || hexlen / 2 > INT32_MAX)
		return -1;
	for (i = 0; i < hexlen / 2; i++) {
		hi = unhex_digit(s[2 * i], &bad);
		lo = unhex_digit(s[2 * i + 1], &bad);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return bad ? -1 : (int)(hexlen / 2);
}

static void
auth_random(void *buf, size_t len)
{
	uint8_t		*p = buf;
	ssize_t		 n;
	int		 fd;

	while (len > 0) {
		if ((n = getrandom(p, len, 0)) == -1) {
			if (errno == EINTR)
				continue;
			if (errno == ENOSYS)
				break;
			goto fail;
		}
		p += n;
		len -= n;
	}
	if (len == 0)
		return;
	/* Kernels before 3.17 have no getrandom(2). */
	if ((fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC)) == -1)
		goto fail;
	while (len > 0) {
		if ((n = read(fd, p, len)) <= 0) {
			if (n == -1 && errno == EINTR)
				continue;
			close(fd);
			goto fail;
		}
		p += n;
		len -= n;
	}
	close(fd);
	return;
fail:
	/* A predictable nonce would make hellos replayable: never go on. */
	fprintf(stderr, "fatal: no random bytes from the kernel\n");
	abort();
}

void
auth_nonce(uint8_t out[AUTH_NONCE_LEN])
{
	auth_random(out, AUTH_NONCE_LEN);
}

/* The secret file. */

static char	 auth_why[512];

static int
secret_fail(const char *path, const char *what, const char **why)
{
	snprintf(auth_why, sizeof(auth_why), "secret file %s %s", path, what);
	*why = auth_why;
	return -1;
}

/* read(2) until len bytes or end of file; the count, or -1. */
static ssize_t
read_full(int fd, uint8_t *p, size_t len)
{
	size_t		 got = 0;
	ssize_t		 n;

	while (got < len) {
		if ((n = read(fd, p + got, len - got)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		if (n == 0)
			break;
		got += n;
	}
	return got;
}

int
auth_load_secret(const char *path, uint8_t *secret, size_t cap,
    size_t *len, const char **why)
{
	struct stat	 sb;
	uint8_t		 tail[3];
	ssize_t		 n, t;
	char		 err[128];
	int		 fd;

	*len = 0;
	/* O_NONBLOCK: opening a FIFO would block before fstat refuses it. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1) {
		snprintf(err, sizeof(err), "cannot be opened: %s",
		    strerror(errno));
		return secret_fail(path, err, why);
	}
	/* fstat on the open descriptor: no window to swap the file. */
	if (fstat(fd, &sb) == -1) {
		snprintf(err, sizeof(err), "cannot be read: %s",
		    strerror(errno));
		close(fd);
		return secret_fail(path, err, why);
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return secret_fail(path, "is not a regular file", why);
	}
	if (sb.st_mode & 077) {
		close(fd);
		return secret_fail(path, "must not be accessible by group or "
		    "others (chmod 600)", why);
	}
	/*
	 * Its owner can rewrite it (or chmod it back): only this user or
	 * root may own it.
	 */
	if (sb.st_uid != geteuid() && sb.st_uid != 0) {
		snprintf(err, sizeof(err), "belongs to uid %lu: it must "
		    "belong to this user (uid %lu) or root (chown)",
		    (unsigned long)sb.st_uid, (unsigned long)geteuid());
		close(fd);
		return secret_fail(path, err, why);
	}
	/*
	 * Read at most cap bytes into the caller's buffer, then up to three
	 * more: a secret of exactly cap bytes may still carry "\r\n".
	 */
	if ((n = read_full(fd, secret, cap)) == -1 ||
	    (t = read_full(fd, tail, sizeof(tail))) == -1) {
		snprintf(err, sizeof(err), "cannot be read: %s",
		    strerror(errno));
		close(fd);
		goto fail_msg;
	}
	close(fd);
	if (t > 0) {
		/* Longer than cap: fine only if the excess is the newline. */
		if (t == 1 && tail[0] == '\n') {
			if (n > 0 && secret[n - 1] == '\r')
				n--;
		} else if (!(t == 2 && tail[0] == '\r' && tail[1] == '\n')) {
			snprintf(err, sizeof(err), "is longer than %zu bytes",
			    cap);
			goto fail_msg;
		}
	} else if (n > 0 && secret[n - 1] == '\n') {
		n--;
		if (n > 0 && secret[n - 1] == '\r')
			n--;
	}
	explicit_bzero(tail, sizeof(tail));
	if (n == 0) {
		snprintf(err, sizeof(err), "is empty");
		goto fail_msg;
	}
	*len = n;
	return 0;
fail_msg:
	explicit_bzero(tail, sizeof(tail));
	explicit_bzero(secret, cap);
	return secret_fail(path, err, why);
}

/* The proof. */

/* Feed the canonical message of auth.h to h. */
static void
auth_message(struct hmac_ctx *h, uint64_t ts, const char *nonce_hex,
    const char *name, unsigned port)
{
	char		 num[24], *p;
	uint64_t	 v;

	hmac_update(h, AUTH_MAGIC "\n", strlen(AUTH_MAGIC) + 1);
	p = num + sizeof(num);
	*--p = '\n';
	v = ts;
	do {
		*--p = '0' + v % 10;
	} while ((v /= 10) != 0);
	hmac_update(h, p, num + sizeof(num) - p);
	hmac_update(h, nonce_hex, strlen(nonce_hex));
	hmac_update(h, "\n", 1);
	hmac_update(h, name, strlen(name));
	hmac_update(h, "\n", 1);
	p = num + sizeof(num);
	*--p = '\n';
	v = port;
	do {
		*--p = '0' + v % 10;
	} while ((v /= 10) != 0);
	hmac_update(h, p, num + sizeof(num) - p);
}

static void
auth_mac(const uint8_t *secret, size_t slen, uint64_t ts,
    const char *nonce_hex, const char *name, unsigned port,
    uint8_t mac[AUTH_MAC_LEN])
{
	struct hmac_ctx	 h;

	hmac_init(&h, secret, slen);
	auth_message(&h, ts, nonce_hex, name, port);
	hmac_final(&h, mac);
}

void
auth_sign(const uint8_t *secret, size_t slen, uint64_t ts,
    const char *nonce_hex, const char *name, unsigned port,
    char mac_hex[AUTH_MAC_HEX + 1])
{
	uint8_t		 mac[AUTH_MAC_LEN];

	auth_mac(secret, slen, ts, nonce_hex, name, port, mac);
	auth_hex(mac, sizeof(mac), mac_hex);
}

int
auth_verify(const uint8_t *secret, size_t slen, uint64_t ts,
    const char *nonce_hex, const char *name, unsigned port,
    const char *mac_hex)
{
	uint8_t		 nonce[AUTH_NONCE_LEN], got[AUTH_MAC_LEN];
	uint8_t		 want[AUTH_MAC_LEN];
	int		 ok, r;

	/* The nonce is public: refusing a malformed one early tells nothing. */
	if (strnlen(nonce_hex, AUTH_NONCE_HEX + 1) != AUTH_NONCE_HEX ||
	    auth_unhex(nonce_hex, AUTH_NONCE_HEX, nonce) != AUTH_NONCE_LEN)
		return 0;
	if (strnlen(mac_hex, AUTH_MAC_HEX + 1) != AUTH_MAC_HEX)
		return 0;
	/* From here on, a malformed MAC takes the path of a wrong one. */
	r = auth_unhex(mac_hex, AUTH_MAC_HEX, got);
	auth_mac(secret, slen, ts, nonce_hex, name, port, want);
	ok = auth_equal(got, want, sizeof(want));
	explicit_bzero(want, sizeof(want));
	return ok & (r == AUTH_MAC_LEN);
}

/* The replay cache. */

_Static_assert(AUTH_REPLAY_SLOTS < 65536, "index holds slot + 1 in 16 bits");
_Static_assert((AUTH_REPLAY_BUCKETS & (AUTH_REPLAY_BUCKETS - 1)) == 0 &&
    AUTH_REPLAY_BUCKETS > AUTH_REPLAY_SLOTS, "buckets: a larger power of two");

/*
 * Nonces that passed auth_verify come from secret holders, but a keyed
 * mix keeps even a hostile backend from piling its nonces on one probe
 * chain.
 */
static uint32_t
replay_hash(const struct auth_replay *r, const uint8_t *nonce)
{
	uint64_t	 a, b, x;

	memcpy(&a, nonce, 8);
	memcpy(&b, nonce + 8, 8);
	x = a ^ (b * 0x9e3779b97f4a7c15ULL) ^ r->ar_key;
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	return x & (AUTH_REPLAY_BUCKETS - 1);
}

/* The bucket that holds nonce, or -1. */
static int
replay_find(const struct auth_replay *r, const uint8_t *nonce)
{
	uint32_t	 b = replay_hash(r, nonce);
	uint16_t	 e;

	while ((e = r->ar_index[b]) != 0) {
		if (memcmp(r->ar_ent[e - 1].re_nonce, nonce,
		    AUTH_NONCE_LEN) == 0)
			return b;
		b = (b + 1) & (AUTH_REPLAY_BUCKETS - 1);
	}
	return -1;
}

/*
 * Empty bucket b, moving later members of the probe chain back so that no
 * lookup stops early at the gap (Knuth's algorithm R: no tombstones, so
 * probe chains never fill up with them).
 */
static void
replay_unindex(struct auth_replay *r, uint32_t b)
{
	const uint32_t	 mask = AUTH_REPLAY_BUCKETS - 1;
	uint32_t	 j = b, k;
	uint16_t	 e;

	for (;;) {
		j = (j + 1) & mask;
		if ((e = r->ar_index[j]) == 0)
			break;
		k = replay_hash(r, r->ar_ent[e - 1].re_nonce);
		/* Leave it if its home lies cyclically in (b, j]. */
		if (b <= j ? (b < k && k <= j) : (b < k || k <= j))
			continue;
		r->ar_index[b] = e;
		b = j;
	}
	r->ar_index[b] = 0;
}

static void
replay_remove(struct auth_replay *r, uint32_t slot)
{
	uint32_t	 b = replay_hash(r, r->ar_ent[slot].re_nonce);

	while (r->ar_index[b] != slot + 1)
		b = (b + 1) & (AUTH_REPLAY_BUCKETS - 1);
	replay_unindex(r, b);
	r->ar_ent[slot].re_used = 0;
}

/* Could a hello with this timestamp still pass the window check? */
static int
replay_live(uint64_t ts, uint64_t now, unsigned window_s)
{
	return !(ts < now && now - ts > window_s);
}

struct auth_replay *
auth_replay_create(void)
{
	struct auth_replay	*r;

	/* Private memory of the master: no worker can write it. */
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	auth_random(&r->ar_key, sizeof(r->ar_key));
	return r;
}

void
auth_replay_destroy(struct auth_replay *r)
{
	free(r);
}

int
auth_replay_check(struct auth_replay *r, uint64_t now, uint64_t ts,
    const uint8_t nonce[AUTH_NONCE_LEN], unsigned window_s, const char **why)
{
	uint32_t	 tail, slot;
	int		 b;

	if ((ts < now && now - ts > window_s) ||
	    (ts > now && ts - now > window_s)) {
		*why = "timestamp outside the replay window";
		return -1;
	}
	/* Drop holes and expired entries from the old end of the ring. */
	while (r->ar_count > 0) {
		tail = (r->ar_head + AUTH_REPLAY_SLOTS - r->ar_count) %
		    AUTH_REPLAY_SLOTS;
		if (r->ar_ent[tail].re_used) {
			if (replay_live(r->ar_ent[tail].re_ts, now, window_s))
				break;
			replay_remove(r, tail);
		}
		r->ar_count--;
	}
	if ((b = replay_find(r, nonce)) != -1) {
		slot = r->ar_index[b] - 1;
		if (replay_live(r->ar_ent[slot].re_ts, now, window_s)) {
			*why = "replayed nonce";
			return -1;
		}
		/* Expired but not yet at the tail: leave a hole. */
		replay_unindex(r, b);
		r->ar_ent[slot].re_used = 0;
	}
	if (r->ar_count == AUTH_REPLAY_SLOTS) {
		/* Full of live entries: the sweep above stopped at one. */
		tail = r->ar_head;
		if (r->ar_ent[tail].re_used) {
			replay_remove(r, tail);
			r->ar_overflows++;
		}
		r->ar_count--;
	}
	slot = r->ar_head;
	memcpy(r->ar_ent[slot].re_nonce, nonce, AUTH_NONCE_LEN);
	r->ar_ent[slot].re_ts = ts;
	r->ar_ent[slot].re_used = 1;
	b = replay_hash(r, nonce);
	while (r->ar_index[b] != 0)
		b = (b + 1) & (AUTH_REPLAY_BUCKETS - 1);
	r->ar_index[b] = slot + 1;
	r->ar_head = (slot + 1) % AUTH_REPLAY_SLOTS;
	r->ar_count++;
	return 0;
}

uint64_t
auth_replay_overflows(const struct auth_replay *r)
{
	return r->ar_overflows;
}
