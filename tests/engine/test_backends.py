"""Backends: every runner against the plain module, on a small net with the ops our generators use."""

from __future__ import annotations

import copy
import importlib.util
import warnings

import onnx
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from vidsynth.engine import backends
from vidsynth.engine.backends import (
    BackendUnavailable,
    OnnxRunner,
    available_backends,
    export_for_tensorrt,
    make_runner,
    module_fingerprint,
    onnx_cache_key,
    tensorrt_cache_key,
    unsupported_tensorrt_ops,
)
from vidsynth.errors import MissingDependency, VidsynthError


class TinyGenerator(nn.Module):
    """Labels + a flow field in, an image and a mask out: conv, instance norm, down/upsampling, grid_sample."""

    def __init__(self, labels: int = 4, width: int = 8):
        super().__init__()
        self.head = nn.Conv2d(labels, width, 3, padding=1)
        self.norm = nn.InstanceNorm2d(width, affine=True)
        self.down = nn.Conv2d(width, width * 2, 3, stride=2, padding=1)
        self.up = nn.Conv2d(width * 2, width, 3, padding=1)
        self.to_image = nn.Conv2d(width, 3, 3, padding=1)
        self.to_mask = nn.Conv2d(width, 1, 1)
        with torch.no_grad():  # non-trivial affine norm parameters, so a dropped affine would show
            self.norm.weight.uniform_(0.5, 1.5)
            self.norm.bias.uniform_(-0.5, 0.5)

    def forward(self, labels: torch.Tensor, flow: torch.Tensor) -> dict[str, torch.Tensor]:
        h = F.leaky_relu(self.norm(self.head(labels)), 0.2)
        h = F.relu(self.down(h))
        h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)
        h = F.relu(self.up(h))
        image = torch.tanh(self.to_image(h))
        grid = flow.permute(0, 2, 3, 1)
        warped = F.grid_sample(image, grid, mode="bilinear", padding_mode="border", align_corners=False)
        return {"image": warped, "mask": torch.sigmoid(self.to_mask(h))}


def make_inputs(size: int = 32, labels: int = 4, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, labels, (1, size, size), generator=g)
    one_hot = F.one_hot(ids, labels).permute(0, 3, 1, 2).float()
    ys, xs = torch.meshgrid(torch.linspace(-1, 1, size), torch.linspace(-1, 1, size), indexing="ij")
    identity = torch.stack([xs, ys])[None]
    flow = identity + 0.1 * torch.randn(1, 2, size, size, generator=g)
    return {"labels": one_hot, "flow": flow}


@pytest.fixture
def net():
    torch.manual_seed(0)
    return TinyGenerator().eval()


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).abs().max() / b.abs().max()).item()


# ---------------------------------------------------------------- eager


def test_eager_fp32_is_bit_identical_and_leaves_module_alone(net):
    inputs = make_inputs()
    weights = {k: v.clone() for k, v in net.state_dict().items()}
    runner = make_runner(net, inputs, backend="eager")
    assert (runner.name, runner.precision, runner.device.type) == ("eager", "fp32", "cpu")
    assert runner.output_names == ("image", "mask")
    other = make_inputs(seed=1)
    out = runner(other)
    with torch.no_grad():
        ref = net(**other)
    assert torch.equal(out["image"], ref["image"]) and torch.equal(out["mask"], ref["mask"])
    assert runner.module.module is net  # fp32 on the same device: no copy, same weights
    assert all(torch.equal(weights[k], v) for k, v in net.state_dict().items())
    assert not runner.channels_last


def test_eager_bf16_uses_autocast_and_channels_last_when_cpu_has_it(net, monkeypatch):
    monkeypatch.setattr(backends.eager, "cpu_bf16_support", lambda: (True, "test: pretend amx_bf16"))
    inputs = make_inputs()
    runner = make_runner(net, inputs, backend="eager", precision="bf16")
    assert runner.precision == "bf16" and runner.channels_last
    out = runner(inputs)
    with torch.no_grad():
        ref = net(**inputs)
    assert out["image"].dtype == torch.float32
    error = relative_error(out["image"], ref["image"])
    assert 0 < error < 5e-2  # really computed in bf16, and still close
    # the caller's module keeps fp32 contiguous weights; the runner converted a copy
    assert net.head.weight.is_contiguous() and runner.module.module is not net


