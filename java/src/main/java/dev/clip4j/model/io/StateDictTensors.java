package dev.clip4j.model.io;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.LinkedHashMap;
import java.util.Map;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.TensorOptions;
import org.bytedeco.pytorch.global.torch;
import org.bytedeco.pytorch.global.torch.ScalarType;

/** Turns checkpoint tensors into LibTorch CPU tensors that own their memory (one copy each). */
public final class StateDictTensors {
  private StateDictTensors() {}

  /** The LibTorch scalar type of a checkpoint dtype. */
  public static ScalarType scalarType(DType d) {
    switch (d) {
      case F32: return ScalarType.Float;
      case F16: return ScalarType.Half;
      case BF16: return ScalarType.BFloat16;
      case F64: return ScalarType.Double;
      case I64: return ScalarType.Long;
      case I32: return ScalarType.Int;
      case I16: return ScalarType.Short;
      case I8: return ScalarType.Char;
      case U8: return ScalarType.Byte;
      default: return ScalarType.Bool;
    }
  }

  /**
   * Copies one tensor into LibTorch (CPU): straight into the new tensor's memory, read from the
   * file when the tensor lies contiguously in one (no page of a memory mapping is touched, so the
   * file is not held in the resident set beside its copy), else from its buffer.
   */
  public static Tensor toTensor(TensorData t) {
    long[] shape = t.shape();
    try (TensorOptions opts = new TensorOptions(scalarType(t.dtype()))) {
      Tensor out = torch.empty(shape, opts, new org.bytedeco.pytorch.MemoryFormatOptional());
      if (t.numel() == 0) {
        return out;
      }
      try {
        ByteBuffer dst = dev.clip4j.internal.HostTensors.bytes(out, "weight " + t.name()).capacity(t.byteSize())
            .asByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
        t.copyTo(dst);
        return out;
      } catch (java.io.IOException | RuntimeException e) {
        out.close();
        throw new dev.clip4j.InvalidModelException("weight '" + t.name() + "': cannot read: " + e.getMessage(), e);
      }
    }
  }

  /** Copies every tensor, in file order. */
  public static Map<String, Tensor> toTensors(StateDict sd) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    sd.tensors().forEach((k, v) -> out.put(k, toTensor(v)));
    return out;
  }
}
