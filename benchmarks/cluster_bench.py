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
import contextlib
import multiprocessing
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from typing import Any

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


SCALE_SLEEP = "86399"  # an odd duration, so leftover container processes are easy to find


def _cpu_since(pid: int, before: tuple[float, float]) -> tuple[float, str]:
    """Server CPU since ``before``: (own seconds, text with own and reaped container processes' CPU)."""
    own, children = _cpu_seconds(pid)
    own -= before[0]
    children -= before[1]
    return own, f"{own:.1f} s (+ {children:.1f} s of exited container processes)"


def _memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) of a process in KiB; PSS shares each shared page among the processes mapping it."""
    rss = pss = 0
    try:
        with open(f"/proc/{pid}/smaps_rollup") as fh:
            for line in fh:
                if line.startswith("Rss:"):
                    rss = int(line.split()[1])
                elif line.startswith("Pss:"):
                    pss = int(line.split()[1])
    except OSError:
        pass
    return rss, pss


def _leftover_sleeps() -> list[int]:
    """Host processes still running the benchmark's ``sleep``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as fh:
                argv = fh.read().split(b"\0")
        except OSError:
            continue
        if argv[:2] == [b"sleep", SCALE_SLEEP.encode()] or (
            len(argv) > 1 and argv[0].endswith(b"/sleep") and argv[1] == SCALE_SLEEP.encode()
        ):
            found.append(int(entry))
    return found


def _percentiles(values: list[float]) -> str:
    if not values:
        return "no samples"
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] * 1000

    return (
        f"p50 {pick(0.50):.1f} ms  p95 {pick(0.95):.1f} ms  p99 {pick(0.99):.1f} ms  "
        f"max {ordered[-1] * 1000:.1f} ms  ({len(values)} samples)"
    )


def _limits_line() -> str:
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[0]
    try:
        with open("/proc/sys/kernel/pid_max") as fh:
            pid_max = fh.read().strip()
    except OSError:
        pid_max = "?"
    return f"limits of this shell: open files {soft}/{hard}, processes {nproc}, kernel.pid_max {pid_max}"


class _Profiler:
    """``py-spy record`` of the server, one collapsed-stack file per phase (``--py-spy``), or nothing."""

    def __init__(self, py_spy: str | None, out_dir: str) -> None:
        self.py_spy = py_spy
        self.out_dir = out_dir
        self.pid = 0
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, phase: str) -> None:
        if not self.py_spy:
            return
        os.makedirs(self.out_dir, exist_ok=True)
        out = os.path.join(self.out_dir, f"{phase}.txt")
        self._proc = subprocess.Popen(
            [
                self.py_spy,
                "record",
                "-p",
                str(self.pid),
                "-f",
                "raw",
                "-r",
                "100",
                "--nonblocking",
                "-o",
                out,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _scale_client(kubeconfig_path: str) -> kubernetes.client.CoreV1Api:
    configuration = kubernetes.client.Configuration()
    kubernetes.config.load_kube_config(kubeconfig_path, client_configuration=configuration)
    return kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))


def _scale_watch(kubeconfig_path: str, start_rv: str, sender: Any) -> None:
    """Child process: watch the pods, send ("running", name, t) and ("probe", token, t)."""
    core = _scale_client(kubeconfig_path)
    seen: set[str] = set()
    try:
        for event in kubernetes.watch.Watch().stream(
            core.list_namespaced_pod,
            "default",
            resource_version=start_rv,
            timeout_seconds=3600,
            deserialize=False,
        ):
            received = time.perf_counter()
            obj = event["object"]  # a dict: deserialize=False
            name = obj["metadata"]["name"]
            probe = (obj["metadata"].get("annotations") or {}).get("bench/probe")
            if probe:
                sender.send(("probe", probe, received))
            if event["type"] == "ADDED":
                sender.send(("added", name, received))
            if name not in seen and (obj.get("status") or {}).get("phase") == "Running":
                seen.add(name)
                sender.send(("running", name, received))
    except Exception as exc:
        sender.send(("failed", f"{type(exc).__name__}: {exc}", 0.0))


_creator: kubernetes.client.CoreV1Api | None = None


def _scale_creator_init(kubeconfig_path: str) -> None:
    global _creator
    _creator = _scale_client(kubeconfig_path)


def _scale_create(i: int) -> tuple[str, float, float]:
    """Pool worker: create one pod; return its name, when the request began and when it was answered."""
    assert _creator is not None
    began = time.perf_counter()
    _creator.create_namespaced_pod(
        "default",
        _preload_content=False,
        body={
            "metadata": {"name": f"scale-{i:05d}", "labels": {"app": "scale-bench"}},
            "spec": {
                "restartPolicy": "Never",
                "terminationGracePeriodSeconds": 30,
                "containers": [{"name": "base", "image": "busybox:1.36", "command": ["sleep", SCALE_SLEEP]}],
            },
        },
    ).read()
    return f"scale-{i:05d}", began, time.perf_counter()


