/*
 * backend: registration, session and reconnects for the programs that run
 * behind the NAT.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "auth.h"
#include "backend.h"
#include "crypto.h"
#include "hs.h"
#include "keys.h"
#include "session.h"
#include "ev.h"
#include "hello.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "proxy.h"
#include "relay.h"

#define REPLY_MAX		512
#define REGISTER_TIMEOUT_MS	10000
#define BACKOFF_MIN_MS		500
#define BACKOFF_MAX_MS		30000

enum bstate { BS_REGISTERING, BS_SERVING, BS_DONE };

/* How one session ended. */
enum bend { BE_UNREACHABLE, BE_REFUSED, BE_LOST, BE_GOAWAY, BE_FATAL };

static struct {
	const struct backend_config	*cfg;
	const struct backend_app	*app;
	struct session			*sess;
	struct endpoint			 reg;	/* the registration stream */
	enum bstate			 state;
	enum bend			 end;
	char				 reply[REPLY_MAX + 1];
	size_t				 reply_len;
	int				 refusal;	/* the relay said no */
	char				 why[256];
	uint8_t				*rbuf;
	struct ev_timer			 reg_timer;
	struct ev_timer			 wait_timer;
	int				*was_registered;
	int				 goaway;	/* relay sent GoAway(0) */
	int				 client_addr;	/* the relay said addr=1 */
} b;

const char backend_options_help[] =
"      --name NAME            name this backend; a backend that registers\n"
"                             again under the same name gets the same tunnel\n"
"                             port (and the clients waiting on it)\n"
"      --port N               ask for tunnel port N (default: any)\n"
"      --reconnect            register again when the session ends, with\n"
"                             backoff from 0.5 s to 30 s\n"
"      --no-reconnect         exit when the session ends\n"
"      --keepalive SECS       ping the relay every SECS, 0 = off (default 30)\n"
"      --connect-timeout MS   timeout of every connect (default 5000)\n"
"      --window BYTES         per-stream receive window to start with\n"
"                             (default 262144)\n"
"      --window-max BYTES     a stream's window grows up to this when its\n"
"                             reader keeps up over a long link\n"
"                             (default 16777216)\n"
"      --window-budget BYTES  growth of all windows of the session\n"
"                             together (default 67108864)\n"
"      --buffer BYTES         I/O chunk size (default 262144)\n"
"      --key FILE             this backend's private key (relaykey generate);\n"
"                             with --relay-key: an encrypted session\n"
"      --relay-key PUBKEY     the relay's public key (base64), pinned\n"
"      --secret-file FILE     the relay's shared secret in FILE (mode 600):\n"
"                             an encrypted session keyed from it\n";

void
backend_config_default(struct backend_config *c, const char *progname)
{
	memset(c, 0, sizeof(*c));
	c->progname = progname;
	c->keepalive_s = 30;
	c->connect_timeout_ms = 5000;
	c->window = MUX_INITIAL_WINDOW;
	c->window_max = 16u * 1024 * 1024;
	c->window_budget = 64u * 1024 * 1024;
	c->buffer = 256 * 1024;
}


