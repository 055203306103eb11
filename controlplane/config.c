/*
 * config.c - vigil.yaml: the defaults, the loader, the EAL argument vector.
 *
 * vigild reads one YAML file at start-up (vigil.yaml.example at the top of
 * the repository lists every key). The loader walks libyaml's document tree
 * rather than its event stream so that every value keeps its line and
 * column: each mistake comes back as one line, "FILE:LINE:COL: key.path:
 * what is wrong", which is enough to fix the file without reading this code.
 *
 * Loading is all or nothing. The file is applied to a copy of the caller's
 * configuration, and the copy replaces it only once every key was accepted;
 * on any failure the caller's configuration is left exactly as it was
 * (defaults, or whatever an earlier load put there), so it is always safe to
 * use or to cp_config_free.
 *
 * A key that is given replaces its value whole: `eal:`, `ports:`, the
 * telemetry port lists and telemetry.allow are never merged with what was
 * there before. A key given with no value at all (`ports:` followed only by
 * comments) is taken as an empty list or an empty mapping.
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>

#include <yaml.h>

#include "controlplane.h"

/* ------------------------------------------------------------------------ */
/* Defaults and limits                                                       */
/* ------------------------------------------------------------------------ */

/* No PCI scan, no hugepages, no shared config: runs anywhere, for pcap and tests. */
static const char *const default_eal[] = {"--no-pci", "--no-huge", "--no-shconf", "-m", "512"};

#define DEFAULT_HL7_PORT 2575
#define DEFAULT_VTP_PORT 4575
#define DEFAULT_MBUF_CACHE 256
#define DEFAULT_DESC 1024
#define DEFAULT_DEVICE_SILENT_S 30
#define DEFAULT_DECODE_ERRORS_COUNT 10
#define DEFAULT_DECODE_ERRORS_S 60

#define DESC_MIN 64
#define DESC_MAX 16384
#define MBUF_CACHE_MAX 512 /* RTE_MEMPOOL_CACHE_MAX_SIZE */
#define MBUFS_MAX (1u << 24)
#define STATS_INTERVAL_MAX 86400
#define VTP_DEVICES_MIN 16
#define VTP_DEVICES_MAX (1u << 24)
#define REGISTRY_DEVICES_MIN 1
#define REGISTRY_DEVICES_MAX (1u << 22)
#define RING_MIN 64			  /* events per ring; DP_RING_MAX above */
#define CONFIG_FILE_MAX (1u << 20)	  /* a config file is small; this catches /dev/zero */
#define STORAGE_CACHE_MB_MAX 65536	  /* storage.block_cache_mb */
#define STORAGE_WRITE_BUFFER_MB_MAX 4096  /* storage.write_buffer_mb */
#define STORAGE_BATCH_RECORDS_MAX 1000000 /* storage.batch_records */
#define STORAGE_BATCH_MS_MAX 60000	  /* storage.batch_ms */
#define RETENTION_DAYS_MAX 36500	  /* a hundred years */
#define ALARM_SPAN_MAX_S 86400		  /* alarms.hold, .silence, .device_silent */
#define ALARM_CONDITIONS_MAX (1u << 24)	  /* alarms.conditions */
#define DECODE_ERRORS_COUNT_MAX 1000000	  /* alarms.decode_errors.count */
#define DECODE_ERRORS_SECONDS_MAX 86400	  /* alarms.decode_errors.seconds */
#define PATIENTS_MAX (1u << 20)		  /* patients.max */
#define STALE_MAX_S (7 * 86400)		  /* patients.stale.* */
#define PATIENT_SETTINGS_MAX PATIENTS_MAX /* patients.settings */

#define STRINGIFY_(x) #x
#define STRINGIFY(x) STRINGIFY_(x)

#define KEY_PATH_LEN 96	   /* "ports[7].addresses[16]" and the like */
#define SHOWN_VALUE_LEN 72 /* how much of a bad value an error message quotes */

int
cp_config_defaults(struct cp_config *c)
{
	struct cp_alarm_opts alarm_opts;
	size_t i;

	memset(c, 0, sizeof(*c));
	for (i = 0; i < sizeof(default_eal) / sizeof(default_eal[0]); i++) {
		c->eal[i] = strdup(default_eal[i]);
		if (c->eal[i] == NULL) {
			cp_config_free(c);
			return -ENOMEM;
		}
		c->n_eal++;
	}
	c->workers = 1;
	c->n_hl7_ports = 1;
	c->hl7_ports[0] = DEFAULT_HL7_PORT;
	c->n_vtp_ports = 1;
	c->vtp_ports[0] = DEFAULT_VTP_PORT;
	c->udp_checksum = true;
	c->vtp_devices = DP_VTP_DEVICES_DEFAULT;
	c->mbufs = 0;
	c->mbuf_cache = DEFAULT_MBUF_CACHE;
	c->rx_desc = DEFAULT_DESC;
	c->tx_desc = DEFAULT_DESC;
	c->promiscuous = true;
	c->stats_interval = 0;
	c->rules_max_errors = RULE_MAX_ERRORS_DEFAULT;
	c->n_allow = 0;
	c->allow = NULL; /* every sender allowed */
	c->registry_devices = DP_REGISTRY_DEVICES_DEFAULT;
	c->alarm_ring = DP_ALARM_RING_DEFAULT;
	c->telemetry_ring = DP_TELEMETRY_RING_DEFAULT;
	c->storage_dir = strdup(CP_STORAGE_DIR);
	if (c->storage_dir == NULL) {
		cp_config_free(c);
		return -ENOMEM;
	}
	c->storage_dir_given = false;
	c->storage_block_cache_mb = CP_STORAGE_CACHE_MB;
	c->storage_write_buffer_mb = CP_STORAGE_WRITE_BUFFER_MB;
	c->storage_compression = STORE_COMPRESS_LZ4;
	c->storage_batch_records = STORE_BATCH_RECORDS_DEFAULT;
	c->storage_batch_ms = STORE_BATCH_MS_DEFAULT;
	c->storage_retain_s[STORE_CF_OBS] = STORE_RETAIN_OBS_DEFAULT;
	c->storage_retain_s[STORE_CF_ALARMS] = STORE_RETAIN_ALARMS_DEFAULT;
	c->storage_retain_s[STORE_CF_AUDIT] = STORE_RETAIN_AUDIT_DEFAULT;
	c->storage_retain_s[STORE_CF_META] = STORE_RETAIN_META_DEFAULT;
	c->storage_key_file = NULL;
	c->alarm_log = strdup(CP_ALARM_LOG);
	if (c->alarm_log == NULL) {
		cp_config_free(c);
		return -ENOMEM;
	}
	c->alarm_log_given = false;
	/* The alarm manager's own defaults, so that the two never disagree. */
	cp_alarm_opts_defaults(&alarm_opts);
	c->alarm_hold_s = (unsigned)(alarm_opts.hold_ns / 1000000000);
	c->alarm_silence_s = (unsigned)(alarm_opts.silence_ns / 1000000000);
	c->alarm_conditions = alarm_opts.max_conditions;
	c->device_silent_s = DEFAULT_DEVICE_SILENT_S;
	c->decode_errors_count = DEFAULT_DECODE_ERRORS_COUNT;
	c->decode_errors_s = DEFAULT_DECODE_ERRORS_S;
	for (i = 0; i < CP_TECH__COUNT; i++)
		c->tech_priority[i] = (uint8_t)cp_tech_default_priority((enum cp_tech)i);
	cp_patient_opts_defaults(&c->patients);
	c->n_patient_settings = 0;
	c->patient_settings = NULL;
	c->control_socket = strdup(CP_CONTROL_SOCKET);
	c->metrics_listen = strdup(CP_METRICS_LISTEN);
	c->backup_dir = strdup(CP_BACKUP_DIR);
	if (c->control_socket == NULL || c->metrics_listen == NULL || c->backup_dir == NULL) {
		cp_config_free(c);
		return -ENOMEM;
	}
	c->control_mode = CP_CONTROL_MODE;
	c->control_max_clients = CP_CONTROL_MAX_CLIENTS;
	return 0;
}

/*
 * The counts say which strings are owned: a caller that drops ports by
 * freeing them and lowering n_ports may leave stale pointers past the count.
 * The struct is zeroed after, so a second cp_config_free is harmless.
 */
void
cp_config_free(struct cp_config *c)
{
	unsigned i;

	if (c == NULL)
		return;
	free(c->path);
	for (i = 0; i < c->n_eal && i < CP_MAX_EAL_ARGS; i++)
		free(c->eal[i]);
	for (i = 0; i < c->n_ports && i < DP_MAX_PORTS; i++)
		free(c->port[i].device);
	for (i = 0; i < c->n_rule_files && i < CP_MAX_RULE_FILES; i++)
		free(c->rule_files[i]);
	for (i = 0; i < c->n_rule_vars && i < CP_MAX_RULE_VARS; i++) {
		free(c->rule_var[i].name);
		free(c->rule_var[i].value);
	}
	free(c->rules_cache_dir);
	free(c->allow);
	free(c->storage_dir);
	free(c->storage_key_file);
	free(c->alarm_log);
	for (i = 0; i < c->n_patient_settings && c->patient_settings != NULL; i++)
		free(c->patient_settings[i].patient);
	free(c->patient_settings);
	free(c->control_socket);
	free(c->control_group);
	for (unsigned r = 0; r < CP_ROLE__COUNT; r++)
		for (i = 0; i < c->roles.n[r] && i < CP_MAX_ROLE_ENTRIES; i++)
			free(c->roles.entry[r][i]);
	free(c->audit_key_file);
	free(c->metrics_listen);
	free(c->backup_dir);
	memset(c, 0, sizeof(*c));
}

/* *dst = a copy of @p src (NULL stays NULL). */
static int
dup_opt(char **dst, const char *src)
{
	*dst = NULL;
	if (src != NULL && (*dst = strdup(src)) == NULL)
		return -ENOMEM;
	return 0;
}

/* A deep copy: the loader works on one so that a failed load changes nothing. */
static int
config_copy(struct cp_config *dst, const struct cp_config *src)
{
	unsigned i;

	*dst = *src;
	dst->path = NULL;
	memset(dst->eal, 0, sizeof(dst->eal));
	for (i = 0; i < DP_MAX_PORTS; i++)
		dst->port[i].device = NULL;
	memset(dst->rule_files, 0, sizeof(dst->rule_files));
	memset(dst->rule_var, 0, sizeof(dst->rule_var));
	dst->rules_cache_dir = NULL;
	dst->allow = NULL;
	dst->storage_dir = NULL;
	dst->storage_key_file = NULL;
	dst->alarm_log = NULL;
	dst->patient_settings = NULL;
	dst->n_patient_settings = 0;
	dst->control_socket = NULL;
	dst->control_group = NULL;
	memset(&dst->roles, 0, sizeof(dst->roles));
	dst->audit_key_file = NULL;
	dst->metrics_listen = NULL;
	dst->backup_dir = NULL;

	if (src->path != NULL && (dst->path = strdup(src->path)) == NULL)
		goto nomem;
	for (i = 0; i < src->n_eal && i < CP_MAX_EAL_ARGS; i++)
		if ((dst->eal[i] = strdup(src->eal[i])) == NULL)
			goto nomem;
	for (i = 0; i < src->n_ports && i < DP_MAX_PORTS; i++)
		if ((dst->port[i].device = strdup(src->port[i].device)) == NULL)
			goto nomem;
	for (i = 0; i < src->n_rule_files && i < CP_MAX_RULE_FILES; i++)
		if ((dst->rule_files[i] = strdup(src->rule_files[i])) == NULL)
			goto nomem;
	for (i = 0; i < src->n_rule_vars && i < CP_MAX_RULE_VARS; i++)
		if ((dst->rule_var[i].name = strdup(src->rule_var[i].name)) == NULL ||
		    (dst->rule_var[i].value = strdup(src->rule_var[i].value)) == NULL)
			goto nomem;
	if (src->rules_cache_dir != NULL &&
	    (dst->rules_cache_dir = strdup(src->rules_cache_dir)) == NULL)
		goto nomem;
	if (src->n_allow > 0) {
		dst->allow = malloc(src->n_allow * sizeof(*dst->allow));
		if (dst->allow == NULL)
			goto nomem;
		memcpy(dst->allow, src->allow, src->n_allow * sizeof(*dst->allow));
	}
	if (src->storage_dir != NULL && (dst->storage_dir = strdup(src->storage_dir)) == NULL)
		goto nomem;
	if (src->storage_key_file != NULL &&
	    (dst->storage_key_file = strdup(src->storage_key_file)) == NULL)
		goto nomem;
	if (src->alarm_log != NULL && (dst->alarm_log = strdup(src->alarm_log)) == NULL)
		goto nomem;
	if (dup_opt(&dst->control_socket, src->control_socket) != 0 ||
	    dup_opt(&dst->control_group, src->control_group) != 0 ||
	    dup_opt(&dst->audit_key_file, src->audit_key_file) != 0 ||
	    dup_opt(&dst->metrics_listen, src->metrics_listen) != 0 ||
	    dup_opt(&dst->backup_dir, src->backup_dir) != 0)
		goto nomem;
	for (unsigned r = 0; r < CP_ROLE__COUNT; r++) {
		/* counted as they are copied, so that a failure frees only those */
		dst->roles.n[r] = 0;
		for (i = 0; i < src->roles.n[r]; i++) {
			if (dup_opt(&dst->roles.entry[r][i], src->roles.entry[r][i]) != 0)
				goto nomem;
			dst->roles.n[r]++;
		}
	}
	if (src->n_patient_settings > 0) {
		dst->patient_settings =
			calloc(src->n_patient_settings, sizeof(*dst->patient_settings));
		if (dst->patient_settings == NULL)
			goto nomem;
		/* counted as they are copied, so that a failure frees only those */
		for (i = 0; i < src->n_patient_settings; i++) {
			dst->patient_settings[i] = src->patient_settings[i];
			dst->patient_settings[i].patient = strdup(src->patient_settings[i].patient);
			if (dst->patient_settings[i].patient == NULL)
				goto nomem;
			dst->n_patient_settings++;
		}
	}
	return 0;
nomem:
	cp_config_free(dst);
	return -ENOMEM;
}

