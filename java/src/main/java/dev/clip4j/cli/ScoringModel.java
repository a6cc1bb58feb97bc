package dev.clip4j.cli;

import dev.clip4j.InvalidInputException;
import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.model.ClipModel;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.text.st.PairedClip;
import dev.clip4j.text.st.SentenceTransformerPipeline;
import dev.clip4j.tokenize.ClipTokenizer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import org.bytedeco.pytorch.Tensor;

/**
 * What search and classify load: a CLIP model, optionally paired with a sentence-transformers
 * text model (then texts go through that pipeline). Owns both; close once.
 */
final class ScoringModel implements AutoCloseable {
  private static final int TEXT_BATCH = 64;

  final ClipModel clip;
  final PairedClip paired; // null without --text-model
  private final ClipTokenizer tokenizer; // null with --text-model
  final PreprocessConfig preprocess;

  private ScoringModel(ClipModel clip, PairedClip paired, ClipTokenizer tokenizer, PreprocessConfig preprocess) {
    this.clip = clip;
    this.paired = paired;
    this.tokenizer = tokenizer;
    this.preprocess = preprocess;
  }

  static ScoringModel load(ModelOptions options, Path textModel, Path vocab) {
    ClipModel clip = ClipModel.load(options.model, options.toLoadOptions());
    try {
      PreprocessConfig pre = Models.preprocessConfig(clip.resources(), clip.info().imageSize());
      if (textModel == null) {
        return new ScoringModel(clip, null, Models.tokenizer(clip.resources(), options.model, vocab), pre);
      }
      SentenceTransformerPipeline pipeline = SentenceTransformerPipeline.load(textModel, options.device);
      try {
        return new ScoringModel(clip, PairedClip.of(clip, pipeline), null, pre);
      } catch (RuntimeException e) {
        pipeline.close();
        throw e;
      }
    } catch (RuntimeException e) {
      clip.close();
      throw e;
    }
  }

  /** The tokenizer of the CLIP text tower; null when texts go through --text-model. */
  ClipTokenizer tokenizer() {
    return tokenizer;
  }

  float logitScale() {
    return clip.logitScale();
  }

  /** Unit-norm text embeddings, in order. */
  float[][] embedTexts(List<String> texts) {
    List<float[]> rows = new ArrayList<>(texts.size());
    for (int start = 0; start < texts.size(); start += TEXT_BATCH) {
      List<String> chunk = texts.subList(start, Math.min(texts.size(), start + TEXT_BATCH));
      Tensor emb = paired != null ? paired.embedTexts(chunk)
          : clip.embedTexts(EmbedTextsCommand.ids(tokenizer, chunk, clip.info().contextLength()));
      try (emb) {
        EmbedImagesCommand.addRows(rows, emb);
      }
    }
    return rows.toArray(new float[0][]);
  }

  /** Unit-norm image embeddings of image files, in order (a bad image is a typed error). */
  float[][] embedImages(List<Path> images) {
    ImagePreprocessor pre = new ImagePreprocessor(preprocess);
    int s = preprocess.imageSize();
    List<float[]> rows = new ArrayList<>(images.size());
    for (Path p : images) {
      float[] px = pre.preprocess(ImageDecoder.decode(p, DecodeOptions.defaults()));
      try (Tensor t = EmbedImagesCommand.tensor(px, 1, s); Tensor emb = clip.embedImages(t)) {
        EmbedImagesCommand.addRows(rows, emb);
      }
    }
    return rows.toArray(new float[0][]);
  }

