package dev.clip4j.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import dev.clip4j.testing.Conformance;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointReaderTest {

  private static Path fixture(String rel) {
    return Conformance.dir().resolve(rel);
  }

  @Test
  void safetensorsAndTorchZipHoldTheSameTensors() {
    for (String[] pair : new String[][] {
      {"models/tiny-gelu/open_clip_model.safetensors", "models/tiny-gelu/open_clip_pytorch_model.bin"},
      {"multilingual/model.safetensors", "multilingual/pytorch_model.bin"},
      {"multilingual/2_Dense/model.safetensors", "multilingual/2_Dense/pytorch_model.bin"}}) {
      try (StateDict a = CheckpointReader.read(fixture(pair[0])); StateDict b = CheckpointReader.read(fixture(pair[1]))) {
        assertThat(a.format()).isEqualTo("safetensors");
        assertThat(b.format()).isEqualTo("torch-zip");
        assertThat(a.keys()).as(pair[0]).containsExactlyInAnyOrderElementsOf(b.keys());
        for (String k : a.keys()) {
          TensorData x = a.get(k);
          TensorData y = b.get(k);
          assertThat(x.dtype()).isEqualTo(y.dtype());
          assertThat(x.shape()).as(k).containsExactly(y.shape());
          assertThat(x.data()).as(k).isEqualTo(y.data());
        }
      }
    }
    try (StateDict sd = CheckpointReader.read(fixture("models/tiny-gelu/open_clip_model.safetensors"))) {
      assertThat(sd.get("visual.conv1.weight").shape()).containsExactly(64, 3, 32, 32);
      assertThat(sd.get("positional_embedding").shape()).containsExactly(77, 32);
      assertThat(sd.get("text_projection").shape()).containsExactly(32, 64);
      assertThat(sd.get("logit_scale").toFloatArray()[0]).isCloseTo((float) Math.log(1 / 0.07), org.assertj.core.data.Offset.offset(1e-6f));
    }
  }

  @Test
  void wrongKeysFileIsReadableAndShowsTheEdits() {
    try (StateDict sd = CheckpointReader.read(fixture("models/tiny-gelu/wrong_keys.bin"))) {
      assertThat(sd.keys()).contains("text_model.embeddings.position_ids")
          .doesNotContain("positional_embedding", "text_projection");
      assertThat(sd.get("text_model.embeddings.position_ids").dtype()).isEqualTo(DType.I64);
    }
  }

  /** A minimal safetensors file built by hand. */
  private static byte[] safetensors(String header, byte[] data) {
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + data.length).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length).put(h).put(data);
    return b.array();
  }

  @Test
  void malformedSafetensorsAreTypedErrors(@TempDir Path tmp) throws Exception {
    byte[] eight = new byte[8];
    String[] headers = {
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4]}}", // size mismatch
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[2,6]}}", // overlap
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}", // gap at 0
      "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}", // past the end
      "{\"a\":{\"dtype\":\"Q8\",\"shape\":[8],\"data_offsets\":[0,8]}}", // dtype
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[-8],\"data_offsets\":[0,8]}}", // negative
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,8]}}", // overflow
      "{\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]},\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
      "{\"__metadata__\":{\"x\":1},\"a\":{\"dtype\":\"U8\",\"shape\":[8],\"data_offsets\":[0,8]}}",
      "[1,2,3]",
      "{not json",
    };
    int i = 0;
    for (String h : headers) {
      Path f = tmp.resolve("s" + i++ + ".safetensors");
      Files.write(f, safetensors(h, eight));
      assertThatThrownBy(() -> CheckpointReader.read(f)).as(h).isInstanceOf(InvalidModelException.class)
          .hasMessageContaining(f.toString());
    }
    // Absurd header lengths.
    for (long len : new long[] {0, 1, -1, 1L << 40, 9}) {
      Path f = tmp.resolve("len" + i++ + ".safetensors");
      ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(len).putLong(0);
      Files.write(f, b.array());
      assertThatThrownBy(() -> CheckpointReader.read(f)).isInstanceOf(InvalidModelException.class);
    }
    // A valid one for contrast.
    Path ok = tmp.resolve("ok.safetensors");
    Files.write(ok, safetensors("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", new byte[8]));
    try (StateDict sd = CheckpointReader.read(ok)) {
      assertThat(sd.get("a").toFloatArray()).containsExactly(0f, 0f);
    }
  }

  @Test
  void corruptedFixturesFailTypedAndFast(@TempDir Path tmp) throws Exception {
    Random rng = new Random(11);
    for (String rel : new String[] {"models/tiny-gelu/open_clip_model.safetensors", "models/tiny-gelu/open_clip_pytorch_model.bin"}) {
      byte[] good = Files.readAllBytes(fixture(rel));
      int tried = 0;
      int[] cuts = {0, 1, 4, 7, 8, 9, 30, 64, 100, good.length / 3, good.length / 2, good.length - 22, good.length - 1};
      for (int cut : cuts) {
        expectTypedOrValid(tmp, Arrays.copyOf(good, cut), rel + " truncated at " + cut);
        tried++;
      }
      for (int k = 0; k < 60; k++) {
        byte[] b = good.clone();
        int flips = 1 + rng.nextInt(8);
        for (int j = 0; j < flips; j++) {
          int pos = rng.nextInt(Math.min(b.length, 20000));
          b[pos] ^= (byte) (1 << rng.nextInt(8));
        }
        expectTypedOrValid(tmp, b, rel + " bit flips " + k);
        tried++;
      }
      for (int k = 0; k < 20; k++) {
        byte[] b = good.clone();
        int from = rng.nextInt(b.length);
        Arrays.fill(b, from, Math.min(b.length, from + 1 + rng.nextInt(4096)), (byte) 0);
        expectTypedOrValid(tmp, b, rel + " zeroed " + k);
        tried++;
      }
      assertThat(tried).isEqualTo(cuts.length + 80);
    }
    byte[] random = new byte[10000];
    rng.nextBytes(random);
    expectTyped(tmp, random, "random bytes");
    expectTyped(tmp, new byte[0], "empty file");
  }

  private static int counter;

  private static void expectTypedOrValid(Path tmp, byte[] content, String what) throws Exception {
    Path f = tmp.resolve("c" + counter++);
    Files.write(f, content);
    long t0 = System.nanoTime();
    try (StateDict sd = CheckpointReader.read(f)) {
      // A flip inside tensor data leaves a valid file: every tensor must still be fully readable.
      for (TensorData t : sd.tensors().values()) {
        assertThat(t.data().remaining()).isEqualTo(t.numel() * t.dtype().byteSize());
      }
    } catch (InvalidModelException e) {
      assertThat(e.getMessage()).as(what).contains(f.toString());
    }
    assertThat((System.nanoTime() - t0) / 1e9).as(what).isLessThan(2.0);
  }

  private static void expectTyped(Path tmp, byte[] content, String what) throws Exception {
    Path f = tmp.resolve("t" + counter++);
    Files.write(f, content);
    assertThatThrownBy(() -> CheckpointReader.read(f)).as(what).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining(f.toString());
  }

  /** A torch.save-like archive whose data.pkl is {@code pickle}, written stored (uncompressed). */
  private static byte[] torchZip(byte[] pickle, String extraName, byte[] extra, int method) throws Exception {
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    try (ZipOutputStream z = new ZipOutputStream(bos)) {
      put(z, "archive/data.pkl", pickle, ZipEntry.STORED);
      if (extraName != null) {
        put(z, extraName, extra, method);
      }
    }
    return bos.toByteArray();
  }

  private static void put(ZipOutputStream z, String name, byte[] data, int method) throws Exception {
    ZipEntry e = new ZipEntry(name);
    e.setMethod(method);
    if (method == ZipEntry.STORED) {
      CRC32 crc = new CRC32();
      crc.update(data);
      e.setSize(data.length);
      e.setCompressedSize(data.length);
      e.setCrc(crc.getValue());
    }
    z.putNextEntry(e);
    z.write(data);
    z.closeEntry();
  }

  private static byte[] pickle(String body) {
    // protocol 2, then the given opcodes, then STOP
    byte[] b = body.getBytes(StandardCharsets.ISO_8859_1);
    byte[] out = new byte[b.length + 3];
    out[0] = (byte) 0x80;
    out[1] = 2;
    System.arraycopy(b, 0, out, 2, b.length);
    out[out.length - 1] = '.';
    return out;
  }

  @Test
  void hostilePicklesAndArchivesAreRefused(@TempDir Path tmp) throws Exception {
    String[][] cases = {
      {"cos\nsystem\nX\u0002\u0000\u0000\u0000idt\u0085R", "os.system"},
      {"cbuiltins\neval\nX\u0001\u0000\u0000\u0000x\u0085R", "builtins.eval"},
      {"ctorch\nload\n)R", "torch.load"},
      {"ccollections\nOrderedDict\nX\u0001\u0000\u0000\u0000x\u0085R", "OrderedDict called with arguments"},
      {"ccollections\nOrderedDict\n)R\u0081", "opcode 0x81"},
      {"(((((", "stack"},
      {"h\u0005", "memo"},
    };
    int i = 0;
    for (String[] c : cases) {
      Path f = tmp.resolve("p" + i++ + ".bin");
      Files.write(f, torchZip(pickle(c[0]), null, null, ZipEntry.STORED));
      assertThatThrownBy(() -> CheckpointReader.read(f)).as(c[1]).isInstanceOf(InvalidModelException.class)
          .hasMessageContaining(c[1]);
    }
    // A member escaping the archive, and a deflated (possibly bomb) member.
    Path escape = tmp.resolve("escape.bin");
    Files.write(escape, torchZip(pickle("}"), "archive/../x", new byte[4], ZipEntry.STORED));
    assertThatThrownBy(() -> CheckpointReader.read(escape)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("escapes");
    Path bomb = tmp.resolve("bomb.bin");
    Files.write(bomb, torchZip(pickle("}"), "archive/data/0", new byte[50_000_000], ZipEntry.DEFLATED));
    assertThat(Files.size(bomb)).isLessThan(1_000_000);
    assertThatThrownBy(() -> CheckpointReader.read(bomb)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("compressed");
    // A storage reference whose tensor reaches past its storage.
    String oob = "ccollections\nOrderedDict\n)R"
        + "X\u0001\u0000\u0000\u0000w"
        + "ctorch._utils\n_rebuild_tensor_v2\n"
        + "((X\u0007\u0000\u0000\u0000storagectorch\nFloatStorage\nX\u0001\u0000\u0000\u00000X\u0003\u0000\u0000\u0000cpuK\u0002tQ"
        + "K\u0000K\u0004\u0085K\u0001\u0085\u0089ccollections\nOrderedDict\n)RtR"
        + "s";
    Path over = tmp.resolve("oob.bin");
    Files.write(over, torchZip(pickle(oob), "archive/data/0", new byte[8], ZipEntry.STORED));
    assertThatThrownBy(() -> CheckpointReader.read(over)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("reaches past its storage");
    // The same with a valid size reads.
    Path fine = tmp.resolve("fine.bin");
    Files.write(fine, torchZip(pickle(oob.replace("K\u0004\u0085", "K\u0002\u0085")), "archive/data/0", new byte[8], ZipEntry.STORED));
    try (StateDict sd = CheckpointReader.read(fine)) {
      assertThat(sd.get("w").shape()).containsExactly(2);
    }
  }
}
