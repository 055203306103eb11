/*
 * bench-rings.c - vigil-bench's `rings` scenario: how many events per second
 * one worker's lane carries from one producer thread to one consumer thread.
 *
 * Issue 5 asks for the ring throughput per lane (ALARM, TELEMETRY), one
 * producer and one consumer. This makes a worker's lanes as dp_start does
 * (dp_lanes_init, the default sizes), then, for each lane and for bursts of
 * 32 and of 1 event:
 *
 *  - a producer pthread numbers 128-byte events (64 bits each) and puts
 *    them with dp_lanes_put. When a put comes back short (the ring is full)
 *    it pauses and puts the rest again, so that what is measured is what the
 *    lane sustains, not how fast a full ring refuses: every event offered
 *    arrives. (A worker does not retry; dp_lanes_put counts what did not fit
 *    as *_lost, so here that counter says how many events were refused and
 *    put again.)
 *  - a consumer pthread takes them with dp_lanes_take in bursts of the same
 *    size and checks that each number is the one after the last: nothing
 *    lost, repeated or reordered;
 *  - the two run on different CPUs when there are two, for a fixed time (or
 *    a fixed number of events with --packets); the figure is events taken
 *    per second, from the start until the consumer has taken the last one;
 *  - the baseline, timed in the same run on the calling thread for as many
 *    events: the same bytes copied with memcpy into a buffer the size of
 *    the ring and out again, burst by burst, as the ring copies them: the
 *    memory floor, with no second thread and no synchronisation.
 *
 * After every run the counts must add up, or the scenario fails (vigil-bench
 * exits 1): events taken == events offered == the lane's *_events counter,
 * the lane's *_lost counter == the events the producer had to put again,
 * every number in sequence, the ring empty at the end.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <rte_pause.h>
#include <rte_ring.h>

#include "bench.h"
#include "dataplane.h"

#define RINGS_MAX_BURST 32u
#define RINGS_CLOCK_EVERY 256u /* producer bursts between two looks at the clock */

static const unsigned ring_bursts[] = {32, 1};
#define RINGS_N_BURSTS (sizeof(ring_bursts) / sizeof(ring_bursts[0]))

static double
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

/* ------------------------------------------------------------------------ */
/* One run: a producer and a consumer on one lane                            */
/* ------------------------------------------------------------------------ */

struct rings_run {
	struct dp_lanes *lanes;
	enum dp_lane lane;
	unsigned burst;
	double deadline_ns;	/* producer stops at this time ... */
	uint64_t max_events;	/* ... or after this many events (0: no limit) */
	struct dp_stats *stats; /* the "worker's" counters */
	atomic_int go;		/* 0: wait, 1: run, 2: give up */
	atomic_bool producer_done;
	int cpu[2]; /* producer's and consumer's CPU, -1: not pinned */
	/* Written by the producer only: */
	uint64_t offered, refused; /* events numbered; events a put refused (then put again) */
	uint64_t puts, short_puts; /* bursts, and those that found the ring full */
	/* Written by the consumer only: */
	uint64_t taken, disorder; /* events taken; numbers not the one after the last */
	double end_ns;
};

