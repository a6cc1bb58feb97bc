package dev.clip4j.corpus;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.NumericalException;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.ModelInfo;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.IOException;
import java.io.InputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import java.util.stream.Stream;

/**
 * The corpus embedding job behind {@code clip4j embed-images|embed-texts --out DIR}: streams
 * every input of an {@link ItemSource} through the micro-batching {@link ClipEmbedder} (or a
 * sentence-transformers text model) and writes an embeddings directory (shards, ids, errors,
 * manifest; the format is in the README) or, for small jobs, one JSON-lines file.
 *
 * <p>How it runs: the inputs are enumerated once to count them and fingerprint the input set
 * (SHA-256 over the paths/ids in order), then again to embed them, with at most {@link
 * Options#maxInFlight()} items in flight; results are taken in input order, so memory holds the
 * in-flight window and one shard of rows, never the input list. Every row is checked to be
 * finite and unit-norm before it is written ({@link NumericalException} otherwise). A bad input
 * (unreadable, undecodable, malformed line) becomes an entry of {@code errors.jsonl} and the job
 * goes on; anything else (device failure, out of memory, a changed input set) stops the job with
 * its exception, leaving every committed shard intact for a resume.
 *
 * <p>Resume: re-running the same job on the same directory skips committed shards and produces
 * the same files as an uninterrupted run (rows bit for bit: the embedder's results do not depend
 * on batch composition; see {@link CorpusDirectory} for the commit protocol). A directory written
 * for another model, preprocessing, shard size or input set is refused unless {@link
 * Options#overwrite()}.
 *
 * <p>Ownership: the job borrows the model (the caller closes it) and owns the embedder it
 * creates for the run. Thread safety: one job per call; the static methods are thread-safe as
 * long as the calls use different outputs.
 */
public final class CorpusJob {
  /** Exit status of a job that completed but had bad inputs (see {@link Result#exitCode()}). */
  public static final int EXIT_COMPLETED_WITH_ERRORS = 3;
  private static final int READER_THREADS = 2;
  private static final double NORM_TOLERANCE = 1e-4;

  private CorpusJob() {}

  /**
   * Job settings.
   *
   * @param shardSize input items per shard (rows per shard minus that shard's errors)
   * @param maxInFlight items submitted and not yet written, at most
   * @param overwrite start over in a directory that holds another or an earlier job
   * @param progress how progress is shown on the log stream
   * @param logIntervalSeconds seconds between progress log lines
   */
  public record Options(int shardSize, int maxInFlight, boolean overwrite, Progress.Mode progress, double logIntervalSeconds) {
    public Options {
      if (shardSize < 1 || shardSize > 10_000_000) {
        throw new InvalidInputException("--shard-size must be between 1 and 10000000, got " + shardSize);
      }
      if (maxInFlight < 1) {
        throw new InvalidInputException("--max-in-flight must be >= 1, got " + maxInFlight);
      }
      Objects.requireNonNull(progress, "progress");
    }

    /** 10000 items per shard, 128 in flight, no overwrite, automatic progress every 10 s. */
    public static Options defaults() {
      return new Options(10_000, 128, false, Progress.Mode.AUTO, 10);
    }
  }

  /** Where the results go. */
  public sealed interface Output permits Directory, JsonLines {}

  /** An embeddings directory (sharded, resumable). */
  public record Directory(Path dir) implements Output {}

  /** One JSON-lines file, a line per input in order (small jobs; not resumable). */
  public record JsonLines(Path file) implements Output {}

  /**
   * What a job did.
   *
   * @param inputs items in the input set
   * @param rows rows written (all runs)
   * @param errors failed items (all runs)
   * @param resumedFrom items an earlier run had committed when this one started
   * @param alreadyComplete an earlier run had finished the job; nothing was done
   * @param seconds this run's wall time
   */
  public record Result(long inputs, long rows, long errors, long resumedFrom, boolean alreadyComplete, double seconds) {
    /** 0 when every input was embedded, {@link #EXIT_COMPLETED_WITH_ERRORS} otherwise. */
    public int exitCode() {
      return errors > 0 ? EXIT_COMPLETED_WITH_ERRORS : 0;
    }
  }

