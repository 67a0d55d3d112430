"""Import of NVIDIA imaginaire checkpoints and YAML configs.

An imaginaire training checkpoint is a ``torch.save`` dict whose ``net_G`` entry holds the generator.
Its keys come in two layouts:

* the training weights, under ``module.`` (plain ``WrappedModel``/DDP) or ``module.module.`` (with
  ``ModelAverage``), where spectral-normalised layers store ``weight_orig``, ``weight_u`` and
  ``weight_v`` (weight-normalised ones ``weight_g`` and ``weight_v``);
* the EMA copy under ``module.averaged_model.``, with plain (already normalised) weights.

:func:`imaginaire_state_dict` picks one layout, strips its prefix, folds the weight norms into plain
weights exactly as torch computes them at inference, and renames imaginaire's block names to ours
(``layers.conv`` -> ``conv``, ``conv_block_s`` -> ``shortcut``, ...). Model-specific renames are
registered with :func:`register_key_hook`. :func:`convert_imaginaire` does the whole job.

Example (paths are an imaginaire model-zoo checkpoint and its config):

    model = convert_imaginaire("spade_cocostuff.pt", "configs/projects/spade/cocostuff/base128_bs4.yaml")
    save_model(model, "spade.safetensors")
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any, Callable, Mapping

import torch
from torch import nn

from vidsynth.errors import VidsynthError, require

from .registry import model_class

__all__ = [
    "read_imaginaire_yaml",
    "imaginaire_model_name",
    "config_from_imaginaire",
    "load_imaginaire_checkpoint",
    "imaginaire_state_dict",
    "fold_weight_norm_keys",
    "rename_imaginaire_keys",
    "register_key_hook",
    "load_converted_state",
    "convert_imaginaire",
    "label_channels",
    "image_channels",
    "crop_size",
]

# imaginaire generator module -> our model name
_GENERATOR_TYPES = {
    "pix2pixhd": "pix2pixhd",
    "spade": "spade",
    "unit": "unit",
    "munit": "munit",
    "funit": "funit",
    "coco_funit": "coco_funit",
    "vid2vid": "vid2vid",
    "fs_vid2vid": "fs_vid2vid",
    "wc_vid2vid": "wc_vid2vid",
}

# imaginaire block names -> ours, applied to every dotted path segment
_GENERIC_RENAMES = [
    (re.compile(r"(^|\.)layers\.conv\."), r"\1conv."),
    (re.compile(r"(^|\.)layers\.norm\."), r"\1norm."),
    (re.compile(r"(^|\.)layers\.nonlinearity\."), r"\1act."),
    (re.compile(r"(^|\.)conv_block_0\."), r"\1conv_0."),
    (re.compile(r"(^|\.)conv_block_1\."), r"\1conv_1."),
    (re.compile(r"(^|\.)conv_block_s\."), r"\1shortcut."),
]

_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?|[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)"
    r"|\.[0-9_]+(?:[eE][-+][0-9]+)?|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)

KeyHook = Callable[[dict, Any], dict]
_KEY_HOOKS: dict[str, KeyHook] = {}


# ----------------------------------------------------------------------------------------------- YAML


def read_imaginaire_yaml(path: str | os.PathLike) -> dict:
    """Parse an imaginaire YAML config into plain dicts."""
    yaml = require("yaml", "reading imaginaire configs")
    if not os.path.isfile(path):
        raise VidsynthError(f"imaginaire config {str(path)!r} not found; pass the YAML the checkpoint was trained with")
    class _Loader(yaml.SafeLoader):
        """SafeLoader that also reads ``1e-4`` (no dot) as a float, as imaginaire's loader does."""

    _Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))
    try:
        with open(path, encoding="utf-8") as fh:
            cfg = yaml.load(fh, Loader=_Loader)
    except yaml.YAMLError as exc:
        raise VidsynthError(f"imaginaire config {str(path)!r} is not valid YAML ({exc})") from None
    if not isinstance(cfg, dict) or not isinstance(cfg.get("gen"), dict):
        raise VidsynthError(
            f"imaginaire config {str(path)!r} has no 'gen:' section; expected an imaginaire training config"
        )
    return cfg


def imaginaire_model_name(cfg: Mapping) -> str:
    """Our model name for an imaginaire config (from ``gen.type``, e.g. ``imaginaire.generators.spade``)."""
    gen_type = str(cfg.get("gen", {}).get("type", ""))
    key = gen_type.rsplit(".", 1)[-1].lower()
    if key not in _GENERATOR_TYPES:
        raise VidsynthError(
            f"imaginaire generator type {gen_type!r} is not supported; expected one of "
            f"{', '.join('imaginaire.generators.' + k for k in _GENERATOR_TYPES)}"
        )
    return _GENERATOR_TYPES[key]


def config_from_imaginaire(cfg: Mapping | str | os.PathLike) -> tuple[str, Any]:
    """(model name, our config dataclass) for an imaginaire config dict or YAML path."""
    if not isinstance(cfg, Mapping):
        cfg = read_imaginaire_yaml(cfg)
    name = imaginaire_model_name(cfg)
    cls = model_class(name)
    return name, cls.config_cls.from_imaginaire(cfg)