static void
pin(int cpu)
{
	cpu_set_t set;

	if (cpu < 0)
		return;
	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	/* Not fatal: unpinned, the figure is only noisier. */
	(void)pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* Wait for the start; false if the run was called off. */
static bool
wait_go(struct rings_run *r)
{
	int g;

	while ((g = atomic_load_explicit(&r->go, memory_order_acquire)) == 0)
		sched_yield();
	return g == 1;
}

/*
 * The two threads keep their counts in locals and write them to the run
 * once at the end: a counter shared between the two cores, even on
 * different fields of one cache line, would be measured instead of the ring.
 */
static void *
producer_main(void *arg)
{
	struct rings_run *r = arg;
	struct dp_event ev[RINGS_MAX_BURST];
	struct dp_lanes *lanes = r->lanes;
	struct dp_stats *stats = r->stats;
	const enum dp_lane lane = r->lane;
	const unsigned burst = r->burst;
	const uint64_t max_events = r->max_events;
	uint64_t next = 1, offered = 0, refused = 0, puts = 0, short_puts = 0;
	unsigned since_clock = 0;
	double deadline;

	pin(r->cpu[0]);
	memset(ev, 0, sizeof(ev));
	for (unsigned i = 0; i < RINGS_MAX_BURST; i++) {
		ev[i].type = lane == DP_LANE_ALARM ? DP_EV_HIT : DP_EV_OBS;
		ev[i].code = 150456;
		ev[i].value = 97.0;
	}
	if (!wait_go(r))
		return NULL;
	deadline = r->deadline_ns;
	for (;;) {
		unsigned done;

		for (unsigned i = 0; i < burst; i++)
			ev[i].tsc = next + i;
		puts++;
		done = dp_lanes_put(lanes, lane, ev, burst, stats);
		if (done < burst) {
			short_puts++;
			do {
				refused += burst - done;
				rte_pause();
				done += dp_lanes_put(lanes, lane, ev + done, burst - done, stats);
			} while (done < burst);
		}
		next += burst;
		offered += burst;
		if (max_events != 0 && offered >= max_events)
			break;
		if (max_events == 0 && ++since_clock == RINGS_CLOCK_EVERY) {
			since_clock = 0;
			if (now_ns() >= deadline)
				break;
		}
	}
	r->offered = offered;
	r->refused = refused;
	r->puts = puts;
	r->short_puts = short_puts;
	atomic_store_explicit(&r->producer_done, true, memory_order_release);
	return NULL;
}

static void *
consumer_main(void *arg)
{
	struct rings_run *r = arg;
	struct dp_event ev[RINGS_MAX_BURST];
	struct dp_lanes *lanes = r->lanes;
	const enum dp_lane lane = r->lane;
	const unsigned burst = r->burst;
	uint64_t last = 0, taken = 0, disorder = 0;

	pin(r->cpu[1]);
	if (!wait_go(r))
		return NULL;
	for (;;) {
		unsigned n = dp_lanes_take(lanes, lane, ev, burst);

		if (n == 0) {
			/* Done once the producer is, and the ring is empty after that. */
			if (atomic_load_explicit(&r->producer_done, memory_order_acquire) &&
			    dp_lanes_count(lanes, lane) == 0)
				break;
			rte_pause();
			continue;
		}
		for (unsigned i = 0; i < n; i++) {
			if (ev[i].tsc != last + 1)
				disorder++;
			last = ev[i].tsc;
		}
		taken += n;
	}
	r->end_ns = now_ns();
	r->taken = taken;
	r->disorder = disorder;
	return NULL;
}

/* The counts of a run must add up exactly; say what does not. */
static int
run_check(const struct rings_run *r, const char *what)
{
	enum dp_event_counter ok_c =
		r->lane == DP_LANE_ALARM ? DP_EVC_alarm_events : DP_EVC_telemetry_events;
	enum dp_event_counter lost_c =
		r->lane == DP_LANE_ALARM ? DP_EVC_alarm_lost : DP_EVC_telemetry_lost;
	uint64_t ok = dp_read(&r->stats->event[ok_c]), lost = dp_read(&r->stats->event[lost_c]);
	int rc = 0;

	if (r->taken != r->offered || ok != r->offered || lost != r->refused || r->disorder != 0 ||
	    dp_lanes_count(r->lanes, r->lane) != 0 || r->taken == 0) {
		fprintf(stderr,
			"bench rings: %s: offered %llu, refused %llu, taken %llu, counted %llu put "
			"+ %llu lost, %llu out of sequence, %u left in the ring\n",
			what, (unsigned long long)r->offered, (unsigned long long)r->refused,
			(unsigned long long)r->taken, (unsigned long long)ok,
			(unsigned long long)lost, (unsigned long long)r->disorder,
			dp_lanes_count(r->lanes, r->lane));
		rc = -EPROTO;
	}
	return rc;
}

/*
 * One timed run on @p lanes' @p lane. Fills @p r's counts and returns 0,
 * or a negative errno (threads, or counts that do not add up).
 */
static int
run_once(struct dp_lanes *lanes, enum dp_lane lane, unsigned burst, double seconds,
	 uint64_t max_events, const int cpu[2], struct rings_run *r, double *ns)
{
	pthread_t prod, cons;
	double t0;
	int rc;

	memset(r, 0, sizeof(*r));
	r->lanes = lanes;
	r->lane = lane;
	r->burst = burst;
	r->max_events = max_events;
	r->cpu[0] = cpu[0];
	r->cpu[1] = cpu[1];
	r->stats = aligned_alloc(64, sizeof(*r->stats));
	if (r->stats == NULL)
		return -ENOMEM;
	memset(r->stats, 0, sizeof(*r->stats));
	atomic_init(&r->producer_done, false);
	atomic_init(&r->go, 0);
	rc = -pthread_create(&prod, NULL, producer_main, r);
	if (rc != 0)
		goto out;
	rc = -pthread_create(&cons, NULL, consumer_main, r);
	if (rc != 0) {
		atomic_store_explicit(&r->go, 2, memory_order_release);
		pthread_join(prod, NULL);
		goto out;
	}
	t0 = now_ns();
	r->deadline_ns = t0 + seconds * 1e9;
	atomic_store_explicit(&r->go, 1, memory_order_release);
	pthread_join(prod, NULL);
	pthread_join(cons, NULL);
	*ns = r->end_ns - t0;
	rc = run_check(r, "run");
out:
	free(r->stats);
	r->stats = NULL;
	return rc;
}

/* ------------------------------------------------------------------------ */
/* The baseline: the same bytes through memcpy, one thread                   */
/* ------------------------------------------------------------------------ */

/* Copy @p events events of 128 bytes into @p slots (a power of two) and out
 * again, @p burst at a time; return the nanoseconds it took. */
static double
memcpy_loop(uint8_t *ring, unsigned slots, unsigned burst, uint64_t events)
{
	struct dp_event in[RINGS_MAX_BURST], out[RINGS_MAX_BURST];
	const size_t esz = sizeof(struct dp_event);
	uint64_t pos = 0, left = events;
	double t0, t1;

	memset(in, 0, sizeof(in));
	t0 = now_ns();
	while (left > 0) {
		unsigned n = left < burst ? (unsigned)left : burst;
		size_t slot = (size_t)(pos & (slots - 1));

		for (unsigned i = 0; i < n; i++)
			in[i].tsc = pos + i;
		/* slots is a multiple of every burst size, so a burst never wraps. */
		memcpy(ring + slot * esz, in, n * esz);
		__asm__ volatile("" : : "r"(ring) : "memory");
		memcpy(out, ring + slot * esz, n * esz);
		__asm__ volatile("" : : "r"(out) : "memory");
		pos += n;
		left -= n;
	}
	t1 = now_ns();
	return t1 - t0;
}

/* ------------------------------------------------------------------------ */
/* The scenario                                                              */
/* ------------------------------------------------------------------------ */

struct rings_result {
	enum dp_lane lane;
	unsigned slots;
	unsigned burst;
	double ns_per_event[BENCH_MAX_RUNS]; /* ring: consumer-side, per event taken */
	double base_ns[BENCH_MAX_RUNS];	     /* memcpy baseline, per event */
	double full_share[BENCH_MAX_RUNS];   /* puts that found the ring full */
	uint64_t taken, refused;	     /* summed over the runs */
	double m_ns, m_base, m_full;
	double min_ns, max_ns; /* the fastest and the slowest run */
};

/* Two CPUs for the producer and the consumer: the first two this process
 * can run on (the EAL pinned the main thread, so read the online set). */
static void
pick_cpus(int cpu[2])
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	cpu[0] = n >= 1 ? 0 : -1;
	cpu[1] = n >= 2 ? 1 : cpu[0];
}

