/*
 * controlplane.h - the public interface of vigil's control plane.
 *
 * The control plane is vigild's main lcore and the threads beside it: it
 * reads the configuration, builds the EAL arguments, checks the platform,
 * starts the data plane, consumes the workers' events (consumer.c),
 * reloads rules and the sender ACL behind RCU (reload.c) and reports on it
 * all (report.c). Later it also runs the alarm manager and serves
 * vigilctl. This header holds what vigild, the tools and the tests use.
 */
#ifndef VIGIL_CONTROLPLANE_H
#define VIGIL_CONTROLPLANE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "dataplane.h"
#include "store.h"

#define CP_MAX_EAL_ARGS 64

/* ------------------------------------------------------------------------ */
/* NEWS2 (news2.c)                                                           */
/* ------------------------------------------------------------------------ */

/*
 * The National Early Warning Score 2 (Royal College of Physicians, 2017;
 * DOMAIN.md section 5), computed from what is known of a patient. Pure
 * functions: no state, any thread.
 *
 * Inputs are rounded before banding (temperature to 0.1 degC, the rest to
 * whole numbers, half away from zero), as the chart is written at that
 * resolution. A parameter that is not known scores nothing and makes the
 * score incomplete: an incomplete aggregate is a lower bound (a missing
 * parameter can only add to it), and is reported as such, never as a
 * complete score.
 */
enum cp_news2_param {
	CP_N2_RR = 0, /**< respiration rate, /min */
	CP_N2_SPO2,   /**< SpO2, %, on scale 1 or 2 */
	CP_N2_AIR,    /**< air or supplemental oxygen (cp_news2_in.oxygen) */
	CP_N2_SBP,    /**< systolic blood pressure, mmHg */
	CP_N2_PULSE,  /**< pulse, /min */
	CP_N2_ACVPU,  /**< consciousness (cp_news2_in.acvpu) */
	CP_N2_TEMP,   /**< temperature, degC */
	CP_N2__COUNT
};

/** Air or oxygen: unknown unless set for the patient (monitors rarely send it). */
enum cp_o2 {
	CP_O2_UNKNOWN = 0,
	CP_O2_AIR,
	CP_O2_OXYGEN, /**< any supplemental oxygen */
};

/** Consciousness on the ACVPU scale: unknown unless set (monitors never send it). */
enum cp_acvpu {
	CP_ACVPU_UNKNOWN = 0,
	CP_ACVPU_ALERT,
	CP_ACVPU_CVPU, /**< new confusion, or responds to voice or pain, or unresponsive */
};

/** What a score is computed from. have[p] false: parameter p is not known. */
struct cp_news2_in {
	bool have[CP_N2__COUNT];
	double rr, spo2, sbp, pulse, temp; /**< the vital signs, in the units above */
	uint8_t oxygen;			   /**< enum cp_o2 (have[CP_N2_AIR] = oxygen != UNKNOWN) */
	uint8_t acvpu;			   /**< enum cp_acvpu */
	bool scale2; /**< SpO2 scale 2 (documented hypercapnic failure; never inferred) */
};

/** The clinical risk NEWS2 assigns (its response table). */
enum cp_news2_risk {
	CP_N2_RISK_LOW = 0,    /**< aggregate 0-4, no parameter scoring 3 */
	CP_N2_RISK_LOW_MEDIUM, /**< a single parameter scoring 3, aggregate below 5 */
	CP_N2_RISK_MEDIUM,     /**< aggregate 5-6: the urgent-response threshold */
	CP_N2_RISK_HIGH,       /**< aggregate 7 or more: the emergency-response threshold */
};

struct cp_news2 {
	int8_t sub[CP_N2__COUNT]; /**< each sub-score 0-3; -1: not known */
	uint8_t total;	 /**< the aggregate of the known sub-scores (a lower bound if incomplete) */
	bool complete;	 /**< every parameter known */
	bool red;	 /**< some parameter scores 3 */
	uint8_t risk;	 /**< enum cp_news2_risk, of total and red */
	uint8_t missing; /**< bit p set: parameter p not known */
};

/** Score @p in into @p out. */
void cp_news2_score(const struct cp_news2_in *in, struct cp_news2 *out);

/**
 * The sub-score of one parameter's value (rounded first), 0-3. For
 * CP_N2_SPO2, @p scale2 and @p on_oxygen choose the row (scale 1 ignores
 * @p on_oxygen); for CP_N2_AIR and CP_N2_ACVPU @p v is the enum value
 * (unknown scores 0). @return the sub-score, or -1 for a NaN.
 */
int cp_news2_band(enum cp_news2_param p, double v, bool scale2, bool on_oxygen);

const char *cp_news2_param_name(
	enum cp_news2_param p); /**< "rr", "spo2", "air", "sbp", "pulse", "acvpu", "temp" */
const char *cp_news2_risk_name(enum cp_news2_risk r); /**< "low", "low-medium", "medium", "high" */
/** The response DOMAIN.md section 5 gives for a risk (one sentence). */
const char *cp_news2_response(enum cp_news2_risk r);
const char *cp_o2_name(enum cp_o2 o);	    /**< "unknown", "air", "oxygen" */
const char *cp_acvpu_name(enum cp_acvpu a); /**< "unknown", "alert", "cvpu" */

/* ------------------------------------------------------------------------ */
/* Patient state (patient.c)                                                 */
/* ------------------------------------------------------------------------ */

/*
 * The latest valid value of every metric of every patient (or of every
 * device, for a device that names no patient), and the NEWS2 that follows.
 * Single writer (the consumer thread); cp_patients_get and
 * cp_patients_foreach read under the table's mutex, so any thread may.
 *
 * An observation counts only when it is valid (DP_OBS flags: not invalid,
 * not TEST, not DEMO, not off-scale, a number). Each NEWS2 vital takes its
 * value from the first metric in its source list (cp_patient_opts.source)
 * that has a value fresher than that parameter's stale age; its record
 * says which metric it chose. A value older than its stale age never
 * counts.
 */
#define CP_PATIENT_SOURCES 8  /**< metrics one NEWS2 parameter may list */
#define CP_PATIENT_METRICS 24 /**< metrics kept per patient (the oldest is replaced) */
#define CP_PATIENT_ID_MAX 64  /**< bytes of a patient key (DP_REGISTRY_TEXT) */

struct cp_patient_opts {
	/** Per NEWS2 vital (CP_N2_RR, SPO2, SBP, PULSE, TEMP), in priority order; 0 ends. */
	uint32_t source[CP_N2__COUNT][CP_PATIENT_SOURCES];
	int64_t stale_ns[CP_N2__COUNT]; /**< a value older than this does not count */
	int64_t metric_stale_ns; /**< other metrics: shown with their age, expired after this */
	unsigned max_patients;	 /**< table size (default 4096); beyond it: counted, not kept */
};

/**
 * Defaults: pulse HR, PULSE (oximeter), PLETH_RATE, PULSE_NIBP, PULSE_IBP,
 * PULSE_GENERIC; SBP ART_SYS, ABP_SYS, NIBP_SYS, CUFF_SYS; RR RR, RR_IMP,
 * RR_CO2, RR_AWAY; SpO2 SPO2; temperature TEMP_CORE, TEMP, TEMP_BODY,
 * TEMP_TYMP, TEMP_EAR, TEMP_ORAL, TEMP_RECT, TEMP_AXILLA. Stale after 60 s
 * for pulse, SpO2 and RR, 1 h for SBP and temperature (episodic), 1 h for
 * other metrics; 4096 patients.
 */
void cp_patient_opts_defaults(struct cp_patient_opts *o);

/** One metric's latest value. */
struct cp_patient_value {
	uint32_t code; /**< MDC code (0: empty slot) */
	uint32_t unit;
	double value;
	int64_t time_ns; /**< the observation's time */
	uint64_t device; /**< which device sent it */
};

/** What is known of one patient. */
struct cp_patient {
	char key[CP_PATIENT_ID_MAX + 1]; /**< the patient id, or "device:<16 hex>" */
	char location[CP_PATIENT_ID_MAX + 1];
	uint64_t device; /**< the device heard from last */
	int64_t last_ns; /**< the time of the last observation */
	unsigned n_values;
	struct cp_patient_value value[CP_PATIENT_METRICS];
	/* NEWS2: the inputs chosen, and the score. */
	uint32_t news2_source[CP_N2__COUNT]; /**< the metric chosen per vital (0: none fresh) */
	struct cp_news2_in news2_in;
	struct cp_news2 news2;
	int64_t news2_ns; /**< when it was last computed (0: never) */
	/* Set per patient (cp_patients_set): */
	uint8_t oxygen; /**< enum cp_o2 */
	uint8_t acvpu;	/**< enum cp_acvpu */
	bool scale2;
};

#define CP_PATIENT_COUNTERS(X)                                                                \
	X(observations, "observations offered")                                               \
	X(not_valid, "observations not counted: flagged invalid, TEST, DEMO or not a number") \
	X(news2_scores, "NEWS2 scores computed")                                              \
	X(patients_full, "observations of a new patient not kept: the table was full")        \
	X(expired, "values expired (older than their stale age)")

#define CP_X_ENUM_PAT(name, desc) CP_PAT_##name,
enum cp_patient_counter { CP_PATIENT_COUNTERS(CP_X_ENUM_PAT) CP_PAT__COUNT };
#undef CP_X_ENUM_PAT
const char *cp_patient_counter_name(enum cp_patient_counter c);
const char *cp_patient_counter_desc(enum cp_patient_counter c);

struct cp_patients;

/** @p o NULL: the defaults. @return 0, -EINVAL, -ENOMEM. */
int cp_patients_new(const struct cp_patient_opts *o, struct cp_patients **out);
void cp_patients_free(struct cp_patients *p);

/**
 * Offer one observation of patient @p key (NUL-terminated, at most
 * CP_PATIENT_ID_MAX bytes; longer is cut) at @p location (may be NULL).
 * When it is valid and of a metric that is a NEWS2 source, NEWS2 is
 * recomputed at the observation's time and copied to @p news2 (may be NULL).
 * @return 1: NEWS2 was recomputed; 0: counted, no new score; -ENOSPC: a
 *         new patient and the table is full; -EINVAL.
 */
