/*
 * test_registry.c - CUnit tests of the device registry (dataplane/registry.c).
 *
 * What is held to account: an entry holds what the first message said and
 * what each later one added (first seen kept, last seen and every counter
 * advanced, last seen never moved back, texts cut at DP_REGISTRY_TEXT and
 * NUL-terminated); a new sender (address, family, port) is written in place
 * by the entry's owner, with no replace; another worker's touch is counted
 * as shared (registry_shared), leaves owner and sender alone and adds to
 * the sums exactly; only a changed patient, location or device id
 * publishes a new entry (seen by another worker, it moves the device to
 * that worker), carrying the counters over; a replaced entry goes back to
 * the pool it came from, and only after dp_registry_reclaim; an empty pool
 * and a full retire ring are counted and lose nothing they should not;
 * dp_registry_new refuses what it must and leaves no EAL memory behind.
 *
 * Then threads. One worker rewrites a device's sender at every touch while
 * a reader looks it up: every sender read is one that was written, never a
 * mix of two. Four workers touch shared and private devices at once, each
 * from its own IPv4 and IPv6 senders in turn, while a reader looks devices
 * up and walks the table and a reclaimer returns retired entries: no
 * device is ever seen twice in one walk, every sender read is one the
 * entry's owner sent, and at the end every device is there once with
 * exactly the sum of what every worker recorded for it, and every touch is
 * either recorded or counted. (On x86 the three words of a sender share a
 * cache line, so a reader that ignored the sequence count reads a mix
 * mostly when a writer is preempted between its stores: these checks
 * catch that on a loaded machine, not on every run.)
 *
 * The suite runs an EAL without hugepages (the pools and rings are EAL
 * memory). The test threads are plain pthreads registered as urcu-qsbr
 * readers; the main thread is one too, online only while it reads or
 * touches, offline when it reclaims. Nothing here is timed.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <CUnit/CUnit.h>

#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_malloc.h>

#include <urcu/urcu-qsbr.h>

#include "cunit_main.h"
#include "dataplane.h"

/* ------------------------------------------------------------------------ */
/* EAL, RCU and memory                                                       */
/* ------------------------------------------------------------------------ */

/* The CPUs the process may use, kept before rte_eal_init pins the main thread. */
static cpu_set_t all_cpus;

static int
suite_init(void)
{
	char lcores[32];
	char *argv[] = {
		"test_registry",  "--no-pci", "--no-huge", "--no-shconf",
		"--no-telemetry", "-m",	      "512",	   "--log-level=*:warning",
		"--lcores",	  lcores,     NULL,
	};
	int cpu = 0;

	if (sched_getaffinity(0, sizeof(all_cpus), &all_cpus) != 0) {
		perror("test_registry: sched_getaffinity");
		return -1;
	}
	/* One lcore, the main one, on the first CPU the process may use. */
	while (cpu < CPU_SETSIZE - 1 && !CPU_ISSET(cpu, &all_cpus))
		cpu++;
	snprintf(lcores, sizeof(lcores), "0@%d", cpu);
	if (rte_eal_init((int)(sizeof(argv) / sizeof(argv[0])) - 1, argv) < 0) {
		fprintf(stderr, "test_registry: rte_eal_init failed: %s\n",
			rte_strerror(rte_errno));
		return -1;
	}
	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	return 0;
}

static int
suite_cleanup(void)
{
	urcu_qsbr_unregister_thread();
	return rte_eal_cleanup() == 0 ? 0 : -1;
}

/* Bytes allocated on every EAL heap (the pools, the stacks, the rings' memzones). */
static size_t
eal_allocated(void)
{
	size_t sum = 0;

	for (int s = 0; s < RTE_MAX_NUMA_NODES; s++) {
		struct rte_malloc_socket_stats st;

		if (rte_malloc_get_socket_stats(s, &st) == 0)
			sum += st.heap_allocsz_bytes;
	}
	return sum;
}

/* ------------------------------------------------------------------------ */
/* Helpers                                                                   */
/* ------------------------------------------------------------------------ */

/* A message from 192.0.2.<host>:<sport> about @p device, texts as given (NULL: none). */
static struct dp_device_seen
seen(uint64_t device, int64_t now, uint8_t host, uint16_t sport, const char *patient,
     const char *location, const char *device_id)
{
	struct dp_device_seen s = {
		.device = device,
		.now_ns = now,
		.ip_version = 4,
		.sender = {192, 0, 2, host},
		.sport = sport,
		.patient = (const uint8_t *)patient,
		.patient_len = patient != NULL ? (uint16_t)strlen(patient) : 0,
		.location = (const uint8_t *)location,
		.location_len = location != NULL ? (uint16_t)strlen(location) : 0,
		.device_id = (const uint8_t *)device_id,
		.device_id_len = device_id != NULL ? (uint16_t)strlen(device_id) : 0,
		.n_obs = 1,
	};
	return s;
}

/* The main thread as a worker: online for the touch only. */
static void
touch(struct dp_registry *r, unsigned worker, const struct dp_device_seen *s, struct dp_stats *st)
{
	urcu_qsbr_thread_online();
	dp_registry_touch(r, worker, s, st);
	urcu_qsbr_thread_offline();
}

static int
lookup(struct dp_registry *r, uint64_t device, struct dp_device_info *info)
{
	int rc;

	memset(info, 0x5a, sizeof(*info)); /* nothing left from an earlier lookup */
	urcu_qsbr_thread_online();
	rc = dp_registry_lookup(r, device, info);
	urcu_qsbr_thread_offline();
	return rc;
}

static unsigned
count(struct dp_registry *r)
{
	unsigned n;

	urcu_qsbr_thread_online();
	n = dp_registry_count(r);
	urcu_qsbr_thread_offline();
	return n;
}

static uint64_t
tab(const struct dp_stats *st, enum dp_table_counter c)
{
	return dp_read(&st->table[c]);
}

/* The registry's table counters are these (contended: always 0). */
static bool
tab_only(const struct dp_stats *st, uint64_t inserts, uint64_t replaced, uint64_t full,
	 uint64_t retire_full, uint64_t shared)
{
	bool ok = tab(st, DP_TAB_registry_inserts) == inserts &&
		  tab(st, DP_TAB_registry_replaced) == replaced &&
		  tab(st, DP_TAB_registry_full) == full &&
		  tab(st, DP_TAB_registry_retire_full) == retire_full &&
		  tab(st, DP_TAB_registry_contended) == 0 &&
		  tab(st, DP_TAB_registry_shared) == shared;

	if (!ok)
		fprintf(stderr,
			"\n  inserts %lu replaced %lu full %lu retire_full %lu contended %lu "
			"shared %lu",
			(unsigned long)tab(st, DP_TAB_registry_inserts),
			(unsigned long)tab(st, DP_TAB_registry_replaced),
			(unsigned long)tab(st, DP_TAB_registry_full),
			(unsigned long)tab(st, DP_TAB_registry_retire_full),
			(unsigned long)tab(st, DP_TAB_registry_contended),
			(unsigned long)tab(st, DP_TAB_registry_shared));
	return ok;
}

/* ------------------------------------------------------------------------ */
/* dp_registry_new                                                           */
/* ------------------------------------------------------------------------ */

