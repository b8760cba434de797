"""Run folders: one folder per run, enough to reproduce, resume and report it.

Layout of a run folder::

    config.yaml      the resolved config of the first open (yaml.safe_dump)
    identity.json    what the result depends on: the command, the config without its
                     execution settings, a fingerprint of the data and the init run's key;
                     its hash names automatic run folders, and a resume or a reuse must match
    versions.json    command, python / torch / torchvision / numpy / bepaper versions,
                     CUDA version, torch threads, hostname and time of the first open
    metrics.jsonl    one JSON record per line (e.g. one per epoch), appended and fsynced
    skipped.jsonl    {"path", "reason"} per bad video, appended by DataLoader workers
    checkpoints/     ckpt_epochNNNN.pt, written atomically (see bepaper.checkpoint)
    metrics.json     final metrics (results), written atomically by finish()
    finished.json    marker written last by finish(); a finished run is never reopened
    log.txt          human-readable log of the training loop
    .lock            held (POSIX lock) by the process running the run, which writes its pid
                     and host into it; the OS drops the lock when that process dies, even on
                     kill -9, and `lock_holder` removes a lock left by a dead process;
                     `finish` removes it

Every file that is rewritten goes through a temp file (`.tmp-*`) and os.replace, so a crash
leaves either the old or the new version, never a mix.
"""

from __future__ import annotations

import fcntl
import json
import os
import platform
import socket
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import yaml

import bepaper
from bepaper.errors import BepaperError, ConfigError
from bepaper.identity import diff_configs, identity_changes, read_identity

_MAX_REASON = 1000  # characters; keeps a skipped.jsonl line well under 4 KiB


def _fsync_dir(folder: Path) -> None:
    """Make a rename inside `folder` durable."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temp path next to `path`; write it inside the block.

    On a clean exit the temp file is fsynced and moved over `path` with os.replace. On any
    exception it is removed and the exception re-raised, so `path` keeps its old content.
    """
    path = Path(path)
    tmp = path.with_name(f".tmp-{path.name}.{uuid.uuid4().hex[:8]}")
    try:
        yield tmp
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Replace `path` with `text` atomically (temp file + fsync + os.replace)."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_json(path: str | os.PathLike, obj: Any) -> None:
    """Replace `path` with `obj` as indented JSON, atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2) + "\n")


# Settings that change how a run reports, not what it computes: a resume may change them.
COSMETIC_KEYS = ("run.progress",)


def config_changes(old: dict, new: dict) -> list[str]:
    """`diff_configs` without the cosmetic keys: the differences that forbid a resume."""
    return [
        line
        for line in diff_configs(old, new)
        if line.lstrip("+- ").split(":")[0] not in COSMETIC_KEYS
    ]


def _versions(command: str) -> dict[str, Any]:
    def version(package: str) -> str | None:
        try:
            return metadata.version(package)
        except metadata.PackageNotFoundError:
            return None

    return {
        "command": command,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "cuda": torch.version.cuda,
        "torchvision": version("torchvision"),
        "numpy": version("numpy"),
        "bepaper": bepaper.__version__,
        "hostname": socket.gethostname(),
        "device": _device(),
        # CPU results depend on the thread count (the order of float sums): record it
        "torch_threads": torch.get_num_threads(),
        "time": _now(),
    }


def _device() -> str:
    """The machine a run used, in words: the GPU's name, or the CPU and its core count."""
    if torch.cuda.is_available():
        return f"{torch.cuda.get_device_name()} (x{torch.cuda.device_count()})"
    return f"CPU ({platform.machine()}, {os.cpu_count()} cores)"


def _now() -> str:
    return datetime.now().astimezone().isoformat(timespec="seconds")


def _read_jsonl(path: Path) -> list[dict]:
    """Records of a JSON-lines file; a torn final line (no newline) is ignored."""
    if not path.exists():
        return []
    text = path.read_text(encoding="utf-8")
    lines = text.split("\n")
    lines.pop()  # "" after the last newline, or a torn line that a crash cut short
    records = []
    for number, line in enumerate(lines, start=1):
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise BepaperError(f"{path}:{number}: not a JSON record ({e.msg})") from None
    return records


def _drop_torn_tail(path: Path) -> None:
    """Cut a final line without newline, so that the next append starts a fresh line."""
    if not path.exists():
        return
    with open(path, "r+b") as f:
        data = f.read()
        if data and not data.endswith(b"\n"):
            f.truncate(data.rfind(b"\n") + 1)
            f.flush()
            os.fsync(f.fileno())


