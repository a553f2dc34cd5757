"""The guides in docs/ cannot drift from the code: no cluster, no Airflow run, only reading.

- docs/operator.md documents every argument of the operator's signature, and nothing else as one;
- every message docs/troubleshooting.md quotes in a ``log`` block still occurs in the package's source,
  and every failure reason the pod classification (``pod/status.py``) produces has an entry there;
- every example DAG is linked from a guide, README links every guide, and every relative link (and its
  ``#anchor``) in README and the guides leads somewhere.
"""

from __future__ import annotations

import ast
import bisect
import inspect
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

import airflow_provider_k8spod
from airflow_provider_k8spod.operators.pod import KubernetesPodOperator
from airflow_provider_k8spod.pod import status
from tests.pod.pods import PODS_DIR

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PACKAGE = Path(airflow_provider_k8spod.__file__).parent
TROUBLESHOOTING = DOCS / "troubleshooting.md"


def _section(text: str, heading: str) -> str:
    """The text of the ``## heading`` section (up to the next ``## ``)."""
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else None]


# -- the operator's arguments ------------------------------------------------------------------------------


def test_every_operator_argument_is_documented():
    signature = inspect.signature(KubernetesPodOperator.__init__)
    arguments = {
        name
        for name, parameter in signature.parameters.items()
        if name != "self" and parameter.kind is not inspect.Parameter.VAR_KEYWORD
    }
    section = _section((DOCS / "operator.md").read_text(), "Arguments")
    rows = dict(re.findall(r"^\| `(\w+)` \|(.*)$", section, re.M))
    documented = re.findall(r"^\| `(\w+)` \|", section, re.M)
    assert len(documented) == len(set(documented)), "an argument is documented twice"
    assert not arguments - set(documented), f"not in docs/operator.md: {sorted(arguments - set(documented))}"
    assert not set(documented) - arguments, f"not arguments: {sorted(set(documented) - arguments)}"
    templated = {name for name, row in rows.items() if "Templated" in row}
    assert templated == set(KubernetesPodOperator.template_fields), (
        "the rows that say 'Templated' are not the template fields"
    )


# -- the connection form ----------------------------------------------------------------------------------


def test_connection_guide_shows_the_form_as_the_provider_declares_it():
    from airflow_provider_k8spod._provider_info import provider_info
    from airflow_provider_k8spod.hooks.fields import EXTRA_FIELDS

    section = (DOCS / "connection.md").read_text()
    section = section[section.index("### The form in the Airflow UI") :]
    (connection_type,) = provider_info()["connection-types"]
    rows = [(label, f"extra `{name}`") for name, (_, label, _) in EXTRA_FIELDS.items()]
    rows += [
        (label, f"`{field}`") for field, label in connection_type["ui-field-behaviour"]["relabeling"].items()
    ]
    missing = [row for row in rows if f"| {row[0]} | {row[1]} |" not in section]
    assert not missing, f"docs/connection.md's form table lacks {missing}"
    assert connection_type["hook-name"] in section


# -- troubleshooting: quoted messages ---------------------------------------------------------------------

HOLE = "\x00"
_PRINTF = re.compile(r"%[-#0 +]*\d*(?:\.\d+)?[sdrfgi]")
# A placeholder, with the quotes around it that a !r conversion adds.
_PLACEHOLDER = re.compile(r"""(['"]?)<[^<>\n]+>\1""")