static void
test_new_errors(void)
{
	struct dp_registry *r = (struct dp_registry *)&r; /* anything but NULL */
	size_t base = eal_allocated();

	CU_ASSERT_EQUAL(dp_registry_new(16, 1, NULL), -EINVAL);
	CU_ASSERT_EQUAL(dp_registry_new(0, 1, &r), -EINVAL);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(dp_registry_new(DP_REGISTRY_DEVICES_MAX + 1, 1, &r), -EINVAL);
	CU_ASSERT_EQUAL(dp_registry_new(16, 0, &r), -EINVAL);
	CU_ASSERT_EQUAL(dp_registry_new(16, DP_MAX_WORKERS + 1, &r), -EINVAL);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(eal_allocated(), base);

	/* 4M devices of a few hundred bytes each do not fit in -m 512. */
	CU_ASSERT_EQUAL(dp_registry_new(DP_REGISTRY_DEVICES_MAX, 1, &r), -ENOMEM);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(eal_allocated(), base);
	/* The failure is partway: the first workers' pools fit, a later one does not. */
	CU_ASSERT_EQUAL(dp_registry_new(1u << 18, DP_MAX_WORKERS, &r), -ENOMEM);
	CU_ASSERT_PTR_NULL(r);
	CU_ASSERT_EQUAL(eal_allocated(), base);

	/* The limits themselves are taken. */
	CU_ASSERT_EQUAL(dp_registry_new(1, DP_MAX_WORKERS, &r), 0);
	CU_ASSERT_PTR_NOT_NULL(r);
	CU_ASSERT_EQUAL(count(r), 0);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 0);
	dp_registry_free(r);
	CU_ASSERT_EQUAL(eal_allocated(), base);

	/* NULL is a registry with nothing in it. */
	dp_registry_free(NULL);
	CU_ASSERT_EQUAL(dp_registry_reclaim(NULL), 0);
	CU_ASSERT_EQUAL(dp_registry_flush(NULL, 0), 0);
	CU_ASSERT_EQUAL(count(NULL), 0);
}

/* Two registries at once: their rings' names do not collide. */
static void
test_two_registries(void)
{
	struct dp_registry *a = NULL, *b = NULL;
	struct dp_stats st = {0};
	struct dp_device_seen s = seen(7, 1, 1, 1000, "P", NULL, NULL);
	struct dp_device_info info;

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(8, 2, &a), 0);
	CU_ASSERT_EQUAL_FATAL(dp_registry_new(8, 2, &b), 0);
	touch(a, 0, &s, &st);
	CU_ASSERT_EQUAL(lookup(a, 7, &info), 0);
	CU_ASSERT_EQUAL(lookup(b, 7, &info), -ENOENT);
	CU_ASSERT_EQUAL(count(a), 1);
	CU_ASSERT_EQUAL(count(b), 0);
	dp_registry_free(a);
	dp_registry_free(b);
}

/* ------------------------------------------------------------------------ */
/* One worker                                                                */
/* ------------------------------------------------------------------------ */

#define N_DEV 10

struct walk {
	unsigned calls;
	unsigned stop_at; /* return non-zero at this call (0: never) */
	unsigned seen[N_DEV];
	unsigned other; /* devices not expected */
};

static int
walk_fn(void *arg, const struct dp_device_info *info)
{
	struct walk *w = arg;

	w->calls++;
	if (info->device >= 100 && info->device < 100 + N_DEV)
		w->seen[info->device - 100]++;
	else
		w->other++;
	return w->stop_at != 0 && w->calls == w->stop_at ? 42 : 0;
}

static void
test_insert_lookup_foreach(void)
{
	struct dp_registry *r = NULL;
	struct dp_stats st = {0};
	struct dp_device_info info;
	struct walk w = {0};
	char pat[N_DEV][16], loc[N_DEV][16];
	int rc;

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(64, 2, &r), 0);
	for (unsigned i = 0; i < N_DEV; i++) {
		struct dp_device_seen s;

		snprintf(pat[i], sizeof(pat[i]), "PID-%u", i);
		snprintf(loc[i], sizeof(loc[i]), "ICU^%u", i);
		s = seen(100 + i, 1000 + i, (uint8_t)(10 + i), (uint16_t)(4000 + i), pat[i], loc[i],
			 i % 2 ? "MON" : NULL);
		s.n_obs = i;
		s.n_hits = 2 * i;
		s.n_alarm = i % 3;
		touch(r, 0, &s, &st);
	}
	CU_ASSERT(tab_only(&st, N_DEV, 0, 0, 0, 0));
	CU_ASSERT_EQUAL(count(r), N_DEV);
	for (unsigned i = 0; i < N_DEV; i++) {
		const uint8_t sender[16] = {192, 0, 2, (uint8_t)(10 + i)};

		CU_ASSERT_EQUAL_FATAL(lookup(r, 100 + i, &info), 0);
		CU_ASSERT_EQUAL(info.device, 100 + i);
		CU_ASSERT_EQUAL(info.first_seen_ns, 1000 + i);
		CU_ASSERT_EQUAL(info.last_seen_ns, 1000 + i);
		CU_ASSERT_EQUAL(info.ip_version, 4);
		CU_ASSERT_EQUAL(memcmp(info.sender, sender, 16), 0);
		CU_ASSERT_EQUAL(info.sport, 4000 + i);
		CU_ASSERT_EQUAL(info.worker, 0);
		CU_ASSERT_STRING_EQUAL(info.patient, pat[i]);
		CU_ASSERT_STRING_EQUAL(info.location, loc[i]);
		CU_ASSERT_STRING_EQUAL(info.device_id, i % 2 ? "MON" : "");
		CU_ASSERT_EQUAL(info.messages, 1);
		CU_ASSERT_EQUAL(info.observations, i);
		CU_ASSERT_EQUAL(info.hits, 2 * i);
		CU_ASSERT_EQUAL(info.alarms, i % 3);
	}
	CU_ASSERT_EQUAL(lookup(r, 99, &info), -ENOENT);
	CU_ASSERT_EQUAL(lookup(r, 100 + N_DEV, &info), -ENOENT);

	urcu_qsbr_thread_online();
	rc = dp_registry_foreach(r, walk_fn, &w);
	urcu_qsbr_thread_offline();
	CU_ASSERT_EQUAL(rc, 0);
	CU_ASSERT_EQUAL(w.calls, N_DEV);
	CU_ASSERT_EQUAL(w.other, 0);
	for (unsigned i = 0; i < N_DEV; i++)
		CU_ASSERT_EQUAL(w.seen[i], 1);

	/* A non-zero return stops the walk and is returned. */
	memset(&w, 0, sizeof(w));
	w.stop_at = 3;
	urcu_qsbr_thread_online();
	rc = dp_registry_foreach(r, walk_fn, &w);
	urcu_qsbr_thread_offline();
	CU_ASSERT_EQUAL(rc, 42);
	CU_ASSERT_EQUAL(w.calls, 3);
	dp_registry_free(r);
}

