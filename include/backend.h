/*
 * backend: the side behind the NAT.  Dials the relay's control port, runs
 * the yamux client session, registers (hello, then the tunnel address read
 * to EOF), prints the tunnel address as the first line of stdout, then hands
 * every stream the relay opens to the program (echoserver, relayexpose).
 * With reconnect on, a lost session is re-registered with exponential
 * backoff and jitter.
 */
#ifndef RELAY_BACKEND_H
#define RELAY_BACKEND_H

#include <stddef.h>
#include <stdint.h>

#include "mux.h"
#include "proxy.h"

/* How long connections may take to deliver what they hold at the end. */
#define BACKEND_DRAIN_MS	10000

struct backend_config {
	const char	*progname;
	const char	*relay_host;
	unsigned	 relay_port;
	char		 name[64];		/* "" = unnamed */
	unsigned	 port;			/* 0 = any */
	int		 reconnect;
	unsigned	 keepalive_s;
	unsigned	 connect_timeout_ms;
	uint32_t	 window;
	uint32_t	 window_max;
	size_t		 window_budget;
	unsigned	 buffer;		/* I/O chunk and output limit */
	/* --secret-file: only its PSK is kept (keys_psk). */
	uint8_t		 psk[32];
	int		 has_psk;
	/* --key and --relay-key. */
	uint8_t		 key_priv[32];
	int		 has_key;
	uint8_t		 relay_pub[32];
	int		 has_relay_key;
	/*
	 * The program's own options (optional): getopt_long entries (their
	 * values >= BOPT_PROGRAM), a handler that returns 1 when it took the
	 * option and -1 on a bad value (message printed), and their help.
	 */
	const struct option	*prog_opts;
	int		(*prog_opt)(int ch, const char *arg);
	const char	*prog_help;
};

struct option;
struct session;
struct endpoint;

/*
 * What the program does with the relay's streams.  Each stream gets an
 * endpoint of the program's (session.h) or is reset.
 */
struct backend_app {
	void			*ba_arg;
	/*
	 * The relay opened a stream (a client): attach an endpoint and
	 * return it, or reset the stream and return NULL.  client is who the
	 * client is and the address it reached (the relay's PROXY v2 header,
	 * already taken off the stream), or NULL when the relay does not
	 * send addresses (an older relay).  The client's first bytes go to
	 * the endpoint returned.
	 */
	struct endpoint		*(*ba_opened)(void *arg, struct session *,
				    struct mux_stream *,
				    const struct proxy_addr *client);
	/* Before each sleep: free what finished (optional). */
	void			(*ba_idle)(void *arg);
	/*
	 * Connections still delivering what they hold after their session
	 * ended; the program does not exit before they are done (optional).
	 */
	unsigned		(*ba_pending)(void *arg);
};

/* Register and serve until the session ends for good; returns the exit code. */
int	 backend_run(const struct backend_config *, const struct backend_app *);

/* Shared option handling of the backend programs. */
void	 backend_config_default(struct backend_config *, const char *progname);
/*
 * Handle one of the common options (long option index given by the
 * caller's getopt_long); returns 1 when it was one, 0 when not, -1 on a bad
 * value (message printed).
 */
int	 backend_option(struct backend_config *, int ch, const char *arg);
/*
 * The command line every backend program shares:
 *	PROG [OPTIONS] RELAYHOST RELAYPORT [EXTRA]
 * Handles the common options, --help (with the program's about text),
 * --version and usage errors.  Returns -1 when the program should go on
 * (*extra_arg is EXTRA, or NULL when extra is NULL), else the exit status.
 */
int	 backend_args(struct backend_config *, int argc, char *argv[],
	    const char *extra, const char *about, char **extra_arg);
/* Help text of the common options. */
extern const char backend_options_help[];

/* getopt_long values of the common options. */
enum {
	BOPT_NAME = 1000, BOPT_PORT, BOPT_RECONNECT, BOPT_NO_RECONNECT,
	BOPT_KEEPALIVE, BOPT_CONNECT_TIMEOUT, BOPT_WINDOW, BOPT_BUFFER,
	BOPT_SECRET, BOPT_WINDOW_MAX, BOPT_WINDOW_BUDGET, BOPT_KEY,
	BOPT_RELAY_KEY,
	BOPT_PROGRAM = 2000,	/* the program's own options from here */
};
#define BACKEND_LONGOPTS \
	{ "name",		required_argument, NULL, BOPT_NAME }, \
	{ "port",		required_argument, NULL, BOPT_PORT }, \
	{ "reconnect",		no_argument,	   NULL, BOPT_RECONNECT }, \
	{ "no-reconnect",	no_argument,	   NULL, BOPT_NO_RECONNECT }, \
	{ "keepalive",		required_argument, NULL, BOPT_KEEPALIVE }, \
	{ "connect-timeout",	required_argument, NULL, BOPT_CONNECT_TIMEOUT }, \
	{ "window",		required_argument, NULL, BOPT_WINDOW }, \
	{ "window-max",		required_argument, NULL, BOPT_WINDOW_MAX }, \
	{ "window-budget",	required_argument, NULL, BOPT_WINDOW_BUDGET }, \
	{ "buffer",		required_argument, NULL, BOPT_BUFFER }, \
	{ "secret-file",	required_argument, NULL, BOPT_SECRET }, \
	{ "key",		required_argument, NULL, BOPT_KEY }, \
	{ "relay-key",		required_argument, NULL, BOPT_RELAY_KEY }

#endif /* RELAY_BACKEND_H */
