package dev.clip4j.cli;

import dev.clip4j.io.Npy;
import dev.clip4j.model.ModelDescription;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code clip4j preprocess --model PATH --out OUT.npy IMAGE...}: float32 [N, 3, S, S], exactly as open_clip. */
@Command(name = "preprocess", description = "Decode and preprocess images as open_clip does; writes float32 [N, 3, S, S].")
final class PreprocessCommand implements Callable<Integer> {
  @Option(names = "--model", required = true, description = "The model (any format --model takes elsewhere): its preprocessing is used; no weights are loaded.")
  Path model;

  @Option(names = "--out", required = true, description = "Output .npy.")
  Path out;

  @Parameters(arity = "1..*", paramLabel = "IMAGE")
  List<Path> images;

  @Override
  public Integer call() {
    ImagePreprocessor pre = new ImagePreprocessor(ModelDescription.read(model).preprocessConfig());
    int s = pre.config().imageSize();
    int n = images.size();
    int per = pre.config().floatsPerImage();
    FloatBuffer batch = ByteBuffer.allocateDirect(n * per * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    for (int i = 0; i < n; i++) {
      pre.preprocessInto(ImageDecoder.decode(images.get(i), DecodeOptions.defaults()), batch, n, i);
    }
    float[] all = new float[n * per];
    batch.get(0, all);
    Npy.writeFloat32(out, all, n, 3, s, s);
    System.err.printf("clip4j: wrote %d x 3 x %d x %d pixels to %s%n", n, s, s, out);
    return 0;
  }
}
