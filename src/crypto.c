/*
 * crypto: the utilities every primitive shares (wiping, constant-time
 * comparison, the kernel's random bytes) and the choice of vector code.
 * The primitives live in x25519.c, chacha.c (ChaCha20, Poly1305, the
 * AEAD) and blake2s.c (BLAKE2s, HMAC, HKDF).
 */
#include <sys/random.h>

#include <errno.h>
#include <string.h>

#include "crypto.h"
#include "crypto_impl.h"

void
crypto_wipe(void *p, size_t n)
{
	/* explicit_bzero's pointer is declared non-null, even for n == 0. */
	if (n > 0)
		explicit_bzero(p, n);
}

int
crypto_memeq(const void *a, const void *b, size_t n)
{
	const uint8_t	*p = a, *q = b;
	uint32_t	 d = 0;
	size_t		 i;

	for (i = 0; i < n; i++)
		d |= p[i] ^ q[i];
	/* Hide d's provenance so no early exit is derived from it. */
	__asm__("" : "+r"(d));
	/* d - 1 borrows into bit 8 only when d == 0. */
	return (int)(1 & ((d - 1) >> 8));
}

int
crypto_random(void *buf, size_t n)
{
	uint8_t	*p = buf;
	ssize_t	 r;

	while (n > 0) {
		if ((r = getrandom(p, n, 0)) == -1) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

/*
 * The vector level: the best the CPU has, chosen before main() so that no
 * caller ever races to set it.  crypto_impl_set() lowers it for tests.
 */
int	 crypto_level_cpu = CRYPTO_IMPL_SCALAR;
int	 crypto_level = CRYPTO_IMPL_SCALAR;

__attribute__((constructor)) static void
crypto_level_init(void)
{
#if defined(__x86_64__) && defined(__SSE2__)
	crypto_level_cpu = CRYPTO_IMPL_SSE2;
	__builtin_cpu_init();
	if (__builtin_cpu_supports("avx2"))
		crypto_level_cpu = CRYPTO_IMPL_AVX2;
#endif
	crypto_level = crypto_level_cpu;
}

int
crypto_impl(void)
{
	return crypto_level;
}

int
crypto_impl_set(int level)
{
	if (level < CRYPTO_IMPL_SCALAR)
		level = CRYPTO_IMPL_SCALAR;
	if (level > crypto_level_cpu)
		level = crypto_level_cpu;
	crypto_level = level;
	return level;
}

const char *
crypto_impl_name(int level)
{
	switch (level) {
	case CRYPTO_IMPL_SCALAR:
		return "scalar";
	case CRYPTO_IMPL_SSE2:
		return "sse2";
	case CRYPTO_IMPL_AVX2:
		return "avx2";
	}
	return "unknown";
}
