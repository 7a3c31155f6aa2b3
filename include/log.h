/*
 * log: one line per event, prefixed with the process role ("master",
 * "worker[9001]").  The OpenBSD log.c shape: log_warn appends strerror,
 * log_warnx does not; fatal/fatalx exit.  Loggers keep errno intact.
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdarg.h>
#include <stdint.h>

#define LOG_LVL_QUIET	0	/* warnings only */
#define LOG_LVL_INFO	1	/* default */
#define LOG_LVL_DEBUG	2
#define LOG_LVL_TRACE	3	/* -vv: per-stream detail */

void	log_init(const char *progname, int level);
/* Log to this file (append) instead of stderr; -1 with errno on failure. */
int	log_open_file(const char *path);
/* Reopen the log file (after rotation); 0, or -1 with errno. */
int	log_reopen(void);
/* The descriptor lines go to, or -1 when logging to syslog. */
int	log_fd(void);
/* Log through this descriptor from now on (the previous one is gone). */
void	log_adopt_fd(int fd);
/* Log to syslog (facility daemon, ident "relay"). */
void	log_use_syslog(void);
int	log_to_file(void);
void	log_set_role(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
int	log_level(void);
/*
 * Non-zero at most once per interval for a given *last (ms, any clock):
 * for lines that a flood could otherwise repeat thousands of times.
 */
int	log_ratelimit(uint64_t *last, uint64_t now, uint64_t interval);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* RELAY_LOG_H */
