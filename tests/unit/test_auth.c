/*
 * test_auth: SHA-256 (FIPS 180-4 vectors, streaming) and the secret file.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#include "auth.h"
#include "unit.h"

/* Hex of a digest, for comparing against the published vectors. */
static const char *
hexof(const uint8_t p[SHA256_LEN])
{
	static const char	 digits[] = "0123456789abcdef";
	static char		 buf[2 * SHA256_LEN + 1];
	size_t			 i;

	for (i = 0; i < SHA256_LEN; i++) {
		buf[2 * i] = digits[p[i] >> 4];
		buf[2 * i + 1] = digits[p[i] & 15];
	}
	buf[2 * i] = '\0';
	return buf;
}

static const char *
sha_hex(const void *p, size_t n)
{
	uint8_t		 d[SHA256_LEN];

	sha256(p, n, d);
	return hexof(d);
}

/* FIPS 180-4 examples (NIST CSRC "SHA256.pdf", SHA2 additional). */

static void
test_sha256_abc(void)
{
	CHECK(strcmp(sha_hex("abc", 3), "ba7816bf8f01cfea414140de5dae2223"
	    "b00361a396177a9cb410ff61f20015ad") == 0);
}

static void
test_sha256_empty(void)
{
	CHECK(strcmp(sha_hex("", 0), "e3b0c44298fc1c149afbf4c8996fb924"
	    "27ae41e4649b934ca495991b7852b855") == 0);
}

static void
test_sha256_448(void)
{
	const char	*m = "abcdbcdecdefdefgefghfghighijhijk"
	    "ijkljklmklmnlmnomnopnopq";

	CHECK_EQ(strlen(m), 56);
	CHECK(strcmp(sha_hex(m, strlen(m)), "248d6a61d20638b8e5c026930c3e6039"
	    "a33ce45964ff2167f6ecedd419db06c1") == 0);
}

static void
test_sha256_896(void)
{
	const char	*m = "abcdefghbcdefghicdefghijdefghijk"
	    "efghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqr"
	    "lmnopqrsmnopqrstnopqrstu";

	CHECK_EQ(strlen(m), 112);
	CHECK(strcmp(sha_hex(m, strlen(m)), "cf5b16a778af8380036ce59e7b049237"
	    "0b249b11e8f07a51afac45037afee9d1") == 0);
}

static void
test_sha256_million_a(void)
{
	struct sha256_ctx	 c;
	uint8_t			 chunk[1000], d[SHA256_LEN];
	int			 i;

	/* Fed in odd-sized pieces so the buffering is exercised too. */
	memset(chunk, 'a', sizeof(chunk));
	sha256_init(&c);
	for (i = 0; i < 1000; i++)
		sha256_update(&c, chunk, sizeof(chunk));
	sha256_final(&c, d);
	CHECK(strcmp(hexof(d), "cdc76e5c9914fb9281a1c7e284d73e67"
	    "f1809a48a497200e046d39ccc7112cd0") == 0);
}

static void
test_sha256_split(void)
{
	struct sha256_ctx	 c;
	uint8_t			 m[200], one[SHA256_LEN], d[SHA256_LEN];
	size_t			 i, j;

	for (i = 0; i < sizeof(m); i++)
		m[i] = (uint8_t)(i * 7 + 3);
	sha256(m, sizeof(m), one);
	for (i = 0; i <= sizeof(m); i++) {
		sha256_init(&c);
		sha256_update(&c, m, i);
		sha256_update(&c, m + i, sizeof(m) - i);
		sha256_final(&c, d);
		CHECK(memcmp(d, one, sizeof(d)) == 0);
	}
	/* Byte at a time, and three pieces around each block edge. */
	sha256_init(&c);
	for (i = 0; i < sizeof(m); i++)
		sha256_update(&c, m + i, 1);
	sha256_final(&c, d);
	CHECK(memcmp(d, one, sizeof(d)) == 0);
	for (i = 55; i <= 129; i++) {
		for (j = i; j <= 129; j += 9) {
			sha256_init(&c);
			sha256_update(&c, m, i);
			sha256_update(&c, m + i, j - i);
			sha256_update(&c, m + j, sizeof(m) - j);
			sha256_final(&c, d);
			CHECK(memcmp(d, one, sizeof(d)) == 0);
		}
	}
}

static void
test_sha256_padding_edges(void)
{
	/* 55, 56 and 64 bytes: the length fits, just misses, fills a block. */
	static const char *want[] = {
		"9f4390f8d30c2dd92ec9f095b65e2b9a"
		"e9b0a925a5258e241c9f1e910f734318",
		"b35439a4ac6f0948b6d6f9e3c6af0f5f"
		"590ce20f1bde7090ef7970686ec6738a",
		"ffe054fe7ae0cb6dc65c3af9b61d5209"
		"f439851db43d0ba5997337df154668eb",
	};
	static const size_t lens[] = { 55, 56, 64 };
	uint8_t		 m[64];
	size_t		 i;

	memset(m, 'a', sizeof(m));
	for (i = 0; i < 3; i++)
		CHECK(strcmp(sha_hex(m, lens[i]), want[i]) == 0);
}

/* The secret file. */

static char	 tmpdir[64];

