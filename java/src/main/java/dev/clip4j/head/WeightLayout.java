package dev.clip4j.head;

/** How a projection matrix is laid out; codes mirror {@code clip4j_weight_layout}. */
public enum WeightLayout {
  /** [d_in, d_out], y = x @ W: CLIP's {@code proj} and {@code text_projection}. */
  IN_OUT(0),
  /** [d_out, d_in], y = x @ W^T: {@code nn.Linear.weight}. */
  OUT_IN(1);

  private final int code;

  WeightLayout(int code) {
    this.code = code;
  }

  /** The {@code clip4j_weight_layout} value. */
  public int code() {
    return code;
  }
}
