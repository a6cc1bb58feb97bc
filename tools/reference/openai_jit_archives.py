#!/usr/bin/env python3
"""Reference archives for clip4j's JitArchiveReader: tiny OpenAI-style `.pt` TorchScript archives.

OpenAI's `clip` package ships `torch.jit.trace` archives of its own `clip/model.py` CLIP whose classes
were defined in OpenAI's internal package (`__torch__.multimodal.model.multimodal_transformer.*`), with
`convert_weights` applied (conv/linear/attention weights and the projections fp16, the rest fp32) and
three 0-dim integer buffers at the root (`input_resolution`, `context_length`, `vocab_size`: `clip.load`
calls `model.input_resolution.item()`, and `build_model` deletes the three from the state dict).
This script builds the same thing at a tiny size, with seeded random weights:

  openai_vit_tiny.pt       a ViT CLIP traced like OpenAI's (QuickGELU); attn_mask is a graph constant
  openai_vit_tiny.json     what torch.jit.load(...).state_dict() holds (name, shape, dtype, SHA-256 of
                           the little-endian C-order bytes), the root scalars, and the configuration
                           open_clip 2.20's build_model_from_openai_state_dict infers from that state dict
  not_clip_linear.pt       torch.jit.script of a two-layer Sequential: a TorchScript archive that is not a CLIP
  openai_shapes.json       state-dict shapes (no weights) of OpenAI's real ViT-B/32, ViT-L/14,
                           ViT-L/14@336px and RN50 architectures (clip/model.py CLIP with the published
                           hyperparameters), and open_clip's inferred configuration of each ViT

Usage (reference stack: /work/shared/notes/reference-stack.md; OpenAI's source via the fetch tool):
  git --git-dir=<openai+CLIP mirror> archive HEAD clip | tar -x -C /tmp/oaiclip
  git --git-dir=<open_clip mirror> archive v2.20.0 src | tar -x -C /tmp/oc
  git --git-dir=<python-ftfy mirror> archive v6.1.1 ftfy | tar -x -C /tmp/ftfy
  PYTHONPATH=/tmp/oc/src:/tmp/ftfy:/tmp/stubs /usr/bin/python3 tools/reference/openai_jit_archives.py \
      --openai-model /tmp/oaiclip/clip/model.py --out java/src/test/resources/dev/clip4j/model/io/jit
Optional: --large DIR also writes DIR/openai_vit_b32_random.pt, a ViT-B/32-sized archive (random
weights, ~300 MB) for measuring read time and memory; it is never committed.
"""
import argparse
import hashlib
import importlib.util
import json
import os
import sys
import types

import numpy as np
import torch
from torch import nn

# OpenAI's archives name their classes after their internal module path.
OPENAI_MODULE = "multimodal.model.multimodal_transformer"