int
backend_option(struct backend_config *c, int ch, const char *arg)
{
	unsigned long	 v;
	const char	*opt;

	switch (ch) {
	case BOPT_NAME:
		opt = "--name";
		if (!hello_name_ok(arg))
			goto bad;
		snprintf(c->name, sizeof(c->name), "%s", arg);
		return 1;
	case BOPT_PORT:
		opt = "--port";
		if (net_parse_uint(arg, 1, 65535, &v) == -1)
			goto bad;
		c->port = v;
		return 1;
	case BOPT_RECONNECT:
		c->reconnect = 1;
		return 1;
	case BOPT_NO_RECONNECT:
		c->reconnect = 0;
		return 1;
	case BOPT_KEEPALIVE:
		opt = "--keepalive";
		if (net_parse_uint(arg, 0, 86400, &v) == -1)
			goto bad;
		c->keepalive_s = v;
		return 1;
	case BOPT_CONNECT_TIMEOUT:
		opt = "--connect-timeout";
		if (net_parse_uint(arg, 1, 3600000, &v) == -1)
			goto bad;
		c->connect_timeout_ms = v;
		return 1;
	case BOPT_WINDOW:
		opt = "--window";
		if (net_parse_uint(arg, MUX_INITIAL_WINDOW, 64u * 1024 * 1024,
		    &v) == -1)
			goto bad;
		c->window = v;
		return 1;
	case BOPT_WINDOW_MAX:
		opt = "--window-max";
		if (net_parse_uint(arg, MUX_INITIAL_WINDOW, 1u << 30, &v) == -1)
			goto bad;
		c->window_max = v;
		return 1;
	case BOPT_WINDOW_BUDGET:
		opt = "--window-budget";
		if (net_parse_uint(arg, 0, 1ul << 34, &v) == -1)
			goto bad;
		c->window_budget = v;
		return 1;
	case BOPT_SECRET: {
		uint8_t		 secret[AUTH_SECRET_MAX];
		size_t		 len;
		const char	*why;

		if (auth_load_secret(arg, secret, sizeof(secret), &len,
		    &why) == -1) {
			fprintf(stderr, "%s: %s\n", c->progname, why);
			return -1;
		}
		keys_psk(c->psk, secret, len);
		crypto_wipe(secret, sizeof(secret));
		c->has_psk = 1;
		return 1;
	}
	case BOPT_KEY: {
		char	 why[KEYS_ERR_MAX];

		if (keys_load_private(arg, c->key_priv, why,
		    sizeof(why)) == -1) {
			fprintf(stderr, "%s: %s\n", c->progname, why);
			return -1;
		}
		c->has_key = 1;
		return 1;
	}
	case BOPT_RELAY_KEY:
		opt = "--relay-key";
		if (keys_b64_decode(c->relay_pub, arg, strlen(arg)) == -1)
			goto bad;
		c->has_relay_key = 1;
		return 1;
	case BOPT_BUFFER:
		opt = "--buffer";
		if (net_parse_uint(arg, 1024, 16u * 1024 * 1024, &v) == -1)
			goto bad;
		c->buffer = v;
		return 1;
	}
	return 0;
bad:
	fprintf(stderr, "%s: bad value for %s: '%s'\n", c->progname, opt, arg);
	return -1;
}

static void
backend_usage_line(const struct backend_config *c, const char *extra)
{
	fprintf(stderr, "usage: %s [OPTIONS] RELAYHOST RELAYPORT%s%s\n",
	    c->progname, extra ? " " : "", extra ? extra : "");
}

