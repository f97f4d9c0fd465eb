/*
 * Address spaces: the master, one stub process per address space, and the requests their
 * syscall threads run for the sentry (mmap/munmap for map_file/unmap, clone for threads).
 *
 * A request is written into the stub's request page, which the stub maps read-only, and the
 * syscall thread runs it from registers.  Its completion must be known for sure before the
 * page is reused (or a request could be skipped, and an unmap with it), but everything the
 * stub can write, application threads can write too.  So the syscall thread reports each
 * completion twice: a hint in the response page (cheap to spin on, forgeable), and a record
 * written to a pipe only stub syscall threads hold and only they can write to: one of two
 * records prepared by the sentry in the read-only page, "done, succeeded" or "done, failed".
 * The sentry trusts only the pipe.  The master runs no application code: its response page
 * is trusted as is.
 */
#include <errno.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cvisor/log.h"
#include "systrap_internal.h"

/* ---- the request pages ---- */

/* Returns whether the loop slept and had to be woken. */
static bool ctl_post(struct stub_req *req, struct stub_resp *resp, uint32_t seq, long nr,
		     const uint64_t args[6], uint64_t r14, uint64_t ack_ok, uint64_t ack_fail,
		     uint64_t ack_len)
{
	req->nr = (uint64_t)nr;
	memcpy(req->args, args, sizeof(req->args));
	req->r14 = r14;
	req->ack_ok = ack_ok;
	req->ack_fail = ack_fail;
	req->ack_len = ack_len;
	/* Store the sequence, then read `sleeping`; the loop does the reverse. */
	__atomic_store_n(&req->seq, seq, __ATOMIC_SEQ_CST);
	if (!__atomic_load_n(&resp->sleeping, __ATOMIC_SEQ_CST))
		return false;
	syscall(SYS_futex, &req->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
	return true;
}

static void ctl_kick(struct stub_req *req)
{
	syscall(SYS_futex, &req->seq, FUTEX_WAKE, 1, NULL, NULL, 0);
}

/* ---- the master ---- */

/*
 * Keeps a syscall loop (the master, a stub's syscall thread) on the requester's CPU: a request
 * is then a same-CPU handoff, a context switch, never the wakeup of another, idle, CPU, which
 * costs 25-50 us here.  *cpu caches where it is pinned.
 */
static void loop_follow(pid_t tid, int *cpu)
{
	int now = sched_getcpu();
	cpu_set_t set;

	if (now < 0 || now == *cpu)
		return;
	CPU_ZERO(&set);
	CPU_SET(now, &set);
	if (sched_setaffinity(tid, sizeof(set), &set) == 0)
		*cpu = now;
}


static int master_request(struct systrap_platform *sp, long nr, const uint64_t args[6],
			  uint64_t r14, long *ret)
{
	struct stub_req *req = shm_ptr(sp, SHM_MASTER_CTL_OFF);
	struct stub_resp *resp = shm_ptr(sp, SHM_MASTER_CTL_OFF + 4096);
	uint32_t seq, seen;
	uint64_t spin;
	int64_t v;
	int r = 0;

	pthread_mutex_lock(&sp->master_lock);
	if (sp->master <= 0) {
		pthread_mutex_unlock(&sp->master_lock);
		return -ESRCH;
	}
	loop_follow(sp->master, &sp->master_cpu);
	seq = sp->master_seq + 2;
	ctl_post(req, resp, seq, nr, args, r14, 0, 0, 0);
	spin = 0; /* it runs on this CPU (loop_follow) */
	sp->master_seq = seq;
	seen = seq - 2;
	while ((v = systrap_seq_wait(sp, &resp->seq, seen, spin, NULL, 0, CHECK_INTERVAL_NS)) != seq) {
		if (v >= 0)
			seen = (uint32_t)v;
		if (v != -ETIMEDOUT)
			continue;
		if (!systrap_stub_alive(sp->master)) {
			r = -ESRCH;
			break;
		}
		ctl_kick(req);
	}
	*ret = resp->ret;
	pthread_mutex_unlock(&sp->master_lock);
	return r;
}

static void master_failed(struct systrap_platform *sp, pid_t pid)
{
	int st = 0;

	kill(pid, SIGKILL);
	while (waitpid(pid, &st, __WALL) < 0 && errno == EINTR)
		;
	/* An exit status 101-111 names the failed step of systrap_master_child(). */
	log_err("systrap: the master stub failed to start (wait status %#x)", st);
}

int systrap_master_create(struct systrap_platform *sp)
{
	struct master_args a = {
		.sp = sp, .memfd = sp->memfd, .privfd = sp->privfd, .ack_wr = sp->ack_wr
	};
	uint64_t none[6] = { 0 };
	long pid, ret = 0;
	int r;

	/* A raw fork: exit signal 0, so only __WALL waits see it and nothing auto-reaps it. */
	pid = syscall(SYS_clone, 0ul, NULL, NULL, NULL, 0ul);
	if (pid == 0)
		systrap_master_child(&a);
	if (pid < 0)
		return -errno;
	sp->master = (pid_t)pid;
	r = master_request(sp, SYS_getppid, none, 0, &ret);
	if (r == 0 && ret == sp->sentry_pid)
		return 0;
	master_failed(sp, (pid_t)pid);
	sp->master = -1;
	return r < 0 ? r : -EPROTO;
}

/* ---- acknowledgements ---- */

struct systrap_as *systrap_as_lookup_locked(struct systrap_platform *sp, uint32_t id)
{
	struct systrap_as *sas = sp->as_hash[id % AS_HASH];

	while (sas && sas->id != id)
		sas = sas->hash_next;
	return sas;
}

/* Reads every record in the pipe and files it with its address space. */
static void ack_drain(struct systrap_platform *sp, struct systrap_as *mine)
{
	uint64_t rec[64];
	ssize_t n;

	do {
		n = read(sp->ack_rd, rec, sizeof(rec));
		for (ssize_t i = 0; i < n / 8; i++) {
			uint32_t id = (uint32_t)rec[i], val = (uint32_t)(rec[i] >> 32);
			struct systrap_as *sas = mine;

			if (mine && id == mine->id) {
				atomic_store(&mine->acked, val);
				continue;
			}
			pthread_mutex_lock(&sp->lock);
			if ((sas = systrap_as_lookup_locked(sp, id)))
				atomic_store(&sas->acked, val);
			pthread_mutex_unlock(&sp->lock);
		}
	} while (n == (ssize_t)sizeof(rec));
}

static bool acked(struct systrap_as *sas, uint32_t seq, bool *ok)
{
	uint32_t a = atomic_load(&sas->acked);

	*ok = a & 1;
	return (a & ~1u) == seq;
}

/* Waits for request seq's record: 0 with *ok, or -ESRCH.  woke: the post woke the loop. */
static int ack_wait(struct systrap_as *sas, uint32_t seq, bool woke, bool *ok)
{
	struct systrap_platform *sp = sas->sp;
	uint64_t spin = 0; /* it runs on this CPU (loop_follow): let it have it */
	int64_t slept = 0, v;
	uint32_t hint = seq - 2;

	for (;;) {
		if (acked(sas, seq, ok))
			return 0;
		ack_drain(sp, sas);
		if (acked(sas, seq, ok))
			return 0;
		if (atomic_load(&sas->dead))
			return -ESRCH;
		/* The record precedes the hint; a hint with no record is a race with another
		 * reader (short wait) or a forgery (the usual checks). */
		v = systrap_seq_wait(sp, &sas->resp->seq, hint, spin, NULL, 0,
				     hint == seq ? CHECK_INTERVAL_NS / 100 : CHECK_INTERVAL_NS);
		if (v >= 0) {
			hint = (uint32_t)v;
			continue;
		}
		if (v != -ETIMEDOUT)
			continue;
		slept += CHECK_INTERVAL_NS;
		ctl_kick(sas->req); /* in case `sleeping` was scribbled over */
		if (!systrap_stub_alive(sas->pid)) {
			systrap_as_kill(sas, "died");
			return -ESRCH;
		}
		if (slept > REQUEST_TIMEOUT_NS) {
			systrap_as_kill(sas, "does not answer requests");
			return -ESRCH;
		}
	}
}

int systrap_as_request(struct systrap_as *sas, long nr, const uint64_t args[6], uint64_t r14, long *ret)
{
	uint32_t seq = sas->req_seq + 2;
	uint64_t rec = (uint64_t)seq << 32 | sas->id;
	bool ok, woke;
	int r;

	if (atomic_load(&sas->dead))
		return -ESRCH;
	loop_follow(sas->pid, &sas->loop_cpu);
	woke = ctl_post(sas->req, sas->resp, seq, nr, args, r14, rec | 1ull << 32, rec, 8);
	sas->req_seq = seq;
	if ((r = ack_wait(sas, seq, woke, &ok)) < 0)
		return r;
	*ret = READ_ONCE(sas->resp->ret); /* forgeable: only the sign is checked against ok */
	if (ok && *ret < 0)
		*ret = 0;
	else if (!ok && (*ret >= 0 || *ret < -4095))
		*ret = -EIO;
	return 0;
}

void systrap_as_kill(struct systrap_as *sas, const char *why)
{
	if (!atomic_exchange(&sas->dead, true))
		log_warn("systrap: stub %d %s: killed with its address space", sas->pid, why);
	kill(sas->pid, SIGKILL);
}

/* ---- address spaces ---- */

static struct systrap_as *as_alloc(struct systrap_platform *sp)
{
	struct systrap_as *sas = calloc(1, sizeof(*sas));

	if (!sas)
		return NULL;
	sas->base.platform = sp->p;
	sas->sp = sp;
	sas->pid = -1;
	sas->loop_cpu = -1;
	atomic_init(&sas->dead, false);
	atomic_init(&sas->acked, 0);
	pthread_mutex_init(&sas->req_lock, NULL);
	slist_init(&sas->link);
	sas->ctl_off = systrap_shm_alloc(sp, 8192);
	if (!sas->ctl_off) {
		free(sas);
		return NULL;
	}
	sas->req = shm_ptr(sp, sas->ctl_off);
	sas->resp = shm_ptr(sp, sas->ctl_off + 4096);
	return sas;
}

static void as_free(struct systrap_as *sas)
{
	struct systrap_platform *sp = sas->sp;

	pthread_mutex_lock(&sp->lock);
	systrap_shm_free_locked(sp, sas->ctl_off, 8192);
	for (unsigned i = 0; i < sas->nslots; i++) {
		if (sas->slots[i].off)
			systrap_shm_free_locked(sp, sas->slots[i].off, SLOT_SHARED_LEN);
	}
	pthread_mutex_unlock(&sp->lock);
	systrap_patch_release(sas);
	pthread_mutex_destroy(&sas->req_lock);
	free(sas->slots);
	free(sas);
}

void systrap_as_publish(struct systrap_platform *sp, struct systrap_as *sas)
{
	pthread_mutex_lock(&sp->lock);
	sas->id = sp->next_as_id++;
	sas->gen = sp->next_gen++;
	sas->hash_next = sp->as_hash[sas->id % AS_HASH];
	sp->as_hash[sas->id % AS_HASH] = sas;
	slist_add(&sp->as_list, &sas->link);
	pthread_mutex_unlock(&sp->lock);
}

void systrap_as_unpublish_locked(struct systrap_platform *sp, struct systrap_as *sas)
{
	struct systrap_as **pp = &sp->as_hash[sas->id % AS_HASH];

	while (*pp && *pp != sas)
		pp = &(*pp)->hash_next;
	if (*pp)
		*pp = sas->hash_next;
	slist_del(&sas->link);
}

/* Kills and reaps the stub, then frees sas (unpublished, no threads). */
void systrap_as_reap_free(struct systrap_as *sas)
{
	kill(sas->pid, SIGKILL);
	while (waitpid(sas->pid, NULL, __WALL) < 0 && errno == EINTR)
		;
	as_free(sas);
}

struct address_space *systrap_new_address_space(struct platform *p)
{
	struct systrap_platform *sp = p->priv;
	struct systrap_as *sas = systrap_pool_take(sp);
	uint64_t args[6] = { STUB_FORK_CLONE_FLAGS, 0, 0, 0, 0, 0 };
	long pid = 0, ppid = 0;
	int r;

	if (sas) {
		/* Its application CPU time so far belongs to earlier address spaces. */
		platform_process_cpu_time(sas->pid, &sas->cpu_base);
		systrap_as_publish(sp, sas);
		return &sas->base;
	}
	if (!(sas = as_alloc(sp)))
		return ERR_PTR(-ENOMEM);
	r = master_request(sp, SYS_clone, args, sas->ctl_off, &pid);
	if (r == 0 && pid <= 0)
		r = pid < 0 ? (int)pid : -EPROTO;
	if (r < 0) {
		log_warn("systrap: cannot fork a stub: %s", strerror(-r));
		as_free(sas);
		return ERR_PTR(r);
	}
	sas->pid = (pid_t)pid;
	pthread_mutex_lock(&sp->lock);
	sp->stubs_forked++;
	pthread_mutex_unlock(&sp->lock);
	systrap_as_publish(sp, sas);
	/* The new stub answers, from its own pages, through the pipe. */
	memset(args, 0, sizeof(args));
	pthread_mutex_lock(&sas->req_lock);
	r = systrap_as_request(sas, SYS_getppid, args, 0, &ppid);
	pthread_mutex_unlock(&sas->req_lock);
	if (r == 0 && ppid != sp->sentry_pid)
		r = -EPROTO;
	if (r < 0) {
		log_warn("systrap: new stub %ld does not start: %s", pid, strerror(-r));
		sas->no_pool = true;
		systrap_release_address_space(&sas->base);
		return ERR_PTR(r);
	}
	return &sas->base;
}

void systrap_release_address_space(struct address_space *as)
{
	struct systrap_as *sas = to_sas(as);
	struct systrap_platform *sp = sas->sp;

	if (systrap_pool_put(sas))
		return;
	pthread_mutex_lock(&sp->lock);
	systrap_as_unpublish_locked(sp, sas);
	for (unsigned i = 0; i < sas->nslots; i++) {
		struct sthread *t = sas->slots[i].t;

		if (t) {
			slist_del(&t->ctx_link);
			free(t);
		}
	}
	pthread_mutex_unlock(&sp->lock);
	systrap_as_reap_free(sas);
}

/* ---- map_file and unmap ---- */

static bool range_ok(struct systrap_platform *sp, uint64_t addr, uint64_t len)
{
	struct platform *p = sp->p;

	return len && IS_ALIGNED(addr, 4096) && IS_ALIGNED(len, 4096) &&
	       addr >= p->min_user_address && addr < p->max_user_address &&
	       len <= p->max_user_address - addr;
}

int systrap_map_file(struct address_space *as, uint64_t addr, uint64_t len, uint64_t off, int prot)
{
	struct systrap_as *sas = to_sas(as);
	uint64_t args[6] = { addr, len, (uint64_t)prot, MAP_SHARED | MAP_FIXED, STUB_MEMFD, off };
	long ret;
	int r;

	if (!range_ok(sas->sp, addr, len) || !IS_ALIGNED(off, 4096) ||
	    (prot & ~(PROT_READ | PROT_WRITE | PROT_EXEC)))
		return -EINVAL;
	pthread_mutex_lock(&sas->req_lock);
	r = systrap_as_request(sas, SYS_mmap, args, 0, &ret);
	if (r == 0 && ret < 0)
		r = (int)ret;
	if (r == 0) {
		systrap_patch_forget(sas, addr, len);
		r = systrap_patch_note_run(sas, addr, len, off, prot);
	}
	if (r < 0)
		sas->no_pool = true;
	pthread_mutex_unlock(&sas->req_lock);
	return r;
}

int systrap_unmap(struct address_space *as, uint64_t addr, uint64_t len)
{
	struct systrap_as *sas = to_sas(as);
	uint64_t args[6] = { addr, len, 0, 0, 0, 0 };
	long ret;
	int r;

	if (!range_ok(sas->sp, addr, len))
		return -EINVAL;
	pthread_mutex_lock(&sas->req_lock);
	r = systrap_as_request(sas, SYS_munmap, args, 0, &ret);
	if (r == 0 && ret < 0)
		r = (int)ret;
	if (r == 0)
		systrap_patch_forget(sas, addr, len);
	else
		sas->no_pool = true;
	pthread_mutex_unlock(&sas->req_lock);
	return r;
}
