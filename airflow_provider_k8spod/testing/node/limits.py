"""Host limits that cap how many containers run at once, and clear errors when one is reached.

Each running container holds about :data:`FDS_PER_CONTAINER` open files in the server (its stdout and
stderr pipes, the pidfd its exit is watched with, its log file) and :data:`PROCESSES_PER_CONTAINER` host
processes (the supervising shell and the command). A common default soft limit of 1024 open files would
stop the cluster at about 250 containers, so the server raises its soft limits to the hard ones at start,
as Go programs (kube-apiserver, the kubelet, containerd) do for open files. What is left is a hard limit:
a container that would cross it fails to start with a message that names the limit, instead of the API
server itself running out of sockets. Containers start with the soft open-files limit the server was
started with (the runtime sets it back in each container's init).
"""

from __future__ import annotations

import errno
import os

try:
    import resource
except ImportError:  # pragma: no cover - not on POSIX
    resource = None  # type: ignore[assignment]

FDS_PER_CONTAINER = 4
PROCESSES_PER_CONTAINER = 2
# Open files kept free for the API server's own connections (watches, log streams, exec sessions).
RESERVED_FDS = 256
# A soft limit of "unlimited" still needs a number to set; the kernel's default fs.nr_open.
_UNLIMITED_NOFILE = 1 << 20


class HostLimitError(OSError):
    """A host limit stops a container from starting; ``str()`` is the whole message."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def raise_soft_limits() -> dict[str, tuple[int, int]]:
    """Raise the soft limits on open files and processes to the hard ones. Returns ``{name: (before,
    after)}`` for each limit (equal when nothing could be changed)."""
    changed: dict[str, tuple[int, int]] = {}
    if resource is None:
        return changed
    for name, which in (("open files", resource.RLIMIT_NOFILE), ("processes", resource.RLIMIT_NPROC)):
        soft, hard = resource.getrlimit(which)
        target = hard
        if which == resource.RLIMIT_NOFILE and hard == resource.RLIM_INFINITY:
            target = _UNLIMITED_NOFILE
        new = soft
        if soft != resource.RLIM_INFINITY and (target == resource.RLIM_INFINITY or target > soft):
            try:
                resource.setrlimit(which, (target, hard))
                new = target
            except (ValueError, OSError):
                new = soft
        changed[name] = (soft, new)
    return changed


def open_files_limit() -> int:
    if resource is None:
        return _UNLIMITED_NOFILE
    soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    return _UNLIMITED_NOFILE if soft == resource.RLIM_INFINITY else int(soft)


def containers_capacity(open_files: int | None = None) -> int:
    """How many containers the open-files limit leaves room for."""
    limit = open_files_limit() if open_files is None else open_files
    return max(0, (limit - RESERVED_FDS) // FDS_PER_CONTAINER)


def _open_files_now() -> int:
    try:
        return len(os.listdir("/proc/self/fd"))
    except OSError:
        return -1


class ContainerBudget:
    """Refuses a container start that would leave the server without open files for its API clients.

    Counting ``/proc/self/fd`` costs about a millisecond with thousands of files open, so it is only done
    when the running containers come near the limit (read again each time: ``prlimit`` may change it)."""

    def __init__(self, limit: int | None = None) -> None:
        self.fixed_limit = limit

    def check(self, running: int) -> None:
        limit = open_files_limit() if self.fixed_limit is None else self.fixed_limit
        if (running + 1) * FDS_PER_CONTAINER + RESERVED_FDS < limit // 2:
            return
        in_use = _open_files_now()
        if in_use < 0 or in_use + FDS_PER_CONTAINER + RESERVED_FDS <= limit:
            return
        raise HostLimitError(errno.EMFILE, too_many_open_files(running, in_use, limit))


def too_many_open_files(running: int, in_use: int, limit: int) -> str:
    return (
        f"too many open files: the local cluster runs {running} containers and has {in_use} of its "
        f"{limit} open files in use (about {FDS_PER_CONTAINER} per container, {RESERVED_FDS} kept for API "
        f"clients); raise the hard limit (ulimit -Hn, LimitNOFILE=) to run more at once"
    )


def explain_spawn_error(exc: OSError, running: int) -> OSError:
    """``exc`` from starting a container process, with the limit it hit named where it is one."""
    if isinstance(exc, HostLimitError):
        return exc
    if exc.errno in (errno.EMFILE, errno.ENFILE):
        in_use = _open_files_now()
        if exc.errno == errno.ENFILE:
            return HostLimitError(
                exc.errno,
                f"too many open files in the system (fs.file-max) while the local cluster runs {running} "
                f"containers",
            )
        return HostLimitError(exc.errno, too_many_open_files(running, in_use, open_files_limit()))
    if exc.errno == errno.EAGAIN:
        return HostLimitError(
            exc.errno,
            f"cannot create a process ({os.strerror(exc.errno)}) while the local cluster runs {running} "
            f"containers (about {PROCESSES_PER_CONTAINER} processes each): a limit on processes was "
            f"reached (ulimit -u, the cgroup's pids.max, kernel.pid_max or kernel.threads-max)",
        )
    return exc
