/*
 * Private helpers of src/oci: typed, path-aware accessors over a jansson tree, so every
 * config.json error names the file and the field ("config.json: mounts[3].destination: ...").
 *
 * A field path is built by the caller in a fixed buffer (SPEC_PATH_MAX); parents pass their own
 * path down and children append ".key" or "[i]".  All helpers return 0, or a negative value with
 * *c->err set.  Strings and arrays they hand out are owned by the caller.
 */
#ifndef CV_OCI_INTERNAL_H
#define CV_OCI_INTERNAL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cvisor/compiler.h"
#include "cvisor/oci.h"

struct cv_err;

#define SPEC_PATH_MAX 256

struct spec_ctx {
	const char *file;   /* "config.json", for messages */
	bool ints_as_reals; /* the text held integers beyond int64: jansson decoded them as reals */
	struct cv_err **err;
};

/* Sets "<file>: <path>: <message>" (or "<file>: <message>" when path is empty). */
int spec_fail(const struct spec_ctx *c, const char *path, const char *fmt, ...) __printf(3, 4);

/* Builds "<parent>.<key>" (or "<key>" at the top) and "<parent>[<i>]" into out. */
void spec_path_key(char out[SPEC_PATH_MAX], const char *parent, const char *key);
void spec_path_idx(char out[SPEC_PATH_MAX], const char *parent, size_t i);

/* Parses text into a tree; on failure sets an error naming the line and column. */
int spec_load_json(struct spec_ctx *c, const char *text, size_t len, json_t **out);

/*
 * Field getters on object `obj` (whose own path is `parent`).  An absent or null member leaves
 * the output untouched and returns 0, unless `required`, which fails with "required".
 * *present (when not NULL) says whether the member was there.
 */
int spec_get_object(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		    bool required, json_t **out);
int spec_get_array(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		   json_t **out);
int spec_get_string(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		    bool required, char **out);
int spec_get_bool(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		  bool *out);
/* Reads an integer value (not a member) in [min, max]. */
int spec_value_i64(const struct spec_ctx *c, json_t *v, const char *path, int64_t min,
		   int64_t max, int64_t *out);
int spec_get_i64(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		 bool required, int64_t min, int64_t max, int64_t *out, bool *present);
int spec_get_u64(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		 bool required, uint64_t *out, bool *present);
int spec_get_u32(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		 bool required, uint32_t *out, bool *present);
/* An array of strings into a NULL-terminated vector; absent gives NULL and 0. */
int spec_get_strv(const struct spec_ctx *c, json_t *obj, const char *parent, const char *key,
		  char ***out, size_t *n);
/* A string -> string object into NULL-terminated parallel arrays. */
int spec_get_string_map(const struct spec_ctx *c, json_t *obj, const char *parent,
			const char *key, char ***keys, char ***values, size_t *n);

/* Allocation that aborts on failure: allowed in cli/oci only (STYLE.md 2.5). */
void *oci_xcalloc(size_t n, size_t size);
char *oci_xstrdup(const char *s);
void oci_strv_free(char **v);

/* Section parsers (spec_process.c, spec_mounts.c, spec_linux.c). */
int spec_parse_process(const struct spec_ctx *c, json_t *obj, const char *path,
		       struct oci_process *out);
int spec_parse_mounts(const struct spec_ctx *c, json_t *root, struct oci_spec *s);
int spec_parse_linux(const struct spec_ctx *c, json_t *root, struct oci_spec *s);
int spec_parse_resources(const struct spec_ctx *c, json_t *obj, const char *path,
			 struct oci_resources *out);
void spec_free_mounts(struct oci_spec *s);
void spec_free_linux(struct oci_spec *s);

/* Name tables (spec_tables.c).  Each returns the value, or -1 for an unknown name. */
int spec_cap_from_name(const char *name);
int spec_rlimit_from_name(const char *name);

#endif
