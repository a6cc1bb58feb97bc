package dev.clip4j;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.head.Activation;
import dev.clip4j.head.WeightLayout;
import dev.clip4j.internal.NativeLib;
import dev.clip4j.jni.Clip4jNative;
import java.lang.reflect.Field;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The Java enums mirror the C header's enums one to one. */
class ErrorCodeTest {

  private static Map<String, Integer> constants(String prefix) throws IllegalAccessException {
    Map<String, Integer> m = new LinkedHashMap<>();
    for (Field f : Clip4jNative.class.getFields()) {
      if (f.getName().startsWith(prefix) && f.getType() == int.class) {
        m.put(f.getName(), f.getInt(null));
      }
    }
    return m;
  }

  @Test
  void errorCodesMirrorClip4jStatus() throws Exception {
    Map<String, Integer> c = constants("CLIP4J_");
    Map<String, Integer> statuses = new LinkedHashMap<>();
    c.forEach((k, v) -> {
      if (k.equals("CLIP4J_OK") || k.startsWith("CLIP4J_ERR_")) {
        statuses.put(k, v);
      }
    });
    Map<String, Integer> java = new LinkedHashMap<>();
    for (ErrorCode e : ErrorCode.values()) {
      java.put(e == ErrorCode.OK ? "CLIP4J_OK" : "CLIP4J_ERR_" + e.name(), e.value());
    }
    assertThat(java).isEqualTo(statuses);
  }

  @Test
  void activationsAndLayoutsMirrorTheHeader() throws Exception {
    Map<String, Integer> acts = constants("CLIP4J_ACT_");
    assertThat(acts).hasSize(Activation.values().length);
    for (Activation a : Activation.values()) {
      assertThat(acts).containsEntry("CLIP4J_ACT_" + a.name().toUpperCase(Locale.ROOT), a.code());
    }
    Map<String, Integer> layouts = constants("CLIP4J_LAYOUT_");
    assertThat(layouts).hasSize(WeightLayout.values().length);
    for (WeightLayout l : WeightLayout.values()) {
      assertThat(layouts).containsEntry("CLIP4J_LAYOUT_" + l.name(), l.code());
    }
  }

  @Test
  void nativeStatusesBecomeTypedExceptions() {
    NativeLib.load();
    // A real failing native call: bad layout code.
    float[] x = {1, 2};
    float[] out = new float[2];
    int st = Clip4jNative.clip4j_head_forward_f32(x, 1, 2, (float[]) null, 5, 2, null, 0, 1, 1e-12f, out);
    assertThat(st).isEqualTo(ErrorCode.INVALID_ARGUMENT.value());
    try {
      NativeLib.check(st);
      throw new AssertionError("check() did not throw");
    } catch (InvalidInputException e) {
      assertThat(e.code()).isEqualTo(ErrorCode.INVALID_ARGUMENT);
      assertThat(e.getMessage()).contains("w_layout");
    }
    assertThat(Clip4jException.fromStatus(6, "m")).isInstanceOf(InvalidModelException.class);
    assertThat(Clip4jException.fromStatus(8, "m")).isInstanceOf(OverloadedException.class);
    assertThat(Clip4jException.fromStatus(3, "m")).isInstanceOf(DeviceException.class);
    assertThat(Clip4jException.fromStatus(4, "m")).isInstanceOf(DeviceException.class);
    assertThat(Clip4jException.fromStatus(42, "m").code()).isEqualTo(ErrorCode.INTERNAL);
  }
}
