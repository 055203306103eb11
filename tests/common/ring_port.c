/*
 * ring_port.c - an ethdev over one RX and one TX ring the test owns
 * (rte_eth_from_rings, the net_ring PMD): the test enqueues mbufs into its
 * RX ring and dequeues what the plane sent from its TX ring. A test using
 * it links rte_net_ring.
 */
#include <stdio.h>
#include <string.h>

#include <rte_errno.h>
#include <rte_eth_ring.h>
#include <rte_ethdev.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_ring.h>

#include "eal.h"

static void
ring_drain(struct rte_ring *r)
{
	struct rte_mbuf *m;

	while (r != NULL && rte_ring_dequeue(r, (void **)&m) == 0)
		rte_pktmbuf_free(m);
}

int
vt_ring_port_destroy(struct vt_ring_port *rp)
{
	int rc = 0;

	if (rp->name[0] != '\0')
		rc = rte_eal_hotplug_remove("vdev", rp->name);
	ring_drain(rp->rx);
	ring_drain(rp->tx);
	rte_ring_free(rp->rx);
	rte_ring_free(rp->tx);
	memset(rp, 0, sizeof(*rp));
	return rc;
}

int
vt_ring_port_create(struct vt_ring_port *rp, const char *tag, unsigned ring_size)
{
	char ring_name[RTE_RING_NAMESIZE];
	struct rte_ether_addr mac;
	int port, rc;

	memset(rp, 0, sizeof(*rp));
	snprintf(ring_name, sizeof(ring_name), "%s_rx", tag);
	rp->rx = rte_ring_create(ring_name, ring_size, (int)rte_socket_id(), 0);
	snprintf(ring_name, sizeof(ring_name), "%s_tx", tag);
	rp->tx = rte_ring_create(ring_name, ring_size, (int)rte_socket_id(), 0);
	if (rp->rx == NULL || rp->tx == NULL) {
		rc = -rte_errno;
		goto fail;
	}
	port = rte_eth_from_rings(tag, &rp->rx, 1, &rp->tx, 1, rte_socket_id());
	if (port < 0) {
		rc = -rte_errno;
		goto fail;
	}
	rp->port_id = (uint16_t)port;
	rc = rte_eth_dev_get_name_by_port(rp->port_id, rp->name);
	if (rc == 0)
		rc = rte_eth_macaddr_get(rp->port_id, &mac);
	if (rc != 0)
		goto fail;
	memcpy(rp->mac, mac.addr_bytes, sizeof(rp->mac));
	return 0;

fail:
	fprintf(stderr, "ring port %s: %s\n", tag, rte_strerror(rc < 0 ? -rc : rc));
	vt_ring_port_destroy(rp);
	return rc < 0 ? rc : -rc;
}
