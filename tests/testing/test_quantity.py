"""Quantities as the API server serializes them: a table of inputs and the text a real API server
writes back, each taken from k8s.io/apimachinery/pkg/api/resource (quantity.go's doc comment,
quantity_test.go's tables) or from the Kubernetes documentation, cited per row."""

from __future__ import annotations

import copy
import json

import pytest

from airflow_provider_k8spod.testing.apiserver import quantity
from airflow_provider_k8spod.testing.apiserver.quantity import ERR_FORMAT, ERR_SUFFIX, QuantityError

PARSE_EMIT = "quantity_test.go TestQuantityParseEmit"
STRING = "quantity_test.go TestQuantityString"  # canonical forms parse and keep their text
ALTERNATE = "quantity_test.go TestQuantityString (alternate)"  # alternates serialize as the canonical
PARSE_QUANTITY = "quantity_test.go TestParseQuantity"
PARSE = "quantity_test.go TestQuantityParse"  # expected decQuantity, serialized by CanonicalizeBytes
WHITESPACE = "quantity_test.go TestJSONWhitespace"
DOC = "quantity.go Quantity doc comment"
ISSUE = "kubernetes issue #11 probes (values a real API server returned)"

CANONICAL = [
    # (input, what the API server writes back, source)
    ("1Ki", "1Ki", PARSE_EMIT),
    ("1Mi", "1Mi", PARSE_EMIT),
    ("1Gi", "1Gi", PARSE_EMIT),
    ("1024Mi", "1Gi", PARSE_EMIT),
    ("1000M", "1G", PARSE_EMIT),
    (".001Ki", "1024m", PARSE_EMIT),
    (".000001Ki", "1024u", PARSE_EMIT),
    (".000000001Ki", "1024n", PARSE_EMIT),
    (".000000000001Ki", "2n", PARSE_EMIT),
    ("-1024Mi", "-1Gi", PARSE_EMIT),
    ("307200Ki", "300Mi", ALTERNATE),
    ("1025024Mi", "1001Gi", ALTERNATE),
    ("1024Gi", "1Ti", ALTERNATE),
    ("5000m", "5", ALTERNATE),
    ("0.5", "500m", ALTERNATE),
    ("0.001T", "1G", ALTERNATE),
    ("1000u", "1m", ALTERNATE),
    ("1.08", "1080m", ALTERNATE),
    ("1080000000n", "1080m", ALTERNATE),
    (".001e12", "1e9", ALTERNATE),
    ("0.001e0", "1e-3", ALTERNATE),
    ("1000e-12", "1e-9", ALTERNATE),
    ("00", "0", ALTERNATE),
    ("6Ki", "6Ki", STRING),
    ("1001Gi", "1001Gi", STRING),
    ("500m", "500m", STRING),
    ("80m", "80m", STRING),
    ("1234567M", "1234567M", STRING),
    ("1025", "1025", STRING),
    ("80e-3", "80e-3", STRING),
    ("300e6", "300e6", STRING),
    ("1e3", "1e3", STRING),
    ("1080n", "1080n", STRING),
    ("80u", "80u", STRING),
    ("0", "0", STRING),
    ("999999999999999999.1", "999999999999999999100m", PARSE_QUANTITY),
    ("1000000000000000000", "1E", PARSE_QUANTITY),
    ("1.0E", "1E", PARSE_QUANTITY),
    ("-1.0E", "-1E", PARSE_QUANTITY),
    ("9999999999999999999000m", "9999999999999999999", PARSE_QUANTITY),
    ("10000000000000000000", "10E", PARSE_QUANTITY),
    ("10E", "10E", PARSE_QUANTITY),
    ("9223372036854775807.1", "9223372036854775807100m", PARSE_QUANTITY),
    ("9Ei", "9223372036854775807", PARSE),  # binary values are capped at 2^63-1
    ("9223372036854775807Ki", "9223372036854775807", PARSE),
    ("3.001n", "4n", PARSE),  # rounded up to the nanounit
    ("0.0000000005", "1n", PARSE),
    ("0.00000012345", "124n", PARSE),
    ("1.1E-9", "2e-9", PARSE),
    ("100.035Ki", "102435840m", PARSE),  # fractional binary: written as decimal, nothing lost
    ("0.05Gi", "53687091200m", PARSE),
    ("0.5Mi", "512Ki", PARSE),
    ("12E", "12E", PARSE),
    ("8.1k", "8100", PARSE),
    ("1.3E+6", "1300e3", PARSE),
    ("0.5e-1", "50e-3", PARSE),
    ("1.5", "1500m", DOC),
    ("1.5Gi", "1536Mi", DOC),
    ("0.1", "100m", ISSUE),
    ("1000m", "1", ISSUE),
    ("100000k", "100M", ISSUE),
    ("12e6", "12e6", ISSUE),
]


