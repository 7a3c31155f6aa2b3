/*
 * relaystat: print the statistics table of a running relay.
 *
 * It maps the relay's shared-memory segment read-only (stats_open_ro) and
 * copies rows with the seqlock protocol, so it never blocks or slows the
 * relay, whatever it does.  Everything it prints comes from one snapshot
 * taken up front; the formats only differ in how they print it.
 *
 * Strings in the segment (names come from backends on the network) are
 * untrusted: every format escapes or replaces what could break its syntax
 * or the user's terminal.
 */
#include <sys/types.h>

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "stats.h"

#ifndef RELAY_VERSION
#error "RELAY_VERSION comes from the Makefile (VERSION file)"
#endif

#define EXIT_USAGE	64
#define EXIT_UNAVAIL	69
#define EXIT_SOFTWARE	70

#define DEFAULT_PORT	9000
#define WATCH_MAX	86400.0

enum format { FMT_TABLE, FMT_JSON, FMT_PROM };

struct snap_client {
	struct stats_client	 c;
	uint32_t		 idx;		/* row within its slot */
};

struct snap_backend {
	struct stats_backend	 b;
	uint32_t		 slot;
	size_t			 first;		/* into snap.clients */
	size_t			 nclients;
};

struct snap {
	int64_t			 pid;
	int64_t			 start_time;
	unsigned		 control_port;
	uint32_t		 max_backends;
	uint32_t		 max_clients;
	uint64_t		 backends_now;
	uint64_t		 backends_total;
	uint64_t		 refused;
	uint64_t		 workers_idle;
	int64_t			 now_ms;	/* wall clock, for ages */
	struct timespec		 mono;		/* for rates */
	struct snap_backend	*backends;
	size_t			 nbackends;
	struct snap_client	*clients;
	size_t			 nclients;
	size_t			 clients_cap;
};

/* The byte counters of the previous sample, for --watch rates. */
struct rate {
	uint32_t	 slot;
	uint32_t	 idx;		/* UINT32_MAX: the backend row */
	uint32_t	 seq;		/* identity generation of the row */
	uint64_t	 in;
	uint64_t	 out;
};

struct rates {
	struct rate	*r;
	size_t		 n;
	double		 dt;		/* seconds since that sample */
};

static const char		*progname = "relaystat";
static volatile sig_atomic_t	 quit;
static sigjmp_buf		 bus_jmp;
static volatile sig_atomic_t	 bus_armed;
static int			 alt_screen;	/* --watch took the terminal */

static void	 usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s [OPTIONS] [PORT]\n", progname);
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf(
"usage: %s [OPTIONS] [PORT]\n"
"Print the statistics of the relay whose control port is PORT (default %d).\n"
"\n"
"  -j, --json          one JSON document: the relay, its backends, their\n"
"                      clients, exact integers (default: a table)\n"
"  -p, --prometheus    Prometheus text exposition format, for a node_exporter\n"
"                      textfile collector (default: a table)\n"
"  -w, --watch SECS    redraw the table every SECS seconds with per-second\n"
"                      rates until interrupted (default: print once)\n"
"  -b, --bytes         exact byte counts (default: B, KiB, MiB, GiB)\n"
"  -s, --stats NAME    read the shared-memory segment NAME\n"
"                      (default: /relay.PORT)\n"
"  -h, --help          print this help and exit\n"
"  -V, --version       print the version and exit\n"
"\n"
"Exit status: 0 success, 64 usage error, 69 no relay or unusable segment,\n"
"70 internal error.\n", progname, DEFAULT_PORT);
}

/* Every exit, error ones included, gives the terminal back. */
static void
leave_screen(void)
{
	if (alt_screen) {
		alt_screen = 0;
		fputs("\033[?25h\033[?1049l", stdout);
		fflush(stdout);
	}
}

static void
fatal_internal(const char *what)
{
	int	 saved = errno;

	leave_screen();	/* or the alternate screen hides the message */
	fprintf(stderr, "%s: %s: %s\n", progname, what, strerror(saved));
	exit(EXIT_SOFTWARE);
}

static int
parse_port(const char *s, unsigned *port)
{
	unsigned long	 v = 0;
	const char	*p;

	if (*s == '\0' || strlen(s) > 5)
		return -1;
	for (p = s; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (unsigned)v;
	return 0;
}

static int
parse_secs(const char *s, double *secs)
{
	char	*end;
	double	 v;

	if (*s == '\0' || *s == ' ' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || *end != '\0' || !isfinite(v) || v <= 0 ||
	    v > WATCH_MAX)
		return -1;
	*secs = v;
	return 0;
}

/* What shm_open takes portably: "/name" or "name", no other slash. */
static int
bad_segname(const char *s)
{
	while (*s == '/')
		s++;
	return *s == '\0' || strchr(s, '/') != NULL || strlen(s) > 250 ||
	    strcmp(s, ".") == 0 || strcmp(s, "..") == 0;
}

static int
pid_alive(int64_t pid)
{
	if (pid <= 0 || (int64_t)(pid_t)pid != pid)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

/*
 * The writer never shrinks the segment, but another program could truncate
 * it under us: report that instead of dying of SIGBUS.
 */
static void
on_sigbus(int sig)
{
	(void)sig;
	if (bus_armed)
		siglongjmp(bus_jmp, 1);
	signal(SIGBUS, SIG_DFL);
	raise(SIGBUS);
}

static void
on_quit(int sig)
{
	(void)sig;
	quit = 1;
}

/* Snapshot */

static int64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
snap_free(struct snap *sn)
{
	free(sn->backends);
	free(sn->clients);
	memset(sn, 0, sizeof(*sn));
}

static int
cmp_client_addr(const void *a, const void *b)
{
	const struct snap_client *x = a, *y = b;

	return strcmp(x->c.sc_addr, y->c.sc_addr);
}

static int
cmp_client_since(const void *a, const void *b)
{
	const struct snap_client *x = a, *y = b;

	if (x->c.sc_since != y->c.sc_since)
		return x->c.sc_since < y->c.sc_since ? -1 : 1;
	return strcmp(x->c.sc_addr, y->c.sc_addr);
}

static int
cmp_backend(const void *a, const void *b)
{
	const struct snap_backend *x = a, *y = b;

	if (x->b.sb_tunnel_port != y->b.sb_tunnel_port)
		return x->b.sb_tunnel_port < y->b.sb_tunnel_port ? -1 : 1;
	/* Newest first, so the dedup below keeps the current one. */
	if (x->b.sb_since != y->b.sb_since)
		return x->b.sb_since > y->b.sb_since ? -1 : 1;
	return x->slot < y->slot ? -1 : x->slot > y->slot;
}

/* n zeroed elements of size bytes, aligned as the stats rows are. */
static void *
snap_alloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0)
		n = 1;
	if (size != 0 && n > SIZE_MAX / size)
		return NULL;
	if (posix_memalign(&p, 128, n * size) != 0)
		return NULL;
	memset(p, 0, n * size);
	return p;
}

