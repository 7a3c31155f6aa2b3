/*
 * relayexpose: a backend that connects every stream the relay opens to a
 * local TCP service and copies bytes both ways, so any existing server can
 * be reached through the relay without being changed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backend.h"
#include "bridge.h"
#include "ev.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "relay.h"

static struct backend_config	 cfg;
static struct bridge_set	 targets;
static struct sockaddr_storage	 target_addr;
static socklen_t		 target_len;
static char			 target_str[300];

static void
target_closed(struct bridge *b)
{
	uint64_t	 ms = ev_now() - b->b_since;

	if (bridge_failed(b))
		log_warnx("stream to %s ended: %s (%llu bytes in, %llu out)",
		    target_str, b->b_end ? b->b_end : "failed",
		    (unsigned long long)b->b_in, (unsigned long long)b->b_out);
	else
		log_debug("stream to %s closed: %llu bytes in, %llu out, "
		    "%llu ms, %s", target_str, (unsigned long long)b->b_in,
		    (unsigned long long)b->b_out, (unsigned long long)ms,
		    b->b_end ? b->b_end : "closed");
}

static void
t_opened(void *arg, struct mux_stream *s, int syn_type)
{
	int	 fd;

	(void)arg;
	(void)syn_type;
	mux_stream_accept(s);
	if ((fd = net_connect(&target_addr, target_len)) == -1) {
		log_warn("connect to %s", target_str);
		mux_stream_reset(s);
		return;
	}
	if (bridge_new(&targets, fd, s, cfg.connect_timeout_ms) == NULL) {
		log_warn("stream to %s", target_str);
		close(fd);
		mux_stream_reset(s);
	}
}

static void
t_data(void *arg, struct mux_stream *s, const uint8_t *p, size_t len)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (b != NULL)
		bridge_on_data(b, p, len);
	else
		mux_stream_consumed(s, len);
}

static void
t_fin(void *arg, struct mux_stream *s)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (b != NULL)
		bridge_on_fin(b);
}

static void
t_writable(void *arg, struct mux_stream *s)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (b != NULL)
		bridge_on_writable(b);
}

static void
t_reset(void *arg, struct mux_stream *s, const char *why)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (b != NULL)
		bridge_on_reset(b, why);
}

static void
t_closed(void *arg, struct mux_stream *s)
{
	struct bridge	*b = mux_stream_udata(s);

	(void)arg;
	if (b != NULL)
		bridge_on_closed(b);
}

static void
t_drained(void *arg)
{
	(void)arg;
	if (targets.bs_waiting != NULL)
		bridge_output_drained(&targets);
}

static void
t_idle(void *arg)
{
	(void)arg;
	if (targets.bs_reap != NULL)
		bridge_reap(&targets);
}

static void
t_session(void *arg, struct mux *mux)
{
	(void)arg;
	if (mux == NULL)
		bridge_close_all(&targets, "relay session ended");
	targets.bs_mux = mux;
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
	targets.bs_output_max = cfg.buffer;
	targets.bs_closed = target_closed;
	targets.bs_why_eof = "target closed first";
	targets.bs_why_fin = "client closed first";
	memset(&app, 0, sizeof(app));
	app.ba_handlers.opened = t_opened;
	app.ba_handlers.data = t_data;
	app.ba_handlers.fin = t_fin;
	app.ba_handlers.writable = t_writable;
	app.ba_handlers.reset = t_reset;
	app.ba_handlers.closed = t_closed;
	app.ba_drained = t_drained;
	app.ba_idle = t_idle;
	app.ba_session = t_session;
	return backend_run(&cfg, &app);
}
