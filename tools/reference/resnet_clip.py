#!/usr/bin/env python3
"""Reference outputs for clip4j's ResNet CLIPs (open_clip's ModifiedResNet image tower).

Tiny model (written with --out, committed as test resources; seeded random weights, every
parameter and BatchNorm statistic randomised so that none is a no-op):

  tiny-rn/open_clip_config.json        open_clip hub layout (model_cfg with layers as a list, quick_gelu true)
  tiny-rn/open_clip_pytorch_model.bin  torch.save(state_dict), float32, num_batches_tracked int64 included
  tiny-rn/expected_image_embeddings.npy [12, E]  encode_image(normalize=True) on the conformance
                                        preprocess/*.npy (manifest order)
  tiny-rn/expected_text_embeddings.npy  [13, E]  encode_text(normalize=True) on tokenizer_cases.jsonl ids
  tiny-rn/openai_rn_fp16.pt            the same model as an OpenAI-style TorchScript archive:
                                        torch.jit.script of the model with OpenAI's convert_weights
                                        applied (conv/linear/attention weights and the projections fp16,
                                        BatchNorm, LayerNorm and embeddings float32) and OpenAI's three
                                        root int64 buffers (input_resolution, context_length, vocab_size)
  tiny-rn/expected_*_embeddings_fp16w.npy  open_clip in float32 on those fp16-rounded weights
  open_clip_rn_schemas.json            for RN50, RN101, RN50x4, RN50x16, RN50x64: the number of state-dict
                                        tensors and elements, and a SHA-256 over every sorted key:shape:dtype

Full size (--full DIR, never committed): RN50 (and with --full-models more) with seeded random weights:
  DIR/NAME/open_clip_config.json + open_clip_pytorch_model.bin, expected embeddings of 4 images/texts
  (DIR/inputs_pixels.npy [4,3,S,S] per size, DIR/inputs_ids.npy [4,77]), and for RN50 also
  DIR/RN50/openai_rn50_fp16.pt: OpenAI's clip/model.py CLIP *traced* as OpenAI ships it (fp16 weights,
  QuickGELU, heads = width // 64 inferred) with its expected embeddings (build_model_from_openai_state_dict).

Usage (reference stack: /work/shared/notes/reference-stack.md):
  PYTHONPATH=/tmp/oc/src:/tmp/ftfy:/tmp/stubs /usr/bin/python3 tools/reference/resnet_clip.py \
      --conformance ../shared/conformance --out java/src/test/resources/dev/clip4j/model/resnet
  ... --full /tmp/rn-full [--openai-model /tmp/oaiclip/clip/model.py]
"""
import argparse
import json
import os
import sys

import numpy as np
import torch

OPENAI_MEAN = [0.48145466, 0.4578275, 0.40821073]
OPENAI_STD = [0.26862954, 0.26130258, 0.27577711]


def randomise(model, seed):
    """Every parameter and BN statistic random (open_clip zero-inits bn3.weight, which would hide bugs)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name == "logit_scale":
                continue
            fan = p.shape[-1] if p.dim() > 1 else 16
            if p.dim() == 4:
                fan = p.shape[1] * p.shape[2] * p.shape[3]
            std = 1.0 / max(1, fan) ** 0.5 if p.dim() > 1 else 0.02
            p.copy_(torch.randn(p.shape, generator=g) * std)
            if name.endswith("bn1.weight") or name.endswith("bn2.weight") or name.endswith("bn3.weight") \
                    or name.endswith("downsample.1.weight") or ".ln_" in name and name.endswith("weight") \
                    or name.startswith("ln_final.weight"):
                p.add_(1.0)
        for name, b in model.named_buffers():
            if name.endswith("running_mean"):
                b.copy_(torch.randn(b.shape, generator=g) * 0.1)
            elif name.endswith("running_var"):
                b.copy_(torch.rand(b.shape, generator=g) * 0.5 + 0.75)
            elif name.endswith("num_batches_tracked"):
                b.fill_(7)
    return model


def conformance_inputs(conf):
    manifest = json.load(open(os.path.join(conf, "manifest.json")))
    px = np.stack([np.load(os.path.join(conf, "preprocess", n + ".npy")) for n in manifest["images"]])
    ids = [json.loads(l)["ids"] for l in open(os.path.join(conf, "tokenizer_cases.jsonl")) if l.strip()]
    return torch.from_numpy(px), torch.tensor(ids, dtype=torch.long)


def embed(model, px, ids):
    model.eval()
    with torch.no_grad():
        return (model.encode_image(px, normalize=True).float().numpy(),
                model.encode_text(ids, normalize=True).float().numpy())


def openai_convert_weights(module):
    """OpenAI's clip.model.convert_weights on a (scripted or eager) module, in place."""
    for _, sub in module.named_modules():
        kind = getattr(sub, "original_name", type(sub).__name__)
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


