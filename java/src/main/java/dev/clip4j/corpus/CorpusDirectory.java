package dev.clip4j.corpus;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.internal.UserFiles;
import dev.clip4j.io.Npy;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.StringWriter;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.AccessDeniedException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.Instant;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An embeddings directory being written (the format is in the README): shards of {@code
 * shard_size} consecutive input items, {@code errors.jsonl} and {@code manifest.json}.
 *
 * <p>Shard K holds the good rows of inputs {@code [K * shard_size, (K + 1) * shard_size)}. It is
 * committed in this order, each step durable (fsync) before the next: {@code embeddings-K.npy}
 * (temp + rename), {@code ids-K.jsonl} (temp + rename), its errors appended to {@code
 * errors.jsonl}, then {@code manifest.json} (temp + rename) listing the shard and the committed
 * length of {@code errors.jsonl} ({@code errors_bytes}). Only the manifest rename commits a shard,
 * so a kill anywhere leaves the previous manifest valid: on resume, unlisted shard files and temp
 * files are deleted, {@code errors.jsonl} is cut back to {@code errors_bytes}, and the job
 * continues at the first unlisted shard. A run is refused when the directory holds another
 * job (different model, preprocessing, inputs, shard size) unless {@code overwrite}. A file lock
 * keeps two runs out of one directory. Not thread-safe; owned by one job.
 */
final class CorpusDirectory implements Sink {
  static final String MANIFEST = "manifest.json";
  static final String ERRORS = "errors.jsonl";
  static final String LOCK = ".clip4j.lock";
  private static final Pattern SHARD_FILE = Pattern.compile("(?:embeddings-(\\d{5,})\\.npy|ids-(\\d{5,})\\.jsonl)");
  /** The identity fields a resumed run must match (with a readable name for the message). */
  private static final String[][] IDENTITY = {
    {"format_version", "format version"}, {"kind", "kind"}, {"dim", "embedding width"}, {"model", "model"},
    {"text_model", "text model"}, {"preprocess", "preprocessing"}, {"shard_size", "shard size"},
    {"inputs/count", "number of inputs"}, {"inputs/sha256", "input set (paths/ids, in order)"},
  };

  private final ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
  private final ObjectMapper lines = new ObjectMapper();
  private final Path dir;
  private final ObjectNode identity;
  private final String nameField;
  private final boolean texts;
  private final int shardSize;
  private final int dim;
  private final FileChannel lockChannel;
  private final FileLock lock;
  private final long runStartNanos = System.nanoTime();
  private final ByteBuffer rowsBuf;
  private final StringBuilder idLines = new StringBuilder();
  private final StringBuilder errorLines = new StringBuilder();
  private final ArrayNode shards;
  private final String startedAt;
  private final double earlierSeconds;
  private final int runs;
  private final boolean wasComplete;
  private long rows;
  private long errors;
  private long errorsBytes;
  private long itemsDone;
  private int shardRows;

  private CorpusDirectory(Path dir, ObjectNode identity, String nameField, FileChannel lockChannel, FileLock lock,
      JsonNode previous) {
    this.dir = dir;
    this.identity = identity;
    this.nameField = nameField;
    this.texts = "texts".equals(identity.path("kind").asText());
    this.shardSize = identity.get("shard_size").asInt();
    this.dim = identity.get("dim").asInt();
    this.lockChannel = lockChannel;
    this.lock = lock;
    if (previous == null) {
      shards = json.createArrayNode();
      startedAt = Instant.now().toString();
      earlierSeconds = 0;
      runs = 1;
      wasComplete = false;
    } else {
      shards = (ArrayNode) previous.get("shards").deepCopy();
      rows = previous.path("rows").asLong();
      errors = previous.path("errors").asLong();
      errorsBytes = previous.path("errors_bytes").asLong();
      itemsDone = previous.path("items_done").asLong();
      JsonNode t = previous.path("timings");
      startedAt = t.path("started").asText(Instant.now().toString());
      earlierSeconds = t.path("elapsed_seconds").asDouble();
      runs = t.path("runs").asInt(0) + 1;
      wasComplete = previous.path("complete").asBoolean();
    }
    long bytes = (long) Math.min(shardSize, identity.path("inputs").path("count").asLong(shardSize)) * dim * 4;
    rowsBuf = ByteBuffer.allocate((int) bytes).order(ByteOrder.LITTLE_ENDIAN);
  }

