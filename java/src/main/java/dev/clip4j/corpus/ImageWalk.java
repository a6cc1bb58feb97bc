package dev.clip4j.corpus;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.HashSet;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;
import java.util.Set;
import java.util.TreeSet;
import java.util.function.Consumer;

/**
 * The image inputs of {@code clip4j embed-images}: files, directories (walked recursively) and
 * {@code @listfile}s (one path per line, relative paths against the working directory; blank
 * lines skipped; entries may be files or directories), in argument order.
 *
 * <p>Order is deterministic: the entries of each directory are visited in sorted name order,
 * depth first. Directory walks keep files whose extension (case-insensitive) is in the filter
 * and skip hidden entries (names starting with {@code '.'}); files named explicitly (arguments,
 * list entries) are always kept. Symbolic links are followed, but each real directory is walked
 * once, so link loops end. The output directory is never walked. A directory or list file that
 * cannot be read becomes an item with an {@link ErrorCode#IO} error, so it is reported like any
 * bad input.
 *
 * <p>WebDataset shards ({@code .tar} files named explicitly, or found by a walk whose filter
 * lists {@code tar}) are expanded into their image members, in archive order, by {@link
 * WebDatasetReader}: each item is named {@code SHARD.tar/KEY.EXT} and carries the member's bytes
 * (at most {@code maxMemberBytes}); oversized members, samples without an image and a truncated
 * shard become error items.
 *
 * <p>Enumeration is lazy: memory holds one sorted listing per open directory level, the real
 * paths of walked directories, and no file list. Immutable; each {@link #open()} is independent.
 */
public final class ImageWalk implements ItemSource {
  /** What {@link dev.clip4j.preprocess.ImageDecoder} reads. */
  public static final List<String> DEFAULT_EXTENSIONS = List.of("jpg", "jpeg", "jpe", "jfif", "png", "bmp", "gif", "webp");

  private final List<String> args;
  private final Set<String> extensions;
  private final Path exclude;
  private final Consumer<String> warnings;
  private final long maxMemberBytes;

  /**
   * @param args files, directories and {@code @listfile}s, in order
   * @param extensions directory-walk filter without dots (null = {@link #DEFAULT_EXTENSIONS})
   * @param exclude a directory never walked (the job's output), or null
   * @param warnings receives one line per skipped directory (link loops, repeats); null = none
   */
  public ImageWalk(List<String> args, List<String> extensions, Path exclude, Consumer<String> warnings) {
    this(args, extensions, exclude, warnings, dev.clip4j.preprocess.DecodeOptions.DEFAULT_MAX_INPUT_BYTES);
  }

  /**
   * As {@link #ImageWalk(List, List, Path, Consumer)}, reading WebDataset image members of at
   * most {@code maxMemberBytes} (larger ones become error items).
   */
  public ImageWalk(List<String> args, List<String> extensions, Path exclude, Consumer<String> warnings,
      long maxMemberBytes) {
    this.maxMemberBytes = maxMemberBytes;
    this.args = List.copyOf(args);
    Set<String> ext = new TreeSet<>();
    for (String e : extensions == null ? DEFAULT_EXTENSIONS : extensions) {
      String x = e.trim().toLowerCase(Locale.ROOT);
      if (x.startsWith(".")) {
        x = x.substring(1);
      }
      if (x.isEmpty()) {
        throw new IllegalArgumentException("empty extension in " + extensions);
      }
      ext.add(x);
    }
    this.extensions = Collections.unmodifiableSet(ext);
    this.exclude = exclude == null ? null : realOrAbsolute(exclude);
    this.warnings = warnings == null ? w -> { } : warnings;
  }

  @Override
  public String kind() {
    return "images";
  }

  @Override
  public String nameField() {
    return "path";
  }

