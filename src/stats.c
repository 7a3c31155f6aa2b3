/*
 * stats.c: the shared-memory statistics table (layout in stats_abi.h).
 *
 * The master creates the segment before it forks, so every worker inherits
 * the same MAP_SHARED mapping and never needs a syscall to count.  Each row
 * has one writer; identity fields are published under the row's sequence
 * number (a seqlock), counters are relaxed atomics.  relaystat maps the
 * segment read-only and never takes a lock, so a reader can never stall the
 * relay.
 *
 * Row contents are copied with word-sized relaxed atomic accesses rather
 * than memcpy: the seqlock then has no data race in the C11 sense, which
 * keeps the sanitizers quiet and the compiler honest.
 */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "keys.h"
#include "stats.h"

/* A reader gives up on a row that stays torn this long: it skips it. */
#define STATS_READ_TRIES	1000

/* Largest segment we create or accept: a sanity bound, not a tuning knob. */
#define STATS_SIZE_MAX		((uint64_t)1 << 40)

/* A fingerprint is never cut short: readers show and compare it whole. */
_Static_assert(KEYS_FP_LEN < STATS_KEY_MAX, "stats key field too small");

/* Words may alias the char arrays of a row. */
typedef uint64_t stats_word __attribute__((may_alias));

static inline void
stats_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

void
stats_default_name(char *buf, size_t len, unsigned port)
{
	snprintf(buf, len, "/relay.%u", port);
}

/*
 * POSIX leaves names without a leading slash, or with a second one,
 * implementation-defined: accept "relay.9000" as "/relay.9000", refuse the
 * rest.
 */
static int
stats_name(char *out, size_t len, const char *name)
{
	const char	*p = name;
	int		 n;

	if (name == NULL)
		goto bad;
	while (*p == '/')
		p++;
	if (*p == '\0' || strchr(p, '/') != NULL || strcmp(p, ".") == 0 ||
	    strcmp(p, "..") == 0)
		goto bad;
	n = snprintf(out, len, "/%s", p);
	if (n < 0 || (size_t)n >= len || (size_t)n > NAME_MAX)
		goto bad;
	return 0;
 bad:
	errno = EINVAL;
	return -1;
}

static int
stats_layout(uint32_t max_backends, uint32_t max_clients, size_t *size)
{
	uint64_t	 sz;

	if (max_backends == 0 || max_clients == 0)
		return -1;
	/* 32-bit factors: none of these products overflows 64 bits. */
	sz = (uint64_t)max_backends * max_clients;
	if (sz > STATS_SIZE_MAX / sizeof(struct stats_client))
		return -1;
	sz = sizeof(struct stats_header) +
	    (uint64_t)max_backends * sizeof(struct stats_backend) +
	    sz * sizeof(struct stats_client);
	if (sz > STATS_SIZE_MAX || sz > SIZE_MAX)
		return -1;
	*size = (size_t)sz;
	return 0;
}

static void
stats_map(struct stats *st, void *base, size_t size, uint32_t max_backends,
    uint32_t max_clients)
{
	st->st_hdr = base;
	st->st_backends = (struct stats_backend *)(st->st_hdr + 1);
	st->st_clients = (struct stats_client *)(st->st_backends +
	    max_backends);
	st->st_size = size;
	st->st_max_backends = max_backends;
	st->st_max_clients = max_clients;
}

/* A pid we cannot signal for lack of permission is still alive. */
static int
stats_pid_alive(int64_t pid)
{
	if (pid <= 0 || (int64_t)(pid_t)pid != pid)
		return 0;
	return kill((pid_t)pid, 0) == 0 || errno == EPERM;
}

