package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.tokenize.ClipTextTokenizer;
import dev.clip4j.tokenize.ClipTokenizer;
import dev.clip4j.tokenize.TextTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Objects;

/**
 * How a model's texts are tokenized, as its reader found it: which vocabulary, where it came
 * from, and the longest id sequence the text tower takes. {@link #open()} makes the tokenizer.
 */
public sealed interface TokenizerSpec {
  /** The longest id sequence (special tokens included) the text tower takes. */
  int maxLength();

  /** Where the vocabulary came from (a file, "bundle", or "clip4j's standard CLIP vocabulary"). */
  String source();

  /** A new tokenizer (the caller owns it when it is {@link AutoCloseable}). */
  TextTokenizer open();

  /** The standard CLIP BPE vocabulary ({@code bpe_simple_vocab_16e6.txt.gz}), shipped inside clip4j. */
  static ClipBpe standardClip(int contextLength) {
    return new ClipBpe(StandardVocabulary.BYTES, contextLength, StandardVocabulary.SOURCE);
  }

  /**
   * open_clip's byte-level BPE from a merges file ({@code bpe_simple_vocab_16e6.txt[.gz]}, or HF's
   * {@code merges.txt}: a header line, then one merge per line).
   *
   * @param bpeVocab the file's bytes (gzip or plain text)
   * @param contextLength the text tower's context length
   * @param source where the bytes came from
   */
  record ClipBpe(byte[] bpeVocab, int contextLength, String source) implements TokenizerSpec {
    public ClipBpe {
      Objects.requireNonNull(bpeVocab, "bpeVocab");
      Objects.requireNonNull(source, "source");
    }

    @Override
    public int maxLength() {
      return contextLength;
    }

    @Override
    public TextTokenizer open() {
      return new ClipTextTokenizer(ClipTokenizer.fromBpeVocab(bpeVocab, source), contextLength, label(source));
    }
  }

  /**
   * open_clip's byte-level BPE from HF's {@code vocab.json} + {@code merges.txt} (the ids come
   * from vocab.json, checked against the merges).
   */
  record ClipVocabFiles(Path vocabJson, Path merges, int contextLength) implements TokenizerSpec {
    @Override
    public int maxLength() {
      return contextLength;
    }

    @Override
    public String source() {
      return vocabJson + " + " + merges.getFileName();
    }

    @Override
    public TextTokenizer open() {
      return new ClipTextTokenizer(ClipTokenizer.fromVocabAndMerges(vocabJson, merges), contextLength,
          vocabJson.getFileName() + " + " + merges.getFileName());
    }
  }

  /**
   * A Hugging Face {@code tokenizer.json} (sentence-transformers text models), truncating to
   * {@code maxLength} with the model's special tokens.
   */
  record HfTokenizerJson(Path dir, int maxLength, long padId) implements TokenizerSpec {
    @Override
    public String source() {
      return dir.resolve("tokenizer.json").toString();
    }

    @Override
    public TextTokenizer open() {
      return new dev.clip4j.text.st.StTokenizer(dir, maxLength, padId);
    }
  }

  /**
   * open_clip's {@code HFTokenizer} over a Hugging Face {@code tokenizer.json} (SigLIP, SigLIP2), or
   * over a SentencePiece {@code spiece.model} when the directory has no tokenizer.json (SigLIP v1
   * hub directories: converted as transformers converts T5's tokenizer): {@code
   * tokenizer_kwargs.clean} text cleaning, truncation to the context length, rows padded with the
   * tokenizer's pad token.
   */
  record OpenClipHf(Path dir, int contextLength, String clean) implements TokenizerSpec {
    @Override
    public int maxLength() {
      return contextLength;
    }

    @Override
    public String source() {
      return dev.clip4j.tokenize.HfTextTokenizer.tokenizerFile(dir).toString();
    }

    @Override
    public TextTokenizer open() {
      return new dev.clip4j.tokenize.HfTextTokenizer(dir, contextLength, clean);
    }
  }

  /**
   * A Hugging Face {@code tokenizer.json} as transformers' SigLIP processor applies it ({@code
   * padding="max_length"}, {@code truncation=True}, {@code max_length} = the text tower's
   * context): no text cleaning, the tokenizer's special tokens, rows padded with the pad token of
   * {@code tokenizer_config.json} (by the text tower).
   */
  record TransformersHf(Path dir, int contextLength) implements TokenizerSpec {
    @Override
    public int maxLength() {
      return contextLength;
    }

    @Override
    public String source() {
      return dir.resolve("tokenizer.json").toString();
    }

    @Override
    public TextTokenizer open() {
      return new dev.clip4j.tokenize.HfTextTokenizer(dir, contextLength, "none");
    }
  }

