/*
 * ruleinput.c - what the rules evaluator sees of a decoded message.
 *
 * The rules component must not know the data plane's types (dependencies
 * point one way: dataplane uses rules), so a worker hands rule_eval a
 * struct rule_input: the datagram's addresses and ports, the bytes to scan,
 * and each observation's code, unit, value, validity and location. This
 * file makes one from a dp_decoded; the worker and vigil-rules both use it,
 * so `explain` sees exactly what a worker sees.
 */
#include <string.h>

#include "dataplane.h"

_Static_assert(RULE_MAX_OBS >= DP_MAX_OBS, "every decoded observation reaches the rules");

static void
header(enum dp_verdict kind, const uint8_t *frame, const struct dp_pkt *pkt, struct rule_input *in)
{
	memset(in, 0, sizeof(*in));
	in->proto = kind == DP_VERDICT_VTP ? RULE_PROTO_VTP : RULE_PROTO_HL7;
	in->loc_sep = '^';
	if (frame == NULL || pkt == NULL)
		return;
	in->ip_version = pkt->ip_version;
	if (pkt->ip_version == 4) {
		memcpy(in->src, frame + pkt->l3_off + 12, 4);
		memcpy(in->dst, frame + pkt->l3_off + 16, 4);
	} else if (pkt->ip_version == 6) {
		memcpy(in->src, frame + pkt->l3_off + 8, 16);
		memcpy(in->dst, frame + pkt->l3_off + 24, 16);
	}
	in->sport = pkt->src_port;
	in->dport = pkt->dst_port;
	in->dsize = pkt->payload_len;
}

void
dp_rule_input_datagram(enum dp_verdict kind, const uint8_t *frame, const struct dp_pkt *pkt,
		       struct rule_input *in)
{
	header(kind, frame, pkt, in);
	in->first = true;
	if (frame != NULL && pkt != NULL) {
		in->payload = frame + pkt->payload_off;
		in->len = pkt->payload_len;
	}
}

void
dp_rule_input(const struct dp_decoded *d, const uint8_t *frame, const struct dp_pkt *pkt,
	      struct rule_input *in, struct rule_obs *obs)
{
	unsigned n = d->n_obs < RULE_MAX_OBS ? d->n_obs : RULE_MAX_OBS;

	header(d->kind == DP_MSG_VTP ? DP_VERDICT_VTP : DP_VERDICT_HL7, frame, pkt, in);
	if (frame == NULL || pkt == NULL)
		in->dsize = d->msg_len;
	/* MSH-2's first byte is the component separator ("MSH|^~\&"). */
	if (d->kind != DP_MSG_VTP && d->msg_len > 4)
		in->loc_sep = (char)d->msg[4];
	in->payload = d->msg;
	in->len = d->msg_len;
	for (unsigned i = 0; i < n; i++) {
		const struct dp_obs *o = &d->obs[i];
		struct rule_obs *r = &obs[i];

		r->code = o->code;
		r->unit = o->unit;
		r->value = o->value;
		r->flags = 0;
		if (o->flags & DP_OBS(INVALID))
			r->flags |= RULE_OBS_INVALID;
		if (o->flags & (DP_OBS(TEST) | DP_OBS(DEMO)))
			r->flags |= RULE_OBS_TEST | RULE_OBS_INVALID;
		r->location = NULL;
		r->location_len = 0;
		if (o->location.len > 0 && o->location.off + o->location.len <= d->msg_len) {
			r->location = d->msg + o->location.off;
			r->location_len = o->location.len;
		}
	}
	in->obs = obs;
	/* The evaluator counts what it does not look at (obs_skipped). */
	in->n_obs = d->n_obs;
}