int
backend_args(struct backend_config *c, int argc, char *argv[],
    const char *extra, const char *about, char **extra_arg)
{
	static const struct option common[] = {
		BACKEND_LONGOPTS,
		{ "verbose",	no_argument,	NULL, 'v' },
		{ "quiet",	no_argument,	NULL, 'q' },
		{ "help",	no_argument,	NULL, 'h' },
		{ "version",	no_argument,	NULL, 'V' },
	};
	struct option	 longopts[sizeof(common) / sizeof(common[0]) + 9];
	size_t		 nopt = sizeof(common) / sizeof(common[0]), i;
	int		 ch, rv, nargs = extra ? 3 : 2, level = LOG_LVL_INFO;

	memcpy(longopts, common, sizeof(common));
	for (i = 0; c->prog_opts != NULL && c->prog_opts[i].name != NULL; i++) {
		if (nopt + 1 >= sizeof(longopts) / sizeof(longopts[0]))
			fatalx("too many options");
		longopts[nopt++] = c->prog_opts[i];
	}
	memset(&longopts[nopt], 0, sizeof(longopts[nopt]));
	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":vqhV", longopts, NULL)) != -1) {
		if ((rv = backend_option(c, ch, optarg)) == 0 &&
		    ch >= BOPT_PROGRAM && c->prog_opt != NULL)
			rv = c->prog_opt(ch, optarg);
		if (rv == 1)
			continue;
		if (rv == -1) {
			backend_usage_line(c, extra);
			return EX_USAGE_;
		}
		switch (ch) {
		case 'v':
			level = level < LOG_LVL_DEBUG ? LOG_LVL_DEBUG :
			    LOG_LVL_TRACE;
			break;
		case 'q':
			level = LOG_LVL_QUIET;
			break;
		case 'h':
			printf("usage: %s [OPTIONS] RELAYHOST RELAYPORT%s%s\n\n"
			    "%s\nOptions:\n%s%s"
			    "  -v, --verbose              log more (debug)\n"
			    "  -q, --quiet                log warnings only\n"
			    "  -h, --help                 this help\n"
			    "  -V, --version              print the version\n",
			    c->progname, extra ? " " : "", extra ? extra : "",
			    about, c->prog_help ? c->prog_help : "",
			    backend_options_help);
			return EX_OK_;
		case 'V':
			printf("%s %s\n", c->progname, RELAY_VERSION);
			return EX_OK_;
		case ':':
			fprintf(stderr, "%s: option '%s' needs a value\n",
			    c->progname, argv[optind - 1]);
			backend_usage_line(c, extra);
			return EX_USAGE_;
		default:
			fprintf(stderr, "%s: unknown option '%s'\n",
			    c->progname, argv[optind - 1]);
			backend_usage_line(c, extra);
			return EX_USAGE_;
		}
	}
	if (argc - optind != nargs) {
		fprintf(stderr, "%s: %s\n", c->progname, argc - optind < nargs ?
		    "missing arguments" : "too many arguments");
		backend_usage_line(c, extra);
		return EX_USAGE_;
	}
	if (c->has_key != c->has_relay_key) {
		fprintf(stderr, "%s: --key and --relay-key go together\n",
		    c->progname);
		backend_usage_line(c, extra);
		return EX_USAGE_;
	}
	if (c->has_key && c->has_psk) {
		fprintf(stderr, "%s: --key and --secret-file exclude each "
		    "other\n", c->progname);
		backend_usage_line(c, extra);
		return EX_USAGE_;
	}
	c->relay_host = argv[optind];
	if (net_parse_port(argv[optind + 1], &c->relay_port) == -1 ||
	    c->relay_port == 0) {
		fprintf(stderr, "%s: bad RELAYPORT '%s'\n", c->progname,
		    argv[optind + 1]);
		backend_usage_line(c, extra);
		return EX_USAGE_;
	}
	*extra_arg = extra ? argv[optind + 2] : NULL;
	log_init(c->progname, level);
	return -1;
}

/* ---- session ---- */

static void
session_end(enum bend end, const char *why)
{
	if (b.state == BS_DONE)
		return;
	b.state = BS_DONE;
	b.end = end;
	if (why != b.why) {
		size_t n = strnlen(why, sizeof(b.why) - 1);
		memmove(b.why, why, n);
		b.why[n] = '\0';
	}
}

/*
 * What follows the tunnel address in the relay's answer: " KEY=VALUE"
 * words of its extensions.  addr=1 says that every stream opens with the
 * client's address; a relay that does not know the key says nothing, and
 * then no stream has a header.
 */
static void
reply_keys(char *p)
{
	char	*sp, *k;

	b.client_addr = 0;
	if ((sp = strchr(p, ' ')) != NULL) {
		*sp++ = '\0';
		while ((k = strsep(&sp, " ")) != NULL)
			if (strcmp(k, "addr=1") == 0)
				b.client_addr = 1;
	}
	if (!b.client_addr)
		log_info("the relay sends no client addresses (it predates "
		    "them)");
}

static void
registered(void)
{
	char	*p = b.reply;

	size_t	 i;

	b.reply[b.reply_len] = '\0';
	while (b.reply_len > 0 && (p[b.reply_len - 1] == '\n' ||
	    p[b.reply_len - 1] == '\r' || p[b.reply_len - 1] == ' '))
		p[--b.reply_len] = '\0';
	/* It goes to stdout as one line: no NUL, no control bytes in it. */
	for (i = 0; i < b.reply_len; i++) {
		if ((unsigned char)p[i] < 0x20 || (unsigned char)p[i] == 0x7f) {
			b.refusal = 1;
			snprintf(b.why, sizeof(b.why), "the relay's answer is "
			    "malformed");
			session_finish(b.sess, b.why);
			return;
		}
	}
	if (strncmp(p, "error: ", 7) == 0) {
		b.refusal = 1;
		snprintf(b.why, sizeof(b.why), "%.200s", p + 7);
		session_finish(b.sess, b.why);
		return;
	}
	reply_keys(p);		/* the address ends at the first space */
	if (p[0] == '\0') {
		b.refusal = 1;
		snprintf(b.why, sizeof(b.why), "the relay sent an empty tunnel "
		    "address");
		session_finish(b.sess, b.why);
		return;
	}
	printf("%s\n", p);
	fflush(stdout);
	log_info("registered with relay %s port %u: tunnel %s",
	    b.cfg->relay_host, b.cfg->relay_port, p);
	b.state = BS_SERVING;
	*b.was_registered = 1;
	ev_timer_cancel(&b.reg_timer);
	if (b.reg.ep_stream != NULL)
		mux_stream_close(b.reg.ep_stream);
	/* The round trip, which lets the windows grow on a long link. */
	session_ping(b.sess, 1);
}

