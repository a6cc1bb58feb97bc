"""SigLIP reference outputs from open_clip (CustomTextCLIP + timm), seeded random weights.

Run with Debian's torch 1.13 and fetched source trees (see shared/notes/reference-stack.md):
  PYTHONPATH=/tmp/sg/src:/tmp/sg/timm:/tmp/sg/stubs /usr/bin/python3 tools/reference/siglip_reference.py tiny OUT
  ... siglip_reference.py full OUT     (ViT-B-16-SigLIP at full size: large, not a test resource)

'tiny' writes two small open_clip hub directories (tiny-siglip: GELU erf text tower as SigLIP;
tiny-siglip2: GELU tanh text tower and non-integer mlp ratios as SigLIP2 / SO400M) with
open_clip_config.json, open_clip_pytorch_model.bin, and the reference inputs/outputs as .npy:
pixels [3,3,S,S], ids [4,L] int64, image [3,D], text [4,D] (normalized encode_image/encode_text),
logit_scale/logit_bias ([1] each). The tiny image trunks are registered in timm under test names
(open_clip cannot shrink a timm trunk through its config); their geometry is in trunk.json.
"""
import json
import os
import sys

import numpy as np
import torch
import timm
from timm.models import register_model
from timm.models.vision_transformer import VisionTransformer
import open_clip


TINY_TRUNKS = {
    # name: (patch, width, depth, heads, mlp_ratio, image_size)
    'vit_clip4jtest_patch8_siglip_32': (8, 32, 2, 4, 4.0, 32),
    'vit_clip4jtest_patch4_siglip_20': (4, 48, 2, 4, 3.7362, 20),
}


def _make(name, geom):
    patch, width, depth, heads, ratio, size = geom

    def fn(pretrained=False, **kwargs):
        args = dict(img_size=size, patch_size=patch, embed_dim=width, depth=depth, num_heads=heads,
                    mlp_ratio=ratio, class_token=False, global_pool='map')
        for k in ('pretrained_cfg', 'pretrained_cfg_overlay', 'cache_dir'):
            kwargs.pop(k, None)
        args.update(kwargs)
        return VisionTransformer(**args)
    fn.__name__ = name
    register_model(fn)


for _n, _g in TINY_TRUNKS.items():
    _make(_n, _g)


