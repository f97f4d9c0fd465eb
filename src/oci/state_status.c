/* A container's live status: the sandbox process in /proc, then the sandbox itself. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "cvisor/log.h"
#include "cvisor/sandbox.h"
#include "cvisor/state.h"

static const char *const status_names[] = {
	[CV_STATUS_CREATED] = "created",
	[CV_STATUS_RUNNING] = "running",
	[CV_STATUS_PAUSED]  = "paused",
	[CV_STATUS_STOPPED] = "stopped",
};

const char *state_status_name(enum cv_status s)
{
	return status_names[s];
}

int state_proc_stat(pid_t pid, char *state, unsigned long long *start_time)
{
	char path[64], buf[1024];
	_cleanup_close_ int fd = -1;
	unsigned long long start;
	const char *p;
	ssize_t n;
	char st;

	if (pid <= 0)
		return -ENOENT;
	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, sizeof(buf) - 1);
	if (n < 0)
		return -errno;
	buf[n] = '\0';
	/* "pid (comm) S ppid ...": comm may hold spaces and parentheses, so parse from the last
	 * ')'.  Field 3 is the state; field 22 the start time, 19 fields after it. */
	p = strrchr(buf, ')');
	if (!p || sscanf(p + 1, " %c", &st) != 1)
		return -EIO;
	p += 2;
	for (int field = 3; field < 22; field++) {
		p = strchr(p, ' ');
		if (!p)
			return -EIO;
		p++;
	}
	if (sscanf(p, "%llu", &start) != 1)
		return -EIO;
	if (state)
		*state = st;
	if (start_time)
		*start_time = start;
	return 0;
}

bool state_sandbox_alive(const struct cv_state *st)
{
	unsigned long long start;
	char s;

	if (state_proc_stat(st->pid, &s, &start) < 0)
		return false;
	return start == st->pid_start_time && s != 'Z' && s != 'X' && s != 'x';
}

static bool status_from_name(const char *name, enum cv_status *out)
{
	for (size_t i = 0; i < ARRAY_SIZE(status_names); i++) {
		if (!strcmp(status_names[i], name)) {
			*out = (enum cv_status)i;
			return true;
		}
	}
	return false;
}

enum cv_status state_status(const struct cv_state *st)
{
	enum cv_status s = st->started ? CV_STATUS_RUNNING : CV_STATUS_CREATED;
	struct cv_err *err = NULL;
	char *answer = NULL;
	int r;

	if (!state_sandbox_alive(st))
		return CV_STATUS_STOPPED;
	r = sandbox_request(st->dir, "{\"cmd\":\"state\"}", &answer, &err);
	if (r == 0 && answer && status_from_name(answer, &s)) {
		free(answer);
		return s;
	}
	if (r == 0)
		log_warn("container `%s`: sandbox reported unknown status `%s`", st->id,
			 answer ? answer : "");
	else if (r != -ECONNREFUSED && r != -ENOENT)
		log_warn("container `%s`: querying the sandbox: %s", st->id,
			 err ? err->msg : strerror(-r));
	free(answer);
	cv_err_free(&err);
	/* The sandbox may have exited between the two looks. */
	if (!state_sandbox_alive(st))
		return CV_STATUS_STOPPED;
	return s;
}

char *state_timestamp_now(void)
{
	char date[32], frac[16], *out;
	struct timespec ts;
	struct tm tm;
	int len;

	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &tm);
	/* Go's RFC3339Nano: up to nine digits, trailing zeros (and a bare dot) dropped */
	len = snprintf(frac, sizeof(frac), ".%09ld", ts.tv_nsec);
	while (len > 1 && frac[len - 1] == '0')
		frac[--len] = '\0';
	if (len == 1)
		frac[0] = '\0';
	if (asprintf(&out, "%s%sZ", date, frac) < 0)
		abort();
	return out;
}