def _types(data_cfg: Mapping) -> list[tuple[str, dict]]:
    out = []
    for entry in data_cfg.get("input_types", []) or []:
        for key, value in entry.items():
            out.append((key, value or {}))
    return out


def label_channels(data_cfg: Mapping) -> int:
    """Channels of the concatenated label input (one-hot classes, don't-care, other label maps)."""
    labels = data_cfg.get("input_labels") or []
    one_hot = data_cfg.get("one_hot_num_classes") or {}
    total = 0
    for key, spec in _types(data_cfg):
        if key in labels:
            if key in one_hot:
                total += int(one_hot[key]) + int(bool(data_cfg.get("use_dont_care", False)))
            else:
                total += int(spec.get("num_channels", 1))
    return total


def image_channels(data_cfg: Mapping) -> int:
    """Channels of the concatenated image input (3 for RGB)."""
    images = data_cfg.get("input_image") or []
    return sum(int(spec.get("num_channels", 3)) for key, spec in _types(data_cfg) if key in images) or 3


def crop_size(data_cfg: Mapping, split: str = "train") -> tuple[int, int] | None:
    """(height, width) of the first ``*crop_h_w`` augmentation of ``split``, if any."""
    aug = (data_cfg.get(split) or {}).get("augmentations") or {}
    for key, value in aug.items():
        if "crop_h_w" in key:
            h, w = str(value).split(",")
            return int(h), int(w)
    return None


# -------------------------------------------------------------------------------------------- weights


def register_key_hook(model_name: str, hook: KeyHook) -> None:
    """Register ``hook(state, config) -> state``, run after the generic renames for ``model_name``."""
    _KEY_HOOKS[model_name] = hook


def load_imaginaire_checkpoint(path: str | os.PathLike) -> dict:
    """``torch.load(weights_only=True)`` of an imaginaire checkpoint, as a dict."""
    if not os.path.isfile(path):
        raise VidsynthError(f"checkpoint {str(path)!r} not found")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # pickle errors come in many types
        raise VidsynthError(
            f"could not read {str(path)!r} as a PyTorch checkpoint ({type(exc).__name__}: {exc}); "
            "expected an imaginaire .pt training checkpoint"
        ) from None
    if not isinstance(ckpt, dict):
        raise VidsynthError(f"{str(path)!r} holds a {type(ckpt).__name__}, expected a checkpoint dict with 'net_G'")
    return ckpt


def imaginaire_state_dict(ckpt: Mapping[str, torch.Tensor], ema: bool = True) -> tuple[dict, str]:
    """The generator's raw state (prefix stripped, weight norms not yet folded) and which layout it was.

    ``ckpt`` may be a whole training checkpoint (with ``net_G``) or a ``net_G`` state dict, or a bare
    generator state dict. With ``ema`` the EMA copy is used when the checkpoint has one.
    Returns (state, layout) with layout ``"ema"``, ``"training"`` or ``"bare"``.
    """
    if "net_G" in ckpt and isinstance(ckpt["net_G"], Mapping):
        ckpt = ckpt["net_G"]
    keys = [k for k in ckpt if isinstance(ckpt[k], torch.Tensor)]
    if not keys:
        raise VidsynthError("the checkpoint holds no tensors; expected imaginaire generator weights ('net_G')")
    ema_prefix, train_prefix = "module.averaged_model.", "module.module."
    has_ema = any(k.startswith(ema_prefix) for k in keys)
    if has_ema and ema:
        prefix, layout = ema_prefix, "ema"
    elif any(k.startswith(train_prefix) for k in keys):
        prefix, layout = train_prefix, "training"
    elif all(k.startswith("module.") for k in keys):
        prefix, layout = "module.", "training"
    else:
        prefix, layout = "", "bare"
    # module.num_updates_tracked and the other layout's copy are left behind on purpose
    state = {k[len(prefix):]: ckpt[k] for k in keys if k.startswith(prefix)}
    return state, layout


def _spectral_dim(model: nn.Module | None, key: str) -> int:
    """Spectral norm normalises over dim 1 for transposed convs, dim 0 otherwise."""
    if model is None:
        return 0
    path = key.rsplit(".", 1)[0]
    try:
        module = model.get_submodule(path)
    except AttributeError:
        return 0
    return 1 if isinstance(module, nn.modules.conv._ConvTransposeNd) else 0


