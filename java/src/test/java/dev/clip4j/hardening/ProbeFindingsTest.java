package dev.clip4j.hardening;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.DeviceException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import dev.clip4j.InvalidModelException;
import dev.clip4j.io.EmbeddingIndex;
import dev.clip4j.model.ClipModel;
import dev.clip4j.model.LoadOptions;
import dev.clip4j.model.RandomModels;
import dev.clip4j.preprocess.ImageDecoder;
import dev.clip4j.search.ExactSearch;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.IndexDirs;
import dev.clip4j.text.st.SentenceTransformerPipeline;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The findings of a hostile-input probe (issue 17), through the library: each input gets the
 * behaviour stated in the test name. The command line's side of the same findings (messages on
 * stderr, exit codes, output files) is {@code ProbeFindingsCliTest} in cli/. The @Timeout values
 * only guard against a regression to the old unbounded behaviour; they measure nothing.
 */
class ProbeFindingsTest {
  @TempDir static Path tmp;
  static Path modelDir;
  private static final ObjectMapper JSON = new ObjectMapper();

  @BeforeAll
  static void setUp() throws IOException {
    modelDir = RandomModels.write(tmp.resolve("tiny"), Seeds.tinySpec(), 3);
    Files.write(modelDir.resolve("bpe_simple_vocab_16e6.txt.gz"), Seeds.bpeGz());
  }

