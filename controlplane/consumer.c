/*
 * consumer.c - the control plane's event consumer: drains every worker's
 * ALARM and TELEMETRY rings, ALARM first, always.
 *
 * A pass takes what every ALARM lane holds, handing each event to
 * on_alarm in ring order; then TELEMETRY in batches of at most
 * CONSUMER_BATCH events, one worker after the other (round robin, starting
 * where the previous pass stopped), up to the pass's telemetry budget. It
 * looks at every ALARM lane again after taking each batch (before the batch
 * goes to on_telemetry) and after handing it over. So an alarm waits behind
 * at most one batch of observations, and a pass ends: each look takes what
 * a lane held when it looked, never more than the ring's size.
 *
 * The ordering guarantee: every ALARM event a worker put before an
 * observation (and did not lose to a full ring) reaches on_alarm before that
 * observation reaches on_telemetry. The alarm manager relies on it: it ends
 * a metric condition on an observation newer than the last hit that did not
 * hit, so a hit handed over after its own message's observation would see
 * that observation end its condition, and raise it again. The worker puts a
 * message's hits and device alarms before its observations (worker.c
 * put_message), and an rte_ring enqueue publishes what its producer wrote
 * before it (release on the producer's tail, acquire on the consumer's read
 * of it): once a batch of observations has been taken from a worker's
 * TELEMETRY ring, every ALARM event that worker put before them is visible
 * on its ALARM ring. So the consumer drains the ALARM lanes again after
 * taking a batch and before handing it to on_telemetry. Looking only before
 * the take would not do: a message can land on both rings between the look
 * and the take.
 *
 * ALARM events lost on a full ring are never silent. Each worker counts
 * them (dp_stats.event[alarm_lost]); once a pass has left that worker's
 * ALARM lane empty, the consumer compares the counter with the value it
 * last reported and, if it grew, raises a DP_EV_TECH event
 * (DP_TECH_EVENT_LOSS, value = how many were lost since) through on_alarm.
 * The counter is read before the lane is found empty: a worker counts a
 * loss after enqueueing what fit, so the events put before the loss have
 * been delivered by the time the technical alarm is.
 *
 * Every pass ends with the idle function (cp_consumer_set_idle), so that
 * the hooks' time-driven work (the store's batch timer, alarm retries)
 * runs on this same thread even when no event comes.
 *
 * The consumer thread is a urcu-qsbr reader, so that its hooks may read the
 * device registry and the ruleset: online while it runs a pass, a
 * quiescent state after each, offline while it sleeps (a reload's grace
 * period never waits on an idle consumer). cp_consumer_pass and
 * cp_consumer_stop run the hooks on their caller's thread and leave its RCU
 * state alone. Its counters have one writer (the thread, or the caller of
 * cp_consumer_pass / cp_consumer_stop) and are read by anyone with relaxed
 * loads.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <urcu/urcu-qsbr.h>

#include <rte_cycles.h>

#include "controlplane.h"

#define CONSUMER_BATCH 64	    /* TELEMETRY events per take, per worker */
#define CONSUMER_THREAD_BUDGET 4096 /* TELEMETRY events per pass of the thread */
#define CONSUMER_IDLE_NS 100000	    /* sleep after a pass that found nothing */

struct cp_consumer {
	unsigned n_workers;
	struct dp_lanes *lanes[DP_MAX_WORKERS];
	const struct dp_stats *stats[DP_MAX_WORKERS]; /* NULL: no loss check for it */
	uint64_t lost_reported[DP_MAX_WORKERS];	      /* alarm_lost last raised */
	unsigned next_telemetry;		      /* the worker the next pass starts at */
	struct cp_event_hooks hooks;
	void (*idle)(void *arg); /* end of every pass, or NULL */
	void *idle_arg;
	_Atomic uint64_t counter[CP_CONS__COUNT];
	atomic_bool stop;
	bool running;
	pthread_t thread;
	struct dp_event buf[CONSUMER_BATCH];	   /* a TELEMETRY batch */
	struct dp_event alarm_buf[CONSUMER_BATCH]; /* ALARM events, taken while buf waits */
};

/* ------------------------------------------------------------------------ */
/* Counters                                                                  */
/* ------------------------------------------------------------------------ */

#define CP_X_NAME(name, desc) #name,
#define CP_X_DESC(name, desc) desc,
static const char *const counter_names[] = {CP_CONSUMER_COUNTERS(CP_X_NAME)};
static const char *const counter_descs[] = {CP_CONSUMER_COUNTERS(CP_X_DESC)};
#undef CP_X_NAME
#undef CP_X_DESC

const char *
cp_consumer_counter_name(enum cp_consumer_counter c)
{
	return (unsigned)c < CP_CONS__COUNT ? counter_names[c] : "?";
}

