package dev.clip4j.model;

import static dev.clip4j.testing.Tensors.maxAbsDiff;
import static dev.clip4j.testing.Tensors.toFloats;
import static org.assertj.core.api.Assertions.assertThat;

import dev.clip4j.head.Activation;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Enumeration;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;
import org.bytedeco.pytorch.Tensor;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * OpenAI-style TorchScript archives with fp16 weights ({@code openai_jit_fp16.pt}): read as
 * weights, upcast to fp32, built with clip4j's towers; the reference is open_clip computing in fp32
 * on the fp16-rounded weights ({@code expected_*_fp16w.npy}).
 */
class OpenAiJitModelTest {

  @ParameterizedTest
  @ValueSource(strings = {"tiny-gelu", "tiny-quickgelu"})
  void anFp16ArchiveEmbedsAsTheReferenceWithoutRunningItsCode(String name, @TempDir Path tmp) throws Exception {
    Path archive = ModelFixtures.model(name).resolve("openai_jit_fp16.pt");
    assertThat(ModelFormat.detect(archive)).isEqualTo(ModelFormat.OPENAI_JIT);
    float[] wantImg = ModelFixtures.expected(name, "expected_image_embeddings_fp16w.npy");
    float[] wantTxt = ModelFixtures.expected(name, "expected_text_embeddings_fp16w.npy");
    float[] img;
    float[] txt;
    try (ClipModel m = ClipModel.load(archive); Tensor px = ModelFixtures.pixels(); Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(m.info().format()).isEqualTo(ModelFormat.OPENAI_JIT);
      Activation want = name.equals("tiny-gelu") ? Activation.GELU : Activation.QUICK_GELU;
      assertThat(m.info().activation()).isEqualTo(want);
      assertThat(m.info().activationSource()).contains(want == Activation.GELU ? "GELU" : "QuickGELU");
      assertThat(m.info().tokenizer()).contains("bpe_simple_vocab_16e6.txt.gz"); // the one beside the archive
      img = toFloats(m.embedImages(px));
      txt = toFloats(m.embedTexts(ids));
      assertThat(maxAbsDiff(img, wantImg)).isLessThanOrEqualTo(1e-5);
      assertThat(maxAbsDiff(txt, wantTxt)).isLessThanOrEqualTo(1e-5);
    }
    // The same archive with every code/ member replaced by garbage: nothing there is read, so the
    // model and its embeddings are the same bits.
    Path garbled = tmp.resolve("garbled.pt");
    try (ZipFile zin = new ZipFile(archive.toFile()); OutputStream os = Files.newOutputStream(garbled);
        ZipOutputStream zout = new ZipOutputStream(os)) {
      int replaced = 0;
      for (Enumeration<? extends ZipEntry> en = zin.entries(); en.hasMoreElements(); ) {
        ZipEntry e = en.nextElement();
        ZipEntry out = new ZipEntry(e.getName());
        out.setMethod(ZipEntry.STORED);
        byte[] data;
        try (InputStream in = zin.getInputStream(e)) {
          data = in.readAllBytes();
        }
        if (e.getName().contains("/code/")) {
          data = ("raise RuntimeError('this code must never run')\n" + "x".repeat(data.length))
              .getBytes(StandardCharsets.UTF_8);
          replaced++;
        }
        out.setSize(data.length);
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        crc.update(data);
        out.setCrc(crc.getValue());
        zout.putNextEntry(out);
        zout.write(data);
        zout.closeEntry();
      }
      assertThat(replaced).isGreaterThan(0);
    }
    try (ClipModel m = ClipModel.load(garbled); Tensor px = ModelFixtures.pixels(); Tensor ids = ModelFixtures.tokenIds()) {
      assertThat(m.info().tokenizer()).contains("standard CLIP vocabulary"); // none beside it: clip4j's own
      assertThat(toFloats(m.embedImages(px))).containsExactly(img);
      assertThat(toFloats(m.embedTexts(ids))).containsExactly(txt);
    }
  }
}
