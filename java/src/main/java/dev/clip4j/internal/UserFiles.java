package dev.clip4j.internal;

import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.function.Function;

/**
 * Checks made before a user-named file is opened. A FIFO (or another special file) would block
 * {@code open()} forever waiting for a writer, and a directory or dangling link would fail with
 * a JDK exception; each becomes the caller's typed error instead. Stateless.
 */
public final class UserFiles {
  private UserFiles() {}

  /**
   * Throws {@code error.apply(message)} unless {@code file} is (or links to) a regular file; the
   * message starts with the path.
   */
  public static void requireRegularFile(Path file, Function<String, ? extends RuntimeException> error) {
    if (Files.isRegularFile(file)) {
      return;
    }
    String what;
    if (Files.isDirectory(file)) {
      what = "is a directory, not a file";
    } else if (Files.isSymbolicLink(file) && !Files.exists(file)) {
      what = "is a dangling symbolic link";
    } else if (Files.exists(file, LinkOption.NOFOLLOW_LINKS) || Files.exists(file)) {
      what = "is not a regular file (a FIFO, socket or device?)";
    } else {
      what = "does not exist";
    }
    throw error.apply(file + " " + what);
  }
}