  /**
   * Embeds images (decoded and preprocessed as the model states, exactly as open_clip) with
   * {@code model}, batching up to {@code batchSize} per forward pass.
   */
  public static Result embedImages(ClipModel model, ImageWalk inputs, Output out, int batchSize, Options options,
      PrintStream log) {
    DecodeOptions decode = DecodeOptions.defaults();
    ObjectNode id = identity("images", model.embedDim(), model.info().toMap());
    id.set("preprocess", json().valueToTree(preprocessMap(model.preprocessConfig(), decode)));
    try (ClipEmbedder embedder = ClipEmbedder.create(model, embedderConfig(batchSize, options));
        ImageBackend backend = new ImageBackend(embedder, decode, READER_THREADS)) {
      return run(inputs, backend, id, (int) model.embedDim(), out, options, options.maxInFlight(), log);
    }
  }

  /**
   * Embeds texts with {@code model}'s text tower (a CLIP's, a sentence-transformers model's, or
   * the text side of a {@link ClipModel#pair pair}) through the micro-batching embedder, batches of
   * up to {@code batchSize}. Every row is independent of its batch neighbours, so a resumed job
   * writes the same bits. For a pair, the manifest's {@code text_model} records the text side's
   * files (so a resume checks the content, not the path).
   */
  public static Result embedTexts(ClipModel model, TextSources inputs, Output out, int batchSize, Options options,
      PrintStream log) {
    ObjectNode id = identity("texts", model.embedDim(), model.info().toMap());
    ModelInfo text = model.info().textModel();
    if (text != null) {
      Map<String, Object> tm = new LinkedHashMap<>();
      tm.put("architecture", text.architecture());
      tm.put("format", text.format().id());
      tm.put("files", text.fileHashes());
      id.set("text_model", json().valueToTree(tm));
    }
    try (ClipEmbedder embedder = ClipEmbedder.create(model, embedderConfig(batchSize, options));
        ClipTextBackend backend = new ClipTextBackend(embedder)) {
      return run(inputs, backend, id, (int) model.embedDim(), out, options, options.maxInFlight(), log);
    }
  }

  private static EmbedderConfig embedderConfig(int batchSize, Options o) {
    if (batchSize < 1) {
      throw new InvalidInputException("--batch-size must be >= 1, got " + batchSize);
    }
    return EmbedderConfig.defaults().withMaxBatchSize(batchSize).withQueueCapacity(Math.max(4096, 2 * o.maxInFlight()));
  }

  private static ObjectMapper json() {
    return new ObjectMapper();
  }

  static ObjectNode identity(String kind, long dim, Map<String, Object> model) {
    ObjectNode n = json().createObjectNode();
    n.put("format", "clip4j-embeddings");
    n.put("format_version", 1);
    n.put("kind", kind);
    n.put("dim", dim);
    n.put("dtype", "float32");
    n.put("normalized", true);
    n.set("model", json().valueToTree(model));
    return n;
  }

  /** The preprocessing as recorded in the manifest. */
  static Map<String, Object> preprocessMap(PreprocessConfig p, DecodeOptions d) {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("image_size", p.imageSize());
    m.put("mean", floats(p.mean()));
    m.put("std", floats(p.std()));
    m.put("interpolation", p.interpolation().name().toLowerCase(java.util.Locale.ROOT));
    m.put("resize_mode", p.resizeMode().name().toLowerCase(java.util.Locale.ROOT));
    m.put("fill_color", p.fillColor());
    Map<String, Object> dec = new LinkedHashMap<>();
    dec.put("max_pixels", d.maxPixels());
    dec.put("max_input_bytes", d.maxInputBytes());
    dec.put("exif_orientation", d.exifOrientation());
    m.put("decode", dec);
    return m;
  }

  private static List<Double> floats(float[] f) {
    Double[] out = new Double[f.length];
    for (int i = 0; i < f.length; i++) {
      out[i] = (double) f[i];
    }
    return Arrays.asList(out);
  }

  /** Count, SHA-256 of the input set, and a hash per shard-sized chunk (to catch changes mid-run). */
  record Fingerprint(long count, String sha256, long[] chunks) {
    static Fingerprint of(ItemSource src, int shardSize) {
      MessageDigest all = Hashes.sha256();
      MessageDigest chunk = Hashes.sha256();
      long[] chunks = new long[16];
      int nChunks = 0;
      long n = 0;
      try (ItemSource.Items it = src.open()) {
        while (it.hasNext()) {
          byte[] k = it.next().key().getBytes(StandardCharsets.UTF_8);
          update(all, k);
          update(chunk, k);
          n++;
          if (n % shardSize == 0) {
            if (nChunks == chunks.length) {
              chunks = Arrays.copyOf(chunks, nChunks * 2);
            }
            chunks[nChunks++] = ByteBuffer.wrap(chunk.digest()).getLong();
          }
        }
      }
      if (n % shardSize != 0) {
        if (nChunks == chunks.length) {
          chunks = Arrays.copyOf(chunks, nChunks + 1);
        }
        chunks[nChunks++] = ByteBuffer.wrap(chunk.digest()).getLong();
      }
      return new Fingerprint(n, HexFormat.of().formatHex(all.digest()), Arrays.copyOf(chunks, nChunks));
    }

