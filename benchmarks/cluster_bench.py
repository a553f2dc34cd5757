"""Local cluster benchmarks: start-up time and many concurrent pods. Prints figures; asserts nothing.

    .venv/bin/python benchmarks/cluster_bench.py                   # both benchmarks
    .venv/bin/python benchmarks/cluster_bench.py startup --runs 20
    .venv/bin/python benchmarks/cluster_bench.py pods --pods 200 --workload python

Start-up is measured from ``LocalCluster()`` context entry to the first successful API call made with the
real ``kubernetes`` client (already imported, as in a test session). The pods benchmark creates N pods at
once and waits (with a watch) until every one has Succeeded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import threading
import time

import kubernetes

from airflow_provider_k8spod.testing import LocalCluster

WORKLOADS = {
    "sleep": ["sleep", "5"],
    "python": ["python", "-c", "print('hello world')"],
    "shell": ["sh", "-c", "echo hello world"],
}


def _api(cluster: LocalCluster) -> kubernetes.client.CoreV1Api:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(cluster.kubeconfig_path, client_configuration=configuration)
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))


def _cpu_seconds(pid: int) -> tuple[float, float]:
    """(own CPU, reaped children's CPU) of a process, in seconds."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks, (int(fields[13]) + int(fields[14])) / ticks


def bench_startup(runs: int) -> None:
    starts: list[float] = []
    stops: list[float] = []
    isolation = ""
    # A first, uncounted run: the kubernetes client's first load_kube_config (~1 s of imports) and the
    # server's first bytecode compilation happen once per machine / session, not per cluster.
    began = time.perf_counter()
    with LocalCluster() as cluster:
        _api(cluster).list_namespaced_pod("default")
    print(
        f"cold first run (client imports, bytecode cache fill): {(time.perf_counter() - began) * 1000:.0f} ms"
    )
    for _ in range(runs):
        began = time.perf_counter()
        cluster = LocalCluster().start()
        _api(cluster).list_namespaced_pod("default")
        starts.append(time.perf_counter() - began)
        isolation = cluster.isolation
        began = time.perf_counter()
        cluster.stop()
        stops.append(time.perf_counter() - began)
    print(f"start-up (context entry -> first API call), {runs} runs, isolation={isolation}:")
    print(
        f"  min {min(starts) * 1000:.0f} ms  median {statistics.median(starts) * 1000:.0f} ms  "
        f"max {max(starts) * 1000:.0f} ms"
    )
    print(f"stop: median {statistics.median(stops) * 1000:.0f} ms  max {max(stops) * 1000:.0f} ms")


def bench_pods(count: int, workload: str) -> None:
    command = WORKLOADS[workload]
    with LocalCluster() as cluster:
        core = _api(cluster)
        assert cluster.server_pid is not None
        cpu_before = _cpu_seconds(cluster.server_pid)
        start_rv = core.list_namespaced_pod("default").metadata.resource_version
        succeeded: set[str] = set()
        failed: set[str] = set()
        peak_processes = 0
        done = threading.Event()

        def watch() -> None:
            w = kubernetes.watch.Watch()
            for event in w.stream(
                core.list_namespaced_pod, "default", resource_version=start_rv, timeout_seconds=600
            ):
                phase = event["object"].status.phase
                name = event["object"].metadata.name
                if phase == "Succeeded":
                    succeeded.add(name)
                elif phase == "Failed":
                    failed.add(name)
                if len(succeeded) + len(failed) >= count:
                    w.stop()
            done.set()

        def sample() -> None:
            nonlocal peak_processes
            while not done.wait(0.25):
                peak_processes = max(peak_processes, len(cluster.container_processes()))

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        time.sleep(0.2)
        began = time.perf_counter()
        for i in range(count):
            core.create_namespaced_pod(
                "default",
                {
                    "metadata": {"name": f"bench-{i}"},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [{"name": "base", "image": "busybox:1.36", "command": command}],
                    },
                },
            )
        created = time.perf_counter() - began
        done.wait()
        sampler.join()
        elapsed = time.perf_counter() - began
        own_after, children_after = _cpu_seconds(cluster.server_pid)
        own, children = own_after - cpu_before[0], children_after - cpu_before[1]
        sample = core.read_namespaced_pod_log("bench-0", "default") if workload != "sleep" else ""
    print(
        f"{count} concurrent pods running {' '.join(command)!r} on {os.cpu_count()} cores "
        f"(isolation={cluster.isolation}):"
    )
    print(f"  all {count} created in {created:.2f} s ({count / created:.0f} creates/s)")
    print(f"  {len(succeeded)} Succeeded, {len(failed)} Failed; all terminal after {elapsed:.2f} s")
    print(
        f"  peak running containers {peak_processes}; CPU: API server + kubelet {own:.1f} s, container "
        f"processes {children:.1f} s ({(own + children) / count * 1000:.0f} ms per pod)"
    )
    if sample:
        print(f"  sample log: {sample!r}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", nargs="?", choices=("startup", "pods", "all"), default="all")
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--pods", type=int, default=200)
    parser.add_argument(
        "--workload", choices=sorted(WORKLOADS), default=None, help="default: both sleep and python"
    )
    args = parser.parse_args(argv)
    if args.which in ("startup", "all"):
        bench_startup(args.runs)
    if args.which in ("pods", "all"):
        for workload in [args.workload] if args.workload else ["sleep", "python"]:
            bench_pods(args.pods, workload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
