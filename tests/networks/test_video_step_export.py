"""The video models' step as a plain function of tensors: one graph per warm-up phase exports to ONNX with
its state as inputs and outputs, and ONNX Runtime streams 30 frames as eager does (fp32, within 1e-4);
the step compiles with ``torch.compile(fullgraph=True)`` (no graph break) and gives eager's frames."""

import os

import pytest
import torch

from vidsynth.engine.backends.onnx_export import export_onnx
from vidsynth.networks.fs_vid2vid import FewShotVid2VidConfig, FewShotVid2VidGenerator
from vidsynth.networks.vid2vid import EmbedConfig, Vid2VidConfig, Vid2VidGenerator
from vidsynth.networks.video_state import NEXT, PhasedStep, StepGraph, phase_of
from vidsynth.networks.wc_vid2vid import WCVid2VidConfig, WCVid2VidGenerator

ort = pytest.importorskip("onnxruntime", reason="onnxruntime is in requirements.txt")

FRAMES = 30
MODELS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "engine", "data", "models")


def _wc_vid2vid():
    return WCVid2VidGenerator(WCVid2VidConfig.tiny(label_channels=5)), {"guidance": True}


def _fs_vid2vid(k=1):
    model = FewShotVid2VidGenerator(FewShotVid2VidConfig.tiny(label_channels=5, output_size=(32, 64), few_shot_K=k))
    return model, {"references": k}


# vid2vid itself streams free-running in the trained-model test
MODELS = {"wc_vid2vid": _wc_vid2vid, "fs_vid2vid": _fs_vid2vid,
          "fs_vid2vid_two_references": lambda: _fs_vid2vid(2)}


