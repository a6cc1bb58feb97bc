package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.corpus.CorpusJob;
import dev.clip4j.corpus.TextSources;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.bytedeco.pytorch.Tensor;
import picocli.CommandLine.ArgGroup;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/**
 * {@code clip4j embed-texts --model PATH --out DIR|OUT.jsonl|OUT.npy (--text T)... [--texts-jsonl
 * F] [--texts-tsv F]... [--texts-txt F]...}: {@code --out DIR} runs the sharded, resumable corpus
 * job ({@link CorpusJob}); {@code OUT.jsonl} writes a line per input; {@code OUT.npy} writes
 * float32 [N, D] unit rows in input order, failing on the first bad input.
 */
@Command(name = "embed-texts", description = {
    "Embed texts: into a sharded, resumable embeddings directory (--out DIR), one JSON line per input (--out X.jsonl)"
        + " or one .npy [N, D] in input order (--out X.npy).",
    "Exit codes: 0 all embedded, 3 completed with errors (see DIR/errors.jsonl), 1 fatal error, 2 usage."})
final class EmbedTextsCommand implements Callable<Integer> {
  @Mixin ModelOptions model;

  @Mixin TextInputs inputs;

  @Mixin CorpusOptions corpus;

  @Option(names = "--out", required = true, description = "Output: an embeddings directory, a .jsonl file or an .npy file (float32 [N, D]).")
  Path out;

  @Option(names = "--texts-tsv", description = "A file of id<TAB>text lines (repeatable).")
  List<Path> tsv;

  @Option(names = "--texts-txt", description = "A file with one text per line (repeatable).")
  List<Path> txt;

  @Option(names = "--batch-size", defaultValue = "64", description = "Texts per forward pass (default ${DEFAULT-VALUE}).")
  int batchSize;

  @Option(names = "--text-model", description = "A sentence-transformers text model (modules.json) that embeds the texts"
      + " instead of --model's text tower (its width must match --model's embeddings).")
  Path textModel;

  private TextSources sources() {
    List<TextSources.Source> files = new ArrayList<>();
    if (inputs.jsonl != null) {
      files.add(new TextSources.Source(TextSources.Format.JSONL, inputs.jsonl));
    }
    for (Path p : tsv == null ? List.<Path>of() : tsv) {
      files.add(new TextSources.Source(TextSources.Format.TSV, p));
    }
    for (Path p : txt == null ? List.<Path>of() : txt) {
      files.add(new TextSources.Source(TextSources.Format.TXT, p));
    }
    return new TextSources(inputs.texts, files);
  }

  @Override
  public Integer call() {
    Engine.ensureInitialized();
    CorpusOptions.OutFormat format = corpus.format(out);
    boolean corpusJob = format != CorpusOptions.OutFormat.NPY;
    CorpusJob.Options options = corpus.options(batchSize);
    TextSources sources = sources();
    List<String> texts = corpusJob ? null : (tsv == null && txt == null ? inputs.read() : sources.readAllStrict());
    try (ClipModel m = model.load(textModel)) {
      if (corpusJob) {
        return CorpusJob.embedTexts(m, sources, corpus.output(out), batchSize, options, System.err).exitCode();
      }
      List<float[]> rows = new ArrayList<>();
      for (int start = 0; start < texts.size(); start += batchSize) {
        rows.addAll(List.of(m.embedTexts(texts.subList(start, Math.min(texts.size(), start + batchSize)))));
      }
      write(rows, (int) m.embedDim());
    }
    return 0;
  }

  private void write(List<float[]> rows, int d) {
    float[] all = new float[rows.size() * d];
    for (int i = 0; i < rows.size(); i++) {
      System.arraycopy(rows.get(i), 0, all, i * d, d);
    }
    Npy.writeFloat32(out, all, rows.size(), d);
    System.err.printf("clip4j: wrote %d x %d embeddings to %s%n", rows.size(), d, out);
  }

  static void addRows(List<float[]> rows, Tensor emb) {
    EmbedImagesCommand.addRows(rows, emb);
  }
}
