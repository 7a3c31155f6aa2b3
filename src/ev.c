/*
 * ev: epoll loop with an fd-indexed handler table and a binary timer heap.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ev.h"
#include "log.h"

struct ev_fd {
	ev_fd_cb	*cb;
	void		*arg;
	uint32_t	 events;
	int		 active;
};

static int		 ev_epfd = -1;
static struct ev_fd	*ev_fds;
static int		 ev_nfds;
static struct ev_timer	**ev_heap;
static int		 ev_heap_len, ev_heap_cap;
static uint64_t		 ev_clock;
static ev_hook_cb	*ev_presleep;
static int		 ev_nowait;
static void		*ev_presleep_arg;

uint64_t
ev_now_update(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	ev_clock = (uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
	return ev_clock;
}

uint64_t
ev_now(void)
{
	return ev_clock;
}

void
ev_init(void)
{
	if ((ev_epfd = epoll_create1(EPOLL_CLOEXEC)) == -1)
		fatal("epoll_create1");
	ev_now_update();
}

void
ev_reset(void)
{
	/* The parent's epoll descriptor was closed with the rest. */
	free(ev_fds);
	free(ev_heap);
	ev_fds = NULL;
	ev_nfds = 0;
	ev_heap = NULL;
	ev_heap_len = ev_heap_cap = 0;
	ev_presleep = NULL;
	ev_init();
}

static int
ev_grow(int fd)
{
	struct ev_fd	*n;
	int		 want;

	if (fd < ev_nfds)
		return 0;
	want = ev_nfds ? ev_nfds : 64;
	while (want <= fd)
		want *= 2;
	if ((n = realloc(ev_fds, want * sizeof(*n))) == NULL)
		return -1;
	memset(n + ev_nfds, 0, (want - ev_nfds) * sizeof(*n));
	ev_fds = n;
	ev_nfds = want;
	return 0;
}

int
ev_add(int fd, uint32_t events, ev_fd_cb *cb, void *arg)
{
	struct epoll_event	 ee;

	if (fd < 0 || ev_grow(fd) == -1)
		return -1;
	memset(&ee, 0, sizeof(ee));
	ee.events = events;
	ee.data.fd = fd;
	if (epoll_ctl(ev_epfd, EPOLL_CTL_ADD, fd, &ee) == -1)
		return -1;
	ev_fds[fd].cb = cb;
	ev_fds[fd].arg = arg;
	ev_fds[fd].events = events;
	ev_fds[fd].active = 1;
	return 0;
}

int
ev_set(int fd, uint32_t events)
{
	struct epoll_event	 ee;

	if (fd < 0 || fd >= ev_nfds || !ev_fds[fd].active)
		return -1;
	if (ev_fds[fd].events == events)
		return 0;
	memset(&ee, 0, sizeof(ee));
	ee.events = events;
	ee.data.fd = fd;
	if (epoll_ctl(ev_epfd, EPOLL_CTL_MOD, fd, &ee) == -1)
		return -1;
	ev_fds[fd].events = events;
	return 0;
}

void
ev_del(int fd)
{
	if (fd < 0 || fd >= ev_nfds || !ev_fds[fd].active)
		return;
	epoll_ctl(ev_epfd, EPOLL_CTL_DEL, fd, NULL);
	ev_fds[fd].active = 0;
	ev_fds[fd].cb = NULL;
	ev_fds[fd].arg = NULL;
	ev_fds[fd].events = 0;
}

/* Timer heap: ev_heap[0] is the earliest. */
static void
ev_heap_swap(int a, int b)
{
	struct ev_timer	*t = ev_heap[a];

	ev_heap[a] = ev_heap[b];
	ev_heap[b] = t;
	ev_heap[a]->et_idx = a;
	ev_heap[b]->et_idx = b;
}

static void
ev_heap_up(int i)
{
	while (i > 0) {
		int p = (i - 1) / 2;
		if (ev_heap[p]->et_when <= ev_heap[i]->et_when)
			break;
		ev_heap_swap(i, p);
		i = p;
	}
}

static void
ev_heap_down(int i)
{
	for (;;) {
		int l = 2 * i + 1, r = l + 1, m = i;
		if (l < ev_heap_len && ev_heap[l]->et_when < ev_heap[m]->et_when)
			m = l;
		if (r < ev_heap_len && ev_heap[r]->et_when < ev_heap[m]->et_when)
			m = r;
		if (m == i)
			break;
		ev_heap_swap(i, m);
		i = m;
	}
}

void
ev_timer_init(struct ev_timer *t, ev_timer_cb *cb, void *arg)
{
	t->et_when = 0;
	t->et_cb = cb;
	t->et_arg = arg;
	t->et_idx = -1;
}

int
ev_timer_pending(const struct ev_timer *t)
{
	return t->et_idx != -1;
}

void
ev_timer_cancel(struct ev_timer *t)
{
	int	 i = t->et_idx;

	if (i == -1)
		return;
	ev_heap_len--;
	if (i != ev_heap_len) {
		ev_heap[i] = ev_heap[ev_heap_len];
		ev_heap[i]->et_idx = i;
		ev_heap_up(i);
		ev_heap_down(ev_heap[i]->et_idx);
	}
	t->et_idx = -1;
}

void
ev_timer_at(struct ev_timer *t, uint64_t when)
{
	if (t->et_idx != -1) {
		uint64_t old = t->et_when;
		t->et_when = when;
		if (when < old)
			ev_heap_up(t->et_idx);
		else
			ev_heap_down(t->et_idx);
		return;
	}
	if (ev_heap_len == ev_heap_cap) {
		int n = ev_heap_cap ? ev_heap_cap * 2 : 16;
		struct ev_timer **h = realloc(ev_heap, n * sizeof(*h));
		if (h == NULL)
			fatal("timer heap");
		ev_heap = h;
		ev_heap_cap = n;
	}
	t->et_when = when;
	t->et_idx = ev_heap_len;
	ev_heap[ev_heap_len++] = t;
	ev_heap_up(t->et_idx);
}

void
ev_break(void)
{
	ev_nowait = 1;
}

void
ev_set_presleep(ev_hook_cb *cb, void *arg)
{
	ev_presleep = cb;
	ev_presleep_arg = arg;
}

static void
ev_run_timers(void)
{
	while (ev_heap_len > 0 && ev_heap[0]->et_when <= ev_clock) {
		struct ev_timer *t = ev_heap[0];
		ev_timer_cancel(t);
		t->et_cb(t->et_arg);
	}
}

int
ev_run_once(int max_ms)
{
	struct epoll_event	 evs[256];
	int			 n, i, timeout = max_ms, nowait;

	ev_run_timers();
	if (ev_presleep != NULL)
		ev_presleep(ev_presleep_arg);
	nowait = ev_nowait;
	ev_nowait = 0;
	if (nowait)
		timeout = 0;
	else if (ev_heap_len > 0) {
		uint64_t when = ev_heap[0]->et_when;
		int t = when <= ev_clock ? 0 :
		    (when - ev_clock > 3600000 ? 3600000 : (int)(when - ev_clock));
		if (timeout < 0 || t < timeout)
			timeout = t;
	}
	n = epoll_wait(ev_epfd, evs, 256, timeout);
	ev_now_update();
	if (n == -1) {
		if (errno == EINTR)
			return 0;
		fatal("epoll_wait");
	}
	for (i = 0; i < n; i++) {
		int fd = evs[i].data.fd;
		if (fd >= ev_nfds || !ev_fds[fd].active)
			continue;
		ev_fds[fd].cb(fd, evs[i].events, ev_fds[fd].arg);
	}
	ev_run_timers();
	return n;
}
