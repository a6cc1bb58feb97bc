package dev.clip4j.hardening;

import com.code_intelligence.jazzer.api.FuzzedDataProvider;
import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.clip4j.Clip4jException;
import dev.clip4j.io.Npy;
import dev.clip4j.model.ModelConfig;
import dev.clip4j.model.OpenAiCheckpoints;
import dev.clip4j.model.StateDictSchema;
import dev.clip4j.model.hf.HfClipConfig;
import dev.clip4j.model.hf.HfClipWeights;
import dev.clip4j.model.hf.HfPreprocessorConfig;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.JitArchive;
import dev.clip4j.model.io.JitArchiveReader;
import dev.clip4j.model.io.ShardedCheckpoint;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import dev.clip4j.preprocess.PreprocessConfig;
import dev.clip4j.tokenize.ClipTokenizer;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Jazzer fuzz targets for every parser that reads user files. Contract of each target: an input
 * either parses or throws a {@link Clip4jException} subtype; anything else (NPE, index out of
 * bounds, OOM, stack overflow, a hang, a JVM crash) is a finding.
 *
 * <p>Without {@code JAZZER_FUZZ} (every {@code mvn verify}) each target replays its seeds and
 * past crashers from {@code src/test/resources/dev/clip4j/hardening/ParserFuzzTestInputs/<target>/}.
 * With {@code JAZZER_FUZZ=1} one target is fuzzed per JVM ({@code ci/fuzz.sh} runs them all for a
 * bounded time each). Seeds are written by {@link SeedCorpus#main}. Images: {@link ImageFuzzTest}.
 */
class ParserFuzzTest {
  private static final Path SCRATCH = scratch();
  private static final String[] TEXTS = {"a photo of a cat", "The RED bird!! 123", "", "猫 &amp; <b>dog</b>"};

  private static Path scratch() {
    try {
      Path shm = Path.of("/dev/shm");
      Path dir = Files.isDirectory(shm) && Files.isWritable(shm)
          ? Files.createTempDirectory(shm, "clip4j-fuzz") : Files.createTempDirectory("clip4j-fuzz");
      dir.toFile().deleteOnExit();
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static Path file(String name, byte[] data) {
    try {
      Path f = SCRATCH.resolve(name);
      Files.write(f, data);
      f.toFile().deleteOnExit();
      return f;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** Reads every tensor's bytes, so a view past its buffer would surface here. */
  private static void touch(StateDict sd) {
    for (TensorData t : sd.tensors().values()) {
      if (t.data().remaining() > 0) {
        t.data().get(t.data().position());
        t.data().get(t.data().limit() - 1);
      }
    }
  }

  @FuzzTest(maxDuration = "10s")
  void safetensors(byte[] data) {
    try (StateDict sd = CheckpointReader.readSafetensors(file("f.safetensors", data))) {
      touch(sd);
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  @FuzzTest(maxDuration = "10s")
  void torchZip(byte[] data) {
    try (StateDict sd = CheckpointReader.read(file("f.bin", data))) {
      touch(sd);
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  /** The fuzzed bytes as data.pkl of an otherwise valid archive (reaches the unpickler directly). */
  @FuzzTest(maxDuration = "10s")
  void torchPickle(byte[] pickle) {
    Map<String, byte[]> members = new LinkedHashMap<>();
    members.put("archive/data.pkl", pickle);
    members.put("archive/byteorder", "little".getBytes(StandardCharsets.US_ASCII));
    members.put("archive/data/0", new byte[24]);
    members.put("archive/data/1", new byte[16]);
    try (StateDict sd = CheckpointReader.readTorchZip(file("p.bin", TorchSaveWriter.storedZip(members)))) {
      touch(sd);
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  /** A TorchScript archive read as a CLIP state: reader, architecture inference, activation. */
  @FuzzTest(maxDuration = "10s")
  void jitArchive(byte[] data) {
    readJit(file("f.pt", data));
  }

  private static final Map<String, byte[]> JIT_MEMBERS = JitSeeds.members();

  /** The fuzzed bytes as data.pkl of the seed TorchScript archive (reaches the TorchScript dialect directly). */
  @FuzzTest(maxDuration = "10s")
  void jitPickle(byte[] pickle) {
    Map<String, byte[]> members = new LinkedHashMap<>(JIT_MEMBERS);
    members.put("archive/data.pkl", pickle);
    readJit(file("p.pt", TorchScriptWriter.zip(members, Map.of("archive/code/__torch__/m.py", "x = 1\n".getBytes(StandardCharsets.UTF_8)))));
  }

  private static void readJit(Path f) {
    try (JitArchive a = JitArchiveReader.read(f)) {
      touch(a.stateDict());
      ModelConfig cfg = OpenAiCheckpoints.inferConfig(a.shapes(), a.intAttributes(), "fuzz");
      StateDictSchema.of(cfg).validateShapes(a.shapes(), "fuzz");
      OpenAiCheckpoints.activationFromModuleTypes(a.moduleTypes(), "fuzz");
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  @FuzzTest(maxDuration = "10s")
  void npy(byte[] data) {
    try {
      Npy.Array a = Npy.read(file("f.npy", data));
      if (a.dtype() == Npy.DType.FLOAT32 || a.dtype() == Npy.DType.FLOAT64) {
        a.floats();
      } else {
        a.longs();
      }
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  @FuzzTest(maxDuration = "10s")
  void modelConfig(byte[] data) {
    try {
      ModelConfig cfg = ModelConfig.parse(file("open_clip_config.json", data));
      cfg.describe();
      if (cfg.preprocessCfg() != null) { // what ModelMetadata.preprocessConfig() does with it
        PreprocessConfig.fromOpenClip(cfg.preprocessCfg(), cfg.vision().imageSize());
      }
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  /** Hugging Face config.json: parsed, mapped to open_clip's config and to the tensor table. */
  @FuzzTest(maxDuration = "10s")
  void hfConfig(byte[] data) {
    try {
      HfClipConfig cfg = HfClipConfig.parse(data, "config.json");
      cfg.toString();
      cfg.activation();
      if (cfg.hasVision() && cfg.hasText()) {
        cfg.toModelConfig().describe();
      }
      HfClipWeights.of(cfg).hfShapes();
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  /** Hugging Face preprocessor_config.json: parsed, then written back and parsed again. */
  @FuzzTest(maxDuration = "10s")
  void hfPreprocessorConfig(byte[] data) {
    try {
      PreprocessConfig cfg = HfPreprocessorConfig.parse(data, "preprocessor_config.json");
      byte[] back = HfPreprocessorConfig.toJson(cfg).toString().getBytes(StandardCharsets.UTF_8);
      if (!HfPreprocessorConfig.parse(back, "written").equals(cfg)) {
        throw new IllegalStateException("preprocessor_config.json does not read back: " + cfg);
      }
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  private static final Path SHARDS = shardDir();

  private static Path shardDir() {
    try {
      Path dir = Files.createDirectories(SCRATCH.resolve("shards"));
      for (Map.Entry<String, byte[]> e : Seeds.shards().entrySet()) {
        Files.write(dir.resolve(e.getKey()), e.getValue());
        dir.resolve(e.getKey()).toFile().deleteOnExit();
      }
      dir.toFile().deleteOnExit();
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** model.safetensors.index.json beside two valid shards: parsed, names checked, shards read and matched. */
  @FuzzTest(maxDuration = "10s")
  void shardIndex(byte[] data) {
    try {
      Path index = SHARDS.resolve(ShardedCheckpoint.SAFETENSORS_INDEX);
      Files.write(index, data);
      index.toFile().deleteOnExit();
      try (StateDict sd = CheckpointReader.readSharded(index)) {
        touch(sd);
      }
    } catch (Clip4jException expected) {
      // typed: fine
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  @FuzzTest(maxDuration = "10s")
  void bpeVocab(byte[] data) {
    try {
      ClipTokenizer tok = ClipTokenizer.fromBpeVocab(data, "fuzz.txt.gz");
      for (String t : TEXTS) {
        tok.encode(t);
      }
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  @FuzzTest(maxDuration = "10s")
  void vocabAndMerges(FuzzedDataProvider in) {
    byte[] vocab = in.consumeBytes(in.consumeInt(0, 1 << 16));
    byte[] merges = in.consumeRemainingAsBytes();
    try {
      ClipTokenizer tok = ClipTokenizer.fromVocabAndMerges(file("vocab.json", vocab), file("merges.txt", merges));
      for (String t : TEXTS) {
        tok.encode(t);
      }
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  /**
   * A SentencePiece model through the whole spiece.model path: parsed and checked, converted to a
   * tokenizer.json, loaded by the Rust tokenizers library and run over texts (a charsmap the checks
   * let through must not make Rust read outside its arrays: that would abort the JVM).
   */
  @FuzzTest(maxDuration = "10s")
  void spieceModel(byte[] data) {
    try {
      dev.clip4j.tokenize.SentencePieceModel.parse(data, "fuzz.model");
      spieceTokenize(data);
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  /**
   * The normalizer's precompiled charsmap alone (the input), inside a small valid model: most inputs
   * reach the trie check, and what it lets through reaches Rust's normalizer.
   */
  @FuzzTest(maxDuration = "10s")
  void spieceCharsmap(byte[] charsmap) {
    try {
      spieceTokenize(spieceWithCharsmap(charsmap));
    } catch (Clip4jException expected) {
      // typed: fine
    }
  }

  /** The harness of {@link #spieceCharsmap} makes a valid model around a valid charsmap (its seed). */
  @org.junit.jupiter.api.Test
  void spieceCharsmapHarnessWrapsAValidModel() throws IOException {
    byte[] seed;
    try (java.io.InputStream in = ParserFuzzTest.class.getResourceAsStream("ParserFuzzTestInputs/spieceCharsmap/"
        + "seed-custom-rules")) {
      seed = in.readAllBytes();
    }
    dev.clip4j.tokenize.SentencePieceModel m = dev.clip4j.tokenize.SentencePieceModel.parse(spieceWithCharsmap(seed), "h");
    org.assertj.core.api.Assertions.assertThat(m.hasCharsmap()).isTrue();
    org.assertj.core.api.Assertions.assertThat(m.pieces()).hasSize(7);
    spieceTokenize(spieceWithCharsmap(seed));
  }

  /** A T5-style model (pad, eos, unk, four pieces) whose normalizer_spec carries {@code charsmap}. */
  static byte[] spieceWithCharsmap(byte[] charsmap) {
    java.io.ByteArrayOutputStream m = new java.io.ByteArrayOutputStream();
    String[][] pieces = {{"<pad>", "3"}, {"</s>", "3"}, {"<unk>", "2"}, {"\u2581a", "1"}, {"a", "1"}, {"b", "1"},
        {"\u2581", "1"}};
    for (String[] p : pieces) {
      byte[] text = p[0].getBytes(StandardCharsets.UTF_8);
      java.io.ByteArrayOutputStream pc = new java.io.ByteArrayOutputStream();
      pc.write(0x0a);
      pc.write(text.length);
      pc.writeBytes(text);
      pc.writeBytes(new byte[] {0x15, 0, 0, (byte) 0x80, (byte) 0xbf, 0x18, (byte) Integer.parseInt(p[1])});
      m.write(0x0a);
      m.write(pc.size());
      m.writeBytes(pc.toByteArray());
    }
    m.writeBytes(new byte[] {0x12, 0x03, (byte) 0xc0, 0x02, 0x02}); // trainer_spec { unk_id: 2 }
    java.io.ByteArrayOutputStream n = new java.io.ByteArrayOutputStream();
    n.write(0x12);
    for (int len = charsmap.length; ; len >>>= 7) { // varint length
      if (len < 0x80) {
        n.write(len);
        break;
      }
      n.write(len & 0x7f | 0x80);
    }
    n.writeBytes(charsmap);
    m.write(0x1a);
    for (int len = n.size(); ; len >>>= 7) {
      if (len < 0x80) {
        m.write(len);
        break;
      }
      m.write(len & 0x7f | 0x80);
    }
    m.writeBytes(n.toByteArray());
    return m.toByteArray();
  }

  private static void spieceTokenize(byte[] model) {
    try {
      Path dir = SCRATCH.resolve("spiece");
      Files.createDirectories(dir);
      file("spiece/spiece.model", model);
      file("spiece/tokenizer_config.json", "{\"pad_token\": \"</s>\"}".getBytes(StandardCharsets.UTF_8));
      try (dev.clip4j.tokenize.HfTextTokenizer tok = new dev.clip4j.tokenize.HfTextTokenizer(dir, 16, "whitespace")) {
        for (String t : TEXTS) {
          tok.ids(t);
        }
        tok.ids("\uff21\ufb01 \u2460\u00a0\u3000 A\u030a \ud83d\udc31 <0x41> </s> <unk> \u00ff\u0100\u07ff\u0800");
      }
      // the same model as transformers' slow SiglipTokenizer (HF SigLIP directories with spiece.model only)
      try (dev.clip4j.tokenize.SiglipSlowTokenizer tok = new dev.clip4j.tokenize.SiglipSlowTokenizer(dir, 16)) {
        for (String t : TEXTS) {
          tok.ids(t);
        }
        tok.ids("\uff21\ufb01 \u2460\u00a0\u3000 A\u030a \ud83d\udc31 <0x41> </s> <unk> \u2581 \u00ff\u0100\u07ff");
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
