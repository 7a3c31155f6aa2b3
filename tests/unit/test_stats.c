/*
 * test_stats.c: the shared-memory statistics table.
 *
 * Every case works on its own segment, named after the case and our pid so
 * parallel runs do not collide; main() unlinks it after the case whatever
 * happened, and kills a writer child a failed case may have left behind.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "stats.h"
#include "unit.h"

/* stats_create's owner and group: leave them as created. */
#define AS_IS	(uid_t)-1, (gid_t)-1

static char	 seg[64];	/* the current case's segment */
static pid_t	 writer = -1;	/* the current case's writer child */

static void
case_begin(const char *fn)
{
	snprintf(seg, sizeof(seg), "/relay-test.%ld.%s", (long)getpid(), fn);
}

static void
case_end(void)
{
	if (writer > 0) {
		kill(writer, SIGKILL);
		waitpid(writer, NULL, 0);
		writer = -1;
	}
	shm_unlink(seg);
}

#define CASE(fn) do {							\
	case_begin(#fn);						\
	RUN(fn);							\
	case_end();							\
} while (0)

static int
exists(const char *name)
{
	int	 fd;

	if ((fd = shm_open(name, O_RDONLY, 0)) == -1)
		return 0;
	close(fd);
	return 1;
}

/* A pid that certainly was ours and is now gone. */
static pid_t
dead_pid(void)
{
	pid_t	 pid;

	if ((pid = fork()) == 0)
		_exit(0);
	waitpid(pid, NULL, 0);
	return pid;
}

static void
test_default_name(void)
{
	char	 buf[32];

	stats_default_name(buf, sizeof(buf), 9000);
	CHECK(strcmp(buf, "/relay.9000") == 0);
	stats_default_name(buf, sizeof(buf), 65535);
	CHECK(strcmp(buf, "/relay.65535") == 0);
}

static void
test_create_open_close(void)
{
	struct stats	 w, r;
	const char	*why = NULL;

	CHECK(stats_create(&w, seg, 4, 16, 9000, AS_IS, &why) == 0);
	CHECK(w.st_owner == 1);
	CHECK_EQ(w.st_size, sizeof(struct stats_header) +
	    4 * sizeof(struct stats_backend) +
	    4 * 16 * sizeof(struct stats_client));
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	CHECK_EQ(r.st_hdr->sh_magic, STATS_MAGIC);
	CHECK_EQ(r.st_hdr->sh_abi, STATS_ABI_VERSION);
	CHECK_EQ(r.st_hdr->sh_master_pid, getpid());
	CHECK_EQ(r.st_hdr->sh_control_port, 9000);
	CHECK_EQ(r.st_max_backends, 4);
	CHECK_EQ(r.st_max_clients, 16);
	CHECK(r.st_hdr->sh_start_time <= time(NULL));
	CHECK(r.st_hdr->sh_start_time > time(NULL) - 60);
	CHECK(r.st_owner == 0);
	/* Master counters written through one mapping show in the other. */
	stats_add(&w.st_hdr->sh_backends_total, 3);
	CHECK_EQ(r.st_hdr->sh_backends_total, 3);
	stats_close(&r, 1);		/* a reader never unlinks */
	CHECK(exists(seg));
	stats_close(&w, 1);
	CHECK(!exists(seg));
	CHECK(stats_open_ro(&r, seg, &why) == -1);
	CHECK(errno == ENOENT);
	CHECK(strcmp(why, "no such segment") == 0);
}

static void
test_bad_args(void)
{
	struct stats	 st;
	const char	*why = NULL;

	CHECK(stats_create(&st, "/a/b", 1, 1, 1, AS_IS, &why) == -1);
	CHECK(errno == EINVAL);
	CHECK(stats_create(&st, "", 1, 1, 1, AS_IS, &why) == -1);
	CHECK(stats_create(&st, seg, 0, 1, 1, AS_IS, &why) == -1);
	CHECK(strcmp(why, "bad table sizes") == 0);
	CHECK(stats_create(&st, seg, 1, 0, 1, AS_IS, &why) == -1);
	CHECK(stats_create(&st, seg, UINT32_MAX, UINT32_MAX, 1, AS_IS, &why) == -1);
	CHECK(!exists(seg));
	/* A name without the leading slash means the same segment. */
	CHECK(stats_create(&st, seg + 1, 1, 1, 1, AS_IS, &why) == 0);
	CHECK(strcmp(st.st_name, seg) == 0);
	CHECK(exists(seg));
	stats_close(&st, 1);
}

