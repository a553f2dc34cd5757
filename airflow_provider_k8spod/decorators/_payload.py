"""What ``@task.kubernetes`` sends into the pod: the function's source, its arguments, a small launcher.

Pure functions, no Airflow and no cluster:

- :func:`function_source` ``(function) -> (filename, source)``: the function's own source, its Airflow task
  decorators removed, laid out so that line numbers are those of the DAG file (a traceback in the pod
  points at the DAG file's lines). Functions that cannot run from their source alone are refused here,
  with the reason, when the DAG is parsed.
- :func:`payload_env` ``(...) -> list of env vars``: the source and the pickled arguments, base64 in
  environment variables (``__PYTHON_SCRIPT``, ``__PYTHON_INPUT`` as upstream names them; values longer
  than one environment string may hold are split over ``__PYTHON_INPUT_1``, ``_2``, ...).
- :func:`launcher_command` ``(...) -> list[str]``: ``python -c <launcher> <file> <function> <pickle
  library> <result file>``. The launcher needs only ``python`` in the image (no shell, no writable
  ``/tmp``): it compiles the source in memory, calls the function, and writes the return value as JSON to
  the XCom result file when ``do_xcom_push`` is on.
"""

from __future__ import annotations

import ast
import base64
import inspect
import pickle
from collections.abc import Callable, Collection, Mapping
from typing import Any

from airflow_provider_k8spod.pod.xcom import XCOM_RETURN_FILE

__all__ = [
    "INPUT_ENV",
    "MAX_PAYLOAD_BYTES",
    "SCRIPT_ENV",
    "DecoratedFunctionError",
    "function_source",
    "launcher_command",
    "payload_env",
]

SCRIPT_ENV = "__PYTHON_SCRIPT"
INPUT_ENV = "__PYTHON_INPUT"

#: Longest value put in one environment variable. Linux refuses to start a process with an environment
#: string ("NAME=value") over 128 KiB (MAX_ARG_STRLEN), on a node as here.
CHUNK_CHARS = 120_000
#: Most base64 characters of source plus arguments put in a pod spec. The API server stores a pod in etcd,
#: whose objects are limited to 1.5 MiB; the rest of the pod needs room too.
MAX_PAYLOAD_BYTES = 1024 * 1024

#: Decorators removed from the source sent to the pod: Airflow's own (``@task.kubernetes``, ``@task``,
#: ``@setup``, ``@teardown``), which do not exist there. Other decorators stay, as with upstream.
_AIRFLOW_DECORATORS = frozenset({"task", "setup", "teardown"})


class DecoratedFunctionError(TypeError):
    """The function cannot be run in a pod from its source (raised when the DAG is parsed)."""


def _root_name(node: ast.expr) -> str | None:
    while True:
        if isinstance(node, ast.Call):
            node = node.func
        elif isinstance(node, ast.Attribute):
            node = node.value
        elif isinstance(node, ast.Name):
            return node.id
        else:
            return None


def function_source(function: Callable[..., Any], decorator: str) -> tuple[str, str]:
    """``(filename, source)`` of ``function`` as it runs in the pod.

    The source is the function's definition only (module-level imports and globals of the DAG file are
    not sent: import inside the function). It is preceded by blank lines so that line numbers match the
    file; an indented definition (inside a ``with DAG`` block) is kept as written, under an ``if True:``.
    """
    name = getattr(function, "__name__", repr(function))
    if not inspect.isfunction(function):
        raise DecoratedFunctionError(
            f"{decorator} needs a function defined with def, got {type(function).__name__} {function!r}"
        )
    if name == "<lambda>":
        raise DecoratedFunctionError(
            f"{decorator} cannot run a lambda: its source is sent to the pod and called by name; define the "
            "function with def"
        )
    if inspect.iscoroutinefunction(function) or inspect.isasyncgenfunction(function):
        raise DecoratedFunctionError(
            f"{decorator} cannot run {name}: it is an async function; define it with def (the pod calls it "
            "and writes what it returns)"
        )
    free = function.__code__.co_freevars
    if free:
        raise DecoratedFunctionError(
            f"{decorator} cannot run {name}: it uses {', '.join(free)} from the function that defines it, "
            "and only its own source is sent to the pod; pass these as arguments instead"
        )
    try:
        lines, first_line = inspect.getsourcelines(function)
        filename = inspect.getsourcefile(function) or function.__code__.co_filename
    except (OSError, TypeError) as exc:
        raise DecoratedFunctionError(
            f"{decorator} cannot run {name}: its source code is not available ({exc}); define it in a file"
        ) from exc
    indented = bool(lines[0][:1].isspace())
    body = "".join(lines)
    try:
        tree = ast.parse(("if True:\n" if indented else "") + body)
    except SyntaxError as exc:  # pragma: no cover - the function was compiled from this very text
        raise DecoratedFunctionError(f"{decorator} cannot read the source of {name}: {exc}") from exc
    node = tree.body[0].body[0] if indented else tree.body[0]  # type: ignore[attr-defined]
    if not isinstance(node, ast.FunctionDef) or node.name != name:
        raise DecoratedFunctionError(
            f"{decorator} cannot find the definition of {name} in its source; define it with def"
        )
    offset = 1 if indented else 0
    out = list(lines)
    for dec in node.decorator_list:
        if _root_name(dec) in _AIRFLOW_DECORATORS:
            for lineno in range(dec.lineno - offset, (dec.end_lineno or dec.lineno) - offset + 1):
                out[lineno - 1] = "\n"
    padding = ["\n"] * (first_line - 1)
    if indented:
        padding[-1] = "if True:\n"  # an indented definition is never on line 1
    return filename, "".join(padding + out)


