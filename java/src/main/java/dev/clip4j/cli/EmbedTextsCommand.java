package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.corpus.CorpusJob;
import dev.clip4j.corpus.TextSources;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.text.st.PairedClip;
import dev.clip4j.text.st.SentenceTransformerPipeline;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
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

  @Option(names = "--vocab", description = "Tokenizer vocabulary, if the model does not carry one.")
  Path vocab;

  @Option(names = "--batch-size", defaultValue = "64", description = "Texts per forward pass (default ${DEFAULT-VALUE}).")
  int batchSize;

  @Option(names = "--text-model", description = "A sentence-transformers text model (modules.json) paired with --model's image tower.")
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
    if (textModel != null) {
      ClipModel image = ClipModel.load(model.model, model.toLoadOptions());
      SentenceTransformerPipeline pipeline;
      PairedClip paired;
      try {
        pipeline = SentenceTransformerPipeline.load(textModel, model.device);
      } catch (RuntimeException e) {
        image.close();
        throw e;
      }
      try {
        paired = PairedClip.of(image, pipeline);
      } catch (RuntimeException e) {
        pipeline.close();
        image.close();
        throw e;
      }
      try (PairedClip p = paired) {
        if (corpusJob) {
          return CorpusJob.embedTexts(p, textModel, sources, corpus.output(out), batchSize, options, System.err).exitCode();
        }
        List<float[]> rows = new ArrayList<>();
        for (int start = 0; start < texts.size(); start += batchSize) {
          addRows(rows, p.embedTexts(texts.subList(start, Math.min(texts.size(), start + batchSize))));
        }
        write(rows, (int) p.imageModel().embedDim());
      }
      return 0;
    }
    try (ClipModel m = ClipModel.load(model.model, model.toLoadOptions())) {
      ClipTokenizer tok = Models.tokenizer(m.resources(), model.model, vocab);
      if (corpusJob) {
        return CorpusJob.embedTexts(m, tok, sources, corpus.output(out), batchSize, options, System.err).exitCode();
      }
      int ctx = m.info().contextLength();
      List<float[]> rows = new ArrayList<>();
      for (int start = 0; start < texts.size(); start += batchSize) {
        List<String> chunk = texts.subList(start, Math.min(texts.size(), start + batchSize));
        addRows(rows, m.embedTexts(ids(tok, chunk, ctx)));
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

  /** Token ids [n, ctx] as an int64 tensor. */
  static Tensor ids(ClipTokenizer tok, List<String> texts, int ctx) {
    long[] flat = new long[texts.size() * ctx];
    for (int i = 0; i < texts.size(); i++) {
      tok.tokenizeInto(texts.get(i), ctx, flat, i * ctx);
    }
    LongPointer p = new LongPointer(flat);
    try {
      return torch.from_blob(p, new long[] {texts.size(), ctx}, new org.bytedeco.pytorch.TensorOptions(torch.ScalarType.Long)).clone();
    } finally {
      p.close();
    }
  }

  static void addRows(List<float[]> rows, Tensor emb) {
    EmbedImagesCommand.addRows(rows, emb);
  }
}
