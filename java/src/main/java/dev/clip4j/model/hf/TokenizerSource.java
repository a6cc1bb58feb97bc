package dev.clip4j.model.hf;

import dev.clip4j.InvalidModelException;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * Where a CLIP tokenizer's BPE vocabulary comes from when a model is written: open_clip's merges
 * file ({@code bpe_simple_vocab_16e6.txt.gz} or {@code .txt}), or the Hugging Face pair {@code
 * vocab.json} + {@code merges.txt}.
 *
 * @param bpeFile open_clip's merges file, or null
 * @param vocabJson the Hugging Face vocabulary, or null
 * @param mergesTxt the Hugging Face merges, or null
 */
public record TokenizerSource(Path bpeFile, Path vocabJson, Path mergesTxt) {
  public TokenizerSource {
    if ((bpeFile == null) == (vocabJson == null || mergesTxt == null) || (vocabJson == null) != (mergesTxt == null)) {
      throw new IllegalArgumentException("either bpeFile, or vocabJson and mergesTxt");
    }
  }

  /** open_clip's merges file. */
  public static TokenizerSource bpe(Path bpeFile) {
    return new TokenizerSource(Objects.requireNonNull(bpeFile, "bpeFile"), null, null);
  }

  /** The Hugging Face pair. */
  public static TokenizerSource vocabAndMerges(Path vocabJson, Path mergesTxt) {
    return new TokenizerSource(null, Objects.requireNonNull(vocabJson, "vocabJson"), Objects.requireNonNull(mergesTxt));
  }

  /**
   * The vocabulary of a model directory, found as {@link ClipTokenizer#fromDirectory} finds it:
   * {@code bpe_simple_vocab_16e6.txt.gz} or {@code .txt} first, else {@code vocab.json} + {@code
   * merges.txt}.
   *
   * @throws InvalidModelException when the directory holds neither
   */
  public static TokenizerSource find(Path dir) {
    for (String n : new String[] {"bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt"}) {
      if (Files.isRegularFile(dir.resolve(n))) {
        return bpe(dir.resolve(n));
      }
    }
    if (Files.isRegularFile(dir.resolve("vocab.json")) && Files.isRegularFile(dir.resolve("merges.txt"))) {
      return vocabAndMerges(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
    }
    throw new InvalidModelException("no CLIP tokenizer vocabulary in " + dir + ": looked for"
        + " bpe_simple_vocab_16e6.txt.gz, bpe_simple_vocab_16e6.txt, or vocab.json with merges.txt");
  }

  /** The tokenizer these files make (checked: typed errors for malformed files). */
  public ClipTokenizer tokenizer() {
    return bpeFile != null ? ClipTokenizer.fromBpeVocab(bpeFile) : ClipTokenizer.fromVocabAndMerges(vocabJson, mergesTxt);
  }
}
