"""Why a backend could not be built; the factory falls back on these when asked to."""

from __future__ import annotations

from vidsynth.errors import VidsynthError


class BackendUnavailable(VidsynthError):
    """A backend cannot run here (package missing, no GPU, an op it cannot export or build)."""
