/*
 * keys: base64 keys, fingerprints, private key files, the PSK and the
 * authorized-keys file (keys.h has the formats).
 */
#include <sys/types.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "crypto.h"
#include "hello.h"
#include "keys.h"

/* Base64 without tables: values and characters map by masked arithmetic. */

/* All ones when a > b, for 0 <= a, b < 2^31; no branch. */
static uint32_t
ct_gt(uint32_t a, uint32_t b)
{
	return 0 - ((b - a) >> 31);
}

/* All ones when lo <= c <= hi. */
static uint32_t
ct_in(uint32_t c, uint32_t lo, uint32_t hi)
{
	return ~ct_gt(lo, c) & ~ct_gt(c, hi);
}

/* The character of a 6-bit value: A-Z a-z 0-9 + /. */
static char
b64_char(uint32_t x)
{
	uint32_t	 c = 'A' + x;

	c += ct_gt(x, 25) & 6;		/* 26 -> 'a' */
	c -= ct_gt(x, 51) & 75;		/* 52 -> '0' */
	c -= ct_gt(x, 61) & 15;		/* 62 -> '+' */
	c += ct_gt(x, 62) & 3;		/* 63 -> '/' */
	return (char)c;
}

/* The value of a character, and *bad |= all ones when it is none. */
static uint32_t
b64_value(uint32_t c, uint32_t *bad)
{
	uint32_t	 m, v = 0, ok = 0;

	m = ct_in(c, 'A', 'Z');
	v |= m & (c - 'A');
	ok |= m;
	m = ct_in(c, 'a', 'z');
	v |= m & (c - 'a' + 26);
	ok |= m;
	m = ct_in(c, '0', '9');
	v |= m & (c - '0' + 52);
	ok |= m;
	m = ct_in(c, '+', '+');
	v |= m & 62;
	ok |= m;
	m = ct_in(c, '/', '/');
	v |= m & 63;
	ok |= m;
	*bad |= ~ok;
	return v;
}

/* 32 bytes into 43 characters (and '=' when pad). */
static void
b64_encode32(char *out, const uint8_t in[32], int pad)
{
	uint32_t	 w;
	int		 i, o = 0;

	for (i = 0; i + 3 <= 32; i += 3) {
		w = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 |
		    in[i + 2];
		out[o++] = b64_char(w >> 18);
		out[o++] = b64_char((w >> 12) & 63);
		out[o++] = b64_char((w >> 6) & 63);
		out[o++] = b64_char(w & 63);
	}
	/* Two bytes left: 16 bits in three characters. */
	w = (uint32_t)in[30] << 16 | (uint32_t)in[31] << 8;
	out[o++] = b64_char(w >> 18);
	out[o++] = b64_char((w >> 12) & 63);
	out[o++] = b64_char((w >> 6) & 63);
	if (pad)
		out[o++] = '=';
	out[o] = '\0';
	w = 0;
}

void
keys_b64_encode(char out[KEYS_B64_LEN + 1], const uint8_t key[KEYS_LEN])
{
	b64_encode32(out, key, 1);
}

int
keys_b64_decode(uint8_t key[KEYS_LEN], const char *s, size_t len)
{
	const unsigned char	*u = (const unsigned char *)s;
	uint32_t		 bad = 0, w, v2;
	int			 i, o = 0, ok;

	if (len != KEYS_B64_LEN) {
		crypto_wipe(key, KEYS_LEN);
		return -1;
	}
	for (i = 0; i < 40; i += 4) {
		w = b64_value(u[i], &bad) << 18 |
		    b64_value(u[i + 1], &bad) << 12 |
		    b64_value(u[i + 2], &bad) << 6 | b64_value(u[i + 3], &bad);
		key[o++] = (uint8_t)(w >> 16);
		key[o++] = (uint8_t)(w >> 8);
		key[o++] = (uint8_t)w;
	}
	v2 = b64_value(u[42], &bad);
	w = b64_value(u[40], &bad) << 18 | b64_value(u[41], &bad) << 12 |
	    v2 << 6;
	key[o++] = (uint8_t)(w >> 16);
	key[o] = (uint8_t)(w >> 8);
	/* Canonical: the 43rd character's two unused bits are zero. */
	bad |= 0 - ((v2 & 3) != 0);
	bad |= 0 - (u[43] != '=');
	w = v2 = 0;
	ok = bad == 0;
	/* Whether a key file or field is well-formed is not a secret. */
	CRYPTO_DECLASSIFY(&ok, sizeof(ok));
	if (!ok) {
		crypto_wipe(key, KEYS_LEN);
		return -1;
	}
	return 0;
}

