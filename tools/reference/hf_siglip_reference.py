"""Hugging Face transformers SiglipModel reference outputs (tiny seeded models) for clip4j's HF SigLIP reader.

Runs transformers' own SiglipModel / SiglipImageProcessor / PreTrainedTokenizerFast from the
transformers 4.57.6 wheel, unpacked (no pip), on Debian's torch 1.13 (/usr/bin/python3). transformers
4.57 asks for torch >= 2.1 and imports a few torch 2.x names at import time; `prepare()` unpacks the
wheels into a cache folder, switches off four import-time checks in that copy (torch version gate,
huggingface_hub version pin, torchvision: 0.14 lacks NEAREST_EXACT) and `shim()` adds stand-ins for
the torch 2.x names imported but not used by SigLIP (torch.distributed.tensor, torch.compiler,
torch._dynamo, pytree registration, float8 dtypes). The models run with attn_implementation="eager"
(transformers' own attention code, no sdpa), so what runs is SiglipModel's code unchanged.

  /usr/bin/python3 tools/reference/hf_siglip_reference.py OUT       (OUT: a folder; writes OUT/<model>/...)
  /usr/bin/python3 tools/reference/hf_siglip_reference.py full OUT  (google/siglip-base-patch16-224's geometry,
      random weights, ~800 MB: not a test resource; see hf_siglip_full_check.sh)

Wheels come from the machine's wheel folders (/opt/pypi/files, /opt/pypi-more/files): transformers
4.57.6, safetensors 0.8.0, tokenizers 0.22.2, huggingface_hub 1.33.0 (+ httpx, httpcore, h11, anyio,
sniffio, certifi, idna, filelock, fsspec, typing_extensions), and Pillow 9.4 from Debian (python3-pil).

Models (seeded, tiny):
  hf-siglip   SigLIP v1 layout: config.json as save_pretrained writes it (hidden_act, layer_norm_eps,
              projection_size left at SiglipTextConfig / SiglipVisionConfig defaults: gelu_pytorch_tanh,
              1e-6), intermediate sizes not a multiple of the width.
  hf-siglip2  hidden_act "gelu" (erf) stated in both towers (the packed-kernel path in clip4j),
              layer_norm_eps stated and large (2e-2 image, 1e-2 text) so that a wrong eps shows in the
              embeddings, projection_size stated (text hidden 48 -> 40 = image width).
Each folder: config.json, model.safetensors, preprocessor_config.json (SiglipImageProcessor),
tokenizer.json + tokenizer_config.json (the tiny SentencePiece-unigram tokenizer of clip4j's
siglip test fixture), and the reference as .npy:
  pixels.npy [3,3,S,S] float32, ids.npy [4,L] int64 (L = max_position_embeddings),
  image.npy / text.npy: get_image_features / get_text_features, L2-normalised rows;
  image_raw.npy / text_raw.npy: the same before normalisation;
  logit_scale.npy, logit_bias.npy ([1]); texts.json: strings, their ids under the processor
  (padding="max_length", truncation), texts.npy (their normalised features);
  images: img_*.png and processor.npy (SiglipImageProcessor pixel_values of each), image_png.npy.
"""
import glob
import json
import os
import re
import shutil
import sys
import types
import zipfile

CACHE = os.environ.get("HF_SIGLIP_REF_CACHE", "/tmp/hf_siglip_ref")
WHEEL_DIRS = ["/opt/pypi/files", "/opt/pypi-more/files"]
WHEELS = ["transformers-4.57.6", "safetensors-0.8.0", "tokenizers-0.22.2", "huggingface_hub-1.33.0", "httpx-",
          "httpcore-", "h11-", "anyio-", "sniffio-", "certifi-", "idna-", "filelock-", "fsspec-", "typing_extensions-"]
HERE = os.path.dirname(os.path.abspath(__file__))
TOKENIZER_FIXTURE = os.path.join(HERE, "..", "..", "java", "src", "test", "resources", "dev", "clip4j", "model",
                                 "siglip", "tiny-siglip")


