package dev.clip4j.bench;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Engine;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.batch.ImageSource;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.RandomModels;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import javax.imageio.ImageIO;

/**
 * Native memory over a long run (not a test): streams {@code total} embeddings, images and texts
 * alternating, through one {@link ClipEmbedder} the way a service or batch job does (encoded
 * images decoded and preprocessed on the preparation threads, texts tokenized, batched, the
 * towers, the head), and samples the process every {@code every} embeddings: RSS, and where it
 * lives (/proc/self/smaps: the main malloc heap, glibc's per-thread arenas, other anonymous
 * memory), JavaCPP's live native objects and the batch pool. The Java heap is meant to be fixed
 * and pre-touched ({@code -Xms = -Xmx, -XX:+AlwaysPreTouch}), so RSS changes are native.
 *
 * <pre>
 *   java -Xms512m -Xmx512m -XX:+AlwaysPreTouch -cp ... dev.clip4j.bench.SoakBench WORKDIR OUT.json [total=200000] [every=10000]
 * </pre>
 *
 * The model is {@code -Dbench.soak.model=DIR}, else {@link RandomModels#small()} written under
 * WORKDIR (random weights; the memory behaviour is the engine's, not the weights'). The growth
 * figure is RSS at the end minus RSS at half way, as benchmarks/run.sh reports it.
 */
public final class SoakBench {
  private SoakBench() {}

