"""What the CPU we run on can do fast: bf16 matrix units (AMX or AVX512-BF16).

Machines differ, so this is checked at run time, once per process.
"""

from __future__ import annotations

import functools
import platform

import torch

_BF16_FLAGS = ("amx_bf16", "avx512_bf16")


@functools.lru_cache(maxsize=1)
def cpu_bf16_support() -> tuple[bool, str]:
    """Whether bf16 compute is native on this CPU, and the evidence.

    >>> ok, detail = cpu_bf16_support()
    >>> isinstance(ok, bool)
    True
    """
    flags = _cpuinfo_flags()
    found = [f for f in _BF16_FLAGS if f in flags]
    if found:
        return True, "cpu flags: " + ", ".join(found)
    capability = _torch_cpu_capability()
    if "AMX" in capability.upper():
        return True, f"torch cpu capability {capability}"
    if flags:
        return False, f"cpu has neither {' nor '.join(_BF16_FLAGS)} (torch cpu capability {capability})"
    return False, f"cpu flags unknown on {platform.system()}; torch cpu capability {capability}"


def _cpuinfo_flags() -> set[str]:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith("flags") or line.startswith("Features"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def _torch_cpu_capability() -> str:
    try:
        return str(torch.backends.cpu.get_cpu_capability())
    except Exception:  # older torch or an unusual build: treat as unknown
        return "unknown"
