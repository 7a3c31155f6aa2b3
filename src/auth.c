/*
 * auth: SHA-256 and the shared secret file (auth.h).  No library beyond
 * libc: the relay must build on a bare C toolchain.  Nothing here logs;
 * callers print the message auth_load_secret gives them.
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
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
	/* The schedule is a copy of the message, which may be secret. */
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