def tiny_cfgs():
    v1 = {
        "embed_dim": 32, "init_logit_bias": -10, "custom_text": True,
        "vision_cfg": {"image_size": 32, "timm_model_name": "vit_clip4jtest_patch8_siglip_32",
                       "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
        "text_cfg": {"context_length": 8, "vocab_size": 64, "hf_tokenizer_name": "clip4j-test/none",
                     "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 24, "heads": 4, "layers": 2,
                     "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                     "norm_kwargs": {"eps": 1e-6}},
    }
    v2 = {
        "embed_dim": 48, "init_logit_bias": -10, "custom_text": True,
        "vision_cfg": {"image_size": 20, "timm_model_name": "vit_clip4jtest_patch4_siglip_20",
                       "timm_model_pretrained": False, "timm_pool": "map", "timm_proj": "none"},
        "text_cfg": {"context_length": 10, "vocab_size": 100, "hf_tokenizer_name": "clip4j-test/none",
                     "tokenizer_kwargs": {"clean": "canonicalize"}, "width": 32, "heads": 2, "layers": 3,
                     "mlp_ratio": 3.7362, "no_causal_mask": True, "proj_bias": True, "pool_type": "last",
                     "norm_kwargs": {"eps": 1e-6}, "act_kwargs": {"approximate": "tanh"}},
    }
    return {"tiny-siglip": v1, "tiny-siglip2": v2}


def perturb(model, seed):
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.state_dict().items():
            if not p.is_floating_point():
                continue
            noise = torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype)
            if name in ('logit_scale',):
                p.copy_(torch.tensor(2.3, dtype=p.dtype) + 0.1 * noise)
            elif name == 'logit_bias':
                p.copy_(torch.tensor(-4.0, dtype=p.dtype) + noise)
            elif name.endswith('norm.weight') or '.norm1.' in name or '.norm2.' in name or 'ln_' in name:
                p.add_(0.1 * noise) if name.endswith('weight') else p.copy_(0.05 * noise)
            else:
                p.add_(0.05 * noise)


def build(cfg, seed):
    torch.manual_seed(seed)
    kw = {k: v for k, v in cfg.items() if k != 'custom_text'}
    model = open_clip.model.CustomTextCLIP(**kw)
    perturb(model, seed + 1)
    model.eval()
    return model


def save_npy(path, arr):
    np.save(path, np.ascontiguousarray(arr))


def write_case(out, name, cfg, seed, batch_images=3, batch_texts=4):
    d = os.path.join(out, name)
    os.makedirs(d, exist_ok=True)
    model = build(cfg, seed)
    size = cfg['vision_cfg']['image_size']
    hub = {"model_cfg": cfg, "preprocess_cfg": {"mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5],
                                                 "interpolation": "bicubic", "resize_mode": "squash"}}
    hub["preprocess_cfg"]["size"] = size
    with open(os.path.join(d, 'open_clip_config.json'), 'w') as f:
        json.dump(hub, f, indent=2)
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    torch.save(sd, os.path.join(d, 'open_clip_pytorch_model.bin'))
    g = torch.Generator().manual_seed(seed + 2)
    pixels = torch.randn((batch_images, 3, size, size), generator=g)
    ctx = cfg['text_cfg']['context_length']
    vocab = cfg['text_cfg']['vocab_size']
    ids = torch.randint(2, vocab, (batch_texts, ctx), generator=g)
    # rows that end in padding (pad id 0 here) and an EOS-like id (1), as a tokenizer writes them
    ids[0, 3:] = 0
    ids[0, 2] = 1
    ids[1, ctx - 1] = 1
    with torch.no_grad():
        img = model.encode_image(pixels, normalize=True)
        txt = model.encode_text(ids, normalize=True)
    save_npy(os.path.join(d, 'pixels.npy'), pixels.numpy().astype(np.float32))
    save_npy(os.path.join(d, 'ids.npy'), ids.numpy().astype(np.int64))
    save_npy(os.path.join(d, 'image.npy'), img.numpy().astype(np.float32))
    save_npy(os.path.join(d, 'text.npy'), txt.numpy().astype(np.float32))
    save_npy(os.path.join(d, 'logit_scale.npy'), model.logit_scale.detach().reshape(1).numpy().astype(np.float32))
    save_npy(os.path.join(d, 'logit_bias.npy'), model.logit_bias.detach().reshape(1).numpy().astype(np.float32))
    tn = cfg['vision_cfg']['timm_model_name']
    if tn in TINY_TRUNKS:
        p, w, dep, h, r, s = TINY_TRUNKS[tn]
        with open(os.path.join(d, 'trunk.json'), 'w') as f:
            json.dump({"name": tn, "patch_size": p, "width": w, "depth": dep, "heads": h, "mlp_ratio": r,
                       "image_size": s}, f, indent=2)
    print(name, 'keys', len(sd), 'image', tuple(img.shape), 'text', tuple(txt.shape))


def main():
    mode, out = sys.argv[1], sys.argv[2]
    torch.set_num_threads(1)
    if mode == 'tiny':
        for i, (name, cfg) in enumerate(tiny_cfgs().items()):
            write_case(out, name, cfg, 1000 + 10 * i)
    elif mode == 'full':
        name = sys.argv[3] if len(sys.argv) > 3 else 'ViT-B-16-SigLIP'
        cfg = open_clip.get_model_config(name)
        write_case(out, name, cfg, 2024, batch_images=2, batch_texts=3)
    else:
        raise SystemExit('mode: tiny | full')


if __name__ == '__main__':
    main()
