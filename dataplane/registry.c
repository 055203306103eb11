/*
 * registry.c - the device registry: every device seen, in an RCU hash table.
 *
 * A cds_lfht (liburcu, QSBR flavour) keyed by the 64-bit device id. Its
 * size is fixed when it is made (no CDS_LFHT_AUTO_RESIZE: a resize would
 * allocate, and could run on a worker), so a lookup, an insert and a
 * replace never allocate. Its nodes come from per-worker pools in EAL
 * memory, made with the registry: each worker's pool holds `capacity`
 * nodes, so one worker can hold every device.
 *
 * A node belongs to the worker whose pool it came from: its owner. Its
 * identity and texts (patient, location, device id) never change once it
 * is published. The rest changes in place, each part with its writers:
 *   - the sender (IP version, address, source port): the owner alone,
 *     under the node's sequence count (below), and only when it differs;
 *   - cnt[], the owner's counters: the owner alone (relaxed load + store);
 *   - shared[], the counters of every other worker that touches the
 *     device: an atomic add (a locked instruction, paid only for a device
 *     whose traffic reaches more than one worker, as when RSS hashes its
 *     IPv4 and IPv6 senders to two queues: rare);
 *   - last_seen_ns: whoever touches the device, raised only (relaxed load,
 *     compare, relaxed store: two workers racing may leave the older of
 *     their two times, older by a hair, which is fine for a last-seen time;
 *     the workers' clock is TSC-derived and never steps back);
 *   - carry[]: the reclaimer alone (below).
 * A device's count is cnt + carry + shared.
 *
 * Only a text that changes replaces a node: the worker that sees it, owner
 * or not, takes a node from its own pool, copies the first-seen time and
 * the counters over, and publishes it in the old one's place
 * (cds_lfht_replace), so it owns the device from then on. A new sender or
 * another worker never does: a device heard from an IPv4 and an IPv6
 * address, through two gateways or on two workers, would otherwise churn a
 * node per message. The old node goes on that worker's retire ring (or,
 * when the ring is full, on a list only that worker reads, handed over
 * later); dp_registry_reclaim, on the control plane, waits for a grace
 * period and returns it to the free ring of the worker whose pool it came
 * from. A worker refills its free stack from its free ring.
 *
 *   worker w:  stack --take--> table --replace--> retire ring (or kept list)
 *   reclaimer: retire rings --grace period--> free ring of the node's pool
 *   worker w:  free ring --refill--> stack
 *
 * The sender and its sequence count. The owner is the sender's only
 * writer, so a sequence count needs no lock. It is the latch form of one:
 * the node keeps two copies of the sender, and seq says which one readers
 * take (even: copy 0, odd: copy 1). To write, the owner makes seq odd
 * (release store, release fence), writes copy 0, makes seq even again
 * (release store, release fence) and writes copy 1, every word with a
 * relaxed store. A reader loads seq (acquire), loads the copy seq points
 * at (relaxed), puts an acquire fence, loads seq again, and tries again if
 * it moved. So a reader never waits for the writer: a writer stopped in
 * the middle of a write (preempted, as when a test runs more threads than
 * CPUs) leaves the other copy whole. With one copy (a plain seqlock) the
 * readers would spin on an odd seq and, past their bound, take a mix of
 * two senders: test_registry's reader saw one so under ASan. A reader is
 * sent round again only by a writer that keeps writing, one write per
 * touch at most; after SEQ_ATTEMPTS tries it takes what it read last.
 *
 * Increments that arrive late. A worker may be in the middle of a touch
 * (it looked the node up, and has not yet written its counters) while
 * another worker copies the counters and replaces the node: that
 * increment lands in the old node after the copy. Nothing is lost: the
 * worker that replaced the node records in it what it copied (copied[]);
 * after the grace period the old node's counters are final, and the
 * reclaimer adds what came after the copy (cnt + carry + shared - copied)
 * to the carry[] of the device's live node. If the live node is itself
 * replaced while the carry is added, the same rule catches it at that
 * node's own reclaim. So once the workers are idle and everything retired
 * has been reclaimed, a device's count is exactly the sum of every touch
 * recorded for it; before that, a reader may see it short by the
 * increments still waiting in retired nodes.
 *
 * Threads: dp_registry_touch and dp_registry_flush on worker w only (the
 * stack, the kept list and the producer side of w's retire ring, the
 * consumer side of w's free ring); dp_registry_reclaim on one control-plane
 * thread at a time (the other sides of the rings, and carry[]); readers
 * anywhere, as online QSBR readers.
 */
