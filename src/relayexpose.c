/*
 * relayexpose: a backend that connects every stream the relay opens to a
 * local TCP service and copies bytes both ways, so any existing server can
 * be reached through the relay without being changed.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "conn.h"
#include "ev.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "proxy.h"
#include "relay.h"
#include "session.h"

static struct backend_config	 cfg;
static struct conn_set		 targets;
static struct sockaddr_storage	 target_addr;
static socklen_t		 target_len;
static char			 target_str[300];
static int			 proxy_version;	/* --proxy-protocol, 0 = off */

enum { OPT_PROXY_PROTOCOL = BOPT_PROGRAM };

static const struct option expose_opts[] = {
	{ "proxy-protocol",	required_argument, NULL, OPT_PROXY_PROTOCOL },
	{ NULL, 0, NULL, 0 }
};

static const char expose_help[] =
"      --proxy-protocol v1|v2 tell the target who each client is: a PROXY\n"
"                             protocol header (HAProxy's, version 1 text or\n"
"                             2 binary) before the client's bytes\n"
"                             (default: off)\n";

static int
expose_opt(int ch, const char *arg)
{
	if (ch != OPT_PROXY_PROTOCOL)
		return 0;
	if (strcmp(arg, "v1") == 0 || strcmp(arg, "1") == 0)
		proxy_version = 1;
	else if (strcmp(arg, "v2") == 0 || strcmp(arg, "2") == 0)
		proxy_version = 2;
	else {
		fprintf(stderr, "relayexpose: bad value for --proxy-protocol: "
		    "'%s' (want v1 or v2)\n", arg);
		return -1;
	}
	return 1;
}

/*
 * The target's PROXY header, written before the client's bytes: the
 * client as the relay saw it, and the tunnel address it connected to.
 * Without addresses (an older relay) the header says so (UNKNOWN, LOCAL),
 * and the target uses the connection's own.
 */
static int
target_preface(struct conn *c, const struct proxy_addr *client)
{
	char	 buf[PROXY_V1_MAX];
	int	 n;

	if (proxy_version == 1)
		n = proxy_v1_build(client, buf, sizeof(buf));
	else
		n = proxy_v2_build(client, (uint8_t *)buf, sizeof(buf));
	if (n == -1)
		return -1;
	return conn_preface(c, (const uint8_t *)buf, (size_t)n);
}

static void
target_closed(struct conn *c)
{
	uint64_t	 ms = ev_now() - c->c_since;

	if (conn_failed(c))
		log_warnx("stream to %s ended: %s (%llu bytes in, %llu out)",
		    target_str, c->c_end ? c->c_end : "failed",
		    (unsigned long long)c->c_in, (unsigned long long)c->c_out);
	else
		log_debug("stream to %s closed: %llu bytes in, %llu out, "
		    "%llu ms, %s", target_str, (unsigned long long)c->c_in,
		    (unsigned long long)c->c_out, (unsigned long long)ms,
		    c->c_end ? c->c_end : "closed");
}

static struct endpoint *
t_opened(void *arg, struct session *sess, struct mux_stream *st,
    const struct proxy_addr *client)
{
	struct conn	*c;
	char		 src[NET_ADDRSTRLEN] = "unknown";
	int		 fd;

	(void)arg;
	mux_stream_accept(st);
	if (client != NULL)
		net_addr_str((const struct sockaddr *)&client->pa_src, src,
		    sizeof(src));
	log_debug("stream %u: client %s to %s", mux_stream_id(st), src,
	    target_str);
	if ((fd = net_connect(&target_addr, target_len)) == -1) {
		log_warn("connect to %s", target_str);
		mux_stream_reset(st);
		return NULL;
	}
	if ((c = conn_new(&targets, sess, fd, st, cfg.connect_timeout_ms)) ==
	    NULL) {
		log_warn("stream to %s", target_str);
		close(fd);
		mux_stream_reset(st);
		return NULL;
	}
	if (proxy_version != 0 && target_preface(c, client) == -1) {
		log_warn("PROXY header for %s", target_str);
		endpoint_reset(&c->c_ep, "out of memory");
		return NULL;
	}
	return &c->c_ep;
}

static void
t_idle(void *arg)
{
	(void)arg;
	if (targets.cs_reap != NULL)
		conn_reap(&targets);
}

static unsigned
t_pending(void *arg)
{
	(void)arg;
	return targets.cs_count;
}

int
main(int argc, char *argv[])
{
	struct backend_app	 app;
	char			 host[256], *target;
	unsigned		 port;
	const char		*why;
	int			 rv;

	backend_config_default(&cfg, "relayexpose");
	cfg.reconnect = 1;
	cfg.prog_opts = expose_opts;
	cfg.prog_opt = expose_opt;
	cfg.prog_help = expose_help;
	if ((rv = backend_args(&cfg, argc, argv, "TARGETHOST:TARGETPORT",
	    "Exposes the TCP service at TARGETHOST:TARGETPORT through the relay at\n"
	    "RELAYHOST:RELAYPORT: prints the tunnel address HOST:PORT as the first line\n"
	    "of standard output (again after each reconnect), then connects every\n"
	    "client of the tunnel to the target.  --reconnect is on by default.\n",
	    &target)) != -1)
		return rv;
	if (net_split_hostport(target, host, sizeof(host), &port) == -1 ||
	    port == 0) {
		fprintf(stderr, "relayexpose: bad target '%s' (want "
		    "HOST:PORT)\n", target);
		fprintf(stderr, "usage: relayexpose [OPTIONS] RELAYHOST "
		    "RELAYPORT TARGETHOST:TARGETPORT\n");
		return EX_USAGE_;
	}
	if (net_resolve(host, port, &target_addr, &target_len, &why) == -1) {
		fprintf(stderr, "relayexpose: cannot resolve target '%s': %s\n",
		    host, why);
		return EX_UNAVAILABLE_;
	}
	net_addr_str((struct sockaddr *)&target_addr, target_str,
	    sizeof(target_str));
	targets.cs_closed = target_closed;
	targets.cs_why_eof = "target closed first";
	targets.cs_why_fin = "client closed first";
	targets.cs_why_gone = "relay session failed";
	targets.cs_drain_ms = BACKEND_DRAIN_MS;
	memset(&app, 0, sizeof(app));
	app.ba_opened = t_opened;
	app.ba_idle = t_idle;
	app.ba_pending = t_pending;
	return backend_run(&cfg, &app);
}
