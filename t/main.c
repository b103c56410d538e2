/* The one test runner: every unit and integration suite, one Check summary.
 * CK_RUN_SUITE=name / CK_RUN_CASE=name select a part (Check's own variables). The last line is
 * `N passed, N failed, N skipped`; a test that cannot run here calls t_skip (t/skip.h). */
#include "t/skip.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>

Suite *cfg_suite(void);
Suite *cfg_value_suite(void);
Suite *cfg_load_suite(void);
Suite *cfg_example_suite(void);
Suite *path_suite(void);
Suite *http_suite(void);
Suite *http_errors_suite(void);
Suite *tq_suite(void);
Suite *ev_suite(void);
Suite *bufpool_suite(void);
Suite *route_suite(void);
Suite *httpdate_suite(void);
Suite *range_suite(void);
Suite *shm_suite(void);
Suite *backoff_suite(void);
Suite *ofc_suite(void);
Suite *resp_suite(void);
Suite *req_suite(void);
Suite *static_suite(void);
Suite *accesslog_suite(void);
Suite *integ_accesslog_suite(void);
Suite *status_suite(void);
Suite *integ_status_suite(void);
Suite *integ_http_suite(void);
Suite *integ_cli_suite(void);
Suite *integ_commands_suite(void);
Suite *integ_master_suite(void);
Suite *integ_strict_suite(void);
Suite *integ_limits_suite(void);
Suite *integ_timeouts_suite(void);
Suite *integ_static_suite(void);
Suite *integ_ranges_suite(void);
Suite *integ_mime_suite(void);
Suite *integ_transfers_suite(void);
Suite *integ_ofc_suite(void);
Suite *integ_autoindex_suite(void);
Suite *integ_supervise_suite(void);
Suite *integ_lending_suite(void);
Suite *integ_handover_suite(void);
Suite *integ_recycle_suite(void);
Suite *integ_privileges_suite(void);
Suite *integ_upgrade_suite(void);
Suite *integ_health_suite(void);
Suite *integ_scaleout_suite(void);
Suite *integ_control_suite(void);
Suite *integ_systemd_suite(void);
Suite *integ_budget_suite(void);
Suite *integ_files_suite(void);
Suite *integ_hardening_suite(void);
Suite *integ_ports_suite(void);
Suite *integ_seam_suite(void);
Suite *integ_seam_body_suite(void);
Suite *integ_tls_basic_suite(void);
Suite *integ_tls_certs_suite(void);
Suite *integ_tls_config_suite(void);
Suite *integ_tls_transfer_suite(void);
Suite *integ_tls_reload_suite(void);
Suite *integ_apps_api_suite(void);
Suite *integ_apps_ops_suite(void);
Suite *integ_apps_reload_suite(void);
Suite *integ_apps_loop_suite(void);
Suite *integ_apps_state_suite(void);
Suite *ipc_suite(void);
Suite *relay_suite(void);
Suite *modcheck_suite(void);
Suite *cidr_suite(void);
Suite *utf8_suite(void);
Suite *proxy_suite(void);
Suite *realip_suite(void);
Suite *integ_proxy_suite(void);
Suite *integ_realip_suite(void);

