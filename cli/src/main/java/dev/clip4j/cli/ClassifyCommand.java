package dev.clip4j.cli;

import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.model.ClipModel;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.internal.UserFiles;
import dev.clip4j.zeroshot.PromptTemplates;
import dev.clip4j.zeroshot.ZeroShotClassifier;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import dev.clip4j.corpus.CorpusItem;
import dev.clip4j.corpus.ImageWalk;
import dev.clip4j.corpus.ItemSource;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.Callable;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.ParameterException;
import picocli.CommandLine.Parameters;
import picocli.CommandLine.Spec;

/**
 * {@code clip4j classify --model PATH (--labels a,b | --labels-file F) [--template T... |
 * --templates F|openai-imagenet] [-k 5] (IMAGE | DIRECTORY)...}: open_clip zero-shot
 * classification with prompt ensembling. Class embeddings are computed once; images go through
 * the micro-batching {@link ClipEmbedder}. One JSON line per image, in input order; a bad image
 * gives an error line and the rest continue. Exit code 0 when every image was classified, 3 when
 * some failed, 1 on a fatal error, 2 on a usage error.
 */
@Command(name = "classify", mixinStandardHelpOptions = true,
    description = "Zero-shot classify images (files or directories, walked recursively in sorted order).",
    footer = {"Output: one JSON line per image in input order, {\"path\", \"top\": [{\"label\", \"probability\", \"logit\"}]}"
        + " or {\"path\", \"error\", \"message\"}.",
        "Exit codes: 0 all classified, 3 completed with errors (error lines), 1 fatal error, 2 usage error."})
final class ClassifyCommand implements Callable<Integer> {
  /** Exit code: completed, but some inputs failed (error lines printed). */
  static final int COMPLETED_WITH_ERRORS = 3;

  @Mixin ModelOptions model;

  @Option(names = "--labels", split = ",", description = "Class names, comma-separated (repeatable).")
  List<String> labels = new ArrayList<>();

  @Option(names = "--labels-file", description = "A UTF-8 file with one class name per line.")
  Path labelsFile;

  @Option(names = "--template", description = "A prompt template with {} for the label (repeatable; default \"" + PromptTemplates.DEFAULT + "\").")
  List<String> templates = new ArrayList<>();

  @Option(names = "--templates", description = "A file with one template per line, or a named set: openai-imagenet (open_clip's 80 ImageNet templates).")
  String templateSet;

  @Option(names = {"-k", "--top-k"}, defaultValue = "5", description = "Labels per image (default ${DEFAULT-VALUE}).")
  int k;

  @Option(names = "--text-model", description = "A sentence-transformers text model (modules.json) for the prompts.")
  Path textModel;

