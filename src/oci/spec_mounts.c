/* The `mounts` array: destinations, sources, and options split into MS_* flags and fs data. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>

#include "cvisor/err.h"
#include "oci_internal.h"

enum mount_opt_kind {
	OPT_SET,         /* flag |= */
	OPT_CLEAR,       /* flag &= ~ */
	OPT_PROPAGATION, /* propagation = */
	OPT_REC_SET,     /* recursive attribute set */
	OPT_REC_CLEAR,   /* recursive attribute cleared */
	OPT_TMPCOPYUP,
};

struct mount_opt {
	const char *name;
	enum mount_opt_kind kind;
	unsigned long flag;
};

/* The options runc and crun know; anything else is filesystem data ("size=64m", "mode=755"). */
static const struct mount_opt mount_opts[] = {
	{ "defaults",	    OPT_SET,	     0 },
	{ "ro",		    OPT_SET,	     MS_RDONLY },
	{ "rw",		    OPT_CLEAR,	     MS_RDONLY },
	{ "nosuid",	    OPT_SET,	     MS_NOSUID },
	{ "suid",	    OPT_CLEAR,	     MS_NOSUID },
	{ "nodev",	    OPT_SET,	     MS_NODEV },
	{ "dev",	    OPT_CLEAR,	     MS_NODEV },
	{ "noexec",	    OPT_SET,	     MS_NOEXEC },
	{ "exec",	    OPT_CLEAR,	     MS_NOEXEC },
	{ "sync",	    OPT_SET,	     MS_SYNCHRONOUS },
	{ "async",	    OPT_CLEAR,	     MS_SYNCHRONOUS },
	{ "dirsync",	    OPT_SET,	     MS_DIRSYNC },
	{ "remount",	    OPT_SET,	     MS_REMOUNT },
	{ "mand",	    OPT_SET,	     MS_MANDLOCK },
	{ "nomand",	    OPT_CLEAR,	     MS_MANDLOCK },
	{ "noatime",	    OPT_SET,	     MS_NOATIME },
	{ "atime",	    OPT_CLEAR,	     MS_NOATIME },
	{ "nodiratime",	    OPT_SET,	     MS_NODIRATIME },
	{ "diratime",	    OPT_CLEAR,	     MS_NODIRATIME },
	{ "relatime",	    OPT_SET,	     MS_RELATIME },
	{ "norelatime",	    OPT_CLEAR,	     MS_RELATIME },
	{ "strictatime",    OPT_SET,	     MS_STRICTATIME },
	{ "nostrictatime",  OPT_CLEAR,	     MS_STRICTATIME },
	{ "lazytime",	    OPT_SET,	     MS_LAZYTIME },
	{ "nolazytime",	    OPT_CLEAR,	     MS_LAZYTIME },
	{ "iversion",	    OPT_SET,	     MS_I_VERSION },
	{ "noiversion",	    OPT_CLEAR,	     MS_I_VERSION },
	{ "silent",	    OPT_SET,	     MS_SILENT },
	{ "loud",	    OPT_CLEAR,	     MS_SILENT },
	{ "bind",	    OPT_SET,	     MS_BIND },
	{ "rbind",	    OPT_SET,	     MS_BIND | MS_REC },
	{ "private",	    OPT_PROPAGATION, MS_PRIVATE },
	{ "rprivate",	    OPT_PROPAGATION, MS_PRIVATE | MS_REC },
	{ "shared",	    OPT_PROPAGATION, MS_SHARED },
	{ "rshared",	    OPT_PROPAGATION, MS_SHARED | MS_REC },
	{ "slave",	    OPT_PROPAGATION, MS_SLAVE },
	{ "rslave",	    OPT_PROPAGATION, MS_SLAVE | MS_REC },
	{ "unbindable",	    OPT_PROPAGATION, MS_UNBINDABLE },
	{ "runbindable",    OPT_PROPAGATION, MS_UNBINDABLE | MS_REC },
	{ "rro",	    OPT_REC_SET,     MS_RDONLY },
	{ "rrw",	    OPT_REC_CLEAR,   MS_RDONLY },
	{ "rnosuid",	    OPT_REC_SET,     MS_NOSUID },
	{ "rsuid",	    OPT_REC_CLEAR,   MS_NOSUID },
	{ "rnodev",	    OPT_REC_SET,     MS_NODEV },
	{ "rdev",	    OPT_REC_CLEAR,   MS_NODEV },
	{ "rnoexec",	    OPT_REC_SET,     MS_NOEXEC },
	{ "rexec",	    OPT_REC_CLEAR,   MS_NOEXEC },
	{ "rnoatime",	    OPT_REC_SET,     MS_NOATIME },
	{ "ratime",	    OPT_REC_CLEAR,   MS_NOATIME },
	{ "rnodiratime",    OPT_REC_SET,     MS_NODIRATIME },
	{ "rdiratime",	    OPT_REC_CLEAR,   MS_NODIRATIME },
	{ "rrelatime",	    OPT_REC_SET,     MS_RELATIME },
	{ "rnorelatime",    OPT_REC_CLEAR,   MS_RELATIME },
	{ "rstrictatime",   OPT_REC_SET,     MS_STRICTATIME },
	{ "rnostrictatime", OPT_REC_CLEAR,   MS_STRICTATIME },
	{ "tmpcopyup",	    OPT_TMPCOPYUP,   0 },
};

