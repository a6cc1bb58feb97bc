package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ModelMetadata;
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
  @Option(names = "--model", required = true, description = "Model directory, bundle, or a vocabulary file/directory.")
  Path model;

  @Mixin TextInputs inputs;

  @Option(names = "--out", required = true, description = "Output .npy (int64 [N, L]).")
  Path out;

  @Option(names = "--context-length", description = "Default: the model's (77).")
  Integer contextLength;

  @Override
  public Integer call() {
    List<String> texts = inputs.read();
    ModelMetadata meta = ModelMetadata.read(model);
    ClipTokenizer tok = meta.tokenizer();
    int ctx = contextLength != null ? contextLength : meta.contextLength();
    long[] flat = new long[texts.size() * ctx];
    for (int i = 0; i < texts.size(); i++) {
      tok.tokenizeInto(texts.get(i), ctx, flat, i * ctx);
    }
    Npy.writeInt64(out, flat, texts.size(), ctx);
    System.err.printf("clip4j: wrote %d x %d token ids to %s%n", texts.size(), ctx, out);
    return 0;
  }
}
