/*
 * hello: the registration extension (docs/PROTOCOL.md).  Our backends send
 * a hello as the payload of the Data frame that opens the registration
 * stream:
 *
 *	relay-hello 1[ key=value]...\n
 *
 * Keys: name (1..63 of [A-Za-z0-9._-]), port (1..65535), and addr=1: send
 * the client's address on every tunnel stream (a PROXY v2 header, proxy.h;
 * the relay confirms with " addr=1" after the tunnel address).  Unknown
 * keys, and values of addr other than 1, are ignored so that newer backends
 * can talk to older relays, and so that the ts, nonce and mac of older
 * backends (their proof of the secret, before encrypted sessions) are too.
 */
#ifndef RELAY_HELLO_H
#define RELAY_HELLO_H

#include <stddef.h>
#include <stdint.h>

#define HELLO_MAX	512
#define HELLO_MAGIC	"relay-hello 1"

struct hello {
	char		 h_name[64];
	unsigned	 h_port;	/* 0 = any */
	int		 h_addr;	/* addr=1: client addresses */
};

/*
 * Parse a complete hello line (with or without the final newline).
 * 0, or -1 with the reason in *why.
 */
int	 hello_parse(const char *, size_t, struct hello *, const char **why);
/* Build the line, newline included; returns its length or -1. */
int	 hello_build(const struct hello *, char *, size_t);
/* Non-zero when name is a valid backend name. */
int	 hello_name_ok(const char *);

#endif /* RELAY_HELLO_H */
