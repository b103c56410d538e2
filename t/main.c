/* The one test runner: every unit and integration suite, one Check summary.
 * CK_RUN_SUITE=name / CK_RUN_CASE=name select a part (Check's own variables). */
#include <check.h>
#include <stdlib.h>

Suite *cfg_suite(void);
Suite *cfg_load_suite(void);
Suite *cfg_example_suite(void);
Suite *path_suite(void);
Suite *http_suite(void);
Suite *http_errors_suite(void);
Suite *tq_suite(void);
Suite *bufpool_suite(void);
Suite *route_suite(void);
Suite *httpdate_suite(void);
Suite *range_suite(void);
Suite *shm_suite(void);
Suite *backoff_suite(void);
Suite *ofc_suite(void);
Suite *resp_suite(void);
Suite *static_suite(void);
Suite *integ_http_suite(void);
Suite *integ_cli_suite(void);
Suite *integ_master_suite(void);
Suite *integ_strict_suite(void);
Suite *integ_limits_suite(void);
Suite *integ_timeouts_suite(void);
Suite *integ_static_suite(void);
Suite *integ_static2_suite(void);
Suite *integ_autoindex_suite(void);
Suite *integ_supervise_suite(void);
Suite *integ_supervise2_suite(void);
Suite *integ_upgrade_suite(void);
Suite *integ_upgrade2_suite(void);
Suite *integ_files_suite(void);
Suite *integ_hardening_suite(void);
Suite *ipc_suite(void);

int
main(void)
{
    SRunner *sr = srunner_create(cfg_suite());
    srunner_add_suite(sr, cfg_load_suite());
    srunner_add_suite(sr, cfg_example_suite());
    srunner_add_suite(sr, path_suite());
    srunner_add_suite(sr, http_suite());
    srunner_add_suite(sr, http_errors_suite());
    srunner_add_suite(sr, tq_suite());
    srunner_add_suite(sr, bufpool_suite());
    srunner_add_suite(sr, route_suite());
    srunner_add_suite(sr, httpdate_suite());
    srunner_add_suite(sr, range_suite());
    srunner_add_suite(sr, shm_suite());
    srunner_add_suite(sr, backoff_suite());
    srunner_add_suite(sr, ofc_suite());
    srunner_add_suite(sr, resp_suite());
    srunner_add_suite(sr, static_suite());
    srunner_add_suite(sr, integ_http_suite());
    srunner_add_suite(sr, integ_cli_suite());
    srunner_add_suite(sr, integ_master_suite());
    srunner_add_suite(sr, integ_strict_suite());
    srunner_add_suite(sr, integ_limits_suite());
    srunner_add_suite(sr, integ_timeouts_suite());
    srunner_add_suite(sr, integ_static_suite());
    srunner_add_suite(sr, integ_static2_suite());
    srunner_add_suite(sr, integ_autoindex_suite());
    srunner_add_suite(sr, integ_supervise_suite());
    srunner_add_suite(sr, integ_supervise2_suite());
    srunner_add_suite(sr, integ_upgrade_suite());
    srunner_add_suite(sr, integ_upgrade2_suite());
    srunner_add_suite(sr, integ_files_suite());
    srunner_add_suite(sr, integ_hardening_suite());
    srunner_add_suite(sr, ipc_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
