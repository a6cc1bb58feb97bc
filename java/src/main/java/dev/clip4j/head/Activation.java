package dev.clip4j.head;

import java.util.Locale;

/**
 * Activation functions clip4j knows by name. The codes mirror {@code clip4j_activation} in the
 * C header one to one (a test asserts it). CLIP's embedding head uses {@link #IDENTITY}; the
 * transformer MLPs use {@link #QUICK_GELU} (OpenAI weights), {@link #GELU} (most others) or
 * {@link #GELU_TANH} (SigLIP2's text tower), which must always come from model metadata, never
 * from a default.
 */
public enum Activation {
  /** y = x. */
  IDENTITY(0, "identity"),
  /** y = x * sigmoid(1.702 x), OpenAI CLIP's QuickGELU. */
  QUICK_GELU(1, "quick_gelu"),
  /** y = 0.5 x (1 + erf(x / sqrt 2)), nn.GELU() (exact, not the tanh approximation). */
  GELU(2, "gelu"),
  /** y = tanh(x). */
  TANH(3, "tanh"),
  /**
   * y = 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), {@code nn.GELU(approximate='tanh')}
   * (Hugging Face's {@code gelu_pytorch_tanh}; SigLIP2's text MLPs).
   */
  GELU_TANH(4, "gelu_tanh");

  private final int code;
  private final String id;

  Activation(int code, String id) {
    this.code = code;
    this.id = id;
  }

  /** The {@code clip4j_activation} value. */
  public int code() {
    return code;
  }

  /** The stable name used in configuration files and bundles ("quick_gelu", ...). */
  public String id() {
    return id;
  }

  /**
   * Parses a stable name ({@link #id()}), case-insensitively; also accepts the enum constant
   * name.
   *
   * @throws IllegalArgumentException for an unknown name
   */
  public static Activation fromId(String name) {
    String n = name.trim().toLowerCase(Locale.ROOT);
    for (Activation a : values()) {
      if (a.id.equals(n) || a.name().toLowerCase(Locale.ROOT).equals(n)) {
        return a;
      }
    }
    throw new IllegalArgumentException(
        "unknown activation '" + name + "' (expected one of identity, quick_gelu, gelu, tanh, gelu_tanh)");
  }
}