int
cp_config_add_port(struct cp_config *c, const char *device)
{
	struct cp_port_config *port;

	if (device == NULL || device[0] == '\0')
		return -EINVAL;
	if (c->n_ports >= DP_MAX_PORTS)
		return -E2BIG;
	port = &c->port[c->n_ports];
	memset(port, 0, sizeof(*port));
	port->device = strdup(device);
	if (port->device == NULL)
		return -ENOMEM;
	c->n_ports++;
	return 0;
}

/* ------------------------------------------------------------------------ */
/* Error messages                                                            */
/* ------------------------------------------------------------------------ */

/* The loader's state: the document, the copy it fills, where errors go. */
struct loader {
	yaml_document_t *doc;
	struct cp_config *c;
	const char *name; /* the file name errors start with */
	const char *file; /* the file's path, or NULL for a string */
	char *err;
	size_t errlen;
};

/* "NAME:LINE:COL: PATH: message" (or without "PATH: " at the top level). */
static void
vset_error(char *err, size_t errlen, const char *name, size_t line, size_t col, const char *path,
	   const char *fmt, va_list ap)
{
	int n;

	if (err == NULL || errlen == 0)
		return;
	n = snprintf(err, errlen, "%s:%zu:%zu: %s%s", name, line, col, path,
		     path[0] != '\0' ? ": " : "");
	if (n < 0 || (size_t)n >= errlen)
		return;
	vsnprintf(err + n, errlen - (size_t)n, fmt, ap);
}

static void
set_error(char *err, size_t errlen, const char *name, size_t line, size_t col, const char *path,
	  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_error(err, errlen, name, line, col, path, fmt, ap);
	va_end(ap);
}

