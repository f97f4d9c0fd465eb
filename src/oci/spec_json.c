/* Typed, path-aware accessors over jansson trees for the OCI parsers (see oci_internal.h). */
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cvisor/err.h"
#include "oci_internal.h"

int spec_fail(const struct spec_ctx *c, const char *path, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (path && *path)
		cv_err_set(c->err, 0, "%s: %s: %s", c->file, path, msg);
	else
		cv_err_set(c->err, 0, "%s: %s", c->file, msg);
	return -EINVAL;
}

/* Field paths longer than the buffer (absurd annotation keys) end in "..." instead. */
static void path_truncated(char out[SPEC_PATH_MAX], int n)
{
	if (n >= SPEC_PATH_MAX)
		memcpy(out + SPEC_PATH_MAX - 4, "...", 4);
}

void spec_path_key(char out[SPEC_PATH_MAX], const char *parent, const char *key)
{
	int n;

	if (parent && *parent)
		n = snprintf(out, SPEC_PATH_MAX, "%s.%s", parent, key);
	else
		n = snprintf(out, SPEC_PATH_MAX, "%s", key);
	path_truncated(out, n);
}

void spec_path_idx(char out[SPEC_PATH_MAX], const char *parent, size_t i)
{
	path_truncated(out, snprintf(out, SPEC_PATH_MAX, "%s[%zu]", parent, i));
}

int spec_load_json(struct spec_ctx *c, const char *text, size_t len, json_t **out)
{
	json_error_t e;
	json_t *j;

	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &e);
	if (!j && json_error_code(&e) == json_error_numeric_overflow) {
		/* Integers beyond int64 (RLIM_INFINITY written out in full): jansson only reads
		 * them as reals, so every integer getter accepts integral reals in this mode. */
		j = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &e);
		c->ints_as_reals = true;
	}
	if (!j)
		return spec_fail(c, NULL, "invalid JSON at line %d, column %d: %s", e.line, e.column,
				 e.text);
	if (!json_is_object(j)) {
		json_decref(j);
		return spec_fail(c, NULL, "expected a JSON object at the top level");
	}
	*out = j;
	return 0;
}

/* Returns the member, or NULL when absent or null (null means absent, as in Go's decoder). */
static json_t *member(json_t *obj, const char *key)
{
	json_t *v = json_object_get(obj, key);

	return json_is_null(v) ? NULL : v;
}

static int missing(const struct spec_ctx *c, const char *path, bool required)
{
	return required ? spec_fail(c, path, "required") : 0;
}

int spec_get_object(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		    bool required, json_t **out)
{
	char path[SPEC_PATH_MAX];
	json_t *v = member(obj, key);

	spec_path_key(path, parent, key);
	*out = NULL;
	if (!v)
		return missing(c, path, required);
	if (!json_is_object(v))
		return spec_fail(c, path, "expected an object");
	*out = v;
	return 0;
}

int spec_get_array(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		   json_t **out)
{
	char path[SPEC_PATH_MAX];
	json_t *v = member(obj, key);

	*out = NULL;
	if (!v)
		return 0;
	if (!json_is_array(v)) {
		spec_path_key(path, parent, key);
		return spec_fail(c, path, "expected an array");
	}
	*out = v;
	return 0;
}

int spec_get_string(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		    bool required, char **out)
{
	char path[SPEC_PATH_MAX];
	json_t *v = member(obj, key);

	spec_path_key(path, parent, key);
	if (!v)
		return missing(c, path, required);
	if (!json_is_string(v))
		return spec_fail(c, path, "expected a string");
	free(*out);
	*out = oci_xstrdup(json_string_value(v));
	return 0;
}

int spec_get_bool(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		  bool *out)
{
	char path[SPEC_PATH_MAX];
	json_t *v = member(obj, key);

	if (!v)
		return 0;
	if (!json_is_boolean(v)) {
		spec_path_key(path, parent, key);
		return spec_fail(c, path, "expected a boolean");
	}
	*out = json_is_true(v);
	return 0;
}

/*
 * Reads an integer as sign and magnitude, so both the signed and the unsigned getters can
 * range-check without overflow.
 */
static int get_integer(const struct spec_ctx *c, json_t *v, const char *path, bool *neg,
		       uint64_t *mag)
{
	if (json_is_integer(v)) {
		json_int_t i = json_integer_value(v);

		*neg = i < 0;
		*mag = i < 0 ? (uint64_t)(-(i + 1)) + 1 : (uint64_t)i;
		return 0;
	}
	if (c->ints_as_reals && json_is_real(v)) {
		double d = json_real_value(v);

		if (d == floor(d) && fabs(d) <= 18446744073709551616.0) {
			*neg = d < 0;
			d = fabs(d);
			*mag = d >= 18446744073709551615.0 ? UINT64_MAX : (uint64_t)d;
			return 0;
		}
	}
	return spec_fail(c, path, "expected an integer");
}

