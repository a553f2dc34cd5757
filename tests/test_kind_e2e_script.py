"""scripts/kind-e2e.sh loads into the kind cluster exactly the images the kind scenarios run.

The script cannot run here (no Docker): this reads both sides. The scenarios are the test functions that
tests/kind/test_kind_scenarios.py imports; their images are in the DAG sources they build (``image="..."``,
``"image": "..."``), in what those functions use from their own module and from ``tests.`` helpers, plus
the XCom sidecar's image when a scenario pushes an XCom.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from airflow_provider_k8spod.pod.xcom import DEFAULT_SIDECAR_IMAGE

ROOT = Path(__file__).parent.parent
SCRIPT = ROOT / "scripts" / "kind-e2e.sh"
SCENARIOS = ROOT / "tests" / "kind" / "test_kind_scenarios.py"

IMAGE = re.compile(r"""\bimage\\?["']?\s*[:=]\s*\\?["']([^"'\\]+)\\?["']""")
# A reference a registry can serve; the scenarios also use an invalid one on purpose.
VALID_REFERENCE = re.compile(r"[a-z0-9][a-z0-9._/-]*(:[\w.-]+)?(@sha256:[0-9a-f]{64})?")


def _module_path(module: str) -> Path:
    return ROOT.joinpath(*module.split(".")).with_suffix(".py")


def _sources_used(module: str, names: set[str], done: set[tuple[str, str]]) -> list[str]:
    """The source of ``names`` in ``module`` and of every top-level name they use, through ``tests.`` imports."""
    source = _module_path(module).read_text()
    tree = ast.parse(source)
    top: dict[str, ast.AST] = {}
    imported: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            top[node.name] = node
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    top[target.id] = node
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
            for alias in node.names:
                imported[alias.asname or alias.name] = (str(node.module), alias.name)
    texts: list[str] = []
    todo = list(names)
    while todo:
        name = todo.pop()
        if (module, name) in done:
            continue
        done.add((module, name))
        if name in top:
            texts.append(ast.get_source_segment(source, top[name]) or "")
            todo += [n.id for n in ast.walk(top[name]) if isinstance(n, ast.Name) and n.id != name]
        elif name in imported:
            other, original = imported[name]
            texts += _sources_used(other, {original}, done)
    return texts


def scenario_images() -> tuple[set[str], set[str]]:
    """(valid image references, invalid ones) that the kind scenarios use."""
    texts: list[str] = []
    done: set[tuple[str, str]] = set()
    for node in ast.parse(SCENARIOS.read_text()).body:
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests."):
            texts += _sources_used(str(node.module), {a.name for a in node.names}, done)
    found = {match for text in texts for match in IMAGE.findall(text)}
    if any("do_xcom_push=True" in text for text in texts):
        found.add(DEFAULT_SIDECAR_IMAGE)
    valid = {image for image in found if VALID_REFERENCE.fullmatch(image)}
    return valid, found - valid


def script_images() -> list[str]:
    """The entries of the script's ``IMAGES=( ... )`` array."""
    body = re.search(r"^IMAGES=\(\n(.*?)^\)", SCRIPT.read_text(), re.MULTILINE | re.DOTALL)
    assert body, "scripts/kind-e2e.sh has no IMAGES=( ... ) array"
    return [
        line.strip() for line in body[1].splitlines() if line.strip() and not line.strip().startswith("#")
    ]


def test_the_script_loads_exactly_the_images_the_kind_scenarios_use() -> None:
    valid, invalid = scenario_images()
    listed = script_images()
    assert len(listed) == len(set(listed))
    assert set(listed) == valid
    assert invalid == {"Not A Valid Image!"}  # test_invalid_image_name_fails_at_once: never pulled


def test_the_parser_follows_module_constants_and_reads_both_spellings() -> None:
    # A resilience test (not a kind scenario) builds its DAG from TWO_THOUSAND_LINES, a constant of its module.
    texts = _sources_used(
        "tests.operators.test_pod_resilience",
        {"test_a_log_stream_cut_every_20_kb_still_delivers_every_line_once"},
        set(),
    )
    assert {image for text in texts for image in IMAGE.findall(text)} == {"busybox:1.36"}
    spelled = 'image="busybox:1.36", init_containers=[{"name": "m", "image": "python:3.11"}]'
    assert IMAGE.findall(spelled) == ["busybox:1.36", "python:3.11"]


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_script_is_shellcheck_clean() -> None:
    subprocess.run(["bash", "-n", str(SCRIPT)], check=True)
    proc = subprocess.run(["shellcheck", str(SCRIPT)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout
