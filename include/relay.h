/*
 * relay: the configuration shared by the master and its workers, and the
 * entry points of the two process roles.
 */
#ifndef RELAY_RELAY_H
#define RELAY_RELAY_H

#include <stdint.h>
#include <sys/socket.h>

#include "stats.h"

#ifndef RELAY_VERSION
#define RELAY_VERSION	"0.1.0"
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
	char			 stats_name[256];
	struct stats		 stats;
};

/* master.c */
int	 master_main(struct relay_config *);
/* worker.c: runs in a forked child until the master goes away. */
void	 worker_main(struct relay_config *, int chan)
	    __attribute__((noreturn));

#endif /* RELAY_RELAY_H */
