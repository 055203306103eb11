/*
 * port.c - bringing the data plane up and down: ports, mempool, workers.
 *
 * Port set-up follows DPDK's l3fwd: ask the PMD what it can do
 * (rte_eth_dev_info) and mask what we want against it before configuring,
 * so the same code runs on a 100G NIC with RSS and checksum offloads and on
 * a net_pcap vdev with one queue and none. Each worker gets one RX and one
 * TX queue per port where the PMD has enough; RSS spreads by IP address so
 * that one bedside device always lands on the same worker. A replay
 * (dp_conf.packet_time) also needs each port's Rx timestamps.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-qsbr.h>

#include <rte_bus.h>
#include <rte_cycles.h>
#include <rte_dev.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_malloc.h>
#include <rte_mbuf.h>
#include <rte_mbuf_dyn.h>

#include "dataplane.h"
#include "dp_plane.h"

#define DEFAULT_MIN_MBUFS 8191u
#define PCAP_DRIVER "net_pcap"

/* The packet clock of dp_conf.packet_time, as dp_start finds it. */
struct packet_clock {
	uint64_t flag;	  /* the Rx timestamp's dynflag; 0: packet_time is off */
	int offset;	  /* its dynfield */
	uint32_t unit_ns; /* ns per unit of the ports' stamps; 0 until a port is set up */
	unsigned first;	  /* the port that set unit_ns */
};

static void
port_name_of(const char *device, char *name, size_t len)
{
	size_t n = strcspn(device, ",");

	if (n >= len)
		n = len - 1;
	memcpy(name, device, n);
	name[n] = '\0';
}

/* DPDK names a PCI port by its full address; accept the short BB:DD.F. */
static bool
lookup_short_pci(struct dp_port *p)
{
	char full[sizeof("0000:") + 7];

	if (strlen(p->name) != 7 || p->name[2] != ':' || p->name[5] != '.')
		return false;
	memcpy(full, "0000:", 5);
	memcpy(full + 5, p->name, 8);
	if (rte_eth_dev_get_port_by_name(full, &p->port_id) != 0)
		return false;
	memcpy(p->name, full, sizeof(full));
	return true;
}

static bool
is_vdev(const struct rte_eth_dev_info *info)
{
	return info->device != NULL && strcmp(rte_bus_name(rte_dev_bus(info->device)), "vdev") == 0;
}

static unsigned
mbufs_needed(const struct dp_conf *conf)
{
	unsigned n, pow2 = 1;

	if (conf->n_mbufs)
		return conf->n_mbufs;
	n = conf->n_ports * conf->n_workers * (conf->rx_desc + conf->tx_desc) +
	    (conf->n_workers + 1) * (DP_RX_BURST + conf->mbuf_cache) + DP_RX_BURST;
	if (n < DEFAULT_MIN_MBUFS)
		n = DEFAULT_MIN_MBUFS;
	/* A mempool is most compact at 2^k - 1 elements. */
	while (pow2 - 1 < n)
		pow2 <<= 1;
	return pow2 - 1;
}

/*
 * packet_time on one port: where its stamps come from and in what unit.
 * DPDK 22.11's net_pcap writes every frame's record time (microseconds
 * since the epoch) with the dynflag set whether or not the offload is
 * asked for, and does not list RTE_ETH_RX_OFFLOAD_TIMESTAMP, which
 * rte_eth_dev_configure would then refuse. Any other PMD must offer the
 * offload; its stamps are taken as nanoseconds since the epoch.
 */
static int
port_clock(const struct dp_port *p, unsigned idx, const struct rte_eth_dev_info *info,
	   struct packet_clock *clk, uint64_t *rx_offloads, char *err, size_t errlen)
{
	bool pcap = info->driver_name != NULL && strcmp(info->driver_name, PCAP_DRIVER) == 0;
	bool offload = (info->rx_offload_capa & RTE_ETH_RX_OFFLOAD_TIMESTAMP) != 0;
	uint32_t unit = pcap ? 1000 : 1;

