package dev.clip4j.corpus;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.io.BufferedOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/** Durable, atomic file replacement: temp file in the same directory, fsync, rename, fsync dir. */
final class AtomicFiles {
  private AtomicFiles() {}

  /** Writes the target's content. */
  @FunctionalInterface
  interface Content {
    void writeTo(OutputStream out) throws IOException;
  }

  /** The temp name used for {@code target}: hidden, in the same directory, ends with {@code .tmp}. */
  static Path tempFor(Path target) {
    return target.resolveSibling("." + target.getFileName() + ".tmp");
  }

  /** Replaces {@code target} atomically with {@code content}; a crash leaves the old file or the new one. */
  static void write(Path target, Content content) {
    Path tmp = tempFor(target);
    try {
      try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING,
          StandardOpenOption.WRITE)) {
        OutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
        content.writeTo(out);
        out.flush();
        ch.force(true);
      }
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      syncDirectory(target.toAbsolutePath().getParent());
    } catch (IOException e) {
      try {
        Files.deleteIfExists(tmp);
      } catch (IOException ignored) {
        // best effort
      }
      throw new Clip4jException(ErrorCode.IO, "cannot write " + target + ": " + e.getMessage(), e);
    }
  }

  /** fsyncs a file that was written (and renamed) by someone else. */
  static void sync(Path file) {
    try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot sync " + file + ": " + e.getMessage(), e);
    }
  }

  /** fsyncs a directory so renames in it are durable (best effort where the OS refuses). */
  static void syncDirectory(Path dir) {
    try (FileChannel ch = FileChannel.open(dir, StandardOpenOption.READ)) {
      ch.force(true);
    } catch (IOException e) {
      // Some file systems do not allow opening directories; rename is still atomic there.
    }
  }
}
