"""Where and how fast ``perflaw sweep`` trains: the device string, and torch's CPU
threads when the user gives none."""

from __future__ import annotations

import math
import os
import re

from perflaw.errors import DataError

__all__ = ["check_device", "default_threads"]

_DEVICE = re.compile(r"^(cpu|cuda(:\d+)?|mps)$")


def check_device(device: str | None) -> str:
    """Validate a device string before torch sees it; return the device to use.

    Raises
    ------
    DataError
        Not ``cpu``, ``cuda``, ``cuda:N`` or ``mps``; or CUDA asked for and absent, or
        ``cuda:N`` beyond the devices present.
    """
    import torch

    if device is None:
        return "cuda" if torch.cuda.is_available() else "cpu"
    device = str(device).strip()
    if not _DEVICE.match(device):
        raise DataError(f"--device {device!r} is not a device: use cpu, cuda, cuda:N or mps")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise DataError(f"--device {device!r}: CUDA is not available on this machine")
        n = torch.cuda.device_count()
        if ":" in device and int(device.split(":")[1]) >= n:
            raise DataError(f"--device {device!r}: this machine has {n} CUDA device(s)")
    if device == "mps" and not (
        getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()
    ):
        raise DataError("--device 'mps': MPS is not available on this machine")
    return device


def default_threads() -> tuple[int, str]:
    """Torch CPU threads that do not oversubscribe the machine: the cores this process
    may use less the ones busy (the 1-minute load average), at least 1; and why.

    Torch's own default (every core) on a machine busy with other processes made each
    step of a tiny sweep take 12x longer (5.9 s of CPU per step against 0.5 s with one
    thread, on 2 cores shared by six processes): threads wait on each other's cores.
    """
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # pragma: no cover
        load = 0.0
    free = max(1, min(cores, cores - math.floor(load)))
    return free, f"{cores} core(s), load {load:.1f}"