const char *
cp_consumer_counter_desc(enum cp_consumer_counter c)
{
	return (unsigned)c < CP_CONS__COUNT ? counter_descs[c] : "?";
}

static void
count(struct cp_consumer *c, enum cp_consumer_counter which, uint64_t n)
{
	dp_count(&c->counter[which], n);
}

void
cp_consumer_counters(const struct cp_consumer *c, uint64_t out[CP_CONS__COUNT])
{
	for (unsigned i = 0; i < CP_CONS__COUNT; i++)
		out[i] = dp_read(&c->counter[i]);
}

/* ------------------------------------------------------------------------ */
/* Making one                                                                */
/* ------------------------------------------------------------------------ */

int
cp_consumer_new(struct dp_lanes *const *lanes, const struct dp_stats *const *stats,
		unsigned n_workers, const struct cp_event_hooks *hooks, struct cp_consumer **out)
{
	struct cp_consumer *c;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (lanes == NULL || n_workers == 0 || n_workers > DP_MAX_WORKERS)
		return -EINVAL;
	for (unsigned w = 0; w < n_workers; w++) {
		if (lanes[w] == NULL || lanes[w]->ring[DP_LANE_ALARM] == NULL ||
		    lanes[w]->ring[DP_LANE_TELEMETRY] == NULL)
			return -EINVAL;
	}
	c = calloc(1, sizeof(*c));
	if (c == NULL)
		return -ENOMEM;
	c->n_workers = n_workers;
	for (unsigned w = 0; w < n_workers; w++) {
		c->lanes[w] = lanes[w];
		c->stats[w] = stats != NULL ? stats[w] : NULL;
	}
	if (hooks != NULL)
		c->hooks = *hooks;
	atomic_init(&c->stop, false);
	*out = c;
	return 0;
}

void
cp_consumer_set_idle(struct cp_consumer *c, void (*fn)(void *arg), void *arg)
{
	c->idle = fn;
	c->idle_arg = arg;
}

int
cp_consumer_of_plane(struct dp_plane *dp, const struct cp_event_hooks *hooks,
		     struct cp_consumer **out)
{
	struct dp_lanes *lanes[DP_MAX_WORKERS];
	const struct dp_stats *stats[DP_MAX_WORKERS];
	unsigned n;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (dp == NULL)
		return -EINVAL;
	n = dp_n_workers(dp);
	if (n == 0 || n > DP_MAX_WORKERS)
		return -EINVAL;
	for (unsigned w = 0; w < n; w++) {
		lanes[w] = dp_lanes_of(dp, w);
		stats[w] = dp_worker_stats(dp, w);
		if (lanes[w] == NULL) /* the plane was started without events */
			return -EINVAL;
	}
	return cp_consumer_new(lanes, stats, n, hooks, out);
}

/* ------------------------------------------------------------------------ */
/* A pass                                                                    */
/* ------------------------------------------------------------------------ */

/*
 * What every ALARM lane holds now, each event to on_alarm in ring order.
 * Not until empty: a worker that puts alarms as fast as the hooks take them
 * would keep the pass (and so a grace period) going for ever. What was put
 * before the look is all taken, which is what the ordering needs.
 */
static unsigned
drain_alarms(struct cp_consumer *c)
{
	unsigned total = 0;

	for (unsigned w = 0; w < c->n_workers; w++) {
		unsigned left = dp_lanes_count(c->lanes[w], DP_LANE_ALARM);

		while (left > 0) {
			unsigned n = dp_lanes_take(c->lanes[w], DP_LANE_ALARM, c->alarm_buf,
						   left < CONSUMER_BATCH ? left : CONSUMER_BATCH);

			if (n == 0)
				break;
			if (c->hooks.on_alarm != NULL) {
				for (unsigned i = 0; i < n; i++)
					c->hooks.on_alarm(c->hooks.arg, &c->alarm_buf[i]);
			}
			total += n;
			left -= n;
		}
	}
	if (total > 0)
		count(c, CP_CONS_alarm_events, total);
	return total;
}

/* The ALARM lanes again, between TELEMETRY takes; alarm_first if they had any. */
static unsigned
drain_alarms_again(struct cp_consumer *c)
{
	unsigned n = drain_alarms(c);

	if (n > 0)
		count(c, CP_CONS_alarm_first, 1);
	return n;
}

static int64_t
wall_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_REALTIME, &ts) != 0)
		return 0;
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * For each worker whose ALARM lane is empty: if its alarm_lost counter grew
 * since the last technical alarm, raise one for the difference.
 */