  @Override
  public Map<String, Object> describe() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("arguments", args);
    m.put("extensions", new ArrayList<>(extensions));
    return m;
  }

  @Override
  public Items open() {
    return new Walker();
  }

  private static Path realOrAbsolute(Path p) {
    try {
      return p.toRealPath();
    } catch (IOException e) {
      return p.toAbsolutePath().normalize();
    }
  }

  private boolean wanted(String fileName) {
    int dot = fileName.lastIndexOf('.');
    return dot > 0 && extensions.contains(fileName.substring(dot + 1).toLowerCase(Locale.ROOT));
  }

  /** One level of the walk: yields paths; {@code explicit} entries skip the extension filter. */
  private abstract static class Frame implements AutoCloseable {
    final boolean explicit;

    Frame(boolean explicit) {
      this.explicit = explicit;
    }

    /** The next entry, or null when exhausted. */
    abstract String next() throws IOException;

    @Override
    public void close() {}
  }

  private static final class ListFrame extends Frame {
    final Iterator<String> entries;

    ListFrame(Iterator<String> entries) {
      super(true);
      this.entries = entries;
    }

    @Override
    String next() {
      return entries.hasNext() ? entries.next() : null;
    }
  }

  private static final class FileListFrame extends Frame {
    final String name;
    final BufferedReader reader;

    FileListFrame(String name, BufferedReader reader) {
      super(true);
      this.name = name;
      this.reader = reader;
    }

    @Override
    String next() throws IOException {
      String line;
      while ((line = reader.readLine()) != null) {
        if (line.endsWith("\r")) {
          line = line.substring(0, line.length() - 1);
        }
        if (!line.isBlank()) {
          return line;
        }
      }
      return null;
    }

    @Override
    public void close() {
      try {
        reader.close();
      } catch (IOException ignored) {
        // read-only
      }
    }
  }

  private static final class DirFrame extends Frame {
    final Path dir;
    final Iterator<String> names;

    DirFrame(Path dir, List<String> sortedNames) {
      super(false);
      this.dir = dir;
      this.names = sortedNames.iterator();
    }

    @Override
    String next() {
      return names.hasNext() ? dir.resolve(names.next()).toString() : null;
    }
  }

  private final class Walker implements Items {
    private final Deque<Frame> stack = new ArrayDeque<>();
    private final Set<Path> walked = new HashSet<>();
    private CorpusItem next;
    private long index;
    private WebDatasetReader shard;

    Walker() {
      stack.push(new ListFrame(args.iterator()));
    }

    @Override
    public boolean hasNext() {
      if (next == null) {
        next = advance();
      }
      return next != null;
    }

    @Override
    public CorpusItem next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      CorpusItem n = next;
      next = null;
      return n;
    }

    private CorpusItem advance() {
      if (shard != null) {
        if (shard.hasNext()) {
          WebDatasetReader.Sample s = shard.next();
          return new CorpusItem(index++, s.name(), null, null, s.error(), s.image());
        }
        shard.close();
        shard = null;
      }
      while (!stack.isEmpty()) {
        Frame top = stack.peek();
        String entry;
        try {
          entry = top.next();
        } catch (IOException | UncheckedIOException e) {
          stack.pop().close();
          return error(top instanceof FileListFrame f ? "@" + f.name : "inputs", "cannot read the list further: " + e);
        }
        if (entry == null) {
          stack.pop().close();
          continue;
        }
        if (top.explicit && top instanceof ListFrame && entry.startsWith("@") && stack.size() == 1) {
          String list = entry.substring(1);
          try {
            dev.clip4j.internal.UserFiles.requireRegularFile(Path.of(list), IllegalArgumentException::new);
            stack.push(new FileListFrame(list, Files.newBufferedReader(Path.of(list), StandardCharsets.UTF_8)));
          } catch (IOException | RuntimeException e) {
            return error(entry, "cannot read the list file: " + e);
          }
          continue;
        }
        Path p = Path.of(entry);
        if (Files.isDirectory(p)) {
          CorpusItem failed = descend(p);
          if (failed != null) {
            return failed;
          }
          continue;
        }
        if (WebDatasetReader.isShard(p.getFileName().toString()) && (top.explicit || wanted(p.getFileName().toString()))) {
          try {
            dev.clip4j.internal.UserFiles.requireRegularFile(p, IllegalArgumentException::new);
            shard = new WebDatasetReader(new java.io.BufferedInputStream(Files.newInputStream(p), 1 << 16), entry,
                maxMemberBytes);
          } catch (IOException | RuntimeException e) {
            return error(entry, "cannot read the shard: " + e);
          }
          return advance();
        }
        if (top.explicit || wanted(p.getFileName().toString())) {
          return new CorpusItem(index++, entry, p, null, null);
        }
      }
      return null;
    }

    /** Pushes a directory's sorted listing; returns an error item if it cannot be listed. */
    private CorpusItem descend(Path dir) {
      Path real = realOrAbsolute(dir);
      if (real.equals(exclude)) {
        return null;
      }
      if (!walked.add(real)) {
        warnings.accept(dir + ": already walked (a symbolic link loop or a repeated directory); skipped");
        return null;
      }
      List<String> names = new ArrayList<>();
      try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
        for (Path c : ds) {
          String n = c.getFileName().toString();
          if (!n.startsWith(".")) {
            names.add(n);
          }
        }
      } catch (IOException | RuntimeException e) {
        return error(dir.toString(), "cannot list the directory: " + e);
      }
      Collections.sort(names);
      stack.push(new DirFrame(dir, names));
      return null;
    }

    private CorpusItem error(String name, String message) {
      return new CorpusItem(index++, name, null, null, new Clip4jException(ErrorCode.IO, name + ": " + message));
    }

    @Override
    public void close() {
      if (shard != null) {
        shard.close();
        shard = null;
      }
      while (!stack.isEmpty()) {
        stack.pop().close();
      }
    }
  }

  /** The extensions of the walk filter, sorted. */
  public Set<String> extensions() {
    return extensions;
  }

  @Override
  public String toString() {
    return "ImageWalk" + args;
  }
}
