"""The container runtime: runs a container's command as a local process and execs into it.

Two isolation modes:

``namespaces`` (Linux, root, util-linux ``unshare``/``nsenter``/``setpriv`` present)
    ``setpriv --pdeathsig KILL unshare --mount --pid --uts -- sh -c SUPERVISOR`` gives a small shell in
    new mount and UTS namespaces; its first child is PID 1 of a new PID namespace. That child (the init
    script, also a shell) mounts a fresh /proc, bind-mounts the volumes and the termination message file
    at their paths (private mount namespace, so nothing shows on the host), sets the hostname to the pod
    name (through /proc, without a process for it), changes directory and execs the command, which
    therefore *is* PID 1: as on a node, signals without a handler (SIGTERM to a plain ``sleep``) are
    ignored. The supervisor waits and exits with the container's exit code (128+N after signal N). Exec joins the namespaces with ``nsenter``. Everything
    dies with the server (parent-death signals), and when PID 1 exits the kernel kills the rest of the
    container's processes.

``process`` (fallback: non-root, non-Linux or tools missing)
    A plain process in its own session. Volumes cannot be mounted at their paths; their mount paths
    are rewritten to the host directories in command, args and env values, and listed as JSON in the
    ``K8SPOD_VOLUME_MOUNTS`` variable; the termination message path is rewritten the same way.
    SIGTERM reaches the command's default handler (a plain ``sleep`` dies at once instead of after the
    grace period).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shlex
import shutil
import signal
import stat
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from airflow_provider_k8spod.testing.node.limits import ContainerBudget, explain_spawn_error

Mode = Literal["namespaces", "process"]
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def namespaces_available() -> bool:
    if not sys.platform.startswith("linux") or os.geteuid() != 0:
        return False
    return all(shutil.which(tool) for tool in ("unshare", "nsenter", "setpriv"))


def choose_mode(isolation: str) -> Mode:
    if isolation == "process":
        return "process"
    if isolation == "namespaces":
        if not namespaces_available():
            raise RuntimeError(
                "isolation='namespaces' needs Linux, root and util-linux unshare/nsenter/setpriv"
            )
        return "namespaces"
    return "namespaces" if namespaces_available() else "process"


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    readonly: bool = False


@dataclass
class LaunchSpec:
    exe: str  # resolved executable as seen by the container
    argv: list[str]
    env: dict[str, str]
    cwd: str
    mounts: list[Mount]
    hostname: str
    instance_dir: str  # per container instance: spec, pid file, start error


def exit_code_of(returncode: int) -> int:
    """asyncio's returncode (negative for a signal) as a container exit code (128 + signal)."""
    return 128 - returncode if returncode < 0 else returncode


def sigkill(proc: asyncio.subprocess.Process) -> None:
    """SIGKILL a child of the event loop without reaping it.

    Not ``proc.kill()``: asyncio sends it through ``Popen.send_signal``, which polls first (bpo-38630). If
    the child has just exited, that poll reaps it, and the loop's child watcher, finding no status left,
    reports 255: an evicted or deleted container showed exit code 255 instead of 137. ``os.kill`` on an
    exited child that is not reaped yet (a zombie) does nothing, and its PID cannot be reused before the
    loop (whose thread this runs in) reaps it.
    """
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(proc.pid, signal.SIGKILL)


def map_path(path: str, mounts: Sequence[Mount]) -> str:
    """Host path of ``path`` as seen inside the container (longest mount target wins)."""
    best: Mount | None = None
    for mount in mounts:
        target = mount.target.rstrip("/") or "/"
        if (path == target or path.startswith(target + "/")) and (
            best is None or len(target) > len(best.target.rstrip("/"))
        ):
            best = mount
    if best is None:
        return path
    rest = path[len(best.target.rstrip("/")) :]
    return best.source + rest