  @Test
  @Timeout(60)
  void architectureSizesAreBoundedByTheWeightsBeforeNamesAreExpanded() throws IOException {
    for (long layers : new long[] {1_000_000, 1_000_000_000}) {
      Path dir = ProbeInputs.withVisionLayers(modelDir, tmp.resolve("layers-" + layers), layers);
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> ClipModel.load(dir).close())
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContaining("the configuration cannot describe these weights")
          .hasMessageContaining(String.format("vision_cfg.layers %,d", layers))
          .hasMessageContaining("1 vision and 1 text transformer blocks")
          .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(1500));
      assertThat((System.nanoTime() - t0) / 1e9).as("load of a config with %d layers", layers).isLessThan(20);
    }
  }

  /** A copy of the fixture's Hugging Face CLIPModel directory. */
  private static Path hfCopy(String name) throws IOException {
    Path src = Conformance.dir().resolve("models/tiny-gelu/hf");
    Path dir = Files.createDirectories(tmp.resolve(name));
    try (Stream<Path> files = Files.list(src)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    return dir;
  }

  @Test
  @Timeout(60)
  void huggingFaceLayerCountsAreBoundedToo() throws IOException {
    Path dir = hfCopy("hf-layers");
    ObjectNode cfg = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
    ((ObjectNode) cfg.get("vision_config")).put("num_hidden_layers", 1_000_000_000);
    JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
    long t0 = System.nanoTime();
    // HfClipConfig bounds the layer count itself (the reader's table is built from the config)
    assertThatThrownBy(() -> ClipModel.load(dir).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("num_hidden_layers must be an integer in [1, 1024], got 1000000000")
        .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(1000));
    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(20);
    // and a legacy pickle where transformers' pytorch_model.bin should be is named as such
    Path legacy = hfCopy("hf-legacy");
    Files.delete(legacy.resolve("model.safetensors"));
    Files.write(legacy.resolve("pytorch_model.bin"), ProbeInputs.legacyTorchSave());
    assertThatThrownBy(() -> ClipModel.load(legacy).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("unsupported format: a legacy (non-zip) torch.save pickle");
  }

  @Test
  @Timeout(60)
  void sentenceTransformerLayerCountIsBoundedToo() throws IOException {
    Path src = Conformance.dir().resolve("multilingual");
    Path dir = Files.createDirectories(tmp.resolve("st-layers"));
    try (Stream<Path> walk = Files.walk(src)) {
      for (Path f : (Iterable<Path>) walk::iterator) {
        Path to = dir.resolve(src.relativize(f).toString());
        if (Files.isDirectory(f)) {
          Files.createDirectories(to);
        } else if (!f.getFileName().toString().equals("pytorch_model.bin")) {
          Files.copy(f, to);
        }
      }
    }
    ObjectNode cfg = (ObjectNode) JSON.readTree(dir.resolve("config.json").toFile());
    String key = cfg.has("n_layers") ? "n_layers" : "num_hidden_layers";
    cfg.put(key, 1_000_000_000);
    JSON.writeValue(dir.resolve("config.json").toFile(), cfg);
    assertThatThrownBy(() -> SentenceTransformerPipeline.load(dir).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("1000000000 layers")
        .satisfies(e -> assertThat(e.getMessage().length()).isLessThan(1000));
  }

  @Test
  void aTorchScriptArchiveWithAHostilePickleIsRefusedWithAReason() throws IOException {
    Path hostile = ProbeInputs.hostileTorchScript(Conformance.dir().resolve("models/tiny-gelu/torchscript_scripted.pt"),
        tmp.resolve("hostile.pt"));
    // The archive's pickle is now checked in Java before LibTorch sees it; either way the reason
    // names the pickled global (the probe saw an empty reason from LibTorch).
    assertThatThrownBy(() -> ClipModel.load(hostile).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("posix.system")
        .satisfies(e -> assertThat(e.getMessage()).doesNotEndWith(": ").doesNotContain("archive: \n"));
  }

  @Test
  void aSymbolicLinkLoopIsCalledALoop() throws IOException {
    Path a = tmp.resolve("loop-a.png");
    Path b = tmp.resolve("loop-b.png");
    Files.createSymbolicLink(a, b);
    Files.createSymbolicLink(b, a);
    assertThatThrownBy(() -> ImageDecoder.decode(a))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("symbolic link loop")
        .hasMessageNotContaining("dangling");
    // a loop through a directory on the way is a loop too; a dangling link is still dangling
    Path d = tmp.resolve("loop-dir");
    Files.createSymbolicLink(d, d);
    assertThatThrownBy(() -> ImageDecoder.decode(d.resolve("x.png")))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("symbolic link loop");
    Path dangling = Files.createSymbolicLink(tmp.resolve("dangling.png"), tmp.resolve("nowhere.png"));
    assertThatThrownBy(() -> ImageDecoder.decode(dangling))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("dangling symbolic link");
  }

  @Test
  void aLegacyPickleCheckpointIsNamedAndRefusedAsUnsupported() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("legacy"));
    Files.copy(modelDir.resolve("open_clip_config.json"), dir.resolve("open_clip_config.json"));
    Files.write(dir.resolve("open_clip_pytorch_model.bin"), ProbeInputs.legacyTorchSave());
    assertThatThrownBy(() -> ClipModel.load(dir).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("unsupported format: a legacy (non-zip) torch.save pickle")
        .hasMessageNotContaining("safetensors file");
    // Any other bare pickle is named too.
    Files.write(dir.resolve("open_clip_pytorch_model.bin"), ProbeInputs.hostilePickle());
    assertThatThrownBy(() -> ClipModel.load(dir).close())
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("unsupported format: a Python pickle (protocol 2)")
        .hasMessageNotContaining("header length");
  }

  @Test
  void aCudaDeviceThisHostDoesNotHaveIsATypedDeviceErrorInOneLine() {
    for (String device : ProbeInputs.absentCudaDevices()) {
      LoadOptions opts = LoadOptions.builder().device(device).build();
      assertThatThrownBy(() -> ClipModel.load(modelDir, opts).close())
          .as(device)
          .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE))
          .hasMessageContaining("device '" + device + "' is not available on this host")
          .satisfies(e -> assertThat(e.getMessage().lines().count()).isEqualTo(1));
      assertThatThrownBy(() -> ClipModel.load(Conformance.dir().resolve("models/tiny-gelu/torchscript_scripted.pt"),
          opts).close()).as(device + " torchscript").isInstanceOf(DeviceException.class);
      assertThatThrownBy(() -> SentenceTransformerPipeline.load(Conformance.dir().resolve("multilingual"), device)
          .close()).as(device + " sentence-transformers").isInstanceOfSatisfying(DeviceException.class,
              e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE));
    }
    assertThat(Clip4jException.fromStatus(ErrorCode.DEVICE.value(), "x")).isInstanceOf(DeviceException.class);
  }

  @Test
  void exactSearchOnACudaDeviceThisHostDoesNotHaveIsADeviceErrorToo() throws IOException {
    Path dir = tmp.resolve("index");
    List<float[][]> shards = List.<float[][]>of(new float[][] {{1, 0}, {0, 1}});
    IndexDirs.write(dir, "texts", 2, shards, Map.of(), r -> "t" + r);
    try (EmbeddingIndex index = EmbeddingIndex.open(dir)) {
      assertThat(new ExactSearch(index, "cpu", 16).search(new float[][] {{1, 0}}, 1).get(0).get(0).row()).isZero();
      for (String device : ProbeInputs.absentCudaDevices()) {
        assertThatThrownBy(() -> new ExactSearch(index, device, 16).search(new float[][] {{1, 0}}, 1))
            .as(device)
            .isInstanceOfSatisfying(DeviceException.class, e -> assertThat(e.code()).isEqualTo(ErrorCode.DEVICE));
      }
    }
  }
}