/* The same device again: in place, first seen kept, the rest advanced. */
static void
test_in_place(void)
{
	struct dp_registry *r = NULL;
	struct dp_stats st = {0};
	struct dp_device_info info;
	struct dp_device_seen s = seen(5, 1000, 1, 2000, "P1", "L1", "D1");

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(4, 1, &r), 0);
	s.n_obs = 3;
	s.n_hits = 1;
	touch(r, 0, &s, &st);
	s = seen(5, 2000, 1, 2000, "P1", "L1", "D1");
	s.n_obs = 4;
	s.n_alarm = 2;
	touch(r, 0, &s, &st);
	/* A message that carries no text says nothing about them. */
	s = seen(5, 3000, 1, 2000, NULL, NULL, NULL);
	s.n_obs = 0;
	s.n_hits = 5;
	touch(r, 0, &s, &st);
	/* A message stamped earlier does not move last seen back. */
	s = seen(5, 2500, 1, 2000, "P1", NULL, NULL);
	s.n_obs = 0;
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 0, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 5, &info), 0);
	CU_ASSERT_EQUAL(info.first_seen_ns, 1000);
	CU_ASSERT_EQUAL(info.last_seen_ns, 3000);
	CU_ASSERT_EQUAL(info.messages, 4);
	CU_ASSERT_EQUAL(info.observations, 7);
	CU_ASSERT_EQUAL(info.hits, 6);
	CU_ASSERT_EQUAL(info.alarms, 2);
	CU_ASSERT_STRING_EQUAL(info.patient, "P1");
	CU_ASSERT_STRING_EQUAL(info.location, "L1");
	CU_ASSERT_STRING_EQUAL(info.device_id, "D1");
	/* Nothing was retired. */
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 0);
	CU_ASSERT_EQUAL(count(r), 1);
	dp_registry_free(r);
}

/* Texts are kept to DP_REGISTRY_TEXT bytes, compared on those, NUL-terminated. */
static void
test_texts_truncated(void)
{
	struct dp_registry *r = NULL;
	struct dp_stats st = {0};
	struct dp_device_info info;
	char long_a[DP_REGISTRY_TEXT + 9], long_b[DP_REGISTRY_TEXT + 9];
	char exact[DP_REGISTRY_TEXT + 1], shorter[DP_REGISTRY_TEXT];
	struct dp_device_seen s;

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(8, 1, &r), 0);
	for (unsigned i = 0; i < sizeof(long_a) - 1; i++)
		long_a[i] = (char)('A' + i % 26);
	long_a[sizeof(long_a) - 1] = '\0';
	memcpy(long_b, long_a, sizeof(long_b));
	long_b[DP_REGISTRY_TEXT + 3] = '#'; /* differs only past what is kept */
	memset(exact, 'x', DP_REGISTRY_TEXT);
	exact[DP_REGISTRY_TEXT] = '\0';
	memset(shorter, 'y', DP_REGISTRY_TEXT - 1);
	shorter[DP_REGISTRY_TEXT - 1] = '\0';

	s = seen(9, 10, 1, 1, long_a, exact, shorter);
	touch(r, 0, &s, &st);
	CU_ASSERT_EQUAL_FATAL(lookup(r, 9, &info), 0);
	CU_ASSERT_EQUAL(strlen(info.patient), DP_REGISTRY_TEXT);
	CU_ASSERT_EQUAL(strncmp(info.patient, long_a, DP_REGISTRY_TEXT), 0);
	CU_ASSERT_STRING_EQUAL(info.location, exact);
	CU_ASSERT_STRING_EQUAL(info.device_id, shorter);

	/* Different only past the kept bytes: the same entry, updated in place. */
	s = seen(9, 20, 1, 1, long_b, exact, shorter);
	touch(r, 0, &s, &st);
	/* An empty text (length 0) is no text. */
	s = seen(9, 30, 1, 1, "", "", "");
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 0, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 9, &info), 0);
	CU_ASSERT_EQUAL(info.messages, 3);
	CU_ASSERT_EQUAL(strncmp(info.patient, long_a, DP_REGISTRY_TEXT), 0);

	/* The last kept byte differs: a change. */
	long_b[DP_REGISTRY_TEXT - 1] = '#';
	s = seen(9, 40, 1, 1, long_b, NULL, NULL);
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 1, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 9, &info), 0);
	CU_ASSERT_EQUAL(strlen(info.patient), DP_REGISTRY_TEXT);
	CU_ASSERT_EQUAL(info.patient[DP_REGISTRY_TEXT - 1], '#');
	CU_ASSERT_STRING_EQUAL(info.location, exact);
	CU_ASSERT_STRING_EQUAL(info.device_id, shorter);
	CU_ASSERT_EQUAL(info.messages, 4);
	/* One character longer or shorter is a change too. */
	shorter[DP_REGISTRY_TEXT - 2] = '\0';
	s = seen(9, 50, 1, 1, NULL, NULL, shorter);
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 2, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 9, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.device_id, shorter);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 2);
	dp_registry_free(r);
}

/*
 * A new patient publishes a new entry; the old one goes back to the pool
 * only once reclaimed. With a pool of two, that is visible: the old entry
 * holds the second node until dp_registry_reclaim.
 */
static void
test_replace_and_pool(void)
{
	struct dp_registry *r = NULL;
	struct dp_stats st = {0};
	struct dp_device_info info;
	struct dp_device_seen s;

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(2, 1, &r), 0);
	s = seen(1, 100, 1, 2000, "P1", "BED-1", "MON-1");
	s.n_obs = 3;
	s.n_hits = 1;
	s.n_alarm = 1;
	touch(r, 0, &s, &st);
	s = seen(1, 200, 1, 2000, "P2", NULL, NULL);
	s.n_obs = 2;
	s.n_hits = 4;
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 1, 0, 0, 0));
	CU_ASSERT_EQUAL(count(r), 1);
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.patient, "P2");
	CU_ASSERT_STRING_EQUAL(info.location, "BED-1"); /* not in the message: kept */
	CU_ASSERT_STRING_EQUAL(info.device_id, "MON-1");
	CU_ASSERT_EQUAL(info.first_seen_ns, 100);
	CU_ASSERT_EQUAL(info.last_seen_ns, 200);
	CU_ASSERT_EQUAL(info.messages, 2);
	CU_ASSERT_EQUAL(info.observations, 5);
	CU_ASSERT_EQUAL(info.hits, 5);
	CU_ASSERT_EQUAL(info.alarms, 1);

	/* Both nodes are taken: a new device finds the pool empty. */
	s = seen(2, 300, 2, 2000, "Q", NULL, NULL);
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 1, 1, 0, 0));
	CU_ASSERT_EQUAL(lookup(r, 2, &info), -ENOENT);
	/* An in-place update needs no node. */
	s = seen(1, 400, 1, 2000, "P2", "BED-1", NULL);
	touch(r, 0, &s, &st);
	/* A change does, and is not recorded at all without one. */
	s = seen(1, 500, 1, 2000, "P3", NULL, NULL);
	s.n_obs = 100;
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 1, 2, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.patient, "P2");
	CU_ASSERT_EQUAL(info.messages, 3);
	CU_ASSERT_EQUAL(info.observations, 6);
	CU_ASSERT_EQUAL(info.last_seen_ns, 400);

	/* The reclaim gives the retired node back, once. */
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 1);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 0);
	s = seen(2, 600, 2, 2000, "Q", NULL, NULL);
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 2, 1, 2, 0, 0));
	CU_ASSERT_EQUAL(count(r), 2);
	CU_ASSERT_EQUAL_FATAL(lookup(r, 2, &info), 0);
	CU_ASSERT_EQUAL(info.first_seen_ns, 600);
	CU_ASSERT_STRING_EQUAL(info.patient, "Q");
	/* The entry of device 1 is unchanged by all this. */
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.patient, "P2");
	CU_ASSERT_EQUAL(info.messages, 3);
	dp_registry_free(r);
}