def prepare():
    site = os.path.join(CACHE, "site")
    marker = os.path.join(CACHE, "ready")
    if not os.path.exists(marker):
        os.makedirs(site, exist_ok=True)
        for w in WHEELS:
            found = sorted(f for d in WHEEL_DIRS for f in glob.glob(os.path.join(d, w + "*.whl")))
            if not found:
                sys.exit("missing wheel " + w + "* in " + str(WHEEL_DIRS))
            zipfile.ZipFile(found[-1]).extractall(site)
        iu = os.path.join(site, "transformers", "utils", "import_utils.py")
        s = open(iu).read()
        s = s.replace('version.parse(_torch_version) >= version.parse("2.1.0")', "True")
        s = re.sub(r'(_torchvision_available, _torchvision_version = _is_package_available\("torchvision", '
                   r'return_version=True\)\n)', r'\1_torchvision_available = False\n', s)
        open(iu, "w").write(s)
        dv = os.path.join(site, "transformers", "dependency_versions_check.py")
        s = open(dv).read().replace('"huggingface-hub",', "")
        open(dv, "w").write(s)
        open(marker, "w").write("ok")
    sys.path.insert(0, site)


def shim():
    import torch
    m = types.ModuleType("torch.distributed.tensor")
    m.DTensor = type("DTensor", (), {})
    m.Placement = m.Replicate = m.Shard = object
    sys.modules["torch.distributed.tensor"] = m
    torch.distributed.tensor = m
    import torch.utils._pytree as pt
    if not hasattr(pt, "register_pytree_node"):
        pt.register_pytree_node = lambda cls, f, u, serialized_type_name=None, **kw: pt._register_pytree_node(cls, f, u)
    if not hasattr(torch, "compiler"):
        c = types.ModuleType("torch.compiler")
        c.disable = lambda fn=None, recursive=True: fn if fn is not None else (lambda f: f)
        c.is_compiling = c.is_dynamo_compiling = lambda: False
        sys.modules["torch.compiler"] = c
        torch.compiler = c
    for n in ["float8_e4m3fn", "float8_e5m2", "float8_e8m0fnu", "float8_e4m3fnuz", "float8_e5m2fnuz",
              "float4_e2m1fn_x2", "uint16", "uint32", "uint64"]:
        if not hasattr(torch, n):  # distinct stand-ins for dtype-table entries; never used by SigLIP
            setattr(torch, n, type("missing_dtype_" + n, (), {})())
    if not hasattr(torch, "_dynamo"):
        d = types.ModuleType("torch._dynamo")
        d.allow_in_graph = lambda f: f
        d.is_compiling = lambda: False
        sys.modules["torch._dynamo"] = d
        torch._dynamo = d


MODELS = {
    "hf-siglip": dict(
        text_config=dict(vocab_size=64, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=8, pad_token_id=0, eos_token_id=1),
        vision_config=dict(hidden_size=32, intermediate_size=52, num_hidden_layers=2, num_attention_heads=4,
                           image_size=32, patch_size=8)),
    "hf-siglip2": dict(
        text_config=dict(vocab_size=64, hidden_size=48, intermediate_size=96, num_hidden_layers=2,
                         num_attention_heads=4, max_position_embeddings=8, hidden_act="gelu", layer_norm_eps=1e-2,
                         projection_size=40, pad_token_id=0, eos_token_id=1),
        vision_config=dict(hidden_size=40, intermediate_size=72, num_hidden_layers=3, num_attention_heads=5,
                           image_size=24, patch_size=6, hidden_act="gelu", layer_norm_eps=2e-2)),
}

TEXTS = ["a photo of a cat", "A PHOTO of a Dog!", "  two_dogs   playing,\tin the snow...  ",
         "the quick brown fox jumps over the lazy dog and keeps running far away"]


