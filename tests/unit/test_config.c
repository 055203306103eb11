/*
 * test_config.c - unit tests of vigil.yaml loading (controlplane/config.c).
 *
 * The configuration is the operator's only interface before vigild runs, so
 * these tests pin down what each key does, that every mistake is reported
 * as "FILE:LINE:COL: key.path: what" with the exact text, that a failed load
 * changes nothing, that --print-config reads back to the same
 * configuration, and the EAL argument vector and the data plane's view
 * built from it. The shipped vigil.yaml.example must load to the defaults.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include "controlplane.h"
#include "cunit_main.h"

#define ERR_LEN 512

/* Every key set to something other than its default. */
static const char full_yaml[] =
	"# every key, none at its default\n"
	"eal: [\"--no-huge\", \"-m\", \"256\", \"--file-prefix=vigil-test\"]\n"
	"workers: 3\n"
	"ports:\n"
	"  - device: \"net_pcap0,rx_pcap=ward.pcap\"\n"
	"    addresses: [192.0.2.1, \"2001:db8::1\", 198.51.100.7]\n"
	"  - \"net_null0\"\n"
	"  - device: 0000:03:00.0\n"
	"    addresses: []\n"
	"telemetry:\n"
	"  hl7_ports: [2576, 2577]\n"
	"  vtp_ports: []\n"
	"  udp_checksum: no\n"
	"  vtp_devices: 4096\n"
	"  allow: [10.20.0.0/16, \"fd00:20::/48\", 10.21.4.17]\n"
	"mempool:\n"
	"  mbufs: 8192\n"
	"  cache: 128\n"
	"rx_desc: 512\n"
	"tx_desc: 2048\n"
	"promiscuous: off\n"
	"stats_interval: 10\n"
	"registry:\n"
	"  devices: 1000\n"
	"events:\n"
	"  alarm_ring: 4096\n"
	"  telemetry_ring: 1048576\n"
	"storage:\n"
	"  dir: /srv/vigil/db\n"
	"  block_cache_mb: 256\n"
	"  write_buffer_mb: 32\n"
	"  compression: zstd\n"
	"  batch_records: 1000\n"
	"  batch_ms: 250\n"
	"  retention:\n"
	"    obs: 12h\n"
	"    alarms: 2w\n"
	"    audit: 3650d\n"
	"  key_file: /etc/vigil/keys\n"
	"alarms:\n"
	"  log: /srv/vigil/alarms.json\n"
	"  hold: 90s\n"
	"  silence: 5m\n"
	"  conditions: 1000\n"
	"  device_silent: 2m\n"
	"  decode_errors: {count: 5, seconds: 30}\n"
	"  priority: {device_silent: high, sequence_gap: medium, decode_errors: medium,\n"
	"             event_loss: medium, storage: medium, reload: low}\n"
	"patients:\n"
	"  max: 100\n"
	"  stale: {pulse: 30s, spo2: 45s, rr: 2m, sbp: 4h, temp: 12h, other: 1d}\n"
	"  sources:\n"
	"    pulse: [PULSE, HR]\n"
	"    sbp: [NIBP_SYS]\n"
	"    rr: [RR_CO2, RR]\n"
	"    spo2: [SPO2]\n"
	"    temp: [TEMP_ORAL, TEMP]\n"
	"  settings:\n"
	"    - {patient: PAT0000003, oxygen: oxygen, acvpu: alert, scale: 2}\n"
	"    - {patient: PAT0000007, acvpu: v}\n";

static const uint8_t ipv6_2001_db8_1[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};

/* The MDC code of a metric name (rules/metrics.tsv). */
static uint32_t
code_of(const char *name)
{
	const struct rule_metric *m = rule_metric_by_name(name, strlen(name));

	CU_ASSERT_PTR_NOT_NULL_FATAL(m);
	return m->code;
}

static int
load(struct cp_config *c, const char *yaml, char *err)
{
	return cp_config_load_string(c, yaml, strlen(yaml), "vigil.yaml", err, ERR_LEN);
}

/* alarms.*: the defaults controlplane.h documents. */
static void
assert_alarm_defaults(const struct cp_config *c)
{
	struct cp_alarm_opts ao;

	CU_ASSERT_PTR_NOT_NULL(c->alarm_log);
	if (c->alarm_log != NULL)
		CU_ASSERT_STRING_EQUAL(c->alarm_log, "/var/log/vigil/alarms.json");
	CU_ASSERT_FALSE(c->alarm_log_given);
	CU_ASSERT_EQUAL(c->alarm_hold_s, 60);
	CU_ASSERT_EQUAL(c->alarm_silence_s, 120);
	CU_ASSERT_EQUAL(c->alarm_conditions, 65536);
	CU_ASSERT_EQUAL(c->device_silent_s, 30);
	CU_ASSERT_EQUAL(c->decode_errors_count, 10);
	CU_ASSERT_EQUAL(c->decode_errors_s, 60);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_DEVICE_SILENT], RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_SEQUENCE_GAP], RULE_PRIO_LOW);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_DECODE_ERRORS], RULE_PRIO_LOW);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_EVENT_LOSS], RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_STORAGE], RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_RELOAD], RULE_PRIO_MEDIUM);
	/* and the alarm manager's own defaults agree */
	cp_alarm_opts_defaults(&ao);
	CU_ASSERT_EQUAL(ao.hold_ns, (int64_t)c->alarm_hold_s * 1000000000);
	CU_ASSERT_EQUAL(ao.silence_ns, (int64_t)c->alarm_silence_s * 1000000000);
	CU_ASSERT_EQUAL(ao.max_conditions, c->alarm_conditions);
}

/* patients.*: cp_patient_opts_defaults, and no settings. */
static void
assert_patient_defaults(const struct cp_config *c)
{
	const int64_t s = 1000000000;
	struct cp_patient_opts o;

	cp_patient_opts_defaults(&o);
	CU_ASSERT_EQUAL(memcmp(&c->patients, &o, sizeof(o)), 0);
	CU_ASSERT_EQUAL(c->patients.max_patients, 4096);
	CU_ASSERT_EQUAL(c->patients.stale_ns[CP_N2_PULSE], 60 * s);
	CU_ASSERT_EQUAL(c->patients.stale_ns[CP_N2_SBP], 3600 * s);
	CU_ASSERT_EQUAL(c->patients.metric_stale_ns, 3600 * s);
	CU_ASSERT_EQUAL(c->patients.source[CP_N2_PULSE][0], code_of("HR"));
	CU_ASSERT_EQUAL(c->patients.source[CP_N2_SPO2][0], code_of("SPO2"));
	CU_ASSERT_EQUAL(c->patients.source[CP_N2_SPO2][1], 0);
	CU_ASSERT_EQUAL(c->n_patient_settings, 0);
	CU_ASSERT_PTR_NULL(c->patient_settings);
}

static void
assert_defaults(const struct cp_config *c)
{
	CU_ASSERT_EQUAL(c->n_eal, 5);
	if (c->n_eal == 5) {
		CU_ASSERT_STRING_EQUAL(c->eal[0], "--no-pci");
		CU_ASSERT_STRING_EQUAL(c->eal[1], "--no-huge");
		CU_ASSERT_STRING_EQUAL(c->eal[2], "--no-shconf");
		CU_ASSERT_STRING_EQUAL(c->eal[3], "-m");
		CU_ASSERT_STRING_EQUAL(c->eal[4], "512");
	}
	CU_ASSERT_PTR_NULL(c->eal[5]);
	CU_ASSERT_EQUAL(c->workers, 1);
	CU_ASSERT_EQUAL(c->n_ports, 0);
	CU_ASSERT_EQUAL(c->n_hl7_ports, 1);
	CU_ASSERT_EQUAL(c->hl7_ports[0], 2575);
	CU_ASSERT_EQUAL(c->n_vtp_ports, 1);
	CU_ASSERT_EQUAL(c->vtp_ports[0], 4575);
	CU_ASSERT_TRUE(c->udp_checksum);
	CU_ASSERT_EQUAL(c->mbufs, 0);
	CU_ASSERT_EQUAL(c->mbuf_cache, 256);
	CU_ASSERT_EQUAL(c->rx_desc, 1024);
	CU_ASSERT_EQUAL(c->tx_desc, 1024);
	CU_ASSERT_TRUE(c->promiscuous);
	CU_ASSERT_EQUAL(c->stats_interval, 0);
	CU_ASSERT_EQUAL(c->vtp_devices, DP_VTP_DEVICES_DEFAULT);
	CU_ASSERT_EQUAL(c->n_allow, 0);
	CU_ASSERT_PTR_NULL(c->allow);
	CU_ASSERT_EQUAL(c->registry_devices, DP_REGISTRY_DEVICES_DEFAULT);
	CU_ASSERT_EQUAL(c->alarm_ring, DP_ALARM_RING_DEFAULT);
	CU_ASSERT_EQUAL(c->telemetry_ring, DP_TELEMETRY_RING_DEFAULT);
	CU_ASSERT_PTR_NOT_NULL(c->storage_dir);
	if (c->storage_dir != NULL)
		CU_ASSERT_STRING_EQUAL(c->storage_dir, "/var/lib/vigil/db");
	CU_ASSERT_FALSE(c->storage_dir_given);
	CU_ASSERT_EQUAL(c->storage_block_cache_mb, 64);
	CU_ASSERT_EQUAL(c->storage_write_buffer_mb, 64);
	CU_ASSERT_EQUAL(c->storage_compression, STORE_COMPRESS_LZ4);
	CU_ASSERT_EQUAL(c->storage_batch_records, STORE_BATCH_RECORDS_DEFAULT);
	CU_ASSERT_EQUAL(c->storage_batch_ms, STORE_BATCH_MS_DEFAULT);
	CU_ASSERT_EQUAL(c->storage_retain_s[STORE_CF_OBS], 7 * 86400);
	CU_ASSERT_EQUAL(c->storage_retain_s[STORE_CF_ALARMS], 365 * 86400);
	CU_ASSERT_EQUAL(c->storage_retain_s[STORE_CF_AUDIT], 0);
	CU_ASSERT_EQUAL(c->storage_retain_s[STORE_CF_META], 0);
	CU_ASSERT_PTR_NULL(c->storage_key_file);
	assert_alarm_defaults(c);
	assert_patient_defaults(c);
}

/* c->allow[i] is @p text (parsed by dp_acl_net_parse, which test_acl checks). */
static void
assert_allow(const struct cp_config *c, unsigned i, const char *text)
{
	struct dp_acl_net want;

	CU_ASSERT_EQUAL_FATAL(dp_acl_net_parse(text, &want), 0);
	CU_ASSERT_FATAL(i < c->n_allow && c->allow != NULL);
	CU_ASSERT_EQUAL(c->allow[i].ip_version, want.ip_version);
	CU_ASSERT_EQUAL(c->allow[i].prefix, want.prefix);
	CU_ASSERT_EQUAL(memcmp(c->allow[i].addr, want.addr, 16), 0);
}

/* What full_yaml says of alarms.* and patients.*. */
static void
assert_full_clinical(const struct cp_config *c)
{
	const uint32_t *src = c->patients.source[0];
	const int64_t s = 1000000000;

	CU_ASSERT_PTR_NOT_NULL_FATAL(c->alarm_log);
	CU_ASSERT_STRING_EQUAL(c->alarm_log, "/srv/vigil/alarms.json");
	CU_ASSERT_TRUE(c->alarm_log_given);
	CU_ASSERT_EQUAL(c->alarm_hold_s, 90);
	CU_ASSERT_EQUAL(c->alarm_silence_s, 300);
	CU_ASSERT_EQUAL(c->alarm_conditions, 1000);
	CU_ASSERT_EQUAL(c->device_silent_s, 120);
	CU_ASSERT_EQUAL(c->decode_errors_count, 5);
	CU_ASSERT_EQUAL(c->decode_errors_s, 30);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_DEVICE_SILENT], RULE_PRIO_HIGH);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_SEQUENCE_GAP], RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_DECODE_ERRORS], RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_EVENT_LOSS], RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_STORAGE], RULE_PRIO_MEDIUM);
	CU_ASSERT_EQUAL(c->tech_priority[CP_TECH_RELOAD], RULE_PRIO_LOW);
	CU_ASSERT_EQUAL(c->patients.max_patients, 100);
	CU_ASSERT_EQUAL(c->patients.stale_ns[CP_N2_PULSE], 30 * s);
	CU_ASSERT_EQUAL(c->patients.stale_ns[CP_N2_SPO2], 45 * s);
	CU_ASSERT_EQUAL(c->patients.stale_ns[CP_N2_RR], 120 * s);
	CU_ASSERT_EQUAL(c->patients.stale_ns[CP_N2_SBP], 4 * 3600 * s);
	CU_ASSERT_EQUAL(c->patients.stale_ns[CP_N2_TEMP], 12 * 3600 * s);
	CU_ASSERT_EQUAL(c->patients.metric_stale_ns, 86400 * s);
	src = c->patients.source[CP_N2_PULSE];
	CU_ASSERT(src[0] == code_of("PULSE") && src[1] == code_of("HR") && src[2] == 0);
	src = c->patients.source[CP_N2_SBP];
	CU_ASSERT(src[0] == code_of("NIBP_SYS") && src[1] == 0);
	src = c->patients.source[CP_N2_RR];
	CU_ASSERT(src[0] == code_of("RR_CO2") && src[1] == code_of("RR") && src[2] == 0);
	src = c->patients.source[CP_N2_SPO2];
	CU_ASSERT(src[0] == code_of("SPO2") && src[1] == 0);
	src = c->patients.source[CP_N2_TEMP];
	CU_ASSERT(src[0] == code_of("TEMP_ORAL") && src[1] == code_of("TEMP") && src[2] == 0);
	CU_ASSERT_EQUAL_FATAL(c->n_patient_settings, 2);
	CU_ASSERT_STRING_EQUAL(c->patient_settings[0].patient, "PAT0000003");
	CU_ASSERT_EQUAL(c->patient_settings[0].oxygen, CP_O2_OXYGEN);
	CU_ASSERT_EQUAL(c->patient_settings[0].acvpu, CP_ACVPU_ALERT);
	CU_ASSERT_TRUE(c->patient_settings[0].scale2);
	CU_ASSERT_STRING_EQUAL(c->patient_settings[1].patient, "PAT0000007");
	CU_ASSERT_EQUAL(c->patient_settings[1].oxygen, CP_O2_UNKNOWN);
	CU_ASSERT_EQUAL(c->patient_settings[1].acvpu, CP_ACVPU_CVPU);
	CU_ASSERT_FALSE(c->patient_settings[1].scale2);
}