/*
 * Rows are copied one at a time while the relay runs, so a snapshot may
 * catch a row being reused: a backend re-registered in another slot on the
 * same port, a client address seen twice.  Keep one of each so that every
 * series is unique.
 */
static void
snap_dedup_clients(struct snap *sn, struct snap_backend *sb)
{
	struct snap_client	*c;
	size_t			 i, n;

	if (sb->nclients == 0)
		return;
	c = sn->clients + sb->first;
	qsort(c, sb->nclients, sizeof(*c), cmp_client_addr);
	for (i = 1, n = 1; i < sb->nclients; i++)
		if (strcmp(c[i].c.sc_addr, c[n - 1].c.sc_addr) != 0)
			c[n++] = c[i];
	sb->nclients = n;
	qsort(c, n, sizeof(*c), cmp_client_since);
}

static int
snap_take(const struct stats *st, struct snap *sn)
{
	const struct stats_header	*h = st->st_hdr;
	struct snap_backend		*sb;
	struct stats_client		 row;
	void				*p;
	uint32_t			 slot, i;
	size_t				 n;

	memset(sn, 0, sizeof(*sn));
	sn->max_backends = st->st_max_backends;
	sn->max_clients = st->st_max_clients;
	/* The rows are aligned to cache lines; so must their copies be. */
	sn->backends = snap_alloc(sn->max_backends, sizeof(*sn->backends));
	if (sn->backends == NULL)
		return -1;
	sn->now_ms = now_ms();
	clock_gettime(CLOCK_MONOTONIC, &sn->mono);

	sn->pid = __atomic_load_n(&h->sh_master_pid, __ATOMIC_RELAXED);
	sn->start_time = __atomic_load_n(&h->sh_start_time, __ATOMIC_RELAXED);
	sn->control_port = __atomic_load_n(&h->sh_control_port,
	    __ATOMIC_RELAXED);
	sn->backends_now = __atomic_load_n(&h->sh_backends_now,
	    __ATOMIC_RELAXED);
	sn->backends_total = __atomic_load_n(&h->sh_backends_total,
	    __ATOMIC_RELAXED);
	sn->refused = __atomic_load_n(&h->sh_registrations_refused,
	    __ATOMIC_RELAXED);
	sn->workers_idle = __atomic_load_n(&h->sh_workers_idle,
	    __ATOMIC_RELAXED);

	for (slot = 0; slot < sn->max_backends; slot++) {
		sb = &sn->backends[sn->nbackends];
		/* Free, or still torn after many tries: skip this time. */
		if (stats_read_backend(st, slot, &sb->b) == -1)
			continue;
		sb->slot = slot;
		sb->first = sn->nclients;
		for (i = 0; i < sn->max_clients; i++) {
			if (stats_read_client(st, slot, i, &row) == -1)
				continue;
			if (sn->nclients == sn->clients_cap) {
				n = sn->clients_cap ? sn->clients_cap * 2 : 64;
				if ((p = snap_alloc(n, sizeof(*sn->clients))) ==
				    NULL)
					return -1;
				if (sn->nclients > 0)
					memcpy(p, sn->clients, sn->nclients *
					    sizeof(*sn->clients));
				free(sn->clients);
				sn->clients = p;
				sn->clients_cap = n;
			}
			sn->clients[sn->nclients].c = row;
			sn->clients[sn->nclients].idx = i;
			sn->nclients++;
		}
		sb->nclients = sn->nclients - sb->first;
		snap_dedup_clients(sn, sb);
		/* Dedup may have left a gap: reclaim it. */
		sn->nclients = sb->first + sb->nclients;
		sn->nbackends++;
	}

	qsort(sn->backends, sn->nbackends, sizeof(*sn->backends),
	    cmp_backend);
	for (i = 1, n = sn->nbackends ? 1 : 0; i < sn->nbackends; i++)
		if (sn->backends[i].b.sb_tunnel_port !=
		    sn->backends[n - 1].b.sb_tunnel_port)
			sn->backends[n++] = sn->backends[i];
	sn->nbackends = n;
	return 0;
}