int spec_value_i64(const struct spec_ctx *c, json_t *v, const char *path, int64_t min,
		   int64_t max, int64_t *out)
{
	uint64_t mag;
	int64_t val;
	bool neg;

	if (get_integer(c, v, path, &neg, &mag) < 0)
		return -EINVAL;
	if (neg ? mag > (uint64_t)INT64_MAX + 1 : mag > (uint64_t)INT64_MAX)
		goto range;
	val = neg ? (int64_t)(0 - mag) : (int64_t)mag;
	if (val < min || val > max)
		goto range;
	*out = val;
	return 0;
range:
	return spec_fail(c, path, "`%s%" PRIu64 "` is out of range (%" PRId64 " to %" PRId64 ")",
			 neg ? "-" : "", mag, min, max);
}

int spec_get_i64(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		 bool required, int64_t min, int64_t max, int64_t *out, bool *present)
{
	char path[SPEC_PATH_MAX];
	json_t *v = member(obj, key);

	spec_path_key(path, parent, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return missing(c, path, required);
	return spec_value_i64(c, v, path, min, max, out);
}

int spec_get_u64(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		 bool required, uint64_t *out, bool *present)
{
	char path[SPEC_PATH_MAX];
	json_t *v = member(obj, key);
	uint64_t mag;
	bool neg;

	spec_path_key(path, parent, key);
	if (present)
		*present = v != NULL;
	if (!v)
		return missing(c, path, required);
	if (get_integer(c, v, path, &neg, &mag) < 0)
		return -EINVAL;
	if (neg && mag)
		return spec_fail(c, path, "`-%" PRIu64 "` must not be negative", mag);
	*out = mag;
	return 0;
}

int spec_get_u32(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		 bool required, uint32_t *out, bool *present)
{
	int64_t v = 0;
	bool here = false;
	int r;

	r = spec_get_i64(c, obj, parent, key, required, 0, UINT32_MAX, &v, &here);
	if (r < 0)
		return r;
	if (present)
		*present = here;
	if (here)
		*out = (uint32_t)v;
	return 0;
}

int spec_get_strv(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		  char ***out, size_t *n)
{
	char path[SPEC_PATH_MAX];
	json_t *v = member(obj, key), *e;
	char **vec;
	size_t i;

	*out = NULL;
	*n = 0;
	if (!v)
		return 0;
	spec_path_key(path, parent, key);
	if (!json_is_array(v))
		return spec_fail(c, path, "expected an array of strings");
	json_array_foreach (v, i, e)
		if (!json_is_string(e))
			return spec_fail(c, path, "expected an array of strings");
	vec = oci_xcalloc(json_array_size(v) + 1, sizeof(*vec));
	json_array_foreach (v, i, e)
		vec[i] = oci_xstrdup(json_string_value(e));
	*out = vec;
	*n = json_array_size(v);
	return 0;
}

int spec_get_string_map(const struct spec_ctx *c, json_t *obj, const char *parent,
			const char *key, char ***keys, char ***values, size_t *n)
{
	char path[SPEC_PATH_MAX], epath[SPEC_PATH_MAX];
	json_t *map, *e;
	const char *k;
	size_t i = 0;

	*keys = *values = NULL;
	*n = 0;
	if (spec_get_object(c, obj, parent, key, false, &map) < 0)
		return -EINVAL;
	if (!map)
		return 0;
	spec_path_key(path, parent, key);
	json_object_foreach (map, k, e) {
		spec_path_key(epath, path, k);
		if (!*k)
			return spec_fail(c, path, "keys must not be empty");
		if (!json_is_string(e))
			return spec_fail(c, epath, "expected a string");
	}
	*keys = oci_xcalloc(json_object_size(map) + 1, sizeof(char *));
	*values = oci_xcalloc(json_object_size(map) + 1, sizeof(char *));
	json_object_foreach (map, k, e) {
		(*keys)[i] = oci_xstrdup(k);
		(*values)[i++] = oci_xstrdup(json_string_value(e));
	}
	*n = i;
	return 0;
}

void *oci_xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);

	if (!p)
		abort();
	return p;
}

char *oci_xstrdup(const char *s)
{
	char *p = strdup(s);

	if (!p)
		abort();
	return p;
}

void oci_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
