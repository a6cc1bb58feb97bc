package dev.clip4j.preprocess;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Objects;

/**
 * A decoded image as Pillow would hold it: its {@link ImageMode}, size and interleaved pixels,
 * row-major without row padding, in a direct buffer that native code reads in place.
 *
 * <p>Layout per mode: {@code width * height * mode.bytesPerPixel()} bytes; for {@link
 * ImageMode#P} the palette colours are already looked up (RGB) and {@link #palette()} keeps the
 * palette; for {@link ImageMode#I} each pixel is a native-order {@code int}.
 *
 * <p>Immutable as far as this class goes: {@link #pixels()} returns a read-only view. Whoever
 * builds an instance from its own buffer must not change that buffer afterwards. Thread-safe.
 */
public final class DecodedImage {
  private final ImageMode mode;
  private final int width;
  private final int height;
  private final ByteBuffer pixels;
  private final byte[] palette;
  private final String source;

  /**
   * @param mode the Pillow mode the pixels are in
   * @param width width in pixels, at least 1
   * @param height height in pixels, at least 1
   * @param pixels a direct buffer of exactly {@code width * height * mode.bytesPerPixel()} bytes
   *     from its position on; it is not copied
   * @param palette for {@link ImageMode#P} the palette as RGB triplets (at most 256), else null
   * @param source a name for messages (file name, "bytes", ...)
   */
  public DecodedImage(
      ImageMode mode, int width, int height, ByteBuffer pixels, byte[] palette, String source) {
    this.mode = Objects.requireNonNull(mode, "mode");
    if (width < 1 || height < 1) {
      throw new IllegalArgumentException("image size must be positive, got " + width + "x" + height);
    }
    Objects.requireNonNull(pixels, "pixels");
    if (!pixels.isDirect()) {
      throw new IllegalArgumentException("pixels must be a direct ByteBuffer");
    }
    long expected = (long) width * height * mode.bytesPerPixel();
    if (pixels.remaining() != expected) {
      throw new IllegalArgumentException(
          "a " + width + "x" + height + " " + mode.pillowName() + " image needs " + expected
              + " bytes, the buffer has " + pixels.remaining());
    }
    if (mode == ImageMode.P) {
      Objects.requireNonNull(palette, "palette of a P image");
      if (palette.length % 3 != 0 || palette.length > 768) {
        throw new IllegalArgumentException("palette must hold at most 256 RGB triplets");
      }
    }
    this.width = width;
    this.height = height;
    this.pixels = pixels.slice().order(ByteOrder.nativeOrder());
    this.palette = palette == null ? null : palette.clone();
    this.source = source == null ? "image" : source;
  }

  /** The Pillow mode. */
  public ImageMode mode() {
    return mode;
  }

  /** Width in pixels. */
  public int width() {
    return width;
  }

  /** Height in pixels. */
  public int height() {
    return height;
  }

  /** Samples per pixel ({@code mode().channels()}). */
  public int channels() {
    return mode.channels();
  }

  /** A read-only view of the pixels (position 0, native byte order). */
  public ByteBuffer pixels() {
    return pixels.asReadOnlyBuffer().order(ByteOrder.nativeOrder());
  }

  /** The direct buffer itself, for native calls inside this package. */
  ByteBuffer directPixels() {
    return pixels.duplicate();
  }

  /** The palette as RGB triplets for {@link ImageMode#P}, else null. A copy. */
  public byte[] palette() {
    return palette == null ? null : palette.clone();
  }

  /** The RGB colour of palette index {@code index} (black beyond the palette), for P images. */
  int[] paletteColor(int index) {
    if (palette == null || index * 3 + 2 >= palette.length) {
      return new int[] {0, 0, 0};
    }
    return new int[] {
      palette[index * 3] & 0xFF, palette[index * 3 + 1] & 0xFF, palette[index * 3 + 2] & 0xFF
    };
  }

  /** What the image was decoded from, for messages. */
  public String source() {
    return source;
  }

  @Override
  public String toString() {
    return "DecodedImage[" + source + ", " + mode.pillowName() + " " + width + "x" + height + "]";
  }
}
