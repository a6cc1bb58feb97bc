package dev.clip4j.firststart;

import dev.clip4j.Engine;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ClipModel;
import dev.clip4j.testing.Tensors;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.pytorch.Tensor;

/**
 * What a library user's JVM (or a Spark executor) does on its first start: initialise the engine,
 * load a model, embed. Run as a child JVM by {@link FirstStartTest}. Prints one line per mapped
 * native library of LibTorch's family ("MAPPED path") and the first values of an image embedding
 * ("IMAGE v0 v1 v2"), then "OK".
 *
 * <p>Arguments: the model directory and a preprocessed image ({@code .npy} [3, S, S]), or none
 * for the engine only.
 */
public final class FirstStartMain {
  private FirstStartMain() {}

  public static void main(String[] args) throws Exception {
    Engine.ensureInitialized();
    System.out.println("CACHE " + Loader.getCacheDir());
    for (String lib : mappedNativeLibraries()) {
      System.out.println("MAPPED " + lib);
    }
    if (args.length == 2) {
      Npy.Array px = Npy.read(Path.of(args[1]));
      try (ClipModel model = ClipModel.load(Path.of(args[0]));
          Tensor pixels = Tensors.fromFloats(px.floats(), 1, px.shape()[0], px.shape()[1], px.shape()[2]);
          Tensor emb = model.embedImages(pixels)) {
        float[] row = new float[(int) emb.size(1)];
        emb.contiguous().data_ptr_float().get(row);
        System.out.println(String.format(Locale.ROOT, "IMAGE %.7f %.7f %.7f", row[0], row[1], row[2]));
      }
    }
    System.out.println("OK");
  }

  /** Mapped files of the native libraries that must come from JavaCPP's cache. */
  static List<String> mappedNativeLibraries() throws Exception {
    List<String> out = new ArrayList<>();
    for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
      int slash = line.indexOf('/');
      if (slash < 0) {
        continue;
      }
      String path = line.substring(slash);
      String name = path.substring(path.lastIndexOf('/') + 1);
      if ((name.startsWith("libtorch") || name.startsWith("libc10") || name.startsWith("libopenblas")
              || name.startsWith("libgomp") || name.startsWith("libgfortran") || name.startsWith("libjnitorch")
              || name.startsWith("libjniopenblas") || name.startsWith("libjnijavacpp"))
          && !out.contains(path)) {
        out.add(path);
      }
    }
    return out;
  }
}
