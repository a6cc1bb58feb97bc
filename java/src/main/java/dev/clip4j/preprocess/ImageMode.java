package dev.clip4j.preprocess;

/**
 * The mode Pillow would give a decoded image; the resize rules depend on it. See {@link
 * DecodedImage} for the pixel layout of each mode.
 */
public enum ImageMode {
  /** Bilevel: one byte per pixel, 0 or 255; resized with NEAREST whatever was asked. */
  BILEVEL("1", 1, 1),
  /** 8-bit grayscale, one byte per pixel. */
  L("L", 1, 1),
  /** Grayscale and alpha, two bytes per pixel; resized premultiplied. */
  LA("LA", 2, 2),
  /** Three bytes per pixel. */
  RGB("RGB", 3, 3),
  /** Four bytes per pixel; resized premultiplied; alpha is dropped without compositing. */
  RGBA("RGBA", 4, 4),
  /**
   * Palette: the pixels hold the palette colours already looked up (three bytes per pixel, RGB);
   * the palette is kept for the fill colour. Resized with NEAREST whatever was asked.
   */
  P("P", 3, 3),
  /**
   * 32-bit signed integer gray (Pillow's mode for 16-bit grayscale PNGs), one native-order int
   * per pixel. Pillow's convert('RGB') clips it to [0, 255], so most 16-bit images come out
   * nearly white: that is what open_clip computes, and so does clip4j.
   */
  I("I", 1, 4),
  /**
   * Cyan, magenta, yellow, black, four bytes per pixel (0 = no ink): 4-component JPEGs, as
   * Pillow opens them (Adobe-inverted, YCCK converted by libjpeg). Resized as four independent
   * channels, then converted to RGB with Pillow's formula (no colour profile).
   */
  CMYK("CMYK", 4, 4);

  private final String pillowName;
  private final int channels;
  private final int bytesPerPixel;

  ImageMode(String pillowName, int channels, int bytesPerPixel) {
    this.pillowName = pillowName;
    this.channels = channels;
    this.bytesPerPixel = bytesPerPixel;
  }

  /** Pillow's name of the mode ("1", "L", "LA", "RGB", "RGBA", "P", "I", "CMYK"). */
  public String pillowName() {
    return pillowName;
  }

  /** Samples per pixel in {@link DecodedImage#pixels()}. */
  public int channels() {
    return channels;
  }

  /** Bytes per pixel in {@link DecodedImage#pixels()}. */
  public int bytesPerPixel() {
    return bytesPerPixel;
  }
}
