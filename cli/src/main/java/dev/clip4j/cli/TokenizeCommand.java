package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.io.Npy;
import dev.clip4j.InvalidInputException;
import dev.clip4j.model.ModelDescription;
import dev.clip4j.tokenize.ClipTextTokenizer;
import dev.clip4j.tokenize.TextTokenizer;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code clip4j tokenize --model PATH --out OUT.npy (--text T)... | --texts-jsonl FILE}: int64 [N, L]. */
@Command(name = "tokenize", description = "Tokenize texts as open_clip does; writes int64 [N, context_length].")
final class TokenizeCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "The model (any format --model takes elsewhere; no weights are loaded), or a CLIP vocabulary file/directory.")
  Path model;

  @Mixin TextInputs inputs;

  @Option(names = "--out", required = true, description = "Output .npy (int64 [N, L]).")
  Path out;

  @Option(names = "--context-length", description = "CLIP tokenizers: the row length (default: the model's context length, 77).")
  Integer contextLength;

  @Override
  public Integer call() {
    List<String> texts = inputs.read();
    TextTokenizer tok = tokenizer();
    try {
      int len = tok.maxLength();
      if (contextLength != null) {
        if (!(tok instanceof ClipTextTokenizer clip)) {
          throw new InvalidInputException("--context-length applies to CLIP tokenizers; this model tokenizes with "
              + tok.describe());
        }
        if (contextLength < 2) {
          throw new InvalidInputException("--context-length must be at least 2");
        }
        tok = new ClipTextTokenizer(clip.bpe(), contextLength, "--context-length " + contextLength);
        len = contextLength;
      }
      long[][] rows = tok.rows(texts, len);
      long[] flat = new long[texts.size() * len];
      for (int i = 0; i < rows.length; i++) {
        System.arraycopy(rows[i], 0, flat, i * len, len);
      }
      Npy.writeInt64(out, flat, texts.size(), len);
      System.err.printf("clip4j: wrote %d x %d token ids to %s%n", texts.size(), len, out);
      return 0;
    } finally {
      if (tok instanceof AutoCloseable c) {
        try {
          c.close();
        } catch (Exception e) {
          // nothing held but the tokenizer
        }
      }
    }
  }

  /** The model's tokenizer (no weights loaded), or a CLIP tokenizer from a vocabulary file or directory. */
  private TextTokenizer tokenizer() {
    String name = model.getFileName() == null ? "" : model.getFileName().toString();
    boolean vocabFile = java.nio.file.Files.isRegularFile(model) && (name.endsWith(".txt.gz") || name.endsWith(".txt"));
    boolean vocabDir = java.nio.file.Files.isDirectory(model)
        && !java.nio.file.Files.exists(model.resolve("open_clip_config.json"))
        && !java.nio.file.Files.exists(model.resolve("config.json"))
        && !java.nio.file.Files.exists(model.resolve("modules.json"));
    if (vocabFile) {
      return new ClipTextTokenizer(ClipTokenizer.fromBpeVocab(model), 77, model.toString());
    }
    if (vocabDir) {
      return new ClipTextTokenizer(ClipTokenizer.fromDirectory(model), 77, model.toString());
    }
    return ModelDescription.read(model).openTokenizer();
  }
}
