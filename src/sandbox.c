/*
 * sandbox: identities, capabilities, core dumps and the workers' seccomp
 * filter (see sandbox.h).  Classic BPF through prctl(2), no library.
 */
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/uio.h>

#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <linux/sockios.h>

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "sandbox.h"

#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT			47
#define PR_CAP_AMBIENT_CLEAR_ALL	4
#endif

void
sandbox_nodump(void)
{
	struct rlimit	 rl = { 0, 0 };

	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	setrlimit(RLIMIT_CORE, &rl);
}

/* Capabilities, version 3: two 32-bit words per set. */
static int
caps_get(struct __user_cap_data_struct d[2])
{
	struct __user_cap_header_struct	 h;

	memset(&h, 0, sizeof(h));
	h.version = _LINUX_CAPABILITY_VERSION_3;
	return (int)syscall(SYS_capget, &h, d);
}

/* Effective and permitted sets; what is not permitted now is left out. */
static int
caps_set(uint64_t eff, uint64_t perm)
{
	struct __user_cap_header_struct	 h;
	struct __user_cap_data_struct	 d[2];
	uint64_t			 now;

	if (caps_get(d) == -1)
		return -1;
	now = (uint64_t)d[1].permitted << 32 | d[0].permitted;
	eff &= now;
	perm &= now;
	memset(&h, 0, sizeof(h));
	memset(d, 0, sizeof(d));
	h.version = _LINUX_CAPABILITY_VERSION_3;
	d[0].effective = (uint32_t)eff;
	d[1].effective = (uint32_t)(eff >> 32);
	d[0].permitted = (uint32_t)perm;
	d[1].permitted = (uint32_t)(perm >> 32);
	return (int)syscall(SYS_capset, &h, d);
}

int
sandbox_have_caps(uint64_t caps)
{
	struct __user_cap_data_struct	 d[2];
	uint64_t			 eff;

	if (caps_get(d) == -1)
		return 0;
	eff = (uint64_t)d[1].effective << 32 | d[0].effective;
	return (eff & caps) == caps;
}

int
sandbox_set_identity(uid_t uid, gid_t gid, uint64_t keep)
{
	uid_t	 ru, eu, su;
	gid_t	 rg, eg, sg;
	int	 saved;

	if (uid != (uid_t)-1) {
		/* Keep the permitted set across the uid change if asked. */
		if (keep != 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) == -1)
			return -1;
		if (setgroups(1, &gid) == -1 || setresgid(gid, gid, gid) == -1 ||
		    setresuid(uid, uid, uid) == -1)
			goto fail;
		if (keep != 0)
			prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
		if (getresuid(&ru, &eu, &su) == -1 ||
		    getresgid(&rg, &eg, &sg) == -1 || ru != uid || eu != uid ||
		    su != uid || rg != gid || eg != gid || sg != gid) {
			errno = EPERM;
			return -1;
		}
	}
	/*
	 * A change between two non-root uids keeps every capability (a
	 * systemd unit's CAP_SETUID, say): give up all but keep, for good.
	 */
	if (caps_set(keep, keep) == -1)
		return -1;
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) == -1 &&
	    errno != EINVAL)
		return -1;
	if (keep == 0 && getuid() != 0 && (setuid(0) != -1 ||
	    seteuid(0) != -1)) {
		errno = EPERM;
		return -1;
	}
	sandbox_nodump();
	return 0;
 fail:
	saved = errno;
	if (keep != 0)
		prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
	errno = saved;
	return -1;
}

/* ---- the workers' seccomp filter ---- */

#if defined(__x86_64__)
#define SANDBOX_ARCH	AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define SANDBOX_ARCH	AUDIT_ARCH_AARCH64
#endif

#define SC_NR		offsetof(struct seccomp_data, nr)
#define SC_ARCH		offsetof(struct seccomp_data, arch)
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define SC_ARG_LO(i)	(offsetof(struct seccomp_data, args) + 8 * (i))
#define SC_ARG_HI(i)	(offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#else
#define SC_ARG_LO(i)	(offsetof(struct seccomp_data, args) + 8 * (i) + 4)
#define SC_ARG_HI(i)	(offsetof(struct seccomp_data, args) + 8 * (i))
#endif

#define LD(off)		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, (off))
#define RET(v)		BPF_STMT(BPF_RET | BPF_K, (v))
/* if (A == k) skip the next n instructions */
#define SKIP_IF_NE(k, n) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (k), 0, (n))
#define ALLOW_NR(nr)	SKIP_IF_NE(nr, 1), RET(SECCOMP_RET_ALLOW)