int
main(void)
{
    SRunner *sr = srunner_create(cfg_suite());
    srunner_add_suite(sr, cfg_value_suite());
    srunner_add_suite(sr, cfg_load_suite());
    srunner_add_suite(sr, cfg_example_suite());
    srunner_add_suite(sr, path_suite());
    srunner_add_suite(sr, http_suite());
    srunner_add_suite(sr, http_errors_suite());
    srunner_add_suite(sr, tq_suite());
    srunner_add_suite(sr, ev_suite());
    srunner_add_suite(sr, bufpool_suite());
    srunner_add_suite(sr, route_suite());
    srunner_add_suite(sr, httpdate_suite());
    srunner_add_suite(sr, range_suite());
    srunner_add_suite(sr, shm_suite());
    srunner_add_suite(sr, backoff_suite());
    srunner_add_suite(sr, ofc_suite());
    srunner_add_suite(sr, resp_suite());
    srunner_add_suite(sr, req_suite());
    srunner_add_suite(sr, static_suite());
    srunner_add_suite(sr, accesslog_suite());
    srunner_add_suite(sr, status_suite());
    srunner_add_suite(sr, integ_status_suite());
    srunner_add_suite(sr, integ_http_suite());
    srunner_add_suite(sr, integ_cli_suite());
    srunner_add_suite(sr, integ_commands_suite());
    srunner_add_suite(sr, integ_master_suite());
    srunner_add_suite(sr, integ_strict_suite());
    srunner_add_suite(sr, integ_limits_suite());
    srunner_add_suite(sr, integ_timeouts_suite());
    srunner_add_suite(sr, integ_static_suite());
    srunner_add_suite(sr, integ_ranges_suite());
    srunner_add_suite(sr, integ_mime_suite());
    srunner_add_suite(sr, integ_transfers_suite());
    srunner_add_suite(sr, integ_ofc_suite());
    srunner_add_suite(sr, integ_autoindex_suite());
    srunner_add_suite(sr, integ_supervise_suite());
    srunner_add_suite(sr, integ_lending_suite());
    srunner_add_suite(sr, integ_handover_suite());
    srunner_add_suite(sr, integ_recycle_suite());
    srunner_add_suite(sr, integ_privileges_suite());
    srunner_add_suite(sr, integ_upgrade_suite());
    srunner_add_suite(sr, integ_health_suite());
    srunner_add_suite(sr, integ_scaleout_suite());
    srunner_add_suite(sr, integ_control_suite());
    srunner_add_suite(sr, integ_systemd_suite());
    srunner_add_suite(sr, integ_budget_suite());
    srunner_add_suite(sr, integ_files_suite());
    srunner_add_suite(sr, integ_hardening_suite());
    srunner_add_suite(sr, integ_ports_suite());
    srunner_add_suite(sr, integ_seam_suite());
    srunner_add_suite(sr, integ_seam_body_suite());
    srunner_add_suite(sr, integ_tls_basic_suite());
    srunner_add_suite(sr, integ_tls_certs_suite());
    srunner_add_suite(sr, integ_tls_config_suite());
    srunner_add_suite(sr, integ_tls_transfer_suite());
    srunner_add_suite(sr, integ_tls_reload_suite());
    srunner_add_suite(sr, integ_apps_api_suite());
    srunner_add_suite(sr, integ_apps_ops_suite());
    srunner_add_suite(sr, integ_apps_reload_suite());
    srunner_add_suite(sr, integ_apps_loop_suite());
    srunner_add_suite(sr, integ_apps_state_suite());
    srunner_add_suite(sr, integ_accesslog_suite());
    srunner_add_suite(sr, ipc_suite());
    srunner_add_suite(sr, relay_suite());
    srunner_add_suite(sr, modcheck_suite());
    srunner_add_suite(sr, cidr_suite());
    srunner_add_suite(sr, utf8_suite());
    srunner_add_suite(sr, proxy_suite());
    srunner_add_suite(sr, realip_suite());
    srunner_add_suite(sr, integ_proxy_suite());
    srunner_add_suite(sr, integ_realip_suite());
    if (t_skip_init() < 0) {
        perror("t_skip_init");
        return EXIT_FAILURE;
    }
    fflush(stdout); /* nothing buffered may be copied into Check's forked test processes */
    srunner_run_all(sr, CK_NORMAL);
    /* Check counts a skipped test as passed: move it to its own column, and list the skips
     * again where a reader of the summary sees them. Only failures fail the run. */
    int run = srunner_ntests_run(sr), failed = srunner_ntests_failed(sr);
    int skipped = t_skip_count();
    srunner_free(sr);
    for (int i = 0; i < skipped; i++)
        if (t_skip_line(i) != NULL)
            printf("SKIP %s\n", t_skip_line(i));
    printf("%d passed, %d failed, %d skipped\n", run - failed - skipped, failed, skipped);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
