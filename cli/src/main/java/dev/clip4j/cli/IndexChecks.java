package dev.clip4j.cli;

import dev.clip4j.InvalidInputException;
import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.model.ClipModel;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;

/** The checks search makes before comparing a model's queries with an embeddings index. */
final class IndexChecks {
  private IndexChecks() {}

  /**
   * Refuses an index the queries cannot be compared with: a different width (always), or, unless
   * {@code allowMismatch}, model files whose SHA-256 differ from those the manifest records: the
   * CLIP model's ({@code model.files}) and, for a texts index, the sentence-transformers text
   * model's ({@code text_model.files}, checked against the loaded --text-model's files). Text queries against
   * a texts index must come from the same text tower that produced it.
   */
  static void checkCompatible(ClipModel clip, EmbeddingIndex index, boolean allowMismatch, Path textModelDir,
      boolean textQueries) {
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
      Map<String, String> haveText = new java.util.TreeMap<>(
          clip.info().textModel() != null ? clip.info().textModel().fileHashes() : Map.of());
      if (!wantText.equals(haveText)) {
        throw new InvalidInputException(manifest + ": the texts were embedded by a different text model than "
            + textModelDir + ": " + diff(wantText, haveText) + hint);
      }
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
}