#include <errno.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include <rte_common.h>
#include <rte_debug.h>
#include <rte_malloc.h>
#include <rte_pause.h>
#include <rte_ring.h>

#include <urcu/urcu-qsbr.h>
#include <urcu/rculfhash.h>

#include "dataplane.h"

#define MIN_BUCKETS 64	 /* the table never has fewer buckets */
#define REFILL_BURST 64	 /* nodes a worker takes from its free ring at once */
#define RECLAIM_BURST 64 /* retired nodes the reclaimer dequeues at once */
#define TOUCH_ATTEMPTS 8 /* lookups before a touch gives up (registry_contended says 8) */
#define SEQ_ATTEMPTS 64	 /* reads of a sender before a reader takes what it read */

/* The per-device counters, in node.cnt[], .shared[], .carry[], .copied[]. */
enum reg_counter { REG_MESSAGES, REG_OBSERVATIONS, REG_HITS, REG_ALARMS, REG__COUNT };

/* The sender as words: the address's two halves, then IP version and source port. */
enum { SND_ADDR_HI, SND_ADDR_LO, SND_META, SND__WORDS };

struct reg_node {
	struct cds_lfht_node lfht;
	/* Immutable once published (written by the worker that took the node). */
	uint64_t device;
	int64_t first_seen_ns;
	uint16_t worker;     /* owner: the worker that took it, whose pool it belongs to */
	uint8_t patient_len; /* bytes kept, at most DP_REGISTRY_TEXT */
	uint8_t location_len;
	uint8_t device_id_len;
	uint8_t patient[DP_REGISTRY_TEXT];
	uint8_t location[DP_REGISTRY_TEXT];
	uint8_t device_id[DP_REGISTRY_TEXT];
	/* Written by the owner only: the sender (two copies, under seq) and its counters. */
	_Atomic uint32_t seq;
	_Atomic uint64_t sender[2][SND__WORDS];
	_Atomic uint64_t cnt[REG__COUNT];
	/* Raised by any worker (relaxed load, compare, store). */
	_Atomic int64_t last_seen_ns;
	/* Added to by the workers that do not own it (atomic add). */
	_Atomic uint64_t shared[REG__COUNT];
	/* Written by the reclaimer only: increments that reached a replaced node late. */
	_Atomic uint64_t carry[REG__COUNT];
	/*
	 * Once retired: what the worker that replaced it copied out of it
	 * (written by that worker after its replace, read by the reclaimer),
	 * and the link of the kept list, then of the reclaimer's batch.
	 */
	uint64_t copied[REG__COUNT];
	struct reg_node *retire_next;
};

/*
 * What one worker owns. Only that worker touches the stack and the kept
 * list (retired nodes its retire ring had no room for, oldest first).
 * free: reclaimer -> worker, nodes of this pool after a grace period;
 * retire: worker -> reclaimer, the nodes this worker replaced.
 */
struct reg_worker {
	alignas(RTE_CACHE_LINE_SIZE) void **stack; /* void *: what rte_ring hands over */
	unsigned top;				   /* nodes on the stack */
	unsigned n_kept;
	struct reg_node *kept_head;
	struct reg_node *kept_tail;
	struct rte_ring *free;
	struct rte_ring *retire;
	struct reg_node *nodes; /* the pool: capacity nodes */
};

struct dp_registry {
	struct cds_lfht *ht;
	unsigned capacity;
	unsigned n_workers;
	_Atomic uint64_t settled_late; /* messages settle_late moved (reclaimer writes) */
	struct reg_worker worker[];
};

