/*
 * statsreader.c: a test reader of the stats segment.  It maps the segment
 * read-only as relaystat does and reads every row in a tight loop while the
 * relay carries traffic, checking on every pass what a reader must be able
 * to rely on:
 *
 *  - header: backends_now <= max_backends, backends_now <= backends_total,
 *    backends_total and registrations_refused never decrease;
 *  - backend rows: a sane pid, tunnel port, since and printable,
 *    NUL-terminated, zero-padded address and name; a key that is "" or
 *    "SHA256:" and 43 base64 characters, zero-padded; clients_now <= the
 *    client rows per slot and <= clients_total + 1 (one client may be
 *    half-way through being counted); untracked <= clients_total;
 *    bytes_in, bytes_out, clients_total and untracked never decrease for
 *    the same backend (slot, pid, since); the identity of a backend does
 *    not change under a counter; a tunnel port live in two consecutive
 *    passes keeps its pid; no tunnel port is live in two slots;
 *  - client rows: tunnel_port equals its backend's; since not before the
 *    backend registered (1 s of slack) nor in the future; a printable,
 *    zero-padded "host:port" address; bytes never decrease for the same
 *    client (row, address, since); no client listed twice; the live client
 *    rows of a backend add up to no more than its totals (the writer adds
 *    to the totals first; the reader reads the clients first).
 *
 * usage: statsreader [--seconds S] [--until FILE] [--ready FILE] NAME
 *
 * Reads until S seconds (default 5) have passed or FILE exists; with
 * --ready, writes FILE once the segment is mapped.  Prints one line of
 * key=value results; exits 0, 1 on any violation (each on stderr, the first
 * 20), 2 on a usage or open error.
 *
 * Build: cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Iinclude \
 *     tests/lib/statsreader.c src/stats.c -o bin/statsreader -lrt
 */
#include <sys/stat.h>

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"

#define MAX_REPORTED	20
#define ROW_UNKNOWN	0xffffffffu	/* a client row we could not read */

struct bprev {
	int		 live;
	int64_t		 pid;
	int64_t		 since;
	uint32_t	 port;
	uint64_t	 in, out, total, untracked;
};

struct cprev {
	int		 live;
	int64_t		 since;
	char		 addr[STATS_ADDR_MAX];
	uint64_t	 in, out;
};

static unsigned long	 violations;
static unsigned long	 pass_no;

static void
violation(const char *fmt, ...)
{
	va_list	 ap;

	if (violations++ >= MAX_REPORTED)
		return;
	fprintf(stderr, "statsreader: pass %lu: ", pass_no);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

static int64_t
now_ms(clockid_t clk)
{
	struct timespec	 ts;

	clock_gettime(clk, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Printable up to the first NUL, zeroes after it, a NUL before the end. */
static int
good_string(const char *s, size_t len, int may_be_empty)
{
	size_t	 i, n;

	n = strnlen(s, len);
	if (n == len || (n == 0 && !may_be_empty))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] <= ' ' || (unsigned char)s[i] >= 0x7f)
			return 0;
	for (; i < len; i++)
		if (s[i] != '\0')
			return 0;
	return 1;
}

/* "" (no key) or a fingerprint as keys_fingerprint() writes it. */
static int
good_key(const char *s)
{
	static const char	 b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t			 n;

	if (!good_string(s, STATS_KEY_MAX, 1))
		return 0;
	n = strlen(s);
	return n == 0 || (n == 7 + 43 && strncmp(s, "SHA256:", 7) == 0 &&
	    strspn(s + 7, b64) == 43);
}

/* "host:port" or "[v6]:port" with a port of 1..65535. */
static int
good_addr(const char *s)
{
	const char	*colon;
	char		*end;
	long		 port;

	if (!good_string(s, STATS_ADDR_MAX, 0))
		return 0;
	if ((colon = strrchr(s, ':')) == NULL || colon == s)
		return 0;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return errno == 0 && *end == '\0' && end != colon + 1 && port >= 1 &&
	    port <= 65535;
}

static uint64_t
hdr_load(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_ACQUIRE);
}