def with_root_scalars(model, input_resolution, context_length, vocab_size):
    for name, value in [("input_resolution", input_resolution), ("context_length", context_length),
                        ("vocab_size", vocab_size)]:
        if name in model.__dict__:
            del model.__dict__[name]
        model.register_buffer(name, torch.tensor(value, dtype=torch.int64))
    return model


def hub_dir(model, cfg, out):
    os.makedirs(out, exist_ok=True)
    with open(os.path.join(out, "open_clip_config.json"), "w") as f:
        json.dump({"model_cfg": cfg, "preprocess_cfg": {"mean": OPENAI_MEAN, "std": OPENAI_STD,
                                                         "interpolation": "bicubic", "resize_mode": "shortest"}},
                  f, indent=2)
        f.write("\n")
    torch.save(model.state_dict(), os.path.join(out, "open_clip_pytorch_model.bin"))


def tiny(conf, out):
    from open_clip.model import CLIP
    cfg = {"embed_dim": 8, "quick_gelu": True,
           "vision_cfg": {"image_size": 224, "layers": [1, 2, 1, 1], "width": 4, "head_width": 32,
                          "patch_size": None},
           "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 4, "heads": 2, "layers": 1}}
    torch.manual_seed(0)
    model = randomise(CLIP(**cfg).eval(), 20261202)
    d = os.path.join(out, "tiny-rn")
    hub_dir(model, cfg, d)
    px, ids = conformance_inputs(conf)
    img, txt = embed(model, px, ids)
    np.save(os.path.join(d, "expected_image_embeddings.npy"), img.astype("<f4"))
    np.save(os.path.join(d, "expected_text_embeddings.npy"), txt.astype("<f4"))

    # OpenAI-style archive: scripted (so num_heads is recorded), OpenAI's fp16 conversion, root scalars.
    torch.manual_seed(0)
    m2 = CLIP(**cfg).eval()
    m2.load_state_dict(model.state_dict())
    with_root_scalars(m2, 224, 77, 49408)
    scripted = torch.jit.script(m2)
    openai_convert_weights(scripted)
    scripted.save(os.path.join(d, "openai_rn_fp16.pt"))
    # open_clip in fp32 on the fp16-rounded weights.
    sd = {k: v.float() if v.is_floating_point() else v for k, v in scripted.state_dict().items()
          if k not in ("input_resolution", "context_length", "vocab_size", "attn_mask")}
    torch.manual_seed(0)
    m3 = CLIP(**cfg).eval()
    m3.load_state_dict(sd)
    img, txt = embed(m3, px, ids)
    np.save(os.path.join(d, "expected_image_embeddings_fp16w.npy"), img.astype("<f4"))
    np.save(os.path.join(d, "expected_text_embeddings_fp16w.npy"), txt.astype("<f4"))
    dtypes = {}
    for k, v in scripted.state_dict().items():
        dtypes.setdefault(str(v.dtype), 0)
        dtypes[str(v.dtype)] += 1
    print("tiny-rn:", sum(p.numel() for p in model.state_dict().values()), "elements; archive dtypes", dtypes)


def full(out, names, openai_model, conf):
    from open_clip.factory import get_model_config
    from open_clip.model import CLIP, build_model_from_openai_state_dict
    os.makedirs(out, exist_ok=True)
    g = torch.Generator().manual_seed(11)
    ids = torch.zeros(4, 77, dtype=torch.long)
    _, conf_ids = conformance_inputs(conf)
    ids = conf_ids[:4].clone()
    np.save(os.path.join(out, "inputs_ids.npy"), ids.numpy())
    for name in names:
        cfg = dict(get_model_config(name))
        s = cfg["vision_cfg"]["image_size"]
        px = torch.randn(4, 3, s, s, generator=g)
        np.save(os.path.join(out, "inputs_pixels_%d.npy" % s), px.numpy().astype("<f4"))
        torch.manual_seed(0)
        model = randomise(CLIP(**cfg).eval(), 7)
        d = os.path.join(out, name)
        hub_dir(model, cfg, d)
        img, txt = embed(model, px, ids)
        np.save(os.path.join(d, "expected_image_embeddings.npy"), img.astype("<f4"))
        np.save(os.path.join(d, "expected_text_embeddings.npy"), txt.astype("<f4"))
        print(name, "written", flush=True)
        if name == "RN50" and openai_model:
            sys.path.insert(0, os.path.dirname(os.path.dirname(openai_model)))
            import importlib.util
            import types
            for pkg in ["multimodal", "multimodal.model"]:
                if pkg not in sys.modules:
                    mm = types.ModuleType(pkg)
                    mm.__path__ = []
                    sys.modules[pkg] = mm
            mod_name = "multimodal.model.multimodal_transformer"
            spec = importlib.util.spec_from_file_location(mod_name, openai_model)
            oai = importlib.util.module_from_spec(spec)
            sys.modules[mod_name] = oai
            spec.loader.exec_module(oai)
            torch.manual_seed(0)
            om = oai.CLIP(1024, 224, (3, 4, 6, 3), 64, None, 77, 49408, 512, 8, 12).eval()
            om.load_state_dict(model.state_dict())
            with_root_scalars(om, 224, 77, 49408)
            with torch.no_grad():
                traced = torch.jit.trace_module(om, {"forward": (px[:1], ids[:1]), "encode_image": (px[:1],),
                                                     "encode_text": (ids[:1],)})
            openai_convert_weights(traced)
            traced.save(os.path.join(d, "openai_rn50_fp16.pt"))
            sd = {k: v.clone() for k, v in torch.jit.load(os.path.join(d, "openai_rn50_fp16.pt")).state_dict().items()}
            ref = build_model_from_openai_state_dict(sd, quick_gelu=True, cast_dtype=None).float().eval()
            img, txt = embed(ref, px, ids)
            np.save(os.path.join(d, "expected_image_embeddings_openai.npy"), img.astype("<f4"))
            np.save(os.path.join(d, "expected_text_embeddings_openai.npy"), txt.astype("<f4"))
            print("RN50 OpenAI-style archive written", flush=True)


def schema_fingerprints(out):
    """Every key and shape of open_clip's RN configs' state dicts, as a count, an element count and the SHA-256
    of the sorted "key:d0,d1,...:dtype" lines (dtype float or int64), without committing ~1 MB of shapes."""
    import hashlib
    from open_clip.factory import get_model_config
    from open_clip.model import CLIP
    res = {}
    for name in ["RN50", "RN101", "RN50x4", "RN50x16", "RN50x64"]:
        with torch.no_grad():
            sd = CLIP(**get_model_config(name)).state_dict()
        lines = sorted("%s:%s:%s" % (k, ",".join(str(d) for d in v.shape),
                                     "int64" if v.dtype == torch.int64 else "float") for k, v in sd.items())
        res[name] = {"tensors": len(lines), "elements": int(sum(v.numel() for v in sd.values())),
                     "sha256": hashlib.sha256("\n".join(lines).encode()).hexdigest()}
        print(name, res[name], flush=True)
        del sd
    with open(os.path.join(out, "open_clip_rn_schemas.json"), "w") as f:
        json.dump(res, f, indent=1, sort_keys=True)
        f.write("\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--conformance", required=True)
    ap.add_argument("--out")
    ap.add_argument("--full")
    ap.add_argument("--full-models", default="RN50")
    ap.add_argument("--openai-model")
    args = ap.parse_args()
    torch.set_num_threads(2)
    if args.out:
        tiny(args.conformance, args.out)
        schema_fingerprints(args.out)
    if args.full:
        full(args.full, args.full_models.split(","), args.openai_model, args.conformance)


if __name__ == "__main__":
    main()
