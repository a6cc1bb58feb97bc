package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.nio.file.Path;

/** SHA-256 of model files, for provenance ({@code info().fileHashes()}) and pinning. */
final class Hashing {
  private Hashing() {}

  /** Lower-case hex SHA-256 of a file. */
  static String sha256(Path file) {
    try {
      return com.google.common.io.Files.asByteSource(file.toFile()).hash(com.google.common.hash.Hashing.sha256())
          .toString();
    } catch (IOException e) {
      throw new InvalidModelException(file + " cannot be read: " + e.getMessage(), e);
    }
  }

  /**
   * The provenance of a single-file model: checked against the pin now when there is one (so a
   * wrong file is refused before anything else is read), else hashed when first asked.
   */
  static java.util.function.Supplier<java.util.Map<String, String>> singleFile(Path file, LoadOptions options) {
    String name = file.getFileName().toString();
    if (options.expectedSha256().isPresent()) {
      String sha = checkPinned(file, options);
      return () -> java.util.Map.of(name, sha);
    }
    return () -> java.util.Map.of(name, sha256(file));
  }

  /**
   * The provenance of a directory model: {@code files} (paths in {@code dir}) and, for a sharded
   * checkpoint's index among them, every shard it names, hashed when first asked, by relative path.
   */
  static java.util.function.Supplier<java.util.Map<String, String>> directory(Path dir, java.util.List<Path> files) {
    java.util.List<Path> all = new java.util.ArrayList<>();
    for (Path f : files) {
      all.add(f);
      if (dev.clip4j.model.io.ShardedCheckpoint.formatOf(f) != null) {
        dev.clip4j.model.io.ShardedCheckpoint.Index index = dev.clip4j.model.io.ShardedCheckpoint.readIndex(f);
        index.shards().forEach(s -> all.add(index.shardPath(s)));
      }
    }
    return () -> {
      java.util.Map<String, String> h = new java.util.LinkedHashMap<>();
      for (Path f : all) {
        h.put(dir.relativize(f).toString(), sha256(f));
      }
      return h;
    };
  }

  /** Refuses a file whose SHA-256 is not the pinned one; returns the file's SHA-256. */
  static String checkPinned(Path file, LoadOptions options) {
    String sha = sha256(file);
    options.expectedSha256().ifPresent(expected -> {
      if (!expected.equals(sha)) {
        throw new InvalidModelException(
            file + ": SHA-256 " + sha + " does not match the pinned " + expected + "; refusing to load");
      }
    });
    return sha;
  }
}