def _pieces_of(node: ast.AST) -> list[str] | None:
    """The literal text of a string expression, split where a value is filled in (None: not a string)."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return _PRINTF.sub(HOLE, node.value).split(HOLE)
    if isinstance(node, ast.JoinedStr):
        text = "".join(v.value if isinstance(v, ast.Constant) else HOLE for v in node.values)
        return text.split(HOLE)
    return None


@cache
def _source_pieces() -> tuple[frozenset[str], list[str], list[str]]:
    """Every piece of literal text in the package's strings (the local cluster's aside), sorted, and
    sorted reversed (to find prefixes and suffixes of pieces by bisection)."""
    whole: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        if "testing" in path.relative_to(PACKAGE).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            pieces = _pieces_of(node)
            if pieces:
                whole.update(p for p in pieces if p)
    return frozenset(whole), sorted(whole), sorted(p[::-1] for p in whole)


def _starts_one(ordered: list[str], text: str) -> bool:
    at = bisect.bisect_left(ordered, text)
    return at < len(ordered) and ordered[at].startswith(text)


def _in_source(fragment: str) -> bool:
    """``fragment`` (literal text between two placeholders of a quoted message) is what the source writes:
    inside one piece, or the end of one piece, whole pieces filled in as values, then the start of another."""
    whole, ordered, reversed_ = _source_pieces()
    if any(fragment in piece for piece in ordered):
        return True
    # reach[i]: fragment[:i] is the end of a piece followed by whole pieces.
    reach = [False] * (len(fragment) + 1)
    for i in range(1, len(fragment)):
        reach[i] = _starts_one(reversed_, fragment[:i][::-1])
    for i in range(1, len(fragment)):
        if not reach[i]:
            continue
        if _starts_one(ordered, fragment[i:]):
            return True
        for j in range(i + 1, len(fragment)):
            if not reach[j] and fragment[i:j] in whole:
                reach[j] = True
    return False


def _quoted_messages() -> list[str]:
    text = TROUBLESHOOTING.read_text()
    blocks = re.findall(r"^```log\n(.*?)^```", text, re.S | re.M)
    return [line for block in blocks for line in block.splitlines() if line.strip()]


def _exception_names() -> set[str]:
    import airflow.sdk.exceptions

    from airflow_provider_k8spod import exceptions

    return {
        name
        for module in (exceptions, airflow.sdk.exceptions)
        for name, value in vars(module).items()
        if isinstance(value, type) and issubclass(value, BaseException)
    }


def test_troubleshooting_quotes_messages_the_source_still_writes():
    messages = _quoted_messages()
    assert len(messages) >= 40
    known_exceptions = _exception_names()
    wrong = []
    for message in messages:
        line = message.strip()
        cls, sep, rest = line.partition(": ")
        if sep and re.fullmatch(r"[A-Z]\w+", cls):
            assert cls in known_exceptions, f"{cls} is not an exception of the provider or Airflow: {message}"
            line = rest
        fragments = [f for f in _PLACEHOLDER.split(line)[::2] if f]
        assert sum(len(f.strip()) for f in fragments) >= 8, f"too little to check in {message!r}"
        missing = [f for f in fragments if not _in_source(f)]
        if missing:
            wrong.append(f"{message}\n    not in the source: {missing}")
    assert not wrong, "docs/troubleshooting.md quotes messages the package no longer writes:\n" + "\n".join(
        wrong
    )


def test_the_source_check_catches_a_reworded_message():
    assert _in_source("the pod was not scheduled within ")
    assert _in_source("s of the pod being scheduled; waiting: ")  # two pieces, one after the other
    assert not _in_source("the pod could not be scheduled within ")
    assert not _in_source("s of the pod being placed; waiting: ")


# -- troubleshooting: every failure reason ---------------------------------------------------------------


def _entries() -> set[str]:
    """The reasons named in the guide's headings (in backticks)."""
    headings = re.findall(r"^#{2,4} (.*)$", TROUBLESHOOTING.read_text(), re.M)
    return {word for heading in headings for word in re.findall(r"`([^`]+)`", heading)}


def _reasons_in_source() -> set[str]:
    """Failure reasons the classification writes: waiting reasons that fail a start, the reasons of failed
    start-up decisions, ``reason=`` of failure records, and the container and pod reasons it singles out."""
    found = {
        reason for reason, kind in status.WAITING_REASONS.items() if kind is not status.WaitingClass.NORMAL
    }
    for module in ("pod/status.py", "pod/lifecycle.py"):
        for node in ast.walk(ast.parse((PACKAGE / module).read_text())):
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", None)
                if name == "StartupDecision" and len(node.args) > 1:
                    first, second = node.args[0], node.args[1]
                    if (
                        isinstance(first, ast.Constant)
                        and first.value == "failed"
                        and isinstance(second, ast.Constant)
                    ):
                        found.add(second.value)
                found.update(
                    k.value.value
                    for k in node.keywords
                    if k.arg == "reason" and isinstance(k.value, ast.Constant) and k.value.value
                )
            if isinstance(node, ast.Compare) and getattr(node.left, "id", "") in ("reason", "pod_reason"):
                found.update(
                    c.value
                    for c in node.comparators
                    if isinstance(c, ast.Constant) and isinstance(c.value, str)
                )
    return found