/* Guarded by the SIGBUS handler; exits on a truncated segment. */
static void
snap_take_safe(const struct stats *st, struct snap *sn)
{
	if (sigsetjmp(bus_jmp, 1) != 0) {
		bus_armed = 0;
		leave_screen();
		fprintf(stderr, "%s: %s: segment truncated while reading\n",
		    progname, st->st_name);
		exit(EXIT_UNAVAIL);
	}
	bus_armed = 1;
	if (snap_take(st, sn) == -1)
		fatal_internal("snapshot");
	bus_armed = 0;
}

/* Strings */

/*
 * Decode one UTF-8 sequence; returns its length, or 0 when s does not start
 * with a valid (shortest form, non-surrogate) one.
 */
static size_t
utf8_len(const unsigned char *s, uint32_t *cp)
{
	uint32_t	 c, min;
	size_t		 len, i;

	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		len = 2, c &= 0x1f, min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		len = 3, c &= 0x0f, min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		len = 4, c &= 0x07, min = 0x10000;
	} else
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/* For the terminal: no control characters, no broken UTF-8. */
static void
put_text(FILE *out, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 n;

	while (*p != '\0') {
		n = utf8_len(p, &cp);
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0)) {
			fputc('?', out);
			p += n ? n : 1;
			continue;
		}
		fwrite(p, 1, n, out);
		p += n;
	}
}

static size_t
text_width(const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 n, w = 0;

	while (*p != '\0') {
		n = utf8_len(p, &cp);
		p += n ? n : 1;
		w++;
	}
	return w;
}

static void
put_padded(FILE *out, const char *s, size_t width)
{
	size_t	 w;

	put_text(out, s);
	for (w = text_width(s); w < width; w++)
		fputc(' ', out);
}

static void
put_json_string(FILE *out, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 n;

	fputc('"', out);
	while (*p != '\0') {
		n = utf8_len(p, &cp);
		if (n == 0) {
			fputs("\\ufffd", out);
			p++;
			continue;
		}
		switch (cp) {
		case '"':
			fputs("\\\"", out);
			break;
		case '\\':
			fputs("\\\\", out);
			break;
		case '\n':
			fputs("\\n", out);
			break;
		case '\r':
			fputs("\\r", out);
			break;
		case '\t':
			fputs("\\t", out);
			break;
		default:
			if (cp < 0x20)
				fprintf(out, "\\u%04x", (unsigned)cp);
			else
				fwrite(p, 1, n, out);
		}
		p += n;
	}
	fputc('"', out);
}

/* A label value: \\, \" and \n escaped; valid UTF-8, no other controls. */
static void
put_prom_value(FILE *out, const char *s)
{
	const unsigned char	*p = (const unsigned char *)s;
	uint32_t		 cp;
	size_t			 n;

	fputc('"', out);
	while (*p != '\0') {
		n = utf8_len(p, &cp);
		if (n == 0) {
			fputs("\xef\xbf\xbd", out);
			p++;
			continue;
		}
		if (cp == '\\')
			fputs("\\\\", out);
		else if (cp == '"')
			fputs("\\\"", out);
		else if (cp == '\n')
			fputs("\\n", out);
		else if (cp < 0x20 || cp == 0x7f)
			fputc('?', out);
		else
			fwrite(p, 1, n, out);
		p += n;
	}
	fputc('"', out);
}

/* Human units */

static const char *
fmt_bytes(char *buf, size_t len, uint64_t n, int exact)
{
	static const char	*unit[] = { "KiB", "MiB", "GiB" };
	double			 v;
	int			 u;

	if (exact || n < 1024) {
		snprintf(buf, len, exact ? "%" PRIu64 : "%" PRIu64 " B", n);
		return buf;
	}
	v = (double)n / 1024;
	for (u = 0; u < 2 && v >= 1024; u++)
		v /= 1024;
	/* 1023.97 KiB would round to "1024.0 KiB": say 1.0 MiB. */
	if (u < 2 && v >= 1023.95) {
		v /= 1024;
		u++;
	}
	snprintf(buf, len, "%.1f %s", v, unit[u]);
	return buf;
}

static const char *
fmt_rate(char *buf, size_t len, double r, int exact)
{
	if (r < 0)
		return "-";
	if (exact) {
		snprintf(buf, len, "%.0f", r);
		return buf;
	}
	return fmt_bytes(buf, len, (uint64_t)(r + 0.5), 0);
}

static const char *
fmt_age(char *buf, size_t len, int64_t ms)
{
	int64_t	 s = ms > 0 ? ms / 1000 : 0;

	if (s < 60)
		snprintf(buf, len, "%" PRId64 "s", s);
	else if (s < 3600)
		snprintf(buf, len, "%" PRId64 "m%02" PRId64 "s", s / 60,
		    s % 60);
	else if (s < 86400)
		snprintf(buf, len, "%" PRId64 "h%02" PRId64 "m", s / 3600,
		    s / 60 % 60);
	else
		snprintf(buf, len, "%" PRId64 "d%02" PRId64 "h", s / 86400,
		    s / 3600 % 24);
	return buf;
}

static const char *
fmt_rtt(char *buf, size_t len, uint64_t us)
{
	if (us == 0)
		return "-";
	if (us < 1000)
		snprintf(buf, len, "%" PRIu64 "us", us);
	else if (us < 1000000)
		snprintf(buf, len, "%.1fms", (double)us / 1000);
	else
		snprintf(buf, len, "%.2fs", (double)us / 1000000);
	return buf;
}

/* Rates */