/* The registration stream: the relay's answer, read to its FIN. */
static void
reg_data(struct endpoint *ep, const uint8_t *p, size_t len)
{
	mux_stream_consumed(ep->ep_stream, len);
	if (b.state != BS_REGISTERING || b.refusal)
		return;
	if (len > REPLY_MAX - b.reply_len) {
		b.refusal = 1;
		snprintf(b.why, sizeof(b.why), "the relay's answer is too long");
		session_finish(b.sess, b.why);
		return;
	}
	memcpy(b.reply + b.reply_len, p, len);
	b.reply_len += len;
}

static void
reg_fin(struct endpoint *ep)
{
	(void)ep;
	if (b.state == BS_REGISTERING && !b.refusal)
		registered();
}

static void
reg_cut(struct endpoint *ep, const char *why, int cut)
{
	(void)why;
	endpoint_detach(ep);
	if (b.state == BS_REGISTERING && !b.refusal && cut == MUX_CUT_RESET) {
		b.refusal = 1;
		snprintf(b.why, sizeof(b.why), "the relay reset the "
		    "registration stream");
		session_finish(b.sess, b.why);
	}
}

static void
reg_closed(struct endpoint *ep)
{
	endpoint_detach(ep);
}

static const struct endpoint_ops reg_ops = {
	.data = reg_data,
	.fin = reg_fin,
	.cut = reg_cut,
	.closed = reg_closed,
};

/* ---- client addresses ---- */

/*
 * A stream of a relay that said addr=1, until its header is read.  The
 * header is the payload of the Data frame that carried the SYN, so it is
 * all there once that frame is: a stream never waits for more.  Anything
 * else is the relay's mistake (or a stranger's): the stream is reset with
 * a warning, and the program never sees it or a byte of it.
 */
struct addr_wait {
	struct endpoint		 aw_ep;		/* first: the stream's udata */
	uint8_t			 aw_buf[PROXY_V2_MAX];
	size_t			 aw_len;
	size_t			 aw_want;	/* the header's length so far */
	uint32_t		 aw_syn_left;	/* of the SYN frame's payload */
};

/* Let go of the stream without a word: someone else takes it, or ends it. */
static void
addr_wait_free(struct addr_wait *aw)
{
	struct mux_stream	*st = aw->aw_ep.ep_stream;

	if (st != NULL) {
		aw->aw_ep.ep_stream = NULL;
		mux_stream_set_udata(st, NULL);
	}
	endpoint_detach(&aw->aw_ep);
	free(aw);
}

static void
addr_reject(struct addr_wait *aw, const char *why)
{
	struct mux_stream	*st = aw->aw_ep.ep_stream;

	log_warnx("stream %u: bad client address header from the relay: %s; "
	    "reset", mux_stream_id(st), why);
	addr_wait_free(aw);
	mux_stream_reset(st);
}

static void
addr_data(struct endpoint *ep, const uint8_t *p, size_t len)
{
	struct addr_wait	*aw = (struct addr_wait *)ep;
	struct mux_stream	*st = ep->ep_stream;
	struct session		*sess = ep->ep_sess;
	struct proxy_addr	 pa;
	struct endpoint		*app;
	const char		*why;
	size_t			 k;
	int			 rv = 0;

	while (len > 0 && rv == 0) {
		/* Never more than the header: what follows is the client's. */
		k = aw->aw_want - aw->aw_len;
		if (k > len)
			k = len;
		if (k > aw->aw_syn_left)
			k = aw->aw_syn_left;
		memcpy(aw->aw_buf + aw->aw_len, p, k);
		aw->aw_len += k;
		aw->aw_syn_left -= k;
		p += k;
		len -= k;
		mux_stream_consumed(st, k);
		if ((rv = proxy_v2_parse(aw->aw_buf, aw->aw_len, &aw->aw_want,
		    &pa, &why)) == -1) {
			addr_reject(aw, why);
			return;
		}
		if (rv == 0 && aw->aw_syn_left == 0) {
			addr_reject(aw, "header longer than the frame that "
			    "opened the stream");
			return;
		}
	}
	if (rv == 0)
		return;
	addr_wait_free(aw);
	app = b.app->ba_opened(b.app->ba_arg, sess, st, &pa);
	if (app != NULL && len > 0)
		app->ep_ops->data(app, p, len);
}

