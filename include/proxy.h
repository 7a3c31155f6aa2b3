/*
 * proxy: the PROXY protocol header (HAProxy's specification, versions 1
 * and 2), built and parsed with no I/O.
 *
 * The relay tells a backend that asked (hello key addr=1) who each
 * client is with a version 2 header as the payload of the Data frame that
 * opens the client's stream (docs/PROTOCOL.md): the PROXY command, TCP
 * over IPv4 or IPv6, the client as source, the address and port the
 * client connected to (the tunnel port) as destination, no TLVs.  So it
 * is never longer than PROXY_V2_MAX.  relayexpose --proxy-protocol writes
 * a version 1 or 2 header to its target.
 *
 * IPv4-mapped IPv6 addresses (::ffff:a.b.c.d on a dual-stack socket) are
 * written as IPv4 when both ends are mapped: the client is an IPv4 client.
 * The relay's own listeners are IPv6-only, so it does not meet them.
 */
#ifndef RELAY_PROXY_H
#define RELAY_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V2_SIG_LEN	12
#define PROXY_V2_HDR_LEN	16	/* signature, command, family, length */
#define PROXY_V2_LEN4		(PROXY_V2_HDR_LEN + 12)
#define PROXY_V2_LEN6		(PROXY_V2_HDR_LEN + 36)
#define PROXY_V2_MAX		PROXY_V2_LEN6
/* "PROXY TCP6 " two addresses of 39, two ports of 5, spaces, CRLF: 104. */
#define PROXY_V1_MAX		108

extern const uint8_t proxy_v2_sig[PROXY_V2_SIG_LEN];

struct proxy_addr {
	struct sockaddr_storage	 pa_src;	/* the client */
	struct sockaddr_storage	 pa_dst;	/* where it connected to */
};

/*
 * The addresses of a connection (getpeername, getsockname): both AF_INET
 * or both AF_INET6; IPv4-mapped pairs become IPv4.  0, or -1 when the
 * families are not a TCP pair.
 */
int	 proxy_addr_set(struct proxy_addr *, const struct sockaddr *src,
	    const struct sockaddr *dst);

/*
 * Version 2: PROXY over TCP4/TCP6 for an address, LOCAL (no address) for
 * NULL.  Returns the length written, or -1 when len is too small.
 */
int	 proxy_v2_build(const struct proxy_addr *, uint8_t *, size_t len);
/*
 * Version 1: "PROXY TCP4|TCP6 SRC DST SPORT DPORT\r\n", or "PROXY
 * UNKNOWN\r\n" for NULL.  Returns the length (no NUL counted), or -1.
 */
int	 proxy_v1_build(const struct proxy_addr *, char *, size_t len);

/*
 * Parse the first n bytes of a stream as the relay's version 2 header
 * (the PROXY command, TCP4 or TCP6, exactly the address block's length:
 * nothing else is accepted).  Returns 1 when it is complete (*want is its
 * length, the address in *pa), 0 when the bytes so far are a good
 * beginning (*want is the length needed to go on, > n), -1 when they
 * cannot begin one (*why says why).
 */
int	 proxy_v2_parse(const uint8_t *, size_t n, size_t *want,
	    struct proxy_addr *, const char **why);

#endif /* RELAY_PROXY_H */