static int
cmp_rate(const void *a, const void *b)
{
	const struct rate *x = a, *y = b;

	if (x->slot != y->slot)
		return x->slot < y->slot ? -1 : 1;
	return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Bytes per second in and out of a row since the previous sample. */
static int
rate_of(const struct rates *rs, uint32_t slot, uint32_t idx, uint32_t seq,
    uint64_t in, uint64_t out, double *rin, double *rout)
{
	struct rate	 key, *r;

	*rin = *rout = -1;
	if (rs == NULL || rs->r == NULL || rs->dt <= 0)
		return -1;
	key.slot = slot;
	key.idx = idx;
	r = bsearch(&key, rs->r, rs->n, sizeof(*r), cmp_rate);
	/* A new identity in the row, or counters reset: no rate yet. */
	if (r == NULL || r->seq != seq || in < r->in || out < r->out)
		return -1;
	*rin = (double)(in - r->in) / rs->dt;
	*rout = (double)(out - r->out) / rs->dt;
	return 0;
}

static int
rates_save(struct rates *rs, const struct snap *sn)
{
	const struct snap_backend	*sb;
	const struct snap_client	*c;
	struct rate			*r;
	size_t				 i, j, n;

	free(rs->r);
	rs->r = NULL;
	rs->n = 0;
	n = sn->nbackends + sn->nclients;
	if (n == 0)
		return 0;
	if ((r = calloc(n, sizeof(*r))) == NULL)
		return -1;
	for (i = 0, n = 0; i < sn->nbackends; i++) {
		sb = &sn->backends[i];
		r[n++] = (struct rate){ sb->slot, UINT32_MAX, sb->b.sb_seq,
		    sb->b.sb_bytes_in, sb->b.sb_bytes_out };
		for (j = 0; j < sb->nclients; j++) {
			c = &sn->clients[sb->first + j];
			r[n++] = (struct rate){ sb->slot, c->idx, c->c.sc_seq,
			    c->c.sc_bytes_in, c->c.sc_bytes_out };
		}
	}
	qsort(r, n, sizeof(*r), cmp_rate);
	rs->r = r;
	rs->n = n;
	return 0;
}

/* Table */

/*
 * The table shows a key's fingerprint as "SHA256:" and the first 8 and
 * last 4 of its 43 base64 characters ("SHA256:OvlGl8uZ...mp8g"), enough
 * to tell keys apart by eye
 * (--json and --prometheus give it whole).  Anything not of that shape
 * (a segment written by someone else) is shown as it is.
 */
static const char *
short_key(char *buf, size_t len, const char *key)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	const size_t		 plen = sizeof(KEYS_FP_PREFIX) - 1;

	if (key[0] == '\0')
		return "-";
	if (strlen(key) != KEYS_FP_LEN ||
	    strncmp(key, KEYS_FP_PREFIX, plen) != 0 ||
	    strspn(key + plen, b64) != KEYS_FP_LEN - plen)
		return key;
	snprintf(buf, len, "%s%.8s...%s", KEYS_FP_PREFIX, key + plen,
	    key + KEYS_FP_LEN - 4);
	return buf;
}