static void
addr_fin(struct endpoint *ep)
{
	addr_reject((struct addr_wait *)ep, "the stream ended before its "
	    "header");
}

static void
addr_cut(struct endpoint *ep, const char *why, int cut)
{
	(void)why;
	(void)cut;
	addr_wait_free((struct addr_wait *)ep);
}

static void
addr_closed(struct endpoint *ep)
{
	addr_wait_free((struct addr_wait *)ep);
}

static const struct endpoint_ops addr_ops = {
	.data = addr_data,
	.fin = addr_fin,
	.cut = addr_cut,
	.closed = addr_closed,
};

static void
h_opened(void *arg, struct mux_stream *st, int syn_type, uint32_t syn_len)
{
	struct addr_wait	*aw;

	(void)arg;
	if (b.state != BS_SERVING || b.app->ba_opened == NULL) {
		mux_stream_reset(st);
		return;
	}
	if (!b.client_addr) {
		(void)b.app->ba_opened(b.app->ba_arg, b.sess, st, NULL);
		return;
	}
	if (syn_type != MUX_T_DATA || syn_len < PROXY_V2_LEN4) {
		log_warnx("stream %u: bad client address header from the "
		    "relay: none on the frame that opened it; reset",
		    mux_stream_id(st));
		mux_stream_reset(st);
		return;
	}
	if ((aw = calloc(1, sizeof(*aw))) == NULL) {
		log_warn("stream %u", mux_stream_id(st));
		mux_stream_reset(st);
		return;
	}
	aw->aw_want = PROXY_V2_HDR_LEN;
	aw->aw_syn_left = syn_len;
	endpoint_attach(&aw->aw_ep, &addr_ops, b.sess, st);
}

static void
h_goaway(void *arg, uint32_t code)
{
	(void)arg;
	if (code == MUX_GOAWAY_NORMAL && b.state == BS_SERVING) {
		log_info("the relay is going away");
		b.goaway = 1;
	}
}

static void
h_failed(void *arg, const char *why)
{
	(void)arg;
	if (strncmp(why, "remote goaway", 13) == 0)
		b.goaway = 1;
	if (b.why[0] == '\0' || !b.refusal)
		snprintf(b.why, sizeof(b.why), "session error: %s", why);
}

/* From the presleep hook: the session is over. */
static void
h_ended(void *arg, const char *why)
{
	(void)arg;
	ev_break();	/* back to session_once() without a sleep */
	if (b.refusal)
		session_end(BE_REFUSED, b.why);
	else if (b.state == BS_REGISTERING)
		session_end(BE_REFUSED, b.why[0] ? b.why : why);
	else
		session_end(b.goaway ? BE_GOAWAY : BE_LOST,
		    b.why[0] ? b.why : why);
}

static const struct session_ops handlers = {
	.opened = h_opened,
	.ended = h_ended,
	.goaway = h_goaway,
	.failed = h_failed,
};

static void
reg_timer_fire(void *arg)
{
	(void)arg;
	b.refusal = 1;
	snprintf(b.why, sizeof(b.why), "no answer to the registration");
	session_drop(b.sess, b.why);
}

static void
presleep(void *arg)
{
	(void)arg;
	if (b.app->ba_idle != NULL)
		b.app->ba_idle(b.app->ba_arg);
	if (b.sess != NULL && b.state != BS_DONE)
		session_presleep(b.sess);
}

/*
 * The encrypted session's handshake: 0, or -1 with b.end and b.why set.
 * A relay whose key is not the pinned one is retried only slowly.
 */