def test_eager_bf16_falls_back_to_fp32_on_cpus_without_it(net, monkeypatch):
    monkeypatch.setattr(backends.eager, "cpu_bf16_support", lambda: (False, "test: no avx512_bf16"))
    inputs = make_inputs()
    with pytest.warns(UserWarning, match="without native bf16"):
        runner = make_runner(net, inputs, backend="eager", precision="bf16")
    assert runner.precision == "fp32"
    quiet = make_runner(net, inputs, backend="eager", precision="auto")  # auto: no warning, fp32
    assert quiet.precision == "fp32"
    assert torch.equal(runner(inputs)["image"], net(**inputs)["image"].detach())


def test_eager_auto_precision_follows_this_cpu(net):
    runner = make_runner(net, make_inputs(), backend="eager", precision="auto")
    supported, _ = backends.cpu_bf16_support()
    assert runner.precision == ("bf16" if supported else "fp32")


def test_unsupported_options_are_clear_errors(net):
    inputs = make_inputs()
    with pytest.raises(VidsynthError, match="fp16 runs on cuda only"):
        make_runner(net, inputs, precision="fp16")
    with pytest.raises(VidsynthError, match="backend must be one of"):
        make_runner(net, inputs, backend="tflite")
    with pytest.raises(VidsynthError, match="opset must be at least 16"):
        make_runner(net, inputs, backend="onnx", opset=13)
    if not torch.cuda.is_available():
        with pytest.raises(VidsynthError, match="no CUDA GPU"):
            make_runner(net, inputs, device="cuda")


def test_wrong_inputs_name_what_was_expected(net):
    runner = make_runner(net, make_inputs(), backend="eager")
    with pytest.raises(VidsynthError, match=r"missing \['flow'\], unexpected \['flows'\]"):
        runner({"labels": make_inputs()["labels"], "flows": make_inputs()["flow"]})
    with pytest.raises(VidsynthError, match="dict of named tensors"):
        runner(make_inputs()["labels"])
    with pytest.raises(VidsynthError, match="non-empty dict of named tensors"):
        make_runner(net, make_inputs()["labels"])


def test_modules_returning_tensors_or_tuples_get_named_outputs():
    conv = nn.Conv2d(3, 2, 1)
    x = {"input": torch.randn(1, 3, 8, 8)}
    assert make_runner(conv, x).output_names == ("output",)

    class Pair(nn.Module):
        def forward(self, a, b):
            return a + b, a * b

    pair = {"a": torch.randn(2, 3), "b": torch.randn(2, 3)}
    out = make_runner(Pair(), pair)(pair)
    assert torch.equal(out["output1"], pair["a"] * pair["b"])
    named = make_runner(Pair(), pair, output_names=("sum", "product"))
    assert named.output_names == ("sum", "product")
    with pytest.raises(VidsynthError, match="2 outputs but 1 output names"):
        make_runner(Pair(), pair, output_names=("sum",))

    class Words(nn.Module):
        def forward(self, a):
            return "not a tensor"

    with pytest.raises(VidsynthError, match="found str"):
        make_runner(Words(), {"a": torch.zeros(1)})


# ---------------------------------------------------------------- onnx