/* What full_yaml says, key by key. */
static void
assert_full(const struct cp_config *c)
{
	CU_ASSERT_EQUAL(c->n_eal, 4);
	if (c->n_eal == 4) {
		CU_ASSERT_STRING_EQUAL(c->eal[0], "--no-huge");
		CU_ASSERT_STRING_EQUAL(c->eal[1], "-m");
		CU_ASSERT_STRING_EQUAL(c->eal[2], "256");
		CU_ASSERT_STRING_EQUAL(c->eal[3], "--file-prefix=vigil-test");
	}
	CU_ASSERT_EQUAL(c->workers, 3);
	CU_ASSERT_EQUAL(c->n_ports, 3);
	if (c->n_ports == 3) {
		CU_ASSERT_STRING_EQUAL(c->port[0].device, "net_pcap0,rx_pcap=ward.pcap");
		CU_ASSERT_EQUAL(c->port[0].n_ipv4, 2);
		CU_ASSERT_EQUAL(c->port[0].ipv4[0], htonl(0xc0000201));
		CU_ASSERT_EQUAL(c->port[0].ipv4[1], htonl(0xc6336407));
		CU_ASSERT_EQUAL(c->port[0].n_ipv6, 1);
		CU_ASSERT_EQUAL(memcmp(c->port[0].ipv6[0], ipv6_2001_db8_1, 16), 0);
		CU_ASSERT_STRING_EQUAL(c->port[1].device, "net_null0");
		CU_ASSERT_EQUAL(c->port[1].n_ipv4, 0);
		CU_ASSERT_EQUAL(c->port[1].n_ipv6, 0);
		CU_ASSERT_STRING_EQUAL(c->port[2].device, "0000:03:00.0");
		CU_ASSERT_EQUAL(c->port[2].n_ipv4, 0);
		CU_ASSERT_EQUAL(c->port[2].n_ipv6, 0);
	}
	CU_ASSERT_EQUAL(c->n_hl7_ports, 2);
	CU_ASSERT_EQUAL(c->hl7_ports[0], 2576);
	CU_ASSERT_EQUAL(c->hl7_ports[1], 2577);
	CU_ASSERT_EQUAL(c->n_vtp_ports, 0);
	CU_ASSERT_FALSE(c->udp_checksum);
	CU_ASSERT_EQUAL(c->mbufs, 8192);
	CU_ASSERT_EQUAL(c->mbuf_cache, 128);
	CU_ASSERT_EQUAL(c->rx_desc, 512);
	CU_ASSERT_EQUAL(c->tx_desc, 2048);
	CU_ASSERT_FALSE(c->promiscuous);
	CU_ASSERT_EQUAL(c->stats_interval, 10);
	CU_ASSERT_EQUAL(c->vtp_devices, 4096);
	CU_ASSERT_EQUAL_FATAL(c->n_allow, 3);
	assert_allow(c, 0, "10.20.0.0/16");
	assert_allow(c, 1, "fd00:20::/48");
	assert_allow(c, 2, "10.21.4.17/32");
	CU_ASSERT_EQUAL(c->registry_devices, 1000);
	CU_ASSERT_EQUAL(c->alarm_ring, 4096);
	CU_ASSERT_EQUAL(c->telemetry_ring, 1048576);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->storage_dir);
	CU_ASSERT_STRING_EQUAL(c->storage_dir, "/srv/vigil/db");
	CU_ASSERT_TRUE(c->storage_dir_given);
	CU_ASSERT_EQUAL(c->storage_block_cache_mb, 256);
	CU_ASSERT_EQUAL(c->storage_write_buffer_mb, 32);
	CU_ASSERT_EQUAL(c->storage_compression, STORE_COMPRESS_ZSTD);
	CU_ASSERT_EQUAL(c->storage_batch_records, 1000);
	CU_ASSERT_EQUAL(c->storage_batch_ms, 250);
	CU_ASSERT_EQUAL(c->storage_retain_s[STORE_CF_OBS], 12 * 3600);
	CU_ASSERT_EQUAL(c->storage_retain_s[STORE_CF_ALARMS], 14 * 86400);
	CU_ASSERT_EQUAL(c->storage_retain_s[STORE_CF_AUDIT], 3650 * 86400LL);
	CU_ASSERT_PTR_NOT_NULL_FATAL(c->storage_key_file);
	CU_ASSERT_STRING_EQUAL(c->storage_key_file, "/etc/vigil/keys");
	assert_full_clinical(c);
}

/* Every key of @p a equals @p b's (path aside). */
static void
assert_same(const struct cp_config *a, const struct cp_config *b)
{
	unsigned i, j;

	CU_ASSERT_EQUAL(a->n_eal, b->n_eal);
	for (i = 0; i < a->n_eal && i < b->n_eal; i++)
		CU_ASSERT_STRING_EQUAL(a->eal[i], b->eal[i]);
	CU_ASSERT_EQUAL(a->workers, b->workers);
	CU_ASSERT_EQUAL(a->n_ports, b->n_ports);
	for (i = 0; i < a->n_ports && i < b->n_ports; i++) {
		const struct cp_port_config *pa = &a->port[i], *pb = &b->port[i];

		CU_ASSERT_STRING_EQUAL(pa->device, pb->device);
		CU_ASSERT_EQUAL(pa->n_ipv4, pb->n_ipv4);
		CU_ASSERT_EQUAL(pa->n_ipv6, pb->n_ipv6);
		for (j = 0; j < pa->n_ipv4 && j < pb->n_ipv4; j++)
			CU_ASSERT_EQUAL(pa->ipv4[j], pb->ipv4[j]);
		for (j = 0; j < pa->n_ipv6 && j < pb->n_ipv6; j++)
			CU_ASSERT_EQUAL(memcmp(pa->ipv6[j], pb->ipv6[j], 16), 0);
	}
	CU_ASSERT_EQUAL(a->n_hl7_ports, b->n_hl7_ports);
	for (i = 0; i < a->n_hl7_ports && i < b->n_hl7_ports; i++)
		CU_ASSERT_EQUAL(a->hl7_ports[i], b->hl7_ports[i]);
	CU_ASSERT_EQUAL(a->n_vtp_ports, b->n_vtp_ports);
	for (i = 0; i < a->n_vtp_ports && i < b->n_vtp_ports; i++)
		CU_ASSERT_EQUAL(a->vtp_ports[i], b->vtp_ports[i]);
	CU_ASSERT_EQUAL(a->udp_checksum, b->udp_checksum);
	CU_ASSERT_EQUAL(a->vtp_devices, b->vtp_devices);
	CU_ASSERT_EQUAL(a->n_allow, b->n_allow);
	CU_ASSERT_EQUAL(a->allow == NULL, a->n_allow == 0);
	CU_ASSERT_EQUAL(b->allow == NULL, b->n_allow == 0);
	if (a->n_allow == b->n_allow && a->n_allow > 0 && a->allow != NULL && b->allow != NULL)
		CU_ASSERT_EQUAL(memcmp(a->allow, b->allow, a->n_allow * sizeof(*a->allow)), 0);
	CU_ASSERT_EQUAL(a->registry_devices, b->registry_devices);
	CU_ASSERT_EQUAL(a->alarm_ring, b->alarm_ring);
	CU_ASSERT_EQUAL(a->telemetry_ring, b->telemetry_ring);
	CU_ASSERT_EQUAL(a->mbufs, b->mbufs);
	CU_ASSERT_EQUAL(a->mbuf_cache, b->mbuf_cache);
	CU_ASSERT_EQUAL(a->rx_desc, b->rx_desc);
	CU_ASSERT_EQUAL(a->tx_desc, b->tx_desc);
	CU_ASSERT_EQUAL(a->promiscuous, b->promiscuous);
	CU_ASSERT_EQUAL(a->stats_interval, b->stats_interval);
	CU_ASSERT_EQUAL(a->n_rule_files, b->n_rule_files);
	for (i = 0; i < a->n_rule_files && i < b->n_rule_files; i++)
		CU_ASSERT_STRING_EQUAL(a->rule_files[i], b->rule_files[i]);
	CU_ASSERT_EQUAL(a->n_rule_vars, b->n_rule_vars);
	for (i = 0; i < a->n_rule_vars && i < b->n_rule_vars; i++) {
		CU_ASSERT_STRING_EQUAL(a->rule_var[i].name, b->rule_var[i].name);
		CU_ASSERT_STRING_EQUAL(a->rule_var[i].value, b->rule_var[i].value);
	}
	CU_ASSERT_EQUAL(a->rules_cache_dir == NULL, b->rules_cache_dir == NULL);
	if (a->rules_cache_dir != NULL && b->rules_cache_dir != NULL)
		CU_ASSERT_STRING_EQUAL(a->rules_cache_dir, b->rules_cache_dir);
	CU_ASSERT_EQUAL(a->rules_max_errors, b->rules_max_errors);
	CU_ASSERT_EQUAL(a->storage_dir == NULL, b->storage_dir == NULL);
	if (a->storage_dir != NULL && b->storage_dir != NULL)
		CU_ASSERT_STRING_EQUAL(a->storage_dir, b->storage_dir);
	CU_ASSERT_EQUAL(a->storage_block_cache_mb, b->storage_block_cache_mb);
	CU_ASSERT_EQUAL(a->storage_write_buffer_mb, b->storage_write_buffer_mb);
	CU_ASSERT_EQUAL(a->storage_compression, b->storage_compression);
	CU_ASSERT_EQUAL(a->storage_batch_records, b->storage_batch_records);
	CU_ASSERT_EQUAL(a->storage_batch_ms, b->storage_batch_ms);
	for (i = 0; i < STORE_CF__COUNT; i++)
		CU_ASSERT_EQUAL(a->storage_retain_s[i], b->storage_retain_s[i]);
	CU_ASSERT_EQUAL(a->storage_key_file == NULL, b->storage_key_file == NULL);
	if (a->storage_key_file != NULL && b->storage_key_file != NULL)
		CU_ASSERT_STRING_EQUAL(a->storage_key_file, b->storage_key_file);
	CU_ASSERT_EQUAL(a->alarm_log == NULL, b->alarm_log == NULL);
	if (a->alarm_log != NULL && b->alarm_log != NULL)
		CU_ASSERT_STRING_EQUAL(a->alarm_log, b->alarm_log);
	CU_ASSERT_EQUAL(a->alarm_hold_s, b->alarm_hold_s);
	CU_ASSERT_EQUAL(a->alarm_silence_s, b->alarm_silence_s);
	CU_ASSERT_EQUAL(a->alarm_conditions, b->alarm_conditions);
	CU_ASSERT_EQUAL(a->device_silent_s, b->device_silent_s);
	CU_ASSERT_EQUAL(a->decode_errors_count, b->decode_errors_count);
	CU_ASSERT_EQUAL(a->decode_errors_s, b->decode_errors_s);
	CU_ASSERT_EQUAL(memcmp(a->tech_priority, b->tech_priority, sizeof(a->tech_priority)), 0);
	CU_ASSERT_EQUAL(memcmp(&a->patients, &b->patients, sizeof(a->patients)), 0);
	CU_ASSERT_EQUAL(a->n_patient_settings, b->n_patient_settings);
	CU_ASSERT_EQUAL(a->patient_settings == NULL, a->n_patient_settings == 0);
	CU_ASSERT_EQUAL(b->patient_settings == NULL, b->n_patient_settings == 0);
	for (i = 0; i < a->n_patient_settings && i < b->n_patient_settings; i++) {
		const struct cp_patient_setting *sa = &a->patient_settings[i];
		const struct cp_patient_setting *sb = &b->patient_settings[i];

		CU_ASSERT_STRING_EQUAL(sa->patient, sb->patient);
		CU_ASSERT_EQUAL(sa->oxygen, sb->oxygen);
		CU_ASSERT_EQUAL(sa->acvpu, sb->acvpu);
		CU_ASSERT_EQUAL(sa->scale2, sb->scale2);
	}
}

/* ------------------------------------------------------------------------ */
/* Loading                                                                   */
/* ------------------------------------------------------------------------ */

static void
test_defaults(void)
{
	static const struct cp_config zero;
	struct cp_config c;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	assert_defaults(&c);
	CU_ASSERT_PTR_NULL(c.path);
	cp_config_free(&c);
	CU_ASSERT_EQUAL(memcmp(&c, &zero, sizeof(c)), 0);
	cp_config_free(&c); /* a second free is harmless */
	/* and the struct can be reused */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	assert_defaults(&c);
	cp_config_free(&c);
}

static void
test_full_string(void)
{
	char err[ERR_LEN] = "";
	struct cp_config c;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, full_yaml, err), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	assert_full(&c);
	CU_ASSERT_PTR_NULL(c.path); /* only cp_config_load names a file */
	cp_config_free(&c);
}

static void
test_full_file(void)
{
	char path[] = "/tmp/vigil-test-config-XXXXXX", err[ERR_LEN] = "";
	struct cp_config c;
	FILE *f;
	int fd;

	fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	f = fdopen(fd, "w");
	CU_ASSERT_FATAL(f != NULL);
	CU_ASSERT_EQUAL(fwrite(full_yaml, 1, strlen(full_yaml), f), strlen(full_yaml));
	CU_ASSERT_EQUAL(fclose(f), 0);

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(err, "");
	assert_full(&c);
	CU_ASSERT_PTR_NOT_NULL(c.path);
	if (c.path != NULL) {
		CU_ASSERT_STRING_EQUAL(c.path, path);
		CU_ASSERT_PTR_NOT_EQUAL(c.path, path);
	}
	cp_config_free(&c);
	unlink(path);
}

/* Files with nothing in them, or keys with nothing under them, keep the defaults. */
static void
test_empty(void)
{
	static const char *const empties[] = {
		"",	      "# only a comment\n",	"---\n",
		"---\n...\n", "telemetry:\nmempool:\n", "telemetry: {}\nmempool: {}\n",
	};
	char err[ERR_LEN];
	struct cp_config c;
	size_t i;

	for (i = 0; i < sizeof(empties) / sizeof(empties[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		CU_ASSERT_EQUAL(load(&c, empties[i], err), 0);
		assert_defaults(&c);
		cp_config_free(&c);
	}
	/* a key with no value is an empty list */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_add_port(&c, "net_null0"), 0);
	CU_ASSERT_EQUAL(load(&c, "eal:\nports:\n", err), 0);
	CU_ASSERT_EQUAL(c.n_eal, 0);
	CU_ASSERT_EQUAL(c.n_ports, 0);
	cp_config_free(&c);
	/* a NULL string of length 0 is an empty file */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_load_string(&c, NULL, 0, "x", err, sizeof(err)), 0);
	assert_defaults(&c);
	cp_config_free(&c);
}

/* A load applies over what is there: keys not given keep their value; lists are replaced. */
static void
test_load_over(void)
{
	char err[ERR_LEN];
	struct cp_config c;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, "workers: 2\nports: [net_null0, net_null1]\n", err), 0);
	CU_ASSERT_EQUAL(load(&c, "stats_interval: 5\nports: [net_null7]\n", err), 0);
	CU_ASSERT_EQUAL(c.workers, 2);
	CU_ASSERT_EQUAL(c.stats_interval, 5);
	CU_ASSERT_EQUAL(c.n_ports, 1);
	CU_ASSERT_STRING_EQUAL(c.port[0].device, "net_null7");
	CU_ASSERT_PTR_NULL(c.port[1].device);
	CU_ASSERT_EQUAL(load(&c, "telemetry:\n  vtp_ports: [4576, 4577]\n", err), 0);
	CU_ASSERT_EQUAL(c.n_hl7_ports, 1);
	CU_ASSERT_EQUAL(c.hl7_ports[0], 2575);
	CU_ASSERT_EQUAL(c.n_vtp_ports, 2);
	CU_ASSERT_EQUAL(c.vtp_ports[0], 4576);
	CU_ASSERT_EQUAL(c.vtp_ports[1], 4577);
	cp_config_free(&c);
}

static void
test_booleans(void)
{
	static const struct {
		const char *text;
		bool value;
	} cases[] = {
		{"true", true},	  {"yes", true}, {"on", true},	 {"True", true}, {"YES", true},
		{"false", false}, {"no", false}, {"off", false}, {"Off", false}, {"\"no\"", false},
	};
	char yaml[64], err[ERR_LEN];
	struct cp_config c;
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		c.promiscuous = !cases[i].value;
		snprintf(yaml, sizeof(yaml), "promiscuous: %s\n", cases[i].text);
		CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
		CU_ASSERT_EQUAL(c.promiscuous, cases[i].value);
		cp_config_free(&c);
	}
}

