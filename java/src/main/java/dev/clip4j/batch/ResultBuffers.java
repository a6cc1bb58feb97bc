package dev.clip4j.batch;

import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import java.nio.Buffer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.util.Objects;

/**
 * Checks caller-provided result buffers and turns them into float views the model thread copies
 * rows into. Everything is checked here, in Java, before any row is written.
 */
final class ResultBuffers {
  private ResultBuffers() {}

  /**
   * A view whose index 0 is {@code dst.position()}, after checking {@code dst} is direct,
   * writable, native-order and has room for {@code floats} floats from its position.
   */
  static FloatBuffer target(FloatBuffer dst, long floats) {
    Objects.requireNonNull(dst, "dst");
    check(dst, "FloatBuffer");
    if (dst.order() != ByteOrder.nativeOrder()) {
      throw bad("dst FloatBuffer is " + dst.order() + " but results are written in the native order ("
          + ByteOrder.nativeOrder() + "); view a ByteBuffer with order(ByteOrder.nativeOrder()) first");
    }
    if (dst.remaining() < floats) {
      throw bad("dst FloatBuffer has room for " + dst.remaining() + " floats from position " + dst.position()
          + ", the results need " + floats);
    }
    return dst.slice(); // index 0 = dst.position(); the caller's position and limit stay untouched
  }

  /** Like {@link #target(FloatBuffer, long)} for a byte buffer (4 bytes a float, native order). */
  static FloatBuffer target(ByteBuffer dst, long floats) {
    Objects.requireNonNull(dst, "dst");
    check(dst, "ByteBuffer");
    if (dst.order() != ByteOrder.nativeOrder()) {
      throw bad("dst ByteBuffer is " + dst.order() + " but results are written as native-order floats ("
          + ByteOrder.nativeOrder() + "); call dst.order(ByteOrder.nativeOrder()) first");
    }
    if (dst.remaining() / 4 < floats) {
      throw bad("dst ByteBuffer has " + dst.remaining() + " bytes from position " + dst.position()
          + ", the results need " + Math.multiplyExact(floats, 4L));
    }
    // slice() and asFloatBuffer() do not keep the order: set it on each view.
    return dst.slice().order(ByteOrder.nativeOrder()).asFloatBuffer();
  }

  private static void check(Buffer dst, String what) {
    if (!dst.isDirect()) {
      throw bad("dst " + what + " must be direct (ByteBuffer.allocateDirect or native memory) for zero-copy results");
    }
    if (dst.isReadOnly()) {
      throw bad("dst " + what + " is read-only");
    }
  }

  private static InvalidInputException bad(String message) {
    return new InvalidInputException(ErrorCode.INVALID_ARGUMENT, message);
  }
}
