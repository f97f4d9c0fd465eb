/* `cvisor spec`: the default config.json (runc's, field for field), and the JSON printer that
 * lays it out the way Go's encoder does. */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvisor/cleanup.h"
#include "cvisor/err.h"
#include "cvisor/oci.h"

/* What `runc spec` writes, in its order.  The rootless variant is derived from it below. */
static const char default_spec[] =
	"{\"ociVersion\":\"" CV_OCI_VERSION "\","
	"\"process\":{\"terminal\":true,\"user\":{\"uid\":0,\"gid\":0},\"args\":[\"sh\"],"
	"\"env\":[\"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\","
	"\"TERM=xterm\"],\"cwd\":\"/\","
	"\"capabilities\":{"
	"\"bounding\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	"\"effective\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	"\"permitted\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"],"
	"\"ambient\":[\"CAP_AUDIT_WRITE\",\"CAP_KILL\",\"CAP_NET_BIND_SERVICE\"]},"
	"\"rlimits\":[{\"type\":\"RLIMIT_NOFILE\",\"hard\":1024,\"soft\":1024}],"
	"\"noNewPrivileges\":true},"
	"\"root\":{\"path\":\"rootfs\",\"readonly\":true},"
	"\"hostname\":\"cvisor\","
	"\"mounts\":["
	"{\"destination\":\"/proc\",\"type\":\"proc\",\"source\":\"proc\"},"
	"{\"destination\":\"/dev\",\"type\":\"tmpfs\",\"source\":\"tmpfs\","
	"\"options\":[\"nosuid\",\"strictatime\",\"mode=755\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/pts\",\"type\":\"devpts\",\"source\":\"devpts\","
	"\"options\":[\"nosuid\",\"noexec\",\"newinstance\",\"ptmxmode=0666\",\"mode=0620\","
	"\"gid=5\"]},"
	"{\"destination\":\"/dev/shm\",\"type\":\"tmpfs\",\"source\":\"shm\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"mode=1777\",\"size=65536k\"]},"
	"{\"destination\":\"/dev/mqueue\",\"type\":\"mqueue\",\"source\":\"mqueue\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\"]},"
	"{\"destination\":\"/sys\",\"type\":\"sysfs\",\"source\":\"sysfs\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"ro\"]},"
	"{\"destination\":\"/sys/fs/cgroup\",\"type\":\"cgroup\",\"source\":\"cgroup\","
	"\"options\":[\"nosuid\",\"noexec\",\"nodev\",\"relatime\",\"ro\"]}],"
	"\"linux\":{"
	"\"resources\":{\"devices\":[{\"allow\":false,\"access\":\"rwm\"}]},"
	"\"namespaces\":[{\"type\":\"pid\"},{\"type\":\"network\"},{\"type\":\"ipc\"},"
	"{\"type\":\"uts\"},{\"type\":\"mount\"}],"
	"\"maskedPaths\":[\"/proc/acpi\",\"/proc/asound\",\"/proc/kcore\",\"/proc/keys\","
	"\"/proc/latency_stats\",\"/proc/timer_list\",\"/proc/timer_stats\","
	"\"/proc/sched_debug\",\"/sys/firmware\",\"/proc/scsi\"],"
	"\"readonlyPaths\":[\"/proc/bus\",\"/proc/fs\",\"/proc/irq\",\"/proc/sys\","
	"\"/proc/sysrq-trigger\"]}}";

static void dump(FILE *f, const json_t *j, const char *indent, int depth);

static void newline(FILE *f, const char *indent, int depth)
{
	fputc('\n', f);
	for (int i = 0; i < depth; i++)
		fputs(indent, f);
}

static void dump_scalar(FILE *f, const json_t *j)
{
	char *s = json_dumps(j, JSON_ENCODE_ANY);

	if (!s)
		abort();
	fputs(s, f);
	free(s);
}