def _is_executable(host_path: str) -> bool:
    try:
        st = os.stat(host_path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and os.access(host_path, os.X_OK)


class ExecutableNotFound(Exception):
    """Message in containerd's words, reported as StartError (or an exec failure)."""


def resolve_executable(name: str, env_path: str, cwd: str, mounts: Sequence[Mount]) -> str:
    """Find ``name`` like runc does (PATH search for bare names), looking through the volume mounts."""
    if "/" in name:
        path = name if name.startswith("/") else os.path.normpath(os.path.join(cwd, name))
        host = map_path(path, mounts)
        if not os.path.exists(host):
            raise ExecutableNotFound(f'exec: "{name}": stat {path}: no such file or directory')
        if not _is_executable(host):
            raise ExecutableNotFound(f'exec: "{name}": permission denied')
        return path
    for directory in env_path.split(":"):
        if not directory:
            continue
        candidate = os.path.join(directory, name)
        if _is_executable(map_path(candidate, mounts)):
            return candidate
    raise ExecutableNotFound(f'exec: "{name}": executable file not found in $PATH')


def start_error_message(detail: str) -> str:
    return (
        "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
        f"failed: unable to start container process: {detail}: unknown"
    )


def python_bytecode_flags() -> list[str]:
    """Bytecode options for Python in containers, mirroring this process: containers share the host's
    files, so they must not write ``__pycache__`` where the host does not (``-B``), and may reuse the
    host's out-of-tree bytecode cache (``-X pycache_prefix``). Flags, not environment variables, so the
    container's environment stays exactly what the pod spec says."""
    if sys.pycache_prefix:
        return ["-X", f"pycache_prefix={sys.pycache_prefix}"]
    if sys.dont_write_bytecode:
        return ["-B"]
    return []


def write_python_shims(bin_dir: str, python: str) -> None:
    """``python`` and ``python3`` commands for containers, whatever this host calls its interpreter."""
    os.makedirs(bin_dir, exist_ok=True)
    flags = " ".join(shlex.quote(f) for f in python_bytecode_flags())
    for name in ("python", "python3"):
        path = os.path.join(bin_dir, name)
        with open(path, "w") as fh:
            fh.write(f'#!/bin/sh\nexec {shlex.quote(python)} {flags} "$@"\n'.replace("  ", " "))
        os.chmod(path, 0o755)


@dataclass(eq=False)
class ContainerProcess:
    """A running container instance."""

    mode: Mode
    proc: asyncio.subprocess.Process
    spec: LaunchSpec
    pumps: list[asyncio.Task[None]] = field(default_factory=list)
    exec_procs: set[asyncio.subprocess.Process] = field(default_factory=set)
    live: set[ContainerProcess] = field(default_factory=set)  # the runtime's; this leaves it once reaped

    @property
    def pid_file(self) -> str:
        return os.path.join(self.spec.instance_dir, "pid")

    def init_pid(self) -> int | None:
        """Host PID of the container's PID 1 (the command), once the init has recorded it."""
        try:
            with open(self.pid_file) as fh:
                text = fh.read()
        except OSError:
            return None
        if not text.endswith("\n"):
            return None  # not written completely yet
        try:
            return int(text)
        except ValueError:
            return None

    def pids(self) -> list[int]:
        pids = [self.proc.pid]
        pid1 = self.init_pid()
        if pid1 is not None and pid1 != self.proc.pid:
            pids.append(pid1)
        pids.extend(p.pid for p in self.exec_procs if p.returncode is None)
        return pids

    @property
    def running(self) -> bool:
        return self.proc.returncode is None

    def signal(self, sig: int) -> None:
        """Deliver ``sig`` to the container's main process (PID 1 in namespaces mode)."""
        if not self.running:
            return
        if sig == signal.SIGKILL:
            self.kill()
            return
        pid = self.init_pid() if self.mode == "namespaces" else self.proc.pid
        if pid is None:
            # Not started yet: nothing can handle the signal; stop it outright.
            self.kill()
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def kill(self) -> None:
        """SIGKILL the container. In namespaces mode that is its PID 1: the PID namespace goes down with
        it and the supervising shell reaps it and exits with 137. Before the init has recorded its PID it
        may not have armed its parent-death signal yet either, so the supervisor's whole process group is
        killed: killing the supervisor alone would orphan the command, still holding the output pipes
        (seen as a pod that never terminated after a delete at the moment it started)."""
        pid1 = self.init_pid() if self.mode == "namespaces" else None
        if pid1 is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid1, signal.SIGKILL)
        else:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            sigkill(self.proc)
        for proc in list(self.exec_procs):
            sigkill(proc)

    async def wait(self) -> int:
        """Wait for the exit and for the output to be drained; return the container exit code."""
        returncode = await self.proc.wait()
        self.live.discard(self)
        # Orphans of the command die with it, as with PID 1 in a container.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        for proc in list(self.exec_procs):
            if self.mode == "process":
                sigkill(proc)
        if self.pumps:
            await asyncio.gather(*self.pumps, return_exceptions=True)
        return exit_code_of(returncode)

    def start_error(self) -> str | None:
        try:
            with open(os.path.join(self.spec.instance_dir, "start-error")) as fh:
                return fh.read()
        except OSError:
            return None


