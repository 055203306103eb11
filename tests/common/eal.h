/*
 * eal.h - starting DPDK's EAL the same way in every test that needs it.
 */
#ifndef VIGIL_TEST_EAL_H
#define VIGIL_TEST_EAL_H

#include <stdint.h>

#include <rte_dev.h>
#include <rte_ethdev.h>

/**
 * rte_eal_init with no PCI, no hugepages, no shared config, no telemetry,
 * `-m @mem_mb`, warnings only, and @n_lcores lcores: lcore 0 (the main
 * one) on the first CPU this process may run on, the others on the second
 * (on the first too when the process has only one).
 * @param prog  the test's name, for argv[0] and the messages
 * @return 0, or -1 after printing why.
 */
int vt_eal_init(const char *prog, unsigned n_lcores, unsigned mem_mb);

/** An ethdev over one RX and one TX ring the test owns (ring_port.c; link rte_net_ring). */
struct vt_ring_port {
	char name[RTE_ETH_NAME_MAX_LEN]; /**< the ethdev's name */
	uint16_t port_id;
	struct rte_ring *rx; /**< the test enqueues frames here */
	struct rte_ring *tx; /**< and finds what the plane sent here */
	uint8_t mac[6];
};

/** Make it (@p tag names the ethdev and its rings). @return 0 or a negative errno (printed). */
int vt_ring_port_create(struct vt_ring_port *rp, const char *tag, unsigned ring_size);
/** Remove the ethdev, free what is left in the rings and the rings. @return the hotplug's rc. */
int vt_ring_port_destroy(struct vt_ring_port *rp);

#endif /* VIGIL_TEST_EAL_H */
