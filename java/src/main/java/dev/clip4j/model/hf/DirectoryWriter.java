package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.List;
import java.util.stream.Stream;

/** File helpers shared by the writers: an empty target directory, atomic JSON and copies. */
final class DirectoryWriter {
  private DirectoryWriter() {}

  /** Creates {@code dir}, or accepts it when it exists and is empty. */
  static void prepare(Path dir) {
    try {
      if (Files.exists(dir)) {
        if (!Files.isDirectory(dir)) {
          throw new Clip4jException(ErrorCode.IO, dir + " exists and is not a directory");
        }
        try (Stream<Path> s = Files.list(dir)) {
          List<Path> present = s.limit(3).toList();
          if (!present.isEmpty()) {
            throw new Clip4jException(ErrorCode.IO, dir + " is not empty (" + present.get(0).getFileName()
                + (present.size() > 1 ? ", ..." : "") + "); write a model into a new or empty directory");
          }
        }
      } else {
        Files.createDirectories(dir);
      }
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot create " + dir + ": " + e.getMessage(), e);
    }
  }

  /** Writes pretty JSON atomically (temp file + rename). */
  static Path json(Path file, JsonNode node) {
    try {
      byte[] bytes = new ObjectMapper().writerWithDefaultPrettyPrinter().writeValueAsBytes(node);
      return bytes(file, bytes);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  /** Writes bytes atomically. */
  static Path bytes(Path file, byte[] bytes) {
    Path tmp = file.resolveSibling("." + file.getFileName() + ".tmp");
    try {
      Files.write(tmp, bytes);
      Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      return file;
    } catch (IOException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException ignored) {
        // the original error matters
      }
      throw new Clip4jException(ErrorCode.IO, "cannot write " + file + ": " + e.getMessage(), e);
    }
  }

  /** Copies a (small) file's bytes, following links, atomically. */
  static Path copy(Path from, Path to) {
    if (!Files.isRegularFile(from)) {
      throw new InvalidModelException(from + " is not a regular file");
    }
    try {
      return bytes(to, Files.readAllBytes(from));
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot read " + from + ": " + e.getMessage(), e);
    }
  }
}
