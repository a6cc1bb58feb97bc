package dev.clip4j.internal;

import dev.clip4j.DeviceException;
import dev.clip4j.Engine;
import dev.clip4j.ErrorCode;
import org.bytedeco.pytorch.Device;
import org.bytedeco.pytorch.global.torch;

/**
 * The one place a user's device string ({@code cpu}, {@code cuda}, {@code cuda:N}) becomes a
 * LibTorch {@link Device}, used by every loader: a device this host cannot run is refused here
 * in one line, before any weight is moved (LibTorch would otherwise fail deep inside with a
 * RuntimeException carrying a C++ stack dump).
 */
public final class Devices {
  private Devices() {}

  /**
   * Parses and checks {@code device}.
   *
   * @throws IllegalArgumentException if it is not a device name, or names a device type other
   *     than cpu and cuda
   * @throws DeviceException ({@link ErrorCode#DEVICE}) if it is a CUDA device this host does not
   *     have: LibTorch built without CUDA, no GPU visible, or an index beyond the device count
   */
  public static Device parse(String device) {
    if (device == null || device.isBlank()) {
      throw new IllegalArgumentException("no device given (cpu, cuda or cuda:N)");
    }
    Engine.ensureInitialized();
    Device d;
    try {
      d = new Device(device);
    } catch (RuntimeException e) {
      throw new IllegalArgumentException("invalid device '" + device + "' (cpu, cuda or cuda:N): "
          + firstLine(e.getMessage()), e);
    }
    if (!d.is_cpu() && !d.is_cuda()) {
      d.close();
      throw new IllegalArgumentException("device '" + device + "': only cpu and cuda are supported");
    }
    if (d.is_cuda()) {
      boolean available = torch.cuda_is_available();
      long count = available ? torch.cuda_device_count() : 0;
      if (!available || (d.has_index() && d.index() >= count)) {
        d.close();
        throw new DeviceException(ErrorCode.DEVICE, "device '" + device + "' is not available on this host: "
            + (available ? count + " CUDA device(s) visible"
                : "no CUDA device (LibTorch " + (torch.hasCUDA() ? "has CUDA support but sees no GPU"
                    : "was built without CUDA: the GPU build needs the -Pgpu artifacts") + ")")
            + "; use --device cpu");
      }
    }
    return d;
  }

  private static String firstLine(String s) {
    if (s == null) {
      return "";
    }
    int nl = s.indexOf('\n');
    return nl < 0 ? s : s.substring(0, nl);
  }
}
