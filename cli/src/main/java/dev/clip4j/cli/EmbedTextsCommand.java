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
import dev.clip4j.InvalidInputException;
import picocli.CommandLine;
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
  @CommandLine.Spec CommandLine.Model.CommandSpec spec;

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

  @Option(names = "--token-ids", description = "Embed already tokenized texts instead: an .npy of int64 (or int32) ids"
      + " [N, L] (L at most the model's context length), as the model's tokenizer writes them (with --out X.npy).")
  Path tokenIds;

  @Option(names = "--attention-mask", description = "With --token-ids: an .npy [N, L] of 1 (real token) and 0 (padding),"
      + " real tokens first, for text towers that mask padding (BERT-style); without it every position is real.")
  Path attentionMask;

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
    if (tokenIds != null || attentionMask != null) {
      return embedTokenIds(format);
    }
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

  /** {@code --token-ids FILE.npy [--attention-mask FILE.npy]}: ids tokenized elsewhere, in batches, rows in order. */
  private int embedTokenIds(CorpusOptions.OutFormat format) {
    if (tokenIds == null) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--attention-mask needs --token-ids");
    }
    if (inputs.texts != null || inputs.jsonl != null || tsv != null || txt != null) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--token-ids replaces texts: give either --token-ids"
          + " or --text/--texts-jsonl/--texts-tsv/--texts-txt");
    }
    if (format != CorpusOptions.OutFormat.NPY) {
      throw new CommandLine.ParameterException(spec.commandLine(), "--token-ids writes one .npy [N, D]: give --out X.npy");
    }
    long[][] ids = matrix(tokenIds, "--token-ids");
    long[][] mask = attentionMask == null ? null : matrix(attentionMask, "--attention-mask");
    if (mask != null) {
      if (mask.length != ids.length || mask[0].length != ids[0].length) {
        throw new InvalidInputException(attentionMask + ": the attention mask is [" + mask.length + ", " + mask[0].length
            + "] but the token ids are [" + ids.length + ", " + ids[0].length + "]");
      }
      for (int i = 0; i < mask.length; i++) {
        boolean padding = false;
        for (int j = 0; j < mask[i].length; j++) {
          long v = mask[i][j];
          if (v != 0 && v != 1) {
            throw new InvalidInputException(attentionMask + ": row " + i + " holds " + v + "; the mask is 0 or 1");
          }
          if (v == 1 && padding) {
            throw new InvalidInputException(attentionMask + ": row " + i + " has a real token after padding; real tokens"
                + " come first");
          }
          padding |= v == 0;
        }
        if (mask[i][0] != 1) {
          throw new InvalidInputException(attentionMask + ": row " + i + " has no real token");
        }
      }
    }
    int length = ids[0].length;
    try (ClipModel m = model.load(textModel)) {
      List<float[]> rows = new ArrayList<>();
      for (int start = 0; start < ids.length; start += batchSize) {
        int n = Math.min(batchSize, ids.length - start);
        try (Tensor t = longs(ids, start, n, length);
            Tensor k = mask == null ? null : longs(mask, start, n, length)) {
          addRows(rows, k == null ? m.embedTexts(t) : m.embedTexts(t, k));
        }
      }
      write(rows, (int) m.embedDim());
    }
    return 0;
  }

  /** A 2-d integer .npy as rows (at least one row and one column). */
  private static long[][] matrix(Path file, String option) {
    Npy.Array a = Npy.read(file);
    long[] shape = a.shape();
    if (shape.length != 2 || shape[0] < 1 || shape[1] < 1
        || (a.dtype() != Npy.DType.INT64 && a.dtype() != Npy.DType.INT32)) {
      throw new InvalidInputException(file + ": " + option + " needs an int64 (or int32) array [N, L] with N, L >= 1, got "
          + a.dtype().name().toLowerCase(java.util.Locale.ROOT) + " " + java.util.Arrays.toString(shape));
    }
    long[] flat = a.longs();
    int n = (int) shape[0];
    int l = (int) shape[1];
    long[][] rows = new long[n][];
    for (int i = 0; i < n; i++) {
      rows[i] = java.util.Arrays.copyOfRange(flat, i * l, (i + 1) * l);
    }
    return rows;
  }

  private static Tensor longs(long[][] rows, int start, int n, int length) {
    long[] flat = new long[n * length];
    for (int i = 0; i < n; i++) {
      System.arraycopy(rows[start + i], 0, flat, i * length, length);
    }
    return dev.clip4j.internal.HostTensors.fromLongs(flat, n, length);
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
