/*
 * log: one line per event, prefixed with the process role ("master",
 * "worker[9001]").  The OpenBSD log.c shape: log_warn appends strerror,
 * log_warnx does not; fatal/fatalx exit.  Loggers keep errno intact.
 */
#ifndef RELAY_LOG_H
#define RELAY_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <sys/types.h>

#define LOG_LVL_QUIET	0	/* warnings only */
#define LOG_LVL_INFO	1	/* default */
#define LOG_LVL_DEBUG	2
#define LOG_LVL_TRACE	3	/* -vv: per-stream detail */

void	log_init(const char *progname, int level);
/*
 * Log to this file (append) instead of stderr.  A process started as root
 * opens files in directories its unprivileged user may write to, so it
 * must not be led elsewhere: the last component must not be a symbolic
 * link (O_NOFOLLOW), what opens must be a regular file without other hard
 * links and, when we are root, owned by root or by uid, the user the file
 * is handed to (uid -1: none); a FIFO is refused without blocking.  As
 * root, the open descriptor is then given to uid:gid (fchown: no path, no
 * race).  0, or -1 with errno and a reason in *why (static storage).
 */
int	log_open_file(const char *path, uid_t uid, gid_t gid, const char **why);
/* Reopen the log file (after rotation) the same way; 0, or -1. */
int	log_reopen(const char **why);
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
/*
 * A token bucket for lines that a peer can make us repeat: up to ll_burst
 * lines at once, then ll_rate a second.  The lines it holds back are
 * counted; log_limit_note() gives the count to append to the next line let
 * through, and log_limit_flush() reports a count nobody reported yet.
 * Initialise with LOG_LIMIT(burst, rate, "what the lines are about").
 */
struct log_limit {
	unsigned	 ll_burst;
	unsigned	 ll_rate;
	const char	*ll_what;
	uint64_t	 ll_last;	/* ms of the last refill, 0: never */
	uint64_t	 ll_tokens;	/* in thousandths of a line */
	uint64_t	 ll_suppressed;	/* since the last report */
	uint64_t	 ll_since;	/* ms of the first of those */
};
#define LOG_LIMIT(burst, rate, what)	{ (burst), (rate), (what), 0, 0, 0, 0 }
/* Non-zero when one more line may be logged now; else counts it. */
int	log_limit(struct log_limit *, uint64_t now);
/*
 * " (N similar lines suppressed)" for the line about to be logged, or "";
 * resets the count.  Static storage until the next call.
 */
const char *log_limit_note(struct log_limit *);
/* Log "N similar lines suppressed in S s: WHAT" if some are unreported. */
void	log_limit_flush(struct log_limit *, uint64_t now);
void	log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	log_debug(const char *, ...) __attribute__((format(printf, 1, 2)));
void	fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
void	fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));

#endif /* RELAY_LOG_H */