static void dump_object(FILE *f, const json_t *j, const char *indent, int depth)
{
	const char *key;
	json_t *v;
	bool first = true;

	if (json_object_size(j) == 0) {
		fputs("{}", f);
		return;
	}
	fputc('{', f);
	json_object_foreach ((json_t *)j, key, v) {
		json_t *k = json_string(key);

		if (!first)
			fputc(',', f);
		first = false;
		newline(f, indent, depth + 1);
		dump_scalar(f, k);
		json_decref(k);
		fputs(": ", f);
		dump(f, v, indent, depth + 1);
	}
	newline(f, indent, depth);
	fputc('}', f);
}

static void dump_array(FILE *f, const json_t *j, const char *indent, int depth)
{
	json_t *v;
	size_t i;

	if (json_array_size(j) == 0) {
		fputs("[]", f);
		return;
	}
	fputc('[', f);
	json_array_foreach ((json_t *)j, i, v) {
		if (i)
			fputc(',', f);
		newline(f, indent, depth + 1);
		dump(f, v, indent, depth + 1);
	}
	newline(f, indent, depth);
	fputc(']', f);
}

static void dump(FILE *f, const json_t *j, const char *indent, int depth)
{
	if (json_is_object(j))
		dump_object(f, j, indent, depth);
	else if (json_is_array(j))
		dump_array(f, j, indent, depth);
	else
		dump_scalar(f, j);
}

char *oci_json_format(const struct json_t *j, const char *indent)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		abort();
	dump(f, j, indent, 0);
	if (fclose(f) != 0)
		abort();
	return buf;
}

static json_t *id_mapping(unsigned id)
{
	return json_pack("[{s:i,s:I,s:i}]", "containerID", 0, "hostID", (json_int_t)id, "size", 1);
}

/* runc's rootless tweaks: no gid= on devpts, /sys bound from the host, no network or device
 * cgroup, and a user namespace mapping root to the caller. */
static void make_rootless(json_t *spec)
{
	json_t *mounts = json_object_get(spec, "mounts"), *old = json_object_get(spec, "linux");
	json_t *pts_opts = json_object_get(json_array_get(mounts, 2), "options");
	json_t *lx = json_object(), *ns = json_array(), *e;
	size_t i;

	json_array_remove(pts_opts, json_array_size(pts_opts) - 1);
	json_array_set_new(mounts, 5,
			   json_pack("{s:s,s:s,s:s,s:[s,s,s,s,s]}", "destination", "/sys", "type",
				     "none", "source", "/sys", "options", "rbind", "nosuid",
				     "noexec", "nodev", "ro"));
	json_object_set_new(lx, "uidMappings", id_mapping(geteuid()));
	json_object_set_new(lx, "gidMappings", id_mapping(getegid()));
	json_array_foreach (json_object_get(old, "namespaces"), i, e)
		if (strcmp(json_string_value(json_object_get(e, "type")), "network"))
			json_array_append(ns, e);
	json_array_append_new(ns, json_pack("{s:s}", "type", "user"));
	json_object_set_new(lx, "namespaces", ns);
	json_object_set(lx, "maskedPaths", json_object_get(old, "maskedPaths"));
	json_object_set(lx, "readonlyPaths", json_object_get(old, "readonlyPaths"));
	json_object_set_new(spec, "linux", lx);
}

int oci_spec_write_default(const char *path, bool rootless, struct cv_err **err)
{
	_cleanup_json_ json_t *spec = NULL;
	_cleanup_free_ char *text = NULL;
	_cleanup_close_ int fd = -1;
	size_t len, off = 0;

	spec = json_loads(default_spec, 0, NULL);
	if (!spec)
		abort();
	if (rootless)
		make_rootless(spec);
	text = oci_json_format(spec, "\t");
	len = strlen(text);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
	if (fd < 0 && errno == EEXIST)
		return cv_err_set(err, 0, "`%s` exists; remove it first", path);
	if (fd < 0)
		return cv_err_set(err, errno, "creating `%s`", path);
	while (off < len) {
		ssize_t r = write(fd, text + off, len - off);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			cv_err_set(err, errno, "writing `%s`", path);
			unlink(path);
			return -1;
		}
		off += (size_t)r;
	}
	return 0;
}
