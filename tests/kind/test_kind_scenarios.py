"""The operator scenarios that need no fault injection, against a real cluster (see conftest.py).

Each function is the very test that runs against the local cluster; only the cluster differs. Real image
pulls take longer, so scenarios that bound the start-up with a few seconds are not in this list.
"""

from __future__ import annotations

from tests.e2e.test_worker_restarts import (  # noqa: F401
    test_kill_deletes_the_pod,
    test_retry_after_a_finished_pod_starts_a_fresh_one,
)
from tests.operators.test_pod_outcomes import (  # noqa: F401
    test_active_deadline_exceeded,
    test_long_running_user_sidecar_does_not_hold_the_task,
    test_native_sidecar_does_not_hold_the_task,
    test_on_finish_action,
    test_skip_on_exit_code,
    test_upstream_style_callbacks_are_called_in_order,
    test_xcom_sidecar_with_a_failing_main_container_does_not_hang,
)
from tests.operators.test_pod_run import (  # noqa: F401
    test_failing_pod_command_not_in_image,
    test_failure_record_has_exit_code_termination_message_and_node,
    test_init_containers_and_all_containers_are_followed,
    test_multibyte_characters_split_across_chunks_are_intact,
    test_multiple_outputs,
    test_passing_pod_prints_hello_world_and_is_deleted,
    test_xcom_dict,
    test_xcom_invalid_json_names_file_and_position,
    test_xcom_large_value,
    test_xcom_without_file_is_none_not_a_hang,
)
from tests.operators.test_pod_startup import (  # noqa: F401
    test_failed_init_container_fails_the_start_with_its_exit_code,
    test_invalid_image_name_fails_at_once,
)
