package dev.clip4j.bench;

import dev.clip4j.Engine;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.RandomModels;
import java.lang.management.BufferPoolMXBean;
import java.lang.management.ManagementFactory;
import java.lang.management.MemoryMXBean;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import org.bytedeco.javacpp.Pointer;

/**
 * Where steady-state memory goes (not a test, no timings): streams text requests through a
 * {@link ClipEmbedder} over a random-weight model with a 512-wide text tower and prints, every
 * {@code every} requests, RSS, the Java heap, direct buffers, JavaCPP's live native objects and
 * bytes, and the pool counters. Usage:
 *
 * <pre>
 *   java -cp ... dev.clip4j.bench.SteadyStateBench WORKDIR [requests=20000] [array|into] [every=2000] [gc]
 * </pre>
 *
 * {@code gc} runs System.gc() before each sample (JavaCPP objects nobody closed are freed only
 * then). Run with and without {@code MALLOC_ARENA_MAX} to see the allocator's share.
 */
public final class SteadyStateBench {
  private SteadyStateBench() {}

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    int total = args.length > 1 ? Integer.parseInt(args[1]) : 20000;
    boolean into = args.length > 2 && args[2].equals("into");
    int every = args.length > 3 ? Integer.parseInt(args[3]) : 2000;
    boolean gc = args.length > 4 && args[4].equals("gc");
    Engine.ensureInitialized();
    Path dir = work.resolve("steady-state-model");
    if (!Files.isRegularFile(dir.resolve("open_clip_model.safetensors"))) {
      // ViT-B-32's text tower width (512) and embedding width, 4 layers, a tiny image tower.
      RandomModels.write(dir, new RandomModels.Spec("steady-state", 512, 64, 32, 64, 1, 512, 8, 4, 77, 49408, true), 7);
    }
    Random rng = new Random(1);
    long[][] queries = new long[256][];
    for (int i = 0; i < queries.length; i++) {
      long[] q = new long[8];
      q[0] = 49406;
      int real = 3 + rng.nextInt(6);
      for (int j = 1; j < real - 1; j++) {
        q[j] = 1 + rng.nextInt(40000);
      }
      q[real - 1] = 49407;
      queries[i] = q;
    }
    EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(32).withMaxDelay(Duration.ofMillis(2));
    try (ClipModel model = ClipModel.load(dir);
        ClipEmbedder e = ClipEmbedder.create(model, cfg)) {
      int d = (int) model.embedDim();
      FloatBuffer dst = ByteBuffer.allocateDirect(256 * d * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
      System.out.println("requests rss_mb heap_used_mb heap_committed_mb direct_mb javacpp_objects javacpp_mb physical_mb pool_allocs pool_reuses");
      sample(0, e, gc);
      List<CompletableFuture<?>> pending = new ArrayList<>(256);
      for (int i = 1; i <= total; i++) {
        long[] q = queries[i % queries.length];
        if (into) {
          FloatBuffer slot = dst.duplicate().position(pending.size() * d);
          pending.add(e.engine().submitInto("texts-8", q, slot));
        } else {
          pending.add(e.engine().submit("texts-8", q));
        }
        if (pending.size() == 256) {
          pending.forEach(CompletableFuture::join);
          pending.clear();
        }
        if (i % every == 0) {
          pending.forEach(CompletableFuture::join);
          pending.clear();
          sample(i, e, gc);
        }
      }
    }
  }

  private static void sample(int n, ClipEmbedder e, boolean gc) throws Exception {
    if (gc) {
      System.gc();
      Thread.sleep(200); // let JavaCPP's deallocator thread drain the references the GC found
    }
    MemoryMXBean mem = ManagementFactory.getMemoryMXBean();
    long direct = 0;
    for (BufferPoolMXBean b : ManagementFactory.getPlatformMXBeans(BufferPoolMXBean.class)) {
      if (b.getName().equals("direct")) {
        direct = b.getMemoryUsed();
      }
    }
    System.out.printf("%d %.1f %.1f %.1f %.2f %d %.2f %.1f %d %d%n", n, ThroughputBench.rssKb() / 1024.0,
        mem.getHeapMemoryUsage().getUsed() / 1048576.0, mem.getHeapMemoryUsage().getCommitted() / 1048576.0,
        direct / 1048576.0, Pointer.totalCount(), Pointer.totalBytes() / 1048576.0, Pointer.physicalBytes() / 1048576.0,
        e.engine().pool().allocations(), e.engine().pool().reuses());
  }
}
