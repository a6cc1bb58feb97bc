package dev.clip4j.batch;

import dev.clip4j.DeviceException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.ArrayDeque;
import java.util.Arrays;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.Objects;
import org.bytedeco.pytorch.BoolOptional;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.DeviceOptional;
import org.bytedeco.pytorch.MemoryFormatOptional;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/**
 * A bounded pool of preallocated LibTorch tensors, keyed by (shape, dtype, device, pinned). Batch
 * buffers (images [B,3,H,W] float32, tokens [B,L] int64, outputs [B,D] float32) are taken with
 * {@link #acquire}, filled in place through their data pointer, and returned with {@link
 * Lease#close()}, so steady state allocates no native memory.
 *
 * <p>Accounting: every byte the pool holds (leased or idle) counts against the cap given at
 * construction. When an acquire would exceed it, idle buffers of other shapes are freed first;
 * if that is not enough, a {@link DeviceException} ({@link ErrorCode#OUT_OF_MEMORY}) carrying the
 * numbers is thrown. {@link #bytesHeld()}, {@link #bytesInUse()}, {@link #highWater()}, {@link
 * #allocations()} and {@link #reuses()} are the gauges.
 *
 * <p>Thread safety: all methods are thread-safe. The pool owns its tensors; {@link #close()}
 * frees idle buffers at once and leased ones when they come back.
 */
public final class TensorPool implements AutoCloseable {
  private final long capBytes;
  private final Map<Key, ArrayDeque<Tensor>> idle = new HashMap<>();
  // Host memory views of pooled CPU tensors, made once per allocation (no per-lease objects).
  private final Map<Tensor, ByteBuffer> views = new java.util.IdentityHashMap<>();
  private long held;
  private long inUse;
  private long highWater;
  private long allocations;
  private long reuses;
  private boolean closed;

  /** A pool that may hold at most {@code capBytes} bytes. */
  public TensorPool(long capBytes) {
    if (capBytes <= 0) {
      throw new IllegalArgumentException("capBytes must be > 0, got " + capBytes);
    }
    Engine.ensureInitialized();
    this.capBytes = capBytes;
  }

  private record Key(ScalarType dtype, String device, boolean pinned, long[] shape) {
    @Override
    public boolean equals(Object o) {
      return o instanceof Key k && k.dtype == dtype && k.pinned == pinned && k.device.equals(device)
          && Arrays.equals(k.shape, shape);
    }

    @Override
    public int hashCode() {
      return Objects.hash(dtype, device, pinned, Arrays.hashCode(shape));
    }

    long bytes() {
      long n = elementSize(dtype);
      for (long d : shape) {
        n = Math.multiplyExact(n, d);
      }
      return n;
    }
  }

  /** A leased tensor; return it with {@link #close()} (idempotent). Use from one thread at a time. */
  public final class Lease implements AutoCloseable {
    private final Key key;
    private Tensor tensor;

    private Lease(Key key, Tensor tensor) {
      this.key = key;
      this.tensor = tensor;
    }

    /** The pooled tensor (contiguous, uninitialised contents). */
    public Tensor tensor() {
      if (tensor == null) {
        throw new IllegalStateException("lease already returned");
      }
      return tensor;
    }

    /** Bytes of the tensor. */
    public long bytes() {
      return key.bytes();
    }

    /**
     * The tensor's memory as a native-order direct buffer (CPU tensors; null on a device), made
     * once when the tensor was allocated. Shared by every lease of this tensor: use absolute
     * access or views of your own (position, limit and order of the returned duplicate are yours).
     */
    public ByteBuffer buffer() {
      ByteBuffer b;
      synchronized (TensorPool.this) {
        b = views.get(tensor());
      }
      return b == null ? null : b.duplicate().order(ByteOrder.nativeOrder());
    }

    /** The tensor's shape (a copy). */
    public long[] shape() {
      return key.shape.clone();
    }

    @Override
    public void close() {
      Tensor t = tensor;
      if (t == null) {
        return;
      }
      tensor = null;
      release(key, t);
    }
  }

  /** Leases a CPU tensor of {@code shape} and {@code dtype}. */
  public Lease acquire(ScalarType dtype, long... shape) {
    return acquire(dtype, "cpu", false, shape);
  }

