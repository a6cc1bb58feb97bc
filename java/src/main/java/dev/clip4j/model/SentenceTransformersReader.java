package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import dev.clip4j.text.st.SentenceTransformerPipeline;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * A sentence-transformers directory ({@code modules.json}: Transformer, Pooling, Dense,
 * Normalize): a text-only model whose tokenizer is the Transformer module's {@code
 * tokenizer.json}. Provenance covers every regular file under the directory (relative path,
 * sorted), since the modules spread their weights and configs over subdirectories.
 */
final class SentenceTransformersReader implements ModelReader {
  private static final int MAX_FILES = 10_000;

  @Override
  public ModelFormat format() {
    return ModelFormat.SENTENCE_TRANSFORMERS;
  }

  @Override
  public ModelDescription read(Path dir, LoadOptions options) {
    if (!Files.isRegularFile(dir.resolve("modules.json"))) {
      throw new InvalidModelException(dir + " is not a sentence-transformers directory (no modules.json)");
    }
    if (options.expectedSha256().isPresent()) {
      throw new InvalidModelException(dir + ": a SHA-256 pin names one model file, but this is a directory");
    }
    if (options.activation().isPresent() || options.modelName().isPresent()) {
      throw new InvalidModelException(dir + ": a sentence-transformers model's modules state its activations;"
          + " --activation / --model-name do not apply to it");
    }
    SentenceTransformerPipeline.TokenizerInfo tok = SentenceTransformerPipeline.tokenizerInfo(dir);
    return new ModelDescription(format(), dir, new Architecture.SentenceTransformer(dir), null,
        new TokenizerSpec.HfTokenizerJson(tok.dir(), tok.maxLength(), tok.padId()), () -> fileHashes(dir));
  }

  /** SHA-256 of every regular file under {@code dir} (relative path, sorted). */
  static Map<String, String> fileHashes(Path dir) {
    Map<String, String> out = new LinkedHashMap<>();
    List<Path> files;
    try (Stream<Path> s = Files.walk(dir)) {
      files = s.filter(Files::isRegularFile).limit(MAX_FILES + 1).sorted().collect(Collectors.toList());
    } catch (IOException | java.io.UncheckedIOException e) {
      throw new InvalidModelException(dir + ": cannot list the model's files: " + e.getMessage(), e);
    }
    if (files.size() > MAX_FILES) {
      throw new InvalidModelException(dir + ": more than " + MAX_FILES + " files: not a model directory");
    }
    for (Path p : files) {
      out.put(dir.relativize(p).toString(), Hashing.sha256(p));
    }
    return out;
  }
}