/* Report a problem with @p node at its position (libyaml counts from 0). */
static int
node_error(struct loader *ld, const yaml_node_t *node, const char *path, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset_error(ld->err, ld->errlen, ld->name, node->start_mark.line + 1,
		   node->start_mark.column + 1, path, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

/*
 * A scalar's text as an error message may quote it: control characters as
 * \xNN and long values cut, so the message stays one readable line.
 */
static const char *
shown(const yaml_node_t *node, char buf[SHOWN_VALUE_LEN])
{
	const unsigned char *s = node->data.scalar.value;
	size_t len = node->data.scalar.length, i, o = 0;

	for (i = 0; i < len; i++) {
		if (o + 8 >= SHOWN_VALUE_LEN) {
			memcpy(buf + o, "...", 4);
			return buf;
		}
		if (s[i] < 0x20 || s[i] == 0x7f)
			o += (size_t)snprintf(buf + o, SHOWN_VALUE_LEN - o, "\\x%02x", s[i]);
		else
			buf[o++] = (char)s[i];
	}
	buf[o] = '\0';
	return buf;
}

/* YAML's null: a key with nothing after it, or ~ / null. */
static bool
is_null(const yaml_node_t *node)
{
	const char *s;

	if (node->type != YAML_SCALAR_NODE || node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
		return false;
	s = (const char *)node->data.scalar.value;
	return s[0] == '\0' || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
	       strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

/* What a node is, for "expected X, got Y". */
static const char *
node_kind(const yaml_node_t *node, char buf[SHOWN_VALUE_LEN + 2])
{
	char value[SHOWN_VALUE_LEN];

	if (is_null(node))
		return "nothing";
	switch (node->type) {
	case YAML_SCALAR_NODE:
		snprintf(buf, SHOWN_VALUE_LEN + 2, "'%s'", shown(node, value));
		return buf;
	case YAML_SEQUENCE_NODE:
		return "a list";
	case YAML_MAPPING_NODE:
		return "a mapping";
	default:
		return "nothing";
	}
}

static int
wrong_type(struct loader *ld, const yaml_node_t *node, const char *path, const char *expected)
{
	char kind[SHOWN_VALUE_LEN + 2];

	return node_error(ld, node, path, "expected %s, got %s", expected, node_kind(node, kind));
}

/* ------------------------------------------------------------------------ */
/* Values                                                                    */
/* ------------------------------------------------------------------------ */

/* The text of a scalar that must hold a value (not null, not a list). */
static int
get_scalar(struct loader *ld, const yaml_node_t *node, const char *path, const char *expected,
	   const char **out)
{
	if (node->type != YAML_SCALAR_NODE || is_null(node))
		return wrong_type(ld, node, path, expected);
	if (strlen((const char *)node->data.scalar.value) != node->data.scalar.length)
		return node_error(ld, node, path, "contains a NUL character");
	*out = (const char *)node->data.scalar.value;
	return 0;
}

/*
 * A strictly decimal number: digits only (no sign, no hex, no leading zero,
 * which YAML 1.1 would read as octal), within [lo, hi]. @p what names the
 * kind of value in the out-of-range message ("a UDP port"); NULL says
 * "out of range".
 */
static int
get_number(struct loader *ld, const yaml_node_t *node, const char *path, unsigned long lo,
	   unsigned long hi, const char *what, unsigned long *out)
{
	char value[SHOWN_VALUE_LEN];
	unsigned long v;
	const char *s;
	char *end;
	size_t i;
	int rc;

	rc = get_scalar(ld, node, path, "a number", &s);
	if (rc < 0)
		return rc;
	for (i = 0; s[i] != '\0'; i++)
		if (s[i] < '0' || s[i] > '9')
			break;
	if (i == 0 || s[i] != '\0' || (s[0] == '0' && s[1] != '\0'))
		return node_error(ld, node, path, "'%s' is not a decimal number",
				  shown(node, value));
	errno = 0;
	v = strtoul(s, &end, 10);
	if (*end != '\0')
		return node_error(ld, node, path, "'%s' is not a decimal number",
				  shown(node, value));
	if (errno == ERANGE || v < lo || v > hi) {
		if (what != NULL)
			return node_error(ld, node, path, "%s is not %s (%lu..%lu)",
					  shown(node, value), what, lo, hi);
		return node_error(ld, node, path, "%s is out of range (%lu..%lu)",
				  shown(node, value), lo, hi);
	}
	*out = v;
	return 0;
}

static int
get_bool(struct loader *ld, const yaml_node_t *node, const char *path, bool *out)
{
	static const char *const yes[] = {"true", "yes", "on"};
	static const char *const no[] = {"false", "no", "off"};
	char value[SHOWN_VALUE_LEN];
	const char *s;
	size_t i;
	int rc;

	rc = get_scalar(ld, node, path, "true or false", &s);
	if (rc < 0)
		return rc;
	for (i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	return node_error(ld, node, path, "'%s' is not a boolean (true/false, yes/no, on/off)",
			  shown(node, value));
}

/* A non-empty string, copied; *out must be free()d by the caller. */
static int
get_string(struct loader *ld, const yaml_node_t *node, const char *path, char **out)
{
	const char *s;
	int rc;

	rc = get_scalar(ld, node, path, "a string", &s);
	if (rc < 0)
		return rc;
	if (s[0] == '\0')
		return node_error(ld, node, path, "must not be empty");
	*out = strdup(s);
	return *out == NULL ? -ENOMEM : 0;
}

/* The items of a list; a null value is an empty list. */
static int
get_list(struct loader *ld, const yaml_node_t *node, const char *path, yaml_node_item_t **items,
	 size_t *n_items)
{
	if (is_null(node)) {
		*items = NULL;
		*n_items = 0;
		return 0;
	}
	if (node->type != YAML_SEQUENCE_NODE)
		return wrong_type(ld, node, path, "a list");
	*items = node->data.sequence.items.start;
	*n_items = (size_t)(node->data.sequence.items.top - node->data.sequence.items.start);
	return 0;
}

static void
item_path(char path[KEY_PATH_LEN], const char *list_path, size_t index)
{
	snprintf(path, KEY_PATH_LEN, "%s[%zu]", list_path, index);
}

/* ------------------------------------------------------------------------ */
/* Mappings                                                                  */
/* ------------------------------------------------------------------------ */

struct key_def {
	const char *name;
	int (*parse)(struct loader *ld, const yaml_node_t *value, const char *path, void *target);
};

#define MAX_KEYS 24

/*
 * Check every key of @p map against @p keys and hand each value to its
 * parser. values[i] is set to the value node of keys[i] when the key was
 * given (NULL otherwise), for the checks that span keys. A null value is an
 * empty mapping.
 */
static int
walk_mapping(struct loader *ld, const yaml_node_t *map, const char *path,
	     const struct key_def *keys, size_t n_keys, void *target,
	     const yaml_node_t *values[MAX_KEYS])
{
	const yaml_node_t *key_nodes[MAX_KEYS] = {NULL};
	char child[KEY_PATH_LEN], known[256], value[SHOWN_VALUE_LEN];
	const yaml_node_pair_t *pair;
	size_t i, o = 0;
	int rc;

	for (i = 0; i < n_keys; i++)
		values[i] = NULL;
	if (is_null(map))
		return 0;
	if (map->type != YAML_MAPPING_NODE)
		return wrong_type(ld, map, path, "a mapping");

	for (pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
		const yaml_node_t *key = yaml_document_get_node(ld->doc, pair->key);
		const yaml_node_t *val = yaml_document_get_node(ld->doc, pair->value);
		const char *name;

		if (key->type != YAML_SCALAR_NODE)
			return wrong_type(ld, key, path, "a key name");
		name = (const char *)key->data.scalar.value;
		for (i = 0; i < n_keys; i++)
			if (key->data.scalar.length == strlen(keys[i].name) &&
			    strcmp(name, keys[i].name) == 0)
				break;
		if (i == n_keys) {
			for (i = 0; i < n_keys; i++)
				o += (size_t)snprintf(known + o, sizeof(known) - o, "%s%s",
						      i > 0 ? ", " : "", keys[i].name);
			return node_error(ld, key, path, "unknown key '%s' (known keys: %s)",
					  shown(key, value), known);
		}
		if (key_nodes[i] != NULL)
			return node_error(ld, key, path, "duplicate key '%s' (first on line %zu)",
					  keys[i].name, key_nodes[i]->start_mark.line + 1);
		key_nodes[i] = key;
		values[i] = val;
		snprintf(child, sizeof(child), "%s%s%s", path, path[0] != '\0' ? "." : "",
			 keys[i].name);
		rc = keys[i].parse(ld, val, child, target);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* parse_NAME: the mapping of a section, by its key table. */
#define SECTION(name, keys)                                                                        \
	static int parse_##name(struct loader *ld, const yaml_node_t *value, const char *path,     \
				void *target)                                                      \
	{                                                                                          \
		const yaml_node_t *values[MAX_KEYS];                                               \
                                                                                                   \
		return walk_mapping(ld, value, path, keys, sizeof(keys) / sizeof(keys[0]), target, \
				    values);                                                       \
	}

/* ------------------------------------------------------------------------ */
/* eal, workers, rx_desc, tx_desc, promiscuous, stats_interval               */
/* ------------------------------------------------------------------------ */

static int
parse_eal(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	yaml_node_item_t *items;
	char item[KEY_PATH_LEN];
	size_t n, i;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	for (i = 0; i < c->n_eal; i++) {
		free(c->eal[i]);
		c->eal[i] = NULL;
	}
	c->n_eal = 0;
	for (i = 0; i < n; i++) {
		const yaml_node_t *arg = yaml_document_get_node(ld->doc, items[i]);

		item_path(item, path, i);
		if (i >= CP_MAX_EAL_ARGS)
			return node_error(ld, arg, item, "more than %d EAL arguments",
					  CP_MAX_EAL_ARGS);
		rc = get_string(ld, arg, item, &c->eal[i]);
		if (rc < 0)
			return rc;
		c->n_eal++;
	}
	return 0;
}

static int
parse_workers(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, DP_MAX_WORKERS, NULL, &v);
	if (rc == 0)
		c->workers = (unsigned)v;
	return rc;
}

static int
get_desc(struct loader *ld, const yaml_node_t *value, const char *path, uint16_t *out)
{
	char shown_value[SHOWN_VALUE_LEN];
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, DESC_MIN, DESC_MAX, NULL, &v);
	if (rc < 0)
		return rc;
	if ((v & (v - 1)) != 0)
		return node_error(ld, value, path, "%s is not a power of two (%d..%d)",
				  shown(value, shown_value), DESC_MIN, DESC_MAX);
	*out = (uint16_t)v;
	return 0;
}

static int
parse_rx_desc(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_desc(ld, value, path, &((struct cp_config *)target)->rx_desc);
}

static int
parse_tx_desc(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_desc(ld, value, path, &((struct cp_config *)target)->tx_desc);
}

static int
parse_promiscuous(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_bool(ld, value, path, &((struct cp_config *)target)->promiscuous);
}

static int
parse_stats_interval(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 0, STATS_INTERVAL_MAX, NULL, &v);
	if (rc == 0)
		c->stats_interval = (unsigned)v;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* ports                                                                     */
/* ------------------------------------------------------------------------ */

/* The device's name: the part before the first ',' (vdev arguments, devargs). */
static size_t
device_name_len(const char *device)
{
	return strcspn(device, ",");
}

static bool
host_ipv4(uint32_t addr_be)
{
	uint32_t a = ntohl(addr_be);

	return a != 0 && a != 0xffffffffu && (a & 0xf0000000u) != 0xe0000000u;
}

static bool
host_ipv6(const uint8_t addr[16])
{
	static const uint8_t unspecified[16];

	return addr[0] != 0xff && memcmp(addr, unspecified, 16) != 0;
}

static int
parse_port_device(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_port_config *port = target;

	return get_string(ld, value, path, &port->device);
}

static int
parse_port_addresses(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_port_config *port = target;
	char item[KEY_PATH_LEN], shown_value[SHOWN_VALUE_LEN];
	yaml_node_item_t *items;
	size_t n, i, j;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	port->n_ipv4 = 0;
	port->n_ipv6 = 0;
	for (i = 0; i < n; i++) {
		const yaml_node_t *addr = yaml_document_get_node(ld->doc, items[i]);
		uint8_t v6[16];
		uint32_t v4;
		const char *s;

		item_path(item, path, i);
		rc = get_scalar(ld, addr, item, "an IPv4 or IPv6 address", &s);
		if (rc < 0)
			return rc;
		if (inet_pton(AF_INET, s, &v4) == 1) {
			if (!host_ipv4(v4))
				return node_error(ld, addr, item,
						  "%s cannot be the appliance's own address "
						  "(unspecified, broadcast or multicast)",
						  s);
			for (j = 0; j < port->n_ipv4; j++)
				if (port->ipv4[j] == v4)
					return node_error(ld, addr, item, "%s is listed twice", s);
			if (port->n_ipv4 >= DP_MAX_ADDRS)
				return node_error(ld, addr, item, "more than %d IPv4 addresses",
						  DP_MAX_ADDRS);
			port->ipv4[port->n_ipv4++] = v4;
		} else if (inet_pton(AF_INET6, s, v6) == 1) {
			if (!host_ipv6(v6))
				return node_error(ld, addr, item,
						  "%s cannot be the appliance's own address "
						  "(unspecified or multicast)",
						  s);
			for (j = 0; j < port->n_ipv6; j++)
				if (memcmp(port->ipv6[j], v6, 16) == 0)
					return node_error(ld, addr, item, "%s is listed twice", s);
			if (port->n_ipv6 >= DP_MAX_ADDRS)
				return node_error(ld, addr, item, "more than %d IPv6 addresses",
						  DP_MAX_ADDRS);
			memcpy(port->ipv6[port->n_ipv6++], v6, 16);
		} else {
			return node_error(ld, addr, item, "'%s' is not an IPv4 or IPv6 address",
					  shown(addr, shown_value));
		}
	}
	return 0;
}

static const struct key_def port_keys[] = {
	{"device", parse_port_device},
	{"addresses", parse_port_addresses},
};
#define PORT_KEY_DEVICE 0

static int
parse_ports(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	const yaml_node_t *values[MAX_KEYS];
	char item[KEY_PATH_LEN];
	yaml_node_item_t *items;
	size_t n, i, j;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	for (i = 0; i < c->n_ports; i++)
		free(c->port[i].device);
	memset(c->port, 0, sizeof(c->port));
	c->n_ports = 0;
	for (i = 0; i < n; i++) {
		const yaml_node_t *node = yaml_document_get_node(ld->doc, items[i]);
		struct cp_port_config *port = &c->port[i];
		size_t name_len;

		item_path(item, path, i);
		if (i >= DP_MAX_PORTS)
			return node_error(ld, node, item, "more than %d ports", DP_MAX_PORTS);
		c->n_ports++; /* counted now so that a failure frees what was parsed */
		if (node->type == YAML_MAPPING_NODE) {
			rc = walk_mapping(ld, node, item, port_keys,
					  sizeof(port_keys) / sizeof(port_keys[0]), port, values);
			if (rc < 0)
				return rc;
			if (values[PORT_KEY_DEVICE] == NULL)
				return node_error(ld, node, item, "'device' is required");
		} else if (node->type == YAML_SCALAR_NODE && !is_null(node)) {
			rc = get_string(ld, node, item, &port->device);
			if (rc < 0)
				return rc;
		} else {
			return wrong_type(ld, node, item, "a device string or a mapping");
		}
		/* The EAL refuses two devices of one name (vdev) or address (PCI). */
		name_len = device_name_len(port->device);
		for (j = 0; j < i; j++)
			if (device_name_len(c->port[j].device) == name_len &&
			    memcmp(c->port[j].device, port->device, name_len) == 0)
				return node_error(ld, node, item,
						  "device '%.*s' is also ports[%zu]", (int)name_len,
						  port->device, j);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* telemetry, mempool                                                        */
/* ------------------------------------------------------------------------ */

static int
get_udp_ports(struct loader *ld, const yaml_node_t *value, const char *path, unsigned min_count,
	      uint16_t ports[DP_MAX_TELEMETRY_PORTS], uint8_t *n_ports)
{
	char item[KEY_PATH_LEN];
	yaml_node_item_t *items;
	unsigned long v;
	size_t n, i, j;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	if (n < min_count)
		return node_error(ld, value, path, "at least %u port%s required", min_count,
				  min_count == 1 ? " is" : "s are");
	for (i = 0; i < n; i++) {
		const yaml_node_t *node = yaml_document_get_node(ld->doc, items[i]);

		item_path(item, path, i);
		if (i >= DP_MAX_TELEMETRY_PORTS)
			return node_error(ld, node, item, "more than %d ports",
					  DP_MAX_TELEMETRY_PORTS);
		rc = get_number(ld, node, item, 1, 65535, "a UDP port", &v);
		if (rc < 0)
			return rc;
		for (j = 0; j < i; j++)
			if (ports[j] == v)
				return node_error(ld, node, item, "%lu is listed twice", v);
		ports[i] = (uint16_t)v;
	}
	*n_ports = (uint8_t)n;
	return 0;
}

static int
parse_hl7_ports(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;

	return get_udp_ports(ld, value, path, 1, c->hl7_ports, &c->n_hl7_ports);
}

static int
parse_vtp_ports(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;

	return get_udp_ports(ld, value, path, 0, c->vtp_ports, &c->n_vtp_ports);
}

static int
parse_udp_checksum(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_bool(ld, value, path, &((struct cp_config *)target)->udp_checksum);
}

static int
parse_vtp_devices(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, VTP_DEVICES_MIN, VTP_DEVICES_MAX, NULL, &v);
	if (rc == 0)
		c->vtp_devices = (unsigned)v;
	return rc;
}

/*
 * Why @p text is not a network, in the words of an error message: host
 * bits (with the network meant), a prefix out of range, or not an address.
 */
static int
bad_network(struct loader *ld, const yaml_node_t *node, const char *path, const char *text,
	    const struct dp_acl_net *meant)
{
	char value[SHOWN_VALUE_LEN], addr[INET6_ADDRSTRLEN], host[SHOWN_VALUE_LEN];
	const char *slash = strchr(text, '/');
	struct dp_acl_net n;

	if (meant->ip_version != 0 && inet_ntop(meant->ip_version == 4 ? AF_INET : AF_INET6,
						meant->addr, addr, sizeof(addr)) != NULL)
		return node_error(ld, node, path, "%s has host bits set: did you mean %s/%u?",
				  shown(node, value), addr, meant->prefix);
	/* The address alone is good: the prefix is what is wrong. */
	if (slash != NULL && (size_t)(slash - text) < sizeof(host)) {
		memcpy(host, text, (size_t)(slash - text));
		host[slash - text] = '\0';
		if (dp_acl_net_parse(host, &n) == 0)
			return node_error(ld, node, path,
					  "'%s': the prefix must be a number from 0 to %u",
					  shown(node, value), n.ip_version == 4 ? 32 : 128);
	}
	return node_error(ld, node, path,
			  "'%s' is not a network (an IPv4 or IPv6 address, with /PREFIX for "
			  "more than one host)",
			  shown(node, value));
}

/* telemetry.allow: the senders' networks; none at all lets every sender in. */
static int
parse_allow(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	struct dp_acl_net *nets = NULL;
	char item[KEY_PATH_LEN];
	yaml_node_item_t *items;
	size_t n, i;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	if (n > DP_ACL_MAX) {
		item_path(item, path, DP_ACL_MAX);
		return node_error(ld, yaml_document_get_node(ld->doc, items[DP_ACL_MAX]), item,
				  "more than %d networks", DP_ACL_MAX);
	}
	if (n > 0) {
		nets = calloc(n, sizeof(*nets));
		if (nets == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const yaml_node_t *node = yaml_document_get_node(ld->doc, items[i]);
		const char *s;

		item_path(item, path, i);
		rc = get_scalar(ld, node, item, "a network (10.20.0.0/16, fd00::/8, 10.1.2.3)", &s);
		if (rc < 0)
			goto out;
		if (dp_acl_net_parse(s, &nets[i]) < 0) {
			rc = bad_network(ld, node, item, s, &nets[i]);
			goto out;
		}
	}
	free(c->allow);
	c->allow = nets;
	c->n_allow = (unsigned)n;
	nets = NULL;
out:
	free(nets);
	return rc;
}

static const struct key_def telemetry_keys[] = {
	{"hl7_ports", parse_hl7_ports},
	{"vtp_ports", parse_vtp_ports},
	{"udp_checksum", parse_udp_checksum},
	{"vtp_devices", parse_vtp_devices},
	{"allow", parse_allow},
};
#define TELEMETRY_KEY_HL7 0
#define TELEMETRY_KEY_VTP 1

static int
parse_telemetry(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	const yaml_node_t *values[MAX_KEYS];
	char item[KEY_PATH_LEN];
	unsigned h, v;
	int rc;

	rc = walk_mapping(ld, value, path, telemetry_keys,
			  sizeof(telemetry_keys) / sizeof(telemetry_keys[0]), c, values);
	if (rc < 0)
		return rc;

	/* A port in both lists would be decoded as one kind only: say so. */
	if (values[TELEMETRY_KEY_HL7] == NULL && values[TELEMETRY_KEY_VTP] == NULL)
		return 0; /* neither list given here: an earlier load's values stand */
	for (v = 0; v < c->n_vtp_ports; v++)
		for (h = 0; h < c->n_hl7_ports; h++) {
			const yaml_node_t *list, *node;

			if (c->vtp_ports[v] != c->hl7_ports[h])
				continue;
			/* Point at the list this file gave (the other kept its value). */
			if (values[TELEMETRY_KEY_VTP] != NULL) {
				list = values[TELEMETRY_KEY_VTP];
				snprintf(item, sizeof(item), "%s.vtp_ports[%u]", path, v);
				node = yaml_document_get_node(ld->doc,
							      list->data.sequence.items.start[v]);
				return node_error(ld, node, item, "%u is also an HL7 port",
						  c->vtp_ports[v]);
			}
			list = values[TELEMETRY_KEY_HL7];
			snprintf(item, sizeof(item), "%s.hl7_ports[%u]", path, h);
			node = yaml_document_get_node(ld->doc, list->data.sequence.items.start[h]);
			return node_error(ld, node, item, "%u is also a VTP port", c->hl7_ports[h]);
		}
	return 0;
}

static int
parse_mbufs(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 0, MBUFS_MAX, NULL, &v);
	if (rc == 0)
		c->mbufs = (unsigned)v;
	return rc;
}

static int
parse_mbuf_cache(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 0, MBUF_CACHE_MAX, NULL, &v);
	if (rc == 0)
		c->mbuf_cache = (unsigned)v;
	return rc;
}

static const struct key_def mempool_keys[] = {
	{"mbufs", parse_mbufs},
	{"cache", parse_mbuf_cache},
};
#define MEMPOOL_KEY_MBUFS 0
#define MEMPOOL_KEY_CACHE 1

static int
parse_mempool(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	const yaml_node_t *values[MAX_KEYS], *node;
	char key[KEY_PATH_LEN];
	int rc;

	rc = walk_mapping(ld, value, path, mempool_keys,
			  sizeof(mempool_keys) / sizeof(mempool_keys[0]), c, values);
	if (rc < 0)
		return rc;
	/* rte_mempool_create refuses a pool smaller than 1.5 caches; say it here. */
	if (c->mbufs != 0 && (unsigned long)c->mbufs < (unsigned long)c->mbuf_cache * 3 / 2) {
		node = values[MEMPOOL_KEY_MBUFS] != NULL ? values[MEMPOOL_KEY_MBUFS]
							 : values[MEMPOOL_KEY_CACHE];
		if (node == NULL)
			return 0; /* neither given here: an earlier load's values stand */
		snprintf(key, sizeof(key), "%s.%s", path,
			 node == values[MEMPOOL_KEY_MBUFS] ? "mbufs" : "cache");
		return node_error(ld, node, key,
				  "%u mbufs cannot feed a cache of %u (DPDK needs mbufs >= 1.5 x "
				  "cache = %u; raise mbufs or lower cache)",
				  c->mbufs, c->mbuf_cache, c->mbuf_cache * 3 / 2);
	}
	return 0;
}

/* ------------------------------------------------------------------------ */
/* registry, events                                                          */
/* ------------------------------------------------------------------------ */

static int
parse_registry_devices(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, REGISTRY_DEVICES_MIN, REGISTRY_DEVICES_MAX, NULL, &v);
	if (rc == 0)
		c->registry_devices = (unsigned)v;
	return rc;
}

static const struct key_def registry_keys[] = {
	{"devices", parse_registry_devices},
};

SECTION(registry, registry_keys)

/* A ring size; the data plane rounds it up to a power of two. */
static int
get_ring(struct loader *ld, const yaml_node_t *value, const char *path, unsigned *out)
{
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, RING_MIN, DP_RING_MAX, NULL, &v);
	if (rc == 0)
		*out = (unsigned)v;
	return rc;
}

static int
parse_alarm_ring(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_ring(ld, value, path, &((struct cp_config *)target)->alarm_ring);
}

static int
parse_telemetry_ring(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_ring(ld, value, path, &((struct cp_config *)target)->telemetry_ring);
}

static const struct key_def events_keys[] = {
	{"alarm_ring", parse_alarm_ring},
	{"telemetry_ring", parse_telemetry_ring},
};

SECTION(events, events_keys)

/* ------------------------------------------------------------------------ */
/* rules                                                                     */
/* ------------------------------------------------------------------------ */

/* A relative rule file is taken from the config file's directory, as a
 * Suricata user expects of default-rule-path. */
static int
resolve_path(const struct loader *ld, const char *file, char **out)
{
	const char *slash = ld->file != NULL ? strrchr(ld->file, '/') : NULL;

	if (file[0] == '/' || slash == NULL) {
		*out = strdup(file);
		return *out == NULL ? -ENOMEM : 0;
	}
	return asprintf(out, "%.*s/%s", (int)(slash - ld->file), ld->file, file) < 0 ? -ENOMEM : 0;
}

static int
parse_rule_files(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char item[KEY_PATH_LEN];
	yaml_node_item_t *items;
	size_t n, i;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	if (n > CP_MAX_RULE_FILES)
		return node_error(ld, value, path, "more than %d rule files", CP_MAX_RULE_FILES);
	for (i = 0; i < c->n_rule_files; i++)
		free(c->rule_files[i]);
	c->n_rule_files = 0;
	for (i = 0; i < n; i++) {
		const yaml_node_t *node = yaml_document_get_node(ld->doc, items[i]);
		const char *s;

		item_path(item, path, i);
		rc = get_scalar(ld, node, item, "a file name", &s);
		if (rc < 0)
			return rc;
		if (s[0] == '\0')
			return node_error(ld, node, item, "must not be empty");
		rc = resolve_path(ld, s, &c->rule_files[i]);
		if (rc < 0)
			return rc;
		c->n_rule_files++;
	}
	return 0;
}

static bool
var_name_ok(const char *s)
{
	if (!(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return false;
	for (; *s != '\0'; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return false;
	return true;
}

static int
parse_rule_vars(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char key[KEY_PATH_LEN], shown_buf[SHOWN_VALUE_LEN];
	const yaml_node_pair_t *pair;
	int rc;

	if (is_null(value))
		return 0;
	if (value->type != YAML_MAPPING_NODE)
		return wrong_type(ld, value, path, "a mapping of NAME: value");
	for (pair = value->data.mapping.pairs.start; pair < value->data.mapping.pairs.top; pair++) {
		const yaml_node_t *k = yaml_document_get_node(ld->doc, pair->key);
		const yaml_node_t *v = yaml_document_get_node(ld->doc, pair->value);
		struct cp_rule_var *var;
		const char *name, *s;
		unsigned i;

		if (k->type != YAML_SCALAR_NODE)
			return wrong_type(ld, k, path, "a variable name");
		name = (const char *)k->data.scalar.value;
		snprintf(key, sizeof(key), "%s.%s", path, name);
		if (!var_name_ok(name))
			return node_error(ld, k, key,
					  "'%s' is not a variable name ([A-Za-z_][A-Za-z0-9_]*)",
					  shown(k, shown_buf));
		rc = get_scalar(ld, v, key, "an address or port expression", &s);
		if (rc < 0)
			return rc;
		if (s[0] == '\0')
			return node_error(ld, v, key, "must not be empty");
		for (i = 0; i < c->n_rule_vars; i++)
			if (strcmp(c->rule_var[i].name, name) == 0)
				break;
		if (i == c->n_rule_vars && i >= CP_MAX_RULE_VARS)
			return node_error(ld, k, key, "more than %d variables", CP_MAX_RULE_VARS);
		var = &c->rule_var[i];
		if (i == c->n_rule_vars) {
			if ((var->name = strdup(name)) == NULL)
				return -ENOMEM;
			c->n_rule_vars++;
		}
		free(var->value);
		if ((var->value = strdup(s)) == NULL)
			return -ENOMEM;
	}
	return 0;
}

static int
parse_rules_cache_dir(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char *dir;
	int rc;

	if (is_null(value)) { /* null: no cache */
		free(c->rules_cache_dir);
		c->rules_cache_dir = NULL;
		return 0;
	}
	rc = get_string(ld, value, path, &dir);
	if (rc < 0)
		return rc;
	free(c->rules_cache_dir);
	c->rules_cache_dir = NULL;
	rc = resolve_path(ld, dir, &c->rules_cache_dir);
	free(dir);
	return rc;
}

static int
parse_rules_max_errors(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, 10000, NULL, &v);
	if (rc == 0)
		c->rules_max_errors = (unsigned)v;
	return rc;
}

static const struct key_def rules_keys[] = {
	{"files", parse_rule_files},
	{"vars", parse_rule_vars},
	{"cache_dir", parse_rules_cache_dir},
	{"max_errors", parse_rules_max_errors},
};

SECTION(rules, rules_keys)

/* ------------------------------------------------------------------------ */
/* storage                                                                   */
/* ------------------------------------------------------------------------ */

/* storage.dir: a directory; null or "" turns storage off (nothing is kept). */
static int
parse_storage_dir(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	const char *s;
	char *dir = NULL;
	int rc;

	if (!is_null(value)) {
		rc = get_scalar(ld, value, path, "a directory (null: storage off)", &s);
		if (rc < 0)
			return rc;
		if (s[0] != '\0') {
			rc = resolve_path(ld, s, &dir);
			if (rc < 0)
				return rc;
		}
	}
	free(c->storage_dir);
	c->storage_dir = dir;
	c->storage_dir_given = true;
	return 0;
}

/* storage.key_file: a file; null: values are not sealed. */
static int
parse_storage_key_file(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char *file = NULL;
	const char *s;
	int rc;

	if (!is_null(value)) {
		rc = get_scalar(ld, value, path, "a key file (null: values are not sealed)", &s);
		if (rc < 0)
			return rc;
		if (s[0] == '\0')
			return node_error(ld, value, path,
					  "must not be empty (null: values are not sealed)");
		rc = resolve_path(ld, s, &file);
		if (rc < 0)
			return rc;
	}
	free(c->storage_key_file);
	c->storage_key_file = file;
	return 0;
}

static int
parse_storage_block_cache(struct loader *ld, const yaml_node_t *value, const char *path,
			  void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, STORAGE_CACHE_MB_MAX, NULL, &v);
	if (rc == 0)
		c->storage_block_cache_mb = (unsigned)v;
	return rc;
}

static int
parse_storage_write_buffer(struct loader *ld, const yaml_node_t *value, const char *path,
			   void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, STORAGE_WRITE_BUFFER_MB_MAX, NULL, &v);
	if (rc == 0)
		c->storage_write_buffer_mb = (unsigned)v;
	return rc;
}

static int
parse_storage_batch_records(struct loader *ld, const yaml_node_t *value, const char *path,
			    void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, STORAGE_BATCH_RECORDS_MAX, NULL, &v);
	if (rc == 0)
		c->storage_batch_records = (unsigned)v;
	return rc;
}

static int
parse_storage_batch_ms(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, STORAGE_BATCH_MS_MAX, NULL, &v);
	if (rc == 0)
		c->storage_batch_ms = (unsigned)v;
	return rc;
}

