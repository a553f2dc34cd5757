"""A Python interpreter with upstream's provider (``apache-airflow-providers-cncf-kubernetes``) installed, in a
virtualenv of its own: upstream pins ``kubernetes<37`` and must not share our environment.

:func:`upstream_python` returns its interpreter, creating the virtualenv on first use and reusing it after:

1. ``$K8SPOD_UPSTREAM_PYTHON``, when set: an interpreter that already has upstream's provider.
2. ``.venv-upstream/`` at the repository root (git-ignored), created when missing with ``uv`` when
   available, else ``python -m venv`` and ``pip``: upstream's latest provider and the Airflow version
   installed here (so the ``airflow_version`` label is the same on both sides).

Used by the differential suite (tests/compat) and by benchmarks that run upstream side by side
(``python tests/compat/upstream_env.py`` prints the interpreter's path, creating the virtualenv if needed).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
VENV_DIR = REPO_ROOT / ".venv-upstream"
PROVIDER = "apache-airflow-providers-cncf-kubernetes"
ENV_VAR = "K8SPOD_UPSTREAM_PYTHON"


def requirements() -> list[str]:
    """What the upstream virtualenv holds: upstream's latest provider on the Airflow we run on."""
    return [PROVIDER, f"apache-airflow=={version('apache-airflow')}"]


def has_provider(python: Path) -> bool:
    """Whether ``python`` runs and has upstream's provider installed (without importing Airflow)."""
    if not python.exists():
        return False
    probe = f"import importlib.metadata as m; m.version({PROVIDER!r})"
    return subprocess.run([str(python), "-c", probe], capture_output=True, check=False).returncode == 0


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """One creator at a time (pytest-xdist workers, parallel benchmark runs)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _uv() -> str | None:
    beside = Path(sys.executable).parent / "uv"
    return str(beside) if beside.exists() else shutil.which("uv")


def create(venv: Path = VENV_DIR) -> Path:
    """Create ``venv`` with upstream's provider (replacing a broken one) and return its interpreter."""
    python = venv / "bin" / "python"
    with _locked(venv.parent / f"{venv.name}.lock"):
        if has_provider(python):
            return python
        shutil.rmtree(venv, ignore_errors=True)
        uv = _uv()
        if uv is not None:
            subprocess.run([uv, "venv", "--quiet", "--python", sys.executable, str(venv)], check=True)
            install = [uv, "pip", "install", "--quiet", "--python", str(python)]
        else:
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
            install = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
        subprocess.run([*install, *requirements()], check=True)
        if not has_provider(python):
            raise RuntimeError(f"{venv}: {PROVIDER} is still not importable after installing it")
    return python


def upstream_python() -> Path:
    """The interpreter of the upstream virtualenv (see the module docstring), created when needed."""
    configured = os.environ.get(ENV_VAR)
    if configured:
        python = Path(configured)
        if not has_provider(python):
            raise RuntimeError(f"${ENV_VAR}={configured!r} is not a Python with {PROVIDER} installed")
        return python
    python = VENV_DIR / "bin" / "python"
    return python if has_provider(python) else create()


if __name__ == "__main__":
    print(upstream_python())
