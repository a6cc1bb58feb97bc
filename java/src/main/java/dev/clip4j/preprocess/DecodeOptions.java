package dev.clip4j.preprocess;

/**
 * Limits and switches of {@link ImageDecoder}. Immutable and thread-safe; derive variants with
 * the {@code with*} methods.
 *
 * <pre>{@code
 * DecodeOptions opts = DecodeOptions.defaults().withMaxPixels(50_000_000).withExifOrientation(true);
 * }</pre>
 */
public final class DecodeOptions {
  /**
   * Default pixel limit: Pillow's decompression-bomb error threshold (2 * MAX_IMAGE_PIXELS =
   * 178,956,970 pixels). Checked against the header before any pixel is decoded.
   */
  public static final long DEFAULT_MAX_PIXELS = 178_956_970L;

  /** Default limit of the encoded size: 256 MiB. */
  public static final long DEFAULT_MAX_INPUT_BYTES = 256L << 20;

  private static final DecodeOptions DEFAULTS =
      new DecodeOptions(DEFAULT_MAX_PIXELS, DEFAULT_MAX_INPUT_BYTES, false);

  private final long maxPixels;
  private final long maxInputBytes;
  private final boolean exifOrientation;

  private DecodeOptions(long maxPixels, long maxInputBytes, boolean exifOrientation) {
    if (maxPixels < 1) {
      throw new IllegalArgumentException("maxPixels must be >= 1, got " + maxPixels);
    }
    if (maxInputBytes < 1 || maxInputBytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("maxInputBytes must be in [1, 2^31 - 9], got " + maxInputBytes);
    }
    this.maxPixels = maxPixels;
    this.maxInputBytes = maxInputBytes;
    this.exifOrientation = exifOrientation;
  }

  /** The defaults: {@link #DEFAULT_MAX_PIXELS}, {@link #DEFAULT_MAX_INPUT_BYTES}, no EXIF rotation. */
  public static DecodeOptions defaults() {
    return DEFAULTS;
  }

  /** Largest accepted width * height; larger images fail before decoding. */
  public long maxPixels() {
    return maxPixels;
  }

  /** Largest accepted encoded size in bytes. */
  public long maxInputBytes() {
    return maxInputBytes;
  }

  /**
   * Whether a JPEG's EXIF orientation is applied (as {@code ImageOps.exif_transpose}). Off by
   * default because open_clip does not apply it.
   */
  public boolean exifOrientation() {
    return exifOrientation;
  }

  /** A copy with another pixel limit. */
  public DecodeOptions withMaxPixels(long maxPixels) {
    return new DecodeOptions(maxPixels, maxInputBytes, exifOrientation);
  }

  /** A copy with another encoded-size limit. */
  public DecodeOptions withMaxInputBytes(long maxInputBytes) {
    return new DecodeOptions(maxPixels, maxInputBytes, exifOrientation);
  }

  /** A copy that does or does not apply the EXIF orientation. */
  public DecodeOptions withExifOrientation(boolean apply) {
    return new DecodeOptions(maxPixels, maxInputBytes, apply);
  }

  @Override
  public String toString() {
    return "DecodeOptions[maxPixels=" + maxPixels + ", maxInputBytes=" + maxInputBytes
        + ", exifOrientation=" + exifOrientation + "]";
  }
}
