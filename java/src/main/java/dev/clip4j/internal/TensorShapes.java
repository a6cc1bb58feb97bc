package dev.clip4j.internal;

import org.bytedeco.pytorch.Tensor;

/** Shapes for messages. */
public final class TensorShapes {
  private TensorShapes() {}

  /** "[2, 3, 224, 224]", or "undefined" / "null". */
  public static String describe(Tensor t) {
    if (t == null) {
      return "null";
    }
    if (!t.defined()) {
      return "undefined";
    }
    StringBuilder sb = new StringBuilder("[");
    for (long d = 0; d < t.dim(); d++) {
      sb.append(d == 0 ? "" : ", ").append(t.size(d));
    }
    return sb.append(']').toString();
  }
}
