package dev.clip4j.model;

import org.bytedeco.pytorch.global.torch.ScalarType;

/** Floating-point precision a model runs in. fp32 is the reference; fp16/bf16 are opt-in. */
public enum Precision {
  FP32(ScalarType.Float),
  FP16(ScalarType.Half),
  BF16(ScalarType.BFloat16);

  private final ScalarType scalarType;

  Precision(ScalarType t) {
    this.scalarType = t;
  }

  /** The LibTorch scalar type. */
  public ScalarType scalarType() {
    return scalarType;
  }

  /** Parses "fp32", "fp16", "bf16" (case-insensitive). */
  public static Precision parse(String s) {
    return valueOf(s.trim().toUpperCase(java.util.Locale.ROOT));
  }
}
