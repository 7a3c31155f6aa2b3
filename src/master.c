/*
 * master: accepts backend connections on the control port and hands each to
 * a pre-forked idle worker; owns the tunnel-port table; reaps workers.  It
 * never reads tunnel traffic and never blocks on a peer.
 */
#include <arpa/inet.h>
#include <linux/capability.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "hello.h"
#include "hs.h"
#include "keys.h"
#include "log.h"
#include "net.h"
#include "proc.h"
#include "relay.h"
#include "sandbox.h"
#include "stats.h"

enum worker_state { W_IDLE, W_BUSY, W_REGISTERED, W_RETIRING, W_DEAD };

/*
 * Where a connection comes from, for --max-pending-per-addr: an IPv4
 * address (also as ::ffff:a.b.c.d), or the /64 of an IPv6 one, which is
 * what one site gets.
 */
struct source {
	uint8_t			 s_key[16];
	unsigned		 s_pending;	/* embryos + registering workers */
	struct source		*s_next;
};

#define SOURCE_BUCKETS	256

struct worker {
	pid_t			 w_pid;
	int			 w_chan;
	enum worker_state	 w_state;
	uint32_t		 w_slot;	/* stats slot, or UINT32_MAX */
	unsigned		 w_port;	/* tunnel port, 0 = none yet */
	int			 w_asked;	/* sent its PROC_PORT_REQ */
	int			 w_logged;	/* its failure is logged */
	int			 w_killed;	/* by us, for a bad message */
	struct source		*w_src;		/* while W_BUSY */
	char			 w_name[PROC_NAME_MAX];
	char			 w_addr[PROC_ADDR_MAX];
	int			 w_hs;		/* asked for its handshake */
	int			 w_hs_rec;	/* its first record is due */
	int			 w_hs_ik;	/* ... of an IK handshake */
	uint8_t			 w_hs_keys[64];	/* tx, rx until then */
	uint8_t			 w_hs_rs[KEYS_LEN];
	int			 w_secure;	/* the handshake succeeded */
	int			 w_keyed;	/* ... with w_key (IK) */
	int			 w_revoked;	/* its key was withdrawn */
	uint64_t		 w_revoke_dl;	/* killed if still there */
	uint8_t			 w_key[KEYS_LEN];
	char			 w_fp[KEYS_FP_LEN + 1];
	uint64_t		 w_born;
	struct worker		*w_next;
};

/*
 * A connection to the control port that has not sent its first byte yet.
 * The master holds it itself, so that a silent connection costs a
 * descriptor and a few bytes here, never a worker, and only until
 * --first-byte-timeout.
 */
struct embryo {
	int			 e_fd;
	char			 e_addr[NET_ADDRSTRLEN];
	struct source		*e_src;
	struct ev_timer		 e_timer;
	struct embryo		*e_prev, *e_next;
};

struct tunnel {
	unsigned		 t_port;
	int			 t_fd;		/* our copy of the listener */
	struct worker		*t_worker;	/* NULL while lingering */
	char			 t_name[PROC_NAME_MAX];
	int			 t_keyed;	/* held by t_key's backend */
	uint8_t			 t_key[KEYS_LEN];
	struct ev_timer		 t_linger;
	struct tunnel		*t_next;
};

static struct relay_config	*cfg;
static struct worker		*workers;
static struct tunnel		*tunnels;
static int			 control_fd = -1;
static unsigned			 idle_count;
static unsigned			 backends_now;
static unsigned			 pending_count;	/* W_BUSY workers */
static unsigned			 embryo_count;
static struct embryo		*embryos;
static struct source		*sources[SOURCE_BUCKETS];
static uint64_t			 source_seed, drop_rng;
static struct keys_auth		*authkeys;	/* --authorized-keys */
static uint64_t			 fork_warned, accept_warned, drop_warned;
/*
 * Lines a peer or a worker could make us repeat: each kind is limited
 * relay-wide (every connection goes to another worker, so only the master
 * can count them), and what is held back is counted and reported.
 */
static struct log_limit		 rl_prereg = LOG_LIMIT(30, 10,
	"registrations that failed (dropped, refused, authentication)");
static struct log_limit		 rl_full = LOG_LIMIT(1, 1,
	"connections refused: --max-pending connections still registering");
static struct log_limit		 rl_addr = LOG_LIMIT(1, 1,
	"connections refused: --max-pending-per-addr reached");
static struct log_limit		 rl_early = LOG_LIMIT(1, 1,
	"connections refused early (--max-startups)");
static struct log_limit		 rl_badmsg = LOG_LIMIT(5, 1,
	"workers killed for a bad message");
static struct log_limit		 rl_hs = LOG_LIMIT(10, 5,
	"handshakes refused (unknown keys, wrong keys or secrets)");
static struct log_limit		*limits[] = {
	&rl_prereg, &rl_full, &rl_addr, &rl_early, &rl_badmsg, &rl_hs
};
static struct ev_timer		 limits_timer;
static unsigned			 port_cursor;
static uint8_t			*slot_used;
static int			 sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t	 got_chld, got_term, got_hup;
static struct ev_timer		 accept_timer;	/* EMFILE back-off */
static struct ev_timer		 respawn_timer;
static struct ev_timer		 refill_timer;
static struct ev_timer		 revoke_timer;	/* master_revoke_fire */
static uint64_t			 respawn_block_until;
static unsigned			 early_deaths;
static uint64_t			 early_window;

static void	master_refill(void);
static void	master_embryo_free(struct embryo *);
static void	master_worker_reset(struct worker *);

static void
master_sighandler(int sig)
{
	int	 saved = errno;

	if (sig == SIGCHLD)
		got_chld = 1;
	else if (sig == SIGHUP)
		got_hup = 1;
	else
		got_term++;
	(void)!write(sig_pipe[1], "", 1);
	errno = saved;
}

static void
master_stats_idle(void)
{
	if (cfg->stats.st_hdr != NULL)
		stats_set(&cfg->stats.st_hdr->sh_workers_idle, idle_count);
}

/* The child side of a fork: shed everything of the master's but chan. */
/* Close descriptors lo..hi (hi may be ~0U); nothing when lo > hi. */
static void
close_from(unsigned lo, unsigned hi)
{
	unsigned	 fd;

	if (lo > hi || (int)lo < 0)
		return;
	if (syscall(SYS_close_range, lo, hi, 0) == 0)
		return;
	for (fd = lo; fd <= hi && fd < 65536; fd++)
		close((int)fd);
}

static void
child_setup(int chan)
{
	struct sigaction	 sa;
	int			 fd, c, l = -1, lf = log_fd(), keep[2];

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_DFL;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGHUP, &sa, NULL);
	sigaction(SIGPIPE, &sa, NULL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	/*
	 * Keep the channel as descriptor 3 and a log file as 4; close the
	 * master's listeners, channels and tunnel copies first, so that even
	 * a master out of descriptors leaves the child room to do so.
	 */
	keep[0] = chan;
	keep[1] = lf > STDERR_FILENO ? lf : chan;
	if (keep[0] > keep[1]) {
		fd = keep[0];
		keep[0] = keep[1];
		keep[1] = fd;
	}
	close_from(3, keep[0] - 1);
	close_from(keep[0] + 1, keep[1] - 1);
	close_from(keep[1] + 1, ~0U);
	if ((c = fcntl(chan, F_DUPFD_CLOEXEC, 5)) == -1 ||
	    (lf > STDERR_FILENO &&
	    (l = fcntl(lf, F_DUPFD_CLOEXEC, 5)) == -1) ||
	    dup3(c, 3, O_CLOEXEC) == -1 ||
	    (l != -1 && dup3(l, 4, O_CLOEXEC) == -1))
		_exit(EX_SOFTWARE_);
	close_from(l != -1 ? 5U : 4U, ~0U);
	if (l != -1)
		log_adopt_fd(4);
	else if (lf == -1)
		log_use_syslog();	/* its socket went with the rest */
	/* worker_main switches to the workers' identity, not the master's. */
	snprintf(cfg->user, sizeof(cfg->user), "%s", cfg->worker_user);
	cfg->uid = cfg->worker_uid;
	cfg->gid = cfg->worker_gid;
}