OutputSink = Callable[[str, bytes], None]
EofSink = Callable[[str], None]


class Runtime:
    def __init__(self, mode: Mode, python: str) -> None:
        self.mode = mode
        self.python = python
        self._setpriv = shutil.which("setpriv")
        self._unshare = shutil.which("unshare")
        self._nsenter = shutil.which("nsenter")
        self._mount = shutil.which("mount") or "mount"
        self.budget = ContainerBudget()
        # The soft open-files limit containers start with, when the server raised its own (limits.py).
        self.container_open_files: int | None = None
        self.live: set[ContainerProcess] = set()  # started and not yet reaped

    def _wrapper(self) -> list[str]:
        prefix: list[str] = []
        if self._setpriv and sys.platform.startswith("linux"):
            prefix = [self._setpriv, "--pdeathsig", "KILL", "--"]
        if self.mode == "namespaces":
            assert self._unshare is not None
            prefix += [self._unshare, "--mount", "--pid", "--uts", "--propagation", "private", "--"]
        return prefix

    def rewrite_for_process_mode(self, spec: LaunchSpec) -> None:
        """Without mount namespaces: point mount paths in argv/env at the host directories."""
        mounts = sorted(spec.mounts, key=lambda m: len(m.target), reverse=True)

        def rewrite(text: str) -> str:
            for mount in mounts:
                if mount.target in text:
                    text = text.replace(mount.target, mount.source)
            return text

        spec.argv = [rewrite(a) for a in spec.argv]
        spec.exe = map_path(spec.exe, spec.mounts)
        spec.env = {k: rewrite(v) for k, v in spec.env.items()}
        spec.env["K8SPOD_VOLUME_MOUNTS"] = json.dumps({m.target: m.source for m in spec.mounts})
        mapped_cwd = map_path(spec.cwd, spec.mounts)
        spec.cwd = mapped_cwd

    def prepare(self, spec: LaunchSpec) -> str:
        """Mount points, working directory and the init script. Returns the script."""
        os.makedirs(spec.instance_dir, exist_ok=True)
        if self.mode == "process":
            self.rewrite_for_process_mode(spec)
        for mount in spec.mounts:
            if self.mode == "namespaces":
                _ensure_mountpoint(mount)
        host_cwd = map_path(spec.cwd, spec.mounts) if self.mode == "namespaces" else spec.cwd
        if spec.cwd and not os.path.isdir(host_cwd):
            # runc creates a missing working directory.
            with contextlib.suppress(OSError):
                os.makedirs(host_cwd)
        return init_script(self.mode, spec, mount_bin=self._mount, open_files=self.container_open_files)

    async def start(self, spec: LaunchSpec, on_output: OutputSink, on_eof: EofSink) -> ContainerProcess:
        self.budget.check(len(self.live))
        script = self.prepare(spec)
        if self.mode == "namespaces":
            script = supervisor_script(script, self._setpriv)
        argv = [*self._wrapper(), "/bin/sh", "-c", script, "k8spod-init", *spec.argv]
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                start_new_session=True,
                env=spec.env,
            )
        except OSError as exc:
            raise explain_spawn_error(exc, len(self.live)) from exc
        container = ContainerProcess(self.mode, proc, spec, live=self.live)
        self.live.add(container)
        assert proc.stdout is not None
        assert proc.stderr is not None
        container.pumps = [
            asyncio.ensure_future(_pump(proc.stdout, "stdout", on_output, on_eof)),
            asyncio.ensure_future(_pump(proc.stderr, "stderr", on_output, on_eof)),
        ]
        return container

    async def exec(
        self,
        container: ContainerProcess,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        *,
        stdin: bool,
        tty: bool,
    ) -> tuple[asyncio.subprocess.Process, int | None]:
        """Start ``argv`` in ``container``. Returns the process and, for a tty, the pty master fd."""
        exe = resolve_executable(argv[0], env.get("PATH", DEFAULT_PATH), cwd, container.spec.mounts)
        if self.mode == "namespaces":
            pid1 = container.init_pid()
            if pid1 is None:
                raise ExecutableNotFound("container is not running")
            assert self._nsenter is not None
            command = [
                self._nsenter,
                "-t",
                str(pid1),
                "-m",
                "-p",
                "-u",
                f"--wdns={cwd}",
                "--",
                exe,
                *argv[1:],
            ]
            run_cwd = None
        else:
            rewritten = LaunchSpec(
                map_path(exe, container.spec.mounts),
                list(argv),
                dict(env),
                cwd,
                container.spec.mounts,
                container.spec.hostname,
                container.spec.instance_dir,
            )
            self.rewrite_for_process_mode(rewritten)
            command = [rewritten.exe, *rewritten.argv[1:]]
            env = rewritten.env
            run_cwd = _existing_dir(rewritten.cwd)
        master: int | None = None
        if tty:
            master, slave = os.openpty()
            try:
                proc = await asyncio.create_subprocess_exec(
                    *command,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=env,
                    cwd=run_cwd,
                    start_new_session=True,
                )
            finally:
                os.close(slave)
        else:
            proc = await asyncio.create_subprocess_exec(
                *command,
                stdin=asyncio.subprocess.PIPE if stdin else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env=env,
                cwd=run_cwd,
                start_new_session=self.mode == "process",
            )
        container.exec_procs.add(proc)
        return proc, master


