package dev.clip4j.model;

import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * A model's weights under open_clip's state-dict names, whatever file layout holds them. A reader
 * hands one out without reading any data; the architecture registry calls {@link #load()} when it
 * builds the towers (and again for {@code save}/{@code convert}, so a loaded model keeps no second
 * copy).
 */
@FunctionalInterface
public interface WeightSource {
  /**
   * Reads the weights: every name checked against the architecture's schema (missing, unexpected
   * and mis-shaped names listed together) and every dtype floating point, then returned as new
   * CPU tensors the caller closes.
   *
   * @throws dev.clip4j.InvalidModelException naming the file and every problem found
   */
  Map<String, Tensor> load();
}