static const char *const compression_names[] = {
	[STORE_COMPRESS_NONE] = "none",
	[STORE_COMPRESS_LZ4] = "lz4",
	[STORE_COMPRESS_ZSTD] = "zstd",
	[STORE_COMPRESS_SNAPPY] = "snappy",
};
#define N_COMPRESSION (sizeof(compression_names) / sizeof(compression_names[0]))

const char *
cp_compression_name(enum store_compression z)
{
	return (unsigned)z < N_COMPRESSION ? compression_names[z] : "?";
}

static int
parse_storage_compression(struct loader *ld, const yaml_node_t *value, const char *path,
			  void *target)
{
	struct cp_config *c = target;
	char shown_value[SHOWN_VALUE_LEN];
	const char *s;
	unsigned i;
	int rc;

	rc = get_scalar(ld, value, path, "none, lz4, zstd or snappy", &s);
	if (rc < 0)
		return rc;
	for (i = 0; i < N_COMPRESSION; i++) {
		if (strcmp(s, compression_names[i]) == 0) {
			c->storage_compression = (enum store_compression)i;
			return 0;
		}
	}
	return node_error(ld, value, path, "'%s' is not a compression (none, lz4, zstd, snappy)",
			  shown(value, shown_value));
}

/* Seconds per duration unit. */
static const struct {
	char unit;
	int64_t seconds;
} duration_units[] = {
	{'w', 7 * 86400}, {'d', 86400}, {'h', 3600}, {'m', 60}, {'s', 1},
};
#define N_DURATION_UNITS (sizeof(duration_units) / sizeof(duration_units[0]))

const char *
cp_duration_format(int64_t seconds, char *buf, size_t len)
{
	unsigned i;

	if (seconds <= 0) {
		snprintf(buf, len, "0");
		return buf;
	}
	/* Days at most: "14d" reads better than "2w". */
	for (i = 1; i < N_DURATION_UNITS; i++)
		if (seconds % duration_units[i].seconds == 0)
			break;
	snprintf(buf, len, "%lld%c", (long long)(seconds / duration_units[i].seconds),
		 duration_units[i].unit);
	return buf;
}

/*
 * What a duration key accepts, in the words of its error messages:
 * @p examples ("7d, 12h"), what 0 means (NULL: 0 is refused; "off" is a
 * second spelling of 0 when @p off is set) and the longest, in seconds and
 * in words.
 */
struct duration_kind {
	const char *examples;
	const char *zero;
	bool off;
	int64_t max_s;
	const char *max_text;
};

static const struct duration_kind retention_kind = {"7d, 12h", "0 keeps forever", false,
						    (int64_t)RETENTION_DAYS_MAX * 86400,
						    STRINGIFY(RETENTION_DAYS_MAX) " days"};

/*
 * A duration: a decimal number and one unit (s, m, h, d or w), at most
 * @p k->max_s; "0" (and "off") only where @p k gives 0 a meaning.
 */
