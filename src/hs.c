/*
 * hs: the encrypted session's handshake on the wire (include/hs.h).
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "crypto.h"
#include "hs.h"
#include "noise.h"

int
hs_kind(const uint8_t pre[HS_PREAMBLE_LEN])
{
	if (memcmp(pre, HS_PREAMBLE_IK, HS_PREAMBLE_LEN) == 0)
		return HS_IK;
	if (memcmp(pre, HS_PREAMBLE_PSK, HS_PREAMBLE_LEN) == 0)
		return HS_PSK;
	return 0;
}

static const uint8_t *
hs_prologue(int kind)
{
	return (const uint8_t *)(kind == HS_IK ? HS_PREAMBLE_IK :
	    HS_PREAMBLE_PSK);
}

static void
hs_put16(uint8_t *p, size_t n)
{
	p[0] = (uint8_t)(n >> 8);
	p[1] = (uint8_t)n;
}

/* The reply to a message 1 that did not authenticate. */
static int
hs_bad(int kind, const uint8_t *s_pub, uint8_t *out, size_t *outlen)
{
	hs_put16(out, 0);
	*outlen = 2;
	if (kind == HS_IK && s_pub != NULL) {
		memcpy(out + 2, s_pub, 32);
		*outlen += 32;
	}
	return HS_BAD;
}

int
hs_respond(int kind, const uint8_t *s_priv, const uint8_t *s_pub,
    const uint8_t *psk, hs_check_fn *check, void *arg, const uint8_t *msg1,
    size_t len, uint8_t *out, size_t *outlen, uint8_t keys[64],
    uint8_t rs[32], const char **why)
{
	struct noise_config	 nc;
	struct noise_hs		 hs;
	struct noise_cs		 tx, rx;
	uint8_t			 payload[HS_MSG1_MAX];
	char			 line[8 + HS_ERR_MAX + 1];
	const char		*refusal = NULL;
	size_t			 plen, n;
	int			 rv;

	*outlen = 0;
	memset(&nc, 0, sizeof(nc));
	nc.nc_role = NOISE_RESPONDER;
	nc.nc_prologue_len = HS_PREAMBLE_LEN;
	if (kind == HS_IK && s_priv != NULL && s_pub != NULL) {
		nc.nc_pattern = NOISE_IK;
		nc.nc_s_priv = s_priv;
	} else if (kind == HS_PSK && psk != NULL) {
		nc.nc_pattern = NOISE_NNPSK0;
		nc.nc_psk = psk;
	} else {
		*why = kind == HS_IK ? "the relay has no key (--key)" :
		    "the relay has no secret (--secret-file)";
		return hs_bad(kind, NULL, out, outlen);
	}
	nc.nc_prologue = hs_prologue(kind);
	if (len > HS_MSG1_MAX || noise_hs_init(&hs, &nc) != NOISE_OK) {
		*why = "bad message 1";
		return hs_bad(kind, s_pub, out, outlen);
	}
	rv = noise_hs_read(&hs, msg1, len, payload, sizeof(payload), &plen);
	crypto_wipe(payload, sizeof(payload));
	if (rv != NOISE_OK) {
		noise_hs_wipe(&hs);
		*why = rv == NOISE_ERR_AUTH ? (kind == HS_IK ? "message 1 did "
		    "not authenticate (the backend pinned another relay key?)" :
		    "message 1 did not authenticate (a wrong secret?)") :
		    noise_strerror(rv);
		return hs_bad(kind, s_pub, out, outlen);
	}
	if (kind == HS_IK) {
		memcpy(rs, noise_hs_remote_static(&hs), 32);
		if (check != NULL)
			refusal = check(arg, rs);
	}
	n = 0;
	if (refusal != NULL)
		n = (size_t)snprintf(line, sizeof(line), "error: %.*s",
		    HS_ERR_MAX - 7, refusal);
	rv = noise_hs_write(&hs, (const uint8_t *)line, n, out + 2,
	    HS_REPLY_MAX - 2, outlen);
	if (rv != NOISE_OK) {
		noise_hs_wipe(&hs);
		*why = noise_strerror(rv);
		return hs_bad(kind, s_pub, out, outlen);
	}
	hs_put16(out, *outlen);
	*outlen += 2;
	if (refusal != NULL) {
		noise_hs_wipe(&hs);
		*why = refusal;
		return HS_REFUSED;
	}
	rv = noise_hs_split(&hs, &tx, &rx);
	noise_hs_wipe(&hs);
	if (rv != NOISE_OK) {
		*why = noise_strerror(rv);
		return hs_bad(kind, s_pub, out, outlen);
	}
	memcpy(keys, tx.cs_k, 32);
	memcpy(keys + 32, rx.cs_k, 32);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
	*why = NULL;
	return HS_OK;
}

int
hs_confirm(const uint8_t rxkey[32], const uint8_t *rec, size_t len,
    uint8_t *pt, size_t *ptlen)
{
	struct noise_cs		 cs;
	struct noise_rec_rx	*rx;
	uint8_t			 buf[HS_REC1_MAX];
	const uint8_t		*p;
	size_t			 n;
	ssize_t			 used;
	int			 rv = -1;

	*ptlen = 0;
	if (len > sizeof(buf) || (rx = malloc(sizeof(*rx))) == NULL)
		return -1;
	memset(&cs, 0, sizeof(cs));
	memcpy(cs.cs_k, rxkey, 32);
	cs.cs_haskey = 1;
	cs.cs_rekey = NOISE_REKEY_RECORDS;
	noise_rec_rx_init(rx, &cs);
	memcpy(buf, rec, len);
	used = noise_rec_open(rx, buf, len, &p, &n);
	if (used == (ssize_t)len && p != NULL) {
		memcpy(pt, p, n);
		*ptlen = n;
		rv = 0;
	}
	noise_rec_rx_wipe(rx);
	free(rx);
	crypto_wipe(buf, sizeof(buf));
	return rv;
}