	if (!pcap && !offload) {
		snprintf(err, errlen,
			 "port '%s' (%s) has no Rx timestamps, which packet time needs: replay "
			 "the capture on a net_pcap port (vigild --pcap FILE)",
			 p->name, info->driver_name != NULL ? info->driver_name : "?");
		return -ENOTSUP;
	}
	if (clk->unit_ns != 0 && clk->unit_ns != unit) {
		snprintf(err, errlen,
			 "port '%s' stamps frames in %s but ports[%u] in %s: packet time needs "
			 "one clock; replay on net_pcap ports only",
			 p->name, unit == 1 ? "ns" : "us", clk->first,
			 clk->unit_ns == 1 ? "ns" : "us");
		return -ENOTSUP;
	}
	if (clk->unit_ns == 0) {
		clk->unit_ns = unit;
		clk->first = idx;
	}
	if (offload)
		*rx_offloads |= RTE_ETH_RX_OFFLOAD_TIMESTAMP;
	return 0;
}

static int
port_setup(struct dp_plane *dp, unsigned idx, const struct dp_conf *conf, struct packet_clock *clk,
	   char *err, size_t errlen)
{
	struct dp_port *p = &dp->port[idx];
	struct rte_eth_conf eth_conf;
	struct rte_eth_dev_info info;
	struct rte_ether_addr mac;
	uint16_t nb_rxd = conf->rx_desc, nb_txd = conf->tx_desc;
	int socket, rc;

	port_name_of(conf->port[idx].name, p->name, sizeof(p->name));
	p->local = conf->port[idx].local;
	if (rte_eth_dev_get_port_by_name(p->name, &p->port_id) != 0 && !lookup_short_pci(p)) {
		snprintf(err, errlen,
			 "port '%s' not found: for a NIC, bind it to vfio-pci "
			 "(dpdk-devbind.py -b vfio-pci %s) and take --no-pci out of eal:; "
			 "for a vdev, check the driver name (net_pcap, net_af_packet, net_ring, "
			 "net_null, net_tap)",
			 p->name, p->name);
		return -ENODEV;
	}
	p->found = true;
	for (unsigned i = 0; i < idx; i++) {
		if (dp->port[i].port_id == p->port_id) {
			p->found = false; /* ports[i] owns it; close it once */
			snprintf(err, errlen, "port '%s' is also ports[%u] ('%s')", p->name, i,
				 dp->port[i].name);
			return -EINVAL;
		}
	}
	rc = rte_eth_dev_info_get(p->port_id, &info);
	if (rc != 0) {
		snprintf(err, errlen, "port '%s': cannot read device info: %s", p->name,
			 rte_strerror(-rc));
		return rc;
	}

	memset(&eth_conf, 0, sizeof(eth_conf));
	p->n_rxq = (uint16_t)RTE_MIN(conf->n_workers, info.max_rx_queues);
	p->n_txq = (uint16_t)RTE_MIN(conf->n_workers, info.max_tx_queues);
	if (p->n_rxq > 1) {
		uint64_t rss_hf = RTE_ETH_RSS_IP & info.flow_type_rss_offloads;

		if (rss_hf != 0) {
			eth_conf.rxmode.mq_mode = RTE_ETH_MQ_RX_RSS;
			eth_conf.rx_adv_conf.rss_conf.rss_hf = rss_hf;
			p->rss = true;
		} else if (!is_vdev(&info)) {
			/* A NIC without RSS only ever fills queue 0. A vdev's
			 * queues were asked for in its device string (pcap
			 * files, af_packet fanout), so each worker takes one. */
			p->n_rxq = 1;
		}
	}
	eth_conf.rxmode.offloads = info.rx_offload_capa &
				   (RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM);
	if (clk->flag != 0) {
		rc = port_clock(p, idx, &info, clk, &eth_conf.rxmode.offloads, err, errlen);
		if (rc != 0)
			return rc;
	}
	eth_conf.txmode.offloads = info.tx_offload_capa & RTE_ETH_TX_OFFLOAD_MBUF_FAST_FREE;

	rc = rte_eth_dev_configure(p->port_id, p->n_rxq, p->n_txq, &eth_conf);
	if (rc == 0)
		rc = rte_eth_dev_adjust_nb_rx_tx_desc(p->port_id, &nb_rxd, &nb_txd);
	if (rc != 0) {
		snprintf(err, errlen, "port '%s': configure with %u RX / %u TX queues failed: %s",
			 p->name, p->n_rxq, p->n_txq, rte_strerror(-rc));
		return rc;
	}
	socket = rte_eth_dev_socket_id(p->port_id);
	if (socket < 0)
		socket = (int)rte_socket_id();
	for (uint16_t q = 0; q < p->n_rxq; q++) {
		struct rte_eth_rxconf rxconf = info.default_rxconf;

		rxconf.offloads = eth_conf.rxmode.offloads;
		rc = rte_eth_rx_queue_setup(p->port_id, q, nb_rxd, (unsigned)socket, &rxconf,
					    dp->pool);
		if (rc != 0) {
			snprintf(err, errlen, "port '%s': RX queue %u set-up failed: %s", p->name,
				 q, rte_strerror(-rc));
			return rc;
		}
	}
	for (uint16_t q = 0; q < p->n_txq; q++) {
		struct rte_eth_txconf txconf = info.default_txconf;

		txconf.offloads = eth_conf.txmode.offloads;
		rc = rte_eth_tx_queue_setup(p->port_id, q, nb_txd, (unsigned)socket, &txconf);
		if (rc != 0) {
			snprintf(err, errlen, "port '%s': TX queue %u set-up failed: %s", p->name,
				 q, rte_strerror(-rc));
			return rc;
		}
	}
	if (conf->promiscuous) {
		rc = rte_eth_promiscuous_enable(p->port_id);
		if (rc != 0 && rc != -ENOTSUP) {
			snprintf(err, errlen, "port '%s': promiscuous mode failed: %s", p->name,
				 rte_strerror(-rc));
			return rc;
		}
	}
	rc = rte_eth_dev_start(p->port_id);
	if (rc != 0) {
		snprintf(err, errlen, "port '%s': start failed: %s", p->name, rte_strerror(-rc));
		return rc;
	}
	p->started = true;
	rc = rte_eth_macaddr_get(p->port_id, &mac);
	if (rc != 0) {
		snprintf(err, errlen, "port '%s': cannot read its MAC address: %s", p->name,
			 rte_strerror(-rc));
		return rc;
	}
	memcpy(p->local.mac, mac.addr_bytes, sizeof(p->local.mac));
	return 0;
}

