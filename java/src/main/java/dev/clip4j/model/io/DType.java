package dev.clip4j.model.io;

import java.util.Locale;

/** Element types of checkpoint tensors, with their safetensors and torch storage names. */
public enum DType {
  F32(4, "F32", "FloatStorage"),
  F16(2, "F16", "HalfStorage"),
  BF16(2, "BF16", "BFloat16Storage"),
  F64(8, "F64", "DoubleStorage"),
  I64(8, "I64", "LongStorage"),
  I32(4, "I32", "IntStorage"),
  I16(2, "I16", "ShortStorage"),
  I8(1, "I8", "CharStorage"),
  U8(1, "U8", "ByteStorage"),
  BOOL(1, "BOOL", "BoolStorage");

  private final int byteSize;
  private final String safetensorsName;
  private final String torchStorage;

  DType(int byteSize, String safetensorsName, String torchStorage) {
    this.byteSize = byteSize;
    this.safetensorsName = safetensorsName;
    this.torchStorage = torchStorage;
  }

  /** Bytes per element. */
  public int byteSize() {
    return byteSize;
  }

  /** The safetensors dtype string ("F32", ...). */
  public String safetensorsName() {
    return safetensorsName;
  }

  /** The safetensors dtype, or null if unsupported. */
  static DType fromSafetensors(String s) {
    for (DType d : values()) {
      if (d.safetensorsName.equals(s.toUpperCase(Locale.ROOT))) {
        return d;
      }
    }
    return null;
  }

  /** The dtype of a torch storage class name ("FloatStorage"), or null if not allowed. */
  static DType fromTorchStorage(String name) {
    for (DType d : values()) {
      if (d.torchStorage.equals(name)) {
        return d;
      }
    }
    return null;
  }
}
