package dev.clip4j.model;

import java.util.Map;
import org.bytedeco.pytorch.Tensor;

/**
 * A model's weights under open_clip's state-dict names, whatever file layout holds them. A reader
 * hands one out without reading any data; the architecture registry calls {@link #load()} when it
 * builds the towers (and again for {@code save}/{@code convert}, so a loaded model keeps no second
 * copy).
 */
public interface WeightSource {
  /**
   * Reads the weights: every name checked against the architecture's schema (missing, unexpected
   * and mis-shaped names listed together) and every dtype floating point, then returned as new
   * CPU tensors the caller closes.
   *
   * @throws dev.clip4j.InvalidModelException naming the file and every problem found
   */
  Map<String, Tensor> load();

  /**
   * The weights for building towers, read one tensor at a time by name ({@code StreamedWeights});
   * the default reads them all with {@link #load()} (for sources that hold them in memory anyway).
   */
  default Map<String, Tensor> stream() {
    return load();
  }

  /**
   * Builds towers from {@link #stream()}: weights already in memory are checked finite first
   * (streamed ones are checked as they are read), and the weights are closed or released
   * afterwards, whether the build succeeds or not.
   *
   * @param source names the weights in messages
   */
  default <T> T buildWith(String source, java.util.function.Function<Map<String, Tensor>, T> build) {
    Map<String, Tensor> weights = stream();
    try {
      if (!(weights instanceof StreamedWeights)) {
        weights.forEach((name, t) -> StreamedWeights.checkFinite(source, name, t));
      }
      return build.apply(weights);
    } finally {
      if (weights instanceof StreamedWeights streamed) {
        streamed.close();
      } else {
        OpenClipModels.release(weights);
      }
    }
  }

  /** A source whose {@link #stream()} reads tensor by tensor and {@link #load()} all at once. */
  static WeightSource streaming(java.util.function.Supplier<StreamedWeights> stream) {
    return new WeightSource() {
      @Override
      public Map<String, Tensor> load() {
        Map<String, Tensor> out = new java.util.LinkedHashMap<>();
        try (StreamedWeights w = stream.get()) {
          for (String name : w.shapes().keySet()) {
            out.put(name, w.get(name));
          }
        } catch (RuntimeException e) {
          OpenClipModels.release(out);
          throw e;
        }
        return out;
      }

      @Override
      public Map<String, Tensor> stream() {
        return stream.get();
      }
    };
  }
}
