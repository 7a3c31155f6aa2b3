/*
 * cryptobench: throughput of the crypto on one core (make crypto-bench).
 *
 *	cryptobench [--quick]
 *
 * ChaCha20 at every vector level, Poly1305, the AEAD (seal and open) and
 * the record layer in MB/s for 16 KiB and 64 KiB messages (and 1 KiB for
 * comparison); X25519 and complete handshakes per second.  Each figure is
 * the best of three runs of about 0.3 s of this thread's CPU time (0.1 s
 * with --quick): CPU time, not wall time, so that other processes on a
 * shared machine do not count against it (they still share the caches).
 * A measurement, not a test: it asserts nothing.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "crypto.h"
#include "noise.h"

static double	 run_secs = 0.3;
static uint8_t	 buf[65536 + 64], out[65536 + 64];
static uint8_t	 key[32], nonce[12];
static volatile uint8_t sink;

static double
now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* Calls of fn per second, best of three runs of run_secs each. */
static double
rate(void (*fn)(size_t), size_t arg)
{
	double		 best = 0, t0, t;
	unsigned long	 n, batch;
	int		 run;

	for (run = 0; run < 3; run++) {
		n = 0;
		batch = 1;
		t0 = now();
		do {
			for (unsigned long i = 0; i < batch; i++)
				fn(arg);
			n += batch;
			if (batch < 1024)
				batch *= 2;
			t = now() - t0;
		} while (t < run_secs);
		if (n / t > best)
			best = n / t;
	}
	return best;
}

static void
do_chacha(size_t len)
{
	crypto_chacha20(buf, buf, len, key, nonce, 1);
}

static void
do_poly(size_t len)
{
	uint8_t	 tag[16];

	crypto_poly1305(tag, buf, len, key);
	sink = tag[0];
}

static void
do_seal(size_t len)
{
	crypto_aead_seal(out, buf, len, NULL, 0, nonce, key);
}

static void
do_open(size_t len)
{
	/* out holds a sealed message of len bytes from do_seal */
	if (crypto_aead_open(buf, out, len + 16, NULL, 0, nonce, key) != 0)
		abort();
}

static struct noise_cs	 rec_tx;
static struct noise_rec_rx rec_rx;

/* Seal one record and open it: the work of both ends for len bytes. */
static void
do_record(size_t len)
{
	const uint8_t	*pt;
	size_t		 n, ptlen;

	n = noise_rec_seal(&rec_tx, buf, len, out);
	if (noise_rec_open(&rec_rx, out, n, &pt, &ptlen) != (ssize_t)n)
		abort();
}

static void
do_x25519(size_t unused)
{
	uint8_t	 r[32];

	(void)unused;
	crypto_x25519(r, key, buf);
	sink = r[0];
}

static void
do_blake2s(size_t len)
{
	uint8_t	 d[32];

	crypto_blake2s(d, 32, NULL, 0, buf, len);
	sink = d[0];
}

static uint8_t	 i_priv[32], i_pub[32], r_priv[32], r_pub[32], psk[32];

/* A whole handshake, both sides, and the split. */
static void
do_handshake(size_t pattern)
{
	struct noise_config	 ci, cr;
	struct noise_hs		 hi, hr;
	struct noise_cs		 a, b;
	uint8_t			 msg[256], pl[64];
	size_t			 n, m;

	memset(&ci, 0, sizeof(ci));
	memset(&cr, 0, sizeof(cr));
	ci.nc_pattern = cr.nc_pattern = (int)pattern;
	ci.nc_role = NOISE_INITIATOR;
	cr.nc_role = NOISE_RESPONDER;
	if (pattern == NOISE_IK) {
		ci.nc_s_priv = i_priv;
		ci.nc_rs = r_pub;
		cr.nc_s_priv = r_priv;
	} else
		ci.nc_psk = cr.nc_psk = psk;
	if (noise_hs_init(&hi, &ci) || noise_hs_init(&hr, &cr) ||
	    noise_hs_write(&hi, NULL, 0, msg, sizeof(msg), &n) ||
	    noise_hs_read(&hr, msg, n, pl, sizeof(pl), &m) ||
	    noise_hs_write(&hr, NULL, 0, msg, sizeof(msg), &n) ||
	    noise_hs_read(&hi, msg, n, pl, sizeof(pl), &m) ||
	    noise_hs_split(&hi, &a, &b) || noise_hs_split(&hr, &a, &b))
		abort();
}

int
main(int argc, char *argv[])
{
	static const size_t	 sizes[] = { 1024, 16384, 65536 };
	struct noise_cs		 cs;
	size_t			 i, s;
	int			 l;

	if (argc == 2 && strcmp(argv[1], "--quick") == 0)
		run_secs = 0.1;
	crypto_random(buf, sizeof(buf));
	crypto_random(key, sizeof(key));
	crypto_random(nonce, sizeof(nonce));
	printf("%-28s %10s %10s %10s\n", "MB/s (1 MB = 10^6 bytes)",
	    "1 KiB", "16 KiB", "64 KiB");
	for (l = CRYPTO_IMPL_SCALAR; l <= CRYPTO_IMPL_AVX2; l++) {
		char	 name[40];

		if (crypto_impl_set(l) != l)
			continue;
		snprintf(name, sizeof(name), "chacha20 (%s)",
		    crypto_impl_name(l));
		printf("%-28s", name);
		for (s = 0; s < 3; s++)
			printf(" %10.0f", rate(do_chacha, sizes[s]) *
			    (double)sizes[s] / 1e6);
		printf("\n");
	}
	crypto_impl_set(CRYPTO_IMPL_AVX2);
	printf("%-28s", "poly1305");
	for (s = 0; s < 3; s++)
		printf(" %10.0f", rate(do_poly, sizes[s]) * (double)sizes[s] /
		    1e6);
	printf("\n%-28s", "aead seal");
	for (s = 0; s < 3; s++)
		printf(" %10.0f", rate(do_seal, sizes[s]) * (double)sizes[s] /
		    1e6);
	printf("\n%-28s", "aead open");
	for (s = 0; s < 3; s++) {
		do_seal(sizes[s]);
		printf(" %10.0f", rate(do_open, sizes[s]) * (double)sizes[s] /
		    1e6);
	}
	printf("\n%-28s", "record seal + open");
	memset(&cs, 0, sizeof(cs));
	cs.cs_haskey = 1;
	memcpy(cs.cs_k, key, 32);
	noise_cs_set_rekey(&cs, NOISE_REKEY_RECORDS);
	rec_tx = cs;
	noise_rec_rx_init(&rec_rx, &cs);
	for (s = 0; s < 3; s++) {
		i = sizes[s] > NOISE_REC_PT_MAX ? NOISE_REC_PT_MAX : sizes[s];
		printf(" %10.0f", rate(do_record, i) * (double)i / 1e6);
	}
	printf("\n%-28s", "blake2s");
	for (s = 0; s < 3; s++)
		printf(" %10.0f", rate(do_blake2s, sizes[s]) *
		    (double)sizes[s] / 1e6);
	printf("\n\n");
	printf("%-28s %10.0f\n", "x25519 per second", rate(do_x25519, 0));
	crypto_keypair(i_pub, i_priv);
	crypto_keypair(r_pub, r_priv);
	crypto_random(psk, sizeof(psk));
	printf("%-28s %10.0f\n", "IK handshakes per second",
	    rate(do_handshake, NOISE_IK));
	printf("%-28s %10.0f\n", "NNpsk0 handshakes per second",
	    rate(do_handshake, NOISE_NNPSK0));
	printf("(handshakes: both sides and the split, on one core)\n");
	return 0;
}