/*
 * The sender (address, family, source port) is updated in place by the
 * device's owner: a device heard from a new address, from IPv6 as well as
 * IPv4, or from a new port (a gateway may open a socket per message) must
 * not churn the registry. Only a text that changes replaces the entry.
 */
static void
test_sender_change(void)
{
	struct dp_registry *r = NULL;
	struct dp_stats st = {0};
	struct dp_device_info info;
	struct dp_device_seen s;
	const uint8_t v4[16] = {192, 0, 2, 2};
	const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(8, 1, &r), 0);
	s = seen(3, 1, 1, 2000, "P", "L", "D");
	touch(r, 0, &s, &st);
	s = seen(3, 2, 1, 2001, "P", "L", "D"); /* source port */
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 0, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 3, &info), 0);
	CU_ASSERT_EQUAL(info.sport, 2001);
	s = seen(3, 3, 2, 2001, "P", "L", "D"); /* address */
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 0, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 3, &info), 0);
	CU_ASSERT_EQUAL(info.ip_version, 4);
	CU_ASSERT_EQUAL(memcmp(info.sender, v4, 16), 0);
	CU_ASSERT_EQUAL(info.sport, 2001);
	s = seen(3, 4, 0, 2002, "P", "L", "D"); /* family, every byte of the address, port */
	s.ip_version = 6;
	memcpy(s.sender, v6, sizeof(v6));
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 0, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 3, &info), 0);
	CU_ASSERT_EQUAL(info.ip_version, 6);
	CU_ASSERT_EQUAL(memcmp(info.sender, v6, 16), 0);
	CU_ASSERT_EQUAL(info.sport, 2002);
	CU_ASSERT_EQUAL(info.messages, 4);
	CU_ASSERT_EQUAL(info.first_seen_ns, 1);
	CU_ASSERT_EQUAL(info.last_seen_ns, 4);
	CU_ASSERT_STRING_EQUAL(info.location, "L");
	/* Back to IPv4, and a message with no text at all: in place still. */
	s = seen(3, 5, 2, 2001, NULL, NULL, NULL);
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 0, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 3, &info), 0);
	CU_ASSERT_EQUAL(info.ip_version, 4);
	CU_ASSERT_EQUAL(memcmp(info.sender, v4, 16), 0);
	CU_ASSERT_EQUAL(info.sport, 2001);
	CU_ASSERT_EQUAL(info.messages, 5);
	/* Nothing was retired. */
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 0);

	/* A new patient from a new sender: replaced, the new entry has the new sender. */
	s = seen(3, 6, 0, 2003, "P2", NULL, NULL);
	s.ip_version = 6;
	memcpy(s.sender, v6, sizeof(v6));
	touch(r, 0, &s, &st);
	CU_ASSERT(tab_only(&st, 1, 1, 0, 0, 0));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 3, &info), 0);
	CU_ASSERT_STRING_EQUAL(info.patient, "P2");
	CU_ASSERT_EQUAL(info.ip_version, 6);
	CU_ASSERT_EQUAL(memcmp(info.sender, v6, 16), 0);
	CU_ASSERT_EQUAL(info.sport, 2003);
	CU_ASSERT_EQUAL(info.messages, 6);
	CU_ASSERT_EQUAL(info.first_seen_ns, 1);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 1);
	CU_ASSERT_EQUAL(count(r), 1);
	dp_registry_free(r);
}

/*
 * A device seen by a second worker stays with its owner: the second
 * worker's touches go to the shared counters (registry_shared), leave the
 * sender alone and raise last seen only. A text change seen by the second
 * worker moves the device to it (a replace); the node it leaves goes back
 * to the first worker's pool, not the second's. Pools of one node each
 * make that visible.
 */
static void
test_two_workers(void)
{
	struct dp_registry *r = NULL;
	struct dp_stats st0 = {0}, st1 = {0};
	struct dp_device_info info;
	struct dp_device_seen s;
	const uint8_t v4[16] = {192, 0, 2, 1};
	const uint8_t v6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 9};

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(1, 2, &r), 0);
	s = seen(1, 10, 1, 2000, "P", "L", "D");
	s.n_obs = 2;
	s.n_hits = 1;
	touch(r, 0, &s, &st0);
	/* Worker 1, the same texts from another sender (IPv6, as with RSS over two queues). */
	s = seen(1, 20, 0, 2001, "P", "L", "D");
	s.ip_version = 6;
	memcpy(s.sender, v6, sizeof(v6));
	s.n_obs = 3;
	s.n_alarm = 1;
	touch(r, 1, &s, &st1);
	CU_ASSERT(tab_only(&st0, 1, 0, 0, 0, 0));
	CU_ASSERT(tab_only(&st1, 0, 0, 0, 0, 1));
	CU_ASSERT_EQUAL(count(r), 1);
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_EQUAL(info.worker, 0);
	CU_ASSERT_EQUAL(info.ip_version, 4);
	CU_ASSERT_EQUAL(memcmp(info.sender, v4, 16), 0);
	CU_ASSERT_EQUAL(info.sport, 2000);
	CU_ASSERT_EQUAL(info.first_seen_ns, 10);
	CU_ASSERT_EQUAL(info.last_seen_ns, 20);
	CU_ASSERT_EQUAL(info.messages, 2);
	CU_ASSERT_EQUAL(info.observations, 5);
	CU_ASSERT_EQUAL(info.hits, 1);
	CU_ASSERT_EQUAL(info.alarms, 1);
	/* An older time does not lower last seen; the owner's touch adds to the sum. */
	s.now_ns = 15;
	s.n_hits = 4;
	touch(r, 1, &s, &st1);
	s = seen(1, 30, 1, 2000, NULL, NULL, NULL);
	touch(r, 0, &s, &st0);
	CU_ASSERT(tab_only(&st0, 1, 0, 0, 0, 0));
	CU_ASSERT(tab_only(&st1, 0, 0, 0, 0, 2));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_EQUAL(info.worker, 0);
	CU_ASSERT_EQUAL(info.last_seen_ns, 30);
	CU_ASSERT_EQUAL(info.messages, 4);
	CU_ASSERT_EQUAL(info.observations, 9);
	CU_ASSERT_EQUAL(info.hits, 5);
	CU_ASSERT_EQUAL(info.alarms, 2);
	/* Nothing was retired. */
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 0);

	/* A new patient seen by worker 1: it takes the device over, counters and all. */
	s = seen(1, 40, 0, 2001, "P2", NULL, NULL);
	s.ip_version = 6;
	memcpy(s.sender, v6, sizeof(v6));
	touch(r, 1, &s, &st1);
	CU_ASSERT(tab_only(&st0, 1, 0, 0, 0, 0));
	CU_ASSERT(tab_only(&st1, 0, 1, 0, 0, 2));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_EQUAL(info.worker, 1);
	CU_ASSERT_STRING_EQUAL(info.patient, "P2");
	CU_ASSERT_STRING_EQUAL(info.location, "L");
	CU_ASSERT_EQUAL(info.ip_version, 6);
	CU_ASSERT_EQUAL(memcmp(info.sender, v6, 16), 0);
	CU_ASSERT_EQUAL(info.sport, 2001);
	CU_ASSERT_EQUAL(info.first_seen_ns, 10);
	CU_ASSERT_EQUAL(info.last_seen_ns, 40);
	CU_ASSERT_EQUAL(info.messages, 5);
	CU_ASSERT_EQUAL(info.observations, 10);

	/* Worker 1 owns it now: its touches are its own, worker 0's are shared. */
	touch(r, 1, &s, &st1);
	s = seen(1, 50, 1, 2000, "P2", NULL, NULL);
	touch(r, 0, &s, &st0);
	CU_ASSERT(tab_only(&st0, 1, 0, 0, 0, 1));
	CU_ASSERT(tab_only(&st1, 0, 1, 0, 0, 2));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_EQUAL(info.worker, 1);
	CU_ASSERT_EQUAL(info.ip_version, 6); /* worker 0's IPv4 sender is not written */
	CU_ASSERT_EQUAL(info.messages, 7);
	/* Neither pool has a node: worker 0's is retired, worker 1's is in the table. */
	s = seen(2, 60, 1, 2000, NULL, NULL, NULL);
	touch(r, 0, &s, &st0);
	touch(r, 1, &s, &st1);
	CU_ASSERT(tab_only(&st0, 1, 0, 1, 0, 1));
	CU_ASSERT(tab_only(&st1, 0, 1, 1, 0, 2));
	/* The reclaimed node goes to worker 0's pool. */
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 1);
	touch(r, 1, &s, &st1);
	CU_ASSERT(tab_only(&st1, 0, 1, 2, 0, 2));
	touch(r, 0, &s, &st0);
	CU_ASSERT(tab_only(&st0, 2, 0, 1, 0, 1));
	CU_ASSERT_EQUAL_FATAL(lookup(r, 2, &info), 0);
	CU_ASSERT_EQUAL(info.worker, 0);
	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_EQUAL(info.worker, 1);
	CU_ASSERT_EQUAL(info.messages, 7);
	CU_ASSERT_EQUAL(count(r), 2);
	dp_registry_free(r);
}

