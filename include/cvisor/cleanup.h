/*
 * Scope-bound cleanup (bwrap/systemd style).  Declare at the top of a block, initialised to
 * NULL/-1; hand ownership out with steal_ptr()/take_fd().
 */
#ifndef CV_CLEANUP_H
#define CV_CLEANUP_H

#include <errno.h>
#include <stdlib.h>
#include <unistd.h>

static inline void cleanup_freep(void *p)
{
	free(*(void **)p);
}
static inline void cleanup_closep(int *fd)
{
	if (*fd >= 0) {
		int saved = errno;
		close(*fd);
		errno = saved;
	}
}

#define _cleanup_free_ __attribute__((cleanup(cleanup_freep)))
#define _cleanup_close_ __attribute__((cleanup(cleanup_closep)))

/* jansson, libseccomp and libcap variants live with their users, declared only when the
 * library header was included first. */
#ifdef JANSSON_H
static inline void cleanup_jsonp(json_t **j)
{
	if (*j)
		json_decref(*j);
}
#define _cleanup_json_ __attribute__((cleanup(cleanup_jsonp)))
#endif
#ifdef _SECCOMP_H
static inline void cleanup_seccompp(scmp_filter_ctx *c)
{
	if (*c)
		seccomp_release(*c);
}
#define _cleanup_seccomp_ __attribute__((cleanup(cleanup_seccompp)))
#endif
#ifdef _SYS_CAPABILITY_H
static inline void cleanup_capp(cap_t *c)
{
	if (*c)
		cap_free(*c);
}
#define _cleanup_cap_ __attribute__((cleanup(cleanup_capp)))
#endif

#define steal_ptr(pp)                                                                              \
	({                                                                                         \
		__typeof__(*(pp)) _p = *(pp);                                                      \
		*(pp) = NULL;                                                                      \
		_p;                                                                                \
	})

static inline int take_fd(int *fd)
{
	int r = *fd;
	*fd = -1;
	return r;
}

#endif
