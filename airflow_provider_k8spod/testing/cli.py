"""``python -m airflow_provider_k8spod.testing serve --kubeconfig PATH [--port N]``."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from airflow_provider_k8spod.testing.config import ClusterConfig


def _load_config(path: str | None, isolation: str | None) -> ClusterConfig:
    data: dict[str, object] = {}
    if path:
        with open(path) as fh:
            text = fh.read()
        if path.endswith((".yaml", ".yml")):
            import yaml

            loaded = yaml.safe_load(text)
        else:
            loaded = json.loads(text)
        if not isinstance(loaded, dict):
            raise SystemExit(f"{path}: expected a mapping")
        data = loaded
    if isolation:
        data["isolation"] = isolation
    return ClusterConfig.from_json(data)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m airflow_provider_k8spod.testing", description="A local Kubernetes cluster for tests."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the cluster until SIGINT/SIGTERM")
    serve.add_argument("--kubeconfig", required=True, help="where to write the kubeconfig once serving")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    serve.add_argument(
        "--config", help="JSON or YAML file: nodes, images, timings, namespaces (docs/testing.md)"
    )
    serve.add_argument(
        "--isolation",
        choices=("auto", "namespaces", "process"),
        default=None,
        help="container isolation (default: auto)",
    )
    serve.add_argument("--state-dir", help=argparse.SUPPRESS)
    serve.add_argument("--watch-parent", action="store_true", help=argparse.SUPPRESS)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        from airflow_provider_k8spod.testing.server import serve

        config = _load_config(args.config, args.isolation)
        return serve(
            config, args.kubeconfig, port=args.port, state_dir=args.state_dir, watch_parent=args.watch_parent
        )
    return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
