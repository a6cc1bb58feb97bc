package dev.clip4j.preprocess;

import java.lang.reflect.Field;
import java.lang.reflect.Method;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayList;
import java.util.List;

/**
 * Native memory for the pixels of images that are decoded only to be preprocessed at once
 * ({@link ImagePreprocessor#decodeAndPreprocessInto}): one growable block per thread, reused from
 * image to image, plus one-off blocks for images larger than {@link #MAX_KEPT_BYTES}, freed as
 * soon as the image is done. Nothing here waits for a garbage collection.
 *
 * <p>Why: a direct {@code ByteBuffer} per decoded image is freed only when the GC finds it, so
 * between collections a preparation thread's malloc arena fills with dead pixel buffers
 * interleaved with live allocations, and glibc keeps those pages: a long-running embedder's RSS
 * crept up by tens of MB per 10k images while the bytes in use stayed flat (see the soak figures
 * in benchmarks/results). With the pixels in reused memory that churn is gone.
 *
 * <p>Usage: {@code try (PixelScratch.Scope s = PixelScratch.open()) { decode; preprocess; }}: every
 * {@link ImageDecoder#alloc} on this thread inside the scope comes from here and must not be used
 * after the scope closes. Scopes do not nest. Each thread keeps its block (at most {@link
 * #MAX_KEPT_BYTES}) for its life.
 */
final class PixelScratch {
  /** The largest block a thread keeps between images (a 2048 x 2048 RGBA image). */
  static final long MAX_KEPT_BYTES = 16L << 20;

  private static final ThreadLocal<PixelScratch> THREAD = ThreadLocal.withInitial(PixelScratch::new);
  private static final Method INVOKE_CLEANER;
  private static final Object UNSAFE;

  static {
    // sun.misc.Unsafe.invokeCleaner (jdk.unsupported, Java 9+): frees a direct buffer now. Without
    // it, one-off and replaced blocks are left to the GC like any direct buffer.
    Method m = null;
    Object u = null;
    try {
      Class<?> c = Class.forName("sun.misc.Unsafe");
      Field f = c.getDeclaredField("theUnsafe");
      f.setAccessible(true);
      u = f.get(null);
      m = c.getMethod("invokeCleaner", ByteBuffer.class);
    } catch (ReflectiveOperationException | RuntimeException e) {
      m = null;
      u = null;
    }
    INVOKE_CLEANER = m;
    UNSAFE = u;
  }

  private ByteBuffer block; // kept between images
  private long used;
  private long needed; // bytes the current image asked for in all
  private boolean open;
  private final List<ByteBuffer> oneOff = new ArrayList<>();

  private PixelScratch() {}

  /** Opens this thread's scope. */
  static Scope open() {
    PixelScratch s = THREAD.get();
    if (s.open) {
      throw new IllegalStateException("PixelScratch scopes do not nest");
    }
    s.open = true;
    s.used = 0;
    s.needed = 0;
    return new Scope(s);
  }

  /** This thread's open scratch, or null (the decoder then allocates ordinary direct buffers). */
  static PixelScratch current() {
    PixelScratch s = THREAD.get();
    return s.open ? s : null;
  }

  private long capacity() {
    return block == null ? 0 : block.capacity();
  }

  /** {@code bytes} of native memory in native byte order, valid until the scope closes. */
  ByteBuffer allocate(long bytes) {
    long size = (bytes + 63) & ~63L; // every block 64-byte aligned within the kept one
    needed += size;
    if (used + size <= capacity()) {
      ByteBuffer b = block.duplicate().limit((int) (used + bytes)).position((int) used).slice();
      used += size;
      return b.order(ByteOrder.nativeOrder());
    }
    ByteBuffer b = ByteBuffer.allocateDirect(Math.toIntExact(bytes));
    oneOff.add(b);
    return b.order(ByteOrder.nativeOrder());
  }

  private void close() {
    for (ByteBuffer b : oneOff) {
      free(b);
    }
    oneOff.clear();
    if (needed > capacity() && needed <= MAX_KEPT_BYTES) {
      // Grow to what this image needed (at least 1 MiB), so the next of its size allocates nothing.
      if (block != null) {
        free(block);
      }
      block = ByteBuffer.allocateDirect((int) Math.max(needed, 1L << 20));
    }
    used = 0;
    open = false;
  }

  private static void free(ByteBuffer b) {
    if (INVOKE_CLEANER != null) {
      try {
        INVOKE_CLEANER.invoke(UNSAFE, b);
      } catch (ReflectiveOperationException | RuntimeException e) {
        // left to the GC
      }
    }
  }

  /** The bytes this thread keeps between images. */
  long keptBytes() {
    return capacity();
  }

  /** A decode-and-preprocess scope on one thread. */
  static final class Scope implements AutoCloseable {
    private final PixelScratch scratch;
    private boolean closed;

    private Scope(PixelScratch scratch) {
      this.scratch = scratch;
    }

    /** Frees the one-off blocks; the memory handed out must not be used any more. */
    @Override
    public void close() {
      if (!closed) {
        closed = true;
        scratch.close();
      }
    }
  }
}
