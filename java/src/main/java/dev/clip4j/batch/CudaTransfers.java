package dev.clip4j.batch;

import dev.clip4j.DeviceException;
import dev.clip4j.ErrorCode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.cuda.CUDAStream;
import org.bytedeco.pytorch.global.torch_cuda;

/**
 * The model thread's host/device copies for one CUDA device: a stream of LibTorch's pool made
 * current for that thread (so the copies, the towers and the fused head all queue on it, in
 * order, off the default stream), non-blocking copies from pinned host batches, and one
 * synchronisation per batch when the results are back in pinned host memory. Only created for
 * CUDA lanes, so CPU-only installations never load LibTorch's CUDA bindings. Not thread-safe:
 * one instance per device, used by the model thread only.
 */
final class CudaTransfers {
  private final CUDAStream stream;

  CudaTransfers(String device) {
    try (Device d = new Device(device)) {
      stream = torch_cuda.getStreamFromPool(false, d.index());
      torch_cuda.setCurrentCUDAStream(stream);
    } catch (RuntimeException | LinkageError e) {
      throw new DeviceException(ErrorCode.CUDA, "cannot set up a CUDA stream on " + device
          + " (is this a GPU build of LibTorch?): " + e, e);
    }
  }

  /**
   * Starts copying {@code host} (a pinned [n, ...] batch, possibly trimmed) into the leading rows
   * of {@code deviceBuffer}; returns the device batch to run (the copy is ordered before it on
   * the stream). The pinned buffer must stay leased until {@link #toHost} has synchronised.
   */
  Tensor toDevice(Tensor host, Tensor deviceBuffer) {
    Tensor view = deviceBuffer.narrow(0, 0, host.size(0));
    if (host.dim() > 1 && view.size(host.dim() - 1) != host.size(host.dim() - 1)) {
      try (Tensor rows = view; Tensor cut = rows.narrow(host.dim() - 1, 0, host.size(host.dim() - 1))) {
        view = cut.contiguous(); // a trimmed text batch: run it contiguous
      }
    }
    view.copy_(host, true);
    return view;
  }

  /**
   * Copies the first {@code n} rows of the device result {@code out} into the pinned {@code
   * hostBuffer} without blocking, then waits for the stream (once per batch); returns the host
   * rows [n, D] float32.
   */
  Tensor toHost(Tensor out, Tensor hostBuffer, long n) {
    Tensor view = hostBuffer.narrow(0, 0, n);
    view.copy_(out, true);
    stream.synchronize();
    return view;
  }
}
