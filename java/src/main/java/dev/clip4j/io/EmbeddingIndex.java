package dev.clip4j.io;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.internal.UseGuard;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.MappedByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Objects;

/**
 * Read-only view of an embeddings directory, the format {@code clip4j embed-images|embed-texts
 * --out DIR} writes: {@code manifest.json}, then per shard {@code embeddings-NNNNN.npy} (float32
 * {@code [rows, dim]}, C order, unit rows) and {@code ids-NNNNN.jsonl} (one JSON object per row).
 * Only the shards the manifest lists are read; other files in the directory are ignored.
 *
 * <pre>{@code
 * try (EmbeddingIndex index = EmbeddingIndex.open(Path.of("corpus-embeddings"))) {
 *   float[] v = index.row(42);                       // global row 42, across shards
 *   EmbeddingIndex.Entry e = index.entry(42);        // its path (images) or id (texts)
 *   for (EmbeddingIndex.Chunk c : index.chunks()) {  // memory-mapped, row-aligned
 *     FloatBuffer rows = c.data();                   // c.rows() x index.dim() floats
 *   }
 * }
 * }</pre>
 *
 * <p><b>Validation.</b> {@link #open} checks the whole structure before returning: manifest
 * format and version, kind, dim, dtype, every listed shard's files exist inside the directory,
 * each {@code .npy} header is strictly valid {@code <f4}, C order, shape {@code [rows, dim]} with
 * exactly that many data bytes, each ids file has exactly {@code rows} lines, and the manifest's
 * total equals the shards' sum. Any violation is an {@link InvalidInputException} naming the
 * file. The embedding values themselves are not scanned (that would defeat memory-mapping); an
 * ids line is parsed, and checked to carry its row number, when it is looked up.
 *
 * <p><b>Memory.</b> Shard data is memory-mapped read-only ({@link FileChannel#map}), never copied
 * to the heap; shards larger than one mapping allows (2 GiB) or than {@code maxChunkBytes} are
 * mapped as several row-aligned {@link Chunk}s. Ids are not loaded: each ids file is indexed by
 * the byte offset of every {@value #ID_STRIDE}th line (8 bytes per {@value #ID_STRIDE} rows) and
 * read on lookup. The JDK unmaps a mapping only when it becomes unreachable, so {@link #close()}
 * makes this object unusable but the OS pages go away with the garbage collector; a {@link Chunk}
 * still held after close stays valid (never a dangling pointer). Shard files listed in the
 * manifest must not be modified or truncated while an index is open on them (the writer never
 * does: it only adds shards).
 *
 * <p><b>Thread safety.</b> All methods are thread-safe; {@link #close()} waits for calls in flight
 * and later calls throw {@link IllegalStateException}.
 */
public final class EmbeddingIndex implements AutoCloseable {
  /** The {@code format} value of the manifest. */
  public static final String FORMAT = "clip4j-embeddings";
  /** The {@code format_version} this reader reads. */
  public static final int FORMAT_VERSION = 1;
  /** Default upper bound of one mapped chunk (1 GiB). */
  public static final long DEFAULT_MAX_CHUNK_BYTES = 1L << 30;
  /** One ids-file offset is kept per this many rows (a power of two). */
  public static final int ID_STRIDE = 64;

  private static final ObjectMapper JSON = new ObjectMapper();
  private static final long MAX_MANIFEST_BYTES = 64L << 20;
  private static final long MAX_ID_LINE = 1 << 20;

  /** What the rows embed. */
  public enum Kind {
    IMAGES,
    TEXTS;

    /** The manifest spelling ("images", "texts"). */
    public String id() {
      return name().toLowerCase(Locale.ROOT);
    }
  }

  /**
   * One listed shard.
   *
   * @param index the shard's {@code index} in the manifest
   * @param embeddings its {@code .npy} file
   * @param ids its ids file
   * @param rows its row count
   * @param firstRow global row of its first row (rows are numbered across shards in manifest order)
   */
  public record Shard(int index, Path embeddings, Path ids, long rows, long firstRow) {}

