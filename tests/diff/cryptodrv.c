/*
 * cryptodrv: our crypto on the other end of a pipe, for the differential
 * tests (tests/diff/diff_*.py), which compare it with independent
 * implementations (Python's cryptography and hashlib).
 *
 * cryptodrv prim: one command per line on stdin, one answer per line on
 * stdout.  Byte strings are lowercase hex, "-" for empty; FAIL marks a
 * refusal.
 *	x SCALAR POINT		X25519: OUT, or FAIL OUT for a zero result
 *	xb PRIV			the public key
 *	seal KEY NONCE AD PT	ciphertext || tag
 *	open KEY NONCE AD CT	plaintext, or FAIL (output checked wiped)
 *	chacha KEY NONCE CTR M	ChaCha20 from block CTR (every vector level
 *				must agree, else MISMATCH)
 *	poly KEY M		Poly1305 tag (one-shot and in pieces)
 *	b2s OUTLEN KEY M	BLAKE2s (one-shot and in pieces)
 *	hmac KEY M		HMAC-BLAKE2s
 *	hkdf CK IKM		Noise's HKDF: three outputs, space-separated
 *	b64 KEY			base64 of 32 bytes
 *	unb64 TEXT		the key, or FAIL
 *	fp PUB			the fingerprint
 *	psk SECRET		keys_psk()
 *
 * cryptodrv noise IK|NNpsk0 initiator|responder [NAME=HEX|NUM]...: one
 * side of a session over stdin/stdout.  s= static private key, rs= pinned
 * remote key, psk=, prologue=, payload= (of message 1 when initiator),
 * e= a fixed ephemeral, dh=1 (responder's static key behind the DH
 * callback), rekey=N (records between rekeys; default the product's),
 * seed=N (read stdin in pieces of pseudo-random sizes).  Handshake
 * messages are framed with a 2-byte big-endian length.  After the split
 * it sends one record, h || the payload it received (|| the remote static
 * key for an IK responder), then echoes every record's plaintext back in
 * a record until EOF.  Exit: 0 at EOF, 3 a bad record, 10 + n a handshake
 * error NOISE_ERR_n (12 authentication, 11 malformed, 13 DH), 64 usage.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "keys.h"
#include "noise.h"

#define LINE_MAX_	(1 << 20)

static int
unhex(const char *s, uint8_t *out, size_t cap, size_t *n)
{
	size_t	 len = strlen(s), i;
	int	 hi, lo;

	*n = 0;
	if (strcmp(s, "-") == 0)
		return 0;
	if (len % 2 != 0 || len / 2 > cap)
		return -1;
	for (i = 0; i < len; i += 2) {
		hi = s[i] <= '9' ? s[i] - '0' : s[i] - 'a' + 10;
		lo = s[i + 1] <= '9' ? s[i + 1] - '0' : s[i + 1] - 'a' + 10;
		if (hi < 0 || hi > 15 || lo < 0 || lo > 15)
			return -1;
		out[i / 2] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return 0;
}

static void
puthex(const uint8_t *p, size_t n)
{
	size_t	 i;

	if (n == 0)
		putchar('-');
	for (i = 0; i < n; i++)
		printf("%02x", p[i]);
}

/* Field i (0-based) of a space-separated line, hex-decoded. */
static int
field(char **f, int nf, int i, uint8_t *out, size_t cap, size_t *n)
{
	if (i >= nf)
		return -1;
	return unhex(f[i], out, cap, n);
}

