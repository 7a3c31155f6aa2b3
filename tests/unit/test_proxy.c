/*
 * test_proxy: the PROXY protocol headers, against byte vectors written
 * from HAProxy's specification (not from our builder).
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>

#include "proxy.h"
#include "unit.h"

static void
v4(struct sockaddr_storage *ss, const char *a, unsigned port)
{
	struct sockaddr_in *s = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin_family = AF_INET;
	s->sin_port = htons(port);
	inet_pton(AF_INET, a, &s->sin_addr);
}

static void
v6(struct sockaddr_storage *ss, const char *a, unsigned port)
{
	struct sockaddr_in6 *s = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	s->sin6_family = AF_INET6;
	s->sin6_port = htons(port);
	inet_pton(AF_INET6, a, &s->sin6_addr);
}

static void
pair4(struct proxy_addr *pa)
{
	struct sockaddr_storage	 s, d;

	v4(&s, "127.0.0.5", 40123);
	v4(&d, "127.0.0.1", 9005);
	CHECK_EQ(proxy_addr_set(pa, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
}

/* 127.0.0.5:40123 -> 127.0.0.1:9005, as the specification lays it out. */
static const uint8_t want4[] = {
	0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a,
	0x21, 0x11, 0x00, 0x0c,
	127, 0, 0, 5, 127, 0, 0, 1,
	0x9c, 0xbb, 0x23, 0x2d,
};

static void
test_v2_ipv4_bytes(void)
{
	struct proxy_addr	 pa;
	uint8_t			 out[PROXY_V2_MAX];

	pair4(&pa);
	CHECK_EQ(proxy_v2_build(&pa, out, sizeof(out)), sizeof(want4));
	CHECK(memcmp(out, want4, sizeof(want4)) == 0);
	CHECK_EQ(proxy_v2_build(&pa, out, sizeof(want4) - 1), -1);
}

