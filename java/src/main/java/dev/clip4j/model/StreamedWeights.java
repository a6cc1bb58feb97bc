package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.util.AbstractMap;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.function.Function;
import org.bytedeco.pytorch.Tensor;

/**
 * A model's weights read one tensor at a time while its towers are built: {@link #get} reads the
 * named tensor from the file now and hands the caller a new tensor to close once it has taken what
 * it keeps (the packed kernels copy it into their layout, TorchScript towers register it). So
 * loading holds the built model plus one tensor, not the whole file a second and third time.
 * {@link #shapes()} comes from the file's header and is what is validated before anything is read.
 * Every tensor is checked finite as it is read. Used on one thread, by the builder.
 */
final class StreamedWeights extends AbstractMap<String, Tensor> implements AutoCloseable {
  private final Map<String, long[]> shapes;
  private final Function<String, Tensor> read;
  private final Runnable close;
  private final String source;
  /** Bytes read since free heap was last given back (see {@link #releaseFreeHeap}). */
  private long sinceTrim;
  /** Between trims: the tensors read since were freed by the builder, their pages are free heap. */
  private static final long TRIM_EVERY_BYTES = 32L << 20;

  /**
   * @param shapes every tensor's shape, by open_clip name (from the header: nothing read)
   * @param read reads one tensor as a new CPU tensor the caller owns
   * @param close releases what the reader holds open
   * @param source names the weights in messages
   */
  StreamedWeights(Map<String, long[]> shapes, Function<String, Tensor> read, Runnable close, String source) {
    this.shapes = Collections.unmodifiableMap(new LinkedHashMap<>(shapes));
    this.read = read;
    this.close = close;
    this.source = source;
  }

  /** Names and shapes, from the header. */
  Map<String, long[]> shapes() {
    return shapes;
  }

  /** Reads {@code name} now: a new tensor the caller closes; checked finite. */
  @Override
  public Tensor get(Object name) {
    if (!(name instanceof String key) || !shapes.containsKey(key)) {
      throw new InvalidModelException(source + ": no weight '" + name + "'");
    }
    if (sinceTrim >= TRIM_EVERY_BYTES) {
      releaseFreeHeap();
    }
    Tensor t = read.apply(key);
    sinceTrim += t.nbytes();
    try {
      checkFinite(source, key, t);
    } catch (InvalidModelException e) {
      t.close();
      throw e;
    }
    return t;
  }

  /** Refuses a weight holding NaN or Inf, naming it. */
  static void checkFinite(String source, String name, Tensor t) {
    try (Tensor finite = org.bytedeco.pytorch.global.torch.isfinite(t); Tensor all = finite.all()) {
      if (!all.item_bool()) {
        throw new InvalidModelException(source + ": weight '" + name + "' contains NaN or Inf values");
      }
    }
  }

  @Override
  public boolean containsKey(Object name) {
    return shapes.containsKey(name);
  }

  /** Not supported: iterating would read every tensor at once. */
  @Override
  public Set<Entry<String, Tensor>> entrySet() {
    throw new UnsupportedOperationException("streamed weights are read by name (see shapes())");
  }

  @Override
  public int size() {
    return shapes.size();
  }

  @Override
  public void close() {
    try {
      close.run();
    } finally {
      releaseFreeHeap();
    }
  }

  /**
   * Gives the freed tensors' pages back to the OS: glibc raises its mmap threshold as large
   * blocks are freed, so later weight-sized buffers come from the heap and stay resident once
   * freed (measured: ViT-B-32 from an HF directory kept 1.53x the weights resident after loading,
   * 1.1x with the pages given back). Process-wide malloc settings are left alone.
   */
  private void releaseFreeHeap() {
    sinceTrim = 0;
    dev.clip4j.jni.Clip4jNative.clip4j_release_free_memory((org.bytedeco.javacpp.IntPointer) null);
  }
}
