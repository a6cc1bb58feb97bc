package dev.clip4j.internal;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryNotEmptyException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.HashSet;
import java.util.Set;
import java.util.function.Function;

/**
 * Checks made before a user-named file is opened. A FIFO (or another special file) would block
 * {@code open()} forever waiting for a writer, and a directory or dangling link would fail with
 * a JDK exception; each becomes the caller's typed error instead. Stateless.
 */
public final class UserFiles {
  private UserFiles() {}

  /** Links followed before the kernel says ELOOP (Linux: 40). */
  private static final int MAX_LINKS = 40;

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
    } else if (isSymlinkLoop(file)) {
      what = "is a symbolic link loop (its links never reach a file)";
    } else if (Files.isSymbolicLink(file) && !Files.exists(file)) {
      what = "is a dangling symbolic link";
    } else if (Files.exists(file, LinkOption.NOFOLLOW_LINKS) || Files.exists(file)) {
      what = "is not a regular file (a FIFO, socket or device?)";
    } else {
      what = "does not exist";
    }
    throw error.apply(file + " " + what);
  }

  /**
   * Whether resolving {@code file} runs into a cycle of symbolic links (or more links than the
   * kernel follows), in its last component or any directory on the way.
   */
  public static boolean isSymlinkLoop(Path file) {
    try {
      Files.readAttributes(file, BasicFileAttributes.class);
      return false;
    } catch (FileSystemException e) {
      // The JDK's text for ELOOP (UnixException.translateToIOException); the reason before it is
      // strerror's, which may be localised, so the chain is also walked by hand below.
      String reason = e.getReason();
      if (reason != null && reason.contains("unable to access attributes of symbolic link")) {
        return true;
      }
    } catch (IOException e) {
      return false;
    }
    Set<Path> seen = new HashSet<>();
    Path p = file.toAbsolutePath().normalize();
    for (int i = 0; i <= MAX_LINKS; i++) {
      if (!Files.isSymbolicLink(p)) {
        return false;
      }
      if (!seen.add(p)) {
        return true;
      }
      try {
        Path target = Files.readSymbolicLink(p);
        p = (p.getParent() == null ? target : p.getParent().resolve(target)).normalize();
      } catch (IOException e) {
        return false;
      }
    }
    return true;
  }

  /**
   * Why an I/O operation failed, in words: the JDK's message of a {@code FileSystemException} is
   * often just the path ("cannot create X: X"), its reason is null for the common cases.
   */
  public static String describe(IOException e) {
    String why;
    if (e instanceof FileAlreadyExistsException) {
      why = "a file of that name already exists";
    } else if (e instanceof AccessDeniedException) {
      why = "permission denied";
    } else if (e instanceof NoSuchFileException) {
      why = "no such file or directory";
    } else if (e instanceof NotDirectoryException) {
      why = "not a directory";
    } else if (e instanceof DirectoryNotEmptyException) {
      why = "directory not empty";
    } else if (e instanceof FileSystemException && ((FileSystemException) e).getReason() != null) {
      why = ((FileSystemException) e).getReason();
    } else {
      why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
    if (e instanceof FileSystemException && ((FileSystemException) e).getFile() != null) {
      return why + ": " + ((FileSystemException) e).getFile(); // the path the failure is about
    }
    return why;
  }
}