int cp_patients_obs(struct cp_patients *p, const char *key, const char *location,
		    const struct dp_event *ev, struct cp_news2 *news2);

/**
 * Recompute the NEWS2 of @p key at @p now_ns (values that went stale drop
 * out) into @p news2. @return 0, -ENOENT.
 */
int cp_patients_rescore(struct cp_patients *p, const char *key, int64_t now_ns,
			struct cp_news2 *news2);

/** Set a patient's oxygen, consciousness or SpO2 scale (creating it). @return 0, -ENOSPC, -EINVAL.
 */
int cp_patients_set(struct cp_patients *p, const char *key, enum cp_o2 oxygen, enum cp_acvpu acvpu,
		    bool scale2);

/** A copy of one patient. @return 0, -ENOENT. */
int cp_patients_get(struct cp_patients *p, const char *key, struct cp_patient *out);

/** Call @p fn with a copy of every patient until it returns non-zero; returns that. */
int cp_patients_foreach(struct cp_patients *p, int (*fn)(void *arg, const struct cp_patient *pt),
			void *arg);

unsigned cp_patients_count(struct cp_patients *p);
void cp_patients_counters(const struct cp_patients *p, uint64_t out[CP_PAT__COUNT]);

/**
 * NEWS2 of a patient as one JSON object (sub-scores by name, total,
 * complete, red, risk, missing list, sources by metric name). @return the
 * text (malloc'd) or NULL.
 */
char *cp_news2_json(const struct cp_patient *pt);

struct json_t;
/** The same as a jansson object (a new reference), or NULL: for a caller that adds to it. */
struct json_t *cp_news2_object(const struct cp_patient *pt);

/* ------------------------------------------------------------------------ */
/* The alarm manager (alarm.c)                                               */
/* ------------------------------------------------------------------------ */

/*
 * IEC 60601-1-8 alarm semantics over the conditions the control plane sees
 * (DOMAIN.md section 6). Single writer: every function below but the
 * readers runs on the consumer's thread (the control socket hands its
 * acknowledgements over to that thread). Time comes from the events
 * (cp_alarms_tick's now): the wall clock live, the packets' own time when a
 * capture is replayed.
 *
 * One condition per (subject, sid[, device event code]) where the subject is
 * the patient (or the device when it names none). A condition is present
 * (a rule hit, a device's alarm phase, a technical or NEWS2 condition the
 * control plane raises) -> pending for the rule's delay -> active: that is
 * when the alarm exists, gets an id and is announced. While active:
 *   - acknowledged (cp_alarms_ack): its signal is silenced until the
 *     condition ends; an acknowledged alarm does not escalate;
 *   - silenced (cp_alarms_silence): audio paused for a time, then back;
 *   - escalated to the rule's escalate priority once it has been active
 *     and unacknowledged for escalate.after_ms;
 *   - the condition ends -> cleared (final) or, for a latching rule,
 *     latched until reset (cp_alarms_reset; final); a latched alarm whose
 *     condition comes back is active again.
 * A condition ends:
 *   - metric rules: an observation of one of the rule's metrics from the
 *     same subject, newer than the last hit, that did not hit;
 *   - a rule hit on a device alarm message (ORU^R40): the device's end
 *     (phase end, state inactive or off) of that event code;
 *   - device alarms without a rule: the phases the device sends;
 *   - other rules (instant events: a malformed datagram, a refused
 *     sender): no hit for `hold`;
 *   - technical and NEWS2 conditions: when the control plane says so.
 * `threshold` is applied when a condition would start: limit (at most
 * count alarms per seconds, per track), threshold (every count-th hit
 * within seconds), both.
 *
 * Every change reaches on_change before anything else learns of it; the
 * caller stores it (synced) and only then announces it (cp_clinical does).
 */

/** vigil's own conditions: reserved sids (3000000-3999999). */
enum cp_alarm_builtin {
	CP_SID_DEVICE_SILENT = 3000001,	  /**< no message from a device for its silent period */
	CP_SID_SEQUENCE_GAP = 3000002,	  /**< VTP sequence numbers skipped */
	CP_SID_DECODE_ERRORS = 3000003,	  /**< a device's decode errors over a rate */
	CP_SID_EVENT_LOSS = 3000004,	  /**< ALARM events lost on a full ring */
	CP_SID_STORAGE = 3000005,	  /**< storage writes failing */
	CP_SID_RELOAD_FAILED = 3000006,	  /**< a rule reload was refused */
	CP_SID_NEWS2_RED = 3000020,	  /**< a single NEWS2 parameter scores 3 */
	CP_SID_NEWS2_URGENT = 3000021,	  /**< NEWS2 aggregate 5 or more */
	CP_SID_NEWS2_EMERGENCY = 3000022, /**< NEWS2 aggregate 7 or more */
	CP_SID_DEVICE_ALARM = 3000100,	  /**< a device's own alarm no rule raised */
};

enum cp_alarm_state {
	CP_ALARM_PENDING = 0, /**< present, waiting out the delay: not yet an alarm */
	CP_ALARM_ACTIVE,
	CP_ALARM_ACKED,	  /**< active, acknowledged */
	CP_ALARM_LATCHED, /**< the condition ended; held until reset */
	CP_ALARM_CLEARED, /**< final: the condition ended */
	CP_ALARM_RESET,	  /**< final: latched, then reset by an operator */
	CP_ALARM__STATES
};

/** What happened to an alarm (one per on_change call, and per history entry). */
enum cp_alarm_change {
	CP_ALC_RAISED = 0,  /**< pending -> active: a new alarm (new id) */
	CP_ALC_ESCALATED,   /**< priority raised (escalate, or the device said so) */
	CP_ALC_DEESCALATED, /**< priority lowered (the device said so) */
	CP_ALC_ACKED,	    /**< acknowledged by an operator (or the device) */
	CP_ALC_SILENCED,    /**< audio paused until silenced_until_ns */
	CP_ALC_UNSILENCED,  /**< the pause ran out */
	CP_ALC_LATCHED,	    /**< the condition ended; latched */
	CP_ALC_RETRIGGERED, /**< latched, and the condition came back: active again */
	CP_ALC_CLEARED,	    /**< the condition ended: final */
	CP_ALC_RESET,	    /**< latched alarm reset by an operator: final */
	CP_ALC_RESTORED,    /**< restored from storage at start-up (not stored again) */
	CP_ALC__COUNT
};

/** Where an alarm came from. */
enum cp_alarm_source {
	CP_ALS_RULE = 0,  /**< a rule's hits */
	CP_ALS_DEVICE,	  /**< a device's own alarm (ORU^R40) without a rule */
	CP_ALS_TECHNICAL, /**< vigil's own technical condition */
	CP_ALS_NEWS2,	  /**< an early-warning score */
};

#define CP_ALARM_MSG_MAX 128
#define CP_ALARM_WHO_MAX 32
#define CP_ALARM_HISTORY 32 /**< changes kept per alarm (older ones are counted, dropped) */

/** The rule facts the manager applies (copied from a struct rule). */
struct cp_alarm_rule {
	uint32_t sid, rev;
	uint8_t priority; /**< enum rule_priority */
	uint8_t kind;	  /**< enum rule_kind */
	bool latch;
	uint32_t delay_ms;
	struct {
		uint8_t type; /**< enum rule_threshold_type */
		uint8_t track;
		uint32_t count, seconds;
	} threshold;
	struct {
		uint32_t after_ms; /**< 0: none */
		uint8_t priority;
	} escalate;
	unsigned n_metrics; /**< 0: not a metric rule */
	uint32_t metric[RULE_MAX_METRICS];
	char msg[CP_ALARM_MSG_MAX];
};

/** Copy what the manager needs of @p r. */
void cp_alarm_rule_of(const struct rule *r, struct cp_alarm_rule *out);

/** Who and where a condition is about (strings may be NULL or ""). */
struct cp_subject {
	uint64_t device;
	const char *patient;
	const char *location;
	const char *device_id;
	/** cp_subject_hash of this subject, kept by a caller that sees it often; 0: computed */
	uint64_t hash;
};

/** The hash the manager files a subject under (never 0). */
uint64_t cp_subject_hash(const struct cp_subject *s);

struct cp_alarm_hist {
	uint8_t change;	  /**< enum cp_alarm_change */
	uint8_t state;	  /**< enum cp_alarm_state after it */
	uint8_t priority; /**< after it */
	int64_t time_ns;
	char by[CP_ALARM_WHO_MAX]; /**< "" (vigil), an operator, or "device" */
};

/** One alarm, as on_change, the readers and the store see it. */
struct cp_alarm {
	uint64_t id;
	uint32_t sid, rev;
	uint8_t source;	       /**< enum cp_alarm_source */
	uint8_t state;	       /**< enum cp_alarm_state */
	uint8_t priority;      /**< current (enum rule_priority) */
	uint8_t base_priority; /**< as raised */
	uint8_t kind;	       /**< enum rule_kind */
	bool latch;
	char msg[CP_ALARM_MSG_MAX];
	char subject[CP_PATIENT_ID_MAX + 1]; /**< patient id, or "device:<16 hex>" */
	char patient[CP_PATIENT_ID_MAX + 1];
	char location[CP_PATIENT_ID_MAX + 1];
	char device_id[CP_PATIENT_ID_MAX + 1];
	uint64_t device;
	uint32_t event_code;	   /**< device alarms: the MDC event; 0 otherwise */
	uint32_t metric;	   /**< MDC code of the value, 0 if none */
	double value;		   /**< the latest value that kept it present (NaN: none) */
	const char *response;	   /**< NEWS2: the response text; NULL otherwise (static) */
	int64_t onset_ns;	   /**< the condition first present */
	int64_t raised_ns;	   /**< active (onset + delay) */
	int64_t changed_ns;	   /**< the last change */
	int64_t ended_ns;	   /**< the condition ended (0: present) */
	int64_t last_hit_ns;	   /**< the last time it was seen present */
	int64_t silenced_until_ns; /**< 0: not silenced */
	uint32_t hits;		   /**< times seen present since raised */
	unsigned n_hist;
	uint32_t hist_dropped;
	struct cp_alarm_hist hist[CP_ALARM_HISTORY];
};

