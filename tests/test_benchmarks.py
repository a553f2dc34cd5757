"""benchmarks/run.py at unit level (no cluster, nothing measured): its command line works, and the JSON line
it ends with has exactly the keys issue 12 names, one {"ours", "upstream"} pair each."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"
KEYS = {
    "api_requests_30s",
    "api_requests_30s_sync",
    "completion_latency_s",
    "triggerer_1000",
    "log_lines_per_s",
    "dag_parse_s",
}


def _run_module():
    spec = importlib.util.spec_from_file_location("bench_run", RUN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("bench_run", module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_help_works_and_names_the_quick_run():
    done = subprocess.run([sys.executable, str(RUN), "--help"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "--quick" in done.stdout
    for key in KEYS:
        assert key in done.stdout


def test_bad_arguments_are_refused():
    for bad in (["--figures", "6"], ["--sides", "theirs"]):
        done = subprocess.run([sys.executable, str(RUN), *bad], capture_output=True, text=True, timeout=60)
        assert done.returncode == 2
        assert "unknown" in done.stderr


def test_summary_has_exactly_the_issue_keys_null_when_not_measured():
    run = _run_module()
    assert set(run.SUMMARY_KEYS) == KEYS
    assert run.summary({}) == {key: {"ours": None, "upstream": None} for key in KEYS}


def test_summary_reads_each_figure():
    run = _run_module()
    figures = {
        "requests": {
            side: {"deferrable": {"30": {"total": total}}, "sync": {"30": {"total": total + 1}}}
            for side, total in (("ours", 9), ("upstream", 32))
        },
        "latency": {
            "ours": {"deferrable": {"median": 0.1}, "sync": {"median": 0.15}},
            "upstream": {"deferrable": {"median": 0.5}, "sync": {"median": None}},
        },
        "scale": {"1000": {"ours": {"cpu_s_per_min": 3.3}, "upstream": {"cpu_s_per_min": 50.4}}},
        "log": {"ours": {"lines_per_s": 90000.0}},
        "parse": {"ours": {"dag": {"extra_cpu_s": 0.2}}, "upstream": {"dag": {"extra_cpu_s": 1.1}}},
    }
    assert run.summary(figures) == {
        "api_requests_30s": {"ours": 9, "upstream": 32},
        "api_requests_30s_sync": {"ours": 10, "upstream": 33},
        # The worse of the two modes' medians; a mode not measured leaves it null.
        "completion_latency_s": {"ours": 0.15, "upstream": None},
        "triggerer_1000": {"ours": 3.3, "upstream": 50.4},
        "log_lines_per_s": {"ours": 90000.0, "upstream": None},
        "dag_parse_s": {"ours": 0.2, "upstream": 1.1},
    }