static void
print_table(FILE *out, const struct snap *sn, const struct rates *rs,
    int exact)
{
	const struct snap_backend	*sb;
	const struct snap_client	*c;
	char				 b1[32], b2[32], b3[32], b4[32];
	char				 b5[32], b6[32], kb[32];
	double				 rin, rout, tin = 0, tout = 0;
	size_t				 i, j, nw = 8, aw = 7, kw = 0, w, listed;
	int				 watch = rs != NULL;

	for (i = 0; i < sn->nbackends; i++) {
		sb = &sn->backends[i];
		w = text_width(sb->b.sb_name[0] ? sb->b.sb_name : "-");
		nw = w > nw ? w : nw;
		/* A KEY column only where some backend has a key. */
		if (sb->b.sb_key[0] != '\0') {
			w = text_width(short_key(kb, sizeof(kb),
			    sb->b.sb_key));
			kw = w > kw ? w : kw;
		}
		w = text_width(sb->b.sb_addr);
		aw = w > aw ? w : aw;
		for (j = 0; j < sb->nclients; j++) {
			c = &sn->clients[sb->first + j];
			w = text_width(c->c.sc_addr);
			aw = w > aw ? w : aw;
		}
		if (watch && rate_of(rs, sb->slot, UINT32_MAX, sb->b.sb_seq,
		    sb->b.sb_bytes_in, sb->b.sb_bytes_out, &rin, &rout) == 0) {
			tin += rin;
			tout += rout;
		}
	}

	fprintf(out, "relay pid %" PRId64 ", port %u, up %s: backends %"
	    PRIu64 " now, %" PRIu64 " total; %" PRIu64 " refused; %" PRIu64
	    " idle workers", sn->pid, sn->control_port,
	    fmt_age(b1, sizeof(b1), sn->now_ms - sn->start_time * 1000),
	    sn->backends_now, sn->backends_total, sn->refused,
	    sn->workers_idle);
	if (watch && rs->r != NULL)
		fprintf(out, "; in %s/s, out %s/s",
		    fmt_rate(b2, sizeof(b2), tin, exact),
		    fmt_rate(b3, sizeof(b3), tout, exact));
	fputs("\n\n", out);
	if (sn->nbackends == 0) {
		fputs("no backends\n", out);
		return;
	}

	if (kw > 0 && kw < 3)
		kw = 3;
	fprintf(out, "%6s  %-*s  ", "TUNNEL", (int)nw, "BACKEND");
	if (kw > 0)
		fprintf(out, "%-*s  ", (int)kw, "KEY");
	fprintf(out, "%-*s %7s %7s %7s %7s %11s %11s", (int)aw, "ADDRESS",
	    "PID", "UP", "CLIENTS", "TOTAL", "IN", "OUT");
	if (watch)
		fprintf(out, " %11s %11s", "IN/s", "OUT/s");
	fprintf(out, " %8s\n", "RTT");

	for (i = 0; i < sn->nbackends; i++) {
		sb = &sn->backends[i];
		fprintf(out, "%6u  ", sb->b.sb_tunnel_port);
		put_padded(out, sb->b.sb_name[0] ? sb->b.sb_name : "-", nw);
		fputs("  ", out);
		if (kw > 0) {
			put_padded(out, short_key(kb, sizeof(kb),
			    sb->b.sb_key), kw);
			fputs("  ", out);
		}
		put_padded(out, sb->b.sb_addr, aw);
		fprintf(out, " %7" PRId64 " %7s %7" PRIu64 " %7" PRIu64
		    " %11s %11s", sb->b.sb_pid,
		    fmt_age(b1, sizeof(b1), sn->now_ms - sb->b.sb_since),
		    sb->b.sb_clients_now, sb->b.sb_clients_total,
		    fmt_bytes(b2, sizeof(b2), sb->b.sb_bytes_in, exact),
		    fmt_bytes(b3, sizeof(b3), sb->b.sb_bytes_out, exact));
		if (watch) {
			rate_of(rs, sb->slot, UINT32_MAX, sb->b.sb_seq,
			    sb->b.sb_bytes_in, sb->b.sb_bytes_out, &rin, &rout);
			fprintf(out, " %11s %11s",
			    fmt_rate(b4, sizeof(b4), rin, exact),
			    fmt_rate(b5, sizeof(b5), rout, exact));
		}
		fprintf(out, " %8s\n",
		    fmt_rtt(b6, sizeof(b6), sb->b.sb_rtt_us));

		for (j = 0; j < sb->nclients; j++) {
			c = &sn->clients[sb->first + j];
			fprintf(out, "%6s  %-*s  ", "", (int)nw, "  client");
			if (kw > 0)
				fprintf(out, "%-*s  ", (int)kw, "");
			put_padded(out, c->c.sc_addr, aw);
			fprintf(out, " %7s %7s %7s %7s %11s %11s", "",
			    fmt_age(b1, sizeof(b1), sn->now_ms - c->c.sc_since),
			    "", "",
			    fmt_bytes(b2, sizeof(b2), c->c.sc_bytes_in, exact),
			    fmt_bytes(b3, sizeof(b3), c->c.sc_bytes_out,
			    exact));
			if (watch) {
				rate_of(rs, sb->slot, c->idx, c->c.sc_seq,
				    c->c.sc_bytes_in, c->c.sc_bytes_out,
				    &rin, &rout);
				fprintf(out, " %11s %11s",
				    fmt_rate(b4, sizeof(b4), rin, exact),
				    fmt_rate(b5, sizeof(b5), rout, exact));
			}
			fputc('\n', out);
		}
		listed = sb->nclients;
		if (sb->b.sb_clients_now > listed)
			fprintf(out, "%6s  %-*s  %" PRIu64 " more not tracked "
			    "(client table full; %" PRIu64 " untracked in "
			    "all)\n", "", (int)nw, "",
			    sb->b.sb_clients_now - listed,
			    sb->b.sb_clients_untracked);
	}
}

/* JSON */

static void
print_json(FILE *out, const struct snap *sn)
{
	const struct snap_backend	*sb;
	const struct snap_client	*c;
	size_t				 i, j;

	fprintf(out, "{\"relay\":{\"pid\":%" PRId64 ",\"control_port\":%u,"
	    "\"start_time\":%" PRId64 ",\"backends_now\":%" PRIu64
	    ",\"backends_total\":%" PRIu64 ",\"registrations_refused\":%"
	    PRIu64 ",\"workers_idle\":%" PRIu64 ",\"max_backends\":%" PRIu32
	    ",\"max_clients\":%" PRIu32 "},\"backends\":[",
	    sn->pid, sn->control_port, sn->start_time, sn->backends_now,
	    sn->backends_total, sn->refused, sn->workers_idle,
	    sn->max_backends, sn->max_clients);
	for (i = 0; i < sn->nbackends; i++) {
		sb = &sn->backends[i];
		fprintf(out, "%s{\"tunnel_port\":%u,\"name\":",
		    i ? "," : "", sb->b.sb_tunnel_port);
		put_json_string(out, sb->b.sb_name);
		fputs(",\"key\":", out);
		put_json_string(out, sb->b.sb_key);
		fputs(",\"address\":", out);
		put_json_string(out, sb->b.sb_addr);
		fprintf(out, ",\"pid\":%" PRId64 ",\"since_ms\":%" PRId64
		    ",\"clients_now\":%" PRIu64 ",\"clients_total\":%" PRIu64
		    ",\"clients_untracked\":%" PRIu64 ",\"bytes_in\":%" PRIu64
		    ",\"bytes_out\":%" PRIu64 ",\"rtt_us\":%" PRIu64
		    ",\"clients\":[", sb->b.sb_pid, sb->b.sb_since,
		    sb->b.sb_clients_now, sb->b.sb_clients_total,
		    sb->b.sb_clients_untracked, sb->b.sb_bytes_in,
		    sb->b.sb_bytes_out, sb->b.sb_rtt_us);
		for (j = 0; j < sb->nclients; j++) {
			c = &sn->clients[sb->first + j];
			fprintf(out, "%s{\"address\":", j ? "," : "");
			put_json_string(out, c->c.sc_addr);
			fprintf(out, ",\"tunnel_port\":%u,\"since_ms\":%" PRId64
			    ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
			    "}", c->c.sc_tunnel_port, c->c.sc_since,
			    c->c.sc_bytes_in, c->c.sc_bytes_out);
		}
		fputs("]}", out);
	}
	fputs("]}\n", out);
}