/*
 * The system calls a serving worker makes, found with strace -f on real
 * workers: pooled and registering, under load (bulk transfers, 1000
 * clients coming and going), refusing, after SIGHUP (a new log descriptor
 * from the master), draining on SIGTERM, on every exit path, logging to a
 * file, to stderr and to syslog.  Plus what the rewritten worker adds
 * (writev, setsockopt for TCP_NOTSENT_LOWAT and SO_LINGER, getsockopt,
 * ioctl SIOCOUTQ/SIOCOUTQNSD, shutdown).  Nothing that opens, executes,
 * creates processes, signals or traces another process, or changes
 * credentials: a worker has no reason to, and with the same uid as the
 * master those are what would reach it.  No socket(2) or connect(2)
 * either (connect(AF_UNSPEC) would turn an accepted socket into one that
 * can dial out).
 */
static const struct sock_filter sandbox_prog[] = {
	LD(SC_ARCH),
	SKIP_IF_NE(SANDBOX_ARCH, 1),
	BPF_JUMP(BPF_JMP | BPF_JA, 1, 0, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	LD(SC_NR),
#if defined(__x86_64__)
	/* x32 system calls share the architecture: refuse them all. */
	BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1),
	RET(SECCOMP_RET_KILL_PROCESS),
#endif
	/* The event loop and the sockets it serves. */
#ifdef __NR_epoll_wait
	ALLOW_NR(__NR_epoll_wait),
#endif
	ALLOW_NR(__NR_epoll_pwait),
#ifdef __NR_epoll_pwait2
	ALLOW_NR(__NR_epoll_pwait2),
#endif
	ALLOW_NR(__NR_epoll_ctl),
	ALLOW_NR(__NR_epoll_create1),
	ALLOW_NR(__NR_read),
	ALLOW_NR(__NR_readv),
	ALLOW_NR(__NR_write),
	ALLOW_NR(__NR_writev),
	ALLOW_NR(__NR_recvfrom),
	ALLOW_NR(__NR_recvmsg),
	ALLOW_NR(__NR_sendmsg),
	ALLOW_NR(__NR_accept4),
	ALLOW_NR(__NR_shutdown),
	ALLOW_NR(__NR_close),
	ALLOW_NR(__NR_dup3),
	ALLOW_NR(__NR_getsockopt),
	ALLOW_NR(__NR_setsockopt),
	ALLOW_NR(__NR_getpeername),
	ALLOW_NR(__NR_getsockname),
	/* Memory (malloc) and time. */
	ALLOW_NR(__NR_brk),
	ALLOW_NR(__NR_munmap),
	ALLOW_NR(__NR_mremap),
	ALLOW_NR(__NR_madvise),
	ALLOW_NR(__NR_clock_gettime),
	ALLOW_NR(__NR_clock_getres),
	ALLOW_NR(__NR_clock_nanosleep),
	ALLOW_NR(__NR_gettimeofday),
#ifdef __NR_time
	ALLOW_NR(__NR_time),
#endif
	ALLOW_NR(__NR_nanosleep),
	/* The process itself. */
	ALLOW_NR(__NR_getpid),
	ALLOW_NR(__NR_gettid),
	ALLOW_NR(__NR_getppid),
	ALLOW_NR(__NR_rt_sigprocmask),
	ALLOW_NR(__NR_rt_sigreturn),
	ALLOW_NR(__NR_restart_syscall),
	ALLOW_NR(__NR_futex),
	ALLOW_NR(__NR_sched_yield),
	ALLOW_NR(__NR_exit),
	ALLOW_NR(__NR_exit_group),

	/* fcntl: descriptor and status flags only (F_SETOWN would signal). */
	SKIP_IF_NE(__NR_fcntl, 8),
	LD(SC_ARG_LO(1)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_GETFD, 5, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETFD, 4, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_GETFL, 3, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_SETFL, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, F_DUPFD_CLOEXEC, 1, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	RET(SECCOMP_RET_ALLOW),
	/* ioctl: the socket queue sizes (FIOSETOWN would signal). */
	LD(SC_NR),
	SKIP_IF_NE(__NR_ioctl, 7),
	LD(SC_ARG_LO(1)),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIOCOUTQ, 4, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIOCOUTQNSD, 3, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SIOCINQ, 2, 0),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, FIONBIO, 1, 0),
	RET(SECCOMP_RET_KILL_PROCESS),
	RET(SECCOMP_RET_ALLOW),
	/* mmap, mprotect: never executable memory. */
	LD(SC_NR),
	BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_mmap, 1, 0),
	SKIP_IF_NE(__NR_mprotect, 4),
	LD(SC_ARG_LO(2)),
	BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, PROT_EXEC, 0, 1),
	RET(SECCOMP_RET_KILL_PROCESS),
	RET(SECCOMP_RET_ALLOW),
	/*
	 * sendto: log lines to the syslog daemon, by name (log.c); the
	 * worker has no socket of its own that could reach anything else.
	 */
	ALLOW_NR(__NR_sendto),
	RET(SECCOMP_RET_KILL_PROCESS),
};