#define CP_ALARM_COUNTERS(X)                                                                  \
	X(conditions, "conditions that became present (pending)")                             \
	X(raised, "alarms raised (pending -> active)")                                        \
	X(filtered_delay, "conditions that ended within their delay: no alarm")               \
	X(suppressed, "conditions not started: the rule's threshold held them back")          \
	X(cleared, "alarms cleared")                                                          \
	X(latched, "alarms latched")                                                          \
	X(reset, "latched alarms reset")                                                      \
	X(acked, "alarms acknowledged")                                                       \
	X(silenced, "audio pauses")                                                           \
	X(escalated, "escalations")                                                           \
	X(retriggered, "latched alarms whose condition came back")                            \
	X(restored, "alarms restored from storage at start-up")                               \
	X(restore_failed, "stored alarm records that could not be read back")                 \
	X(stale_obs, "observations older than a condition's last hit (not taken as its end)") \
	X(conditions_full, "conditions not kept: the table was full")

#define CP_X_ENUM_ALARM(name, desc) CP_ALM_##name,
enum cp_alarm_counter { CP_ALARM_COUNTERS(CP_X_ENUM_ALARM) CP_ALM__COUNT };
#undef CP_X_ENUM_ALARM
const char *cp_alarm_counter_name(enum cp_alarm_counter c);
const char *cp_alarm_counter_desc(enum cp_alarm_counter c);

const char *cp_alarm_state_name(enum cp_alarm_state s);	  /**< "pending", "active", "acknowledged",
							     "latched", "cleared", "reset" */
const char *cp_alarm_change_name(enum cp_alarm_change c); /**< "raised", "escalated", ... */
const char *
cp_alarm_source_name(enum cp_alarm_source s); /**< "rule", "device", "technical", "news2" */

struct cp_alarm_opts {
	uint64_t first_id;	 /**< the first alarm id (store_alarm_next_id; default 1) */
	int64_t hold_ns;	 /**< instant conditions end after this without a hit (60 s) */
	int64_t silence_ns;	 /**< audio pause when none is given (120 s) */
	unsigned max_conditions; /**< table size (default 65536) */
	/** Every change, in order, with the alarm after it. */
	void (*on_change)(void *arg, const struct cp_alarm *a, enum cp_alarm_change ch);
	void *arg;
};
void cp_alarm_opts_defaults(struct cp_alarm_opts *o);

struct cp_alarms;

int cp_alarms_new(const struct cp_alarm_opts *o, struct cp_alarms **out);
void cp_alarms_free(struct cp_alarms *m);

/**
 * A rule hit (@p ev DP_EV_HIT) of @p rule about @p subj. A hit on a
 * message (ev->obs_index == RULE_HIT_MSG) of a device alarm is tied to that
 * alarm's event code by the DP_EV_DEV_ALARM event that follows it.
 */
void cp_alarms_hit(struct cp_alarms *m, const struct dp_event *ev, const struct cp_alarm_rule *rule,
		   const struct cp_subject *subj);

/** An observation (DP_EV_OBS): may end the metric conditions it answers. */
void cp_alarms_obs(struct cp_alarms *m, const struct dp_event *ev, const struct cp_subject *subj);

/**
 * A device's own alarm (DP_EV_DEV_ALARM). @p had_hits: an alert rule hit
 * the same message (then that rule's alarm stands for it; otherwise it is
 * a CP_SID_DEVICE_ALARM alarm following the device's phases).
 */
void cp_alarms_dev_alarm(struct cp_alarms *m, const struct dp_event *ev, bool had_hits,
			 const struct cp_subject *subj);

/**
 * A condition the control plane decides itself (technical, NEWS2):
 * @p present true starts it (or keeps it present), false ends it. @p rule
 * gives sid, priority, delay, latch, msg; @p response is kept (static
 * text). @p value / @p metric: what it is about (NaN / 0: nothing).
 */
void cp_alarms_condition(struct cp_alarms *m, const struct cp_alarm_rule *rule,
			 enum cp_alarm_source source, const struct cp_subject *subj, bool present,
			 int64_t time_ns, uint32_t metric, double value, const char *response);

/** Time passes: delays run out, escalations, holds, silences. */
void cp_alarms_tick(struct cp_alarms *m, int64_t now_ns);

/**
 * Operator actions, recorded with @p who (at most CP_ALARM_WHO_MAX - 1
 * bytes kept) and @p now_ns. ack: active -> acknowledged. reset: latched
 * -> reset. silence: audio paused for @p for_ns (0: the default), active
 * or acknowledged alarms.
 * @return 0, -ENOENT (no open alarm of that id), -EALREADY (already in
 *         that state), -EINVAL (not in a state that allows it: reset of a
 *         present condition, ack of a latched one).
 */
int cp_alarms_ack(struct cp_alarms *m, uint64_t id, const char *who, int64_t now_ns);
int cp_alarms_reset(struct cp_alarms *m, uint64_t id, const char *who, int64_t now_ns);
int cp_alarms_silence(struct cp_alarms *m, uint64_t id, const char *who, int64_t for_ns,
		      int64_t now_ns);

/**
 * An alarm record as stored: one JSON object (id, sid, rev, source, state,
 * priority, base_priority, kind, latch, msg, subject, patient, location,
 * device_id, device (hex), event_code, metric (name and code), value,
 * response, onset, raised, changed, ended, last_hit, silenced_until (ISO
 * times and _ns), hits, history [{change, state, priority, time, time_ns,
 * by}], history_dropped). @return the text (malloc'd, compact) or NULL.
 */
char *cp_alarm_json(const struct cp_alarm *a, size_t *len);

/**
 * A text from the wire as a JSON string (a new reference, or NULL: no
 * memory). Texts that are not UTF-8 (HL7 is often Latin-1) are taken as
 * Latin-1, so records and replies stay readable JSON.
 */
struct json_t *cp_json_text(const char *s);

/**
 * Read a stored record back (the inverse of cp_alarm_json).
 * @return 0, -EINVAL (not an alarm record), -ENOMEM.
 */
int cp_alarm_from_json(const char *json, size_t len, struct cp_alarm *out);

/**
 * At start-up, before any event: take back an alarm that was open (active,
 * acknowledged or latched) when vigild stopped. Its condition is present
 * as of its last_hit; no change is announced (CP_ALC_RESTORED reaches
 * on_change, which must not store it again). Final ones are ignored.
 * @return 1 restored, 0 ignored (final), -EEXIST (that condition is open
 *         already), -ENOSPC.
 */
int cp_alarms_restore(struct cp_alarms *m, const struct cp_alarm *a);

/** The lowest id still open (UINT64_MAX: none): where a restore scan starts. */
uint64_t cp_alarms_lowest_open(const struct cp_alarms *m);

/** The next id (one more than the last given). */
uint64_t cp_alarms_next_id(const struct cp_alarms *m);

/**
 * Readers (any thread; under the manager's mutex, taken by the writer only
 * around each change): a copy of one open alarm, or of every open one (in
 * id order) until @p fn returns non-zero (returned).
 */
int cp_alarms_get(struct cp_alarms *m, uint64_t id, struct cp_alarm *out);
int cp_alarms_foreach(struct cp_alarms *m, int (*fn)(void *arg, const struct cp_alarm *a),
		      void *arg);
/** Open alarms (active, acknowledged, latched) by priority (index enum rule_priority). */
void cp_alarms_open_by_priority(struct cp_alarms *m, unsigned out[RULE_PRIO__COUNT]);
void cp_alarms_counters(const struct cp_alarms *m, uint64_t out[CP_ALM__COUNT]);

/* ------------------------------------------------------------------------ */
/* The alarm log (eve.c)                                                      */
/* ------------------------------------------------------------------------ */

/*
 * Every alarm change as one JSON line, EVE-style, for Filebeat or Vector:
 * {"timestamp":"2024-03-01T08:02:15.000000+0000","event_type":"alarm",
 *  "alarm":{"id","sid","rev","msg","priority","base_priority","kind","state",
 *  "change","source","subject","device" (16 upper-case hex),"device_id",
 *  "patient","location" (empty texts: null),"metric","value" (a real; NaN:
 *  null),"by","response","event_code" (only when not 0),"raised" (ISO, Z),
 *  "stored"}}. Appended with O_APPEND, one write per line;
 * cp_eve_reopen (SIGHUP) closes and reopens the path, so a rotated file is
 * let go of.
 */
struct cp_eve;

/** Open (create, mode 0640) @p path for appending. @return 0, -errno. */
int cp_eve_open(const char *path, struct cp_eve **out);
/** Write the line of change @p ch of @p a (@p stored: its record is synced). @return 0, -errno. */
int cp_eve_alarm(struct cp_eve *e, const struct cp_alarm *a, enum cp_alarm_change ch, bool stored);
/**
 * The same line, for another reader (the control socket's followers):
 * @return a buffer to free(), or NULL (no memory); *line points into it at
 * the JSON text, *len counts it without the newline that ends it.
 */
char *cp_eve_alarm_line(const struct cp_alarm *a, enum cp_alarm_change ch, bool stored, char **line,
			size_t *len);
/**
 * Write a line cp_eve_alarm_line built (with its newline), taking @p buf
 * (freed here). @return 0, -errno.
 */
int cp_eve_write(struct cp_eve *e, char *buf, char *line, size_t len);
/**
 * A patient's NEWS2 as one line: {"timestamp" (pt->news2_ns), "event_type":
 * "news2", "news2": {"patient", "location", "device", then cp_news2_json's
 * fields}}. @return 0, -errno.
 */
int cp_eve_news2(struct cp_eve *e, const struct cp_patient *pt);
/** Reopen the path (after a rotation). @return 0, -errno (the old file stays in use). */
int cp_eve_reopen(struct cp_eve *e);
void cp_eve_close(struct cp_eve *e);
/** Lines written, and writes that failed. */
void cp_eve_counts(const struct cp_eve *e, uint64_t *lines, uint64_t *failed);

/* ------------------------------------------------------------------------ */
/* vigil's technical conditions                                              */
/* ------------------------------------------------------------------------ */

