/*
 * dp_plane.h - the started data plane: its ports, mempool and workers.
 * Private to dataplane/ (port.c builds it, worker.c runs it).
 */
#ifndef VIGIL_DP_PLANE_H
#define VIGIL_DP_PLANE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <rte_common.h>
#include <rte_mempool.h>

#include "dataplane.h"

/* One RX queue a worker polls, and the TX queue it answers on. */
struct dp_rxq {
	uint16_t port_id;
	uint16_t queue;
	uint16_t txq; /* UINT16_MAX when the port has too few TX queues */
	uint8_t port_index;
};

struct dp_worker {
	struct dp_stats stats; /* first: 64-byte aligned, written only here */
	struct dp_plane *dp;
	unsigned id;
	unsigned lcore;
	bool launched; /* running dp_worker_main on lcore */
	unsigned n_rxq;
	struct dp_rxq rxq[DP_MAX_PORTS];
	struct dp_decode_ctx decode;
	struct dp_decoded decoded;     /* the decoders' scratch, one message at a time */
	struct dp_rule_work rule_work; /* one evaluation's input and hits */
	struct dp_event_work events;   /* one message's events before they go on a ring */
	struct dp_lanes lanes;	       /* this worker's ALARM and TELEMETRY rings */
	struct dp_lat lat;	       /* decision and burst latency, written only here */
	/* Read by the control plane, written only here: */
	_Atomic uint64_t ruleset_version; /* of the bundle the last burst used */
	atomic_bool online;		  /* a QSBR reader now (offline while idle) */
	bool rcu_online;		  /* the worker's own view of the same */
	unsigned idle_loops;
} __rte_cache_aligned;

struct dp_port {
	char name[128];
	uint16_t port_id;
	uint16_t n_rxq;
	uint16_t n_txq;
	bool rss;
	bool found;
	bool started;
	struct dp_local local;
};

struct dp_plane {
	atomic_bool stop;
	atomic_bool lanes_wait; /* replay: full event rings wait (cleared by dp_stop) */
	unsigned n_ports;
	unsigned n_workers;
	bool launched;
	struct dp_port port[DP_MAX_PORTS];
	struct rte_mempool *pool;
	struct dp_worker *worker; /* n_workers of them, cache-aligned */
	void *vtp_mem;		  /* every worker's VTP sequence table, one allocation */
	/* Behind RCU: published by the control plane, read by the workers. */
	struct dp_ruleset *ruleset;
	struct dp_acl *acl;
	struct dp_registry *registry; /* fixed for the plane's life; its entries are RCU */
	bool events;
	/* The workers' wall clock: CLOCK_REALTIME at start plus TSC ticks since. */
	uint64_t tsc_hz;
	uint64_t tsc_base;
	int64_t wall_base_ns;
};

/* Loops with nothing received after which a worker goes offline (RCU). */
#define DP_IDLE_OFFLINE_LOOPS 1024

/* The worker lcore's main function (rte_eal_remote_launch). */
int dp_worker_main(void *arg);

#endif /* VIGIL_DP_PLANE_H */