int
main(int argc, char *argv[])
{
	struct stats		 st;
	struct stats_backend	 a, b;
	struct stats_client	 c, *cl;
	struct bprev		*bp;
	struct cprev		*cp;
	const char		*why, *until = NULL, *ready = NULL, *name;
	double			 seconds = 5, elapsed;
	int64_t			 t0, start_ms, wall, *port_pid;
	uint32_t		*port_pass, *seen_port, slot, i, j, nlive;
	uint64_t		 hb_now, hb_total, hrefused, prev_total = 0;
	uint64_t		 prev_refused = 0, sum_in, sum_out, max_bytes = 0;
	unsigned long		 reads = 0, busy = 0, clients_seen = 0;
	unsigned long		 backends_seen = 0;
	struct stat		 sb;
	FILE			*f;
	int			 k;

	for (k = 1; k < argc - 1; k += 2) {
		if (strcmp(argv[k], "--seconds") == 0)
			seconds = atof(argv[k + 1]);
		else if (strcmp(argv[k], "--until") == 0)
			until = argv[k + 1];
		else if (strcmp(argv[k], "--ready") == 0)
			ready = argv[k + 1];
		else
			break;
	}
	if (k != argc - 1 || seconds <= 0) {
		fprintf(stderr, "usage: statsreader [--seconds S] "
		    "[--until FILE] [--ready FILE] NAME\n");
		return 2;
	}
	name = argv[k];
	if (stats_open_ro(&st, name, &why) == -1) {
		fprintf(stderr, "statsreader: %s: %s\n", name, why);
		return 2;
	}
	bp = calloc(st.st_max_backends, sizeof(*bp));
	cp = calloc((size_t)st.st_max_backends * st.st_max_clients,
	    sizeof(*cp));
	cl = calloc(st.st_max_clients, sizeof(*cl));
	port_pid = calloc(65536, sizeof(*port_pid));
	port_pass = calloc(65536, sizeof(*port_pass));
	seen_port = calloc(65536, sizeof(*seen_port));
	if (bp == NULL || cp == NULL || cl == NULL || port_pid == NULL ||
	    port_pass == NULL || seen_port == NULL) {
		fprintf(stderr, "statsreader: out of memory\n");
		return 2;
	}
	if (ready != NULL) {
		if ((f = fopen(ready, "w")) == NULL) {
			perror(ready);
			return 2;
		}
		fprintf(f, "mapped %s\n", name);
		fclose(f);
	}
	start_ms = st.st_hdr->sh_start_time * 1000;
	t0 = now_ms(CLOCK_MONOTONIC);

	for (;;) {
		pass_no++;
		if ((elapsed = (double)(now_ms(CLOCK_MONOTONIC) - t0) / 1000) >=
		    seconds)
			break;
		if (until != NULL && (pass_no & 255) == 0 &&
		    stat(until, &sb) == 0)
			break;
		wall = now_ms(CLOCK_REALTIME);

		/* Header: now before total, so now <= total holds. */
		hb_now = hdr_load(&st.st_hdr->sh_backends_now);
		hb_total = hdr_load(&st.st_hdr->sh_backends_total);
		hrefused = hdr_load(&st.st_hdr->sh_registrations_refused);
		if (hb_now > st.st_max_backends)
			violation("backends_now %" PRIu64 " > max %u", hb_now,
			    st.st_max_backends);
		if (hb_now > hb_total)
			violation("backends_now %" PRIu64 " > backends_total %"
			    PRIu64, hb_now, hb_total);
		if (hb_total < prev_total || hrefused < prev_refused)
			violation("header counters went down: total %" PRIu64
			    " -> %" PRIu64 ", refused %" PRIu64 " -> %" PRIu64,
			    prev_total, hb_total, prev_refused, hrefused);
		prev_total = hb_total;
		prev_refused = hrefused;

		for (slot = 0; slot < st.st_max_backends; slot++) {
			if (stats_read_backend(&st, slot, &a) == -1) {
				if (errno == EBUSY)
					busy++;
				else
					bp[slot].live = 0;
				continue;
			}
			/* The clients, then the backend row again. */
			nlive = 0;
			for (i = 0; i < st.st_max_clients; i++) {
				if (stats_read_client(&st, slot, i, &c) == -1) {
					/* Torn for long: keep what we knew. */
					if (errno == EBUSY)
						busy++;
					cl[i].sc_state = errno == EBUSY ?
					    ROW_UNKNOWN : STATS_ROW_FREE;
					continue;
				}
				cl[i] = c;
				nlive++;
			}
			if (stats_read_backend(&st, slot, &b) == -1) {
				if (errno == EBUSY)
					busy++;
				continue;
			}
			if (a.sb_pid != b.sb_pid || a.sb_since != b.sb_since ||
			    a.sb_tunnel_port != b.sb_tunnel_port) {
				/* Re-registered between the reads: next pass. */
				continue;
			}

			/* The backend row on its own. */
			if (b.sb_pid <= 0 || b.sb_pid > 0x7fffffff)
				violation("slot %u: pid %" PRId64, slot,
				    b.sb_pid);
			if (b.sb_tunnel_port == 0 || b.sb_tunnel_port > 65535)
				violation("slot %u: tunnel port %u", slot,
				    b.sb_tunnel_port);
			if (b.sb_since < start_ms - 1000 ||
			    b.sb_since > wall + 1000)
				violation("slot %u: since %" PRId64 " outside "
				    "[relay start %" PRId64 ", now %" PRId64 "]",
				    slot, b.sb_since, start_ms, wall);
			if (!good_addr(b.sb_addr))
				violation("slot %u: bad address", slot);
			if (!good_string(b.sb_name, STATS_NAME_MAX, 1))
				violation("slot %u: bad name", slot);
			if (!good_key(b.sb_key))
				violation("slot %u: bad key", slot);
			if (__atomic_load_n(&st.st_backends[slot].sb_addr[
			    STATS_ADDR_MAX - 1], __ATOMIC_RELAXED) != '\0' ||
			    __atomic_load_n(&st.st_backends[slot].sb_name[
			    STATS_NAME_MAX - 1], __ATOMIC_RELAXED) != '\0' ||
			    __atomic_load_n(&st.st_backends[slot].sb_key[
			    STATS_KEY_MAX - 1], __ATOMIC_RELAXED) != '\0')
				violation("slot %u: string not terminated "
				    "in the segment", slot);
			if (b.sb_clients_now > st.st_max_clients)
				violation("slot %u: clients_now %" PRIu64
				    " > %u rows", slot, b.sb_clients_now,
				    st.st_max_clients);
			if (b.sb_clients_now > b.sb_clients_total + 1)
				violation("slot %u: clients_now %" PRIu64
				    " > clients_total %" PRIu64 " + 1", slot,
				    b.sb_clients_now, b.sb_clients_total);
			if (b.sb_clients_untracked > b.sb_clients_total)
				violation("slot %u: untracked %" PRIu64
				    " > clients_total %" PRIu64, slot,
				    b.sb_clients_untracked,
				    b.sb_clients_total);
			if (b.sb_bytes_in < a.sb_bytes_in ||
			    b.sb_bytes_out < a.sb_bytes_out ||
			    b.sb_clients_total < a.sb_clients_total ||
			    strcmp(a.sb_addr, b.sb_addr) != 0 ||
			    strcmp(a.sb_name, b.sb_name) != 0 ||
			    strcmp(a.sb_key, b.sb_key) != 0)
				violation("slot %u: changed within one read",
				    slot);

			/* Against the previous pass. */
			if (bp[slot].live && bp[slot].pid == b.sb_pid &&
			    bp[slot].since == b.sb_since) {
				if (bp[slot].port != b.sb_tunnel_port)
					violation("slot %u: tunnel port %u -> "
					    "%u", slot, bp[slot].port,
					    b.sb_tunnel_port);
				if (b.sb_bytes_in < bp[slot].in ||
				    b.sb_bytes_out < bp[slot].out ||
				    b.sb_clients_total < bp[slot].total ||
				    b.sb_clients_untracked <
				    bp[slot].untracked)
					violation("slot %u (port %u): counters "
					    "went down: in %" PRIu64 " -> %"
					    PRIu64 ", out %" PRIu64 " -> %"
					    PRIu64 ", total %" PRIu64 " -> %"
					    PRIu64, slot, b.sb_tunnel_port,
					    bp[slot].in, b.sb_bytes_in,
					    bp[slot].out, b.sb_bytes_out,
					    bp[slot].total,
					    b.sb_clients_total);
			} else
				backends_seen++;
			bp[slot].live = 1;
			bp[slot].pid = b.sb_pid;
			bp[slot].since = b.sb_since;
			bp[slot].port = b.sb_tunnel_port;
			bp[slot].in = b.sb_bytes_in;
			bp[slot].out = b.sb_bytes_out;
			bp[slot].total = b.sb_clients_total;
			bp[slot].untracked = b.sb_clients_untracked;
			if (b.sb_bytes_in > max_bytes)
				max_bytes = b.sb_bytes_in;

			/* One pid per tunnel port, one slot per port. */
			if (b.sb_tunnel_port <= 65535) {
				uint32_t p = b.sb_tunnel_port;

				if (seen_port[p] == pass_no)
					violation("tunnel port %u live in two "
					    "slots", p);
				seen_port[p] = (uint32_t)pass_no;
				if (port_pass[p] != 0 &&
				    port_pass[p] == (uint32_t)pass_no - 1 &&
				    port_pid[p] != b.sb_pid)
					violation("tunnel port %u: pid %" PRId64
					    " -> %" PRId64, p, port_pid[p],
					    b.sb_pid);
				port_pass[p] = (uint32_t)pass_no;
				port_pid[p] = b.sb_pid;
			}

			/* Its clients. */
			sum_in = sum_out = 0;
			for (i = 0; i < st.st_max_clients; i++) {
				struct cprev *pc = &cp[(size_t)slot *
				    st.st_max_clients + i];

				if (cl[i].sc_state == ROW_UNKNOWN)
					continue;
				if (cl[i].sc_state != STATS_ROW_LIVE) {
					pc->live = 0;
					continue;
				}
				c = cl[i];
				sum_in += c.sc_bytes_in;
				sum_out += c.sc_bytes_out;
				if (c.sc_tunnel_port != b.sb_tunnel_port)
					violation("slot %u row %u: client "
					    "tunnel port %u under backend port "
					    "%u", slot, i, c.sc_tunnel_port,
					    b.sb_tunnel_port);
				if (!good_addr(c.sc_addr))
					violation("slot %u row %u: bad client "
					    "address", slot, i);
				if (c.sc_since < b.sb_since - 1000 ||
				    c.sc_since > wall + 1000)
					violation("slot %u row %u: since %"
					    PRId64 " outside [backend %" PRId64
					    ", now %" PRId64 "]", slot, i,
					    c.sc_since, b.sb_since, wall);
				if (__atomic_load_n(&st.st_clients[(size_t)slot
				    * st.st_max_clients + i].sc_addr[
				    STATS_ADDR_MAX - 1], __ATOMIC_RELAXED) !=
				    '\0')
					violation("slot %u row %u: address "
					    "not terminated in the segment",
					    slot, i);
				for (j = 0; j < i; j++)
					if (cl[j].sc_state == STATS_ROW_LIVE &&
					    cl[j].sc_since == c.sc_since &&
					    strcmp(cl[j].sc_addr,
					    c.sc_addr) == 0)
						violation("slot %u: client %s "
						    "in rows %u and %u", slot,
						    c.sc_addr, j, i);
				if (pc->live && pc->since == c.sc_since &&
				    strcmp(pc->addr, c.sc_addr) == 0) {
					if (c.sc_bytes_in < pc->in ||
					    c.sc_bytes_out < pc->out)
						violation("client %s: bytes "
						    "went down: in %" PRIu64
						    " -> %" PRIu64 ", out %"
						    PRIu64 " -> %" PRIu64,
						    c.sc_addr, pc->in,
						    c.sc_bytes_in, pc->out,
						    c.sc_bytes_out);
				} else {
					clients_seen++;
					pc->since = c.sc_since;
					memcpy(pc->addr, c.sc_addr,
					    sizeof(pc->addr));
				}
				pc->live = 1;
				pc->in = c.sc_bytes_in;
				pc->out = c.sc_bytes_out;
			}
			if (sum_in > b.sb_bytes_in || sum_out > b.sb_bytes_out)
				violation("slot %u: clients' bytes %" PRIu64
				    "/%" PRIu64 " exceed the backend's totals %"
				    PRIu64 "/%" PRIu64, slot, sum_in, sum_out,
				    b.sb_bytes_in, b.sb_bytes_out);
			if (nlive > st.st_max_clients)
				violation("slot %u: %u live rows", slot, nlive);
		}
		reads++;
	}
	elapsed = (double)(now_ms(CLOCK_MONOTONIC) - t0) / 1000;
	printf("reads=%lu seconds=%.3f reads_per_s=%.0f backends_seen=%lu "
	    "clients_seen=%lu max_backend_bytes_in=%" PRIu64 " busy_skips=%lu "
	    "client_rows_per_read=%u violations=%lu\n", reads, elapsed,
	    elapsed > 0 ? (double)reads / elapsed : 0.0, backends_seen,
	    clients_seen, max_bytes, busy,
	    st.st_max_backends * st.st_max_clients, violations);
	stats_close(&st, 0);
	return violations ? 1 : 0;
}
