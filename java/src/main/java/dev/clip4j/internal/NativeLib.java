package dev.clip4j.internal;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.jni.Clip4jNative;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.Loader;

/**
 * Loads clip4j's native library (through the JavaCPP-generated {@link Clip4jNative}) and turns
 * native statuses into exceptions. Load order: LibTorch's libraries are loaded by {@code Engine}
 * first; this class then loads libclip4j (and tries libclip4j_cuda) from the jar. Set the system
 * property {@code org.bytedeco.javacpp.logger.debug=true} to see where each library came from.
 */
public final class NativeLib {
  private static volatile boolean loaded;

  private NativeLib() {}

  /** Loads the native library once; safe from any thread. */
  public static void load() {
    if (!loaded) {
      synchronized (NativeLib.class) {
        if (!loaded) {
          try {
            Loader.load(Clip4jNative.class);
          } catch (UnsatisfiedLinkError e) {
            throw new Clip4jException(
                ErrorCode.UNSUPPORTED,
                "clip4j's native library could not be loaded for platform "
                    + Loader.getPlatform()
                    + " (is the clip4j-presets jar for this platform on the class path?): "
                    + e.getMessage(),
                e);
          }
          loaded = true;
        }
      }
    }
  }

  /** The calling thread's last native error message. */
  public static String lastError() {
    BytePointer p = Clip4jNative.clip4j_last_error();
    return p == null || p.isNull() ? "" : p.getString();
  }

  /** Throws the exception matching {@code status} (with the native message) unless it is OK. */
  public static void check(int status) {
    if (status != Clip4jNative.CLIP4J_OK) {
      throw Clip4jException.fromStatus(status, lastError());
    }
  }

  /** The native library's version string. */
  public static String version() {
    load();
    return Clip4jNative.clip4j_version().getString();
  }
}
