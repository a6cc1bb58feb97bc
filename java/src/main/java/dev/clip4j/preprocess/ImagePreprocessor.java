package dev.clip4j.preprocess;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.internal.NativeLib;
import dev.clip4j.jni.Clip4jNative;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;

/**
 * open_clip's eval transform (resize, center crop or pad, RGB, /255, normalise) producing float32
 * CHW tensors identical to open_clip 2.20 + Pillow 9.4 + torchvision 0.14. The work runs in
 * native code (clip4j_preprocess_image), writing straight into a slot of a caller-owned NCHW
 * batch buffer, so a pooled batch tensor can be filled in place.
 *
 * <pre>{@code
 * ImagePreprocessor pre = new ImagePreprocessor(PreprocessConfig.defaults());
 * float[] chw = pre.preprocess(Path.of("cat.jpg"));          // 3 * 224 * 224 floats
 *
 * FloatBuffer batch = ByteBuffer.allocateDirect(4 * n * pre.config().floatsPerImage())
 *     .order(ByteOrder.nativeOrder()).asFloatBuffer();
 * List<ImageResult> results = pre.preprocessBatchInto(paths, DecodeOptions.defaults(), batch, n);
 * }</pre>
 *
 * <p>Pillow's mode rules are applied: palette ({@code P}) and bilevel ({@code 1}) images are
 * resized with NEAREST whatever the configured interpolation; {@code LA}/{@code RGBA} are
 * resized premultiplied; alpha is dropped without compositing; for {@link ResizeMode#LONGEST} the
 * fill colour of a {@code P} image is its palette entry, as torchvision pads P images. With
 * {@link RgbConversion#BEFORE_RESIZE} (Hugging Face transformers' CLIPImageProcessor) the image is
 * converted to RGB first instead and resized with the configured filter, and with {@link
 * CropRounding#FLOOR} the crop offset is floored.
 *
 * <p>Immutable and thread-safe: any number of threads may preprocess concurrently, into
 * distinct slots. Holds no native resources.
 */
public final class ImagePreprocessor {
  private final PreprocessConfig config;
  // Read-only inputs of every native call (never written, so shared across threads).
  private final FloatBuffer mean;
  private final FloatBuffer std;

  /** A preprocessor for {@code config}; loads the native library. */
  public ImagePreprocessor(PreprocessConfig config) {
    this.config = Objects.requireNonNull(config, "config");
    NativeLib.load();
    this.mean = directFloats(config.mean());
    this.std = directFloats(config.std());
  }

  private static FloatBuffer directFloats(float[] v) {
    FloatBuffer b = ByteBuffer.allocateDirect(4 * v.length).order(ByteOrder.nativeOrder()).asFloatBuffer();
    b.put(v).flip();
    return b;
  }

  /** The configuration. */
  public PreprocessConfig config() {
    return config;
  }

  /**
   * Preprocesses {@code image} into slot {@code slot} of {@code nchwBatch}, a batch of {@code
   * capacity} images of [3, size, size] floats starting at the buffer's position (the position
   * is not changed). Only that slot's {@code 3 * size * size} floats are written.
   *
   * @throws IllegalArgumentException if the buffer is not direct, not in native byte order, too
   *     small for {@code capacity} images, or {@code slot} is not in [0, capacity)
   * @throws InvalidInputException if the image cannot be preprocessed (e.g. so elongated that a
   *     resized side would be 0); the message names the image's source
   */
  public void preprocessInto(DecodedImage image, FloatBuffer nchwBatch, int capacity, int slot) {
    Objects.requireNonNull(image, "image");
    Objects.requireNonNull(nchwBatch, "nchwBatch");
    if (!nchwBatch.isDirect()) {
      throw new IllegalArgumentException("nchwBatch must be a direct FloatBuffer");
    }
    if (nchwBatch.order() != ByteOrder.nativeOrder()) {
      throw new IllegalArgumentException("nchwBatch must be in native byte order");
    }
    if (nchwBatch.isReadOnly()) {
      throw new IllegalArgumentException("nchwBatch is read-only");
    }
    if (capacity < 1) {
      throw new IllegalArgumentException("capacity must be >= 1, got " + capacity);
    }
    if (slot < 0 || slot >= capacity) {
      throw new IllegalArgumentException("slot must be in [0, " + capacity + "), got " + slot);
    }
    long needed = (long) capacity * config.floatsPerImage();
    if (nchwBatch.remaining() < needed) {
      throw new IllegalArgumentException(
          "nchwBatch has " + nchwBatch.remaining() + " floats from its position, a batch of "
              + capacity + " needs " + needed);
    }
    if ((long) image.width() * image.height() > Integer.MAX_VALUE
        || image.width() > (1 << 24) || image.height() > (1 << 24)) {
      throw new InvalidInputException(image.source() + ": image of " + image.width() + "x"
          + image.height() + " pixels is too large to preprocess");
    }
    if (config.rgbConversion() == RgbConversion.BEFORE_RESIZE && image.mode() != ImageMode.RGB) {
      image = convertedForResize(image);
    }
    ImageMode mode = image.mode();
    int format;
    switch (mode) {
      case BILEVEL:
      case L:
        format = Clip4jNative.CLIP4J_PIXEL_L8;
        break;
      case LA:
        format = Clip4jNative.CLIP4J_PIXEL_LA8;
        break;
      case RGB:
      case P:
        format = Clip4jNative.CLIP4J_PIXEL_RGB8;
        break;
      case RGBA:
        format = Clip4jNative.CLIP4J_PIXEL_RGBA8;
        break;
      default:
        format = Clip4jNative.CLIP4J_PIXEL_I32;
        break;
    }
    // Pillow resizes P and 1 with NEAREST whatever was asked (open_clip's order; converted images
    // are L or RGB by now).
    Interpolation filter =
        mode == ImageMode.P || mode == ImageMode.BILEVEL ? Interpolation.NEAREST : config.interpolation();
    int resizeMode = config.resizeMode() == ResizeMode.SHORTEST && config.cropRounding() == CropRounding.FLOOR
        ? Clip4jNative.CLIP4J_RESIZE_SHORTEST_FLOOR_CROP : config.resizeMode().nativeCode;
    int f = config.fillColor();
    int[] fill = mode == ImageMode.P ? image.paletteColor(f) : new int[] {f, f, f};
    ByteBuffer fillRgb = ByteBuffer.allocateDirect(3);
    fillRgb.put((byte) fill[0]).put((byte) fill[1]).put((byte) fill[2]).flip();

    int status =
        Clip4jNative.clip4j_preprocess_image(
            image.directPixels(), image.width(), image.height(), format, filter.nativeCode,
            resizeMode, config.imageSize(), fillRgb, mean.duplicate(),
            std.duplicate(), nchwBatch.slice(), capacity, slot);
    if (status != Clip4jNative.CLIP4J_OK) {
      String message = NativeLib.lastError();
      ErrorCode code = ErrorCode.fromStatus(status);
      if (code == ErrorCode.INVALID_ARGUMENT || code == ErrorCode.INVALID_INPUT) {
        throw new InvalidInputException(image.source() + ": " + message);
      }
      throw Clip4jException.fromStatus(status, image.source() + ": " + message);
    }
  }