def bench_scale(
    count: int, *, window: float, creators: int, grace: int, timeout: float, profiler: _Profiler
) -> None:
    """N pods of ``sleep`` at once: start rate, memory per pod, API latency under load, delete time."""
    print(f"{count} pods of 'sleep {SCALE_SLEEP}' at once on {os.cpu_count()} cores; {_limits_line()}")
    before = _leftover_sleeps()
    if before:
        print(f"  note: {len(before)} 'sleep {SCALE_SLEEP}' processes exist already (not ours)")
    with LocalCluster() as cluster:
        server = cluster.server_pid
        assert server is not None
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_kube_config(cluster.kubeconfig_path, client_configuration=configuration)
        core = kubernetes.client.CoreV1Api(kubernetes.client.ApiClient(configuration))
        print(f"  isolation={cluster.isolation}, server pid {server}")
        profiler.pid = server

        running_at: dict[str, float] = {}
        probe_seen: dict[str, float] = {}
        added_at: dict[str, float] = {}
        all_running = threading.Event()
        start_rv = core.list_namespaced_pod("default").metadata.resource_version
        # The watch runs in a process of its own, so that the creating processes cannot delay it: it
        # stamps each event with the (system-wide monotonic) clock as it arrives.
        context = multiprocessing.get_context("fork")
        receiver, sender = context.Pipe(duplex=False)
        watch_process = context.Process(
            target=_scale_watch, args=(cluster.kubeconfig_path, start_rv, sender), daemon=True
        )
        watch_process.start()
        sender.close()

        def receive() -> None:
            with contextlib.suppress(EOFError, OSError):
                while True:
                    kind, key, stamp = receiver.recv()
                    if kind == "running":
                        running_at[key] = stamp
                        if len(running_at) >= count:
                            all_running.set()
                    elif kind == "probe":
                        probe_seen[key] = stamp
                    elif kind == "added":
                        added_at[key] = stamp
                    else:  # the watch failed: the count below shows it
                        print(f"  watch failed: {key}")
                        all_running.set()
                        return

        threading.Thread(target=receive, daemon=True).start()
        time.sleep(0.5)

        cpu0 = _cpu_seconds(server)
        profiler.start("start")
        began = time.perf_counter()
        with context.Pool(creators, _scale_creator_init, (cluster.kubeconfig_path,)) as pool:
            creates = pool.map(_scale_create, range(count), chunksize=10)
        created = time.perf_counter() - began
        ok = all_running.wait(timeout)
        started = time.perf_counter() - began
        profiler.stop()
        cpu_start, cpu_start_text = _cpu_since(server, cpu0)
        times = sorted(t - began for t in running_at.values())
        print(
            f"  start: {count} created in {created:.1f} s ({count / created:.0f}/s from {creators} client "
            "processes)"
        )
        print(f"    create request latency: {_percentiles([done - sent for _, sent, done in creates])}")
        to_running = [running_at[name] - done for name, _, done in creates if name in running_at]
        print(f"    created -> Running seen on a watch: {_percentiles(to_running)}")
        to_added = [added_at[name] - done for name, _, done in creates if name in added_at]
        print(f"    created -> ADDED seen on a watch: {_percentiles(to_added)}")
        if not ok:
            print(f"    ONLY {len(running_at)} of {count} Running after {timeout:.0f} s")
        else:
            print(
                f"    all Running after {started:.1f} s ({count / started:.0f} pods/s); "
                f"half after {times[len(times) // 2]:.1f} s, 90 % after {times[int(len(times) * 0.9)]:.1f} s"
            )
        print(
            f"    server CPU during start-up {cpu_start_text}, "
            f"{cpu_start / max(1, len(running_at)) * 1000:.1f} ms per pod"
        )

        time.sleep(2.0)
        processes = cluster.container_processes()
        pids = [pid for p in processes for pid in p["pids"]]
        server_rss, server_pss = _memory_kib(server)
        container = [_memory_kib(pid) for pid in pids]
        rss = sum(r for r, _ in container)
        pss = sum(p for _, p in container)
        pods = max(1, len(processes))
        print(f"  memory with {len(processes)} containers running ({len(pids)} host processes):")
        print(f"    server RSS {server_rss / 1024:.0f} MiB (PSS {server_pss / 1024:.0f} MiB)")
        print(
            f"    container processes RSS {rss / 1024:.0f} MiB, PSS {pss / 1024:.0f} MiB "
            f"({len(pids) / pods:.1f} processes per pod)"
        )
        print(
            f"    per pod: {(server_rss + rss) / pods:.0f} KiB RSS, {(server_pss + pss) / pods:.0f} KiB PSS "
            f"(server + containers)"
        )
        try:
            fds = len(os.listdir(f"/proc/{server}/fd"))
            threads = len(os.listdir(f"/proc/{server}/task"))
            print(f"    server: {fds} open files, {threads} threads")
        except OSError:
            pass

        # Steady state: reads, lists and watch delivery while everything runs.
        names = sorted(running_at)
        gets: list[float] = []
        lists: list[float] = []
        delays: list[float] = []
        cpu1 = sum(_cpu_seconds(server))
        profiler.start("steady")
        began = time.perf_counter()
        end = began + window
        i = 0
        while time.perf_counter() < end:
            name = names[(i * 7919) % len(names)]
            t0 = time.perf_counter()
            core.read_namespaced_pod(name, "default", _preload_content=False).read()
            gets.append(time.perf_counter() - t0)
            if i % 10 == 0:
                t0 = time.perf_counter()
                core.list_namespaced_pod("default", _preload_content=False).read()
                lists.append(time.perf_counter() - t0)
            if i % 2 == 0:
                token = f"p{i}"
                t0 = time.perf_counter()
                core.patch_namespaced_pod(
                    name,
                    "default",
                    {"metadata": {"annotations": {"bench/probe": token}}},
                    _preload_content=False,
                ).read()
                deadline = time.perf_counter() + 10
                while token not in probe_seen and time.perf_counter() < deadline:
                    time.sleep(0.0005)
                if token in probe_seen:
                    delays.append(probe_seen[token] - t0)
            i += 1
            time.sleep(0.02)
        elapsed = time.perf_counter() - began
        profiler.stop()
        cpu_steady = sum(_cpu_seconds(server)) - cpu1
        print(f"  API latency over {elapsed:.0f} s with {len(processes)} pods running (sequential requests):")
        print(f"    get pod:   {_percentiles(gets)}")
        print(f"    list pods: {_percentiles(lists)}")
        print(f"    patch -> watch event: {_percentiles(delays)}")
        print(
            f"    server CPU {cpu_steady:.1f} s in {elapsed:.0f} s ({cpu_steady / elapsed * 100:.0f} % of a core, "
            f"probes included)"
        )
        idle0 = sum(_cpu_seconds(server))
        time.sleep(5.0)
        idle = sum(_cpu_seconds(server)) - idle0
        print(f"    server CPU idle with {len(processes)} pods: {idle / 5 * 100:.1f} % of a core")

        cpu2 = _cpu_seconds(server)
        profiler.start("delete")
        began = time.perf_counter()
        core.delete_collection_namespaced_pod(
            "default", label_selector="app=scale-bench", grace_period_seconds=grace
        )
        requested = time.perf_counter() - began
        deadline = began + timeout
        left = count
        while time.perf_counter() < deadline:
            left = len(core.list_namespaced_pod("default", _preload_content=False).read().split(b'"uid"')) - 1
            if not left and not cluster.container_processes():
                break
            time.sleep(0.2)
        gone = time.perf_counter() - began
        profiler.stop()
        _, cpu_delete = _cpu_since(server, cpu2)
        watch_process.kill()
        watch_process.join()
        print(
            f"  delete (deletecollection, gracePeriodSeconds={grace}): answered in {requested:.1f} s, "
            f"all pods and processes gone after {gone:.1f} s; server CPU {cpu_delete}"
            + (f"; {left} pods LEFT" if left else "")
        )
    leftovers = [pid for pid in _leftover_sleeps() if pid not in before]
    print(f"  after stop: {len(leftovers)} 'sleep {SCALE_SLEEP}' processes left")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("which", nargs="?", choices=("scale", "startup", "pods", "all"), default="scale")
    parser.add_argument("--runs", type=int, default=10, help="startup: clusters started and stopped")
    parser.add_argument("--pods", type=int, default=None, help="pods at once (scale: 1000; pods: 200)")
    parser.add_argument(
        "--workload", choices=sorted(WORKLOADS), default=None, help="pods: default both sleep and python"
    )
    parser.add_argument("--window", type=float, default=20.0, help="scale: seconds of steady-state probes")
    parser.add_argument("--creators", type=int, default=2, help="scale: client processes creating pods")
    parser.add_argument("--grace", type=int, default=0, help="scale: gracePeriodSeconds of the delete")
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="scale: give up waiting for Running / deletion"
    )
    parser.add_argument(
        "--py-spy", default=None, metavar="PATH", help="scale: profile the server with this py-spy binary"
    )
    parser.add_argument("--profile-dir", default="/tmp/cluster-bench-profile", help="scale: py-spy output")
    args = parser.parse_args(argv)
    if args.pods is not None and args.pods < 1:
        parser.error("--pods must be at least 1")
    if args.which in ("scale", "all"):
        bench_scale(
            args.pods or 1000,
            window=args.window,
            creators=args.creators,
            grace=args.grace,
            timeout=args.timeout,
            profiler=_Profiler(args.py_spy, args.profile_dir),
        )
    if args.which in ("startup", "all"):
        bench_startup(args.runs)
    if args.which in ("pods", "all"):
        for workload in [args.workload] if args.workload else ["sleep", "python"]:
            bench_pods(args.pods or 200, workload)
    return 0


if __name__ == "__main__":
    sys.exit(main())