/* Numbers at both ends of each range are accepted. */
static void
test_limits(void)
{
	char err[ERR_LEN] = "";
	struct cp_config c;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c,
			     "workers: 64\nrx_desc: 64\ntx_desc: 16384\nstats_interval: 86400\n"
			     "mempool: {mbufs: 16777216, cache: 512}\n"
			     "telemetry: {hl7_ports: [1, 65535, 2, 3, 4, 5, 6, 7], "
			     "vtp_ports: [8, 9, 10, 11, 12, 13, 14, 15]}\n",
			     err),
			0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(c.workers, 64);
	CU_ASSERT_EQUAL(c.rx_desc, 64);
	CU_ASSERT_EQUAL(c.tx_desc, 16384);
	CU_ASSERT_EQUAL(c.stats_interval, 86400);
	CU_ASSERT_EQUAL(c.mbufs, 16777216);
	CU_ASSERT_EQUAL(c.mbuf_cache, 512);
	CU_ASSERT_EQUAL(c.n_hl7_ports, 8);
	CU_ASSERT_EQUAL(c.hl7_ports[0], 1);
	CU_ASSERT_EQUAL(c.hl7_ports[1], 65535);
	CU_ASSERT_EQUAL(c.n_vtp_ports, 8);
	CU_ASSERT_EQUAL(c.vtp_ports[7], 15);
	CU_ASSERT_EQUAL(load(&c, "workers: 1\nmempool: {mbufs: 0, cache: 0}\n", err), 0);
	CU_ASSERT_EQUAL(c.workers, 1);
	CU_ASSERT_EQUAL(c.mbufs, 0);
	CU_ASSERT_EQUAL(c.mbuf_cache, 0);
	/* exactly 1.5 x cache is enough for DPDK */
	CU_ASSERT_EQUAL(load(&c, "mempool: {mbufs: 384, cache: 256}\n", err), 0);
	CU_ASSERT_EQUAL(c.mbufs, 384);
	/* eight addresses of each family */
	CU_ASSERT_EQUAL(load(&c,
			     "ports:\n  - device: net_null0\n    addresses: [10.0.0.1, 10.0.0.2, "
			     "10.0.0.3, 10.0.0.4, 10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, "
			     "fd00::1, fd00::2, fd00::3, fd00::4, fd00::5, fd00::6, fd00::7, "
			     "fd00::8]\n",
			     err),
			0);
	CU_ASSERT_EQUAL(c.port[0].n_ipv4, 8);
	CU_ASSERT_EQUAL(c.port[0].ipv4[7], htonl(0x0a000008));
	CU_ASSERT_EQUAL(c.port[0].n_ipv6, 8);
	CU_ASSERT_EQUAL(c.port[0].ipv6[7][15], 8);
	/* registry and rings at both ends */
	CU_ASSERT_EQUAL(load(&c,
			     "registry: {devices: 1}\n"
			     "events: {alarm_ring: 64, telemetry_ring: 16777216}\n",
			     err),
			0);
	CU_ASSERT_EQUAL(c.registry_devices, 1);
	CU_ASSERT_EQUAL(c.alarm_ring, 64);
	CU_ASSERT_EQUAL(c.telemetry_ring, 16777216);
	CU_ASSERT_EQUAL(load(&c,
			     "registry: {devices: 4194304}\n"
			     "events: {alarm_ring: 16777216, telemetry_ring: 64}\n",
			     err),
			0);
	CU_ASSERT_EQUAL(c.registry_devices, 4194304);
	CU_ASSERT_EQUAL(c.alarm_ring, 16777216);
	CU_ASSERT_EQUAL(c.telemetry_ring, 64);
	/* not a power of two: accepted (the data plane rounds it up) */
	CU_ASSERT_EQUAL(load(&c, "events: {alarm_ring: 1000}\n", err), 0);
	CU_ASSERT_EQUAL(c.alarm_ring, 1000);
	CU_ASSERT_EQUAL(c.telemetry_ring, 64);
	/* prefixes at both ends */
	CU_ASSERT_EQUAL(load(&c,
			     "telemetry: {allow: [0.0.0.0/0, 10.1.2.3/32, \"::/0\", "
			     "\"fd00::1/128\"]}\n",
			     err),
			0);
	CU_ASSERT_EQUAL_FATAL(c.n_allow, 4);
	assert_allow(&c, 0, "0.0.0.0/0");
	assert_allow(&c, 1, "10.1.2.3");
	assert_allow(&c, 2, "::/0");
	assert_allow(&c, 3, "fd00::1");
	cp_config_free(&c);
}

/* A list of DP_ACL_MAX networks; @p extra more makes it too long. */
static char *
allow_yaml(unsigned extra)
{
	size_t room = 64 + (DP_ACL_MAX + extra) * 20, o;
	char *yaml = malloc(room);

	if (yaml == NULL)
		return NULL;
	o = (size_t)snprintf(yaml, room, "telemetry:\n  allow:\n");
	for (unsigned i = 0; i < DP_ACL_MAX + extra; i++)
		o += (size_t)snprintf(yaml + o, room - o, "    - 10.%u.%u.0/24\n", i >> 8,
				      i & 0xff);
	return yaml;
}

/*
 * telemetry.allow: replaced whole by a later load, kept by a load that does
 * not name it, emptied by an empty list or a null; at most DP_ACL_MAX
 * networks; cp_config_acl builds the ACL of it.
 */
