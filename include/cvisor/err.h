/*
 * Errors.  Two conventions meet here (STYLE.md 2.4):
 *  - cli/oci/sandbox: int f(..., struct cv_err **err) -- on failure the callee allocates
 *    *err with cv_err_set() and returns a negative value; main() prints it once.
 *  - sentry/platform: return >= 0 or -errno; pointer results use ERR_PTR/IS_ERR/PTR_ERR.
 */
#ifndef CV_ERR_H
#define CV_ERR_H

#include <stdbool.h>
#include <stdint.h>

#include "cvisor/compiler.h"

struct cv_err {
	int errnum;  /* errno that caused it, or 0 */
	int status;  /* suggested exit status (1 unless set) */
	char *msg;   /* full message, context first */
};

/*
 * Allocates *err (if err is not NULL and *err is NULL) with a message formatted from fmt; when
 * errnum is non-zero ": strerror(errnum)" is appended.  Returns -errnum, or -1 when errnum is 0.
 */
int cv_err_set(struct cv_err **err, int errnum, const char *fmt, ...) __printf(3, 4);

/* Prefixes context ("creating sandbox: <old>") to an existing error. Returns the error's code. */
int cv_err_wrap(struct cv_err **err, const char *fmt, ...) __printf(2, 3);

/* Frees *err and sets it to NULL. */
void cv_err_free(struct cv_err **err);

/* Kernel-style error pointers for the sentry and platforms. */
#define CV_MAX_ERRNO 4095
static inline void *ERR_PTR(long e)
{
	return (void *)e;
}
static inline long PTR_ERR(const void *p)
{
	return (long)p;
}
static inline bool IS_ERR(const void *p)
{
	return (uintptr_t)p >= (uintptr_t)-CV_MAX_ERRNO;
}
static inline void *ERR_CAST(const void *p)
{
	return (void *)p;
}
static inline bool IS_ERR_OR_NULL(const void *p)
{
	return !p || IS_ERR(p);
}

/* Internal restart codes; resolved at signal delivery, never visible to the guest. */
#define ERESTARTSYS 512
#define ERESTARTNOINTR 513
#define ERESTARTNOHAND 514
#define ERESTART_RESTARTBLOCK 516

#endif
