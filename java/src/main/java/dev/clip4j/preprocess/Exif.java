package dev.clip4j.preprocess;

import java.nio.ByteBuffer;

/** EXIF orientation of JPEG files and Pillow's {@code ImageOps.exif_transpose} on pixels. */
final class Exif {
  private Exif() {}

  /** The orientation tag (1..8) of a JPEG's APP1 Exif segment, or 0 when absent or unreadable. */
  static int jpegOrientation(byte[] d) {
    int i = 2;
    while (i + 4 <= d.length && (d[i] & 0xFF) == 0xFF) {
      int marker = d[i + 1] & 0xFF;
      if (marker == 0xDA || marker == 0xD9) {
        return 0; // start of scan: no more metadata
      }
      int len = ((d[i + 2] & 0xFF) << 8) | (d[i + 3] & 0xFF);
      if (len < 2 || i + 2 + len > d.length) {
        return 0;
      }
      if (marker == 0xE1 && len >= 16 && d[i + 4] == 'E' && d[i + 5] == 'x' && d[i + 6] == 'i'
          && d[i + 7] == 'f' && d[i + 8] == 0 && d[i + 9] == 0) {
        int o = tiffOrientation(d, i + 10, i + 2 + len);
        if (o != 0) {
          return o;
        }
      }
      i += 2 + len;
    }
    return 0;
  }

  private static int tiffOrientation(byte[] d, int start, int end) {
    boolean little;
    if (d[start] == 'I' && d[start + 1] == 'I') {
      little = true;
    } else if (d[start] == 'M' && d[start + 1] == 'M') {
      little = false;
    } else {
      return 0;
    }
    long ifd = u32(d, start + 4, little);
    long entries = start + ifd;
    if (ifd < 8 || entries + 2 > end) {
      return 0;
    }
    int count = u16(d, (int) entries, little);
    for (int k = 0; k < count; k++) {
      int e = (int) entries + 2 + 12 * k;
      if (e + 12 > end) {
        return 0;
      }
      if (u16(d, e, little) == 0x0112) {
        int v = u16(d, e + 8, little);
        return v >= 1 && v <= 8 ? v : 0;
      }
    }
    return 0;
  }

  private static int u16(byte[] d, int o, boolean little) {
    return little ? (d[o] & 0xFF) | ((d[o + 1] & 0xFF) << 8) : ((d[o] & 0xFF) << 8) | (d[o + 1] & 0xFF);
  }

  private static long u32(byte[] d, int o, boolean little) {
    long a = u16(d, o, little);
    long b = u16(d, o + 2, little);
    return little ? a | (b << 16) : (a << 16) | b;
  }

  /**
   * The image as exif_transpose leaves it for {@code orientation}: 2 mirror, 3 rotate 180, 4 flip,
   * 5 transpose, 6 rotate 90 clockwise, 7 transverse, 8 rotate 90 counter-clockwise.
   */
  static DecodedImage transpose(DecodedImage img, int orientation) {
    int w = img.width();
    int h = img.height();
    boolean swap = orientation >= 5;
    int ow = swap ? h : w;
    int oh = swap ? w : h;
    int bpp = img.mode().bytesPerPixel();
    ByteBuffer src = img.directPixels();
    ByteBuffer out = ImageDecoder.alloc(src.remaining());
    for (int dy = 0; dy < oh; dy++) {
      for (int dx = 0; dx < ow; dx++) {
        int sx;
        int sy;
        switch (orientation) {
          case 2: sx = w - 1 - dx; sy = dy; break;
          case 3: sx = w - 1 - dx; sy = h - 1 - dy; break;
          case 4: sx = dx; sy = h - 1 - dy; break;
          case 5: sx = dy; sy = dx; break;
          case 6: sx = dy; sy = h - 1 - dx; break;
          case 7: sx = w - 1 - dy; sy = h - 1 - dx; break;
          default: sx = w - 1 - dy; sy = dx; break; // 8
        }
        int s = (sy * w + sx) * bpp;
        for (int b = 0; b < bpp; b++) {
          out.put(src.get(s + b));
        }
      }
    }
    return new DecodedImage(img.mode(), ow, oh, out.flip(), img.palette(), img.source());
  }
}
