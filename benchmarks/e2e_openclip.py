"""The Python side of benchmarks/e2e.sh: open_clip embedding a directory of images, as a user would.

    e2e_openclip.py MODEL_DIR IMAGE_DIR OUT.npy THREADS BATCH

MODEL_DIR is an open_clip directory (open_clip_config.json + open_clip_model.safetensors, fp32).
Images are read in sorted order, decoded and preprocessed by open_clip's eval transform (PIL), batched,
run through model.encode_image(normalize=True) under torch.no_grad() with THREADS intra-op threads,
and saved as one [N, D] float32 .npy (the same layout as `clip4j embed-images --out X.npy`).
Needs open_clip's source on PYTHONPATH (and a stub huggingface_hub): e2e.sh sets that up.
Not a test and not a reference: a peer to measure clip4j's end-to-end throughput against.
"""
import json
import os
import struct
import sys
import time

import numpy as np
import torch
from PIL import Image

import open_clip

DTYPES = {"F32": np.float32, "F16": np.float16}


def read_safetensors(path):
    """A plain safetensors reader (the Debian stack has no safetensors package)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        start, end = meta["data_offsets"]
        arr = np.frombuffer(data, dtype=DTYPES[meta["dtype"]], count=(end - start) // np.dtype(DTYPES[meta["dtype"]]).itemsize,
                            offset=start).reshape(meta["shape"])
        out[name] = torch.from_numpy(arr.copy())
    return out


def main():
    model_dir, image_dir, out, threads, batch = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
    torch.set_num_threads(threads)
    t0 = time.time()
    with open(os.path.join(model_dir, "open_clip_config.json")) as f:
        cfg = json.load(f)
    model_cfg = dict(cfg["model_cfg"])
    model = open_clip.model.CLIP(**model_cfg)
    state = read_safetensors(os.path.join(model_dir, "open_clip_model.safetensors"))
    model.load_state_dict(state, strict=True)
    model.eval()
    pre = cfg.get("preprocess_cfg", {})
    transform = open_clip.image_transform(model.visual.image_size, is_train=False,
                                          mean=pre.get("mean"), std=pre.get("std"))
    files = sorted(os.path.join(image_dir, n) for n in os.listdir(image_dir) if n.endswith(".jpg"))
    t1 = time.time()
    rows = []
    with torch.no_grad():
        for i in range(0, len(files), batch):
            x = torch.stack([transform(Image.open(p).convert("RGB")) for p in files[i:i + batch]])
            rows.append(model.encode_image(x, normalize=True).numpy())
    np.save(out, np.concatenate(rows).astype(np.float32))
    t2 = time.time()
    print(f"open_clip: {len(files)} images, load {t1 - t0:.1f} s, embed {t2 - t1:.1f} s "
          f"({len(files) / (t2 - t1):.2f} img/s), threads {threads}, batch {batch}, torch {torch.__version__}")


if __name__ == "__main__":
    main()
