/*
 * relay: the public side.  Parses the command line and hands over to the
 * master process.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

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
"      --linger SECS          keep a named backend's tunnel port open this\n"
"                             long after its session ends (default 30)\n"
"      --window BYTES         per-stream receive window (default 262144)\n"
"      --buffer BYTES         I/O chunk size (default 262144)\n"
"      --stats NAME           shared-memory stats segment\n"
"                             (default /relay.PORT)\n"
"  -v, --verbose              log more (debug)\n"
"  -q, --quiet                log warnings only\n"
"  -h, --help                 this help\n"
"  -V, --version              print the version\n");
}

static int
parse_uint(const char *s, unsigned long lo, unsigned long hi,
    unsigned long *out)
{
	char		*end;
	unsigned long	 v;

	if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return -1;
	*out = v;
	return 0;
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
	OPT_WINDOW, OPT_BUFFER, OPT_STATS,
};

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
		{ "buffer",		required_argument, NULL, OPT_BUFFER },
		{ "stats",		required_argument, NULL, OPT_STATS },
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
	cfg.buffer = 256 * 1024;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, ":l:r:a:vqhV", longopts,
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
			if (parse_uint(optarg, 0, 64, &v) == -1)
				return bad_value("--prefork", optarg);
			cfg.prefork = v;
			break;
		case OPT_ALIVE:
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				return bad_value("--alive-timeout", optarg);
			cfg.alive_timeout_ms = v;
			break;
		case OPT_KEEPALIVE:
			if (parse_uint(optarg, 0, 86400, &v) == -1)
				return bad_value("--keepalive", optarg);
			cfg.keepalive_s = v;
			break;
		case OPT_REGTIMEOUT:
			if (parse_uint(optarg, 1, 3600000, &v) == -1)
				return bad_value("--register-timeout", optarg);
			cfg.register_timeout_ms = v;
			break;
		case OPT_MAXCLIENTS:
			if (parse_uint(optarg, 1, 1000000, &v) == -1)
				return bad_value("--max-clients", optarg);
			cfg.max_clients = v;
			break;
		case OPT_MAXBACKENDS:
			if (parse_uint(optarg, 1, 100000, &v) == -1)
				return bad_value("--max-backends", optarg);
			cfg.max_backends = v;
			break;
		case OPT_MAXSTREAMS:
			if (parse_uint(optarg, 1, 1000000, &v) == -1)
				return bad_value("--max-streams", optarg);
			cfg.max_streams = v;
			break;
		case OPT_LINGER:
			if (parse_uint(optarg, 0, 86400, &v) == -1)
				return bad_value("--linger", optarg);
			cfg.linger_s = v;
			break;
		case OPT_WINDOW:
			if (parse_uint(optarg, MUX_INITIAL_WINDOW,
			    64u * 1024 * 1024, &v) == -1)
				return bad_value("--window", optarg);
			cfg.window = v;
			break;
		case OPT_BUFFER:
			if (parse_uint(optarg, 1024, 16u * 1024 * 1024,
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
		case 'v':
			level = LOG_LVL_DEBUG;
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
		if (parse_uint(lo, 1, 65535, &a) == -1 ||
		    parse_uint(dash + 1, 1, 65535, &b) == -1 || a > b)
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
	log_init("master", level);
	raise_nofile();
	return master_main(&cfg);
}