/* ------------------------------------------------------------------------ */
/* Hashing and matching                                                      */
/* ------------------------------------------------------------------------ */

/* The splitmix64 finaliser: every bit of the id reaches every bit of the hash. */
static inline unsigned long
reg_hash(uint64_t x)
{
	x ^= x >> 30;
	x *= 0xbf58476d1ce4e5b9ull;
	x ^= x >> 27;
	x *= 0x94d049bb133111ebull;
	x ^= x >> 31;
	return (unsigned long)x;
}

static inline struct reg_node *
reg_node_of(struct cds_lfht_node *n)
{
	return caa_container_of(n, struct reg_node, lfht);
}

static int
reg_match(struct cds_lfht_node *n, const void *key)
{
	return reg_node_of(n)->device == *(const uint64_t *)key;
}

/* ------------------------------------------------------------------------ */
/* Making and freeing                                                        */
/* ------------------------------------------------------------------------ */

/* The rings and memory of one worker; a partial one is undone by reg_worker_fini. */
static int
reg_worker_init(struct reg_worker *w, unsigned id, unsigned seq, unsigned capacity)
{
	char name[RTE_RING_NAMESIZE];

	/* Not zeroed: a node is filled when it is taken (its pages stay untouched till then). */
	w->nodes = rte_malloc("dp_registry_nodes", sizeof(w->nodes[0]) * capacity,
			      RTE_CACHE_LINE_SIZE);
	w->stack = rte_malloc("dp_registry_stack", sizeof(w->stack[0]) * capacity, 0);
	if (w->nodes == NULL || w->stack == NULL)
		return -ENOMEM;
	snprintf(name, sizeof(name), "dpreg%u_f%u", seq, id);
	w->free = rte_ring_create(name, capacity, SOCKET_ID_ANY,
				  RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	snprintf(name, sizeof(name), "dpreg%u_r%u", seq, id);
	w->retire = rte_ring_create(name, DP_REGISTRY_RETIRE_RING, SOCKET_ID_ANY,
				    RING_F_SP_ENQ | RING_F_SC_DEQ | RING_F_EXACT_SZ);
	if (w->free == NULL || w->retire == NULL)
		return -ENOMEM;
	/* Every node starts on the stack, the lowest address on top. */
	for (unsigned i = 0; i < capacity; i++)
		w->stack[i] = &w->nodes[capacity - 1 - i];
	w->top = capacity;
	return 0;
}

static void
reg_worker_fini(struct reg_worker *w)
{
	rte_ring_free(w->free);
	rte_ring_free(w->retire);
	rte_free(w->stack);
	rte_free(w->nodes);
}

int
dp_registry_new(unsigned capacity, unsigned n_workers, struct dp_registry **out)
{
	static _Atomic unsigned registry_seq; /* keeps ring names unique per registry */
	struct dp_registry *r;
	unsigned long buckets = MIN_BUCKETS;
	unsigned seq;
	int rc;

	if (out == NULL)
		return -EINVAL;
	*out = NULL;
	if (capacity == 0 || capacity > DP_REGISTRY_DEVICES_MAX || n_workers == 0 ||
	    n_workers > DP_MAX_WORKERS)
		return -EINVAL;
	seq = atomic_fetch_add_explicit(&registry_seq, 1, memory_order_relaxed);
	r = rte_zmalloc("dp_registry", sizeof(*r) + sizeof(r->worker[0]) * n_workers,
			RTE_CACHE_LINE_SIZE);
	if (r == NULL)
		return -ENOMEM;
	r->capacity = capacity;
	r->n_workers = n_workers;
	for (unsigned w = 0; w < n_workers; w++) {
		rc = reg_worker_init(&r->worker[w], w, seq, capacity);
		if (rc != 0)
			goto fail;
	}
	while (buckets < capacity)
		buckets <<= 1;
	/* Fixed size: init, minimum and maximum are the same, no resize flag. */
	r->ht = cds_lfht_new_flavor(buckets, buckets, buckets, 0, &urcu_qsbr_flavor, NULL);
	if (r->ht == NULL) {
		rc = -ENOMEM;
		goto fail;
	}
	*out = r;
	return 0;
fail:
	dp_registry_free(r);
	return rc;
}

/*
 * The table must be empty before cds_lfht_destroy: unlink every node. No
 * thread reads the table any more, so nothing needs a grace period, and
 * with no resize flag the table has no worker thread of its own either.
 */
void
dp_registry_free(struct dp_registry *r)
{
	if (r == NULL)
		return;
	if (r->ht != NULL) {
		struct cds_lfht_iter it;
		struct cds_lfht_node *n;
		int rc;

		for (cds_lfht_first(r->ht, &it); (n = cds_lfht_iter_get_node(&it)) != NULL;
		     cds_lfht_next(r->ht, &it))
			(void)cds_lfht_del(r->ht, n);
		rc = cds_lfht_destroy(r->ht, NULL);
		/* Only a node left in the table fails it, and none is. */
		RTE_VERIFY(rc == 0);
	}
	for (unsigned w = 0; w < r->n_workers; w++)
		reg_worker_fini(&r->worker[w]);
	rte_free(r);
}

/* ------------------------------------------------------------------------ */
/* The worker side                                                           */
/* ------------------------------------------------------------------------ */

/* Bytes of a text the registry keeps (0: the message does not carry it). */
static inline uint8_t
text_kept(const uint8_t *p, uint16_t len)
{
	if (p == NULL)
		return 0;
	return (uint8_t)(len > DP_REGISTRY_TEXT ? DP_REGISTRY_TEXT : len);
}

/* A text the message does not carry says nothing: it matches what is kept. */
static inline bool
text_same(const uint8_t *kept, uint8_t kept_len, const uint8_t *p, uint16_t len)
{
	uint8_t n = text_kept(p, len);

	return n == 0 || (n == kept_len && memcmp(kept, p, n) == 0);
}

/* Only a text that changes replaces a node (a sender or a worker does not). */
static inline bool
texts_same(const struct reg_node *n, const struct dp_device_seen *s)
{
	return text_same(n->patient, n->patient_len, s->patient, s->patient_len) &&
	       text_same(n->location, n->location_len, s->location, s->location_len) &&
	       text_same(n->device_id, n->device_id_len, s->device_id, s->device_id_len);
}

/* The sender of @p s as the node keeps it. */
static inline void
sender_pack(uint64_t v[SND__WORDS], const struct dp_device_seen *s)
{
	memcpy(&v[SND_ADDR_HI], &s->sender[0], sizeof(v[0]));
	memcpy(&v[SND_ADDR_LO], &s->sender[8], sizeof(v[0]));
	v[SND_META] = (uint64_t)s->ip_version | (uint64_t)s->sport << 8;
}

static inline void
sender_store(_Atomic uint64_t *dst, const uint64_t v[SND__WORDS])
{
	for (unsigned i = 0; i < SND__WORDS; i++)
		atomic_store_explicit(&dst[i], v[i], memory_order_relaxed);
}

static inline bool
sender_equal(const _Atomic uint64_t *copy, const uint64_t v[SND__WORDS])
{
	for (unsigned i = 0; i < SND__WORDS; i++)
		if (atomic_load_explicit(&copy[i], memory_order_relaxed) != v[i])
			return false;
	return true;
}

/*
 * The owner's in-place update of its node's sender, and only when it
 * differs (the common case reads three words and writes nothing). The
 * owner is the only writer and leaves both copies equal, so its own
 * relaxed loads of copy 0 see what it keeps.
 */
static inline void
sender_update(struct reg_node *n, const struct dp_device_seen *s)
{
	uint64_t v[SND__WORDS];
	uint32_t seq;

	sender_pack(v, s);
	if (sender_equal(n->sender[0], v))
		return;
	seq = atomic_load_explicit(&n->seq, memory_order_relaxed);
	/* Odd: readers take copy 1 (release: the copy 1 they take is whole). */
	atomic_store_explicit(&n->seq, seq + 1, memory_order_release);
	/* ... before any word of copy 0: a reader that sees one sees seq moved. */
	atomic_thread_fence(memory_order_release);
	sender_store(n->sender[0], v);
	/* Even: readers take copy 0, whole. Then the same for copy 1. */
	atomic_store_explicit(&n->seq, seq + 2, memory_order_release);
	atomic_thread_fence(memory_order_release);
	sender_store(n->sender[1], v);
}

/* The latest time the device was seen, by any worker: raised, never lowered. */
static inline void
last_seen_raise(struct reg_node *n, int64_t now_ns)
{
	/* Not a compare-and-swap: two workers racing may leave the older time. */
	if (atomic_load_explicit(&n->last_seen_ns, memory_order_relaxed) < now_ns)
		atomic_store_explicit(&n->last_seen_ns, now_ns, memory_order_relaxed);
}

/* The message's text if it carries one, else the old node's (if any). */
static inline void
text_set(uint8_t *dst, uint8_t *dst_len, const uint8_t *p, uint16_t len, const uint8_t *old,
	 uint8_t old_len)
{
	uint8_t n = text_kept(p, len);

	if (n == 0 && old != NULL) {
		p = old;
		n = old_len;
	}
	if (n > 0)
		memcpy(dst, p, n);
	*dst_len = n;
}

/*
 * Fill a node taken from the pool: what @p s says, the rest from @p old
 * (NULL for a new device), and counters @p base plus this touch.
 */
static void
node_fill(struct reg_node *n, unsigned worker, const struct dp_device_seen *s,
	  const struct reg_node *old, const uint64_t base[REG__COUNT])
{
	const uint64_t add[REG__COUNT] = {1, s->n_obs, s->n_hits, s->n_alarm};
	uint64_t v[SND__WORDS];

	n->device = s->device;
	n->worker = (uint16_t)worker;
	n->first_seen_ns = old != NULL ? old->first_seen_ns : s->now_ns;
	/* Not yet published: no reader can see these stores half done. */
	sender_pack(v, s);
	atomic_store_explicit(&n->seq, 0, memory_order_relaxed);
	sender_store(n->sender[0], v);
	sender_store(n->sender[1], v);
	text_set(n->patient, &n->patient_len, s->patient, s->patient_len,
		 old != NULL ? old->patient : NULL, old != NULL ? old->patient_len : 0);
	text_set(n->location, &n->location_len, s->location, s->location_len,
		 old != NULL ? old->location : NULL, old != NULL ? old->location_len : 0);
	text_set(n->device_id, &n->device_id_len, s->device_id, s->device_id_len,
		 old != NULL ? old->device_id : NULL, old != NULL ? old->device_id_len : 0);
	atomic_store_explicit(&n->last_seen_ns, s->now_ns, memory_order_relaxed);
	for (unsigned i = 0; i < REG__COUNT; i++) {
		atomic_store_explicit(&n->cnt[i], base[i] + add[i], memory_order_relaxed);
		atomic_store_explicit(&n->shared[i], 0, memory_order_relaxed);
		atomic_store_explicit(&n->carry[i], 0, memory_order_relaxed);
		n->copied[i] = 0;
	}
	n->retire_next = NULL;
}

/* A node from the worker's own pool, or NULL when it has none free. */
static inline struct reg_node *
node_take(struct reg_worker *w)
{
	if (w->top == 0)
		w->top = rte_ring_sc_dequeue_burst(w->free, w->stack, REFILL_BURST, NULL);
	if (w->top == 0)
		return NULL;
	return w->stack[--w->top];
}

/* A node taken but not published goes straight back (no reader saw it). */
static inline void
node_put(struct reg_worker *w, struct reg_node *n)
{
	w->stack[w->top++] = n;
}

/* Hand kept nodes to the retire ring, oldest first, while it has room. */
static unsigned
kept_flush(struct reg_worker *w)
{
	while (w->kept_head != NULL) {
		struct reg_node *n = w->kept_head;
		/* Read the link first: once enqueued the node is the reclaimer's. */
		struct reg_node *next = n->retire_next;

		if (rte_ring_sp_enqueue(w->retire, n) != 0)
			break;
		w->kept_head = next;
		if (next == NULL)
			w->kept_tail = NULL;
		w->n_kept--;
	}
	return w->n_kept;
}

/* A node this worker replaced: to the retire ring, or kept until it has room. */
static inline void
node_retire(struct reg_worker *w, struct reg_node *old, struct dp_stats *stats)
{
	if (w->kept_head == NULL && rte_ring_sp_enqueue(w->retire, old) == 0)
		return;
	old->retire_next = NULL;
	if (w->kept_tail != NULL)
		w->kept_tail->retire_next = old;
	else
		w->kept_head = old;
	w->kept_tail = old;
	w->n_kept++;
	dp_count(&stats->table[DP_TAB_registry_retire_full], 1);
}

/* A touch by the node's owner: the sender if it changed, last seen, its counters. */
static inline void
touch_owner(struct reg_node *n, const struct dp_device_seen *s)
{
	sender_update(n, s);
	last_seen_raise(n, s->now_ns);
	dp_count(&n->cnt[REG_MESSAGES], 1);
	dp_count(&n->cnt[REG_OBSERVATIONS], s->n_obs);
	dp_count(&n->cnt[REG_HITS], s->n_hits);
	dp_count(&n->cnt[REG_ALARMS], s->n_alarm);
}

/*
 * A touch by a worker that does not own the node: its counts go to the
 * shared counters with an atomic add (a locked instruction; only a device
 * whose traffic reaches more than one worker pays it, and that is rare),
 * last seen is raised, the sender is left to the owner.
 */
static inline void
touch_shared(struct reg_node *n, const struct dp_device_seen *s, struct dp_stats *stats)
{
	const uint64_t add[REG__COUNT] = {1, s->n_obs, s->n_hits, s->n_alarm};

	last_seen_raise(n, s->now_ns);
	for (unsigned i = 0; i < REG__COUNT; i++)
		if (add[i] != 0)
			atomic_fetch_add_explicit(&n->shared[i], add[i], memory_order_relaxed);
	dp_count(&stats->table[DP_TAB_registry_shared], 1);
}

/*
 * Look the device up; when its texts are unchanged, update its node in
 * place (as its owner or not); else publish a new node (insert or
 * replace), owned by this worker. A replace fails only when another worker
 * replaced the same node first (its own progress): look again, at most
 * TOUCH_ATTEMPTS times.
 */
void
dp_registry_touch(struct dp_registry *r, unsigned worker, const struct dp_device_seen *s,
		  struct dp_stats *stats)
{
	static const uint64_t zero[REG__COUNT];
	struct reg_worker *w;
	unsigned long hash;

	if (r == NULL || worker >= r->n_workers)
		return;
	w = &r->worker[worker];
	if (w->kept_head != NULL)
		kept_flush(w);
	hash = reg_hash(s->device);
	for (unsigned attempt = 0; attempt < TOUCH_ATTEMPTS; attempt++) {
		struct cds_lfht_iter it;
		struct cds_lfht_node *found;
		struct reg_node *old, *n;
		uint64_t base[REG__COUNT];

		cds_lfht_lookup(r->ht, hash, reg_match, &s->device, &it);
		found = cds_lfht_iter_get_node(&it);
		if (found == NULL) {
			n = node_take(w);
			if (n == NULL)
				goto full;
			node_fill(n, worker, s, NULL, zero);
			if (cds_lfht_add_unique(r->ht, hash, reg_match, &s->device, &n->lfht) ==
			    &n->lfht) {
				dp_count(&stats->table[DP_TAB_registry_inserts], 1);
				return;
			}
			/* Another worker added it first: ours was never seen. */
			node_put(w, n);
			continue;
		}
		old = reg_node_of(found);
		if (texts_same(old, s)) {
			if (old->worker == worker)
				touch_owner(old, s);
			else
				touch_shared(old, s, stats);
			return;
		}
		n = node_take(w);
		if (n == NULL)
			goto full;
		for (unsigned i = 0; i < REG__COUNT; i++)
			base[i] = atomic_load_explicit(&old->cnt[i], memory_order_relaxed) +
				  atomic_load_explicit(&old->shared[i], memory_order_relaxed) +
				  atomic_load_explicit(&old->carry[i], memory_order_relaxed);
		node_fill(n, worker, s, old, base);
		if (cds_lfht_replace(r->ht, &it, hash, reg_match, &s->device, &n->lfht) == 0) {
			/* Ours alone now: no other replace of old can succeed. */
			memcpy(old->copied, base, sizeof(old->copied));
			node_retire(w, old, stats);
			dp_count(&stats->table[DP_TAB_registry_replaced], 1);
			return;
		}
		node_put(w, n);
	}
	dp_count(&stats->table[DP_TAB_registry_contended], 1);
	return;
full:
	dp_count(&stats->table[DP_TAB_registry_full], 1);
}

unsigned
dp_registry_flush(struct dp_registry *r, unsigned worker)
{
	if (r == NULL || worker >= r->n_workers)
		return 0;
	return kept_flush(&r->worker[worker]);
}

/* ------------------------------------------------------------------------ */
/* The control-plane side                                                    */
/* ------------------------------------------------------------------------ */

/*
 * After the grace period @p x is final: nobody can write its counters any
 * more. Whatever reached it after its replacer copied them goes to the
 * carry of the device's live node. The lookup is safe on a thread that is
 * not an online reader because only this function (one caller at a time)
 * ever recycles a node, and the table's buckets never change.
 */
static void
settle_late(struct dp_registry *r, struct reg_node *x)
{
	uint64_t late[REG__COUNT];
	struct cds_lfht_iter it;
	struct cds_lfht_node *found;
	bool any = false;

	for (unsigned i = 0; i < REG__COUNT; i++) {
		late[i] = atomic_load_explicit(&x->cnt[i], memory_order_relaxed) +
			  atomic_load_explicit(&x->shared[i], memory_order_relaxed) +
			  atomic_load_explicit(&x->carry[i], memory_order_relaxed) - x->copied[i];
		any |= late[i] != 0;
	}
	if (!any)
		return;
	cds_lfht_lookup(r->ht, reg_hash(x->device), reg_match, &x->device, &it);
	found = cds_lfht_iter_get_node(&it);
	/* A device, once in, stays in (a replace is atomic): always found. */
	if (found == NULL)
		return;
	for (unsigned i = 0; i < REG__COUNT; i++)
		dp_count(&reg_node_of(found)->carry[i], late[i]);
	dp_count(&r->settled_late, late[REG_MESSAGES]);
}

unsigned
dp_registry_reclaim(struct dp_registry *r)
{
	struct reg_node *batch = NULL, *n, *next;
	unsigned total = 0;

	if (r == NULL)
		return 0;
	for (unsigned w = 0; w < r->n_workers; w++) {
		unsigned taken = 0, got;

		/* At most one ring's worth, so a busy worker cannot keep us here. */
		do {
			void *burst[RECLAIM_BURST];

			got = rte_ring_sc_dequeue_burst(r->worker[w].retire, burst, RECLAIM_BURST,
							NULL);
			for (unsigned i = 0; i < got; i++) {
				n = burst[i];
				n->retire_next = batch;
				batch = n;
			}
			taken += got;
		} while (got == RECLAIM_BURST && taken < DP_REGISTRY_RETIRE_RING);
		total += taken;
	}
	if (total == 0)
		return 0;
	urcu_qsbr_synchronize_rcu();
	/* Every late increment first, so no node of the batch is reused meanwhile. */
	for (n = batch; n != NULL; n = n->retire_next)
		settle_late(r, n);
	for (n = batch; n != NULL; n = next) {
		next = n->retire_next;
		/*
		 * A pool's free ring holds all its capacity nodes, and a node
		 * is in at most one place (stack, table, retired, free ring).
		 */
		RTE_VERIFY(rte_ring_sp_enqueue(r->worker[n->worker].free, n) == 0);
	}
	return total;
}

uint64_t
dp_registry_settled_late(const struct dp_registry *r)
{
	return r != NULL ? dp_read(&r->settled_late) : 0;
}

/* ------------------------------------------------------------------------ */
/* Readers                                                                   */
/* ------------------------------------------------------------------------ */

static void
text_copy(char *dst, const uint8_t *src, uint8_t len)
{
	memcpy(dst, src, len);
	dst[len] = '\0';
}

/*
 * The sender, read from the copy seq points at; again if seq moved
 * meanwhile (the owner wrote that copy, or may have). A writer that stops
 * halfway holds nobody up: the other copy is whole. After SEQ_ATTEMPTS
 * tries, take the words read last rather than spin on.
 */
static void
sender_read(const struct reg_node *n, uint64_t v[SND__WORDS])
{
	for (unsigned attempt = 0; attempt < SEQ_ATTEMPTS; attempt++) {
		uint32_t seq = atomic_load_explicit(&n->seq, memory_order_acquire);
		const _Atomic uint64_t *copy = n->sender[seq & 1];

		for (unsigned i = 0; i < SND__WORDS; i++)
			v[i] = atomic_load_explicit(&copy[i], memory_order_relaxed);
		/* Every word before seq again: a word stored since shows as a move. */
		atomic_thread_fence(memory_order_acquire);
		if (atomic_load_explicit(&n->seq, memory_order_relaxed) == seq)
			return;
		rte_pause();
	}
}

static void
info_fill(struct dp_device_info *out, const struct reg_node *n)
{
	uint64_t c[REG__COUNT], v[SND__WORDS];

	for (unsigned i = 0; i < REG__COUNT; i++)
		c[i] = atomic_load_explicit(&n->cnt[i], memory_order_relaxed) +
		       atomic_load_explicit(&n->shared[i], memory_order_relaxed) +
		       atomic_load_explicit(&n->carry[i], memory_order_relaxed);
	sender_read(n, v);
	out->device = n->device;
	out->first_seen_ns = n->first_seen_ns;
	out->last_seen_ns = atomic_load_explicit(&n->last_seen_ns, memory_order_relaxed);
	out->ip_version = (uint8_t)v[SND_META];
	memcpy(&out->sender[0], &v[SND_ADDR_HI], sizeof(v[0]));
	memcpy(&out->sender[8], &v[SND_ADDR_LO], sizeof(v[0]));
	out->sport = (uint16_t)(v[SND_META] >> 8);
	out->worker = n->worker;
	text_copy(out->patient, n->patient, n->patient_len);
	text_copy(out->location, n->location, n->location_len);
	text_copy(out->device_id, n->device_id, n->device_id_len);
	out->messages = c[REG_MESSAGES];
	out->observations = c[REG_OBSERVATIONS];
	out->hits = c[REG_HITS];
	out->alarms = c[REG_ALARMS];
}

unsigned
dp_registry_count(struct dp_registry *r)
{
	long before, after;
	unsigned long count = 0;

	if (r == NULL)
		return 0;
	cds_lfht_count_nodes(r->ht, &before, &count, &after);
	return (unsigned)count;
}

int
dp_registry_lookup(struct dp_registry *r, uint64_t device, struct dp_device_info *out)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *found;

	if (r == NULL)
		return -ENOENT;
	cds_lfht_lookup(r->ht, reg_hash(device), reg_match, &device, &it);
	found = cds_lfht_iter_get_node(&it);
	if (found == NULL)
		return -ENOENT;
	info_fill(out, reg_node_of(found));
	return 0;
}

int
dp_registry_foreach(struct dp_registry *r, int (*fn)(void *arg, const struct dp_device_info *),
		    void *arg)
{
	struct cds_lfht_iter it;
	struct cds_lfht_node *n;
	struct dp_device_info info;

	if (r == NULL)
		return 0;
	for (cds_lfht_first(r->ht, &it); (n = cds_lfht_iter_get_node(&it)) != NULL;
	     cds_lfht_next(r->ht, &it)) {
		int rc;

		info_fill(&info, reg_node_of(n));
		rc = fn(arg, &info);
		if (rc != 0)
			return rc;
	}
	return 0;
}