static void
test_allow(void)
{
	char err[ERR_LEN] = "", *yaml;
	struct dp_acl *acl = NULL;
	struct cp_config c;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	/* the default: every sender allowed */
	CU_ASSERT_EQUAL_FATAL(cp_config_acl(&c, &acl), 0);
	CU_ASSERT_TRUE(dp_acl_allows_all(acl));
	CU_ASSERT_EQUAL(dp_acl_count(acl), 0);
	dp_acl_free(acl);

	CU_ASSERT_EQUAL(
		load(&c, "telemetry: {allow: [10.20.0.0/16, 10.20.1.0/24, 10.30.0.0/16]}\n", err),
		0);
	CU_ASSERT_EQUAL(c.n_allow, 3);
	CU_ASSERT_EQUAL_FATAL(cp_config_acl(&c, &acl), 0);
	CU_ASSERT_FALSE(dp_acl_allows_all(acl));
	CU_ASSERT_EQUAL(dp_acl_count(acl), 2); /* 10.20.1.0/24 is inside 10.20.0.0/16 */
	dp_acl_free(acl);

	/* other telemetry keys leave it alone */
	CU_ASSERT_EQUAL(load(&c, "telemetry: {udp_checksum: false}\n", err), 0);
	CU_ASSERT_EQUAL(c.n_allow, 3);
	/* a new list replaces it */
	CU_ASSERT_EQUAL(load(&c, "telemetry: {allow: [\"fd00::/8\"]}\n", err), 0);
	CU_ASSERT_EQUAL_FATAL(c.n_allow, 1);
	assert_allow(&c, 0, "fd00::/8");
	/* a bad list leaves the old one */
	CU_ASSERT_EQUAL(load(&c, "telemetry: {allow: [10.0.0.0/8, 10.0.0.1/8]}\n", err), -EINVAL);
	CU_ASSERT_EQUAL_FATAL(c.n_allow, 1);
	assert_allow(&c, 0, "fd00::/8");
	/* empty and null: every sender again */
	CU_ASSERT_EQUAL(load(&c, "telemetry: {allow: []}\n", err), 0);
	CU_ASSERT_EQUAL(c.n_allow, 0);
	CU_ASSERT_PTR_NULL(c.allow);
	CU_ASSERT_EQUAL(load(&c, "telemetry: {allow: [10.0.0.0/8]}\n", err), 0);
	CU_ASSERT_EQUAL(c.n_allow, 1);
	CU_ASSERT_EQUAL(load(&c, "telemetry:\n  allow:\n", err), 0);
	CU_ASSERT_EQUAL(c.n_allow, 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_acl(&c, &acl), 0);
	CU_ASSERT_TRUE(dp_acl_allows_all(acl));
	dp_acl_free(acl);

	/* DP_ACL_MAX networks load; one more is refused at the first one too many */
	yaml = allow_yaml(0);
	CU_ASSERT_PTR_NOT_NULL_FATAL(yaml);
	CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
	CU_ASSERT_EQUAL(c.n_allow, DP_ACL_MAX);
	CU_ASSERT_EQUAL_FATAL(cp_config_acl(&c, &acl), 0);
	CU_ASSERT_EQUAL(dp_acl_count(acl), 1); /* 10.0.0.0 .. 10.3.255.255, all adjacent */
	dp_acl_free(acl);
	free(yaml);
	yaml = allow_yaml(1);
	CU_ASSERT_PTR_NOT_NULL_FATAL(yaml);
	CU_ASSERT_EQUAL(load(&c, yaml, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "vigil.yaml:1027:7: telemetry.allow[1024]: more than 1024 "
				    "networks");
	CU_ASSERT_EQUAL(c.n_allow, DP_ACL_MAX);
	free(yaml);
	cp_config_free(&c);
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                    */
/* ------------------------------------------------------------------------ */

struct error_case {
	const char *yaml;
	const char *message;
};

static const struct error_case error_cases[] = {
	/* unknown keys */
	{"workers: 1\n\nwrokers: 2\n",
	 "vigil.yaml:3:1: unknown key 'wrokers' (known keys: eal, workers, ports, telemetry, "
	 "mempool, rx_desc, tx_desc, promiscuous, stats_interval, rules, registry, events, "
	 "storage, alarms, patients, control, audit, metrics, backup)"},
	/* control, audit, metrics, backup */
	{"control: {sockt: /x}\n", "vigil.yaml:1:11: control: unknown key 'sockt' (known keys: "
				   "socket, mode, group, max_clients, "
				   "roles)"},
	{"control: {socket: ''}\n",
	 "vigil.yaml:1:19: control.socket: must not be empty (null turns it off)"},
	{"control: {mode: '0669'}\n",
	 "vigil.yaml:1:17: control.mode: '0669' is not permission bits in octal (0..0777)"},
	{"control: {mode: '0440'}\n",
	 "vigil.yaml:1:17: control.mode: 0440 takes the owner's read and write away (vigild's own "
	 "user could not use it): use 0600 or more"},
	{"control: {max_clients: 0}\n",
	 "vigil.yaml:1:24: control.max_clients: 0 is out of range (1..65536)"},
	{"control: {roles: {viewer: ['bad name']}}\n",
	 "vigil.yaml:1:28: control.roles.viewer[0]: 'bad name' is not a user name, a uid, or "
	 "@group"},
	{"control: {roles: {viewer: ['@']}}\n",
	 "vigil.yaml:1:28: control.roles.viewer[0]: '@' is not a user name, a uid, or @group"},
	{"control: {roles: {admins: []}}\n", "vigil.yaml:1:19: control.roles: unknown key 'admins' "
					     "(known keys: admin, operator, viewer)"},
	{"audit: {key_file: ''}\n",
	 "vigil.yaml:1:19: audit.key_file: must not be empty (null turns it off)"},
	{"metrics: {listen: 0.0.0.0:9650}\n",
	 "vigil.yaml:1:19: metrics.listen: '0.0.0.0' is not a loopback address: /metrics has no "
	 "authentication (use 127.0.0.1 or [::1], and a proxy to expose it)"},
	{"metrics: {listen: '127.0.0.1:0'}\n",
	 "vigil.yaml:1:19: metrics.listen: '127.0.0.1:0': the port is not 1..65535"},
	{"metrics: {listen: '127.0.0.1'}\n",
	 "vigil.yaml:1:19: metrics.listen: '127.0.0.1' is not ADDRESS:PORT"},
	{"backup: {dir: []}\n",
	 "vigil.yaml:1:15: backup.dir: expected a directory (null: no default), got a list"},
	/* rules */
	{"rules:\n  file: [a.rules]\n",
	 "vigil.yaml:2:3: rules: unknown key 'file' (known keys: files, vars, cache_dir, "
	 "max_errors)"},
	{"rules:\n  files: a.rules\n",
	 "vigil.yaml:2:10: rules.files: expected a list, got 'a.rules'"},
	{"rules:\n  files: [a.rules, '']\n", "vigil.yaml:2:20: rules.files[1]: must not be empty"},
	{"rules:\n  vars: {1NET: 10.0.0.0/8}\n",
	 "vigil.yaml:2:10: rules.vars.1NET: '1NET' is not a variable name "
	 "([A-Za-z_][A-Za-z0-9_]*)"},
	{"rules:\n  vars: {NET: [10.0.0.0/8]}\n",
	 "vigil.yaml:2:15: rules.vars.NET: expected an address or port expression, got a list"},
	{"rules:\n  max_errors: 0\n",
	 "vigil.yaml:2:15: rules.max_errors: 0 is out of range (1..10000)"},
	{"telemetry:\n  hl7_port: [1]\n",
	 "vigil.yaml:2:3: telemetry: unknown key 'hl7_port' (known keys: hl7_ports, vtp_ports, "
	 "udp_checksum, vtp_devices, allow)"},
	{"telemetry:\n  vtp_devices: 15\n",
	 "vigil.yaml:2:16: telemetry.vtp_devices: 15 is out of range (16..16777216)"},
	{"mempool:\n  cahce: 1\n",
	 "vigil.yaml:2:3: mempool: unknown key 'cahce' (known keys: mbufs, cache)"},
	{"ports:\n  - device: net_null0\n    adresses: []\n",
	 "vigil.yaml:3:5: ports[0]: unknown key 'adresses' (known keys: device, addresses)"},
	/* telemetry.allow */
	{"telemetry:\n  allow: 10.0.0.0/8\n",
	 "vigil.yaml:2:10: telemetry.allow: expected a list, got '10.0.0.0/8'"},
	{"telemetry:\n  allow: {10.0.0.0/8: yes}\n",
	 "vigil.yaml:2:10: telemetry.allow: expected a list, got a mapping"},
	{"telemetry:\n  allow: [10.0.0.0/8, 10.20.0.1/16]\n",
	 "vigil.yaml:2:23: telemetry.allow[1]: 10.20.0.1/16 has host bits set: did you mean "
	 "10.20.0.0/16?"},
	{"telemetry:\n  allow: [\"fd00:20::1/48\"]\n",
	 "vigil.yaml:2:11: telemetry.allow[0]: fd00:20::1/48 has host bits set: did you mean "
	 "fd00:20::/48?"},
	{"telemetry:\n  allow: [10.0.0.0/33]\n",
	 "vigil.yaml:2:11: telemetry.allow[0]: '10.0.0.0/33': the prefix must be a number from 0 "
	 "to 32"},
	{"telemetry:\n  allow: [\"fd00::/129\"]\n",
	 "vigil.yaml:2:11: telemetry.allow[0]: 'fd00::/129': the prefix must be a number from 0 "
	 "to 128"},
	{"telemetry:\n  allow: [10.0.0.0/]\n",
	 "vigil.yaml:2:11: telemetry.allow[0]: '10.0.0.0/': the prefix must be a number from 0 to "
	 "32"},
	{"telemetry:\n  allow: [10.0.0.0/8, ward3.local]\n",
	 "vigil.yaml:2:23: telemetry.allow[1]: 'ward3.local' is not a network (an IPv4 or IPv6 "
	 "address, with /PREFIX for more than one host)"},
	{"telemetry:\n  allow: [10.0.0.300/24]\n",
	 "vigil.yaml:2:11: telemetry.allow[0]: '10.0.0.300/24' is not a network (an IPv4 or IPv6 "
	 "address, with /PREFIX for more than one host)"},
	{"telemetry:\n  allow: [\"\"]\n",
	 "vigil.yaml:2:11: telemetry.allow[0]: '' is not a network (an IPv4 or IPv6 address, with "
	 "/PREFIX for more than one host)"},
	{"telemetry:\n  allow: [[10.0.0.0/8]]\n",
	 "vigil.yaml:2:11: telemetry.allow[0]: expected a network (10.20.0.0/16, fd00::/8, "
	 "10.1.2.3), got a list"},
	{"telemetry:\n  allow:\n    - 10.0.0.0/8\n    -\n",
	 "vigil.yaml:4:6: telemetry.allow[1]: expected a network (10.20.0.0/16, fd00::/8, "
	 "10.1.2.3), got nothing"},
	/* registry, events */
	{"registry: 5\n", "vigil.yaml:1:11: registry: expected a mapping, got '5'"},
	{"registry:\n  device: 5\n",
	 "vigil.yaml:2:3: registry: unknown key 'device' (known keys: devices)"},
	{"registry:\n  devices: 0\n",
	 "vigil.yaml:2:12: registry.devices: 0 is out of range (1..4194304)"},
	{"registry:\n  devices: 4194305\n",
	 "vigil.yaml:2:12: registry.devices: 4194305 is out of range (1..4194304)"},
	{"registry:\n  devices: 16k\n",
	 "vigil.yaml:2:12: registry.devices: '16k' is not a decimal number"},
	{"events:\n  alarm: 64\n",
	 "vigil.yaml:2:3: events: unknown key 'alarm' (known keys: alarm_ring, telemetry_ring)"},
	{"events:\n  alarm_ring: 63\n",
	 "vigil.yaml:2:15: events.alarm_ring: 63 is out of range (64..16777216)"},
	{"events:\n  telemetry_ring: 16777217\n",
	 "vigil.yaml:2:19: events.telemetry_ring: 16777217 is out of range (64..16777216)"},
	{"events:\n  telemetry_ring: [65536]\n",
	 "vigil.yaml:2:19: events.telemetry_ring: expected a number, got a list"},
	{"events:\n  alarm_ring: 1024\n  alarm_ring: 2048\n",
	 "vigil.yaml:3:3: events: duplicate key 'alarm_ring' (first on line 2)"},
	/* storage */
	{"storage:\n  directory: /x\n",
	 "vigil.yaml:2:3: storage: unknown key 'directory' (known keys: dir, block_cache_mb, "
	 "write_buffer_mb, compression, batch_records, batch_ms, retention, key_file)"},
	{"storage:\n  dir: [/x]\n",
	 "vigil.yaml:2:8: storage.dir: expected a directory (null: storage off), got a list"},
	{"storage:\n  block_cache_mb: 0\n",
	 "vigil.yaml:2:19: storage.block_cache_mb: 0 is out of range (1..65536)"},
	{"storage:\n  write_buffer_mb: 4097\n",
	 "vigil.yaml:2:20: storage.write_buffer_mb: 4097 is out of range (1..4096)"},
	{"storage:\n  batch_records: 1000001\n",
	 "vigil.yaml:2:18: storage.batch_records: 1000001 is out of range (1..1000000)"},
	{"storage:\n  batch_ms: 0\n",
	 "vigil.yaml:2:13: storage.batch_ms: 0 is out of range (1..60000)"},
	{"storage:\n  compression: gzip\n",
	 "vigil.yaml:2:16: storage.compression: 'gzip' is not a compression (none, lz4, zstd, "
	 "snappy)"},
	{"storage:\n  compression: LZ4\n",
	 "vigil.yaml:2:16: storage.compression: 'LZ4' is not a compression (none, lz4, zstd, "
	 "snappy)"},
	{"storage:\n  compression:\n",
	 "vigil.yaml:2:15: storage.compression: expected none, lz4, zstd or snappy, got nothing"},
	{"storage:\n  key_file: \"\"\n",
	 "vigil.yaml:2:13: storage.key_file: must not be empty (null: values are not sealed)"},
	{"storage:\n  key_file: [k]\n",
	 "vigil.yaml:2:13: storage.key_file: expected a key file (null: values are not sealed), "
	 "got a list"},
	{"storage:\n  retention: 7d\n",
	 "vigil.yaml:2:14: storage.retention: expected a mapping, got '7d'"},
	{"storage:\n  retention:\n    observations: 7d\n",
	 "vigil.yaml:3:5: storage.retention: unknown key 'observations' (known keys: obs, alarms, "
	 "audit)"},
	{"storage:\n  retention:\n    obs: 7\n",
	 "vigil.yaml:3:10: storage.retention.obs: '7' needs a unit: s, m, h, d or w (7d, 12h; 0 "
	 "keeps forever)"},
	{"storage:\n  retention:\n    obs: 7x\n",
	 "vigil.yaml:3:10: storage.retention.obs: '7x' is not a duration (a number and s, m, h, d "
	 "or w: 7d, 12h; 0 keeps forever)"},
	{"storage:\n  retention:\n    alarms: 07d\n",
	 "vigil.yaml:3:13: storage.retention.alarms: '07d' is not a duration (a number and s, m, "
	 "h, d or w: 7d, 12h; 0 keeps forever)"},
	{"storage:\n  retention:\n    alarms: -1d\n",
	 "vigil.yaml:3:13: storage.retention.alarms: '-1d' is not a duration (a number and s, m, "
	 "h, d or w: 7d, 12h; 0 keeps forever)"},
	{"storage:\n  retention:\n    audit: 7dd\n",
	 "vigil.yaml:3:12: storage.retention.audit: '7dd' is not a duration (a number and s, m, "
	 "h, d or w: 7d, 12h; 0 keeps forever)"},
	{"storage:\n  retention:\n    audit: 1.5d\n",
	 "vigil.yaml:3:12: storage.retention.audit: '1.5d' is not a duration (a number and s, m, "
	 "h, d or w: 7d, 12h; 0 keeps forever)"},
	{"storage:\n  retention:\n    audit: 36501d\n",
	 "vigil.yaml:3:12: storage.retention.audit: 36501d is more than 36500 days"},
	{"storage:\n  retention:\n    audit: 99999999999999w\n",
	 "vigil.yaml:3:12: storage.retention.audit: '99999999999999w' is not a duration (a number "
	 "and s, m, h, d or w: 7d, 12h; 0 keeps forever)"},
	{"storage:\n  retention:\n    obs:\n",
	 "vigil.yaml:3:9: storage.retention.obs: expected a duration (7d, 12h, 0 keeps forever), "
	 "got nothing"},
	/* alarms */
	{"alarms:\n  logs: /x\n",
	 "vigil.yaml:2:3: alarms: unknown key 'logs' (known keys: log, hold, silence, conditions, "
	 "device_silent, decode_errors, priority)"},
	{"alarms:\n  log: [/x]\n",
	 "vigil.yaml:2:8: alarms.log: expected a file (null: no alarm log), got a list"},
	{"alarms:\n  hold: 0\n", "vigil.yaml:2:9: alarms.hold: must be more than 0 (60s, 2m)"},
	{"alarms:\n  hold: 60\n",
	 "vigil.yaml:2:9: alarms.hold: '60' needs a unit: s, m, h, d or w (60s, 2m)"},
	{"alarms:\n  hold: 2d\n", "vigil.yaml:2:9: alarms.hold: 2d is more than 1 day"},
	{"alarms:\n  hold: off\n",
	 "vigil.yaml:2:9: alarms.hold: 'off' is not a duration (a number and s, m, h, d or w: "
	 "60s, 2m)"},
	{"alarms:\n  silence: 1.5m\n",
	 "vigil.yaml:2:12: alarms.silence: '1.5m' is not a duration (a number and s, m, h, d or "
	 "w: 60s, 2m)"},
	{"alarms:\n  silence:\n",
	 "vigil.yaml:2:11: alarms.silence: expected a duration (60s, 2m), got nothing"},
	{"alarms:\n  silence: 86401s\n",
	 "vigil.yaml:2:12: alarms.silence: 86401s is more than 1 day"},
	{"alarms:\n  conditions: 0\n",
	 "vigil.yaml:2:15: alarms.conditions: 0 is out of range (1..16777216)"},
	{"alarms:\n  conditions: 16777217\n",
	 "vigil.yaml:2:15: alarms.conditions: 16777217 is out of range (1..16777216)"},
	{"alarms:\n  device_silent: 25h\n",
	 "vigil.yaml:2:18: alarms.device_silent: 25h is more than 1 day"},
	{"alarms:\n  device_silent: never\n",
	 "vigil.yaml:2:18: alarms.device_silent: 'never' is not a duration (a number and s, m, h, "
	 "d or w: 30s, 2m; 0 or off: no alarm)"},
	{"alarms:\n  device_silent: 30\n",
	 "vigil.yaml:2:18: alarms.device_silent: '30' needs a unit: s, m, h, d or w (30s, 2m; 0 or "
	 "off: no alarm)"},
	{"alarms:\n  device_silent: [30s]\n", "vigil.yaml:2:18: alarms.device_silent: expected a "
					      "duration (30s, 2m, 0 or off: no alarm), "
					      "got a list"},
	{"alarms:\n  decode_errors: 10\n",
	 "vigil.yaml:2:18: alarms.decode_errors: expected a mapping, got '10'"},
	{"alarms:\n  decode_errors: {count: 10, second: 60}\n",
	 "vigil.yaml:2:30: alarms.decode_errors: unknown key 'second' (known keys: count, "
	 "seconds)"},
	{"alarms:\n  decode_errors: {count: -1}\n",
	 "vigil.yaml:2:26: alarms.decode_errors.count: '-1' is not a decimal number"},
	{"alarms:\n  decode_errors: {count: 1000001}\n",
	 "vigil.yaml:2:26: alarms.decode_errors.count: 1000001 is out of range (0..1000000)"},
	{"alarms:\n  decode_errors: {seconds: 0}\n",
	 "vigil.yaml:2:28: alarms.decode_errors.seconds: 0 is out of range (1..86400)"},
	{"alarms:\n  decode_errors: {seconds: 60s}\n",
	 "vigil.yaml:2:28: alarms.decode_errors.seconds: '60s' is not a decimal number"},
	{"alarms:\n  priority: high\n",
	 "vigil.yaml:2:13: alarms.priority: expected a mapping, got 'high'"},
	{"alarms:\n  priority: {storage: urgent}\n",
	 "vigil.yaml:2:23: alarms.priority.storage: expected low, medium or high, got 'urgent'"},
	{"alarms:\n  priority: {reload: none}\n",
	 "vigil.yaml:2:22: alarms.priority.reload: expected low, medium or high, got 'none'"},
	{"alarms:\n  priority: {event_loss: High}\n",
	 "vigil.yaml:2:26: alarms.priority.event_loss: expected low, medium or high, got 'High'"},
	{"alarms:\n  priority: {device_silent: [high]}\n",
	 "vigil.yaml:2:29: alarms.priority.device_silent: expected low, medium or high, got a "
	 "list"},
	{"alarms:\n  priority:\n    sequence_gap:\n",
	 "vigil.yaml:3:18: alarms.priority.sequence_gap: expected low, medium or high, got "
	 "nothing"},
	{"alarms:\n  priority: {disk_full: high}\n",
	 "vigil.yaml:2:14: alarms.priority: unknown key 'disk_full' (known keys: device_silent, "
	 "sequence_gap, decode_errors, event_loss, storage, reload)"},
	{"alarms:\n  priority: {storage: high, storage: low}\n",
	 "vigil.yaml:2:29: alarms.priority: duplicate key 'storage' (first on line 2)"},
	/* patients */
	{"patients:\n  maximum: 5\n",
	 "vigil.yaml:2:3: patients: unknown key 'maximum' (known keys: max, stale, sources, "
	 "settings)"},
	{"patients:\n  max: 0\n", "vigil.yaml:2:8: patients.max: 0 is out of range (1..1048576)"},
	{"patients:\n  max: 1048577\n",
	 "vigil.yaml:2:8: patients.max: 1048577 is out of range (1..1048576)"},
	{"patients:\n  stale: 1h\n",
	 "vigil.yaml:2:10: patients.stale: expected a mapping, got '1h'"},
	{"patients:\n  stale: {pulse: 0}\n",
	 "vigil.yaml:2:18: patients.stale.pulse: must be more than 0 (60s, 1h)"},
	{"patients:\n  stale: {sbp: 8d}\n",
	 "vigil.yaml:2:16: patients.stale.sbp: 8d is more than 7 days"},
	{"patients:\n  stale: {other: 1x}\n",
	 "vigil.yaml:2:18: patients.stale.other: '1x' is not a duration (a number and s, m, h, d "
	 "or w: 60s, 1h)"},
	{"patients:\n  stale: {air: 1h}\n",
	 "vigil.yaml:2:11: patients.stale: unknown key 'air' (known keys: pulse, spo2, rr, sbp, "
	 "temp, other)"},
	{"patients:\n  sources: {other: [HR]}\n", "vigil.yaml:2:13: patients.sources: unknown key "
						  "'other' (known keys: pulse, spo2, rr, sbp, "
						  "temp)"},
	{"patients:\n  sources: {pulse: HR}\n",
	 "vigil.yaml:2:20: patients.sources.pulse: expected a list, got 'HR'"},
	{"patients:\n  sources: {pulse: []}\n",
	 "vigil.yaml:2:20: patients.sources.pulse: at least 1 metric is required"},
	{"patients:\n  sources:\n    pulse:\n",
	 "vigil.yaml:3:11: patients.sources.pulse: at least 1 metric is required"},
	{"patients:\n  sources: {pulse: [HR, SPO2]}\n",
	 "vigil.yaml:2:25: patients.sources.pulse[1]: SPO2 is of family SPO2, not PULSE"},
	{"patients:\n  sources: {spo2: [SAO2]}\n",
	 "vigil.yaml:2:20: patients.sources.spo2[0]: SAO2 is of family SAO2, not SPO2"},
	{"patients:\n  sources: {temp: [TEMP, temp_skin]}\n",
	 "vigil.yaml:2:26: patients.sources.temp[1]: TEMP_SKIN is of family TEMP_SKIN, not TEMP"},
	{"patients:\n  sources: {sbp: [ART_SYS, ART_DIA]}\n",
	 "vigil.yaml:2:28: patients.sources.sbp[1]: ART_DIA is of family DBP, not SBP"},
	{"patients:\n  sources: {rr: [RR, RESP]}\n",
	 "vigil.yaml:2:22: patients.sources.rr[1]: 'RESP' is not a metric name "
	 "(rules/metrics.tsv)"},
	{"patients:\n  sources: {pulse: [HR, hr]}\n",
	 "vigil.yaml:2:25: patients.sources.pulse[1]: HR is listed twice"},
	{"patients:\n  sources: {rr: [[RR]]}\n",
	 "vigil.yaml:2:18: patients.sources.rr[0]: expected a metric name (HR, SPO2, NIBP_SYS, "
	 "...), "
	 "got a list"},
	{"patients:\n  sources: {temp: [TEMP, TEMP_BODY, TEMP_CORE, TEMP_TYMP, TEMP_ORAL, "
	 "TEMP_RECT, TEMP_AXILLA, TEMP_EAR, TEMP]}\n",
	 "vigil.yaml:2:104: patients.sources.temp[8]: more than 8 metrics"},
	{"patients:\n  settings: {patient: P1}\n",
	 "vigil.yaml:2:13: patients.settings: expected a list, got a mapping"},
	{"patients:\n  settings: [P1]\n",
	 "vigil.yaml:2:14: patients.settings[0]: expected a mapping {patient, oxygen, acvpu, "
	 "scale}, got 'P1'"},
	{"patients:\n  settings:\n    - {oxygen: air}\n",
	 "vigil.yaml:3:7: patients.settings[0]: 'patient' is required"},
	{"patients:\n  settings:\n    - {patient: \"\"}\n",
	 "vigil.yaml:3:17: patients.settings[0].patient: must not be empty"},
	{"patients:\n  settings:\n    - {patient: "
	 "P234567890123456789012345678901234567890123456789012345678901234X}\n",
	 "vigil.yaml:3:17: patients.settings[0].patient: longer than 64 bytes"},
	{"patients:\n  settings:\n    - {patient: P1, oxygen: o2}\n",
	 "vigil.yaml:3:29: patients.settings[0].oxygen: expected air or oxygen, got 'o2'"},
	{"patients:\n  settings:\n    - {patient: P1, acvpu: drowsy}\n",
	 "vigil.yaml:3:28: patients.settings[0].acvpu: expected alert, cvpu or one of A, C, V, P, "
	 "U, got 'drowsy'"},
	{"patients:\n  settings:\n    - {patient: P1, acvpu: x}\n",
	 "vigil.yaml:3:28: patients.settings[0].acvpu: expected alert, cvpu or one of A, C, V, P, "
	 "U, got 'x'"},
	{"patients:\n  settings:\n    - {patient: P1, scale: 3}\n",
	 "vigil.yaml:3:28: patients.settings[0].scale: 3 is not an SpO2 scale (1..2)"},
	{"patients:\n  settings:\n    - {patient: P1, scale: 0}\n",
	 "vigil.yaml:3:28: patients.settings[0].scale: 0 is not an SpO2 scale (1..2)"},
	{"patients:\n  settings:\n    - {patient: P1, spo2_scale: 2}\n",
	 "vigil.yaml:3:21: patients.settings[0]: unknown key 'spo2_scale' (known keys: patient, "
	 "oxygen, acvpu, scale)"},
	{"patients:\n  settings:\n    - {patient: P1}\n    - {patient: P2}\n    - {patient: P1}\n",
	 "vigil.yaml:5:17: patients.settings[2]: patient 'P1' is also patients.settings[0]"},
	{"patients:\n  max: 1\n  settings: [{patient: A}, {patient: B}]\n",
	 "vigil.yaml:3:13: patients.settings: 2 patients have settings, more than patients.max "
	 "(1)"},
	/* the settings of before_yaml stand: a max below their count is refused */
	{"patients:\n  max: 1\n",
	 "vigil.yaml:2:8: patients.max: 2 patients have settings, more than patients.max (1)"},
	/* duplicate keys */
	{"workers: 1\nworkers: 2\n", "vigil.yaml:2:1: duplicate key 'workers' (first on line 1)"},
	{"telemetry:\n  udp_checksum: true\n  udp_checksum: false\n",
	 "vigil.yaml:3:3: telemetry: duplicate key 'udp_checksum' (first on line 2)"},
	/* wrong types */
	{"workers: [1]\n", "vigil.yaml:1:10: workers: expected a number, got a list"},
	{"workers:\n", "vigil.yaml:1:9: workers: expected a number, got nothing"},
	{"eal: --no-pci\n", "vigil.yaml:1:6: eal: expected a list, got '--no-pci'"},
	{"eal: [[a]]\n", "vigil.yaml:1:7: eal[0]: expected a string, got a list"},
	{"ports: net_null0\n", "vigil.yaml:1:8: ports: expected a list, got 'net_null0'"},
	{"ports: [[a]]\n",
	 "vigil.yaml:1:9: ports[0]: expected a device string or a mapping, got a list"},
	{"ports:\n  -\n",
	 "vigil.yaml:2:4: ports[0]: expected a device string or a mapping, got nothing"},
	{"ports:\n  - device: net_null0\n    addresses: 192.0.2.1\n",
	 "vigil.yaml:3:16: ports[0].addresses: expected a list, got '192.0.2.1'"},
	{"telemetry: [2575]\n", "vigil.yaml:1:12: telemetry: expected a mapping, got a list"},
	{"telemetry:\n  udp_checksum: [true]\n",
	 "vigil.yaml:2:17: telemetry.udp_checksum: expected true or false, got a list"},
	{"- workers\n", "vigil.yaml:1:1: the top level must be a mapping (key: value), got a list"},
	{"workers\n",
	 "vigil.yaml:1:1: the top level must be a mapping (key: value), got 'workers'"},
	{"[a]: 1\n", "vigil.yaml:1:1: expected a key name, got a list"},
	/* numbers */
	{"workers: 0\n", "vigil.yaml:1:10: workers: 0 is out of range (1..64)"},
	{"workers: 65\n", "vigil.yaml:1:10: workers: 65 is out of range (1..64)"},
	{"workers: 99999999999999999999999\n",
	 "vigil.yaml:1:10: workers: 99999999999999999999999 is out of range (1..64)"},
	{"workers: abc\n", "vigil.yaml:1:10: workers: 'abc' is not a decimal number"},
	{"workers: -1\n", "vigil.yaml:1:10: workers: '-1' is not a decimal number"},
	{"workers: +1\n", "vigil.yaml:1:10: workers: '+1' is not a decimal number"},
	{"workers: 0x10\n", "vigil.yaml:1:10: workers: '0x10' is not a decimal number"},
	{"workers: 010\n", "vigil.yaml:1:10: workers: '010' is not a decimal number"},
	{"workers: 1.5\n", "vigil.yaml:1:10: workers: '1.5' is not a decimal number"},
	{"workers: \"\"\n", "vigil.yaml:1:10: workers: '' is not a decimal number"},
	{"workers: \"1\\n\"\n", "vigil.yaml:1:10: workers: '1\\x0a' is not a decimal number"},
	{"rx_desc: 1000\n", "vigil.yaml:1:10: rx_desc: 1000 is not a power of two (64..16384)"},
	{"rx_desc: 32768\n", "vigil.yaml:1:10: rx_desc: 32768 is out of range (64..16384)"},
	{"tx_desc: 32\n", "vigil.yaml:1:10: tx_desc: 32 is out of range (64..16384)"},
	{"mempool:\n  cache: 513\n",
	 "vigil.yaml:2:10: mempool.cache: 513 is out of range (0..512)"},
	{"mempool:\n  mbufs: 16777217\n",
	 "vigil.yaml:2:10: mempool.mbufs: 16777217 is out of range (0..16777216)"},
	{"mempool:\n  mbufs: 383\n",
	 "vigil.yaml:2:10: mempool.mbufs: 383 mbufs cannot feed a cache of 256 (DPDK needs mbufs "
	 ">= 1.5 x cache = 384; raise mbufs or lower cache)"},
	{"stats_interval: 86401\n",
	 "vigil.yaml:1:17: stats_interval: 86401 is out of range (0..86400)"},
	/* booleans */
	{"promiscuous: maybe\n",
	 "vigil.yaml:1:14: promiscuous: 'maybe' is not a boolean (true/false, yes/no, on/off)"},
	{"promiscuous: 1\n",
	 "vigil.yaml:1:14: promiscuous: '1' is not a boolean (true/false, yes/no, on/off)"},
	/* telemetry ports */
	{"telemetry:\n  hl7_ports: [2575, 70000]\n",
	 "vigil.yaml:2:21: telemetry.hl7_ports[1]: 70000 is not a UDP port (1..65535)"},
	{"telemetry:\n  vtp_ports: [0]\n",
	 "vigil.yaml:2:15: telemetry.vtp_ports[0]: 0 is not a UDP port (1..65535)"},
	{"telemetry:\n  hl7_ports: [1, 2, 3, 4, 5, 6, 7, 8, 9]\n",
	 "vigil.yaml:2:39: telemetry.hl7_ports[8]: more than 8 ports"},
	{"telemetry:\n  hl7_ports: []\n",
	 "vigil.yaml:2:14: telemetry.hl7_ports: at least 1 port is required"},
	{"telemetry:\n  hl7_ports: [2575, 2575]\n",
	 "vigil.yaml:2:21: telemetry.hl7_ports[1]: 2575 is listed twice"},
	{"telemetry:\n  vtp_ports: [4575, 2575]\n",
	 "vigil.yaml:2:21: telemetry.vtp_ports[1]: 2575 is also an HL7 port"},
	{"telemetry:\n  hl7_ports: [4575]\n",
	 "vigil.yaml:2:15: telemetry.hl7_ports[0]: 4575 is also a VTP port"},
	/* ports and addresses */
	{"ports:\n  - device: net_null0\n    addresses: [192.0.2.1, \"2001:db8::1\", 10.0.0.300]\n",
	 "vigil.yaml:3:43: ports[0].addresses[2]: '10.0.0.300' is not an IPv4 or IPv6 address"},
	{"ports:\n  - device: net_null0\n    addresses: [fe80::1%eth0]\n",
	 "vigil.yaml:3:17: ports[0].addresses[0]: 'fe80::1%eth0' is not an IPv4 or IPv6 address"},
	{"ports:\n  - device: n\n    addresses: [192.0.2.1, 192.0.2.1]\n",
	 "vigil.yaml:3:28: ports[0].addresses[1]: 192.0.2.1 is listed twice"},
	{"ports:\n  - device: n\n    addresses: [224.0.0.1]\n",
	 "vigil.yaml:3:17: ports[0].addresses[0]: 224.0.0.1 cannot be the appliance's own address "
	 "(unspecified, broadcast or multicast)"},
	{"ports:\n  - device: n\n    addresses: [\"::\"]\n",
	 "vigil.yaml:3:17: ports[0].addresses[0]: :: cannot be the appliance's own address "
	 "(unspecified or multicast)"},
	{"ports:\n  - device: n\n    addresses: [10.0.0.1, 10.0.0.2, 10.0.0.3, 10.0.0.4, "
	 "10.0.0.5, 10.0.0.6, 10.0.0.7, 10.0.0.8, 10.0.0.9]\n",
	 "vigil.yaml:3:97: ports[0].addresses[8]: more than 8 IPv4 addresses"},
	{"ports: [net_null0, net_null1, net_null2, net_null3, net_null4, net_null5, net_null6, "
	 "net_null7, net_null8]\n",
	 "vigil.yaml:1:97: ports[8]: more than 8 ports"},
	{"ports:\n  - addresses: [192.0.2.1]\n", "vigil.yaml:2:5: ports[0]: 'device' is required"},
	{"ports:\n  - device: \"\"\n", "vigil.yaml:2:13: ports[0].device: must not be empty"},
	{"ports: [\"net\\0null\"]\n", "vigil.yaml:1:9: ports[0]: contains a NUL character"},
	{"ports: [\"net_pcap0,rx_pcap=a.pcap\", \"net_pcap0,rx_pcap=b.pcap\"]\n",
	 "vigil.yaml:1:37: ports[1]: device 'net_pcap0' is also ports[0]"},
	/* eal */
	{"eal: [\"--no-pci\", \"\"]\n", "vigil.yaml:1:19: eal[1]: must not be empty"},
	/* YAML itself */
	{"workers: [1, 2\n", "vigil.yaml:2:1: did not find expected ',' or ']' (while parsing a "
			     "flow sequence at 1:10)"},
	{"a: 1\n b: 2\n", "vigil.yaml:2:3: mapping values are not allowed in this context"},
	{"\tworkers: 1\n", "vigil.yaml:1:1: found character that cannot start any token (while "
			   "scanning for the next token)"},
	{"workers: 1\n\xff\n", "vigil.yaml:2:1: invalid leading UTF-8 octet (byte 0xff)"},
	{"workers: *x\n", "vigil.yaml:1:10: found undefined alias"},
	{"workers: 2\n---\nworkers: 3\n",
	 "vigil.yaml:3:1: a second YAML document; vigil reads only one"},
};

/*
 * Each bad file fails with -EINVAL and its exact message, and leaves the
 * configuration it was loaded over exactly as it was.
 */
static void
test_errors(void)
{
	static const char before_yaml[] =
		"workers: 7\nports: [net_null0]\n"
		"telemetry: {udp_checksum: false, allow: [10.9.0.0/16, \"fd00::/8\"]}\n"
		"registry: {devices: 99}\nevents: {alarm_ring: 128, telemetry_ring: 256}\n"
		"storage: {dir: /srv/db, compression: none, retention: {obs: 1d}, key_file: k}\n"
		"alarms: {log: /x/alarms.json, hold: 5m, device_silent: off, "
		"priority: {storage: medium}}\n"
		"patients: {max: 50, stale: {temp: 4h}, sources: {spo2: [SPO2]},\n"
		"  settings: [{patient: B1, oxygen: air}, {patient: B2, scale: 2}]}\n";
	struct cp_config before, c;
	char err[ERR_LEN];
	size_t i;
	int rc;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&before), 0);
	CU_ASSERT_EQUAL_FATAL(load(&before, before_yaml, err), 0);
	for (i = 0; i < sizeof(error_cases) / sizeof(error_cases[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		CU_ASSERT_EQUAL_FATAL(load(&c, before_yaml, err), 0);
		strcpy(err, "(untouched)");
		rc = load(&c, error_cases[i].yaml, err);
		CU_ASSERT_EQUAL(rc, -EINVAL);
		CU_ASSERT_STRING_EQUAL(err, error_cases[i].message);
		if (rc != -EINVAL || strcmp(err, error_cases[i].message) != 0)
			fprintf(stderr,
				"\nerror case %zu: rc %d\n  got      '%s'\n  expected '%s'\n", i,
				rc, err, error_cases[i].message);
		assert_same(&c, &before);
		cp_config_free(&c);
	}
	cp_config_free(&before);
}

/* 65 EAL arguments: the 65th is refused, at its column. */
static void
test_error_too_many_eal(void)
{
	char yaml[512], expected[128], err[ERR_LEN];
	struct cp_config c;
	size_t o, i;

	o = (size_t)snprintf(yaml, sizeof(yaml), "eal: [");
	for (i = 0; i <= CP_MAX_EAL_ARGS; i++)
		o += (size_t)snprintf(yaml + o, sizeof(yaml) - o, "%sx", i > 0 ? ", " : "");
	snprintf(yaml + o, sizeof(yaml) - o, "]\n");
	/* item i starts at column 7 + 3 i */
	snprintf(expected, sizeof(expected), "vigil.yaml:1:%d: eal[%d]: more than %d EAL arguments",
		 7 + 3 * CP_MAX_EAL_ARGS, CP_MAX_EAL_ARGS, CP_MAX_EAL_ARGS);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, yaml, err), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, expected);
	assert_defaults(&c);
	cp_config_free(&c);
}