/* A child that looks like a relay (its name is "relay") until killed. */
static pid_t
relay_lookalike(void)
{
	pid_t	 pid;
	int	 p[2];
	char	 c;

	if (pipe(p) == -1)
		return -1;
	if ((pid = fork()) == 0) {
		prctl(PR_SET_NAME, "relay");
		(void)!write(p[1], "", 1);
		for (;;)
			pause();
	}
	close(p[1]);
	(void)!read(p[0], &c, 1);
	close(p[0]);
	return pid;
}

static void
test_live_segment_refused(void)
{
	struct stats	 a, b;
	const char	*why = NULL;

	CHECK(stats_create(&a, seg, 2, 2, 9000, AS_IS, &why) == 0);
	/* Pretend another live master owns it. */
	writer = relay_lookalike();
	CHECK(writer > 0);
	a.st_hdr->sh_master_pid = writer;
	CHECK(stats_create(&b, seg, 2, 2, 9000, AS_IS, &why) == -1);
	CHECK(errno == EEXIST);
	CHECK(strncmp(why, "segment in use by a live relay (pid ", 36) == 0);
	CHECK(exists(seg));
	/* A live process that is not a relay (a recycled pid): replaced. */
	a.st_hdr->sh_master_pid = getppid();
	CHECK(stats_create(&b, seg, 2, 2, 9000, AS_IS, &why) == 0);
	stats_close(&b, 1);
	CHECK(stats_create(&a, seg, 2, 2, 9000, AS_IS, &why) == 0);
	/* A dead master's segment is replaced. */
	a.st_hdr->sh_master_pid = dead_pid();
	CHECK(stats_create(&b, seg, 3, 5, 9001, AS_IS, &why) == 0);
	CHECK_EQ(b.st_hdr->sh_max_clients, 5);
	/* The old mapping stays readable; it is just not the named one. */
	CHECK_EQ(a.st_hdr->sh_max_clients, 2);
	stats_close(&a, 1);		/* not its master any more */
	CHECK(exists(seg));
	stats_close(&b, 1);
	CHECK(!exists(seg));
}

/* The file behind a segment name (Linux: /dev/shm). */
static void
seg_path(char *buf, size_t len)
{
	snprintf(buf, len, "/dev/shm%s", seg);
}

static void
test_mode_and_owner(void)
{
	struct stats	 st;
	struct stat	 sb;
	const char	*why = NULL;
	char		 path[128];
	mode_t		 old = umask(0);

	/* Whatever the umask: group-readable, nothing for others. */
	CHECK(stats_create(&st, seg, 1, 1, 9000, AS_IS, &why) == 0);
	umask(old);
	seg_path(path, sizeof(path));
	CHECK(stat(path, &sb) == 0);
	CHECK_EQ(sb.st_mode & 07777, 0640);
	CHECK_EQ(st.st_file_uid, geteuid());
	/* Our own group, explicitly: allowed for any user. */
	stats_close(&st, 1);
	CHECK(stats_create(&st, seg, 1, 1, 9000, (uid_t)-1, getegid(),
	    &why) == 0);
	CHECK(stat(path, &sb) == 0);
	CHECK_EQ(sb.st_gid, getegid());
	stats_close(&st, 1);
}

static void
test_planted_fifo_refused(void)
{
	struct stats	 st;
	const char	*why = NULL;
	char		 path[128];
	time_t		 t0 = time(NULL);

	seg_path(path, sizeof(path));
	CHECK(mkfifo(path, 0600) == 0);
	/* Without O_NONBLOCK this would wait for a writer forever. */
	CHECK(stats_create(&st, seg, 1, 1, 9000, AS_IS, &why) == -1);
	CHECK(errno == EPERM);
	CHECK(strstr(why, "not a regular file") != NULL);
	CHECK(stats_open_ro(&st, seg, &why) == -1);
	CHECK(strstr(why, "not a regular file") != NULL);
	CHECK(time(NULL) - t0 < 2);
	unlink(path);
}

