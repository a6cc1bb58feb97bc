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

  /** Copies one tensor into LibTorch (CPU). */
  public static Tensor toTensor(TensorData t) {
    TensorOptions opts = new TensorOptions(scalarType(t.dtype()));
    long[] shape = t.shape();
    if (t.numel() == 0) {
      return torch.empty(shape, opts, new org.bytedeco.pytorch.MemoryFormatOptional());
    }
    ByteBuffer data = t.data();
    if (!data.isDirect()) {
      ByteBuffer d = ByteBuffer.allocateDirect(data.remaining()).order(ByteOrder.LITTLE_ENDIAN);
      d.put(data.duplicate()).flip();
      data = d;
    }
    BytePointer p = new BytePointer(data);
    return torch.from_blob(p, shape, opts).clone();
  }

  /** Copies every tensor, in file order. */
  public static Map<String, Tensor> toTensors(StateDict sd) {
    Map<String, Tensor> out = new LinkedHashMap<>();
    sd.tensors().forEach((k, v) -> out.put(k, toTensor(v)));
    return out;
  }
}