static void
test_error_files(void)
{
	char err[ERR_LEN], dir[] = "/tmp/vigil-test-dir-XXXXXX";
	struct cp_config c;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_load(&c, "/nonexistent/vigil.yaml", err, sizeof(err)), -ENOENT);
	CU_ASSERT_STRING_EQUAL(err, "/nonexistent/vigil.yaml: No such file or directory");
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	CU_ASSERT_EQUAL(cp_config_load(&c, dir, err, sizeof(err)), -EISDIR);
	CU_ASSERT_TRUE(strlen(err) > strlen(dir) &&
		       strcmp(err + strlen(dir), ": Is a directory") == 0);
	rmdir(dir);
	assert_defaults(&c);
	CU_ASSERT_PTR_NULL(c.path);
	/* the file name in errors is the path given */
	CU_ASSERT_EQUAL(
		cp_config_load_string(&c, "x: 1\n", 5, "/etc/vigil/vigil.yaml", err, sizeof(err)),
		-EINVAL);
	CU_ASSERT_EQUAL(strncmp(err, "/etc/vigil/vigil.yaml:1:1: unknown key 'x'", 42), 0);
	/* a short error buffer is cut, still terminated; none at all is allowed */
	CU_ASSERT_EQUAL(cp_config_load_string(&c, "x: 1\n", 5, "vigil.yaml", err, 12), -EINVAL);
	CU_ASSERT_STRING_EQUAL(err, "vigil.yaml:");
	CU_ASSERT_EQUAL(cp_config_load_string(&c, "x: 1\n", 5, "vigil.yaml", NULL, 0), -EINVAL);
	cp_config_free(&c);
}

/* ------------------------------------------------------------------------ */
/* Printing                                                                  */
/* ------------------------------------------------------------------------ */