/* Worker w polls queue w of every port that has that many queues. */
static void
assign_queues(struct dp_plane *dp)
{
	for (unsigned w = 0; w < dp->n_workers; w++) {
		struct dp_worker *wk = &dp->worker[w];

		wk->dp = dp;
		wk->id = w;
		for (unsigned p = 0; p < dp->n_ports; p++) {
			if (w >= dp->port[p].n_rxq)
				continue;
			wk->rxq[wk->n_rxq++] = (struct dp_rxq){
				.port_id = dp->port[p].port_id,
				.queue = (uint16_t)w,
				.txq = w < dp->port[p].n_txq ? (uint16_t)w : UINT16_MAX,
				.port_index = (uint8_t)p,
			};
		}
	}
}

/* Each worker decodes into its own scratch and tracks its own VTP senders
 * (RSS keeps a sender on one worker), so no table is shared. The tables
 * that can change (ruleset, ACL) are read from the plane's RCU pointers at
 * every burst; the hooks are fixed. */
static int
decode_setup(struct dp_plane *dp, const struct dp_conf *conf, const struct packet_clock *clk,
	     char *err, size_t errlen)
{
	unsigned capacity = conf->vtp_devices ? conf->vtp_devices : DP_VTP_DEVICES_DEFAULT;
	size_t each = RTE_ALIGN_CEIL(dp_vtp_devices_size(capacity), RTE_CACHE_LINE_SIZE);

	dp->vtp_mem = rte_zmalloc("vigil_vtp", each * dp->n_workers, RTE_CACHE_LINE_SIZE);
	if (dp->vtp_mem == NULL) {
		snprintf(err, errlen,
			 "out of EAL memory for %u VTP sender tables of %u devices (%zu KiB "
			 "each): raise eal: -m or lower telemetry.vtp_devices",
			 dp->n_workers, capacity, each >> 10);
		return -ENOMEM;
	}
	for (unsigned w = 0; w < dp->n_workers; w++) {
		struct dp_worker *wk = &dp->worker[w];

		wk->decode = (struct dp_decode_ctx){
			.worker = w,
			.decode = true,
			.scratch = &wk->decoded,
			.vtp = dp_vtp_devices_init((uint8_t *)dp->vtp_mem + each * w, capacity),
			.on_telemetry = conf->on_telemetry,
			.telemetry_arg = conf->telemetry_arg,
			.on_decoded = conf->on_decoded,
			.decoded_arg = conf->decoded_arg,
			.rule_work = &wk->rule_work,
			.on_hits = conf->on_hits,
			.hits_arg = conf->hits_arg,
			.registry = dp->registry,
			.lanes = dp->events ? &wk->lanes : NULL,
			.events = &wk->events,
			.lat = &wk->lat,
			.time_flag = clk->flag,
			.time_offset = clk->offset,
			.time_unit_ns = clk->unit_ns != 0 ? clk->unit_ns : 1,
		};
	}
	return 0;
}

