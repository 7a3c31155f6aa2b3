/*
 * relay: the configuration shared by the master and its workers, and the
 * entry points of the two process roles.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "stats.h"

#ifndef RELAY_VERSION
#error "RELAY_VERSION comes from the Makefile (VERSION file)"
#endif

/* Exit codes (sysexits). */
#define EX_OK_		0
#define EX_USAGE_	64
#define EX_UNAVAILABLE_	69
#define EX_SOFTWARE_	70

struct relay_config {
	char			 listen_host[256];
	char			 advertise[256];
	struct sockaddr_storage	 listen_addr;
	socklen_t		 listen_len;
	unsigned		 control_port;	/* as bound */
	unsigned		 port_lo, port_hi;	/* 0-0: any free port */
	unsigned		 prefork;
	unsigned		 alive_timeout_ms;
	unsigned		 keepalive_s;
	unsigned		 register_timeout_ms;
	unsigned		 max_clients;	/* per backend */
	unsigned		 max_backends;
	unsigned		 max_streams;
	unsigned		 linger_s;
	unsigned		 buffer;	/* I/O chunk */
	uint32_t		 window;	/* per-stream receive window */
	uint32_t		 window_max;	/* ... grown up to this */
	size_t			 window_budget;	/* growth, all streams */
	unsigned		 max_pending;	/* connections not registered yet */
	unsigned		 max_pending_addr;	/* of those, per address */
	unsigned		 startups_start;	/* random early drop from */
	unsigned		 startups_rate;		/* here, percent */
	unsigned		 first_byte_ms;	/* silence before any byte */
	unsigned		 max_unacked;
	size_t			 session_buffer;
	unsigned		 stream_rate;	/* opens + resets per second */
	unsigned		 drain_timeout_s;
	int			 daemonize;
	char			 pidfile[4096];
	char			 log_file[4096];
	char			 secret_file[4096];
	char			 user[64];	/* the master's, after setup */
	uid_t			 uid;		/* of user, when set */
	gid_t			 gid;
	/*
	 * The workers' identity (--worker-user, or the user relay-worker
	 * when there is one): child_setup() copies it into user, uid and
	 * gid of the worker's copy of this structure.
	 */
	char			 worker_user[64];	/* "" = the master's */
	uid_t			 worker_uid;
	gid_t			 worker_gid;
	gid_t			 stats_gid;	/* --stats-group, or -1 */
	uint8_t			 secret[1024];	/* only while starting */
	size_t			 secret_len;
	/*
	 * The master's alone: every worker wipes them the moment it is
	 * forked (worker_main), and never needs them: the master runs the
	 * handshakes.
	 */
	char			 key_file[4096];	/* --key */
	char			 authkeys_file[4096];	/* --authorized-keys */
	uint8_t			 key_priv[32];
	uint8_t			 key_pub[32];
	int			 has_key;
	uint8_t			 psk[32];	/* keys_psk(secret) */
	int			 has_psk;
	/* Plain sessions are refused (a key or a secret is set). */
	int			 encrypted_only;
	char			 stats_name[256];
	struct stats		 stats;
};

/*
 * relay.c: a worker switches to cfg->user (its own identity, see above)
 * and gives up every capability; it can never go back.
 */
int	 relay_drop_privileges(const struct relay_config *);

/* master.c */
int	 master_main(struct relay_config *);
/* Read --authorized-keys (at start and on SIGHUP): 0, or -1 with why. */
int	 master_load_authkeys(const struct relay_config *, char *why,
	    size_t whylen);
/* worker.c: runs in a forked child until the master goes away. */
void	 worker_main(struct relay_config *, int chan)
	    __attribute__((noreturn));

#endif /* RELAY_RELAY_H */