void
keys_fingerprint(char out[KEYS_FP_LEN + 1], const uint8_t pub[KEYS_LEN])
{
	uint8_t		 d[SHA256_LEN];

	sha256(pub, KEYS_LEN, d);
	memcpy(out, KEYS_FP_PREFIX, 7);
	b64_encode32(out + 7, d, 0);
}

void
keys_psk(uint8_t psk[KEYS_LEN], const uint8_t *secret, size_t len)
{
	struct crypto_blake2s	 b;

	(void)crypto_blake2s_init(&b, KEYS_LEN, NULL, 0);
	crypto_blake2s_update(&b, KEYS_PSK_LABEL, strlen(KEYS_PSK_LABEL));
	crypto_blake2s_update(&b, secret, len);
	crypto_blake2s_final(&b, psk);
}

/* Key files. */

static int
keyfile_fail(char *why, size_t whylen, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
keyfile_fail(char *why, size_t whylen, const char *path, const char *fmt, ...)
{
	char		 r[160];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(r, sizeof(r), fmt, ap);
	va_end(ap);
	snprintf(why, whylen, "key file %s %s", path, r);
	return -1;
}

int
keys_load_private(const char *path, uint8_t priv[KEYS_LEN], char *why,
    size_t whylen)
{
	struct stat	 sb;
	uint8_t		 buf[KEYS_B64_LEN + 2];
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd, e;

	crypto_wipe(priv, KEYS_LEN);
	/* O_NONBLOCK: a FIFO would block the open before fstat refuses it. */
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		e = errno;
		if (e == ELOOP)
			return keyfile_fail(why, whylen, path,
			    "is a symbolic link (give the file itself)");
		return keyfile_fail(why, whylen, path, "cannot be opened: %s",
		    strerror(e));
	}
	/* fstat on the descriptor: nothing can swap the file in between. */
	if (fstat(fd, &sb) == -1) {
		e = errno;
		close(fd);
		return keyfile_fail(why, whylen, path, "cannot be read: %s",
		    strerror(e));
	}
	if (!S_ISREG(sb.st_mode)) {
		close(fd);
		return keyfile_fail(why, whylen, path, "is not a regular file");
	}
	if (sb.st_uid != geteuid()) {
		close(fd);
		return keyfile_fail(why, whylen, path, "is owned by uid %u, "
		    "not by uid %u (which reads it)", (unsigned)sb.st_uid,
		    (unsigned)geteuid());
	}
	if (sb.st_mode & 077) {
		close(fd);
		return keyfile_fail(why, whylen, path, "must not be accessible "
		    "by group or others (chmod 600)");
	}
	/* One byte more than a key line can have shows a longer file. */
	while (n < sizeof(buf)) {
		if ((r = read(fd, buf + n, sizeof(buf) - n)) == -1) {
			if (errno == EINTR)
				continue;
			e = errno;
			close(fd);
			crypto_wipe(buf, sizeof(buf));
			return keyfile_fail(why, whylen, path,
			    "cannot be read: %s", strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (!(n == KEYS_B64_LEN || (n == KEYS_B64_LEN + 1 &&
	    buf[KEYS_B64_LEN] == '\n')) ||
	    keys_b64_decode(priv, (const char *)buf, KEYS_B64_LEN) == -1) {
		crypto_wipe(buf, sizeof(buf));
		crypto_wipe(priv, KEYS_LEN);
		return keyfile_fail(why, whylen, path, "must hold exactly one "
		    "key: one line of 44 base64 characters");
	}
	crypto_wipe(buf, sizeof(buf));
	return 0;
}

int
keys_write_private(const char *path, const uint8_t priv[KEYS_LEN], char *why,
    size_t whylen)
{
	char		 line[KEYS_B64_LEN + 2];
	size_t		 off = 0;
	ssize_t		 r;
	int		 fd, e;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC | O_NOCTTY, 0600)) == -1) {
		e = errno;
		if (e == EEXIST)
			return keyfile_fail(why, whylen, path,
			    "exists: not overwriting it");
		return keyfile_fail(why, whylen, path, "cannot be created: %s",
		    strerror(e));
	}
	keys_b64_encode(line, priv);
	line[KEYS_B64_LEN] = '\n';
	/* A umask can only take bits away; make sure of 0600 anyway. */
	if (fchmod(fd, 0600) == -1)
		goto fail;
	while (off < KEYS_B64_LEN + 1) {
		if ((r = write(fd, line + off, KEYS_B64_LEN + 1 - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)r;
	}
	if (fsync(fd) == -1)
		goto fail;
	crypto_wipe(line, sizeof(line));
	if (close(fd) == -1) {
		e = errno;
		unlink(path);
		return keyfile_fail(why, whylen, path, "cannot be written: %s",
		    strerror(e));
	}
	return 0;
fail:
	e = errno;
	crypto_wipe(line, sizeof(line));
	close(fd);
	unlink(path);
	return keyfile_fail(why, whylen, path, "cannot be written: %s",
	    strerror(e));
}

/* The authorized-keys file. */

struct parse {
	const char		*fname;
	char			*err;
	size_t			 errlen;
	unsigned		 line;
	struct keys_auth_entry	*ent;
	size_t			 nent, capent;
	struct keys_auth_name	*names;
	size_t			 nnames, capnames;
};

static int
parse_fail(struct parse *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
parse_fail(struct parse *p, const char *fmt, ...)
{
	char		 r[160];
	va_list		 ap;

	va_start(ap, fmt);
	vsnprintf(r, sizeof(r), fmt, ap);
	va_end(ap);
	if (p->line > 0)
		snprintf(p->err, p->errlen, "%s:%u: %s", p->fname, p->line, r);
	else
		snprintf(p->err, p->errlen, "%s: %s", p->fname, r);
	return -1;
}

/* A field quoted for an error message: printable ASCII, at most 32. */
static const char *
quoted(const char *s, size_t n, char out[40])
{
	size_t	 i, o = 0;

	out[o++] = '"';
	for (i = 0; i < n && i < 32; i++)
		out[o++] = (s[i] > ' ' && s[i] < 0x7f) ? s[i] : '?';
	if (n > 32) {
		out[o++] = '.';
		out[o++] = '.';
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

/* Decimal 1..65535 without a sign or a leading zero. */
static int
parse_port(const char *s, size_t n, unsigned *port)
{
	unsigned long	 v = 0;
	size_t		 i;

	if (n == 0 || n > 5 || s[0] == '0')
		return -1;
	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (unsigned long)(s[i] - '0');
	}
	if (v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static int
grow(void **p, size_t *cap, size_t n, size_t size)
{
	void	*q;
	size_t	 c;

	if (n < *cap)
		return 0;
	c = *cap ? *cap * 2 : 16;
	if ((q = reallocarray(*p, c, size)) == NULL)
		return -1;
	*p = q;
	*cap = c;
	return 0;
}

static int
is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r';
}

/* One line (without its newline) into p: 0, or -1 with p->err set. */
static int
parse_line(struct parse *p, const char *s, size_t n)
{
	struct keys_auth_entry	 e;
	struct keys_auth_name	*kn;
	const char		*f, *v;
	size_t			 i = 0, fl, vl, first_name = p->nnames, k;
	char			 q[40], name[KEYS_NAME_MAX + 1];
	int			 have_port = 0;

	while (i < n && is_blank(s[i]))
		i++;
	if (i == n || s[i] == '#')
		return 0;
	memset(&e, 0, sizeof(e));
	e.ke_line = p->line;
	f = s + i;
	while (i < n && !is_blank(s[i]))
		i++;
	fl = (size_t)(s + i - f);
	if (keys_b64_decode(e.ke_key, f, fl) == -1)
		return parse_fail(p, "bad public key %s (44 base64 characters)",
		    quoted(f, fl, q));
	for (;;) {
		while (i < n && is_blank(s[i]))
			i++;
		if (i == n || s[i] == '#')
			break;
		f = s + i;
		while (i < n && !is_blank(s[i]))
			i++;
		fl = (size_t)(s + i - f);
		if ((v = memchr(f, '=', fl)) == NULL)
			return parse_fail(p, "unknown field %s",
			    quoted(f, fl, q));
		vl = fl - (size_t)(v - f) - 1;
		fl = (size_t)(v - f);
		v++;
		if (fl == 4 && memcmp(f, "name", 4) == 0) {
			if (vl == 1 && v[0] == '*') {
				if (e.ke_any_name)
					return parse_fail(p, "name=* given "
					    "twice");
				e.ke_any_name = 1;
				continue;
			}
			if (vl > KEYS_NAME_MAX)
				return parse_fail(p, "bad name %s (1..%d of "
				    "A-Za-z0-9._-, or *)", quoted(v, vl, q),
				    KEYS_NAME_MAX);
			memcpy(name, v, vl);
			name[vl] = '\0';
			if (!hello_name_ok(name))
				return parse_fail(p, "bad name %s (1..%d of "
				    "A-Za-z0-9._-, or *)", quoted(v, vl, q),
				    KEYS_NAME_MAX);
			for (k = first_name; k < p->nnames; k++)
				if (strcmp(p->names[k].kn_name, name) == 0)
					return parse_fail(p, "name %s given "
					    "twice", name);
			if (grow((void **)&p->names, &p->capnames, p->nnames,
			    sizeof(*p->names)) == -1)
				return parse_fail(p, "out of memory");
			kn = &p->names[p->nnames++];
			memcpy(kn->kn_name, name, vl + 1);
			memcpy(kn->kn_key, e.ke_key, KEYS_LEN);
			kn->kn_line = p->line;
			e.ke_nnames++;
		} else if (fl == 4 && memcmp(f, "port", 4) == 0) {
			if (have_port++)
				return parse_fail(p, "port given twice "
				    "(one port= or ports= per key)");
			if (parse_port(v, vl, &e.ke_port_lo) == -1)
				return parse_fail(p, "bad port %s (1..65535)",
				    quoted(v, vl, q));
			e.ke_port_hi = e.ke_port_lo;
		} else if (fl == 5 && memcmp(f, "ports", 5) == 0) {
			const char *dash = memchr(v, '-', vl);

			if (have_port++)
				return parse_fail(p, "port given twice "
				    "(one port= or ports= per key)");
			if (dash == NULL ||
			    parse_port(v, (size_t)(dash - v),
			    &e.ke_port_lo) == -1 ||
			    parse_port(dash + 1, vl - (size_t)(dash - v) - 1,
			    &e.ke_port_hi) == -1 ||
			    e.ke_port_lo > e.ke_port_hi)
				return parse_fail(p, "bad port range %s "
				    "(LO-HI, 1 <= LO <= HI <= 65535)",
				    quoted(v, vl, q));
		} else
			return parse_fail(p, "unknown field %s",
			    quoted(f, fl, q));
	}
	if (grow((void **)&p->ent, &p->capent, p->nent, sizeof(*p->ent)) == -1)
		return parse_fail(p, "out of memory");
	p->ent[p->nent++] = e;
	return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct keys_auth_entry *x = a, *y = b;
	int	 c = memcmp(x->ke_key, y->ke_key, KEYS_LEN);

	/* Ties by line, so the earlier line is named in the error. */
	if (c == 0)
		c = (x->ke_line > y->ke_line) - (x->ke_line < y->ke_line);
	return c;
}

static int
cmp_name(const void *a, const void *b)
{
	const struct keys_auth_name *x = a, *y = b;
	int	 c = strcmp(x->kn_name, y->kn_name);

	if (c == 0)
		c = (x->kn_line > y->kn_line) - (x->kn_line < y->kn_line);
	return c;
}

struct keys_auth *
keys_auth_parse(const char *text, size_t len, const char *fname, char *err,
    size_t errlen)
{
	struct parse	 p;
	struct keys_auth *a = NULL;
	const char	*s = text, *nl;
	size_t		 i;

	memset(&p, 0, sizeof(p));
	p.fname = fname;
	p.err = err;
	p.errlen = errlen;
	if (len > 0 && memchr(text, '\0', len) != NULL) {
		p.line = 1;
		for (i = 0; text[i] != '\0'; i++)
			p.line += text[i] == '\n';
		parse_fail(&p, "NUL byte in the file");
		goto fail;
	}
	while (s < text + len) {
		p.line++;
		if ((nl = memchr(s, '\n', (size_t)(text + len - s))) == NULL)
			nl = text + len;
		if (parse_line(&p, s, (size_t)(nl - s)) == -1)
			goto fail;
		s = nl + 1;
	}
	/* qsort's pointer is declared non-null even for zero elements. */
	if (p.nent > 1)
		qsort(p.ent, p.nent, sizeof(*p.ent), cmp_entry);
	for (i = 1; i < p.nent; i++)
		if (memcmp(p.ent[i - 1].ke_key, p.ent[i].ke_key,
		    KEYS_LEN) == 0) {
			p.line = p.ent[i].ke_line;
			parse_fail(&p, "key already listed on line %u",
			    p.ent[i - 1].ke_line);
			goto fail;
		}
	if (p.nnames > 1)
		qsort(p.names, p.nnames, sizeof(*p.names), cmp_name);
	for (i = 1; i < p.nnames; i++)
		if (strcmp(p.names[i - 1].kn_name, p.names[i].kn_name) == 0) {
			p.line = p.names[i].kn_line;
			parse_fail(&p, "name %s already listed on line %u",
			    p.names[i].kn_name, p.names[i - 1].kn_line);
			goto fail;
		}
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		p.line = 0;
		parse_fail(&p, "out of memory");
		goto fail;
	}
	a->ka_ent = p.ent;
	a->ka_nent = p.nent;
	a->ka_names = p.names;
	a->ka_nnames = p.nnames;
	return a;
fail:
	free(p.ent);
	free(p.names);
	return NULL;
}

struct keys_auth *
keys_auth_load(const char *path, char *err, size_t errlen)
{
	struct keys_auth *a;
	struct stat	 sb;
	char		*buf;
	size_t		 n = 0;
	ssize_t		 r;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		snprintf(err, errlen, "%s: cannot be opened: %s", path,
		    strerror(errno));
		return NULL;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		snprintf(err, errlen, "%s: is not a regular file", path);
		close(fd);
		return NULL;
	}
	/* Whoever can write this file can let any key in. */
	if (sb.st_mode & 022) {
		snprintf(err, errlen, "%s: must not be writable by group or "
		    "others (chmod go-w)", path);
		close(fd);
		return NULL;
	}
	if (sb.st_size > KEYS_AUTH_FILE_MAX) {
		snprintf(err, errlen, "%s: is larger than %d bytes", path,
		    KEYS_AUTH_FILE_MAX);
		close(fd);
		return NULL;
	}
	/* One byte more than the limit: a file that grew is caught too. */
	if ((buf = malloc(KEYS_AUTH_FILE_MAX + 1)) == NULL) {
		snprintf(err, errlen, "%s: out of memory", path);
		close(fd);
		return NULL;
	}
	while (n < KEYS_AUTH_FILE_MAX + 1) {
		if ((r = read(fd, buf + n, KEYS_AUTH_FILE_MAX + 1 - n)) == -1) {
			if (errno == EINTR)
				continue;
			snprintf(err, errlen, "%s: cannot be read: %s", path,
			    strerror(errno));
			free(buf);
			close(fd);
			return NULL;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	if (n > KEYS_AUTH_FILE_MAX) {
		snprintf(err, errlen, "%s: is larger than %d bytes", path,
		    KEYS_AUTH_FILE_MAX);
		free(buf);
		return NULL;
	}
	a = keys_auth_parse(buf, n, path, err, errlen);
	free(buf);
	return a;
}

void
keys_auth_free(struct keys_auth *a)
{
	if (a == NULL)
		return;
	free(a->ka_ent);
	free(a->ka_names);
	free(a);
}

static int
cmp_key(const void *k, const void *e)
{
	return memcmp(k, ((const struct keys_auth_entry *)e)->ke_key,
	    KEYS_LEN);
}

static int
cmp_name_key(const void *k, const void *n)
{
	return strcmp(k, ((const struct keys_auth_name *)n)->kn_name);
}

const struct keys_auth_name *
keys_auth_name(const struct keys_auth *a, const char *name)
{
	if (a == NULL || a->ka_nnames == 0)
		return NULL;
	return bsearch(name, a->ka_names, a->ka_nnames, sizeof(*a->ka_names),
	    cmp_name_key);
}

const struct keys_auth_entry *
keys_auth_find(const struct keys_auth *a, const uint8_t pub[KEYS_LEN])
{
	if (a->ka_nent == 0)
		return NULL;
	return bsearch(pub, a->ka_ent, a->ka_nent, sizeof(*a->ka_ent),
	    cmp_key);
}

int
keys_auth_permit(const struct keys_auth *a, const uint8_t pub[KEYS_LEN],
    const char *name, unsigned port, const char **why)
{
	const struct keys_auth_entry	*e;
	const struct keys_auth_name	*n = NULL;

	if ((e = keys_auth_find(a, pub)) == NULL) {
		*why = "key not authorized";
		return 0;
	}
	if (name == NULL || name[0] == '\0') {
		if (e->ke_nnames > 0 || e->ke_any_name) {
			*why = "this key may only register with a name";
			return 0;
		}
	} else {
		/* "*" is the file's wildcard, never a name a backend holds. */
		if (!hello_name_ok(name)) {
			*why = "name not allowed for this key";
			return 0;
		}
		n = keys_auth_name(a, name);
		if (n != NULL ? memcmp(n->kn_key, pub, KEYS_LEN) != 0 :
		    !e->ke_any_name) {
			*why = "name not allowed for this key";
			return 0;
		}
	}
	if (port != 0 && e->ke_port_lo != 0 &&
	    (port < e->ke_port_lo || port > e->ke_port_hi)) {
		*why = "port not allowed for this key";
		return 0;
	}
	*why = NULL;
	return 1;
}
