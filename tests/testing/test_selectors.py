from __future__ import annotations

import pytest

from airflow_provider_k8spod.testing.apiserver.selectors import (
    SelectorError,
    parse_field_selector,
    parse_label_selector,
    pod_fields,
    selector_from_match,
    supported_fields,
)

LABELS = {"app": "web", "tier": "front", "version": "3"}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("", True),
        ("app=web", True),
        ("app==web", True),
        ("app=db", False),
        ("app!=db", True),
        ("app!=web", False),
        ("missing!=x", True),
        ("app in (web, db)", True),
        ("app in (db)", False),
        ("app notin (db,cache)", True),
        ("app notin (web)", False),
        ("missing notin (web)", True),
        ("tier", True),
        ("missing", False),
        ("!missing", True),
        ("!tier", False),
        ("app=web,tier=front", True),
        ("app=web,tier=back", False),
        ("app in (web),!missing,tier", True),
        ("version>2", True),
        ("version<2", False),
    ],
)
def test_label_selector(selector: str, matches: bool) -> None:
    assert parse_label_selector(selector).matches(LABELS) is matches


@pytest.mark.parametrize("selector", ["app in (", "bad key!=x", "app=bad value!", ",", "a=b,,c=d", "x>y"])
def test_bad_label_selectors(selector: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(selector)


def test_structured_selector() -> None:
    selector = selector_from_match(
        {
            "matchLabels": {"app": "web"},
            "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front"]}],
        }
    )
    assert selector.matches(LABELS)
    assert not selector.matches({"app": "web"})


POD = {
    "metadata": {"name": "p1", "namespace": "ns"},
    "spec": {"nodeName": "n1"},
    "status": {"phase": "Running"},
}


@pytest.mark.parametrize(
    ("selector", "matches"),
    [
        ("metadata.name=p1", True),
        ("metadata.name==p1", True),
        ("metadata.name=p2", False),
        ("metadata.namespace=ns,status.phase=Running", True),
        ("status.phase!=Running", False),
        ("status.phase!=Succeeded", True),
        ("spec.nodeName=n1", True),
    ],
)
def test_pod_field_selector(selector: str, matches: bool) -> None:
    parsed = parse_field_selector(selector, supported_fields("pods"))
    assert parsed.matches(pod_fields(POD)) is matches


def test_unsupported_field() -> None:
    with pytest.raises(SelectorError, match=r"field label not supported: spec\.foo"):
        parse_field_selector("spec.foo=x", supported_fields("pods"))


def test_event_fields_are_supported() -> None:
    fields = supported_fields("events")
    assert {
        "involvedObject.name",
        "involvedObject.namespace",
        "involvedObject.uid",
        "reason",
        "type",
    } <= fields
