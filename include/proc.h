/*
 * proc: the master <-> worker channel.  Fixed-size typed messages over a
 * Unix socketpair (SOCK_SEQPACKET, so one send is one message), at most one
 * descriptor per message (SCM_RIGHTS), sizes checked exactly on receipt.
 */
#ifndef RELAY_PROC_H
#define RELAY_PROC_H

#include <stddef.h>
#include <stdint.h>

#define PROC_NAME_MAX		64
#define PROC_ADDR_MAX		64
#define PROC_REASON_MAX		128
#define PROC_DATA_MAX		672	/* handshake messages and keys */

enum proc_msg_type {
	/* master -> worker */
	PROC_BACKEND = 1,	/* fd: a backend's connection */
	PROC_PORT_OK,		/* fd: the tunnel listener */
	PROC_PORT_ERR,		/* no fd: why the port was refused */
	PROC_SHUTDOWN,		/* no fd: drain and exit */
	PROC_LOGFD,		/* fd: the reopened log file */
	PROC_HS_REP,		/* no fd: the master's handshake answer */
	PROC_REVOKE,		/* no fd: the backend's key was withdrawn */
	PROC_HS_KEYS,		/* no fd: the session is the key's: its keys */
	/* worker -> master */
	PROC_PORT_REQ = 32,	/* ask for a tunnel port */
	PROC_REGISTERED,	/* the backend is registered */
	PROC_IDLE,		/* registration failed; back in the pool */
	PROC_HS_REQ,		/* an encrypted session's message 1 */
	PROC_HS_REC,		/* and the backend's first record */
};

#define PROC_F_REFUSED	0x1	/* PROC_IDLE: the registration was refused */
#define PROC_F_AUTHFAIL	0x2	/* PROC_IDLE: refused, not authenticated */
/* PROC_HS_REQ: which handshake (the preamble the worker read). */
#define PROC_HS_IK	1
#define PROC_HS_PSK	2
/*
 * PROC_HS_REP, pm_flags: the verdict.  pm_data holds pm_len bytes for the
 * worker to write to the backend verbatim (hs.h: the framed message 2, or
 * the empty reply, or nothing).  With PROC_HS_OK the worker then reads
 * the backend's first record and passes it on (PROC_HS_REC); the master
 * opens it and answers PROC_HS_KEYS: pm_data the two transport keys (what
 * the relay sends with, from nonce 0; what it receives with, from nonce 1)
 * then the record's plaintext, pm_len 64 + its length, pm_reason the
 * backend key's fingerprint (IK) or "".  A record that does not open gets
 * PROC_HS_REP with PROC_HS_BAD and nothing to write.
 */
#define PROC_HS_OK	1	/* message 2 accepts: the first record next */
#define PROC_HS_REFUSED	2	/* message 2 carries "error: ..." */
#define PROC_HS_BAD	3	/* message 1 did not authenticate */

/*
 * The master trusts no worker: a worker parses what the internet sends and
 * may be someone else's by now.  What a worker may send, field by field
 * (proc_worker_msg_check; every field not listed must be zero or ""):
 *
 * PROC_HS_REQ    right after the backend was handed over, at most once:
 *                pm_flags PROC_HS_IK or PROC_HS_PSK, pm_len (1 to
 *                HS_MSG1_MAX) bytes of message 1 in pm_data.  The master
 *                runs the handshake (the worker never holds the relay's
 *                key or secret) and answers PROC_HS_REP.
 * PROC_HS_REC    after PROC_HS_REP with PROC_HS_OK, once: pm_len (19 to
 *                HS_REC1_MAX) bytes, the backend's first record, framed.
 * PROC_PORT_REQ  while registering, once: pm_port (0 = any), pm_name ("" or
 *                a name by hello_name_ok's rules), pm_addr (the numeric
 *                address the master gave it).  For an encrypted session
 *                the master checks them against what the key may hold.
 * PROC_REGISTERED once the port was granted: pm_port, the granted port.
 * PROC_IDLE      while registering: pm_flags (PROC_F_REFUSED, with
 *                PROC_F_AUTHFAIL), pm_reason (printable ASCII, not empty):
 *                why the registration failed, which the master logs.
 *
 * Anything else, or a message in the wrong state, and the worker is killed.
 */
struct proc_msg {
	uint32_t	 pm_type;
	uint32_t	 pm_slot;		/* stats slot (PROC_PORT_OK) */
	uint32_t	 pm_port;		/* requested or granted port */
	uint32_t	 pm_flags;
	char		 pm_name[PROC_NAME_MAX];	/* backend name or "" */
	char		 pm_addr[PROC_ADDR_MAX];	/* backend address */
	char		 pm_reason[PROC_REASON_MAX];
	uint32_t	 pm_len;		/* bytes used in pm_data */
	uint8_t		 pm_data[PROC_DATA_MAX];
};

/* tests/lib/harden.py builds these by hand: keep it in step. */
#define PROC_MSG_SIZE	948
_Static_assert(sizeof(struct proc_msg) == PROC_MSG_SIZE, "proc_msg layout");
/* Keys and the first record's plaintext fit (hs.h). */
_Static_assert(PROC_DATA_MAX >= 64 + 606 - 18, "proc_msg data");

/* A connected pair of SOCK_SEQPACKET sockets, close-on-exec. */
int	 proc_channel(int sv[2]);
/*
 * Send one message with an optional descriptor (-1 for none).  The
 * channel is a local socketpair with room for many messages, so this
 * blocks only if the peer stopped reading entirely.  0 or -1 (errno).
 */
int	 proc_send(int chan, const struct proc_msg *, int fd);
/*
 * Receive one message.  Returns 1 with *fd set (-1 when none came), 0 on
 * EOF, -1 on error (errno; EAGAIN when nothing is there).  A message of the
 * wrong size, a truncated control message or more than one descriptor is
 * refused with EBADMSG and any descriptor received is closed.
 */
int	 proc_recv(int chan, struct proc_msg *, int *fd);
/*
 * Validate a received message: known type, NUL-terminated strings, a
 * descriptor exactly when the type carries one.  0 or -1.
 */
int	 proc_msg_check(const struct proc_msg *, int fd);
/*
 * The master's check of a message from a worker (the rules above, except
 * the state, which only the master knows): 0, or -1 with *why naming the
 * first field that is wrong.
 */
int	 proc_worker_msg_check(const struct proc_msg *, int fd,
	    const char **why);

#endif /* RELAY_PROC_H */