/** The technical conditions the control plane raises, each with a configured priority. */
enum cp_tech {
	CP_TECH_DEVICE_SILENT = 0, /**< alarms.priority.device_silent (medium) */
	CP_TECH_SEQUENCE_GAP,	   /**< alarms.priority.sequence_gap (low) */
	CP_TECH_DECODE_ERRORS,	   /**< alarms.priority.decode_errors (low) */
	CP_TECH_EVENT_LOSS,	   /**< alarms.priority.event_loss (high) */
	CP_TECH_STORAGE,	   /**< alarms.priority.storage (high) */
	CP_TECH_RELOAD,		   /**< alarms.priority.reload (medium) */
	CP_TECH__COUNT
};
/** "device_silent", "sequence_gap", "decode_errors", "event_loss", "storage", "reload". */
const char *cp_tech_name(enum cp_tech t);
/** Its sid (CP_SID_*), default priority (enum rule_priority) and message. */
uint32_t cp_tech_sid(enum cp_tech t);
enum rule_priority cp_tech_default_priority(enum cp_tech t);
const char *cp_tech_msg(enum cp_tech t);

/** One entry of `patients.settings`: what monitors do not send. */
struct cp_patient_setting {
	char *patient;
	uint8_t oxygen; /**< enum cp_o2 */
	uint8_t acvpu;	/**< enum cp_acvpu */
	bool scale2;
};

/** One entry of the `ports:` list. */
struct cp_port_config {
	char *device; /**< PCI address or vdev string ("net_pcap0,rx_pcap=x.pcap") */
	uint8_t n_ipv4;
	uint8_t n_ipv6;
	uint32_t ipv4[DP_MAX_ADDRS]; /**< network byte order */
	uint8_t ipv6[DP_MAX_ADDRS][16];
};

#define CP_MAX_RULE_FILES 32
#define CP_MAX_RULE_VARS 64

/** One entry of `rules.vars`. */
struct cp_rule_var {
	char *name;
	char *value;
};

/*
 * control.roles: who may do what on the control socket. Each list holds
 * user names, uids ("1000"), or groups ("@vigil-ops", "@1001"; a member by
 * its primary or a supplementary group). A caller gets the highest role
 * whose list names it; root and vigild's own user are always admin; a
 * caller named nowhere has no role (every command is refused, naming the
 * role it needs).
 */
enum cp_role {
	CP_ROLE_NONE = 0,
	CP_ROLE_VIEWER,	  /**< read */
	CP_ROLE_OPERATOR, /**< also acknowledge, reset, silence */
	CP_ROLE_ADMIN,	  /**< also rules load, backup, shutdown */
	CP_ROLE__COUNT,
};
/** "none", "viewer", "operator", "admin". */
const char *cp_role_name(enum cp_role r);

#define CP_MAX_ROLE_ENTRIES 64
struct cp_role_map {
	unsigned n[CP_ROLE__COUNT];
	char *entry[CP_ROLE__COUNT][CP_MAX_ROLE_ENTRIES]; /**< as written (owned) */
};

/**
 * The role of a caller (SO_PEERCRED's uid and gid; supplementary groups of
 * the uid's user are looked up with getgrouplist). @p self_uid is vigild's.
 */
enum cp_role cp_role_of(const struct cp_role_map *m, uid_t uid, gid_t gid, uid_t self_uid);

/** The user name of @p uid, or its digits when it has none (or @p len is too short). */
void cp_user_name(uid_t uid, char *out, size_t len);

/** The gid of @p group: digits, or a group name. @return 0, -ENOENT, -ENOMEM. */
int cp_group_id(const char *group, gid_t *out);

/** vigil.yaml, with every default filled in. Strings are owned (cp_config_free). */
struct cp_config {
	char *path; /**< file it came from, or NULL for defaults only */
	unsigned n_eal;
	char *eal[CP_MAX_EAL_ARGS]; /**< EAL arguments, without argv[0] */
	unsigned workers;	    /**< worker lcores (default 1) */
	unsigned n_ports;
	struct cp_port_config port[DP_MAX_PORTS];
	uint8_t n_hl7_ports;
	uint8_t n_vtp_ports;
	uint16_t hl7_ports[DP_MAX_TELEMETRY_PORTS]; /**< default {2575} */
	uint16_t vtp_ports[DP_MAX_TELEMETRY_PORTS]; /**< default {4575} */
	bool udp_checksum;			    /**< default true */
	unsigned vtp_devices;	 /**< VTP senders tracked per worker (default 131072) */
	unsigned mbufs;		 /**< 0 = sized from the queues */
	unsigned mbuf_cache;	 /**< default 256 */
	uint16_t rx_desc;	 /**< default 1024 */
	uint16_t tx_desc;	 /**< default 1024 */
	bool promiscuous;	 /**< default true */
	unsigned stats_interval; /**< seconds, 0 = only at exit */
	unsigned n_rule_files;
	char *rule_files[CP_MAX_RULE_FILES]; /**< relative ones resolved against the config's dir */
	unsigned n_rule_vars;
	struct cp_rule_var rule_var[CP_MAX_RULE_VARS];
	char *rules_cache_dir;	   /**< NULL: no cache */
	unsigned rules_max_errors; /**< default RULE_MAX_ERRORS_DEFAULT */
	unsigned n_allow;
	struct dp_acl_net *allow;  /**< telemetry.allow (owned); none: every sender allowed */
	unsigned registry_devices; /**< registry.devices (default 16384) */
	unsigned alarm_ring;	   /**< events.alarm_ring (default 16384) */
	unsigned telemetry_ring;   /**< events.telemetry_ring (default 65536) */
	/* storage.* (a relative dir or key_file is taken from the config file's directory) */
	char *storage_dir;	/**< NULL: storage off, nothing is kept (default CP_STORAGE_DIR) */
	bool storage_dir_given; /**< set by a file (else `vigild --pcap` keeps nothing) */
	unsigned storage_block_cache_mb;	    /**< default 64 */
	unsigned storage_write_buffer_mb;	    /**< per column family (default 64) */
	enum store_compression storage_compression; /**< default lz4 */
	unsigned storage_batch_records;		    /**< default STORE_BATCH_RECORDS_DEFAULT */
	unsigned storage_batch_ms;		    /**< default STORE_BATCH_MS_DEFAULT */
	int64_t storage_retain_s[STORE_CF__COUNT];  /**< seconds, 0 keeps (meta: always 0) */
	char *storage_key_file;			    /**< NULL: values are not sealed */
	/* alarms.* */
	char *alarm_log; /**< alarms.log: the EVE-style alarm log (NULL: none; default CP_ALARM_LOG)
			  */
	bool alarm_log_given;	   /**< set by a file (else `vigild --pcap` writes none) */
	unsigned alarm_hold_s;	   /**< alarms.hold: instant conditions end (60) */
	unsigned alarm_silence_s;  /**< alarms.silence: audio pause by default (120) */
	unsigned alarm_conditions; /**< alarms.conditions: table size (65536) */
	unsigned device_silent_s;  /**< alarms.device_silent: seconds without a message (30; 0: off)
				    */
	unsigned decode_errors_count;	       /**< alarms.decode_errors.count (10; 0: off) */
	unsigned decode_errors_s;	       /**< alarms.decode_errors.seconds (60) */
	uint8_t tech_priority[CP_TECH__COUNT]; /**< alarms.priority.<cp_tech_name> */
	/* patients.* */
	struct cp_patient_opts patients; /**< patients.max, .stale.<param>, .sources.<param> */
	unsigned n_patient_settings;
	struct cp_patient_setting *patient_settings; /**< patients.settings (owned) */
	/* control.* (the control socket; ctl.c) */
	char *control_socket;	      /**< NULL: no socket (default CP_CONTROL_SOCKET) */
	bool control_socket_given;    /**< set by a file (else `vigild --pcap` opens none) */
	unsigned control_mode;	      /**< the socket's permission bits (default 0660) */
	char *control_group;	      /**< group owning the socket (NULL: vigild's) */
	unsigned control_max_clients; /**< default 256 */
	struct cp_role_map roles;     /**< control.roles.{admin,operator,viewer} */
	/* audit.* */
	char *audit_key_file; /**< the HMAC key (NULL: chained with SHA-256 only, said at start) */
	/* metrics.* */
	char *metrics_listen; /**< "ADDR:PORT" on loopback (NULL: off; default CP_METRICS_LISTEN) */
	bool metrics_listen_given; /**< set by a file (else `vigild --pcap` serves none) */
	/* backup.* */
	char *backup_dir; /**< where `vigilctl backup create` writes (default CP_BACKUP_DIR) */
};

#define CP_CONTROL_SOCKET "/run/vigil/vigild.sock"
#define CP_CONTROL_MODE 0660
#define CP_CONTROL_MAX_CLIENTS 256
#define CP_METRICS_LISTEN "127.0.0.1:9650"
#define CP_BACKUP_DIR "/var/lib/vigil/backup"
#define CP_STORAGE_DIR "/var/lib/vigil/db"
#define CP_ALARM_LOG "/var/log/vigil/alarms.json"
#define CP_STORAGE_CACHE_MB 64
#define CP_STORAGE_WRITE_BUFFER_MB 64

/** Fill @p c with the defaults (no ports). Return 0 or -ENOMEM. */
int cp_config_defaults(struct cp_config *c);

/**
 * Read a YAML file over the defaults already in @p c.
 *
 * @param err  on failure, one line: "FILE:LINE:COL: what is wrong with KEY"
 * @return 0, -ENOENT/-EACCES (file), -EINVAL (syntax, unknown key, bad value),
 *         -ENOMEM.
 */
int cp_config_load(struct cp_config *c, const char *path, char *err, size_t errlen);

/** The same from a string in memory; @p name stands for the file name in errors. */
int cp_config_load_string(struct cp_config *c, const char *yaml, size_t len, const char *name,
			  char *err, size_t errlen);

/** Free what cp_config_defaults/cp_config_load allocated; @p c may be reused after. */
void cp_config_free(struct cp_config *c);

/**
 * Add a port given by its device string (the --pcap shortcut, tests).
 * @return 0, -E2BIG (too many ports), -ENOMEM.
 */