  /**
   * A SentencePiece {@code spiece.model} (no tokenizer.json) as transformers' slow {@code
   * SiglipTokenizer} and {@code SiglipProcessor(padding="max_length", truncation=True)} apply it
   * (see {@link dev.clip4j.tokenize.SiglipSlowTokenizer}); rows padded with the pad token of {@code
   * tokenizer_config.json} (by the text tower).
   */
  record TransformersSiglipSpiece(Path dir, int contextLength) implements TokenizerSpec {
    @Override
    public int maxLength() {
      return contextLength;
    }

    @Override
    public String source() {
      return dir.resolve("spiece.model").toString();
    }

    @Override
    public TextTokenizer open() {
      return new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, contextLength);
    }
  }

  /**
   * A text tower whose tokenizer clip4j cannot run yet (e.g. a SentencePiece {@code spiece.model}
   * only): token ids are embedded (padded with {@code padId}), texts are refused with {@link
   * dev.clip4j.ErrorCode#UNSUPPORTED} and {@code reason}.
   *
   * @param padId what token-id rows are padded with, and where it was stated (in {@code source})
   */
  record TextUnsupported(int maxLength, long padId, String source, String reason) implements TokenizerSpec {
    public TextUnsupported {
      Objects.requireNonNull(source, "source");
      Objects.requireNonNull(reason, "reason");
    }

    @Override
    public TextTokenizer open() {
      return new TextTokenizer() {
        @Override
        public int maxLength() {
          return maxLength;
        }

        @Override
        public long[] ids(String text) {
          throw new dev.clip4j.Clip4jException(dev.clip4j.ErrorCode.UNSUPPORTED, reason);
        }

        @Override
        public long padId() {
          return padId;
        }

        @Override
        public String describe() {
          return "none for texts (" + reason + "); token ids padded with " + padId + " (" + source + ")";
        }
      };
    }
  }

  /**
   * What {@code info()} says of a vocabulary's origin: a file's name, not where it lies (the
   * content is in the model's file hashes), so a moved model describes itself the same way.
   */
  private static String label(String source) {
    if (source.equals(StandardVocabulary.SOURCE)) {
      return "clip4j's standard CLIP vocabulary";
    }
    int slash = source.lastIndexOf('/');
    return slash < 0 ? source : source.substring(slash + 1);
  }

  /** A CLIP BPE spec from a path given by the user: a merges file, or a directory holding one. */
  static TokenizerSpec clipVocabulary(Path path, int contextLength) {
    if (Files.isDirectory(path)) {
      for (String name : new String[] {"bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt"}) {
        if (Files.isRegularFile(path.resolve(name))) {
          return clipVocabulary(path.resolve(name), contextLength);
        }
      }
      if (Files.isRegularFile(path.resolve("vocab.json")) && Files.isRegularFile(path.resolve("merges.txt"))) {
        return new ClipVocabFiles(path.resolve("vocab.json"), path.resolve("merges.txt"), contextLength);
      }
      throw new InvalidModelException("no CLIP tokenizer vocabulary in " + path + ": looked for"
          + " bpe_simple_vocab_16e6.txt.gz, bpe_simple_vocab_16e6.txt, or vocab.json together with merges.txt");
    }
    dev.clip4j.internal.UserFiles.requireRegularFile(path, InvalidModelException::new);
    try {
      long size = Files.size(path);
      if (size > StandardVocabulary.MAX_BYTES) {
        throw new InvalidModelException(path + ": a tokenizer vocabulary of " + size + " bytes is larger than "
            + StandardVocabulary.MAX_BYTES);
      }
      return new ClipBpe(Files.readAllBytes(path), contextLength, path.toString());
    } catch (IOException e) {
      throw new InvalidModelException(path + ": cannot read: " + e.getMessage(), e);
    }
  }

  /** The vocabulary file shipped in clip4j's jar (open_clip's, byte for byte). */
  final class StandardVocabulary {
    static final String SOURCE = "clip4j's standard CLIP vocabulary (open_clip's bpe_simple_vocab_16e6.txt.gz)";
    static final int MAX_BYTES = 64 << 20;
    static final byte[] BYTES = load();

    private StandardVocabulary() {}

    private static byte[] load() {
      try (InputStream in = ClipTokenizer.class.getResourceAsStream("bpe_simple_vocab_16e6.txt.gz")) {
        if (in == null) {
          throw new IllegalStateException("clip4j's jar lacks dev/clip4j/tokenize/bpe_simple_vocab_16e6.txt.gz");
        }
        return in.readAllBytes();
      } catch (IOException e) {
        throw new IllegalStateException("cannot read clip4j's standard CLIP vocabulary", e);
      }
    }
  }
}
