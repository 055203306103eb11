/*
 * cunit_main.h - what a CUnit suite file provides to the shared runner.
 */
#ifndef VIGIL_CUNIT_MAIN_H
#define VIGIL_CUNIT_MAIN_H

/* Add this runner's suites with CU_add_suite/CU_add_test; return 0 or -1. */
int vigil_test_register(void);

#endif
