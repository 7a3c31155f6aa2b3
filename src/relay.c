/*
 * relay: the public side.  Parses the command line and hands over to the
 * master process.
 */
#include <linux/capability.h>

#include <errno.h>
#include <getopt.h>
#include <grp.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "auth.h"
#include "crypto.h"
#include "keys.h"
#include "log.h"
#include "mux.h"
#include "net.h"
#include "relay.h"
#include "sandbox.h"

static void
usage_line(void)
{
	fprintf(stderr, "usage: relay [OPTIONS] PORT\n");
}

static void
help(void)
{
	printf(
"usage: relay [OPTIONS] PORT\n"
"\n"
"Public side of a TCP relay: backends register on the control port PORT\n"
"(0 = any free port) and each gets a tunnel port whose clients are carried\n"
"to it over one multiplexed connection.\n"
"\n"
"Options:\n"
"  -l, --listen ADDR          address for the control and tunnel ports\n"
"                             (default 127.0.0.1; IPv6 too, e.g. ::1)\n"
"  -r, --ports LO-HI          tunnel port range (default PORT+1-PORT+20;\n"
"                             with PORT 0: any free port)\n"
"  -a, --advertise HOST       host written to backends in the tunnel\n"
"                             address (default: the listen address)\n"
"      --prefork N            idle workers kept ready (default 2)\n"
"      --alive-timeout MS     a backend must answer a new client's stream\n"
"                             or a ping within MS (default 5000)\n"
"      --keepalive SECS       ping each backend every SECS, 0 = off\n"
"                             (default 30)\n"
"      --register-timeout MS  a backend must register within MS of its\n"
"                             first byte (default 10000)\n"
"      --max-clients N        concurrent clients per backend (default 1024)\n"
"      --max-backends N       registered backends (default 256)\n"
"      --max-streams N        yamux streams per session (default 65536)\n"
"      --max-unacked N        streams a backend opened that are not yet\n"
"                             accepted (default 256)\n"
"      --max-pending N        connections that have not finished\n"
"                             registering (default 64)\n"
"      --max-pending-per-addr N\n"
"                             of those, from one address (IPv6: one /64)\n"
"                             (default 8)\n"
"      --max-startups START:RATE:FULL\n"
"                             from START pending connections on, refuse a\n"
"                             new one with a probability of RATE percent,\n"
"                             rising to 100 at FULL (--max-pending)\n"
"                             (default 32:30:64; --max-pending N alone\n"
"                             means N:100:N)\n"
"      --first-byte-timeout MS\n"
"                             a connection must send its first byte within\n"
"                             MS, or it is closed (default 3000)\n"
"      --session-buffer BYTES received bytes buffered per session\n"
"                             (default 67108864)\n"
"      --stream-rate N        stream opens and resets per second a backend\n"
"                             may cause before its session is ended as a\n"
"                             flood (default 1000)\n"
"      --linger SECS          keep a named backend's tunnel port open this\n"
"                             long after its session ends (default 30)\n"
"      --window BYTES         per-stream receive window to start with\n"
"                             (default 262144)\n"
"      --window-max BYTES     a stream's window grows up to this when its\n"
"                             reader keeps up over a long link\n"
"                             (default 16777216)\n"
"      --window-budget BYTES  growth of all windows of a session together\n"
"                             (default 67108864)\n"
"      --buffer BYTES         I/O chunk size (default 262144)\n"
"      --stats NAME           shared-memory stats segment\n"
"                             (default /relay.PORT)\n"
"      --stats-group GROUP    group that may read the stats segment, a\n"
"                             name or a number (default: the group of\n"
"                             --user, or the relay's)\n"
"      --key FILE             the relay's private key (relaykey generate)\n"
"      --authorized-keys FILE backends' public keys and what each may hold\n"
"      --secret-file FILE     a shared secret in FILE (mode 600): encrypted\n"
"                             sessions keyed from it (default: none)\n"
"      --user USER            the master switches to USER once it has\n"
"                             bound its ports and opened its files\n"
"                             (default: stay as started)\n"
"      --worker-user USER     workers run as USER, a name or UID[:GID]\n"
"                             (default: the user relay-worker if there\n"
"                             is one and the relay may switch to it, else\n"
"                             as the master)\n"
"  -d, --daemon               detach; log to syslog unless --log-file\n"
"      --pidfile FILE         write the master's pid to FILE (default: none)\n"
"      --log-file FILE        log to FILE, reopened on SIGHUP\n"
"                             (default: stderr, or syslog with --daemon)\n"
"      --drain-timeout SECS   on SIGTERM, let clients finish this long\n"
"                             (default 10)\n"
"  -v, --verbose              log more (debug; twice: every stream)\n"
"  -q, --quiet                log warnings only\n"
"  -h, --help                 this help\n"
"  -V, --version              print the version\n");
}