/* Prometheus */

enum prom_value { PV_CLIENTS, PV_CLIENTS_TOTAL, PV_UNTRACKED, PV_IN, PV_OUT,
	PV_RTT, PV_SINCE, PV_INFO };

static void
prom_family(FILE *out, const char *name, const char *type, const char *help)
{
	fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void
prom_backend_labels(FILE *out, const struct snap_backend *sb)
{
	fprintf(out, "{tunnel_port=\"%u\",backend=", sb->b.sb_tunnel_port);
	put_prom_value(out, sb->b.sb_name[0] ? sb->b.sb_name : sb->b.sb_addr);
	/* Prometheus takes an empty label for an absent one: leave it out. */
	if (sb->b.sb_key[0] != '\0') {
		fputs(",key=", out);
		put_prom_value(out, sb->b.sb_key);
	}
}

static void
prom_backends(FILE *out, const struct snap *sn, const char *name,
    const char *type, const char *help, enum prom_value v)
{
	const struct snap_backend	*sb;
	size_t				 i;

	prom_family(out, name, type, help);
	for (i = 0; i < sn->nbackends; i++) {
		sb = &sn->backends[i];
		if (v == PV_RTT && sb->b.sb_rtt_us == 0)
			continue;	/* no ping answered yet */
		fputs(name, out);
		prom_backend_labels(out, sb);
		switch (v) {
		case PV_INFO:
			fputs(",address=", out);
			put_prom_value(out, sb->b.sb_addr);
			fputs(",name=", out);
			put_prom_value(out, sb->b.sb_name);
			fprintf(out, ",pid=\"%" PRId64 "\"} 1\n",
			    sb->b.sb_pid);
			break;
		case PV_SINCE:
			fprintf(out, "} %" PRId64 ".%03" PRId64 "\n",
			    sb->b.sb_since / 1000, sb->b.sb_since % 1000);
			break;
		case PV_CLIENTS:
			fprintf(out, "} %" PRIu64 "\n", sb->b.sb_clients_now);
			break;
		case PV_CLIENTS_TOTAL:
			fprintf(out, "} %" PRIu64 "\n",
			    sb->b.sb_clients_total);
			break;
		case PV_UNTRACKED:
			fprintf(out, "} %" PRIu64 "\n",
			    sb->b.sb_clients_untracked);
			break;
		case PV_IN:
			fprintf(out, "} %" PRIu64 "\n", sb->b.sb_bytes_in);
			break;
		case PV_OUT:
			fprintf(out, "} %" PRIu64 "\n", sb->b.sb_bytes_out);
			break;
		case PV_RTT:
			fprintf(out, "} %.6f\n",
			    (double)sb->b.sb_rtt_us / 1e6);
			break;
		}
	}
}

static void
prom_clients(FILE *out, const struct snap *sn, const char *name,
    const char *help, enum prom_value v)
{
	const struct snap_backend	*sb;
	const struct snap_client	*c;
	size_t				 i, j;

	prom_family(out, name, v == PV_SINCE ? "gauge" : "counter", help);
	for (i = 0; i < sn->nbackends; i++) {
		sb = &sn->backends[i];
		for (j = 0; j < sb->nclients; j++) {
			c = &sn->clients[sb->first + j];
			fputs(name, out);
			prom_backend_labels(out, sb);
			fputs(",client=", out);
			put_prom_value(out, c->c.sc_addr);
			if (v == PV_SINCE)
				fprintf(out, "} %" PRId64 ".%03" PRId64 "\n",
				    c->c.sc_since / 1000,
				    c->c.sc_since % 1000);
			else
				fprintf(out, "} %" PRIu64 "\n", v == PV_IN ?
				    c->c.sc_bytes_in : c->c.sc_bytes_out);
		}
	}
}

static void
print_prom(FILE *out, const struct snap *sn)
{
	prom_family(out, "relay_start_time_seconds", "gauge",
	    "Start time of the relay master, seconds since the epoch.");
	fprintf(out, "relay_start_time_seconds %" PRId64 "\n",
	    sn->start_time);
	prom_family(out, "relay_backends", "gauge",
	    "Backends registered now.");
	fprintf(out, "relay_backends %" PRIu64 "\n", sn->backends_now);
	prom_family(out, "relay_backends_total", "counter",
	    "Backends registered since the relay started.");
	fprintf(out, "relay_backends_total %" PRIu64 "\n",
	    sn->backends_total);
	prom_family(out, "relay_registrations_refused_total", "counter",
	    "Backend registrations refused.");
	fprintf(out, "relay_registrations_refused_total %" PRIu64 "\n",
	    sn->refused);
	prom_family(out, "relay_workers_idle", "gauge",
	    "Preforked workers waiting for a backend.");
	fprintf(out, "relay_workers_idle %" PRIu64 "\n", sn->workers_idle);

	prom_backends(out, sn, "relay_backend_info", "gauge",
	    "A registered backend: its address, name and worker pid.",
	    PV_INFO);
	prom_backends(out, sn, "relay_backend_start_time_seconds", "gauge",
	    "When the backend registered, seconds since the epoch.",
	    PV_SINCE);
	prom_backends(out, sn, "relay_backend_clients", "gauge",
	    "Clients of the backend connected now.", PV_CLIENTS);
	prom_backends(out, sn, "relay_backend_clients_total", "counter",
	    "Clients of the backend since it registered.", PV_CLIENTS_TOTAL);
	prom_backends(out, sn, "relay_backend_clients_untracked_total",
	    "counter", "Clients not listed because the client table was "
	    "full.", PV_UNTRACKED);
	prom_backends(out, sn, "relay_backend_bytes_in_total", "counter",
	    "Bytes from clients to the backend, closed clients included.",
	    PV_IN);
	prom_backends(out, sn, "relay_backend_bytes_out_total", "counter",
	    "Bytes from the backend to clients, closed clients included.",
	    PV_OUT);
	prom_backends(out, sn, "relay_backend_rtt_seconds", "gauge",
	    "Round trip of the last ping answered by the backend.", PV_RTT);

	prom_clients(out, sn, "relay_client_start_time_seconds",
	    "When the client connected, seconds since the epoch.", PV_SINCE);
	prom_clients(out, sn, "relay_client_bytes_in_total",
	    "Bytes from the client to the backend.", PV_IN);
	prom_clients(out, sn, "relay_client_bytes_out_total",
	    "Bytes from the backend to the client.", PV_OUT);
}

/* Opening */

/* The effective uid of a process, from /proc; -1 when hidden or gone. */
static int
proc_euid(int64_t pid, uid_t *uid)
{
	char		 path[64], line[256];
	unsigned long	 r, e;
	FILE		*f;
	int		 found = 0;

	snprintf(path, sizeof(path), "/proc/%" PRId64 "/status", pid);
	if ((f = fopen(path, "re")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "Uid: %lu %lu", &r, &e) == 2) {
			*uid = (uid_t)e;
			found = 1;
			break;
		}
	}
	fclose(f);
	return found ? 0 : -1;
}