static void
test_v2_ipv6_bytes(void)
{
	struct sockaddr_storage	 s, d;
	struct proxy_addr	 pa, back;
	uint8_t			 out[PROXY_V2_MAX];
	size_t			 want;
	const char		*why;

	v6(&s, "2001:db8::5", 65535);
	v6(&d, "::1", 1);
	CHECK_EQ(proxy_addr_set(&pa, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	CHECK_EQ(proxy_v2_build(&pa, out, sizeof(out)), 52);
	CHECK_EQ(out[12], 0x21);
	CHECK_EQ(out[13], 0x21);
	CHECK_EQ(out[14], 0);
	CHECK_EQ(out[15], 36);
	CHECK_EQ(out[16], 0x20);
	CHECK_EQ(out[17], 0x01);
	CHECK_EQ(out[31], 5);
	CHECK_EQ(out[47], 1);
	CHECK_EQ(out[48], 0xff);
	CHECK_EQ(out[49], 0xff);
	CHECK_EQ(out[50], 0);
	CHECK_EQ(out[51], 1);
	CHECK_EQ(proxy_v2_parse(out, 52, &want, &back, &why), 1);
	CHECK_EQ(want, 52);
	CHECK(memcmp(&back, &pa, sizeof(pa)) == 0);
}

static void
test_v2_local(void)
{
	uint8_t	 out[PROXY_V2_MAX];

	CHECK_EQ(proxy_v2_build(NULL, out, sizeof(out)), 16);
	CHECK(memcmp(out, want4, 12) == 0);
	CHECK_EQ(out[12], 0x20);
	CHECK_EQ(out[13], 0);
	CHECK_EQ(out[14], 0);
	CHECK_EQ(out[15], 0);
}

static void
test_v1_text(void)
{
	struct sockaddr_storage	 s, d;
	struct proxy_addr	 pa;
	char			 out[PROXY_V1_MAX];
	const char		*w6;

	pair4(&pa);
	CHECK_EQ(proxy_v1_build(&pa, out, sizeof(out)), 43);
	CHECK(strcmp(out, "PROXY TCP4 127.0.0.5 127.0.0.1 40123 9005\r\n") == 0);
	v6(&s, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", 65535);
	v6(&d, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65534);
	CHECK_EQ(proxy_addr_set(&pa, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	w6 = "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe "
	    "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65534\r\n";
	/* The longest there is: within the bound the specification sets. */
	CHECK_EQ(proxy_v1_build(&pa, out, sizeof(out)), strlen(w6));
	CHECK(strlen(w6) <= 107);
	CHECK(strcmp(out, w6) == 0);
	CHECK_EQ(proxy_v1_build(&pa, out, strlen(w6)), -1);
	CHECK_EQ(proxy_v1_build(NULL, out, sizeof(out)), 15);
	CHECK(strcmp(out, "PROXY UNKNOWN\r\n") == 0);
}

static void
test_v4_mapped(void)
{
	struct sockaddr_storage	 s, d;
	struct proxy_addr	 pa;
	uint8_t			 out[PROXY_V2_MAX];

	v6(&s, "::ffff:127.0.0.5", 40123);
	v6(&d, "::ffff:127.0.0.1", 9005);
	CHECK_EQ(proxy_addr_set(&pa, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), 0);
	CHECK_EQ(pa.pa_src.ss_family, AF_INET);
	CHECK_EQ(proxy_v2_build(&pa, out, sizeof(out)), sizeof(want4));
	CHECK(memcmp(out, want4, sizeof(want4)) == 0);
	/* A mixed pair is no TCP connection. */
	v4(&d, "127.0.0.1", 9005);
	CHECK_EQ(proxy_addr_set(&pa, (struct sockaddr *)&s,
	    (struct sockaddr *)&d), -1);
}

/* Every prefix is a good beginning; the whole is the header. */
static void
test_parse_prefixes(void)
{
	struct proxy_addr	 pa, want;
	size_t			 n, w;
	const char		*why;
	uint8_t			*p;

	pair4(&want);
	for (n = 0; n < sizeof(want4); n++) {
		/* Exactly n bytes: a read past them is a sanitizer error. */
		p = malloc(n ? n : 1);
		CHECK(p != NULL);
		memcpy(p, want4, n);
		w = 0;
		if (proxy_v2_parse(p, n, &w, &pa, &why) != 0) {
			free(p);
			CHECK(0);
		}
		free(p);
		CHECK(w > n);
		CHECK(w <= sizeof(want4));
	}
	CHECK_EQ(proxy_v2_parse(want4, sizeof(want4), &w, &pa, &why), 1);
	CHECK_EQ(w, sizeof(want4));
	CHECK(memcmp(&pa, &want, sizeof(pa)) == 0);
}

static void
test_parse_rejects(void)
{
	static const struct { size_t at; uint8_t v; } bad[] = {
		{ 0, 'P' },	/* a version 1 header */
		{ 11, 0x0b },	/* signature */
		{ 12, 0x11 },	/* version 1 */
		{ 12, 0x31 },	/* version 3 */
		{ 12, 0x20 },	/* LOCAL */
		{ 12, 0x22 },	/* unknown command */
		{ 13, 0x00 },	/* AF_UNSPEC */
		{ 13, 0x12 },	/* UDP */
		{ 13, 0x31 },	/* AF_UNIX */
		{ 14, 0x01 },	/* length 268 */
		{ 14, 0xff },	/* length 65292 */
		{ 15, 0x0b },	/* 11: too short for TCP4 */
		{ 15, 0x0d },	/* 13: a TLV would follow */
		{ 15, 0x24 },	/* 36 with TCP4 */
	};
	uint8_t		 h[sizeof(want4)];
	struct proxy_addr pa;
	size_t		 i, w;
	const char	*why;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memcpy(h, want4, sizeof(h));
		h[bad[i].at] = bad[i].v;
		why = NULL;
		/* Known bad as soon as the byte is there. */
		if (proxy_v2_parse(h, bad[i].at < 14 ? bad[i].at + 1 : 16,
		    &w, &pa, &why) != -1 || why == NULL) {
			fprintf(stderr, "  accepted byte %zu = 0x%02x\n",
			    bad[i].at, bad[i].v);
			CHECK(0);
		}
		CHECK_EQ(proxy_v2_parse(h, sizeof(h), &w, &pa, &why), -1);
	}
}

/* Random bytes: no crash, and nothing longer than the bound is taken. */
static void
test_parse_random(void)
{
	uint8_t		 h[64];
	struct proxy_addr pa;
	uint32_t	 x = 12345;
	size_t		 i, j, w, n;
	const char	*why;
	int		 rv;

	for (i = 0; i < 200000; i++) {
		memcpy(h, want4, sizeof(want4));
		for (j = 0; j < 3; j++) {
			x = x * 1103515245 + 12345;
			h[(x >> 8) % sizeof(h)] = (uint8_t)(x >> 20);
		}
		x = x * 1103515245 + 12345;
		n = (x >> 10) % (sizeof(h) + 1);
		rv = proxy_v2_parse(h, n, &w, &pa, &why);
		if (rv == 1)
			CHECK(w <= PROXY_V2_MAX && w <= n);
		if (rv == 0)
			CHECK(w > n && w <= PROXY_V2_MAX);
	}
}

int
main(void)
{
	RUN(test_v2_ipv4_bytes);
	RUN(test_v2_ipv6_bytes);
	RUN(test_v2_local);
	RUN(test_v1_text);
	RUN(test_v4_mapped);
	RUN(test_parse_prefixes);
	RUN(test_parse_rejects);
	RUN(test_parse_random);
	UNIT_END();
}