/* ---- pending connections per source address ---- */

static void
source_key(const struct sockaddr_storage *ss, uint8_t key[16])
{
	const struct sockaddr_in6	*s6;

	memset(key, 0, 16);
	if (ss->ss_family == AF_INET) {
		key[10] = key[11] = 0xff;
		memcpy(key + 12, &((const struct sockaddr_in *)ss)->sin_addr,
		    4);
		return;
	}
	if (ss->ss_family != AF_INET6)
		return;
	s6 = (const struct sockaddr_in6 *)ss;
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
		memcpy(key, &s6->sin6_addr, 16);
	else
		memcpy(key, &s6->sin6_addr, 8);		/* the /64 */
}

static struct source **
source_bucket(const uint8_t key[16])
{
	uint64_t	 a, b, x;

	memcpy(&a, key, 8);
	memcpy(&b, key + 8, 8);
	/* Keyed, so that an attacker cannot aim at one chain. */
	x = (a ^ source_seed) * 0x9e3779b97f4a7c15ULL ^ b;
	x ^= x >> 29;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 32;
	return &sources[x % SOURCE_BUCKETS];
}

static unsigned
source_pending(const uint8_t key[16])
{
	struct source	*s;

	for (s = *source_bucket(key); s != NULL; s = s->s_next)
		if (memcmp(s->s_key, key, 16) == 0)
			return s->s_pending;
	return 0;
}

static struct source *
source_take(const uint8_t key[16])
{
	struct source	**b = source_bucket(key), *s;

	for (s = *b; s != NULL; s = s->s_next)
		if (memcmp(s->s_key, key, 16) == 0)
			break;
	if (s == NULL) {
		if ((s = calloc(1, sizeof(*s))) == NULL)
			return NULL;
		memcpy(s->s_key, key, 16);
		s->s_next = *b;
		*b = s;
	}
	s->s_pending++;
	return s;
}

static void
source_release(struct source *s)
{
	struct source	**pp;

	if (s == NULL || --s->s_pending > 0)
		return;
	for (pp = source_bucket(s->s_key); *pp != NULL; pp = &(*pp)->s_next) {
		if (*pp == s) {
			*pp = s->s_next;
			break;
		}
	}
	free(s);
}

/* A worker stops registering: it no longer counts as pending. */
static void
worker_unbusy(struct worker *w)
{
	pending_count--;
	source_release(w->w_src);
	w->w_src = NULL;
}

static struct worker *
master_fork_worker(void)
{
	struct worker	*w;
	int		 sv[2];
	pid_t		 pid;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		log_warn("worker");
		return NULL;
	}
	if (proc_channel(sv) == -1) {
		if (log_ratelimit(&fork_warned, ev_now(), 1000))
			log_warn("socketpair");
		free(w);
		return NULL;
	}
	switch ((pid = fork())) {
	case -1:
		if (log_ratelimit(&fork_warned, ev_now(), 1000))
			log_warn("fork");
		close(sv[0]);
		close(sv[1]);
		free(w);
		return NULL;
	case 0:
		close(sv[0]);
		child_setup(sv[1]);
		worker_main(cfg, 3);
	}
	close(sv[1]);
	w->w_pid = pid;
	w->w_chan = sv[0];
	w->w_state = W_IDLE;
	w->w_slot = UINT32_MAX;
	w->w_born = ev_now();
	w->w_next = workers;
	workers = w;
	idle_count++;
	return w;
}

static struct tunnel *
tunnel_by_port(unsigned port)
{
	struct tunnel	*t;

	for (t = tunnels; t != NULL; t = t->t_next)
		if (t->t_port == port)
			return t;
	return NULL;
}

static struct tunnel *
tunnel_by_name(const char *name)
{
	struct tunnel	*t;

	if (name[0] == '\0')
		return NULL;
	for (t = tunnels; t != NULL; t = t->t_next)
		if (strcmp(t->t_name, name) == 0)
			return t;
	return NULL;
}

static void
tunnel_free(struct tunnel *t)
{
	struct tunnel	**pp;

	for (pp = &tunnels; *pp != NULL; pp = &(*pp)->t_next) {
		if (*pp == t) {
			*pp = t->t_next;
			break;
		}
	}
	ev_timer_cancel(&t->t_linger);
	close(t->t_fd);
	free(t);
}

static void
tunnel_linger_end(void *arg)
{
	struct tunnel	*t = arg;

	log_info("tunnel port %u of backend '%s' freed after %us without "
	    "its backend", t->t_port, t->t_name, cfg->linger_s);
	tunnel_free(t);
}

static int
tunnel_bind(unsigned port)
{
	return net_listen(&cfg->listen_addr, cfg->listen_len, port, 4096);
}

/*
 * Find or bind the tunnel listener for a registering backend.  Returns the
 * tunnel, or NULL with the reason for the backend in *why.  A lingering
 * reservation of the name is let go only once its new port is bound: a
 * refused request leaves it as it was.
 */
static struct tunnel *
tunnel_alloc(struct worker *w, unsigned want, const char *name,
    char *why, size_t whylen)
{
	struct tunnel	*t, *old;
	const char	*kwhy;
	unsigned	 n, span, port = 0;
	int		 fd = -1;

	if ((old = tunnel_by_name(name)) != NULL) {
		/*
		 * A name held by a key is that key's, live or lingering, as
		 * long as the key may hold it (a SIGHUP may have taken it).
		 */
		if ((old->t_keyed != w->w_keyed || (w->w_keyed &&
		    memcmp(old->t_key, w->w_key, KEYS_LEN) != 0)) &&
		    !(old->t_keyed && old->t_worker == NULL &&
		    !keys_auth_permit(authkeys, old->t_key, name, 0, &kwhy))) {
			snprintf(why, whylen, "backend name '%s' belongs to "
			    "another key", name);
			return NULL;
		}
		if (old->t_worker != NULL) {
			snprintf(why, whylen, "backend name '%s' is in use",
			    name);
			return NULL;
		}
		if (want == 0 || want == old->t_port) {
			/* The same socket, with its waiting clients. */
			ev_timer_cancel(&old->t_linger);
			old->t_worker = w;
			return old;
		}
	}
	if (want != 0) {
		if (cfg->port_lo != 0 &&
		    (want < cfg->port_lo || want > cfg->port_hi)) {
			snprintf(why, whylen, "port %u is outside the tunnel "
			    "range %u-%u", want, cfg->port_lo, cfg->port_hi);
			return NULL;
		}
		/* Without a range, only what any user could bind. */
		if (cfg->port_lo == 0 && want < 1024) {
			snprintf(why, whylen, "port %u is privileged: without "
			    "--ports only ports from 1024 up may be asked for",
			    want);
			return NULL;
		}
		if (want == cfg->control_port || tunnel_by_port(want) != NULL ||
		    (fd = tunnel_bind(want)) == -1) {
			snprintf(why, whylen, "port %u is taken", want);
			return NULL;
		}
		port = want;
	} else if (cfg->port_lo == 0) {
		if ((fd = tunnel_bind(0)) == -1) {
			snprintf(why, whylen, "no free tunnel port");
			return NULL;
		}
		port = net_local_port(fd);
	} else {
		span = cfg->port_hi - cfg->port_lo + 1;
		for (n = 0; n < span; n++) {
			unsigned p = cfg->port_lo + (port_cursor + n) % span;
			if (p == cfg->control_port || tunnel_by_port(p) != NULL)
				continue;
			if ((fd = tunnel_bind(p)) != -1) {
				port = p;
				port_cursor = (port_cursor + n + 1) % span;
				break;
			}
		}
		if (fd == -1) {
			snprintf(why, whylen, "no free tunnel port");
			return NULL;
		}
	}
	if ((t = calloc(1, sizeof(*t))) == NULL) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return NULL;
	}
	/* The new port is ours: now the old reservation may go. */
	if (old != NULL) {
		log_info("tunnel port %u of backend '%s' freed: it asked for "
		    "port %u", old->t_port, old->t_name, port);
		tunnel_free(old);
	}
	t->t_port = port;
	t->t_fd = fd;
	t->t_worker = w;
	snprintf(t->t_name, sizeof(t->t_name), "%s", name);
	t->t_keyed = w->w_keyed;
	memcpy(t->t_key, w->w_key, KEYS_LEN);
	ev_timer_init(&t->t_linger, tunnel_linger_end, t);
	t->t_next = tunnels;
	tunnels = t;
	return t;
}

