package dev.clip4j;

/** A model file, directory or configuration is wrong: missing keys, bad shapes, unknown format. */
public class InvalidModelException extends Clip4jException {
  private static final long serialVersionUID = 1L;

  public InvalidModelException(String message) {
    super(ErrorCode.INVALID_MODEL, message);
  }

  public InvalidModelException(String message, Throwable cause) {
    super(ErrorCode.INVALID_MODEL, message, cause);
  }
}