static int
get_duration_as(struct loader *ld, const yaml_node_t *value, const char *path,
		const struct duration_kind *k, int64_t *out)
{
	char shown_value[SHOWN_VALUE_LEN], hint[96], expected[112];
	unsigned long long n;
	const char *s;
	size_t digits;
	unsigned i;
	int rc;

	if (k->zero != NULL)
		snprintf(hint, sizeof(hint), "%s; %s", k->examples, k->zero);
	else
		snprintf(hint, sizeof(hint), "%s", k->examples);
	snprintf(expected, sizeof(expected), "a duration (%s%s%s)", k->examples,
		 k->zero != NULL ? ", " : "", k->zero != NULL ? k->zero : "");
	rc = get_scalar(ld, value, path, expected, &s);
	if (rc < 0)
		return rc;
	if (strcmp(s, "0") == 0 || (k->off && strcmp(s, "off") == 0)) {
		if (k->zero == NULL)
			return node_error(ld, value, path, "must be more than 0 (%s)", hint);
		*out = 0;
		return 0;
	}
	digits = strspn(s, "0123456789");
	if (digits == 0 || s[0] == '0' || digits > 12)
		goto bad;
	if (s[digits] == '\0')
		return node_error(ld, value, path, "'%s' needs a unit: s, m, h, d or w (%s)",
				  shown(value, shown_value), hint);
	if (s[digits + 1] != '\0')
		goto bad;
	for (i = 0; i < N_DURATION_UNITS; i++)
		if (s[digits] == duration_units[i].unit)
			break;
	if (i == N_DURATION_UNITS)
		goto bad;
	n = strtoull(s, NULL, 10);
	if (n * (unsigned long long)duration_units[i].seconds > (unsigned long long)k->max_s)
		return node_error(ld, value, path, "%s is more than %s", shown(value, shown_value),
				  k->max_text);
	*out = (int64_t)n * duration_units[i].seconds;
	return 0;
bad:
	return node_error(ld, value, path,
			  "'%s' is not a duration (a number and s, m, h, d or w: %s)",
			  shown(value, shown_value), hint);
}

/* A retention: "0" keeps forever; otherwise at most RETENTION_DAYS_MAX days. */
static int
get_duration(struct loader *ld, const yaml_node_t *value, const char *path, int64_t *out)
{
	return get_duration_as(ld, value, path, &retention_kind, out);
}

static int
parse_retention_obs(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_duration(ld, value, path,
			    &((struct cp_config *)target)->storage_retain_s[STORE_CF_OBS]);
}

static int
parse_retention_alarms(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_duration(ld, value, path,
			    &((struct cp_config *)target)->storage_retain_s[STORE_CF_ALARMS]);
}

static int
parse_retention_audit(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_duration(ld, value, path,
			    &((struct cp_config *)target)->storage_retain_s[STORE_CF_AUDIT]);
}

static const struct key_def retention_keys[] = {
	{"obs", parse_retention_obs},
	{"alarms", parse_retention_alarms},
	{"audit", parse_retention_audit},
};

SECTION(storage_retention, retention_keys)

static const struct key_def storage_keys[] = {
	{"dir", parse_storage_dir},
	{"block_cache_mb", parse_storage_block_cache},
	{"write_buffer_mb", parse_storage_write_buffer},
	{"compression", parse_storage_compression},
	{"batch_records", parse_storage_batch_records},
	{"batch_ms", parse_storage_batch_ms},
	{"retention", parse_storage_retention},
	{"key_file", parse_storage_key_file},
};

SECTION(storage, storage_keys)

void
cp_config_store_opts(const struct cp_config *c, struct store_opts *opts)
{
	store_opts_defaults(opts);
	opts->dir = c->storage_dir;
	opts->mode = STORE_READ_WRITE;
	opts->block_cache_mb = c->storage_block_cache_mb;
	opts->write_buffer_mb = c->storage_write_buffer_mb;
	opts->compression = c->storage_compression;
	opts->batch_records = c->storage_batch_records;
	opts->batch_ms = c->storage_batch_ms;
	for (unsigned i = 0; i < STORE_CF__COUNT; i++)
		opts->retain_s[i] = c->storage_retain_s[i];
	opts->key_file = c->storage_key_file;
}

/* ------------------------------------------------------------------------ */
/* alarms                                                                    */
/* ------------------------------------------------------------------------ */

static const struct duration_kind alarm_span_kind = {"60s, 2m", NULL, false, ALARM_SPAN_MAX_S,
						     "1 day"};
static const struct duration_kind device_silent_kind = {"30s, 2m", "0 or off: no alarm", true,
							ALARM_SPAN_MAX_S, "1 day"};

/*
 * The last part of a key's path: which key of a mapping whose names are
 * only known at run time (cp_tech_name, the NEWS2 vitals) a parser got.
 */
static const char *
last_key(const char *path)
{
	const char *dot = strrchr(path, '.');

	return dot != NULL ? dot + 1 : path;
}

/* alarms.log: a file; null or "": no alarm log. */
static int
parse_alarm_log(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char *file = NULL;
	const char *s;
	int rc;

	if (!is_null(value)) {
		rc = get_scalar(ld, value, path, "a file (null: no alarm log)", &s);
		if (rc < 0)
			return rc;
		if (s[0] != '\0') {
			rc = resolve_path(ld, s, &file);
			if (rc < 0)
				return rc;
		}
	}
	free(c->alarm_log);
	c->alarm_log = file;
	c->alarm_log_given = true;
	return 0;
}

static int
get_seconds(struct loader *ld, const yaml_node_t *value, const char *path,
	    const struct duration_kind *k, unsigned *out)
{
	int64_t s;
	int rc;

	rc = get_duration_as(ld, value, path, k, &s);
	if (rc == 0)
		*out = (unsigned)s;
	return rc;
}

static int
parse_alarm_hold(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_seconds(ld, value, path, &alarm_span_kind,
			   &((struct cp_config *)target)->alarm_hold_s);
}

static int
parse_alarm_silence(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_seconds(ld, value, path, &alarm_span_kind,
			   &((struct cp_config *)target)->alarm_silence_s);
}

static int
parse_device_silent(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_seconds(ld, value, path, &device_silent_kind,
			   &((struct cp_config *)target)->device_silent_s);
}

static int
parse_alarm_conditions(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, ALARM_CONDITIONS_MAX, NULL, &v);
	if (rc == 0)
		c->alarm_conditions = (unsigned)v;
	return rc;
}

static int
parse_decode_errors_count(struct loader *ld, const yaml_node_t *value, const char *path,
			  void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 0, DECODE_ERRORS_COUNT_MAX, NULL, &v);
	if (rc == 0)
		c->decode_errors_count = (unsigned)v;
	return rc;
}

static int
parse_decode_errors_seconds(struct loader *ld, const yaml_node_t *value, const char *path,
			    void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, DECODE_ERRORS_SECONDS_MAX, NULL, &v);
	if (rc == 0)
		c->decode_errors_s = (unsigned)v;
	return rc;
}

static const struct key_def decode_errors_keys[] = {
	{"count", parse_decode_errors_count},
	{"seconds", parse_decode_errors_seconds},
};

SECTION(decode_errors, decode_errors_keys)

/* alarms.priority.<condition>: low, medium or high (a technical alarm always sounds). */
static int
parse_tech_priority(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	const char *name = last_key(path), *s;
	unsigned t, p;
	int rc;

	for (t = 0; t < CP_TECH__COUNT; t++)
		if (strcmp(name, cp_tech_name((enum cp_tech)t)) == 0)
			break;
	if (t == CP_TECH__COUNT)
		return node_error(ld, value, path, "not a technical condition");
	rc = get_scalar(ld, value, path, "low, medium or high", &s);
	if (rc < 0)
		return rc;
	for (p = RULE_PRIO_LOW; p <= RULE_PRIO_HIGH; p++) {
		if (strcmp(s, rule_priority_name((enum rule_priority)p)) == 0) {
			c->tech_priority[t] = (uint8_t)p;
			return 0;
		}
	}
	return wrong_type(ld, value, path, "low, medium or high");
}

static int
parse_alarm_priority(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	const yaml_node_t *values[MAX_KEYS];
	struct key_def keys[CP_TECH__COUNT];
	unsigned t;

	for (t = 0; t < CP_TECH__COUNT; t++)
		keys[t] = (struct key_def){cp_tech_name((enum cp_tech)t), parse_tech_priority};
	return walk_mapping(ld, value, path, keys, CP_TECH__COUNT, target, values);
}

static const struct key_def alarms_keys[] = {
	{"log", parse_alarm_log},
	{"hold", parse_alarm_hold},
	{"silence", parse_alarm_silence},
	{"conditions", parse_alarm_conditions},
	{"device_silent", parse_device_silent},
	{"decode_errors", parse_decode_errors},
	{"priority", parse_alarm_priority},
};

SECTION(alarms, alarms_keys)

/* ------------------------------------------------------------------------ */
/* patients                                                                  */
/* ------------------------------------------------------------------------ */

/* The keys of patients.stale and patients.sources: NEWS2's measured vitals, then the rest. */
static const struct {
	const char *name;
	int param;	    /* enum cp_news2_param; -1: every other metric (stale only) */
	const char *family; /* the rule_metric family its sources must have */
} vitals[] = {
	{"pulse", CP_N2_PULSE, "PULSE"}, {"spo2", CP_N2_SPO2, "SPO2"}, {"rr", CP_N2_RR, "RR"},
	{"sbp", CP_N2_SBP, "SBP"},	 {"temp", CP_N2_TEMP, "TEMP"}, {"other", -1, NULL},
};
#define N_VITALS (sizeof(vitals) / sizeof(vitals[0]))
#define N_MEASURED (N_VITALS - 1) /* the ones with sources */

static const struct duration_kind stale_kind = {"60s, 1h", NULL, false, STALE_MAX_S, "7 days"};

static unsigned
vital_of(const char *path)
{
	const char *name = last_key(path);
	unsigned v;

	for (v = 0; v < N_VITALS; v++)
		if (strcmp(name, vitals[v].name) == 0)
			break;
	return v;
}

static int
parse_patients_max(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, PATIENTS_MAX, NULL, &v);
	if (rc == 0)
		c->patients.max_patients = (unsigned)v;
	return rc;
}

/* patients.stale.<vital>: a value older than this does not count. */
static int
parse_stale(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	unsigned v = vital_of(path);
	int64_t s;
	int rc;

	if (v == N_VITALS)
		return node_error(ld, value, path, "not a vital sign");
	rc = get_duration_as(ld, value, path, &stale_kind, &s);
	if (rc < 0)
		return rc;
	if (vitals[v].param < 0)
		c->patients.metric_stale_ns = s * 1000000000;
	else
		c->patients.stale_ns[vitals[v].param] = s * 1000000000;
	return 0;
}

static int
parse_patients_stale(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	const yaml_node_t *values[MAX_KEYS];
	struct key_def keys[N_VITALS];
	unsigned v;

	for (v = 0; v < N_VITALS; v++)
		keys[v] = (struct key_def){vitals[v].name, parse_stale};
	return walk_mapping(ld, value, path, keys, N_VITALS, target, values);
}

/*
 * patients.sources.<vital>: the metrics NEWS2 takes that vital from, first
 * first; each of the vital's family (a skin temperature is no core one).
 */
static int
parse_sources(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	uint32_t codes[CP_PATIENT_SOURCES] = {0};
	char item[KEY_PATH_LEN], shown_value[SHOWN_VALUE_LEN];
	struct cp_config *c = target;
	unsigned v = vital_of(path);
	yaml_node_item_t *items;
	size_t n, i, j;
	int rc;

	if (v >= N_MEASURED)
		return node_error(ld, value, path, "not a vital sign");
	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	if (n == 0)
		return node_error(ld, value, path, "at least 1 metric is required");
	for (i = 0; i < n; i++) {
		const yaml_node_t *node = yaml_document_get_node(ld->doc, items[i]);
		const struct rule_metric *m;
		const char *s;

		item_path(item, path, i);
		if (i >= CP_PATIENT_SOURCES)
			return node_error(ld, node, item, "more than %d metrics",
					  CP_PATIENT_SOURCES);
		rc = get_scalar(ld, node, item, "a metric name (HR, SPO2, NIBP_SYS, ...)", &s);
		if (rc < 0)
			return rc;
		m = rule_metric_by_name(s, strlen(s));
		if (m == NULL)
			return node_error(ld, node, item,
					  "'%s' is not a metric name (rules/metrics.tsv)",
					  shown(node, shown_value));
		if (strcmp(m->family, vitals[v].family) != 0)
			return node_error(ld, node, item, "%s is of family %s, not %s", m->name,
					  m->family, vitals[v].family);
		for (j = 0; j < i; j++)
			if (codes[j] == m->code)
				return node_error(ld, node, item, "%s is listed twice", m->name);
		codes[i] = m->code;
	}
	memcpy(c->patients.source[vitals[v].param], codes, sizeof(codes));
	return 0;
}

static int
parse_patients_sources(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	const yaml_node_t *values[MAX_KEYS];
	struct key_def keys[N_MEASURED];
	unsigned v;

	for (v = 0; v < N_MEASURED; v++)
		keys[v] = (struct key_def){vitals[v].name, parse_sources};
	return walk_mapping(ld, value, path, keys, N_MEASURED, target, values);
}