static uint32_t
slot_alloc(void)
{
	uint32_t	 i;

	for (i = 0; i < cfg->max_backends; i++) {
		if (!slot_used[i]) {
			slot_used[i] = 1;
			return i;
		}
	}
	return UINT32_MAX;
}

static void
master_refuse(struct worker *w, const char *why)
{
	struct proc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_PORT_ERR;
	snprintf(m.pm_reason, sizeof(m.pm_reason), "%s", why);
	/* The worker tells the backend; we log and count it at IDLE. */
	if (proc_send(w->w_chan, &m, -1) == -1)
		log_warn("worker %d: channel", (int)w->w_pid);
}

/*
 * A worker sent what no worker of ours sends: it is not ours any more (or
 * broken).  It is killed at once, before it can send more; the reap logs
 * how it ended.
 */
static void
master_kill_worker(struct worker *w, const char *why)
{
	if (log_limit(&rl_badmsg, ev_now()))
		log_warnx("worker %d sent a bad message (%s); killed%s",
		    (int)w->w_pid, why, log_limit_note(&rl_badmsg));
	ev_del(w->w_chan);
	w->w_killed = 1;
	if (w->w_state == W_IDLE) {
		/* Never hand it a backend, and let the pool be refilled. */
		idle_count--;
		w->w_state = W_RETIRING;
		master_stats_idle();
	}
	kill(w->w_pid, SIGKILL);
}

/*
 * The tunnel for a port request; a key whose line has a port range and
 * that asked for no particular port gets one in its range.
 */
static struct tunnel *
master_tunnel_for(struct worker *w, const struct proc_msg *req, char *why,
    size_t whylen)
{
	const struct keys_auth_entry	*e;
	struct tunnel			*t, *old;
	unsigned			 p;

	e = w->w_keyed ? keys_auth_find(authkeys, w->w_key) : NULL;
	if (req->pm_port != 0 || e == NULL || e->ke_port_lo == 0)
		return tunnel_alloc(w, req->pm_port, req->pm_name, why,
		    whylen);
	/* Its lingering port first, with the clients waiting on it. */
	if ((old = tunnel_by_name(req->pm_name)) != NULL &&
	    old->t_port >= e->ke_port_lo && old->t_port <= e->ke_port_hi)
		return tunnel_alloc(w, old->t_port, req->pm_name, why, whylen);
	for (p = e->ke_port_lo; p <= e->ke_port_hi; p++) {
		if (tunnel_by_port(p) != NULL || p == cfg->control_port)
			continue;
		if ((t = tunnel_alloc(w, p, req->pm_name, why, whylen)) != NULL)
			return t;
		if (strstr(why, "is taken") == NULL)
			return NULL;
	}
	snprintf(why, whylen, "no free tunnel port in this key's range "
	    "%u-%u", e->ke_port_lo, e->ke_port_hi);
	return NULL;
}

static void
master_port_req(struct worker *w, const struct proc_msg *req)
{
	struct proc_msg	 m;
	struct tunnel	*t;
	const char	*rwhy;
	char		 why[PROC_REASON_MAX];
	uint32_t	 slot;

	w->w_asked = 1;
	/* A name the authorized keys list belongs to its key alone. */
	if (!w->w_keyed && req->pm_name[0] != '\0' &&
	    keys_auth_name(authkeys, req->pm_name) != NULL) {
		snprintf(why, sizeof(why), "backend name '%s' belongs to a key",
		    req->pm_name);
		master_refuse(w, why);
		return;
	}
	/* What the key may hold: its line of --authorized-keys. */
	if (w->w_keyed && !keys_auth_permit(authkeys, w->w_key, req->pm_name,
	    req->pm_port, &rwhy)) {
		if (log_limit(&rl_prereg, ev_now()))
			log_warnx("backend %s (key %s): registration refused: "
			    "%s%s", w->w_addr, w->w_fp, rwhy,
			    log_limit_note(&rl_prereg));
		w->w_logged = 1;
		master_refuse(w, rwhy);
		return;
	}
	if (backends_now >= cfg->max_backends) {
		master_refuse(w, "relay is full (max backends reached)");
		return;
	}
	if ((t = master_tunnel_for(w, req, why, sizeof(why))) == NULL) {
		master_refuse(w, why);
		return;
	}
	if ((slot = slot_alloc()) == UINT32_MAX) {
		t->t_worker = NULL;
		tunnel_free(t);
		master_refuse(w, "relay is full (no stats slot)");
		return;
	}
	w->w_port = t->t_port;
	w->w_slot = slot;
	snprintf(w->w_name, sizeof(w->w_name), "%s", req->pm_name);
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_PORT_OK;
	m.pm_port = t->t_port;
	m.pm_slot = slot;
	if (proc_send(w->w_chan, &m, t->t_fd) == -1)
		log_warn("worker %d: passing tunnel listener", (int)w->w_pid);
}

static void
master_registered(struct worker *w)
{
	w->w_state = W_REGISTERED;
	worker_unbusy(w);
	backends_now++;
	if (cfg->stats.st_hdr != NULL) {
		stats_add(&cfg->stats.st_hdr->sh_backends_total, 1);
		stats_set(&cfg->stats.st_hdr->sh_backends_now, backends_now);
	}
}

static void
master_retire(struct worker *w)
{
	struct proc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_SHUTDOWN;
	w->w_state = W_RETIRING;
	if (proc_send(w->w_chan, &m, -1) == -1)
		kill(w->w_pid, SIGTERM);
}

/* The registration failed: log why (the worker told us), back to the pool. */
static void
master_idle(struct worker *w, const struct proc_msg *m)
{
	struct tunnel	*t;
	int		 secure;

	worker_unbusy(w);
	if ((m->pm_flags & PROC_F_REFUSED) && cfg->stats.st_hdr != NULL)
		stats_add(&cfg->stats.st_hdr->sh_registrations_refused, 1);
	if (!w->w_logged && log_limit(&rl_prereg, ev_now())) {
		if (m->pm_flags & PROC_F_AUTHFAIL)
			log_warnx("backend %s: %s%s", w->w_addr, m->pm_reason,
			    log_limit_note(&rl_prereg));
		else if (m->pm_flags & PROC_F_REFUSED)
			log_info("backend %s refused: %s%s", w->w_addr,
			    m->pm_reason, log_limit_note(&rl_prereg));
		else
			log_warnx("backend %s dropped before registering: %s%s",
			    w->w_addr, m->pm_reason, log_limit_note(&rl_prereg));
	}
	t = tunnel_by_port(w->w_port);
	if (w->w_port != 0 && t != NULL && t->t_worker == w) {
		t->t_worker = NULL;
		tunnel_free(t);
	}
	if (w->w_slot != UINT32_MAX) {
		stats_backend_reclaim(&cfg->stats, w->w_slot);
		slot_used[w->w_slot] = 0;
	}
	w->w_slot = UINT32_MAX;
	w->w_port = 0;
	/*
	 * A worker that ran an authenticated session parsed what a key
	 * holder sent: were it someone else's by now, back in the pool it
	 * would be handed the next backend's connection and its keys.
	 */
	secure = w->w_secure;
	master_worker_reset(w);
	if (idle_count >= cfg->prefork || secure) {
		/* Its replacement is in the pool. */
		master_retire(w);
		return;
	}
	w->w_state = W_IDLE;
	idle_count++;
	master_stats_idle();
}

