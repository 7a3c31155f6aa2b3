/*
 * fuzz_hello: the registration hello parser on arbitrary bytes.  Whatever
 * parses must build back into a line that parses to the same hello.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hello.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct hello	 h, h2;
	const char	*why = NULL;
	char		 buf[HELLO_MAX + 1];
	int		 n;

	if (hello_parse((const char *)data, size, &h, &why) == -1) {
		if (why == NULL)
			abort();
		return 0;
	}
	if (h.h_port > 65535 || strlen(h.h_name) >= sizeof(h.h_name))
		abort();
	if (h.h_name[0] != '\0' && !hello_name_ok(h.h_name))
		abort();
	if ((n = hello_build(&h, buf, sizeof(buf))) < 0)
		abort();
	if (hello_parse(buf, n, &h2, &why) == -1 ||
	    h2.h_port != h.h_port || strcmp(h2.h_name, h.h_name) != 0)
		abort();
	return 0;
}