static int
backend_handshake(int fd, struct noise_cs *tx, struct noise_cs *rx)
{
	const struct backend_config	*cfg = b.cfg;
	uint8_t				 rpub[KEYS_LEN];
	char				 err[200], fp1[KEYS_FP_LEN + 1];
	char				 fp2[KEYS_FP_LEN + 1];
	int				 has_rpub, rv;

	rv = hs_initiate(fd, cfg->has_key ? HS_IK : HS_PSK,
	    cfg->has_key ? cfg->key_priv : NULL,
	    cfg->has_key ? cfg->relay_pub : NULL,
	    cfg->has_psk ? cfg->psk : NULL, REGISTER_TIMEOUT_MS, tx, rx, rpub,
	    &has_rpub, err, sizeof(err));
	switch (rv) {
	case 0:
		return 0;
	case HS_E_REFUSED:
		b.end = BE_REFUSED;
		snprintf(b.why, sizeof(b.why), "%s", err);
		break;
	case HS_E_RELAYKEY:
		b.end = BE_FATAL;
		if (cfg->has_key && has_rpub) {
			keys_fingerprint(fp1, rpub);
			keys_fingerprint(fp2, cfg->relay_pub);
			snprintf(b.why, sizeof(b.why), "the relay's key %s is "
			    "not the pinned one (--relay-key) %s", fp1, fp2);
		} else if (cfg->has_key)
			snprintf(b.why, sizeof(b.why), "the relay refused the "
			    "handshake: it has no key (--key), or not the "
			    "pinned one %s", (keys_fingerprint(fp2,
			    cfg->relay_pub), fp2));
		else
			snprintf(b.why, sizeof(b.why), "the relay refused the "
			    "handshake: a wrong secret, or the relay has no "
			    "--secret-file");
		break;
	default:
		b.end = BE_UNREACHABLE;
		snprintf(b.why, sizeof(b.why), "relay %s port %u: %s",
		    cfg->relay_host, cfg->relay_port, err);
		break;
	}
	crypto_wipe(tx, sizeof(*tx));
	crypto_wipe(rx, sizeof(*rx));
	return -1;
}

/* One connection to the relay, from dial to end. */
static enum bend
session_once(int *was_registered)
{
	const struct backend_config	*cfg = b.cfg;
	struct session_config		 sc;
	struct noise_cs			 tx, rx;
	struct mux_stream		*st;
	struct hello			 h;
	char				 hello[HELLO_MAX + 1];
	const char			*why;
	int				 fd, n;

	memset(&tx, 0, sizeof(tx));
	memset(&rx, 0, sizeof(rx));
	*was_registered = 0;
	b.was_registered = was_registered;
	b.state = BS_REGISTERING;
	b.reply_len = 0;
	b.refusal = 0;
	b.goaway = 0;
	b.why[0] = '\0';
	fd = net_connect_host(cfg->relay_host, cfg->relay_port,
	    cfg->connect_timeout_ms, &why);
	if (fd == -1) {
		snprintf(b.why, sizeof(b.why), "cannot reach relay %s port %u: "
		    "%s", cfg->relay_host, cfg->relay_port, why);
		return BE_UNREACHABLE;
	}
	if ((cfg->has_key || cfg->has_psk) && backend_handshake(fd, &tx,
	    &rx) == -1) {
		close(fd);
		return b.end;
	}
	session_config_default(&sc, MUX_CLIENT);
	if (cfg->has_key || cfg->has_psk) {
		sc.sc_tx = &tx;
		sc.sc_rx = &rx;
	}
	sc.sc_mux.recv_window = cfg->window;
	sc.sc_mux.recv_window_max = cfg->window_max;
	sc.sc_mux.recv_budget = cfg->window_budget;
	sc.sc_mux.clock = ev_now;
	/* The relay decides how many clients a tunnel takes. */
	sc.sc_mux.max_streams = 1000000;
	sc.sc_mux.keepalive_ms = (uint64_t)cfg->keepalive_s * 1000;
	b.sess = session_new(fd, &sc, &handlers, NULL, b.rbuf, cfg->buffer);
	noise_cs_wipe(&tx);
	noise_cs_wipe(&rx);
	if (b.sess == NULL)
		fatal("session");
	memset(&h, 0, sizeof(h));
	snprintf(h.h_name, sizeof(h.h_name), "%s", cfg->name);
	h.h_port = cfg->port;
	h.h_addr = 1;	/* who the clients are, on every stream */
	if ((n = hello_build(&h, hello, sizeof(hello))) == -1)
		fatalx("hello too long");
	if ((st = mux_open_data(b.sess->s_mux, (uint8_t *)hello, n, ev_now(),
	    &why)) == NULL)
		fatalx("registration stream: %s", why);
	endpoint_attach(&b.reg, &reg_ops, b.sess, st);
	ev_timer_at(&b.reg_timer, ev_now() + REGISTER_TIMEOUT_MS);
	while (b.state != BS_DONE) {
		ev_run_once(-1);
		if (b.state == BS_SERVING)
			*was_registered = 1;
	}
	ev_timer_cancel(&b.reg_timer);
	session_free(b.sess);
	b.sess = NULL;
	if (b.app->ba_idle != NULL)
		b.app->ba_idle(b.app->ba_arg);
	return b.end;
}