/* The event rings and the device registry, before any worker runs. */
static int
tables_setup(struct dp_plane *dp, const struct dp_conf *conf, char *err, size_t errlen)
{
	unsigned alarm = conf->alarm_ring ? conf->alarm_ring : DP_ALARM_RING_DEFAULT;
	unsigned telemetry =
		conf->telemetry_ring ? conf->telemetry_ring : DP_TELEMETRY_RING_DEFAULT;
	int rc;

	if (conf->registry_devices > 0) {
		rc = dp_registry_new(conf->registry_devices, dp->n_workers, &dp->registry);
		if (rc != 0) {
			snprintf(err, errlen,
				 "cannot make a device registry of %u devices for %u workers: %s; "
				 "lower registry.devices or raise eal: -m",
				 conf->registry_devices, dp->n_workers, strerror(-rc));
			return rc;
		}
	}
	if (!conf->events)
		return 0;
	dp->events = true;
	for (unsigned w = 0; w < dp->n_workers; w++) {
		rc = dp_lanes_init(&dp->worker[w].lanes, "vigil", w, alarm, telemetry);
		if (rc == 0 && conf->packet_time)
			dp->worker[w].lanes.wait = &dp->lanes_wait;
		if (rc != 0) {
			snprintf(err, errlen,
				 "cannot make worker %u's event rings (%u ALARM, %u TELEMETRY "
				 "events of 128 bytes): %s; lower events.alarm_ring and "
				 "events.telemetry_ring or raise eal: -m",
				 w, alarm, telemetry, strerror(-rc));
			return rc;
		}
	}
	return 0;
}

/* The bundle the workers start with: dp_conf.ruleset as given, or a wrap of
 * dp_conf.rules. */