def _chunks(name: str, value: str) -> list[dict[str, str]]:
    pieces = [value[i : i + CHUNK_CHARS] for i in range(0, len(value), CHUNK_CHARS)] or [""]
    return [{"name": name if i == 0 else f"{name}_{i}", "value": piece} for i, piece in enumerate(pieces)]


def payload_env(
    source: str, args: Collection[Any], kwargs: Mapping[str, Any], *, use_dill: bool, function: str
) -> list[dict[str, str]]:
    """Environment variables carrying ``source`` and the pickled ``{"args", "kwargs"}`` into the pod."""
    library: Any = pickle
    if use_dill:
        import dill

        library = dill
    try:
        pickled = library.dumps({"args": list(args), "kwargs": dict(kwargs)})
    except Exception as exc:
        raise DecoratedFunctionError(
            f"the arguments of {function} cannot be pickled ({type(exc).__name__}: {exc}); pass values "
            f"{'pickle' if not use_dill else 'dill'} can serialize"
            + ("" if use_dill else " (or use_dill=True)")
        ) from exc
    script = base64.b64encode(source.encode("utf-8")).decode("ascii")
    data = base64.b64encode(pickled).decode("ascii")
    if len(script) + len(data) > MAX_PAYLOAD_BYTES:
        raise DecoratedFunctionError(
            f"the source and arguments of {function} take {(len(script) + len(data)) // 1024} KiB once "
            f"encoded; at most {MAX_PAYLOAD_BYTES // 1024} KiB fit in a pod spec: pass a reference to the "
            "data (a path, a URL, an object store key) instead of the data"
        )
    return _chunks(SCRIPT_ENV, script) + _chunks(INPUT_ENV, data)


# Runs in the pod with the image's python: no Airflow needed. No "$(" anywhere: the kubelet would expand
# it as a reference to an environment variable in the container's command.
_LAUNCHER = """\
import base64, json, linecache, os, sys, traceback
def payload(name):
    parts, i = [], 0
    while (name if i == 0 else name + "_" + str(i)) in os.environ:
        parts.append(os.environ.pop(name if i == 0 else name + "_" + str(i)))
        i += 1
    return base64.b64decode("".join(parts))
filename, function, library, output = sys.argv[1:5]
source = payload("__PYTHON_SCRIPT").decode("utf-8")
data = payload("__PYTHON_INPUT")
linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
scope = {"__name__": "__main__", "__file__": filename, "__builtins__": __builtins__}
try:
    exec(compile(source, filename, "exec"), scope)
    arguments = __import__(library).loads(data)
    result = scope[function](*arguments["args"], **arguments["kwargs"])
except SystemExit:
    raise
except BaseException as error:
    traceback.print_exception(type(error), error, error.__traceback__.tb_next)
    sys.exit(1)
if output:
    try:
        text = json.dumps(result, allow_nan=False)
    except (TypeError, ValueError) as error:
        print(function + " returned " + type(result).__name__ + ", which cannot be written as JSON for XCom: "
              + str(error), file=sys.stderr)
        sys.exit(1)
    os.makedirs(os.path.dirname(output), exist_ok=True)
    with open(output, "w") as f:
        f.write(text)
"""


def launcher_command(filename: str, function: str, *, use_dill: bool, do_xcom_push: bool) -> list[str]:
    """The main container's command: the launcher, then its arguments (readable in the pod spec)."""
    return [
        "python",
        "-c",
        _LAUNCHER,
        filename,
        function,
        "dill" if use_dill else "pickle",
        XCOM_RETURN_FILE if do_xcom_push else "",
    ]
