/*
 * test_keys: base64 keys (known encodings, every kind of bad input),
 * fingerprints and the PSK (values computed with Python's base64, hashlib),
 * private key files (every refusal: link, mode, owner, type, contents) and
 * the authorized-keys file (the permission rules and every parse error,
 * with its line).  Files live in a temporary directory removed at exit.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdint.h>
#include <unistd.h>

#include "crypto.h"
#include "keys.h"
#include "unit.h"

#define ALICE_PUB	"hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo="
#define COUNTING	"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="

static char	 tmpdir[64];

static int
rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
cleanup(void)
{
	if (tmpdir[0] != '\0')
		nftw(tmpdir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
}

static const char *
path_of(const char *name)
{
	static char	 p[2][128];
	static int	 i;

	i ^= 1;
	snprintf(p[i], sizeof(p[i]), "%s/%s", tmpdir, name);
	return p[i];
}

static int
write_file(const char *name, const char *data, size_t len, mode_t mode)
{
	const char	*p = path_of(name);
	int		 fd;

	unlink(p);
	if ((fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0600)) == -1)
		return -1;
	if (write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) == -1) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static void
test_b64_known(void)
{
	uint8_t		 k[32], d[32];
	char		 s[KEYS_B64_LEN + 1];
	size_t		 i;

	for (i = 0; i < 32; i++)
		k[i] = (uint8_t)i;
	keys_b64_encode(s, k);
	CHECK(strcmp(s, COUNTING) == 0);
	CHECK(keys_b64_decode(d, s, strlen(s)) == 0);
	CHECK(memcmp(d, k, 32) == 0);
	memset(k, 0, 32);
	keys_b64_encode(s, k);
	CHECK(strcmp(s, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=") == 0);
	memset(k, 0xff, 32);
	keys_b64_encode(s, k);
	CHECK(strcmp(s, "//////////////////////////////////////////8=") == 0);
	CHECK(keys_b64_decode(d, ALICE_PUB, 44) == 0);
	keys_b64_encode(s, d);
	CHECK(strcmp(s, ALICE_PUB) == 0);
}

/* Random keys round-trip, and every 6-bit value meets every character. */
static void
test_b64_roundtrip(void)
{
	uint8_t		 k[32], d[32];
	char		 s[KEYS_B64_LEN + 1];
	int		 i;

	for (i = 0; i < 2000; i++) {
		crypto_random(k, 32);
		keys_b64_encode(s, k);
		CHECK_EQ(strlen(s), 44);
		CHECK(keys_b64_decode(d, s, 44) == 0);
		CHECK(memcmp(d, k, 32) == 0);
	}
}

static void
test_b64_bad(void)
{
	static const char	 alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
				    "abcdefghijklmnopqrstuvwxyz0123456789+/";
	uint8_t			 d[32];
	char			 s[64];
	int			 i, c;

	CHECK(keys_b64_decode(d, ALICE_PUB, 43) == -1);
	CHECK(keys_b64_decode(d, ALICE_PUB "=", 45) == -1);
	CHECK(keys_b64_decode(d, "", 0) == -1);
	/* every byte value at every position: only the alphabet passes */
	for (i = 0; i < 43; i++) {
		for (c = 0; c < 256; c++) {
			memcpy(s, COUNTING, 44);
			s[i] = (char)c;
			if (i == 42) {
				/* the 43rd needs its low two bits zero */
				const char *p = memchr(alphabet, c, 64);
				int ok = c != 0 && p != NULL &&
				    ((p - alphabet) & 3) == 0;

				CHECK_EQ(keys_b64_decode(d, s, 44) == 0, ok);
				continue;
			}
			CHECK_EQ(keys_b64_decode(d, s, 44) == 0,
			    c != 0 && memchr(alphabet, c, 64) != NULL);
		}
	}
	memcpy(s, COUNTING, 44);
	s[43] = 'A';
	CHECK(keys_b64_decode(d, s, 44) == -1);
	CHECK(keys_b64_decode(d, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=",
	    44) == -1);
	CHECK(keys_b64_decode(d, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==",
	    44) == -1);
	/* a failed decode leaves no partial key behind */
	memset(d, 0x55, sizeof(d));
	CHECK(keys_b64_decode(d, "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA!AAAAAA=",
	    44) == -1);
	for (i = 0; i < 32; i++)
		CHECK(d[i] == 0);
}

