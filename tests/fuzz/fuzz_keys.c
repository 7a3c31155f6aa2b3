/*
 * fuzz_keys: the parsers of keys.c.  Each input is used three ways:
 *  (a) as an authorized-keys file for keys_auth_parse: refused with a
 *      "fuzz:" message, or parsed into a struct whose every promise holds
 *      (keys sorted and unique, names valid, sorted and listed once, port
 *      ranges sane, every key found, every name granted to its key and to
 *      no other key, unnamed registration exactly for keys without names);
 *  (b) its first 44 bytes as a base64 key: decoded exactly when a plain
 *      table-driven decoder (written here, not constant time) accepts it
 *      as the canonical spelling of 32 bytes, to the same bytes, and then
 *      re-encoded to the same text;
 *  (c) its first 32 bytes encoded and decoded back.
 * Any disagreement aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"
#include "keys.h"

static const char	 b64[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* The reference: 43 alphabet characters, '=', canonical final bits. */
static int
ref_decode(const uint8_t *s, uint8_t out[32])
{
	uint32_t	 acc = 0;
	int		 bits = 0, i, o = 0;
	const char	*p;

	for (i = 0; i < 43; i++) {
		if (s[i] == 0 || (p = strchr(b64, s[i])) == NULL)
			return -1;
		acc = acc << 6 | (uint32_t)(p - b64);
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			out[o++] = (uint8_t)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (s[43] != '=' || acc != 0)
		return -1;
	return o == 32 ? 0 : -1;
}

static void
fuzz_b64(const uint8_t *data, size_t size)
{
	uint8_t		 k[32], r[32];
	char		 s[KEYS_B64_LEN + 1];
	int		 ours, ref;

	if (size >= 32) {
		keys_b64_encode(s, data);
		if (keys_b64_decode(k, s, KEYS_B64_LEN) != 0 ||
		    memcmp(k, data, 32) != 0)
			abort();
	}
	if (size < KEYS_B64_LEN)
		return;
	ours = keys_b64_decode(k, (const char *)data, KEYS_B64_LEN);
	ref = ref_decode(data, r);
	if (ours != ref || (ours == 0 && memcmp(k, r, 32) != 0))
		abort();
	if (ours == 0) {
		keys_b64_encode(s, k);
		if (memcmp(s, data, KEYS_B64_LEN) != 0)
			abort();
	}
	/* any other length is refused */
	if (keys_b64_decode(k, (const char *)data, size > 44 ? 45 : 43) != -1)
		abort();
}

static void
check_auth(const struct keys_auth *a)
{
	const struct keys_auth_entry	*e, *f;
	const char			*why;
	uint8_t				 other[KEYS_LEN];
	size_t				 i, j;

	for (i = 0; i < a->ka_nent; i++) {
		e = &a->ka_ent[i];
		if (i > 0 && memcmp(a->ka_ent[i - 1].ke_key, e->ke_key,
		    KEYS_LEN) >= 0)
			abort();
		if (keys_auth_find(a, e->ke_key) != e)
			abort();
		if ((e->ke_port_lo == 0) != (e->ke_port_hi == 0) ||
		    e->ke_port_lo > e->ke_port_hi || e->ke_port_hi > 65535)
			abort();
		/* unnamed: exactly the keys without any name= */
		if (keys_auth_permit(a, e->ke_key, NULL, 0, &why) !=
		    (e->ke_nnames == 0 && !e->ke_any_name))
			abort();
		if (e->ke_port_lo != 0 && e->ke_port_lo > 1 &&
		    e->ke_nnames == 0 && !e->ke_any_name &&
		    keys_auth_permit(a, e->ke_key, NULL, e->ke_port_lo - 1,
		    &why))
			abort();
	}
	for (i = 0; i < a->ka_nnames; i++) {
		const struct keys_auth_name *n = &a->ka_names[i];

		if (!hello_name_ok(n->kn_name) || (i > 0 &&
		    strcmp(a->ka_names[i - 1].kn_name, n->kn_name) >= 0))
			abort();
		if ((f = keys_auth_find(a, n->kn_key)) == NULL ||
		    !keys_auth_permit(a, n->kn_key, n->kn_name, 0, &why))
			abort();
		/* no other key may hold it, '*' or not */
		for (j = 0; j < a->ka_nent; j++)
			if (&a->ka_ent[j] != f && keys_auth_permit(a,
			    a->ka_ent[j].ke_key, n->kn_name, 0, &why))
				abort();
	}
	memset(other, 0xa5, sizeof(other));
	if (keys_auth_find(a, other) == NULL &&
	    keys_auth_permit(a, other, NULL, 0, &why))
		abort();
}

int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct keys_auth	*a;
	char			 err[KEYS_ERR_MAX];

	err[0] = '\0';
	a = keys_auth_parse((const char *)data, size, "fuzz", err,
	    sizeof(err));
	if (a == NULL) {
		if (strncmp(err, "fuzz:", 5) != 0 || strchr(err, '\n') != NULL)
			abort();
	} else {
		check_auth(a);
		keys_auth_free(a);
	}
	fuzz_b64(data, size);
	return 0;
}
