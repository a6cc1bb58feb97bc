package dev.clip4j.preprocess;

import dev.clip4j.jni.Clip4jNative;

/** How an image is brought to the model's square input (open_clip's {@code resize_mode}). */
public enum ResizeMode {
  /**
   * The shorter side becomes the image size, the longer {@code (int) (size * long / short)}; then
   * a center crop (open_clip's default).
   */
  SHORTEST(Clip4jNative.CLIP4J_RESIZE_SHORTEST),
  /**
   * The longer side becomes the image size, the shorter keeps the aspect ratio (rounded half to
   * even); then the image is centered on a square of the fill colour.
   */
  LONGEST(Clip4jNative.CLIP4J_RESIZE_LONGEST),
  /** Both sides become the image size; the aspect ratio is not kept. */
  SQUASH(Clip4jNative.CLIP4J_RESIZE_SQUASH);

  final int nativeCode;

  ResizeMode(int nativeCode) {
    this.nativeCode = nativeCode;
  }
}
