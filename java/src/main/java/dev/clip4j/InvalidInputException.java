package dev.clip4j;

/**
 * An input is wrong: a tensor of the wrong shape, dtype or device, a corrupt image, a text that
 * cannot be tokenized. The rest of a batch is unaffected.
 */
public class InvalidInputException extends Clip4jException {
  private static final long serialVersionUID = 1L;

  public InvalidInputException(String message) {
    super(ErrorCode.INVALID_INPUT, message);
  }

  public InvalidInputException(String message, Throwable cause) {
    super(ErrorCode.INVALID_INPUT, message, cause);
  }

  /** For {@link ErrorCode#INVALID_ARGUMENT} reported by native code. */
  public InvalidInputException(ErrorCode code, String message) {
    super(code, message);
  }
}
