package dev.clip4j.model.io;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;

/**
 * The tensors of a checkpoint by name, in file order, with the file they came from. The data
 * may be memory-mapped from the file: keep the StateDict (or the buffers) reachable while using
 * them. {@link #close()} drops the references (the JVM unmaps when they are collected).
 */
public final class StateDict implements AutoCloseable {
  private final Path source;
  private final String format;
  private Map<String, TensorData> tensors;
  private final Map<String, String> metadata;

  StateDict(Path source, String format, Map<String, TensorData> tensors, Map<String, String> metadata) {
    this.source = source;
    this.format = format;
    this.tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    this.metadata = Map.copyOf(metadata);
  }

  /** The file read. */
  public Path source() {
    return source;
  }

  /** "safetensors", "torch-zip" or "torchscript" (the module data of a TorchScript archive). */
  public String format() {
    return format;
  }

  /** Name to tensor, in file order. */
  public Map<String, TensorData> tensors() {
    ensureOpen();
    return tensors;
  }

  /** The tensor called {@code name}, or null. */
  public TensorData get(String name) {
    return tensors().get(name);
  }

  public Set<String> keys() {
    return tensors().keySet();
  }

  /** safetensors {@code __metadata__} (empty for torch files). */
  public Map<String, String> metadata() {
    return metadata;
  }

  private void ensureOpen() {
    if (tensors == null) {
      throw new IllegalStateException("StateDict of " + source + " is closed");
    }
  }

  @Override
  public void close() {
    tensors = null;
  }
}
