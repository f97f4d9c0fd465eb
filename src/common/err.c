/* struct cv_err: crun-style error objects for cli/oci/sandbox. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"

static char *vformat(const char *fmt, va_list ap)
{
	char *s = NULL;

	if (vasprintf(&s, fmt, ap) < 0)
		return NULL;
	return s;
}

int cv_err_set(struct cv_err **err, int errnum, const char *fmt, ...)
{
	struct cv_err *e;
	char *msg;
	va_list ap;

	if (errnum < 0)
		errnum = -errnum;
	if (!err || *err)
		return errnum ? -errnum : -1;
	va_start(ap, fmt);
	msg = vformat(fmt, ap);
	va_end(ap);
	e = calloc(1, sizeof(*e));
	if (!e) {
		free(msg);
		return errnum ? -errnum : -1;
	}
	e->errnum = errnum;
	e->status = 1;
	if (msg && errnum) {
		char *full = NULL;

		if (asprintf(&full, "%s: %s", msg, strerror(errnum)) >= 0) {
			free(msg);
			msg = full;
		}
	}
	e->msg = msg ? msg : strdup("out of memory");
	*err = e;
	return errnum ? -errnum : -1;
}

int cv_err_wrap(struct cv_err **err, const char *fmt, ...)
{
	char *ctx, *full = NULL;
	va_list ap;

	if (!err || !*err)
		return -1;
	va_start(ap, fmt);
	ctx = vformat(fmt, ap);
	va_end(ap);
	if (ctx && asprintf(&full, "%s: %s", ctx, (*err)->msg) >= 0) {
		free((*err)->msg);
		(*err)->msg = full;
	}
	free(ctx);
	return (*err)->errnum ? -(*err)->errnum : -1;
}

void cv_err_free(struct cv_err **err)
{
	if (!err || !*err)
		return;
	free((*err)->msg);
	free(*err);
	*err = NULL;
}