/*
 * More replacements between two reclaims than the retire ring holds: the
 * rest are kept by the worker (counted), handed over by its next touch or
 * by dp_registry_flush once the ring has room, and all come back.
 */
static void
test_retire_ring_full(void)
{
	enum { EXTRA = 6, CHANGES = DP_REGISTRY_RETIRE_RING + EXTRA };
	struct dp_registry *r = NULL;
	struct dp_stats st = {0};
	struct dp_device_info info;
	struct dp_device_seen s;
	char pat[16];

	CU_ASSERT_EQUAL_FATAL(dp_registry_new(2 * DP_REGISTRY_RETIRE_RING, 1, &r), 0);
	s = seen(1, 0, 1, 2000, "P-first", NULL, NULL);
	touch(r, 0, &s, &st);
	for (unsigned i = 0; i < CHANGES; i++) {
		snprintf(pat, sizeof(pat), "P-%u", i);
		s = seen(1, 1 + i, 1, 2000, pat, NULL, NULL);
		touch(r, 0, &s, &st);
	}
	CU_ASSERT(tab_only(&st, 1, CHANGES, 0, EXTRA, 0));
	/* The ring is still full: nothing can be handed over. */
	CU_ASSERT_EQUAL(dp_registry_flush(r, 0), EXTRA);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), DP_REGISTRY_RETIRE_RING);
	/* The next touch (in place) hands the kept ones over. */
	touch(r, 0, &s, &st);
	CU_ASSERT_EQUAL(dp_registry_flush(r, 0), 0);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), EXTRA);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), 0);

	/* Again, handed over by dp_registry_flush this time. */
	for (unsigned i = 0; i < CHANGES; i++) {
		snprintf(pat, sizeof(pat), "Q-%u", i);
		s = seen(1, 10000 + i, 1, 2000, pat, NULL, NULL);
		touch(r, 0, &s, &st);
	}
	CU_ASSERT(tab_only(&st, 1, 2 * CHANGES, 0, 2 * EXTRA, 0));
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), DP_REGISTRY_RETIRE_RING);
	CU_ASSERT_EQUAL(dp_registry_flush(r, 0), 0);
	CU_ASSERT_EQUAL(dp_registry_reclaim(r), EXTRA);

	CU_ASSERT_EQUAL_FATAL(lookup(r, 1, &info), 0);
	CU_ASSERT_EQUAL(info.messages, 2 + 2 * CHANGES);
	CU_ASSERT_EQUAL(info.first_seen_ns, 0);
	CU_ASSERT_STRING_EQUAL(info.patient, pat);
	CU_ASSERT_EQUAL(count(r), 1);
	dp_registry_free(r);
}

/* ------------------------------------------------------------------------ */
/* Concurrency                                                               */
/* ------------------------------------------------------------------------ */

/*
 * Each worker first touches each of its private devices and each shared
 * device once (so all of them exist), then picks at random. Shared devices
 * are touched by every worker: mostly without a patient (in place, by the
 * owner or counted as shared), one touch in SHARED_PATIENT_EVERY with the
 * worker's own patient for it (a change when another worker's is there: a
 * replace that moves the device). A private device's patient changes every
 * PATIENT_EVERY touches of its worker. Every touch's sender is one of its
 * worker's two (IPv4 or IPv6, picked at random), so owners keep rewriting
 * senders in place while the reader reads them.
 */
#define C_WORKERS 4
#define C_SHARED 4
#define C_PRIVATE 512
#define C_TOUCHES 50000
#define C_IDS (C_SHARED + C_WORKERS * C_PRIVATE)
#define PATIENT_EVERY 1500
#define SHARED_PATIENT_EVERY 16
#define SHARED_BASE 0x5000000000000000ull

static uint64_t
c_device(unsigned idx)
{
	if (idx < C_SHARED)
		return SHARED_BASE | idx;
	idx -= C_SHARED;
	return ((uint64_t)(idx / C_PRIVATE + 1) << 32) | (idx % C_PRIVATE);
}

/* The index of a device of this test, or -1. */
static int
c_index(uint64_t device)
{
	if ((device & ~0xffull) == SHARED_BASE && (device & 0xff) < C_SHARED)
		return (int)(device & 0xff);
	if (device >> 32 >= 1 && device >> 32 <= C_WORKERS && (device & 0xffffffffull) < C_PRIVATE)
		return (int)(C_SHARED + ((device >> 32) - 1) * C_PRIVATE +
			     (device & 0xffffffffull));
	return -1;
}

/*
 * Worker w's sender number alt (0: IPv4, 1: IPv6). Each of the three words
 * the registry keeps (address bytes 0-7, bytes 8-15, family and port)
 * differs between the two, so a read that mixed two writes is neither.
 */
static void
c_sender(unsigned w, unsigned alt, uint8_t *ip_version, uint8_t sender[16], uint16_t *sport)
{
	memset(sender, 0, 16);
	if (alt == 0) {
		*ip_version = 4;
		sender[0] = 198;
		sender[1] = 51;
		sender[2] = 100;
		sender[3] = (uint8_t)(w + 1);
		*sport = (uint16_t)(40000 + w);
	} else {
		*ip_version = 6;
		for (unsigned i = 0; i < 16; i++)
			sender[i] = (uint8_t)(0x80 + 16 * w + i);
		*sport = (uint16_t)(50000 + w);
	}
}

/*
 * The sender of an entry is one its owner wrote (an entry's sender is
 * written by its owner only): -1 if not (a torn read), else which one.
 */