/* ---- the backend's side ---- */

static long long
hs_ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* All of len bytes, by the deadline: 0, or -1 with err set. */
static int
hs_io(int fd, int out, uint8_t *p, size_t len, long long deadline,
    char *err, size_t errlen)
{
	struct pollfd	 pfd;
	ssize_t		 n;
	long long	 left;

	while (len > 0) {
		n = out ? write(fd, p, len) : read(fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0) {
			snprintf(err, errlen, "the relay closed the connection "
			    "during the handshake");
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK) {
			snprintf(err, errlen, "handshake: %s", strerror(errno));
			return -1;
		}
		if ((left = deadline - hs_ms_now()) <= 0) {
			snprintf(err, errlen, "the relay did not complete the "
			    "handshake in time");
			return -1;
		}
		pfd.fd = fd;
		pfd.events = out ? POLLOUT : POLLIN;
		(void)poll(&pfd, 1, left > 1000000 ? 1000000 : (int)left);
	}
	return 0;
}

int
hs_initiate(int fd, int kind, const uint8_t *s_priv, const uint8_t *rs,
    const uint8_t *psk, unsigned timeout_ms, struct noise_cs *tx,
    struct noise_cs *rx, uint8_t relay_pub[32], int *has_relay_pub,
    char *err, size_t errlen)
{
	struct noise_config	 nc;
	struct noise_hs		 hs;
	uint8_t			 buf[HS_PREAMBLE_LEN + 2 + HS_MSG1_MAX];
	uint8_t			 reply[HS_REPLY_MAX], payload[HS_REPLY_MAX];
	long long		 deadline = hs_ms_now() + timeout_ms;
	size_t			 n, plen, i;
	int			 rv, ret = HS_E_IO;

	*has_relay_pub = 0;
	memset(&nc, 0, sizeof(nc));
	nc.nc_role = NOISE_INITIATOR;
	nc.nc_prologue = hs_prologue(kind);
	nc.nc_prologue_len = HS_PREAMBLE_LEN;
	if (kind == HS_IK) {
		nc.nc_pattern = NOISE_IK;
		nc.nc_s_priv = s_priv;
		nc.nc_rs = rs;
	} else {
		nc.nc_pattern = NOISE_NNPSK0;
		nc.nc_psk = psk;
	}
	if ((rv = noise_hs_init(&hs, &nc)) != NOISE_OK) {
		snprintf(err, errlen, "handshake: %s", noise_strerror(rv));
		return HS_E_IO;
	}
	memcpy(buf, hs_prologue(kind), HS_PREAMBLE_LEN);
	rv = noise_hs_write(&hs, NULL, 0, buf + HS_PREAMBLE_LEN + 2,
	    HS_MSG1_MAX, &n);
	if (rv != NOISE_OK) {
		snprintf(err, errlen, "handshake: %s", noise_strerror(rv));
		goto out;
	}
	hs_put16(buf + HS_PREAMBLE_LEN, n);
	if (hs_io(fd, 1, buf, HS_PREAMBLE_LEN + 2 + n, deadline, err,
	    errlen) == -1 ||
	    hs_io(fd, 0, reply, 2, deadline, err, errlen) == -1)
		goto out;
	n = (size_t)reply[0] << 8 | reply[1];
	if (n == 0) {
		/* The relay could not authenticate us; it may say its key. */
		ret = HS_E_RELAYKEY;
		snprintf(err, errlen, "the relay could not authenticate the "
		    "handshake");
		if (kind == HS_IK && hs_io(fd, 0, relay_pub, 32, deadline,
		    err, errlen) == 0)
			*has_relay_pub = 1;
		goto out;
	}
	if (n > sizeof(reply) - 2) {
		snprintf(err, errlen, "the relay's handshake reply is too "
		    "long (%zu bytes)", n);
		goto out;
	}
	if (hs_io(fd, 0, reply + 2, n, deadline, err, errlen) == -1)
		goto out;
	rv = noise_hs_read(&hs, reply + 2, n, payload, sizeof(payload), &plen);
	if (rv != NOISE_OK) {
		snprintf(err, errlen, "the relay's handshake reply did not "
		    "authenticate (%s)", noise_strerror(rv));
		goto out;
	}
	if (plen > 0) {
		/* A refusal: printable text only reaches the caller's log. */
		if (plen > 7 && memcmp(payload, "error: ", 7) == 0) {
			for (i = 7; i < plen; i++)
				if (payload[i] < 0x20 || payload[i] > 0x7e)
					payload[i] = '?';
			snprintf(err, errlen, "%.*s", (int)(plen - 7),
			    payload + 7);
			ret = HS_E_REFUSED;
		} else
			snprintf(err, errlen, "the relay's handshake reply "
			    "carries an unexpected payload");
		goto out;
	}
	if ((rv = noise_hs_split(&hs, tx, rx)) != NOISE_OK) {
		snprintf(err, errlen, "handshake: %s", noise_strerror(rv));
		goto out;
	}
	ret = 0;
out:
	noise_hs_wipe(&hs);
	crypto_wipe(buf, sizeof(buf));
	return ret;
}