static int
parse_setting_patient(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_patient_setting *set = target;
	int rc;

	rc = get_string(ld, value, path, &set->patient);
	if (rc < 0)
		return rc;
	/* Longer would be cut to a key that another patient may share. */
	if (strlen(set->patient) > CP_PATIENT_ID_MAX)
		return node_error(ld, value, path, "longer than %d bytes", CP_PATIENT_ID_MAX);
	return 0;
}

/* The words of patients.settings (cp_o2_name and cp_acvpu_name, less "unknown"). */
static const char *const oxygen_names[] = {[CP_O2_AIR] = "air", [CP_O2_OXYGEN] = "oxygen"};
static const char *const acvpu_names[] = {[CP_ACVPU_ALERT] = "alert", [CP_ACVPU_CVPU] = "cvpu"};

static int
parse_setting_oxygen(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_patient_setting *set = target;
	const char *s;
	unsigned i;
	int rc;

	rc = get_scalar(ld, value, path, "air or oxygen", &s);
	if (rc < 0)
		return rc;
	for (i = CP_O2_AIR; i <= CP_O2_OXYGEN; i++) {
		if (strcmp(s, oxygen_names[i]) == 0) {
			set->oxygen = (uint8_t)i;
			return 0;
		}
	}
	return wrong_type(ld, value, path, "air or oxygen");
}

/* alert or cvpu, or the chart's letter: A is alert, C, V, P and U are not. */
static int
parse_setting_acvpu(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	static const char expected[] = "alert, cvpu or one of A, C, V, P, U";
	struct cp_patient_setting *set = target;
	const char *s;
	int rc;

	rc = get_scalar(ld, value, path, expected, &s);
	if (rc < 0)
		return rc;
	if (strcmp(s, acvpu_names[CP_ACVPU_ALERT]) == 0 || strcasecmp(s, "a") == 0)
		set->acvpu = CP_ACVPU_ALERT;
	else if (strcmp(s, acvpu_names[CP_ACVPU_CVPU]) == 0 ||
		 (s[0] != '\0' && s[1] == '\0' && strchr("cvpuCVPU", s[0]) != NULL))
		set->acvpu = CP_ACVPU_CVPU;
	else
		return wrong_type(ld, value, path, expected);
	return 0;
}

static int
parse_setting_scale(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_patient_setting *set = target;
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, 2, "an SpO2 scale", &v);
	if (rc == 0)
		set->scale2 = v == 2;
	return rc;
}

static const struct key_def setting_keys[] = {
	{"patient", parse_setting_patient},
	{"oxygen", parse_setting_oxygen},
	{"acvpu", parse_setting_acvpu},
	{"scale", parse_setting_scale},
};
#define SETTING_KEY_PATIENT 0

/* patients.settings: what monitors do not send, per patient; replaced whole. */
static int
parse_patients_settings(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	struct cp_patient_setting *sets = NULL;
	const yaml_node_t *values[MAX_KEYS];
	char item[KEY_PATH_LEN];
	yaml_node_item_t *items;
	size_t n, i, j;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	if (n > PATIENT_SETTINGS_MAX) {
		item_path(item, path, PATIENT_SETTINGS_MAX);
		return node_error(ld, yaml_document_get_node(ld->doc, items[PATIENT_SETTINGS_MAX]),
				  item, "more than %u patients", PATIENT_SETTINGS_MAX);
	}
	if (n > 0) {
		sets = calloc(n, sizeof(*sets));
		if (sets == NULL)
			return -ENOMEM;
	}
	for (i = 0; i < n; i++) {
		const yaml_node_t *node = yaml_document_get_node(ld->doc, items[i]);

		item_path(item, path, i);
		if (node->type != YAML_MAPPING_NODE) {
			rc = wrong_type(ld, node, item,
					"a mapping {patient, oxygen, acvpu, scale}");
			goto out;
		}
		rc = walk_mapping(ld, node, item, setting_keys,
				  sizeof(setting_keys) / sizeof(setting_keys[0]), &sets[i], values);
		if (rc < 0)
			goto out;
		if (values[SETTING_KEY_PATIENT] == NULL) {
			rc = node_error(ld, node, item, "'patient' is required");
			goto out;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(sets[j].patient, sets[i].patient) == 0) {
				rc = node_error(ld, values[SETTING_KEY_PATIENT], item,
						"patient '%s' is also %s[%zu]", sets[i].patient,
						path, j);
				goto out;
			}
		}
	}
	for (i = 0; i < c->n_patient_settings; i++)
		free(c->patient_settings[i].patient);
	free(c->patient_settings);
	c->patient_settings = sets;
	c->n_patient_settings = (unsigned)n;
	sets = NULL;
out:
	for (i = 0; sets != NULL && i < n; i++)
		free(sets[i].patient);
	free(sets);
	return rc;
}

static const struct key_def patients_keys[] = {
	{"max", parse_patients_max},
	{"stale", parse_patients_stale},
	{"sources", parse_patients_sources},
	{"settings", parse_patients_settings},
};
#define PATIENTS_KEY_MAX 0
#define PATIENTS_KEY_SETTINGS 3

static int
parse_patients(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	const yaml_node_t *values[MAX_KEYS], *node;
	char key[KEY_PATH_LEN];
	int rc;

	rc = walk_mapping(ld, value, path, patients_keys,
			  sizeof(patients_keys) / sizeof(patients_keys[0]), c, values);
	if (rc < 0)
		return rc;
	/* Every patient set takes a place in the table, whose size is max. */
	if (c->n_patient_settings > c->patients.max_patients) {
		node = values[PATIENTS_KEY_SETTINGS] != NULL ? values[PATIENTS_KEY_SETTINGS]
							     : values[PATIENTS_KEY_MAX];
		if (node == NULL)
			return 0; /* neither given here: an earlier load's values stand */
		snprintf(key, sizeof(key), "%s.%s", path,
			 node == values[PATIENTS_KEY_SETTINGS] ? "settings" : "max");
		return node_error(ld, node, key,
				  "%u patients have settings, more than patients.max (%u)",
				  c->n_patient_settings, c->patients.max_patients);
	}
	return 0;
}

int
cp_config_set_rule_files(struct cp_config *c, const char *const *files, unsigned n)
{
	unsigned i;

	if (n > CP_MAX_RULE_FILES)
		return -E2BIG;
	for (i = 0; i < c->n_rule_files; i++)
		free(c->rule_files[i]);
	c->n_rule_files = 0;
	for (i = 0; i < n; i++) {
		if ((c->rule_files[i] = strdup(files[i])) == NULL)
			return -ENOMEM;
		c->n_rule_files++;
	}
	return 0;
}

void
cp_config_rule_opts(const struct cp_config *c, struct rule_load_opts *opts, struct rule_var *vars)
{
	memset(opts, 0, sizeof(*opts));
	opts->files = (const char *const *)c->rule_files;
	opts->n_files = c->n_rule_files;
	for (unsigned i = 0; i < c->n_rule_vars; i++)
		vars[i] = (struct rule_var){c->rule_var[i].name, c->rule_var[i].value};
	opts->vars = vars;
	opts->n_vars = c->n_rule_vars;
	opts->cache_dir = c->rules_cache_dir;
	opts->max_errors = c->rules_max_errors;
}

/* ------------------------------------------------------------------------ */
/* control, audit, metrics, backup                                           */
/* ------------------------------------------------------------------------ */

/*
 * A path that may be null (off): resolved against the config file's
 * directory. @p what names the value for a wrong type ("a socket path
 * (null: no control socket)"); an empty string is refused.
 */
static int
get_path_or_null(struct loader *ld, const yaml_node_t *value, const char *path, const char *what,
		 char **out)
{
	const char *s;
	int rc;

	*out = NULL;
	if (is_null(value))
		return 0;
	rc = get_scalar(ld, value, path, what, &s);
	if (rc < 0)
		return rc;
	if (s[0] == '\0')
		return node_error(ld, value, path, "must not be empty (null turns it off)");
	return resolve_path(ld, s, out);
}

/* A key holding a path or null, into cp_config.field. */
#define PATH_OR_NULL(fn, field, what)                                                              \
	static int fn(struct loader *ld, const yaml_node_t *value, const char *path, void *target) \
	{                                                                                          \
		struct cp_config *c = target;                                                      \
		char *file;                                                                        \
		int rc;                                                                            \
                                                                                                   \
		rc = get_path_or_null(ld, value, path, what, &file);                               \
		if (rc < 0)                                                                        \
			return rc;                                                                 \
		free(c->field);                                                                    \
		c->field = file;                                                                   \
		return 0;                                                                          \
	}

