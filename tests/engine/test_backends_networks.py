"""Backends on real generators from vidsynth.networks (tiny configs): ONNX Runtime reproduces eager."""

from __future__ import annotations

import onnx
import pytest
import torch

from vidsynth.engine.backends import make_runner, unsupported_tensorrt_ops

registry = pytest.importorskip("vidsynth.networks.registry")
labels_mod = pytest.importorskip("vidsynth.networks.labels")

CASES = {
    "pix2pixhd": {"label": labels_mod.LabelLayout(5, False, True), "num_filters": 4, "num_downsamples": 2,
                  "num_res_blocks": 1, "num_enhancers": 1, "enhancer_res_blocks": 1},
    "spade": {"label": labels_mod.LabelLayout(5, False, False), "num_filters": 4, "spade_filters": 4,
              "output_size": 256},
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_generator_runs_on_onnxruntime_like_eager(name, tmp_path):
    torch.manual_seed(0)
    net = registry.build_model(name, CASES[name]).eval()
    ids = torch.randint(0, 5, (1, 32, 32), generator=torch.Generator().manual_seed(1))
    label = net.config.label.encode(ids, instance_map=ids)
    runner = make_runner(net, {"label": label}, backend="onnx", cache_dir=tmp_path)
    other = net.config.label.encode(torch.flip(ids, [2]), instance_map=ids)  # a different frame, same shape
    out = runner({"label": other})["output"]
    with torch.no_grad():
        ref = net(other)
    assert out.shape == ref.shape == (1, 3, 32, 32)
    assert ((out - ref).abs().max() / ref.abs().max()).item() < 1e-4
    # the same graph is what TensorRT would parse: only ops its ONNX parser supports
    assert unsupported_tensorrt_ops(runner.onnx_path) == set()
    assert "Conv" in {n.op_type for n in onnx.load(str(runner.onnx_path)).graph.node}


def test_vid2vid_steady_state_step_runs_on_onnxruntime_like_eager(tmp_path):
    """The video generator's per-frame call with its previous frames as tensors: flow, mask, warp and all."""
    vid2vid = pytest.importorskip("vidsynth.networks.vid2vid")
    torch.manual_seed(0)
    net = vid2vid.Vid2VidGenerator(vid2vid.Vid2VidConfig.tiny(label_channels=5)).eval()
    g = torch.Generator().manual_seed(2)

    def frame_inputs():
        one_hot = lambda: torch.nn.functional.one_hot(torch.randint(0, 5, (1, 32, 64), generator=g), 5).permute(0, 3, 1, 2).float()
        return {"label": one_hot(), "prev_labels": torch.stack([one_hot(), one_hot()], 1),
                "prev_images": torch.rand(1, 2, 3, 32, 64, generator=g) * 2 - 1}

    runner = make_runner(net, frame_inputs(), backend="onnx", cache_dir=tmp_path)
    assert set(runner.output_names) == {"image", "flow", "occlusion_mask", "warped_image"}
    inputs = frame_inputs()
    out = runner(inputs)
    with torch.no_grad():
        ref = net(**inputs)
    for key in runner.output_names:
        assert ((out[key] - ref[key]).abs().max() / ref[key].abs().max()).item() < 1e-4, key
    # the exporter's float64 size arithmetic (the warp grid) is computed in float32: TensorRT has no
    # float64, and ONNX Runtime has no float64 GridSample
    graph = onnx.shape_inference.infer_shapes(onnx.load(str(runner.onnx_path))).graph
    assert all(v.type.tensor_type.elem_type != onnx.TensorProto.DOUBLE for v in graph.value_info)
    assert unsupported_tensorrt_ops(runner.onnx_path) == set()
    # the first frame (no previous frames) has no flow: those outputs are absent, not None
    first = make_runner(net, {"label": inputs["label"]}, backend="eager")
    assert first.output_names == ("image",)
