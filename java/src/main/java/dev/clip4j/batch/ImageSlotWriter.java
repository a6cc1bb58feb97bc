package dev.clip4j.batch;

import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImagePreprocessor;
import java.nio.ByteBuffer;
import java.nio.FloatBuffer;
import java.util.Objects;
import org.bytedeco.pytorch.Tensor;

/**
 * Decodes an {@link ImageSource} and preprocesses it (PIL-exact, native) straight into its slot
 * of a pooled [B, 3, S, S] float32 CPU batch tensor. Thread-safe.
 */
public final class ImageSlotWriter implements SlotWriter<ImageSource> {
  private final ImagePreprocessor preprocessor;
  private final DecodeOptions decodeOptions;

  public ImageSlotWriter(ImagePreprocessor preprocessor, DecodeOptions decodeOptions) {
    this.preprocessor = Objects.requireNonNull(preprocessor, "preprocessor");
    this.decodeOptions = Objects.requireNonNull(decodeOptions, "decodeOptions");
  }

  @Override
  public int write(ImageSource input, Tensor batch, int slot) {
    // The host view through HostTensors (a CPU batch only); pixels decoded into reused memory.
    FloatBuffer view = dev.clip4j.internal.HostTensors.floatBuffer(batch, "image batch");
    write(input, view, (int) batch.size(0), slot);
    return 1;
  }

  @Override
  public int write(ImageSource input, Tensor batch, ByteBuffer batchMemory, int slot) {
    if (batchMemory == null) {
      return write(input, batch, slot);
    }
    write(input, batchMemory.asFloatBuffer(), (int) batch.size(0), slot);
    return 1;
  }

  private void write(ImageSource input, FloatBuffer batch, int capacity, int slot) {
    if (input.decoded() != null) {
      preprocessor.preprocessInto(input.decoded(), batch, capacity, slot);
    } else {
      // Decoded pixels in reused per-thread memory, never a direct buffer left for the GC.
      preprocessor.decodeAndPreprocessInto(input.path(), input.bytes(), input.name(), decodeOptions, batch, capacity, slot);
    }
  }
}
