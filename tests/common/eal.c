/*
 * eal.c - the EAL start-up the data plane's tests share (eal.h).
 */
#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include <rte_eal.h>
#include <rte_errno.h>

#include "eal.h"

#define MAX_LCORES 8

/* The first two CPUs this process may run on; both the same if it has one. */
static int
pick_cpus(unsigned *main_cpu, unsigned *worker_cpu)
{
	cpu_set_t set;
	int first = -1, second = -1;

	if (sched_getaffinity(0, sizeof(set), &set) != 0)
		return -errno;
	for (int c = 0; c < CPU_SETSIZE && second < 0; c++) {
		if (!CPU_ISSET(c, &set))
			continue;
		if (first < 0)
			first = c;
		else
			second = c;
	}
	if (first < 0)
		return -ENODEV;
	*main_cpu = (unsigned)first;
	*worker_cpu = (unsigned)(second >= 0 ? second : first);
	return 0;
}

int
vt_eal_init(const char *prog, unsigned n_lcores, unsigned mem_mb)
{
	char lcores[16 * MAX_LCORES], mem[16];
	char *argv[16];
	unsigned main_cpu = 0, worker_cpu = 0;
	int argc = 0, rc, n;

	if (n_lcores == 0 || n_lcores > MAX_LCORES) {
		fprintf(stderr, "%s: %u lcores asked for (1..%u)\n", prog, n_lcores, MAX_LCORES);
		return -1;
	}
	rc = pick_cpus(&main_cpu, &worker_cpu);
	if (rc != 0) {
		fprintf(stderr, "%s: cannot read the CPU affinity: %s\n", prog, strerror(-rc));
		return -1;
	}
	n = snprintf(lcores, sizeof(lcores), "0@%u", main_cpu);
	for (unsigned l = 1; l < n_lcores; l++)
		n += snprintf(lcores + n, sizeof(lcores) - (size_t)n, ",%u@%u", l, worker_cpu);
	snprintf(mem, sizeof(mem), "%u", mem_mb);
	argv[argc++] = (char *)prog;
	argv[argc++] = "--no-pci";
	argv[argc++] = "--no-huge";
	argv[argc++] = "--no-shconf";
	argv[argc++] = "--no-telemetry";
	argv[argc++] = "-m";
	argv[argc++] = mem;
	argv[argc++] = "--log-level=*:warning";
	argv[argc++] = "--lcores";
	argv[argc++] = lcores;
	argv[argc] = NULL;
	if (rte_eal_init(argc, argv) < 0) {
		fprintf(stderr, "%s: rte_eal_init failed: %s\n", prog, rte_strerror(rte_errno));
		return -1;
	}
	return 0;
}