const char *oci_mount_option_name(size_t i)
{
	return i < ARRAY_SIZE(mount_opts) ? mount_opts[i].name : NULL;
}

static const struct mount_opt *mount_opt_find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(mount_opts); i++)
		if (!strcmp(mount_opts[i].name, name))
			return &mount_opts[i];
	return NULL;
}

/* Appends opt to the comma-separated data string *data. */
static void data_append(char **data, const char *opt)
{
	size_t old = *data ? strlen(*data) : 0, n = strlen(opt);
	char *s = realloc(*data, old + n + 2);

	if (!s)
		abort();
	if (old)
		s[old++] = ',';
	memcpy(s + old, opt, n + 1);
	*data = s;
}

static void apply_options(struct oci_mount *m)
{
	for (size_t i = 0; i < m->n_options; i++) {
		const struct mount_opt *o = mount_opt_find(m->options[i]);

		if (!o) {
			data_append(&m->data, m->options[i]);
			continue;
		}
		switch (o->kind) {
		case OPT_SET:
			m->flags |= o->flag;
			break;
		case OPT_CLEAR:
			m->flags &= ~o->flag;
			break;
		case OPT_PROPAGATION:
			m->propagation = o->flag;
			break;
		case OPT_REC_SET:
			m->rec_set |= o->flag;
			m->rec_clear &= ~o->flag;
			break;
		case OPT_REC_CLEAR:
			m->rec_clear |= o->flag;
			m->rec_set &= ~o->flag;
			break;
		case OPT_TMPCOPYUP:
			m->tmpcopyup = true;
			break;
		}
	}
	m->bind = (m->flags & MS_BIND) != 0;
}

static int parse_mount(const struct spec_ctx *c, json_t *e, const char *path, struct oci_mount *m)
{
	char fpath[SPEC_PATH_MAX];

	if (!json_is_object(e))
		return spec_fail(c, path, "expected an object");
	if (spec_get_string(c, e, path, "destination", true, &m->destination) < 0 ||
	    spec_get_string(c, e, path, "type", false, &m->type) < 0 ||
	    spec_get_string(c, e, path, "source", false, &m->source) < 0 ||
	    spec_get_strv(c, e, path, "options", &m->options, &m->n_options) < 0)
		return -EINVAL;
	spec_path_key(fpath, path, "destination");
	if (m->destination[0] != '/')
		return spec_fail(c, fpath, "must be an absolute path");
	apply_options(m);
	if (!m->type && m->bind)
		m->type = oci_xstrdup("bind");
	if (m->type && !strcmp(m->type, "bind"))
		m->bind = true;
	if (m->bind && (!m->source || !*m->source)) {
		spec_path_key(fpath, path, "source");
		return spec_fail(c, fpath, "required for a bind mount");
	}
	if (!m->type) {
		spec_path_key(fpath, path, "type");
		return spec_fail(c, fpath, "required unless the options hold bind or rbind");
	}
	return 0;
}

int spec_parse_mounts(const struct spec_ctx *c, json_t *root, struct oci_spec *s)
{
	char path[SPEC_PATH_MAX];
	json_t *arr, *e;
	size_t i;

	if (spec_get_array(c, root, "", "mounts", &arr) < 0)
		return -EINVAL;
	if (!arr)
		return 0;
	s->mounts = oci_xcalloc(json_array_size(arr), sizeof(*s->mounts));
	json_array_foreach (arr, i, e) {
		spec_path_idx(path, "mounts", i);
		/* counted first, so oci_spec_free() releases a half-parsed entry too */
		s->n_mounts++;
		if (parse_mount(c, e, path, &s->mounts[i]) < 0)
			return -EINVAL;
	}
	return 0;
}

void spec_free_mounts(struct oci_spec *s)
{
	for (size_t i = 0; i < s->n_mounts; i++) {
		struct oci_mount *m = &s->mounts[i];

		free(m->destination);
		free(m->type);
		free(m->source);
		oci_strv_free(m->options);
		free(m->data);
	}
	free(s->mounts);
	s->mounts = NULL;
	s->n_mounts = 0;
}