static const char *
write_secret(const char *name, const char *data, size_t len, mode_t mode)
{
	static char	 path[128];
	int		 fd;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	unlink(path);
	if ((fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1)
		return NULL;
	if (write(fd, data, len) != (ssize_t)len || fchmod(fd, mode) == -1) {
		close(fd);
		return NULL;
	}
	close(fd);
	return path;
}

static void
test_secret_good(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len = 99;
	const char	*path, *why = NULL;

	CHECK((path = write_secret("good", "hunter2", 7, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 7);
	CHECK(memcmp(s, "hunter2", 7) == 0);
	/* 0400 is fine too: only group and other bits matter. */
	CHECK((path = write_secret("ro", "x", 1, 0400)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 1);
}

static void
test_secret_newline(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why;

	CHECK((path = write_secret("nl", "hunter2\n", 8, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 7);
	CHECK((path = write_secret("crlf", "hunter2\r\n", 9, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 7);
	CHECK(memcmp(s, "hunter2", 7) == 0);
	/* Only one newline goes; the rest is the secret. */
	CHECK((path = write_secret("nl2", "ab\n\n", 4, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 3);
	CHECK(memcmp(s, "ab\n", 3) == 0);
	/* Binary is allowed. */
	CHECK((path = write_secret("bin", "\0\1\2", 3, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 3);
}

static void
test_secret_mode(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;
	static const mode_t bad[] = { 0644, 0640, 0604, 0602, 0620, 0601 };
	size_t		 i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		CHECK((path = write_secret("open", "topsecret", 9, bad[i])) !=
		    NULL);
		why = NULL;
		CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
		CHECK(why != NULL);
		CHECK(strstr(why, "must not be accessible by group or others "
		    "(chmod 600)") != NULL);
		CHECK(strstr(why, path) != NULL);
		CHECK(strstr(why, "topsecret") == NULL);
	}
}

static void
test_secret_owner(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;

	if (geteuid() != 0) {
		printf("# skipped: needs root to give a file to another user\n");
		return;
	}
	CHECK((path = write_secret("foreign", "topsecret", 9, 0600)) != NULL);
	CHECK(chown(path, 65534, 65534) == 0);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(why != NULL && strstr(why, "belongs to uid 65534") != NULL);
	CHECK(strstr(why, "topsecret") == NULL);
	/* Root's own file: fine. */
	CHECK(chown(path, 0, 0) == 0);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, 9);
}

static void
test_secret_empty(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;

	CHECK((path = write_secret("empty", "", 0, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(why != NULL && strstr(why, "is empty") != NULL);
	CHECK((path = write_secret("nlonly", "\n", 1, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK((path = write_secret("crlfonly", "\r\n", 2, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
}

static void
test_secret_missing_or_odd(void)
{
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	char		 path[128];
	const char	*why = NULL;

	snprintf(path, sizeof(path), "%s/does-not-exist", tmpdir);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(why != NULL && strstr(why, "does-not-exist") != NULL);
	CHECK(strstr(why, "No such file") != NULL);
	/* A directory, and a FIFO (which must not hang the open). */
	CHECK_EQ(auth_load_secret(tmpdir, s, sizeof(s), &len, &why), -1);
	CHECK(strstr(why, "not a regular file") != NULL);
	snprintf(path, sizeof(path), "%s/fifo", tmpdir);
	unlink(path);
	CHECK_EQ(mkfifo(path, 0600), 0);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(strstr(why, "not a regular file") != NULL);
	unlink(path);
}

static void
test_secret_too_long(void)
{
	static char	 big[AUTH_SECRET_MAX + 3];
	uint8_t		 s[AUTH_SECRET_MAX];
	size_t		 len;
	const char	*path, *why = NULL;

	memset(big, 'k', sizeof(big));
	/* Exactly the cap, bare, with "\n" and with "\r\n": all fine. */
	CHECK((path = write_secret("cap", big, AUTH_SECRET_MAX, 0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX);
	big[AUTH_SECRET_MAX] = '\n';
	CHECK((path = write_secret("capnl", big, AUTH_SECRET_MAX + 1, 0600)) !=
	    NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX);
	big[AUTH_SECRET_MAX] = '\r';
	big[AUTH_SECRET_MAX + 1] = '\n';
	CHECK((path = write_secret("capcrlf", big, AUTH_SECRET_MAX + 2,
	    0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX);
	/* One byte over, and the "\r\n" straddling the cap. */
	memset(big, 'k', sizeof(big));
	CHECK((path = write_secret("over", big, AUTH_SECRET_MAX + 1, 0600)) !=
	    NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	CHECK(strstr(why, "longer than 1024 bytes") != NULL);
	big[AUTH_SECRET_MAX - 1] = '\r';
	big[AUTH_SECRET_MAX] = '\n';
	CHECK((path = write_secret("straddle", big, AUTH_SECRET_MAX + 1,
	    0600)) != NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), 0);
	CHECK_EQ(len, AUTH_SECRET_MAX - 1);
	big[AUTH_SECRET_MAX] = 'k';
	big[AUTH_SECRET_MAX + 1] = '\n';
	CHECK((path = write_secret("over2", big, AUTH_SECRET_MAX + 2, 0600)) !=
	    NULL);
	CHECK_EQ(auth_load_secret(path, s, sizeof(s), &len, &why), -1);
	/* A failed load leaves nothing of the file behind. */
	CHECK_EQ(s[0], 0);
}

int
main(void)
{
	char	 cmd[128];

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_auth.XXXXXX");
	if (mkdtemp(tmpdir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	/* Group/other bits must come from fchmod, not be masked away. */
	umask(0);

	RUN(test_sha256_abc);
	RUN(test_sha256_empty);
	RUN(test_sha256_448);
	RUN(test_sha256_896);
	RUN(test_sha256_million_a);
	RUN(test_sha256_split);
	RUN(test_sha256_padding_edges);
	RUN(test_secret_good);
	RUN(test_secret_newline);
	RUN(test_secret_mode);
	RUN(test_secret_owner);
	RUN(test_secret_empty);
	RUN(test_secret_missing_or_odd);
	RUN(test_secret_too_long);

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", tmpdir);
	UNIT_END();
}
