/*
 * log: one line per event on stderr, each naming the process that wrote it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static char	 log_role[64] = "relay";
static int	 log_lvl = LOG_LVL_INFO;
static int	 log_out = STDERR_FILENO;	/* -1: syslog */
static int	 log_sock = -1;			/* to the syslog daemon */
static char	 log_path[4096];

static uid_t	 log_uid = (uid_t)-1;
static gid_t	 log_gid = (gid_t)-1;

int
log_open_file(const char *path, uid_t uid, gid_t gid, const char **why)
{
	struct stat	 sb;
	int		 fd, saved;

	*why = NULL;
	/*
	 * O_NONBLOCK: a FIFO would block open(2) until a reader comes (and
	 * fstat below refuses it anyway).  O_NOFOLLOW: a symbolic link
	 * planted as the last component fails with ELOOP.
	 */
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW |
	    O_NONBLOCK | O_NOCTTY | O_CLOEXEC, 0640);
	if (fd == -1) {
		if (errno == ELOOP)
			*why = "it is a symbolic link";
		else if (errno == ENXIO)
			*why = "it is not a regular file";
		return -1;
	}
	if (fstat(fd, &sb) == -1)
		goto fail;
	if (!S_ISREG(sb.st_mode)) {
		*why = "it is not a regular file";
		errno = EINVAL;
		goto fail;
	}
	/* A hard link to another file would make us write (and chown) it. */
	if (sb.st_nlink != 1) {
		*why = "it has other hard links";
		errno = EINVAL;
		goto fail;
	}
	if (geteuid() == 0 && sb.st_uid != 0 &&
	    (uid == (uid_t)-1 || sb.st_uid != uid)) {
		*why = "it belongs to another user";
		errno = EPERM;
		goto fail;
	}
	/*
	 * The user we hand over to must be able to reopen it after SIGHUP
	 * (and the workers write through this descriptor).
	 */
	if (geteuid() == 0 && uid != (uid_t)-1 && (sb.st_uid != uid ||
	    (gid != (gid_t)-1 && sb.st_gid != gid)) &&
	    fchown(fd, uid, gid) == -1)
		goto fail;
	(void)fcntl(fd, F_SETFL, O_WRONLY | O_APPEND);
	if (path != log_path)
		snprintf(log_path, sizeof(log_path), "%s", path);
	log_uid = uid;
	log_gid = gid;
	if (log_out > STDERR_FILENO)
		close(log_out);
	log_out = fd;
	return 0;
 fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
log_reopen(const char **why)
{
	*why = NULL;
	if (log_path[0] == '\0')
		return 0;
	return log_open_file(log_path, log_uid, log_gid, why);
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

/*
 * Our own syslog(3): every line is a datagram sent to /dev/log by name,
 * on a socket made here once.  glibc's would connect the socket, and after
 * a restart of the syslog daemon make a new one and connect again: a
 * sandboxed worker may do neither (sandbox.c), and sendto(2) by name
 * reaches the new daemon by itself.
 */
void
log_use_syslog(void)
{
	log_sock = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	log_out = -1;
}

static void
log_syslog(int prio, const char *msg)
{
	static const char	*mon[] = { "Jan", "Feb", "Mar", "Apr", "May",
	    "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct sockaddr_un	 sun;
	char			 line[1200];
	struct tm		 tm;
	time_t			 t = time(NULL);
	int			 n;

	if (log_sock == -1)
		return;
	localtime_r(&t, &tm);
	n = snprintf(line, sizeof(line), "<%d>%s %2d %02d:%02d:%02d relay[%ld]: "
	    "%s", LOG_DAEMON | prio, mon[tm.tm_mon % 12], tm.tm_mday,
	    tm.tm_hour, tm.tm_min, tm.tm_sec, (long)getpid(), msg);
	if (n < 0)
		return;
	if ((size_t)n >= sizeof(line))
		n = sizeof(line) - 1;
	memset(&sun, 0, sizeof(sun));
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", _PATH_LOG);
	(void)sendto(log_sock, line, n, MSG_NOSIGNAL, (struct sockaddr *)&sun,
	    sizeof(sun));
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
log_limit(struct log_limit *l, uint64_t now)
{
	uint64_t	 cap = (uint64_t)l->ll_burst * 1000;

	if (l->ll_last == 0 || now < l->ll_last)
		l->ll_tokens = cap;
	else if ((now - l->ll_last) * l->ll_rate >= cap - l->ll_tokens)
		l->ll_tokens = cap;
	else
		l->ll_tokens += (now - l->ll_last) * l->ll_rate;
	l->ll_last = now;
	if (l->ll_tokens >= 1000) {
		l->ll_tokens -= 1000;
		return 1;
	}
	if (l->ll_suppressed++ == 0)
		l->ll_since = now;
	return 0;
}

const char *
log_limit_note(struct log_limit *l)
{
	static char	 note[64];

	if (l->ll_suppressed == 0)
		return "";
	snprintf(note, sizeof(note), " (%llu similar line%s suppressed)",
	    (unsigned long long)l->ll_suppressed,
	    l->ll_suppressed == 1 ? "" : "s");
	l->ll_suppressed = 0;
	return note;
}

void
log_limit_flush(struct log_limit *l, uint64_t now)
{
	if (l->ll_suppressed == 0)
		return;
	log_warnx("%llu similar line%s suppressed in %llu.%03llu s: %s",
	    (unsigned long long)l->ll_suppressed,
	    l->ll_suppressed == 1 ? "" : "s",
	    (unsigned long long)((now - l->ll_since) / 1000),
	    (unsigned long long)((now - l->ll_since) % 1000), l->ll_what);
	l->ll_suppressed = 0;
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
	static const char hex[] = "0123456789abcdef";
	char		 line[1024], msg[1024];
	struct timespec	 ts;
	int		 prio;
	struct tm	 tm;
	int		 n, m;
	size_t		 i;
	int		 saved = errno;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	n = snprintf(line, sizeof(line),
	    "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s %s: ",
	    tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
	    tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000L, log_role, level);
	if (n < 0 || (size_t)n >= sizeof(line))
		n = 0;
	m = vsnprintf(msg, sizeof(msg), fmt, ap);
	if (m < 0)
		m = 0;
	if ((size_t)m >= sizeof(msg))
		m = sizeof(msg) - 1;
	if (err != NULL) {
		int e = snprintf(msg + m, sizeof(msg) - m, ": %s", err);
		if (e > 0)
			m += e;
		if ((size_t)m >= sizeof(msg))
			m = sizeof(msg) - 1;
	}
	/*
	 * One event, one line: whatever a peer managed to get into the
	 * message (a newline that forges a second line, a terminal escape)
	 * is written as \xHH.
	 */
	for (i = 0; i < (size_t)m && (size_t)n < sizeof(line) - 2; i++) {
		unsigned char c = msg[i];
		if (c >= 0x20 && c < 0x7f) {
			line[n++] = c;
			continue;
		}
		if ((size_t)n + 4 > sizeof(line) - 2)
			break;
		line[n++] = '\\';
		line[n++] = 'x';
		line[n++] = hex[c >> 4];
		line[n++] = hex[c & 15];
	}
	if (log_out == -1) {
		/* syslog stamps the time itself. */
		line[n] = '\0';
		prio = level[0] == 'd' ? LOG_DEBUG : level[0] == 'i' ?
		    LOG_INFO : level[0] == 'w' ? LOG_WARNING : LOG_CRIT;
		log_syslog(prio, strchr(line, ' ') + 1);
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