/* Print @p c, load the text over fresh defaults, and compare. */
static void
round_trip(const struct cp_config *c)
{
	char *text = NULL, err[ERR_LEN] = "";
	struct cp_config back;
	size_t len = 0;
	FILE *f;

	f = open_memstream(&text, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	cp_config_print(c, f);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&back), 0);
	CU_ASSERT_EQUAL(cp_config_load_string(&back, text, len, "printed", err, sizeof(err)), 0);
	if (err[0] != '\0')
		fprintf(stderr, "\nround trip: %s\n%s", err, text);
	assert_same(&back, c);
	cp_config_free(&back);
	free(text);
}

static void
test_print_round_trip(void)
{
	struct cp_config c;
	char err[ERR_LEN];

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	round_trip(&c);
	CU_ASSERT_EQUAL(load(&c, full_yaml, err), 0);
	round_trip(&c);
	/* strings that need escaping, an empty eal list, no VTP ports */
	CU_ASSERT_EQUAL(load(&c, "eal: []\ntelemetry: {vtp_ports: []}\n", err), 0);
	CU_ASSERT_EQUAL(cp_config_add_port(&c, "net_null9,x=\"q\\u\"\t'# - : [z]'"), 0);
	CU_ASSERT_EQUAL(c.n_eal, 0);
	CU_ASSERT_EQUAL(c.n_ports, 4);
	round_trip(&c);
	/* storage off, every duration unit, a key file that needs quoting */
	CU_ASSERT_EQUAL(load(&c,
			     "storage: {dir: null, retention: {obs: 90m, alarms: 45s, audit: 25h}, "
			     "key_file: \"/k #1\"}\n",
			     err),
			0);
	CU_ASSERT_PTR_NULL(c.storage_dir);
	round_trip(&c);
	/* no alarm log, the technical alarms off, every SpO2 scale and ACVPU form */
	CU_ASSERT_EQUAL(load(&c,
			     "alarms: {log: null, device_silent: off, decode_errors: {count: 0}}\n"
			     "patients:\n  settings:\n"
			     "    - {patient: \"P #1: [x]\", oxygen: air, acvpu: u}\n"
			     "    - {patient: P2, acvpu: alert, scale: 2}\n"
			     "    - {patient: P3}\n",
			     err),
			0);
	CU_ASSERT_PTR_NULL(c.alarm_log);
	CU_ASSERT_EQUAL(c.n_patient_settings, 3);
	round_trip(&c);
	cp_config_free(&c);
}

static void
test_print_text(void)
{
	static const char expected[] =
		"# vigil configuration: every key with the value in force\n"
		"eal: [\"--no-pci\", \"--no-huge\", \"--no-shconf\", \"-m\", \"512\"]\n"
		"workers: 1\n"
		"ports:\n"
		"  - device: \"net_pcap0,rx_pcap=a \\\"b\\\".pcap\"\n"
		"    addresses: [\"192.0.2.1\", \"2001:db8::1\"]\n"
		"telemetry:\n"
		"  hl7_ports: [2575]\n"
		"  vtp_ports: [4575]\n"
		"  udp_checksum: true\n"
		"  vtp_devices: 131072\n"
		"  allow: [\"10.20.0.0/16\", \"fd00:20::/48\", \"10.21.4.17/32\"]\n"
		"mempool:\n"
		"  mbufs: 0\n"
		"  cache: 256\n"
		"rx_desc: 1024\n"
		"tx_desc: 1024\n"
		"promiscuous: true\n"
		"stats_interval: 0\n"
		"rules:\n"
		"  files: [\"/etc/vigil/clinical.rules\"]\n"
		"  vars:\n"
		"    DEVICE_NETS: \"[10.0.0.0/8, !10.9.0.0/16]\"\n"
		"  cache_dir: null\n"
		"  max_errors: 20\n"
		"registry:\n"
		"  devices: 16384\n"
		"events:\n"
		"  alarm_ring: 16384\n"
		"  telemetry_ring: 65536\n"
		"storage:\n"
		"  dir: \"/var/lib/vigil/db\"\n"
		"  block_cache_mb: 64\n"
		"  write_buffer_mb: 64\n"
		"  compression: lz4\n"
		"  batch_records: 4096\n"
		"  batch_ms: 100\n"
		"  retention:\n"
		"    obs: 7d\n"
		"    alarms: 365d\n"
		"    audit: 0\n"
		"  key_file: null\n"
		"alarms:\n"
		"  log: \"/var/log/vigil/alarms.json\"\n"
		"  hold: 1m\n"
		"  silence: 2m\n"
		"  conditions: 65536\n"
		"  device_silent: 30s\n"
		"  decode_errors: {count: 10, seconds: 60}\n"
		"  priority:\n"
		"    device_silent: medium\n"
		"    sequence_gap: low\n"
		"    decode_errors: low\n"
		"    event_loss: high\n"
		"    storage: high\n"
		"    reload: medium\n"
		"patients:\n"
		"  max: 4096\n"
		"  stale:\n"
		"    pulse: 1m\n"
		"    spo2: 1m\n"
		"    rr: 1m\n"
		"    sbp: 1h\n"
		"    temp: 1h\n"
		"    other: 1h\n"
		"  sources:\n"
		"    pulse: [HR, PULSE, PLETH_RATE, PULSE_NIBP, PULSE_IBP, PULSE_GENERIC]\n"
		"    spo2: [SPO2]\n"
		"    rr: [RR, RR_IMP, RR_CO2, RR_AWAY]\n"
		"    sbp: [ART_SYS, ABP_SYS, NIBP_SYS, CUFF_SYS]\n"
		"    temp: [TEMP_CORE, TEMP, TEMP_BODY, TEMP_TYMP, TEMP_EAR, TEMP_ORAL, TEMP_RECT, "
		"TEMP_AXILLA]\n"
		"  settings:\n"
		"    - {patient: \"PAT \\\"3\\\"\", oxygen: air, acvpu: cvpu, scale: 2}\n"
		"    - {patient: \"PAT7\", scale: 1}\n"
		"control:\n"
		"  socket: \"/run/vigil/vigild.sock\"\n"
		"  mode: \"0660\"\n"
		"  group: null\n"
		"  max_clients: 256\n"
		"  roles:\n"
		"    admin: []\n"
		"    operator: [\"@icu\", \"1000\"]\n"
		"    viewer: []\n"
		"audit:\n"
		"  key_file: null\n"
		"metrics:\n"
		"  listen: \"[::1]:9650\"\n"
		"backup:\n"
		"  dir: \"/var/lib/vigil/backup\"\n";
	static const char *const files[] = {"/etc/vigil/clinical.rules"};
	char *text = NULL, err[ERR_LEN];
	struct cp_config c;
	size_t len = 0;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_add_port(&c, "net_pcap0,rx_pcap=a \"b\".pcap"), 0);
	c.port[0].n_ipv4 = 1;
	c.port[0].ipv4[0] = htonl(0xc0000201);
	c.port[0].n_ipv6 = 1;
	memcpy(c.port[0].ipv6[0], ipv6_2001_db8_1, 16);
	CU_ASSERT_EQUAL(cp_config_set_rule_files(&c, files, 1), 0);
	CU_ASSERT_EQUAL(
		load(&c, "rules: {vars: {DEVICE_NETS: '[10.0.0.0/8, !10.9.0.0/16]'}}\n", err), 0);
	CU_ASSERT_EQUAL(
		load(&c, "telemetry: {allow: [10.20.0.0/16, 'fd00:20::/48', 10.21.4.17]}\n", err),
		0);
	CU_ASSERT_EQUAL(load(&c,
			     "patients: {settings: [{patient: 'PAT \"3\"', oxygen: air, acvpu: P, "
			     "scale: 2}, {patient: PAT7}]}\n",
			     err),
			0);
	CU_ASSERT_EQUAL(load(&c,
			     "control: {roles: {operator: ['@icu', 1000]}}\n"
			     "metrics: {listen: '[::1]:9650'}\n",
			     err),
			0);
	f = open_memstream(&text, &len);
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	cp_config_print(&c, f);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_STRING_EQUAL(text, expected);
	free(text);
	cp_config_free(&c);
}

/*
 * The rules section: relative files are taken from the config file's
 * directory (a string has none: they stay as given), vars accumulate over
 * loads with the later value winning, and --rules replaces the list.
 */