static void
test_foreign_owner_refused(void)
{
	struct stats	 st;
	const char	*why = NULL;
	char		 path[128];
	int		 fd;

	if (geteuid() != 0) {
		printf("# skipped: needs root to plant another user's file\n");
		return;
	}
	seg_path(path, sizeof(path));
	CHECK((fd = open(path, O_CREAT | O_EXCL | O_WRONLY, 0644)) != -1);
	CHECK(fchown(fd, 65534, 65534) == 0);
	close(fd);
	/* It belongs to someone else: neither read nor replaced. */
	CHECK(stats_create(&st, seg, 1, 1, 9000, AS_IS, &why) == -1);
	CHECK(errno == EPERM);
	CHECK(strstr(why, "belongs to uid 65534") != NULL);
	CHECK(access(path, F_OK) == 0);
	/* Unless that user is the relay's. */
	CHECK(stats_create(&st, seg, 1, 1, 9000, 65534, 65534, &why) == 0);
	stats_close(&st, 1);
}

static void
test_worker_never_unlinks(void)
{
	struct stats	 st;
	const char	*why = NULL;
	pid_t		 pid;
	int		 status;

	CHECK(stats_create(&st, seg, 1, 1, 9000, AS_IS, &why) == 0);
	if ((pid = fork()) == 0) {
		/* A forked worker inherits st_owner but is not the master. */
		stats_close(&st, 1);
		_exit(0);
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(exists(seg));
	stats_close(&st, 1);
	CHECK(!exists(seg));
}

static void
test_foreign_file(void)
{
	struct stats	 st;
	const char	*why = NULL;
	char		 junk[8192];
	int		 fd;

	memset(junk, 0xab, sizeof(junk));
	fd = shm_open(seg, O_CREAT | O_EXCL | O_RDWR, 0600);
	CHECK(fd != -1);
	CHECK(write(fd, junk, sizeof(junk)) == (ssize_t)sizeof(junk));
	CHECK(stats_open_ro(&st, seg, &why) == -1);
	CHECK(strstr(why, "not a relay stats segment") != NULL);
	CHECK(st.st_hdr == NULL);
	/* Too small for even a header. */
	CHECK(ftruncate(fd, 16) == 0);
	CHECK(stats_open_ro(&st, seg, &why) == -1);
	CHECK(strstr(why, "too small") != NULL);
	CHECK(ftruncate(fd, 0) == 0);
	CHECK(stats_open_ro(&st, seg, &why) == -1);
	close(fd);
	/* The master replaces a foreign leftover of that name. */
	CHECK(stats_create(&st, seg, 1, 1, 9000, AS_IS, &why) == 0);
	stats_close(&st, 1);
}

static void
test_header_mismatch(void)
{
	struct stats	 w, r;
	const char	*why = NULL;

	CHECK(stats_create(&w, seg, 2, 3, 9000, AS_IS, &why) == 0);
	w.st_hdr->sh_abi = STATS_ABI_VERSION + 1;
	CHECK(stats_open_ro(&r, seg, &why) == -1);
	CHECK(strstr(why, "ABI version mismatch") != NULL);
	w.st_hdr->sh_abi = STATS_ABI_VERSION;
	w.st_hdr->sh_client_size = 64;
	CHECK(stats_open_ro(&r, seg, &why) == -1);
	CHECK(strstr(why, "row sizes") != NULL);
	w.st_hdr->sh_client_size = sizeof(struct stats_client);
	w.st_hdr->sh_max_clients = 4;
	CHECK(stats_open_ro(&r, seg, &why) == -1);
	CHECK(strstr(why, "segment size") != NULL);
	w.st_hdr->sh_max_clients = 0;
	CHECK(stats_open_ro(&r, seg, &why) == -1);
	w.st_hdr->sh_max_clients = 3;
	w.st_hdr->sh_magic = 0;		/* as during creation */
	CHECK(stats_open_ro(&r, seg, &why) == -1);
	CHECK(strstr(why, "bad magic") != NULL);
	w.st_hdr->sh_magic = STATS_MAGIC;
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	stats_close(&r, 0);
	stats_close(&w, 1);
}

static void
test_backend_begin(void)
{
	struct stats		 w, r;
	struct stats_backend	*b, rb;
	const char		*why = NULL;
	char			 longname[200];
	size_t			 i;

	CHECK(stats_create(&w, seg, 3, 2, 9000, AS_IS, &why) == 0);
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	CHECK(stats_read_backend(&r, 1, &rb) == -1);
	CHECK(errno == 0);
	CHECK(stats_read_backend(&r, 3, &rb) == -1);
	CHECK(errno == EINVAL);
	CHECK(stats_backend_begin(&w, 3, 1, 1, "x", "y", "z", 1) == NULL);

	b = stats_backend_begin(&w, 1, 4242, 9001, "127.0.0.1:40000", "echo",
	    "SHA256:OvlGl8uZ9sAA/ZvYQHh2TiQPsNI+IynvSUUUUN4mp8g",
	    1700000000123LL);
	CHECK(b == &w.st_backends[1]);
	stats_set(&b->sb_rtt_us, 250);
	CHECK(stats_read_backend(&r, 1, &rb) == 0);
	CHECK_EQ(rb.sb_state, STATS_ROW_LIVE);
	CHECK_EQ(rb.sb_seq % 2, 0);
	CHECK_EQ(rb.sb_pid, 4242);
	CHECK_EQ(rb.sb_tunnel_port, 9001);
	CHECK_EQ(rb.sb_since, 1700000000123LL);
	CHECK(strcmp(rb.sb_addr, "127.0.0.1:40000") == 0);
	CHECK(strcmp(rb.sb_name, "echo") == 0);
	CHECK(strcmp(rb.sb_key,
	    "SHA256:OvlGl8uZ9sAA/ZvYQHh2TiQPsNI+IynvSUUUUN4mp8g") == 0);
	CHECK_EQ(rb.sb_rtt_us, 250);
	CHECK_EQ(rb.sb_clients_now, 0);
	CHECK(stats_read_backend(&r, 0, &rb) == -1);

	/* Re-registration: identity replaced, counters from zero, long
	 * strings truncated, no NULL dereference. */
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	stats_add(&b->sb_bytes_in, 10);
	b = stats_backend_begin(&w, 1, 4343, 9002, "[::1]:5", longname,
	    longname, 7);
	CHECK(stats_read_backend(&r, 1, &rb) == 0);
	CHECK_EQ(rb.sb_pid, 4343);
	CHECK(strcmp(rb.sb_addr, "[::1]:5") == 0);
	CHECK_EQ(strlen(rb.sb_name), STATS_NAME_MAX - 1);
	CHECK_EQ(strlen(rb.sb_key), STATS_KEY_MAX - 1);
	CHECK_EQ(rb.sb_bytes_in, 0);
	CHECK_EQ(rb.sb_rtt_us, 0);
	b = stats_backend_begin(&w, 1, 1, 1, NULL, NULL, NULL, 7);
	CHECK(b != NULL);
	CHECK(stats_read_backend(&r, 1, &rb) == 0);
	CHECK(rb.sb_addr[0] == '\0' && rb.sb_name[0] == '\0' &&
	    rb.sb_key[0] == '\0');
	/* A shorter key leaves nothing of the longer one behind. */
	b = stats_backend_begin(&w, 1, 1, 1, "a:1", "b", "SHA256:x", 7);
	CHECK(stats_read_backend(&r, 1, &rb) == 0);
	CHECK(strcmp(rb.sb_key, "SHA256:x") == 0);
	for (i = strlen(rb.sb_key); i < STATS_KEY_MAX; i++)
		CHECK(w.st_backends[1].sb_key[i] == '\0');
	stats_close(&r, 0);
	stats_close(&w, 1);
}

static void
test_client_begin_end(void)
{
	struct stats		 w, r;
	struct stats_backend	*b, rb;
	struct stats_client	*c[3], rc;
	const char		*why = NULL;
	uint32_t		 i;
	int			 live;

	CHECK(stats_create(&w, seg, 2, 8, 9000, AS_IS, &why) == 0);
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	b = stats_backend_begin(&w, 1, 1, 9001, "10.0.0.1:1", "", "", 1);
	CHECK(b != NULL);
	c[0] = stats_client_begin(&w, 1, 9001, "127.0.0.1:50000", 100);
	c[1] = stats_client_begin(&w, 1, 9001, "[::1]:50001", 101);
	c[2] = stats_client_begin(&w, 1, 9001, "127.0.0.1:50002", 102);
	CHECK(c[0] && c[1] && c[2]);
	CHECK(c[0] != c[1] && c[1] != c[2] && c[0] != c[2]);
	/* Rows of slot 1 only. */
	for (i = 0; i < 3; i++)
		CHECK(c[i] >= w.st_clients + 8 && c[i] < w.st_clients + 16);
	stats_client_bytes(b, c[1], 5, 7);
	stats_client_bytes(b, c[2], 0, 1);
	stats_client_bytes(b, NULL, 100, 0);	/* untracked client */
	stats_client_bytes(NULL, c[2], 1, 1);	/* no backend: no-op */

	CHECK(stats_read_backend(&r, 1, &rb) == 0);
	CHECK_EQ(rb.sb_clients_now, 3);
	CHECK_EQ(rb.sb_clients_total, 3);
	CHECK_EQ(rb.sb_bytes_in, 105);
	CHECK_EQ(rb.sb_bytes_out, 8);
	for (i = 0, live = 0; i < 8; i++) {
		if (stats_read_client(&r, 1, i, &rc) == -1)
			continue;
		live++;
		CHECK_EQ(rc.sc_tunnel_port, 9001);
		if (strcmp(rc.sc_addr, "[::1]:50001") == 0) {
			CHECK_EQ(rc.sc_since, 101);
			CHECK_EQ(rc.sc_bytes_in, 5);
			CHECK_EQ(rc.sc_bytes_out, 7);
		}
	}
	CHECK_EQ(live, 3);
	for (i = 0; i < 8; i++)
		CHECK(stats_read_client(&r, 0, i, &rc) == -1);
	CHECK(stats_read_client(&r, 1, 8, &rc) == -1);
	CHECK(errno == EINVAL);

	stats_client_end(&w, 1, c[1]);
	CHECK(stats_read_client(&r, 1, (uint32_t)(c[1] - (w.st_clients + 8)),
	    &rc) == -1);
	CHECK(stats_read_backend(&r, 1, &rb) == 0);
	CHECK_EQ(rb.sb_clients_now, 2);
	CHECK_EQ(rb.sb_clients_total, 3);
	CHECK_EQ(rb.sb_bytes_in, 105);	/* closed clients still count */
	/* The freed row is reused, fresh. */
	c[1] = stats_client_begin(&w, 1, 9001, "127.0.0.1:50003", 103);
	CHECK(c[1] != NULL);
	CHECK(stats_read_client(&r, 1, (uint32_t)(c[1] - (w.st_clients + 8)),
	    &rc) == 0);
	CHECK(strcmp(rc.sc_addr, "127.0.0.1:50003") == 0);
	CHECK_EQ(rc.sc_bytes_in, 0);
	/* A pointer outside the slot frees nothing. */
	stats_client_end(&w, 0, c[0]);
	CHECK(stats_read_client(&r, 1, (uint32_t)(c[0] - (w.st_clients + 8)),
	    &rc) == 0);
	stats_close(&r, 0);
	stats_close(&w, 1);
}

static void
test_client_table_full(void)
{
	struct stats		 w, r;
	struct stats_backend	*b, rb;
	struct stats_client	*c[6];
	const char		*why = NULL;
	int			 i;

	CHECK(stats_create(&w, seg, 1, 4, 9000, AS_IS, &why) == 0);
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	b = stats_backend_begin(&w, 0, 1, 9001, "10.0.0.1:1", "full", "", 1);
	for (i = 0; i < 6; i++)
		c[i] = stats_client_begin(&w, 0, 9001, "127.0.0.1:1", i);
	for (i = 0; i < 4; i++)
		CHECK(c[i] != NULL);
	CHECK(c[4] == NULL && c[5] == NULL);
	/* Untracked clients still count their bytes in the backend. */
	stats_client_bytes(b, c[5], 11, 13);
	CHECK(stats_read_backend(&r, 0, &rb) == 0);
	CHECK_EQ(rb.sb_clients_now, 6);
	CHECK_EQ(rb.sb_clients_total, 6);
	CHECK_EQ(rb.sb_clients_untracked, 2);
	CHECK_EQ(rb.sb_bytes_in, 11);
	CHECK_EQ(rb.sb_bytes_out, 13);
	stats_client_end(&w, 0, c[5]);
	stats_client_end(&w, 0, c[2]);
	CHECK(stats_read_backend(&r, 0, &rb) == 0);
	CHECK_EQ(rb.sb_clients_now, 4);
	c[2] = stats_client_begin(&w, 0, 9001, "127.0.0.1:2", 9);
	CHECK(c[2] != NULL);
	CHECK(stats_client_begin(&w, 0, 9001, "127.0.0.1:3", 9) == NULL);
	CHECK(stats_read_backend(&r, 0, &rb) == 0);
	CHECK_EQ(rb.sb_clients_untracked, 3);
	CHECK_EQ(rb.sb_clients_now, 6);
	CHECK_EQ(rb.sb_clients_total, 8);
	stats_close(&r, 0);
	stats_close(&w, 1);
}

static void
test_reclaim(void)
{
	struct stats		 w, r;
	struct stats_backend	 rb;
	struct stats_client	 rc;
	const char		*why = NULL;
	uint32_t		 i;
	int			 live;

	CHECK(stats_create(&w, seg, 2, 4, 9000, AS_IS, &why) == 0);
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	CHECK(stats_backend_begin(&w, 0, 1, 9001, "a:1", "a", "", 1) != NULL);
	CHECK(stats_backend_begin(&w, 1, 2, 9002, "b:1", "b", "", 1) != NULL);
	for (i = 0; i < 3; i++) {
		CHECK(stats_client_begin(&w, 0, 9001, "c:1", 1) != NULL);
		CHECK(stats_client_begin(&w, 1, 9002, "c:2", 1) != NULL);
	}
	/* The worker of slot 0 died in the middle of a write. */
	w.st_clients[1].sc_seq |= 1;
	CHECK(stats_read_client(&r, 0, 1, &rc) == -1);
	CHECK(errno == EBUSY);

	stats_backend_reclaim(&w, 0);
	stats_backend_reclaim(&w, 7);	/* out of range: nothing */
	CHECK(stats_read_backend(&r, 0, &rb) == -1);
	CHECK(errno == 0);
	for (i = 0; i < 4; i++) {
		CHECK(stats_read_client(&r, 0, i, &rc) == -1);
		CHECK(errno == 0);
		CHECK_EQ(w.st_clients[i].sc_seq % 2, 0);
	}
	/* Slot 1 untouched. */
	CHECK(stats_read_backend(&r, 1, &rb) == 0);
	CHECK_EQ(rb.sb_clients_now, 3);
	for (i = 0, live = 0; i < 4; i++)
		if (stats_read_client(&r, 1, i, &rc) == 0)
			live++;
	CHECK_EQ(live, 3);
	/* A new worker takes slot 0 afresh. */
	CHECK(stats_backend_begin(&w, 0, 3, 9003, "d:1", "d", "", 2) != NULL);
	CHECK(stats_read_backend(&r, 0, &rb) == 0);
	CHECK_EQ(rb.sb_pid, 3);
	CHECK_EQ(rb.sb_clients_now, 0);
	stats_close(&r, 0);
	stats_close(&w, 1);
}

static void
test_begin_frees_leftovers(void)
{
	struct stats		 w;
	struct stats_client	 rc;
	const char		*why = NULL;
	uint32_t		 i;

	CHECK(stats_create(&w, seg, 1, 4, 9000, AS_IS, &why) == 0);
	CHECK(stats_backend_begin(&w, 0, 1, 9001, "a:1", "a", "", 1) != NULL);
	for (i = 0; i < 4; i++)
		CHECK(stats_client_begin(&w, 0, 9001, "c:1", 1) != NULL);
	/* No reclaim: the next worker of the slot must not inherit them. */
	CHECK(stats_backend_begin(&w, 0, 2, 9001, "a:1", "a", "", 2) != NULL);
	for (i = 0; i < 4; i++)
		CHECK(stats_read_client(&w, 0, i, &rc) == -1);
	for (i = 0; i < 4; i++)
		CHECK(stats_client_begin(&w, 0, 9001, "c:1", 1) != NULL);
	stats_close(&w, 1);
}

static void
test_busy_row_bounded(void)
{
	struct stats		 w;
	struct stats_backend	 rb;
	const char		*why = NULL;

	CHECK(stats_create(&w, seg, 1, 1, 9000, AS_IS, &why) == 0);
	CHECK(stats_backend_begin(&w, 0, 1, 9001, "a:1", "a", "", 1) != NULL);
	w.st_backends[0].sb_seq++;	/* a writer that never finishes */
	CHECK(stats_read_backend(&w, 0, &rb) == -1);
	CHECK(errno == EBUSY);
	w.st_backends[0].sb_seq++;
	CHECK(stats_read_backend(&w, 0, &rb) == 0);
	stats_close(&w, 1);
}

/*
 * The writer child: identities whose every character and number derive
 * from one k, so a reader can tell a torn copy from a whole one.
 */
#define TORN_ADDR_LEN	40
#define TORN_CLIENTS	5

static void
torn_addr(char *buf, char base, int k)
{
	memset(buf, base + k, TORN_ADDR_LEN);
	snprintf(buf + TORN_ADDR_LEN, STATS_ADDR_MAX - TORN_ADDR_LEN, ":%d",
	    1000 + k);
}

static void
torn_writer(struct stats *st, struct stats_backend *b0)
{
	struct stats_client	*live[TORN_CLIENTS] = { NULL };
	char			 addr[STATS_ADDR_MAX], name[STATS_NAME_MAX];
	char			 key[STATS_KEY_MAX];
	unsigned		 n;
	int			 k;

	for (n = 0;; n++) {
		k = n % 26;
		torn_addr(addr, 'A', k);
		stats_client_end(st, 0, live[n % TORN_CLIENTS]);
		live[n % TORN_CLIENTS] = stats_client_begin(st, 0, 5000 + k,
		    addr, k);
		stats_client_bytes(b0, live[(n + 2) % TORN_CLIENTS], 1, 2);

		torn_addr(addr, 'a', k);
		memset(name, 'a' + k, sizeof(name) - 1);
		name[sizeof(name) - 1 - k] = '\0';
		memset(key, 'A' + k, sizeof(key) - 1);
		key[sizeof(key) - 1 - 2 * k] = '\0';
		stats_backend_begin(st, 1, k, 6000 + k, addr, name, key, k);
	}
}

static int
torn_addr_ok(const char *addr, char base, int *k)
{
	char	 want[STATS_ADDR_MAX];

	*k = addr[0] - base;
	if (*k < 0 || *k >= 26)
		return 0;
	torn_addr(want, base, *k);
	return strcmp(addr, want) == 0;
}

static void
test_seqlock_torn(void)
{
	struct stats		 w, r;
	struct stats_backend	*b0, rb;
	struct stats_client	 rc;
	const char		*why = NULL;
	uint64_t		 in = 0, out = 0, total = 0;
	struct timespec		 ts = { 0, 1000000 };
	long			 n, backends = 0, clients = 0, busy = 0;
	int			 k, i, status;

	CHECK(stats_create(&w, seg, 2, 8, 9000, AS_IS, &why) == 0);
	b0 = stats_backend_begin(&w, 0, 1, 9001, "a:1", "monotonic", "", 1);
	CHECK(b0 != NULL);
	if ((writer = fork()) == 0) {
		torn_writer(&w, b0);
		_exit(0);
	}
	CHECK(writer > 0);
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	/* Wait (bounded) until the writer runs. */
	for (i = 0; i < 5000; i++) {
		if (stats_read_backend(&r, 1, &rb) == 0)
			break;
		nanosleep(&ts, NULL);
	}
	CHECK(i < 5000);

	for (n = 0; n < 100000; n++) {
		if (stats_read_backend(&r, 0, &rb) == 0) {
			CHECK(strcmp(rb.sb_name, "monotonic") == 0);
			CHECK(rb.sb_bytes_in >= in);
			CHECK(rb.sb_bytes_out >= out);
			CHECK(rb.sb_clients_total >= total);
			/* in is copied before out and out grows by 2. */
			CHECK(rb.sb_bytes_out + 2 >= 2 * rb.sb_bytes_in);
			in = rb.sb_bytes_in;
			out = rb.sb_bytes_out;
			total = rb.sb_clients_total;
		} else
			CHECK(errno == EBUSY);

		if (stats_read_backend(&r, 1, &rb) == 0) {
			CHECK(torn_addr_ok(rb.sb_addr, 'a', &k));
			CHECK_EQ(rb.sb_pid, k);
			CHECK_EQ(rb.sb_tunnel_port, 6000 + k);
			CHECK_EQ(rb.sb_since, k);
			CHECK_EQ(strlen(rb.sb_name), STATS_NAME_MAX - 1 - k);
			CHECK(strspn(rb.sb_name, (char[]){ 'a' + k, 0 }) ==
			    strlen(rb.sb_name));
			CHECK_EQ(strlen(rb.sb_key), STATS_KEY_MAX - 1 - 2 * k);
			CHECK(strspn(rb.sb_key, (char[]){ 'A' + k, 0 }) ==
			    strlen(rb.sb_key));
			backends++;
		} else {
			CHECK(errno == EBUSY);
			busy++;
		}

		if (stats_read_client(&r, 0, n % 8, &rc) == 0) {
			CHECK(torn_addr_ok(rc.sc_addr, 'A', &k));
			CHECK_EQ(rc.sc_tunnel_port, 5000 + k);
			CHECK_EQ(rc.sc_since, k);
			clients++;
		} else if (errno != 0) {
			CHECK(errno == EBUSY);
			busy++;
		}
	}
	/* The writer was still running: we did read concurrently. */
	CHECK(waitpid(writer, &status, WNOHANG) == 0);
	CHECK(backends > 0);
	CHECK(clients > 0);
	CHECK(in > 0);
	if (getenv("UNIT_VERBOSE"))
		printf("  %ld backend, %ld client reads, %ld busy, %llu bytes\n",
		    backends, clients, busy, (unsigned long long)in);
	stats_close(&r, 0);
	stats_close(&w, 1);
}

static void
test_reader_survives_recreate(void)
{
	struct stats		 w, r;
	struct stats_backend	 rb;
	const char		*why = NULL;

	CHECK(stats_create(&w, seg, 1, 1, 9000, AS_IS, &why) == 0);
	CHECK(stats_backend_begin(&w, 0, 1, 9001, "a:1", "old", "", 1) != NULL);
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	stats_close(&w, 1);
	CHECK(stats_create(&w, seg, 8, 8, 9000, AS_IS, &why) == 0);
	/* The reader keeps its own mapping of the old segment. */
	CHECK(stats_read_backend(&r, 0, &rb) == 0);
	CHECK(strcmp(rb.sb_name, "old") == 0);
	stats_close(&r, 0);
	CHECK(stats_open_ro(&r, seg, &why) == 0);
	CHECK_EQ(r.st_max_backends, 8);
	CHECK(stats_read_backend(&r, 0, &rb) == -1);
	stats_close(&r, 0);
	stats_close(&w, 1);
}

int
main(void)
{
	CASE(test_default_name);
	CASE(test_create_open_close);
	CASE(test_bad_args);
	CASE(test_live_segment_refused);
	CASE(test_mode_and_owner);
	CASE(test_planted_fifo_refused);
	CASE(test_foreign_owner_refused);
	CASE(test_worker_never_unlinks);
	CASE(test_foreign_file);
	CASE(test_header_mismatch);
	CASE(test_backend_begin);
	CASE(test_client_begin_end);
	CASE(test_client_table_full);
	CASE(test_reclaim);
	CASE(test_begin_frees_leftovers);
	CASE(test_busy_row_bounded);
	CASE(test_seqlock_torn);
	CASE(test_reader_survives_recreate);
	UNIT_END();
}
