package dev.clip4j.hardening;

import dev.clip4j.Clip4jException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.OpenAiCheckpoints;
import dev.clip4j.model.StateDictSchema;
import dev.clip4j.model.hf.HfClipDirectory;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.JitArchive;
import dev.clip4j.model.io.JitArchiveReader;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.preprocess.DecodeOptions;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.preprocess.ImagePreprocessor;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.text.st.StTokenizerAccess;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.stream.Stream;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch;

/**
 * The child-JVM side of {@link CorruptionMatrixTest}: reads "kind TAB path" lines from stdin,
 * loads each file through clip4j's public API and prints, per file, {@code BEGIN TAB path} and then
 * {@code RESULT TAB path TAB outcome TAB code TAB millis TAB leaked-fds TAB message}, where outcome is
 * {@code ok}, the Clip4jException subclass, or {@code UNTYPED:<class>}. A JVM crash or hang
 * shows as a BEGIN without its RESULT. Each kind is warmed up on a valid file first (argument
 * lines "warm TAB kind TAB path"), so the times measure the parsers, not class loading.
 */
public final class CorruptionHarness {
  private CorruptionHarness() {}

  private static final ImagePreprocessor PREPROCESSOR =
      new ImagePreprocessor(PreprocessConfig.builder().imageSize(32).build());

  /** Loads one file of {@code kind} the way a user would. */
  static void load(String kind, Path p) {
    switch (kind) {
      case "checkpoint":
        try (StateDict sd = CheckpointReader.read(p)) {
          for (TensorData t : sd.tensors().values()) {
            t.toFloatArray();
          }
        }
        break;
      case "jit":
        try (JitArchive a = JitArchiveReader.read(p)) {
          for (TensorData t : a.stateDict().tensors().values()) {
            if (t.dtype() == DType.F32 || t.dtype() == DType.F16 || t.dtype() == DType.BF16 || t.dtype() == DType.F64) {
              t.toFloatArray();
            } else if (t.numel() > 0) {
              t.data().get(t.data().limit() - 1);
            }
          }
          if (OpenAiCheckpoints.isResNet(a.shapes())) { // as OpenAiJitReader: OpenAI's RN archives
            OpenAiCheckpoints.inferResNetConfig(a.shapes(), a.intAttributes(), p.toString());
          } else {
            ModelConfig cfg = OpenAiCheckpoints.inferConfig(a.shapes(), a.intAttributes(), p.toString());
            StateDictSchema.of(cfg).validateShapes(a.shapes(), p.toString());
          }
          OpenAiCheckpoints.activationFromModuleTypes(a.moduleTypes(), p.toString());
        }
        break;
      case "model":
        try (ClipModel m = ClipModel.load(p)) {
          int s = m.info().imageSize();
          try (Tensor px = torch.zeros(2, 3, s, s); Tensor out = m.embedImages(px)) {
            out.size(0);
          }
        }
        break;
      case "config":
        ModelConfig.parse(p).describe();
        dev.clip4j.model.ModelDescription.read(p.getParent()).preprocessConfig();
        break;
      case "vocab":
        ClipTokenizer.fromBpeVocab(p).encode("a photo of the red cat");
        break;
      case "hfvocab":
        ClipTokenizer.fromDirectory(p).encode("a photo of the red cat");
        break;
      case "hfdir":
        try (HfClipDirectory d = HfClipDirectory.open(p)) {
          for (LazyTensor t : d.openClipWeights()) {
            t.load().toFloatArray();
          }
          if (d.config().hasText()) {
            d.tokenizer().encode("a photo of the red cat");
          }
        }
        break;
      case "tokenizer-json":
        StTokenizerAccess.encode(p, "a photo of a cat");
        break;
      case "image":
        PREPROCESSOR.preprocess(ImageDecoder.decode(p, DecodeOptions.defaults()));
        break;
      case "npy":
        Npy.read(p);
        break;
      case "selftest-halt": // for the runner's own test: dies the way a native crash would
        Runtime.getRuntime().halt(134);
        break;
      case "selftest-hang":
        try {
          Thread.sleep(Long.MAX_VALUE);
        } catch (InterruptedException e) {
          Thread.currentThread().interrupt();
        }
        break;
      default:
        throw new IllegalArgumentException("unknown kind " + kind);
    }
  }

  public static void main(String[] args) throws IOException {
    PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
    Path root = Path.of(args[0]).toAbsolutePath();
    out.println("PID\t" + ProcessHandle.current().pid()); // the runner checks every child is gone at the end
    BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
    String line;
    while ((line = in.readLine()) != null) {
      String[] f = line.split("\t");
      if (f[0].equals("warm")) {
        try {
          load(f[1], Path.of(f[2]));
        } catch (RuntimeException e) {
          out.println("WARMFAIL\t" + f[2] + "\t" + e);
        }
        continue;
      }
      String kind = f[0];
      Path p = Path.of(f[1]);
      out.println("BEGIN\t" + p);
      long t0 = System.nanoTime();
      String outcome;
      String code = "-";
      String message = "";
      try {
        load(kind, p);
        outcome = "ok";
      } catch (Clip4jException e) {
        outcome = e.getClass().getSimpleName();
        code = e.code().name();
        message = String.valueOf(e.getMessage());
      } catch (Throwable e) {
        outcome = "UNTYPED:" + e.getClass().getName();
        System.err.println("UNTYPED " + p);
        e.printStackTrace();
      }
      long ms = (System.nanoTime() - t0) / 1_000_000;
      message = message.replaceAll("\\s+", " ");
      out.println("RESULT\t" + p + "\t" + outcome + "\t" + code + "\t" + ms + "\t" + String.join(",", openUnder(root))
          + "\t" + message.substring(0, Math.min(message.length(), 300)));
    }
  }

  /** Files under {@code root} this process still holds open (a leaked handle). */
  static List<String> openUnder(Path root) {
    List<String> open = new ArrayList<>();
    try (Stream<Path> fds = Files.list(Path.of("/proc/self/fd"))) {
      for (Path fd : (Iterable<Path>) fds::iterator) {
        try {
          Path target = Files.readSymbolicLink(fd);
          if (target.startsWith(root)) {
            open.add(target.toString());
          }
        } catch (IOException e) {
          // the fd of the listing itself, or closed meanwhile
        }
      }
    } catch (IOException e) {
      open.add("cannot list /proc/self/fd: " + e);
    }
    return open;
  }
}