def init_script(mode: Mode, spec: LaunchSpec, *, mount_bin: str, open_files: int | None = None) -> str:
    """The script that becomes the container's first process (``sh -c SCRIPT k8spod-init COMMAND...``).

    It records its host PID (read from /proc before a new /proc is mounted), then in ``namespaces`` mode
    mounts /proc for the new PID namespace, bind-mounts the volumes and the termination message file and
    sets the hostname; finally it changes directory and execs the command, which inherits exactly the
    container environment (the shell's own PWD/OLDPWD are removed). A failed step writes the runtime's
    error to ``start-error`` and exits 128 (reported as StartError).
    """
    q = shlex.quote
    pid_file = os.path.join(spec.instance_dir, "pid")
    error_file = os.path.join(spec.instance_dir, "start-error")
    prefix = "failed to create containerd task: failed to create shim task: OCI runtime create failed: runc create "
    prefix += "failed: unable to start container process: error during container init: "
    lines = [
        f"fail() {{ printf '%s' {q(prefix)}\"$1: unknown\" > {q(error_file)}; exit 128; }}",
        f'if [ -r /proc/self/stat ]; then read -r pid rest < /proc/self/stat; echo "$pid" > {q(pid_file)}; fi',
    ]
    if mode == "namespaces":
        lines.append(
            f"{q(mount_bin)} -t proc -o nosuid,nodev,noexec proc /proc || fail 'mounting proc to /proc'"
        )
        for mount in spec.mounts:
            what = q(f"mounting {mount.source} to rootfs at {mount.target}")
            # A mount point inside an earlier mount (a file in a volume) is created there, as runc does.
            if os.path.isdir(mount.source):
                lines.append(f"[ -e {q(mount.target)} ] || mkdir -p {q(mount.target)} 2>/dev/null")
            else:
                parent = os.path.dirname(mount.target) or "/"
                lines.append(
                    f"[ -e {q(mount.target)} ] || {{ mkdir -p {q(parent)} && : > {q(mount.target)}; }} 2>/dev/null"
                )
            lines.append(f"{q(mount_bin)} --rbind {q(mount.source)} {q(mount.target)} || fail {what}")
            if mount.readonly:
                lines.append(f"{q(mount_bin)} -o remount,bind,ro {q(mount.target)} || fail {what}")
        if spec.hostname:
            # The UTS namespace's hostname, as hostname(1) sets it, without starting a process for it.
            lines.append(f"printf '%s' {q(spec.hostname)} > /proc/sys/kernel/hostname 2>/dev/null")
    cwd = spec.cwd or "/"
    chdir_error = f'chdir to cwd ("{cwd}") set in config.json failed: no such file or directory'
    lines.append(f"cd {q(cwd)} || fail {q(chdir_error)}")
    if open_files is not None:
        # The server raised its own soft limit for the thousands of files it holds; the command gets
        # the one the cluster was started with.
        lines.append(f"ulimit -S -n {int(open_files)} 2>/dev/null")
    unset = [name for name in ("PWD", "OLDPWD") if name not in spec.env]
    if unset:
        lines.append("unset " + " ".join(unset))
    # The supervisor runs this script in the foreground (a background job would start with SIGINT and
    # SIGQUIT ignored), so the command gets the default dispositions a container's command starts with.
    lines.append('exec "$@"')
    return "\n".join(lines)


