package dev.clip4j.spark;

import java.io.Serializable;
import java.util.Map;
import java.util.TreeMap;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.util.CollectionAccumulator;
import org.apache.spark.util.LongAccumulator;

/**
 * Progress of an embedding job as Spark accumulators (visible in the Spark UI's stage pages as
 * {@code clip4j.rows}, {@code clip4j.errors}, {@code clip4j.nanos}): rows produced, error rows,
 * and the task time spent, plus one entry per finished task naming its executor JVM, the models
 * that JVM has loaded so far, its rows and its time. Accumulator updates of retried tasks are
 * counted as Spark counts them (once per successful task in an action); the committed output
 * is the exact truth.
 */
public final class EmbedMetrics implements Serializable {
  private static final long serialVersionUID = 1L;
  final LongAccumulator rows;
  final LongAccumulator errors;
  final LongAccumulator nanos;
  final CollectionAccumulator<String> tasks;

  private EmbedMetrics(SparkSession spark) {
    rows = spark.sparkContext().longAccumulator("clip4j.rows");
    errors = spark.sparkContext().longAccumulator("clip4j.errors");
    nanos = spark.sparkContext().longAccumulator("clip4j.nanos");
    tasks = spark.sparkContext().collectionAccumulator("clip4j.tasks");
  }

  /** Registers fresh accumulators with {@code spark}'s context. */
  public static EmbedMetrics register(SparkSession spark) {
    return new EmbedMetrics(spark);
  }

  /** Rows produced so far (embedded + errors). */
  public long rows() {
    return rows.value();
  }

  /** Error rows so far. */
  public long errors() {
    return errors.value();
  }

  /** Executor JVM ({@code host/pid}) to the number of models it had loaded at its last task. */
  public Map<String, Integer> modelLoadsPerExecutor() {
    Map<String, Integer> m = new TreeMap<>();
    for (String t : tasks.value()) {
      String[] f = t.split(" ");
      m.merge(f[0], Integer.parseInt(f[1]), Math::max);
    }
    return m;
  }

  /**
   * Executor JVM to rows/s from its first task's start to its last task's end (its tasks run
   * concurrently, so this is the JVM's throughput, not a per-task rate).
   */
  public Map<String, Double> rowsPerSecondPerExecutor() {
    Map<String, long[]> acc = new TreeMap<>();
    for (String t : tasks.value()) {
      String[] f = t.split(" ");
      long[] a = acc.computeIfAbsent(f[0], k -> new long[] {0, Long.MAX_VALUE, Long.MIN_VALUE});
      a[0] += Long.parseLong(f[2]);
      a[1] = Math.min(a[1], Long.parseLong(f[3]));
      a[2] = Math.max(a[2], Long.parseLong(f[4]));
    }
    Map<String, Double> m = new TreeMap<>();
    acc.forEach((k, a) -> m.put(k, a[2] <= a[1] ? 0.0 : a[0] / ((a[2] - a[1]) / 1e9)));
    return m;
  }

  /** A task's totals; {@code startNanos}/{@code endNanos} are this JVM's {@link System#nanoTime()}. */
  void taskDone(long taskRows, long taskErrors, long startNanos, long endNanos) {
    rows.add(taskRows);
    errors.add(taskErrors);
    nanos.add(endNanos - startNanos);
    tasks.add(jvm() + " " + ExecutorModels.loadCount() + " " + taskRows + " " + startNanos + " " + endNanos);
  }

  static String jvm() {
    String host;
    try {
      host = java.net.InetAddress.getLocalHost().getHostName();
    } catch (java.io.IOException e) {
      host = "localhost";
    }
    return host + "/" + ProcessHandle.current().pid();
  }
}
