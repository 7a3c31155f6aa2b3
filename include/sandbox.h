/*
 * sandbox: what confines the relay's processes.  A worker parses whatever
 * the internet sends it, so it must not be able to reach the master, the
 * other tunnels or the host even once an attacker runs code in it: it has
 * its own identity (--worker-user), no capabilities, no core dumps, no way
 * to gain privileges, and a seccomp filter that allows only the system
 * calls a serving worker makes (the list is in sandbox.c and relay(8)).
 * The master keeps the capabilities it needs and nothing else.
 */
#ifndef RELAY_SANDBOX_H
#define RELAY_SANDBOX_H

#include <stdint.h>
#include <sys/types.h>

/* A capability as a bit of the masks below: SANDBOX_CAP(CAP_SETUID). */
#define SANDBOX_CAP(c)		(1ULL << (c))

/*
 * Make this process not dumpable (no core file, /proc/PID owned by root,
 * no ptrace or /proc/PID/mem by a process of the same uid) and set
 * RLIMIT_CORE to 0.  For every process that holds the secret; a change of
 * credentials resets dumpable, so sandbox_set_identity calls it again.
 */
void	 sandbox_nodump(void);

/* Non-zero when the effective capability set holds every bit of caps. */
int	 sandbox_have_caps(uint64_t caps);

/*
 * Become uid:gid (gid the only supplementary group; uid -1: keep the ids)
 * with those capabilities of keep it has, permitted and effective, none
 * inheritable or ambient.  Works from root and from a process that holds
 * CAP_SETUID and CAP_SETGID (a systemd unit's AmbientCapabilities=).
 * Without keep, checks that there is no way back to root.  0, or -1 with
 * errno.
 */
int	 sandbox_set_identity(uid_t uid, gid_t gid, uint64_t keep);

/*
 * Worker: set no_new_privs and install the seccomp filter; from then on a
 * forbidden system call kills the worker with SIGSYS (the master logs it).
 * Call once the worker has set up (descriptors, event loop), before the
 * first byte from a peer.  0, or -1 with *why.
 */
int	 sandbox_worker_enter(const char **why);

/*
 * Test hook, for tests/hardening.bats only.  With RELAY_TEST_SANDBOX_-
 * VIOLATION=1 in the relay's environment, a worker whose backend
 * registers as "sandbox-test-SYSCALL" makes that forbidden system call at
 * the master (kill, tgkill, tkill, ptrace, process_vm_readv,
 * process_vm_writev, pidfd_open, pidfd_getfd, pidfd_send_signal, open,
 * openat, execve, fork, setuid, prctl, socket, connect, mprotect_exec,
 * fcntl_setown, ioctl_setown).  Without the variable it does nothing.
 */
#define SANDBOX_TEST_ENV	"RELAY_TEST_SANDBOX_VIOLATION"
void	 sandbox_test_violation(const char *backend_name);

#endif /* RELAY_SANDBOX_H */