    static void update(MessageDigest md, byte[] key) {
      md.update(ByteBuffer.allocate(4).putInt(key.length).array());
      md.update(key);
    }
  }

  private record Pending(CorpusItem item, CompletableFuture<Backend.Embedded> future) {}

  static Result run(ItemSource src, Backend backend, ObjectNode id, int dim, Output out, Options o,
      int maxInFlight, PrintStream log) {
    long t0 = System.nanoTime();
    int shardSize = o.shardSize();
    if ((long) Math.min(shardSize, Integer.MAX_VALUE / 4) * dim * 4 > Integer.MAX_VALUE - 64) {
      throw new InvalidInputException("--shard-size " + shardSize + " x " + dim + " floats does not fit one shard buffer");
    }
    Fingerprint fp = Fingerprint.of(src, shardSize);
    if (fp.count() == 0) {
      throw new InvalidInputException("no " + src.kind() + " found in the inputs " + src.describe());
    }
    id.put("shard_size", shardSize);
    ObjectNode inputs = id.putObject("inputs");
    inputs.put("count", fp.count());
    inputs.put("sha256", fp.sha256());
    inputs.setAll((ObjectNode) json().valueToTree(src.describe()));
    ObjectNode identity;
    try {
      identity = (ObjectNode) json().readTree(json().writeValueAsString(id)); // numbers as a reader parses them
    } catch (IOException e) {
      throw new IllegalStateException(e);
    }
    String where;
    Sink sink;
    if (out instanceof Directory d) {
      sink = CorpusDirectory.open(d.dir(), identity, src.nameField(), o.overwrite());
      where = d.dir().toString();
    } else {
      sink = new JsonlFile(((JsonLines) out).file(), src.nameField());
      where = ((JsonLines) out).file().toString();
    }
    try (sink) {
      long total = fp.count();
      if (sink.complete()) {
        log.printf("clip4j: %s is already complete: %d %s, %d rows, %d errors%n", where, total, src.kind(), sink.rows(),
            sink.errors());
        return new Result(total, sink.rows(), sink.errors(), total, true, (System.nanoTime() - t0) / 1e9);
      }
      long resume = Math.min(sink.resumeFrom(), total); // a run killed after its last shard, before finishing
      if (resume > 0) {
        log.printf("clip4j: resuming %s at %s %d of %d (%d shards committed)%n", where, src.kind(), resume, total,
            resume / shardSize);
      }
      Progress progress = new Progress(log, o.progress(), total, resume, src.kind(), o.logIntervalSeconds());
      long[] counts;
      try {
        counts = embedAll(src, backend, sink, fp, dim, shardSize, resume, maxInFlight, progress);
      } catch (RuntimeException e) {
        if (out instanceof Directory) {
          log.printf("%sclip4j: stopped; %d rows and %d errors of the committed shards are kept in %s:"
              + " run the same command again to resume%n", progress.barDrawn() ? "\n" : "", sink.rows(), sink.errors(), where);
        }
        throw e;
      }
      progress.finish(counts[0], counts[1]);
      double secs = (System.nanoTime() - t0) / 1e9;
      long ran = total - resume;
      log.printf(java.util.Locale.ROOT, "clip4j: embedded %d of %d %s into %s%s; %.1f s, %.1f %s/s this run%n",
          sink.rows(), total, src.kind(), where,
          sink.errors() > 0 ? " (" + sink.errors() + " errors" + (out instanceof Directory ? ", listed in "
              + Path.of(where).resolve(CorpusDirectory.ERRORS) : "") + ")" : "",
          secs, secs > 0 ? ran / secs : 0, src.kind());
      return new Result(total, sink.rows(), sink.errors(), resume, false, secs);
    }
  }

