#!/usr/bin/env python3
"""Reference files for clip4j's Hugging Face transformers CLIP support (dev.clip4j.model.hf).

What it writes, under OUT (default java/src/test/resources/dev/clip4j/model/hf):

configs/NAME.json + configs/expected.json
    config.json files as transformers itself writes them (save_pretrained), one written by hand
    without hidden_act (transformers then computes with its default, quick_gelu), a legacy CLIPModel
    config with text_config_dict / vision_config_dict next to text_config / vision_config (the
    layout of openai/clip-vit-*), and what transformers' CLIPConfig / CLIPVisionConfig /
    CLIPTextConfig make of each file (expected.json: the effective sizes, hidden_act,
    layer_norm_eps, eos_token_id).

models/NAME/
    Tiny models with seeded random weights in the layouts users download, each with
    expected_open_clip.safetensors: the same weights under open_clip's names, mapped here the way
    transformers' convert_clip_original_pytorch_to_hf.py maps them (q, k, v = in_proj chunk(3);
    projections transposed):
      vision-with-projection/  CLIPVisionModelWithProjection (model_type clip_vision_model)
      text-with-projection/    CLIPTextModelWithProjection (model_type clip_text_model)
      legacy-bin/              CLIPModel as pytorch_model.bin (torch.save zip) with the
                               position_ids buffers older transformers saved (int64, expanded views)
      sharded-fp16/            CLIPModel in float16, model.safetensors.index.json + 2 shards
      sharded-bin/             CLIPModel, pytorch_model.bin.index.json + 2 torch.save shards

preprocess/
    transformers' CLIPImageProcessor (the PIL one) on the conformance images (with the fixture's
    hf/preprocessor_config.json) and on small synthetic images of every Pillow mode and of sizes
    where transformers' floor((h - crop) / 2) differs from torchvision's round-half-even:
      lut.npy               float32 [3, 256]: rescale + normalize of 0..255 per channel, computed by
                            transformers' own rescale() and normalize()
      NAME.u8.gz            the processor's output before rescale/normalize (uint8, CHW), for
                            every case the generator checked is exactly lut[c][u8] of the full output
      expected.json         per case: image, processor config, shape, and for conformance images
                            whether the output equals open_clip's preprocess/IMAGE.npy bit for bit
      images/*.png          the synthetic images; processors/*.json the processor configs

How to run (no network; torch 1.13 from Debian, transformers from the wheels on this machine image):
    /usr/bin/python3 -m venv --system-site-packages /tmp/hfenv
    /tmp/hfenv/bin/pip install --no-index --no-deps --find-links /opt/pypi/files \
        --find-links /opt/pypi-more/files transformers==4.57.6 huggingface_hub==1.33.0 \
        tokenizers==0.22.2 safetensors filelock fsspec hf_xet httpx httpcore anyio sniffio h11 \
        shellingham typer typer_slim click
    # transformers 4.57 pins huggingface_hub < 1.0; nothing here downloads, so relax the pin:
    sed -i 's/"huggingface-hub>=0.34.0,<1.0"/"huggingface-hub>=0.34.0"/' \
        /tmp/hfenv/lib/python3.11/site-packages/transformers/dependency_versions_table.py
    /tmp/hfenv/bin/python tools/reference/hf_clip_reference.py [OUT] [CONFORMANCE_DIR]

transformers 4.57 disables itself for torch < 2.1 (only configs and image processors are used
here, which need numpy and PIL), and torchvision 0.14 is hidden from it (its image_utils needs
InterpolationMode.NEAREST_EXACT, torchvision >= 0.15). Modeling code is never imported: the
weights are written with numpy, safetensors and torch.save.
"""

import gzip
import json
import os
import shutil
import sys

sys.modules["torchvision"] = None  # see above: transformers would import it and fail

import numpy as np  # noqa: E402
import PIL  # noqa: E402
from PIL import Image  # noqa: E402
import torch  # noqa: E402
import transformers  # noqa: E402
from safetensors.numpy import save_file  # noqa: E402
from transformers.image_transforms import normalize, rescale  # noqa: E402
from transformers.models.clip.configuration_clip import (  # noqa: E402
    CLIPConfig,
    CLIPTextConfig,
    CLIPVisionConfig,
)
from transformers.models.clip.image_processing_clip import CLIPImageProcessor  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "java/src/test/resources/dev/clip4j/model/hf")
CONF = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(ROOT), "shared/conformance")

