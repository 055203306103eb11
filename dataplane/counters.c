/*
 * counters.c - names of the data plane's counters and their arithmetic.
 *
 * The names come from the same X-macro lists as the enums in dataplane.h,
 * so the summary, the JSON report and (later) telemetry can never disagree
 * with the code about what a counter or an observation flag is called.
 */
#include "dataplane.h"

#define DP_X_NAME(name, desc) #name,
#define DP_X_DESC(name, desc) desc,
static const char *const outcome_names[] = {DP_OUTCOMES(DP_X_NAME)};
static const char *const outcome_descs[] = {DP_OUTCOMES(DP_X_DESC)};
static const char *const drop_names[] = {DP_DROPS(DP_X_NAME)};
static const char *const drop_descs[] = {DP_DROPS(DP_X_DESC)};
static const char *const hl7_names[] = {DP_HL7_COUNTERS(DP_X_NAME)};
static const char *const hl7_descs[] = {DP_HL7_COUNTERS(DP_X_DESC)};
static const char *const vtp_names[] = {DP_VTP_COUNTERS(DP_X_NAME)};
static const char *const vtp_descs[] = {DP_VTP_COUNTERS(DP_X_DESC)};
static const char *const event_names[] = {DP_EVENT_COUNTERS(DP_X_NAME)};
static const char *const event_descs[] = {DP_EVENT_COUNTERS(DP_X_DESC)};
static const char *const table_names[] = {DP_TABLE_COUNTERS(DP_X_NAME)};
static const char *const table_descs[] = {DP_TABLE_COUNTERS(DP_X_DESC)};
static const char *const obs_flag_names[] = {DP_OBS_FLAGS(DP_X_NAME)};
static const char *const obs_flag_descs[] = {DP_OBS_FLAGS(DP_X_DESC)};
#undef DP_X_NAME
#undef DP_X_DESC

#define NAME_OF(table, i) ((size_t)(i) < sizeof(table) / sizeof(table[0]) ? table[i] : "?")

const char *
dp_outcome_name(enum dp_outcome o)
{
	return (unsigned)o < DP_OUT__COUNT ? outcome_names[o] : "?";
}

const char *
dp_outcome_desc(enum dp_outcome o)
{
	return (unsigned)o < DP_OUT__COUNT ? outcome_descs[o] : "?";
}

const char *
dp_drop_name(enum dp_drop d)
{
	return (unsigned)d < DP_DROP__COUNT ? drop_names[d] : "?";
}

const char *
dp_drop_desc(enum dp_drop d)
{
	return (unsigned)d < DP_DROP__COUNT ? drop_descs[d] : "?";
}

const char *
dp_hl7_counter_name(enum dp_hl7_counter c)
{
	return NAME_OF(hl7_names, c);
}

const char *
dp_hl7_counter_desc(enum dp_hl7_counter c)
{
	return NAME_OF(hl7_descs, c);
}

const char *
dp_vtp_counter_name(enum dp_vtp_counter c)
{
	return NAME_OF(vtp_names, c);
}

const char *
dp_vtp_counter_desc(enum dp_vtp_counter c)
{
	return NAME_OF(vtp_descs, c);
}

const char *
dp_event_counter_name(enum dp_event_counter c)
{
	return NAME_OF(event_names, c);
}

const char *
dp_event_counter_desc(enum dp_event_counter c)
{
	return NAME_OF(event_descs, c);
}

const char *
dp_table_counter_name(enum dp_table_counter c)
{
	return NAME_OF(table_names, c);
}

const char *
dp_table_counter_desc(enum dp_table_counter c)
{
	return NAME_OF(table_descs, c);
}

const char *
dp_obs_flag_name(enum dp_obs_bit bit)
{
	return NAME_OF(obs_flag_names, bit);
}

const char *
dp_obs_flag_desc(enum dp_obs_bit bit)
{
	return NAME_OF(obs_flag_descs, bit);
}

const char *
dp_alarm_phase_name(enum dp_alarm_phase v)
{
	static const char *const names[] = {"unknown", "start",	 "continue", "end",
					    "update",  "tpoint", "escalate", "de-escalate"};
	return NAME_OF(names, v);
}