def _corpus() -> list[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    """(name, main container, pod, events) of every pod snapshot: captured, and from real clusters."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    found = []
    for path in sorted(PODS_DIR.glob("*.yaml")) + sorted((PODS_DIR / "real").glob("*.yaml")):
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        if path.parent.name == "real":
            main = next(real for real, ours in (data.get("containers") or {}).items() if ours == "base")
        else:
            main = data.get("main") or "base"
        found.append((path.name, str(main), data["pod"], list(data.get("events") or [])))
    return found


def _quoted_patterns() -> list[re.Pattern[str]]:
    """Each quoted message as a regex: placeholders match anything; an exception class prefix is dropped."""
    patterns = []
    for message in _quoted_messages():
        line = re.sub(r"^[A-Z]\w+: ", "", message.strip())
        parts = _PLACEHOLDER.split(line)
        regex = "".join(re.escape(p) if i % 2 == 0 else ".+?" for i, p in enumerate(parts))
        patterns.append(re.compile(regex, re.S))
    return patterns


def test_troubleshooting_quotes_what_the_verdicts_on_the_pod_corpus_say():
    """Every failure the classification reports on a pod of the corpus (captured from the local cluster and
    published by real clusters) reads as one of the guide's messages: failed starts as the task's error
    says them, failed runs as the verdict's summary."""
    patterns = _quoted_patterns()
    unquoted, failures = [], 0
    for name, main, pod, events in _corpus():
        tracker = status.StartupTracker(main, schedule_timeout=1, startup_timeout=1, config_error_grace=1)
        tracker.observe(pod, 0.0)
        decision = tracker.observe(pod, 100.0)
        texts = []
        if decision.kind == "failed":
            texts.append(f"Pod ns/pod did not start: {decision.reason}: {decision.message}")
        elif status.main_container_done(pod, main):
            verdict = status.decide(pod, main=main, events=events)
            if verdict.outcome is status.Outcome.FAILURE:
                texts.append(verdict.summary)
        for text in texts:
            failures += 1
            if not any(p.fullmatch(text) for p in patterns):
                unquoted.append(f"{name}: {text}")
    assert failures >= 15
    assert not unquoted, "failures docs/troubleshooting.md does not quote:\n" + "\n".join(unquoted)


# -- links --------------------------------------------------------------------------------------------------

GUIDES = sorted(DOCS.glob("*.md"))
_LINK = re.compile(r"\]\(([^)\s]+)\)")


def test_every_example_dag_is_linked_from_a_guide():
    linked = {
        (path.parent / target.split("#")[0]).resolve()
        for path in GUIDES
        for target in _LINK.findall(path.read_text())
        if "example_dags/" in target
    }
    examples = sorted((ROOT / "example_dags").glob("example_*.py"))
    assert examples
    assert not [e.name for e in examples if e.resolve() not in linked], "example DAGs no guide links"


def test_readme_links_every_guide_in_its_guides_section():
    section = _section((ROOT / "README.md").read_text(), "Guides")
    linked = {(ROOT / target.split("#")[0]).resolve() for target in _LINK.findall(section)}
    assert not [g.name for g in GUIDES if g.resolve() not in linked], "guides the README does not link"


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


@pytest.mark.parametrize("path", [ROOT / "README.md", *GUIDES], ids=lambda p: p.name)
def test_relative_links_lead_somewhere(path):
    text = path.read_text()
    broken = []
    for target in _LINK.findall(text):
        if re.match(r"[a-z]+:", target):
            continue
        file, _, anchor = target.partition("#")
        where = (path.parent / file).resolve() if file else path
        if not where.exists():
            broken.append(target)
        elif anchor and where.suffix == ".md":
            headings = re.findall(r"^#+ (.*)$", re.sub(r"```.*?```", "", where.read_text(), flags=re.S), re.M)
            if anchor not in {_slug(h) for h in headings}:
                broken.append(target)
    assert not broken, f"{path.name}: broken links {broken}"
