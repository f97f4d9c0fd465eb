/*
 * Unit tests of the container state store (src/oci/state.c, state_status.c), each in a
 * temporary root: create/load/save/list/remove, ID rules, atomic replacement of state.json,
 * the lock between processes, and pid-reuse detection.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/sandbox.h"
#include "cvisor/state.h"

struct fixture {
	char root[64];
};

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	strcpy(f->root, "/tmp/cv-test-state-XXXXXX");
	if (!mkdtemp(f->root))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->root);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

static bool exists(const char *root, const char *rel)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s", root, rel);
	return access(path, F_OK) == 0;
}

static long long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Creates and saves container `id` recording this test process as its sandbox. */
static void make_container(const char *root, const char *id)
{
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;

	assert_int_equal(state_create(root, id, &st, &err), 0);
	st->bundle = strdup("/bundle");
	st->rootfs = strdup("/bundle/rootfs");
	st->platform = strdup("ptrace");
	st->pid = getpid();
	assert_int_equal(state_proc_stat(st->pid, NULL, &st->pid_start_time), 0);
	assert_int_equal(state_save(st, &err), 0);
	state_free(st);
}

/* Entries in a directory, hidden ones included. */
static int count_entries(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int n = 0;

	assert_non_null(d);
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

static void test_validate_id(void **state)
{
	static const char *const good[] = { "a", "abc", "a.b-c_d+e", "0123456789abcdef", "..a",
					    "a..b", "-x" };
	static const char *const bad[] = { "", ".", "..", "a/b", "/", "a b", "a\nb", "caf\xc3\xa9",
					   "x:y", "a\\b" };
	struct cv_err *err = NULL;
	char longid[300];

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(state_validate_id(good[i], NULL), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(state_validate_id(bad[i], NULL), -EINVAL);
	memset(longid, 'a', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = '\0';
	assert_int_equal(state_validate_id(longid, NULL), -EINVAL);
	assert_int_equal(state_validate_id("../etc", &err), -EINVAL);
	assert_string_equal(err->msg,
			    "invalid container ID `../etc`: use letters, digits and _+-. only");
	cv_err_free(&err);
}

static void test_create_load_save(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL, *ld = NULL;
	char *keys[] = { "org.a", "org.b", NULL }, *vals[] = { "1", "two", NULL };

	assert_int_equal(state_create(f->root, "c1", &st, &err), 0);
	assert_true(exists(f->root, "c1/lock"));
	assert_false(exists(f->root, "c1/state.json"));
	assert_non_null(st->created);
	assert_non_null(st->owner);
	assert_true(st->lock_fd >= 0);
	st->bundle = strdup("/b");
	st->rootfs = strdup("/b/rootfs");
	st->platform = strdup("systrap");
	st->pid = 4242;
	st->pid_start_time = 123456789;
	st->annotation_keys = keys;
	st->annotation_values = vals;
	st->n_annotations = 2;
	assert_int_equal(state_save(st, &err), 0);
	assert_true(exists(f->root, "c1/state.json"));
	assert_false(exists(f->root, "c1/.state.json.tmp"));
	st->started = true;
	assert_int_equal(state_save(st, &err), 0);
	st->annotation_keys = st->annotation_values = NULL; /* not ours to free */
	st->n_annotations = 0;

	assert_int_equal(state_load(f->root, "c1", STATE_LOCK_NONE, &ld, &err), 0);
	assert_string_equal(ld->id, "c1");
	assert_string_equal(ld->bundle, "/b");
	assert_string_equal(ld->rootfs, "/b/rootfs");
	assert_string_equal(ld->platform, "systrap");
	assert_string_equal(ld->created, st->created);
	assert_string_equal(ld->owner, st->owner);
	assert_int_equal(ld->pid, 4242);
	assert_int_equal(ld->pid_start_time, 123456789);
	assert_true(ld->started);
	assert_int_equal(ld->n_annotations, 2);
	assert_string_equal(ld->annotation_keys[1], "org.b");
	assert_string_equal(ld->annotation_values[1], "two");
	assert_int_equal(ld->lock_fd, -1);
	state_free(ld);
	state_free(st);

	assert_int_equal(state_load(f->root, "c1", STATE_LOCK_EXCLUSIVE, &ld, &err), 0);
	assert_true(ld->lock_fd >= 0);
	state_free(ld);
}

static void test_create_duplicate(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;
	char path[128];
	struct stat sb;

	/* the root is created (0700) when missing */
	snprintf(path, sizeof(path), "%s/sub", f->root);
	make_container(path, "dup");
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(state_create(path, "dup", &st, &err), -EEXIST);
	assert_null(st);
	assert_string_equal(err->msg, "container `dup` already exists");
	assert_int_equal(err->errnum, EEXIST);
	cv_err_free(&err);
	/* nothing left behind by the failed attempt */
	assert_int_equal(count_entries(path), 1);
	assert_int_equal(state_create(path, "a/b", &st, &err), -EINVAL);
	cv_err_free(&err);
}

static void test_load_missing(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;

	assert_int_equal(state_load(f->root, "nope", STATE_LOCK_SHARED, &st, &err), -ENOENT);
	assert_null(st);
	assert_string_equal(err->msg, "container `nope` does not exist");
	assert_int_equal(err->errnum, ENOENT);
	cv_err_free(&err);
	assert_int_equal(state_load(f->root, "nope", STATE_LOCK_NONE, &st, &err), -ENOENT);
	cv_err_free(&err);
	assert_int_equal(state_load("/nonexistent/root", "x", STATE_LOCK_EXCLUSIVE, &st, &err),
			 -ENOENT);
	cv_err_free(&err);
}

static void test_list(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state **v = NULL, *st = NULL;
	size_t n = 99;
	char path[128];

	assert_int_equal(state_list("/nonexistent/root", &v, &n, &err), 0);
	assert_int_equal(n, 0);
	assert_null(v);

	make_container(f->root, "zeta");
	make_container(f->root, "alpha");
	make_container(f->root, "mid");
	/* a creation in progress (no state.json yet) and a stray hidden directory are skipped */
	assert_int_equal(state_create(f->root, "creating", &st, &err), 0);
	snprintf(path, sizeof(path), "%s/.alpha.tmp", f->root);
	assert_int_equal(mkdir(path, 0700), 0);

	assert_int_equal(state_list(f->root, &v, &n, &err), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0]->id, "alpha");
	assert_string_equal(v[1]->id, "mid");
	assert_string_equal(v[2]->id, "zeta");
	assert_string_equal(v[2]->bundle, "/bundle");
	assert_int_equal(v[2]->lock_fd, -1);
	state_list_free(v, n);
	state_free(st);
}

static void test_remove(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;
	char path[256];
	int fd;

	make_container(f->root, "rm");
	/* whatever the sandbox left in its directory goes too */
	snprintf(path, sizeof(path), "%s/rm/control.sock", f->root);
	fd = open(path, O_CREAT | O_WRONLY, 0600);
	close(fd);
	snprintf(path, sizeof(path), "%s/rm/sub", f->root);
	assert_int_equal(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/rm/sub/file", f->root);
	close(open(path, O_CREAT | O_WRONLY, 0600));
	snprintf(path, sizeof(path), "%s/rm/link", f->root);
	assert_int_equal(symlink(f->root, path), 0);

	assert_int_equal(state_load(f->root, "rm", STATE_LOCK_EXCLUSIVE, &st, &err), 0);
	assert_int_equal(state_remove(st, &err), 0);
	assert_false(exists(f->root, "rm"));
	assert_true(exists(f->root, "")); /* the symlink was not followed */
	state_free(st);
	assert_int_equal(state_load(f->root, "rm", STATE_LOCK_NONE, &st, &err), -ENOENT);
	cv_err_free(&err);
	/* the ID is free again */
	make_container(f->root, "rm");
}

/* A directory with a lock but no record was left by a `create` that died: an exclusive
 * loader removes it, a shared one only reports it missing. */
static void test_stale_directory(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;
	pid_t pid;
	int status;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cv_state *c = NULL;

		_exit(state_create(f->root, "stale", &c, NULL) == 0 ? 0 : 1);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(status, 0);
	assert_true(exists(f->root, "stale/lock"));
	assert_int_equal(state_load(f->root, "stale", STATE_LOCK_SHARED, &st, &err), -ENOENT);
	cv_err_free(&err);
	assert_true(exists(f->root, "stale"));
	cv_log_level = LOG_ERR; /* the removal is announced with a warning */
	assert_int_equal(state_load(f->root, "stale", STATE_LOCK_EXCLUSIVE, &st, &err), -ENOENT);
	cv_log_level = LOG_WARN;
	cv_err_free(&err);
	assert_false(exists(f->root, "stale"));
}

/* Readers never see a partial state.json while another process rewrites it. */
static void test_atomic_save(void **state)
{
	struct fixture *f = *state;
	char path[256];
	pid_t pid;
	int status = 0, reads = 0;
	long long end;

	make_container(f->root, "atom");
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct cv_state *st = NULL;
		char *keys[2001] = { 0 }, *vals[2001] = { 0 };

		if (state_load(f->root, "atom", STATE_LOCK_EXCLUSIVE, &st, NULL) < 0)
			_exit(1);
		for (int i = 0; i < 2000; i++) {
			if (asprintf(&keys[i], "org.example.key%d", i) < 0 ||
			    asprintf(&vals[i], "%0200d", i) < 0)
				_exit(1);
		}
		st->annotation_keys = keys;
		st->annotation_values = vals;
		/* alternate a tiny and a ~450 KB record */
		for (int i = 0; i < 200; i++) {
			st->n_annotations = (i % 2) ? 2000 : 1;
			if (state_save(st, NULL) < 0)
				_exit(1);
		}
		_exit(0);
	}
	snprintf(path, sizeof(path), "%s/atom/state.json", f->root);
	end = now_ms() + 20000;
	while (waitpid(pid, &status, WNOHANG) == 0 && now_ms() < end) {
		json_error_t je;
		json_t *j = json_load_file(path, 0, &je);

		if (!j)
			fail_msg("partial state.json seen: %s", je.text);
		json_decref(j);
		reads++;
	}
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_true(reads > 0);
}

/* Child: takes the lock in `mode`, reports the time on fd, exits. */
static void lock_and_report(const char *root, const char *id, enum state_lock mode, int fd)
{
	struct cv_state *st = NULL;
	long long t;

	if (state_load(root, id, mode, &st, NULL) < 0)
		t = -1;
	else
		t = now_ms();
	if (write(fd, &t, sizeof(t)) != sizeof(t))
		_exit(2);
	state_free(st);
	_exit(0);
}

static void test_lock_contention(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;
	long long released, acquired;
	int p[2], status;
	struct pollfd pf;
	pid_t pid;

	make_container(f->root, "lk");
	assert_int_equal(state_load(f->root, "lk", STATE_LOCK_EXCLUSIVE, &st, &err), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		lock_and_report(f->root, "lk", STATE_LOCK_SHARED, p[1]);
	/* the reader stays blocked while the writer holds the lock */
	pf = (struct pollfd){ .fd = p[0], .events = POLLIN };
	assert_int_equal(poll(&pf, 1, 300), 0);
	released = now_ms();
	state_free(st);
	assert_int_equal(read(p[0], &acquired, sizeof(acquired)), sizeof(acquired));
	assert_true(acquired >= released);
	assert_int_equal(waitpid(pid, &status, 0), pid);

	/* shared holders do not exclude each other */
	assert_int_equal(state_load(f->root, "lk", STATE_LOCK_SHARED, &st, &err), 0);
	pid = fork();
	if (pid == 0)
		lock_and_report(f->root, "lk", STATE_LOCK_SHARED, p[1]);
	assert_int_equal(poll(&pf, 1, 5000), 1);
	assert_int_equal(read(p[0], &acquired, sizeof(acquired)), sizeof(acquired));
	assert_true(acquired > 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	state_free(st);
	close(p[0]);
	close(p[1]);
}

/* The lock is not inherited across fork: a sandbox forked while `create` holds it, and which
 * keeps the fd open, does not keep the container locked. */
static void test_lock_not_inherited(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;
	long long acquired;
	int p[2], status;
	pid_t sandbox, other;

	make_container(f->root, "inh");
	assert_int_equal(state_load(f->root, "inh", STATE_LOCK_EXCLUSIVE, &st, &err), 0);
	sandbox = fork();
	if (sandbox == 0) {
		pause(); /* holds every inherited fd */
		_exit(0);
	}
	state_free(st);
	assert_int_equal(pipe(p), 0);
	other = fork();
	if (other == 0) {
		alarm(5);
		lock_and_report(f->root, "inh", STATE_LOCK_EXCLUSIVE, p[1]);
	}
	assert_int_equal(read(p[0], &acquired, sizeof(acquired)), sizeof(acquired));
	assert_true(acquired > 0);
	assert_int_equal(waitpid(other, &status, 0), other);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	kill(sandbox, SIGKILL);
	waitpid(sandbox, NULL, 0);
	close(p[0]);
	close(p[1]);
}

/* A loader waiting for the lock while the container is deleted reports it missing. */
static void test_deleted_while_waiting(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;
	long long r;
	int p[2], status;
	pid_t pid;

	make_container(f->root, "gone");
	assert_int_equal(state_load(f->root, "gone", STATE_LOCK_EXCLUSIVE, &st, &err), 0);
	assert_int_equal(pipe(p), 0);
	pid = fork();
	if (pid == 0)
		lock_and_report(f->root, "gone", STATE_LOCK_EXCLUSIVE, p[1]);
	usleep(200 * 1000);
	assert_int_equal(state_remove(st, &err), 0);
	/* and a new container of the same name is made before the waiter runs */
	make_container(f->root, "gone");
	state_free(st);
	assert_int_equal(read(p[0], &r, sizeof(r)), sizeof(r));
	assert_int_equal(waitpid(pid, &status, 0), pid);
	/* it then either saw no container or locked the new one; never the dead one's lock */
	if (r > 0) {
		assert_int_equal(state_load(f->root, "gone", STATE_LOCK_NONE, &st, &err), 0);
		state_free(st);
	}
	close(p[0]);
	close(p[1]);
}

static void test_proc_stat_and_reuse(void **state)
{
	struct cv_state st = { .id = "x", .dir = "/nonexistent", .lock_fd = -1 };
	unsigned long long start;
	char s;
	pid_t child;
	int p[2];

	assert_int_equal(state_proc_stat(getpid(), &s, &start), 0);
	assert_true(s == 'R' || s == 'S');
	assert_true(start > 0);
	st.pid = getpid();
	st.pid_start_time = start;
	assert_true(state_sandbox_alive(&st));
	/* same pid, other start time: a reused pid is not our sandbox */
	st.pid_start_time = start + 1;
	assert_false(state_sandbox_alive(&st));
	assert_int_equal(state_status(&st), CV_STATUS_STOPPED);
	st.pid = 0;
	assert_false(state_sandbox_alive(&st));
	assert_int_equal(state_proc_stat(0, NULL, NULL), -ENOENT);

	/* a name with spaces and parentheses does not confuse the parser */
	assert_int_equal(pipe(p), 0);
	child = fork();
	if (child == 0) {
		prctl(PR_SET_NAME, "a) (b c) d");
		if (write(p[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	assert_int_equal(read(p[0], &s, 1), 1);
	assert_int_equal(state_proc_stat(child, &s, &start), 0);
	assert_true(start > 0);
	st.pid = child;
	st.pid_start_time = start;
	assert_true(state_sandbox_alive(&st));
	/* a zombie has exited: stopped, though its pid still resolves */
	kill(child, SIGKILL);
	{
		siginfo_t si;

		assert_int_equal(waitid(P_PID, (id_t)child, &si, WEXITED | WNOWAIT), 0);
	}
	assert_int_equal(state_proc_stat(child, &s, NULL), 0);
	assert_int_equal(s, 'Z');
	assert_false(state_sandbox_alive(&st));
	assert_int_equal(state_status(&st), CV_STATUS_STOPPED);
	waitpid(child, NULL, 0);
	assert_int_equal(state_proc_stat(child, NULL, NULL), -ENOENT);
	assert_false(state_sandbox_alive(&st));
	close(p[0]);
	close(p[1]);
}

/* Serves one control-socket connection with `reply`, in a child. */
static pid_t fake_sandbox(const char *dir, const char *reply)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int l = socket(AF_UNIX, SOCK_STREAM, 0);
	pid_t pid;

	snprintf(a.sun_path, sizeof(a.sun_path), "%s/%s", dir, CV_CONTROL_SOCKET);
	assert_int_equal(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(l, 1), 0);
	pid = fork();
	if (pid == 0) {
		char buf[4096];
		size_t len = 0;
		int c = accept(l, NULL, NULL);

		/* read until a whole JSON request arrived, whether or not the client shuts down */
		for (;;) {
			json_t *j;
			ssize_t n = read(c, buf + len, sizeof(buf) - 1 - len);

			if (n <= 0)
				break;
			len += (size_t)n;
			j = json_loadb(buf, len, JSON_DISABLE_EOF_CHECK, NULL);
			if (j) {
				json_decref(j);
				break;
			}
		}
		if (write(c, reply, strlen(reply)) < 0)
			_exit(1);
		_exit(0);
	}
	close(l);
	return pid;
}

static void test_status(void **state)
{
	struct fixture *f = *state;
	struct cv_err *err = NULL;
	struct cv_state *st = NULL;
	pid_t srv;

	make_container(f->root, "s");
	assert_int_equal(state_load(f->root, "s", STATE_LOCK_NONE, &st, &err), 0);
	/* alive (this process) but nothing listens: created until started, then running */
	assert_int_equal(state_status(st), CV_STATUS_CREATED);
	st->started = true;
	assert_int_equal(state_status(st), CV_STATUS_RUNNING);
	/* a listening sandbox is believed */
	srv = fake_sandbox(st->dir, "{\"ok\":true,\"status\":\"paused\"}\n");
	assert_int_equal(state_status(st), CV_STATUS_PAUSED);
	waitpid(srv, NULL, 0);
	assert_string_equal(state_status_name(CV_STATUS_PAUSED), "paused");
	assert_string_equal(state_status_name(CV_STATUS_STOPPED), "stopped");
	state_free(st);
}

static void test_timestamp(void **state)
{
	for (int i = 0; i < 50; i++) {
		char *t = state_timestamp_now();
		size_t n = strlen(t);
		int y, mo, d, h, mi, s;
		char frac[16] = "";

		assert_true(n >= 20 && n <= 30);
		assert_int_equal(t[n - 1], 'Z');
		assert_true(sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &s) == 6);
		if (t[19] == '.') {
			sscanf(t + 20, "%15[0-9]", frac);
			assert_true(strlen(frac) >= 1 && strlen(frac) <= 9);
			assert_true(frac[strlen(frac) - 1] != '0'); /* trimmed, as Go prints it */
			assert_int_equal(strlen(frac) + 21, n);
		} else {
			assert_int_equal(n, 20);
		}
		free(t);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_validate_id),
		cmocka_unit_test_setup_teardown(test_create_load_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_create_duplicate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_load_missing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_directory, setup, teardown),
		cmocka_unit_test_setup_teardown(test_atomic_save, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_contention, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lock_not_inherited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_deleted_while_waiting, setup, teardown),
		cmocka_unit_test(test_proc_stat_and_reuse),
		cmocka_unit_test_setup_teardown(test_status, setup, teardown),
		cmocka_unit_test(test_timestamp),
	};

	cmocka_set_message_output(CM_OUTPUT_TAP);
	return cmocka_run_group_tests_name("state", tests, NULL, NULL);
}
