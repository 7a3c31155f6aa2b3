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

struct echo {
	struct mux_stream	*e_stream;	/* NULL once closed */
	uint8_t			*e_buf;		/* received, not yet echoed */
	size_t			 e_off, e_len, e_cap;
	int			 e_fin;		/* the client's side is closed */
	struct echo		*e_next, *e_prev;
};

static struct echo	*echoes;	/* streams with bytes to echo */
static struct echo	*dead;		/* to free outside handlers */

static void
echo_unlink(struct echo *e)
{
	if (e->e_prev != NULL)
		e->e_prev->e_next = e->e_next;
	else if (echoes == e)
		echoes = e->e_next;
	if (e->e_next != NULL)
		e->e_next->e_prev = e->e_prev;
	e->e_next = e->e_prev = NULL;
}

/* Echo what is buffered; close our side after the client's FIN. */
static void
echo_pump(struct echo *e)
{
	size_t	 n;

	if (e->e_stream == NULL)
		return;
	if (e->e_len > 0) {
		n = mux_stream_write(e->e_stream, e->e_buf + e->e_off,
		    e->e_len);
		e->e_off += n;
		e->e_len -= n;
		mux_stream_consumed(e->e_stream, n);
		if (e->e_len == 0) {
			free(e->e_buf);
			e->e_buf = NULL;
			e->e_off = e->e_cap = 0;
		}
	}
	if (e->e_len == 0 && e->e_fin) {
		struct mux_stream *s = e->e_stream;
		e->e_fin = 0;
		mux_stream_close(s);	/* may run the closed handler */
	}
}

static void
e_opened(void *arg, struct mux_stream *s, int syn_type)
{
	struct echo	*e;

	(void)arg;
	(void)syn_type;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		log_warn("echo");
		mux_stream_reset(s);
		return;
	}
	e->e_stream = s;
	mux_stream_set_udata(s, e);
	mux_stream_accept(s);
}

static void
e_data(void *arg, struct mux_stream *s, const uint8_t *p, size_t len)
{
	struct echo	*e = mux_stream_udata(s);
	size_t		 n;

	(void)arg;
	if (e == NULL) {
		mux_stream_consumed(s, len);
		return;
	}
	if (e->e_len == 0) {
		n = mux_stream_write(s, p, len);
		mux_stream_consumed(s, n);
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
			size_t ncap = e->e_cap ? e->e_cap : 16384;
			uint8_t *nb;
			while (ncap < e->e_len + len)
				ncap *= 2;
			if ((nb = realloc(e->e_buf, ncap)) == NULL) {
				log_warn("echo buffer");
				mux_stream_reset(s);
				return;
			}
			e->e_buf = nb;
			e->e_cap = ncap;
		}
	}
	memcpy(e->e_buf + e->e_off + e->e_len, p, len);
	e->e_len += len;
	if (e->e_next == NULL && e->e_prev == NULL && echoes != e) {
		e->e_next = echoes;
		if (echoes != NULL)
			echoes->e_prev = e;
		echoes = e;
	}
}

static void
e_fin(void *arg, struct mux_stream *s)
{
	struct echo	*e = mux_stream_udata(s);

	(void)arg;
	if (e == NULL)
		return;
	e->e_fin = 1;
	echo_pump(e);
}

static void
e_writable(void *arg, struct mux_stream *s)
{
	struct echo	*e = mux_stream_udata(s);

	(void)arg;
	if (e != NULL)
		echo_pump(e);
}

static void
e_closed(void *arg, struct mux_stream *s)
{
	struct echo	*e = mux_stream_udata(s);

	(void)arg;
	if (e == NULL)
		return;
	mux_stream_set_udata(s, NULL);
	e->e_stream = NULL;
	echo_unlink(e);
	e->e_next = dead;
	dead = e;
}

static void
e_reset(void *arg, struct mux_stream *s, const char *why)
{
	(void)why;
	e_closed(arg, s);
}

static void
e_drained(void *arg)
{
	struct echo	*e, *next;

	(void)arg;
	for (e = echoes; e != NULL; e = next) {
		next = e->e_next;
		echo_pump(e);
		if (e->e_stream != NULL && e->e_len == 0)
			echo_unlink(e);
	}
}

static void
e_idle(void *arg)
{
	struct echo	*e;

	(void)arg;
	while ((e = dead) != NULL) {
		dead = e->e_next;
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
	app.ba_handlers.opened = e_opened;
	app.ba_handlers.data = e_data;
	app.ba_handlers.fin = e_fin;
	app.ba_handlers.writable = e_writable;
	app.ba_handlers.reset = e_reset;
	app.ba_handlers.closed = e_closed;
	app.ba_drained = e_drained;
	app.ba_idle = e_idle;
	return backend_run(&cfg, &app);
}
