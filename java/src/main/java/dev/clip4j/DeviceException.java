package dev.clip4j;

/** The device failed or is not there: out of (host or device) memory, a CUDA error, or a device this host does not have. */
public class DeviceException extends Clip4jException {
  private static final long serialVersionUID = 1L;

  public DeviceException(ErrorCode code, String message) {
    super(code, message);
  }

  public DeviceException(ErrorCode code, String message, Throwable cause) {
    super(code, message, cause);
  }
}
