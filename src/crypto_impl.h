/*
 * crypto_impl.h: what the crypto source files share and nothing else may
 * use: the vector level and little-endian loads and stores.
 */
#ifndef RELAY_CRYPTO_IMPL_H
#define RELAY_CRYPTO_IMPL_H

#include <stdint.h>
#include <string.h>

extern int	 crypto_level;		/* CRYPTO_IMPL_* in effect */
extern int	 crypto_level_cpu;	/* the best this CPU has */

static inline uint32_t
crypto_load32_le(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static inline void
crypto_store32_le(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
	p[2] = (uint8_t)(v >> 16);
	p[3] = (uint8_t)(v >> 24);
}

static inline uint64_t
crypto_load64_le(const uint8_t *p)
{
	return (uint64_t)crypto_load32_le(p) |
	    (uint64_t)crypto_load32_le(p + 4) << 32;
}

static inline void
crypto_store64_le(uint8_t *p, uint64_t v)
{
	crypto_store32_le(p, (uint32_t)v);
	crypto_store32_le(p + 4, (uint32_t)(v >> 32));
}

#endif /* RELAY_CRYPTO_IMPL_H */
