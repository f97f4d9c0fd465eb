/* Growable text buffers for generated file contents. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernfs.h"

/* Generated files are small; anything larger is a bug or an attack on the sentry's memory. */
#define SBUF_MAX (16u << 20)

static bool sbuf_reserve(struct sbuf *s, size_t extra)
{
	size_t cap;
	char *nb;

	if (s->oom)
		return false;
	if (s->len + extra + 1 <= s->cap)
		return true;
	if (s->len + extra + 1 > SBUF_MAX) {
		s->oom = true;
		return false;
	}
	cap = s->cap ? s->cap : 256;
	while (cap < s->len + extra + 1)
		cap *= 2;
	nb = realloc(s->buf, cap);
	if (!nb) {
		s->oom = true;
		return false;
	}
	s->buf = nb;
	s->cap = cap;
	return true;
}

void sbuf_put(struct sbuf *s, const void *p, size_t n)
{
	if (!n || !sbuf_reserve(s, n))
		return;
	memcpy(s->buf + s->len, p, n);
	s->len += n;
	s->buf[s->len] = 0;
}

void sbuf_puts(struct sbuf *s, const char *str)
{
	sbuf_put(s, str, strlen(str));
}

void sbuf_printf(struct sbuf *s, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!sbuf_reserve(s, 64))
		return;
	va_start(ap, fmt);
	n = vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= s->cap - s->len) {
		if (!sbuf_reserve(s, (size_t)n))
			return;
		va_start(ap, fmt);
		vsnprintf(s->buf + s->len, s->cap - s->len, fmt, ap);
		va_end(ap);
	}
	s->len += (size_t)n;
}

void sbuf_free(struct sbuf *s)
{
	free(s->buf);
	s->buf = NULL;
	s->len = s->cap = 0;
	s->oom = false;
}