/* Forget the last backend a worker had. */
static void
master_worker_reset(struct worker *w)
{
	w->w_asked = w->w_logged = 0;
	w->w_hs = w->w_secure = w->w_keyed = 0;
	w->w_hs_rec = w->w_hs_ik = 0;
	w->w_revoked = 0;
	w->w_revoke_dl = 0;
	explicit_bzero(w->w_hs_keys, sizeof(w->w_hs_keys));
	memset(w->w_hs_rs, 0, sizeof(w->w_hs_rs));
	memset(w->w_key, 0, sizeof(w->w_key));
	w->w_fp[0] = '\0';
	w->w_name[0] = w->w_addr[0] = '\0';
}

/* hs_check_fn: is the key listed? */
static const char *
master_key_check(void *arg, const uint8_t pub[32])
{
	static char	 why[KEYS_FP_LEN + 32];
	char		 fp[KEYS_FP_LEN + 1];

	(void)arg;
	if (keys_auth_find(authkeys, pub) != NULL)
		return NULL;
	keys_fingerprint(fp, pub);
	snprintf(why, sizeof(why), "key %s is not authorized", fp);
	return why;
}

/*
 * A worker's backend sent message 1 of a handshake: the master answers it
 * (the relay's key and secret never leave this process) and gives the
 * worker the reply to pass on and, if the session is on, its keys.
 */
static void
master_hs_req(struct worker *w, const struct proc_msg *req)
{
	struct proc_msg	 m;
	const char	*why;
	uint8_t		 keys[64], rs[KEYS_LEN];
	size_t		 len;
	int		 kind, v;

	w->w_hs = 1;
	kind = req->pm_flags == PROC_HS_IK ? HS_IK : HS_PSK;
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_HS_REP;
	v = hs_respond(kind, cfg->has_key ? cfg->key_priv : NULL,
	    cfg->has_key ? cfg->key_pub : NULL, cfg->has_psk ? cfg->psk : NULL,
	    master_key_check, NULL, req->pm_data, req->pm_len, m.pm_data,
	    &len, keys, rs, &why);
	m.pm_flags = (uint32_t)v;
	m.pm_len = (uint32_t)len;
	if (v == HS_OK) {
		/*
		 * Nothing is the key's yet: message 1 may be a replay.  Its
		 * sender's first record, which only the holder of its
		 * ephemeral key can make, decides (master_hs_rec).
		 */
		memcpy(w->w_hs_keys, keys, sizeof(keys));
		memcpy(w->w_hs_rs, rs, KEYS_LEN);
		w->w_hs_ik = kind == HS_IK;
		w->w_hs_rec = 1;
	} else {
		w->w_logged = 1;
		if (log_limit(&rl_hs, ev_now()))
			log_warnx("backend %s: %s%s%s", w->w_addr,
			    v == HS_BAD ? "handshake failed: " : "", why,
			    log_limit_note(&rl_hs));
	}
	explicit_bzero(keys, sizeof(keys));
	if (proc_send(w->w_chan, &m, -1) == -1)
		log_warn("worker %d: channel", (int)w->w_pid);
	explicit_bzero(&m, sizeof(m));
}

/*
 * The backend's first record: if it opens, the session is the key's (or
 * the secret's) and the worker gets its keys and the record's plaintext.
 */
static void
master_hs_rec(struct worker *w, const struct proc_msg *req)
{
	struct proc_msg	 m;
	uint8_t		 pt[HS_REC1_MAX];
	size_t		 ptlen;

	w->w_hs_rec = 0;
	memset(&m, 0, sizeof(m));
	if (hs_confirm(w->w_hs_keys + 32, req->pm_data, req->pm_len, pt,
	    &ptlen) == -1 || 64 + ptlen > sizeof(m.pm_data)) {
		w->w_logged = 1;
		if (log_limit(&rl_hs, ev_now()))
			log_warnx("backend %s: its first record did not open "
			    "(a replayed handshake?)%s", w->w_addr,
			    log_limit_note(&rl_hs));
		m.pm_type = PROC_HS_REP;
		m.pm_flags = PROC_HS_BAD;
	} else {
		m.pm_type = PROC_HS_KEYS;
		w->w_secure = 1;
		if (w->w_hs_ik) {
			w->w_keyed = 1;
			memcpy(w->w_key, w->w_hs_rs, KEYS_LEN);
			keys_fingerprint(w->w_fp, w->w_hs_rs);
			snprintf(m.pm_reason, sizeof(m.pm_reason), "%s",
			    w->w_fp);
		}
		memcpy(m.pm_data, w->w_hs_keys, 64);
		memcpy(m.pm_data + 64, pt, ptlen);
		m.pm_len = (uint32_t)(64 + ptlen);
	}
	explicit_bzero(w->w_hs_keys, sizeof(w->w_hs_keys));
	explicit_bzero(pt, sizeof(pt));
	if (proc_send(w->w_chan, &m, -1) == -1)
		log_warn("worker %d: channel", (int)w->w_pid);
	explicit_bzero(&m, sizeof(m));
}

int
master_load_authkeys(const struct relay_config *c, char *why, size_t whylen)
{
	struct keys_auth	*k;

	if ((k = keys_auth_load(c->authkeys_file, why, whylen)) == NULL)
		return -1;
	keys_auth_free(authkeys);
	authkeys = k;
	return 0;
}

#define MASTER_REVOKE_GRACE_MS	2000

/* Revoked workers past their grace time are killed. */
static void
master_revoke_fire(void *arg)
{
	struct worker	*w;
	uint64_t	 next = 0;

	(void)arg;
	for (w = workers; w != NULL; w = w->w_next) {
		if (!w->w_revoked || w->w_state == W_DEAD ||
		    w->w_revoke_dl == 0)
			continue;
		if (w->w_revoke_dl <= ev_now()) {
			log_warnx("worker %d of a withdrawn key is still there; "
			    "killed", (int)w->w_pid);
			w->w_revoke_dl = 0;
			kill(w->w_pid, SIGKILL);
		} else if (next == 0 || w->w_revoke_dl < next)
			next = w->w_revoke_dl;
	}
	if (next != 0)
		ev_timer_at(&revoke_timer, next);
}

/*
 * SIGHUP: read --authorized-keys again.  A backend whose key is gone, or
 * may no longer hold its name or port, is ended (its worker closes its
 * clients); a file that does not parse changes nothing.
 */
static void
master_reload_authkeys(void)
{
	struct worker	*w;
	struct proc_msg	 m;
	const char	*why;
	char		 err[KEYS_ERR_MAX];
	unsigned	 n = 0;

	if (!cfg->has_key)
		return;
	if (master_load_authkeys(cfg, err, sizeof(err)) == -1) {
		log_warnx("authorized keys not reloaded, the old ones stay in "
		    "force: %s", err);
		return;
	}
	for (w = workers; w != NULL; w = w->w_next) {
		if (!w->w_keyed || w->w_revoked || (w->w_state != W_BUSY &&
		    w->w_state != W_REGISTERED))
			continue;
		/* Before its port request only the key is known: listed? */
		if (!w->w_asked && keys_auth_find(authkeys, w->w_key) != NULL)
			continue;
		why = "key not authorized";
		if (w->w_asked && keys_auth_permit(authkeys, w->w_key,
		    w->w_name, w->w_port, &why))
			continue;
		log_warnx("key %s is no longer authorized (%s): ending backend "
		    "%s%s%s on tunnel port %u", w->w_fp, why, w->w_addr,
		    w->w_name[0] ? " " : "", w->w_name, w->w_port);
		/*
		 * The worker is asked to end the session; it is given no
		 * choice: it may send nothing more, and what is still there
		 * after the grace time is killed.  Its name does not linger.
		 */
		w->w_revoked = 1;
		w->w_revoke_dl = ev_now() + MASTER_REVOKE_GRACE_MS;
		memset(&m, 0, sizeof(m));
		m.pm_type = PROC_REVOKE;
		if (proc_send(w->w_chan, &m, -1) == -1)
			kill(w->w_pid, SIGKILL);
		if (!ev_timer_pending(&revoke_timer) ||
		    revoke_timer.et_when > w->w_revoke_dl)
			ev_timer_at(&revoke_timer, w->w_revoke_dl);
		n++;
	}
	log_info("authorized keys reloaded: %zu keys; %u backend%s ended",
	    authkeys->ka_nent, n, n == 1 ? "" : "s");
}

