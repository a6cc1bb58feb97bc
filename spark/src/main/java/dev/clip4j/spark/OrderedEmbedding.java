package dev.clip4j.spark;

import dev.clip4j.Clip4jException;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.Deque;
import java.util.Iterator;
import java.util.NoSuchElementException;
import java.util.concurrent.CancellationException;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.function.Function;
import org.apache.spark.TaskContext;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;

/**
 * One partition's rows through the executor's shared embedder: inputs are submitted ahead, at
 * most {@code window} in flight (each holds its encoded bytes or tokens until done), and rows
 * come out in input order as each future completes: the kept columns, then (images) {@code
 * sha256}, then {@code embedding} ({@code float[]}, null on error) and {@code error}
 * ({@code CODE: message}, null when embedded). A bad input never fails the task.
 *
 * <p>Fault injection for the retry tests: with {@code spark.clip4j.test.failFirstAttemptAfterRows=N}
 * as a job-local property ({@code SparkContext.setLocalProperty}) or in the Spark conf, the first
 * attempt of partition {@code spark.clip4j.test.failPartition} (default 0) throws after emitting N
 * rows; Spark retries it. Never set in production.
 */
final class OrderedEmbedding<I> implements Iterator<Row> {
  /** What one input became: the kept column values, its hash, and the embedding to wait for. */
  record Pending(Object[] kept, String sha256, CompletableFuture<float[]> embedding) {}

  private final Iterator<I> inputs;
  private final Function<I, Pending> submit;
  private final int window;
  private final boolean withSha;
  private final EmbedMetrics metrics;
  private final Deque<Pending> inFlight = new ArrayDeque<>();
  private final long start = System.nanoTime();
  private final int failAfter;
  private long rows;
  private long errors;
  private boolean done;

  OrderedEmbedding(Iterator<I> inputs, Function<I, Pending> submit, int window, boolean withSha, EmbedMetrics metrics) {
    this.inputs = inputs;
    this.submit = submit;
    this.window = window;
    this.withSha = withSha;
    this.metrics = metrics;
    this.failAfter = injectedFailure();
    TaskContext tc = TaskContext.get();
    if (tc != null) {
      // A killed or failed task stops waiting: its queued requests are cancelled (the embedder drops them).
      tc.addTaskCompletionListener((org.apache.spark.util.TaskCompletionListener) ctx -> cancelAll());
    }
  }

  private static int injectedFailure() {
    TaskContext tc = TaskContext.get();
    org.apache.spark.SparkEnv env = org.apache.spark.SparkEnv.get();
    if (tc == null || env == null || tc.attemptNumber() != 0) {
      return -1;
    }
    String n = setting(tc, env, "spark.clip4j.test.failFirstAttemptAfterRows", "");
    if (n.isEmpty() || tc.partitionId() != Integer.parseInt(setting(tc, env, "spark.clip4j.test.failPartition", "0"))) {
      return -1;
    }
    return Integer.parseInt(n);
  }

  private static String setting(TaskContext tc, org.apache.spark.SparkEnv env, String key, String dflt) {
    String local = tc.getLocalProperty(key);
    return local != null ? local : env.conf().get(key, dflt);
  }

  private void fill() {
    while (inFlight.size() < window && inputs.hasNext()) {
      inFlight.add(submit.apply(inputs.next()));
    }
  }

  @Override
  public boolean hasNext() {
    fill();
    if (inFlight.isEmpty() && !done) {
      done = true;
      if (metrics != null) {
        metrics.taskDone(rows, errors, start, System.nanoTime());
      }
    }
    return !inFlight.isEmpty();
  }

  @Override
  public Row next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    if (rows == failAfter) {
      throw new IllegalStateException("clip4j fault injection: first attempt of partition "
          + TaskContext.get().partitionId() + " fails after " + failAfter + " rows");
    }
    Pending p = inFlight.poll();
    float[] embedding = null;
    String error = null;
    try {
      embedding = p.embedding().join();
    } catch (CompletionException | CancellationException e) {
      error = describe(e instanceof CompletionException && e.getCause() != null ? e.getCause() : e);
      errors++;
    }
    rows++;
    Object[] out = Arrays.copyOf(p.kept(), p.kept().length + (withSha ? 3 : 2));
    int i = p.kept().length;
    if (withSha) {
      out[i++] = p.sha256();
    }
    out[i++] = embedding;
    out[i] = error;
    return RowFactory.create(out);
  }

  /** {@code CODE: message} for the error column. */
  static String describe(Throwable t) {
    if (t instanceof Clip4jException c) {
      return c.code() + ": " + c.getMessage();
    }
    return "INTERNAL: " + t;
  }

  private void cancelAll() {
    for (Pending p : inFlight) {
      p.embedding().cancel(false);
    }
    inFlight.clear();
  }
}
