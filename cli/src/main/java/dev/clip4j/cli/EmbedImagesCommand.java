package dev.clip4j.cli;

import dev.clip4j.Engine;
import dev.clip4j.InvalidInputException;
import dev.clip4j.corpus.CorpusItem;
import dev.clip4j.corpus.CorpusJob;
import dev.clip4j.corpus.ImageWalk;
import dev.clip4j.corpus.ItemSource;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
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
 * {@code clip4j embed-images --model PATH --out DIR|OUT.npy|OUT.jsonl (IMAGE|DIRECTORY|@LIST)...}:
 * embeds image files (decoded and preprocessed exactly as open_clip). {@code --out DIR} runs the
 * sharded, resumable corpus job ({@link CorpusJob}); {@code OUT.jsonl} writes a line per input;
 * {@code OUT.npy} writes float32 [N, D] unit rows in input order (and also takes {@code .npy}
 * pixel tensors [N, 3, S, S]), failing on the first bad input.
 */
@Command(name = "embed-images", description = {
    "Embed images: into a sharded, resumable embeddings directory (--out DIR), one JSON line per input (--out X.jsonl)"
        + " or one .npy [N, D] in input order (--out X.npy; also takes .npy pixel tensors [N,3,S,S] / [3,S,S]).",
    "Exit codes: 0 all embedded, 3 completed with errors (see DIR/errors.jsonl), 1 fatal error, 2 usage."})
final class EmbedImagesCommand implements Callable<Integer> {
  @Mixin ModelOptions model;

  @Mixin CorpusOptions corpus;

  @Option(names = "--out", required = true, description = "Output: an embeddings directory, a .jsonl file or an .npy file (float32 [N, D]).")
  Path out;

  @Option(names = "--ext", split = ",", description = "Extensions kept when walking directories (default: jpg,jpeg,jpe,jfif,png,bmp,gif,webp).")
  List<String> extensions;

  @Option(names = "--batch-size", defaultValue = "32", description = "Images per forward pass (default ${DEFAULT-VALUE}).")
  int batchSize;

  @Parameters(arity = "1..*", paramLabel = "INPUT", description = "Image files, directories (walked recursively, sorted),"
      + " @LISTFILE (one path per line), WebDataset .tar shards (each image member is an input, named SHARD.tar/KEY.EXT),"
      + " or .npy pixel tensors (with --out X.npy).")
  List<String> inputs;

  @Override
  public Integer call() {
    Engine.ensureInitialized();
    CorpusOptions.OutFormat format = corpus.format(out);
    CorpusJob.Options options = corpus.options(batchSize);
    if (format == CorpusOptions.OutFormat.DIR) {
      CorpusJob.createOutputDirectory(out); // before the walk, so the walk can leave it out
    }
    java.util.Set<String> warned = new java.util.HashSet<>(); // the job walks twice (count, then embed): warn once
    ImageWalk walk = new ImageWalk(inputs, extensions, format == CorpusOptions.OutFormat.DIR ? out : null,
        w -> {
          if (warned.add(w)) {
            System.err.println("clip4j: warning: " + w);
          }
        });
    try (ClipModel m = model.load()) {
      PreprocessConfig cfg = m.preprocessConfig();
      if (format != CorpusOptions.OutFormat.NPY) {
        return CorpusJob.embedImages(m, walk, corpus.output(out), batchSize, options, System.err).exitCode();
      }
      ImagePreprocessor pre = new ImagePreprocessor(cfg);
      int s = cfg.imageSize();
      int per = 3 * s * s;
      List<float[]> rows = new ArrayList<>();
      List<Path> images = new ArrayList<>();
      for (Path in : files(walk)) {
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

  /** The walked inputs of the single-file mode; the first bad one fails the command. */
  private static List<Path> files(ImageWalk walk) {
    List<Path> files = new ArrayList<>();
    try (ItemSource.Items it = walk.open()) {
      while (it.hasNext()) {
        CorpusItem item = it.next();
        if (item.error() != null) {
          throw item.error();
        }
        if (item.path() == null) {
          throw new InvalidInputException(item.name() + ": WebDataset shards are embedded into --out DIR or --out X.jsonl,"
              + " not into an .npy file");
        }
        files.add(item.path());
      }
    }
    return files;
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
    try (emb) {
      rows.addAll(java.util.Arrays.asList(dev.clip4j.internal.HostTensors.readRows(emb, "embeddings")));
    }
  }
}