def test_onnx_matches_eager_and_is_cached_on_disk(net, tmp_path, monkeypatch):
    inputs = make_inputs()
    runner = make_runner(net, inputs, backend="onnx", cache_dir=tmp_path, threads=1)
    assert (runner.name, runner.precision, runner.output_names) == ("onnx", "fp32", ("image", "mask"))
    graphs = list((tmp_path / "onnx").glob("*.onnx"))
    assert graphs == [runner.onnx_path]
    for seed in (1, 2):
        other = make_inputs(seed=seed)
        out = runner(other)
        with torch.no_grad():
            ref = net(**other)
        for key in ("image", "mask"):
            assert out[key].dtype == torch.float32
            assert relative_error(out[key], ref[key]) < 1e-4
    session = next(iter(runner._sessions.values()))
    assert session.get_session_options().intra_op_num_threads == 1
    runner.configure_threads(2)  # a new share of the thread budget reopens the session at that size
    assert relative_error(runner(inputs)["image"], net(**inputs)["image"].detach()) < 1e-4
    assert next(iter(runner._sessions.values())).get_session_options().intra_op_num_threads == 2

    # a second runner for the same weights and shapes loads the cached graph instead of exporting
    def no_export(*args, **kwargs):
        raise AssertionError("exported again despite a cached graph")

    monkeypatch.setattr(backends.onnxruntime_runner, "export_onnx", no_export)
    again = make_runner(copy.deepcopy(net), inputs, backend="onnx", cache_dir=tmp_path)
    assert again.onnx_path == runner.onnx_path
    assert torch.equal(again(inputs)["image"], runner(inputs)["image"])


def test_onnx_new_shape_exports_another_graph(net, tmp_path):
    runner = make_runner(net, make_inputs(32), backend="onnx", cache_dir=tmp_path)
    bigger = make_inputs(48, seed=3)
    out = runner(bigger)
    assert out["image"].shape == (1, 3, 48, 48)
    assert relative_error(out["image"], net(**bigger)["image"].detach()) < 1e-4
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 2


def test_onnx_cache_key_follows_weights_shapes_and_precision(net):
    inputs = make_inputs()
    fp = module_fingerprint(net)
    assert fp == module_fingerprint(copy.deepcopy(net))
    key = onnx_cache_key(fp, inputs, "fp32")
    changed = copy.deepcopy(net)
    with torch.no_grad():
        changed.to_image.bias[0] += 1e-3
    assert onnx_cache_key(module_fingerprint(changed), inputs, "fp32") != key
    assert onnx_cache_key(fp, make_inputs(48), "fp32") != key
    assert onnx_cache_key(fp, inputs, "fp16") != key
    assert onnx_cache_key(fp, inputs, "fp32", opset=18) != key
    assert onnx_cache_key(fp, inputs, "fp32") == key


def test_onnx_bf16_is_unavailable_and_falls_back_when_asked(net, tmp_path):
    inputs = make_inputs()
    with pytest.raises(BackendUnavailable, match="pass precision='fp32'"):
        make_runner(net, inputs, backend="onnx", precision="bf16", cache_dir=tmp_path)
    with pytest.warns(RuntimeWarning, match="backend 'onnx' cannot run here.*falling back to 'eager'"):
        runner = make_runner(net, inputs, backend="onnx", precision="bf16", cache_dir=tmp_path, fallback=True)
    assert runner.name == "eager"


# ---------------------------------------------------------------- tensorrt (not installable here)


def test_tensorrt_cache_key_covers_gpu_version_precision_shapes_and_weights(net):
    inputs = make_inputs()
    fp = module_fingerprint(net)
    base = dict(fingerprint=fp, inputs=inputs, precision="fp16", gpu_name="NVIDIA H100 80GB HBM3", tensorrt_version="10.3.0")
    key = tensorrt_cache_key(**base)
    assert tensorrt_cache_key(**base) == key
    variants = [
        dict(base, gpu_name="NVIDIA A10G"),
        dict(base, tensorrt_version="10.4.0"),
        dict(base, precision="fp32"),
        dict(base, inputs=make_inputs(64)),
        dict(base, fingerprint=module_fingerprint(TinyGenerator(width=4))),
    ]
    assert len({tensorrt_cache_key(**v) for v in variants} | {key}) == len(variants) + 1


