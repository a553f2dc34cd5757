"""``airflow k8spod``: the command group Airflow's CLI loads from the provider info's ``cli`` key.

Kept light: Airflow imports this module for every ``airflow`` command; the command's code is imported only
when it runs (``lazy_load_command``).
"""

from __future__ import annotations

from typing import Any

__all__ = ["DEFAULT_MIN_AGE", "get_cli_commands"]

#: Pods younger than this are never deleted (a pod just created for a task that is about to start).
DEFAULT_MIN_AGE = "5m"


def get_cli_commands() -> list[Any]:
    """The ``k8spod`` group with ``cleanup-pods``."""
    from airflow.cli.cli_config import ActionCommand, Arg, GroupCommand, lazy_load_command

    args = (
        Arg(
            ("--conn-id",),
            help="The Kubernetes connection (default: kubernetes_default)",
            default="kubernetes_default",
        ),
        Arg(
            ("-n", "--namespace"),
            help="Namespace to clean up (default: the connection's, else its kubeconfig context's, else "
            "'default')",
        ),
        Arg(("-A", "--all-namespaces"), help="Look in every namespace", action="store_true"),
        Arg(
            ("--min-age",),
            help=f"Leave pods younger than this alone: seconds, or a number with s, m, h or d (default: "
            f"{DEFAULT_MIN_AGE})",
            default=DEFAULT_MIN_AGE,
        ),
        Arg(
            ("--include-kept",),
            help="Also delete pods kept by on_finish_action (label already_checked=True)",
            action="store_true",
        ),
        Arg(("--dry-run",), help="List the pods that would be deleted; delete nothing", action="store_true"),
        Arg(
            ("-v", "--verbose"),
            help="Also list this provider's pods that are left alone, and why",
            action="store_true",
        ),
    )
    cleanup = ActionCommand(
        name="cleanup-pods",
        help="Delete pods of this provider whose task instance is no longer running",
        description=(
            "Finds the pods created by airflow-provider-k8spod's KubernetesPodOperator (never another "
            "provider's) whose task instance, in Airflow's metadata database, is finished, gone, or on a "
            "later try that cannot use them, and deletes them. Pods kept by on_finish_action, pods younger "
            "than --min-age and pods a running or coming try may adopt are left alone."
        ),
        func=lazy_load_command("airflow_provider_k8spod.cli.cleanup.cleanup_pods_command"),
        args=args,
    )
    return [
        GroupCommand(
            name="k8spod",
            help="Kubernetes pods of airflow-provider-k8spod",
            subcommands=(cleanup,),
        )
    ]