/*
 * Is this message one the worker may send now?  The fields were checked by
 * proc_worker_msg_check; this is the state: NULL, or why not.
 */
static const char *
master_msg_state(const struct worker *w, const struct proc_msg *m)
{
	if (w->w_revoked && m->pm_type != PROC_IDLE)
		return "message after its key was withdrawn";
	switch (m->pm_type) {
	case PROC_PORT_REQ:
		if (w->w_state != W_BUSY || w->w_asked)
			return "port request out of turn";
		if (strcmp(m->pm_addr, w->w_addr) != 0)
			return "not the backend's address";
		if (cfg->encrypted_only && !w->w_secure)
			return "port request without an encrypted session";
		return NULL;
	case PROC_HS_REQ:
		/* One handshake per backend handed over: the rate bound. */
		if (w->w_state != W_BUSY || w->w_hs)
			return "handshake out of turn";
		return NULL;
	case PROC_HS_REC:
		if (w->w_state != W_BUSY || !w->w_hs_rec)
			return "first record out of turn";
		return NULL;
	case PROC_REGISTERED:
		if (w->w_state != W_BUSY || w->w_port == 0)
			return "registered without a port";
		if (m->pm_port != w->w_port)
			return "registered on another port";
		return NULL;
	case PROC_IDLE:
		if (w->w_state != W_BUSY)
			return "idle while not registering";
		return NULL;
	}
	return "message type";
}

/*
 * At most this many messages of one worker per wake-up: a worker that
 * floods its channel must not keep the master from everything else (the
 * loop is level-triggered: the rest waits for the next round).
 */
#define MASTER_MSGS_PER_WAKEUP	16

static void
master_worker_msg(int fd, uint32_t events, void *arg)
{
	struct worker	*w = arg;
	struct proc_msg	 m;
	const char	*why;
	int		 rfd, rv, n;

	(void)fd;
	(void)events;
	for (n = 0; n < MASTER_MSGS_PER_WAKEUP; n++) {
		rv = proc_recv(w->w_chan, &m, &rfd);
		if (rv == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (rv == 0 || (rv == -1 && errno == ECONNRESET)) {
			/* EOF: the worker is done; the reap says how. */
			ev_del(w->w_chan);
			if (w->w_state != W_DEAD)
				kill(w->w_pid, SIGTERM);
			return;
		}
		if (rv == -1) {
			master_kill_worker(w, errno == EBADMSG ?
			    "malformed" : strerror(errno));
			return;
		}
		if (proc_worker_msg_check(&m, rfd, &why) == -1 ||
		    (why = master_msg_state(w, &m)) != NULL) {
			if (rfd != -1)
				close(rfd);
			master_kill_worker(w, why);
			return;
		}
		switch (m.pm_type) {
		case PROC_PORT_REQ:
			master_port_req(w, &m);
			break;
		case PROC_REGISTERED:
			master_registered(w);
			break;
		case PROC_IDLE:
			master_idle(w, &m);
			break;
		case PROC_HS_REQ:
			master_hs_req(w, &m);
			break;
		case PROC_HS_REC:
			master_hs_rec(w, &m);
			break;
		}
	}
}

static void
master_add_worker_events(struct worker *w)
{
	if (ev_add(w->w_chan, EV_READ, master_worker_msg, w) == -1)
		fatal("ev_add worker channel");
}

static struct worker *
master_idle_worker(void)
{
	struct worker	*w;

	for (w = workers; w != NULL; w = w->w_next)
		if (w->w_state == W_IDLE)
			return w;
	return NULL;
}

static void
master_accept_resume(void *arg)
{
	(void)arg;
	if (control_fd != -1)
		ev_set(control_fd, EV_READ);
}

/* A cheap generator for the random early drop (xorshift64*). */
static unsigned
master_random(unsigned n)
{
	drop_rng ^= drop_rng >> 12;
	drop_rng ^= drop_rng << 25;
	drop_rng ^= drop_rng >> 27;
	return (unsigned)((drop_rng * 0x2545f4914f6cdd1dULL) >> 33) % n;
}

/*
 * OpenSSH's MaxStartups: from startups_start pending connections on, a new
 * one is refused with a probability that rises linearly from
 * startups_rate percent to 100 at max_pending.  Whoever holds the
 * connections, some honest ones keep getting through.
 */
static int
master_early_drop(unsigned pending)
{
	unsigned	 p;

	if (pending < cfg->startups_start ||
	    cfg->max_pending <= cfg->startups_start)
		return 0;
	p = cfg->startups_rate + (100 - cfg->startups_rate) *
	    (pending - cfg->startups_start) /
	    (cfg->max_pending - cfg->startups_start);
	return master_random(100) < p;
}

static void
master_refused(void)
{
	if (cfg->stats.st_hdr != NULL)
		stats_add(&cfg->stats.st_hdr->sh_registrations_refused, 1);
}

/* Hand a connection whose first bytes have come to an idle worker. */
static void
master_handover(struct embryo *e)
{
	struct proc_msg	 m;
	struct worker	*w;
	struct source	*src;

	if ((w = master_idle_worker()) == NULL) {
		log_debug("no idle worker; forking one now");
		if ((w = master_fork_worker()) == NULL) {
			if (log_ratelimit(&drop_warned, ev_now(), 1000))
				log_warnx("backend %s dropped: cannot start a "
				    "worker", e->e_addr);
			master_embryo_free(e);
			return;
		}
		master_add_worker_events(w);
	}
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_BACKEND;
	snprintf(m.pm_addr, sizeof(m.pm_addr), "%s", e->e_addr);
	if (proc_send(w->w_chan, &m, e->e_fd) == -1) {
		log_warn("backend %s: handing to worker %d", e->e_addr,
		    (int)w->w_pid);
		master_embryo_free(e);
		return;
	}
	w->w_state = W_BUSY;
	master_worker_reset(w);
	snprintf(w->w_addr, sizeof(w->w_addr), "%s", e->e_addr);
	log_debug("backend %s handed to worker %d", e->e_addr, (int)w->w_pid);
	/* Its place in the source's count moves to the worker. */
	src = e->e_src;
	e->e_src = NULL;
	master_embryo_free(e);
	w->w_src = src;
	idle_count--;
	pending_count++;
}

static void
master_embryo_free(struct embryo *e)
{
	ev_del(e->e_fd);
	close(e->e_fd);
	ev_timer_cancel(&e->e_timer);
	source_release(e->e_src);
	if (e->e_prev != NULL)
		e->e_prev->e_next = e->e_next;
	else
		embryos = e->e_next;
	if (e->e_next != NULL)
		e->e_next->e_prev = e->e_prev;
	embryo_count--;
	free(e);
}

/* Dropped before it said anything: logged like a worker's drop. */
static void
master_embryo_drop(struct embryo *e, const char *why)
{
	if (log_limit(&rl_prereg, ev_now()))
		log_warnx("backend %s dropped before registering: %s%s",
		    e->e_addr, why, log_limit_note(&rl_prereg));
	master_embryo_free(e);
}

static void
master_embryo_timeout(void *arg)
{
	struct embryo	*e = arg;
	char		 why[96];

	snprintf(why, sizeof(why), "registration timed out (nothing received "
	    "within %u ms)", cfg->first_byte_ms < cfg->register_timeout_ms ?
	    cfg->first_byte_ms : cfg->register_timeout_ms);
	master_embryo_drop(e, why);
}

/*
 * The first bytes are only looked at (MSG_PEEK): the worker reads them
 * all.  One recv per connection, and no worker, no fork and no descriptor
 * passing for a connection that never speaks.
 */
static void
master_embryo_io(int fd, uint32_t events, void *arg)
{
	struct embryo	*e = arg;
	char		 c, why[96];
	ssize_t		 n;

	(void)events;
	n = recv(fd, &c, 1, MSG_PEEK | MSG_DONTWAIT);
	if (n == 1) {
		master_handover(e);
		return;
	}
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n == 0)
		master_embryo_drop(e, "backend closed the connection");
	else {
		snprintf(why, sizeof(why), "read from backend: %s",
		    strerror(errno));
		master_embryo_drop(e, why);
	}
}

