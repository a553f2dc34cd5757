"""Every code block of the guides that is meant to run does run, as written.

A runnable block is a ``python`` fence right after an HTML comment ``<!-- runs -->`` (or
``<!-- runs: dag NAME.py -->`` for a DAG file, written into the dags folder, and ``<!-- runs: pytest -->``
for a test function, called with the local cluster fixture). Fragments (``...`` arguments, a line of a
larger file) carry no marker. Blocks run against a fresh local cluster whose connection is
``kubernetes_default``, in a namespace of their own.
"""

from __future__ import annotations

import os
import re
import textwrap
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
_BLOCK = re.compile(r"<!-- runs(?::\s*(?P<how>[^>]*?))?\s*-->\s*\n```python\n(?P<code>.*?)\n```", re.S)


def _blocks() -> list[tuple[str, str, str]]:
    found = []
    for path in sorted(DOCS.glob("*.md")):
        for number, match in enumerate(_BLOCK.finditer(path.read_text()), 1):
            found.append((f"{path.name}#{number}", (match["how"] or "").strip(), match["code"]))
    return found


BLOCKS = _blocks()


def test_the_guides_have_runnable_blocks():
    assert {name.split("#")[0] for name, _, _ in BLOCKS} >= {"testing.md", "pod-spec.md", "connection.md"}


@pytest.mark.parametrize(("name", "how", "code"), BLOCKS, ids=[b[0] for b in BLOCKS])
def test_block_runs(name, how, code, local_cluster_connection, airflow_db, capsys):
    dags = Path(os.environ["AIRFLOW__CORE__DAGS_FOLDER"])
    written = []
    try:
        if how.startswith("dag "):
            target = dags / how.split()[1]
            target.write_text(textwrap.dedent(code))
            written.append(target)
            namespace: dict[str, object] = {"__name__": f"doc_block_{target.stem}"}
            exec(compile(code, name, "exec"), namespace)
        elif how == "pytest":
            # The DAG a test block uses is the block before it, in the same guide.
            previous = BLOCKS[BLOCKS.index((name, how, code)) - 1]
            assert previous[1].startswith("dag "), f"{name}: a pytest block follows its DAG block"
            target = dags / previous[1].split()[1]
            target.write_text(textwrap.dedent(previous[2]))
            written.append(target)
            namespace = {"__name__": "doc_block_test"}
            exec(compile(code, name, "exec"), namespace)
            tests = [v for k, v in namespace.items() if k.startswith("test_") and callable(v)]
            assert tests, f"{name}: no test function"
            for test in tests:
                test(local_cluster_connection)
        else:
            namespace = {"__name__": "doc_block", "cluster": local_cluster_connection}
            exec(compile(code, name, "exec"), namespace)
    finally:
        for path in written:
            path.unlink(missing_ok=True)