static int
c_sender_of(const struct dp_device_info *info)
{
	for (unsigned alt = 0; alt < 2 && info->worker < C_WORKERS; alt++) {
		uint8_t ipv, sender[16];
		uint16_t sport;

		c_sender(info->worker, alt, &ipv, sender, &sport);
		if (info->ip_version == ipv && memcmp(info->sender, sender, 16) == 0 &&
		    info->sport == sport)
			return (int)alt;
	}
	return -1;
}

struct c_shared {
	struct dp_registry *r;
	atomic_bool stop;      /* reader and reclaimer */
	atomic_uint n_started; /* workers at the start line */
	unsigned n_workers;    /* how many will get there */
};

struct c_worker {
	struct c_shared *sh;
	unsigned id;
	struct dp_stats stats;
	uint64_t touches;
	uint64_t recorded;	/* touches the registry recorded */
	uint64_t exp[C_IDS][4]; /* recorded per device: messages, obs, hits, alarms */
	unsigned kept_after;	/* dp_registry_flush at the end (must be 0) */
};

static uint32_t
xorshift(uint32_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 17;
	*x ^= *x << 5;
	return *x;
}

static void *
c_worker_main(void *arg)
{
	struct c_worker *cw = arg;
	struct dp_registry *r = cw->sh->r;
	uint32_t rnd = 2463534242u + cw->id * 7919u;
	char pat[24], loc[16];
	bool with_patient;

	/* All together: a worker that ran alone would own every shared device. */
	atomic_fetch_add(&cw->sh->n_started, 1);
	while (atomic_load(&cw->sh->n_started) < cw->sh->n_workers)
		sched_yield();
	urcu_qsbr_register_thread();
	for (unsigned t = 0; t < C_TOUCHES; t++) {
		unsigned idx;
		struct dp_device_seen s;
		uint64_t lost_before, lost_after;

		if (t < C_PRIVATE)
			idx = C_SHARED + cw->id * C_PRIVATE + t;
		else if (t < C_PRIVATE + C_SHARED)
			idx = t - C_PRIVATE;
		else if (xorshift(&rnd) % 2 == 0)
			idx = xorshift(&rnd) % C_SHARED;
		else
			idx = C_SHARED + cw->id * C_PRIVATE + xorshift(&rnd) % C_PRIVATE;
		if (idx < C_SHARED)
			snprintf(pat, sizeof(pat), "S-%u-%u", idx, cw->id);
		else
			snprintf(pat, sizeof(pat), "P-%u-%u", idx, t / PATIENT_EVERY);
		snprintf(loc, sizeof(loc), "WARD-%u", idx % 7);
		/* A shared device's first touch by each worker carries its patient. */
		with_patient = idx >= C_SHARED || t < C_PRIVATE + C_SHARED ||
			       xorshift(&rnd) % SHARED_PATIENT_EVERY == 0;
		s = seen(c_device(idx), (int64_t)t + 1, 0, 0, with_patient ? pat : NULL,
			 t % 3 ? loc : NULL, t % 5 ? "MONITOR" : NULL);
		c_sender(cw->id, xorshift(&rnd) >> 7 & 1, &s.ip_version, s.sender, &s.sport);
		s.n_obs = 1 + t % 5;
		s.n_hits = t % 3 == 0;
		s.n_alarm = t % 11 == 0;
		lost_before = dp_read(&cw->stats.table[DP_TAB_registry_full]) +
			      dp_read(&cw->stats.table[DP_TAB_registry_contended]);
		dp_registry_touch(r, cw->id, &s, &cw->stats);
		lost_after = dp_read(&cw->stats.table[DP_TAB_registry_full]) +
			     dp_read(&cw->stats.table[DP_TAB_registry_contended]);
		cw->touches++;
		if (lost_after == lost_before) {
			cw->recorded++;
			cw->exp[idx][0]++;
			cw->exp[idx][1] += s.n_obs;
			cw->exp[idx][2] += s.n_hits;
			cw->exp[idx][3] += s.n_alarm;
		}
		urcu_qsbr_quiescent_state();
		/* Now and then let another thread in: workers interleave finely on few CPUs. */
		if (t % 128 == 127)
			sched_yield();
	}
	/* Offline: the reclaimer's grace periods must not wait for us here. */
	urcu_qsbr_thread_offline();
	while (dp_registry_flush(r, cw->id) > 0)
		usleep(200);
	cw->kept_after = dp_registry_flush(r, cw->id);
	urcu_qsbr_unregister_thread();
	return NULL;
}

struct c_reader {
	struct c_shared *sh;
	uint64_t passes;
	uint64_t lookups_found;
	uint64_t bad;	     /* a lookup or walk returned something wrong */
	uint64_t duplicates; /* a device twice in one walk */
	uint64_t senders[2]; /* entries read with their owner's IPv4, IPv6 sender */
	uint64_t torn;	     /* entries read with a sender their owner never wrote */
	unsigned char seen[C_IDS];
};

static int
c_walk_fn(void *arg, const struct dp_device_info *info)
{
	struct c_reader *cr = arg;
	int idx = c_index(info->device);
	int alt = c_sender_of(info);

	if (idx < 0 || info->worker >= C_WORKERS || info->messages == 0) {
		cr->bad++;
		return 0;
	}
	if (alt < 0)
		cr->torn++;
	else
		cr->senders[alt]++;
	if (cr->seen[idx]++ != 0)
		cr->duplicates++;
	return 0;
}

static void *
c_reader_main(void *arg)
{
	struct c_reader *cr = arg;
	struct dp_registry *r = cr->sh->r;
	uint32_t rnd = 88675123u;

	urcu_qsbr_register_thread();
	do {
		struct dp_device_info info;

		for (unsigned i = 0; i < 64; i++) {
			unsigned idx = xorshift(&rnd) % C_IDS;
			int rc = dp_registry_lookup(r, c_device(idx), &info);

			if (rc == 0) {
				int alt = c_sender_of(&info);

				cr->lookups_found++;
				if (alt < 0)
					cr->torn++;
				else
					cr->senders[alt]++;
				if (info.device != c_device(idx) || info.worker >= C_WORKERS ||
				    info.patient[0] != (idx < C_SHARED ? 'S' : 'P') ||
				    strlen(info.patient) > DP_REGISTRY_TEXT ||
				    (info.device_id[0] != '\0' &&
				     strcmp(info.device_id, "MONITOR") != 0) ||
				    info.messages == 0)
					cr->bad++;
			} else if (rc != -ENOENT) {
				cr->bad++;
			}
		}
		/* The shared devices' senders are rewritten the most: read them most. */
		for (unsigned i = 0; i < 256; i++) {
			int rc = dp_registry_lookup(r, c_device(i % C_SHARED), &info);
			int alt;

			if (rc == -ENOENT) /* not inserted yet */
				continue;
			if (rc != 0 || info.device != c_device(i % C_SHARED)) {
				cr->bad++;
				continue;
			}
			alt = c_sender_of(&info);
			if (alt < 0)
				cr->torn++;
			else
				cr->senders[alt]++;
		}
		memset(cr->seen, 0, sizeof(cr->seen));
		(void)dp_registry_foreach(r, c_walk_fn, cr);
		if (dp_registry_count(r) > C_IDS)
			cr->bad++;
		cr->passes++;
		urcu_qsbr_thread_offline();
		urcu_qsbr_thread_online();
	} while (!atomic_load(&cr->sh->stop));
	urcu_qsbr_unregister_thread();
	return NULL;
}

