/*
 * proxy: PROXY protocol headers (include/proxy.h).  The parser reads bytes
 * a relay sent on a stream, so it decides from as few bytes as it can and
 * never reads past n.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "proxy.h"

#define V2_PROXY	0x21	/* version 2, command PROXY */
#define V2_LOCAL	0x20	/* version 2, command LOCAL */
#define V2_TCP4		0x11
#define V2_TCP6		0x21

const uint8_t proxy_v2_sig[PROXY_V2_SIG_LEN] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a
};

static int
proxy_mapped(const struct sockaddr_in6 *s)
{
	return IN6_IS_ADDR_V4MAPPED(&s->sin6_addr);
}

/* ::ffff:a.b.c.d, port p -> a.b.c.d, port p */
static void
proxy_unmap(struct sockaddr_storage *ss)
{
	struct sockaddr_in6	 s6;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;

	memcpy(&s6, ss, sizeof(s6));
	memset(ss, 0, sizeof(*ss));
	s4->sin_family = AF_INET;
	s4->sin_port = s6.sin6_port;
	memcpy(&s4->sin_addr, &s6.sin6_addr.s6_addr[12], 4);
}

int
proxy_addr_set(struct proxy_addr *pa, const struct sockaddr *src,
    const struct sockaddr *dst)
{
	size_t	 len;

	memset(pa, 0, sizeof(*pa));
	if (src->sa_family != dst->sa_family)
		return -1;
	if (src->sa_family == AF_INET)
		len = sizeof(struct sockaddr_in);
	else if (src->sa_family == AF_INET6)
		len = sizeof(struct sockaddr_in6);
	else
		return -1;
	memcpy(&pa->pa_src, src, len);
	memcpy(&pa->pa_dst, dst, len);
	if (src->sa_family == AF_INET6 &&
	    proxy_mapped((const struct sockaddr_in6 *)src) &&
	    proxy_mapped((const struct sockaddr_in6 *)dst)) {
		proxy_unmap(&pa->pa_src);
		proxy_unmap(&pa->pa_dst);
	}
	return 0;
}

int
proxy_v2_build(const struct proxy_addr *pa, uint8_t *out, size_t len)
{
	size_t	 n;

	if (len < PROXY_V2_HDR_LEN)
		return -1;
	memcpy(out, proxy_v2_sig, PROXY_V2_SIG_LEN);
	if (pa == NULL) {
		out[12] = V2_LOCAL;
		out[13] = 0;	/* AF_UNSPEC */
		out[14] = out[15] = 0;
		return PROXY_V2_HDR_LEN;
	}
	out[12] = V2_PROXY;
	if (pa->pa_src.ss_family == AF_INET) {
		const struct sockaddr_in *s = (const void *)&pa->pa_src;
		const struct sockaddr_in *d = (const void *)&pa->pa_dst;
		if (len < PROXY_V2_LEN4 || d->sin_family != AF_INET)
			return -1;
		out[13] = V2_TCP4;
		memcpy(out + 16, &s->sin_addr, 4);
		memcpy(out + 20, &d->sin_addr, 4);
		memcpy(out + 24, &s->sin_port, 2);
		memcpy(out + 26, &d->sin_port, 2);
		n = PROXY_V2_LEN4;
	} else if (pa->pa_src.ss_family == AF_INET6) {
		const struct sockaddr_in6 *s = (const void *)&pa->pa_src;
		const struct sockaddr_in6 *d = (const void *)&pa->pa_dst;
		if (len < PROXY_V2_LEN6 || d->sin6_family != AF_INET6)
			return -1;
		out[13] = V2_TCP6;
		memcpy(out + 16, &s->sin6_addr, 16);
		memcpy(out + 32, &d->sin6_addr, 16);
		memcpy(out + 48, &s->sin6_port, 2);
		memcpy(out + 50, &d->sin6_port, 2);
		n = PROXY_V2_LEN6;
	} else
		return -1;
	out[14] = (uint8_t)((n - PROXY_V2_HDR_LEN) >> 8);
	out[15] = (uint8_t)(n - PROXY_V2_HDR_LEN);
	return (int)n;
}