/* The test hook's switch, read before the filter is in place. */
static int	 sandbox_test_enabled;

int
sandbox_worker_enter(const char **why)
{
#ifdef SANDBOX_ARCH
	struct sock_fprog	 prog;
	const char		*e;

	e = getenv(SANDBOX_TEST_ENV);
	sandbox_test_enabled = e != NULL && strcmp(e, "1") == 0;
	/* localtime_r() reads /etc/localtime once: syslog lines need it. */
	tzset();
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == -1) {
		*why = "prctl(PR_SET_NO_NEW_PRIVS)";
		return -1;
	}
	prog.len = sizeof(sandbox_prog) / sizeof(sandbox_prog[0]);
	prog.filter = (struct sock_filter *)sandbox_prog;
	if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) == -1) {
		*why = "prctl(PR_SET_SECCOMP): the kernel has no seccomp filter";
		return -1;
	}
	return 0;
#else
	*why = "no seccomp filter for this architecture";
	errno = ENOSYS;
	return -1;
#endif
}

void
sandbox_test_violation(const char *name)
{
	static const char	 prefix[] = "sandbox-test-";
	const char		*what;
	struct iovec		 l, r;
	char			 byte, *argv[] = { "sh", NULL };
	pid_t			 master = getppid();
	long			 rv = 0;
	void			*page;

	if (!sandbox_test_enabled ||
	    strncmp(name, prefix, sizeof(prefix) - 1) != 0)
		return;
	what = name + sizeof(prefix) - 1;
	log_warnx("sandbox test: calling %s", what);
	l.iov_base = &byte;
	l.iov_len = 1;
	r.iov_base = &byte;
	r.iov_len = 1;
	if (strcmp(what, "kill") == 0)
		rv = kill(master, SIGKILL);
	else if (strcmp(what, "tgkill") == 0)
		rv = syscall(SYS_tgkill, master, master, SIGKILL);
	else if (strcmp(what, "tkill") == 0)
		rv = syscall(SYS_tkill, master, SIGKILL);
	else if (strcmp(what, "ptrace") == 0)
		rv = ptrace(PTRACE_ATTACH, master, NULL, NULL);
	else if (strcmp(what, "process_vm_readv") == 0)
		rv = syscall(SYS_process_vm_readv, master, &l, 1, &r, 1, 0);
	else if (strcmp(what, "process_vm_writev") == 0)
		rv = syscall(SYS_process_vm_writev, master, &l, 1, &r, 1, 0);
#ifdef SYS_pidfd_open
	else if (strcmp(what, "pidfd_open") == 0)
		rv = syscall(SYS_pidfd_open, master, 0);
	else if (strcmp(what, "pidfd_getfd") == 0)
		rv = syscall(SYS_pidfd_getfd, -1, 3, 0);
	else if (strcmp(what, "pidfd_send_signal") == 0)
		rv = syscall(SYS_pidfd_send_signal, -1, SIGKILL, NULL, 0);
#endif
#ifdef SYS_open
	else if (strcmp(what, "open") == 0)
		rv = syscall(SYS_open, "/proc/self/status", O_RDONLY);
#endif
	else if (strcmp(what, "openat") == 0)
		rv = openat(AT_FDCWD, "/proc/self/status", O_RDONLY);
	else if (strcmp(what, "execve") == 0)
		rv = execve("/bin/sh", argv, NULL);
	else if (strcmp(what, "fork") == 0)
		rv = fork() == -1 ? -1 : 0;
	else if (strcmp(what, "setuid") == 0)
		rv = setuid(0);
	else if (strcmp(what, "prctl") == 0)
		rv = prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
	else if (strcmp(what, "mprotect_exec") == 0) {
		page = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS,
		    -1, 0);
		rv = mprotect(page, 4096, PROT_READ | PROT_EXEC);
	} else if (strcmp(what, "socket") == 0)
		rv = socket(AF_INET, SOCK_STREAM, 0);
	else if (strcmp(what, "connect") == 0)
		rv = connect(0, NULL, 0);
	else if (strcmp(what, "fcntl_setown") == 0)
		rv = fcntl(0, F_SETOWN, master);
	else if (strcmp(what, "ioctl_setown") == 0)
		rv = ioctl(0, FIOSETOWN, &master);
	else {
		log_warnx("sandbox test: unknown system call %s", what);
		return;
	}
	/* Still here: the filter let it through. */
	log_warnx("sandbox test: %s was allowed (returned %ld)", what, rv);
}
