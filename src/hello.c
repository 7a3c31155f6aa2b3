/*
 * hello: parse and build the registration hello.  The relay parses bytes a
 * stranger sent, so every length is checked before use.
 */
#include <stdio.h>
#include <string.h>

#include "hello.h"

int
hello_name_ok(const char *s)
{
	size_t	 n = strlen(s);

	if (n == 0 || n > 63)
		return 0;
	for (; *s != '\0'; s++) {
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		    (*s >= '0' && *s <= '9') || *s == '.' || *s == '_' ||
		    *s == '-'))
			return 0;
	}
	return 1;
}

static int
hello_field(struct hello *h, const char *k, size_t klen, const char *v,
    size_t vlen, const char **why)
{
	char	 buf[80];

	if (vlen >= sizeof(buf)) {
		*why = "hello value too long";
		return -1;
	}
	memcpy(buf, v, vlen);
	buf[vlen] = '\0';
	if (klen == 4 && memcmp(k, "name", 4) == 0) {
		if (!hello_name_ok(buf)) {
			*why = "bad backend name";
			return -1;
		}
		memcpy(h->h_name, buf, vlen + 1);
	} else if (klen == 4 && memcmp(k, "port", 4) == 0) {
		unsigned p = 0;
		size_t i;
		if (vlen == 0 || vlen > 5) {
			*why = "bad port in hello";
			return -1;
		}
		for (i = 0; i < vlen; i++) {
			if (buf[i] < '0' || buf[i] > '9') {
				*why = "bad port in hello";
				return -1;
			}
			p = p * 10 + (buf[i] - '0');
		}
		if (p == 0 || p > 65535) {
			*why = "bad port in hello";
			return -1;
		}
		h->h_port = p;
	} else if (klen == 4 && memcmp(k, "addr", 4) == 0) {
		/* Another version of the header is one we do not know. */
		h->h_addr = vlen == 1 && buf[0] == '1';
	}
	return 0;
}

int
hello_parse(const char *s, size_t len, struct hello *h, const char **why)
{
	size_t	 mlen = strlen(HELLO_MAGIC), i, start;

	memset(h, 0, sizeof(*h));
	if (len > 0 && s[len - 1] == '\n')
		len--;
	if (len > HELLO_MAX) {
		*why = "hello too long";
		return -1;
	}
	if (len < mlen || memcmp(s, HELLO_MAGIC, mlen) != 0 ||
	    (len > mlen && s[mlen] != ' ')) {
		*why = "not a relay hello";
		return -1;
	}
	for (i = mlen; i < len; i++) {
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) {
			*why = "bad character in hello";
			return -1;
		}
	}
	i = mlen;
	while (i < len) {
		const char *eq;
		while (i < len && s[i] == ' ')
			i++;
		if (i == len)
			break;
		start = i;
		while (i < len && s[i] != ' ')
			i++;
		eq = memchr(s + start, '=', i - start);
		if (eq == NULL || eq == s + start) {
			*why = "bad field in hello";
			return -1;
		}
		if (hello_field(h, s + start, eq - (s + start), eq + 1,
		    (s + i) - (eq + 1), why) == -1)
			return -1;
	}
	return 0;
}

int
hello_build(const struct hello *h, char *buf, size_t len)
{
	int	 n;
	char	 port[24] = "";
	const char *addr = h->h_addr ? " addr=1" : "";

	if (h->h_port)
		snprintf(port, sizeof(port), " port=%u", h->h_port);
	n = snprintf(buf, len, "%s%s%s%s%s\n", HELLO_MAGIC,
	    h->h_name[0] ? " name=" : "", h->h_name, port, addr);
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}
