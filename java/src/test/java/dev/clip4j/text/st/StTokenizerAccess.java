package dev.clip4j.text.st;

import java.nio.file.Path;

/** Test access to the package-private {@link StTokenizer} constructor (tokenizer.json loading). */
public final class StTokenizerAccess {
  private StTokenizerAccess() {}

  /** Loads {@code dir/tokenizer.json} (max 128 tokens), encodes {@code text}, closes it. */
  public static long[] encode(Path dir, String text) {
    try (StTokenizer t = new StTokenizer(dir, 128, 0)) {
      return t.ids(text);
    }
  }
}
