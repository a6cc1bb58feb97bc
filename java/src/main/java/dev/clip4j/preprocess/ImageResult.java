package dev.clip4j.preprocess;

import dev.clip4j.InvalidInputException;
import java.util.Objects;

/**
 * The outcome of one image of a batch: its slot was filled, or it failed with an {@link
 * InvalidInputException} (then the slot's contents are unspecified and must not be used).
 * Immutable.
 */
public final class ImageResult {
  private final int slot;
  private final String source;
  private final InvalidInputException error;

  private ImageResult(int slot, String source, InvalidInputException error) {
    this.slot = slot;
    this.source = Objects.requireNonNull(source, "source");
    this.error = error;
  }

  /** A filled slot. */
  public static ImageResult ok(int slot, String source) {
    return new ImageResult(slot, source, null);
  }

  /** A failed image. */
  public static ImageResult failed(int slot, String source, InvalidInputException error) {
    return new ImageResult(slot, source, Objects.requireNonNull(error, "error"));
  }

  /** The batch slot of the image. */
  public int slot() {
    return slot;
  }

  /** The image's name (file path or given name). */
  public String source() {
    return source;
  }

  /** Whether the slot holds the preprocessed image. */
  public boolean isOk() {
    return error == null;
  }

  /** The failure, or null when {@link #isOk()}. */
  public InvalidInputException error() {
    return error;
  }

  /** Throws the failure, if any. */
  public void orThrow() {
    if (error != null) {
      throw error;
    }
  }

  @Override
  public String toString() {
    return "ImageResult[slot=" + slot + ", " + source + (error == null ? ", ok]" : ", " + error.getMessage() + "]");
  }
}