@pytest.mark.parametrize(("text", "expected", "source"), CANONICAL, ids=[row[0] for row in CANONICAL])
def test_serialized_as_the_api_server_does(text: str, expected: str, source: str) -> None:
    assert quantity.serialize(text) == expected, source


def test_the_table_is_large_enough() -> None:
    assert len(CANONICAL) >= 40


JSON_VALUES = [
    # (JSON text of the value, serialized, source)
    ('" 1"', "1", WHITESPACE),
    ('"1 "', "1", WHITESPACE),
    ("1", "1", WHITESPACE),
    ("-1", "-1", WHITESPACE),
    ("10", "10", WHITESPACE),
    ("0.25", "250m", ISSUE),
    ("1000", "1k", ISSUE),
    ("1e3", "1e3", STRING),  # a bare JSON number is parsed from its text, as Go does
    ("null", "0", "quantity.go UnmarshalJSON: null is the zero quantity"),
]


@pytest.mark.parametrize(("raw", "expected", "source"), JSON_VALUES, ids=[row[0] for row in JSON_VALUES])
def test_json_values(raw: str, expected: str, source: str) -> None:
    value = json.loads(raw, parse_float=quantity.JSONNumber)
    assert quantity.serialize(value) == expected, source


INVALID = [
    # quantity_test.go TestQuantityParse "invalid" list, with the error ParseQuantity returns
    ("1.1.M", ERR_FORMAT),
    ("1+1.0M", ERR_FORMAT),
    ("0.1mi", ERR_SUFFIX),
    ("0.1am", ERR_FORMAT),
    ("aoeu", ERR_FORMAT),
    (".5i", ERR_SUFFIX),
    ("1i", ERR_SUFFIX),
    ("-3.01i", ERR_SUFFIX),
    ("-3.01e-", ERR_SUFFIX),
    (" 1", ERR_FORMAT),
    ("1 ", ERR_FORMAT),
    ("", ERR_FORMAT),
    ("32MMi", ERR_SUFFIX),
    ("25%", ERR_FORMAT),
]


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[repr(row[0]) for row in INVALID])
def test_invalid(text: str, message: str) -> None:
    with pytest.raises(QuantityError) as info:
        quantity.parse(text)
    assert str(info.value) == message


def test_error_messages_are_the_api_servers() -> None:
    assert ERR_FORMAT == (
        "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'"
    )
    assert ERR_SUFFIX == "unable to parse quantity's suffix"
    with pytest.raises(QuantityError, match="regular expression"):
        quantity.from_json(True)
    with pytest.raises(QuantityError, match="regular expression"):
        quantity.from_json({"number": 4})


def test_huge_exponents_stay_cheap_and_compare() -> None:
    assert quantity.serialize("1e1000000") == "10e999999"
    assert quantity.serialize("1e-1000000") == "1e-9"
    assert quantity.parse("1e1000000").compare(quantity.parse("9Ei")) == 1
    assert quantity.parse("1500m").compare(quantity.parse("1.5")) == 0
    assert quantity.parse("-1").compare(quantity.parse("1m")) == -1


def test_json_number_survives_copies() -> None:
    number = json.loads("1.500", parse_float=quantity.JSONNumber)
    assert copy.deepcopy(number).text == "1.500"
    assert json.dumps({"a": number}) == '{"a": 1.5}'


def test_canonicalize_pod_fields() -> None:
    pod = {
        "spec": {
            "containers": [
                {
                    "name": "a",
                    "resources": {"limits": {"cpu": 0.25, "memory": "1024Mi"}, "requests": None},
                    "env": [{"name": "X", "valueFrom": {"resourceFieldRef": {"resource": "limits.cpu"}}}],
                }
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": None}}}],
            "overhead": {"memory": "1.5Gi"},
            "volumes": [
                {"name": "e", "emptyDir": {"sizeLimit": "1000Mi"}},
                {"name": "n", "emptyDir": {"sizeLimit": None}},
            ],
        }
    }
    quantity.canonicalize("pods", pod)
    spec = pod["spec"]
    assert spec["containers"][0]["resources"] == {"limits": {"cpu": "250m", "memory": "1Gi"}}
    assert spec["containers"][0]["env"][0]["valueFrom"]["resourceFieldRef"]["divisor"] == "0"
    assert spec["initContainers"][0]["resources"] == {"requests": {"cpu": "0"}}
    assert spec["overhead"] == {"memory": "1536Mi"}
    assert spec["volumes"][0]["emptyDir"] == {"sizeLimit": "1000Mi"}
    assert spec["volumes"][1]["emptyDir"] == {}
    node = {"status": {"capacity": {"cpu": "2000m", "memory": "8192Mi"}}}
    quantity.canonicalize("nodes", node)
    assert node["status"]["capacity"] == {"cpu": "2", "memory": "8Gi"}
