/*
 * log: one line per event on stderr, each naming the process that wrote it.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char	 log_role[64] = "relay";
static int	 log_lvl = LOG_LVL_INFO;

void
log_init(const char *role, int level)
{
	snprintf(log_role, sizeof(log_role), "%s", role);
	log_lvl = level;
}

void
log_set_role(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(log_role, sizeof(log_role), fmt, ap);
	va_end(ap);
}

int
log_level(void)
{
	return log_lvl;
}

/*
 * One write(2) per line so lines from several processes sharing stderr do
 * not interleave.
 */
static void
log_vline(const char *level, const char *err, const char *fmt, va_list ap)
{
	char		 line[1024];
	struct timespec	 ts;
	struct tm	 tm;
	int		 n, m;
	int		 saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, log_role, level);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = vsnprintf(line + n, sizeof(line) - n, fmt, ap);
	if (m < 0)
		m = 0;
	n += m;
	if ((size_t)n >= sizeof(line) - 2)
		n = sizeof(line) - 2;
	if (err != NULL) {
		m = snprintf(line + n, sizeof(line) - n, ": %s", err);
		if (m > 0)
			n += m;
		if ((size_t)n >= sizeof(line) - 2)
			n = sizeof(line) - 2;
	}
	line[n++] = '\n';
	(void)!write(STDERR_FILENO, line, n);
	errno = saved;
}

void
log_warn(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vline("warning", strerror(saved), fmt, ap);
	va_end(ap);
	errno = saved;
}

void
log_warnx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline("warning", NULL, fmt, ap);
	va_end(ap);
}

void
log_info(const char *fmt, ...)
{
	va_list	 ap;

	if (log_lvl < LOG_LVL_INFO)
		return;
	va_start(ap, fmt);
	log_vline("info", NULL, fmt, ap);
	va_end(ap);
}

void
log_debug(const char *fmt, ...)
{
	va_list	 ap;

	if (log_lvl < LOG_LVL_DEBUG)
		return;
	va_start(ap, fmt);
	log_vline("debug", NULL, fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	log_vline("fatal", strerror(saved), fmt, ap);
	va_end(ap);
	exit(70);
}

void
fatalx(const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vline("fatal", NULL, fmt, ap);
	va_end(ap);
	exit(70);
}
