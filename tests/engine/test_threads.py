"""The thread budget: how cores are shared, and that it reaches torch, OpenCV, stages and sinks."""

import os

import cv2
import torch

from vidsynth.engine import FunctionStage, Stage, plan_threads
from vidsynth.engine.threads import ThreadBudget, apply_threads, available_cores, configure_environment


class Wants(Stage):
    def __init__(self, name, threads):
        self._name, self.threads = name, threads
        self.told = None

    @property
    def name(self):
        return self._name

    def configure_threads(self, n):
        self.told = n


class EncoderLike:
    def __init__(self, threads=0):
        self.threads = threads


def test_two_cores_give_every_pool_one_thread():
    budget = plan_threads([Wants("pose", 4), Wants("draw", 1)], cores=2)
    assert (budget.torch_intra, budget.torch_interop, budget.opencv, budget.encoder, budget.decoder) == (1, 1, 1, 1, 1)
    assert budget.stages == {"pose": 1, "draw": 1}
    assert budget.workers == 4
    assert "2 cores" in str(budget)


def test_many_cores_are_shared_in_proportion_to_what_stages_want():
    budget = plan_threads([Wants("generator", 6), Wants("draw", 2)], cores=16)
    assert budget.encoder == budget.decoder == 4
    assert budget.stages == {"generator": 6, "draw": 2}
    assert budget.torch_intra == 6
    assert sum(budget.stages.values()) + budget.encoder + budget.decoder <= 16


def test_apply_sets_torch_and_opencv_and_tells_stages_sinks_and_sources():
    before = (torch.get_num_threads(), cv2.getNumThreads())
    stage, chosen, auto, source = Wants("pose", 1), EncoderLike(threads=3), EncoderLike(threads=0), EncoderLike(0)
    budget = ThreadBudget(cores=4, torch_intra=2, opencv=2, encoder=1, decoder=1, stages={"pose": 2})
    try:
        apply_threads(budget, sink=chosen, stages=[stage], source=source)
        assert torch.get_num_threads() == 2 and cv2.getNumThreads() == 2
        assert stage.told == 2
        assert chosen.threads == 3  # the user's choice is kept
        apply_threads(budget, sink=auto)
        assert auto.threads == 1  # "codec chooses" would mean a thread per core: capped
        assert source.threads == 1
    finally:
        torch.set_num_threads(before[0])
        cv2.setNumThreads(before[1])


def test_cores_come_from_affinity_or_the_override(monkeypatch):
    assert available_cores() == len(os.sched_getaffinity(0))
    monkeypatch.setenv("VIDSYNTH_CORES", "3")
    assert available_cores() == 3


def test_environment_defaults_do_not_override_the_user(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "5")
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    configure_environment(cores=2)
    assert os.environ["OMP_NUM_THREADS"] == "5"
    assert os.environ["MKL_NUM_THREADS"] == "1"


def test_function_stages_get_a_share():
    budget = plan_threads([FunctionStage(lambda f: f, name="id")], cores=2)
    assert budget.stages == {"id": 1}