static int
parse_control_socket(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char *sock;
	int rc;

	rc = get_path_or_null(ld, value, path, "a socket path (null: no control socket)", &sock);
	if (rc < 0)
		return rc;
	if (sock != NULL && strlen(sock) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
		free(sock);
		return node_error(ld, value, path, "is longer than a unix socket path may be (%zu)",
				  sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
	}
	free(c->control_socket);
	c->control_socket = sock;
	c->control_socket_given = true;
	return 0;
}

/* control.mode: permission bits in octal ("0660"; YAML may read it as a number). */
static int
parse_control_mode(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char shown_value[SHOWN_VALUE_LEN];
	unsigned long mode;
	const char *s;
	char *end;
	int rc;

	rc = get_scalar(ld, value, path, "permission bits in octal (0660)", &s);
	if (rc < 0)
		return rc;
	errno = 0;
	mode = strtoul(s, &end, 8);
	if (s[0] < '0' || s[0] > '7' || *end != '\0' || errno != 0 || mode > 0777)
		return node_error(ld, value, path, "'%s' is not permission bits in octal (0..0777)",
				  shown(value, shown_value));
	if ((mode & 0600) != 0600)
		return node_error(ld, value, path,
				  "%s takes the owner's read and write away (vigild's own "
				  "user could not use it): use 0600 or more",
				  shown(value, shown_value));
	c->control_mode = (unsigned)mode;
	return 0;
}

static int
parse_control_group(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char *group = NULL;
	int rc;

	if (!is_null(value)) {
		rc = get_string(ld, value, path, &group);
		if (rc < 0)
			return rc;
	}
	free(c->control_group);
	c->control_group = group;
	return 0;
}

static int
parse_control_max_clients(struct loader *ld, const yaml_node_t *value, const char *path,
			  void *target)
{
	unsigned long v;
	int rc;

	rc = get_number(ld, value, path, 1, 65536, NULL, &v);
	if (rc < 0)
		return rc;
	((struct cp_config *)target)->control_max_clients = (unsigned)v;
	return 0;
}

/* control.roles.ROLE: user names, uids, "@group" or "@gid". */
static int
get_role_list(struct loader *ld, const yaml_node_t *value, const char *path, struct cp_config *c,
	      enum cp_role role)
{
	char item[KEY_PATH_LEN], shown_value[SHOWN_VALUE_LEN];
	yaml_node_item_t *items;
	size_t n, i;
	int rc;

	rc = get_list(ld, value, path, &items, &n);
	if (rc < 0)
		return rc;
	if (n > CP_MAX_ROLE_ENTRIES)
		return node_error(ld, value, path, "more than %d entries", CP_MAX_ROLE_ENTRIES);
	for (i = 0; i < c->roles.n[role]; i++)
		free(c->roles.entry[role][i]);
	c->roles.n[role] = 0;
	for (i = 0; i < n; i++) {
		const yaml_node_t *node = yaml_document_get_node(ld->doc, items[i]);
		const char *s, *name;

		item_path(item, path, i);
		rc = get_scalar(ld, node, item, "a user name, a uid, or @group", &s);
		if (rc < 0)
			return rc;
		name = s[0] == '@' ? s + 1 : s;
		if (name[0] == '\0' || strpbrk(name, " \t:,@") != NULL)
			return node_error(ld, node, item,
					  "'%s' is not a user name, a uid, or @group",
					  shown(node, shown_value));
		c->roles.entry[role][i] = strdup(s);
		if (c->roles.entry[role][i] == NULL)
			return -ENOMEM;
		c->roles.n[role]++;
	}
	return 0;
}

static int
parse_role_admin(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_role_list(ld, value, path, target, CP_ROLE_ADMIN);
}

static int
parse_role_operator(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_role_list(ld, value, path, target, CP_ROLE_OPERATOR);
}

static int
parse_role_viewer(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	return get_role_list(ld, value, path, target, CP_ROLE_VIEWER);
}

static const struct key_def role_keys[] = {
	{"admin", parse_role_admin},
	{"operator", parse_role_operator},
	{"viewer", parse_role_viewer},
};

SECTION(control_roles, role_keys)

static const struct key_def control_keys[] = {
	{"socket", parse_control_socket}, {"mode", parse_control_mode},
	{"group", parse_control_group},	  {"max_clients", parse_control_max_clients},
	{"roles", parse_control_roles},
};

SECTION(control, control_keys)

PATH_OR_NULL(parse_audit_key_file, audit_key_file, "a key file (null: no HMAC key)")

static const struct key_def audit_keys[] = {
	{"key_file", parse_audit_key_file},
};

SECTION(audit, audit_keys)

/*
 * metrics.listen: "ADDR:PORT" or "[ADDR6]:PORT" on a loopback address:
 * /metrics has no authentication, so it is not offered to the network.
 */
static int
parse_metrics_listen(struct loader *ld, const yaml_node_t *value, const char *path, void *target)
{
	struct cp_config *c = target;
	char host[INET6_ADDRSTRLEN + 2], shown_value[SHOWN_VALUE_LEN];
	unsigned long port;
	struct in6_addr a6;
	struct in_addr a4;
	const char *s, *colon;
	char *end, *copy;
	size_t hlen;
	int rc;

	if (is_null(value)) {
		free(c->metrics_listen);
		c->metrics_listen = NULL;
		c->metrics_listen_given = true;
		return 0;
	}
	rc = get_scalar(ld, value, path, "ADDRESS:PORT (null: no /metrics)", &s);
	if (rc < 0)
		return rc;
	colon = strrchr(s, ':');
	if (colon == NULL || colon == s)
		return node_error(ld, value, path, "'%s' is not ADDRESS:PORT",
				  shown(value, shown_value));
	errno = 0;
	port = strtoul(colon + 1, &end, 10);
	if (colon[1] < '0' || colon[1] > '9' || *end != '\0' || errno != 0 || port < 1 ||
	    port > 65535)
		return node_error(ld, value, path, "'%s': the port is not 1..65535",
				  shown(value, shown_value));
	hlen = (size_t)(colon - s);
	if (s[0] == '[' && hlen >= 2 && s[hlen - 1] == ']') {
		s++;
		hlen -= 2;
	}
	if (hlen >= sizeof(host))
		return node_error(ld, value, path, "'%s' is not ADDRESS:PORT",
				  shown(value, shown_value));
	memcpy(host, s, hlen);
	host[hlen] = '\0';
	if (!(strcmp(host, "localhost") == 0 ||
	      (inet_pton(AF_INET, host, &a4) == 1 && (ntohl(a4.s_addr) >> 24) == 127) ||
	      (inet_pton(AF_INET6, host, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6))))
		return node_error(
			ld, value, path,
			"'%s' is not a loopback address: /metrics has no "
			"authentication (use 127.0.0.1 or [::1], and a proxy to expose it)",
			host);
	rc = get_string(ld, value, path, &copy);
	if (rc < 0)
		return rc;
	free(c->metrics_listen);
	c->metrics_listen = copy;
	c->metrics_listen_given = true;
	return 0;
}

static const struct key_def metrics_keys[] = {
	{"listen", parse_metrics_listen},
};

SECTION(metrics, metrics_keys)

PATH_OR_NULL(parse_backup_dir, backup_dir, "a directory (null: no default)")

static const struct key_def backup_keys[] = {
	{"dir", parse_backup_dir},
};

SECTION(backup, backup_keys)

/* ------------------------------------------------------------------------ */
/* The document                                                              */
/* ------------------------------------------------------------------------ */

static const struct key_def top_keys[] = {
	{"eal", parse_eal},
	{"workers", parse_workers},
	{"ports", parse_ports},
	{"telemetry", parse_telemetry},
	{"mempool", parse_mempool},
	{"rx_desc", parse_rx_desc},
	{"tx_desc", parse_tx_desc},
	{"promiscuous", parse_promiscuous},
	{"stats_interval", parse_stats_interval},
	{"rules", parse_rules},
	{"registry", parse_registry},
	{"events", parse_events},
	{"storage", parse_storage},
	{"alarms", parse_alarms},
	{"patients", parse_patients},
	{"control", parse_control},
	{"audit", parse_audit},
	{"metrics", parse_metrics},
	{"backup", parse_backup},
};

static int
parse_root(struct loader *ld, const yaml_node_t *root)
{
	const yaml_node_t *values[MAX_KEYS];
	char kind[SHOWN_VALUE_LEN + 2];

	if (is_null(root))
		return 0; /* "---" and nothing else */
	if (root->type != YAML_MAPPING_NODE)
		return node_error(ld, root, "",
				  "the top level must be a mapping (key: value), got %s",
				  node_kind(root, kind));
	return walk_mapping(ld, root, "", top_keys, sizeof(top_keys) / sizeof(top_keys[0]), ld->c,
			    values);
}

/*
 * libyaml's own error: its problem text at its problem mark. A reader error
 * (bad UTF-8, a control character) only has a byte offset, turned here into
 * a line and a column of characters.
 */
static int
syntax_error(const yaml_parser_t *parser, const char *yaml, size_t len, const char *name, char *err,
	     size_t errlen)
{
	const char *problem = parser->problem != NULL ? parser->problem : "cannot be parsed";
	size_t line = parser->problem_mark.line, col = parser->problem_mark.column, i;

	if (parser->error == YAML_MEMORY_ERROR) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory while parsing", name);
		return -ENOMEM;
	}
	if (parser->error == YAML_READER_ERROR) {
		line = 0;
		col = 0;
		for (i = 0; i < parser->problem_offset && i < len; i++) {
			if (yaml[i] == '\n') {
				line++;
				col = 0;
			} else if (((unsigned char)yaml[i] & 0xc0) != 0x80) {
				col++;
			}
		}
		if (parser->problem_value >= 0)
			set_error(err, errlen, name, line + 1, col + 1, "", "%s (byte 0x%02x)",
				  problem, (unsigned)parser->problem_value);
		else
			set_error(err, errlen, name, line + 1, col + 1, "", "%s", problem);
		return -EINVAL;
	}
	if (parser->context != NULL &&
	    (parser->context_mark.line != line || parser->context_mark.column != col))
		set_error(err, errlen, name, line + 1, col + 1, "", "%s (%s at %zu:%zu)", problem,
			  parser->context, parser->context_mark.line + 1,
			  parser->context_mark.column + 1);
	else if (parser->context != NULL)
		set_error(err, errlen, name, line + 1, col + 1, "", "%s (%s)", problem,
			  parser->context);
	else
		set_error(err, errlen, name, line + 1, col + 1, "", "%s", problem);
	return -EINVAL;
}

/*
 * Apply @p yaml to a copy of @p c and, if every key was accepted, put the
 * copy in its place (with path set to @p file when it is not NULL).
 */
static int
load_buffer(struct cp_config *c, const char *yaml, size_t len, const char *name, const char *file,
	    char *err, size_t errlen)
{
	bool parser_ready = false, doc_loaded = false;
	yaml_document_t doc, extra;
	struct cp_config next;
	yaml_parser_t parser;
	const yaml_node_t *root;
	struct loader ld;
	int rc;

	rc = config_copy(&next, c);
	if (rc < 0) {
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", name);
		return rc;
	}
	if (!yaml_parser_initialize(&parser)) {
		rc = -ENOMEM;
		if (err != NULL && errlen > 0)
			snprintf(err, errlen, "%s: out of memory", name);
		goto out;
	}
	parser_ready = true;
	yaml_parser_set_input_string(&parser, (const unsigned char *)yaml, len);
	if (!yaml_parser_load(&parser, &doc)) {
		rc = syntax_error(&parser, yaml, len, name, err, errlen);
		goto out;
	}
	doc_loaded = true;

	ld = (struct loader){
		.doc = &doc, .c = &next, .name = name, .file = file, .err = err, .errlen = errlen};
	root = yaml_document_get_root_node(&doc);
	if (root != NULL) {
		rc = parse_root(&ld, root);
		if (rc < 0)
			goto out;
	}

	/* Anything after the first document would be silently ignored: refuse it. */
	if (!yaml_parser_load(&parser, &extra)) {
		rc = syntax_error(&parser, yaml, len, name, err, errlen);
		goto out;
	}
	root = yaml_document_get_root_node(&extra);
	if (root != NULL)
		rc = node_error(&ld, root, "", "a second YAML document; vigil reads only one");
	yaml_document_delete(&extra);
	if (rc < 0)
		goto out;

	if (file != NULL) {
		free(next.path);
		next.path = strdup(file);
		if (next.path == NULL) {
			rc = -ENOMEM;
			if (err != NULL && errlen > 0)
				snprintf(err, errlen, "%s: out of memory", name);
			goto out;
		}
	}
	cp_config_free(c);
	*c = next;
	memset(&next, 0, sizeof(next));
out:
	cp_config_free(&next);
	if (doc_loaded)
		yaml_document_delete(&doc);
	if (parser_ready)
		yaml_parser_delete(&parser);
	return rc;
}

int
cp_config_load_string(struct cp_config *c, const char *yaml, size_t len, const char *name,
		      char *err, size_t errlen)
{
	if (yaml == NULL)
		yaml = "";
	return load_buffer(c, yaml, len, name != NULL ? name : "<string>", NULL, err, errlen);
}

/* The whole file in memory (the reader-error offsets refer to it). */
static int
read_file(const char *path, char **out, size_t *out_len, char *err, size_t errlen)
{
	size_t len = 0, cap = 4096, n;
	char *buf = NULL, *bigger;
	FILE *f;
	int rc = 0;

	f = fopen(path, "rb");
	if (f == NULL) {
		rc = -errno;
		goto out;
	}
	buf = malloc(cap);
	if (buf == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= CONFIG_FILE_MAX) {
				rc = -EFBIG;
				goto out;
			}
			bigger = realloc(buf, cap * 2);
			if (bigger == NULL) {
				rc = -ENOMEM;
				goto out;
			}
			buf = bigger;
			cap *= 2;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0) {
			if (ferror(f))
				rc = errno != 0 ? -errno : -EIO;
			break;
		}
	}
out:
	if (f != NULL)
		fclose(f);
	if (rc < 0) {
		free(buf);
		if (err != NULL && errlen > 0) {
			if (rc == -EFBIG)
				snprintf(err, errlen, "%s: larger than %u bytes; not a vigil.yaml?",
					 path, CONFIG_FILE_MAX);
			else
				snprintf(err, errlen, "%s: %s", path, strerror(-rc));
		}
		return rc;
	}
	*out = buf;
	*out_len = len;
	return 0;
}

int
cp_config_load(struct cp_config *c, const char *path, char *err, size_t errlen)
{
	size_t len;
	char *yaml;
	int rc;

	rc = read_file(path, &yaml, &len, err, errlen);
	if (rc < 0)
		return rc;
	rc = load_buffer(c, yaml, len, path, path, err, errlen);
	free(yaml);
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The data plane's view, the EAL arguments                                  */
/* ------------------------------------------------------------------------ */

void
cp_config_to_dp(const struct cp_config *c, struct dp_conf *dp)
{
	unsigned i;

	memset(dp, 0, sizeof(*dp));
	dp->n_ports = c->n_ports;
	for (i = 0; i < c->n_ports && i < DP_MAX_PORTS; i++) {
		const struct cp_port_config *port = &c->port[i];
		struct dp_local *local = &dp->port[i].local;

		dp->port[i].name = port->device;
		local->n_ipv4 = port->n_ipv4;
		local->n_ipv6 = port->n_ipv6;
		memcpy(local->ipv4, port->ipv4, sizeof(local->ipv4));
		memcpy(local->ipv6, port->ipv6, sizeof(local->ipv6));
		local->n_hl7_ports = c->n_hl7_ports;
		local->n_vtp_ports = c->n_vtp_ports;
		memcpy(local->hl7_ports, c->hl7_ports, sizeof(local->hl7_ports));
		memcpy(local->vtp_ports, c->vtp_ports, sizeof(local->vtp_ports));
		local->udp_checksum = c->udp_checksum;
	}
	dp->n_workers = c->workers;
	dp->n_mbufs = c->mbufs;
	dp->mbuf_cache = c->mbuf_cache;
	dp->rx_desc = c->rx_desc;
	dp->tx_desc = c->tx_desc;
	dp->promiscuous = c->promiscuous;
	dp->vtp_devices = c->vtp_devices;
	dp->registry_devices = c->registry_devices;
	dp->events = true;
	dp->alarm_ring = c->alarm_ring;
	dp->telemetry_ring = c->telemetry_ring;
	/* dp->acl stays NULL: the caller builds it with cp_config_acl. */
}

int
cp_config_acl(const struct cp_config *c, struct dp_acl **out)
{
	return dp_acl_new(c->allow, c->n_allow, out);
}

static bool
hex_digits(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') ||
		      (s[i] >= 'A' && s[i] <= 'F')))
			return false;
	return true;
}