static int
ruleset_setup(struct dp_plane *dp, const struct dp_conf *conf, char *err, size_t errlen)
{
	int rc;

	if (conf->ruleset != NULL) {
		if (conf->ruleset->n_workers < dp->n_workers) {
			snprintf(err, errlen,
				 "rules: the bundle has scratch for %u workers, not %u",
				 conf->ruleset->n_workers, dp->n_workers);
			return -EINVAL;
		}
		dp->ruleset = conf->ruleset;
		return 0;
	}
	if (conf->rules == NULL)
		return 0;
	rc = dp_ruleset_wrap(conf->rules, dp->n_workers, 1, &dp->ruleset);
	if (rc != 0)
		snprintf(err, errlen, "rules: no memory for the workers' scratch");
	return rc;
}

int
dp_start(const struct dp_conf *conf, struct dp_plane **out, char *err, size_t errlen)
{
	struct dp_plane *dp = NULL;
	struct packet_clock clk = {0};
	unsigned n_mbufs, lcore, w;
	struct timespec now;
	int rc;

	*out = NULL;
	if (conf->n_workers == 0 || conf->n_workers > DP_MAX_WORKERS) {
		snprintf(err, errlen, "workers: %u is out of range (1..%u)", conf->n_workers,
			 DP_MAX_WORKERS);
		return -EINVAL;
	}
	if (rte_lcore_count() < conf->n_workers + 1) {
		snprintf(err, errlen,
			 "%u worker(s) asked for but the EAL has %u lcore(s): give eal: "
			 "\"-l\", \"0-%u\" (one main lcore plus one per worker) or lower workers:",
			 conf->n_workers, rte_lcore_count(), conf->n_workers);
		return -EINVAL;
	}
	if (conf->n_ports == 0 || conf->n_ports > DP_MAX_PORTS) {
		snprintf(err, errlen, "ports: %u configured; vigild needs 1..%u (or --pcap FILE)",
			 conf->n_ports, DP_MAX_PORTS);
		return -EINVAL;
	}
	dp = rte_zmalloc("vigil_plane", sizeof(*dp), RTE_CACHE_LINE_SIZE);
	if (dp == NULL) {
		snprintf(err, errlen, "out of EAL memory for the data plane: raise eal: -m");
		return -ENOMEM;
	}
	atomic_init(&dp->stop, false);
	atomic_init(&dp->lanes_wait, true);
	dp->n_workers = conf->n_workers;
	dp->worker = rte_zmalloc("vigil_workers", sizeof(*dp->worker) * conf->n_workers,
				 RTE_CACHE_LINE_SIZE);
	if (dp->worker == NULL) {
		snprintf(err, errlen, "out of EAL memory for %u workers: raise eal: -m",
			 conf->n_workers);
		rc = -ENOMEM;
		goto fail;
	}

	n_mbufs = mbufs_needed(conf);
	dp->pool = rte_pktmbuf_pool_create("vigil_mbufs", n_mbufs, conf->mbuf_cache, 0,
					   RTE_MBUF_DEFAULT_BUF_SIZE, (int)rte_socket_id());
	if (dp->pool == NULL) {
		/* The mempool library says ENOMEM or ENOBUFS (memzone) for one
		 * thing: not enough EAL memory. dp_start promises -ENOMEM. */
		rc = rte_errno == ENOBUFS ? -ENOMEM : -rte_errno;
		if (rc == -EEXIST)
			snprintf(err, errlen, "a data plane is already running in this process");
		else
			snprintf(err, errlen,
				 "cannot create a mempool of %u mbufs (%u MiB): %s; raise eal: -m, "
				 "reserve more hugepages, or lower mempool.mbufs",
				 n_mbufs,
				 (unsigned)((uint64_t)n_mbufs * (RTE_MBUF_DEFAULT_BUF_SIZE + 128) >>
					    20),
				 rte_strerror(-rc));
		goto fail;
	}

	/* The field and flag are registered once per process, by name: this
	 * finds them if a PMD got there first (net_pcap does at probe). */
	if (conf->packet_time && rte_mbuf_dyn_rx_timestamp_register(&clk.offset, &clk.flag) != 0) {
		rc = rte_errno != 0 ? -rte_errno : -EINVAL;
		snprintf(err, errlen, "packet time: cannot register the mbuf Rx timestamp: %s",
			 rte_strerror(rte_errno));
		goto fail;
	}
	for (unsigned p = 0; p < conf->n_ports; p++) {
		dp->n_ports = p + 1;
		rc = port_setup(dp, p, conf, &clk, err, errlen);
		if (rc != 0)
			goto fail;
	}
	assign_queues(dp);
	rc = tables_setup(dp, conf, err, errlen);
	if (rc == 0)
		rc = ruleset_setup(dp, conf, err, errlen);
	if (rc == 0)
		rc = decode_setup(dp, conf, &clk, err, errlen);
	if (rc != 0)
		goto fail;
	dp->tsc_hz = rte_get_tsc_hz();
	clock_gettime(CLOCK_REALTIME, &now);
	dp->tsc_base = rte_rdtsc();
	dp->wall_base_ns = (int64_t)now.tv_sec * 1000000000 + now.tv_nsec;
	/* From here on the plane owns the bundle and the ACL. */
	dp->acl = conf->acl;

	w = 0;
	RTE_LCORE_FOREACH_WORKER(lcore)
	{
		if (w == dp->n_workers)
			break;
		dp->worker[w].lcore = lcore;
		rc = rte_eal_remote_launch(dp_worker_main, &dp->worker[w], lcore);
		dp->worker[w].launched = rc == 0;
		if (rc != 0) {
			snprintf(err, errlen, "cannot launch worker %u on lcore %u: %s", w, lcore,
				 rte_strerror(-rc));
			dp_stop(dp);
			goto fail;
		}
		dp->launched = true;
		w++;
	}
	*out = dp;
	return 0;

fail:
	/* The caller keeps what it handed over when dp_start fails. */
	if (dp != NULL && dp->ruleset == conf->ruleset)
		dp->ruleset = NULL;
	if (dp != NULL)
		dp->acl = NULL;
	dp_destroy(dp);
	return rc;
}