static int
master_embryo_new(int c, const char *addr, const uint8_t key[16])
{
	struct embryo	*e;
	unsigned	 ms;

	if ((e = calloc(1, sizeof(*e))) == NULL)
		return -1;
	if ((e->e_src = source_take(key)) == NULL) {
		free(e);
		return -1;
	}
	e->e_fd = c;
	snprintf(e->e_addr, sizeof(e->e_addr), "%s", addr);
	if (ev_add(c, EV_READ, master_embryo_io, e) == -1) {
		source_release(e->e_src);
		free(e);
		return -1;
	}
	ms = cfg->first_byte_ms < cfg->register_timeout_ms ?
	    cfg->first_byte_ms : cfg->register_timeout_ms;
	ev_timer_init(&e->e_timer, master_embryo_timeout, e);
	ev_timer_at(&e->e_timer, ev_now() + ms);
	e->e_next = embryos;
	if (embryos != NULL)
		embryos->e_prev = e;
	embryos = e;
	embryo_count++;
	return 0;
}

static void
master_accept(int fd, uint32_t events, void *arg)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sl;
	char			 addr[NET_ADDRSTRLEN];
	uint8_t			 key[16];
	unsigned		 pending, here;
	int			 c, n;

	(void)events;
	(void)arg;
	for (n = 0; n < 64; n++) {
		sl = sizeof(ss);
		c = accept4(fd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (c == -1) {
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM) {
				/* Back off instead of spinning on a full table. */
				if (log_ratelimit(&accept_warned, ev_now(),
				    1000))
					log_warn("accept on control port; "
					    "pausing 100 ms");
				ev_set(fd, 0);
				ev_timer_at(&accept_timer, ev_now() + 100);
			}
			return;
		}
		net_addr_str((struct sockaddr *)&ss, addr, sizeof(addr));
		source_key(&ss, key);
		pending = pending_count + embryo_count;
		if (pending >= cfg->max_pending) {
			/*
			 * Slow or silent registrations hold a worker or a
			 * place here until their timeout; beyond the cap,
			 * refuse rather than grow without bound.
			 */
			if (log_limit(&rl_full, ev_now()))
				log_warnx("backend %s refused: %u connections "
				    "are still registering%s", addr, pending,
				    log_limit_note(&rl_full));
			master_refused();
			close(c);
			continue;
		}
		/* One address (one /64) cannot take every place. */
		if ((here = source_pending(key)) >= cfg->max_pending_addr) {
			if (log_limit(&rl_addr, ev_now()))
				log_warnx("backend %s refused: %u connections "
				    "from its address are still registering "
				    "(--max-pending-per-addr)%s", addr, here,
				    log_limit_note(&rl_addr));
			master_refused();
			close(c);
			continue;
		}
		if (master_early_drop(pending)) {
			if (log_limit(&rl_early, ev_now()))
				log_warnx("backend %s refused: %u connections "
				    "are still registering (random early drop, "
				    "--max-startups)%s", addr, pending,
				    log_limit_note(&rl_early));
			master_refused();
			close(c);
			continue;
		}
		if (master_embryo_new(c, addr, key) == -1) {
			if (log_ratelimit(&drop_warned, ev_now(), 1000))
				log_warn("backend %s dropped", addr);
			close(c);
			continue;
		}
	}
}

static const char *
master_exit_reason(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
	else if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		/* SECCOMP_RET_KILL_PROCESS: see sandbox.c. */
		snprintf(buf, len, "killed by the sandbox (SIGSYS): forbidden "
		    "system call");
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)",
		    WTERMSIG(status), strsignal(WTERMSIG(status)));
	else
		snprintf(buf, len, "ended (status %#x)", status);
	return buf;
}

static void
master_worker_gone(struct worker *w, int status)
{
	struct tunnel	*t;
	char		 why[128];

	if (w->w_killed)
		snprintf(why, sizeof(why), "killed for a bad message");
	else
		master_exit_reason(status, why, sizeof(why));
	if (w->w_state == W_BUSY)
		worker_unbusy(w);
	if (w->w_state == W_IDLE) {
		idle_count--;
		if (!got_term) {
			log_warnx("idle worker %d %s", (int)w->w_pid, why);
			if (ev_now() - early_window > 10000) {
				early_window = ev_now();
				early_deaths = 0;
			}
			/* Do not respawn a crash-looping worker forever. */
			if (++early_deaths >= 5) {
				log_warnx("workers keep dying; not forking new "
				    "ones for 10 s");
				respawn_block_until = ev_now() + 10000;
				ev_timer_at(&respawn_timer,
				    respawn_block_until);
			}
		}
	} else if (w->w_state == W_REGISTERED) {
		backends_now--;
		if (cfg->stats.st_hdr != NULL)
			stats_set(&cfg->stats.st_hdr->sh_backends_now,
			    backends_now);
		log_info("backend %s%s%s on tunnel port %u ended: worker %d %s",
		    w->w_addr, w->w_name[0] ? " name " : "", w->w_name,
		    w->w_port, (int)w->w_pid, why);
	} else if (w->w_state == W_RETIRING && !w->w_killed)
		log_debug("surplus idle worker %d %s", (int)w->w_pid, why);
	else if (w->w_state == W_RETIRING)
		log_debug("idle worker %d %s", (int)w->w_pid, why);
	else if (w->w_killed)
		log_debug("worker %d %s (backend %s, registering)",
		    (int)w->w_pid, why, w->w_addr);
	else if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)
		log_warnx("worker %d %s (backend %s, registering)",
		    (int)w->w_pid, why, w->w_addr);
	if (w->w_port != 0 && (t = tunnel_by_port(w->w_port)) != NULL &&
	    t->t_worker == w) {
		t->t_worker = NULL;
		if (t->t_name[0] != '\0' && cfg->linger_s > 0 && !got_term &&
		    !w->w_revoked) {
			log_info("tunnel port %u of backend '%s' kept for %us",
			    t->t_port, t->t_name, cfg->linger_s);
			ev_timer_at(&t->t_linger,
			    ev_now() + cfg->linger_s * 1000ULL);
		} else
			tunnel_free(t);
	}
	if (w->w_slot != UINT32_MAX) {
		stats_backend_reclaim(&cfg->stats, w->w_slot);
		slot_used[w->w_slot] = 0;
	}
	ev_del(w->w_chan);
	close(w->w_chan);
	w->w_state = W_DEAD;
}