def fold_weight_norm_keys(state: Mapping[str, torch.Tensor], model: nn.Module | None = None) -> dict:
    """Replace ``weight_orig/_u/_v`` (spectral) and ``weight_g/_v`` (weight norm) by the plain ``weight``.

    The spectral weight is ``W / (u · W_mat v)`` with the stored ``u, v`` (torch's eval-mode rule,
    no power iteration). Key paths must already be ours when ``model`` is given (for the ConvTranspose dim).
    """
    out: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        base, _, leaf = key.rpartition(".")
        pre = base + "." if base else ""
        if leaf.endswith("_orig") and f"{pre}{leaf[:-5]}_u" in state and f"{pre}{leaf[:-5]}_v" in state:
            name = leaf[:-5]
            weight = value.float()
            u, v = state[f"{pre}{name}_u"].float(), state[f"{pre}{name}_v"].float()
            dim = _spectral_dim(model, pre + name)
            mat = weight.movedim(dim, 0) if dim else weight
            mat = mat.reshape(mat.shape[0], -1)
            sigma = torch.dot(u, torch.mv(mat, v))
            out[pre + name] = (weight / sigma).to(value.dtype)
        elif leaf.endswith("_g") and f"{pre}{leaf[:-2]}_v" in state:
            name = leaf[:-2]
            out[pre + name] = torch._weight_norm(state[f"{pre}{name}_v"], value, 0)
        elif (leaf.endswith("_u") or leaf.endswith("_v")) and f"{pre}{leaf[:-2]}_orig" in state:
            continue
        elif leaf.endswith("_v") and f"{pre}{leaf[:-2]}_g" in state:
            continue
        else:
            out[key] = value
    return out


def rename_imaginaire_keys(state: Mapping[str, torch.Tensor]) -> dict:
    """imaginaire block names -> ours (see the module docstring)."""
    out = {}
    for key, value in state.items():
        new = key
        for pattern, repl in _GENERIC_RENAMES:
            new = pattern.sub(repl, new)
        out[new] = value
    return out


def _summarise(keys: list[str], limit: int = 8) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys) - limit} more)" if len(keys) > limit else "")


def load_converted_state(model: nn.Module, state: Mapping[str, torch.Tensor], source: str = "checkpoint") -> nn.Module:
    """Load ``state`` into ``model`` strictly; mismatches raise :class:`VidsynthError` naming the keys."""
    expected = model.state_dict()
    missing = sorted(k for k in expected if k not in state)
    extra = sorted(k for k in state if k not in expected)
    name = getattr(model, "model_name", type(model).__name__)
    if missing or extra:
        matched = len(expected) - len(missing)
        if matched < 0.5 * len(expected):
            raise VidsynthError(
                f"{source} does not fit a {name} model with this config: only {matched} of its "
                f"{len(expected)} tensors match ({len(missing)} missing, {len(extra)} unexpected, e.g. "
                f"missing {_summarise(missing, 3)}; unexpected {_summarise(extra, 3)}); is it a checkpoint "
                "of a different model, or was it trained with a different config?"
            )
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing key(s): {_summarise(missing)}")
        if extra:
            parts.append(f"{len(extra)} unexpected key(s): {_summarise(extra)}")
        raise VidsynthError(
            f"{source} does not match the {name} model ({len(expected)} tensors expected): "
            + "; ".join(parts) + "; check that the config matches the checkpoint"
        )
    wrong = [f"{k} {list(state[k].shape)} vs {list(v.shape)}" for k, v in expected.items()
             if tuple(state[k].shape) != tuple(v.shape)]
    if wrong:
        raise VidsynthError(
            f"{source} has {len(wrong)} tensor(s) whose shape differs from the {name} model built from the config "
            f"(found vs expected): {_summarise(wrong, 5)}; check that the config matches the checkpoint"
        )
    with torch.no_grad():
        model.load_state_dict({k: state[k] for k in expected}, strict=True)
    return model


def convert_state(model: nn.Module, ckpt: Mapping[str, torch.Tensor], ema: bool = True) -> tuple[dict, str]:
    """imaginaire checkpoint (any layout) -> a state dict for ``model``, and the layout used."""
    raw, layout = imaginaire_state_dict(ckpt, ema=ema)
    state = rename_imaginaire_keys(raw)
    hook = _KEY_HOOKS.get(getattr(model, "model_name", ""))
    if hook is not None:
        state = hook(state, model.config)
    # Some models differ between imaginaire's training and EMA copies beyond weights (fs-vid2vid's eps).
    adapt = getattr(model, "adapt_to_imaginaire_layout", None)
    if adapt is not None:
        adapt(layout)
    state = fold_weight_norm_keys(state, model)
    return state, layout


def convert_imaginaire(ckpt_path: str | os.PathLike, yaml_path: str | os.PathLike, ema: bool = True) -> nn.Module:
    """Build our model from an imaginaire YAML and load its checkpoint: the one-call conversion.

    Uses the EMA copy when ``ema`` and the checkpoint has one (as imaginaire's own inference does),
    else the training weights with their spectral norms folded. Returns the model in eval mode.
    """
    name, config = config_from_imaginaire(yaml_path)
    model = model_class(name)(config)
    ckpt = load_imaginaire_checkpoint(ckpt_path)
    state, layout = convert_state(model, ckpt, ema=ema)
    load_converted_state(model, state, source=f"checkpoint {os.fspath(ckpt_path)!r}")
    if ema and layout != "ema":
        warnings.warn(f"{os.fspath(ckpt_path)} has no EMA copy (module.averaged_model.); used the training weights")
    return model.eval()
