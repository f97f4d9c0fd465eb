/* Text and JSON-lines logging (see include/cvisor/log.h). */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cvisor/log.h"

enum log_level cv_log_level = LOG_WARN;
static int log_fd = 2;
static enum log_format log_fmt = LOG_FORMAT_TEXT;

static const char *const level_names[] = {
	[LOG_ERR] = "error",
	[LOG_WARN] = "warning",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

void log_set_output(int fd, enum log_format fmt)
{
	log_fd = fd;
	log_fmt = fmt;
}

int log_output_fd(void)
{
	return log_fd;
}

enum log_format log_output_format(void)
{
	return log_fmt;
}

/* Appends s to buf as the inside of a JSON string. */
static size_t json_escape(char *buf, size_t cap, size_t len, const char *s)
{
	for (; *s && len + 7 < cap; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			buf[len++] = '\\';
			buf[len++] = (char)c;
		} else if (c == '\n') {
			buf[len++] = '\\';
			buf[len++] = 'n';
		} else if (c < 0x20) {
			len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", c);
		} else {
			buf[len++] = (char)c;
		}
	}
	return len;
}

void log_msg(enum log_level lvl, const char *fmt, ...)
{
	char msg[2048], line[4608], ts[40];
	struct timespec now;
	struct tm tm;
	size_t n;
	va_list ap;
	int saved = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	n = strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(ts + n, sizeof(ts) - n, ".%09ldZ", now.tv_nsec);

	if (log_fmt == LOG_FORMAT_JSON) {
		n = (size_t)snprintf(line, sizeof(line), "{\"level\":\"%s\",\"msg\":\"", level_names[lvl]);
		n = json_escape(line, sizeof(line) - 40, n, msg);
		n += (size_t)snprintf(line + n, sizeof(line) - n, "\",\"time\":\"%s\"}\n", ts);
	} else if (log_fd == 2) {
		n = (size_t)snprintf(line, sizeof(line), "cvisor: %s%s%s\n",
				     lvl == LOG_ERR ? "" : level_names[lvl], lvl == LOG_ERR ? "" : ": ", msg);
	} else {
		n = (size_t)snprintf(line, sizeof(line), "%s %-7s %s\n", ts, level_names[lvl], msg);
	}
	if (n > sizeof(line))
		n = sizeof(line);
	if (write(log_fd, line, n) < 0) {
		/* nowhere left to report it */
	}
	errno = saved;
}

void die(const char *fmt, ...)
{
	char msg[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (log_fd != 2)
		fprintf(stderr, "cvisor: %s\n", msg);
	log_msg(LOG_ERR, "%s", msg);
	exit(1);
}
