"""Container init: runs as the first process of a container, then replaces itself with the command.

Executed by path as ``python -S -I _container_init.py SPEC.json`` (no package import, fast start).
In ``namespaces`` mode it runs inside fresh mount, PID and UTS namespaces created by ``unshare``: it
records its host PID, mounts a new /proc, bind-mounts the pod's volumes and the termination message
file at their paths, sets the hostname, then execs the container command, which becomes PID 1.
In ``process`` mode it only changes directory and execs.

If the exec fails, the reason is written to the spec's ``start_error`` file and the process exits
with 128, which the kubelet reports as ``StartError``.
"""

from __future__ import annotations

import ctypes
import json
import os
import sys

MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_REC = 16384


def _fail(spec: dict[str, object], message: str) -> None:
    path = str(spec.get("start_error") or "")
    if path:
        with open(path, "w") as fh:
            fh.write(message)
    os._exit(128)


def _mount(libc: ctypes.CDLL, source: str, target: str, fstype: str | None, flags: int) -> None:
    result = libc.mount(source.encode(), target.encode(), fstype.encode() if fstype else None, flags, None)
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {source} on {target}: {os.strerror(err)}")


def main() -> None:
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    pid_file = spec["pid_file"]
    host_pid = int(os.readlink("/proc/self"))
    tmp = pid_file + ".tmp"
    with open(tmp, "w") as fh:
        fh.write(str(host_pid))
    os.rename(tmp, pid_file)

    if spec["mode"] == "namespaces":
        libc = ctypes.CDLL(None, use_errno=True)
        try:
            _mount(libc, "proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
            for mount in spec["mounts"]:
                _mount(libc, mount["source"], mount["target"], None, MS_BIND | MS_REC)
                if mount.get("readonly"):
                    _mount(
                        libc,
                        mount["source"],
                        mount["target"],
                        None,
                        MS_BIND | MS_REMOUNT | MS_RDONLY | MS_REC,
                    )
            hostname = spec.get("hostname", "").encode()
            if hostname and libc.sethostname(hostname, len(hostname)) != 0:
                raise OSError(ctypes.get_errno(), "sethostname failed")
        except OSError as exc:
            _fail(
                spec,
                f"failed to create containerd task: failed to create shim task: OCI runtime create "
                f"failed: runc create failed: unable to start container process: error during container "
                f"init: {exc.strerror}: unknown",
            )
            return

    cwd = spec["cwd"]
    try:
        os.chdir(cwd)
    except OSError:
        _fail(
            spec,
            f"failed to create containerd task: failed to create shim task: OCI runtime create failed: "
            f"runc create failed: unable to start container process: error during container init: chdir "
            f'to cwd ("{cwd}") set in config.json failed: no such file or directory: unknown',
        )
        return
    argv = spec["argv"]
    try:
        os.execve(spec["exe"], argv, spec["env"])
    except OSError as exc:
        reason = "permission denied" if exc.errno == 13 else (exc.strerror or str(exc)).lower()
        _fail(
            spec,
            f"failed to create containerd task: failed to create shim task: OCI runtime create failed: "
            f'runc create failed: unable to start container process: exec: "{argv[0]}": {reason}: unknown',
        )


if __name__ == "__main__":
    main()
