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
    FloatBuffer view = dev.clip4j.internal.HostTensors.floatBuffer(batch, "image batch");
    preprocessor.preprocessInto(input.decode(decodeOptions), view, (int) batch.size(0), slot);
    return 1;
  }

  @Override
  public int write(ImageSource input, Tensor batch, ByteBuffer batchMemory, int slot) {
    if (batchMemory == null) {
      return write(input, batch, slot);
    }
    preprocessor.preprocessInto(input.decode(decodeOptions), batchMemory.asFloatBuffer(), (int) batch.size(0), slot);
    return 1;
  }
}