  /**
   * Leases a tensor. {@code pinned} asks for page-locked host memory (for non-blocking copies
   * to CUDA); it is ignored for device tensors.
   */
  public Lease acquire(ScalarType dtype, String device, boolean pinned, long... shape) {
    Objects.requireNonNull(dtype, "dtype");
    Objects.requireNonNull(device, "device");
    for (long d : shape) {
      if (d < 0) {
        throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
      }
    }
    Key key = new Key(dtype.intern(), device, pinned && device.startsWith("cpu"), shape.clone());
    long bytes = key.bytes();
    synchronized (this) {
      if (closed) {
        throw new IllegalStateException("TensorPool is closed");
      }
      ArrayDeque<Tensor> q = idle.get(key);
      if (q != null && !q.isEmpty()) {
        Tensor t = q.pop();
        inUse += bytes;
        reuses++;
        return new Lease(key, t);
      }
      if (held + bytes > capBytes) {
        evictIdle(held + bytes - capBytes);
      }
      if (held + bytes > capBytes) {
        throw new DeviceException(ErrorCode.OUT_OF_MEMORY, String.format(
            "TensorPool cap exceeded: requested %d bytes for %s %s on %s; held %d (in use %d), cap %d",
            bytes, dtype.intern(), Arrays.toString(shape), device, held, inUse, capBytes));
      }
      held += bytes;
      inUse += bytes;
      highWater = Math.max(highWater, held);
      allocations++;
    }
    try {
      Tensor t;
      try (Device dev = new Device(device);
          DeviceOptional devOpt = new DeviceOptional(dev);
          BoolOptional pin = new BoolOptional(key.pinned);
          TensorOptions dtypeOpts = new TensorOptions(key.dtype);
          TensorOptions devOpts = dtypeOpts.device(devOpt);
          TensorOptions o = devOpts.pinned_memory(pin);
          MemoryFormatOptional format = new MemoryFormatOptional()) {
        t = torch.empty(shape, o, format);
      }
      if (t.is_cpu()) {
        ByteBuffer view = dev.clip4j.internal.HostTensors.bytes(t, "pooled tensor").capacity(bytes).asByteBuffer()
            .order(ByteOrder.nativeOrder());
        synchronized (this) {
          views.put(t, view);
        }
      }
      return new Lease(key, t);
    } catch (RuntimeException e) {
      synchronized (this) {
        held -= bytes;
        inUse -= bytes;
      }
      throw new DeviceException(ErrorCode.OUT_OF_MEMORY,
          "allocating " + bytes + " bytes on " + device + " failed: " + e.getMessage(), e);
    }
  }

  private synchronized void release(Key key, Tensor t) {
    long bytes = key.bytes();
    inUse -= bytes;
    if (closed) {
      held -= bytes;
      free(t);
      return;
    }
    idle.computeIfAbsent(key, k -> new ArrayDeque<>()).push(t);
  }

  private void evictIdle(long needed) {
    long freed = 0;
    for (Iterator<Map.Entry<Key, ArrayDeque<Tensor>>> it = idle.entrySet().iterator(); it.hasNext() && freed < needed;) {
      Map.Entry<Key, ArrayDeque<Tensor>> e = it.next();
      long b = e.getKey().bytes();
      ArrayDeque<Tensor> q = e.getValue();
      while (!q.isEmpty() && freed < needed) {
        free(q.pop());
        held -= b;
        freed += b;
      }
      if (q.isEmpty()) {
        it.remove();
      }
    }
  }

  /** Bytes the pool holds (leased + idle). */
  public synchronized long bytesHeld() {
    return held;
  }

  /** Bytes currently leased. */
  public synchronized long bytesInUse() {
    return inUse;
  }

  /** The most bytes ever held at once. */
  public synchronized long highWater() {
    return highWater;
  }

  /** Native allocations made (steady state: constant). */
  public synchronized long allocations() {
    return allocations;
  }

  /** Acquisitions served from idle buffers. */
  public synchronized long reuses() {
    return reuses;
  }

  /** The byte cap. */
  public long capBytes() {
    return capBytes;
  }

  /** Frees idle buffers now and leased ones as they are returned. Idempotent. */
  @Override
  public synchronized void close() {
    if (closed) {
      return;
    }
    closed = true;
    for (Map.Entry<Key, ArrayDeque<Tensor>> e : idle.entrySet()) {
      for (Tensor t : e.getValue()) {
        held -= e.getKey().bytes();
        free(t);
      }
    }
    idle.clear();
  }

  private void free(Tensor t) { // holding the lock
    views.remove(t);
    t.close();
  }

  static long elementSize(ScalarType t) {
    switch (t) {
      case Double:
      case Long:
        return 8;
      case Float:
      case Int:
        return 4;
      case Half:
      case BFloat16:
      case Short:
        return 2;
      case Byte:
      case Char:
      case Bool:
        return 1;
      default:
        throw new IllegalArgumentException("unsupported dtype " + t);
    }
  }
}