static int
bad_value(const char *opt, const char *val)
{
	fprintf(stderr, "relay: bad value for %s: '%s'\n", opt, val);
	usage_line();
	return EX_USAGE_;
}

enum {
	OPT_PREFORK = 256, OPT_ALIVE, OPT_KEEPALIVE, OPT_REGTIMEOUT,
	OPT_MAXCLIENTS, OPT_MAXBACKENDS, OPT_MAXSTREAMS, OPT_LINGER,
	OPT_WINDOW, OPT_BUFFER, OPT_STATS, OPT_MAXUNACKED, OPT_MAXPENDING,
	OPT_SESSIONBUF, OPT_STREAMRATE, OPT_SECRET, OPT_KEY, OPT_AUTHKEYS, OPT_USER, OPT_PIDFILE,
	OPT_LOGFILE, OPT_DRAIN, OPT_WINDOWMAX, OPT_WINDOWBUDGET,
	OPT_MAXPENDADDR, OPT_STARTUPS, OPT_FIRSTBYTE, OPT_WORKERUSER,
	OPT_STATSGROUP,
};

/* The default workers' user: an operator who creates it gets it. */
#define RELAY_WORKER_USER	"relay-worker"

static int
copy_arg(char *dst, size_t len, const char *opt, const char *arg)
{
	if (arg[0] == '\0' || strlen(arg) >= len)
		return bad_value(opt, arg);
	memcpy(dst, arg, strlen(arg) + 1);
	return 0;
}

int
relay_drop_privileges(const struct relay_config *c)
{
	if (c->user[0] == '\0' || (getuid() == c->uid && geteuid() == c->uid &&
	    getgid() == c->gid && getegid() == c->gid))
		return sandbox_set_identity((uid_t)-1, (gid_t)-1, 0);
	return sandbox_set_identity(c->uid, c->gid, 0);
}

/* A whole decimal number that fits an id (not -1, the "none" value). */
static int
parse_id(const char *s, unsigned long *v)
{
	return net_parse_uint(s, 0, 4294967294UL, v);
}

/* USER, or UID[:GID]: a user need not exist to be a worker's identity. */
static int
parse_identity(const char *s, uid_t *uid, gid_t *gid)
{
	struct passwd	*pw;
	char		 buf[64], *colon;
	unsigned long	 u, g;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((colon = strchr(buf, ':')) != NULL)
		*colon = '\0';
	if (parse_id(buf, &u) == 0) {
		*uid = (uid_t)u;
		if (colon != NULL) {
			if (parse_id(colon + 1, &g) == -1)
				return -1;
			*gid = (gid_t)g;
		} else if ((pw = getpwuid(*uid)) != NULL)
			*gid = pw->pw_gid;
		else
			*gid = (gid_t)u;
		return 0;
	}
	if (colon != NULL || (pw = getpwnam(buf)) == NULL)
		return -1;
	*uid = pw->pw_uid;
	*gid = pw->pw_gid;
	return 0;
}