  /**
   * Pillow's {@code convert("RGB")} done before the resize, as transformers' CLIPImageProcessor
   * does, in a form the native pipeline resizes with the configured filter: gray modes ({@code 1},
   * {@code L}, {@code LA} without its alpha, {@code I} clipped to [0, 255]) become {@code L}, whose
   * resize equals that of the replicated RGB image channel by channel; {@code RGBA} loses its alpha
   * (no premultiplication, no compositing); {@code P} is already looked up (its pixels are RGB).
   */
  static DecodedImage convertedForResize(DecodedImage image) {
    int n = image.width() * image.height();
    ByteBuffer src = image.directPixels();
    ByteBuffer out;
    ImageMode mode;
    switch (image.mode()) {
      case BILEVEL:
      case L:
        return new DecodedImage(ImageMode.L, image.width(), image.height(), src, null, image.source());
      case P:
        return new DecodedImage(ImageMode.RGB, image.width(), image.height(), src, null, image.source());
      case LA:
        mode = ImageMode.L;
        out = ByteBuffer.allocateDirect(n);
        for (int i = 0; i < n; i++) {
          out.put(i, src.get(2 * i));
        }
        break;
      case RGBA:
        mode = ImageMode.RGB;
        out = ByteBuffer.allocateDirect(3 * n);
        for (int i = 0; i < n; i++) {
          out.put(3 * i, src.get(4 * i)).put(3 * i + 1, src.get(4 * i + 1)).put(3 * i + 2, src.get(4 * i + 2));
        }
        break;
      case I:
        mode = ImageMode.L;
        out = ByteBuffer.allocateDirect(n);
        src.order(ByteOrder.nativeOrder());
        for (int i = 0; i < n; i++) {
          int v = src.getInt(4 * i);
          out.put(i, (byte) (v <= 0 ? 0 : Math.min(v, 255)));
        }
        break;
      default:
        return image;
    }
    return new DecodedImage(mode, image.width(), image.height(), out, null, image.source());
  }

  /** Preprocesses a decoded image into a new array of {@code 3 * size * size} floats (CHW). */
  public float[] preprocess(DecodedImage image) {
    FloatBuffer buf = ByteBuffer.allocateDirect(4 * config.floatsPerImage())
        .order(ByteOrder.nativeOrder()).asFloatBuffer();
    preprocessInto(image, buf, 1, 0);
    float[] out = new float[config.floatsPerImage()];
    buf.get(out);
    return out;
  }

  /** Decodes (default {@link DecodeOptions}) and preprocesses a file. */
  public float[] preprocess(Path image) {
    return preprocess(ImageDecoder.decode(image, DecodeOptions.defaults()));
  }

  /** Decodes with {@code options} and preprocesses a file. */
  public float[] preprocess(Path image, DecodeOptions options) {
    return preprocess(ImageDecoder.decode(image, options));
  }

  /**
   * Decodes and preprocesses {@code images.get(i)} into slot {@code i} of {@code nchwBatch} (a
   * batch of {@code capacity >= images.size()} images). One image failing never fails the
   * batch: its result carries the error and the other slots are still filled.
   *
   * @return one result per image, in order
   */
  public List<ImageResult> preprocessBatchInto(
      List<Path> images, DecodeOptions options, FloatBuffer nchwBatch, int capacity) {
    Objects.requireNonNull(images, "images");
    Objects.requireNonNull(options, "options");
    if (images.size() > capacity) {
      throw new IllegalArgumentException(images.size() + " images do not fit a batch of " + capacity);
    }
    List<ImageResult> results = new ArrayList<>(images.size());
    for (int i = 0; i < images.size(); i++) {
      Path p = images.get(i);
      String source = String.valueOf(p);
      try {
        preprocessInto(ImageDecoder.decode(p, options), nchwBatch, capacity, i);
        results.add(ImageResult.ok(i, source));
      } catch (InvalidInputException e) {
        results.add(ImageResult.failed(i, source, e));
      }
    }
    return results;
  }
}