def supervisor_script(inner: str, setpriv: str | None) -> str:
    """Namespaces mode: ``unshare --pid`` (without --fork) runs this shell in the new mount/UTS namespaces;
    its first child becomes PID 1 of the new PID namespace, runs the init script and execs the command.
    The shell waits for it and exits with its status (128+N when killed by signal N), so the kubelet sees
    the container's exit code. The child dies if this shell dies (parent-death signal, kept across exec).

    The child runs in the foreground, in a subshell that keeps the container's stderr (fd 3) while the
    shell's own stderr goes to /dev/null: the shell reports a child killed by a signal ("Killed") on its
    stderr, which is the container's log. A foreground child starts with default SIGINT/SIGQUIT
    dispositions, where a background job (``&``) would have them ignored and need one more process
    (``env --default-signal``) to restore them."""
    q = shlex.quote
    launcher = f"{q(setpriv)} --pdeathsig KILL -- " if setpriv else ""
    return (
        f'exec 3>&2 2>/dev/null\n(exec {launcher}/bin/sh -c {q(inner)} k8spod-init "$@" 2>&3 3>&-)\nexit $?'
    )


def _existing_dir(path: str) -> str | None:
    return path if os.path.isdir(path) else None


def _ensure_mountpoint(mount: Mount) -> None:
    """Bind mounts need an existing target: create it on the host (directory or empty file)."""
    if os.path.lexists(mount.target):
        return
    try:
        if os.path.isdir(mount.source):
            os.makedirs(mount.target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(mount.target) or "/", exist_ok=True)
            with open(mount.target, "a"):
                pass
    except OSError:
        pass


async def _pump(reader: asyncio.StreamReader, stream: str, on_output: OutputSink, on_eof: EofSink) -> None:
    try:
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                break
            on_output(stream, chunk)
    finally:
        on_eof(stream)
