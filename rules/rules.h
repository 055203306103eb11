/*
 * rules.h - the public interface of vigil's rules component.
 *
 * For now: the code tables, i.e. every metric and unit vigil knows, with its
 * IEEE 11073-10101 (MDC) code, reference id, symbolic name, LOINC codes and
 * usual unit. One data file, rules/metrics.tsv, is the single source; it is
 * turned into C at build time (rules/gen_tables.py), so the numbers exist in
 * one place only. The rule language, compiler and evaluator join this header
 * with the rules issue.
 *
 * Lookups are read-only over constant tables: safe on any thread, no
 * allocation, no lock.
 */
#ifndef VIGIL_RULES_H
#define VIGIL_RULES_H

#include <stddef.h>
#include <stdint.h>

/** A metric: one MDC code. */
struct rule_metric {
	uint32_t code;	    /**< 32-bit MDC code (partition << 16 | term) */
	const char *refid;  /**< "MDC_PULS_OXIM_SAT_O2" */
	const char *name;   /**< symbolic name, unique: "SPO2", "HR", "NIBP_SYS" */
	const char *family; /**< what rules and NEWS2 group by: "SPO2", "RR", "SBP", ... */
	const char *loinc;  /**< LOINC codes, space-separated ("59408-5 2708-6"), or "" */
	uint32_t unit;	    /**< MDC code of the usual unit (0: dimensionless/none) */
	const char *title;  /**< a short human title: "SpO2", "Heart rate (ECG)" */
};

/** A unit of measure. */
struct rule_unit {
	uint32_t code;	   /**< MDC code in partition 4 (DIM) */
	const char *refid; /**< "MDC_DIM_PERCENT" */
	const char *ucum;  /**< "%" */
};

/** The metric with this MDC code, or NULL. */
const struct rule_metric *rule_metric_by_code(uint32_t code);

/** The metric with this symbolic name (ASCII case-insensitive), or NULL. */
const struct rule_metric *rule_metric_by_name(const char *name, size_t len);

/**
 * The metric with this reference id ("MDC_ECG_HEART_RATE") or one of its
 * aliases (metrics.tsv lists MDC_ECG_CARD_BEAT_RATE for the same code), or
 * NULL. metric->refid is always the primary one.
 */
const struct rule_metric *rule_metric_by_refid(const char *refid, size_t len);

/**
 * The metric a LOINC code stands for, or NULL. Where several metrics list the
 * same LOINC code, the first row of metrics.tsv that lists it wins (the
 * table puts the primary one first: 8867-4 is ECG heart rate).
 */
const struct rule_metric *rule_metric_by_loinc(const char *loinc, size_t len);

/** Every metric, in code order: rule_metric_at(0 .. rule_metric_count()-1). */
size_t rule_metric_count(void);
const struct rule_metric *rule_metric_at(size_t i);

const struct rule_unit *rule_unit_by_code(uint32_t code);
const struct rule_unit *rule_unit_by_refid(const char *refid, size_t len);
/**
 * The unit with this UCUM code or alias ("{beats}/min"), or NULL. Beats and
 * breaths per minute are both "/min": the first row of metrics.tsv wins
 * (MDC_DIM_BEAT_PER_MIN), so prefer the metric's own unit when its UCUM
 * code matches.
 */
const struct rule_unit *rule_unit_by_ucum(const char *ucum, size_t len);

/**
 * The reference id of any code the table knows (a metric, a unit, or one of
 * the device, event and alarm-attribute codes: 69965 gives
 * "MDC_DEV_MON_PHYSIO_MULTI_PARAM_MDS"), or NULL.
 */
const char *rule_code_refid(uint32_t code);

#endif /* VIGIL_RULES_H */
