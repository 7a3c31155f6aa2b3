/*
 * log: one line per event on stderr, each naming the process that wrote it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char	 log_role[64] = "relay";
static int	 log_lvl = LOG_LVL_INFO;
static int	 log_out = STDERR_FILENO;	/* -1: syslog */
static char	 log_path[4096];

int
log_open_file(const char *path)
{
	int	 fd;

	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
	if (fd == -1)
		return -1;
	snprintf(log_path, sizeof(log_path), "%s", path);
	if (log_out > STDERR_FILENO)
		close(log_out);
	log_out = fd;
	return 0;
}

int
log_reopen(void)
{
	if (log_path[0] == '\0')
		return 0;
	return log_open_file(log_path);
}

int
log_fd(void)
{
	return log_out;
}

int
log_to_file(void)
{
	return log_path[0] != '\0';
}

void
log_adopt_fd(int fd)
{
	log_out = fd;
}

void
log_use_syslog(void)
{
	openlog("relay", LOG_PID | LOG_NDELAY, LOG_DAEMON);
	log_out = -1;
}

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
log_ratelimit(uint64_t *last, uint64_t now, uint64_t interval)
{
	if (*last != 0 && now - *last < interval)
		return 0;
	*last = now;
	return 1;
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
	int		 prio;
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
	if (log_out == -1) {
		/* syslog stamps the time itself. */
		line[n] = '\0';
		prio = level[0] == 'd' ? LOG_DEBUG : level[0] == 'i' ?
		    LOG_INFO : level[0] == 'w' ? LOG_WARNING : LOG_CRIT;
		syslog(prio, "%s", strchr(line, ' ') + 1);
		errno = saved;
		return;
	}
	line[n++] = '\n';
	(void)!write(log_out, line, n);
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