static void
master_reap(void)
{
	struct worker	**pp, *w;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (pp = &workers; (w = *pp) != NULL; pp = &w->w_next) {
			if (w->w_pid == pid) {
				master_worker_gone(w, status);
				*pp = w->w_next;
				free(w);
				break;
			}
		}
	}
	master_stats_idle();
}

static void
master_refill(void)
{
	struct worker	*w;

	if (got_term || ev_now() < respawn_block_until)
		return;
	while (idle_count < cfg->prefork) {
		if ((w = master_fork_worker()) == NULL)
			break;
		master_add_worker_events(w);
	}
	master_stats_idle();
}

static void
master_respawn(void *arg)
{
	(void)arg;
	master_refill();
}

static void
master_presleep(void *arg)
{
	size_t	 i;

	(void)arg;
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		if (limits[i]->ll_suppressed != 0 &&
		    !ev_timer_pending(&limits_timer))
			ev_timer_at(&limits_timer, ev_now() + 1000);
	/*
	 * Replacements are forked a moment after a hand-over, not in it: the
	 * new worker's port request must not wait behind a fork.  An empty
	 * pool is refilled at once.
	 */
	if (idle_count == 0)
		master_refill();
	else if (idle_count < cfg->prefork && !ev_timer_pending(&refill_timer))
		ev_timer_at(&refill_timer, ev_now() + 20);
}

/*
 * SIGHUP: reopen the log file (after rotation) and pass the new descriptor
 * to every worker, which may no longer be allowed to open it itself.
 */
static void
master_reopen_log(void)
{
	struct worker	*w;
	struct proc_msg	 m;

	const char	*why;

	if (!log_to_file())
		return;
	if (log_reopen(&why) == -1) {
		if (why != NULL)
			log_warnx("log file %s not reopened: %s; still logging "
			    "to the old one", cfg->log_file, why);
		else
			log_warn("log file %s not reopened; still logging to "
			    "the old one", cfg->log_file);
		return;
	}
	log_info("log file reopened");
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_LOGFD;
	for (w = workers; w != NULL; w = w->w_next)
		if (w->w_state != W_DEAD)
			proc_send(w->w_chan, &m, log_fd());
}

static void
master_signal(int fd, uint32_t events, void *arg)
{
	char	 buf[64];

	(void)events;
	(void)arg;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (got_chld) {
		got_chld = 0;
		master_reap();
	}
	if (got_hup) {
		got_hup = 0;
		master_reopen_log();
		master_reload_authkeys();
	}
}

static void
master_kill_all(void)
{
	struct worker	*w;
	int		 status;

	for (w = workers; w != NULL; w = w->w_next)
		kill(w->w_pid, SIGKILL);
	while (workers != NULL) {
		w = workers;
		waitpid(w->w_pid, &status, 0);
		master_worker_gone(w, status);
		workers = w->w_next;
		free(w);
	}
}

/*
 * Graceful shutdown: no new registrations or clients, GoAway(0) to every
 * backend (the workers do it), open clients get --drain-timeout to finish.
 * A second signal ends it at once.
 */
static void
master_shutdown(void)
{
	struct worker	*w;
	struct proc_msg	 m;
	uint64_t	 deadline;

	log_info("shutting down: no new backends or clients; draining for up "
	    "to %us", cfg->drain_timeout_s);
	if (control_fd != -1) {
		ev_del(control_fd);
		close(control_fd);
		control_fd = -1;
	}
	while (tunnels != NULL)
		tunnel_free(tunnels);
	while (embryos != NULL)
		master_embryo_free(embryos);
	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_SHUTDOWN;
	for (w = workers; w != NULL; w = w->w_next)
		if (proc_send(w->w_chan, &m, -1) == -1)
			kill(w->w_pid, SIGTERM);
	deadline = ev_now() + cfg->drain_timeout_s * 1000ULL + 2000;
	while (workers != NULL) {
		if (got_term >= 2) {
			log_info("second signal: exiting now");
			break;
		}
		if (ev_now() >= deadline) {
			log_warnx("workers still running after the drain time; "
			    "killing them");
			break;
		}
		ev_run_once(100);
		if (got_chld) {
			got_chld = 0;
			master_reap();
		}
	}
	master_kill_all();
	stats_close(&cfg->stats, 1);
	if (cfg->pidfile[0] != '\0' && unlink(cfg->pidfile) == -1)
		log_warn("cannot remove pidfile %s", cfg->pidfile);
	log_info("exiting");
}

/*
 * Refuse to start over a live relay named by the pidfile, and remove a
 * stale one.  The pidfile's directory is writable by --user (it removes
 * the file at exit), who may have put anything there: never follow a
 * symbolic link (O_NOFOLLOW), never block on a FIFO (O_NONBLOCK), read
 * only a regular file.  unlink(2) removes a link itself, never its target.
 */
static int
pidfile_check(const char *path)
{
	struct stat	 sb;
	char		 buf[32];
	long		 pid;
	ssize_t		 n;
	int		 fd;

	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY |
	    O_CLOEXEC);
	if (fd == -1) {
		if (errno == ENOENT)
			return 0;
		if (errno == ELOOP)
			fprintf(stderr, "relay: pidfile %s is a symbolic link: "
			    "refusing to follow it (remove it)\n", path);
		else
			fprintf(stderr, "relay: cannot open pidfile %s: %s\n",
			    path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		fprintf(stderr, "relay: pidfile %s is not a regular file: "
		    "refusing to use it (remove it)\n", path);
		return -1;
	}
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid > 0 && pid != getpid() && stats_pid_is_relay(pid) != 0) {
		fprintf(stderr, "relay: already running (pid %ld, pidfile "
		    "%s)\n", pid, path);
		return -1;
	}
	if (unlink(path) == -1 && errno != ENOENT) {
		fprintf(stderr, "relay: cannot remove stale pidfile %s: %s\n",
		    path, strerror(errno));
		return -1;
	}
	return 0;
}

/*
 * A new file (O_EXCL: whatever appeared since pidfile_check is refused),
 * given to --user through its descriptor so that the master can still
 * remove it once it runs as that user.
 */
static int
pidfile_write(const char *path)
{
	char	 buf[32];
	int	 fd, n, saved;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NOCTTY |
	    O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	if (geteuid() == 0 && cfg->user[0] != '\0' &&
	    fchown(fd, cfg->uid, cfg->gid) == -1)
		goto fail;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, n) != n)
		goto fail;
	return close(fd);
 fail:
	saved = errno;
	close(fd);
	unlink(path);
	errno = saved;
	return -1;
}

/*
 * Detach.  The parent stays until the child has set everything up, so the
 * command that started the daemon reports whether it came up.
 */
