package dev.clip4j.preprocess;

/**
 * The geometry Pillow 9.4 gives a GIF's first frame: its image is the logical screen (grown to
 * hold the frame where the frame reaches beyond it), the frame decoded at its offset, and the
 * rest palette index 0, or the frame's transparent index when its graphic control extension has
 * one (GifImagePlugin._seek(0) and load_prepare). The size that Pillow's decompression-bomb check
 * sees is this one, not the frame's.
 */
final class GifScreen {
  /** Image size as Pillow opens it. */
  final int width;
  final int height;
  /** The first frame's rectangle. */
  final int frameLeft;
  final int frameTop;
  final int frameWidth;
  final int frameHeight;
  /** Index of the pixels outside the frame. */
  final int fillIndex;

  private GifScreen(int width, int height, int frameLeft, int frameTop, int frameWidth,
      int frameHeight, int fillIndex) {
    this.width = width;
    this.height = height;
    this.frameLeft = frameLeft;
    this.frameTop = frameTop;
    this.frameWidth = frameWidth;
    this.frameHeight = frameHeight;
    this.fillIndex = fillIndex;
  }

  /** Whether the first frame covers the whole image (then the decoder's frame is the image). */
  boolean frameIsImage() {
    return frameLeft == 0 && frameTop == 0 && frameWidth == width && frameHeight == height;
  }

  private static int u16(byte[] d, int o) {
    return (d[o] & 0xFF) | ((d[o + 1] & 0xFF) << 8);
  }

  /**
   * Reads the logical screen descriptor and the blocks up to the first image descriptor, or
   * returns null when the data ends first (the decoder then reports the truncation).
   */
  static GifScreen scan(byte[] d) {
    if (d.length < 13) {
      return null;
    }
    int screenW = u16(d, 6);
    int screenH = u16(d, 8);
    int flags = d[10] & 0xFF;
    long i = 13;
    if ((flags & 0x80) != 0) {
      i += 3L << ((flags & 7) + 1);
    }
    int transparent = -1;
    while (i < d.length) {
      int b = d[(int) i] & 0xFF;
      if (b == 0x2C) { // image descriptor
        if (i + 9 > d.length) {
          return null;
        }
        int p = (int) i;
        int x0 = u16(d, p + 1);
        int y0 = u16(d, p + 3);
        int fw = u16(d, p + 5);
        int fh = u16(d, p + 7);
        int w = Math.max(screenW, x0 + fw);
        int h = Math.max(screenH, y0 + fh);
        return new GifScreen(w, h, x0, y0, fw, fh, transparent >= 0 ? transparent : 0);
      }
      if (b == 0x3B || (b == 0x21 && i + 2 > d.length)) { // trailer before any frame
        return null;
      }
      if (b != 0x21) {
        i++; // Pillow skips any other byte here
        continue;
      }
      int label = d[(int) i + 1] & 0xFF;
      long sub = i + 2;
      boolean first = true;
      while (sub < d.length && (d[(int) sub] & 0xFF) != 0) {
        int n = d[(int) sub] & 0xFF;
        if (first && label == 0xF9 && n >= 4 && sub + 4 < d.length
            && (d[(int) sub + 1] & 1) != 0) {
          transparent = d[(int) sub + 4] & 0xFF; // as Pillow: the last one that sets it
        }
        first = false;
        sub += 1 + n;
      }
      i = sub + 1;
    }
    return null;
  }
}
