"""Check a ``--device`` value before anything loads: a typo or a missing GPU is the user's to fix.

>>> check_device("cpu")
'cpu'
>>> check_device("potato")
Traceback (most recent call last):
vidsynth.errors.VidsynthError: expected --device to be cpu, cuda or cuda:N (or mps), found 'potato'
"""

from __future__ import annotations

import re

from vidsynth.errors import VidsynthError

_FORMAT = re.compile(r"^(cpu|mps|cuda)(:(\d+))?$")


def check_device(spec: str | None, option: str = "--device") -> str:
    """``spec`` normalised (``"CUDA"`` → ``"cuda"``) once it names a device this machine has.

    Only the name is parsed here (cheap); torch is imported only for ``cuda``/``mps``, to ask whether the
    device exists, so a wrong value fails in well under a second and before any model file is read.
    """
    text = str(spec if spec is not None else "cpu").strip().lower()
    match = _FORMAT.match(text)
    if not match:
        raise VidsynthError(f"expected {option} to be cpu, cuda or cuda:N (or mps), found {spec!r}")
    kind, index = match.group(1), match.group(3)
    if kind == "cpu":
        return text
    import torch

    if kind == "mps":
        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise VidsynthError(f"{option} {spec} asks for Apple's GPU (MPS), which this machine does not have; "
                                "use --device cpu")
        return text
    if not torch.cuda.is_available():
        why = "this PyTorch was built without CUDA" if torch.version.cuda is None else "no CUDA GPU is visible"
        raise VidsynthError(f"{option} {spec} asks for a CUDA GPU, but {why}; use --device cpu, or install a CUDA "
                            "build of PyTorch on a machine with an NVIDIA GPU (vidsynth info lists the devices)")
    count = torch.cuda.device_count()
    if index is not None and int(index) >= count:
        raise VidsynthError(f"{option} {spec} names GPU {index}, but this machine has {count} "
                            f"(cuda:0{f' to cuda:{count - 1}' if count > 1 else ''})")
    return text