  /**
   * Opens (creating) {@code dir} for a job with {@code identity} (format, kind, dim, model,
   * preprocessing, shard size, inputs fingerprint...), resuming what an identical earlier run
   * committed.
   *
   * @throws InvalidInputException when the directory holds another job or foreign files, or
   *     another process is writing it
   */
  static CorpusDirectory open(Path dir, ObjectNode identity, String nameField, boolean overwrite) {
    create(dir);
    Path lockFile = dir.resolve(LOCK);
    if (!Files.isWritable(dir)) {
      throw new Clip4jException(ErrorCode.IO, "cannot write the output directory " + dir + ": " + readOnly(dir));
    }
    FileChannel ch;
    try {
      ch = FileChannel.open(lockFile, StandardOpenOption.CREATE, StandardOpenOption.WRITE);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write the output directory " + dir + ": cannot open "
          + LOCK + ": " + (e instanceof AccessDeniedException || isReadOnlyFs(e) ? readOnly(dir) : UserFiles.describe(e)), e);
    }
    FileLock lock;
    try {
      lock = ch.tryLock();
    } catch (OverlappingFileLockException e) {
      close(ch);
      throw new InvalidInputException(dir + " is being written by another clip4j job in this process ("
          + LOCK + " is locked)");
    } catch (IOException e) {
      close(ch);
      throw new Clip4jException(ErrorCode.IO, "cannot lock " + lockFile + ": " + UserFiles.describe(e), e);
    }
    if (lock == null) {
      close(ch);
      throw new InvalidInputException(dir + " is being written by another clip4j job (" + LOCK + " is locked)");
    }
    try {
      return openLocked(dir, identity, nameField, overwrite, ch, lock);
    } catch (RuntimeException e) {
      close(ch);
      throw e;
    }
  }

  /** Creates {@code dir} and its parents, or says in a typed error why it cannot. */
  static void create(Path dir) {
    if (Files.exists(dir) && !Files.isDirectory(dir)) {
      throw new InvalidInputException("cannot write the output directory " + dir + ": it exists and is not a"
          + " directory (for one file per job use --out X.jsonl or X.npy, or --out-format jsonl|npy)");
    }
    try {
      Files.createDirectories(dir);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot create the output directory " + dir + ": "
          + UserFiles.describe(e), e);
    }
  }

  /**
   * Why {@code dir}, which {@code Files.isWritable} says is not writable, cannot be written: a
   * read-only file system (EROFS) or this user's permissions (EACCES). Told apart by trying, since
   * neither {@code isWritable} nor the file store (wrong for bind mounts) says which.
   */
  static String readOnly(Path dir) {
    try {
      Path probe = Files.createTempFile(dir, ".clip4j-write-test", ".tmp");
      Files.deleteIfExists(probe);
      return "it is not writable";
    } catch (AccessDeniedException e) {
      return "it is read-only for this user (permission denied)";
    } catch (java.nio.file.FileSystemException e) {
      return isReadOnlyFs(e) ? "it is on a read-only file system" : "it cannot be written (" + e.getReason() + ")";
    } catch (IOException e) {
      return "it cannot be written (" + UserFiles.describe(e) + ")";
    }
  }

  /** EROFS from an open (the JDK has no subclass for it; the reason is strerror's text). */
  private static boolean isReadOnlyFs(IOException e) {
    return e instanceof java.nio.file.FileSystemException
        && String.valueOf(((java.nio.file.FileSystemException) e).getReason()).toLowerCase(Locale.ROOT).contains("read-only");
  }

  private static CorpusDirectory openLocked(Path dir, ObjectNode identity, String nameField, boolean overwrite,
      FileChannel ch, FileLock lock) {
    List<Path> ours = new ArrayList<>();
    List<String> foreign = new ArrayList<>();
    try (DirectoryStream<Path> ds = Files.newDirectoryStream(dir)) {
      for (Path p : ds) {
        String n = p.getFileName().toString();
        if (n.equals(LOCK)) {
          continue;
        }
        if (n.equals(MANIFEST) || n.equals(ERRORS) || SHARD_FILE.matcher(n).matches()
            || (n.startsWith(".") && n.endsWith(".tmp"))) {
          ours.add(p);
        } else {
          foreign.add(n);
        }
      }
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot list " + dir + ": " + e.getMessage(), e);
    }
    if (!foreign.isEmpty()) {
      throw new InvalidInputException(dir + " is not empty and holds files that are not clip4j embeddings ("
          + String.join(", ", foreign.subList(0, Math.min(5, foreign.size()))) + (foreign.size() > 5 ? ", ..." : "")
          + "); choose a new or empty --out directory");
    }
    Path manifest = dir.resolve(MANIFEST);
    JsonNode previous = null;
    if (Files.exists(manifest)) {
      JsonNode m;
      try {
        m = new ObjectMapper().readTree(manifest.toFile());
      } catch (IOException e) {
        m = null; // ours are replaced atomically, so this is damage: --overwrite may start over
        if (!overwrite) {
          throw new InvalidInputException(manifest + " is not valid JSON (" + e.getMessage()
              + "); re-run with --overwrite to start over");
        }
      }
      if (m != null && !"clip4j-embeddings".equals(m.path("format").asText())) {
        throw new InvalidInputException(manifest + " was not written by clip4j (no \"format\": \"clip4j-embeddings\");"
            + " choose a new or empty --out directory");
      }
      if (!overwrite) {
        if (m == null || !m.path("shards").isArray()) {
          throw new InvalidInputException(manifest + " lists no shards; re-run with --overwrite to start over");
        }
        checkSameJob(dir, m, identity);
        previous = m;
      }
    }
    int keep = previous == null ? 0 : previous.get("shards").size();
    for (Path p : ours) {
      String n = p.getFileName().toString();
      Matcher m = SHARD_FILE.matcher(n);
      boolean listed = m.matches() && Integer.parseInt(m.group(1) != null ? m.group(1) : m.group(2)) < keep;
      // Fresh start: everything of ours goes (errors.jsonl is truncated below). Resume: unlisted shards and temp files.
      boolean delete = previous == null ? !n.equals(ERRORS) : !listed && !n.equals(MANIFEST) && !n.equals(ERRORS);
      if (delete) {
        try {
          Files.deleteIfExists(p);
        } catch (IOException e) {
          throw new Clip4jException(ErrorCode.IO, "cannot delete " + p + ": " + e.getMessage(), e);
        }
      }
    }
    CorpusDirectory d = new CorpusDirectory(dir, identity, nameField, ch, lock, previous);
    d.prepareErrors(previous != null);
    if (previous == null) {
      d.writeManifest(false, null);
    } else {
      d.checkListedShards();
    }
    return d;
  }

  private static void checkSameJob(Path dir, JsonNode previous, ObjectNode identity) {
    for (String[] f : IDENTITY) {
      String ptr = "/" + f[0];
      JsonNode was = previous.at(ptr);
      JsonNode now = identity.at(ptr);
      if (!was.equals(now)) {
        String at = firstDifference(was, now, f[0]);
        throw new InvalidInputException(dir + " holds a job with a different " + f[1] + " (" + at + " was "
            + shorten(previous.at("/" + at)) + ", now " + shorten(identity.at("/" + at))
            + "); re-run with --overwrite to start over, or choose another --out");
      }
    }
  }

  /** The JSON-pointer path (without the leading '/') of the first field where two trees differ. */
  private static String firstDifference(JsonNode a, JsonNode b, String path) {
    if (a.isObject() && b.isObject()) {
      java.util.Set<String> keys = new java.util.LinkedHashSet<>();
      a.fieldNames().forEachRemaining(keys::add);
      b.fieldNames().forEachRemaining(keys::add);
      for (String k : keys) {
        if (!a.path(k).equals(b.path(k))) {
          return firstDifference(a.path(k), b.path(k), path + "/" + k.replace("~", "~0").replace("/", "~1"));
        }
      }
    }
    return path;
  }

  private static String shorten(JsonNode n) {
    String s = n.isMissingNode() ? "none" : n.toString();
    return s.length() > 300 ? s.substring(0, 300) + "..." : s;
  }

  private void prepareErrors(boolean resume) {
    Path f = dir.resolve(ERRORS);
    try (FileChannel c = FileChannel.open(f, StandardOpenOption.CREATE, StandardOpenOption.WRITE)) {
      long size = c.size();
      if (resume && size < errorsBytes) {
        throw new InvalidInputException(f + " is shorter (" + size + " bytes) than the manifest records ("
            + errorsBytes + "); re-run with --overwrite to start over");
      }
      c.truncate(resume ? errorsBytes : 0); // drop errors of a shard that was not committed
      c.force(true);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot prepare " + f + ": " + e.getMessage(), e);
    }
  }

  private void checkListedShards() {
    for (JsonNode s : shards) {
      for (String key : new String[] {"embeddings", "ids"}) {
        Path p = dir.resolve(s.path(key).asText());
        if (!Files.isRegularFile(p)) {
          throw new InvalidInputException(p + " is listed in the manifest but missing; re-run with --overwrite to start over");
        }
      }
    }
  }

  static String shardName(String prefix, int index, String ext) {
    return String.format(Locale.ROOT, "%s-%05d.%s", prefix, index, ext);
  }

  @Override
  public long resumeFrom() {
    return (long) shards.size() * shardSize;
  }

  @Override
  public boolean complete() {
    return wasComplete;
  }

  @Override
  public long rows() {
    return rows;
  }

  @Override
  public long errors() {
    return errors;
  }

  @Override
  public void row(CorpusItem item, Backend.Embedded e) {
    for (float v : e.row()) {
      rowsBuf.putFloat(v);
    }
    StringWriter w = new StringWriter();
    try (JsonGenerator g = lines.getFactory().createGenerator(w)) {
      g.writeStartObject();
      g.writeNumberField("row", shardRows);
      g.writeNumberField("index", item.index());
      g.writeStringField(nameField, item.name());
      g.writeStringField("sha256", e.sha256());
      if (texts) {
        g.writeStringField("text", item.text());
      }
      g.writeEndObject();
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    idLines.append(w).append('\n');
    shardRows++;
  }

  @Override
  public void error(CorpusItem item, Clip4jException e) {
    errorLines.append(errorLine(lines, item, nameField, e)).append('\n');
  }

  static String errorLine(ObjectMapper lines, CorpusItem item, String nameField, Clip4jException e) {
    StringWriter w = new StringWriter();
    try (JsonGenerator g = lines.getFactory().createGenerator(w)) {
      g.writeStartObject();
      g.writeNumberField("index", item.index());
      g.writeStringField(nameField, item.name());
      g.writeStringField("error", e.code().name());
      g.writeStringField("message", String.valueOf(e.getMessage()));
      g.writeEndObject();
    } catch (IOException ex) {
      throw new UncheckedIOException(ex);
    }
    return w.toString();
  }

  @Override
  public void shardDone(int shard) {
    if (shard != shards.size()) {
      throw new IllegalStateException("shard " + shard + " committed out of order (next is " + shards.size() + ")");
    }
    String emb = shardName("embeddings", shard, "npy");
    String ids = shardName("ids", shard, "jsonl");
    ByteBuffer data = rowsBuf.duplicate().flip();
    Npy.write(dir.resolve(emb), Npy.DType.FLOAT32, new long[] {shardRows, dim}, data);
    AtomicFiles.sync(dir.resolve(emb));
    Faults.point("npy", shard);
    byte[] idBytes = idLines.toString().getBytes(StandardCharsets.UTF_8);
    AtomicFiles.write(dir.resolve(ids), out -> out.write(idBytes));
    Faults.point("ids", shard);
    long shardErrors = appendErrors();
    Faults.point("errors", shard);
    ObjectNode s = shards.addObject();
    s.put("index", shard);
    s.put("embeddings", emb);
    s.put("ids", ids);
    s.put("rows", shardRows);
    rows += shardRows;
    errors += shardErrors;
    itemsDone = Math.min((long) (shard + 1) * shardSize, identity.path("inputs").path("count").asLong());
    writeManifest(false, null);
    Faults.point("manifest", shard);
    rowsBuf.clear();
    idLines.setLength(0);
    errorLines.setLength(0);
    shardRows = 0;
  }

  private long appendErrors() {
    if (errorLines.length() == 0) {
      return 0;
    }
    byte[] b = errorLines.toString().getBytes(StandardCharsets.UTF_8);
    long n = errorLines.chars().filter(c -> c == '\n').count();
    Path f = dir.resolve(ERRORS);
    try (FileChannel c = FileChannel.open(f, StandardOpenOption.WRITE)) {
      c.truncate(errorsBytes);
      ByteBuffer buf = ByteBuffer.wrap(b);
      long pos = errorsBytes;
      while (buf.hasRemaining()) {
        pos += c.write(buf, pos);
      }
      c.force(true);
      errorsBytes = pos;
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot append to " + f + ": " + e.getMessage(), e);
    }
    return n;
  }

  @Override
  public void finish(long inputs) {
    if (shardRows > 0 || errorLines.length() > 0) {
      throw new IllegalStateException("uncommitted rows at finish");
    }
    writeManifest(true, Instant.now().toString());
  }

  private void writeManifest(boolean complete, String finishedAt) {
    ObjectNode m = identity.deepCopy();
    m.set("shards", shards);
    m.put("rows", rows);
    m.put("errors", errors);
    m.put("complete", complete);
    m.put("items_done", itemsDone);
    m.put("errors_file", ERRORS);
    m.put("errors_bytes", errorsBytes);
    ObjectNode t = m.putObject("timings");
    t.put("started", startedAt);
    t.put("updated", Instant.now().toString());
    if (finishedAt != null) {
      t.put("finished", finishedAt);
    }
    t.put("elapsed_seconds", earlierSeconds + (System.nanoTime() - runStartNanos) / 1e9);
    t.put("runs", runs);
    ByteArrayOutputStream b = new ByteArrayOutputStream();
    try {
      json.writeValue(b, m);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    b.write('\n');
    byte[] bytes = b.toByteArray();
    AtomicFiles.write(dir.resolve(MANIFEST), out -> out.write(bytes));
  }

  @Override
  public void close() {
    try {
      lock.release();
    } catch (IOException ignored) {
      // released when the channel closes
    }
    close(lockChannel);
  }

  private static void close(FileChannel ch) {
    if (ch != null) {
      try {
        ch.close();
      } catch (IOException ignored) {
        // nothing written through it
      }
    }
  }
}
