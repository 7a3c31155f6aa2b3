/*
 * relay: the public side.  Parses the command line and hands over to the
 * master process.
 */
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
#include "log.h"
#include "mux.h"
#include "net.h"
#include "relay.h"

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
"      --register-timeout MS  a backend must register within MS\n"
"                             (default 10000)\n"
"      --max-clients N        concurrent clients per backend (default 1024)\n"
"      --max-backends N       registered backends (default 256)\n"
"      --max-streams N        yamux streams per session (default 65536)\n"
"      --max-unacked N        streams a backend opened that are not yet\n"
"                             accepted (default 256)\n"
"      --max-pending N        connections that have not finished\n"
"                             registering (default 64)\n"
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
"      --secret-file FILE     require registrations to prove the shared\n"
"                             secret in FILE (mode 600; default: none)\n"
"      --user USER            workers drop to USER after receiving their\n"
"                             descriptors (default: stay as started)\n"
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
	OPT_SESSIONBUF, OPT_STREAMRATE, OPT_SECRET, OPT_USER, OPT_PIDFILE,
	OPT_LOGFILE, OPT_DRAIN, OPT_WINDOWMAX, OPT_WINDOWBUDGET,
};

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
	if (c->user[0] == '\0' || (getuid() == c->uid && geteuid() == c->uid))
		return 0;
	if (setgroups(1, &c->gid) == -1 || setgid(c->gid) == -1 ||
	    setuid(c->uid) == -1)
		return -1;
	/* Make sure there is no way back. */
	if (setuid(0) != -1 || getuid() != c->uid || geteuid() != c->uid)
		return -1;
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
		{ "user",		required_argument, NULL, OPT_USER },
		{ "daemon",		no_argument,	   NULL, 'd' },
		{ "pidfile",		required_argument, NULL, OPT_PIDFILE },
		{ "log-file",		required_argument, NULL, OPT_LOGFILE },
		{ "drain-timeout",	required_argument, NULL, OPT_DRAIN },
		{ "verbose",		no_argument,	   NULL, 'v' },
		{ "quiet",		no_argument,	   NULL, 'q' },
		{ "help",		no_argument,	   NULL, 'h' },
		{ "version",		no_argument,	   NULL, 'V' },
		{ NULL, 0, NULL, 0 }
	};
	static struct relay_config cfg;
	const char	*ports = NULL, *why;
	unsigned long	 v;
	unsigned	 port;
	int		 ch, level = LOG_LVL_INFO;

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
			    strlen(optarg) >= sizeof(cfg.advertise))
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
			cfg.max_pending = v;
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
	}
	if (cfg.secret_file[0] != '\0' &&
	    auth_load_secret(cfg.secret_file, cfg.secret, sizeof(cfg.secret),
	    &cfg.secret_len, &why) == -1) {
		fprintf(stderr, "relay: %s\n", why);
		return EX_USAGE_;
	}
	log_init("master", level);
	raise_nofile();
	return master_main(&cfg);
}