static void
test_fingerprint(void)
{
	uint8_t		 k[32];
	char		 fp[KEYS_FP_LEN + 1];

	CHECK(keys_b64_decode(k, ALICE_PUB, 44) == 0);
	keys_fingerprint(fp, k);
	CHECK(strcmp(fp, "SHA256:MAyclgO5Kks57TlYv5JAEUgE20/TcwEsDKR0MtY0Ja4")
	    == 0);
	CHECK_EQ(strlen(fp), KEYS_FP_LEN);
}

static void
test_psk(void)
{
	static const char	 secret[] = "correct horse battery staple";
	static const uint8_t	 want[32] = {
		0xa5, 0xf5, 0x56, 0x8f, 0xe1, 0x01, 0x89, 0x04,
		0xfc, 0xa0, 0xf2, 0xd0, 0xe1, 0x86, 0x30, 0xe8,
		0xae, 0x0e, 0x54, 0xcd, 0x75, 0xf4, 0xd5, 0x78,
		0x83, 0x8e, 0xed, 0xca, 0xad, 0x80, 0x96, 0x28
	};
	uint8_t			 psk[32];

	keys_psk(psk, (const uint8_t *)secret, strlen(secret));
	CHECK(memcmp(psk, want, 32) == 0);
}

static void
test_private_roundtrip(void)
{
	struct stat	 sb;
	uint8_t		 k[32], d[32];
	char		 why[KEYS_ERR_MAX], line[64];
	int		 fd;

	crypto_random(k, 32);
	CHECK(keys_write_private(path_of("k1"), k, why, sizeof(why)) == 0);
	CHECK(stat(path_of("k1"), &sb) == 0);
	CHECK_EQ(sb.st_mode & 0777, 0600);
	CHECK_EQ(sb.st_size, 45);
	CHECK((fd = open(path_of("k1"), O_RDONLY)) != -1);
	CHECK_EQ(read(fd, line, sizeof(line)), 45);
	close(fd);
	CHECK(line[44] == '\n');
	CHECK(keys_load_private(path_of("k1"), d, why, sizeof(why)) == 0);
	CHECK(memcmp(d, k, 32) == 0);
	/* never over an existing file */
	CHECK(keys_write_private(path_of("k1"), k, why, sizeof(why)) == -1);
	CHECK(strstr(why, "exists") != NULL);
	/* nor through a link to a new one */
	CHECK(symlink(path_of("nowhere"), path_of("k1link")) == 0);
	CHECK(keys_write_private(path_of("k1link"), k, why, sizeof(why)) ==
	    -1);
	CHECK(access(path_of("nowhere"), F_OK) == -1);
	/* a missing directory: an error naming the file */
	CHECK(keys_write_private(path_of("no/such"), k, why, sizeof(why)) ==
	    -1);
	CHECK(strstr(why, "cannot be created") != NULL);
	/* with a restrictive umask the file is still 0600 and readable */
	umask(0277);
	CHECK(keys_write_private(path_of("k2"), k, why, sizeof(why)) == 0);
	umask(022);
	CHECK(stat(path_of("k2"), &sb) == 0);
	CHECK_EQ(sb.st_mode & 0777, 0600);
}

/* Loading refuses each kind of bad file with a reason naming it. */
static int
load_fails(const char *name, const char *reason)
{
	uint8_t		 d[32];
	char		 why[KEYS_ERR_MAX];
	size_t		 i;

	memset(d, 0x55, sizeof(d));
	if (keys_load_private(path_of(name), d, why, sizeof(why)) != -1)
		return 0;
	for (i = 0; i < 32; i++)
		if (d[i] != 0)
			return 0;
	if (strstr(why, name) == NULL || strstr(why, reason) == NULL) {
		fprintf(stderr, "  %s: \"%s\"\n", name, why);
		return 0;
	}
	return 1;
}

