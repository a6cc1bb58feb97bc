package dev.clip4j.model;

import org.bytedeco.pytorch.Tensor;

/**
 * One tower of a model pipeline: validated input on the model's device and dtype in,
 * features for the embedding head out. Implementations own their native modules and are closed
 * by the {@link ClipModel} that holds them. Called inside an inference scope.
 */
public interface Encoder extends AutoCloseable {
  /** A short name for messages and {@code info()} (e.g. "visual", "text", "encode_image"). */
  String name();

  /** Runs the tower: pixels [N,3,S,S] or token ids [N,L] to features [N, featureDim]. */
  Tensor features(Tensor input);

  @Override
  void close();
}