struct c_reclaimer {
	struct c_shared *sh;
	uint64_t reclaimed;
	uint64_t calls;
};

/* A registered reader that stays offline, as the control plane's main lcore does. */
static void *
c_reclaimer_main(void *arg)
{
	struct c_reclaimer *cc = arg;

	urcu_qsbr_register_thread();
	urcu_qsbr_thread_offline();
	while (!atomic_load(&cc->sh->stop)) {
		cc->reclaimed += dp_registry_reclaim(cc->sh->r);
		cc->calls++;
		usleep(300);
	}
	urcu_qsbr_unregister_thread();
	return NULL;
}

struct c_sums {
	uint64_t c[4];
	unsigned n;
	unsigned seen[C_IDS];
	unsigned other;
	const struct c_worker *cw; /* to check each device against (NULL: only sum) */
	unsigned wrong;		   /* devices whose counts differ from what was recorded */
	unsigned foreign;	   /* devices whose sender is not one their owner sent */
};

static int
c_sum_fn(void *arg, const struct dp_device_info *info)
{
	struct c_sums *s = arg;
	int idx = c_index(info->device);
	uint64_t want[4] = {0};
	const uint64_t got[4] = {info->messages, info->observations, info->hits, info->alarms};

	s->n++;
	if (idx < 0) {
		s->other++;
		return 0;
	}
	s->seen[idx]++;
	s->foreign += c_sender_of(info) < 0;
	for (unsigned k = 0; k < 4; k++) {
		s->c[k] += got[k];
		for (unsigned w = 0; s->cw != NULL && w < C_WORKERS; w++)
			want[k] += s->cw[w].exp[idx][k];
	}
	if (s->cw != NULL && memcmp(want, got, sizeof(want)) != 0) {
		if (s->wrong++ < 5)
			fprintf(stderr, "\n  device %#lx: messages %lu, recorded %lu",
				(unsigned long)info->device, (unsigned long)got[0],
				(unsigned long)want[0]);
	}
	return 0;
}

static int
start_thread(pthread_t *t, void *(*fn)(void *), void *arg)
{
	pthread_attr_t attr;
	int rc;

	/* Every CPU the process has, not the main lcore's alone. */
	rc = pthread_attr_init(&attr);
	if (rc == 0)
		rc = pthread_attr_setaffinity_np(&attr, sizeof(all_cpus), &all_cpus);
	if (rc == 0)
		rc = pthread_create(t, &attr, fn, arg);
	pthread_attr_destroy(&attr);
	return rc;
}

static void
test_concurrent(void)
{
	struct c_shared sh = {0};
	struct c_worker *cw = calloc(C_WORKERS, sizeof(*cw));
	struct c_reader *cr = calloc(1, sizeof(*cr));
	struct c_reclaimer cc = {.sh = &sh};
	struct c_sums *sums = calloc(1, sizeof(*sums));
	pthread_t tw[C_WORKERS], trd, trc;
	uint64_t touches = 0, recorded = 0, inserts = 0, replaced = 0, full = 0, contended = 0;
	uint64_t shared = 0;
	uint64_t retire_full = 0, final_reclaimed = 0, before, late_before, late_final;
	uint64_t want[4] = {0};
	unsigned n, missing = 0, twice = 0, started = 0;
	bool reader = false, reclaimer = false;
	size_t base = eal_allocated();

	if (cw == NULL || cr == NULL || sums == NULL) {
		CU_FAIL("out of memory");
		goto out;
	}
	/*
	 * Each node a worker takes is one of its touches, so a pool as large
	 * as a worker's touches never runs dry, whenever the reclaimer runs:
	 * registry_full must stay 0.
	 */
	CU_ASSERT_EQUAL_FATAL(dp_registry_new(C_TOUCHES, C_WORKERS, &sh.r), 0);
	cr->sh = &sh;
	sh.n_workers = C_WORKERS;
	reader = start_thread(&trd, c_reader_main, cr) == 0;
	reclaimer = start_thread(&trc, c_reclaimer_main, &cc) == 0;
	CU_ASSERT(reader && reclaimer);
	for (unsigned w = 0; w < C_WORKERS && reader && reclaimer; w++) {
		cw[w].sh = &sh;
		cw[w].id = w;
		if (start_thread(&tw[w], c_worker_main, &cw[w]) != 0)
			break;
		started++;
	}
	CU_ASSERT_EQUAL(started, C_WORKERS);
	/* The ones that did not start do not hold the others at the start line. */
	atomic_fetch_add(&sh.n_started, C_WORKERS - started);
	for (unsigned w = 0; w < started; w++)
		pthread_join(tw[w], NULL);
	atomic_store(&sh.stop, true);
	if (reader)
		pthread_join(trd, NULL);
	if (reclaimer)
		pthread_join(trc, NULL);
	if (started < C_WORKERS)
		goto out;

	for (unsigned w = 0; w < C_WORKERS; w++) {
		const struct dp_stats *st = &cw[w].stats;

		CU_ASSERT_EQUAL(cw[w].kept_after, 0);
		touches += cw[w].touches;
		recorded += cw[w].recorded;
		inserts += tab(st, DP_TAB_registry_inserts);
		replaced += tab(st, DP_TAB_registry_replaced);
		full += tab(st, DP_TAB_registry_full);
		retire_full += tab(st, DP_TAB_registry_retire_full);
		contended += tab(st, DP_TAB_registry_contended);
		shared += tab(st, DP_TAB_registry_shared);
		for (unsigned i = 0; i < C_IDS; i++)
			for (unsigned k = 0; k < 4; k++)
				want[k] += cw[w].exp[i][k];
	}

	/*
	 * The workers are done, but what reached a node after it was copied
	 * is still in the nodes retired since the reclaimer's last pass: the
	 * table may be short by exactly what the last reclaim settles.
	 */
	urcu_qsbr_thread_online();
	(void)dp_registry_foreach(sh.r, c_sum_fn, sums);
	urcu_qsbr_thread_offline();
	before = sums->c[0];
	late_before = dp_registry_settled_late(sh.r);
	do {
		n = dp_registry_reclaim(sh.r);
		final_reclaimed += n;
	} while (n > 0);
	late_final = dp_registry_settled_late(sh.r) - late_before;

	memset(sums, 0, sizeof(*sums));
	sums->cw = cw;
	urcu_qsbr_thread_online();
	(void)dp_registry_foreach(sh.r, c_sum_fn, sums);
	urcu_qsbr_thread_offline();
	for (unsigned i = 0; i < C_IDS; i++) {
		missing += sums->seen[i] == 0;
		twice += sums->seen[i] > 1;
	}

	printf("\n    %lu touches: %lu inserts, %lu replaced (%lu reclaimed by %lu calls while "
	       "running, %lu at the end), %lu shared, %lu retire_full, %lu contended; %lu "
	       "messages settled late (%lu at the end); reader: %lu walks, %lu lookups found, "
	       "senders read %lu IPv4 %lu IPv6 %lu torn\n    ",
	       (unsigned long)touches, (unsigned long)inserts, (unsigned long)replaced,
	       (unsigned long)cc.reclaimed, (unsigned long)cc.calls, (unsigned long)final_reclaimed,
	       (unsigned long)shared, (unsigned long)retire_full, (unsigned long)contended,
	       (unsigned long)dp_registry_settled_late(sh.r), (unsigned long)late_final,
	       (unsigned long)cr->passes, (unsigned long)cr->lookups_found,
	       (unsigned long)cr->senders[0], (unsigned long)cr->senders[1],
	       (unsigned long)cr->torn);

	/* The reader never saw a device twice in a walk, nor anything wrong. */
	CU_ASSERT(cr->passes >= 1);
	CU_ASSERT_EQUAL(cr->duplicates, 0);
	CU_ASSERT_EQUAL(cr->bad, 0);
	/* Every sender it read was one the entry's owner wrote, never a mix of two. */
	CU_ASSERT(cr->senders[0] + cr->senders[1] > 0);
	CU_ASSERT_EQUAL(cr->torn, 0);
	/* Every touch was recorded or counted; none needed a node the pool lacked. */
	CU_ASSERT_EQUAL(touches, (uint64_t)C_WORKERS * C_TOUCHES);
	CU_ASSERT_EQUAL(recorded + full + contended, touches);
	CU_ASSERT_EQUAL(full, 0);
	/* Every device there once, inserted once; every retired node returned. */
	CU_ASSERT_EQUAL(count(sh.r), C_IDS);
	CU_ASSERT_EQUAL(sums->n, C_IDS);
	CU_ASSERT_EQUAL(sums->other, 0);
	CU_ASSERT_EQUAL(missing, 0);
	CU_ASSERT_EQUAL(twice, 0);
	CU_ASSERT_EQUAL(inserts, C_IDS);
	CU_ASSERT(shared <= recorded);
	CU_ASSERT_EQUAL(cc.reclaimed + final_reclaimed, replaced);
	/* The last reclaim settled exactly what the table was short of. */
	CU_ASSERT_EQUAL(before + late_final, sums->c[0]);
	/* No increment lost: per device and in total, exactly what was recorded. */
	CU_ASSERT_EQUAL(sums->wrong, 0);
	/* Every entry's sender is one its owner sent (no other worker wrote it). */
	CU_ASSERT_EQUAL(sums->foreign, 0);
	CU_ASSERT_EQUAL(sums->c[0], recorded);
	for (unsigned k = 0; k < 4; k++)
		CU_ASSERT_EQUAL(sums->c[k], want[k]);
out:
	dp_registry_free(sh.r);
	CU_ASSERT_EQUAL(eal_allocated(), base);
	free(sums);
	free(cr);
	free(cw);
}