/*
 * Anyone can create a file in /dev/shm, with a header that names a live
 * process: the segment is the relay's only if the process it names is a
 * relay and runs as the segment's owner.  Where /proc hides other users'
 * processes, only a segment of root's or our own is believed (neither can
 * have been planted by a third user).
 */
static int
check_owner(const struct stats *st, const char *name, int64_t pid, char *why,
    size_t len)
{
	uid_t	 euid;
	int	 relay = stats_pid_is_relay(pid);

	if (relay == 0) {
		snprintf(why, len, "%s: not a relay's segment: the process it "
		    "names (pid %" PRId64 ") is not a relay; someone may have "
		    "planted it", name, pid);
		return -1;
	}
	if (relay == 1 && proc_euid(pid, &euid) == 0) {
		if (euid == st->st_file_uid)
			return 0;
		snprintf(why, len, "%s: not the relay's segment: it belongs to "
		    "uid %lu, the relay (pid %" PRId64 ") runs as uid %lu; "
		    "someone may have planted it", name,
		    (unsigned long)st->st_file_uid, pid, (unsigned long)euid);
		return -1;
	}
	if (st->st_file_uid == 0 || st->st_file_uid == geteuid())
		return 0;
	snprintf(why, len, "%s: cannot tell whether it is the relay's: "
	    "/proc/%" PRId64 " is hidden and the segment belongs to uid %lu",
	    name, pid, (unsigned long)st->st_file_uid);
	return -1;
}

/* Open the segment and check its relay is alive; why on failure. */
static int
open_relay(struct stats *st, const char *name, int by_port, unsigned port,
    char *why, size_t len)
{
	const char	*reason;
	int64_t		 pid;

	if (stats_open_ro(st, name, &reason) == -1) {
		if (errno == ENOENT && by_port)
			snprintf(why, len, "no relay on port %u (no stats "
			    "segment %s)", port, name);
		else if (errno == ENOENT)
			snprintf(why, len, "%s: no such stats segment", name);
		else if (errno == EPROTO || errno == EINVAL)
			snprintf(why, len, "%s: %s", name, reason);
		else
			snprintf(why, len, "%s: %s: %s", name, reason,
			    strerror(errno));
		return -1;
	}
	pid = __atomic_load_n(&st->st_hdr->sh_master_pid, __ATOMIC_RELAXED);
	if (!pid_alive(pid)) {
		snprintf(why, len, "relay (pid %" PRId64 ") is not running",
		    pid);
		stats_close(st, 0);
		return -1;
	}
	if (check_owner(st, name, pid, why, len) == -1) {
		stats_close(st, 0);
		return -1;
	}
	return 0;
}

static void
check_output(FILE *out)
{
	if (fflush(out) == EOF || ferror(out))
		fatal_internal("write");
}

/* Watch */

static double
mono_diff(const struct timespec *a, const struct timespec *b)
{
	return (double)(a->tv_sec - b->tv_sec) +
	    (double)(a->tv_nsec - b->tv_nsec) / 1e9;
}