def test_tensorrt_graph_is_the_static_fp32_onnx_graph(net, tmp_path):
    inputs = make_inputs()
    path = export_for_tensorrt(net, inputs, tmp_path, module_fingerprint(net))
    model = onnx.load(str(path))
    assert max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx")) >= 17
    ops = {n.op_type for n in model.graph.node}
    assert {"InstanceNormalization", "GridSample", "Resize", "Conv"} <= ops
    assert unsupported_tensorrt_ops(path) == set()
    odd = onnx.helper.make_model(onnx.helper.make_graph(
        [onnx.helper.make_node("Unique", ["x"], ["y"]), onnx.helper.make_node("Relu", ["y"], ["z"])], "odd",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [4])],
        [onnx.helper.make_tensor_value_info("z", onnx.TensorProto.FLOAT, None)]))
    onnx.save(odd, str(tmp_path / "odd.onnx"))
    assert unsupported_tensorrt_ops(tmp_path / "odd.onnx") == {"Unique"}
    for value in list(model.graph.input) + list(model.graph.output):
        assert value.type.tensor_type.elem_type == onnx.TensorProto.FLOAT
        assert all(d.HasField("dim_value") for d in value.type.tensor_type.shape.dim)  # static shapes
    # the same file the onnx backend runs at fp32, so the ONNX Runtime checks cover TensorRT's input
    runner = OnnxRunner(net, inputs, cache_dir=tmp_path)
    assert runner.onnx_path == path


@pytest.mark.skipif(importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed here")
def test_tensorrt_missing_names_the_package_and_falls_back(net, tmp_path):
    inputs = make_inputs()
    with pytest.raises(MissingDependency, match="'tensorrt'.*pip install 'tensorrt'"):
        make_runner(net, inputs, backend="tensorrt", device="cpu", cache_dir=tmp_path)
    with pytest.warns(RuntimeWarning, match="backend 'tensorrt' cannot run here.*tensorrt.*falling back to 'onnx'"):
        runner = make_runner(net, inputs, backend="tensorrt", cache_dir=tmp_path, fallback=True)
    assert runner.name == "onnx"
    ok, detail = available_backends()["tensorrt"]
    assert not ok and "tensorrt" in detail


# ---------------------------------------------------------------- compile, auto, info


@pytest.mark.skipif(not available_backends()["compile"][0], reason="torch.compile is unavailable here")
def test_compile_runs_and_failure_falls_back_to_eager(net):
    inputs = make_inputs()
    # dynamo's own "eager" backend: real graph capture, without minutes of C++ code generation in a test
    runner = make_runner(net, inputs, backend="compile", compile_backend="eager")
    assert runner.name == "compile"
    assert torch.equal(runner(inputs)["image"], net(**inputs)["image"].detach())

    def broken_compiler(graph, example_inputs):
        raise RuntimeError("no C compiler found")

    with pytest.warns(RuntimeWarning, match="torch.compile failed.*no C compiler found"):
        fallen = make_runner(net, inputs, backend="compile", compile_backend=broken_compiler)
    assert fallen.name == "eager"
    assert torch.equal(fallen(inputs)["image"], net(**inputs)["image"].detach())


def test_auto_picks_a_backend_that_matches_eager(net, tmp_path):
    inputs = make_inputs()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # on this CPU the first choice must work without a fallback
        runner = make_runner(net, inputs, backend="auto", cache_dir=tmp_path)
    assert runner.name == "onnx"
    assert relative_error(runner(inputs)["image"], net(**inputs)["image"].detach()) < 1e-4


def test_auto_rejects_a_graph_that_does_not_reproduce_eager(tmp_path):
    class CallCounter(nn.Module):
        """Its output depends on Python state, which a traced graph freezes: the check must catch it."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)
            self.calls = 0

        def forward(self, x):
            self.calls += 1
            return self.conv(x) * self.calls

    inputs = {"x": torch.randn(1, 3, 8, 8)}
    with pytest.warns(RuntimeWarning, match="differs from eager.*falling back to 'eager'"):
        runner = make_runner(CallCounter(), inputs, backend="auto", cache_dir=tmp_path)
    assert runner.name == "eager"


def test_available_backends_reports_each():
    info = available_backends()
    assert set(info) == {"eager", "compile", "onnx", "tensorrt"}
    assert info["eager"][0] and "torch" in info["eager"][1]
    assert info["onnx"] == (True, info["onnx"][1]) and "onnxruntime" in info["onnx"][1]