/*
 * The seqlock alone: one worker rewrites one device's sender at every touch
 * (its IPv4 and its IPv6 one in turn) while a reader looks the device up
 * as fast as it can. Every sender read must be one of the two, never a mix;
 * and all of it happens in place: one insert, no replace.
 */
#define S_TOUCHES 200000

struct s_run {
	struct dp_registry *r;
	struct dp_stats stats;
	atomic_bool reader_started;
	atomic_bool writer_done;
	uint64_t reads;
	uint64_t senders[2];
	uint64_t torn;
	uint64_t bad;
};

static void *
s_writer_main(void *arg)
{
	struct s_run *sr = arg;

	/* Not before the reader reads: it reads at least once while we write. */
	while (!atomic_load(&sr->reader_started))
		sched_yield();
	urcu_qsbr_register_thread();
	for (unsigned t = 0; t < S_TOUCHES; t++) {
		struct dp_device_seen s = seen(1, 2 + (int64_t)t, 0, 0, "P", NULL, NULL);

		c_sender(0, (t + 1) % 2, &s.ip_version, s.sender, &s.sport);
		dp_registry_touch(sr->r, 0, &s, &sr->stats);
		urcu_qsbr_quiescent_state();
	}
	urcu_qsbr_unregister_thread();
	atomic_store(&sr->writer_done, true);
	return NULL;
}

static void *
s_reader_main(void *arg)
{
	struct s_run *sr = arg;
	bool done;

	urcu_qsbr_register_thread();
	do {
		struct dp_device_info info;
		int alt;

		done = atomic_load(&sr->writer_done); /* one more read after the last write */
		if (dp_registry_lookup(sr->r, 1, &info) != 0 || info.worker != 0) {
			sr->bad++;
			continue;
		}
		sr->reads++;
		alt = c_sender_of(&info);
		if (alt < 0)
			sr->torn++;
		else
			sr->senders[alt]++;
		atomic_store(&sr->reader_started, true);
		if (sr->reads % 256 == 0)
			urcu_qsbr_quiescent_state();
	} while (!done);
	urcu_qsbr_unregister_thread();
	return NULL;
}

static void
test_sender_seqlock(void)
{
	struct s_run *sr = calloc(1, sizeof(*sr));
	struct dp_device_seen s = seen(1, 1, 0, 0, "P", NULL, NULL);
	struct dp_device_info info;
	pthread_t tw, trd;
	bool writer = false, reader = false;

	CU_ASSERT_PTR_NOT_NULL_FATAL(sr);
	CU_ASSERT_EQUAL_FATAL(dp_registry_new(4, 1, &sr->r), 0);
	c_sender(0, 0, &s.ip_version, s.sender, &s.sport);
	touch(sr->r, 0, &s, &sr->stats);
	reader = start_thread(&trd, s_reader_main, sr) == 0;
	writer = reader && start_thread(&tw, s_writer_main, sr) == 0;
	CU_ASSERT(reader && writer);
	if (writer)
		pthread_join(tw, NULL);
	else
		atomic_store(&sr->writer_done, true);
	if (reader)
		pthread_join(trd, NULL);
	printf("\n    %u sender rewrites: %lu reads, %lu IPv4, %lu IPv6, %lu torn\n    ", S_TOUCHES,
	       (unsigned long)sr->reads, (unsigned long)sr->senders[0],
	       (unsigned long)sr->senders[1], (unsigned long)sr->torn);
	if (reader && writer) {
		CU_ASSERT(sr->reads > 0);
		CU_ASSERT_EQUAL(sr->bad, 0);
		CU_ASSERT_EQUAL(sr->torn, 0);
		CU_ASSERT(tab_only(&sr->stats, 1, 0, 0, 0, 0));
		CU_ASSERT_EQUAL_FATAL(lookup(sr->r, 1, &info), 0);
		CU_ASSERT_EQUAL(info.messages, 1 + S_TOUCHES);
		CU_ASSERT_EQUAL(c_sender_of(&info), S_TOUCHES % 2);
		CU_ASSERT_EQUAL(dp_registry_reclaim(sr->r), 0);
	}
	dp_registry_free(sr->r);
	free(sr);
}

int
vigil_test_register(void)
{
	static const struct {
		const char *name;
		CU_TestFunc fn;
	} tests[] = {
		{"dp_registry_new errors", test_new_errors},
		{"two registries", test_two_registries},
		{"insert, lookup, count, foreach", test_insert_lookup_foreach},
		{"in place", test_in_place},
		{"texts truncated", test_texts_truncated},
		{"replace and pool", test_replace_and_pool},
		{"sender change", test_sender_change},
		{"two workers", test_two_workers},
		{"retire ring full", test_retire_ring_full},
		{"sender rewritten under a reader", test_sender_seqlock},
		{"concurrent workers, reader, reclaimer", test_concurrent},
	};
	CU_pSuite suite = CU_add_suite("registry", suite_init, suite_cleanup);

	if (suite == NULL)
		return -1;
	for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++)
		if (CU_add_test(suite, tests[i].name, tests[i].fn) == NULL)
			return -1;
	return 0;
}
