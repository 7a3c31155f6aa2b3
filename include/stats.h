/*
 * stats: the shared-memory counters table (layout in stats_abi.h).
 *
 * The master creates the segment before it forks; workers inherit the
 * mapping.  All writes are lock-free and make no syscall: the data path only
 * does relaxed atomic adds.
 */
#ifndef RELAY_STATS_H
#define RELAY_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "stats_abi.h"

/* Owner and group (--stats-group) may read; nobody else. */
#define STATS_MODE	0640

struct stats {
	struct stats_header	*st_hdr;
	struct stats_backend	*st_backends;
	struct stats_client	*st_clients;
	size_t			 st_size;
	uint32_t		 st_max_backends;	/* validated copies of the */
	uint32_t		 st_max_clients;	/* header's table sizes */
	char			 st_name[256];
	int			 st_owner;	/* created it: unlink at the end */
	uid_t			 st_file_uid;	/* owner of the segment's file */
};

/*
 * Relaxed atomic counter updates: the only thing the data path does.
 * Building with -DRELAY_NO_STATS turns them into nothing, so that a
 * benchmark can show what they cost (make bench compares both).
 */
#ifndef RELAY_NO_STATS
static inline void
stats_add(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

static inline void
stats_sub(uint64_t *counter, uint64_t n)
{
	__atomic_fetch_sub(counter, n, __ATOMIC_RELAXED);
}

static inline void
stats_set(uint64_t *counter, uint64_t v)
{
	__atomic_store_n(counter, v, __ATOMIC_RELAXED);
}
#else
static inline void
stats_add(uint64_t *counter, uint64_t n)
{
	(void)counter;
	(void)n;
}

static inline void
stats_sub(uint64_t *counter, uint64_t n)
{
	(void)counter;
	(void)n;
}

static inline void
stats_set(uint64_t *counter, uint64_t v)
{
	(void)counter;
	(void)v;
}
#endif

/* Default segment name for a control port: "/relay.<port>". */
void	 stats_default_name(char *, size_t, unsigned port);

/*
 * Master: create (O_EXCL), give it to uid:gid (-1: leave as created) with
 * mode STATS_MODE, size and map the segment, fill the header.  An existing
 * segment is opened without blocking and only replaced when it is a
 * regular file that belongs to the relay's user (uid, or ours when -1) and
 * names no live relay; a live relay's is refused with EEXIST, anything
 * else (a FIFO, a symbolic link, another user's file) with EPERM: someone
 * may have planted it.  Returns 0 or -1 with errno set and a reason in
 * *why (static storage).
 */
int	 stats_create(struct stats *, const char *name, uint32_t max_backends,
	    uint32_t max_clients, unsigned control_port, uid_t uid, gid_t gid,
	    const char **why);
/*
 * 1 when pid is a live process named "relay", 0 when it is not, -1 when
 * it is alive but its name cannot be read (/proc hidden).
 */
int	 stats_pid_is_relay(int64_t pid);
/*
 * Unmap; unlink too when unlink is set and this process is the master that
 * created it (a forked worker calling it with unlink set only unmaps).
 */
void	 stats_close(struct stats *, int unlink);

/* Master: mark all rows of a backend slot free (its worker is gone). */
void	 stats_backend_reclaim(struct stats *, uint32_t slot);

/*
 * Worker: publish the identity of its backend row.  addr, name and key (the
 * fingerprint of the backend's static key, "SHA256:..."; "" or NULL when
 * the session has none) are truncated to fit their fields.
 */
struct stats_backend *
	 stats_backend_begin(struct stats *, uint32_t slot, int64_t pid,
	    unsigned tunnel_port, const char *addr, const char *name,
	    const char *key, int64_t since_ms);

/*
 * Worker: take a free client row of its slot and publish its identity.
 * NULL when the slot's client rows are all in use (the untracked counter
 * goes up; traffic still flows).  Updates clients_now/total.
 */
struct stats_client *
	 stats_client_begin(struct stats *, uint32_t slot, unsigned tunnel_port,
	    const char *addr, int64_t since_ms);
/* Worker: the client is gone; its row becomes free.  c may be NULL. */
void	 stats_client_end(struct stats *, uint32_t slot, struct stats_client *c);

/*
 * Bytes of one client: adds to the client row (when tracked) and to the
 * backend's totals.
 */
static inline void
stats_client_bytes(struct stats_backend *b, struct stats_client *c,
    uint64_t in, uint64_t out)
{
	if (b == NULL)
		return;
	if (in) {
		stats_add(&b->sb_bytes_in, in);
		if (c != NULL)
			stats_add(&c->sc_bytes_in, in);
	}
	if (out) {
		stats_add(&b->sb_bytes_out, out);
		if (c != NULL)
			stats_add(&c->sc_bytes_out, out);
	}
}

/*
 * Reader (relaystat): map an existing segment read-only and check magic,
 * ABI version and sizes; a FIFO or anything but a regular file is refused
 * without blocking.  st_file_uid says who owns it: the caller decides
 * whether that is the relay's user.  Returns 0, or -1 with a reason in
 * *why.
 */
int	 stats_open_ro(struct stats *, const char *name, const char **why);
/*
 * Reader: consistent copies of rows (retries torn reads).  0 = copied a
 * live row, -1 = row free (errno 0), out of range (EINVAL) or still being
 * written after many retries (EBUSY): skip it this time.
 */
int	 stats_read_backend(const struct stats *, uint32_t slot,
	    struct stats_backend *out);
int	 stats_read_client(const struct stats *, uint32_t slot, uint32_t i,
	    struct stats_client *out);

#endif /* RELAY_STATS_H */
