package dev.clip4j;

/**
 * Error codes of clip4j. The numeric values mirror {@code clip4j_status} in
 * {@code native/include/clip4j/clip4j.h} one to one (a test asserts it), so a status returned by
 * the native library maps to exactly one constant.
 */
public enum ErrorCode {
  OK(0),
  /** A size, pointer or enum value passed to native code is out of its domain. */
  INVALID_ARGUMENT(1),
  /** Valid, but not built in or not implemented (for example CUDA on a CPU-only build). */
  UNSUPPORTED(2),
  /** Host or device memory could not be allocated. */
  OUT_OF_MEMORY(3),
  /** A CUDA runtime call or kernel launch failed. */
  CUDA(4),
  /** A bug in clip4j. */
  INTERNAL(5),
  /** A model file or configuration is wrong. */
  INVALID_MODEL(6),
  /** A user input (image, text, tensor) is wrong. */
  INVALID_INPUT(7),
  /** A queue or budget is full; retry later. */
  OVERLOADED(8),
  /** A file could not be read or written. */
  IO(9),
  /**
   * A result failed its numerical check: an output embedding that is not finite or not unit-norm
   * (degenerate or corrupted weights, or an input that drives the model out of range).
   */
  NUMERICAL(10),
  /**
   * The device asked for does not exist or is not usable on this host (e.g. {@code cuda} where
   * LibTorch has no CUDA support or no GPU is visible, or {@code cuda:N} beyond the device count).
   */
  DEVICE(11);

  private final int value;

  ErrorCode(int value) {
    this.value = value;
  }

  /** The {@code clip4j_status} value. */
  public int value() {
    return value;
  }

  /** The constant for a native status; unknown values map to {@link #INTERNAL}. */
  public static ErrorCode fromStatus(int status) {
    for (ErrorCode c : values()) {
      if (c.value == status) {
        return c;
      }
    }
    return INTERNAL;
  }
}