  @Option(names = "--batch-size", defaultValue = "32", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
  int batchSize;

  @Parameters(arity = "1..*", paramLabel = "IMAGE|DIR", description = "Image files, or directories walked recursively "
      + "(sorted, hidden entries skipped, symbolic-link loops walked once), as embed-images walks them.")
  List<Path> inputs;

  @Option(names = "--ext", split = ",", description = "Extensions kept when walking directories (default: jpg,jpeg,jpe,jfif,png,bmp,gif,webp).")
  List<String> extensions;

  @Spec CommandSpec spec;

  @Override
  public Integer call() throws Exception {
    List<String> classes = readLabels();
    List<String> prompts = readTemplates();
    if (k < 1) {
      throw usage("-k must be >= 1");
    }
    if (batchSize < 1) {
      throw usage("--batch-size must be >= 1");
    }
    ImageWalk walk = new ImageWalk(inputs.stream().map(Path::toString).toList(), extensions, null,
        w -> System.err.println("clip4j: " + w));
    Engine.ensureInitialized();
    int total = 0;
    PrintStream out = System.out;
    int errors = 0;
    try (ClipModel m = model.load(textModel)) {
      EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(batchSize);
      try (ClipEmbedder embedder = ClipEmbedder.create(m, cfg)) {
        // Prompts go through the embedder's text lanes (the model's own text tower, or --text-model's),
        // computed once and reused for every image.
        // SigLIP-style models score each label on its own: sigmoid(scale * cos + bias); CLIPs use softmax.
        ZeroShotClassifier zs = m.sigmoidScoring()
            ? ZeroShotClassifier.buildSigmoid(classes, prompts, texts -> embedTexts(embedder, texts), m.logitScale(),
                m.logitBias())
            : ZeroShotClassifier.build(classes, prompts, texts -> embedTexts(embedder, texts), m.logitScale());
        System.err.println("clip4j: scoring: " + zs.scoring().description());
        int window = Math.max(2 * batchSize, 64); // bounded in flight, results printed in input order
        Deque<Pending> pending = new ArrayDeque<>();
        try (ItemSource.Items items = walk.open()) {
          while (items.hasNext()) {
            CorpusItem item = items.next();
            total++;
            // An unreadable directory or list file is an error line, like a bad image.
            pending.add(new Pending(item.name(),
                item.error() != null ? CompletableFuture.failedFuture(item.error())
                    : item.data() != null ? embedder.embedImage(dev.clip4j.batch.ImageSource.of(item.data(), item.name()))
                    : submit(embedder, item.path())));
            if (pending.size() >= window) {
              errors += print(out, pending.poll(), zs);
            }
          }
        }
        while (!pending.isEmpty()) {
          errors += print(out, pending.poll(), zs);
        }
      }
    }
    out.flush();
    System.err.printf("clip4j: classified %d of %d images (%d errors)%n", total - errors, total, errors);
    return errors == 0 ? 0 : COMPLETED_WITH_ERRORS;
  }

  private record Pending(String path, CompletableFuture<float[]> result) {}

  /** Embeds prompts through the embedder's text lanes, a bounded number in flight; a failure is fatal. */
  private static float[][] embedTexts(ClipEmbedder embedder, List<String> texts) {
    float[][] out = new float[texts.size()][];
    for (int start = 0; start < texts.size(); start += 1024) {
      List<CompletableFuture<float[]>> f = embedder.embedTexts(texts.subList(start, Math.min(texts.size(), start + 1024)));
      for (int i = 0; i < f.size(); i++) {
        try {
          out[start + i] = f.get(i).join();
        } catch (CompletionException e) {
          if (e.getCause() instanceof RuntimeException re) {
            throw re;
          }
          throw e;
        }
      }
    }
    return out;
  }

  private static CompletableFuture<float[]> submit(ClipEmbedder embedder, Path p) {
    try {
      return embedder.embedImage(ImageSource.of(p));
    } catch (Clip4jException e) {
      return CompletableFuture.failedFuture(e); // e.g. overloaded: this image fails, the rest go on
    }
  }

  /** Prints one result line; returns 1 for an error line. */
  private int print(PrintStream out, Pending p, ZeroShotClassifier zs) throws IOException {
    Map<String, Object> o = new LinkedHashMap<>();
    o.put("path", p.path());
    float[] emb;
    try {
      emb = p.result().get();
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
      throw new Clip4jException(ErrorCode.INTERNAL, "interrupted", e);
    } catch (ExecutionException | CompletionException e) {
      Throwable cause = e.getCause() != null ? e.getCause() : e;
      o.put("error", cause instanceof Clip4jException ce ? ce.code().name() : ErrorCode.INTERNAL.name());
      o.put("message", String.valueOf(cause.getMessage()));
      out.println(SearchCommand.JSON.writeValueAsString(o));
      return 1;
    }
    List<Map<String, Object>> top = new ArrayList<>();
    for (ZeroShotClassifier.Prediction pr : zs.topK(emb, k)) {
      Map<String, Object> t = new LinkedHashMap<>();
      t.put("label", pr.label());
      t.put("probability", pr.probability());
      t.put("logit", pr.logit());
      top.add(t);
    }
    o.put("top", top);
    out.println(SearchCommand.JSON.writeValueAsString(o));
    return 0;
  }

  private List<String> readLabels() {
    List<String> out = new ArrayList<>();
    for (String l : labels) {
      out.add(l.strip());
    }
    if (labelsFile != null) {
      out.addAll(lines(labelsFile));
    }
    if (out.isEmpty()) {
      throw usage("give the class names with --labels a,b,... or --labels-file FILE");
    }
    Set<String> seen = new HashSet<>();
    for (String l : out) {
      if (l.isEmpty()) {
        throw usage("empty label in " + out);
      }
      if (!seen.add(l)) {
        throw usage("label '" + l + "' is given twice");
      }
    }
    return out;
  }

  private List<String> readTemplates() {
    List<String> out = new ArrayList<>(templates);
    if (templateSet != null) {
      if (!out.isEmpty()) {
        throw usage("give --template or --templates, not both");
      }
      List<String> named = PromptTemplates.named(templateSet);
      if (named != null) {
        out.addAll(named);
      } else if (Files.isRegularFile(Path.of(templateSet))) {
        out.addAll(lines(Path.of(templateSet)));
      } else {
        throw usage("--templates " + templateSet + ": neither a file nor a named set (openai-imagenet)");
      }
    }
    if (out.isEmpty()) {
      out.add(PromptTemplates.DEFAULT);
    }
    for (String t : out) {
      if (!t.contains("{}")) {
        throw usage("template '" + t + "' has no {} placeholder for the label");
      }
    }
    return out;
  }

  /** Largest --labels-file / --templates file read (a class list, not a corpus). */
  private static final long MAX_LIST_BYTES = 64L << 20;

  /**
   * Non-blank lines of a UTF-8 file, stripped; a line that is not valid UTF-8 is named with its
   * number, as --texts-txt does.
   */
  static List<String> lines(Path file) {
    UserFiles.requireRegularFile(file, InvalidInputException::new);
    byte[] data;
    try {
      long size = Files.size(file);
      if (size > MAX_LIST_BYTES) {
        throw new InvalidInputException(file + ": " + size + " bytes; a list of labels or templates is at most "
            + MAX_LIST_BYTES + " bytes");
      }
      data = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new InvalidInputException(file + ": cannot read: " + UserFiles.describe(e), e);
    }
    List<String> out = new ArrayList<>();
    int start = 0;
    for (int line = 1; start <= data.length; line++) {
      int end = start;
      while (end < data.length && data[end] != '\n') {
        end++;
      }
      String text;
      try {
        text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
            .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(data, start, end - start))
            .toString();
      } catch (CharacterCodingException e) {
        throw new InvalidInputException(file + ":" + line + ": not valid UTF-8 (the file must be UTF-8 text, one"
            + " entry per line)", e);
      }
      for (String part : text.split("\r", -1)) { // \r\n and a lone \r end a line too
        String stripped = part.strip();
        if (!stripped.isEmpty()) {
          out.add(stripped);
        }
      }
      start = end + 1;
    }
    return out;
  }

  private ParameterException usage(String message) {
    return new ParameterException(spec.commandLine(), message);
  }
}