static void
check_losses(struct cp_consumer *c)
{
	for (unsigned w = 0; w < c->n_workers; w++) {
		struct dp_event ev;
		uint64_t lost;

		if (c->stats[w] == NULL)
			continue;
		/* The counter first, the lane second: see the file's comment. */
		lost = dp_read(&c->stats[w]->event[DP_EVC_alarm_lost]);
		atomic_thread_fence(memory_order_acquire);
		if (lost <= c->lost_reported[w] || dp_lanes_count(c->lanes[w], DP_LANE_ALARM) != 0)
			continue;
		memset(&ev, 0, sizeof(ev));
		ev.type = DP_EV_TECH;
		ev.worker = (uint8_t)w;
		ev.code = DP_TECH_EVENT_LOSS;
		ev.value = (double)(lost - c->lost_reported[w]);
		ev.tsc = rte_rdtsc();
		ev.wall_ns = wall_ns();
		c->lost_reported[w] = lost;
		if (c->hooks.on_alarm != NULL)
			c->hooks.on_alarm(c->hooks.arg, &ev);
		count(c, CP_CONS_loss_alarms, 1);
	}
}

unsigned
cp_consumer_pass(struct cp_consumer *c, unsigned telemetry_budget)
{
	unsigned taken, telemetry = 0;
	bool progress = true;

	count(c, CP_CONS_passes, 1);
	taken = drain_alarms(c);
	while (telemetry < telemetry_budget && progress) {
		progress = false;
		for (unsigned i = 0; i < c->n_workers && telemetry < telemetry_budget; i++) {
			unsigned w = c->next_telemetry, want, n;

			c->next_telemetry = (w + 1) % c->n_workers;
			want = telemetry_budget - telemetry;
			if (want > CONSUMER_BATCH)
				want = CONSUMER_BATCH;
			n = dp_lanes_take(c->lanes[w], DP_LANE_TELEMETRY, c->buf, want);
			if (n == 0)
				continue;
			/* The hits of these observations' messages are on the
			 * ALARM ring by now: hand them over first (file comment). */
			taken += drain_alarms_again(c);
			if (c->hooks.on_telemetry != NULL)
				c->hooks.on_telemetry(c->hooks.arg, c->buf, n);
			count(c, CP_CONS_telemetry_events, n);
			telemetry += n;
			progress = true;
			/* An alarm never waits for more than one batch. */
			taken += drain_alarms_again(c);
		}
	}
	taken += telemetry;
	check_losses(c);
	if (taken == 0)
		count(c, CP_CONS_idle_passes, 1);
	if (c->idle != NULL)
		c->idle(c->idle_arg);
	return taken;
}

/* ------------------------------------------------------------------------ */
/* The thread                                                                */
/* ------------------------------------------------------------------------ */

/*
 * Passes until told to stop, as a QSBR reader: online for a pass, a
 * quiescent state after it (nothing the hooks read is held across passes),
 * offline before sleeping, so that a grace period never waits for the
 * sleep.
 */
static void *
consumer_main(void *arg)
{
	struct cp_consumer *c = arg;
	const struct timespec idle = {.tv_sec = 0, .tv_nsec = CONSUMER_IDLE_NS};
	bool online = true;

	urcu_qsbr_register_thread(); /* online from here */
	while (!atomic_load_explicit(&c->stop, memory_order_relaxed)) {
		unsigned taken;

		if (!online) {
			urcu_qsbr_thread_online();
			online = true;
		}
		taken = cp_consumer_pass(c, CONSUMER_THREAD_BUDGET);
		urcu_qsbr_quiescent_state();
		if (taken == 0) {
			urcu_qsbr_thread_offline();
			online = false;
			nanosleep(&idle, NULL);
		}
	}
	if (online)
		urcu_qsbr_thread_offline();
	urcu_qsbr_unregister_thread();
	return NULL;
}

int
cp_consumer_start(struct cp_consumer *c)
{
	int rc;

	if (c == NULL)
		return -EINVAL;
	if (c->running)
		return -EALREADY;
	atomic_store_explicit(&c->stop, false, memory_order_relaxed);
	rc = pthread_create(&c->thread, NULL, consumer_main, c);
	if (rc != 0)
		return -rc;
	c->running = true;
	return 0;
}

void
cp_consumer_stop(struct cp_consumer *c)
{
	if (c == NULL)
		return;
	if (c->running) {
		atomic_store_explicit(&c->stop, true, memory_order_relaxed);
		pthread_join(c->thread, NULL);
		c->running = false;
	}
	/* What is left, on this thread; the last pass also raises the last loss. */
	while (cp_consumer_pass(c, UINT_MAX) > 0)
		;
}

void
cp_consumer_free(struct cp_consumer *c)
{
	if (c == NULL)
		return;
	if (c->running)
		cp_consumer_stop(c);
	free(c);
}
