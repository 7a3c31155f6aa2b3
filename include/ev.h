/*
 * ev: a small epoll event loop, one per process.  An fd-indexed handler
 * table, a timer heap and a hook that runs before each sleep (where callers
 * flush what they batched).  Level-triggered; interest changes are cached so
 * an unchanged mask costs no syscall.
 */
#ifndef RELAY_EV_H
#define RELAY_EV_H

#include <stdint.h>
#include <sys/epoll.h>

#define EV_READ		EPOLLIN
#define EV_WRITE	EPOLLOUT

typedef void	ev_fd_cb(int fd, uint32_t events, void *arg);
typedef void	ev_timer_cb(void *arg);
typedef void	ev_hook_cb(void *arg);

struct ev_timer {
	uint64_t	 et_when;	/* ms, monotonic */
	ev_timer_cb	*et_cb;
	void		*et_arg;
	int		 et_idx;	/* heap position, -1 when idle */
};

void		 ev_init(void);
void		 ev_reset(void);	/* in a child whose descriptors were
					   closed: start a loop of its own */
uint64_t	 ev_now(void);		/* ms, monotonic, cached per iteration */
uint64_t	 ev_now_update(void);

int		 ev_add(int fd, uint32_t events, ev_fd_cb *, void *arg);
int		 ev_set(int fd, uint32_t events);	/* change interest */
void		 ev_del(int fd);

void		 ev_timer_init(struct ev_timer *, ev_timer_cb *, void *arg);
void		 ev_timer_at(struct ev_timer *, uint64_t when);
void		 ev_timer_cancel(struct ev_timer *);
int		 ev_timer_pending(const struct ev_timer *);

void		 ev_set_presleep(ev_hook_cb *, void *arg);
/* Do not sleep in this iteration: the caller has work after it. */
void		 ev_break(void);
/* Wait for events (at most max_ms, -1 = until one comes) and run them. */
int		 ev_run_once(int max_ms);

#endif /* RELAY_EV_H */