static int
parse_group(const char *s, gid_t *gid)
{
	struct group	*gr;
	unsigned long	 g;

	if (parse_id(s, &g) == 0) {
		*gid = (gid_t)g;
		return 0;
	}
	if ((gr = getgrnam(s)) == NULL)
		return -1;
	*gid = gr->gr_gid;
	return 0;
}

/* "START:RATE:FULL", as OpenSSH's MaxStartups. */
static int
parse_startups(const char *s, unsigned *start, unsigned *rate,
    unsigned *full)
{
	char		 buf[64], *a, *b;
	unsigned long	 x, y, z;

	if (strlen(s) >= sizeof(buf))
		return -1;
	snprintf(buf, sizeof(buf), "%s", s);
	if ((a = strchr(buf, ':')) == NULL || (b = strchr(a + 1, ':')) == NULL)
		return -1;
	*a++ = '\0';
	*b++ = '\0';
	if (net_parse_uint(buf, 1, 100000, &x) == -1 ||
	    net_parse_uint(a, 0, 100, &y) == -1 ||
	    net_parse_uint(b, 1, 100000, &z) == -1 || x > z)
		return -1;
	*start = x;
	*rate = y;
	*full = z;
	return 0;
}

static void
raise_nofile(void)
{
	struct rlimit	 rl;

	/* 10,000 clients through one tunnel need as many descriptors. */
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/* One word of printable ASCII: it goes into the registration answer. */
static int
printable_word(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f)
			return 0;
	return 1;
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "listen",		required_argument, NULL, 'l' },
		{ "ports",		required_argument, NULL, 'r' },
		{ "advertise",		required_argument, NULL, 'a' },
		{ "prefork",		required_argument, NULL, OPT_PREFORK },
		{ "alive-timeout",	required_argument, NULL, OPT_ALIVE },
		{ "keepalive",		required_argument, NULL, OPT_KEEPALIVE },
		{ "register-timeout",	required_argument, NULL, OPT_REGTIMEOUT },
		{ "max-clients",	required_argument, NULL, OPT_MAXCLIENTS },
		{ "max-backends",	required_argument, NULL, OPT_MAXBACKENDS },
		{ "max-streams",	required_argument, NULL, OPT_MAXSTREAMS },
		{ "linger",		required_argument, NULL, OPT_LINGER },
		{ "window",		required_argument, NULL, OPT_WINDOW },
		{ "window-max",		required_argument, NULL, OPT_WINDOWMAX },
		{ "window-budget",	required_argument, NULL, OPT_WINDOWBUDGET },
		{ "buffer",		required_argument, NULL, OPT_BUFFER },
		{ "stats",		required_argument, NULL, OPT_STATS },
		{ "max-unacked",	required_argument, NULL, OPT_MAXUNACKED },
		{ "max-pending",	required_argument, NULL, OPT_MAXPENDING },
		{ "session-buffer",	required_argument, NULL, OPT_SESSIONBUF },
		{ "stream-rate",	required_argument, NULL, OPT_STREAMRATE },
		{ "secret-file",	required_argument, NULL, OPT_SECRET },
		{ "key",		required_argument, NULL, OPT_KEY },
		{ "authorized-keys",	required_argument, NULL, OPT_AUTHKEYS },
		{ "user",		required_argument, NULL, OPT_USER },
		{ "daemon",		no_argument,	   NULL, 'd' },
		{ "pidfile",		required_argument, NULL, OPT_PIDFILE },
		{ "log-file",		required_argument, NULL, OPT_LOGFILE },
		{ "drain-timeout",	required_argument, NULL, OPT_DRAIN },
		{ "max-pending-per-addr", required_argument, NULL,
		    OPT_MAXPENDADDR },
		{ "max-startups",	required_argument, NULL, OPT_STARTUPS },
		{ "first-byte-timeout",	required_argument, NULL, OPT_FIRSTBYTE },
		{ "worker-user",	required_argument, NULL, OPT_WORKERUSER },
		{ "stats-group",	required_argument, NULL, OPT_STATSGROUP },
		{ "verbose",		no_argument,	   NULL, 'v' },
		{ "quiet",		no_argument,	   NULL, 'q' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ "version",		no_argument,	   NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static struct relay_config cfg;
	const char	*ports = NULL, *why, *worker_user = NULL;
	const char	*stats_group = NULL;
	unsigned long	 v;
	unsigned	 port, full = 0, pending = 0;
	uint64_t	 caps;
	int		 ch, level = LOG_LVL_INFO, startups = 0;

	/* Before anything secret is in memory: no core, no ptrace. */
	sandbox_nodump();

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.listen_host, sizeof(cfg.listen_host), "127.0.0.1");
	cfg.prefork = 2;
	cfg.alive_timeout_ms = 5000;
	cfg.keepalive_s = 30;
	cfg.register_timeout_ms = 10000;
	cfg.max_clients = 1024;
	cfg.max_backends = 256;
	cfg.max_streams = 65536;
	cfg.linger_s = 30;
	cfg.window = MUX_INITIAL_WINDOW;
	cfg.window_max = 16u * 1024 * 1024;
	cfg.window_budget = 64u * 1024 * 1024;
	cfg.buffer = 256 * 1024;
	cfg.max_pending = 64;
	cfg.max_pending_addr = 8;
	cfg.startups_start = 32;
	cfg.startups_rate = 30;
	cfg.first_byte_ms = 3000;
	cfg.stats_gid = (gid_t)-1;
	cfg.max_unacked = 256;
	cfg.session_buffer = 64u * 1024 * 1024;
	cfg.stream_rate = 1000;
	cfg.drain_timeout_s = 10;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":l:r:a:dvqhV", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'l':
			snprintf(cfg.listen_host, sizeof(cfg.listen_host),
			    "%s", optarg);
			break;
		case 'r':
			ports = optarg;
			break;
		case 'a':
			if (strlen(optarg) == 0 ||
			    strlen(optarg) >= sizeof(cfg.advertise) ||
			    !printable_word(optarg))
				return bad_value("--advertise", optarg);
			snprintf(cfg.advertise, sizeof(cfg.advertise), "%s",
			    optarg);
			break;
		case OPT_PREFORK:
			if (net_parse_uint(optarg, 0, 64, &v) == -1)
				return bad_value("--prefork", optarg);
			cfg.prefork = v;
			break;
		case OPT_ALIVE:
			if (net_parse_uint(optarg, 1, 3600000, &v) == -1)
				return bad_value("--alive-timeout", optarg);
			cfg.alive_timeout_ms = v;
			break;
		case OPT_KEEPALIVE:
			if (net_parse_uint(optarg, 0, 86400, &v) == -1)
				return bad_value("--keepalive", optarg);
			cfg.keepalive_s = v;
			break;
		case OPT_REGTIMEOUT:
			if (net_parse_uint(optarg, 1, 3600000, &v) == -1)
				return bad_value("--register-timeout", optarg);
			cfg.register_timeout_ms = v;
			break;
		case OPT_MAXCLIENTS:
			if (net_parse_uint(optarg, 1, 1000000, &v) == -1)
				return bad_value("--max-clients", optarg);
			cfg.max_clients = v;
			break;
		case OPT_MAXBACKENDS:
			if (net_parse_uint(optarg, 1, 100000, &v) == -1)
				return bad_value("--max-backends", optarg);
			cfg.max_backends = v;
			break;
		case OPT_MAXSTREAMS:
			if (net_parse_uint(optarg, 1, 1000000, &v) == -1)
				return bad_value("--max-streams", optarg);
			cfg.max_streams = v;
			break;
		case OPT_LINGER:
			if (net_parse_uint(optarg, 0, 86400, &v) == -1)
				return bad_value("--linger", optarg);
			cfg.linger_s = v;
			break;
		case OPT_WINDOW:
			if (net_parse_uint(optarg, MUX_INITIAL_WINDOW,
			    64u * 1024 * 1024, &v) == -1)
				return bad_value("--window", optarg);
			cfg.window = v;
			break;
		case OPT_WINDOWMAX:
			if (net_parse_uint(optarg, MUX_INITIAL_WINDOW,
			    1u << 30, &v) == -1)
				return bad_value("--window-max", optarg);
			cfg.window_max = v;
			break;
		case OPT_WINDOWBUDGET:
			if (net_parse_uint(optarg, 0, 1ul << 34, &v) == -1)
				return bad_value("--window-budget", optarg);
			cfg.window_budget = v;
			break;
		case OPT_BUFFER:
			if (net_parse_uint(optarg, 1024, 16u * 1024 * 1024,
			    &v) == -1)
				return bad_value("--buffer", optarg);
			cfg.buffer = v;
			break;
		case OPT_STATS:
			if (optarg[0] != '/' || strlen(optarg) < 2 ||
			    strlen(optarg) >= sizeof(cfg.stats_name) ||
			    strchr(optarg + 1, '/') != NULL)
				return bad_value("--stats", optarg);
			snprintf(cfg.stats_name, sizeof(cfg.stats_name), "%s",
			    optarg);
			break;
		case OPT_MAXUNACKED:
			if (net_parse_uint(optarg, 1, 1000000, &v) == -1)
				return bad_value("--max-unacked", optarg);
			cfg.max_unacked = v;
			break;
		case OPT_MAXPENDING:
			if (net_parse_uint(optarg, 1, 100000, &v) == -1)
				return bad_value("--max-pending", optarg);
			pending = v;
			break;
		case OPT_MAXPENDADDR:
			if (net_parse_uint(optarg, 1, 100000, &v) == -1)
				return bad_value("--max-pending-per-addr",
				    optarg);
			cfg.max_pending_addr = v;
			break;
		case OPT_STARTUPS:
			if (parse_startups(optarg, &cfg.startups_start,
			    &cfg.startups_rate, &full) == -1)
				return bad_value("--max-startups", optarg);
			startups = 1;
			break;
		case OPT_FIRSTBYTE:
			if (net_parse_uint(optarg, 1, 3600000, &v) == -1)
				return bad_value("--first-byte-timeout",
				    optarg);
			cfg.first_byte_ms = v;
			break;
		case OPT_WORKERUSER:
			worker_user = optarg;
			break;
		case OPT_STATSGROUP:
			stats_group = optarg;
			break;
		case OPT_SESSIONBUF:
			if (net_parse_uint(optarg, 65536, 1ul << 34, &v) == -1)
				return bad_value("--session-buffer", optarg);
			cfg.session_buffer = v;
			break;
		case OPT_STREAMRATE:
			if (net_parse_uint(optarg, 1, 10000000, &v) == -1)
				return bad_value("--stream-rate", optarg);
			cfg.stream_rate = v;
			break;
		case OPT_KEY:
			if (copy_arg(cfg.key_file, sizeof(cfg.key_file),
			    "--key", optarg) != 0)
				return EX_USAGE_;
			break;
		case OPT_AUTHKEYS:
			if (copy_arg(cfg.authkeys_file,
			    sizeof(cfg.authkeys_file), "--authorized-keys",
			    optarg) != 0)
				return EX_USAGE_;
			break;
		case OPT_SECRET:
			if (copy_arg(cfg.secret_file, sizeof(cfg.secret_file),
			    "--secret-file", optarg) != 0)
				return EX_USAGE_;
			break;
		case OPT_USER:
			if (copy_arg(cfg.user, sizeof(cfg.user), "--user",
			    optarg) != 0)
				return EX_USAGE_;
			break;
		case 'd':
			cfg.daemonize = 1;
			break;
		case OPT_PIDFILE:
			if (copy_arg(cfg.pidfile, sizeof(cfg.pidfile),
			    "--pidfile", optarg) != 0)
				return EX_USAGE_;
			break;
		case OPT_LOGFILE:
			if (copy_arg(cfg.log_file, sizeof(cfg.log_file),
			    "--log-file", optarg) != 0)
				return EX_USAGE_;
			break;
		case OPT_DRAIN:
			if (net_parse_uint(optarg, 0, 86400, &v) == -1)
				return bad_value("--drain-timeout", optarg);
			cfg.drain_timeout_s = v;
			break;
		case 'v':
			level = level < LOG_LVL_DEBUG ? LOG_LVL_DEBUG :
			    LOG_LVL_TRACE;
			break;
		case 'q':
			level = LOG_LVL_QUIET;
			break;
		case 'h':
			help();
			return EX_OK_;
		case 'V':
			printf("relay %s\n", RELAY_VERSION);
			return EX_OK_;
		case ':':
			fprintf(stderr, "relay: option '%s' needs a value\n",
			    argv[optind - 1]);
			usage_line();
			return EX_USAGE_;
		default:
			fprintf(stderr, "relay: unknown option '%s'\n",
			    argv[optind - 1]);
			usage_line();
			return EX_USAGE_;
		}
	}
	if (startups) {
		if (pending != 0 && pending != full) {
			fprintf(stderr, "relay: --max-pending %u and the FULL of "
			    "--max-startups (%u) disagree; give one\n", pending,
			    full);
			usage_line();
			return EX_USAGE_;
		}
		cfg.max_pending = full;
	} else if (pending != 0) {
		/* A plain cap, as before --max-startups. */
		cfg.max_pending = cfg.startups_start = pending;
		cfg.startups_rate = 100;
	}
	if (argc - optind != 1) {
		fprintf(stderr, "relay: %s\n", argc - optind == 0 ?
		    "missing PORT" : "too many arguments");
		usage_line();
		return EX_USAGE_;
	}
	if (net_parse_port(argv[optind], &port) == -1)
		return bad_value("PORT", argv[optind]);
	cfg.control_port = port;
	if (ports != NULL) {
		const char *dash = strchr(ports, '-');
		char lo[8], *end;
		unsigned long a, b;
		if (dash == NULL || dash - ports >= (long)sizeof(lo) ||
		    dash == ports)
			return bad_value("--ports", ports);
		memcpy(lo, ports, dash - ports);
		lo[dash - ports] = '\0';
		if (net_parse_uint(lo, 1, 65535, &a) == -1 ||
		    net_parse_uint(dash + 1, 1, 65535, &b) == -1 || a > b)
			return bad_value("--ports", ports);
		(void)end;
		cfg.port_lo = a;
		cfg.port_hi = b;
	} else if (port != 0) {
		if (port + 20 > 65535) {
			fprintf(stderr, "relay: PORT %u leaves no room for the "
			    "default tunnel range; give --ports\n", port);
			usage_line();
			return EX_USAGE_;
		}
		cfg.port_lo = port + 1;
		cfg.port_hi = port + 20;
	}
	if (net_resolve(cfg.listen_host, 0, &cfg.listen_addr, &cfg.listen_len,
	    &why) == -1) {
		fprintf(stderr, "relay: cannot use listen address '%s': %s\n",
		    cfg.listen_host, why);
		usage_line();
		return EX_USAGE_;
	}
	if (cfg.advertise[0] == '\0') {
		const char *h = cfg.listen_host;
		/* Backends must be told an address they can dial. */
		if (strcmp(h, "0.0.0.0") == 0)
			h = "127.0.0.1";
		else if (strcmp(h, "::") == 0)
			h = "::1";
		snprintf(cfg.advertise, sizeof(cfg.advertise), "%s", h);
	}
	if (cfg.user[0] != '\0') {
		struct passwd *pw = getpwnam(cfg.user);
		if (pw == NULL) {
			fprintf(stderr, "relay: unknown user '%s'\n", cfg.user);
			usage_line();
			return EX_USAGE_;
		}
		cfg.uid = pw->pw_uid;
		cfg.gid = pw->pw_gid;
		if (geteuid() != 0 && geteuid() != cfg.uid) {
			fprintf(stderr, "relay: --user needs the relay to be "
			    "started as root\n");
			return EX_USAGE_;
		}
	} else {
		cfg.uid = geteuid();
		cfg.gid = getegid();
	}
	/*
	 * Workers get an identity of their own when one is given or set up
	 * (the user relay-worker), so that a worker in an attacker's hands
	 * cannot signal or trace the master or another tunnel's worker.  To
	 * start workers as another user the master keeps CAP_SETUID,
	 * CAP_SETGID and CAP_KILL (to end them); see master.c.
	 */
	caps = SANDBOX_CAP(CAP_SETUID) | SANDBOX_CAP(CAP_SETGID) |
	    SANDBOX_CAP(CAP_KILL);
	if (worker_user != NULL) {
		if (parse_identity(worker_user, &cfg.worker_uid,
		    &cfg.worker_gid) == -1)
			return bad_value("--worker-user", worker_user);
		if (cfg.worker_uid == 0) {
			fprintf(stderr, "relay: --worker-user must not be "
			    "root\n");
			usage_line();
			return EX_USAGE_;
		}
		if ((cfg.worker_uid != cfg.uid || cfg.worker_gid != cfg.gid) &&
		    geteuid() != 0 && !sandbox_have_caps(caps)) {
			fprintf(stderr, "relay: --worker-user needs the relay to "
			    "be started as root or with CAP_SETUID, CAP_SETGID "
			    "and CAP_KILL\n");
			return EX_USAGE_;
		}
		snprintf(cfg.worker_user, sizeof(cfg.worker_user), "%s",
		    worker_user);
	} else if (parse_identity(RELAY_WORKER_USER, &cfg.worker_uid,
	    &cfg.worker_gid) == 0 && cfg.worker_uid != 0 &&
	    (geteuid() == 0 || sandbox_have_caps(caps)))
		snprintf(cfg.worker_user, sizeof(cfg.worker_user), "%s",
		    RELAY_WORKER_USER);
	if (cfg.worker_user[0] == '\0') {
		/* As the master: its --user, or as started. */
		snprintf(cfg.worker_user, sizeof(cfg.worker_user), "%s",
		    cfg.user);
		cfg.worker_uid = cfg.uid;
		cfg.worker_gid = cfg.gid;
	}
	if (stats_group != NULL &&
	    parse_group(stats_group, &cfg.stats_gid) == -1)
		return bad_value("--stats-group", stats_group);
	if (cfg.secret_file[0] != '\0') {
		if (auth_load_secret(cfg.secret_file, cfg.secret,
		    sizeof(cfg.secret), &cfg.secret_len, &why) == -1) {
			fprintf(stderr, "relay: %s\n", why);
			return EX_USAGE_;
		}
		keys_psk(cfg.psk, cfg.secret, cfg.secret_len);
		explicit_bzero(cfg.secret, sizeof(cfg.secret));
		cfg.secret_len = 0;
		cfg.has_psk = 1;
	}
	if ((cfg.key_file[0] != '\0') != (cfg.authkeys_file[0] != '\0')) {
		fprintf(stderr, "relay: --key and --authorized-keys go "
		    "together\n");
		return EX_USAGE_;
	}
	if (cfg.key_file[0] != '\0') {
		char	 kwhy[KEYS_ERR_MAX];

		if (keys_load_private(cfg.key_file, cfg.key_priv, kwhy,
		    sizeof(kwhy)) == -1) {
			fprintf(stderr, "relay: %s\n", kwhy);
			return EX_USAGE_;
		}
		crypto_x25519_base(cfg.key_pub, cfg.key_priv);
		cfg.has_key = 1;
		if (master_load_authkeys(&cfg, kwhy, sizeof(kwhy)) == -1) {
			fprintf(stderr, "relay: %s\n", kwhy);
			return EX_USAGE_;
		}
	}
	cfg.encrypted_only = cfg.has_key || cfg.has_psk;
	log_init("master", level);
	raise_nofile();
	return master_main(&cfg);
}