def _stream_inputs(extras: dict, seed: int = 1):
    """A stream's frames: one-hot labels that move (a shifted map), and the guidance a world would give."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, 5, (1, 32, 64), generator=g)
    frames = []
    for t in range(FRAMES):
        label = torch.nn.functional.one_hot(torch.roll(ids, t, dims=2), 5).permute(0, 3, 1, 2).float()
        conditions = {"label": label}
        if extras.get("guidance"):
            mask = (torch.rand(1, 1, 32, 64, generator=g) > 0.5).float()
            conditions["guidance"] = torch.cat([(torch.rand(1, 3, 32, 64, generator=g) * 2 - 1) * mask, mask], 1)
        frames.append(conditions)
    return frames


def _initial_state(model, extras: dict):
    k = extras.get("references")
    if not k:
        return model.initial_state()
    g = torch.Generator().manual_seed(7)
    # pictures are smooth (white noise would turn a 1e-6 px flow difference into 1e-4 in the warped reference)
    coarse = torch.rand(k, 3, 4, 8, generator=g) * 2 - 1
    images = torch.nn.functional.interpolate(coarse, size=(32, 64), mode="bilinear", align_corners=False)[None]
    labels = torch.rand(1, k, 5, 32, 64, generator=g)
    return model.initial_state(model.encode_references(images, labels))


def _onnx_runner(folder):
    def make(graph: StepGraph, inputs: dict):
        path = export_onnx(graph, inputs, folder / f"phase{len(list(folder.iterdir()))}.onnx")
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        names = [i.name for i in session.get_inputs()]
        assert set(names) <= set(graph.input_names)
        assert [o.name for o in session.get_outputs()] == list(graph.output_names)

        def run(named: dict) -> dict:
            values = session.run(None, {k: named[k].numpy() for k in names})
            return {k: torch.from_numpy(v) for k, v in zip(graph.output_names, values)}
        return run
    return make


def _close(got: dict, want: dict, where) -> None:
    assert set(got) == set(want), where
    for key, value in want.items():
        if value.is_floating_point():
            scale = max(float(value.abs().max()), 1e-6)
            assert float((got[key] - value).abs().max()) / scale < 1e-4, (where, key)
        else:
            assert torch.equal(got[key], value), (where, key)


def test_trained_vid2vid_streams_30_frames_on_onnx_runtime_like_eager(tmp_path):
    """The shipped street model (demo:street, 128x128), free-running: ONNX Runtime's state goes on from its own
    outputs for 30 frames and stays within 1e-4 of eager's frames, flows and state."""
    from vidsynth.networks.model_file import load_model

    model = load_model(os.path.join(MODELS_DIR, "vid2vid_street_128.safetensors")).eval()
    c, (h, w) = model.config.label_channels, model.config.output_size
    g = torch.Generator().manual_seed(1)
    blocks = torch.randint(0, c, (1, 1, h // 8, w // 8), generator=g).float()
    ids = torch.nn.functional.interpolate(blocks, size=(h, w), mode="nearest")[0].long()  # regions of classes
    stepper = PhasedStep(model, _onnx_runner(tmp_path))
    with torch.no_grad():
        eager_state = model.initial_state()
        graph_state = dict(eager_state)
        for t in range(FRAMES):  # the scene moves sideways a pixel per frame
            conditions = {"label": torch.nn.functional.one_hot(torch.roll(ids, t, dims=2), c).permute(0, 3, 1, 2).float()}
            want, eager_state = model.step(conditions, eager_state)
            got, graph_state = stepper.step(conditions, graph_state)
            _close(got, want, t)
            _close(graph_state, eager_state, t)
    assert "flow" in want and sorted(p for p, _ in stepper.runners) == [0, 1, 2]  # one graph per warm-up phase
    first = stepper.graphs[(0, ("label",))]  # no zero-size inputs: the empty history is built inside the graph
    assert first.input_names == ("label",)
    steady = stepper.graphs[(2, ("label",))]
    assert steady.input_names == ("label", "prev_labels", "prev_images")
    assert steady.output_names == ("image", "flow", "occlusion_mask", "warped_image",
                                   NEXT + "prev_labels", NEXT + "prev_images")


@pytest.mark.parametrize("name", sorted(MODELS))
def test_onnx_runtime_steps_like_eager_at_every_phase(name, tmp_path):
    """Untrained tiny models: a random recurrence amplifies any rounding difference from frame to frame (eager
    at another thread count diverges too), so each graph step starts from eager's state; 30 frames go
    through every phase's graph, and the state each hands on matches eager's."""
    torch.manual_seed(0)
    model, extras = MODELS[name]()
    model.eval()
    frames = _stream_inputs(extras)
    stepper = PhasedStep(model, _onnx_runner(tmp_path))
    with torch.no_grad():
        state = _initial_state(model, extras)
        for t, conditions in enumerate(frames):
            got, graph_state = stepper.step(conditions, state)
            want, state = model.step(conditions, state)
            _close(got, want, t)
            _close(graph_state, state, t)
    warm = model.config.num_frames_G
    assert sorted(p for p, _ in stepper.runners) == list(range(warm))  # one graph per warm-up phase
    steady = stepper.graphs[(warm - 1, tuple(frames[0]))]
    assert {"label", "prev_labels", "prev_images"} <= set(steady.input_names)
    assert {NEXT + "prev_labels", NEXT + "prev_images", "image", "flow"} <= set(steady.output_names)
    if extras.get("references"):  # encoded once per stream: state inputs that no graph hands back
        assert "ref_images" in steady.input_names and NEXT + "ref_images" not in steady.output_names
    if extras.get("guidance"):
        assert "guidance" in steady.input_names


@pytest.mark.slow
def test_step_compiles_fullgraph_and_matches_eager():
    """Dynamo captures the steady-state step as one graph (fullgraph=True raises on any graph break)."""
    torch.manual_seed(0)
    plain = EmbedConfig(num_filters=4, max_num_filters=16, num_downsamples=2, weight_norm="none")
    model = Vid2VidGenerator(Vid2VidConfig.tiny(label_channels=5, weight_norm="none", embed=plain)).eval()
    frames = _stream_inputs({})[:4]
    state = model.initial_state()
    with torch.no_grad():
        for conditions in frames[:2]:
            _, state = model.step(conditions, state)
        assert phase_of(state) == model.config.num_frames_G - 1
        graph = StepGraph(model, frames[2], state)
        compiled = torch.compile(graph, fullgraph=True, backend="eager")
        eager_state = compiled_state = state
        for conditions in frames[2:]:
            want, eager_state = model.step(conditions, eager_state)
            got, compiled_state = graph.split(compiled(**graph.inputs(conditions, compiled_state)), compiled_state)
            for key in want:
                assert torch.equal(got[key], want[key]), key
    torch._dynamo.reset()
