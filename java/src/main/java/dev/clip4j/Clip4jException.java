package dev.clip4j;

import java.util.Objects;

/**
 * Root of every error clip4j raises on purpose. Unchecked; {@link #code()} says what kind of
 * failure it is. Subclasses exist only where callers react differently: {@link
 * InvalidModelException}, {@link InvalidInputException}, {@link OverloadedException}, {@link
 * DeviceException} and {@link NumericalException}. Programmer errors (a closed object used, a null argument) stay JDK exceptions.
 */
public class Clip4jException extends RuntimeException {
  private static final long serialVersionUID = 1L;

  private final ErrorCode code;

  public Clip4jException(ErrorCode code, String message) {
    super(message);
    this.code = Objects.requireNonNull(code, "code");
  }

  public Clip4jException(ErrorCode code, String message, Throwable cause) {
    super(message, cause);
    this.code = Objects.requireNonNull(code, "code");
  }

  /** What kind of failure this is. */
  public ErrorCode code() {
    return code;
  }

  /**
   * The exception for a native status and message: the subclass callers react to, chosen by
   * the code.
   */
  public static Clip4jException fromStatus(int status, String message) {
    ErrorCode code = ErrorCode.fromStatus(status);
    String text = message == null || message.isEmpty() ? code.name() : message;
    switch (code) {
      case INVALID_MODEL:
        return new InvalidModelException(text);
      case INVALID_INPUT:
      case INVALID_ARGUMENT:
        return new InvalidInputException(code, text);
      case OVERLOADED:
        return new OverloadedException(text);
      case OUT_OF_MEMORY:
      case CUDA:
      case DEVICE:
        return new DeviceException(code, text);
      case NUMERICAL:
        return new NumericalException(text, new int[0]);
      default:
        return new Clip4jException(code, text);
    }
  }
}
