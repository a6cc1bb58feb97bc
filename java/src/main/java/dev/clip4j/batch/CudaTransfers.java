package dev.clip4j.batch;

import dev.clip4j.internal.Devices;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.cuda.CUDAEvent;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.cuda.CUDAStreamGuard;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * The host/device copies of one CUDA device, shared by every lane on it (one instance per device,
 * keyed by its canonical name {@code cuda:N}, so lanes on {@code cuda} and {@code cuda:0} share
 * it when device 0 is current): two streams of LibTorch's pool, one for copies and one for compute.
 *
 * <p>Double buffering: an assembler thread {@link #stage stages} a prepared batch (pinned host
 * memory) into a pooled device buffer on the copy stream and records an event; the model thread
 * makes the compute stream current, {@link #await awaits} that event on the device (the compute
 * stream waits, the host does not), runs the towers and the fused head, and copies the rows back
 * into pinned host memory with {@link #toHost}, whose synchronisation is the batch's only host
 * sync. So the copy of batch k+1 overlaps the compute of batch k. Only created for CUDA lanes, so
 * CPU-only installations never load LibTorch's CUDA bindings; where they cannot work every call
 * throws {@link dev.clip4j.DeviceException} ({@link dev.clip4j.ErrorCode#DEVICE}). Thread safety:
 * {@link #stage} from any thread; the other methods from the model thread only.
 */
final class CudaTransfers {
  private final String device;
  private final CUDAStream compute;
  private final CUDAStream copy;

  /** @param device a canonical {@code cuda:N} (see {@link Devices#canonical}) */
  CudaTransfers(String device) {
    this.device = device;
    byte index = (byte) Devices.cudaIndex(device);
    this.compute = Devices.cuda(() -> torch_cuda.getStreamFromPool(false, index), "create a CUDA stream on " + device);
    this.copy = Devices.cuda(() -> torch_cuda.getStreamFromPool(false, index), "create a CUDA stream on " + device);
  }

  /** The canonical device these transfers serve. */
  String device() {
    return device;
  }

  /** A batch whose copy to the device was queued on the copy stream, with the event marking its end. */
  static final class Staged implements AutoCloseable {
    final Tensor view;
    private final CUDAEvent copied;

    Staged(Tensor view, CUDAEvent copied) {
      this.view = view;
      this.copied = copied;
    }

    @Override
    public void close() {
      view.close();
      copied.close();
    }
  }

  /**
   * Queues the copy of {@code host} (the leading [n, ...] rows of a pinned pooled batch, untrimmed,
   * so the copy is from pinned memory and asynchronous) into the leading rows of {@code
   * deviceBuffer} on the copy stream, then, when {@code keepLast} is smaller than the last
   * dimension, cuts the device rows to their first {@code keepLast} positions (a trimmed text batch,
   * made contiguous on the device, on the copy stream), and records an event after it all. The
   * pinned buffer and the device buffer must stay leased until the model thread's {@link #toHost}
   * (or {@link #drain}) has synchronised. Any thread.
   */
  Staged stage(Tensor host, Tensor deviceBuffer, long keepLast) {
    return Devices.cuda(() -> {
      try (CUDAStreamGuard onCopy = new CUDAStreamGuard(copy.unwrap())) {
        Tensor view = deviceBuffer.narrow(0, 0, host.size(0));
        view.copy_(host, true); // from pinned memory: asynchronous
        int last = (int) host.dim() - 1;
        if (last > 0 && keepLast < host.size(last)) {
          try (Tensor rows = view; Tensor cut = rows.narrow(last, 0, keepLast)) {
            view = cut.contiguous();
          }
        }
        CUDAEvent done = new CUDAEvent();
        done.record(copy);
        return new Staged(view, done);
      }
    }, "stage a batch on " + device);
  }

  /**
   * Model thread: makes the compute stream current for this thread (so the towers, the fused head
   * and the copy back queue on it) and has it wait, on the device, for {@code staged}'s copy.
   * Returns the device batch.
   */
  Tensor await(Staged staged) {
    Devices.cudaRun(() -> {
      torch_cuda.setCurrentCUDAStream(compute);
      staged.copied.block(compute);
    }, "order a batch's compute after its copy on " + device);
    return staged.view;
  }

  /**
   * Model thread: copies the first {@code n} rows of the device result {@code out} into the pinned
   * {@code hostBuffer} without blocking, then waits for the compute stream: the batch's one host
   * synchronisation. Returns the host rows [n, D] float32.
   */
  Tensor toHost(Tensor out, Tensor hostBuffer, long n) {
    Tensor view = hostBuffer.narrow(0, 0, n);
    view.copy_(out, true);
    drain();
    return view;
  }

  /**
   * Model thread: waits until everything queued on the compute stream has run (before device or
   * pinned memory a batch used goes back to the pool after a failure, so no later copy overwrites
   * what a kernel still reads).
   */
  void drain() {
    Devices.cudaRun(compute::synchronize, "synchronise the compute stream of " + device);
  }
}
