package dev.clip4j.server;

import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.model.ClipModel;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import io.micrometer.core.instrument.MeterRegistry;
import io.micrometer.core.instrument.composite.CompositeMeterRegistry;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One model the server serves: the model (owned), its micro-batching embedder (owned, metrics
 * tagged {@code model=NAME}) and a bounded cache of zero-shot classifiers keyed by labels and
 * templates. Thread safety: thread-safe.
 */
final class ServedModel implements AutoCloseable {
  /** Classifiers kept per model (each holds C x D floats). */
  static final int CLASSIFIER_CACHE = 32;

  final String name;
  final ClipModel model;
  final ClipEmbedder embedder;
  final double loadSeconds;
  private final CompositeMeterRegistry tagged;
  private final Map<List<List<String>>, ZeroShotClassifier> classifiers =
      new LinkedHashMap<>(16, 0.75f, true) {
        @Override
        protected boolean removeEldestEntry(Map.Entry<List<List<String>>, ZeroShotClassifier> e) {
          return size() > CLASSIFIER_CACHE;
        }
      };

  ServedModel(String name, ClipModel model, EmbedderConfig config, MeterRegistry registry, double loadSeconds) {
    this.name = name;
    this.model = model;
    this.loadSeconds = loadSeconds;
    // The embedder's meters carry the model's name, so several models do not share one series.
    this.tagged = new CompositeMeterRegistry();
    tagged.config().commonTags("model", name);
    tagged.add(registry);
    this.embedder = ClipEmbedder.create(model, config, tagged);
  }

  int dim() {
    return Math.toIntExact(model.embedDim());
  }

  synchronized ZeroShotClassifier cachedClassifier(List<String> labels, List<String> templates) {
    return classifiers.get(List.of(labels, templates));
  }

  synchronized void cacheClassifier(List<String> labels, List<String> templates, ZeroShotClassifier c) {
    classifiers.put(List.of(List.copyOf(labels), List.copyOf(templates)), c);
  }

  /** Completes accepted requests, then frees the model. */
  @Override
  public void close() {
    try {
      embedder.close();
    } finally {
      model.close(); // the composite is not closed: closing it would close the server's registry
    }
  }
}