int
proxy_v1_build(const struct proxy_addr *pa, char *out, size_t len)
{
	char		 s[INET6_ADDRSTRLEN], d[INET6_ADDRSTRLEN];
	unsigned	 sp, dp;
	int		 n, af;

	if (pa == NULL)
		n = snprintf(out, len, "PROXY UNKNOWN\r\n");
	else {
		af = pa->pa_src.ss_family;
		if (af == AF_INET && pa->pa_dst.ss_family == AF_INET) {
			const struct sockaddr_in *a = (const void *)&pa->pa_src;
			const struct sockaddr_in *b = (const void *)&pa->pa_dst;
			inet_ntop(AF_INET, &a->sin_addr, s, sizeof(s));
			inet_ntop(AF_INET, &b->sin_addr, d, sizeof(d));
			sp = ntohs(a->sin_port);
			dp = ntohs(b->sin_port);
		} else if (af == AF_INET6 && pa->pa_dst.ss_family == AF_INET6) {
			const struct sockaddr_in6 *a = (const void *)&pa->pa_src;
			const struct sockaddr_in6 *b = (const void *)&pa->pa_dst;
			inet_ntop(AF_INET6, &a->sin6_addr, s, sizeof(s));
			inet_ntop(AF_INET6, &b->sin6_addr, d, sizeof(d));
			sp = ntohs(a->sin6_port);
			dp = ntohs(b->sin6_port);
		} else
			return -1;
		n = snprintf(out, len, "PROXY %s %s %s %u %u\r\n",
		    af == AF_INET ? "TCP4" : "TCP6", s, d, sp, dp);
	}
	if (n < 0 || (size_t)n >= len)
		return -1;
	return n;
}

int
proxy_v2_parse(const uint8_t *p, size_t n, size_t *want,
    struct proxy_addr *pa, const char **why)
{
	size_t	 i, body, need;

	for (i = 0; i < n && i < PROXY_V2_SIG_LEN; i++) {
		if (p[i] != proxy_v2_sig[i]) {
			*why = "no PROXY v2 signature";
			return -1;
		}
	}
	if (n > 12 && p[12] != V2_PROXY) {
		*why = (p[12] >> 4) != 2 ? "not PROXY protocol version 2" :
		    "not the PROXY command";
		return -1;
	}
	if (n > 13 && p[13] != V2_TCP4 && p[13] != V2_TCP6) {
		*why = "not TCP over IPv4 or IPv6";
		return -1;
	}
	if (n < PROXY_V2_HDR_LEN) {
		*want = PROXY_V2_HDR_LEN;
		return 0;
	}
	body = (size_t)p[14] << 8 | p[15];
	/* No TLVs: the length is the address block's, exactly. */
	need = p[13] == V2_TCP4 ? 12 : 36;
	if (body != need) {
		*why = body > need ? "PROXY v2 header longer than its bound" :
		    "PROXY v2 address block too short";
		return -1;
	}
	*want = PROXY_V2_HDR_LEN + body;
	if (n < *want)
		return 0;
	memset(pa, 0, sizeof(*pa));
	if (p[13] == V2_TCP4) {
		struct sockaddr_in *s = (struct sockaddr_in *)&pa->pa_src;
		struct sockaddr_in *d = (struct sockaddr_in *)&pa->pa_dst;
		s->sin_family = d->sin_family = AF_INET;
		memcpy(&s->sin_addr, p + 16, 4);
		memcpy(&d->sin_addr, p + 20, 4);
		memcpy(&s->sin_port, p + 24, 2);
		memcpy(&d->sin_port, p + 26, 2);
	} else {
		struct sockaddr_in6 *s = (struct sockaddr_in6 *)&pa->pa_src;
		struct sockaddr_in6 *d = (struct sockaddr_in6 *)&pa->pa_dst;
		s->sin6_family = d->sin6_family = AF_INET6;
		memcpy(&s->sin6_addr, p + 16, 16);
		memcpy(&d->sin6_addr, p + 32, 16);
		memcpy(&s->sin6_port, p + 48, 2);
		memcpy(&d->sin6_port, p + 50, 2);
	}
	return 1;
}