  private static final int IN_FLIGHT = 256;
  private static final long ARENA_BYTES = 64L << 20; // glibc HEAP_MAX_SIZE on 64-bit

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    Path outFile = Path.of(args[1]);
    int total = args.length > 2 ? Integer.parseInt(args[2]) : 200_000;
    int every = args.length > 3 ? Integer.parseInt(args[3]) : 10_000;
    Engine.ensureInitialized();
    String modelProp = System.getProperty("bench.soak.model");
    Path dir = modelProp != null ? Path.of(modelProp) : work.resolve("soak-model");
    String modelName = modelProp != null ? modelProp : "RandomModels.small() (clip4j-demo-small: ViT 224px/32,"
        + " width 128, 2 layers; text width 128, 2 layers; embed 128; random weights)";
    if (modelProp == null && !Files.isRegularFile(dir.resolve("open_clip_model.safetensors"))) {
      RandomModels.write(dir, RandomModels.small(), 5);
    }
    List<byte[]> images = images(64);
    List<String> texts = texts(256);
    ObjectMapper json = new ObjectMapper().enable(SerializationFeature.INDENT_OUTPUT);
    ObjectNode out = json.createObjectNode();
    out.put("model", modelName);
    out.put("embeddings", total);
    out.put("images", (total + 1) / 2);
    out.put("texts", total / 2);
    out.put("malloc_arena_max_env", String.valueOf(System.getenv("MALLOC_ARENA_MAX")));
    out.put("java_heap_max_mb", Runtime.getRuntime().maxMemory() / 1048576.0);
    out.put("processors", Runtime.getRuntime().availableProcessors());
    out.put("cpu", cpuModel());
    out.put("java", System.getProperty("java.vm.name") + " " + System.getProperty("java.version"));
    out.put("clip4j_malloc", String.valueOf(System.getProperty("clip4j.malloc")));
    ArrayNode samples = out.putArray("samples");
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(32);
    long t0 = System.nanoTime();
    try (ClipModel model = ClipModel.load(dir);
        ClipEmbedder e = ClipEmbedder.create(model, cfg)) {
      out.put("prep_threads", cfg.prepThreads());
      System.out.println("embeddings rss_mb malloc_heap_mb arenas arenas_mb other_anon_mb javacpp_objects javacpp_mb pool_allocs seconds");
      samples.add(sample(0, e, t0));
      ArrayDeque<CompletableFuture<float[]>> pending = new ArrayDeque<>();
      for (int i = 1; i <= total; i++) {
        if (i % 2 == 1) {
          pending.add(e.embedImage(ImageSource.of(images.get((i / 2) % images.size()), "img" + (i / 2) % images.size())));
        } else {
          pending.add(e.embedText(texts.get((i / 2) % texts.size())));
        }
        if (pending.size() >= IN_FLIGHT) {
          pending.poll().join();
        }
        if (i % every == 0) {
          while (!pending.isEmpty()) {
            pending.poll().join();
          }
          samples.add(sample(i, e, t0));
        }
      }
    }
    ObjectNode half = null;
    ObjectNode end = (ObjectNode) samples.get(samples.size() - 1);
    for (int k = 0; k < samples.size(); k++) {
      if (samples.get(k).path("embeddings").asInt() >= total / 2) {
        half = (ObjectNode) samples.get(k);
        break;
      }
    }
    out.put("seconds", (System.nanoTime() - t0) / 1e9);
    out.put("rss_growth_second_half_mb", end.path("rss_mb").asDouble() - half.path("rss_mb").asDouble());
    out.put("rss_half_mb", half.path("rss_mb").asDouble());
    out.put("rss_end_mb", end.path("rss_mb").asDouble());
    out.put("arenas_growth_second_half_mb", end.path("arenas_mb").asDouble() - half.path("arenas_mb").asDouble());
    out.put("malloc_heap_growth_second_half_mb",
        end.path("malloc_heap_mb").asDouble() - half.path("malloc_heap_mb").asDouble());
    out.put("javacpp_objects_growth_second_half", end.path("javacpp_objects").asLong() - half.path("javacpp_objects").asLong());
    out.put("load_average_at_end", ThroughputBench.loadAverage());
    Files.createDirectories(outFile.toAbsolutePath().getParent());
    json.writeValue(outFile.toFile(), out);
    String md = outFile.getFileName().toString().replaceFirst("\\.json$", "") + ".md";
    Files.writeString(outFile.toAbsolutePath().getParent().resolve(md), markdown(out));
    System.out.printf(Locale.ROOT, "soak: %d embeddings (images and texts) in %.0f s; RSS %.1f MB at half way, %.1f MB at the end:"
        + " growth over the second half %+.1f MB (arenas %+.1f MB, main heap %+.1f MB)%n", total, out.path("seconds").asDouble(),
        out.path("rss_half_mb").asDouble(), out.path("rss_end_mb").asDouble(), out.path("rss_growth_second_half_mb").asDouble(),
        out.path("arenas_growth_second_half_mb").asDouble(), out.path("malloc_heap_growth_second_half_mb").asDouble());
  }

  static String cpuModel() {
    try {
      for (String l : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
        if (l.startsWith("model name")) {
          return l.substring(l.indexOf(':') + 1).trim();
        }
      }
    } catch (IOException e) {
      // not Linux
    }
    return System.getProperty("os.arch");
  }

  /** The run as a short markdown report (one row per tenth of the run). */
  static String markdown(ObjectNode r) {
    StringBuilder sb = new StringBuilder("# clip4j soak: native memory over a long run (one run, this machine)\n\n");
    sb.append(String.format(Locale.ROOT, "%d embeddings (%d images, %d texts, alternating) through one ClipEmbedder"
        + " (%d preparation threads, batches of up to 32, 256 in flight), model %s, on %s (%d processors), %s;"
        + " Java heap fixed at %.0f MB and pre-touched, so RSS changes are native. %.0f s; load average at the end %s."
        + "%n%n", r.path("embeddings").asInt(), r.path("images").asInt(), r.path("texts").asInt(),
        r.path("prep_threads").asInt(), r.path("model").asText(), r.path("cpu").asText(), r.path("processors").asInt(),
        r.path("java").asText(), r.path("java_heap_max_mb").asDouble(), r.path("seconds").asDouble(),
        r.path("load_average_at_end").asText()));
    sb.append(String.format(Locale.ROOT, "**RSS growth over the second half (embedding %d to %d): %+.1f MB** (RSS %.1f ->"
        + " %.1f MB; glibc arenas %+.1f MB, main malloc heap %+.1f MB, JavaCPP native objects %+d).%n%n",
        r.path("embeddings").asInt() / 2, r.path("embeddings").asInt(), r.path("rss_growth_second_half_mb").asDouble(),
        r.path("rss_half_mb").asDouble(), r.path("rss_end_mb").asDouble(), r.path("arenas_growth_second_half_mb").asDouble(),
        r.path("malloc_heap_growth_second_half_mb").asDouble(), r.path("javacpp_objects_growth_second_half").asLong()));
    sb.append("| embeddings | RSS MB | glibc arenas | arenas MB | other anonymous MB | pool buffers made | s |\n");
    sb.append("|---:|---:|---:|---:|---:|---:|---:|\n");
    ArrayNode samples = (ArrayNode) r.path("samples");
    int step = Math.max(1, (samples.size() - 1) / 10);
    for (int i = 0; i < samples.size(); i++) {
      if (i % step != 0 && i != samples.size() - 1) {
        continue;
      }
      var x = samples.get(i);
      sb.append(String.format(Locale.ROOT, "| %d | %.1f | %d | %.1f | %.1f | %d | %.0f |%n", x.path("embeddings").asInt(),
          x.path("rss_mb").asDouble(), x.path("arenas").asInt(), x.path("arenas_mb").asDouble(),
          x.path("other_anon_mb").asDouble(), x.path("pool_allocations").asLong(), x.path("seconds").asDouble()));
    }
    return sb.toString();
  }

  private static ObjectNode sample(int n, ClipEmbedder e, long t0) throws Exception {
    ThroughputBench.settle();
    ObjectNode s = new ObjectMapper().createObjectNode();
    Smaps m = Smaps.read();
    s.put("embeddings", n);
    s.put("rss_mb", ThroughputBench.rssKb() / 1024.0);
    s.put("malloc_heap_mb", m.heapKb / 1024.0);
    s.put("arenas", m.arenas);
    s.put("arenas_mb", m.arenaKb / 1024.0);
    s.put("other_anon_mb", m.otherAnonKb / 1024.0);
    s.put("javacpp_objects", org.bytedeco.javacpp.Pointer.totalCount());
    s.put("javacpp_mb", org.bytedeco.javacpp.Pointer.totalBytes() / 1048576.0);
    s.put("pool_allocations", e.engine().pool().allocations());
    s.put("seconds", (System.nanoTime() - t0) / 1e9);
    System.out.printf(Locale.ROOT, "%d %.1f %.1f %d %.1f %.1f %d %.2f %d %.0f%n", n, s.path("rss_mb").asDouble(),
        s.path("malloc_heap_mb").asDouble(), m.arenas, s.path("arenas_mb").asDouble(), s.path("other_anon_mb").asDouble(),
        s.path("javacpp_objects").asLong(), s.path("javacpp_mb").asDouble(), s.path("pool_allocations").asLong(),
        s.path("seconds").asDouble());
    long pause = Long.getLong("bench.soak.pauseMillis", 0);
    if (pause > 0) {
      // A quiet moment for an outside look (gdb -p PID -batch -ex 'call (void) malloc_stats()'):
      // every thread is idle, so no arena lock is held.
      System.out.println("soak: paused at " + n + " (pid " + ProcessHandle.current().pid() + ")");
      System.out.flush();
      Thread.sleep(pause);
    }
    return s;
  }

  /**
   * Resident anonymous memory by kind, from /proc/self/smaps: glibc's main heap ("[heap]", the
   * brk area), its per-thread arenas (64 MiB-aligned reservations of 64 MiB: a read-write part
   * followed by an inaccessible one), and every other private anonymous mapping (the Java heap,
   * thread stacks, the JIT's code, large mmap'd blocks).
   */
  static final class Smaps {
    long heapKb;
    int arenas;
    long arenaKb;
    long otherAnonKb;

    static Smaps read() throws IOException {
      Smaps s = new Smaps();
      List<String> lines = Files.readAllLines(Path.of("/proc/self/smaps"));
      List<long[]> maps = new ArrayList<>(); // start, end, rssKb, kind (0 other anon, 1 heap, 2 named/file, 3 no-access)
      long[] cur = null;
      for (String l : lines) {
        char c = l.isEmpty() ? ' ' : l.charAt(0);
        if (Character.isDigit(c) || (c >= 'a' && c <= 'f')) { // a mapping's header (fields start upper case)
          String[] f = l.trim().split("\\s+");
          String[] range = f[0].split("-");
          long start = Long.parseUnsignedLong(range[0], 16);
          long end = Long.parseUnsignedLong(range[1], 16);
          String name = f.length > 5 ? f[5] : "";
          long kind = name.equals("[heap]") ? 1 : !name.isEmpty() ? 2 : f[1].startsWith("---") ? 3 : 0;
          cur = new long[] {start, end, 0, kind};
          maps.add(cur);
        } else if (cur != null && l.startsWith("Rss:")) {
          cur[2] = Long.parseLong(l.replaceAll("[^0-9]", ""));
        }
      }
      for (int i = 0; i < maps.size(); i++) {
        long[] m = maps.get(i);
        if (m[3] == 1) {
          s.heapKb += m[2];
        } else if (m[3] == 0) {
          boolean arena = m[0] % ARENA_BYTES == 0 && i + 1 < maps.size() && maps.get(i + 1)[3] == 3
              && maps.get(i + 1)[0] == m[1] && maps.get(i + 1)[1] - m[0] == ARENA_BYTES;
          arena |= m[0] % ARENA_BYTES == 0 && m[1] - m[0] == ARENA_BYTES; // an arena grown to its full size
          if (arena) {
            s.arenas++;
            s.arenaKb += m[2];
          } else {
            s.otherAnonKb += m[2];
          }
        }
      }
      return s;
    }
  }

  /** Distinct encoded images: JPEG and PNG, 160..480 pixels a side, gradients and shapes. */
  static List<byte[]> images(int n) throws IOException {
    Random r = new Random(11);
    List<byte[]> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int w = 160 + r.nextInt(321);
      int h = 160 + r.nextInt(321);
      BufferedImage img = new BufferedImage(w, h, BufferedImage.TYPE_INT_RGB);
      int c1 = r.nextInt(1 << 24);
      for (int y = 0; y < h; y++) {
        for (int x = 0; x < w; x++) {
          img.setRGB(x, y, (c1 + x * 3 + y * 5 * 256 + (x ^ y)) & 0xFFFFFF);
        }
      }
      Graphics2D g = img.createGraphics();
      for (int k = 0; k < 6; k++) {
        g.setColor(new Color(r.nextInt(1 << 24)));
        g.fillOval(r.nextInt(w), r.nextInt(h), 10 + r.nextInt(w / 2), 10 + r.nextInt(h / 2));
      }
      g.dispose();
      ByteArrayOutputStream bytes = new ByteArrayOutputStream();
      ImageIO.write(img, i % 2 == 0 ? "jpeg" : "png", bytes);
      out.add(bytes.toByteArray());
    }
    return out;
  }

  /** Distinct captions of 2..60 words (every text length bucket). */
  static List<String> texts(int n) {
    Random r = new Random(12);
    List<String> words = new ArrayList<>();
    for (String t : RandomModels.SAMPLE_TEXTS) {
      words.addAll(List.of(t.split(" ")));
    }
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      int len = 2 + r.nextInt(59);
      StringBuilder sb = new StringBuilder();
      for (int k = 0; k < len; k++) {
        sb.append(k == 0 ? "" : " ").append(words.get(r.nextInt(words.size())));
      }
      out.add(sb.toString());
    }
    return out;
  }
}
