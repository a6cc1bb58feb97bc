package dev.clip4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Clip4jException;
import dev.clip4j.Engine;
import dev.clip4j.EngineConfig;
import dev.clip4j.EngineReport;
import dev.clip4j.ErrorCode;
import dev.clip4j.model.RandomModels;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code clip4j demo}: the main job of the README, end to end on files it makes itself. It writes a
 * small CLIP with random (untrained) weights and its own tokenizer vocabulary, draws a few images
 * (plus one truncated JPEG), then runs the same commands a user runs: {@code embed-images} into a
 * sharded embeddings directory (the bad file is reported, the rest embedded), {@code classify}
 * (zero-shot, prompt ensembling) and {@code search} (exact top-k over the shards). Everything goes
 * under {@code --out} (default {@code out/demo}).
 */
@Command(name = "demo", description = "Run the whole pipeline (embed a directory, classify, search) on generated images"
    + " with a small random-weight model; outputs under out/demo.")
final class DemoCommand implements Callable<Integer> {
  @Option(names = "--out", defaultValue = "out/demo", description = "Where the demo writes (default ${DEFAULT-VALUE}).")
  Path out;

  @Option(names = "--spec", defaultValue = "small", description = "Model size: small (default, a few million parameters)"
      + " or vit-b-32 (151M parameters, real ViT-B-32 shapes, 605 MB written once).")
  String spec;

  @Option(names = "--threads", description = "Intra-op threads (default: -Dclip4j.threads, else the engine's default layout).")
  Integer threads;

  @Override
  public Integer call() throws IOException {
    RandomModels.Spec s = switch (spec) {
      case "small" -> RandomModels.small();
      case "vit-b-32" -> RandomModels.vitB32();
      default -> throw new picocli.CommandLine.ParameterException(new picocli.CommandLine(this), "unknown --spec " + spec);
    };
    EngineConfig cfg = EngineConfig.defaults();
    if (threads != null) {
      cfg = cfg.withIntraOpThreads(threads);
    }
    EngineReport report = Engine.initialize(cfg);
    System.out.println("clip4j demo — outputs under " + out.toAbsolutePath());
    System.out.print(report.format());

    Path model = out.resolve("model-" + spec);
    section("1. Model: " + s.name() + " with RANDOM, UNTRAINED weights (" + model + ")");
    if (!Files.isRegularFile(model.resolve("open_clip_model.safetensors")) || !Files.isRegularFile(model.resolve("vocab.json"))) {
      long t0 = System.nanoTime();
      RandomModels.write(model, s, 0);
      System.out.printf("   written in %.1f s (open_clip layout: open_clip_config.json, open_clip_model.safetensors,"
          + " vocab.json + merges.txt)%n", secondsSince(t0));
    } else {
      System.out.println("   reusing the model written by an earlier run");
    }
    System.out.println("   The embeddings, labels and scores below are meaningless: the weights are random. For real results");
    System.out.println("   point --model at an open_clip hub directory, e.g. laion/CLIP-ViT-B-32-laion2B-s34B-b79K or");
    System.out.println("   timm/vit_base_patch32_clip_224.openai (open_clip_config.json + open_clip_model.safetensors + vocab).");

    Path images = out.resolve("images");
    List<Path> files = DemoImages.write(images, 0);
    section("2. Images: " + (files.size() - 1) + " generated shapes + 1 truncated JPEG (" + images + ")");

    Path index = out.resolve("index");
    section("3. clip4j embed-images --model " + model + " --out " + index + " --shard-size 8 " + images);
    int rc = Main.run("embed-images", "--model", model.toString(), "--out", index.toString(), "--shard-size", "8",
        "--overwrite", "--progress", "log", images.toString());
    JsonNode manifest = readJson(index.resolve("manifest.json"));
    long rows = manifest.path("rows").asLong(-1);
    long errors = manifest.path("errors").asLong(-1);
    double seconds = manifest.path("timings").path("elapsed_seconds").asDouble(Double.NaN);
    System.out.printf("   exit code %d (3 = completed with errors), %d images embedded, %d error(s), %d shard(s);"
        + " %.1f images/s (decode + preprocess + both passes of the job, model load excluded)%n",
        rc, rows, errors, manifest.path("shards").size(), (rows + errors) / seconds);
    List<String> errorLines = Files.readAllLines(index.resolve("errors.jsonl"));
    errorLines.forEach(l -> System.out.println("   errors.jsonl: " + l));
    boolean ok = rc == 3 && rows == files.size() - 1 && errors == 1 && errorLines.size() == 1
        && errorLines.get(0).contains(DemoImages.CORRUPT);
    if (!ok) {
      System.err.println("clip4j demo: expected every generated image embedded and only " + DemoImages.CORRUPT + " reported");
      return 1;
    }

    List<String> labels = new ArrayList<>();
    for (String c : DemoImages.COLORS) {
      for (String sh : DemoImages.SHAPES) {
        labels.add(c + " " + sh);
      }
    }
    section("4. clip4j classify --model " + model + " --labels <16 colour+shape labels> --template \"a photo of a {}.\""
        + " --template \"a drawing of a {}.\" -k 3 " + images.resolve("shapes"));
    rc = Main.run("classify", "--model", model.toString(), "--labels", String.join(",", labels),
        "--template", "a photo of a {}.", "--template", "a drawing of a {}.", "-k", "3", images.resolve("shapes").toString());
    if (rc != 0) {
      System.err.println("clip4j demo: classify failed (exit code " + rc + ")");
      return 1;
    }

    section("5. clip4j search --model " + model + " --index " + index + " --query \"a photo of a red circle\" -k 5");
    rc = Main.run("search", "--model", model.toString(), "--index", index.toString(), "--query", "a photo of a red circle", "-k", "5");
    if (rc != 0) {
      System.err.println("clip4j demo: search failed (exit code " + rc + ")");
      return 1;
    }
    section("Done. The embeddings directory " + index + " holds embeddings-*.npy (np.load), ids-*.jsonl, errors.jsonl and"
        + " manifest.json; re-running embed-images on it without --overwrite resumes instead of starting over.");
    return 0;
  }

  private static void section(String title) {
    System.out.println();
    System.out.println(title);
    System.out.flush();
  }

  private static double secondsSince(long t0) {
    return (System.nanoTime() - t0) / 1e9;
  }

  private static JsonNode readJson(Path file) {
    try {
      return new ObjectMapper().readTree(file.toFile());
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot read " + file + ": " + e.getMessage(), e);
    }
  }
}