int cp_config_add_port(struct cp_config *c, const char *device);

/**
 * Build the data plane's view of the configuration. Pointers in @p dp point
 * into @p c, which must outlive it.
 */
void cp_config_to_dp(const struct cp_config *c, struct dp_conf *dp);

/**
 * Build the EAL argument vector: argv0, the configured `eal:` list, an lcore
 * list for 1 + workers lcores unless the list names lcores itself (-l, -c,
 * --lcores), and `-a`/`--vdev` for each port (a PCI address is allowed with
 * -a, anything else is a --vdev).
 *
 * @param argv  room for CP_MAX_EAL_ARGS + 2 * DP_MAX_PORTS + 4 pointers; the
 *              strings point into @p c or into @p scratch
 * @return argc, or -E2BIG.
 */
int cp_eal_args(const struct cp_config *c, const char *argv0, char **argv, size_t max,
		char *scratch, size_t scratch_len);

/**
 * Replace the rule files with @p files (the --rules option; paths as given).
 * @return 0, -E2BIG, -ENOMEM.
 */
int cp_config_set_rule_files(struct cp_config *c, const char *const *files, unsigned n);

/** The rule_load_opts for the configured rules; @p vars has CP_MAX_RULE_VARS room. */
void cp_config_rule_opts(const struct cp_config *c, struct rule_load_opts *opts,
			 struct rule_var *vars);

/** Print every key with its value, in vigil.yaml form (for --print-config). */
void cp_config_print(const struct cp_config *c, FILE *out);

/**
 * The store's options of the configuration (storage.*): @p opts gets
 * store_opts_defaults, then every configured value, read-write. Its
 * strings point into @p c. opts->dir is NULL when storage is off.
 */
void cp_config_store_opts(const struct cp_config *c, struct store_opts *opts);

/** "none", "lz4", "zstd", "snappy". */
const char *cp_compression_name(enum store_compression z);

/**
 * A retention as vigil.yaml writes it: "0" (kept), or the largest unit that
 * divides it ("7d", "12h", "90m", "45s"). @return @p buf.
 */
const char *cp_duration_format(int64_t seconds, char *buf, size_t len);

/**
 * The sender ACL of the configuration (telemetry.allow), built for
 * dp_acl_publish or dp_conf.acl.
 * @return 0, -ENOMEM.
 */
int cp_config_acl(const struct cp_config *c, struct dp_acl **out);

/* ------------------------------------------------------------------------ */
/* The event consumer (consumer.c)                                           */
/* ------------------------------------------------------------------------ */

/*
 * Drains every worker's rings on a control-plane thread: all ALARM lanes
 * first, then TELEMETRY in bounded batches, looking at the ALARM lanes again
 * between batches, so an alarm never waits behind observations. When a
 * worker's alarm_lost counter has grown and its ALARM lane is empty again,
 * the consumer raises a DP_EV_TECH event (DP_TECH_EVENT_LOSS, value = the
 * events lost since the last one) through on_alarm. Every hook of one
 * consumer runs on one thread at a time (the consumer's, or the caller of
 * cp_consumer_pass / cp_consumer_stop), so what they write needs no lock.
 *
 * Order: every ALARM event a worker put before an observation (a message's
 * rule hits and device alarms, which the worker puts before its
 * observations) reaches on_alarm before that observation reaches
 * on_telemetry, unless it was lost to a full ring. So an observation that
 * did not hit, newer than a condition's last hit, may end the condition: no
 * hit of its own message can still be on its way.
 *
 * RCU: the hooks run on the consumer's thread as an online QSBR reader
 * (online for a pass, a quiescent state after each, offline while idle),
 * so they may read the device registry and the ruleset but must not wait
 * for a grace period; or on the caller of cp_consumer_pass /
 * cp_consumer_stop, which must then be a registered reader online (or not
 * read RCU tables).
 */
struct cp_event_hooks {
	/** Each ALARM event (rule hit, device alarm, technical), in lane order. */
	void (*on_alarm)(void *arg, const struct dp_event *ev);
	/** A batch of TELEMETRY events. */
	void (*on_telemetry)(void *arg, const struct dp_event *ev, unsigned n);
	void *arg;
};

#define CP_CONSUMER_COUNTERS(X)                                                                  \
	X(alarm_events, "ALARM events taken from the workers' rings")                            \
	X(telemetry_events, "TELEMETRY events taken from the workers' rings")                    \
	X(loss_alarms, "technical alarms raised for ALARM events lost on a full ring")           \
	X(alarm_first, "ALARM checks between TELEMETRY batches that found events (taken first)") \
	X(passes, "passes over the rings")                                                       \
	X(idle_passes, "passes that found nothing (the consumer then sleeps briefly)")

#define CP_X_ENUM_CONS(name, desc) CP_CONS_##name,
enum cp_consumer_counter { CP_CONSUMER_COUNTERS(CP_X_ENUM_CONS) CP_CONS__COUNT };
#undef CP_X_ENUM_CONS

const char *cp_consumer_counter_name(enum cp_consumer_counter c);
const char *cp_consumer_counter_desc(enum cp_consumer_counter c);

struct cp_consumer;

/**
 * A consumer over @p n_workers lanes (lanes[w] for worker w; stats[w] is
 * that worker's counters, read for alarm_lost; @p stats NULL: no loss
 * check). @p hooks may be NULL or have NULL members (then the events are
 * only counted).
 * @return 0, -EINVAL, -ENOMEM.
 */
int cp_consumer_new(struct dp_lanes *const *lanes, const struct dp_stats *const *stats,
		    unsigned n_workers, const struct cp_event_hooks *hooks,
		    struct cp_consumer **out);

/**
 * Call @p fn(@p arg) at the end of every pass, busy or idle, on the thread
 * that ran it, so that the hooks' time-driven work (the store's batch
 * timer, retries) runs even when no event comes. Set before
 * cp_consumer_start; @p fn NULL: none. (A setter rather than a member of
 * cp_event_hooks, so that positional initializers of the hooks still
 * build.)
 */
void cp_consumer_set_idle(struct cp_consumer *c, void (*fn)(void *arg), void *arg);

/** The same over a started plane's workers. */
int cp_consumer_of_plane(struct dp_plane *dp, const struct cp_event_hooks *hooks,
			 struct cp_consumer **out);

/**
 * One pass on the calling thread: what every ALARM lane holds, then up to
 * @p telemetry_budget TELEMETRY events (the ALARM lanes checked again after
 * each TELEMETRY take and between batches), then the loss check.
 * @return events taken.
 */
unsigned cp_consumer_pass(struct cp_consumer *c, unsigned telemetry_budget);

/**
 * Run passes on a thread of its own (sleeping 100 us when idle; it inherits
 * the calling thread's CPU affinity). @return 0, -EALREADY, or pthread's -errno.
 */
int cp_consumer_start(struct cp_consumer *c);

/**
 * Stop the thread (if started), then drain what is left in every ring
 * (call after dp_stop, so nothing is left behind).
 */
void cp_consumer_stop(struct cp_consumer *c);
void cp_consumer_free(struct cp_consumer *c);

/** The consumer's counters (relaxed reads; it is their only writer). */
void cp_consumer_counters(const struct cp_consumer *c, uint64_t out[CP_CONS__COUNT]);

/* ------------------------------------------------------------------------ */
/* Persistence (persist.c)                                                   */
/* ------------------------------------------------------------------------ */

/*
 * The consumer's hooks that keep what the workers saw in the store: each
 * observation goes into the store's batch (written with the WAL, no fsync,
 * every storage.batch_records or storage.batch_ms), each ALARM event (rule
 * hit, device alarm, technical condition) becomes an alarm record (compact
 * JSON) under the next alarm id. Alarm records are written and synced in
 * groups (one fsync each, store_alarms_put): a group is written when it
 * holds STORE_ALARMS_BATCH_MAX records, at the end of every consumer pass
 * (cp_persist_tick) and by cp_persist_flush; a record counts as stored
 * once its group is. The hooks, and so the store's writes, run on the
 * consumer's thread only: it is the store's one writer (cp_persist_tick,
 * its idle work, writes the pass's alarm group and runs the batch timer
 * and the retries).
 *
 * An alarm record whose write fails (a full disk, an I/O error) is not
 * dropped: it waits in a bounded queue (retry_max records) and is written
 * again, before any newer one, every retry_ms until writes succeed; what
 * does not fit in the queue is lost and counted. The failure is a
 * technical condition: one line on the log when writes start failing and
 * one when they succeed again, a counter, and the on_condition hook.
 * Every ALARM event ends up in exactly one of alarms_stored,
 * alarm_retry_lost, alarm_refused, alarm_encode_failed, the queue, or
 * (until the end of the consumer's pass) the group being gathered.
 */
#define CP_PERSIST_COUNTERS(X)                                                                    \
	X(obs_stored, "observations handed to the store's batch (storage.obs_written: those "     \
		      "of them written to the WAL)")                                              \
	X(obs_store_failed, "observation batch writes that failed (their observations are lost: " \
			    "storage.obs_failed)")                                                \
	X(alarms_stored, "alarm records written and synced, retries included")                    \
	X(alarm_groups, "synced writes of alarm groups (one fsync each)")                         \
	X(alarm_store_failed, "alarm records whose first write failed (kept in memory for a "     \
			      "retry)")                                                           \
	X(alarms_retried, "alarm records stored by a retry after their first write failed")       \
	X(alarm_retry_lost, "alarm records lost: the retry queue was full, or still held them "   \
			    "at exit")                                                            \
	X(alarm_refused, "alarm records the store refused for good (too large, invalid): lost")   \
	X(alarm_encode_failed, "alarm records that could not be built (out of memory): lost")     \
	X(disk_full_alarms, "technical conditions raised: storage writes started failing (disk "  \
			    "full or I/O error)")                                                 \
	X(storage_recovered, "storage writes succeeded again after failing")                      \
	X(events_ignored, "events of a type that is not stored (none expected)")

#define CP_X_ENUM_PERSIST(name, desc) CP_PERSIST_##name,
enum cp_persist_counter { CP_PERSIST_COUNTERS(CP_X_ENUM_PERSIST) CP_PERSIST__COUNT };
#undef CP_X_ENUM_PERSIST