static int
prim_line(char *line)
{
	static uint8_t	 a[LINE_MAX_], b[LINE_MAX_], c[LINE_MAX_],
			 d[LINE_MAX_], out[LINE_MAX_ + 32], ref[LINE_MAX_];
	char		*f[8], *p, txt[64];
	size_t		 na, nb, nc, nd, i, off, step;
	int		 nf = 0, l, r, ok;

	for (p = strtok(line, " "); p != NULL && nf < 8; p = strtok(NULL, " "))
		f[nf++] = p;
	if (nf == 0)
		return -1;
	if (strcmp(f[0], "x") == 0) {
		if (field(f, nf, 1, a, 32, &na) ||
		    field(f, nf, 2, b, 32, &nb) || na != 32 || nb != 32)
			return -1;
		r = crypto_x25519(out, a, b);
		printf("%s", r == 0 ? "" : "FAIL ");
		puthex(out, 32);
	} else if (strcmp(f[0], "xb") == 0) {
		if (field(f, nf, 1, a, 32, &na) || na != 32)
			return -1;
		crypto_x25519_base(out, a);
		puthex(out, 32);
	} else if (strcmp(f[0], "seal") == 0 || strcmp(f[0], "open") == 0) {
		if (field(f, nf, 1, a, 32, &na) ||
		    field(f, nf, 2, b, 12, &nb) ||
		    field(f, nf, 3, c, LINE_MAX_, &nc) ||
		    field(f, nf, 4, d, LINE_MAX_, &nd) || na != 32 || nb != 12)
			return -1;
		if (f[0][0] == 's') {
			crypto_aead_seal(out, d, nd, c, nc, b, a);
			/* in place must give the same */
			memcpy(ref, d, nd);
			crypto_aead_seal(ref, ref, nd, c, nc, b, a);
			if (memcmp(ref, out, nd + 16) != 0) {
				printf("MISMATCH");
				return 0;
			}
			puthex(out, nd + 16);
		} else {
			memset(out, 0xee, nd);
			if (crypto_aead_open(out, d, nd, c, nc, b, a) == -1) {
				ok = 1;
				for (i = 0; nd >= 16 && i < nd - 16; i++)
					ok &= out[i] == 0;
				printf("%s", ok ? "FAIL" : "NOTWIPED");
			} else
				puthex(out, nd - 16);
		}
	} else if (strcmp(f[0], "chacha") == 0) {
		if (field(f, nf, 1, a, 32, &na) ||
		    field(f, nf, 2, b, 12, &nb) || nf < 5 ||
		    field(f, nf, 4, d, LINE_MAX_, &nd) || na != 32 || nb != 12)
			return -1;
		crypto_impl_set(CRYPTO_IMPL_SCALAR);
		crypto_chacha20(ref, d, nd, a, b,
		    (uint32_t)strtoul(f[3], NULL, 10));
		for (l = CRYPTO_IMPL_SSE2; l <= CRYPTO_IMPL_AVX2; l++) {
			if (crypto_impl_set(l) != l)
				break;
			crypto_chacha20(out, d, nd, a, b,
			    (uint32_t)strtoul(f[3], NULL, 10));
			if (memcmp(out, ref, nd) != 0) {
				printf("MISMATCH");
				return 0;
			}
		}
		puthex(ref, nd);
	} else if (strcmp(f[0], "poly") == 0) {
		struct crypto_poly1305	 st;

		if (field(f, nf, 1, a, 32, &na) ||
		    field(f, nf, 2, d, LINE_MAX_, &nd) || na != 32)
			return -1;
		crypto_poly1305(out, d, nd, a);
		crypto_poly1305_init(&st, a);
		step = nd % 29 + 1;
		for (off = 0; off < nd; off += step)
			crypto_poly1305_update(&st, d + off,
			    nd - off < step ? nd - off : step);
		crypto_poly1305_final(&st, ref);
		if (memcmp(out, ref, 16) != 0) {
			printf("MISMATCH");
			return 0;
		}
		puthex(out, 16);
	} else if (strcmp(f[0], "b2s") == 0) {
		struct crypto_blake2s	 st;
		size_t			 outlen;

		if (nf < 4 || field(f, nf, 2, a, 32, &na) ||
		    field(f, nf, 3, d, LINE_MAX_, &nd))
			return -1;
		outlen = strtoul(f[1], NULL, 10);
		if (crypto_blake2s(out, outlen, na ? a : NULL, na, d,
		    nd) == -1) {
			printf("FAIL");
			return 0;
		}
		crypto_blake2s_init(&st, outlen, na ? a : NULL, na);
		step = nd % 67 + 1;
		for (off = 0; off < nd; off += step)
			crypto_blake2s_update(&st, d + off,
			    nd - off < step ? nd - off : step);
		crypto_blake2s_final(&st, ref);
		if (memcmp(out, ref, outlen) != 0) {
			printf("MISMATCH");
			return 0;
		}
		puthex(out, outlen);
	} else if (strcmp(f[0], "hmac") == 0) {
		if (field(f, nf, 1, a, LINE_MAX_, &na) ||
		    field(f, nf, 2, d, LINE_MAX_, &nd))
			return -1;
		crypto_hmac_blake2s(out, a, na, d, nd);
		puthex(out, 32);
	} else if (strcmp(f[0], "hkdf") == 0) {
		if (field(f, nf, 1, a, 32, &na) ||
		    field(f, nf, 2, d, LINE_MAX_, &nd) || na != 32)
			return -1;
		crypto_hkdf3(out, out + 32, out + 64, a, d, nd);
		crypto_hkdf2(ref, ref + 32, a, d, nd);
		if (memcmp(ref, out, 64) != 0) {
			printf("MISMATCH");
			return 0;
		}
		puthex(out, 32);
		putchar(' ');
		puthex(out + 32, 32);
		putchar(' ');
		puthex(out + 64, 32);
	} else if (strcmp(f[0], "b64") == 0) {
		if (field(f, nf, 1, a, 32, &na) || na != 32)
			return -1;
		keys_b64_encode(txt, a);
		printf("%s", txt);
	} else if (strcmp(f[0], "unb64") == 0) {
		if (nf < 2)
			return -1;
		if (keys_b64_decode(out, f[1], strlen(f[1])) == -1)
			printf("FAIL");
		else
			puthex(out, 32);
	} else if (strcmp(f[0], "fp") == 0) {
		if (field(f, nf, 1, a, 32, &na) || na != 32)
			return -1;
		keys_fingerprint(txt, a);
		printf("%s", txt);
	} else if (strcmp(f[0], "psk") == 0) {
		if (field(f, nf, 1, a, LINE_MAX_, &na))
			return -1;
		keys_psk(out, a, na);
		puthex(out, 32);
	} else
		return -1;
	return 0;
}

