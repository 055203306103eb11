/*
 * counters.c - names of the data plane's counters and their arithmetic.
 *
 * The names come from the same X-macro lists as the enums in dataplane.h,
 * so the summary, the JSON report and (later) telemetry can never disagree
 * with the code about what a counter is called.
 */
#include "dataplane.h"

#define DP_X_NAME(name, desc) #name,
#define DP_X_DESC(name, desc) desc,
static const char *const outcome_names[] = {DP_OUTCOMES(DP_X_NAME)};
static const char *const outcome_descs[] = {DP_OUTCOMES(DP_X_DESC)};
static const char *const drop_names[] = {DP_DROPS(DP_X_NAME)};
static const char *const drop_descs[] = {DP_DROPS(DP_X_DESC)};
#undef DP_X_NAME
#undef DP_X_DESC

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

void
dp_stats_add(struct dp_stats *to, const struct dp_stats *from)
{
	dp_count(&to->rx_packets, dp_read(&from->rx_packets));
	dp_count(&to->rx_bytes, dp_read(&from->rx_bytes));
	dp_count(&to->rx_bursts, dp_read(&from->rx_bursts));
	dp_count(&to->tx_packets, dp_read(&from->tx_packets));
	for (unsigned i = 0; i < DP_OUT__COUNT; i++)
		dp_count(&to->outcome[i], dp_read(&from->outcome[i]));
	for (unsigned i = 0; i < DP_DROP__COUNT; i++)
		dp_count(&to->drop[i], dp_read(&from->drop[i]));
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