const char *cp_persist_counter_name(enum cp_persist_counter c);
const char *cp_persist_counter_desc(enum cp_persist_counter c);

#define CP_PERSIST_RETRY_MAX 1024 /**< alarm records kept in memory while writes fail */
#define CP_PERSIST_RETRY_MS 100	  /**< between two retries while writes fail */

/** Start from cp_persist_opts_defaults; the defaults are in brackets. */
struct cp_persist_opts {
	unsigned retry_max; /**< the retry queue's room, at least 1 (CP_PERSIST_RETRY_MAX) */
	unsigned retry_ms;  /**< between retries, 0: every pass (CP_PERSIST_RETRY_MS) */
	FILE *log;	    /**< where the state changes are said (stderr; NULL: stderr) */
	/** Storage writes started failing (@p rc the negative errno) or succeed again (0). */
	void (*on_condition)(void *arg, int rc);
	void *condition_arg;
	store_clock_fn clock; /**< the store's clock, for store_tick (NULL: CLOCK_REALTIME) */
	/** A record of cp_persist_alarm was synced (rc 0) or its first write failed. */
	void (*on_stored)(void *arg, uint64_t cookie, int rc);
	void *stored_arg;
	void *clock_arg;
};

void cp_persist_opts_defaults(struct cp_persist_opts *o);

struct cp_persist;

/**
 * Persistence into @p s (open read-write; it must outlive the persist and
 * have no other writer). @p o NULL: the defaults. Alarm ids go on from
 * store_alarm_next_id.
 * @return 0, -EINVAL (@p s NULL, retry_max 0), -ENOMEM.
 */
int cp_persist_new(struct store *s, const struct cp_persist_opts *o, struct cp_persist **out);

/** The hooks for cp_consumer_new (on_alarm, on_telemetry; arg = @p p). */
void cp_persist_hooks(struct cp_persist *p, struct cp_event_hooks *hooks);

/**
 * The idle work, for cp_consumer_set_idle(c, cp_persist_tick, p), at the
 * end of every pass: write the pass's alarm group (after the queued
 * records, retried if a retry is due), and the observation batch if it is
 * due. On the writer thread only.
 */
void cp_persist_tick(void *persist);

/**
 * Retry the queued alarm records now, write the alarm group, then the
 * observation batch (store_flush). On the writer thread, or once the
 * consumer has stopped.
 * @return 0, or the negative errno of the first write that failed.
 */
int cp_persist_flush(struct cp_persist *p);

/**
 * A last cp_persist_flush, then free. Alarm records still queued are lost:
 * counted (alarm_retry_lost) and said on the log. The store stays open.
 * NULL is fine.
 */
void cp_persist_free(struct cp_persist *p);

/** The counters (relaxed reads; any thread). */
void cp_persist_counters(const struct cp_persist *p, uint64_t out[CP_PERSIST__COUNT]);

/**
 * Store an alarm record under @p id (the alarm manager's), written with
 * the pass's group; takes @p json (malloc'd). Once the group is synced,
 * or its first write has failed (the record then waits for a retry),
 * on_stored(stored_arg, @p cookie, rc) is called, once per record.
 */
void cp_persist_alarm(struct cp_persist *p, uint64_t id, int64_t time_ns, char *json, size_t len,
		      uint64_t cookie);

/**
 * Set on_stored and on_condition (and their common @p arg) after
 * cp_persist_new, for a caller made after the persist (cp_clinical).
 * Before the consumer starts.
 */
void cp_persist_notify(struct cp_persist *p, void (*on_stored)(void *arg, uint64_t cookie, int rc),
		       void (*on_condition)(void *arg, int rc), void *arg);

/** Where storage stands (any thread). */
struct cp_persist_state {
	bool failing;	  /**< the last write failed */
	int rc;		  /**< its negative errno (0 when not failing) */
	unsigned queued;  /**< alarm records waiting for a retry */
	uint64_t next_id; /**< the id the next alarm record gets */
};
void cp_persist_state(const struct cp_persist *p, struct cp_persist_state *st);

/* ------------------------------------------------------------------------ */
/* Rule reload (reload.c)                                                    */
/* ------------------------------------------------------------------------ */

/*
 * A reload reads the configuration file again (rules.* and telemetry.allow;
 * other keys take effect at the next start), loads the rules aside, makes a
 * new bundle, publishes it and the ACL with one pointer exchange each, and
 * frees the old ones after a grace period. One at a time: a second request
 * while one runs is refused with -EBUSY. A ruleset with an error is
 * refused with every error, and the running one stays in force.
 */
struct cp_reload_result {
	int rc;		   /**< 0, or the negative errno (-EINVAL: errors in the rules or config) */
	uint64_t version;  /**< the version in force afterwards */
	unsigned n_rules;  /**< rules of the version in force */
	unsigned n_errors; /**< errors of the refused ruleset */
	unsigned n_warnings;
	double compile_ms; /**< rule_set_load of the new set */
	double publish_ms; /**< from the pointer exchange to the end of the grace period */
	double total_ms;
	char hash[65]; /**< of the ruleset in force */
	char *diags;   /**< every error and warning, as rule_diags_print writes them; owned */
};

void cp_reload_result_free(struct cp_reload_result *r);

/**
 * Print it: "vigild: reload: ruleset version 3 in force: 38 rules, compiled
 * in 4.1 ms, published in 0.2 ms (hash ...)", or "vigild: reload refused:
 * 2 errors; version 2 stays in force" followed by every diagnostic, or, for
 * -EBUSY, that the request was not carried out.
 */
void cp_reload_result_print(const struct cp_reload_result *r, FILE *out);

/**
 * The same as one JSON line, {"reload": {"ok", "rc", "error" (on failure),
 * "version", "rules", "errors", "warnings", "compile_ms", "publish_ms",
 * "total_ms", "hash", "diagnostics"}}, for scripts.
 * @return 0, -ENOMEM, or the negative errno of the failed write.
 */
int cp_reload_result_print_json(const struct cp_reload_result *r, FILE *out);

struct cp_reloader;

/**
 * Each reload builds the configuration as vigild did at start-up: the
 * defaults, @p config_path over them (if not NULL), then @p rule_files
 * (the --rules option) in place of rules.files when @p n_rule_files > 0.
 * The strings are copied. @p dp is the running plane; the version of its
 * current bundle (1 at start-up; 0 without one) is where the numbering goes
 * on from.
 * @return 0, -EINVAL (@p dp NULL, more than CP_MAX_RULE_FILES), -ENOMEM.
 */
int cp_reloader_new(struct dp_plane *dp, const char *config_path, const char *const *rule_files,
		    unsigned n_rule_files, struct cp_reloader **out);
/** Wait for a running threaded reload, then free. NULL is fine. */
void cp_reloader_free(struct cp_reloader *r);

/**
 * Reload on the calling thread (a registered QSBR reader that is online is
 * taken offline for the duration and put back online).
 * @return result->rc; -EBUSY if one is running (then result->rc is -EBUSY
 *         and the rest of @p result is zero: the caller, not being the
 *         publisher, reads the version in force as an online reader if it
 *         wants it).
 */
int cp_reload_run(struct cp_reloader *r, struct cp_reload_result *result);

/**
 * Start a reload on a thread of its own (not a QSBR reader; it blocks every
 * signal). @return 0, -EBUSY if one is running, or pthread_create's -errno.
 */
int cp_reload_start(struct cp_reloader *r);

/**
 * A finished cp_reload_start's result, once: @return true and fills @p result
 * (which then owns the diags string; cp_reload_result_free it). A result not
 * polled before the next threaded reload ends is replaced by that one's.
 */
bool cp_reload_poll(struct cp_reloader *r, struct cp_reload_result *result);

/**
 * Reload with @p rule_files in place of the configured ones (`vigilctl rules
 * load`), on the calling thread as cp_reload_run. When the load succeeds
 * those files are the ruleset of every later reload (as --rules is); when
 * it is refused, the list stays as it was. @return as cp_reload_run, or
 * -EINVAL (none, or more than CP_MAX_RULE_FILES), -ENOMEM.
 */
int cp_reload_run_files(struct cp_reloader *r, const char *const *rule_files, unsigned n,
			struct cp_reload_result *result);

/** The wall clock (ns) of the last reload put in force; 0: none since start. */
int64_t cp_reload_published_ns(const struct cp_reloader *r);

/** Wait until a reload started by cp_reload_start (if any) has finished. */
void cp_reload_wait(struct cp_reloader *r);

/** Good and refused reloads so far (a request refused as busy is neither). */
void cp_reload_counts(const struct cp_reloader *r, uint64_t *good, uint64_t *refused);

/* ------------------------------------------------------------------------ */
/* The clinical pipeline (clinical.c)                                        */
/* ------------------------------------------------------------------------ */

/*
 * vigild's consumer hooks: every ALARM and TELEMETRY event goes through the
 * alarm manager, the patient state and NEWS2, and vigil's technical
 * conditions (device silent, sequence gaps, decode errors, event loss,
 * storage, reload); every observation and every alarm change to the store
 * (cp_persist); each alarm change is announced (the alarm log, later the
 * control socket) once its record is synced (or, while storage fails, at
 * once with "stored":false: a full disk never silences an alarm).
 *
 * Time: with packet_time (a replayed capture) the events' own receive time
 * (the capture's), else the wall clock. After a restart in packet time,
 * events not newer than the newest stored alarm change are skipped (the
 * same capture replayed again raises nothing twice).
 *
 * Everything runs on the consumer's thread except where said.
 */
