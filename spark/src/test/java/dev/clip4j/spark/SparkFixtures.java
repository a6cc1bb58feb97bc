package dev.clip4j.spark;

import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.TarBuilder;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Inputs for the Spark tests, made in a temporary directory from the conformance images. */
final class SparkFixtures {
  /** Good images, in a mix of formats and modes (RGB, RGBA, palette, grayscale-free, tiny). */
  static final List<String> GOOD = List.of("chelsea.png", "rocket.jpg", "odd_225x333.jpg", "logo.png",
      "palette_color.png", "tiny_5x7.png");

  final Path model;
  final Path images;
  final Map<String, Path> good = new LinkedHashMap<>();
  final Path corrupt;
  final Path notImage;
  final List<Path> shards = new ArrayList<>();
  final Path truncatedShard;
  final Path badShard;
  final long maxInputBytes;

  SparkFixtures(Path tmp) throws IOException {
    Path conf = Conformance.dir();
    model = conf.resolve("models/tiny-gelu");
    images = Files.createDirectories(tmp.resolve("images"));
    long max = 0;
    for (String n : GOOD) {
      Path p = Files.copy(conf.resolve("images").resolve(n), images.resolve(n));
      good.put(n, p);
      max = Math.max(max, Files.size(p));
    }
    maxInputBytes = max + 1;
    corrupt = Files.copy(conf.resolve("images/corrupt_truncated.jpg"), images.resolve("corrupt_truncated.jpg"));
    notImage = Files.writeString(images.resolve("notes.jpg"), "this is text, not a JPEG");
    // The same good images as 3 shards of 2, captions beside them.
    Path shardDir = Files.createDirectories(tmp.resolve("shards"));
    for (int s = 0; s < 3; s++) {
      TarBuilder tb = new TarBuilder();
      for (int i = 2 * s; i < 2 * s + 2; i++) {
        String n = GOOD.get(i);
        String key = String.format("%09d", i);
        tb.add(key + n.substring(n.lastIndexOf('.')), Files.readAllBytes(good.get(n)));
        tb.add(key + ".txt", "caption of " + n);
        tb.add(key + ".json", "{\"source\":\"" + n + "\"}");
      }
      shards.add(Files.write(shardDir.resolve(String.format("shard-%05d.tar", s)), tb.build()));
    }
    // A shard cut inside its second image: one good row, then an IO error row.
    byte[] full = Files.readAllBytes(shards.get(0));
    int firstSample = 512 + pad(Files.size(good.get(GOOD.get(0)))) + 2 * 1024;
    truncatedShard = Files.write(shardDir.resolve("truncated.tar"), Arrays.copyOf(full, firstSample + 512 + 100));
    // An oversized member, a sample with no image, a non-image named .jpg, then a good image.
    byte[] big = new byte[(int) maxInputBytes + 10];
    badShard = Files.write(shardDir.resolve("bad.tar"), new TarBuilder()
        .add("big.png", big).add("capt.txt", "a caption without image")
        .add("text.jpg", "not an image").add("ok.png", Files.readAllBytes(good.get("chelsea.png"))).build());
  }

  private static int pad(long n) {
    return (int) ((n + 511) / 512 * 512);
  }

  /** The images of {@link #images} by file name. */
  String name(String path) {
    return path.substring(path.lastIndexOf('/') + 1);
  }
}
