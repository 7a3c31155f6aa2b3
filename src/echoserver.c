/*
 * echoserver: a backend that echoes every stream the relay opens.  The
 * relay's window for a stream reopens only as its bytes are echoed, so a
 * client that does not read its echo slows only itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "relay.h"
#include "session.h"

/* One echoed stream, the endpoint of its stream. */
struct echo {
	struct endpoint		 e_ep;		/* first: the stream's udata */
	uint8_t			*e_buf;		/* received, not yet queued back */
	size_t			 e_off, e_len, e_cap;
	int			 e_fin;		/* the client's side is closed */
	struct echo		*e_dead_next;
};

static struct echo	*dead;		/* to free outside handlers */

static void
echo_gone(struct echo *e)
{
	endpoint_detach(&e->e_ep);
	e->e_dead_next = dead;
	dead = e;
}

/* Queue back what is buffered; close our side after the client's FIN. */
static void
echo_pump(struct echo *e)
{
	struct mux_stream	*st = e->e_ep.ep_stream;
	size_t			 n;

	if (st == NULL)
		return;
	if (e->e_len > 0) {
		n = mux_stream_write(st, e->e_buf + e->e_off, e->e_len);
		e->e_off += n;
		e->e_len -= n;
		mux_stream_consumed(st, n);
		if (e->e_len == 0) {
			free(e->e_buf);
			e->e_buf = NULL;
			e->e_off = e->e_cap = 0;
		}
	}
	if (e->e_len == 0 && e->e_fin) {
		e->e_fin = 0;
		mux_stream_close(st);	/* FIN after the echo */
	}
}

static void
e_data(struct endpoint *ep, const uint8_t *p, size_t len)
{
	struct echo	*e = (struct echo *)ep;
	size_t		 n, ncap;
	uint8_t		*nb;

	if (e->e_len == 0) {
		n = mux_stream_write(ep->ep_stream, p, len);
		mux_stream_consumed(ep->ep_stream, n);
		p += n;
		len -= n;
		if (len == 0)
			return;
	}
	/* Bounded by our window: the relay cannot send more than that. */
	if (e->e_off + e->e_len + len > e->e_cap) {
		if (e->e_off > 0) {
			memmove(e->e_buf, e->e_buf + e->e_off, e->e_len);
			e->e_off = 0;
		}
		if (e->e_len + len > e->e_cap) {
			ncap = e->e_cap ? e->e_cap : 16384;
			while (ncap < e->e_len + len)
				ncap *= 2;
			if ((nb = realloc(e->e_buf, ncap)) == NULL) {
				log_warn("echo buffer");
				mux_stream_consumed(ep->ep_stream, len);
				mux_stream_reset(ep->ep_stream);
				return;
			}
			e->e_buf = nb;
			e->e_cap = ncap;
		}
	}
	memcpy(e->e_buf + e->e_off + e->e_len, p, len);
	e->e_len += len;
}

static void
e_fin(struct endpoint *ep)
{
	struct echo	*e = (struct echo *)ep;

	e->e_fin = 1;
	echo_pump(e);
}

static void
e_writable(struct endpoint *ep)
{
	echo_pump((struct echo *)ep);
}

static void
e_cut(struct endpoint *ep, const char *why, int cut)
{
	(void)why;
	(void)cut;
	/* Nothing to deliver: what it holds would go back on the stream. */
	echo_gone((struct echo *)ep);
}

static void
e_closed(struct endpoint *ep)
{
	echo_gone((struct echo *)ep);
}

static const struct endpoint_ops echo_ops = {
	.data = e_data,
	.fin = e_fin,
	.writable = e_writable,
	.cut = e_cut,
	.closed = e_closed,
};

static struct endpoint *
e_opened(void *arg, struct session *sess, struct mux_stream *st,
    const struct proxy_addr *client)
{
	struct echo	*e;
	char		 src[NET_ADDRSTRLEN], dst[NET_ADDRSTRLEN];

	(void)arg;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		log_warn("echo");
		mux_stream_reset(st);
		return NULL;
	}
	endpoint_attach(&e->e_ep, &echo_ops, sess, st);
	mux_stream_accept(st);
	if (client != NULL) {
		net_addr_str((const struct sockaddr *)&client->pa_src, src,
		    sizeof(src));
		net_addr_str((const struct sockaddr *)&client->pa_dst, dst,
		    sizeof(dst));
		log_debug("stream %u: client %s to %s", mux_stream_id(st),
		    src, dst);
	} else
		log_debug("stream %u: client unknown", mux_stream_id(st));
	return &e->e_ep;
}

static void
e_idle(void *arg)
{
	struct echo	*e;

	(void)arg;
	while ((e = dead) != NULL) {
		dead = e->e_dead_next;
		free(e->e_buf);
		free(e);
	}
}

int
main(int argc, char *argv[])
{
	static struct backend_config cfg;
	struct backend_app	 app;
	char			*none;
	int			 rv;

	backend_config_default(&cfg, "echoserver");
	if ((rv = backend_args(&cfg, argc, argv, NULL,
	    "Registers with the relay at RELAYHOST:RELAYPORT, prints the tunnel address\n"
	    "HOST:PORT as the first line of standard output, then echoes every client\n"
	    "of the tunnel.  --reconnect is off by default.\n", &none)) != -1)
		return rv;
	memset(&app, 0, sizeof(app));
	app.ba_opened = e_opened;
	app.ba_idle = e_idle;
	return backend_run(&cfg, &app);
}