/*
 * Run the loop for ms (connections of ended sessions keep delivering
 * meanwhile), or until they are done when until_idle is set.
 */
static void
backend_wait(unsigned ms, int until_idle)
{
	uint64_t	 end = ev_now_update() + ms;

	ev_timer_at(&b.wait_timer, end);
	while (ev_now() < end) {
		if (until_idle && (b.app->ba_pending == NULL ||
		    b.app->ba_pending(b.app->ba_arg) == 0))
			break;
		ev_run_once(-1);
	}
	ev_timer_cancel(&b.wait_timer);
}

static void
wait_timer_fire(void *arg)
{
	(void)arg;
}

int
backend_run(const struct backend_config *cfg, const struct backend_app *app)
{
	struct sigaction	 sa;
	struct timespec		 ts;
	unsigned		 backoff = BACKOFF_MIN_MS, wait;
	int			 was_registered, rv;
	enum bend		 end;

	memset(&b, 0, sizeof(b));
	b.cfg = cfg;
	b.app = app;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	if ((b.rbuf = malloc(cfg->buffer)) == NULL)
		fatal("malloc");
	ev_init();
	ev_timer_init(&b.reg_timer, reg_timer_fire, NULL);
	ev_timer_init(&b.wait_timer, wait_timer_fire, NULL);
	ev_set_presleep(presleep, NULL);
	clock_gettime(CLOCK_REALTIME, &ts);
	srandom((unsigned)(ts.tv_nsec ^ getpid()));
	for (;;) {
		end = session_once(&was_registered);
		if (!cfg->reconnect && (end == BE_FATAL ||
		    end == BE_UNREACHABLE || end == BE_REFUSED)) {
			/* One clear line, then out. */
			fprintf(stderr, "%s: %s%s\n", cfg->progname,
			    end == BE_REFUSED ? "registration refused: " : "",
			    b.why);
			return EX_UNAVAILABLE_;
		}
		switch (end) {
		case BE_UNREACHABLE:
			log_warnx("%s", b.why);
			break;
		case BE_REFUSED:
		case BE_FATAL:
			log_warnx("registration refused: %s", b.why);
			break;
		case BE_LOST:
		case BE_GOAWAY:
			log_info("session with the relay ended: %s", b.why);
			break;
		}
		if (!cfg->reconnect) {
			rv = end == BE_GOAWAY ? EX_OK_ : EX_UNAVAILABLE_;
			/* What the connections hold is delivered first. */
			backend_wait(BACKEND_DRAIN_MS + 1000, 1);
			return rv;
		}
		if (was_registered)
			backoff = BACKOFF_MIN_MS;
		/*
		 * Not the pinned relay: whoever answered may be on the path
		 * (the reply that says so is not authenticated), so keep
		 * trying, but slowly.
		 */
		if (end == BE_FATAL)
			backoff = BACKOFF_MAX_MS;
		/* Jitter: between half and all of the backoff. */
		wait = backoff / 2 + (unsigned)(random() % (backoff / 2 + 1));
		log_info("registering again in %u.%03u s", wait / 1000,
		    wait % 1000);
		backend_wait(wait, 0);
		if (!was_registered && backoff < BACKOFF_MAX_MS)
			backoff = backoff * 2 > BACKOFF_MAX_MS ?
			    BACKOFF_MAX_MS : backoff * 2;
	}
}
