/*
 * stats_abi.h: the layout of the shared-memory statistics table, shared by
 * the relay (writer) and relaystat (reader).  Changing anything here means
 * bumping STATS_ABI_VERSION.
 *
 * The segment is one header, then hdr.max_backends backend rows, then
 * hdr.max_backends * hdr.max_clients client rows: backend slot i owns the
 * client rows [i * max_clients, (i + 1) * max_clients).
 *
 * Writers: the master writes the header counters and reclaims the rows of a
 * dead worker; otherwise a backend row and its client rows have exactly one
 * writer, the worker that was handed that slot.  Counters are 64-bit and
 * updated with relaxed atomic adds.  Identity fields (addresses, name, key,
 * port, pid, since) are published under the row's sequence number: the writer
 * makes seq odd, writes, then makes it even (release); a reader copies the
 * row between two equal even reads of seq (acquire) or retries.  A row with
 * state STATS_ROW_FREE is not in use.
 */
#ifndef RELAY_STATS_ABI_H
#define RELAY_STATS_ABI_H

#include <stddef.h>
#include <stdint.h>

#define STATS_MAGIC		0x3154535959414c52ULL	/* "RLAYYST1" */
#define STATS_ABI_VERSION	2	/* 2: sb_key; backend rows of 384 bytes */
#define STATS_ADDR_MAX		64	/* "[v6addr]:port" with NUL */
#define STATS_NAME_MAX		64
#define STATS_KEY_MAX		64	/* "SHA256:" + 43 base64, NUL, room */

#define STATS_ROW_FREE		0
#define STATS_ROW_LIVE		1

struct stats_header {
	uint64_t	 sh_magic;
	uint32_t	 sh_abi;
	uint32_t	 sh_header_size;	/* sizeof(struct stats_header) */
	uint32_t	 sh_backend_size;	/* sizeof(struct stats_backend) */
	uint32_t	 sh_client_size;	/* sizeof(struct stats_client) */
	uint32_t	 sh_max_backends;
	uint32_t	 sh_max_clients;	/* client rows per backend slot */
	int64_t		 sh_master_pid;
	int64_t		 sh_start_time;		/* unix seconds */
	uint32_t	 sh_control_port;
	uint32_t	 sh_pad0;
	/* Relay-wide counters, written by the master only. */
	uint64_t	 sh_backends_now;
	uint64_t	 sh_backends_total;
	uint64_t	 sh_registrations_refused;
	uint64_t	 sh_workers_idle;
} __attribute__((aligned(128)));

struct stats_backend {
	uint32_t	 sb_seq;		/* odd while identity is written */
	uint32_t	 sb_state;		/* STATS_ROW_FREE / LIVE */
	int64_t		 sb_pid;		/* worker pid */
	uint32_t	 sb_tunnel_port;
	uint32_t	 sb_rows_hw;		/* client rows [0, hw) were ever
						   used by this backend: readers
						   and the master look no further,
						   so untouched pages stay free */
	int64_t		 sb_since;		/* registered, unix ms */
	char		 sb_addr[STATS_ADDR_MAX];	/* backend's address */
	char		 sb_name[STATS_NAME_MAX];	/* backend's name or "" */
	char		 sb_key[STATS_KEY_MAX];		/* "SHA256:..." of its
							   key (keys.h), or ""
							   (no key) */
	uint8_t		 sb_pad0[32];		/* zero: the counters start a
						   cache line of their own */
	/* Counters: relaxed atomics, monotonic except clients_now. */
	uint64_t	 sb_clients_now;
	uint64_t	 sb_clients_total;
	uint64_t	 sb_clients_untracked;	/* no free client row */
	uint64_t	 sb_bytes_in;		/* client -> backend, all clients */
	uint64_t	 sb_bytes_out;		/* backend -> client, all clients */
	uint64_t	 sb_rtt_us;		/* last ping round trip, 0 = none */
} __attribute__((aligned(128)));

struct stats_client {
	uint32_t	 sc_seq;
	uint32_t	 sc_state;
	uint32_t	 sc_tunnel_port;
	uint32_t	 sc_pad0;
	int64_t		 sc_since;		/* connected, unix ms */
	char		 sc_addr[STATS_ADDR_MAX];	/* client's address */
	uint64_t	 sc_bytes_in;		/* client -> backend */
	uint64_t	 sc_bytes_out;		/* backend -> client */
} __attribute__((aligned(128)));

_Static_assert(sizeof(struct stats_header) == 128, "stats header size");
_Static_assert(sizeof(struct stats_backend) == 384, "stats backend row size");
_Static_assert(sizeof(struct stats_client) == 128, "stats client row size");
_Static_assert(offsetof(struct stats_backend, sb_key) == 160 &&
    offsetof(struct stats_backend, sb_clients_now) == 256,
    "stats backend row layout");

#endif /* RELAY_STATS_ABI_H */