static int
watch(struct stats *st, const char *name, int by_port, unsigned port,
    double secs, int exact)
{
	struct sigaction	 sa;
	struct rates		 rs = { NULL, 0, 0 };
	struct snap		 sn;
	struct timespec		 ts, last = { 0, 0 };
	struct stats		 nst;
	sigset_t		 block, orig;
	char			 why[512], clock[16], *frame = NULL;
	size_t			 framelen = 0;
	FILE			*fp;
	time_t			 t;
	int			 alive = 1, status = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_quit;
	sigemptyset(&sa.sa_mask);
	/* No SA_RESTART: ppoll must return at once. */
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	/* Signals only arrive inside ppoll: no lost wake-up. */
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigprocmask(SIG_BLOCK, &block, &orig);

	if (isatty(STDOUT_FILENO)) {
		fputs("\033[?1049h\033[?25l", stdout);	/* alt screen */
		alt_screen = 1;
		atexit(leave_screen);
	}

	while (!quit) {
		if (!alive || !pid_alive(st->st_hdr->sh_master_pid)) {
			/* A relay restarted on the port makes a new one. */
			if (open_relay(&nst, name, by_port, port, why,
			    sizeof(why)) == 0) {
				stats_close(st, 0);
				*st = nst;
				alive = 1;
				free(rs.r);
				memset(&rs, 0, sizeof(rs));
			} else
				alive = 0;
		}
		if ((fp = open_memstream(&frame, &framelen)) == NULL)
			fatal_internal("open_memstream");
		t = time(NULL);
		strftime(clock, sizeof(clock), "%H:%M:%S", localtime(&t));
		fprintf(fp, "\033[H\033[2J%s %s: %s, every %gs (^C to quit)"
		    "\n", progname, RELAY_VERSION, clock, secs);
		if (alive) {
			snap_take_safe(st, &sn);
			rs.dt = last.tv_sec ? mono_diff(&sn.mono, &last) : 0;
			print_table(fp, &sn, &rs, exact);
			last = sn.mono;
			if (rates_save(&rs, &sn) == -1)
				fatal_internal("rates");
			snap_free(&sn);
		} else
			fprintf(fp, "%s; waiting for a relay\n", why);
		if (fclose(fp) == EOF)
			fatal_internal("open_memstream");
		if (fwrite(frame, 1, framelen, stdout) != framelen ||
		    fflush(stdout) == EOF) {
			fprintf(stderr, "%s: write: %s\n", progname,
			    strerror(errno));
			status = EXIT_SOFTWARE;
			break;
		}
		free(frame);
		frame = NULL;

		ts.tv_sec = (time_t)secs;
		ts.tv_nsec = (long)((secs - (double)ts.tv_sec) * 1e9);
		if (ppoll(NULL, 0, &ts, &orig) == -1 && errno != EINTR)
			fatal_internal("ppoll");
	}
	free(frame);
	free(rs.r);
	leave_screen();
	if (fflush(stdout) == EOF && status == 0)
		status = EXIT_SOFTWARE;
	sigprocmask(SIG_SETMASK, &orig, NULL);
	return status;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "json",	no_argument,		NULL, 'j' },
		{ "prometheus",	no_argument,		NULL, 'p' },
		{ "watch",	required_argument,	NULL, 'w' },
		{ "bytes",	no_argument,		NULL, 'b' },
		{ "stats",	required_argument,	NULL, 's' },
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	struct sigaction	 sa;
	struct stats		 st;
	struct snap		 sn;
	enum format		 fmt = FMT_TABLE;
	const char		*segname = NULL;
	char			 name[256], why[512];
	unsigned		 port = DEFAULT_PORT;
	double			 secs = 0;
	int			 ch, exact = 0, status;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":jpw:bs:hV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'j':
		case 'p':
			if (fmt != FMT_TABLE &&
			    fmt != (ch == 'j' ? FMT_JSON : FMT_PROM))
				usage_error("--json and --prometheus "
				    "exclude each other");
			fmt = ch == 'j' ? FMT_JSON : FMT_PROM;
			break;
		case 'w':
			if (parse_secs(optarg, &secs) == -1)
				usage_error("bad --watch interval '%s' "
				    "(seconds, > 0 and <= 86400)", optarg);
			break;
		case 'b':
			exact = 1;
			break;
		case 's':
			if (bad_segname(optarg))
				usage_error("bad --stats name '%s' (one "
				    "component, as in /relay.9000)", optarg);
			segname = optarg;
			break;
		case 'h':
			help();
			return 0;
		case 'V':
			printf("%s %s\n", progname, RELAY_VERSION);
			return 0;
		case ':':
			usage_error("option '%s' needs an argument",
			    argv[optind - 1]);
			break;
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (argc - optind > 1)
		usage_error("unexpected argument '%s'", argv[optind + 1]);
	if (argc - optind == 1 && parse_port(argv[optind], &port) == -1)
		usage_error("bad port '%s' (1-65535)", argv[optind]);
	if (secs > 0 && fmt != FMT_TABLE)
		usage_error("--watch shows the table only, not --json "
		    "or --prometheus");

	if (segname == NULL) {
		stats_default_name(name, sizeof(name), port);
		segname = name;
	}
	if (open_relay(&st, segname, segname == name, port, why,
	    sizeof(why)) == -1) {
		fprintf(stderr, "%s: %s\n", progname, why);
		return EXIT_UNAVAIL;
	}

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigbus;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGBUS, &sa, NULL);

	if (secs > 0) {
		status = watch(&st, segname, segname == name, port, secs,
		    exact);
		stats_close(&st, 0);
		return status;
	}

	snap_take_safe(&st, &sn);
	switch (fmt) {
	case FMT_TABLE:
		print_table(stdout, &sn, NULL, exact);
		break;
	case FMT_JSON:
		print_json(stdout, &sn);
		break;
	case FMT_PROM:
		print_prom(stdout, &sn);
		break;
	}
	snap_free(&sn);
	stats_close(&st, 0);
	check_output(stdout);
	return 0;
}
