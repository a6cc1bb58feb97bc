package dev.clip4j.model;

import java.util.Locale;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * Floating-point precision a model runs in. fp32 is the reference; the others are opt-in and follow
 * open_clip's {@code precision} argument of {@code create_model}:
 *
 * <ul>
 *   <li>{@link #FP16}, {@link #BF16} (open_clip's {@code fp16}/{@code bf16}, "manual mixed precision
 *       that matches original OpenAI behaviour"): the weights of the linear, convolution and attention
 *       layers and both projections in half precision, activations in half precision; LayerNorm
 *       weights stay float32 and LayerNorm computes in float32 (LayerNormFp32); the embedding tables
 *       stay float32 and are rounded where they are used.
 *   <li>{@link #PURE_FP16}, {@link #PURE_BF16} (open_clip's {@code pure_fp16}/{@code pure_bf16}):
 *       every weight in half precision, LayerNorm too (LibTorch's layer_norm on half inputs, which
 *       accumulates in float32 inside the kernel).
 * </ul>
 *
 * <p>In every mode clip4j's fused head then takes the half-precision features and projection,
 * accumulates in float32 and returns float32 unit rows (open_clip would round the projection's
 * output to half and normalise in half). Half precision runs on CUDA; on the CPU only bf16 where
 * the CPU has native bf16 instructions.
 */
public enum Precision {
  FP32(ScalarType.Float, false),
  FP16(ScalarType.Half, false),
  BF16(ScalarType.BFloat16, false),
  PURE_FP16(ScalarType.Half, true),
  PURE_BF16(ScalarType.BFloat16, true);

  private final ScalarType scalarType;
  private final boolean pure;

  Precision(ScalarType t, boolean pure) {
    this.scalarType = t;
    this.pure = pure;
  }

  /** The LibTorch scalar type of the towers' activations and half-precision weights. */
  public ScalarType scalarType() {
    return scalarType;
  }

  /** True for the pure modes: LayerNorm weights and computation in half precision too. */
  public boolean pure() {
    return pure;
  }

  /** True for anything but fp32. */
  public boolean reduced() {
    return this != FP32;
  }

  /** The name open_clip and the CLI use: fp32, fp16, bf16, pure_fp16, pure_bf16. */
  public String id() {
    return name().toLowerCase(Locale.ROOT);
  }

  /** One line for {@code info()}: what is in which precision. */
  public String describe() {
    switch (this) {
      case FP32:
        return "fp32: every weight and activation float32";
      case FP16:
      case BF16: {
        String t = this == FP16 ? "float16" : "bfloat16";
        return id() + " (open_clip '" + id() + "'): linear/conv/attention weights, projections and activations " + t
            + "; LayerNorm weights and LayerNorm math float32; head accumulates in float32, embeddings float32";
      }
      default: {
        String t = this == PURE_FP16 ? "float16" : "bfloat16";
        return id() + " (open_clip '" + id() + "'): every weight (LayerNorm too) and activation " + t
            + "; head accumulates in float32, embeddings float32";
      }
    }
  }

  /** Parses fp32, fp16, bf16, pure_fp16, pure_bf16 (case-insensitive; '-' for '_' too). */
  public static Precision parse(String s) {
    String k = s.trim().toUpperCase(Locale.ROOT).replace('-', '_');
    try {
      return valueOf(k);
    } catch (IllegalArgumentException e) {
      throw new IllegalArgumentException("unknown precision '" + s + "': fp32, fp16, bf16, pure_fp16 or pure_bf16", e);
    }
  }
}
