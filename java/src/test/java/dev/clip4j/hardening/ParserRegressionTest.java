package dev.clip4j.hardening;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.RandomAccessFile;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * One test per parser bug found by the fuzzers, the corruption matrix or review, with the input
 * that showed it; and the seeds themselves parse (a seed corpus of broken files would fuzz
 * nothing). The @Timeout only guards against the hang the first case used to be.
 */
class ParserRegressionTest {
  @TempDir Path tmp;

  /** Found by the corruption matrix: the .npy header regex backtracked quadratically (hung for minutes). */
  @Test
  @Timeout(60)
  void npyHeaderOfWhitespaceFailsFast() throws Exception {
    String header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,)" + " ".repeat(60_000) + "x}\n";
    Path f = tmp.resolve("ws.npy");
    byte[] h = header.getBytes(StandardCharsets.ISO_8859_1);
    ByteBuffer b = ByteBuffer.allocate(10 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN);
    b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) h.length).put(h);
    Files.write(f, b.array());
    assertThatThrownBy(() -> Npy.read(f)).isInstanceOf(InvalidInputException.class).hasMessageContaining("header is not a dict");
    // Padding NumPy itself writes still parses.
    Path ok = tmp.resolve("ok.npy");
    Npy.writeFloat32(ok, new float[] {1, 2}, 2);
    assertThat(Npy.read(ok).floats()).containsExactly(1, 2);
  }

  /** Found by ci/fuzz.sh (Jazzer): a space inside a shape, "(2 3,)", threw NumberFormatException. */
  @Test
  void npyShapeWithASpaceIsTyped() throws Exception {
    Path f = Files.write(tmp.resolve("sp.npy"), Files.readAllBytes(Path.of(
        "src/test/resources/dev/clip4j/hardening/ParserFuzzTestInputs/npy/regress-shape-with-space")));
    assertThatThrownBy(() -> Npy.read(f)).isInstanceOf(InvalidInputException.class).hasMessageContaining("malformed shape (2 3,)");
  }

  /**
   * Found by ci/fuzz.sh (Jazzer): a preprocess_cfg with four std values parsed, then
   * ModelMetadata.preprocessConfig() threw IllegalArgumentException. Now refused at parse, typed.
   */
  @Test
  void badPreprocessCfgIsRefusedWhenTheConfigIsParsed() throws Exception {
    String cfg = Seeds.config().replace("\"std\":[0.26862954,0.26130258,0.27577711]", "\"std\":[0.26862954,0.26130258,0,27577711]");
    assertThat(cfg).contains("0,27577711");
    Path dir = Files.createDirectories(tmp.resolve("m"));
    Path f = Files.writeString(dir.resolve("open_clip_config.json"), cfg);
    assertThatThrownBy(() -> ModelConfig.parse(f)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("preprocess_cfg: std must be a number or 3 numbers");
    assertThatThrownBy(() -> dev.clip4j.model.ModelDescription.read(dir).preprocessConfig()).isInstanceOf(InvalidModelException.class);
    Files.writeString(f, Seeds.config());
    assertThat(dev.clip4j.model.ModelDescription.read(dir).preprocessConfig().std()).containsExactly(0.26862954f, 0.26130258f, 0.27577711f);
  }

  /** Review: a .npy of more than 2 GiB allocated a negative-size buffer (IllegalArgumentException). */
  @Test
  void npyLargerThan2GiBIsTyped() throws Exception {
    String header = "{'descr': '<f8', 'fortran_order': False, 'shape': (268435456,), }";
    byte[] h = (header + " ".repeat(63 - (10 + header.length()) % 64) + "\n").getBytes(StandardCharsets.ISO_8859_1);
    Path f = tmp.resolve("big.npy");
    try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
      ByteBuffer b = ByteBuffer.allocate(10 + h.length).order(ByteOrder.LITTLE_ENDIAN);
      b.put(new byte[] {(byte) 0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0}).putShort((short) h.length).put(h);
      raf.write(b.array());
      raf.setLength(10 + h.length + (268435456L * 8)); // sparse: no 2 GiB written
    }
    assertThatThrownBy(() -> Npy.read(f)).isInstanceOf(InvalidInputException.class).hasMessageContaining("2 GiB");
  }

  /** Review: a negative storage offset (LONG1 0xff = -1) reached ByteBuffer.position (IllegalArgumentException). */
  @Test
  void torchTensorWithNegativeStorageOffsetIsTyped() throws Exception {
    byte[] zip = Variants.hostileTorchZips().get("pickle-negative-offset");
    Path f = Files.write(tmp.resolve("neg.bin"), zip);
    assertThatThrownBy(() -> CheckpointReader.read(f)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("negative storage offset -1");
  }

  /** Review: zip sizes/offsets near 2^63 overflowed the range checks. */
  @Test
  void zipCentralDirectoryOutOfRangeIsTyped() throws Exception {
    Map<String, byte[]> hostile = Variants.hostileTorchZips();
    for (String name : new String[] {"eocd-cd-size-huge", "eocd-cd-offset-far", "eocd-count-ffff", "overlapping-members",
        "member-dotdot", "bomb-storage", "size-lies"}) {
      Path f = Files.write(tmp.resolve(name + ".bin"), hostile.get(name));
      assertThatThrownBy(() -> CheckpointReader.read(f)).as(name).isInstanceOf(InvalidModelException.class);
    }
    assertThat(tmp.getParent().resolve("x")).doesNotExist();
  }

  /** The seeds are valid files: each parses to the values it was written with. */
  @Test
  void seedsParse() throws Exception {
    try (StateDict sd = CheckpointReader.read(Files.write(tmp.resolve("s.safetensors"), Seeds.safetensors()))) {
      assertThat(sd.keys()).containsExactly("a.weight", "b", "c");
      assertThat(sd.get("b").toFloatArray()).containsExactly(2f, 2.5f, 3f, 3.5f);
    }
    try (StateDict sd = CheckpointReader.read(Files.write(tmp.resolve("t.bin"), Seeds.torchZip()))) {
      assertThat(sd.format()).isEqualTo("torch-zip");
      assertThat(sd.get("a.weight").shape()).containsExactly(2, 3);
      assertThat(sd.get("a.weight").toFloatArray()).containsExactly(1, 2, 3, 4, 5, 6);
      assertThat(sd.get("b").toFloatArray()).containsExactly(-1, 0.5f, 2, 8);
    }
    assertThat(Npy.read(Files.write(tmp.resolve("x.npy"), Seeds.npy(tmp))).shape()).containsExactly(2, 3);
    assertThat(ModelConfig.parse(Files.write(tmp.resolve("c.json"), Seeds.config().getBytes(StandardCharsets.UTF_8))).embedDim())
        .isEqualTo(32);
    ClipTokenizer bpe = ClipTokenizer.fromBpeVocab(Seeds.bpeGz(), "seed");
    Files.writeString(tmp.resolve("vocab.json"), Seeds.vocabJson());
    Files.writeString(tmp.resolve("merges.txt"), Seeds.mergesTxt());
    ClipTokenizer hf = ClipTokenizer.fromDirectory(tmp);
    assertThat(bpe.encode("a photo of the red cat")).containsExactly(hf.encode("a photo of the red cat"));
    assertThat(bpe.encode("cat")).hasSize(1); // "ca t</w>" merged to one token
    for (Map.Entry<String, byte[]> img : Seeds.images().entrySet()) {
      var d = ImageDecoder.decode(img.getValue(), img.getKey(), dev.clip4j.preprocess.DecodeOptions.defaults());
      assertThat(d.width()).as(img.getKey()).isEqualTo(24);
      assertThat(d.height()).as(img.getKey()).isEqualTo(16);
    }
  }
}
