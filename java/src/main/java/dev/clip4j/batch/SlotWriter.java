package dev.clip4j.batch;

import org.bytedeco.pytorch.Tensor;

/**
 * Writes one request's input straight into its slot of a pooled batch tensor (no intermediate
 * copies): an image preprocessor writing [3, S, S] floats into {@code batch[slot]}, or a tokenizer
 * writing int64 ids into {@code batch[slot]}. Called concurrently for distinct slots of the same
 * batch, so implementations must be thread-safe.
 *
 * @param <T> the request's input type
 */
@FunctionalInterface
public interface SlotWriter<T> {
  /**
   * Fills {@code batch[slot]}; returns the number of meaningful positions written (for texts the
   * token count including SOT/EOT, used to trim the batch; for images any positive value).
   *
   * @throws dev.clip4j.Clip4jException (typically InvalidInputException) when this input is bad;
   *     only this request fails
   */
  int write(T input, Tensor batch, int slot);

  /**
   * Like {@link #write(Object, Tensor, int)}, with the batch's host memory as a native-order
   * direct buffer ({@code batchMemory}, covering the whole batch; null for a device tensor) that
   * the pool made once per buffer: writers that fill it with bulk puts need no per-request native
   * objects. It is shared by the writers of one batch: use absolute access or views of your own.
   * The Embedder calls this method; by default it ignores the buffer.
   */
  default int write(T input, Tensor batch, java.nio.ByteBuffer batchMemory, int slot) {
    return write(input, batch, slot);
  }
}