def _own_files(folder: Path) -> list[str]:
    """Names in `folder` other than a lock or temp file left by a killed run."""
    return [p.name for p in folder.iterdir() if not p.name.startswith((".lock", ".tmp-"))]


class RunDir:
    """One run folder: config check on open, metrics and skip logs, finished marker."""

    def __init__(
        self,
        path: str | os.PathLike,
        config: dict,
        command: str,
        identity: dict | None = None,
    ):
        """`config` is the resolved config as a plain nested dict; `command` e.g. "pretrain";
        `identity` what the result depends on (`bepaper.identity.run_identity`). Without an
        identity, a resume must match the whole config but for COSMETIC_KEYS."""
        self.path = Path(path)
        self.ckpt_dir = self.path / "checkpoints"
        self.config = config
        self.command = command
        self.identity = identity
        self._lock_fd: int | None = None  # held from open() until the process ends

    def results(self) -> dict:
        """metrics.json of a finished run."""
        return json.loads((self.path / "metrics.json").read_text(encoding="utf-8"))

    def reusable(self) -> bool:
        """True when this folder holds a finished run with the same identity; a finished run
        of another identity (or without one) is a BepaperError naming the differences."""
        if not self.finished:
            return False
        marker = json.loads((self.path / "finished.json").read_text(encoding="utf-8"))
        command = marker.get("command", self.command)
        old = read_identity(self.path)
        if command == self.command and old is not None and self.identity is not None:
            changes = identity_changes(old, self.identity)
            if not changes:
                return True
            raise BepaperError(
                f"{self.path} holds a finished {command} run of another config "
                f"({'; '.join(changes[:4])}); choose another output folder or delete it"
            )
        raise BepaperError(
            f"{self.path} holds a finished {command} run; choose another output folder or delete it"
        )

    @property
    def finished(self) -> bool:
        """True once finish() has written finished.json."""
        return (self.path / "finished.json").exists()

    def open(self) -> bool:
        """Prepare the folder; return True when this resumes a run of the same config.

        Refuses (BepaperError) a finished run, a non-empty folder that is not a run and a run
        that another live process holds open, and (ConfigError) a run whose config.yaml
        differs from `config`. Removes temp files that a killed process left behind.
        """
        if self.finished:
            marker = json.loads((self.path / "finished.json").read_text(encoding="utf-8"))
            command = marker.get("command", self.command)
            raise BepaperError(
                f"{self.path} holds a finished {command} run; "
                "choose another output folder or delete it"
            )
        config_file = self.path / "config.yaml"
        versions_file = self.path / "versions.json"
        # The config as it reads back from YAML, so a resume compares like with like.
        config = yaml.safe_load(yaml.safe_dump(self.config, sort_keys=False))
        resume = config_file.exists()
        if resume:
            self._lock()
            old = yaml.safe_load(config_file.read_text(encoding="utf-8")) or {}
            if versions_file.exists():
                command = json.loads(versions_file.read_text(encoding="utf-8")).get("command")
                if command != self.command:
                    raise BepaperError(
                        f"{self.path} holds a {command} run, not {self.command}; "
                        "choose another output folder"
                    )
            old_identity = read_identity(self.path)
            if self.identity is not None and old_identity is not None:
                diff = identity_changes(old_identity, self.identity)
            else:
                diff = config_changes(old, config)
            if diff:
                raise ConfigError(f"cannot resume {self.path}: config differs: {'; '.join(diff)}")
            for name in ("metrics.jsonl", "skipped.jsonl"):
                _drop_torn_tail(self.path / name)
        elif self.path.is_file() or (self.path.is_dir() and _own_files(self.path) != []):
            raise BepaperError(
                f"{self.path} is not empty and holds no bepaper run (no config.yaml); "
                "choose another output folder"
            )
        else:
            self.path.mkdir(parents=True, exist_ok=True)
            self._lock()
            atomic_write_text(config_file, yaml.safe_dump(config, sort_keys=False))
            if self.identity is not None:
                atomic_write_json(self.path / "identity.json", self.identity)
        # Temp files of a process killed while writing (we hold the lock: none is in use).
        for folder in (self.path, self.ckpt_dir):
            for tmp in folder.glob(".tmp-*"):
                tmp.unlink(missing_ok=True)
        if not versions_file.exists():
            atomic_write_json(versions_file, _versions(self.command))
        self.ckpt_dir.mkdir(exist_ok=True)
        return resume

    def _lock(self) -> None:
        """Lock <run>/.lock for as long as this process lives, or refuse the folder.

        A POSIX record lock: the OS releases it when the process dies (kill -9 included), and
        forked DataLoader workers do not inherit it, so a killed run can be resumed at once.
        """
        if self._lock_fd is not None:
            return
        fd = os.open(self.path / ".lock", os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise BepaperError(
                f"{self.path} is in use by another running bepaper process; "
                "wait for it to end or choose another output folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {socket.gethostname()}\n".encode(), 0)
        self._lock_fd = fd

    def log(self, record: dict) -> None:
        """Append one JSON record to metrics.jsonl and fsync it."""
        with open(self.path / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")
            f.flush()
            os.fsync(f.fileno())

    def note(self, line: str) -> None:
        """Append one human-readable line to log.txt (time-stamped)."""
        with open(self.path / "log.txt", "a", encoding="utf-8") as f:
            f.write(f"{_now()} {line}\n")

    def records(self) -> list[dict]:
        """All records of metrics.jsonl, ignoring a torn final line."""
        return _read_jsonl(self.path / "metrics.jsonl")

    def truncate_log(self, after_epoch: int) -> None:
        """Drop records whose "epoch" is above `after_epoch` (on resume from that epoch)."""
        path = self.path / "metrics.jsonl"
        if not path.exists():
            return
        kept = [r for r in self.records() if not ("epoch" in r and r["epoch"] > after_epoch)]
        atomic_write_text(path, "".join(json.dumps(r) + "\n" for r in kept))

    def record_skip(self, relpath: str, reason: str) -> None:
        """Append {"path", "reason"} to skipped.jsonl.

        Safe from several DataLoader worker processes: the line goes out in one write() on an
        O_APPEND descriptor, and the reason is cut so that the line stays small.
        """
        if len(reason) > _MAX_REASON:
            reason = reason[:_MAX_REASON] + "..."
        data = (json.dumps({"path": relpath, "reason": reason}) + "\n").encode()
        fd = os.open(self.path / "skipped.jsonl", os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            if os.write(fd, data) != len(data):
                raise OSError(f"short write to {self.path / 'skipped.jsonl'}")
            os.fsync(fd)
        finally:
            os.close(fd)

    def skipped(self) -> dict[str, str]:
        """Skipped videos: path -> reason (the latest reason when a path repeats)."""
        return {r["path"]: r["reason"] for r in _read_jsonl(self.path / "skipped.jsonl")}

    def finish(self, results: dict) -> None:
        """Write metrics.json, then finished.json; open() refuses the folder afterwards."""
        atomic_write_json(self.path / "metrics.json", results)
        atomic_write_json(
            self.path / "finished.json",
            {"command": self.command, "time": _now(), "results": "metrics.json"},
        )
        (self.path / ".lock").unlink(missing_ok=True)  # a finished run holds no lock


def lock_holder(folder: str | os.PathLike, quiet: bool = False) -> str | None:
    """Who runs the run in `folder`: "pid N on HOST" while a live process holds its .lock,
    else None. A lock left by a process that is gone from this host (its pid dead, or the
    lock free) is removed, with a message on stderr unless `quiet`. A free lock written on
    another host is left alone (that host may not share this host's lock manager)."""
    path = Path(folder) / ".lock"
    try:
        text = path.read_text(encoding="utf-8", errors="replace").split()
    except (FileNotFoundError, IsADirectoryError):
        return None
    pid = int(text[0]) if text and text[0].isdigit() else None
    host = text[1] if len(text) > 1 else ""
    here = socket.gethostname()
    who = f"pid {pid} on {host}" if pid is not None else "a process that wrote no pid"
    if pid == os.getpid() and host == here:
        return who  # this process: probing would release its own POSIX lock
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return who
        if host in (here, ""):  # the lock is free: its process is gone
            path.unlink(missing_ok=True)  # still locked by us: nobody can take it meanwhile
            if not quiet:
                print(f"bepaper: removed a stale lock in {folder} ({who} is gone)", file=sys.stderr)
        return None
    finally:
        os.close(fd)
