/*
 * master: accepts backend connections on the control port and hands each to
 * a pre-forked idle worker; owns the tunnel-port table; reaps workers.  It
 * never reads tunnel traffic and never blocks on a peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "ev.h"
#include "log.h"
#include "net.h"
#include "proc.h"
#include "relay.h"
#include "stats.h"

enum worker_state { W_IDLE, W_BUSY, W_REGISTERED, W_RETIRING, W_DEAD };

struct worker {
	pid_t			 w_pid;
	int			 w_chan;
	enum worker_state	 w_state;
	uint32_t		 w_slot;	/* stats slot, or UINT32_MAX */
	unsigned		 w_port;	/* tunnel port, 0 = none yet */
	char			 w_name[PROC_NAME_MAX];
	char			 w_addr[PROC_ADDR_MAX];
	uint64_t		 w_born;
	struct worker		*w_next;
};

struct tunnel {
	unsigned		 t_port;
	int			 t_fd;		/* our copy of the listener */
	struct worker		*t_worker;	/* NULL while lingering */
	char			 t_name[PROC_NAME_MAX];
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
static uint64_t			 pending_warned;
static uint64_t			 fork_warned, accept_warned, drop_warned;
static unsigned			 port_cursor;
static uint8_t			*slot_used;
static int			 sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t	 got_chld, got_term, got_hup;
static struct ev_timer		 accept_timer;	/* EMFILE back-off */
static struct ev_timer		 respawn_timer;
static struct ev_timer		 refill_timer;
static uint64_t			 respawn_block_until;
static unsigned			 early_deaths;
static uint64_t			 early_window;

static void	master_refill(void);

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
 * tunnel, or NULL with the reason for the backend in *why.
 */
static struct tunnel *
tunnel_alloc(struct worker *w, unsigned want, const char *name,
    char *why, size_t whylen)
{
	struct tunnel	*t;
	unsigned	 n, span, port = 0;
	int		 fd = -1;

	if ((t = tunnel_by_name(name)) != NULL) {
		if (t->t_worker != NULL) {
			snprintf(why, whylen, "backend name '%s' is in use",
			    name);
			return NULL;
		}
		if (want == 0 || want == t->t_port) {
			/* The same socket, with its waiting clients. */
			ev_timer_cancel(&t->t_linger);
			t->t_worker = w;
			return t;
		}
		/* A different port was asked for: let the old one go. */
		tunnel_free(t);
	}
	if (want != 0) {
		if (cfg->port_lo != 0 &&
		    (want < cfg->port_lo || want > cfg->port_hi)) {
			snprintf(why, whylen, "port %u is outside the tunnel "
			    "range %u-%u", want, cfg->port_lo, cfg->port_hi);
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
	t->t_port = port;
	t->t_fd = fd;
	t->t_worker = w;
	snprintf(t->t_name, sizeof(t->t_name), "%s", name);
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
	/* The worker tells the backend, logs it, and we count it at IDLE. */
	if (proc_send(w->w_chan, &m, -1) == -1)
		log_warn("worker %d: channel", (int)w->w_pid);
}

static void
master_port_req(struct worker *w, const struct proc_msg *req)
{
	struct proc_msg	 m;
	struct tunnel	*t;
	char		 why[PROC_REASON_MAX];
	uint32_t	 slot;

	if (w->w_state != W_BUSY || w->w_port != 0) {
		log_warnx("worker %d: unexpected port request", (int)w->w_pid);
		return;
	}
	snprintf(w->w_addr, sizeof(w->w_addr), "%s", req->pm_addr);
	if (backends_now >= cfg->max_backends) {
		master_refuse(w, "relay is full (max backends reached)");
		return;
	}
	if ((t = tunnel_alloc(w, req->pm_port, req->pm_name, why,
	    sizeof(why))) == NULL) {
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
master_retire(struct worker *w)
{
	struct proc_msg	 m;

	memset(&m, 0, sizeof(m));
	m.pm_type = PROC_SHUTDOWN;
	w->w_state = W_RETIRING;
	if (proc_send(w->w_chan, &m, -1) == -1)
		kill(w->w_pid, SIGTERM);
}

static void
master_worker_msg(int fd, uint32_t events, void *arg)
{
	struct worker	*w = arg;
	struct proc_msg	 m;
	int		 rfd, rv;

	(void)fd;
	(void)events;
	for (;;) {
		rv = proc_recv(w->w_chan, &m, &rfd);
		if (rv == -1 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (rv <= 0 || proc_msg_check(&m, rfd) == -1) {
			/* EOF or a corrupt message: the worker is done. */
			if (rv == -1 && errno != ECONNRESET)
				log_warnx("worker %d: bad message on channel",
				    (int)w->w_pid);
			if (rfd != -1)
				close(rfd);
			ev_del(w->w_chan);
			if (w->w_state != W_DEAD)
				kill(w->w_pid, SIGTERM);
			return;
		}
		switch (m.pm_type) {
		case PROC_PORT_REQ:
			master_port_req(w, &m);
			break;
		case PROC_REGISTERED:
			if (w->w_state == W_BUSY && w->w_port != 0) {
				w->w_state = W_REGISTERED;
				pending_count--;
				backends_now++;
				if (cfg->stats.st_hdr != NULL) {
					stats_add(&cfg->stats.st_hdr->
					    sh_backends_total, 1);
					stats_set(&cfg->stats.st_hdr->
					    sh_backends_now, backends_now);
				}
			}
			break;
		case PROC_IDLE:
			if (w->w_state == W_BUSY) {
				pending_count--;
				if ((m.pm_flags & PROC_F_REFUSED) &&
				    cfg->stats.st_hdr != NULL)
					stats_add(&cfg->stats.st_hdr->
					    sh_registrations_refused, 1);
				struct tunnel *t = tunnel_by_port(w->w_port);
				if (w->w_port != 0 && t != NULL &&
				    t->t_worker == w) {
					t->t_worker = NULL;
					tunnel_free(t);
				}
				if (w->w_slot != UINT32_MAX) {
					stats_backend_reclaim(&cfg->stats,
					    w->w_slot);
					slot_used[w->w_slot] = 0;
				}
				w->w_slot = UINT32_MAX;
				w->w_port = 0;
				w->w_name[0] = w->w_addr[0] = '\0';
				if (idle_count >= cfg->prefork) {
					/* Its replacement is in the pool. */
					master_retire(w);
					break;
				}
				w->w_state = W_IDLE;
				idle_count++;
				master_stats_idle();
			}
			break;
		default:
			log_warnx("worker %d: unexpected message %u",
			    (int)w->w_pid, m.pm_type);
			if (rfd != -1)
				close(rfd);
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

static void
master_accept(int fd, uint32_t events, void *arg)
{
	struct proc_msg	 m;
	struct worker	*w;
	char		 addr[NET_ADDRSTRLEN];
	int		 c, n;

	(void)events;
	(void)arg;
	for (n = 0; n < 64; n++) {
		c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
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
		net_peer_str(c, addr, sizeof(addr));
		if (pending_count >= cfg->max_pending) {
			/*
			 * Slow or silent registrations hold a worker each
			 * until --register-timeout; beyond the cap, refuse
			 * rather than fork without bound.
			 */
			if (ev_now() - pending_warned >= 1000) {
				log_warnx("backend %s refused: %u connections "
				    "are still registering", addr,
				    pending_count);
				pending_warned = ev_now();
			}
			if (cfg->stats.st_hdr != NULL)
				stats_add(&cfg->stats.st_hdr->
				    sh_registrations_refused, 1);
			close(c);
			continue;
		}
		if ((w = master_idle_worker()) == NULL) {
			log_debug("no idle worker; forking one now");
			if ((w = master_fork_worker()) == NULL) {
				if (log_ratelimit(&drop_warned, ev_now(), 1000))
					log_warnx("backend %s dropped: cannot "
					    "start a worker", addr);
				close(c);
				continue;
			}
			master_add_worker_events(w);
		}
		memset(&m, 0, sizeof(m));
		m.pm_type = PROC_BACKEND;
		snprintf(m.pm_addr, sizeof(m.pm_addr), "%s", addr);
		if (proc_send(w->w_chan, &m, c) == -1) {
			log_warn("backend %s: handing to worker %d", addr,
			    (int)w->w_pid);
			close(c);
			continue;
		}
		close(c);
		w->w_state = W_BUSY;
		snprintf(w->w_addr, sizeof(w->w_addr), "%s", addr);
		idle_count--;
		pending_count++;
		log_debug("backend %s handed to worker %d", addr,
		    (int)w->w_pid);
	}
}

static const char *
master_exit_reason(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d",
		    WEXITSTATUS(status));
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
	char		 why[96];

	master_exit_reason(status, why, sizeof(why));
	if (w->w_state == W_BUSY)
		pending_count--;
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
	} else if (w->w_state == W_RETIRING)
		log_debug("surplus idle worker %d %s", (int)w->w_pid, why);
	else if (WIFSIGNALED(status) || WEXITSTATUS(status) != 0)
		log_warnx("worker %d (backend %s, registering) %s",
		    (int)w->w_pid, w->w_addr, why);
	if (w->w_port != 0 && (t = tunnel_by_port(w->w_port)) != NULL &&
	    t->t_worker == w) {
		t->t_worker = NULL;
		if (t->t_name[0] != '\0' && cfg->linger_s > 0 && !got_term) {
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
	(void)arg;
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

	if (!log_to_file())
		return;
	if (log_reopen() == -1) {
		log_warn("reopening %s", cfg->log_file);
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

/* Refuse to start over a live relay named by the pidfile. */
static int
pidfile_check(const char *path)
{
	char	 buf[32], comm[64], proc[64];
	FILE	*f;
	long	 pid;
	ssize_t	 n;
	int	 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	pid = strtol(buf, NULL, 10);
	if (pid <= 0 || pid == getpid() || kill((pid_t)pid, 0) == -1)
		return 0;
	/* A recycled pid of another program is not a relay. */
	snprintf(proc, sizeof(proc), "/proc/%ld/comm", pid);
	if ((f = fopen(proc, "re")) != NULL) {
		if (fgets(comm, sizeof(comm), f) != NULL &&
		    strncmp(comm, "relay", 5) != 0) {
			fclose(f);
			return 0;
		}
		fclose(f);
	}
	fprintf(stderr, "relay: already running (pid %ld, pidfile %s)\n", pid,
	    path);
	return -1;
}

static int
pidfile_write(const char *path)
{
	char	 buf[32];
	int	 fd, n;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd == -1)
		return -1;
	n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
	if (write(fd, buf, n) != n) {
		close(fd);
		return -1;
	}
	return close(fd);
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
 * The master needs root only to bind privileged tunnel ports.  Without
 * them it switches to --user as well, handing over what it must still
 * remove or reopen at the end.
 */
static void
master_drop_privileges(void)
{
	char	 path[300];

	if (cfg->user[0] == '\0' || geteuid() != 0)
		return;
	if (cfg->port_lo != 0 && cfg->port_lo < 1024) {
		log_info("master keeps its privileges to bind tunnel ports "
		    "%u-%u; workers run as %s", cfg->port_lo, cfg->port_hi,
		    cfg->user);
		return;
	}
	snprintf(path, sizeof(path), "/dev/shm%s", cfg->stats_name);
	if (chown(path, cfg->uid, cfg->gid) == -1)
		log_warn("chown %s", path);
	if (cfg->pidfile[0] != '\0' &&
	    chown(cfg->pidfile, cfg->uid, cfg->gid) == -1)
		log_warn("chown %s", cfg->pidfile);
	if (cfg->log_file[0] != '\0' &&
	    chown(cfg->log_file, cfg->uid, cfg->gid) == -1)
		log_warn("chown %s", cfg->log_file);
	if (relay_drop_privileges(cfg) == -1)
		fatal("cannot switch to user %s", cfg->user);
	log_info("running as %s", cfg->user);
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
	if (cfg->log_file[0] != '\0' && log_open_file(cfg->log_file) == -1) {
		fprintf(stderr, "relay: cannot open log file %s: %s\n",
		    cfg->log_file, strerror(errno));
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
	if (stats_create(&cfg->stats, cfg->stats_name, cfg->max_backends,
	    cfg->max_clients, cfg->control_port, &why) == -1) {
		log_warnx("stats segment %s: %s", cfg->stats_name, why);
		return EX_UNAVAILABLE_;
	}
	if ((slot_used = calloc(cfg->max_backends, 1)) == NULL)
		fatal("calloc");
	if (cfg->pidfile[0] != '\0' && pidfile_write(cfg->pidfile) == -1) {
		log_warn("cannot write pidfile %s", cfg->pidfile);
		stats_close(&cfg->stats, 1);
		return EX_UNAVAILABLE_;
	}

	if (cfg->secret_len > 0 &&
	    (cfg->replay = auth_replay_create()) == NULL)
		fatal("replay cache");
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
	if (ev_add(sig_pipe[0], EV_READ, master_signal, NULL) == -1 ||
	    ev_add(control_fd, EV_READ, master_accept, NULL) == -1)
		fatal("ev_add");
	ev_set_presleep(master_presleep, NULL);
	master_refill();

	getsockname(control_fd, (struct sockaddr *)&ss, &sl);
	net_addr_str((struct sockaddr *)&ss, addr, sizeof(addr));
	if (cfg->port_lo != 0)
		log_info("tunnel ports %u-%u, %u idle workers, stats %s",
		    cfg->port_lo, cfg->port_hi, cfg->prefork, cfg->stats_name);
	else
		log_info("tunnel ports: any free port, %u idle workers, "
		    "stats %s", cfg->prefork, cfg->stats_name);
	log_info("listening on %s", addr);
	if (cfg->secret_len == 0 && !master_loopback())
		log_warnx("listening on %s without --secret-file: anyone who "
		    "can reach it can open tunnel ports on this host", addr);
	master_drop_privileges();
	if (ready != -1) {
		(void)!write(ready, "", 1);
		close(ready);
	}

	while (!got_term)
		ev_run_once(-1);
	master_shutdown();
	return EX_OK_;
}
