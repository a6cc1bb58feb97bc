"""open_clip's SigLIP eval preprocessing on the shared conformance images (squash resize, bicubic,
mean/std 0.5), stored as the uint8 image before ToTensor/Normalize (smaller than float tensors).

  PYTHONPATH=/tmp/sg/src:/tmp/sg/timm:/tmp/sg/stubs /usr/bin/python3 tools/reference/siglip_preprocess.py \
      ../shared/conformance/images OUT

Checks here that open_clip's float output equals (u8 / 255 - 0.5) / 0.5 computed in float32 as
torchvision does, so the test may rebuild the float tensor from the stored bytes.
"""
import os
import sys

import numpy as np
import torch
from PIL import Image
import open_clip

IMAGES = ["tall_37x300.png", "palette_color.png", "logo.png", "camera.png", "odd_225x333.jpg"]


def main():
    src, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    size = 224
    t = open_clip.image_transform(size, is_train=False, mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5),
                                  interpolation='bicubic', resize_mode='squash')
    print(t)
    head = torch.nn.Sequential()  # the PIL-side steps: everything before ToTensor
    steps = t.transforms
    k = [i for i, s in enumerate(steps) if type(s).__name__ == 'ToTensor'][0]
    for name in IMAGES:
        img = Image.open(os.path.join(src, name))
        x = t(img)
        pil = img
        for s in steps[:k]:
            pil = s(pil)
        u8 = np.asarray(pil, dtype=np.uint8).transpose(2, 0, 1).copy()
        rebuilt = (torch.from_numpy(u8).float().div(255) - 0.5) / 0.5
        assert torch.equal(rebuilt, x), name
        np.save(os.path.join(out, name + ".u8.npy"), u8)
        print(name, img.mode, img.size, '->', u8.shape)


if __name__ == '__main__':
    main()
