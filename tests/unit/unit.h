/*
 * unit.h: a one-screen test harness.  Each case is a function that returns
 * nothing and uses CHECK(); main() lists the cases with RUN().  The run ends
 * with "N passed, N failed" and exits non-zero on any failure.
 */
#ifndef RELAY_UNIT_H
#define RELAY_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int unit_passed, unit_failed, unit_case_failed;

#define CHECK(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "  %s:%d: CHECK(%s) failed\n",		\
		    __FILE__, __LINE__, #cond);				\
		unit_case_failed = 1;					\
		return;							\
	}								\
} while (0)

#define CHECK_EQ(a, b) do {						\
	long long unit_a_ = (long long)(a), unit_b_ = (long long)(b);	\
	if (unit_a_ != unit_b_) {					\
		fprintf(stderr, "  %s:%d: %s == %lld, expected %s == %lld\n", \
		    __FILE__, __LINE__, #a, unit_a_, #b, unit_b_);	\
		unit_case_failed = 1;					\
		return;							\
	}								\
} while (0)

#define RUN(fn) do {							\
	unit_case_failed = 0;						\
	fn();								\
	if (unit_case_failed) {						\
		unit_failed++;						\
		printf("not ok - %s\n", #fn);				\
	} else {							\
		unit_passed++;						\
		printf("ok - %s\n", #fn);				\
	}								\
	fflush(stdout);							\
} while (0)

#define UNIT_END() do {							\
	printf("%d passed, %d failed\n", unit_passed, unit_failed);	\
	return unit_failed ? 1 : 0;					\
} while (0)

#endif /* RELAY_UNIT_H */
