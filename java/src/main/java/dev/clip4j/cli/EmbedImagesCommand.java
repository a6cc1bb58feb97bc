package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.ModelResources;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.FloatBuffer;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/**
 * {@code clip4j embed-images --model PATH --out OUT.npy INPUT...}: embeds image files (decoded
 * and preprocessed exactly as open_clip) or {@code .npy} pixel tensors [N, 3, S, S]; writes
 * float32 [N, D] unit rows in input order.
 */
@Command(name = "embed-images", description = "Embed images (files, or .npy pixel tensors [N,3,S,S] / [3,S,S]) to an .npy [N, D].")
final class EmbedImagesCommand implements Callable<Integer> {
  @Mixin ModelOptions model;

  @Option(names = "--out", required = true, description = "Output .npy file (float32 [N, D]).")
  Path out;

  @Option(names = "--batch-size", defaultValue = "32", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
  int batchSize;

  @Parameters(arity = "1..*", paramLabel = "INPUT", description = "Image files or .npy pixel tensors.")
  List<Path> inputs;

  @Override
  public Integer call() {
    Engine.ensureInitialized();
    try (ClipModel m = ClipModel.load(model.model, model.toLoadOptions())) {
      ModelResources res = m.resources();
      PreprocessConfig cfg = Models.preprocessConfig(res, m.info().imageSize());
      ImagePreprocessor pre = new ImagePreprocessor(cfg);
      int s = cfg.imageSize();
      int per = 3 * s * s;
      List<float[]> rows = new ArrayList<>();
      List<Path> images = new ArrayList<>();
      for (Path in : inputs) {
        if (in.toString().endsWith(".npy")) {
          flush(m, pre, images, rows, per);
          Npy.Array a = Npy.read(in);
          long[] shape = a.shape();
          if (shape.length == 3) {
            shape = new long[] {1, shape[0], shape[1], shape[2]}; // one image [3, S, S]
          }
          if (shape.length != 4 || shape[1] != 3 || shape[2] != s || shape[3] != s || a.dtype() != Npy.DType.FLOAT32) {
            throw new InvalidInputException(in + ": pixel tensors must be float32 [N, 3, " + s + ", " + s + "] or [3, " + s + ", " + s + "]");
          }
          float[] px = a.floats();
          for (int start = 0; start < shape[0]; start += batchSize) {
            int n = (int) Math.min(batchSize, shape[0] - start);
            float[] chunk = java.util.Arrays.copyOfRange(px, start * per, (start + n) * per);
            addRows(rows, m.embedImages(tensor(chunk, n, s)));
          }
        } else {
          images.add(in);
          if (images.size() == batchSize) {
            flush(m, pre, images, rows, per);
          }
        }
      }
      flush(m, pre, images, rows, per);
      int d = (int) m.embedDim();
      float[] all = new float[rows.size() * d];
      for (int i = 0; i < rows.size(); i++) {
        System.arraycopy(rows.get(i), 0, all, i * d, d);
      }
      Npy.writeFloat32(out, all, rows.size(), d);
      System.err.printf("clip4j: wrote %d x %d embeddings to %s%n", rows.size(), d, out);
    }
    return 0;
  }

  private void flush(ClipModel m, ImagePreprocessor pre, List<Path> images, List<float[]> rows, int per) {
    if (images.isEmpty()) {
      return;
    }
    int n = images.size();
    int s = pre.config().imageSize();
    FloatBuffer batch = ByteBuffer.allocateDirect(n * per * 4).order(ByteOrder.nativeOrder()).asFloatBuffer();
    for (int i = 0; i < n; i++) {
      pre.preprocessInto(ImageDecoder.decode(images.get(i), DecodeOptions.defaults()), batch, n, i);
    }
    float[] px = new float[n * per];
    batch.get(0, px);
    addRows(rows, m.embedImages(tensor(px, n, s)));
    images.clear();
  }

  static Tensor tensor(float[] data, int n, int s) {
    FloatPointer p = new FloatPointer(data);
    try {
      return torch.from_blob(p, new long[] {n, 3, s, s}).clone();
    } finally {
      p.close();
    }
  }

  static void addRows(List<float[]> rows, Tensor emb) {
    Tensor c = emb.is_cuda() ? emb.cpu() : emb;
    c = c.contiguous();
    int n = (int) c.size(0);
    int d = (int) c.size(1);
    FloatPointer p = c.data_ptr_float();
    for (int i = 0; i < n; i++) {
      float[] row = new float[d];
      p.position((long) i * d).get(row);
      rows.add(row);
    }
  }
}
