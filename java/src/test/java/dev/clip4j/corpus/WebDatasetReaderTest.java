package dev.clip4j.corpus;

import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.ErrorCode;
import dev.clip4j.testing.TarBuilder;
import java.io.ByteArrayInputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class WebDatasetReaderTest {
  private static final byte[] A = bytes(700, 1);
  private static final byte[] B = bytes(300, 2);

  private static byte[] bytes(int n, int seed) {
    byte[] b = new byte[n];
    for (int i = 0; i < n; i++) {
      b[i] = (byte) (i * 31 + seed);
    }
    return b;
  }

  private static List<WebDatasetReader.Sample> read(byte[] tar, long max) {
    List<WebDatasetReader.Sample> out = new ArrayList<>();
    try (WebDatasetReader r = new WebDatasetReader(new ByteArrayInputStream(tar), "s.tar", max)) {
      r.forEachRemaining(out::add);
    }
    return out;
  }

  @Test
  void groupsMembersBySampleKeyWithCaptionAndJson() {
    byte[] tar = new TarBuilder().dir("./").add("./000001.jpg", A).add("./000001.txt", "a cat")
        .add("./000001.json", "{\"k\":1}").add("000002.png", B).add("000002.txt", "zwei Hunde ✓")
        .add("sub/000003.jpg", B).build();
    List<WebDatasetReader.Sample> s = read(tar, 1 << 20);
    assertThat(s).extracting(WebDatasetReader.Sample::name)
        .containsExactly("s.tar/000001.jpg", "s.tar/000002.png", "s.tar/sub/000003.jpg");
    assertThat(s).extracting(WebDatasetReader.Sample::key).containsExactly("000001", "000002", "sub/000003");
    assertThat(s.get(0).image()).isEqualTo(A);
    assertThat(s.get(0).caption()).isEqualTo("a cat");
    assertThat(s.get(0).json()).isEqualTo("{\"k\":1}");
    assertThat(s.get(1).image()).isEqualTo(B);
    assertThat(s.get(1).caption()).isEqualTo("zwei Hunde ✓");
    assertThat(s.get(2).caption()).isNull();
    assertThat(s).allSatisfy(x -> assertThat(x.error()).isNull());
  }

  @Test
  void oversizedMemberIsAnErrorAndTheShardGoesOn() {
    byte[] tar = new TarBuilder().add("1.jpg", A).add("1.txt", "big").add("2.jpg", B).build();
    List<WebDatasetReader.Sample> s = read(tar, 500);
    assertThat(s).hasSize(2);
    assertThat(s.get(0).name()).isEqualTo("s.tar/1.jpg");
    assertThat(s.get(0).image()).isNull();
    assertThat(s.get(0).caption()).isEqualTo("big");
    assertThat(s.get(0).error().code()).isEqualTo(ErrorCode.INVALID_INPUT);
    assertThat(s.get(0).error().getMessage()).contains("700 bytes exceeds the limit of 500");
    assertThat(s.get(1).image()).isEqualTo(B);
  }

  @Test
  void sampleWithoutImageIsOneErrorNamingItsMembers() {
    byte[] tar = new TarBuilder().add("1.txt", "only a caption").add("1.bin", B).add("2.jpg", A).build();
    List<WebDatasetReader.Sample> s = read(tar, 1 << 20);
    assertThat(s).hasSize(2);
    assertThat(s.get(0).name()).isEqualTo("s.tar/1");
    assertThat(s.get(0).error().code()).isEqualTo(ErrorCode.INVALID_INPUT);
    assertThat(s.get(0).error().getMessage()).contains("no image member (1.txt, 1.bin)");
    assertThat(s.get(1).error()).isNull();
  }

  @Test
  void truncatedShardYieldsCompleteSamplesThenOneIoError() {
    byte[] full = new TarBuilder().add("1.jpg", A).add("1.txt", "one").add("2.jpg", A).add("2.txt", "two").build();
    // Cut inside member 2.jpg's data: 1.jpg (512 + 1024) + 1.txt (512 + 512) + 2.jpg header 512 + 100.
    byte[] cut = Arrays.copyOf(full, 512 + 1024 + 1024 + 512 + 100);
    List<WebDatasetReader.Sample> s = read(cut, 1 << 20);
    assertThat(s).hasSize(2);
    assertThat(s.get(0).name()).isEqualTo("s.tar/1.jpg");
    assertThat(s.get(0).caption()).isEqualTo("one");
    assertThat(s.get(1).name()).isEqualTo("s.tar/2");
    assertThat(s.get(1).error().code()).isEqualTo(ErrorCode.IO);
    assertThat(s.get(1).error().getMessage()).contains("truncated").contains("2.jpg");
    // Cut inside a header.
    List<WebDatasetReader.Sample> h = read(Arrays.copyOf(full, 512 + 1024 + 200), 1 << 20);
    assertThat(h).hasSize(1);
    assertThat(h.get(0).error().getMessage()).contains("truncated: a header cut short at byte 1536");
  }

  @Test
  void shardWithoutEndBlocksOnAMemberBoundaryIsAccepted() {
    byte[] tar = new TarBuilder().add("1.jpg", A).buildWithoutEnd();
    assertThat(read(tar, 1 << 20)).singleElement().satisfies(x -> assertThat(x.image()).isEqualTo(A));
  }

  @Test
  void notATarIsOneIoError() {
    byte[] junk = new byte[2048];
    Arrays.fill(junk, (byte) 'x');
    assertThat(read(junk, 1 << 20)).singleElement().satisfies(x -> {
      assertThat(x.error().code()).isEqualTo(ErrorCode.IO);
      assertThat(x.error().getMessage()).contains("bad checksum");
      assertThat(x.name()).isEqualTo("s.tar");
    });
  }

  @Test
  void invalidUtf8CaptionIsAnError() {
    byte[] tar = new TarBuilder().add("1.jpg", A).add("1.txt", new byte[] {(byte) 0xff, 'a'}).build();
    assertThat(read(tar, 1 << 20)).singleElement()
        .satisfies(x -> assertThat(x.error().getMessage()).contains("1.txt: not valid UTF-8"));
  }

  @Test
  void gnuLongNames() {
    String dir = "d".repeat(120) + "/";
    byte[] tar = new TarBuilder().add(dir + "k.jpg", A).add(dir + "k.txt", "long").build();
    assertThat(read(tar, 1 << 20)).singleElement().satisfies(x -> {
      assertThat(x.name()).isEqualTo("s.tar/" + dir + "k.jpg");
      assertThat(x.caption()).isEqualTo("long");
    });
  }

  /** Archives written by GNU tar itself, in its pax and gnu formats (long names included). */
  @Test
  void readsWhatGnuTarWrites(@TempDir Path tmp) throws Exception {
    Path src = Files.createDirectories(tmp.resolve("src"));
    String longKey = "k".repeat(130);
    Files.write(src.resolve("000001.jpg"), A);
    Files.writeString(src.resolve("000001.txt"), "eins", StandardCharsets.UTF_8);
    Files.write(src.resolve(longKey + ".png"), B);
    for (String format : List.of("pax", "gnu", "ustar")) {
      Path tar = tmp.resolve(format + ".tar");
      List<String> members = format.equals("ustar") ? List.of("000001.jpg", "000001.txt")
          : List.of("000001.jpg", "000001.txt", longKey + ".png");
      List<String> cmd = new ArrayList<>(List.of("tar", "--format=" + format, "-cf", tar.toString(), "-C", src.toString()));
      cmd.addAll(members);
      Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
      assertThat(p.waitFor()).as(new String(p.getInputStream().readAllBytes())).isZero();
      List<WebDatasetReader.Sample> s = read(Files.readAllBytes(tar), 1 << 20);
      assertThat(s).as(format).hasSize(members.size() - 1);
      assertThat(s.get(0).image()).isEqualTo(A);
      assertThat(s.get(0).caption()).isEqualTo("eins");
      if (members.size() == 3) {
        assertThat(s.get(1).name()).isEqualTo("s.tar/" + longKey + ".png");
        assertThat(s.get(1).image()).isEqualTo(B);
      }
    }
  }

  @Test
  void imageWalkExpandsShardsIntoItemsWithTheirBytes(@TempDir Path tmp) throws Exception {
    Path tar = tmp.resolve("shard-0.tar");
    Files.write(tar, new TarBuilder().add("1.jpg", A).add("2.txt", "no image").add("3.png", B).build());
    Path plain = Files.write(tmp.resolve("x.jpg"), B);
    List<CorpusItem> items = new ArrayList<>();
    try (ItemSource.Items it = new ImageWalk(List.of(tar.toString(), plain.toString()), null, null, null).open()) {
      it.forEachRemaining(items::add);
    }
    assertThat(items).extracting(CorpusItem::name)
        .containsExactly(tar + "/1.jpg", tar + "/2", tar + "/3.png", plain.toString());
    assertThat(items).extracting(CorpusItem::index).containsExactly(0L, 1L, 2L, 3L);
    assertThat(items.get(0).data()).isEqualTo(A);
    assertThat(items.get(1).error().code()).isEqualTo(ErrorCode.INVALID_INPUT);
    assertThat(items.get(2).data()).isEqualTo(B);
    assertThat(items.get(3).path()).isEqualTo(plain);
    assertThat(items.get(3).data()).isNull();
  }
}
