package dev.clip4j;

import java.util.Arrays;

/**
 * An output failed clip4j's numerical check: an embedding row that is not finite or not
 * unit-norm. It means the weights are degenerate or corrupted (NaN/Inf that slipped past
 * loading, a projection that maps to zero) or an input drove the model out of range; retrying
 * the same input gives the same result, but the other rows of the batch (not in {@link #rows()})
 * were fine and can be re-submitted on their own. {@link #code()} is {@link ErrorCode#NUMERICAL}.
 */
public class NumericalException extends Clip4jException {
  private static final long serialVersionUID = 1L;

  private final int[] rows;

  /** {@code rows}: the failing row indices within the batch (may be empty when unknown). */
  public NumericalException(String message, int[] rows) {
    super(ErrorCode.NUMERICAL, message);
    this.rows = rows.clone();
  }

  /** Indices (within the batch that was checked) of the rows that failed, ascending. */
  public int[] rows() {
    return rows.clone();
  }

  @Override
  public String toString() {
    return super.toString() + " rows=" + Arrays.toString(rows);
  }
}