int
stats_pid_is_relay(int64_t pid)
{
	char	 path[64], comm[32];
	ssize_t	 n;
	int	 fd;

	if (!stats_pid_alive(pid))
		return 0;
	/* A recycled pid of another program is not a relay. */
	snprintf(path, sizeof(path), "/proc/%lld/comm", (long long)pid);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return -1;
	n = read(fd, comm, sizeof(comm) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	comm[n] = '\0';
	return strncmp(comm, "relay", 5) == 0 && (comm[5] == '\n' ||
	    comm[5] == '\0');
}

static char	 stats_why[512];

/*
 * Open a segment for reading without blocking (a FIFO planted under the
 * name would block open(2)) and without following a symbolic link (glibc's
 * shm_open adds O_NOFOLLOW); refuse anything but a regular file.  The fd,
 * or -1 with errno and *why.
 */
static int
stats_open_existing(const char *name, struct stat *sb, const char **why)
{
	int	 fd, saved;

	if ((fd = shm_open(name, O_RDONLY | O_NONBLOCK, 0)) == -1) {
		if (errno == ENOENT)
			*why = "no such segment";
		else if (errno == ELOOP)
			*why = "not a relay stats segment (a symbolic link)";
		else if (errno == ENXIO)
			*why = "not a relay stats segment (not a regular file)";
		else
			*why = "cannot open segment";
		return -1;
	}
	if (fstat(fd, sb) == -1) {
		*why = "fstat";
		goto fail;
	}
	if (!S_ISREG(sb->st_mode)) {
		*why = "not a relay stats segment (not a regular file)";
		errno = EPERM;
		goto fail;
	}
	return fd;
 fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

/*
 * An existing segment of that name.  Only one that belongs to the relay's
 * user (owner) may be inspected and replaced: another user's file was
 * planted, and its contents prove nothing.  1 when it is in use by a live
 * relay other than us, 0 when it may be replaced (a crashed relay's
 * leftover, a half-made one), -1 with errno and *why otherwise.
 */
static int
stats_in_use(const char *name, uid_t owner, const char **why)
{
	struct stat		 sb;
	struct stats_header	*hdr;
	int64_t			 pid;
	int			 fd, busy = 0, saved;

	if ((fd = stats_open_existing(name, &sb, why)) == -1) {
		if (errno == ENOENT)
			return 0;
		if (errno == EACCES) {
			*why = "exists and this user cannot read it: it "
			    "belongs to another user";
			errno = EPERM;
		}
		return -1;
	}
	if (sb.st_uid != owner) {
		snprintf(stats_why, sizeof(stats_why), "exists and belongs to "
		    "uid %lu, not to the relay's user (uid %lu)",
		    (unsigned long)sb.st_uid, (unsigned long)owner);
		*why = stats_why;
		errno = EPERM;
		goto fail;
	}
	if ((size_t)sb.st_size >= sizeof(*hdr)) {
		hdr = mmap(NULL, sizeof(*hdr), PROT_READ, MAP_SHARED, fd, 0);
		if (hdr == MAP_FAILED) {
			*why = "cannot inspect existing segment";
			goto fail;
		}
		pid = __atomic_load_n(&hdr->sh_master_pid, __ATOMIC_RELAXED);
		if (__atomic_load_n(&hdr->sh_magic, __ATOMIC_ACQUIRE) ==
		    STATS_MAGIC && pid != (int64_t)getpid() &&
		    stats_pid_is_relay(pid) != 0) {
			snprintf(stats_why, sizeof(stats_why), "segment in use "
			    "by a live relay (pid %lld)", (long long)pid);
			*why = stats_why;
			busy = 1;
		}
		munmap(hdr, sizeof(*hdr));
	}
	close(fd);
	return busy;
 fail:
	saved = errno;
	close(fd);
	errno = saved;
	return -1;
}

int
stats_create(struct stats *st, const char *name, uint32_t max_backends,
    uint32_t max_clients, unsigned control_port, uid_t uid, gid_t gid,
    const char **why)
{
	struct stats_header	*hdr;
	size_t			 size;
	void			*base;
	uid_t			 owner = uid != (uid_t)-1 ? uid : geteuid();
	int			 fd, tries, saved;

	memset(st, 0, sizeof(*st));
	if (stats_name(st->st_name, sizeof(st->st_name), name) == -1) {
		*why = "bad segment name";
		return -1;
	}
	if (stats_layout(max_backends, max_clients, &size) == -1) {
		*why = "bad table sizes";
		errno = EINVAL;
		return -1;
	}
	for (tries = 0;; tries++) {
		/*
		 * 0600 until it has its owner and group: nobody else can
		 * open it meanwhile.  O_NONBLOCK: see stats_open_existing.
		 */
		fd = shm_open(st->st_name, O_CREAT | O_EXCL | O_RDWR |
		    O_NONBLOCK, 0600);
		if (fd != -1)
			break;
		if (errno != EEXIST || tries > 0) {
			*why = errno == EEXIST ? "segment in use" :
			    "shm_open";
			return -1;
		}
		switch (stats_in_use(st->st_name, owner, why)) {
		case 1:
			errno = EEXIST;
			return -1;
		case -1:
			return -1;
		}
		if (shm_unlink(st->st_name) == -1 && errno != ENOENT) {
			*why = "cannot remove stale segment";
			return -1;
		}
	}
	if ((uid != (uid_t)-1 || gid != (gid_t)-1) &&
	    fchown(fd, uid, gid) == -1) {
		*why = "cannot give the segment its owner and group (fchown)";
		goto fail;
	}
	/*
	 * Client addresses and byte counts are not for every local user:
	 * the owner and its group (--stats-group) only, whatever the umask.
	 */
	if (fchmod(fd, STATS_MODE) == -1) {
		*why = "fchmod";
		goto fail;
	}
	if (ftruncate(fd, (off_t)size) == -1) {
		*why = "ftruncate";
		goto fail;
	}
	base = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*why = "mmap";
		goto fail;
	}
	close(fd);

	/* ftruncate gave zeroes: every row is already free with seq 0. */
	hdr = base;
	hdr->sh_abi = STATS_ABI_VERSION;
	hdr->sh_header_size = sizeof(struct stats_header);
	hdr->sh_backend_size = sizeof(struct stats_backend);
	hdr->sh_client_size = sizeof(struct stats_client);
	hdr->sh_max_backends = max_backends;
	hdr->sh_max_clients = max_clients;
	hdr->sh_master_pid = getpid();
	hdr->sh_start_time = time(NULL);
	hdr->sh_control_port = control_port;
	/* Last, so a reader never takes a half-filled header for valid. */
	__atomic_store_n(&hdr->sh_magic, STATS_MAGIC, __ATOMIC_RELEASE);

	stats_map(st, base, size, max_backends, max_clients);
	st->st_owner = 1;
	st->st_file_uid = owner;
	return 0;
 fail:
	saved = errno;
	close(fd);
	shm_unlink(st->st_name);
	errno = saved;
	return -1;
}

void
stats_close(struct stats *st, int unlink)
{
	int	 ours;

	if (st->st_hdr == NULL)
		return;
	/* Forked workers inherit st_owner; only the creator unlinks. */
	ours = st->st_owner && st->st_hdr->sh_master_pid == (int64_t)getpid();
	munmap(st->st_hdr, st->st_size);
	if (unlink && ours)
		shm_unlink(st->st_name);
	memset(st, 0, sizeof(*st));
}

/*
 * Seqlock, writer side.  A seq left odd by a writer that died mid-update is
 * kept odd, so the reclaiming master finishes that write window.
 */
static uint32_t
stats_write_begin(uint32_t *seq)
{
	uint32_t	 s;

	s = __atomic_load_n(seq, __ATOMIC_RELAXED);
	if ((s & 1) == 0)
		__atomic_store_n(seq, ++s, __ATOMIC_RELAXED);
	/* Order the odd seq before the row's new contents. */
	__atomic_thread_fence(__ATOMIC_RELEASE);
	return s;
}

static void
stats_write_end(uint32_t *seq, uint32_t s)
{
	__atomic_store_n(seq, s + 1, __ATOMIC_RELEASE);
}

static void
stats_store_words(void *dst, const void *src, size_t len)
{
	stats_word		*d = dst;
	const stats_word	*s = src;
	size_t			 i;

	for (i = 0; i < len / sizeof(*d); i++)
		__atomic_store_n(&d[i], s[i], __ATOMIC_RELAXED);
}

static void
stats_load_words(void *dst, const void *src, size_t len)
{
	stats_word		*d = dst;
	const stats_word	*s = src;
	size_t			 i;

	for (i = 0; i < len / sizeof(*d); i++)
		d[i] = __atomic_load_n(&s[i], __ATOMIC_RELAXED);
}

/* Truncating copy that leaves no bytes of the previous occupant behind. */
static void
stats_strlcpy(char *dst, const char *src, size_t len)
{
	size_t	 n;

	memset(dst, 0, len);
	if (src == NULL)
		return;
	n = strnlen(src, len - 1);
	memcpy(dst, src, n);
}

static void
stats_client_free(struct stats_client *c)
{
	uint32_t	 s;

	s = stats_write_begin(&c->sc_seq);
	__atomic_store_n(&c->sc_state, STATS_ROW_FREE, __ATOMIC_RELAXED);
	stats_write_end(&c->sc_seq, s);
}

static struct stats_client *
stats_slot_clients(struct stats *st, uint32_t slot)
{
	return st->st_clients + (size_t)slot * st->st_max_clients;
}

void
stats_backend_reclaim(struct stats *st, uint32_t slot)
{
	struct stats_backend	*b;
	struct stats_client	*c;
	uint32_t		 i, s, hw;

	if (st->st_hdr == NULL || slot >= st->st_max_backends)
		return;
	c = stats_slot_clients(st, slot);
	hw = __atomic_load_n(&st->st_backends[slot].sb_rows_hw,
	    __ATOMIC_ACQUIRE);
	if (hw > st->st_max_clients)
		hw = st->st_max_clients;
	for (i = 0; i < hw; i++) {
		if (__atomic_load_n(&c[i].sc_state, __ATOMIC_RELAXED) !=
		    STATS_ROW_FREE ||
		    (__atomic_load_n(&c[i].sc_seq, __ATOMIC_RELAXED) & 1))
			stats_client_free(&c[i]);
	}
	b = &st->st_backends[slot];
	s = stats_write_begin(&b->sb_seq);
	__atomic_store_n(&b->sb_state, STATS_ROW_FREE, __ATOMIC_RELAXED);
	__atomic_store_n(&b->sb_rows_hw, 0, __ATOMIC_RELEASE);
	stats_write_end(&b->sb_seq, s);
}

struct stats_backend *
stats_backend_begin(struct stats *st, uint32_t slot, int64_t pid,
    unsigned tunnel_port, const char *addr, const char *name,
    const char *key, int64_t since_ms)
{
	struct stats_backend	*b, id;
	struct stats_client	*c;
	uint32_t		 i, s, hw;

	if (st->st_hdr == NULL || slot >= st->st_max_backends)
		return NULL;

	/*
	 * Client rows left live by the slot's previous worker (the master
	 * reclaims them, but this costs little and keeps the table honest
	 * should it not have).  Only rows below the high-water mark were
	 * ever written: the rest of the slot is never touched, so an idle
	 * worker maps no pages of it.
	 */
	c = stats_slot_clients(st, slot);
	hw = __atomic_load_n(&st->st_backends[slot].sb_rows_hw,
	    __ATOMIC_ACQUIRE);
	if (hw > st->st_max_clients)
		hw = st->st_max_clients;
	for (i = 0; i < hw; i++)
		if (__atomic_load_n(&c[i].sc_state, __ATOMIC_RELAXED) !=
		    STATS_ROW_FREE)
			stats_client_free(&c[i]);

	memset(&id, 0, sizeof(id));
	id.sb_pid = pid;
	id.sb_tunnel_port = tunnel_port;
	id.sb_since = since_ms;
	stats_strlcpy(id.sb_addr, addr, sizeof(id.sb_addr));
	stats_strlcpy(id.sb_name, name, sizeof(id.sb_name));
	stats_strlcpy(id.sb_key, key, sizeof(id.sb_key));

	b = &st->st_backends[slot];
	s = stats_write_begin(&b->sb_seq);
	stats_store_words((char *)b + offsetof(struct stats_backend, sb_pid),
	    (char *)&id + offsetof(struct stats_backend, sb_pid),
	    offsetof(struct stats_backend, sb_clients_now) -
	    offsetof(struct stats_backend, sb_pid));
	stats_set(&b->sb_clients_now, 0);
	stats_set(&b->sb_clients_total, 0);
	stats_set(&b->sb_clients_untracked, 0);
	stats_set(&b->sb_bytes_in, 0);
	stats_set(&b->sb_bytes_out, 0);
	stats_set(&b->sb_rtt_us, 0);
	__atomic_store_n(&b->sb_rows_hw, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&b->sb_state, STATS_ROW_LIVE, __ATOMIC_RELAXED);
	stats_write_end(&b->sb_seq, s);
	return b;
}

/*
 * Where the next free client row probably is.  One worker owns one slot, so
 * a per-process index makes the search O(1) amortized; it is only a hint,
 * any value is correct.
 */
static uint32_t stats_client_hint;

struct stats_client *
stats_client_begin(struct stats *st, uint32_t slot, unsigned tunnel_port,
    const char *addr, int64_t since_ms)
{
	struct stats_backend	*b;
	struct stats_client	*rows, *c, id;
	uint32_t		 i, n, s, max;
	int			 grow = 0;

	if (st->st_hdr == NULL || slot >= st->st_max_backends)
		return NULL;
	b = &st->st_backends[slot];
	stats_add(&b->sb_clients_now, 1);
	stats_add(&b->sb_clients_total, 1);

	rows = stats_slot_clients(st, slot);
	/* Look among the rows used so far, then take a new one. */
	max = __atomic_load_n(&b->sb_rows_hw, __ATOMIC_RELAXED);
	if (max > st->st_max_clients)
		max = st->st_max_clients;
	i = stats_client_hint < max ? stats_client_hint : 0;
	for (n = 0; n < max; n++, i = i + 1 < max ? i + 1 : 0)
		if (__atomic_load_n(&rows[i].sc_state, __ATOMIC_RELAXED) ==
		    STATS_ROW_FREE)
			break;
	if (n == max) {
		if (max == st->st_max_clients) {
			stats_add(&b->sb_clients_untracked, 1);
			return NULL;
		}
		i = max;
		grow = 1;
	}
	stats_client_hint = i + 1 < st->st_max_clients ? i + 1 : 0;

	memset(&id, 0, sizeof(id));
	id.sc_tunnel_port = tunnel_port;
	id.sc_since = since_ms;
	stats_strlcpy(id.sc_addr, addr, sizeof(id.sc_addr));

	c = &rows[i];
	s = stats_write_begin(&c->sc_seq);
	stats_store_words((char *)c +
	    offsetof(struct stats_client, sc_tunnel_port),
	    (char *)&id + offsetof(struct stats_client, sc_tunnel_port),
	    offsetof(struct stats_client, sc_bytes_in) -
	    offsetof(struct stats_client, sc_tunnel_port));
	stats_set(&c->sc_bytes_in, 0);
	stats_set(&c->sc_bytes_out, 0);
	__atomic_store_n(&c->sc_state, STATS_ROW_LIVE, __ATOMIC_RELAXED);
	stats_write_end(&c->sc_seq, s);
	if (grow)
		__atomic_store_n(&b->sb_rows_hw, i + 1, __ATOMIC_RELEASE);
	return c;
}

void
stats_client_end(struct stats *st, uint32_t slot, struct stats_client *c)
{
	struct stats_client	*rows;

	if (st->st_hdr == NULL || slot >= st->st_max_backends)
		return;
	stats_sub(&st->st_backends[slot].sb_clients_now, 1);
	if (c == NULL)
		return;
	rows = stats_slot_clients(st, slot);
	/* Only a row of this slot: a stray pointer must not free another's. */
	if (c < rows || c >= rows + st->st_max_clients)
		return;
	stats_client_free(c);
	/* The row just freed is the cheapest one to find next. */
	stats_client_hint = (uint32_t)(c - rows);
}

int
stats_open_ro(struct stats *st, const char *name, const char **why)
{
	struct stats_header	 hdr;
	struct stat		 sb;
	size_t			 size;
	void			*base;
	int			 fd, saved;

	memset(st, 0, sizeof(*st));
	if (stats_name(st->st_name, sizeof(st->st_name), name) == -1) {
		*why = "bad segment name";
		return -1;
	}
	if ((fd = stats_open_existing(st->st_name, &sb, why)) == -1) {
		saved = errno;
		memset(st->st_name, 0, sizeof(st->st_name));
		errno = saved == EPERM ? EPROTO : saved;
		return -1;
	}
	st->st_file_uid = sb.st_uid;
	if (sb.st_size < (off_t)sizeof(hdr)) {
		*why = "not a relay stats segment (too small)";
		errno = EPROTO;
		goto fail;
	}
	if ((uint64_t)sb.st_size > STATS_SIZE_MAX) {
		*why = "not a relay stats segment (too large)";
		errno = EPROTO;
		goto fail;
	}
	base = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_SHARED, fd, 0);
	if (base == MAP_FAILED) {
		*why = "mmap";
		goto fail;
	}
	close(fd);

	/* Checked against our copy: the segment may change under us. */
	if (__atomic_load_n(&((struct stats_header *)base)->sh_magic,
	    __ATOMIC_ACQUIRE) != STATS_MAGIC) {
		*why = "not a relay stats segment (bad magic)";
		goto bad;
	}
	stats_load_words(&hdr, base, sizeof(hdr));
	if (hdr.sh_abi != STATS_ABI_VERSION) {
		*why = hdr.sh_abi > STATS_ABI_VERSION ?
		    "stats ABI version mismatch (segment is newer)" :
		    "stats ABI version mismatch (segment is older)";
		goto bad;
	}
	if (hdr.sh_header_size != sizeof(struct stats_header) ||
	    hdr.sh_backend_size != sizeof(struct stats_backend) ||
	    hdr.sh_client_size != sizeof(struct stats_client)) {
		*why = "stats row sizes mismatch";
		goto bad;
	}
	if (stats_layout(hdr.sh_max_backends, hdr.sh_max_clients,
	    &size) == -1 || size != (size_t)sb.st_size) {
		*why = "stats table sizes do not match the segment size";
		goto bad;
	}
	stats_map(st, base, size, hdr.sh_max_backends, hdr.sh_max_clients);
	return 0;
 bad:
	munmap(base, (size_t)sb.st_size);
	memset(st->st_name, 0, sizeof(st->st_name));
	errno = EPROTO;
	return -1;
 fail:
	saved = errno;
	close(fd);
	memset(st->st_name, 0, sizeof(st->st_name));
	errno = saved;
	return -1;
}

