"""Official NVlabs pickles: StyleGAN2-ADA / StyleGAN3-repo snapshots and original TensorFlow StyleGAN2.

Both are read with the restricted unpickler; the generator is rebuilt from the recorded
constructor arguments (ADA) or static kwargs (TF) and filled strictly by name.
"""

import dataclasses
import re

import numpy as np
import torch

from ..config import GeneratorConfig, MappingConfig, SynthesisConfig
from ..errors import CheckpointError, InputError
from ..sg3.config import StyleGAN3Config, StyleGAN3SynthesisConfig
from ._safe_pickle import NetworkStub, PersistentRecord

__all__ = ["ada_config", "ada_state_dict", "is_stylegan3", "stylegan3_config", "tf_config", "tf_state_dict"]

# Constructor arguments that change nothing about the function the generator computes.
_ADA_BEHAVIOUR_ONLY = {"fp16_channels_last", "fused_modconv_default", "channels_last"}
# StyleGAN3 mapping arguments that only freeze layers in training.
_SG3_MAPPING_TRAINING_ONLY = {"freeze_layers", "freeze_embed"}


def _tensor(v) -> torch.Tensor:
    if isinstance(v, torch.Tensor):
        return v.detach().clone().to(torch.float32) if v.is_floating_point() else v.detach().clone()
    return torch.as_tensor(np.asarray(v))


def ada_state_dict(record: PersistentRecord, prefix: str = "") -> dict[str, torch.Tensor]:
    """Flatten a persistent module record into a state dict (parameters, then buffers, then children)."""
    state = record.state
    out: dict[str, torch.Tensor] = {}
    non_persistent = set(state.get("_non_persistent_buffers_set", ()) or ())
    for name, value in (state.get("_parameters") or {}).items():
        if value is not None:
            out[prefix + name] = _tensor(value)
    for name, value in (state.get("_buffers") or {}).items():
        if value is not None and name not in non_persistent:
            out[prefix + name] = _tensor(value)
    for name, child in (state.get("_modules") or {}).items():
        if child is None:
            continue
        if not isinstance(child, PersistentRecord):
            raise CheckpointError(f"unexpected submodule type for '{prefix + name}' ({type(child).__name__})")
        out.update(ada_state_dict(child, prefix + name + "."))
    return out


