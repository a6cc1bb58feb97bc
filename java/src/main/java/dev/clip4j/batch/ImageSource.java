package dev.clip4j.batch;

import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.DecodedImage;
import dev.clip4j.preprocess.ImageDecoder;
import java.nio.file.Path;
import java.util.Objects;

/** An image request's input: a file, encoded bytes, or an already decoded image. Immutable. */
public final class ImageSource {
  private final Path path;
  private final byte[] bytes;
  private final String name;
  private final DecodedImage decoded;

  private ImageSource(Path path, byte[] bytes, String name, DecodedImage decoded) {
    this.path = path;
    this.bytes = bytes;
    this.name = name;
    this.decoded = decoded;
  }

  /** An image file, decoded when its batch is prepared. */
  public static ImageSource of(Path path) {
    return new ImageSource(Objects.requireNonNull(path, "path"), null, path.toString(), null);
  }

  /** Encoded image bytes (JPEG, PNG, ...); {@code name} names it in error messages. */
  public static ImageSource of(byte[] encoded, String name) {
    return new ImageSource(null, Objects.requireNonNull(encoded, "encoded"), Objects.requireNonNull(name, "name"), null);
  }

  /** An image already decoded by {@link ImageDecoder}. */
  public static ImageSource of(DecodedImage image) {
    return new ImageSource(null, null, image.source(), Objects.requireNonNull(image, "image"));
  }

  /** The name used in messages (file path or given name). */
  public String name() {
    return name;
  }

  /** The file, or null. */
  Path path() {
    return path;
  }

  /** The encoded bytes, or null. */
  byte[] bytes() {
    return bytes;
  }

  /** The already decoded image, or null. */
  DecodedImage decoded() {
    return decoded;
  }

  /** Decodes the image (typed {@link dev.clip4j.InvalidInputException} on any failure). */
  public DecodedImage decode(DecodeOptions options) {
    if (decoded != null) {
      return decoded;
    }
    return path != null ? ImageDecoder.decode(path, options) : ImageDecoder.decode(bytes, name, options);
  }

  @Override
  public String toString() {
    return name;
  }
}
