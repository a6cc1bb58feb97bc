package dev.clip4j.model.io;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import dev.clip4j.testing.Conformance;
import dev.clip4j.testing.Half;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@link JitArchiveReader} against archives PyTorch wrote: the conformance fixtures ({@code
 * torch.jit.script} of open_clip's CLIP, fp16 and fp32) compared with open_clip's own state dict,
 * and an OpenAI-style traced archive (tools/reference/openai_jit_archives.py) compared with what
 * {@code torch.jit.load(...).state_dict()} returned for it.
 */
class JitArchiveReaderTest {
  private static final ObjectMapper JSON = new ObjectMapper();

  private static Path model(String name) {
    return Conformance.dir().resolve("models").resolve(name);
  }

  static Path resource(String name) {
    try {
      return Path.of(JitArchiveReaderTest.class.getResource("jit/" + name).toURI());
    } catch (java.net.URISyntaxException e) {
      throw new IllegalStateException(e);
    }
  }

  @Test
  void openAiStyleFp16ArchivesHoldOpenClipsStateDictRoundedToHalf() {
    for (String name : new String[] {"tiny-gelu", "tiny-quickgelu"}) {
      try (JitArchive a = JitArchiveReader.read(model(name).resolve("openai_jit_fp16.pt"));
          StateDict ref = CheckpointReader.read(model(name).resolve("open_clip_model.safetensors"))) {
        StateDict sd = a.stateDict();
        assertThat(sd.format()).isEqualTo("torchscript");
        assertThat(sd.keys()).as(name).containsExactlyInAnyOrderElementsOf(ref.keys());
        assertThat(ref.keys()).hasSize(62);
        for (String k : ref.keys()) {
          TensorData want = ref.get(k);
          TensorData got = sd.get(k);
          assertThat(got.shape()).as(k).containsExactly(want.shape());
          assertThat(want.dtype()).isEqualTo(DType.F32);
          assertThat(got.dtype()).as(k).isEqualTo(DType.F16);
          float[] w = want.toFloatArray();
          ByteBuffer b = got.data();
          assertThat(b.remaining()).isEqualTo(w.length * 2);
          for (int i = 0; i < w.length; i++) {
            short bits = b.getShort(i * 2);
            if (bits != Half.fromFloat(w[i])) {
              throw new AssertionError(name + " " + k + "[" + i + "]: fp16 bits " + Integer.toHexString(bits & 0xffff)
                  + ", but " + w[i] + " rounds to " + Integer.toHexString(Half.fromFloat(w[i]) & 0xffff));
            }
          }
        }
        // The causal mask is left out; what the archive records about the model is kept.
        assertThat(a.leftOut()).containsOnlyKeys("attn_mask");
        assertThat(a.rootType()).isEqualTo("__torch__.open_clip.model.CLIP");
        assertThat(a.moduleTypes()).containsEntry("", "__torch__.open_clip.model.CLIP");
        assertThat(a.intAttributes()).containsEntry("context_length", 77L).containsEntry("vocab_size", 49408L)
            .containsEntry("visual.transformer.resblocks.0.attn.num_heads", 4L)
            .containsEntry("visual.transformer.resblocks.1.attn.num_heads", 4L)
            .containsEntry("transformer.resblocks.0.attn.num_heads", 2L)
            .containsEntry("visual.output_dim", 64L);
        String gelu = a.moduleTypes().get("visual.transformer.resblocks.0.mlp.gelu");
        assertThat(gelu).isEqualTo(name.equals("tiny-gelu") ? "__torch__.torch.nn.modules.activation.GELU"
            : "__torch__.open_clip.transformer.QuickGELU");
        assertThat(a.moduleTypes().get("transformer.resblocks.1.mlp.gelu")).endsWith(gelu.substring(gelu.lastIndexOf('.')));
        assertThat(a.moduleTypes().get("visual.transformer.resblocks.0.attn"))
            .isEqualTo("__torch__.torch.nn.modules.activation.MultiheadAttention");
      }
    }
  }

  @Test
  void scriptedFp32ArchiveReadsTheSameWeightsBitForBit() {
    try (JitArchive a = JitArchiveReader.read(model("tiny-gelu").resolve("torchscript_scripted.pt"));
        StateDict ref = CheckpointReader.read(model("tiny-gelu").resolve("open_clip_model.safetensors"))) {
      assertThat(a.stateDict().keys()).containsExactlyInAnyOrderElementsOf(ref.keys());
      for (String k : ref.keys()) {
        TensorData got = a.stateDict().get(k);
        assertThat(got.dtype()).as(k).isEqualTo(DType.F32);
        assertThat(got.shape()).as(k).containsExactly(ref.get(k).shape());
        assertThat(got.data()).as(k).isEqualTo(ref.get(k).data());
      }
      assertThat(a.leftOut()).containsOnlyKeys("attn_mask");
    }
  }

  /** The OpenAI-style archive: traced, mixed fp16/fp32 as convert_weights leaves it, root int64 scalars. */
  @Test
  void openAiTracedArchiveMatchesTorchsStateDict() throws Exception {
    JsonNode ref = JSON.readTree(resource("openai_vit_tiny.json").toFile());
    try (JitArchive a = JitArchiveReader.read(resource("openai_vit_tiny.pt"))) {
      StateDict sd = a.stateDict();
      Map<String, JsonNode> want = new LinkedHashMap<>();
      for (Iterator<Map.Entry<String, JsonNode>> it = ref.get("state_dict").fields(); it.hasNext(); ) {
        Map.Entry<String, JsonNode> e = it.next();
        want.put(e.getKey(), e.getValue());
      }
      // torch's state_dict minus OpenAI's three metadata scalars, which become int attributes.
      assertThat(want).containsKeys("input_resolution", "context_length", "vocab_size");
      assertThat(sd.keys()).containsExactlyInAnyOrderElementsOf(
          want.keySet().stream().filter(k -> !k.equals("input_resolution") && !k.equals("context_length")
              && !k.equals("vocab_size")).toList());
      int f16 = 0;
      for (String k : sd.keys()) {
        TensorData t = sd.get(k);
        JsonNode w = want.get(k);
        assertThat(t.shape()).as(k).containsExactly(JSON.convertValue(w.get("shape"), long[].class));
        assertThat(t.dtype()).as(k).isEqualTo(torchDtype(w.get("dtype").asText()));
        assertThat(sha256(t.data())).as(k).isEqualTo(w.get("sha256").asText());
        f16 += t.dtype() == DType.F16 ? 1 : 0;
      }
      assertThat(f16).as("fp16 tensors (conv, linear, attention, projections)").isEqualTo(3 + 4 * 8);
      assertThat(sd.get("visual.class_embedding").dtype()).isEqualTo(DType.F32); // convert_weights leaves it
      assertThat(sd.get("ln_final.weight").dtype()).isEqualTo(DType.F32);
      JsonNode scalars = ref.get("root_scalars");
      assertThat(a.intAttributes()).containsEntry("input_resolution", scalars.get("input_resolution").asLong())
          .containsEntry("context_length", scalars.get("context_length").asLong())
          .containsEntry("vocab_size", scalars.get("vocab_size").asLong());
      assertThat(a.leftOut()).containsOnlyKeys("input_resolution", "context_length", "vocab_size");
      Map<String, String> types = JSON.convertValue(ref.get("module_types"),
          JSON.getTypeFactory().constructMapType(LinkedHashMap.class, String.class, String.class));
      assertThat(a.moduleTypes()).isEqualTo(types);
      assertThat(a.rootType()).isEqualTo(ref.get("root_class").asText());
    }
  }

  static DType torchDtype(String t) {
    switch (t) {
      case "float16": return DType.F16;
      case "float32": return DType.F32;
      case "int64": return DType.I64;
      default: throw new IllegalArgumentException(t);
    }
  }

  static String sha256(ByteBuffer b) throws NoSuchAlgorithmException {
    MessageDigest md = MessageDigest.getInstance("SHA-256");
    md.update(b.duplicate());
    return HexFormat.of().formatHex(md.digest());
  }

  /**
   * The tensors are views of the file, not copies: bytes changed in the file after reading show
   * through (the mapping is shared), and the buffers are direct.
   */
  @Test
  void tensorsAreMemoryMappedViewsOfTheFile(@TempDir Path tmp) throws IOException {
    Path copy = tmp.resolve("a.pt");
    Files.copy(model("tiny-quickgelu").resolve("openai_jit_fp16.pt"), copy);
    try (JitArchive a = JitArchiveReader.read(copy)) {
      TensorData tok = a.stateDict().get("token_embedding.weight");
      assertThat(tok.data().isDirect()).isTrue();
      short first = tok.data().getShort(0);
      long at = indexOf(copy, tok.data());
      try (FileChannel ch = FileChannel.open(copy, StandardOpenOption.WRITE)) {
        ch.write(ByteBuffer.allocate(2).order(ByteOrder.LITTLE_ENDIAN).putShort(0, (short) ~first), at);
      }
      assertThat(tok.data().getShort(0)).isEqualTo((short) ~first);
    }
  }

  /** Where {@code data}'s first 64 bytes occur in the file (unique for random weights). */
  private static long indexOf(Path file, ByteBuffer data) throws IOException {
    byte[] all = Files.readAllBytes(file);
    byte[] needle = new byte[64];
    data.duplicate().get(needle);
    long found = -1;
    outer:
    for (int i = 0; i + needle.length <= all.length; i++) {
      for (int j = 0; j < needle.length; j++) {
        if (all[i + j] != needle[j]) {
          continue outer;
        }
      }
      assertThat(found).as("unique").isEqualTo(-1);
      found = i;
    }
    assertThat(found).isNotNegative();
    return found;
  }

  @Test
  void aScriptedModuleWithoutClipWeightsIsNotAClipState() {
    assertThatThrownBy(() -> JitArchiveReader.read(resource("not_clip_linear.pt")))
        .isInstanceOf(NotAClipStateException.class)
        .hasMessageContaining("not_clip_linear.pt")
        .hasMessageContaining("no logit_scale and no visual.* tensors")
        .satisfies(e -> assertThat(((NotAClipStateException) e).rootType())
            .startsWith("__torch__.torch.nn.modules.container.").endsWith(".Sequential"));
  }

  @Test
  void aTorchSaveStateDictIsNotATorchScriptArchive() {
    assertThatThrownBy(() -> JitArchiveReader.read(model("tiny-gelu").resolve("open_clip_pytorch_model.bin")))
        .isInstanceOf(InvalidModelException.class)
        .isNotInstanceOf(NotAClipStateException.class)
        .hasMessageContaining("open_clip_pytorch_model.bin")
        .hasMessageContaining("not a TorchScript archive");
    assertThatThrownBy(() -> JitArchiveReader.read(model("tiny-gelu").resolve("open_clip_model.safetensors")))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("invalid TorchScript archive");
  }

  /** CheckpointReader sends a TorchScript archive here with a clear message (its code/ is deflated). */
  @Test
  void checkpointReaderNamesATorchScriptArchive() {
    assertThatThrownBy(() -> CheckpointReader.read(model("tiny-gelu").resolve("openai_jit_fp16.pt")))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("this is a TorchScript archive, not a state dict");
  }

  @Test
  void codeMembersAreRecognised() {
    assertThat(JitArchiveReader.isCodeMember("archive/code/__torch__/a.py")).isTrue();
    assertThat(JitArchiveReader.isCodeMember("archive/code/")).isTrue();
    assertThat(JitArchiveReader.isCodeMember("archive/data.pkl")).isFalse();
    assertThat(JitArchiveReader.isCodeMember("code/x.py")).isFalse();
    assertThat(JitArchiveReader.isCodeMember("archive/sub/code/x.py")).isFalse();
  }
}