def images(np, Image):
    rng = np.random.RandomState(7)
    out = {}
    # a smooth gradient (odd size, landscape) and a noisy portrait: bicubic resampling both ways
    y, x = np.mgrid[0:37, 0:53]
    grad = np.stack([x * 255 // 52, y * 255 // 36, (x + y) * 255 // 88], -1).astype(np.uint8)
    out["img_gradient_53x37.png"] = Image.fromarray(grad, "RGB")
    out["img_noise_19x41.png"] = Image.fromarray(rng.randint(0, 256, (41, 19, 3), dtype=np.uint8), "RGB")
    return out


def full(out_root):
    """SiglipModel at transformers' default sizes (= google/siglip-base-patch16-224), config.json as the hub's."""
    prepare()
    shim()
    import numpy as np
    import torch
    from safetensors.torch import save_file
    from transformers.models.siglip import configuration_siglip, modeling_siglip
    from transformers.models.siglip.image_processing_siglip import SiglipImageProcessor

    torch.manual_seed(2024)
    cfg = configuration_siglip.SiglipConfig(text_config={}, vision_config={})
    cfg._attn_implementation = "eager"
    model = modeling_siglip.SiglipModel(cfg).eval()
    with torch.no_grad():  # transformers' init, then noise so biases and norms are not 0 / 1
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.02)
        model.logit_scale.fill_(4.7)
        model.logit_bias.fill_(-16.5)
    d = os.path.join(out_root, "siglip-base-patch16-224")
    os.makedirs(d, exist_ok=True)
    hub = {"architectures": ["SiglipModel"], "initializer_factor": 1.0, "model_type": "siglip",
           "text_config": {"hidden_size": 768, "intermediate_size": 3072, "model_type": "siglip_text_model",
                           "num_attention_heads": 12, "vocab_size": 32000},
           "torch_dtype": "float32", "transformers_version": "4.37.0.dev0",
           "vision_config": {"model_type": "siglip_vision_model", "num_attention_heads": 12, "num_hidden_layers": 12,
                             "patch_size": 16}}
    json.dump(hub, open(os.path.join(d, "config.json"), "w"), indent=2)
    back = configuration_siglip.SiglipConfig.from_json_file(os.path.join(d, "config.json"))
    for tower in ("text_config", "vision_config"):
        a, b = getattr(back, tower).to_dict(), getattr(cfg, tower).to_dict()
        diff = {k for k in set(a) | set(b) if a.get(k) != b.get(k)} - {
            "_attn_implementation", "attn_implementation", "_attn_implementation_autoset", "torch_dtype", "dtype"}
        assert not diff, (tower, diff)
    save_file({k: v.detach().contiguous() for k, v in model.state_dict().items()},
              os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    SiglipImageProcessor().to_json_file(os.path.join(d, "preprocessor_config.json"))
    g = torch.Generator().manual_seed(5)
    pixels = torch.randn(2, 3, 224, 224, generator=g)
    ids = torch.randint(0, 32000, (3, 64), generator=g)
    ids[0, 10:] = 1
    with torch.no_grad():
        img = model.get_image_features(pixel_values=pixels)
        txt = model.get_text_features(input_ids=ids)
    norm = lambda x: (x / x.norm(dim=-1, keepdim=True)).numpy().astype(np.float32)
    np.save(os.path.join(d, "pixels.npy"), pixels.numpy())
    np.save(os.path.join(d, "ids.npy"), ids.numpy().astype(np.int64))
    np.save(os.path.join(d, "image.npy"), norm(img))
    np.save(os.path.join(d, "text.npy"), norm(txt))
    np.save(os.path.join(d, "logit_bias.npy"), model.logit_bias.detach().numpy())
    print("full", d, "image", tuple(img.shape), "text", tuple(txt.shape))


def main(out_root):
    prepare()
    shim()
    import numpy as np
    import torch
    from PIL import Image
    from safetensors.torch import save_file
    from transformers.models.siglip import configuration_siglip, modeling_siglip
    from transformers.models.siglip.image_processing_siglip import SiglipImageProcessor
    from transformers import PreTrainedTokenizerFast
    import transformers

    print("transformers", transformers.__version__, "torch", torch.__version__)
    for name, kw in MODELS.items():
        torch.manual_seed(1234 if name == "hf-siglip" else 4321)
        cfg = configuration_siglip.SiglipConfig(**kw)
        cfg._attn_implementation = "eager"
        model = modeling_siglip.SiglipModel(cfg).eval()
        with torch.no_grad():  # random, not init's zeros/ones, so every tensor matters
            for p in model.parameters():
                p.copy_(torch.randn_like(p) * (0.2 if p.dim() > 1 else 0.1))
            for mod in model.modules():
                if isinstance(mod, torch.nn.LayerNorm):
                    mod.weight.copy_(1 + 0.1 * torch.randn_like(mod.weight))
            model.logit_scale.fill_(2.302585)
            model.logit_bias.fill_(-3.25)
        d = os.path.join(out_root, name)
        os.makedirs(d, exist_ok=True)
        cfg.architectures = ["SiglipModel"]
        # config.json as save_pretrained writes it (defaults left out)
        cfg.to_json_file(os.path.join(d, "config.json"), use_diff=True)
        if name == "hf-siglip":
            # as the hub's SigLIP v1 configs are written (transformers 4.37): class defaults left out
            c = json.load(open(os.path.join(d, "config.json")))
            for tower in ("text_config", "vision_config"):
                for k in ("hidden_act", "layer_norm_eps", "projection_size", "attention_dropout", "num_channels"):
                    c[tower].pop(k, None)
            json.dump(c, open(os.path.join(d, "config.json"), "w"), indent=2)
            back = configuration_siglip.SiglipConfig.from_json_file(os.path.join(d, "config.json"))
            for tower in ("text_config", "vision_config"):
                a, b = getattr(back, tower).to_dict(), getattr(cfg, tower).to_dict()
                diff = {k for k in set(a) | set(b) if k != "_attn_implementation_autoset" and a.get(k) != b.get(k)}
                assert not diff - {"_attn_implementation", "attn_implementation"}, (tower, diff)
        sd = {k: v.detach().contiguous() for k, v in model.state_dict().items()}
        save_file(sd, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
        v = cfg.vision_config
        t = cfg.text_config
        S = v.image_size
        proc = SiglipImageProcessor(size={"height": S, "width": S})
        proc.to_json_file(os.path.join(d, "preprocessor_config.json"))
        for f in ["tokenizer.json", "tokenizer_config.json"]:
            shutil.copy(os.path.join(TOKENIZER_FIXTURE, f), os.path.join(d, f))
        tc = json.load(open(os.path.join(d, "tokenizer_config.json")))
        tc["model_max_length"] = t.max_position_embeddings
        tc["tokenizer_class"] = "PreTrainedTokenizerFast"
        json.dump(tc, open(os.path.join(d, "tokenizer_config.json"), "w"), indent=2)

        g = torch.Generator().manual_seed(99)
        pixels = torch.randn(3, 3, S, S, generator=g)
        L = t.max_position_embeddings
        ids = torch.randint(0, t.vocab_size, (4, L), generator=g)
        ids[1, 5:] = 0  # a padded row
        ids[2, -1] = 1
        with torch.no_grad():
            img = model.get_image_features(pixel_values=pixels)
            txt = model.get_text_features(input_ids=ids)
        norm = lambda x: (x / x.norm(dim=-1, keepdim=True)).numpy().astype(np.float32)
        np.save(os.path.join(d, "pixels.npy"), pixels.numpy())
        np.save(os.path.join(d, "ids.npy"), ids.numpy().astype(np.int64))
        np.save(os.path.join(d, "image.npy"), norm(img))
        np.save(os.path.join(d, "text.npy"), norm(txt))
        np.save(os.path.join(d, "image_raw.npy"), img.numpy())
        np.save(os.path.join(d, "text_raw.npy"), txt.numpy())
        np.save(os.path.join(d, "logit_scale.npy"), model.logit_scale.detach().numpy())
        np.save(os.path.join(d, "logit_bias.npy"), model.logit_bias.detach().numpy())

        tok = PreTrainedTokenizerFast(tokenizer_file=os.path.join(d, "tokenizer.json"), pad_token="<pad>",
                                      eos_token="</s>", unk_token="<unk>")
        enc = tok(TEXTS, padding="max_length", max_length=L, truncation=True, return_tensors="pt")
        with torch.no_grad():
            tfeat = model.get_text_features(input_ids=enc["input_ids"])
        np.save(os.path.join(d, "texts.npy"), norm(tfeat))
        json.dump([{"text": s, "ids": enc["input_ids"][i].tolist()} for i, s in enumerate(TEXTS)],
                  open(os.path.join(d, "texts.json"), "w"), indent=1)

        pv = []
        names = []
        for fname, im in images(np, Image).items():
            im.save(os.path.join(d, fname))
            with Image.open(os.path.join(d, fname)) as reread:
                pv.append(proc(images=reread, return_tensors="np")["pixel_values"][0])
            names.append(fname)
        pv = np.stack(pv).astype(np.float32)
        np.save(os.path.join(d, "processor.npy"), pv)
        with torch.no_grad():
            np.save(os.path.join(d, "image_png.npy"), norm(model.get_image_features(pixel_values=torch.from_numpy(pv))))
        json.dump(names, open(os.path.join(d, "images.json"), "w"))
        print(name, "image", tuple(img.shape), "text", tuple(txt.shape), "keys", len(sd))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "full":
        full(sys.argv[2] if len(sys.argv) > 2 else "/tmp/hf-siglip-full")
    else:
        main(sys.argv[1] if len(sys.argv) > 1 else "out")