#define CP_CLINICAL_COUNTERS(X)                                                                    \
	X(hits, "rule hits taken")                                                                 \
	X(hits_unknown_rule,                                                                       \
	  "rule hits of a rule no longer loaded (taken with what the event says)")                 \
	X(held, "hits of metric rules with a delay held until their observation came")             \
	X(held_full, "such hits taken at once: the hold (16384 a worker) was full")                \
	X(device_alarms, "device alarms taken (ORU^R40)")                                          \
	X(observations, "observations taken")                                                      \
	X(replayed, "events skipped: not newer than the alarm state restored (a replay)")          \
	X(announced, "alarm changes announced after their record was synced")                      \
	X(announced_unstored, "alarm changes announced without a synced record (storage failing)") \
	X(log_lines, "lines written to the alarm log")                                             \
	X(log_failed, "alarm log writes that failed")                                              \
	X(seq_gaps, "VTP sequence gaps seen")                                                      \
	X(decode_errors, "datagrams that did not decode, by sender")                               \
	X(tech_conditions, "technical conditions raised")                                          \
	X(untracked, "devices, senders or restored technical alarms not watched: a table was "     \
		     "full")

#define CP_X_ENUM_CLIN(name, desc) CP_CLIN_##name,
enum cp_clinical_counter { CP_CLINICAL_COUNTERS(CP_X_ENUM_CLIN) CP_CLIN__COUNT };
#undef CP_X_ENUM_CLIN
const char *cp_clinical_counter_name(enum cp_clinical_counter c);
const char *cp_clinical_counter_desc(enum cp_clinical_counter c);

struct cp_clinical_opts {
	struct dp_plane *dp;	      /**< registry and ruleset (NULL: no registry; rules below) */
	const struct rule_set *rules; /**< with dp NULL: the set the hits' rule_index refer to */
	struct cp_persist *persist;   /**< NULL: nothing stored */
	struct store *store;	      /**< the restore at start-up (NULL: none) */
	const char *log_path;	      /**< the alarm log (NULL: none) */
	struct cp_alarm_opts alarm;   /**< on_change and arg are the pipeline's own */
	struct cp_patient_opts patient;
	unsigned n_settings;
	const struct cp_patient_setting *settings;
	int64_t device_silent_ns;     /**< 0: off */
	unsigned decode_errors_count; /**< 0: off */
	int64_t decode_errors_ns;
	uint8_t tech_priority[CP_TECH__COUNT];
	bool packet_time;
	FILE *log; /**< vigild's log (stderr) */
};

/** The options of a configuration (paths and dp left to the caller). */
void cp_clinical_opts_of_config(const struct cp_config *c, struct cp_clinical_opts *o);

struct cp_clinical;

/**
 * Build it; with a store, restore the open alarms first (their count is
 * said on the log). @return 0, -EINVAL, -ENOMEM, or the negative errno of
 * opening the log or reading the store.
 */
int cp_clinical_new(const struct cp_clinical_opts *o, struct cp_clinical **out);
/** The hooks for cp_consumer_new; cp_clinical_tick is its idle function. */
void cp_clinical_hooks(struct cp_clinical *c, struct cp_event_hooks *hooks);
void cp_clinical_tick(void *clinical);
/** Any thread: ask the writer to reopen the alarm log (SIGHUP). */
void cp_clinical_reopen_log(struct cp_clinical *c);
/** Any thread: a rule reload was refused (a technical condition until one succeeds). */
void cp_clinical_reload_result(struct cp_clinical *c, bool ok);
/** cp_persist_opts.on_condition: storage failing (rc < 0) or back (0). Writer thread. */
void cp_clinical_storage_condition(void *clinical, int rc);
/** Writer thread, or once the consumer has stopped: flush what waits, then free. */
void cp_clinical_free(struct cp_clinical *c);

/**
 * Any thread: run @p fn on the writer's thread at the end of its next pass,
 * with the alarm manager and the pipeline's clock (the time an
 * acknowledgement is stamped with). Calls run in order, each exactly once:
 * one still queued when the pipeline is freed runs then, with @p alarms
 * NULL (cancelled). @return 0, or -ENOMEM (fn will not run).
 */
int cp_clinical_call(struct cp_clinical *c,
		     void (*fn)(void *arg, struct cp_alarms *alarms, int64_t now_ns), void *arg);

/**
 * Any thread: every alarm change announced from now on is also handed to
 * @p fn (on the writer's thread) as its alarm-log line (JSON, no newline),
 * whether or not a log file is written. NULL stops it.
 */
void cp_clinical_set_announce(struct cp_clinical *c,
			      void (*fn)(void *arg, const char *line, size_t len), void *arg);

struct cp_alarms *cp_clinical_alarms(struct cp_clinical *c);
struct cp_patients *cp_clinical_patients(struct cp_clinical *c);
void cp_clinical_counters(const struct cp_clinical *c, uint64_t out[CP_CLIN__COUNT]);

/* ------------------------------------------------------------------------ */
/* The control server's counters (ctl.c; here for the report)                */
/* ------------------------------------------------------------------------ */

/** Counters of the server (X-macro). */
#define CP_CTL_COUNTERS(X)                                                                     \
	X(connections, "clients accepted")                                                     \
	X(refused_full, "clients refused: control.max_clients connected")                      \
	X(requests, "requests answered")                                                       \
	X(errors, "requests answered with an error")                                           \
	X(denied, "requests refused for the caller's role")                                    \
	X(malformed, "request lines that were not a JSON object with a cmd")                   \
	X(oversized, "request lines over 64 KiB")                                              \
	X(slow_clients, "clients disconnected: their unread replies passed the limit")         \
	X(follow_events, "alarm changes sent to followers")                                    \
	X(follow_lost, "alarm changes no follower got: the follow queue overflowed (each was " \
		       "told and dropped)")                                                    \
	X(audited, "audit records appended (state-changing commands and denials)")             \
	X(audit_failed, "audit records that could not be written (the answer stands; see the " \
			"log)")
#define CP_X_ENUM_CTL(name, desc) CP_CTL_##name,
enum cp_ctl_counter { CP_CTL_COUNTERS(CP_X_ENUM_CTL) CP_CTL__COUNT };
#undef CP_X_ENUM_CTL
const char *cp_ctl_counter_name(enum cp_ctl_counter c);
const char *cp_ctl_counter_desc(enum cp_ctl_counter c);

/* ------------------------------------------------------------------------ */
/* Reports (report.c)                                                       */
/* ------------------------------------------------------------------------ */

/** Everything vigild reports about a run, gathered by the main lcore. */
struct cp_report {
	double elapsed_s;
	unsigned n_workers;
	unsigned n_ports;
	struct dp_stats total;			/**< every worker summed */
	struct dp_stats worker[DP_MAX_WORKERS]; /**< per worker */
	struct dp_port_stats port[DP_MAX_PORTS];
	uint64_t worker_ruleset[DP_MAX_WORKERS]; /**< version each worker last evaluated with */
	/* Set by the caller (cp_report_gather leaves them zero): */
	/**
	 * The bundle in force, or NULL: no rules. Its per-rule hits count from
	 * the moment it was loaded. Read by the caller as an online QSBR reader
	 * (or as the ruleset's publisher) and valid while the report is printed.
	 */
	const struct dp_ruleset *ruleset;
	uint64_t consumer[CP_CONS__COUNT]; /**< the event consumer's counters (zero: none) */
	unsigned registry_devices;	   /**< devices in the registry (dp_registry_count) */
	uint64_t reloads_good;
	uint64_t reloads_refused;
	/* Storage, set by the caller (storage_dir NULL: storage off, the rest zero). */
	const char *storage_dir;
	unsigned storage_key_id;	       /**< store_seal_key_id (0: not sealed) */
	uint64_t store[STORE_CNT__COUNT];      /**< store_counters */
	uint64_t persist[CP_PERSIST__COUNT];   /**< cp_persist_counters */
	struct cp_persist_state persist_state; /**< cp_persist_state */
	/* The clinical pipeline, set by the caller (clinical false: none, the rest zero). */
	bool clinical;
	uint64_t clin[CP_CLIN__COUNT];		/**< cp_clinical_counters */
	uint64_t alarm[CP_ALM__COUNT];		/**< cp_alarms_counters */
	uint64_t patient[CP_PAT__COUNT];	/**< cp_patients_counters */
	unsigned open_alarms[RULE_PRIO__COUNT]; /**< cp_alarms_open_by_priority */
	unsigned patients;			/**< cp_patients_count */
	uint64_t ctl[CP_CTL__COUNT];		/**< the control server's (zero: no socket) */
};

/** Gather the counters of a running or stopped data plane (no RCU read). */
void cp_report_gather(struct dp_plane *dp, double elapsed_s, struct cp_report *r);

/** Port-level frames lost before a worker saw them (imissed + ierrors + rx_nombuf). */
uint64_t cp_report_port_drops(const struct cp_report *r);

/**
 * Print the report. Human form: a table of outcomes and non-zero drops.
 * JSON form: one object on one line with rx_packets, tx_packets, outcomes,
 * drops (every reason, port-level ones prefixed "port_"), the decoders' and
 * the rules' counters, "events" and "tables" (dp_stats.event and .table),
 * "consumer", "registry" {devices}, "reloads" {good, refused}, "storage"
 * (every counter of the store and of the persist hooks, zero when storage
 * is off), "storage_info" {dir (null: off), sealed_key, failing, error,
 * alarms_queued}, "alarms" (the alarm manager's counters and "open" by
 * priority), "clinical" (the pipeline's counters), "patients" (the patient
 * state's counters and "count"), workers and ports, and, with rules, "ruleset" (version, rules,
 * hash, loaded) and "rule_hits" (each rule that fired since that version was loaded: sid, rev,
 * action, priority, msg, hits).
 * @return 0, -ENOMEM, or the negative errno of the failed write (-ENOSPC, -EIO...).
 */
int cp_report_print(const struct cp_report *r, bool json, FILE *out);

/* ------------------------------------------------------------------------ */
/* The monitor: a sample of everything, once a second (monitor.c)            */
/* ------------------------------------------------------------------------ */

/*
 * The main loop samples every counter once a second; the control socket,
 * the Prometheus endpoint and DPDK telemetry read the latest two samples
 * (rates are their difference) under the monitor's lock, so none of them
 * touches the data plane or an RCU table itself.
 */

/** What vigild runs; any pointer may be NULL (that part is off). */
struct cp_sources {
	struct dp_plane *dp;
	struct cp_consumer *consumer;
	struct cp_reloader *reloader;
	struct store *store;
	struct cp_persist *persist;
	struct cp_clinical *clinical;
	const char *storage_dir;
	int64_t started_ns; /**< the wall clock at start (CLOCK_REALTIME ns) */
};