/* DDDD:BB:DD.F or BB:DD.F (hex), optionally followed by ",devargs". */
static bool
is_pci_address(const char *device)
{
	size_t len = device_name_len(device);

	if (len == 12) {
		if (!hex_digits(device, 4) || device[4] != ':')
			return false;
		device += 5;
		len -= 5;
	}
	return len == 7 && hex_digits(device, 2) && device[2] == ':' && hex_digits(device + 3, 2) &&
	       device[5] == '.' && device[6] >= '0' && device[6] <= '7';
}

/* Does the eal: list choose the lcores itself (-l, -c, --lcores, joined or not)? */
static bool
names_lcores(const struct cp_config *c)
{
	unsigned i;

	for (i = 0; i < c->n_eal; i++) {
		const char *a = c->eal[i];

		if (a[0] == '-' && (a[1] == 'l' || a[1] == 'c'))
			return true;
		if (strcmp(a, "--lcores") == 0 || strncmp(a, "--lcores=", 9) == 0)
			return true;
	}
	return false;
}

static int
push_arg(char **argv, size_t max, size_t *argc, const char *arg)
{
	if (*argc + 1 >= max) /* and one more for the NULL */
		return -E2BIG;
	argv[(*argc)++] = (char *)arg;
	return 0;
}

int
cp_eal_args(const struct cp_config *c, const char *argv0, char **argv, size_t max, char *scratch,
	    size_t scratch_len)
{
	size_t argc = 0;
	unsigned i;
	int rc, n;

	rc = push_arg(argv, max, &argc, argv0 != NULL ? argv0 : "vigild");
	for (i = 0; rc == 0 && i < c->n_eal; i++)
		rc = push_arg(argv, max, &argc, c->eal[i]);
	if (rc == 0 && !names_lcores(c)) {
		/* lcore 0 is the main lcore (the control plane), 1..workers the workers */
		if (c->workers > 0)
			n = snprintf(scratch, scratch_len, "0-%u", c->workers);
		else
			n = snprintf(scratch, scratch_len, "0");
		if (n < 0 || (size_t)n >= scratch_len)
			return -E2BIG;
		rc = push_arg(argv, max, &argc, "-l");
		if (rc == 0)
			rc = push_arg(argv, max, &argc, scratch);
	}
	for (i = 0; rc == 0 && i < c->n_ports; i++) {
		rc = push_arg(argv, max, &argc,
			      is_pci_address(c->port[i].device) ? "-a" : "--vdev");
		if (rc == 0)
			rc = push_arg(argv, max, &argc, c->port[i].device);
	}
	if (rc < 0)
		return rc;
	argv[argc] = NULL;
	return (int)argc;
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                  */
/* ------------------------------------------------------------------------ */

/* A YAML double-quoted string: \" \\ and control characters escaped. */
static void
print_quoted(FILE *out, const char *s)
{
	fputc('"', out);
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(out, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(out, "\\x%02x", ch);
		else
			fputc(ch, out);
	}
	fputc('"', out);
}

static void
print_udp_ports(FILE *out, const char *key, const uint16_t *ports, unsigned n)
{
	unsigned i;

	fprintf(out, "  %s: [", key);
	for (i = 0; i < n; i++)
		fprintf(out, "%s%u", i > 0 ? ", " : "", ports[i]);
	fputs("]\n", out);
}

static void
print_alarms(const struct cp_config *c, FILE *out)
{
	char dur[32];
	unsigned t;

	fputs("alarms:\n  log: ", out);
	if (c->alarm_log != NULL)
		print_quoted(out, c->alarm_log);
	else
		fputs("null", out);
	fputc('\n', out);
	fprintf(out, "  hold: %s\n", cp_duration_format(c->alarm_hold_s, dur, sizeof(dur)));
	fprintf(out, "  silence: %s\n", cp_duration_format(c->alarm_silence_s, dur, sizeof(dur)));
	fprintf(out, "  conditions: %u\n", c->alarm_conditions);
	fprintf(out, "  device_silent: %s\n",
		cp_duration_format(c->device_silent_s, dur, sizeof(dur)));
	fprintf(out, "  decode_errors: {count: %u, seconds: %u}\n", c->decode_errors_count,
		c->decode_errors_s);
	fputs("  priority:\n", out);
	for (t = 0; t < CP_TECH__COUNT; t++)
		fprintf(out, "    %s: %s\n", cp_tech_name((enum cp_tech)t),
			rule_priority_name((enum rule_priority)c->tech_priority[t]));
}

static void
print_patients(const struct cp_config *c, FILE *out)
{
	const struct cp_patient_opts *o = &c->patients;
	char dur[32];
	unsigned v, i;

	fputs("patients:\n", out);
	fprintf(out, "  max: %u\n", o->max_patients);
	fputs("  stale:\n", out);
	for (v = 0; v < N_VITALS; v++) {
		int64_t ns =
			vitals[v].param < 0 ? o->metric_stale_ns : o->stale_ns[vitals[v].param];

		fprintf(out, "    %s: %s\n", vitals[v].name,
			cp_duration_format(ns / 1000000000, dur, sizeof(dur)));
	}
	fputs("  sources:\n", out);
	for (v = 0; v < N_MEASURED; v++) {
		const uint32_t *src = o->source[vitals[v].param];

		fprintf(out, "    %s: [", vitals[v].name);
		for (i = 0; i < CP_PATIENT_SOURCES && src[i] != 0; i++) {
			const struct rule_metric *m = rule_metric_by_code(src[i]);

			if (m != NULL)
				fprintf(out, "%s%s", i > 0 ? ", " : "", m->name);
			else
				fprintf(out, "%s%u", i > 0 ? ", " : "", src[i]);
		}
		fputs("]\n", out);
	}
	fputs(c->n_patient_settings == 0 ? "  settings: []\n" : "  settings:\n", out);
	for (i = 0; i < c->n_patient_settings; i++) {
		const struct cp_patient_setting *set = &c->patient_settings[i];

		fputs("    - {patient: ", out);
		print_quoted(out, set->patient);
		if (set->oxygen != CP_O2_UNKNOWN)
			fprintf(out, ", oxygen: %s", oxygen_names[set->oxygen]);
		if (set->acvpu != CP_ACVPU_UNKNOWN)
			fprintf(out, ", acvpu: %s", acvpu_names[set->acvpu]);
		fprintf(out, ", scale: %d}\n", set->scale2 ? 2 : 1);
	}
}

static void
print_path(FILE *out, const char *key, const char *value)
{
	fputs(key, out);
	if (value != NULL)
		print_quoted(out, value);
	else
		fputs("null", out);
	fputc('\n', out);
}

static void
print_control(const struct cp_config *c, FILE *out)
{
	static const char *const role_keys_shown[] = {"admin", "operator", "viewer"};
	static const enum cp_role roles[] = {CP_ROLE_ADMIN, CP_ROLE_OPERATOR, CP_ROLE_VIEWER};

	fputs("control:\n", out);
	print_path(out, "  socket: ", c->control_socket);
	fprintf(out, "  mode: \"%04o\"\n", c->control_mode);
	print_path(out, "  group: ", c->control_group);
	fprintf(out, "  max_clients: %u\n", c->control_max_clients);
	fputs("  roles:\n", out);
	for (unsigned r = 0; r < 3; r++) {
		fprintf(out, "    %s: [", role_keys_shown[r]);
		for (unsigned i = 0; i < c->roles.n[roles[r]]; i++) {
			if (i > 0)
				fputs(", ", out);
			print_quoted(out, c->roles.entry[roles[r]][i]);
		}
		fputs("]\n", out);
	}
	fputs("audit:\n", out);
	print_path(out, "  key_file: ", c->audit_key_file);
	fputs("metrics:\n", out);
	print_path(out, "  listen: ", c->metrics_listen);
	fputs("backup:\n", out);
	print_path(out, "  dir: ", c->backup_dir);
}

void
cp_config_print(const struct cp_config *c, FILE *out)
{
	char addr[INET6_ADDRSTRLEN], dur[32];
	unsigned i, j, n;

	fputs("# vigil configuration: every key with the value in force\n", out);
	fputs("eal: [", out);
	for (i = 0; i < c->n_eal; i++) {
		if (i > 0)
			fputs(", ", out);
		print_quoted(out, c->eal[i]);
	}
	fputs("]\n", out);
	fprintf(out, "workers: %u\n", c->workers);
	fputs(c->n_ports == 0 ? "ports: []\n" : "ports:\n", out);
	for (i = 0; i < c->n_ports; i++) {
		const struct cp_port_config *port = &c->port[i];

		fputs("  - device: ", out);
		print_quoted(out, port->device);
		fputs("\n    addresses: [", out);
		n = 0;
		for (j = 0; j < port->n_ipv4; j++)
			if (inet_ntop(AF_INET, &port->ipv4[j], addr, sizeof(addr)) != NULL)
				fprintf(out, "%s\"%s\"", n++ > 0 ? ", " : "", addr);
		for (j = 0; j < port->n_ipv6; j++)
			if (inet_ntop(AF_INET6, port->ipv6[j], addr, sizeof(addr)) != NULL)
				fprintf(out, "%s\"%s\"", n++ > 0 ? ", " : "", addr);
		fputs("]\n", out);
	}
	fputs("telemetry:\n", out);
	print_udp_ports(out, "hl7_ports", c->hl7_ports, c->n_hl7_ports);
	print_udp_ports(out, "vtp_ports", c->vtp_ports, c->n_vtp_ports);
	fprintf(out, "  udp_checksum: %s\n", c->udp_checksum ? "true" : "false");
	fprintf(out, "  vtp_devices: %u\n", c->vtp_devices);
	fputs("  allow: [", out);
	for (i = 0; i < c->n_allow; i++) {
		const struct dp_acl_net *n = &c->allow[i];

		if (inet_ntop(n->ip_version == 4 ? AF_INET : AF_INET6, n->addr, addr,
			      sizeof(addr)) != NULL)
			fprintf(out, "%s\"%s/%u\"", i > 0 ? ", " : "", addr, n->prefix);
	}
	fputs("]\n", out);
	fputs("mempool:\n", out);
	fprintf(out, "  mbufs: %u\n", c->mbufs);
	fprintf(out, "  cache: %u\n", c->mbuf_cache);
	fprintf(out, "rx_desc: %u\n", (unsigned)c->rx_desc);
	fprintf(out, "tx_desc: %u\n", (unsigned)c->tx_desc);
	fprintf(out, "promiscuous: %s\n", c->promiscuous ? "true" : "false");
	fprintf(out, "stats_interval: %u\n", c->stats_interval);
	fputs("rules:\n  files: [", out);
	for (i = 0; i < c->n_rule_files; i++) {
		if (i > 0)
			fputs(", ", out);
		print_quoted(out, c->rule_files[i]);
	}
	fputs("]\n", out);
	fputs(c->n_rule_vars == 0 ? "  vars: {}\n" : "  vars:\n", out);
	for (i = 0; i < c->n_rule_vars; i++) {
		fprintf(out, "    %s: ", c->rule_var[i].name);
		print_quoted(out, c->rule_var[i].value);
		fputc('\n', out);
	}
	if (c->rules_cache_dir != NULL) {
		fputs("  cache_dir: ", out);
		print_quoted(out, c->rules_cache_dir);
		fputc('\n', out);
	} else {
		fputs("  cache_dir: null\n", out);
	}
	fprintf(out, "  max_errors: %u\n", c->rules_max_errors);
	fputs("registry:\n", out);
	fprintf(out, "  devices: %u\n", c->registry_devices);
	fputs("events:\n", out);
	fprintf(out, "  alarm_ring: %u\n", c->alarm_ring);
	fprintf(out, "  telemetry_ring: %u\n", c->telemetry_ring);
	fputs("storage:\n  dir: ", out);
	if (c->storage_dir != NULL)
		print_quoted(out, c->storage_dir);
	else
		fputs("null", out);
	fputc('\n', out);
	fprintf(out, "  block_cache_mb: %u\n", c->storage_block_cache_mb);
	fprintf(out, "  write_buffer_mb: %u\n", c->storage_write_buffer_mb);
	fprintf(out, "  compression: %s\n", cp_compression_name(c->storage_compression));
	fprintf(out, "  batch_records: %u\n", c->storage_batch_records);
	fprintf(out, "  batch_ms: %u\n", c->storage_batch_ms);
	fprintf(out, "  retention:\n");
	fprintf(out, "    obs: %s\n",
		cp_duration_format(c->storage_retain_s[STORE_CF_OBS], dur, sizeof(dur)));
	fprintf(out, "    alarms: %s\n",
		cp_duration_format(c->storage_retain_s[STORE_CF_ALARMS], dur, sizeof(dur)));
	fprintf(out, "    audit: %s\n",
		cp_duration_format(c->storage_retain_s[STORE_CF_AUDIT], dur, sizeof(dur)));
	fputs("  key_file: ", out);
	if (c->storage_key_file != NULL)
		print_quoted(out, c->storage_key_file);
	else
		fputs("null", out);
	fputc('\n', out);
	print_alarms(c, out);
	print_patients(c, out);
	print_control(c, out);
}
