/*
 * cunit_main.c - the one main() every CUnit runner shares.
 *
 * A suite file defines vigil_test_register(), which adds its suites to the
 * registry. The runner runs them all in verbose basic mode and exits
 * non-zero if any assertion failed, any test could not run, or the registry
 * could not be built, so that meson test (and CI) see every failure.
 */
#include <stdio.h>
#include <stdlib.h>

#include <CUnit/Basic.h>

#include "cunit_main.h"

int
main(void)
{
	unsigned failures;
	int rc;

	if (CU_initialize_registry() != CUE_SUCCESS) {
		fprintf(stderr, "cunit: %s\n", CU_get_error_msg());
		return 2;
	}
	rc = vigil_test_register();
	if (rc != 0 || CU_get_error() != CUE_SUCCESS) {
		fprintf(stderr, "cunit: registering the suites failed: %s\n", CU_get_error_msg());
		CU_cleanup_registry();
		return 2;
	}
	CU_basic_set_mode(CU_BRM_VERBOSE);
	CU_basic_run_tests();
	failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed() +
		   CU_get_number_of_suites_failed();
	if (CU_get_number_of_tests_run() == 0) {
		fprintf(stderr, "cunit: no test ran\n");
		failures++;
	}
	CU_cleanup_registry();
	return failures == 0 ? 0 : 1;
}