  /** Embeds inputs {@code resume..} in order; returns {done, errors}. */
  private static long[] embedAll(ItemSource src, Backend backend, Sink sink, Fingerprint fp, int dim, int shardSize,
      long resume, int maxInFlight, Progress progress) {
    long total = fp.count();
    long[] counts = {resume, sink.errors()}; // done, errors
    ArrayDeque<Pending> window = new ArrayDeque<>();
    MessageDigest chunk = Hashes.sha256();
    long next = resume;
    try (ItemSource.Items it = src.open()) {
      while (it.hasNext()) {
        CorpusItem item = it.next();
        long i = item.index();
        if (i < resume) {
          continue; // committed by an earlier run (its fingerprint matched)
        }
        if (i >= total || i != next) {
          throw changed(i / shardSize);
        }
        next++;
        Fingerprint.update(chunk, item.key().getBytes(StandardCharsets.UTF_8));
        boolean last = lastOfShard(i, shardSize, total);
        if (last && ByteBuffer.wrap(chunk.digest()).getLong() != fp.chunks()[(int) (i / shardSize)]) {
          throw changed(i / shardSize);
        }
        window.add(new Pending(item, backend.submit(item)));
        if (last) {
          backend.endOfShard();
        }
        while (window.size() >= maxInFlight) {
          drain(window.poll(), sink, dim, shardSize, total, counts, progress);
        }
      }
    }
    if (next != total) {
      throw changed(next / shardSize);
    }
    backend.endOfShard();
    while (!window.isEmpty()) {
      drain(window.poll(), sink, dim, shardSize, total, counts, progress);
    }
    sink.finish(total);
    return counts;
  }

  private static boolean lastOfShard(long i, int shardSize, long total) {
    return (i + 1) % shardSize == 0 || i == total - 1;
  }

  private static Clip4jException changed(long shard) {
    return new InvalidInputException("the input set changed while the job ran (at shard " + shard
        + "): files were added, removed or renamed; committed shards are intact, re-run with --overwrite to start over");
  }

  private static void drain(Pending p, Sink sink, int dim, int shardSize, long total, long[] counts, Progress progress) {
    CorpusItem item = p.item();
    Faults.point("item", item.index());
    Clip4jException bad = null;
    Backend.Embedded e = null;
    try {
      e = p.future().get();
      String why = checkRow(e.row(), dim);
      if (why != null) {
        bad = new NumericalException(item.name() + ": the embedding " + why + "; row not written", new int[0]);
      }
    } catch (ExecutionException | CompletionException ex) {
      Throwable c = ex.getCause() == null ? ex : ex.getCause();
      while ((c instanceof CompletionException || c instanceof ExecutionException) && c.getCause() != null) {
        c = c.getCause();
      }
      if (!isItemError(c)) {
        throw fatal(item, c);
      }
      bad = (Clip4jException) c;
    } catch (InterruptedException ex) {
      Thread.currentThread().interrupt();
      throw new Clip4jException(ErrorCode.INTERNAL, "interrupted while waiting for " + item.name(), ex);
    }
    if (bad != null) {
      sink.error(item, bad);
      counts[1]++;
    } else {
      sink.row(item, e);
    }
    counts[0]++;
    progress.update(counts[0], counts[1]);
    if (lastOfShard(item.index(), shardSize, total)) {
      sink.shardDone((int) (item.index() / shardSize));
    }
  }

  /** Errors that are the item's fault (recorded, job continues); anything else stops the job. */
  static boolean isItemError(Throwable c) {
    if (c instanceof InvalidInputException || c instanceof NumericalException) {
      return true;
    }
    return c instanceof Clip4jException ce && (ce.code() == ErrorCode.IO || ce.code() == ErrorCode.INVALID_INPUT);
  }

  private static RuntimeException fatal(CorpusItem item, Throwable c) {
    if (c instanceof Clip4jException ce) {
      return ce;
    }
    return new Clip4jException(ErrorCode.INTERNAL, "embedding " + item.name() + " failed: " + c, c);
  }

  /** Null when {@code row} is {@code dim} finite values of norm 1 (to 1e-4), else why not. */
  static String checkRow(float[] row, int dim) {
    if (row == null || row.length != dim) {
      return "has " + (row == null ? 0 : row.length) + " values, expected " + dim;
    }
    double ss = 0;
    for (int i = 0; i < row.length; i++) {
      float v = row[i];
      if (!Float.isFinite(v)) {
        return "is not finite (value " + v + " at " + i + ")";
      }
      ss += (double) v * v;
    }
    double norm = Math.sqrt(ss);
    if (Math.abs(norm - 1) > NORM_TOLERANCE) {
      return "is not unit-norm (norm " + norm + ")";
    }
    return null;
  }
}