static void
test_rules_section(void)
{
	static const char yaml[] = "rules:\n"
				   "  files: [clinical.rules, /abs/network.rules]\n"
				   "  vars: {DEVICE_NETS: '[10.0.0.0/8]', TELEMETRY_PORTS: 2575}\n"
				   "  cache_dir: cache\n"
				   "  max_errors: 5\n";
	static const char *const cli[] = {"a.rules", "b.rules"};
	char dir[] = "/tmp/vigil-test-config-XXXXXX", path[128], err[ERR_LEN] = "";
	struct rule_var vars[CP_MAX_RULE_VARS];
	struct rule_load_opts opts;
	struct cp_config c;
	FILE *f;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(c.n_rule_files, 0);
	CU_ASSERT_PTR_NULL(c.rules_cache_dir);
	CU_ASSERT_EQUAL(c.rules_max_errors, RULE_MAX_ERRORS_DEFAULT);
	CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
	CU_ASSERT_EQUAL(c.n_rule_files, 2);
	CU_ASSERT_STRING_EQUAL(c.rule_files[0], "clinical.rules");
	CU_ASSERT_STRING_EQUAL(c.rule_files[1], "/abs/network.rules");
	CU_ASSERT_STRING_EQUAL(c.rules_cache_dir, "cache");
	CU_ASSERT_EQUAL(c.rules_max_errors, 5);
	CU_ASSERT_EQUAL_FATAL(c.n_rule_vars, 2);
	CU_ASSERT_STRING_EQUAL(c.rule_var[1].name, "TELEMETRY_PORTS");
	CU_ASSERT_STRING_EQUAL(c.rule_var[1].value, "2575");

	CU_ASSERT_EQUAL(load(&c, "rules: {vars: {TELEMETRY_PORTS: '[2575, 4575]', X: any}}\n", err),
			0);
	CU_ASSERT_EQUAL_FATAL(c.n_rule_vars, 3);
	CU_ASSERT_STRING_EQUAL(c.rule_var[0].value, "[10.0.0.0/8]");
	CU_ASSERT_STRING_EQUAL(c.rule_var[1].value, "[2575, 4575]");
	CU_ASSERT_STRING_EQUAL(c.rule_var[2].name, "X");

	cp_config_rule_opts(&c, &opts, vars);
	CU_ASSERT_EQUAL(opts.n_files, 2);
	CU_ASSERT_STRING_EQUAL(opts.files[1], "/abs/network.rules");
	CU_ASSERT_EQUAL(opts.n_vars, 3);
	CU_ASSERT_STRING_EQUAL(opts.vars[1].name, "TELEMETRY_PORTS");
	CU_ASSERT_STRING_EQUAL(opts.cache_dir, "cache");
	CU_ASSERT_EQUAL(opts.max_errors, 5);

	CU_ASSERT_EQUAL(cp_config_set_rule_files(&c, cli, 2), 0);
	CU_ASSERT_EQUAL(c.n_rule_files, 2);
	CU_ASSERT_STRING_EQUAL(c.rule_files[0], "a.rules");
	cp_config_free(&c);

	/* From a file: relative paths are the file's directory's. */
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vigil.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(yaml, f);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_load(&c, path, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/clinical.rules", dir);
	CU_ASSERT_STRING_EQUAL(c.rule_files[0], path);
	CU_ASSERT_STRING_EQUAL(c.rule_files[1], "/abs/network.rules");
	snprintf(path, sizeof(path), "%s/cache", dir);
	CU_ASSERT_STRING_EQUAL(c.rules_cache_dir, path);
	cp_config_free(&c);
	snprintf(path, sizeof(path), "%s/vigil.yaml", dir);
	unlink(path);
	rmdir(dir);
}

/*
 * The storage section: storage.dir null or "" is storage off, a relative
 * dir or key file is the config file's directory's, every duration unit,
 * and cp_config_store_opts hands all of it to the store.
 */
static void
test_storage_section(void)
{
	static const struct {
		const char *text;
		int64_t seconds;
	} durations[] = {
		{"0", 0},
		{"1s", 1},
		{"45s", 45},
		{"90m", 5400},
		{"12h", 43200},
		{"7d", 604800},
		{"2w", 1209600},
		{"36500d", 3153600000LL},
		{"5214w", 5214 * 604800LL},
	};
	static const struct {
		int64_t seconds;
		const char *text;
	} formats[] = {
		{0, "0"},	  {45, "45s"},	      {60, "1m"},
		{5400, "90m"},	  {90000, "25h"},     {86400, "1d"},
		{1209600, "14d"}, {31536000, "365d"}, {86401, "86401s"},
	};
	static const char *const offs[] = {"storage: {dir: null}\n", "storage: {dir: ~}\n",
					   "storage: {dir: \"\"}\n", "storage:\n  dir:\n"};
	static const char yaml[] = "storage:\n  dir: db\n  key_file: keys/vigil.keys\n";
	char dir[] = "/tmp/vigil-test-config-XXXXXX", path[128], err[ERR_LEN] = "", yaml2[64];
	char buf[32];
	struct store_opts opts;
	struct cp_config c;
	size_t i;
	FILE *f;

	/* off, in every spelling; a later load without dir keeps it off */
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		CU_ASSERT_EQUAL(load(&c, offs[i], err), 0);
		CU_ASSERT_PTR_NULL(c.storage_dir);
		CU_ASSERT_TRUE(c.storage_dir_given);
		CU_ASSERT_EQUAL(load(&c, "storage: {batch_ms: 5}\n", err), 0);
		CU_ASSERT_PTR_NULL(c.storage_dir);
		cp_config_store_opts(&c, &opts);
		CU_ASSERT_PTR_NULL(opts.dir);
		cp_config_free(&c);
	}

	/* durations, each unit */
	for (i = 0; i < sizeof(durations) / sizeof(durations[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		snprintf(yaml2, sizeof(yaml2), "storage: {retention: {alarms: %s}}\n",
			 durations[i].text);
		CU_ASSERT_EQUAL(load(&c, yaml2, err), 0);
		CU_ASSERT_EQUAL(c.storage_retain_s[STORE_CF_ALARMS], durations[i].seconds);
		/* the others keep their defaults */
		CU_ASSERT_EQUAL(c.storage_retain_s[STORE_CF_OBS], STORE_RETAIN_OBS_DEFAULT);
		CU_ASSERT_EQUAL(c.storage_retain_s[STORE_CF_AUDIT], STORE_RETAIN_AUDIT_DEFAULT);
		cp_config_free(&c);
	}
	for (i = 0; i < sizeof(formats) / sizeof(formats[0]); i++)
		CU_ASSERT_STRING_EQUAL(cp_duration_format(formats[i].seconds, buf, sizeof(buf)),
				       formats[i].text);
	CU_ASSERT_STRING_EQUAL(cp_compression_name(STORE_COMPRESS_NONE), "none");
	CU_ASSERT_STRING_EQUAL(cp_compression_name(STORE_COMPRESS_LZ4), "lz4");
	CU_ASSERT_STRING_EQUAL(cp_compression_name(STORE_COMPRESS_ZSTD), "zstd");
	CU_ASSERT_STRING_EQUAL(cp_compression_name(STORE_COMPRESS_SNAPPY), "snappy");

	/* the options the store gets */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, full_yaml, err), 0);
	memset(&opts, 0xa5, sizeof(opts));
	cp_config_store_opts(&c, &opts);
	CU_ASSERT_PTR_EQUAL(opts.dir, c.storage_dir);
	CU_ASSERT_EQUAL(opts.mode, STORE_READ_WRITE);
	CU_ASSERT_PTR_NULL(opts.secondary_dir);
	CU_ASSERT_EQUAL(opts.block_cache_mb, 256);
	CU_ASSERT_EQUAL(opts.write_buffer_mb, 32);
	CU_ASSERT_EQUAL(opts.compression, STORE_COMPRESS_ZSTD);
	CU_ASSERT_EQUAL(opts.batch_records, 1000);
	CU_ASSERT_EQUAL(opts.batch_ms, 250);
	CU_ASSERT_EQUAL(opts.retain_s[STORE_CF_OBS], 12 * 3600);
	CU_ASSERT_EQUAL(opts.retain_s[STORE_CF_ALARMS], 14 * 86400);
	CU_ASSERT_EQUAL(opts.retain_s[STORE_CF_AUDIT], 3650 * 86400LL);
	CU_ASSERT_EQUAL(opts.retain_s[STORE_CF_META], 0);
	CU_ASSERT_PTR_EQUAL(opts.key_file, c.storage_key_file);
	CU_ASSERT_PTR_NULL(opts.clock);
	cp_config_free(&c);

	/* From a string, relative paths stay as given ... */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
	CU_ASSERT_STRING_EQUAL(c.storage_dir, "db");
	CU_ASSERT_STRING_EQUAL(c.storage_key_file, "keys/vigil.keys");
	/* ... null takes the key file away again */
	CU_ASSERT_EQUAL(load(&c, "storage: {key_file: null}\n", err), 0);
	CU_ASSERT_PTR_NULL(c.storage_key_file);
	CU_ASSERT_STRING_EQUAL(c.storage_dir, "db");
	cp_config_free(&c);

	/* ... from a file, they are the file's directory's */
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vigil.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs(yaml, f);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_load(&c, path, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/db", dir);
	CU_ASSERT_STRING_EQUAL(c.storage_dir, path);
	snprintf(path, sizeof(path), "%s/keys/vigil.keys", dir);
	CU_ASSERT_STRING_EQUAL(c.storage_key_file, path);
	CU_ASSERT_TRUE(c.storage_dir_given);
	cp_config_free(&c);
	snprintf(path, sizeof(path), "%s/vigil.yaml", dir);
	unlink(path);
	rmdir(dir);
}

/*
 * The alarms section: every duration form, off for the device-silent
 * alarm, each technical condition's priority by its cp_tech_name, and the
 * alarm log: null or "" is none, a relative path is the config file's
 * directory's, and a later load that does not name it keeps it.
 */
static void
test_alarms_section(void)
{
	static const struct {
		const char *text;
		unsigned seconds;
	} spans[] = {
		{"1s", 1}, {"90s", 90}, {"2m", 120}, {"1h", 3600}, {"1d", 86400}, {"86400s", 86400},
	};
	static const char *const offs[] = {"0", "off"};
	static const char *const no_logs[] = {"alarms: {log: null}\n", "alarms: {log: ~}\n",
					      "alarms: {log: \"\"}\n", "alarms:\n  log:\n"};
	char dir[] = "/tmp/vigil-test-config-XXXXXX", path[128], yaml[160], err[ERR_LEN] = "";
	struct cp_config c;
	unsigned t, p, u;
	size_t i;
	FILE *f;

	for (i = 0; i < sizeof(spans) / sizeof(spans[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		snprintf(yaml, sizeof(yaml), "alarms: {hold: %s, silence: %s, device_silent: %s}\n",
			 spans[i].text, spans[i].text, spans[i].text);
		CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
		CU_ASSERT_EQUAL(c.alarm_hold_s, spans[i].seconds);
		CU_ASSERT_EQUAL(c.alarm_silence_s, spans[i].seconds);
		CU_ASSERT_EQUAL(c.device_silent_s, spans[i].seconds);
		cp_config_free(&c);
	}
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		snprintf(yaml, sizeof(yaml), "alarms: {device_silent: %s}\n", offs[i]);
		CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
		CU_ASSERT_EQUAL(c.device_silent_s, 0);
		CU_ASSERT_EQUAL(c.alarm_hold_s, 60);
		cp_config_free(&c);
	}

	/* table size and the decode-error rate at both ends; count 0 turns it off */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, "alarms: {conditions: 1, decode_errors: {count: 0}}\n", err), 0);
	CU_ASSERT_EQUAL(c.alarm_conditions, 1);
	CU_ASSERT_EQUAL(c.decode_errors_count, 0);
	CU_ASSERT_EQUAL(c.decode_errors_s, 60);
	CU_ASSERT_EQUAL(load(&c,
			     "alarms: {conditions: 16777216, decode_errors: {count: 1000000, "
			     "seconds: 86400}}\n",
			     err),
			0);
	CU_ASSERT_EQUAL(c.alarm_conditions, 16777216);
	CU_ASSERT_EQUAL(c.decode_errors_count, 1000000);
	CU_ASSERT_EQUAL(c.decode_errors_s, 86400);
	CU_ASSERT_EQUAL(load(&c, "alarms: {decode_errors: {seconds: 1}}\n", err), 0);
	CU_ASSERT_EQUAL(c.decode_errors_count, 1000000);
	CU_ASSERT_EQUAL(c.decode_errors_s, 1);
	cp_config_free(&c);

	/* each condition, each priority: only that one changes */
	for (t = 0; t < CP_TECH__COUNT; t++) {
		for (p = RULE_PRIO_LOW; p <= RULE_PRIO_HIGH; p++) {
			CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
			snprintf(yaml, sizeof(yaml), "alarms:\n  priority:\n    %s: %s\n",
				 cp_tech_name((enum cp_tech)t),
				 rule_priority_name((enum rule_priority)p));
			CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
			for (u = 0; u < CP_TECH__COUNT; u++)
				CU_ASSERT_EQUAL(c.tech_priority[u],
						u == t ? p
						       : (unsigned)cp_tech_default_priority(
								 (enum cp_tech)u));
			cp_config_free(&c);
		}
	}

	/* no log, in every spelling; a later load without log keeps none */
	for (i = 0; i < sizeof(no_logs) / sizeof(no_logs[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		CU_ASSERT_FALSE(c.alarm_log_given);
		CU_ASSERT_EQUAL(load(&c, no_logs[i], err), 0);
		CU_ASSERT_PTR_NULL(c.alarm_log);
		CU_ASSERT_TRUE(c.alarm_log_given);
		CU_ASSERT_EQUAL(load(&c, "alarms: {hold: 2m}\n", err), 0);
		CU_ASSERT_PTR_NULL(c.alarm_log);
		CU_ASSERT_TRUE(c.alarm_log_given);
		cp_config_free(&c);
	}
	/* the default path, given explicitly, counts as given */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, "alarms: {log: /var/log/vigil/alarms.json}\n", err), 0);
	CU_ASSERT_STRING_EQUAL(c.alarm_log, CP_ALARM_LOG);
	CU_ASSERT_TRUE(c.alarm_log_given);
	/* from a string, a relative path stays as given */
	CU_ASSERT_EQUAL(load(&c, "alarms: {log: log/alarms.json}\n", err), 0);
	CU_ASSERT_STRING_EQUAL(c.alarm_log, "log/alarms.json");
	cp_config_free(&c);

	/* from a file, it is the file's directory's; an absolute one stays */
	CU_ASSERT_PTR_NOT_NULL_FATAL(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vigil.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("alarms:\n  log: log/alarms.json\n", f);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_load(&c, path, err, sizeof(err)), 0);
	snprintf(path, sizeof(path), "%s/log/alarms.json", dir);
	CU_ASSERT_STRING_EQUAL(c.alarm_log, path);
	CU_ASSERT_TRUE(c.alarm_log_given);
	cp_config_free(&c);
	snprintf(path, sizeof(path), "%s/vigil.yaml", dir);
	f = fopen(path, "w");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	fputs("alarms:\n  log: /abs/alarms.json\n", f);
	CU_ASSERT_EQUAL(fclose(f), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_load(&c, path, err, sizeof(err)), 0);
	CU_ASSERT_STRING_EQUAL(c.alarm_log, "/abs/alarms.json");
	cp_config_free(&c);
	unlink(path);
	rmdir(dir);
}

/* patients.sources.<vital> is @p names, in that order, and nothing after. */
static void
assert_sources(const struct cp_config *c, enum cp_news2_param p, const char *const *names,
	       unsigned n)
{
	unsigned i;

	for (i = 0; i < n; i++)
		CU_ASSERT_EQUAL(c->patients.source[p][i], code_of(names[i]));
	if (n < CP_PATIENT_SOURCES)
		CU_ASSERT_EQUAL(c->patients.source[p][n], 0);
}

/*
 * The patients section: stale ages per vital, source lists (replaced
 * whole, per vital; names in any case; up to CP_PATIENT_SOURCES), and the
 * settings list in every form, replaced whole by a later load.
 */
static void
test_patients_section(void)
{
	static const char *const temps[] = {"TEMP_EAR",	 "TEMP",      "TEMP_BODY", "TEMP_CORE",
					    "TEMP_TYMP", "TEMP_ORAL", "TEMP_RECT", "TEMP_AXILLA"};
	static const char *const pulse[] = {"PLETH_RATE", "HR"};
	static const char *const rr[] = {"RR_IMP"};
	static const struct {
		const char *text;
		uint8_t acvpu;
	} acvpus[] = {
		{"alert", CP_ACVPU_ALERT}, {"A", CP_ACVPU_ALERT}, {"a", CP_ACVPU_ALERT},
		{"cvpu", CP_ACVPU_CVPU},   {"C", CP_ACVPU_CVPU},  {"v", CP_ACVPU_CVPU},
		{"P", CP_ACVPU_CVPU},	   {"u", CP_ACVPU_CVPU},  {"U", CP_ACVPU_CVPU},
	};
	const int64_t s = 1000000000;
	struct cp_patient_opts defaults;
	char yaml[160], err[ERR_LEN] = "";
	struct cp_config c;
	size_t i;

	cp_patient_opts_defaults(&defaults);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c,
			     "patients:\n  max: 1\n  stale: {spo2: 1s, other: 7d}\n"
			     "  sources: {temp: [temp_ear, TEMP, TEMP_BODY, TEMP_CORE, TEMP_TYMP, "
			     "TEMP_ORAL, TEMP_RECT, TEMP_AXILLA], pulse: [Pleth_Rate, HR]}\n",
			     err),
			0);
	CU_ASSERT_STRING_EQUAL(err, "");
	CU_ASSERT_EQUAL(c.patients.max_patients, 1);
	CU_ASSERT_EQUAL(c.patients.stale_ns[CP_N2_SPO2], 1 * s);
	CU_ASSERT_EQUAL(c.patients.metric_stale_ns, 7 * 86400 * s);
	CU_ASSERT_EQUAL(c.patients.stale_ns[CP_N2_PULSE], defaults.stale_ns[CP_N2_PULSE]);
	assert_sources(&c, CP_N2_TEMP, temps, 8);
	assert_sources(&c, CP_N2_PULSE, pulse, 2);
	/* the vitals not named keep theirs */
	CU_ASSERT_EQUAL(memcmp(c.patients.source[CP_N2_SBP], defaults.source[CP_N2_SBP],
			       sizeof(defaults.source[CP_N2_SBP])),
			0);
	/* a later load replaces one list whole and leaves the others */
	CU_ASSERT_EQUAL(load(&c, "patients: {sources: {rr: [RR_IMP]}, max: 1048576}\n", err), 0);
	assert_sources(&c, CP_N2_RR, rr, 1);
	assert_sources(&c, CP_N2_PULSE, pulse, 2);
	CU_ASSERT_EQUAL(c.patients.max_patients, 1048576);
	cp_config_free(&c);

	/* every ACVPU spelling; oxygen and scale; each key but patient optional */
	for (i = 0; i < sizeof(acvpus) / sizeof(acvpus[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		snprintf(yaml, sizeof(yaml),
			 "patients:\n  settings:\n    - {patient: P, acvpu: %s}\n", acvpus[i].text);
		CU_ASSERT_EQUAL(load(&c, yaml, err), 0);
		CU_ASSERT_EQUAL_FATAL(c.n_patient_settings, 1);
		CU_ASSERT_EQUAL(c.patient_settings[0].acvpu, acvpus[i].acvpu);
		CU_ASSERT_EQUAL(c.patient_settings[0].oxygen, CP_O2_UNKNOWN);
		CU_ASSERT_FALSE(c.patient_settings[0].scale2);
		cp_config_free(&c);
	}
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c,
			     "patients:\n  max: 3\n  settings:\n"
			     "    - {patient: A, oxygen: air, scale: 1}\n"
			     "    - {patient: B, oxygen: oxygen, scale: 2}\n"
			     "    - patient: C\n",
			     err),
			0);
	CU_ASSERT_EQUAL_FATAL(c.n_patient_settings, 3);
	CU_ASSERT_STRING_EQUAL(c.patient_settings[0].patient, "A");
	CU_ASSERT_EQUAL(c.patient_settings[0].oxygen, CP_O2_AIR);
	CU_ASSERT_FALSE(c.patient_settings[0].scale2);
	CU_ASSERT_EQUAL(c.patient_settings[1].oxygen, CP_O2_OXYGEN);
	CU_ASSERT_TRUE(c.patient_settings[1].scale2);
	CU_ASSERT_STRING_EQUAL(c.patient_settings[2].patient, "C");
	CU_ASSERT_EQUAL(c.patient_settings[2].oxygen, CP_O2_UNKNOWN);
	CU_ASSERT_EQUAL(c.patient_settings[2].acvpu, CP_ACVPU_UNKNOWN);
	/* a patient key of 64 bytes is kept whole */
	CU_ASSERT_EQUAL(
		load(&c,
		     "patients: {settings: [{patient: "
		     "P234567890123456789012345678901234567890123456789012345678901234}]}\n",
		     err),
		0);
	CU_ASSERT_EQUAL_FATAL(c.n_patient_settings, 1);
	CU_ASSERT_EQUAL(strlen(c.patient_settings[0].patient), CP_PATIENT_ID_MAX);
	/* other patients keys leave the list alone; an empty list or null clears it */
	CU_ASSERT_EQUAL(load(&c, "patients: {max: 10}\n", err), 0);
	CU_ASSERT_EQUAL(c.n_patient_settings, 1);
	CU_ASSERT_EQUAL(load(&c, "patients: {settings: []}\n", err), 0);
	CU_ASSERT_EQUAL(c.n_patient_settings, 0);
	CU_ASSERT_PTR_NULL(c.patient_settings);
	CU_ASSERT_EQUAL(load(&c, "patients: {settings: [{patient: X}]}\n", err), 0);
	CU_ASSERT_EQUAL(c.n_patient_settings, 1);
	CU_ASSERT_EQUAL(load(&c, "patients:\n  settings:\n", err), 0);
	CU_ASSERT_EQUAL(c.n_patient_settings, 0);
	cp_config_free(&c);
}

/* ------------------------------------------------------------------------ */
/* Ports, the EAL arguments, the data plane's view                           */
/* ------------------------------------------------------------------------ */

