package dev.clip4j.presets;

import org.bytedeco.javacpp.annotation.Platform;
import org.bytedeco.javacpp.annotation.Properties;
import org.bytedeco.javacpp.tools.InfoMap;
import org.bytedeco.javacpp.tools.InfoMapper;

/**
 * JavaCPP preset for {@code native/include/clip4j/clip4j.h}. The build parses the header into
 * {@code dev.clip4j.jni.Clip4jNative} (static native methods and the enum constants) and packages
 * {@code libclip4j.so}, the JNI glue and, when CUDA was built, {@code libclip4j_cuda.so} under the
 * JavaCPP platform path. The header is plain C, so the InfoMap stays empty.
 *
 * <p>{@code clip4j_cuda} is a preload: JavaCPP extracts it beside {@code libclip4j.so} and tries
 * to load it, ignoring failure on hosts without a CUDA runtime; libclip4j then finds it there
 * when a CUDA tensor first reaches the head.
 */
@Properties(
    target = "dev.clip4j.jni.Clip4jNative",
    value = @Platform(include = "clip4j/clip4j.h", link = "clip4j", preload = "clip4j_cuda"))
public class Clip4jPresets implements InfoMapper {
  @Override
  public void map(InfoMap infoMap) {}
}