  /**
   * Refuses an index the queries cannot be compared with: a different width (always), or, unless
   * {@code allowMismatch}, model files whose SHA-256 differ from those the manifest records: the
   * CLIP model's ({@code model.files}) and, for a texts index, the sentence-transformers text
   * model's ({@code text_model.files}, checked against {@code textModelDir}). Text queries against
   * a texts index must come from the same text tower that produced it.
   */
  void checkCompatible(EmbeddingIndex index, boolean allowMismatch, Path textModelDir, boolean textQueries) {
    Path manifest = index.directory().resolve("manifest.json");
    if (index.dim() != clip.embedDim()) {
      throw new InvalidInputException(manifest + ": the index holds " + index.dim() + "-d embeddings but the model gives "
          + clip.embedDim() + "-d ones; embeddings from different models are not comparable");
    }
    if (allowMismatch) {
      return;
    }
    String hint = "; embeddings from different models are not comparable (pass --allow-model-mismatch if you know"
        + " they are, e.g. the same weights in another file format)";
    Map<String, String> want = index.modelFileHashes();
    Map<String, String> have = clip.info().fileHashes();
    if (want.isEmpty()) {
      throw new InvalidInputException(manifest + ": records no model file hashes (model.files), so it cannot be checked"
          + " that the index was made with this model; pass --allow-model-mismatch to search anyway");
    }
    if (!want.equals(have)) {
      throw new InvalidInputException(manifest + ": the index was made with a different model: " + diff(want, have) + hint);
    }
    if (index.kind() != EmbeddingIndex.Kind.TEXTS || !textQueries) {
      return; // image rows come from the CLIP image tower, checked above
    }
    Map<String, Object> tm = index.textModel();
    if (tm == null && textModelDir != null) {
      throw new InvalidInputException(manifest + ": the texts were embedded by the CLIP text tower, the queries by --text-model"
          + " " + textModelDir + hint);
    }
    if (tm != null && textModelDir == null) {
      Object where = tm.get("path");
      throw new InvalidInputException(manifest + ": the texts were embedded by a sentence-transformers text model"
          + (where != null ? " (" + where + ")" : "") + "; pass it as --text-model" + hint);
    }
    if (tm != null) {
      Map<String, String> wantText = new java.util.TreeMap<>();
      if (tm.get("files") instanceof Map<?, ?> files) {
        files.forEach((k, v) -> wantText.put(String.valueOf(k), String.valueOf(v)));
      }
      if (wantText.isEmpty()) {
        throw new InvalidInputException(manifest + ": records no text model file hashes (text_model.files);"
            + " pass --allow-model-mismatch to search anyway");
      }
      Map<String, String> haveText = new java.util.TreeMap<>();
      Path root = textModelDir.toAbsolutePath().normalize();
      for (String name : wantText.keySet()) {
        Path f = root.resolve(name).normalize();
        if (f.startsWith(root) && java.nio.file.Files.isRegularFile(f)) {
          haveText.put(name, sha256(f));
        }
      }
      if (!wantText.equals(haveText)) {
        throw new InvalidInputException(manifest + ": the texts were embedded by a different text model than "
            + textModelDir + ": " + diff(wantText, haveText) + hint);
      }
    }
  }

  private static String sha256(Path f) {
    try (java.io.InputStream in = java.nio.file.Files.newInputStream(f)) {
      java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
      byte[] buf = new byte[1 << 16];
      int n;
      while ((n = in.read(buf)) > 0) {
        md.update(buf, 0, n);
      }
      return java.util.HexFormat.of().formatHex(md.digest());
    } catch (java.io.IOException e) {
      throw new InvalidInputException(f + ": cannot read: " + e.getMessage(), e);
    } catch (java.security.NoSuchAlgorithmException e) {
      throw new IllegalStateException(e);
    }
  }

  private static String diff(Map<String, String> want, Map<String, String> have) {
    List<String> diff = new ArrayList<>();
    for (String name : new TreeSet<>(union(want, have))) {
      String a = want.get(name);
      String b = have.get(name);
      if (a == null || !a.equals(b)) {
        diff.add(name + " (index " + abbreviate(a) + ", model " + abbreviate(b) + ")");
      }
    }
    return String.join(", ", diff);
  }

  private static java.util.Set<String> union(Map<String, String> a, Map<String, String> b) {
    java.util.Set<String> s = new java.util.HashSet<>(a.keySet());
    s.addAll(b.keySet());
    return s;
  }

  private static String abbreviate(String sha) {
    return sha == null ? "absent" : sha.length() > 12 ? sha.substring(0, 12) + "..." : sha;
  }

  @Override
  public void close() {
    if (paired != null) {
      paired.close(); // closes the CLIP model too
    } else {
      clip.close();
    }
  }
}