def ada_config(record: PersistentRecord) -> GeneratorConfig:
    """GeneratorConfig from an ADA/StyleGAN3-repo ``Generator`` record (both kwarg nesting styles)."""
    if record.class_name != "Generator":
        raise CheckpointError(f"expected a Generator network, found {record.class_name!r}")
    kw = {k: (dict(v) if isinstance(v, dict) else v) for k, v in record.init_kwargs.items()}
    mapping = dict(kw.pop("mapping_kwargs", {}) or {})
    synthesis = dict(kw.pop("synthesis_kwargs", {}) or {})
    top = {k: kw.pop(k) for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels") if k in kw}
    synthesis.update(kw)  # StyleGAN3's networks_stylegan2 passes synthesis kwargs at the top level
    for key in _ADA_BEHAVIOUR_ONLY:
        synthesis.pop(key, None)
    mapping.pop("num_ws", None)
    if "resample_filter" in synthesis:
        synthesis["resample_filter"] = tuple(synthesis["resample_filter"])
    try:
        return GeneratorConfig(**top, mapping=MappingConfig(**mapping), synthesis=SynthesisConfig(**synthesis))
    except (TypeError, InputError) as err:
        raise CheckpointError(f"unsupported generator arguments in checkpoint: {err}") from None


def is_stylegan3(record: PersistentRecord) -> bool:
    """Whether a ``Generator`` record is StyleGAN3's: its synthesis network starts with a Fourier-feature input."""
    synthesis = (record.state.get("_modules") or {}).get("synthesis")
    return isinstance(synthesis, PersistentRecord) and "input" in (synthesis.state.get("_modules") or {})


def stylegan3_config(record: PersistentRecord) -> StyleGAN3Config:
    """StyleGAN3Config from a StyleGAN3-repo ``networks_stylegan3.Generator`` record."""
    if record.class_name != "Generator":
        raise CheckpointError(f"expected a Generator network, found {record.class_name!r}")
    synthesis = {k: (dict(v) if isinstance(v, dict) else v) for k, v in record.init_kwargs.items()}
    mapping = dict(synthesis.pop("mapping_kwargs", {}) or {})
    for key in _SG3_MAPPING_TRAINING_ONLY:
        mapping.pop(key, None)
    top = {k: synthesis.pop(k) for k in ("z_dim", "c_dim", "w_dim", "img_resolution", "img_channels") if k in synthesis}
    try:
        mapping_cfg = dataclasses.replace(StyleGAN3Config().mapping, **mapping)
        return StyleGAN3Config(**top, mapping=mapping_cfg, synthesis=StyleGAN3SynthesisConfig(**synthesis))
    except (TypeError, InputError) as err:
        raise CheckpointError(f"unsupported StyleGAN3 generator arguments in checkpoint: {err}") from None


def _tf_kwargs(net: NetworkStub) -> dict:
    kw = dict(net.state.get("static_kwargs") or {})
    for comp in (net.state.get("components") or {}).values():
        if isinstance(comp, NetworkStub):
            kw.update({k: v for k, v in (comp.state.get("static_kwargs") or {}).items() if k not in kw})
    return kw


def tf_config(net: NetworkStub) -> GeneratorConfig:
    """GeneratorConfig from a TF ``G_main`` network (the conversion ``legacy.py`` applies)."""
    if net.state.get("build_func_name") != "G_main":
        raise CheckpointError(f"expected a TF generator (G_main), found {net.state.get('build_func_name')!r}")
    kw = _tf_kwargs(net)
    if kw.get("fmap_decay", 1.0) != 1.0 or kw.get("fmap_min", 1) != 1:
        raise CheckpointError("TF generator with fmap_decay != 1 or fmap_min != 1 is not supported")
    if kw.get("structure", "auto") not in ("auto", "fixed"):
        raise CheckpointError(f"TF generator structure {kw['structure']!r} is not supported")
    if kw.get("architecture", "skip") == "orig":
        raise CheckpointError("TF generators with architecture 'orig' are not supported")
    try:
        return _tf_generator_config(kw)
    except (TypeError, InputError) as err:
        raise CheckpointError(f"unsupported generator arguments in checkpoint: {err}") from None


def _tf_generator_config(kw: dict) -> GeneratorConfig:
    return GeneratorConfig(
        z_dim=kw.get("latent_size", 512),
        c_dim=kw.get("label_size", 0),
        w_dim=kw.get("dlatent_size", 512),
        img_resolution=kw.get("resolution", 1024),
        img_channels=kw.get("num_channels", 3),
        mapping=MappingConfig(
            num_layers=kw.get("mapping_layers", 8),
            embed_features=kw.get("label_fmaps"),
            layer_features=kw.get("mapping_fmaps", 512),
            activation=kw.get("mapping_nonlinearity", "lrelu"),
            lr_multiplier=kw.get("mapping_lrmul", 0.01),
            w_avg_beta=kw.get("w_avg_beta", 0.995),
        ),
        synthesis=SynthesisConfig(
            channel_base=kw.get("fmap_base", 16384) * 2,
            channel_max=kw.get("fmap_max", 512),
            num_fp16_res=kw.get("num_fp16_res", 0),
            conv_clamp=kw.get("conv_clamp"),
            architecture=kw.get("architecture", "skip"),
            resample_filter=tuple(kw.get("resample_kernel", (1, 3, 3, 1))),
            use_noise=kw.get("use_noise", True),
            activation=kw.get("nonlinearity", "lrelu"),
        ),
    )


def _tf_variables(net: NetworkStub, prefix: str = "") -> dict[str, np.ndarray]:
    out = {prefix + name: np.asarray(value) for name, value in net.state["variables"]}
    for comp_name, comp in (net.state.get("components") or {}).items():
        out.update(_tf_variables(comp, prefix + comp_name + "/"))
    return out


def _tf_rules() -> list[tuple[str, callable]]:
    """(regex over TF variable names, function(match, value) -> (our key, tensor) or None)."""

    def t(v):
        return torch.from_numpy(np.array(v, dtype=np.float32))  # a copy; keeps 0-d shapes

    def conv(v):  # [kh, kw, in, out] -> [out, in, kh, kw]
        return t(v.transpose(3, 2, 0, 1))

    def up_conv(v):  # TF's transposed up-conv kernels are stored flipped
        return t(v[::-1, ::-1].transpose(3, 2, 0, 1))

    def layer_rules(scope, ours, weight_fn):
        return [
            (rf"{scope}/weight", lambda m, v: (f"{ours(m)}.weight", weight_fn(v))),
            (rf"{scope}/bias", lambda m, v: (f"{ours(m)}.bias", t(v))),
            (rf"{scope}/noise_strength", lambda m, v: (f"{ours(m)}.noise_strength", t(v))),
            (rf"{scope}/mod_weight", lambda m, v: (f"{ours(m)}.affine.weight", t(v.T))),
            (rf"{scope}/mod_bias", lambda m, v: (f"{ours(m)}.affine.bias", t(v + 1))),
        ]

    def noise_key(m):
        i = int(m.group(1))
        if i == 0:
            return "synthesis.b4.conv1.noise_const"
        res = 2 ** ((i + 5) // 2)
        return f"synthesis.b{res}.conv{(i + 1) % 2}.noise_const"

    rules = [
        (r"dlatent_avg", lambda m, v: ("mapping.w_avg", t(v))),
        (r"lod", lambda m, v: None),
        (r"mapping/Dense(\d+)/weight", lambda m, v: (f"mapping.fc{m.group(1)}.weight", t(v.T))),
        (r"mapping/Dense(\d+)/bias", lambda m, v: (f"mapping.fc{m.group(1)}.bias", t(v))),
        (r"mapping/LabelEmbed/weight", lambda m, v: ("mapping.embed.weight", t(v.T))),
        (r"mapping/LabelEmbed/bias", lambda m, v: ("mapping.embed.bias", t(v))),
        (r"synthesis/noise(\d+)", lambda m, v: (noise_key(m), t(v[0, 0]))),
        (r"synthesis/4x4/Const/const", lambda m, v: ("synthesis.b4.const", t(v[0]))),
        (r"synthesis/(\d+)x\1/Skip/weight", lambda m, v: (f"synthesis.b{m.group(1)}.skip.weight", up_conv(v))),
        (r".*/resample_filter", lambda m, v: None),
    ]
    rules += layer_rules(r"synthesis/4x4/Conv", lambda m: "synthesis.b4.conv1", conv)
    rules += layer_rules(r"synthesis/(\d+)x\1/Conv0_up", lambda m: f"synthesis.b{m.group(1)}.conv0", up_conv)
    rules += layer_rules(r"synthesis/(\d+)x\1/Conv1", lambda m: f"synthesis.b{m.group(1)}.conv1", conv)
    rules += layer_rules(r"synthesis/(\d+)x\1/ToRGB", lambda m: f"synthesis.b{m.group(1)}.torgb", conv)
    return rules


def tf_state_dict(net: NetworkStub) -> dict[str, torch.Tensor]:
    """Our state dict from a TF generator's variables; every variable must match a rule."""
    rules = [(re.compile(p), fn) for p, fn in _tf_rules()]
    out = {}
    for name, value in _tf_variables(net).items():
        for pattern, fn in rules:
            m = pattern.fullmatch(name)
            if m:
                converted = fn(m, value)
                if converted is not None:
                    out[converted[0]] = converted[1]
                break
        else:
            raise CheckpointError(f"unknown TF variable {name!r}")
    return out