  /**
   * A row's identity, from its ids line.
   *
   * @param row the global row
   * @param shard the shard's position in {@link #shards()}
   * @param shardRow the row within that shard
   * @param index position of the item in the producing job's input enumeration (-1 if absent)
   * @param path the image path (image indexes; null otherwise)
   * @param id the text's id (text indexes; null otherwise)
   * @param sha256 hex SHA-256 of the item's bytes (null if absent)
   * @param text the text itself when the writer stored it (null otherwise)
   */
  public record Entry(long row, int shard, long shardRow, long index, String path, String id, String sha256, String text) {
    /** The path for images, the id for texts. */
    public String name() {
      return path != null ? path : id;
    }
  }

  /**
   * A mapped, row-aligned run of rows of one shard. The buffer is read-only, little-endian, and
   * direct (its native address can be handed to LibTorch's {@code from_blob} without copying).
   * Immutable; stays valid as long as it is reachable.
   */
  public static final class Chunk {
    private final long firstRow;
    private final int rows;
    private final int dim;
    private final ByteBuffer bytes;

    Chunk(long firstRow, int rows, int dim, ByteBuffer bytes) {
      this.firstRow = firstRow;
      this.rows = rows;
      this.dim = dim;
      this.bytes = bytes;
    }

    /** Global row of the chunk's first row. */
    public long firstRow() {
      return firstRow;
    }

    /** Number of rows. */
    public int rows() {
      return rows;
    }

    /** Floats per row. */
    public int dim() {
      return dim;
    }

    /** The {@code rows * dim} floats, row-major (a new read-only view each call). */
    public FloatBuffer data() {
      return bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN).asFloatBuffer();
    }