void
dp_stop(struct dp_plane *dp)
{
	if (dp == NULL || !dp->launched)
		return;
	atomic_store_explicit(&dp->lanes_wait, false, memory_order_relaxed);
	atomic_store_explicit(&dp->stop, true, memory_order_relaxed);
	for (unsigned w = 0; w < dp->n_workers; w++) {
		if (dp->worker[w].launched)
			rte_eal_wait_lcore(dp->worker[w].lcore);
		dp->worker[w].launched = false;
	}
	dp->launched = false;
}

/*
 * DPDK 22.11 releases a port when it is closed: after dp_destroy, a vdev
 * port is gone for good in this process. vigild starts its plane once.
 */
void
dp_destroy(struct dp_plane *dp)
{
	if (dp == NULL)
		return;
	dp_stop(dp);
	for (unsigned p = 0; p < dp->n_ports; p++) {
		if (dp->port[p].started)
			rte_eth_dev_stop(dp->port[p].port_id);
		if (dp->port[p].found)
			rte_eth_dev_close(dp->port[p].port_id);
	}
	rte_mempool_free(dp->pool);
	rte_free(dp->vtp_mem);
	/* The workers are stopped: nothing reads the tables any more. */
	dp_ruleset_free(dp->ruleset);
	dp_acl_free(dp->acl);
	dp_registry_free(dp->registry);
	for (unsigned w = 0; dp->worker != NULL && w < dp->n_workers; w++)
		dp_lanes_free(&dp->worker[w].lanes);
	rte_free(dp->worker);
	rte_free(dp);
}

/* ---- The RCU pointers ----------------------------------------------------- */

struct dp_ruleset *
dp_ruleset_publish(struct dp_plane *dp, struct dp_ruleset *rs)
{
	return rcu_xchg_pointer(&dp->ruleset, rs);
}

