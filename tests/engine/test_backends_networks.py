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
