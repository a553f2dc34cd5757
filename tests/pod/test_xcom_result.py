"""Reading the XCom result (airflow_provider_k8spod.pod.xcom.parse_xcom_result): the outcome of the exec of
XCOM_READ_COMMAND in the sidecar (stdout, exit code, stderr) -> the value, NO_RESULT, or a clear error."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from airflow_provider_k8spod.exceptions import (
    ApiUnavailableError,
    ExecInterruptedError,
    ExecOutputTooLargeError,
    ForbiddenError,
    KubernetesApiError,
    NotFoundError,
    XComResultError,
)
from airflow_provider_k8spod.pod.xcom import (
    NO_FILE_EXIT_CODE,
    NO_RESULT,
    XCOM_READ_COMMAND,
    check_multiple_outputs,
    parse_xcom_result,
    read_failure,
)


@pytest.mark.parametrize(
    ("stdout", "value"),
    [
        (b'{"rows": 42}\n', {"rows": 42}),
        (b'{"a": {"b": [1, 2, {"c": null}]}}', {"a": {"b": [1, 2, {"c": None}]}}),
        (b"[1, 2, 3]", [1, 2, 3]),
        (b'"hello"', "hello"),
        (b"42", 42),
        (b"3.5", 3.5),
        (b"true", True),
        (b"false", False),
        (b"null", None),  # the main container returned None on purpose: a value, not NO_RESULT
        ('{"name": "Zoë ✓ 日本"}'.encode(), {"name": "Zoë ✓ 日本"}),
        (b'  \n {"padded": 1} \n\n', {"padded": 1}),
    ],
)
def test_the_result_is_the_json_value(stdout: bytes, value: Any) -> None:
    assert parse_xcom_result(stdout, 0) == value


def test_a_large_result() -> None:
    value = {"rows": [{"id": i, "name": f"row {i}"} for i in range(20_000)]}
    stdout = json.dumps(value).encode()
    assert len(stdout) > 500_000
    assert parse_xcom_result(stdout, 0) == value


@pytest.mark.parametrize(
    ("stdout", "exit_code", "stderr"),
    [
        (b"", NO_FILE_EXIT_CODE, b""),  # the main container wrote no file
        (b"ignored", NO_FILE_EXIT_CODE, b"ignored too"),
        (b"", 0, b""),  # an empty file
        (b" \n\t\n", 0, b""),
    ],
)
def test_no_file_or_an_empty_one_is_no_result(stdout: bytes, exit_code: int, stderr: bytes) -> None:
    assert parse_xcom_result(stdout, exit_code, stderr=stderr) is NO_RESULT
    assert repr(NO_RESULT) == "NO_RESULT"


def test_the_read_command_exits_66_without_a_file() -> None:
    script = XCOM_READ_COMMAND[-1]
    assert XCOM_READ_COMMAND[:2] == ["sh", "-c"]
    assert "/airflow/xcom/return.json" in script
    assert f"exit {NO_FILE_EXIT_CODE}" in script


@pytest.mark.parametrize(
    ("exit_code", "stderr", "message"),
    [
        (
            1,
            b"cat: can't open '/airflow/xcom/return.json': Permission denied\n",
            "reading /airflow/xcom/return.json in the airflow-xcom-sidecar container failed (exit code 1): "
            "cat: can't open '/airflow/xcom/return.json': Permission denied",
        ),
        (
            137,
            b"",
            "reading /airflow/xcom/return.json in the airflow-xcom-sidecar container failed (exit code 137)",
        ),
    ],
)
def test_a_failed_read_says_so(exit_code: int, stderr: bytes, message: str) -> None:
    with pytest.raises(XComResultError) as caught:
        parse_xcom_result(b'{"partial": ', exit_code, stderr=stderr)
    assert str(caught.value) == message


def test_a_failed_read_keeps_the_end_of_a_long_stderr() -> None:
    stderr = ("noise " * 200 + "the real reason").encode()
    with pytest.raises(XComResultError) as caught:
        parse_xcom_result(b"", 2, stderr=stderr)
    text = str(caught.value)
    assert text.endswith("the real reason")
    assert len(text) < 420


def test_an_unknown_exit_status_is_an_error_not_a_value() -> None:
    with pytest.raises(XComResultError, match=r"failed \(exit code None\)"):
        parse_xcom_result(b'{"a": 1}', None)


@pytest.mark.parametrize(
    ("stdout", "message"),
    [
        (
            b"hello",
            "/airflow/xcom/return.json is not valid JSON: Expecting value at line 1 column 1 (position 0), near "
            "'hello'. Write the result with json.dump, e.g. '\"hello\"' rather than 'hello'",
        ),
        (
            b'{"a": 1,}',
            "/airflow/xcom/return.json is not valid JSON: Expecting property name enclosed in double quotes at "
            "line 1 column 9 (position 8), near '{\"a\": 1,}'.",
        ),
        (
            b"{'a': 1}",  # a Python repr instead of JSON
            "/airflow/xcom/return.json is not valid JSON: Expecting property name enclosed in double quotes at "
            "line 1 column 2 (position 1), near \"{'a': 1}\".",
        ),
        (
            b'{\n  "a": 1\n  "b": 2\n}\n',
            "/airflow/xcom/return.json is not valid JSON: Expecting ',' delimiter at line 3 column 3 "
            '(position 13), near \'{\\\\n  "a": 1\\\\n  "b": 2\\\\n}\\\\n\'.',
        ),
        (
            b'{"a": 1}\n{"b": 2}\n',  # two results appended
            "/airflow/xcom/return.json is not valid JSON: Extra data at line 2 column 1 (position 9), near "
            '\'{"a": 1}\\\\n{"b": 2}\\\\n\'.',
        ),
    ],
)
def test_invalid_json_names_the_file_and_the_first_bad_position(stdout: bytes, message: str) -> None:
    with pytest.raises(XComResultError) as caught:
        parse_xcom_result(stdout, 0)
    assert str(caught.value).startswith(message)


def test_the_excerpt_of_a_large_invalid_file_is_around_the_bad_position() -> None:
    good = json.dumps({"rows": list(range(2000))})
    stdout = (good[:-1] + ", oops}").encode()
    position = len(good) + 1
    with pytest.raises(XComResultError) as caught:
        parse_xcom_result(stdout, 0)
    text = str(caught.value)
    assert f"(position {position})" in text
    near = text.split("near ", 1)[1].split(". Write", 1)[0]
    assert "oops" in near
    assert len(near) <= 42  # 20 characters either side, quoted


def test_a_result_that_is_not_utf8_names_the_byte() -> None:
    with pytest.raises(XComResultError) as caught:
        parse_xcom_result(b'{"a": "\xff"}', 0)
    assert str(caught.value) == (
        "/airflow/xcom/return.json is not UTF-8 text (invalid byte at position 7); write the result as JSON"
    )


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(value=json_values, indent=st.sampled_from([None, 2]), ensure_ascii=st.booleans())
def test_any_json_written_with_json_dump_reads_back(
    value: Any, indent: int | None, ensure_ascii: bool
) -> None:
    stdout = json.dumps(value, indent=indent, ensure_ascii=ensure_ascii).encode()
    assert parse_xcom_result(stdout + b"\n", 0) == value


@pytest.mark.parametrize(
    ("stdout", "named"),
    [
        (b"NaN", "contains NaN, which is not a JSON value"),
        (b'{"ratio": NaN}', "contains NaN, which is not a JSON value"),
        (b'{"max": Infinity}', "contains Infinity, which is not a JSON value"),
        (b"[1, -Infinity]", "contains -Infinity, which is not a JSON value"),
        (b'{"big": 1e999}', "contains the number 1e999, which is out of the range of a float"),
        (b"-1E400", "contains the number -1E400, which is out of the range of a float"),
    ],
)
def test_nan_and_infinity_are_rejected_naming_the_file_and_value(stdout: bytes, named: str) -> None:
    # Python's json module reads them, but Airflow's XCom push then fails with "Out of range float values
    # are not JSON compliant", after the pod is gone: say so while parsing.
    with pytest.raises(XComResultError) as caught:
        parse_xcom_result(stdout, 0)
    assert str(caught.value).startswith(f"/airflow/xcom/return.json {named}")
    assert "allow_nan=False" in str(caught.value)


@pytest.mark.parametrize(
    ("stdout", "value"),
    [
        (b'"NaN"', "NaN"),  # a string is fine
        (b'{"Infinity": 1.5e308}', {"Infinity": 1.5e308}),
        (b"-0.0", -0.0),
        (b"1e-400", 0.0),  # underflow is a finite float
    ],
)
def test_finite_numbers_and_strings_that_look_like_nan_are_values(stdout: bytes, value: Any) -> None:
    assert parse_xcom_result(stdout, 0) == value


@pytest.mark.parametrize(
    ("value", "multiple_outputs"),
    [
        ({"rows": 3, "path": "s3://x"}, True),
        ({}, True),
        (None, True),  # no file, or null: nothing to push, as Airflow does
        (NO_RESULT, True),
        ([1, 2], False),  # without multiple_outputs any JSON value is a result
        ("text", False),
    ],
)
def test_multiple_outputs_accepts_an_object(value: Any, multiple_outputs: bool) -> None:
    check_multiple_outputs(value, multiple_outputs=multiple_outputs)


@pytest.mark.parametrize(
    ("value", "holds"),
    [
        ([1, 2], "a JSON array: [1, 2]"),
        ("done", "a JSON string: 'done'"),
        (42, "a JSON number: 42"),
        (1.5, "a JSON number: 1.5"),
        (True, "a JSON boolean: True"),
        (list(range(100)), "a JSON array: " + repr(list(range(100)))[:77] + "..."),
    ],
)
def test_multiple_outputs_with_anything_but_an_object_says_what_it_got(value: Any, holds: str) -> None:
    with pytest.raises(XComResultError) as caught:
        check_multiple_outputs(value, multiple_outputs=True)
    assert str(caught.value) == (
        "multiple_outputs=True needs /airflow/xcom/return.json to hold a JSON object, e.g. "
        '{"rows": 3, "path": "s3://..."} (each key becomes an XCom); it holds ' + holds
    )


# -- reading the result: which failures are worth another read, and how each is worded -------------------


@pytest.mark.parametrize(
    ("error", "again", "wording"),
    [
        (
            ExecOutputTooLargeError("exec in pod x: output is larger"),
            False,
            "is larger than the limit of 100 bytes",
        ),
        (ExecInterruptedError("exec in pod x: the stream ended"), True, "was cut before the read finished"),
        (
            ApiUnavailableError("cannot reach the API server"),
            True,
            "the connection was cut or the API unavailable",
        ),
        (KubernetesApiError("503", status=503), True, "the connection was cut or the API unavailable"),
        (ForbiddenError("403 Forbidden", status=403), False, "reading the XCom result failed: 403 Forbidden"),
        (NotFoundError("404 NotFound", status=404), False, "reading the XCom result failed: 404 NotFound"),
    ],
)
def test_read_failure(error: Exception, again: bool, wording: str) -> None:
    retry, message = read_failure(error, max_size=100)
    assert retry is again
    assert wording in message
    if not isinstance(error, ExecOutputTooLargeError):
        assert "larger than the limit" not in message