/** The ruleset in force, copied out of the RCU bundle. */
struct cp_ruleset_brief {
	bool loaded; /**< false: no rules */
	uint64_t version;
	unsigned n_rules;
	unsigned n_disabled;
	unsigned n_patterns;
	unsigned by_action[RULE_ACTION__COUNT];
	unsigned by_priority[RULE_PRIO__COUNT];
	int64_t loaded_ns; /**< when it was put in force (wall clock) */
	double compile_ms;
	char hash[65];
};

/** One sample. */
struct cp_sample {
	int64_t time_ns; /**< the wall clock */
	double mono_s;	 /**< CLOCK_MONOTONIC, for rates */
	double uptime_s;
	struct cp_report r; /**< every counter (r.ruleset NULL: use rules below) */
	struct cp_ruleset_brief rules;
	bool link_up[DP_MAX_PORTS];
	uint32_t link_speed_mbps[DP_MAX_PORTS];
	uint64_t busy_cycles[DP_MAX_WORKERS]; /**< TSC cycles of loops that received */
	uint64_t loop_cycles[DP_MAX_WORKERS]; /**< TSC cycles of every loop */
	/** Each worker's latency histograms since start (dp_worker_latency), in TSC cycles. */
	uint64_t lat_decision[DP_MAX_WORKERS][DP_LAT_BUCKETS];
	uint64_t lat_burst[DP_MAX_WORKERS][DP_LAT_BUCKETS];
	uint64_t lat_decision_cycles[DP_MAX_WORKERS]; /**< their sums (dp_worker_latency_sums) */
	uint64_t lat_burst_cycles[DP_MAX_WORKERS];
	double tsc_hz; /**< to read them in seconds */
	unsigned ring_size[DP_MAX_WORKERS][DP_LANE__COUNT];
	unsigned ring_count[DP_MAX_WORKERS][DP_LANE__COUNT];
	unsigned ring_high_water[DP_MAX_WORKERS][DP_LANE__COUNT];
	bool storage_stats; /**< cf below is filled */
	struct store_cf_stats cf[STORE_CF__COUNT];
	struct json_t *stats; /**< cp_report_print's JSON object, with rule_hits (owned) */
};

struct cp_monitor;

int cp_monitor_new(const struct cp_sources *src, struct cp_monitor **out);
void cp_monitor_free(struct cp_monitor *m);

/**
 * Take a sample. The caller is a registered QSBR reader that is offline;
 * it is online only while the ruleset is copied.
 */
void cp_monitor_sample(struct cp_monitor *m);

/**
 * Any thread: call @p fn with the latest sample and the one before (NULL
 * until there are two) under the monitor's lock; @return what fn returned,
 * or -EAGAIN before the first sample.
 */
int cp_monitor_read(struct cp_monitor *m,
		    int (*fn)(void *arg, const struct cp_sample *cur, const struct cp_sample *prev),
		    void *arg);

/** The sources it was built with. */
const struct cp_sources *cp_monitor_sources(const struct cp_monitor *m);

struct cp_ctl;

/**
 * The control server whose counters the samples carry (NULL: none). Call
 * from the sampling thread (or before sampling starts).
 */
void cp_monitor_set_ctl(struct cp_monitor *m, struct cp_ctl *ctl);

/**
 * The status object (`vigilctl status`): uptime, ports (link, rates,
 * imissed, rx_nombuf), workers (busy ratio, packets/s, drops by reason),
 * ruleset, rings (high-water marks), storage, alarms open by priority.
 * Rates are 0 without @p prev. @return a new reference, or NULL (no memory).
 */
struct json_t *cp_status_json(const struct cp_sample *cur, const struct cp_sample *prev);

/* ------------------------------------------------------------------------ */
/* Audit: an HMAC-SHA256 chain in the audit column family (audit.c)          */
/* ------------------------------------------------------------------------ */

/*
 * Every command that changes state, and every denial, is one record: who
 * (uid, user name), role, command, a SHA-256 digest of its arguments,
 * result, time, and "mac": HMAC-SHA256 (the key file's key) over the
 * previous record's mac and this record's canonical JSON without "mac".
 * Without a key file the chain uses SHA-256 itself (it finds accidents,
 * not forgery; said at start). Records are appended by one thread at a
 * time (the caller serialises).
 */
struct cp_audit_entry {
	uid_t uid;
	const char *user; /**< NULL: looked up from uid */
	enum cp_role role;
	const char *command; /**< "alarms.ack" */
	const char *args;    /**< the arguments' JSON text (digested, not kept) */
	const char *result;  /**< "ok", "denied", or the error code */
	const char *detail;  /**< NULL, or a short note (the error message) */
};

struct cp_audit;

/**
 * Open the chain on @p store (the last record read to continue it).
 * @param key_file  NULL: no HMAC key; else a file of mode 0600/0400 holding
 *                  at least 32 bytes (hex or raw)
 * @param err  why it failed (key file permissions, a record that does not parse)
 * @return 0, -EACCES, -EINVAL, -ENOENT, or a store error.
 */
int cp_audit_open(struct store *store, const char *key_file, struct cp_audit **out, char *err,
		  size_t errlen);
void cp_audit_close(struct cp_audit *a);
bool cp_audit_keyed(const struct cp_audit *a);

/** Append one record, synced. @p seq (may be NULL) gets its sequence number. */
int cp_audit_append(struct cp_audit *a, const struct cp_audit_entry *e, int64_t time_ns,
		    uint64_t *seq);

struct cp_audit_verify {
	uint64_t records; /**< records checked */
	uint64_t first_seq, last_seq;
	uint64_t bad_seq; /**< 0: the chain is whole; else the first record that fails */
	char reason[160]; /**< "record 17: mac does not match (modified)", "sequence 12 missing
			     (removed)" */
};

/**
 * Walk the whole chain (any thread; @p key_file as cp_audit_open).
 * @return 0 whole, -EBADMSG broken (@p out says where and why), or an error.
 */
int cp_audit_verify(struct store *store, const char *key_file, struct cp_audit_verify *out,
		    char *err, size_t errlen);

/* ------------------------------------------------------------------------ */
/* The control socket (ctl.c: the server; ctl_cmd.c: the commands)           */
/* ------------------------------------------------------------------------ */

/*
 * A unix stream socket, newline-delimited JSON (CONTROL.md has the
 * protocol). One thread serves every client with epoll; a request that
 * takes time (a reload, a backup, an acknowledgement the consumer's
 * thread must carry out) is deferred and its reply sent when it is done,
 * so a slow command or a slow or silent client never holds up another.
 */
#define CP_CTL_PROTOCOL 1
#define CP_CTL_MAX_REQUEST 65536 /**< bytes in one request line, newline included */

struct cp_ctl_opts {
	const char *path;     /**< the socket */
	unsigned mode;	      /**< permission bits (0660) */
	const char *group;    /**< NULL: vigild's */
	unsigned max_clients; /**< 0: 256 */
	const struct cp_role_map *roles;
	struct cp_monitor *monitor; /**< status, stats; its sources for everything else */
	struct cp_audit *audit;	    /**< NULL: nothing audited (storage off) */
	const char *audit_key_file;
	const char *config_path; /**< vigild's --config (NULL: defaults) */
	const char *backup_dir;
	const char *const
		*rule_files; /**< rules in force at start (for rules.check without files) */
	unsigned n_rule_files;
	atomic_bool *quit; /**< set by `shutdown` */
	FILE *log;	   /**< vigild's log (stderr) */
};

struct cp_ctl;

/**
 * Bind the socket (a stale socket file is replaced; one a live vigild
 * answers on is -EADDRINUSE) and start the server thread.
 * @return 0 or a negative errno; @p err says why.
 */
int cp_ctl_start(const struct cp_ctl_opts *o, struct cp_ctl **out, char *err, size_t errlen);
/** Close every client, stop the thread, remove the socket file. NULL is fine. */
void cp_ctl_stop(struct cp_ctl *c);

/**
 * Any thread (the consumer's, through the clinical pipeline): one alarm
 * change announced, as its alarm-log line (JSON text, no newline); sent to
 * every `alarms.follow` stream. A follower too slow to take it is
 * disconnected with an error, never skipped silently.
 */
void cp_ctl_announce(struct cp_ctl *c, const char *line, size_t len);

/** The server's counters (CP_CTL_COUNTERS, with the report's); NULL gives zeros. */
void cp_ctl_counters(const struct cp_ctl *c, uint64_t out[CP_CTL__COUNT]);

/* ------------------------------------------------------------------------ */
/* Prometheus metrics (metrics.c) and DPDK telemetry (telemetry.c)           */
/* ------------------------------------------------------------------------ */

struct cp_metrics;

/**
 * Serve GET /metrics (Prometheus text exposition 0.0.4, vigil_* names with
 * HELP and TYPE) on @p listen ("127.0.0.1:9650", "[::1]:9650"); only a
 * loopback address is accepted (-EINVAL otherwise). Values come from the
 * monitor's latest sample. @return 0 or a negative errno; @p err says why.
 */
int cp_metrics_start(const char *listen, struct cp_monitor *m, struct cp_metrics **out, char *err,
		     size_t errlen);
void cp_metrics_stop(struct cp_metrics *x);

/**
 * Write the exposition of @p cur (rates need nothing: Prometheus takes
 * counters) to @p out. @return 0 or a negative errno.
 */
int cp_metrics_write(const struct cp_sample *cur, FILE *out);

/**
 * Register /vigil/status, /vigil/workers, /vigil/ports, /vigil/rules and
 * /vigil/alarms with DPDK telemetry (after rte_eal_init), answered from
 * @p m. Once per process. @return 0 or a negative errno.
 */
int cp_telemetry_register(struct cp_monitor *m);

/**
 * Before cp_monitor_free: the commands stop reading the monitor and answer
 * {"error": "vigild is stopping"} (DPDK cannot unregister them, and its
 * telemetry thread outlives rte_eal_cleanup). Waits for an answer being built.
 */
void cp_telemetry_detach(void);

#endif /* VIGIL_CONTROLPLANE_H */
