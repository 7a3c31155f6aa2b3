/*
 * fuzz_proxy: the parser of the relay's PROXY v2 header on arbitrary
 * bytes, fed whole and in every prefix the way a stream delivers them.
 * Whatever parses is at most PROXY_V2_MAX long and builds back into the
 * very same bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct proxy_addr	 pa, pb;
	uint8_t			 out[PROXY_V2_MAX];
	const char		*why;
	size_t			 want, n;
	int			 rv, len;

	for (n = 0; n <= size; n++) {
		why = NULL;
		rv = proxy_v2_parse(data, n, &want, &pa, &why);
		if (rv == -1) {
			if (why == NULL)
				abort();
			return 0;
		}
		if (rv == 0) {
			if (want <= n || want > PROXY_V2_MAX)
				abort();
			continue;
		}
		if (want > n || want > PROXY_V2_MAX)
			abort();
		if ((len = proxy_v2_build(&pa, out, sizeof(out))) < 0 ||
		    (size_t)len != want || memcmp(out, data, want) != 0)
			abort();
		if (proxy_v2_parse(out, len, &want, &pb, &why) != 1 ||
		    memcmp(&pa, &pb, sizeof(pa)) != 0)
			abort();
		return 0;
	}
	return 0;
}