static void
test_add_port(void)
{
	static const char device[] = "net_null0";
	struct cp_config c;
	char name[16];
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_add_port(&c, device), 0);
	CU_ASSERT_EQUAL(c.n_ports, 1);
	CU_ASSERT_STRING_EQUAL(c.port[0].device, device);
	CU_ASSERT_PTR_NOT_EQUAL(c.port[0].device, device);
	CU_ASSERT_EQUAL(c.port[0].n_ipv4, 0);
	CU_ASSERT_EQUAL(c.port[0].n_ipv6, 0);
	for (i = 1; i < DP_MAX_PORTS; i++) {
		snprintf(name, sizeof(name), "net_null%u", i);
		CU_ASSERT_EQUAL(cp_config_add_port(&c, name), 0);
	}
	CU_ASSERT_EQUAL(c.n_ports, DP_MAX_PORTS);
	CU_ASSERT_STRING_EQUAL(c.port[DP_MAX_PORTS - 1].device, "net_null7");
	CU_ASSERT_EQUAL(cp_config_add_port(&c, "net_null8"), -E2BIG);
	CU_ASSERT_EQUAL(c.n_ports, DP_MAX_PORTS);
	cp_config_free(&c);

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_add_port(&c, ""), -EINVAL);
	CU_ASSERT_EQUAL(cp_config_add_port(&c, NULL), -EINVAL);
	CU_ASSERT_EQUAL(c.n_ports, 0);
	cp_config_free(&c);
}

#define ARGV_ROOM (CP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 4)

static void
assert_argv(char *const *argv, int argc, const char *const *expected, int n_expected)
{
	int i;

	CU_ASSERT_EQUAL(argc, n_expected);
	for (i = 0; i < argc && i < n_expected; i++) {
		CU_ASSERT_STRING_EQUAL(argv[i], expected[i]);
		if (strcmp(argv[i], expected[i]) != 0)
			fprintf(stderr, "\nargv[%d] '%s', expected '%s'\n", i, argv[i],
				expected[i]);
	}
	if (argc >= 0)
		CU_ASSERT_PTR_NULL(argv[argc]);
}

static void
test_eal_args_default(void)
{
	static const char *const expected[] = {"vigild", "--no-pci", "--no-huge", "--no-shconf",
					       "-m",	 "512",	     "-l",	  "0-1"};
	char *argv[ARGV_ROOM], scratch[32];
	struct cp_config c;
	int argc;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	argc = cp_eal_args(&c, "vigild", argv, ARGV_ROOM, scratch, sizeof(scratch));
	assert_argv(argv, argc, expected, 8);
	CU_ASSERT_PTR_EQUAL(argv[7], scratch);
	CU_ASSERT_PTR_EQUAL(argv[1], c.eal[0]);

	c.workers = 4;
	argc = cp_eal_args(&c, "vigild", argv, ARGV_ROOM, scratch, sizeof(scratch));
	CU_ASSERT_EQUAL(argc, 8);
	CU_ASSERT_STRING_EQUAL(argv[7], "0-4");
	cp_config_free(&c);
}

static void
test_eal_args_lcores_given(void)
{
	static const struct {
		const char *yaml;
		int argc; /* argv0 + the list, nothing appended */
	} given[] = {
		{"eal: [\"-l\", \"0-2\"]\n", 3},	   {"eal: [\"--no-huge\", \"-l0-3\"]\n", 3},
		{"eal: [\"-c\", \"0x3\"]\n", 3},	   {"eal: [\"-c0x3\"]\n", 2},
		{"eal: [\"--lcores\", \"0@0,1@1\"]\n", 3}, {"eal: [\"--lcores=0@0,1@1\"]\n", 2},
	};
	char *argv[ARGV_ROOM], scratch[32], err[ERR_LEN];
	struct cp_config c;
	size_t i;
	int argc;

	for (i = 0; i < sizeof(given) / sizeof(given[0]); i++) {
		CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
		CU_ASSERT_EQUAL(load(&c, given[i].yaml, err), 0);
		argc = cp_eal_args(&c, "vigild", argv, ARGV_ROOM, scratch, sizeof(scratch));
		CU_ASSERT_EQUAL(argc, given[i].argc);
		CU_ASSERT_PTR_NULL(argv[given[i].argc]);
		cp_config_free(&c);
	}
	/* look-alikes do not count: --log-level is not an lcore option */
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, "eal: [\"--log-level=8\", \"--lcores-x\"]\n", err), 0);
	argc = cp_eal_args(&c, "vigild", argv, ARGV_ROOM, scratch, sizeof(scratch));
	CU_ASSERT_EQUAL(argc, 5);
	if (argc == 5) {
		CU_ASSERT_STRING_EQUAL(argv[3], "-l");
		CU_ASSERT_STRING_EQUAL(argv[4], "0-1");
	}
	cp_config_free(&c);
}

static void
test_eal_args_ports(void)
{
	static const char *const expected[] = {
		"vigil",  "--no-huge",
		"-l",	  "0-2",
		"-a",	  "0000:03:00.0",
		"-a",	  "03:00.1",
		"--vdev", "net_pcap0,rx_pcap=ward.pcap",
		"-a",	  "0000:81:00.7,rxq_pkt_len=1",
		"--vdev", "net_af_packet0,iface=veth0",
		"-a",	  "ABCD:ef:1f.3",
		"--vdev", "0000:03:00.8",
		"--vdev", "net_null0",
	};
	static const char *const devices[] = {
		"0000:03:00.0",
		"03:00.1",
		"net_pcap0,rx_pcap=ward.pcap",
		"0000:81:00.7,rxq_pkt_len=1",
		"net_af_packet0,iface=veth0",
		"ABCD:ef:1f.3",
		"0000:03:00.8",
		"net_null0",
	};
	char *argv[ARGV_ROOM], scratch[32], err[ERR_LEN];
	struct cp_config c;
	size_t i;
	int argc;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(load(&c, "eal: [\"--no-huge\"]\nworkers: 2\n", err), 0);
	for (i = 0; i < sizeof(devices) / sizeof(devices[0]); i++)
		CU_ASSERT_EQUAL(cp_config_add_port(&c, devices[i]), 0);
	argc = cp_eal_args(&c, "vigil", argv, ARGV_ROOM, scratch, sizeof(scratch));
	assert_argv(argv, argc, expected, (int)(sizeof(expected) / sizeof(expected[0])));
	CU_ASSERT_PTR_EQUAL(argv[5], c.port[0].device);
	cp_config_free(&c);
}

static void
test_eal_args_too_big(void)
{
	char *argv[ARGV_ROOM], scratch[32], arg[8];
	struct cp_config c;
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	/* 8 arguments need 9 pointers (the last is NULL) and "0-1" 4 bytes */
	CU_ASSERT_EQUAL(cp_eal_args(&c, "vigild", argv, 8, scratch, sizeof(scratch)), -E2BIG);
	CU_ASSERT_EQUAL(cp_eal_args(&c, "vigild", argv, 9, scratch, sizeof(scratch)), 8);
	CU_ASSERT_EQUAL(cp_eal_args(&c, "vigild", argv, 9, scratch, 3), -E2BIG);
	CU_ASSERT_EQUAL(cp_eal_args(&c, "vigild", argv, 9, scratch, 4), 8);
	CU_ASSERT_EQUAL(cp_eal_args(&c, "vigild", argv, 0, scratch, sizeof(scratch)), -E2BIG);

	/*
	 * The largest vector: argv0, 64 eal arguments, -l 0-N, 8 ports = 83
	 * arguments, so 84 pointers with the NULL (controlplane.h's
	 * "CP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 3" is one short).
	 */
	for (i = 0; i < c.n_eal; i++)
		free(c.eal[i]);
	for (i = 0; i < CP_MAX_EAL_ARGS; i++) {
		snprintf(arg, sizeof(arg), "-x%u", i);
		c.eal[i] = strdup(arg);
		CU_ASSERT_PTR_NOT_NULL_FATAL(c.eal[i]);
	}
	c.n_eal = CP_MAX_EAL_ARGS;
	for (i = 0; i < DP_MAX_PORTS; i++) {
		snprintf(arg, sizeof(arg), "net_n%u", i);
		CU_ASSERT_EQUAL(cp_config_add_port(&c, arg), 0);
	}
	CU_ASSERT_EQUAL(cp_eal_args(&c, "vigild", argv, ARGV_ROOM, scratch, sizeof(scratch)),
			CP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 3);
	CU_ASSERT_PTR_NULL(argv[ARGV_ROOM - 1]);
	CU_ASSERT_EQUAL(cp_eal_args(&c, "vigild", argv, ARGV_ROOM - 1, scratch, sizeof(scratch)),
			-E2BIG);
	cp_config_free(&c);
}

static void
test_to_dp(void)
{
	char err[ERR_LEN];
	struct cp_config c;
	struct dp_conf dp;
	unsigned i;

	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL_FATAL(load(&c, full_yaml, err), 0);
	memset(&dp, 0xa5, sizeof(dp));
	cp_config_to_dp(&c, &dp);
	CU_ASSERT_EQUAL(dp.n_ports, 3);
	CU_ASSERT_PTR_EQUAL(dp.port[0].name, c.port[0].device);
	CU_ASSERT_STRING_EQUAL(dp.port[0].name, "net_pcap0,rx_pcap=ward.pcap");
	CU_ASSERT_STRING_EQUAL(dp.port[1].name, "net_null0");
	CU_ASSERT_STRING_EQUAL(dp.port[2].name, "0000:03:00.0");
	CU_ASSERT_PTR_NULL(dp.port[3].name);
	CU_ASSERT_EQUAL(dp.port[0].local.n_ipv4, 2);
	CU_ASSERT_EQUAL(dp.port[0].local.ipv4[0], htonl(0xc0000201));
	CU_ASSERT_EQUAL(dp.port[0].local.ipv4[1], htonl(0xc6336407));
	/* network byte order: the bytes in memory are 192, 0, 2, 1 */
	CU_ASSERT_EQUAL(((const uint8_t *)&dp.port[0].local.ipv4[0])[0], 192);
	CU_ASSERT_EQUAL(((const uint8_t *)&dp.port[0].local.ipv4[0])[3], 1);
	CU_ASSERT_EQUAL(dp.port[0].local.n_ipv6, 1);
	CU_ASSERT_EQUAL(memcmp(dp.port[0].local.ipv6[0], ipv6_2001_db8_1, 16), 0);
	CU_ASSERT_EQUAL(dp.port[1].local.n_ipv4, 0);
	CU_ASSERT_EQUAL(dp.port[1].local.n_ipv6, 0);
	for (i = 0; i < 3; i++) {
		const struct dp_local *local = &dp.port[i].local;
		static const uint8_t no_mac[6];

		CU_ASSERT_EQUAL(memcmp(local->mac, no_mac, 6), 0);
		CU_ASSERT_EQUAL(local->n_hl7_ports, 2);
		CU_ASSERT_EQUAL(local->hl7_ports[0], 2576);
		CU_ASSERT_EQUAL(local->hl7_ports[1], 2577);
		CU_ASSERT_EQUAL(local->n_vtp_ports, 0);
		CU_ASSERT_FALSE(local->udp_checksum);
	}
	CU_ASSERT_EQUAL(dp.n_workers, 3);
	CU_ASSERT_EQUAL(dp.n_mbufs, 8192);
	CU_ASSERT_EQUAL(dp.mbuf_cache, 128);
	CU_ASSERT_EQUAL(dp.rx_desc, 512);
	CU_ASSERT_EQUAL(dp.tx_desc, 2048);
	CU_ASSERT_FALSE(dp.promiscuous);
	CU_ASSERT_EQUAL(dp.vtp_devices, 4096);
	CU_ASSERT_EQUAL(dp.registry_devices, 1000);
	CU_ASSERT_TRUE(dp.events);
	CU_ASSERT_EQUAL(dp.alarm_ring, 4096);
	CU_ASSERT_EQUAL(dp.telemetry_ring, 1048576);
	CU_ASSERT_PTR_NULL(dp.acl); /* vigild sets it from cp_config_acl */

	/* the defaults' telemetry ports and checks */
	cp_config_free(&c);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL(cp_config_add_port(&c, "net_null0"), 0);
	cp_config_to_dp(&c, &dp);
	CU_ASSERT_EQUAL(dp.n_ports, 1);
	CU_ASSERT_EQUAL(dp.port[0].local.n_hl7_ports, 1);
	CU_ASSERT_EQUAL(dp.port[0].local.hl7_ports[0], 2575);
	CU_ASSERT_EQUAL(dp.port[0].local.n_vtp_ports, 1);
	CU_ASSERT_EQUAL(dp.port[0].local.vtp_ports[0], 4575);
	CU_ASSERT_TRUE(dp.port[0].local.udp_checksum);
	CU_ASSERT_EQUAL(dp.vtp_devices, DP_VTP_DEVICES_DEFAULT);
	CU_ASSERT_EQUAL(dp.n_workers, 1);
	CU_ASSERT_EQUAL(dp.n_mbufs, 0);
	CU_ASSERT_EQUAL(dp.mbuf_cache, 256);
	CU_ASSERT_EQUAL(dp.rx_desc, 1024);
	CU_ASSERT_EQUAL(dp.tx_desc, 1024);
	CU_ASSERT_TRUE(dp.promiscuous);
	CU_ASSERT_EQUAL(dp.registry_devices, DP_REGISTRY_DEVICES_DEFAULT);
	CU_ASSERT_TRUE(dp.events);
	CU_ASSERT_EQUAL(dp.alarm_ring, DP_ALARM_RING_DEFAULT);
	CU_ASSERT_EQUAL(dp.telemetry_ring, DP_TELEMETRY_RING_DEFAULT);
	CU_ASSERT_PTR_NULL(dp.acl);
	cp_config_free(&c);
}

/* ------------------------------------------------------------------------ */
/* The shipped example                                                       */
/* ------------------------------------------------------------------------ */

/*
 * vigil.yaml.example loads, and says exactly the defaults. meson test gives
 * the source tree in VIGIL_SOURCE_ROOT; run by hand, the file is looked for
 * from the source tree's top (".") or from a build directory in it ("..").
 */
static void
test_example_file(void)
{
	const char *root = getenv("VIGIL_SOURCE_ROOT");
	char path[4096], err[ERR_LEN] = "";
	struct cp_config c, defaults;
	int rc;

	if (root == NULL)
		root = access("vigil.yaml.example", R_OK) == 0 ? "." : "..";
	snprintf(path, sizeof(path), "%s/vigil.yaml.example", root);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&c), 0);
	CU_ASSERT_EQUAL_FATAL(cp_config_defaults(&defaults), 0);
	rc = cp_config_load(&c, path, err, sizeof(err));
	CU_ASSERT_EQUAL(rc, 0);
	if (rc != 0)
		fprintf(stderr, "\n%s (set VIGIL_SOURCE_ROOT to the source tree)\n", err);
	assert_same(&c, &defaults);
	CU_ASSERT_PTR_NOT_NULL(c.path);
	if (c.path != NULL)
		CU_ASSERT_STRING_EQUAL(c.path, path);
	cp_config_free(&defaults);
	cp_config_free(&c);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"defaults", test_defaults},
		{"full file as a string", test_full_string},
		{"full file on disk", test_full_file},
		{"empty files and keys", test_empty},
		{"a load applies over the config", test_load_over},
		{"booleans", test_booleans},
		{"range limits accepted", test_limits},
		{"telemetry.allow", test_allow},
		{"errors: exact messages, config unchanged", test_errors},
		{"errors: too many eal arguments", test_error_too_many_eal},
		{"errors: files", test_error_files},
		{"print reads back", test_print_round_trip},
		{"print text", test_print_text},
		{"rules section", test_rules_section},
		{"storage section", test_storage_section},
		{"alarms section", test_alarms_section},
		{"patients section", test_patients_section},
		{"add port", test_add_port},
		{"eal args: defaults", test_eal_args_default},
		{"eal args: lcores given", test_eal_args_lcores_given},
		{"eal args: ports", test_eal_args_ports},
		{"eal args: -E2BIG", test_eal_args_too_big},
		{"to dp", test_to_dp},
		{"vigil.yaml.example", test_example_file},
	};
	CU_pSuite suite;
	size_t i;

	suite = CU_add_suite("config", NULL, NULL);
	if (suite == NULL)
		return -1;
	for (i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