int
bench_rings(const struct bench_rings_opts *o)
{
	const unsigned sizes[DP_LANE__COUNT] = {
		[DP_LANE_ALARM] = DP_ALARM_RING_DEFAULT,
		[DP_LANE_TELEMETRY] = DP_TELEMETRY_RING_DEFAULT,
	};
	struct rings_result res[DP_LANE__COUNT * RINGS_N_BURSTS];
	unsigned n_res = 0, runs = o->runs > BENCH_MAX_RUNS ? BENCH_MAX_RUNS : o->runs;
	struct dp_lanes lanes;
	uint8_t *ring = NULL;
	int cpu[2], rc;

	pick_cpus(cpu);
	rc = dp_lanes_init(&lanes, "bench", 0, sizes[DP_LANE_ALARM], sizes[DP_LANE_TELEMETRY]);
	if (rc != 0) {
		fprintf(stderr, "bench rings: dp_lanes_init: %s\n", strerror(-rc));
		return rc;
	}
	ring = aligned_alloc(64, (size_t)DP_TELEMETRY_RING_DEFAULT * sizeof(struct dp_event));
	if (ring == NULL) {
		rc = -ENOMEM;
		goto out;
	}
	memset(ring, 0, (size_t)DP_TELEMETRY_RING_DEFAULT * sizeof(struct dp_event));
	if (!o->json) {
		printf("# %s\n", o->command);
		printf("# producer on CPU %d, consumer on CPU %d; 128-byte events; %s per run\n",
		       cpu[0], cpu[1], o->events ? "a fixed number of events" : "a fixed time");
	}

	for (unsigned lane = 0; lane < DP_LANE__COUNT; lane++) {
		for (unsigned b = 0; b < RINGS_N_BURSTS; b++) {
			struct rings_result *x = &res[n_res++];

			memset(x, 0, sizeof(*x));
			x->lane = (enum dp_lane)lane;
			x->slots = rte_ring_get_size(lanes.ring[lane]);
			x->burst = ring_bursts[b];
			for (unsigned r = 0; r < runs; r++) {
				struct rings_run run;
				double ns = 0, base;

				rc = run_once(&lanes, x->lane, x->burst, o->seconds, o->events, cpu,
					      &run, &ns);
				if (rc != 0)
					goto out;
				base = memcpy_loop(ring, x->slots, x->burst, run.taken);
				x->ns_per_event[r] = ns / (double)run.taken;
				x->base_ns[r] = base / (double)run.taken;
				x->full_share[r] = (double)run.short_puts / (double)run.puts;
				x->taken += run.taken;
				x->refused += run.refused;
				if (!o->json)
					printf("run %u: %s lane, burst %u: %.2f M events/s (%.1f "
					       "ns/event; ring full at %.1f%% of puts), memcpy "
					       "%.2f M "
					       "events/s\n",
					       r + 1, dp_lane_name(x->lane), x->burst,
					       1e3 / x->ns_per_event[r], x->ns_per_event[r],
					       100.0 * x->full_share[r], 1e3 / x->base_ns[r]);
			}
			x->m_ns = bench_median(x->ns_per_event, runs);
			x->m_base = bench_median(x->base_ns, runs);
			x->m_full = bench_median(x->full_share, runs);
			x->min_ns = x->max_ns = x->ns_per_event[0];
			for (unsigned r = 1; r < runs; r++) {
				if (x->ns_per_event[r] < x->min_ns)
					x->min_ns = x->ns_per_event[r];
				if (x->ns_per_event[r] > x->max_ns)
					x->max_ns = x->ns_per_event[r];
			}
		}
	}

	if (o->json) {
		printf("{\"scenario\":\"rings\",\"runs\":%u,\"seconds\":%.3f,\"events\":%lu,"
		       "\"producer_cpu\":%d,\"consumer_cpu\":%d,\"lanes\":[",
		       runs, o->seconds, o->events, cpu[0], cpu[1]);
		for (unsigned i = 0; i < n_res; i++) {
			const struct rings_result *x = &res[i];

			printf("%s{\"lane\":\"%s\",\"slots\":%u,\"burst\":%u,"
			       "\"events_per_s\":%.0f,\"ns_per_event\":%.2f,"
			       "\"events_per_s_min\":%.0f,\"events_per_s_max\":%.0f,"
			       "\"memcpy_events_per_s\":%.0f,\"memcpy_ns_per_event\":%.2f,"
			       "\"ratio\":%.2f,\"full_share\":%.4f,\"taken\":%llu,\"refused\":%"
			       "llu}",
			       i ? "," : "", dp_lane_name(x->lane), x->slots, x->burst,
			       1e9 / x->m_ns, x->m_ns, 1e9 / x->max_ns, 1e9 / x->min_ns,
			       1e9 / x->m_base, x->m_base, x->m_ns / x->m_base, x->m_full,
			       (unsigned long long)x->taken, (unsigned long long)x->refused);
		}
		printf("]}\n");
	} else {
		for (unsigned i = 0; i < n_res; i++) {
			const struct rings_result *x = &res[i];

			printf("%s lane (%u slots), burst %u: median %.2f M events/s (%.1f "
			       "ns/event; runs %.2f to %.2f), memcpy baseline %.2f M events/s "
			       "(%.1f ns/event), ratio %.2f; ring full at %.1f%% of puts "
			       "(median)\n",
			       dp_lane_name(x->lane), x->slots, x->burst, 1e3 / x->m_ns, x->m_ns,
			       1e3 / x->max_ns, 1e3 / x->min_ns, 1e3 / x->m_base, x->m_base,
			       x->m_ns / x->m_base, 100.0 * x->m_full);
		}
		printf("checks: in every run every event offered was taken once, in sequence, "
		       "and the lane's counters agree\n");
	}
	if (fflush(stdout) != 0 || ferror(stdout))
		rc = -EIO;
out:
	free(ring);
	dp_lanes_free(&lanes);
	return rc;
}
