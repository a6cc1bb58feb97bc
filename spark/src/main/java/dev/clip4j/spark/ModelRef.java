package dev.clip4j.spark;

import dev.clip4j.head.Activation;
import dev.clip4j.model.LoadOptions;
import java.io.Serializable;
import java.util.Objects;

/**
 * Which model the executors load: a path every executor can read (a shared filesystem mount, or
 * {@code sparkfiles:NAME} for a file or directory added with {@code SparkContext.addFile}, which
 * resolves through {@code SparkFiles.get(NAME)} on the executor), plus the load settings that
 * change the embeddings. Immutable and serializable: it travels in task closures; the model itself
 * never does (see {@link ExecutorModels}).
 *
 * @param path a model directory or file in any format {@link dev.clip4j.model.ClipModel#load} reads
 * @param activation the MLP activation when the config does not say ({@code quick_gelu}|{@code
 *     gelu}), or null to let the metadata decide (clip4j refuses to guess)
 */
public record ModelRef(String path, String activation) implements Serializable {
  private static final long serialVersionUID = 1L;
  static final String SPARK_FILES = "sparkfiles:";

  public ModelRef {
    Objects.requireNonNull(path, "path");
    if (path.isBlank()) {
      throw new IllegalArgumentException("model path is blank");
    }
  }

  /** The model at {@code path}, with its own metadata deciding everything. */
  public static ModelRef of(String path) {
    return new ModelRef(path, null);
  }

  /** This reference with an explicit MLP activation ({@code quick_gelu} or {@code gelu}). */
  public ModelRef withActivation(String activation) {
    return new ModelRef(path, activation);
  }

  /** The local path on this JVM (resolving {@code sparkfiles:}). */
  java.nio.file.Path localPath() {
    if (path.startsWith(SPARK_FILES)) {
      return java.nio.file.Path.of(org.apache.spark.SparkFiles.get(path.substring(SPARK_FILES.length())));
    }
    return java.nio.file.Path.of(path);
  }

  /** The library's load options for {@code device}. */
  LoadOptions loadOptions(String device) {
    LoadOptions.Builder b = LoadOptions.builder().device(device);
    if (activation != null) {
      b.activation(Activation.fromId(activation));
    }
    return b.build();
  }
}
