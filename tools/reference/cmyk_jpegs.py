#!/usr/bin/python3
"""Writes the CMYK / YCCK JPEG test images and their open_clip reference tensors.

Output: java/src/test/resources/dev/clip4j/preprocess/cmyk/ (a few KB per image), read by
dev.clip4j.preprocess.CmykJpegTest. Each image NAME.jpg gets
  NAME.cmyk.npy   uint8 [h, w, 4]  what Pillow 9.4 decodes (Image.open(f), mode CMYK)
  NAME.s24.npy    float32 [3, 24, 24]  open_clip 2.20 image_transform(24, is_train=False)
and some also
  NAME.longest24.npy  open_clip 2.32 image_transform(24, False, resize_mode='longest') (padding)
  NAME.exif.s24.npy   ImageOps.exif_transpose, then the 2.20 transform (DecodeOptions.exifOrientation)
  NAME.rgb.npy        uint8 [h, w, 3]  Pillow's convert("RGB") (transformers' RGB-first preprocessing)
plus gif_screen.gif (a first frame smaller than the logical screen, at an offset) with its
gif_screen.s24.npy, as Pillow composes it.

Writers: Pillow (CMYK is saved Adobe-inverted with an APP14 transform 0 marker) and ImageMagick
(Debian's imagemagick 6.9: CMYK is saved as YCCK, APP14 transform 2); the other variants patch the
APP14 marker of those files (transform byte changed, marker removed) so the decoder sees every
case libjpeg distinguishes: Adobe transform 0 (CMYK), 2 (YCCK), 1 (unknown: libjpeg assumes
YCCK), and no marker (CMYK). Pillow reads every 4-component JPEG as Adobe-inverted CMYK
("CMYK;I"), whatever the marker says; clip4j must do the same.

Reference stack (/work/shared/notes/reference-stack.md): Debian's python3-pil 9.4, python3-torch
1.13, python3-torchvision 0.14, and open_clip source trees v2.20.0 and v2.32.0:
  /usr/bin/python3 tools/reference/cmyk_jpegs.py --open-clip /tmp/oc/src --open-clip-232 /tmp/oc3/src
ImageMagick (`apt-get install imagemagick`) is needed here only; CI reads the committed files.
"""

import argparse
import importlib
import io
import os
import struct
import subprocess
import sys
import tempfile
import types

import numpy as np
from PIL import Image, ImageOps

OUT_DEFAULT = os.path.join(
    os.path.dirname(os.path.abspath(__file__)), "..", "..",
    "java", "src", "test", "resources", "dev", "clip4j", "preprocess", "cmyk")
SIZE = 24


def load_transform(src, **kwargs):
    """open_clip.image_transform from the source tree `src`, importing only open_clip.transform
    (and what it imports), not the package's __init__ (which needs ftfy and the model code)."""
    for k in [k for k in sys.modules if k == "open_clip" or k.startswith("open_clip.")]:
        del sys.modules[k]
    pkg = types.ModuleType("open_clip")
    pkg.__path__ = [os.path.join(src, "open_clip")]
    sys.modules["open_clip"] = pkg
    transform = importlib.import_module("open_clip.transform")
    return transform.image_transform(SIZE, is_train=False, **kwargs)