/*
 * Seqlock, reader side: copy the row between two equal even values of its
 * seq.  The acquire fence orders the copy before the second load, so a
 * writer that touched the row meanwhile is always noticed.
 */
static int
stats_read_row(const void *row, const uint32_t *seq, void *out, size_t len)
{
	uint32_t	 s1, s2;
	int		 tries;

	for (tries = 0; tries < STATS_READ_TRIES; tries++) {
		s1 = __atomic_load_n(seq, __ATOMIC_ACQUIRE);
		if (s1 & 1) {
			stats_relax();
			continue;
		}
		stats_load_words(out, row, len);
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		s2 = __atomic_load_n(seq, __ATOMIC_RELAXED);
		if (s1 == s2) {
			/* The copied seq may be later than s1; report s1. */
			*(uint32_t *)out = s1;
			return 0;
		}
		stats_relax();
	}
	errno = EBUSY;
	return -1;
}

int
stats_read_backend(const struct stats *st, uint32_t slot,
    struct stats_backend *out)
{
	const struct stats_backend	*b;

	if (st->st_hdr == NULL || slot >= st->st_max_backends) {
		errno = EINVAL;
		return -1;
	}
	b = &st->st_backends[slot];
	if (stats_read_row(b, &b->sb_seq, out, sizeof(*out)) == -1)
		return -1;
	if (out->sb_state != STATS_ROW_LIVE) {
		errno = 0;
		return -1;
	}
	/* The writer always terminates; a foreign writer might not. */
	out->sb_addr[sizeof(out->sb_addr) - 1] = '\0';
	out->sb_name[sizeof(out->sb_name) - 1] = '\0';
	out->sb_key[sizeof(out->sb_key) - 1] = '\0';
	return 0;
}

int
stats_read_client(const struct stats *st, uint32_t slot, uint32_t i,
    struct stats_client *out)
{
	const struct stats_client	*c;

	if (st->st_hdr == NULL || slot >= st->st_max_backends ||
	    i >= st->st_max_clients) {
		errno = EINVAL;
		return -1;
	}
	/* Rows above the high-water mark were never used: do not touch. */
	if (i >= __atomic_load_n(&st->st_backends[slot].sb_rows_hw,
	    __ATOMIC_ACQUIRE)) {
		errno = 0;
		return -1;
	}
	c = st->st_clients + (size_t)slot * st->st_max_clients + i;
	if (stats_read_row(c, &c->sc_seq, out, sizeof(*out)) == -1)
		return -1;
	if (out->sc_state != STATS_ROW_LIVE) {
		errno = 0;
		return -1;
	}
	out->sc_addr[sizeof(out->sc_addr) - 1] = '\0';
	return 0;
}
