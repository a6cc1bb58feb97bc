package dev.clip4j.tokenize;

/**
 * What a text tower's tokenizer does for clip4j: one text in, the token ids the tower takes out
 * (special tokens included, truncated to {@link #maxLength()}, not padded). A {@code ClipModel}
 * owns its tokenizer ({@code model.tokenizer()}); implementations are thread-safe.
 *
 * <p>Implementations: {@link ClipTextTokenizer} (open_clip's byte-level BPE with SOT/EOT, as
 * open_clip's {@code tokenize}) and the Hugging Face {@code tokenizer.json} tokenizer of
 * sentence-transformers text models.
 */
public interface TextTokenizer {
  /** The most ids one text becomes, special tokens included (a CLIP's context length). */
  int maxLength();

  /**
   * The ids of {@code text}: special tokens included, truncated to {@link #maxLength()}, no
   * padding. Never empty.
   *
   * @throws NullPointerException if text is null
   */
  long[] ids(String text);

  /** The id written into padding positions (0 for open_clip, the model's pad token otherwise). */
  long padId();

  /**
   * One row per text, each padded with {@link #padId()} to {@code length} positions (a text
   * longer than {@code length} is an error: use {@link #maxLength()}).
   *
   * @throws IllegalArgumentException if a text has more than {@code length} ids
   */
  default long[][] rows(java.util.List<String> texts, int length) {
    long[][] out = new long[texts.size()][];
    for (int i = 0; i < out.length; i++) {
      long[] ids = ids(texts.get(i));
      if (ids.length > length) {
        throw new IllegalArgumentException("text " + i + " has " + ids.length + " ids, more than " + length);
      }
      long[] row = new long[length];
      System.arraycopy(ids, 0, row, 0, ids.length);
      java.util.Arrays.fill(row, ids.length, length, padId());
      out[i] = row;
    }
    return out;
  }

  /** A short description for {@code info()}: the kind and where the vocabulary came from. */
  String describe();
}