    /** The raw bytes (little-endian float32; a new read-only view each call). */
    public ByteBuffer bytes() {
      return bytes.duplicate().order(ByteOrder.LITTLE_ENDIAN);
    }
  }

  private final Path dir;
  private final Kind kind;
  private final int dim;
  private final long rows;
  private final boolean complete;
  private final Map<String, Object> manifest;
  private final List<Shard> shards;
  private final long[][] idOffsets; // per shard: byte offset of line s * ID_STRIDE, plus the file size last
  private final List<Chunk> chunks;
  private final long[] chunkStarts;
  private final UseGuard guard = new UseGuard("EmbeddingIndex");

  private EmbeddingIndex(Path dir, Kind kind, int dim, long rows, boolean complete, Map<String, Object> manifest,
      List<Shard> shards, long[][] idOffsets, List<Chunk> chunks) {
    this.dir = dir;
    this.kind = kind;
    this.dim = dim;
    this.rows = rows;
    this.complete = complete;
    this.manifest = manifest;
    this.shards = List.copyOf(shards);
    this.idOffsets = idOffsets;
    this.chunks = List.copyOf(chunks);
    this.chunkStarts = chunks.stream().mapToLong(Chunk::firstRow).toArray();
  }

  /** Opens {@code dir} with {@link #DEFAULT_MAX_CHUNK_BYTES}; see {@link #open(Path, long)}. */
  public static EmbeddingIndex open(Path dir) {
    return open(dir, DEFAULT_MAX_CHUNK_BYTES);
  }

  /**
   * Opens and validates an embeddings directory.
   *
   * @param dir the directory holding {@code manifest.json}
   * @param maxChunkBytes upper bound of one mapped chunk (rounded down to whole rows, at least one
   *     row, at most 2 GiB); smaller chunks bound the memory one search step touches
   * @throws InvalidInputException naming the file when the directory is not a valid index
   */
  public static EmbeddingIndex open(Path dir, long maxChunkBytes) {
    Objects.requireNonNull(dir, "dir");
    if (maxChunkBytes < 1) {
      throw new IllegalArgumentException("maxChunkBytes must be >= 1");
    }
    if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
      throw new Clip4jException(ErrorCode.UNSUPPORTED, "memory-mapped embeddings need a little-endian host");
    }
    Path root = dir.toAbsolutePath().normalize();
    Path manifestFile = root.resolve("manifest.json");
    JsonNode m = readManifest(manifestFile);
    String format = text(m, "format", manifestFile);
    if (!FORMAT.equals(format)) {
      throw bad(manifestFile, "format is '" + format + "', expected '" + FORMAT + "'");
    }
    long version = integer(m, "format_version", manifestFile);
    if (version != FORMAT_VERSION) {
      throw bad(manifestFile, "format_version " + version + " is not supported (this reader reads " + FORMAT_VERSION + ")");
    }
    String kindText = text(m, "kind", manifestFile);
    Kind kind;
    if (kindText.equals("images")) {
      kind = Kind.IMAGES;
    } else if (kindText.equals("texts")) {
      kind = Kind.TEXTS;
    } else {
      throw bad(manifestFile, "kind is '" + kindText + "', expected 'images' or 'texts'");
    }
    long dimL = integer(m, "dim", manifestFile);
    if (dimL < 1 || dimL > (1 << 20)) {
      throw bad(manifestFile, "dim " + dimL + " is out of range [1, 1048576]");
    }
    int dim = (int) dimL;
    String dtype = text(m, "dtype", manifestFile);
    if (!dtype.equals("float32")) {
      throw bad(manifestFile, "dtype '" + dtype + "' is not supported (float32)");
    }
    JsonNode model = m.get("model");
    if (model == null || !model.isObject()) {
      throw bad(manifestFile, "'model' must be an object (the producing model's info)");
    }
    JsonNode files = model.get("files");
    if (files != null && !files.isObject()) {
      throw bad(manifestFile, "'model.files' must be an object of file name -> SHA-256");
    }
    JsonNode list = m.get("shards");
    if (list == null || !list.isArray()) {
      throw bad(manifestFile, "'shards' must be an array");
    }
    boolean complete = m.path("complete").asBoolean(false);

    long rowBytes = 4L * dim;
    long chunkBytes = Math.min(maxChunkBytes, Integer.MAX_VALUE);
    long chunkRows = Math.max(1, chunkBytes / rowBytes);
    if (chunkRows * rowBytes > Integer.MAX_VALUE) {
      throw bad(manifestFile, "dim " + dim + " rows do not fit one mapping");
    }
    List<Shard> shards = new ArrayList<>();
    List<long[]> offsets = new ArrayList<>();
    List<Chunk> chunks = new ArrayList<>();
    long total = 0;
    long lastIndex = -1;
    for (int i = 0; i < list.size(); i++) {
      JsonNode s = list.get(i);
      String where = "shards[" + i + "]";
      if (!s.isObject()) {
        throw bad(manifestFile, where + " must be an object");
      }
      long index = integer(s, "index", manifestFile, where);
      if (index <= lastIndex || index > Integer.MAX_VALUE) {
        throw bad(manifestFile, where + ".index " + index + " must be increasing (previous " + lastIndex + ")");
      }
      lastIndex = index;
      Path emb = member(root, text(s, "embeddings", manifestFile, where), manifestFile, where + ".embeddings");
      Path ids = member(root, text(s, "ids", manifestFile, where), manifestFile, where + ".ids");
      long n = integer(s, "rows", manifestFile, where);
      if (n < 0) {
        throw bad(manifestFile, where + ".rows is negative");
      }
      if (!Files.isRegularFile(emb)) {
        throw bad(emb, "shard " + index + " listed in " + manifestFile.getFileName() + " is missing");
      }
      if (!Files.isRegularFile(ids)) {
        throw bad(ids, "ids of shard " + index + " listed in " + manifestFile.getFileName() + " are missing");
      }
      Npy.Header h = Npy.readHeader(emb);
      if (h.dtype() != Npy.DType.FLOAT32) {
        throw bad(emb, "dtype is " + h.dtype() + ", an index holds float32 (<f4)");
      }
      if (h.shape().length != 2 || h.shape()[0] != n || h.shape()[1] != dim) {
        throw bad(emb, "shape " + Arrays.toString(h.shape()) + " does not match the manifest's [" + n + ", " + dim + "]");
      }
      offsets.add(indexLines(ids, n));
      shards.add(new Shard((int) index, emb, ids, n, total));
      mapChunks(emb, h.dataOffset(), n, dim, chunkRows, total, chunks);
      total = Math.addExact(total, n);
    }
    JsonNode declared = m.get("rows");
    if (declared != null && (!declared.canConvertToLong() || declared.asLong() != total)) {
      throw bad(manifestFile, "'rows' is " + declared + " but the listed shards hold " + total);
    }
    @SuppressWarnings("unchecked")
    Map<String, Object> asMap = JSON.convertValue(m, LinkedHashMap.class);
    return new EmbeddingIndex(root, kind, dim, total, complete, Collections.unmodifiableMap(asMap), shards,
        offsets.toArray(new long[0][]), chunks);
  }

  private static JsonNode readManifest(Path file) {
    try {
      if (!Files.isRegularFile(file)) {
        throw bad(file, "missing: not an embeddings directory (expected manifest.json)");
      }
      if (Files.size(file) > MAX_MANIFEST_BYTES) {
        throw bad(file, "larger than " + MAX_MANIFEST_BYTES + " bytes");
      }
      JsonNode n = JSON.readTree(Files.readAllBytes(file));
      if (n == null || !n.isObject()) {
        throw bad(file, "not a JSON object");
      }
      return n;
    } catch (JsonProcessingException e) {
      throw bad(file, "not valid JSON: " + e.getOriginalMessage());
    } catch (IOException e) {
      throw new InvalidInputException(file + ": cannot read: " + e.getMessage(), e);
    }
  }

  /** A shard file name from the manifest, resolved inside the directory (no separators, no "..""). */
  private static Path member(Path root, String name, Path manifest, String where) {
    if (name.isEmpty() || name.contains("/") || name.contains("\\") || name.equals(".") || name.equals("..")
        || name.indexOf('\0') >= 0) {
      throw bad(manifest, where + " '" + name + "' must be a plain file name inside the directory");
    }
    return root.resolve(name);
  }

  /** Counts the lines of an ids file (must equal {@code rows}) and keeps every ID_STRIDE-th line's offset. */
  private static long[] indexLines(Path ids, long rows) {
    long slots = (rows + ID_STRIDE - 1) / ID_STRIDE;
    if (slots + 1 > Integer.MAX_VALUE - 8) {
      throw bad(ids, "too many rows");
    }
    long[] offsets = new long[(int) slots + 1];
    try (FileChannel ch = FileChannel.open(ids, StandardOpenOption.READ)) {
      long size = ch.size();
      ByteBuffer buf = ByteBuffer.allocate(1 << 16);
      long pos = 0;
      long lines = 0; // newlines seen: line L starts right after newline number L (line 0 at 0)
      byte last = '\n';
      while (pos < size) {
        buf.clear();
        int r = ch.read(buf, pos);
        if (r <= 0) {
          break;
        }
        byte[] a = buf.array();
        for (int i = 0; i < r; i++) {
          if (a[i] == '\n') {
            lines++;
            if ((lines & (ID_STRIDE - 1)) == 0 && lines / ID_STRIDE < slots) {
              offsets[(int) (lines / ID_STRIDE)] = pos + i + 1;
            }
          }
        }
        last = a[r - 1];
        pos += r;
      }
      if (last != '\n') {
        lines++; // a final line without its newline
      }
      if (lines != rows) {
        throw bad(ids, "has " + lines + " lines, the manifest says the shard has " + rows + " rows");
      }
      offsets[offsets.length - 1] = size;
      return offsets;
    } catch (IOException e) {
      throw new InvalidInputException(ids + ": cannot read: " + e.getMessage(), e);
    }
  }

  private static void mapChunks(Path emb, long dataOffset, long n, int dim, long chunkRows, long firstRow, List<Chunk> out) {
    if (n == 0) {
      return;
    }
    long rowBytes = 4L * dim;
    try (FileChannel ch = FileChannel.open(emb, StandardOpenOption.READ)) {
      for (long start = 0; start < n; start += chunkRows) {
        int len = (int) Math.min(chunkRows, n - start);
        MappedByteBuffer mb = ch.map(FileChannel.MapMode.READ_ONLY, dataOffset + start * rowBytes, len * rowBytes);
        out.add(new Chunk(firstRow + start, len, dim, mb.asReadOnlyBuffer().order(ByteOrder.LITTLE_ENDIAN)));
      }
    } catch (IOException e) {
      throw new InvalidInputException(emb + ": cannot map: " + e.getMessage(), e);
    }
  }

  /** The directory (absolute). */
  public Path directory() {
    return dir;
  }

  /** Images or texts. */
  public Kind kind() {
    return kind;
  }

  /** Floats per row. */
  public int dim() {
    return dim;
  }

  /** Total rows across the listed shards. */
  public long rows() {
    return rows;
  }

  /** The manifest's {@code complete} flag (false while the producing job is still running or was stopped). */
  public boolean complete() {
    return complete;
  }

  /** The whole manifest as plain Java values (maps, lists, strings, numbers, booleans); unmodifiable top level. */
  public Map<String, Object> manifest() {
    return manifest;
  }

  /** The manifest's {@code model} object: the producing model's info (what {@code clip4j inspect} prints). */
  @SuppressWarnings("unchecked")
  public Map<String, Object> model() {
    return Collections.unmodifiableMap((Map<String, Object>) manifest.get("model"));
  }

  /** The manifest's {@code model.files} (file name -> SHA-256), empty when the manifest has none. */
  public Map<String, String> modelFileHashes() {
    Object files = model().get("files");
    Map<String, String> out = new LinkedHashMap<>();
    if (files instanceof Map<?, ?> map) {
      map.forEach((k, v) -> out.put(String.valueOf(k), String.valueOf(v)));
    }
    return Collections.unmodifiableMap(out);
  }

  /** The manifest's {@code text_model} object, or null when the rows did not come from a separate text model. */
  @SuppressWarnings("unchecked")
  public Map<String, Object> textModel() {
    Object t = manifest.get("text_model");
    return t instanceof Map ? Collections.unmodifiableMap((Map<String, Object>) t) : null;
  }

  /** The listed shards, in manifest (= global row) order. */
  public List<Shard> shards() {
    return shards;
  }

  /** The mapped chunks, in global row order, tiling rows {@code [0, rows())}. */
  public List<Chunk> chunks() {
    try (UseGuard.Use use = guard.enter()) {
      return chunks;
    }
  }

  /** Global row {@code row} as a new array. */
  public float[] row(long row) {
    float[] out = new float[dim];
    row(row, out, 0);
    return out;
  }

  /** Copies global row {@code row} into {@code dst[offset .. offset + dim)}. */
  public void row(long row, float[] dst, int offset) {
    try (UseGuard.Use use = guard.enter()) {
      checkRow(row);
      Objects.checkFromIndexSize(offset, dim, dst.length);
      Chunk c = chunkOf(row);
      c.data().get((int) ((row - c.firstRow) * dim), dst, offset, dim);
    }
  }

  /** The chunk holding global row {@code row}. */
  public Chunk chunkOf(long row) {
    try (UseGuard.Use use = guard.enter()) {
      checkRow(row);
      int i = Arrays.binarySearch(chunkStarts, row);
      return chunks.get(i >= 0 ? i : -i - 2);
    }
  }

  /**
   * The identity of global row {@code row}, read from its shard's ids file.
   *
   * @throws InvalidInputException naming the ids file when the line is not a JSON object for this row
   */
  public Entry entry(long row) {
    try (UseGuard.Use use = guard.enter()) {
      checkRow(row);
      int s = shardOf(row);
      Shard shard = shards.get(s);
      long local = row - shard.firstRow();
      String line = readLine(shard.ids(), idOffsets[s], local);
      JsonNode n;
      try {
        n = JSON.readTree(line);
      } catch (JsonProcessingException e) {
        throw bad(shard.ids(), "line " + (local + 1) + " is not valid JSON: " + e.getOriginalMessage());
      }
      if (n == null || !n.isObject()) {
        throw bad(shard.ids(), "line " + (local + 1) + " is not a JSON object");
      }
      JsonNode r = n.get("row");
      if (r != null && (!r.canConvertToLong() || r.asLong() != local)) {
        throw bad(shard.ids(), "line " + (local + 1) + " has \"row\": " + r + ", expected " + local);
      }
      String path = textOrNull(n.get("path"));
      String id = textOrNull(n.get("id"));
      if (kind == Kind.IMAGES && path == null) {
        throw bad(shard.ids(), "line " + (local + 1) + " has no \"path\"");
      }
      if (kind == Kind.TEXTS && id == null) {
        throw bad(shard.ids(), "line " + (local + 1) + " has no \"id\"");
      }
      JsonNode idx = n.get("index");
      return new Entry(row, s, local, idx != null && idx.canConvertToLong() ? idx.asLong() : -1,
          kind == Kind.IMAGES ? path : null, kind == Kind.TEXTS ? id : null, textOrNull(n.get("sha256")),
          textOrNull(n.get("text")));
    }
  }

  private static String textOrNull(JsonNode n) {
    return n == null || n.isNull() ? null : n.isValueNode() ? n.asText() : n.toString();
  }

  private static String readLine(Path ids, long[] offsets, long local) {
    long from = offsets[(int) (local / ID_STRIDE)];
    long skip = local % ID_STRIDE;
    long end = offsets[offsets.length - 1];
    try (FileChannel ch = FileChannel.open(ids, StandardOpenOption.READ)) {
      if (ch.size() != end) {
        throw bad(ids, "changed size since the index was opened");
      }
      ByteBuffer buf = ByteBuffer.allocate(8192);
      java.io.ByteArrayOutputStream line = new java.io.ByteArrayOutputStream();
      long pos = from;
      while (pos < end) {
        buf.clear();
        int r = ch.read(buf, pos);
        if (r <= 0) {
          break;
        }
        for (int i = 0; i < r; i++) {
          byte b = buf.get(i);
          if (b == '\n') {
            if (skip == 0) {
              return line.toString(StandardCharsets.UTF_8);
            }
            skip--;
          } else if (skip == 0) {
            line.write(b);
            if (line.size() > MAX_ID_LINE) {
              throw bad(ids, "line " + (local + 1) + " is longer than " + MAX_ID_LINE + " bytes");
            }
          }
        }
        pos += r;
      }
      if (skip == 0) {
        return line.toString(StandardCharsets.UTF_8);
      }
      throw bad(ids, "line " + (local + 1) + " is missing");
    } catch (NoSuchFileException e) {
      throw bad(ids, "was removed since the index was opened");
    } catch (IOException e) {
      throw new InvalidInputException(ids + ": cannot read: " + e.getMessage(), e);
    }
  }

  private int shardOf(long row) {
    int lo = 0;
    int hi = shards.size() - 1;
    while (lo < hi) { // last shard whose firstRow <= row and that holds rows
      int mid = (lo + hi + 1) >>> 1;
      if (shards.get(mid).firstRow() <= row) {
        lo = mid;
      } else {
        hi = mid - 1;
      }
    }
    while (shards.get(lo).rows() == 0 || row >= shards.get(lo).firstRow() + shards.get(lo).rows()) {
      lo--; // empty shards share their firstRow with the next one
    }
    return lo;
  }

  private void checkRow(long row) {
    if (row < 0 || row >= rows) {
      throw new IndexOutOfBoundsException("row " + row + " is outside [0, " + rows + ")");
    }
  }

  private static long integer(JsonNode n, String key, Path file) {
    return integer(n, key, file, null);
  }

  private static long integer(JsonNode n, String key, Path file, String where) {
    JsonNode v = n.get(key);
    if (v == null || !v.isIntegralNumber() || !v.canConvertToLong()) {
      throw bad(file, (where == null ? "" : where + ".") + key + " must be an integer, got " + v);
    }
    return v.asLong();
  }

  private static String text(JsonNode n, String key, Path file) {
    return text(n, key, file, null);
  }

  private static String text(JsonNode n, String key, Path file, String where) {
    JsonNode v = n.get(key);
    if (v == null || !v.isTextual()) {
      throw bad(file, (where == null ? "" : where + ".") + key + " must be a string, got " + v);
    }
    return v.asText();
  }

  private static InvalidInputException bad(Path file, String what) {
    return new InvalidInputException(file + ": " + what);
  }

  /** Makes the index unusable (waits for calls in flight). Idempotent. Mappings are released by the GC. */
  @Override
  public void close() {
    guard.close(() -> {});
  }
}
