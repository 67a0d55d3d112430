"""A pipeline stage: one small piece of work applied to each frame."""

from __future__ import annotations

from vidsynth.streams.frame import Frame


class Stage:
    """``open()`` once, ``process(frame) -> frame`` per frame, ``reset()`` on a discontinuity, ``close()``.

    A stateful stage (landmark smoothers, a video generator's previous frames) owns its state and clears
    it in ``reset()``; the pipeline calls ``reset()`` before processing a frame whose ``discontinuity``
    flag is set. ``process`` may return None to drop the frame (it is counted, not written).
    ``threads`` is how many intra-op threads the stage wants from the process budget (see
    :mod:`vidsynth.engine.threads`). ``warmup_frames`` is how many earlier frames the stage must see
    again before its output equals an uninterrupted run's (``--resume`` re-runs them unwritten).
    A stage may keep a dict ``counters`` (e.g. frames without a person); the run's metrics include it.
    """

    threads: int = 1
    warmup_frames: int = 0

    @property
    def name(self) -> str:
        return type(self).__name__

    def open(self) -> None:
        pass

    def process(self, frame: Frame) -> Frame | None:
        raise NotImplementedError

    def reset(self) -> None:
        pass

    def close(self) -> None:
        pass

    def __call__(self, frame: Frame) -> Frame | None:
        if frame.discontinuity:
            self.reset()
        return self.process(frame)


class FunctionStage(Stage):
    """Wrap a plain ``frame -> frame`` function as a stateless stage.

    >>> s = FunctionStage(lambda f: f, name="identity")
    >>> s.name
    'identity'
    """

    def __init__(self, fn, name: str | None = None):
        self._fn = fn
        self._name = name or getattr(fn, "__name__", "function")

    @property
    def name(self) -> str:
        return self._name

    def process(self, frame: Frame) -> Frame | None:
        return self._fn(frame)