struct dp_ruleset *
dp_ruleset_current(struct dp_plane *dp)
{
	return rcu_dereference(dp->ruleset);
}

struct dp_acl *
dp_acl_publish(struct dp_plane *dp, struct dp_acl *acl)
{
	return rcu_xchg_pointer(&dp->acl, acl);
}

struct dp_acl *
dp_acl_current(struct dp_plane *dp)
{
	return rcu_dereference(dp->acl);
}

uint64_t
dp_worker_ruleset_version(const struct dp_plane *dp, unsigned worker)
{
	return worker < dp->n_workers ? dp_read(&dp->worker[worker].ruleset_version) : 0;
}

bool
dp_worker_online(const struct dp_plane *dp, unsigned worker)
{
	return worker < dp->n_workers &&
	       atomic_load_explicit(&dp->worker[worker].online, memory_order_acquire);
}

struct dp_registry *
dp_registry_of(struct dp_plane *dp)
{
	return dp->registry;
}

struct dp_lanes *
dp_lanes_of(struct dp_plane *dp, unsigned worker)
{
	return dp->events && worker < dp->n_workers ? &dp->worker[worker].lanes : NULL;
}

struct rte_mempool *
dp_mempool_of(struct dp_plane *dp)
{
	return dp->pool;
}

unsigned
dp_n_workers(const struct dp_plane *dp)
{
	return dp->n_workers;
}

unsigned
dp_n_ports(const struct dp_plane *dp)
{
	return dp->n_ports;
}

const struct dp_stats *
dp_worker_stats(const struct dp_plane *dp, unsigned worker)
{
	return worker < dp->n_workers ? &dp->worker[worker].stats : NULL;
}

void
dp_worker_latency(const struct dp_plane *dp, unsigned worker, uint64_t decision[DP_LAT_BUCKETS],
		  uint64_t burst[DP_LAT_BUCKETS])
{
	const struct dp_lat *lat = worker < dp->n_workers ? &dp->worker[worker].lat : NULL;

	for (unsigned i = 0; i < DP_LAT_BUCKETS; i++) {
		decision[i] = lat != NULL ? dp_read(&lat->decision[i]) : 0;
		burst[i] = lat != NULL ? dp_read(&lat->burst[i]) : 0;
	}
}

void
dp_worker_latency_sums(const struct dp_plane *dp, unsigned worker, uint64_t *decision,
		       uint64_t *burst)
{
	const struct dp_lat *lat = worker < dp->n_workers ? &dp->worker[worker].lat : NULL;

	*decision = lat != NULL ? dp_read(&lat->decision_cycles) : 0;
	*burst = lat != NULL ? dp_read(&lat->burst_cycles) : 0;
}

void
dp_stats_total(const struct dp_plane *dp, struct dp_stats *out)
{
	memset(out, 0, sizeof(*out));
	for (unsigned w = 0; w < dp->n_workers; w++)
		dp_stats_add(out, &dp->worker[w].stats);
}

int
dp_port_stats(struct dp_plane *dp, unsigned port, struct dp_port_stats *out)
{
	const struct dp_port *p;
	struct rte_eth_stats st;
	int rc;

	if (port >= dp->n_ports)
		return -EINVAL;
	p = &dp->port[port];
	memset(out, 0, sizeof(*out));
	out->name = p->name;
	out->rx_queues = p->n_rxq;
	out->tx_queues = p->n_txq;
	out->rss = p->rss;
	rc = rte_eth_stats_get(p->port_id, &st);
	if (rc != 0)
		return rc;
	out->ipackets = st.ipackets;
	out->imissed = st.imissed;
	out->ierrors = st.ierrors;
	out->rx_nombuf = st.rx_nombuf;
	out->opackets = st.opackets;
	out->oerrors = st.oerrors;
	return 0;
}
