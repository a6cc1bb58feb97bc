package dev.clip4j.tokenize;

import java.util.Objects;

/**
 * open_clip's tokenizer at a fixed context length: {@link ClipTokenizer}'s byte-level BPE, SOT
 * first, EOT last (at position {@code contextLength - 1} when truncated), padding 0, exactly as
 * open_clip's {@code tokenize(texts, context_length)} writes its rows. Immutable and thread-safe.
 */
public final class ClipTextTokenizer implements TextTokenizer {
  private final ClipTokenizer bpe;
  private final int contextLength;
  private final String source;

  /**
   * @param bpe the vocabulary and merges
   * @param contextLength the text tower's context length (at least 2)
   * @param source where the vocabulary came from, for {@link #describe()}
   */
  public ClipTextTokenizer(ClipTokenizer bpe, int contextLength, String source) {
    this.bpe = Objects.requireNonNull(bpe, "bpe");
    if (contextLength < 2) {
      throw new IllegalArgumentException("contextLength must be at least 2, got " + contextLength);
    }
    this.contextLength = contextLength;
    this.source = Objects.requireNonNull(source, "source");
  }

  /** The BPE tokenizer underneath. */
  public ClipTokenizer bpe() {
    return bpe;
  }

  @Override
  public int maxLength() {
    return contextLength;
  }

  @Override
  public long[] ids(String text) {
    long[] row = new long[contextLength];
    int real = bpe.tokenizeInto(text, contextLength, row, 0);
    return java.util.Arrays.copyOf(row, real);
  }

  @Override
  public long padId() {
    return 0;
  }

  @Override
  public String describe() {
    return "open_clip BPE (vocabulary " + bpe.vocabSize() + ", context " + contextLength + ", " + source + ")";
  }
}