static void
test_private_refusals(void)
{
	static const char	 key[] = COUNTING "\n";

	CHECK(write_file("good", key, 45, 0600) == 0);
	CHECK(write_file("nonl", key, 44, 0600) == 0);
	CHECK(keys_load_private(path_of("good"), (uint8_t[32]){ 0 },
	    (char[KEYS_ERR_MAX]){ 0 }, KEYS_ERR_MAX) == 0);
	CHECK(keys_load_private(path_of("nonl"), (uint8_t[32]){ 0 },
	    (char[KEYS_ERR_MAX]){ 0 }, KEYS_ERR_MAX) == 0);
	CHECK(write_file("g644", key, 45, 0644) == 0);
	CHECK(load_fails("g644", "group or others (chmod 600)"));
	CHECK(write_file("g640", key, 45, 0640) == 0);
	CHECK(load_fails("g640", "group or others"));
	CHECK(write_file("g602", key, 45, 0602) == 0);
	CHECK(load_fails("g602", "group or others"));
	CHECK(symlink(path_of("good"), path_of("link")) == 0);
	CHECK(load_fails("link", "symbolic link"));
	CHECK(mkdir(path_of("dir"), 0700) == 0);
	CHECK(load_fails("dir", "not a regular file"));
	CHECK(mkfifo(path_of("fifo"), 0600) == 0);
	CHECK(load_fails("fifo", "not a regular file"));
	CHECK(load_fails("missing", "cannot be opened"));
	CHECK(write_file("twonl", COUNTING "\n\n", 46, 0600) == 0);
	CHECK(load_fails("twonl", "exactly one key"));
	CHECK(write_file("crlf", COUNTING "\r\n", 46, 0600) == 0);
	CHECK(load_fails("crlf", "exactly one key"));
	CHECK(write_file("space", " " COUNTING "\n", 46, 0600) == 0);
	CHECK(load_fails("space", "exactly one key"));
	CHECK(write_file("short", COUNTING, 43, 0600) == 0);
	CHECK(load_fails("short", "exactly one key"));
	CHECK(write_file("two", COUNTING "\n" COUNTING "\n", 90, 0600) == 0);
	CHECK(load_fails("two", "exactly one key"));
	CHECK(write_file("empty", "", 0, 0600) == 0);
	CHECK(load_fails("empty", "exactly one key"));
	CHECK(write_file("bad",
	    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh!=\n", 45, 0600) == 0);
	CHECK(load_fails("bad", "exactly one key"));
	/* owned by someone else (needs root to arrange) */
	if (geteuid() == 0) {
		CHECK(write_file("theirs", key, 45, 0600) == 0);
		CHECK(chown(path_of("theirs"), 65534, 65534) == 0);
		CHECK(load_fails("theirs", "owned by uid 65534"));
	} else
		printf("  (not root: the foreign-owner case is skipped)\n");
}

/* An authorized-keys file used by the permission tests below. */
static const char auth_text[] =
    "# backends of the relay\n"
    "\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= name=web name=api\n"
    "   # indented comment\n"
    ALICE_PUB " port=9005 # alice, unnamed only\n"
    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\tname=*\tports=9010-9019\r\n"
    "//////////////////////////////////////////8= name=db";

static void
test_auth_permit(void)
{
	struct keys_auth		*a;
	const struct keys_auth_entry	*e;
	uint8_t				 web[32], alice[32], any[32], db[32];
	uint8_t				 stranger[32];
	const char			*why;
	char				 err[KEYS_ERR_MAX];

	a = keys_auth_parse(auth_text, strlen(auth_text), "auth", err,
	    sizeof(err));
	CHECK(a != NULL);
	CHECK_EQ(a->ka_nent, 4);
	CHECK_EQ(a->ka_nnames, 3);
	keys_b64_decode(web, COUNTING, 44);
	keys_b64_decode(alice, ALICE_PUB, 44);
	memset(any, 0, 32);
	memset(db, 0xff, 32);
	memset(stranger, 0x42, 32);

	CHECK((e = keys_auth_find(a, web)) != NULL);
	CHECK_EQ(e->ke_line, 3);
	CHECK_EQ(e->ke_nnames, 2);
	CHECK(keys_auth_find(a, stranger) == NULL);
	CHECK(!keys_auth_permit(a, stranger, NULL, 0, &why));
	CHECK(strcmp(why, "key not authorized") == 0);
	/* web: its two names, any port, never unnamed, never db */
	CHECK(keys_auth_permit(a, web, "web", 0, &why));
	CHECK(keys_auth_permit(a, web, "api", 12345, &why));
	CHECK(!keys_auth_permit(a, web, NULL, 0, &why));
	CHECK(strcmp(why, "this key may only register with a name") == 0);
	CHECK(!keys_auth_permit(a, web, "", 0, &why));
	CHECK(!keys_auth_permit(a, web, "db", 0, &why));
	CHECK(strcmp(why, "name not allowed for this key") == 0);
	CHECK(!keys_auth_permit(a, web, "other", 0, &why));
	/* alice: unnamed only, port 9005 or any */
	CHECK(keys_auth_permit(a, alice, NULL, 0, &why));
	CHECK(keys_auth_permit(a, alice, "", 9005, &why));
	CHECK(!keys_auth_permit(a, alice, NULL, 9006, &why));
	CHECK(strcmp(why, "port not allowed for this key") == 0);
	CHECK(!keys_auth_permit(a, alice, "x", 9005, &why));
	CHECK((e = keys_auth_find(a, alice)) != NULL);
	CHECK(e->ke_port_lo == 9005 && e->ke_port_hi == 9005);
	/* any: every name no other line lists, in its port range */
	CHECK(keys_auth_permit(a, any, "x", 9010, &why));
	CHECK(keys_auth_permit(a, any, "y", 9019, &why));
	CHECK(keys_auth_permit(a, any, "z", 0, &why));
	CHECK(!keys_auth_permit(a, any, "z", 9020, &why));
	CHECK(!keys_auth_permit(a, any, "z", 9009, &why));
	CHECK(!keys_auth_permit(a, any, "web", 9010, &why));
	CHECK(!keys_auth_permit(a, any, "db", 9010, &why));
	CHECK(!keys_auth_permit(a, any, NULL, 9010, &why));
	/* the wildcard itself, or any invalid name, is nobody's */
	CHECK(!keys_auth_permit(a, any, "*", 9010, &why));
	CHECK(!keys_auth_permit(a, any, "a b", 9010, &why));
	CHECK(!keys_auth_permit(a, web, "web\n", 0, &why));
	/* db: the last line had no newline */
	CHECK(keys_auth_permit(a, db, "db", 1, &why));
	CHECK(!keys_auth_permit(a, db, "web", 1, &why));
	keys_auth_free(a);
	keys_auth_free(NULL);

	/* empty and comment-only files: nobody is authorized */
	CHECK((a = keys_auth_parse("", 0, "e", err, sizeof(err))) != NULL);
	CHECK(!keys_auth_permit(a, web, "web", 0, &why));
	keys_auth_free(a);
	CHECK((a = keys_auth_parse("#\n \n\t\n", 6, "e", err,
	    sizeof(err))) != NULL);
	CHECK_EQ(a->ka_nent, 0);
	keys_auth_free(a);
}

/* Each refused file gives FILE:LINE: and the reason. */
static int
parse_fails(const char *text, const char *want)
{
	struct keys_auth	*a;
	char			 err[KEYS_ERR_MAX];

	memset(err, 0, sizeof(err));
	if ((a = keys_auth_parse(text, strlen(text), "keys", err,
	    sizeof(err))) != NULL) {
		keys_auth_free(a);
		fprintf(stderr, "  accepted: %s\n", text);
		return 0;
	}
	if (strncmp(err, want, strlen(want)) != 0) {
		fprintf(stderr, "  got \"%s\", want \"%s...\"\n", err, want);
		return 0;
	}
	return 1;
}

#define K1	COUNTING
#define K2	ALICE_PUB

static void
test_auth_errors(void)
{
	CHECK(parse_fails("# c\n" K1 "x\n", "keys:2: bad public key \""));
	CHECK(parse_fails("garbage\n", "keys:1: bad public key \"garbage\""));
	CHECK(parse_fails(K1 "\n" K2 "\n" K1 " name=a\n",
	    "keys:3: key already listed on line 1"));
	CHECK(parse_fails(K1 " name=a\n" K2 " name=b name=a\n",
	    "keys:2: name a already listed on line 1"));
	CHECK(parse_fails(K1 " name=a name=a\n", "keys:1: name a given twice"));
	CHECK(parse_fails(K1 " name=* name=*\n", "keys:1: name=* given twice"));
	CHECK(parse_fails(K1 " nam=a\n", "keys:1: unknown field \"nam\""));
	CHECK(parse_fails(K1 " extra\n", "keys:1: unknown field \"extra\""));
	CHECK(parse_fails(K1 " name=\n", "keys:1: bad name \"\""));
	CHECK(parse_fails(K1 " name=a/b\n", "keys:1: bad name \"a/b\""));
	CHECK(parse_fails(K1 " name=a*\n", "keys:1: bad name"));
	CHECK(parse_fails(K1 " name=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
	    "aaaaaaaaaaaaaaaaaaaaa\n", "keys:1: bad name"));
	CHECK(parse_fails(K1 " port=0\n", "keys:1: bad port \"0\""));
	CHECK(parse_fails(K1 " port=65536\n", "keys:1: bad port"));
	CHECK(parse_fails(K1 " port=080\n", "keys:1: bad port"));
	CHECK(parse_fails(K1 " port=-1\n", "keys:1: bad port"));
	CHECK(parse_fails(K1 " port=\n", "keys:1: bad port"));
	CHECK(parse_fails(K1 " port=1 port=2\n", "keys:1: port given twice"));
	CHECK(parse_fails(K1 " port=1 ports=2-3\n",
	    "keys:1: port given twice"));
	CHECK(parse_fails(K1 " ports=5-4\n", "keys:1: bad port range \"5-4\""));
	CHECK(parse_fails(K1 " ports=5\n", "keys:1: bad port range"));
	CHECK(parse_fails(K1 " ports=5-\n", "keys:1: bad port range"));
	CHECK(parse_fails(K1 " ports=-5\n", "keys:1: bad port range"));
	CHECK(parse_fails(K1 " ports=1-2-3\n", "keys:1: bad port range"));
	CHECK(parse_fails(K1 " ports=1-70000\n", "keys:1: bad port range"));
	/* a comment must start a field */
	CHECK(parse_fails(K1 " name=a#b\n", "keys:1: bad name"));
	/* an unprintable field is quoted safely */
	CHECK(parse_fails(K1 " \x1b[31m=1\n",
	    "keys:1: unknown field \"?[31m\""));
	/* a NUL byte, with its line */
	{
		static const char	 t[] = "#\n#\n" K1 "\0 name=a\n";
		char			 err[KEYS_ERR_MAX];

		CHECK(keys_auth_parse(t, sizeof(t) - 1, "keys", err,
		    sizeof(err)) == NULL);
		CHECK(strcmp(err, "keys:3: NUL byte in the file") == 0);
	}
	/* ranges and single ports that are fine */
	{
		struct keys_auth	*a;
		char			 err[KEYS_ERR_MAX];
		const char		*t = K1 " ports=1-65535\n" K2
					    " port=65535 name=x name=*\n";

		CHECK((a = keys_auth_parse(t, strlen(t), "k", err,
		    sizeof(err))) != NULL);
		keys_auth_free(a);
	}
}

static void
test_auth_load(void)
{
	struct keys_auth	*a;
	char			 err[KEYS_ERR_MAX];
	static char		 big[KEYS_AUTH_FILE_MAX + 2];

	CHECK(write_file("auth", auth_text, strlen(auth_text), 0644) == 0);
	CHECK((a = keys_auth_load(path_of("auth"), err, sizeof(err))) !=
	    NULL);
	CHECK_EQ(a->ka_nent, 4);
	keys_auth_free(a);
	CHECK(write_file("authw", auth_text, strlen(auth_text), 0664) == 0);
	CHECK(keys_auth_load(path_of("authw"), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "must not be writable by group or others") != NULL);
	CHECK(keys_auth_load(path_of("nothere"), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "cannot be opened") != NULL);
	CHECK(keys_auth_load(tmpdir, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "not a regular file") != NULL);
	CHECK(write_file("authbad", K1 " port=x\n", 52, 0644) == 0);
	CHECK(keys_auth_load(path_of("authbad"), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "authbad:1: bad port") != NULL);
	memset(big, '#', sizeof(big));
	CHECK(write_file("authbig", big, KEYS_AUTH_FILE_MAX + 1, 0644) == 0);
	CHECK(keys_auth_load(path_of("authbig"), err, sizeof(err)) == NULL);
	CHECK(strstr(err, "is larger than") != NULL);
	CHECK(write_file("authmax", big, KEYS_AUTH_FILE_MAX, 0644) == 0);
	CHECK((a = keys_auth_load(path_of("authmax"), err, sizeof(err))) !=
	    NULL);
	keys_auth_free(a);
}

int
main(void)
{
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_keys.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 70;
	}
	atexit(cleanup);
	RUN(test_b64_known);
	RUN(test_b64_roundtrip);
	RUN(test_b64_bad);
	RUN(test_fingerprint);
	RUN(test_psk);
	RUN(test_private_roundtrip);
	RUN(test_private_refusals);
	RUN(test_auth_permit);
	RUN(test_auth_errors);
	RUN(test_auth_load);
	UNIT_END();
}
