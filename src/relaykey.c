/*
 * relaykey: make and inspect the static keys of relay's encrypted
 * sessions (keys.h has the formats).
 *
 *	relaykey generate FILE		a new private key in FILE, the
 *					public key on stdout
 *	relaykey public FILE		the public key of a private key file
 *	relaykey fingerprint KEY|FILE	SHA256:... of a public key (or of the
 *					public key of a private key file)
 *
 * The private key is never printed and every buffer that held it is wiped.
 */
#include <sys/stat.h>

#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto.h"
#include "keys.h"

#ifndef RELAY_VERSION
#error "RELAY_VERSION comes from the Makefile (VERSION file)"
#endif

#define EXIT_USAGE	64
#define EXIT_UNAVAIL	69
#define EXIT_SOFTWARE	70

static const char	*progname = "relaykey";

static void	 usage_error(const char *, ...)
		    __attribute__((format(printf, 1, 2), noreturn));

static void
usage_error(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "%s: ", progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nusage: %s generate FILE | public FILE | "
	    "fingerprint PUBKEY|FILE\n", progname);
	exit(EXIT_USAGE);
}

static void
help(void)
{
	printf(
"usage: %s generate FILE\n"
"       %s public FILE\n"
"       %s fingerprint PUBKEY|FILE\n"
"Make and inspect the static keys of relay's encrypted sessions.\n"
"\n"
"  generate FILE       write a new private key into FILE (created with mode\n"
"                      0600; an existing FILE is never overwritten) and\n"
"                      print its public key\n"
"  public FILE         print the public key of the private key in FILE\n"
"  fingerprint PUBKEY|FILE\n"
"                      print the fingerprint (SHA256:...) of a public key,\n"
"                      or of the public key of a private key file\n"
"\n"
"Keys are 44 characters of base64.  A private key file must be a regular\n"
"file of the user running the command, mode 0600 or stricter.\n"
"\n"
"  -h, --help          print this help and exit\n"
"  -V, --version       print the version and exit\n"
"\n"
"Exit status: 0 success, 64 usage error, 69 unusable key file,\n"
"70 internal error.\n", progname, progname, progname);
}

/* stdout must reach its reader: a failed write is an error (exit 70). */
static int
finish_output(void)
{
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "%s: cannot write the output: %s\n", progname,
		    strerror(errno));
		return EXIT_SOFTWARE;
	}
	return 0;
}

static int
cmd_generate(const char *path)
{
	uint8_t		 priv[KEYS_LEN], pub[KEYS_LEN];
	char		 b64[KEYS_B64_LEN + 1], why[KEYS_ERR_MAX];

	if (crypto_keypair(pub, priv) == -1) {
		fprintf(stderr, "%s: no random bytes from the kernel: %s\n",
		    progname, strerror(errno));
		return EXIT_SOFTWARE;
	}
	if (keys_write_private(path, priv, why, sizeof(why)) == -1) {
		crypto_wipe(priv, sizeof(priv));
		fprintf(stderr, "%s: %s\n", progname, why);
		return EXIT_UNAVAIL;
	}
	crypto_wipe(priv, sizeof(priv));
	keys_b64_encode(b64, pub);
	printf("%s\n", b64);
	return finish_output();
}

/* The public key of the private key file at path, or an exit status. */
static int
public_of(const char *path, uint8_t pub[KEYS_LEN])
{
	uint8_t		 priv[KEYS_LEN];
	char		 why[KEYS_ERR_MAX];

	if (keys_load_private(path, priv, why, sizeof(why)) == -1) {
		fprintf(stderr, "%s: %s\n", progname, why);
		return EXIT_UNAVAIL;
	}
	crypto_x25519_base(pub, priv);
	crypto_wipe(priv, sizeof(priv));
	return 0;
}

static int
cmd_public(const char *path)
{
	uint8_t		 pub[KEYS_LEN];
	char		 b64[KEYS_B64_LEN + 1];
	int		 r;

	if ((r = public_of(path, pub)) != 0)
		return r;
	keys_b64_encode(b64, pub);
	printf("%s\n", b64);
	return finish_output();
}

static int
cmd_fingerprint(const char *arg)
{
	struct stat	 sb;
	uint8_t		 pub[KEYS_LEN];
	char		 fp[KEYS_FP_LEN + 1];
	int		 r;

	/* A valid key is taken as one, even if a file has that name. */
	if (keys_b64_decode(pub, arg, strlen(arg)) == -1) {
		if (lstat(arg, &sb) == -1 && errno == ENOENT)
			usage_error("'%s' is neither a public key (44 base64 "
			    "characters) nor a file", arg);
		if ((r = public_of(arg, pub)) != 0)
			return r;
	}
	keys_fingerprint(fp, pub);
	printf("%s\n", fp);
	return finish_output();
}

int
main(int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "help",	no_argument,		NULL, 'h' },
		{ "version",	no_argument,		NULL, 'V' },
		{ NULL,		0,			NULL, 0 }
	};
	const char	*cmd;
	int		 ch;

	opterr = 0;
	/* '+': options end at the command, so FILE may start with '-'. */
	while ((ch = getopt_long(argc, argv, "+hV", longopts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			help();
			return finish_output();
		case 'V':
			printf("%s %s\n", progname, RELAY_VERSION);
			return finish_output();
		default:
			usage_error("unknown option '%s'", argv[optind - 1]);
		}
	}
	if (optind >= argc)
		usage_error("no command");
	cmd = argv[optind++];
	if (strcmp(cmd, "generate") != 0 && strcmp(cmd, "public") != 0 &&
	    strcmp(cmd, "fingerprint") != 0)
		usage_error("unknown command '%s'", cmd);
	if (argc - optind != 1)
		usage_error("%s takes one argument", cmd);
	if (argv[optind][0] == '\0')
		usage_error("empty argument");
	if (strcmp(cmd, "generate") == 0)
		return cmd_generate(argv[optind]);
	if (strcmp(cmd, "public") == 0)
		return cmd_public(argv[optind]);
	return cmd_fingerprint(argv[optind]);
}