const char *
dp_alarm_state_name(enum dp_alarm_state v)
{
	static const char *const names[] = {"unknown", "off", "inactive", "active", "latched"};
	return NAME_OF(names, v);
}

const char *
dp_alarm_inactivation_name(enum dp_alarm_inactivation v)
{
	static const char *const names[] = {"unknown",		 "enabled",	 "audio-paused",
					    "audio-off",	 "alarm-paused", "alarm-off",
					    "alert-acknowledged"};
	return NAME_OF(names, v);
}

const char *
dp_alarm_priority_name(enum dp_alarm_priority v)
{
	static const char *const names[] = {"unknown", "none", "low", "medium", "high"};
	return NAME_OF(names, v);
}

const char *
dp_alarm_type_name(enum dp_alarm_type v)
{
	static const char *const names[] = {"unknown", "physiological", "technical", "advisory"};
	return NAME_OF(names, v);
}

void
dp_stats_add(struct dp_stats *to, const struct dp_stats *from)
{
	dp_count(&to->rx_packets, dp_read(&from->rx_packets));
	dp_count(&to->rx_bytes, dp_read(&from->rx_bytes));
	dp_count(&to->rx_bursts, dp_read(&from->rx_bursts));
	dp_count(&to->busy_cycles, dp_read(&from->busy_cycles));
	dp_count(&to->loop_cycles, dp_read(&from->loop_cycles));
	dp_count(&to->tx_packets, dp_read(&from->tx_packets));
	for (unsigned i = 0; i < DP_OUT__COUNT; i++)
		dp_count(&to->outcome[i], dp_read(&from->outcome[i]));
	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		dp_count(&to->drop[i], dp_read(&from->drop[i]));
	for (unsigned i = 0; i < DP_HL7__COUNT; i++)
		dp_count(&to->hl7[i], dp_read(&from->hl7[i]));
	for (unsigned i = 0; i < DP_VTP__COUNT; i++)
		dp_count(&to->vtp[i], dp_read(&from->vtp[i]));
	for (unsigned i = 0; i < RULE_CNT__COUNT; i++)
		dp_count(&to->rule[i], dp_read(&from->rule[i]));
	for (unsigned i = 0; i < DP_EVC__COUNT; i++)
		dp_count(&to->event[i], dp_read(&from->event[i]));
	for (unsigned i = 0; i < DP_TAB__COUNT; i++)
		dp_count(&to->table[i], dp_read(&from->table[i]));
}

uint64_t
dp_stats_accounted(const struct dp_stats *s)
{
	uint64_t sum = 0;

	for (unsigned i = 0; i < DP_OUT__COUNT; i++)
		sum += dp_read(&s->outcome[i]);
	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		sum += dp_read(&s->drop[i]);
	return sum;
}

uint64_t
dp_lat_low(unsigned b)
{
	unsigned m;

	if (b < 8)
		return b;
	if (b >= DP_LAT_BUCKETS)
		return UINT64_MAX;
	m = (b - 8) / 8 + 3;
	return (uint64_t)(8 + (b - 8) % 8) << (m - 3);
}

double
dp_lat_quantile(const uint64_t *counts, double q)
{
	uint64_t total = 0, seen = 0, rank;

	for (unsigned i = 0; i < DP_LAT_BUCKETS; i++)
		total += counts[i];
	if (total == 0)
		return 0;
	/* The smallest bucket holding the ceil(q * total)-th value. */
	rank = (uint64_t)(q * (double)total);
	if ((double)rank < q * (double)total)
		rank++;
	if (rank == 0)
		rank = 1;
	for (unsigned i = 0; i < DP_LAT_BUCKETS; i++) {
		seen += counts[i];
		if (seen >= rank) {
			uint64_t lo = dp_lat_low(i);
			uint64_t hi = i + 1 < DP_LAT_BUCKETS ? dp_lat_low(i + 1) : lo * 2;

			return i < 8 ? (double)lo : ((double)lo + (double)hi) / 2.0;
		}
	}
	return (double)dp_lat_low(DP_LAT_BUCKETS - 1);
}
