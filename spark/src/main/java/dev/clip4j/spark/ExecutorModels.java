package dev.clip4j.spark;

import dev.clip4j.Engine;
import dev.clip4j.batch.ClipEmbedder;
import dev.clip4j.batch.EmbedderConfig;
import dev.clip4j.model.ClipModel;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * The models of this JVM (an executor, or the driver in local mode): one {@link ClipModel} and
 * one micro-batching {@link ClipEmbedder} per (model, load settings, device, batch size), loaded
 * lazily by the first task that needs it and shared by every later task of the JVM, so
 * concurrent tasks fill each other's batches. Closed at JVM exit (a shutdown hook: embedders
 * first, then models). Never serialized: tasks carry a {@link ModelRef} and look the model up
 * here.
 */
public final class ExecutorModels {
  private record Key(ModelRef model, String device, int batchSize, int prepThreads) {}

  /** A loaded model and its embedder. */
  record Loaded(ClipModel model, ClipEmbedder embedder) {}

  private static final Map<Key, Loaded> LOADED = new ConcurrentHashMap<>();
  private static final AtomicInteger LOADS = new AtomicInteger();
  private static final Object HOOK_LOCK = new Object();
  private static boolean hookInstalled;

  private ExecutorModels() {}

  /** The shared model for {@code ref} on {@code device}, loading it on first use (once per JVM). */
  static Loaded get(ModelRef ref, String device, EmbedOptions options) {
    int prep = options.prepThreads() > 0 ? options.prepThreads() : executorCores();
    Key key = new Key(ref, device, options.batchSize(), prep);
    Loaded l = LOADED.get(key);
    if (l != null) {
      return l;
    }
    // computeIfAbsent holds the bin lock while loading: concurrent first tasks wait for one load.
    return LOADED.computeIfAbsent(key, k -> {
      installHook();
      Engine.ensureInitialized();
      ClipModel model = ClipModel.load(ref.localPath(), ref.loadOptions(device));
      try {
        // Each task holds at most window() requests: a queue for several times the executor's
        // concurrent tasks never rejects one (admission blocking would turn load into error rows).
        EmbedderConfig cfg = EmbedderConfig.defaults().withMaxBatchSize(options.batchSize()).withPrepThreads(prep)
            .withQueueCapacity(Math.max(4096, 4 * executorCores() * options.window()));
        ClipEmbedder embedder = ClipEmbedder.create(model, cfg);
        LOADS.incrementAndGet();
        return new Loaded(model, embedder);
      } catch (RuntimeException e) {
        model.close();
        throw e;
      }
    });
  }

  /** How many models this JVM has loaded (for tests and the per-executor summary). */
  public static int loadCount() {
    return LOADS.get();
  }

  /** The cores one executor runs tasks on: {@code spark.executor.cores}, else the JVM's processors. */
  static int executorCores() {
    int cpus = Runtime.getRuntime().availableProcessors();
    org.apache.spark.SparkEnv env = org.apache.spark.SparkEnv.get();
    if (env == null) {
      return cpus;
    }
    try {
      return Math.max(1, Integer.parseInt(env.conf().get("spark.executor.cores", String.valueOf(cpus))));
    } catch (NumberFormatException e) {
      return cpus;
    }
  }

  private static void installHook() {
    synchronized (HOOK_LOCK) {
      if (hookInstalled) {
        return;
      }
      hookInstalled = true;
      Runtime.getRuntime().addShutdownHook(new Thread(ExecutorModels::closeAll, "clip4j-spark-close-models"));
    }
  }

  /** Closes every model of this JVM (embedders first); later tasks load again. */
  public static void closeAll() {
    List<Loaded> all = new ArrayList<>(LOADED.values());
    LOADED.clear();
    for (Loaded l : all) {
      try {
        l.embedder().close();
      } catch (RuntimeException ignored) {
        // closing at exit: nothing to report to
      }
    }
    for (Loaded l : all) {
      try {
        l.model().close();
      } catch (RuntimeException ignored) {
        // closing at exit
      }
    }
  }
}
