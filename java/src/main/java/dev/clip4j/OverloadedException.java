package dev.clip4j;

/** A queue or budget is full and the request was not accepted; it may be retried later. */
public class OverloadedException extends Clip4jException {
  private static final long serialVersionUID = 1L;

  public OverloadedException(String message) {
    super(ErrorCode.OVERLOADED, message);
  }
}
