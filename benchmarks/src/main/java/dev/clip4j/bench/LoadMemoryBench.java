package dev.clip4j.bench;

import dev.clip4j.Engine;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.RandomModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;

/**
 * Peak resident memory while loading a model, above the process's baseline (engine initialised,
 * nothing loaded): {@code java -cp ... dev.clip4j.bench.LoadMemoryBench WORKDIR [SPEC] [FORMAT]}.
 * Writes a random-weight model of {@code SPEC} (vit-b-32 by default) in the open_clip layout (or
 * loads WORKDIR/model if present), resets the kernel's peak-RSS mark ({@code /proc/self/clear_refs}
 * 5), loads it, and prints the weights' size, the peak RSS above the baseline (VmHWM - VmRSS before
 * the load, so the page cache of files read through mmap counts too) and its ratio to the weights,
 * and the RSS the loaded model keeps. One JVM per measurement: run it as its own process.
 */
public final class LoadMemoryBench {
  private LoadMemoryBench() {}

  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    String spec = args.length > 1 ? args[1] : "vit-b-32";
    Path model = work.resolve("model-" + spec);
    Engine.ensureInitialized();
    if (!Files.isDirectory(model)) {
      RandomModels.write(model, spec.equals("small") ? RandomModels.small() : RandomModels.vitB32(), 1);
      System.out.println("wrote " + model + "; run again in a new JVM to measure");
      return;
    }
    long weights = Files.size(model.resolve("open_clip_model.safetensors"));
    System.gc();
    long base = status("VmRSS");
    Files.writeString(Path.of("/proc/self/clear_refs"), "5"); // VmHWM := VmRSS
    long t0 = System.nanoTime();
    try (ClipModel m = ClipModel.load(model, LoadOptions.defaults())) {
      double secs = (System.nanoTime() - t0) / 1e9;
      long peak = status("VmHWM");
      long kept = status("VmRSS");
      System.out.printf(Locale.ROOT, "load-memory %s: weights %.0f MB, load %.1f s, peak RSS above baseline %.0f MB"
          + " (%.2fx the weights), RSS kept by the loaded model %.0f MB (%.2fx)%n", spec, weights / 1e6, secs,
          (peak - base) / 1e3, (peak - base) * 1e3 / weights, (kept - base) / 1e3, (kept - base) * 1e3 / weights);
      System.out.println("model " + m.info().architecture());
    }
  }

  /** A /proc/self/status field in kB. */
  static long status(String field) throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith(field + ":")) {
        return Long.parseLong(line.replaceAll("[^0-9]", ""));
      }
    }
    throw new IllegalStateException(field);
  }

  static List<String> unused() {
    return List.of();
  }
}
