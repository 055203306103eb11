/*
 * eal.h - starting DPDK's EAL the same way in every test that needs it.
 */
#ifndef VIGIL_TEST_EAL_H
#define VIGIL_TEST_EAL_H

/**
 * rte_eal_init with no PCI, no hugepages, no shared config, no telemetry,
 * `-m @mem_mb`, warnings only, and @n_lcores lcores: lcore 0 (the main
 * one) on the first CPU this process may run on, the others on the second
 * (on the first too when the process has only one).
 * @param prog  the test's name, for argv[0] and the messages
 * @return 0, or -1 after printing why.
 */
int vt_eal_init(const char *prog, unsigned n_lcores, unsigned mem_mb);

#endif /* VIGIL_TEST_EAL_H */