static int
run_prim(void)
{
	static char	 line[4 * LINE_MAX_ + 64];
	size_t		 n;

	while (fgets(line, sizeof(line), stdin) != NULL) {
		n = strlen(line);
		if (n > 0 && line[n - 1] == '\n')
			line[--n] = '\0';
		if (prim_line(line) == -1) {
			fprintf(stderr, "cryptodrv: bad command: %.40s\n",
			    line);
			return 64;
		}
		putchar('\n');
	}
	return fflush(stdout) == 0 ? 0 : 70;
}

/* The noise side. */

static uint8_t	 master_key[32];

static int
master_dh(void *arg, uint8_t out[32], const uint8_t remote[32])
{
	(void)arg;
	return crypto_x25519(out, master_key, remote);
}

static uint32_t	 rnd_state;

/* A small deterministic generator for the read sizes (not for keys). */
static uint32_t
rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 17;
	rnd_state ^= rnd_state << 5;
	return rnd_state;
}

static int
write_all(const uint8_t *p, size_t n)
{
	ssize_t	 r;

	while (n > 0) {
		if ((r = write(1, p, n)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/* Exactly n bytes from stdin: 0, or -1 at EOF or error. */
static int
read_exact(uint8_t *p, size_t n)
{
	ssize_t	 r;

	while (n > 0) {
		if ((r = read(0, p, n)) <= 0) {
			if (r == -1 && errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
send_msg(const uint8_t *m, size_t n)
{
	uint8_t	 h[2] = { (uint8_t)(n >> 8), (uint8_t)n };

	return write_all(h, 2) == 0 && write_all(m, n) == 0 ? 0 : -1;
}

static int
recv_msg(uint8_t *m, size_t *n)
{
	uint8_t	 h[2];

	if (read_exact(h, 2) == -1)
		return -1;
	*n = (size_t)h[0] << 8 | h[1];
	return read_exact(m, *n);
}

static int
hs_exit(const char *what, int err)
{
	fprintf(stderr, "cryptodrv: %s: %s\n", what, noise_strerror(err));
	return 10 - err;
}

static int
run_noise(int argc, char *argv[])
{
	static uint8_t		 msg[NOISE_MSG_MAX], pay[NOISE_MSG_MAX],
				 inbuf[70000], rec[NOISE_REC_HDR +
				    NOISE_REC_MAX], first[NOISE_MSG_MAX + 64];
	static struct noise_rec_rx rx;
	struct noise_config	 c;
	struct noise_hs		 hs;
	struct noise_cs		 tx, rxcs;
	uint8_t			 s[32], rs[32], psk[32], e[32], spub[32];
	uint8_t			 prologue[256], p1[1024];
	const uint8_t		*pt;
	size_t			 n, m, plen = 0, np1 = 0, nprol = 0, ptlen, k,
				 want, got;
	uint64_t		 rekey = 0;
	ssize_t			 r;
	int			 init, i, err, have_e = 0, use_dh = 0;

	memset(&c, 0, sizeof(c));
	if (argc < 2)
		return 64;
	c.nc_pattern = strcmp(argv[0], "IK") == 0 ? NOISE_IK :
	    strcmp(argv[0], "NNpsk0") == 0 ? NOISE_NNPSK0 : 0;
	init = strcmp(argv[1], "initiator") == 0;
	c.nc_role = init ? NOISE_INITIATOR : NOISE_RESPONDER;
	for (i = 2; i < argc; i++) {
		char	*v = strchr(argv[i], '=');

		if (v == NULL)
			return 64;
		*v++ = '\0';
		if (strcmp(argv[i], "s") == 0 && unhex(v, s, 32, &n) == 0 &&
		    n == 32)
			c.nc_s_priv = s;
		else if (strcmp(argv[i], "rs") == 0 &&
		    unhex(v, rs, 32, &n) == 0 && n == 32)
			c.nc_rs = rs;
		else if (strcmp(argv[i], "psk") == 0 &&
		    unhex(v, psk, 32, &n) == 0 && n == 32)
			c.nc_psk = psk;
		else if (strcmp(argv[i], "e") == 0 &&
		    unhex(v, e, 32, &n) == 0 && n == 32)
			have_e = 1;
		else if (strcmp(argv[i], "prologue") == 0 &&
		    unhex(v, prologue, sizeof(prologue), &nprol) == 0)
			;
		else if (strcmp(argv[i], "payload") == 0 &&
		    unhex(v, p1, sizeof(p1), &np1) == 0)
			;
		else if (strcmp(argv[i], "dh") == 0)
			use_dh = atoi(v);
		else if (strcmp(argv[i], "rekey") == 0)
			rekey = strtoull(v, NULL, 10);
		else if (strcmp(argv[i], "seed") == 0)
			rnd_state = (uint32_t)strtoul(v, NULL, 10) | 1;
		else
			return 64;
	}
	c.nc_prologue = prologue;
	c.nc_prologue_len = nprol;
	if (use_dh && c.nc_s_priv != NULL) {
		memcpy(master_key, s, 32);
		crypto_x25519_base(spub, s);
		c.nc_s_priv = NULL;
		c.nc_s_pub = spub;
		c.nc_dh = master_dh;
	}
	if ((err = noise_hs_init(&hs, &c)) != 0)
		return hs_exit("init", err);
	if (have_e)
		noise_hs_set_ephemeral(&hs, e);
	if (init) {
		if ((err = noise_hs_write(&hs, p1, np1, msg, sizeof(msg),
		    &n)) != 0)
			return hs_exit("write message 1", err);
		if (send_msg(msg, n) == -1 || recv_msg(msg, &n) == -1)
			return 3;
		if ((err = noise_hs_read(&hs, msg, n, pay, sizeof(pay),
		    &plen)) != 0)
			return hs_exit("read message 2", err);
	} else {
		if (recv_msg(msg, &n) == -1)
			return 3;
		if ((err = noise_hs_read(&hs, msg, n, pay, sizeof(pay),
		    &plen)) != 0)
			return hs_exit("read message 1", err);
		/* Echo the payload, and the initiator's key as learned. */
		if (noise_hs_remote_static(&hs) != NULL) {
			memcpy(pay + plen, noise_hs_remote_static(&hs), 32);
			plen += 32;
		}
		if ((err = noise_hs_write(&hs, pay, plen, msg, sizeof(msg),
		    &n)) != 0)
			return hs_exit("write message 2", err);
		if (send_msg(msg, n) == -1)
			return 3;
	}
	if (noise_hs_next(&hs) != NOISE_SPLIT ||
	    noise_hs_split(&hs, &tx, &rxcs) != 0)
		return hs_exit("split", NOISE_ERR_STATE);
	if (rekey != 0) {
		noise_cs_set_rekey(&tx, rekey);
		noise_cs_set_rekey(&rxcs, rekey);
	}
	noise_rec_rx_init(&rx, &rxcs);
	noise_hs_handshake_hash(&hs, first);
	memcpy(first + 32, pay, plen);
	n = noise_rec_seal(&tx, first, 32 + plen, rec);
	noise_hs_wipe(&hs);
	if (n == 0 || write_all(rec, n) == -1)
		return 3;

	/* Echo until EOF; read sizes vary to split records anywhere. */
	for (;;) {
		want = sizeof(inbuf);
		if (rnd_state != 0)
			want = rnd() % 3 == 0 ? 1 + rnd() % 7 :
			    1 + rnd() % sizeof(inbuf);
		if ((r = read(0, inbuf, want)) == -1) {
			if (errno == EINTR)
				continue;
			return 3;
		}
		if (r == 0)
			break;
		got = (size_t)r;
		for (k = 0; k < got; k += (size_t)r) {
			if ((r = noise_rec_open(&rx, inbuf + k, got - k, &pt,
			    &ptlen)) < 0) {
				fprintf(stderr, "cryptodrv: record: bad "
				    "length or tag\n");
				return 3;
			}
			if (ptlen == 0)
				continue;
			if ((m = noise_rec_seal(&tx, pt, ptlen, rec)) == 0 ||
			    write_all(rec, m) == -1)
				return 3;
		}
	}
	if (rx.rx_have != 0) {
		fprintf(stderr, "cryptodrv: EOF inside a record\n");
		return 3;
	}
	noise_rec_rx_wipe(&rx);
	noise_cs_wipe(&tx);
	return 0;
}

int
main(int argc, char *argv[])
{
	if (argc >= 2 && strcmp(argv[1], "prim") == 0)
		return run_prim();
	if (argc >= 4 && strcmp(argv[1], "noise") == 0)
		return run_noise(argc - 2, argv + 2);
	fprintf(stderr, "usage: cryptodrv prim | cryptodrv noise IK|NNpsk0 "
	    "initiator|responder [NAME=VALUE]...\n");
	return 64;
}