def cmyk_pattern(w, h, seed):
    """Four independent smooth channels plus noise, every value 0..255 reached, K included."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    chans = []
    for c in range(4):
        fx, fy, ph = rng.uniform(0.05, 0.4), rng.uniform(0.05, 0.4), rng.uniform(0, 6.3)
        v = 0.5 + 0.5 * np.sin(fx * x + ph) * np.cos(fy * y - ph)
        v = v * 0.8 + 0.2 * (x / max(1, w - 1) if c % 2 == 0 else y / max(1, h - 1))
        v = v + rng.normal(0, 0.06, size=v.shape)
        chans.append(np.clip(np.round(v * 255), 0, 255).astype(np.uint8))
    a = np.stack(chans, axis=-1)
    a[0, 0] = (0, 0, 0, 0)
    a[0, 1] = (255, 255, 255, 255)
    a[1, 0] = (255, 0, 0, 128)
    return a


def magick(raw_cmyk, w, h, path, *opts):
    """ImageMagick reading raw CMYK samples (its own convention: 0 = no ink) and writing a JPEG."""
    with tempfile.NamedTemporaryFile(suffix=".cmyk") as f:
        f.write(raw_cmyk.tobytes())
        f.flush()
        subprocess.run(["convert", "-size", f"{w}x{h}", "-depth", "8", f"cmyk:{f.name}", *opts,
                        path], check=True)


def segments(data):
    """(offset, marker, length) of every marker segment before the first SOS."""
    i, out = 2, []
    while i + 4 <= len(data) and data[i] == 0xFF:
        marker = data[i + 1]
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        out.append((i, marker, length))
        if marker == 0xDA:
            break
        i += 2 + length
    return out


def adobe_offset(data):
    for off, marker, length in segments(data):
        if marker == 0xEE and data[off + 4:off + 9] == b"Adobe":
            return off, length
    raise ValueError("no Adobe APP14 marker")


def with_transform(data, transform):
    off, _ = adobe_offset(data)
    b = bytearray(data)
    b[off + 4 + 11] = transform
    return bytes(b)


def without_adobe(data):
    off, length = adobe_offset(data)
    return data[:off] + data[off + 2 + length:]


def with_app_segment(data, marker, payload):
    """Inserts a marker segment right after SOI."""
    return data[:2] + bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload + data[2:]


def exif_orientation(value):
    """A minimal big-endian TIFF IFD with one Orientation entry."""
    ifd = struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, value, 0) + struct.pack(">I", 0)
    return b"Exif\0\0" + b"MM\0\x2a" + struct.pack(">I", 8) + ifd


def gif_first_descriptor(g):
    """Offset of the first image descriptor (','), skipping the extension blocks before it."""
    i = 13 + (3 * (2 << (g[10] & 7)) if g[10] & 0x80 else 0)
    while g[i] == 0x21:  # '!' label, then sub-blocks up to a zero length
        i += 2
        while g[i]:
            i += 1 + g[i]
        i += 1
    assert g[i] == 0x2C, hex(g[i])
    return i


def pillow_jpeg(cmyk, **save):
    buf = io.BytesIO()
    Image.fromarray(cmyk, "CMYK").save(buf, "JPEG", **save)
    return buf.getvalue()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--open-clip", required=True, help="open_clip v2.20.0 src directory")
    ap.add_argument("--open-clip-232", required=True, help="open_clip v2.32.0 src directory")
    ap.add_argument("--out", default=OUT_DEFAULT)
    args = ap.parse_args()
    assert Image.__version__.startswith("9.4"), Image.__version__
    shortest = load_transform(args.open_clip)
    longest = load_transform(args.open_clip_232, resize_mode="longest")
    out = os.path.abspath(args.out)
    os.makedirs(out, exist_ok=True)

    files = {}
    a = cmyk_pattern(61, 43, 1)
    files["pillow_cmyk_adobe0"] = pillow_jpeg(a, quality=90)
    files["pillow_cmyk_420"] = pillow_jpeg(cmyk_pattern(37, 29, 2), quality=85, subsampling=2)
    files["pillow_cmyk_no_adobe"] = without_adobe(files["pillow_cmyk_adobe0"])
    files["pillow_cmyk_as_ycck"] = with_transform(files["pillow_cmyk_adobe0"], 2)
    files["pillow_cmyk_adobe_transform1"] = with_transform(files["pillow_cmyk_adobe0"], 1)
    files["pillow_cmyk_exif6"] = with_app_segment(pillow_jpeg(cmyk_pattern(41, 27, 3), quality=90),
                                                  0xE1, exif_orientation(6))
    with tempfile.TemporaryDirectory() as tmp:
        b = cmyk_pattern(53, 38, 4)
        for name, opts in [
            ("magick_ycck", ["-quality", "90"]),
            ("magick_ycck_420", ["-quality", "85", "-sampling-factor", "2x2,1x1,1x1,2x2"]),
            ("magick_ycck_progressive", ["-quality", "90", "-interlace", "JPEG"]),
        ]:
            p = os.path.join(tmp, name + ".jpg")
            magick(b, 53, 38, p, *opts)
            with open(p, "rb") as f:
                files[name] = f.read()
    files["magick_ycck_as_cmyk"] = with_transform(files["magick_ycck"], 0)
    files["magick_ycck_no_adobe"] = without_adobe(files["magick_ycck"])

    for name, data in sorted(files.items()):
        path = os.path.join(out, name + ".jpg")
        with open(path, "wb") as f:
            f.write(data)
        im = Image.open(path)
        assert im.mode == "CMYK", (name, im.mode)
        im.load()
        np.save(os.path.join(out, name + ".cmyk.npy"), np.asarray(im))
        np.save(os.path.join(out, name + ".s24.npy"), shortest(Image.open(path)).numpy())
        if name in ("pillow_cmyk_adobe0", "magick_ycck"):
            np.save(os.path.join(out, name + ".longest24.npy"), longest(Image.open(path)).numpy())
        if name in ("pillow_cmyk_adobe0", "magick_ycck_420"):
            # Pillow's convert("RGB") of the whole image: what transformers' CLIPImageProcessor
            # (rgb first, then resize) starts from.
            np.save(os.path.join(out, name + ".rgb.npy"), np.asarray(Image.open(path).convert("RGB")))
        if name == "pillow_cmyk_exif6":
            t = ImageOps.exif_transpose(Image.open(path))
            assert t.size == (27, 41), t.size
            np.save(os.path.join(out, name + ".exif.s24.npy"), shortest(t).numpy())
        print(f"{name}.jpg: {len(data)} bytes, Adobe transform "
              f"{im.info.get('adobe_transform', 'none')}, layers {im.layer}")

    # A GIF whose logical screen (40x30) is larger than its first frame (13x9 at 11,7): Pillow's
    # image is the screen, the frame pasted at its offset on palette index 0.
    rng = np.random.default_rng(5)
    frame = Image.fromarray(rng.integers(0, 16, size=(9, 13), dtype=np.uint8), "P")
    frame.putpalette(list(rng.integers(0, 256, size=16 * 3, dtype=np.uint8)))
    buf = io.BytesIO()
    frame.save(buf, "GIF")
    g = bytearray(buf.getvalue())
    g[6:10] = struct.pack("<HH", 40, 30)
    desc = gif_first_descriptor(g)
    g[desc + 1:desc + 5] = struct.pack("<HH", 11, 7)
    gif = os.path.join(out, "gif_screen.gif")
    with open(gif, "wb") as f:
        f.write(bytes(g))
    im = Image.open(gif)
    assert im.size == (40, 30) and im.mode == "P", (im.size, im.mode)
    np.save(os.path.join(out, "gif_screen.s24.npy"), shortest(Image.open(gif)).numpy())
    print(f"gif_screen.gif: {len(g)} bytes, screen {im.size}, mode {im.mode}")


if __name__ == "__main__":
    main()
