package dev.clip4j.corpus;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;

/**
 * An embedding row that is not finite or not unit-norm. Recorded as that item's error ({@link
 * ErrorCode#INTERNAL}: a valid model on a decodable input should never produce one); the row is
 * never written.
 */
public final class NumericalException extends Clip4jException {
  private static final long serialVersionUID = 1L;

  public NumericalException(String message) {
    super(ErrorCode.INTERNAL, message);
  }
}
