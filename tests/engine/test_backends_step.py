"""StepRunner: a video model's step (state in, outputs and state out) through the backends."""

import pytest
import torch

from vidsynth.engine.backends import StepRunner
from vidsynth.errors import VidsynthError
from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig, FewShotVid2VidGenerator
from vidsynth.networks.vid2vid import Vid2VidConfig, Vid2VidGenerator


def _vid2vid():
    torch.manual_seed(0)
    return Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=4)).eval()


def _labels(n, channels=4, h=32, w=64):
    g = torch.Generator().manual_seed(1)
    return [torch.rand(1, channels, h, w, generator=g) for _ in range(n)]


def _stream(stepper, labels, state):
    images = []
    for label in labels:
        out, state = stepper.step({"label": label}, state)
        images.append(out["image"])
    return images, state


def _model_stream(model, labels, state):
    images = []
    with torch.no_grad():
        for label in labels:
            out, state = model.step({"label": label}, state)
            images.append(out["image"])
    return images


def test_eager_step_runner_is_the_model_step_exactly():
    model = _vid2vid()
    labels = _labels(5)
    stepper = StepRunner(model, backend="eager")
    assert stepper.model is model  # already on the device in its layout: no copy of the weights
    images, state = _stream(stepper, labels, stepper.initial_state())
    expected = _model_stream(model, labels, model.initial_state())
    assert all(torch.equal(a, b) for a, b in zip(images, expected))
    assert state["prev_images"].shape[1] == model.config.num_frames_G - 1
    assert sorted(stepper.runners) == [0, 1, 2] and stepper.describe() == "eager on cpu at fp32"


def test_onnx_step_runner_matches_eager_at_every_step_of_30_frames():
    """Each step gets the eager stream's state, so the comparison measures the backend, not the drift of a
    random-weight recurrent network (free-running, tiny differences grow exponentially with random weights;
    benchmarks/models.py measures the free-running stream with the shipped trained models)."""
    pytest.importorskip("onnxruntime", reason="the onnx extra (pip install vidsynth[onnx]) is part of the test setup")
    model = _vid2vid()
    stepper = StepRunner(model, backend="onnx")
    state = model.initial_state()
    worst = 0.0
    with torch.no_grad():
        for label in _labels(30):
            out, next_state = stepper.step({"label": label}, state)
            expected, state = model.step({"label": label}, state)
            for key in ("image", "flow", "warped_image"):
                if key in expected:
                    worst = max(worst, ((out[key] - expected[key]).abs().max() / expected[key].abs().max()).item())
            assert torch.equal(next_state["prev_labels"], state["prev_labels"])
            assert (next_state["prev_images"] - state["prev_images"]).abs().max() <= 1e-3
    assert sorted(expected) == ["flow", "image", "occlusion_mask", "warped_image"]
    assert worst <= 1e-3
    # only the steady phase is exported; the two warm-up frames ran eager
    assert stepper.runners[0].name == "eager" and stepper.runners[1].name == "eager"
    assert stepper.runners[2].name == "onnx" and stepper.describe().startswith("onnx")


def test_few_shot_step_runner_keeps_the_references_in_the_state():
    pytest.importorskip("onnxruntime", reason="the onnx extra (pip install vidsynth[onnx]) is part of the test setup")
    torch.manual_seed(0)
    model = FewShotVid2VidGenerator(FewShotVid2VidConfig.tiny()).eval()
    g = torch.Generator().manual_seed(2)
    ref_images, ref_labels = torch.rand(1, 1, 3, 64, 64, generator=g) * 2 - 1, torch.rand(1, 1, 1, 64, 64, generator=g)
    labels = _labels(6, channels=1, h=64, w=64)
    stepper = StepRunner(model, backend="onnx")
    with torch.no_grad():
        state = model.initial_state(model.encode_references(ref_images, ref_labels))
        ours = stepper.initial_state(stepper.encode_references(ref_images, ref_labels))
        assert all(torch.allclose(ours[k], state[k]) for k in state)
        worst = 0.0
        for label in labels:  # teacher-forced, as above
            out, _ = stepper.step({"label": label}, state)
            expected, state = model.step({"label": label}, state)
            worst = max(worst, ((out["image"] - expected["image"]).abs().max() / expected["image"].abs().max()).item())
    assert "ref_images" in state and stepper.runners[1].name == "onnx"
    assert worst <= 1e-3


def test_lower_precision_runs_warm_up_and_steady_phase_alike():
    model = _vid2vid()
    stepper = StepRunner(model, backend="eager", precision="bf16")
    _stream(stepper, _labels(3), stepper.initial_state())
    if stepper.runners[2].precision == "bf16":  # CPUs without native bf16 run fp32 (and warn)
        assert stepper.model is not model  # channels_last copy; the caller's model is untouched
        assert {r.precision for r in stepper.runners.values()} == {"bf16"}
    assert all(p.is_contiguous() for p in model.parameters() if p.dim() == 4)


def test_an_image_model_is_refused_with_a_clear_message():
    with pytest.raises(VidsynthError, match="video model with step"):
        StepRunner(torch.nn.Conv2d(3, 3, 1))