PROVENANCE = {
    "generator": "tools/reference/hf_clip_reference.py",
    "transformers": transformers.__version__,
    "numpy": np.__version__,
    "Pillow": PIL.__version__,
    "torch": torch.__version__,
}


def fresh(path):
    if os.path.isdir(path):
        shutil.rmtree(path)
    os.makedirs(path)
    return path


def dump(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")


# ---------------------------------------------------------------------------------- configs


def effective(cfg):
    """What transformers computes with: the values clip4j must derive from the same file."""

    def tower(c, text):
        d = {
            "hidden_size": c.hidden_size,
            "intermediate_size": c.intermediate_size,
            "num_attention_heads": c.num_attention_heads,
            "num_hidden_layers": c.num_hidden_layers,
            "hidden_act": c.hidden_act,
            "layer_norm_eps": c.layer_norm_eps,
            "projection_dim": c.projection_dim,
        }
        if text:
            d.update(vocab_size=c.vocab_size, max_position_embeddings=c.max_position_embeddings,
                     eos_token_id=c.eos_token_id)
        else:
            d.update(image_size=c.image_size, patch_size=c.patch_size, num_channels=c.num_channels)
        return d

    if isinstance(cfg, CLIPConfig):
        return {"model_type": "clip", "projection_dim": cfg.projection_dim,
                "text": tower(cfg.text_config, True), "vision": tower(cfg.vision_config, False)}
    if isinstance(cfg, CLIPVisionConfig):
        return {"model_type": "clip_vision_model", "projection_dim": cfg.projection_dim,
                "vision": tower(cfg, False)}
    return {"model_type": "clip_text_model", "projection_dim": cfg.projection_dim, "text": tower(cfg, True)}


TINY_TEXT = dict(vocab_size=50, hidden_size=8, intermediate_size=32, num_attention_heads=2,
                 num_hidden_layers=2, max_position_embeddings=7, projection_dim=12,
                 bos_token_id=48, eos_token_id=49, pad_token_id=0)
TINY_VISION = dict(hidden_size=16, intermediate_size=48, num_attention_heads=4, num_hidden_layers=2,
                   image_size=8, patch_size=4, projection_dim=12)


def configs(out):
    d = fresh(os.path.join(out, "configs"))
    expected = {}

    def save(name, cfg, architectures):
        cfg.architectures = architectures
        tmp = fresh(os.path.join(d, "_tmp"))
        cfg.save_pretrained(tmp)
        shutil.move(os.path.join(tmp, "config.json"), os.path.join(d, name + ".json"))
        shutil.rmtree(tmp)
        reread = type(cfg).from_pretrained(os.path.join(d, name + ".json"))
        expected[name] = effective(reread)

    save("clip-quickgelu", CLIPConfig(text_config=dict(TINY_TEXT), vision_config=dict(TINY_VISION),
                                                 projection_dim=12), ["CLIPModel"])
    # GELU towers, the laion layout.
    save("clip-gelu", CLIPConfig(text_config=dict(TINY_TEXT, hidden_act="gelu"),
                                 vision_config=dict(TINY_VISION, hidden_act="gelu"), projection_dim=12),
         ["CLIPModel"])
    save("vision-with-projection", CLIPVisionConfig(**dict(TINY_VISION, hidden_act="gelu")),
         ["CLIPVisionModelWithProjection"])
    save("text-with-projection", CLIPTextConfig(**TINY_TEXT), ["CLIPTextModelWithProjection"])

    # Written by hand without hidden_act (as older or hand-made configs are): transformers'
    # class default, quick_gelu, is what it computes with.
    absent = {"architectures": ["CLIPModel"], "model_type": "clip", "projection_dim": 12,
              "text_config": dict(TINY_TEXT), "vision_config": dict(TINY_VISION)}
    dump(os.path.join(d, "clip-hidden-act-absent.json"), absent)
    expected["clip-hidden-act-absent"] = effective(CLIPConfig.from_pretrained(os.path.join(d, "clip-hidden-act-absent.json")))

    # The legacy layout of openai/clip-vit-*: *_config_dict beside *_config, which it overrides
    # whole (its values, or the class defaults for keys it lacks). Here text_config says gelu and
    # an old eps, text_config_dict omits hidden_act: transformers computes with quick_gelu.
    legacy = {
        "architectures": ["CLIPModel"],
        "model_type": "clip",
        "projection_dim": 12,
        "initializer_factor": 1.0,
        "logit_scale_init_value": 2.6592,
        "torch_dtype": "float32",
        "transformers_version": None,
        "text_config": dict(TINY_TEXT, hidden_act="gelu", layer_norm_eps=1e-6, model_type="clip_text_model",
                            dropout=0.0, attention_dropout=0.0, initializer_range=0.02, use_bfloat16=False,
                            output_attentions=False, return_dict=True, torchscript=False,
                            tie_word_embeddings=True, is_decoder=False, add_cross_attention=False,
                            chunk_size_feed_forward=0, pruned_heads={}, id2label={"0": "LABEL_0", "1": "LABEL_1"},
                            label2id={"LABEL_0": 0, "LABEL_1": 1}, num_beams=1, max_length=20, top_k=50),
        "text_config_dict": dict(TINY_TEXT),
        "vision_config": dict(TINY_VISION, hidden_act="quick_gelu", model_type="clip_vision_model", dropout=0.0),
        "vision_config_dict": dict(TINY_VISION, hidden_act="quick_gelu"),
    }
    legacy["transformers_version"] = "4.21.0.dev0"
    dump(os.path.join(d, "clip-legacy-config-dict.json"), legacy)
    expected["clip-legacy-config-dict"] = effective(CLIPConfig.from_pretrained(os.path.join(d, "clip-legacy-config-dict.json")))
    expected["_provenance"] = PROVENANCE
    dump(os.path.join(d, "expected.json"), expected)


# ---------------------------------------------------------------------------------- weights


def hf_tower_weights(rng, prefix, c, text, dtype):
    def r(*shape, scale=0.05):
        return (rng.standard_normal(shape) * scale).astype(dtype)

    w = {}
    h, inter = c["hidden_size"], c["intermediate_size"]
    if text:
        w[prefix + "embeddings.token_embedding.weight"] = r(c["vocab_size"], h)
        w[prefix + "embeddings.position_embedding.weight"] = r(c["max_position_embeddings"], h)
    else:
        w[prefix + "embeddings.class_embedding"] = r(h)
        w[prefix + "embeddings.patch_embedding.weight"] = r(h, 3, c["patch_size"], c["patch_size"])
        n = (c["image_size"] // c["patch_size"]) ** 2 + 1
        w[prefix + "embeddings.position_embedding.weight"] = r(n, h)
        w[prefix + "pre_layrnorm.weight"] = (1 + r(h)).astype(dtype)
        w[prefix + "pre_layrnorm.bias"] = r(h)
    for i in range(c["num_hidden_layers"]):
        p = f"{prefix}encoder.layers.{i}."
        for proj in ("k_proj", "v_proj", "q_proj", "out_proj"):
            w[p + f"self_attn.{proj}.weight"] = r(h, h)
            w[p + f"self_attn.{proj}.bias"] = r(h)
        w[p + "layer_norm1.weight"] = (1 + r(h)).astype(dtype)
        w[p + "layer_norm1.bias"] = r(h)
        w[p + "mlp.fc1.weight"] = r(inter, h)
        w[p + "mlp.fc1.bias"] = r(inter)
        w[p + "mlp.fc2.weight"] = r(h, inter)
        w[p + "mlp.fc2.bias"] = r(h)
        w[p + "layer_norm2.weight"] = (1 + r(h)).astype(dtype)
        w[p + "layer_norm2.bias"] = r(h)
    ln = prefix + ("final_layer_norm" if text else "post_layernorm")
    w[ln + ".weight"] = (1 + r(h)).astype(dtype)
    w[ln + ".bias"] = r(h)
    return w


def to_open_clip(hf, text_layers, vision_layers):
    """convert_clip_original_pytorch_to_hf.py, read backwards: HF names -> open_clip names."""
    oc = {}

    def blocks(hp, op, n):
        for i in range(n):
            h, o = f"{hp}encoder.layers.{i}.", f"{op}transformer.resblocks.{i}."
            oc[o + "ln_1.weight"] = hf[h + "layer_norm1.weight"]
            oc[o + "ln_1.bias"] = hf[h + "layer_norm1.bias"]
            oc[o + "attn.in_proj_weight"] = np.concatenate(
                [hf[h + f"self_attn.{x}_proj.weight"] for x in "qkv"], axis=0)
            oc[o + "attn.in_proj_bias"] = np.concatenate([hf[h + f"self_attn.{x}_proj.bias"] for x in "qkv"], axis=0)
            oc[o + "attn.out_proj.weight"] = hf[h + "self_attn.out_proj.weight"]
            oc[o + "attn.out_proj.bias"] = hf[h + "self_attn.out_proj.bias"]
            oc[o + "ln_2.weight"] = hf[h + "layer_norm2.weight"]
            oc[o + "ln_2.bias"] = hf[h + "layer_norm2.bias"]
            oc[o + "mlp.c_fc.weight"] = hf[h + "mlp.fc1.weight"]
            oc[o + "mlp.c_fc.bias"] = hf[h + "mlp.fc1.bias"]
            oc[o + "mlp.c_proj.weight"] = hf[h + "mlp.fc2.weight"]
            oc[o + "mlp.c_proj.bias"] = hf[h + "mlp.fc2.bias"]

    if vision_layers is not None:
        v = "vision_model."
        oc["visual.class_embedding"] = hf[v + "embeddings.class_embedding"]
        oc["visual.positional_embedding"] = hf[v + "embeddings.position_embedding.weight"]
        oc["visual.proj"] = np.ascontiguousarray(hf["visual_projection.weight"].T)
        oc["visual.conv1.weight"] = hf[v + "embeddings.patch_embedding.weight"]
        oc["visual.ln_pre.weight"] = hf[v + "pre_layrnorm.weight"]
        oc["visual.ln_pre.bias"] = hf[v + "pre_layrnorm.bias"]
        blocks(v, "visual.", vision_layers)
        oc["visual.ln_post.weight"] = hf[v + "post_layernorm.weight"]
        oc["visual.ln_post.bias"] = hf[v + "post_layernorm.bias"]
    if text_layers is not None:
        t = "text_model."
        oc["token_embedding.weight"] = hf[t + "embeddings.token_embedding.weight"]
        oc["positional_embedding"] = hf[t + "embeddings.position_embedding.weight"]
        blocks(t, "", text_layers)
        oc["ln_final.weight"] = hf[t + "final_layer_norm.weight"]
        oc["ln_final.bias"] = hf[t + "final_layer_norm.bias"]
        oc["text_projection"] = np.ascontiguousarray(hf["text_projection.weight"].T)
    if "logit_scale" in hf:
        oc["logit_scale"] = hf["logit_scale"]
    return oc


def model_weights(seed, towers, dtype=np.float32):
    rng = np.random.default_rng(seed)
    w = {}
    if "vision" in towers:
        w.update(hf_tower_weights(rng, "vision_model.", TINY_VISION, False, dtype))
        w["visual_projection.weight"] = (rng.standard_normal((12, TINY_VISION["hidden_size"])) * 0.05).astype(dtype)
    if "text" in towers:
        w.update(hf_tower_weights(rng, "text_model.", TINY_TEXT, True, dtype))
        w["text_projection.weight"] = (rng.standard_normal((12, TINY_TEXT["hidden_size"])) * 0.05).astype(dtype)
    if towers == ("vision", "text"):
        w["logit_scale"] = np.array(np.log(1 / 0.07), dtype=dtype)
    return w


def torch_save(path, tensors):
    sd = {}
    for k, v in tensors.items():
        # (np.ascontiguousarray would turn logit_scale's 0-d array into shape [1])
        sd[k] = v if isinstance(v, torch.Tensor) else torch.from_numpy(np.require(v, requirements="C"))
    torch.save(sd, path)  # torch 1.13: the zip format, _rebuild_tensor_v2


def shard(names, n):
    """transformers-style shard assignment: names in order, split into n runs."""
    per = (len(names) + n - 1) // n
    return [names[i * per:(i + 1) * per] for i in range(n)]


def models(out):
    root = fresh(os.path.join(out, "models"))
    gelu_text = dict(TINY_TEXT, hidden_act="gelu")
    gelu_vision = dict(TINY_VISION, hidden_act="gelu")

    def write_config(d, cfg, arch):
        cfg.architectures = [arch]
        cfg.save_pretrained(d)

    def expected(d, hf, tl, vl):
        oc = to_open_clip(hf, tl, vl)
        save_file(oc, os.path.join(d, "expected_open_clip.safetensors"))

    # Single towers.
    d = fresh(os.path.join(root, "vision-with-projection"))
    w = model_weights(11, ("vision",))
    write_config(d, CLIPVisionConfig(**gelu_vision), "CLIPVisionModelWithProjection")
    save_file(w, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    expected(d, w, None, TINY_VISION["num_hidden_layers"])

    d = fresh(os.path.join(root, "text-with-projection"))
    w = model_weights(12, ("text",))
    write_config(d, CLIPTextConfig(**TINY_TEXT), "CLIPTextModelWithProjection")  # quick_gelu (default)
    save_file(w, os.path.join(d, "model.safetensors"), metadata={"format": "pt"})
    expected(d, w, TINY_TEXT["num_hidden_layers"], None)

    full = CLIPConfig(text_config=gelu_text, vision_config=gelu_vision, projection_dim=12)

    # An older checkpoint: pytorch_model.bin with the position_ids buffers (int64 [1, n], saved
    # from torch.arange(n).expand((1, -1)) as transformers < 4.31 registered them persistent).
    d = fresh(os.path.join(root, "legacy-bin"))
    w = model_weights(13, ("vision", "text"))
    write_config(d, full, "CLIPModel")
    sd = {k: torch.from_numpy(v) for k, v in w.items()}
    n_vis = (TINY_VISION["image_size"] // TINY_VISION["patch_size"]) ** 2 + 1
    sd["vision_model.embeddings.position_ids"] = torch.arange(n_vis).expand((1, -1))
    sd["text_model.embeddings.position_ids"] = torch.arange(TINY_TEXT["max_position_embeddings"]).expand((1, -1))
    torch_save(os.path.join(d, "pytorch_model.bin"), sd)
    expected(d, w, TINY_TEXT["num_hidden_layers"], TINY_VISION["num_hidden_layers"])

    # Sharded safetensors in float16, as save_pretrained(max_shard_size=...) writes them.
    d = fresh(os.path.join(root, "sharded-fp16"))
    w = model_weights(14, ("vision", "text"), np.float16)
    cfg = CLIPConfig(text_config=gelu_text, vision_config=gelu_vision, projection_dim=12)
    cfg.dtype = "float16"
    write_config(d, cfg, "CLIPModel")
    weight_map, total = {}, 0
    parts = shard(list(w), 2)
    for i, names in enumerate(parts):
        fname = f"model-{i + 1:05d}-of-{len(parts):05d}.safetensors"
        save_file({k: w[k] for k in names}, os.path.join(d, fname), metadata={"format": "pt"})
        for k in names:
            weight_map[k] = fname
            total += w[k].nbytes
    dump(os.path.join(d, "model.safetensors.index.json"), {"metadata": {"total_size": total}, "weight_map": weight_map})
    expected(d, w, TINY_TEXT["num_hidden_layers"], TINY_VISION["num_hidden_layers"])

    # Sharded torch.save checkpoints.
    d = fresh(os.path.join(root, "sharded-bin"))
    w = model_weights(15, ("vision", "text"))
    write_config(d, full, "CLIPModel")
    weight_map, total = {}, 0
    parts = shard(list(w), 2)
    for i, names in enumerate(parts):
        fname = f"pytorch_model-{i + 1:05d}-of-{len(parts):05d}.bin"
        torch_save(os.path.join(d, fname), {k: w[k] for k in names})
        for k in names:
            weight_map[k] = fname
            total += w[k].nbytes
    dump(os.path.join(d, "pytorch_model.bin.index.json"), {"metadata": {"total_size": total}, "weight_map": weight_map})
    expected(d, w, TINY_TEXT["num_hidden_layers"], TINY_VISION["num_hidden_layers"])
    dump(os.path.join(root, "provenance.json"), PROVENANCE)


# ---------------------------------------------------------------------------------- preprocessing


def synthetic_images(d):
    """Small images of every Pillow mode clip4j decodes, sized so that the crop offsets of
    transformers (floor) and torchvision (round half to even) differ where it matters."""
    rng = np.random.default_rng(7)
    imgs = {}

    def gradient(w, h, c):
        y, x = np.mgrid[0:h, 0:w]
        planes = [(x * 255 // max(1, w - 1)), (y * 255 // max(1, h - 1)), ((x + y) * 97 % 256)][:c]
        a = np.stack(planes, -1).astype(np.int64)
        a = (a + rng.integers(0, 40, size=a.shape)) % 256
        return a.astype(np.uint8)

    # For a 48 px processor. Each non-RGB image is resized (its short side is not 48), so the
    # conversion order matters; the crop offsets differ where noted.
    rgb = gradient(55, 48, 3)  # no resize; crop excess 7: floor 3, round(3.5) = 4
    imgs["rgb_55x48.png"] = Image.fromarray(rgb, "RGB")
    imgs["rgb_46x43.png"] = Image.fromarray(gradient(46, 43, 3), "RGB")  # 46x43 -> 51x48: excess 3, 1 vs 2
    rgba = np.concatenate([gradient(41, 37, 3), gradient(41, 37, 1)[..., :1]], -1)
    rgba[:5, :5, 3] = 0  # fully transparent pixels keep a colour: alpha is dropped, not composited
    imgs["rgba_41x37.png"] = Image.fromarray(rgba, "RGBA")  # -> 53x48, excess 5: 2 either way
    la = np.concatenate([gradient(40, 45, 1), gradient(40, 45, 2)[..., 1:]], -1)
    la[-4:, :, 1] = 0
    imgs["la_40x45.png"] = Image.fromarray(la, "LA")  # -> 48x54, excess 6: 3 either way
    imgs["l_48x55.png"] = Image.fromarray(gradient(48, 55, 1)[..., 0], "L")  # no resize; excess 7
    imgs["p_31x20.png"] = Image.fromarray(gradient(31, 20, 3), "RGB").quantize(colors=16)  # -> 74x48
    imgs["bilevel_30x33.png"] = Image.fromarray(gradient(30, 33, 1)[..., 0], "L").convert("1")  # -> 48x52
    i16 = (gradient(35, 39, 1)[..., 0].astype(np.int32) * 3)  # 0..765: convert('RGB') clips at 255
    imgs["i16_35x39.png"] = Image.fromarray(i16.astype(np.uint16), "I;16")  # -> 48x53
    modes = {}
    os.makedirs(d, exist_ok=True)
    for name, im in imgs.items():
        im.save(os.path.join(d, name))
        modes[name] = Image.open(os.path.join(d, name)).mode
    return modes


def processor_u8(proc, image):
    """The processor's output before rescale and normalize (uint8, CHW)."""
    raw = proc.preprocess(image, do_rescale=False, do_normalize=False, return_tensors="np")["pixel_values"][0]
    assert raw.dtype == np.uint8, raw.dtype
    return raw


def preprocess(out):
    d = fresh(os.path.join(out, "preprocess"))
    fixture_proc = CLIPImageProcessor.from_pretrained(os.path.join(CONF, "models/tiny-gelu/hf"))
    # The rescale + normalize table, from transformers' own functions (HWC, as the processor holds it).
    ramp = np.tile(np.arange(256, dtype=np.uint8)[:, None, None], (1, 1, 3))  # [256, 1, 3]
    lut = normalize(rescale(ramp, fixture_proc.rescale_factor), fixture_proc.image_mean, fixture_proc.image_std)
    lut = np.ascontiguousarray(lut[:, 0, :].T.astype(np.float32))  # [3, 256]
    np.save(os.path.join(d, "lut.npy"), lut)

    cases = []

    def case(name, image_path, proc, proc_name, open_clip_npy=None):
        image = Image.open(image_path)
        full = proc.preprocess(image, return_tensors="np")["pixel_values"][0]
        u8 = processor_u8(proc, Image.open(image_path))
        rebuilt = np.stack([lut[c][u8[c]] for c in range(3)])
        if proc.do_normalize and proc.do_rescale:
            assert np.array_equal(full.view(np.uint32), rebuilt.view(np.uint32)), name + ": not lut[u8]"
        c = {"name": name, "image": os.path.basename(image_path), "mode": image.mode, "size": list(image.size),
             "processor": proc_name, "shape": list(u8.shape)}
        if open_clip_npy is not None:
            oc = np.load(open_clip_npy)
            c["same_as_open_clip"] = bool(np.array_equal(full.view(np.uint32), oc.view(np.uint32)))
            c["max_abs_diff_to_open_clip"] = float(np.max(np.abs(full - oc)))
        if open_clip_npy is None or not c["same_as_open_clip"]:
            with gzip.GzipFile(os.path.join(d, name + ".u8.gz"), "wb", mtime=0) as f:
                f.write(np.ascontiguousarray(u8).tobytes())
            c["u8"] = name + ".u8.gz"
        cases.append(c)

    manifest = json.load(open(os.path.join(CONF, "manifest.json")))
    for img in manifest["images"]:
        case("conformance-" + img, os.path.join(CONF, "images", img), fixture_proc, "fixture",
             os.path.join(CONF, "preprocess", img + ".npy"))

    procs = {
        "p48": CLIPImageProcessor(size={"shortest_edge": 48}, crop_size={"height": 48, "width": 48}),
        "p48-bilinear": CLIPImageProcessor(size={"shortest_edge": 48}, crop_size=48, resample=2),
        "p48-squash": CLIPImageProcessor(size={"height": 48, "width": 48}, crop_size=48),
        "p48-nearest-no-normalize": CLIPImageProcessor(size=48, crop_size=48, resample=0, do_normalize=False,
                                                       image_mean=[0.5, 0.25, 0.125], image_std=0.5),
    }
    pdir = os.path.join(d, "processors")
    for name, p in procs.items():
        p.save_pretrained(os.path.join(pdir, name))
    modes = synthetic_images(os.path.join(d, "images"))
    for img in modes:
        case("p48-" + img, os.path.join(d, "images", img), procs["p48"], "p48")
    for img in ("rgb_55x48.png", "rgba_41x37.png", "p_31x20.png"):
        for pname in ("p48-bilinear", "p48-squash", "p48-nearest-no-normalize"):
            case(pname + "-" + img, os.path.join(d, "images", img), procs[pname], pname)
    # do_normalize=False: the processor's output is rescale(u8) alone; record its table too.
    nn_lut = rescale(ramp, procs["p48-nearest-no-normalize"].rescale_factor)
    np.save(os.path.join(d, "lut-no-normalize.npy"), np.ascontiguousarray(nn_lut[:, 0, :].T.astype(np.float32)))
    for c in cases:
        if c["processor"] == "p48-nearest-no-normalize":
            u8 = np.frombuffer(gzip.open(os.path.join(d, c["u8"])).read(), np.uint8).reshape(c["shape"])
            p = procs["p48-nearest-no-normalize"]
            full = p.preprocess(Image.open(os.path.join(d, "images", c["image"])), return_tensors="np")["pixel_values"][0]
            rebuilt = np.stack([nn_lut[:, 0, ch][u8[ch]] for ch in range(3)]).astype(np.float32)
            assert np.array_equal(full, rebuilt), c["name"]
    dump(os.path.join(d, "expected.json"), {"cases": cases, "modes": modes, "_provenance": PROVENANCE})


if __name__ == "__main__":
    os.makedirs(OUT, exist_ok=True)
    configs(OUT)
    models(OUT)
    preprocess(OUT)
    print("wrote", OUT)
