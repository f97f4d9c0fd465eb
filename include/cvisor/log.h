/*
 * Logging for every component.  Text ("time level msg") or JSON lines ({"level","msg","time"},
 * the format containerd reads from --log --log-format json).  The level is checked before the
 * message is formatted.  The sentry logs to an fd opened before it confined itself, never to a
 * guest-visible fd.  Thread-safe: each message is written with one write(2).
 */
#ifndef CV_LOG_H
#define CV_LOG_H

#include <stdbool.h>

#include "cvisor/compiler.h"

enum log_level { LOG_ERR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };
enum log_format { LOG_FORMAT_TEXT = 0, LOG_FORMAT_JSON };

extern enum log_level cv_log_level;

/* Sends messages to fd (default 2) in the given format.  fd stays owned by the caller. */
void log_set_output(int fd, enum log_format fmt);
/* Returns the fd messages go to. */
int log_output_fd(void);
/* Returns the current format. */
enum log_format log_output_format(void);

void log_msg(enum log_level lvl, const char *fmt, ...) __printf(2, 3);

#define log_err(...) log_msg(LOG_ERR, __VA_ARGS__)
#define log_warn(...)                                                                              \
	do {                                                                                       \
		if (cv_log_level >= LOG_WARN)                                                      \
			log_msg(LOG_WARN, __VA_ARGS__);                                            \
	} while (0)
#define log_info(...)                                                                              \
	do {                                                                                       \
		if (cv_log_level >= LOG_INFO)                                                      \
			log_msg(LOG_INFO, __VA_ARGS__);                                            \
	} while (0)
#define log_debug(...)                                                                             \
	do {                                                                                       \
		if (unlikely(cv_log_level >= LOG_DEBUG))                                           \
			log_msg(LOG_DEBUG, __VA_ARGS__);                                           \
	} while (0)

/* Prints "cvisor: <msg>" to stderr and to the log, then exits 1.  main() and pre-sandbox only. */
void die(const char *fmt, ...) __printf(1, 2) __noreturn;

#endif
