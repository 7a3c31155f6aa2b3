/*
 * net: sockets and addresses.  Every socket is non-blocking and close-on-exec.
 */
#ifndef RELAY_NET_H
#define RELAY_NET_H

#include <stddef.h>
#include <sys/socket.h>

#define NET_ADDRSTRLEN	64	/* "[v6addr]:port" */

/* Resolve a numeric or named host and a port; 0 or -1 with *why. */
int	 net_resolve(const char *host, unsigned port,
	    struct sockaddr_storage *, socklen_t *, const char **why);
/* Listening socket on addr:port (port 0 = any); -1 with errno. */
int	 net_listen(const struct sockaddr_storage *, socklen_t, unsigned port,
	    int backlog);
/* Non-blocking connect; -1 with errno, else the fd (maybe in progress). */
int	 net_connect(const struct sockaddr_storage *, socklen_t);
/* Blocking connect with a timeout in ms, for the backends' first dial. */
int	 net_connect_host(const char *host, unsigned port, int timeout_ms,
	    const char **why);
/* "host:port" or "[v6]:port" of a socket address. */
void	 net_addr_str(const struct sockaddr *, char *, size_t);
void	 net_peer_str(int fd, char *, size_t);
unsigned net_local_port(int fd);
/* Split "host:port" (host may be "[v6]"); 0 or -1. */
int	 net_split_hostport(const char *, char *host, size_t, unsigned *port);
/* Parse a whole decimal number in [lo, hi]; 0 or -1. */
int	 net_parse_uint(const char *, unsigned long lo, unsigned long hi,
	    unsigned long *);
/* Parse a port number 0..65535; 0 or -1. */
int	 net_parse_port(const char *, unsigned *);
void	 net_nodelay(int fd);
/*
 * Keep at most about this many bytes written but not yet sent in the
 * kernel (TCP_NOTSENT_LOWAT): what waits is ours to schedule and to count.
 */
void	 net_notsent_lowat(int fd, int bytes);

#endif /* RELAY_NET_H */