def load_openai_model_py(path):
    for pkg in ["multimodal", "multimodal.model"]:
        if pkg not in sys.modules:
            m = types.ModuleType(pkg)
            m.__path__ = []
            sys.modules[pkg] = m
    spec = importlib.util.spec_from_file_location(OPENAI_MODULE, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[OPENAI_MODULE] = mod
    spec.loader.exec_module(mod)
    return mod


def with_root_scalars(model, input_resolution, context_length, vocab_size):
    """OpenAI's archives hold these three as 0-dim int64 buffers at the root."""
    for name, value in [("input_resolution", input_resolution), ("context_length", context_length),
                        ("vocab_size", vocab_size)]:
        if name in model.__dict__:
            del model.__dict__[name]
        model.register_buffer(name, torch.tensor(value, dtype=torch.int64))
    return model


def half_like_convert_weights(traced):
    """OpenAI's convert_weights, applied to the traced module's parameters (CPU cannot trace in fp16)."""
    for _, sub in traced.named_modules():
        kind = sub.original_name
        names = []
        if kind in ("Conv1d", "Conv2d", "Linear", "NonDynamicallyQuantizableLinear"):
            names = ["weight", "bias"]
        if kind == "MultiheadAttention":
            names = ["in_proj_weight", "q_proj_weight", "k_proj_weight", "v_proj_weight", "in_proj_bias",
                     "bias_k", "bias_v"]
        names += ["text_projection", "proj"]
        params = dict(sub.named_parameters(recurse=False))
        for n in names:
            if n in params and params[n] is not None:
                params[n].data = params[n].data.half()


def tensor_record(t):
    a = t.detach().contiguous().cpu()
    if a.dtype == torch.bfloat16:
        raise SystemExit("bf16 not expected")
    raw = a.numpy().astype(a.numpy().dtype.newbyteorder("<"), copy=False).tobytes(order="C")
    return {"shape": list(a.shape), "dtype": str(a.dtype).replace("torch.", ""),
            "sha256": hashlib.sha256(raw).hexdigest()}


def open_clip_inferred(state_dict):
    """The configuration open_clip 2.20 builds from an OpenAI state dict (its own code, read back)."""
    from open_clip.model import build_model_from_openai_state_dict
    sd = {k: v.clone() for k, v in state_dict.items()}
    model = build_model_from_openai_state_dict(sd, quick_gelu=True, cast_dtype=None)
    v = model.visual
    t = model.transformer
    return {
        "embed_dim": int(model.text_projection.shape[1]),
        "vision": {"image_size": int(v.image_size[0]), "patch_size": int(v.patch_size[0]),
                   "width": int(v.conv1.out_channels), "layers": len(v.transformer.resblocks),
                   "heads": int(v.transformer.resblocks[0].attn.num_heads),
                   "mlp_width": int(v.transformer.resblocks[0].mlp.c_fc.out_features)},
        "text": {"context_length": int(model.context_length), "vocab_size": int(model.vocab_size),
                 "width": int(t.width), "heads": int(t.resblocks[0].attn.num_heads),
                 "layers": len(t.resblocks), "mlp_width": int(t.resblocks[0].mlp.c_fc.out_features)},
    }


def traced_archive(oai, out_pt, seed, embed_dim, image_resolution, vision_layers, vision_width,
                   vision_patch_size, context_length, vocab_size, width, heads, layers):
    torch.manual_seed(seed)
    model = oai.CLIP(embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                     context_length, vocab_size, width, heads, layers).eval()
    with_root_scalars(model, image_resolution, context_length, vocab_size)
    image = torch.rand(1, 3, image_resolution, image_resolution)
    text = torch.zeros(1, context_length, dtype=torch.long)
    text[0, :3] = torch.tensor([vocab_size - 2, 5, vocab_size - 1])
    with torch.no_grad():
        traced = torch.jit.trace_module(
            model, {"forward": (image, text), "encode_image": (image,), "encode_text": (text,)})
    half_like_convert_weights(traced)
    # The dtypes must be exactly what OpenAI's convert_weights gives on the eager model.
    eager = oai.CLIP(embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
                     context_length, vocab_size, width, heads, layers)
    with_root_scalars(eager, image_resolution, context_length, vocab_size)
    oai.convert_weights(eager)
    want = {k: v.dtype for k, v in eager.state_dict().items()}
    got = {k: v.dtype for k, v in traced.state_dict().items()}
    assert want == got, (set(want.items()) ^ set(got.items()))
    traced.save(out_pt)
    return traced


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--openai-model", required=True, help="OpenAI's clip/model.py")
    ap.add_argument("--out", required=True)
    ap.add_argument("--large", help="also write a ViT-B/32-sized archive into this directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    oai = load_openai_model_py(args.openai_model)

    # Width 64 so that OpenAI's (and open_clip's) rule heads = width // 64 gives one head.
    pt = os.path.join(args.out, "openai_vit_tiny.pt")
    traced_archive(oai, pt, 20261203, embed_dim=32, image_resolution=16, vision_layers=2, vision_width=64,
                   vision_patch_size=8, context_length=8, vocab_size=40, width=64, heads=1, layers=2)
    loaded = torch.jit.load(pt)
    sd = loaded.state_dict()
    scalars = {k: int(sd[k].item()) for k in ["input_resolution", "context_length", "vocab_size"]}
    ref = {
        "file": "openai_vit_tiny.pt",
        "torch": torch.__version__,
        "module_types": {name: m._c._type().qualified_name() for name, m in loaded.named_modules()},
        "root_class": loaded._c._type().qualified_name(),
        "state_dict": {k: tensor_record(v) for k, v in sd.items()},
        "root_scalars": scalars,
        "open_clip_inferred": open_clip_inferred({k: v.float() for k, v in sd.items()}),
    }
    with open(os.path.join(args.out, "openai_vit_tiny.json"), "w") as f:
        json.dump(ref, f, indent=1, sort_keys=True)
        f.write("\n")

    torch.manual_seed(3)
    torch.jit.script(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))).save(
        os.path.join(args.out, "not_clip_linear.pt"))

    # Shapes of OpenAI's real architectures (hyperparameters as published in clip/model.py's build_model
    # inputs: embed_dim, image_resolution, vision_layers, vision_width, vision_patch_size,
    # context_length, vocab_size, transformer_width, transformer_heads, transformer_layers).
    archs = {
        "ViT-B-32": (512, 224, 12, 768, 32, 77, 49408, 512, 8, 12),
        "ViT-L-14": (768, 224, 24, 1024, 14, 77, 49408, 768, 12, 12),
        "ViT-L-14-336": (768, 336, 24, 1024, 14, 77, 49408, 768, 12, 12),
        "RN50": (1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12),
    }
    shapes = {}
    for name, hp in archs.items():
        torch.manual_seed(0)
        with torch.no_grad():
            m = oai.CLIP(*hp)
        with_root_scalars(m, hp[1], hp[5], hp[6])
        sd = m.state_dict()
        entry = {"state_dict": {k: list(v.shape) for k, v in sd.items()}}
        if not isinstance(hp[2], tuple):
            entry["open_clip_inferred"] = open_clip_inferred(sd)
        shapes[name] = entry
        del m, sd
    with open(os.path.join(args.out, "openai_shapes.json"), "w") as f:
        json.dump(shapes, f, indent=None, sort_keys=True, separators=(",", ":"))
        f.write("\n")

    if args.large:
        os.makedirs(args.large, exist_ok=True)
        traced_archive(oai, os.path.join(args.large, "openai_vit_b32_random.pt"), 1, *archs["ViT-B-32"])


if __name__ == "__main__":
    main()
