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

    Resume: a stateful stage names the attributes that carry its state from frame to frame in
    ``state_attrs`` (tensors, arrays, numbers, vidsynth objects of them), or overrides :meth:`snapshot`
    and :meth:`restore`. The pipeline saves a snapshot with the output every few frames, and ``--resume``
    restores it, so the resumed output equals an uninterrupted one. A stateful stage that can do neither
    sets ``warmup_frames`` (the frames are re-run) or runs in a mode without hidden state.

    >>> class Counter(Stage):
    ...     state_attrs = ("seen",)
    ...     def __init__(self): self.seen = 0
    ...     def process(self, frame): self.seen += 1; return frame
    >>> a = Counter(); a.seen = 7
    >>> b = Counter(); b.restore(a.snapshot()); b.seen
    7
    """

    threads: int = 1
    warmup_frames: int = 0
    state_attrs: tuple[str, ...] = ()

    @property
    def resumable(self) -> bool:
        """True when the stage's state can be saved and restored (:meth:`snapshot` / :meth:`restore`)."""
        return bool(self.state_attrs) or type(self).snapshot is not Stage.snapshot

    def snapshot(self) -> dict:
        """A copy of what the stage carries from frame to frame; :meth:`restore` on a freshly opened stage
        of the same settings makes its next outputs equal this stage's."""
        import copy

        return {name: copy.deepcopy(getattr(self, name)) for name in self.state_attrs}

    def restore(self, state: dict) -> None:
        """Take up a :meth:`snapshot` (after ``open()``, before the next frame)."""
        for name, value in state.items():
            setattr(self, name, value)

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