static int
daemonize(int *ready)
{
	int	 p[2], fd;
	char	 c;
	pid_t	 pid;

	if (pipe2(p, O_CLOEXEC) == -1)
		return -1;
	switch ((pid = fork())) {
	case -1:
		return -1;
	case 0:
		break;
	default:
		close(p[1]);
		if (read(p[0], &c, 1) == 1)
			_exit(EX_OK_);
		_exit(EX_UNAVAILABLE_);
	}
	close(p[0]);
	setsid();
	if (chdir("/") == -1)
		return -1;
	if ((fd = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		if (log_fd() != STDERR_FILENO)
			dup2(fd, STDERR_FILENO);
		if (fd > STDERR_FILENO)
			close(fd);
	}
	*ready = p[1];
	return 0;
}

static int
master_loopback(void)
{
	const struct sockaddr_storage	*ss = &cfg->listen_addr;

	if (ss->ss_family == AF_INET)
		return (ntohl(((const struct sockaddr_in *)ss)->sin_addr.s_addr)
		    >> 24) == 127;
	if (ss->ss_family == AF_INET6)
		return IN6_IS_ADDR_LOOPBACK(
		    &((const struct sockaddr_in6 *)ss)->sin6_addr);
	return 0;
}

/*
 * What the master still needs once it has set up: CAP_NET_BIND_SERVICE for
 * tunnel ports below 1024, and CAP_SETUID, CAP_SETGID and CAP_KILL to start
 * workers under their own identity and to end them.  Started as root with
 * --user it switches to that user keeping exactly those; in any case it
 * gives up every other capability (a systemd unit's ambient ones too).
 * The segment, the pidfile and the log file were given to --user when
 * they were opened.
 */
static void
master_drop_privileges(void)
{
	uint64_t	 keep = 0;

	if (cfg->port_lo != 0 && cfg->port_lo < 1024)
		keep |= SANDBOX_CAP(CAP_NET_BIND_SERVICE);
	if (cfg->worker_uid != cfg->uid || cfg->worker_gid != cfg->gid)
		keep |= SANDBOX_CAP(CAP_SETUID) | SANDBOX_CAP(CAP_SETGID) |
		    SANDBOX_CAP(CAP_KILL);
	if (cfg->user[0] != '\0' && geteuid() == 0 && cfg->uid != 0) {
		if (sandbox_set_identity(cfg->uid, cfg->gid, keep) == -1)
			fatal("cannot switch to user %s", cfg->user);
		log_info("running as %s%s", cfg->user,
		    keep & SANDBOX_CAP(CAP_NET_BIND_SERVICE) ?
		    ", keeping CAP_NET_BIND_SERVICE for the tunnel ports" : "");
	} else if (sandbox_set_identity((uid_t)-1, (gid_t)-1, keep) == -1)
		fatal("cannot give up capabilities");
	if (cfg->worker_uid != cfg->uid || cfg->worker_gid != cfg->gid)
		log_info("workers run as %s (uid %lu, gid %lu)",
		    cfg->worker_user, (unsigned long)cfg->worker_uid,
		    (unsigned long)cfg->worker_gid);
	else if (cfg->uid != 0)
		log_info("workers run as the master's user (uid %lu); "
		    "--worker-user gives them one of their own",
		    (unsigned long)cfg->uid);
}

/*
 * The segment belongs to the user the master ends up as (it removes it at
 * exit), its group to --stats-group: relaystat readers.  A name someone
 * else has taken is reported with what to do about it.
 */
static int
master_stats_create(void)
{
	const char	*why;
	uid_t		 uid = (uid_t)-1;
	gid_t		 gid = cfg->stats_gid;

	if (geteuid() == 0 && cfg->user[0] != '\0') {
		uid = cfg->uid;
		if (gid == (gid_t)-1)
			gid = cfg->gid;
	}
	if (stats_create(&cfg->stats, cfg->stats_name, cfg->max_backends,
	    cfg->max_clients, cfg->control_port, uid, gid, &why) == 0)
		return 0;
	if (errno == EPERM || errno == ELOOP || errno == ENXIO ||
	    errno == EACCES)
		log_warnx("stats segment %s: /dev/shm%s %s: someone may have "
		    "planted it; remove it as root (rm /dev/shm%s) or start "
		    "the relay with --stats NAME", cfg->stats_name,
		    cfg->stats_name, why, cfg->stats_name);
	else if (errno == EEXIST)
		log_warnx("stats segment %s: %s: give this relay another "
		    "--stats NAME", cfg->stats_name, why);
	else
		log_warn("stats segment %s: %s", cfg->stats_name, why);
	return -1;
}

/* Once a second while some limited lines wait to be reported. */
static void
master_limits_flush(void *arg)
{
	size_t	 i;

	(void)arg;
	for (i = 0; i < sizeof(limits) / sizeof(limits[0]); i++)
		log_limit_flush(limits[i], ev_now());
}

int
master_main(struct relay_config *c)
{
	struct sigaction	 sa;
	const char		*why;
	char			 addr[NET_ADDRSTRLEN];
	struct sockaddr_storage	 ss;
	socklen_t		 sl = sizeof(ss);
	int			 ready = -1;

	cfg = c;
	ev_init();
	if ((control_fd = net_listen(&cfg->listen_addr, cfg->listen_len,
	    cfg->control_port, 4096)) == -1) {
		log_warn("cannot listen on %s port %u", cfg->listen_host,
		    cfg->control_port);
		return EX_UNAVAILABLE_;
	}
	cfg->control_port = net_local_port(control_fd);
	if (cfg->pidfile[0] != '\0' && pidfile_check(cfg->pidfile) == -1)
		return EX_UNAVAILABLE_;
	if (cfg->log_file[0] != '\0' && log_open_file(cfg->log_file,
	    cfg->user[0] != '\0' ? cfg->uid : (uid_t)-1,
	    cfg->user[0] != '\0' ? cfg->gid : (gid_t)-1, &why) == -1) {
		fprintf(stderr, "relay: cannot open log file %s: %s\n",
		    cfg->log_file, why != NULL ? why : strerror(errno));
		return EX_UNAVAILABLE_;
	}
	if (cfg->daemonize) {
		if (cfg->log_file[0] == '\0')
			log_use_syslog();
		if (daemonize(&ready) == -1)
			fatal("daemon");
	}
	if (cfg->stats_name[0] == '\0')
		stats_default_name(cfg->stats_name, sizeof(cfg->stats_name),
		    cfg->control_port);
	if (master_stats_create() == -1)
		return EX_UNAVAILABLE_;
	if ((slot_used = calloc(cfg->max_backends, 1)) == NULL)
		fatal("calloc");
	if (cfg->pidfile[0] != '\0' && pidfile_write(cfg->pidfile) == -1) {
		log_warn("cannot write pidfile %s", cfg->pidfile);
		stats_close(&cfg->stats, 1);
		return EX_UNAVAILABLE_;
	}

	if (getrandom(&source_seed, sizeof(source_seed), 0) !=
	    sizeof(source_seed) ||
	    getrandom(&drop_rng, sizeof(drop_rng), 0) != sizeof(drop_rng))
		fatal("getrandom");
	drop_rng |= 1;		/* xorshift must not start at 0 */
	if (pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) == -1)
		fatal("pipe2");
	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = master_sighandler;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);

	ev_timer_init(&accept_timer, master_accept_resume, NULL);
	ev_timer_init(&respawn_timer, master_respawn, NULL);
	ev_timer_init(&refill_timer, master_respawn, NULL);
	ev_timer_init(&revoke_timer, master_revoke_fire, NULL);
	ev_timer_init(&limits_timer, master_limits_flush, NULL);
	if (ev_add(sig_pipe[0], EV_READ, master_signal, NULL) == -1 ||
	    ev_add(control_fd, EV_READ, master_accept, NULL) == -1)
		fatal("ev_add");
	ev_set_presleep(master_presleep, NULL);
	master_refill();
	/* Before "listening on": who watches for it sees the final state. */
	master_drop_privileges();

	getsockname(control_fd, (struct sockaddr *)&ss, &sl);
	net_addr_str((struct sockaddr *)&ss, addr, sizeof(addr));
	if (cfg->port_lo != 0)
		log_info("tunnel ports %u-%u, %u idle workers, stats %s",
		    cfg->port_lo, cfg->port_hi, cfg->prefork, cfg->stats_name);
	else
		log_info("tunnel ports: any free port, %u idle workers, "
		    "stats %s", cfg->prefork, cfg->stats_name);
	log_info("listening on %s", addr);
	if (!cfg->encrypted_only && !master_loopback())
		log_warnx("listening on %s in plain mode (without --key or "
		    "--secret-file): sessions are not encrypted, and anyone "
		    "who can reach it can open tunnel ports on this host",
		    addr);
	if (getuid() == 0 && cfg->user[0] == '\0')
		log_warnx("running as root without --user: give --user (and "
		    "--worker-user) so that no process of the relay keeps "
		    "root's identity");
	if (ready != -1) {
		(void)!write(ready, "", 1);
		close(ready);
	}

	while (!got_term)
		ev_run_once(-1);
	master_shutdown();
	return EX_OK_;
}
