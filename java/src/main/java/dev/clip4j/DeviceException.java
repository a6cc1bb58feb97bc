package dev.clip4j;

/** The device failed: out of (host or device) memory, or a CUDA error. */
public class DeviceException extends Clip4jException {
  private static final long serialVersionUID = 1L;

  public DeviceException(ErrorCode code, String message) {
    super(code, message);
  }

  public DeviceException(ErrorCode code, String message, Throwable cause) {
    super(code, message, cause);
  }
}
