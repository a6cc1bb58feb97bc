package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.InvalidModelException;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The SentencePiece model reader: the trained fixtures' fields (as python3-sentencepiece wrote
 * them), the tokenizer.json they convert to, and refusals (typed, naming the problem) of malformed,
 * truncated, oversized and unsupported models, including charsmaps whose trie would send the Rust
 * normalizer outside its arrays.
 */
class SentencePieceModelTest {
  static byte[] fixtureBytes(String name) throws IOException {
    return Files.readAllBytes(SentencePieceReferenceTest.fixture(name).resolve("spiece.model"));
  }

  /** A protobuf writer for hand-made models. */
  static final class Proto {
    final ByteArrayOutputStream out = new ByteArrayOutputStream();

    Proto varint(long v) {
      while ((v & ~0x7fL) != 0) {
        out.write((int) (v & 0x7f) | 0x80);
        v >>>= 7;
      }
      out.write((int) v);
      return this;
    }

    Proto tag(int field, int wire) {
      return varint((long) field << 3 | wire);
    }

    Proto num(int field, long v) {
      return tag(field, 0).varint(v);
    }

    Proto bytes(int field, byte[] b) {
      tag(field, 2).varint(b.length);
      out.writeBytes(b);
      return this;
    }

    Proto str(int field, String s) {
      return bytes(field, s.getBytes(StandardCharsets.UTF_8));
    }

    Proto score(int field, float f) {
      tag(field, 5);
      int bits = Float.floatToIntBits(f);
      for (int i = 0; i < 4; i++) {
        out.write(bits >>> (8 * i) & 0xff);
      }
      return this;
    }

    Proto fixed64(int field) {
      tag(field, 1);
      out.writeBytes(new byte[8]);
      return this;
    }

    Proto msg(int field, Proto p) {
      return bytes(field, p.out.toByteArray());
    }

    byte[] done() {
      return out.toByteArray();
    }
  }

  static Proto piece(String p, float score, int type) {
    return new Proto().str(1, p).score(2, score).num(3, type);
  }

  /** A minimal valid T5-style model: pad, eos, unk, then normal pieces. */
  static Proto model(String... normal) {
    Proto m = new Proto().msg(1, piece("<pad>", 0, 3)).msg(1, piece("</s>", 0, 3)).msg(1, piece("<unk>", 0, 2));
    float s = -1;
    for (String p : normal) {
      m.msg(1, piece(p, s, 1));
      s -= 0.5f;
    }
    return m;
  }

  static Proto trainer(int unkId) {
    return new Proto().num(3, 1).num(40, unkId).num(42, 1).num(43, 0);
  }

  static void refused(byte[] data, String... message) {
    var a = assertThatThrownBy(() -> SentencePieceModel.parse(data, "m.model")).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("m.model");
    for (String m : message) {
      a.hasMessageContaining(m);
    }
  }

  @Test
  void fixturesReadAsSentencepieceWroteThem() throws IOException {
    SentencePieceModel nfkc = SentencePieceModel.read(SentencePieceReferenceTest.fixture("nfkc").resolve("spiece.model"));
    assertThat(nfkc.pieces()).hasSize(235);
    assertThat(nfkc.pieces().subList(0, 3)).extracting(SentencePieceModel.Piece::piece)
        .containsExactly("<pad>", "</s>", "<unk>");
    assertThat(nfkc.unkId()).isEqualTo(2);
    assertThat(nfkc.eosId()).isEqualTo(1);
    assertThat(nfkc.normalizerName()).isEqualTo("nmt_nfkc");
    assertThat(nfkc.hasCharsmap()).isTrue();
    assertThat(nfkc.byteFallback()).isFalse();
    assertThat(nfkc.pieces().get(3).type()).isEqualTo(SentencePieceModel.PieceType.NORMAL);
    assertThat(nfkc.pieces().get(3).score()).isNegative();

    SentencePieceModel ident = SentencePieceModel.parse(fixtureBytes("ident"), "ident");
    assertThat(ident.unkId()).isZero();
    assertThat(ident.eosId()).isEqualTo(2);
    assertThat(ident.pieces().get(1).piece()).isEqualTo("<s>");
    assertThat(ident.normalizerName()).isEqualTo("identity");
    assertThat(ident.hasCharsmap()).isFalse();

    SentencePieceModel bytes = SentencePieceModel.parse(fixtureBytes("bytes"), "bytes");
    assertThat(bytes.byteFallback()).isTrue();
    assertThat(bytes.normalizerName()).isEqualTo("user_defined");
    assertThat(bytes.hasCharsmap()).isTrue();
    assertThat(bytes.pieces().get(3)).isEqualTo(new SentencePieceModel.Piece("<0x00>", 0f,
        SentencePieceModel.PieceType.BYTE));
  }

  @Test
  void tokenizerJsonIsT5sLayout() throws IOException {
    ObjectNode j = SentencePieceModel.parse(fixtureBytes("nfkc"), "nfkc").tokenizerJson(2, true);
    assertThat(j.at("/model/type").asText()).isEqualTo("Unigram");
    assertThat(j.at("/model/unk_id").asInt()).isEqualTo(2);
    assertThat(j.at("/model/vocab").size()).isEqualTo(237);
    assertThat(j.at("/model/vocab/235/0").asText()).isEqualTo("<extra_id_1>");
    assertThat(j.at("/model/vocab/236/0").asText()).isEqualTo("<extra_id_0>");
    assertThat(j.at("/post_processor/special_tokens/<~1s>/ids/0").asInt()).isEqualTo(1);
    assertThat(j.at("/normalizer/normalizers/0/type").asText()).isEqualTo("Precompiled");
    List<String> added = new ArrayList<>();
    for (JsonNode a : j.get("added_tokens")) {
      added.add(a.get("id").asInt() + ":" + a.get("content").asText() + ":" + a.get("special").asBoolean());
    }
    assertThat(added).containsExactly("0:<pad>:true", "1:</s>:true", "2:<unk>:true", "235:<extra_id_1>:true",
        "236:<extra_id_0>:true");
    ObjectNode ident = SentencePieceModel.parse(fixtureBytes("ident"), "ident").tokenizerJson(0, true);
    // identity, remove_extra_whitespaces off: no charsmap, no whitespace rules; the dummy prefix and escaping only
    List<String> types = new ArrayList<>();
    ident.at("/normalizer/normalizers").forEach(n -> types.add(n.get("type").asText()));
    assertThat(types).containsExactly("Prepend", "Replace");
    ObjectNode nonLegacy = SentencePieceModel.parse(fixtureBytes("ident"), "ident").tokenizerJson(0, false);
    assertThat(nonLegacy.at("/pre_tokenizer/prepend_scheme").asText()).isEqualTo("first");
  }

  @Test
  void handMadeModelParses() {
    SentencePieceModel m = SentencePieceModel.parse(model("\u2581a", "b").msg(2, trainer(2)).done(), "m.model");
    assertThat(m.pieces()).hasSize(5);
    assertThat(m.pieces().get(4)).isEqualTo(new SentencePieceModel.Piece("b", -1.5f, SentencePieceModel.PieceType.NORMAL));
    // unknown fields of every wire type are skipped (self_test_data, extensions)
    byte[] extra = model("a").msg(2, trainer(2)).fixed64(9).score(10, 1f).str(4, "x").num(200, 7)
        .done();
    assertThat(SentencePieceModel.parse(extra, "m.model").pieces()).hasSize(4);
  }

  @Test
  void malformedWireIsRefused() {
    refused(new byte[0], "empty");
    refused(new byte[] {0x0a, 0x7f}, "runs past the end");
    refused(new byte[] {0x0a, (byte) 0xff, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x07}, "runs past the end");
    refused(new byte[] {(byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80,
        (byte) 0x80, (byte) 0x80, (byte) 0x80, (byte) 0x80, 0x01}, "varint longer than 10 bytes");
    refused(new byte[] {0x0b}, "wire type 3", "groups");
    refused(new byte[] {0x0f}, "wire type 7");
    refused(new byte[] {0x00}, "field tag 0");
    refused(new Proto().num(1, 5).done(), "pieces: wire type 0");
    refused(new byte[] {0x0a, 0x04, 0x0a, 0x02, (byte) 0xc3, 0x28}, "not valid UTF-8");
    refused(new byte[] {0x0a, 0x03, 0x15, 0x00, 0x00}, "truncated float");
    refused(new Proto().msg(1, new Proto().str(1, "x".repeat(5000))).done(), "5000 bytes, more than 4096");
  }

  @Test
  void everyTruncationOfARealModelIsTypedOrValid() throws IOException {
    byte[] full = fixtureBytes("ident");
    int refusedCount = 0;
    for (int n = 0; n < full.length; n++) {
      try {
        SentencePieceModel.parse(Arrays.copyOf(full, n), "m.model");
      } catch (InvalidModelException e) {
        refusedCount++;
      }
    }
    assertThat(refusedCount).isGreaterThan(full.length * 9 / 10);
    // random single-byte corruption: typed or valid, never another exception
    Random r = new Random(13);
    for (int i = 0; i < 3000; i++) {
      byte[] b = full.clone();
      b[r.nextInt(b.length)] = (byte) r.nextInt(256);
      try {
        SentencePieceModel.parse(b, "m.model");
      } catch (Clip4jException e) {
        assertThat(e).isInstanceOf(InvalidModelException.class);
      }
    }
  }

  @Test
  void inconsistentModelsListEveryProblem() {
    refused(new Proto().msg(2, trainer(0)).done(), "no pieces");
    refused(model("a", "a").msg(2, trainer(2)).done(), "piece 4 ('a') repeats piece 3");
    refused(model("a").msg(2, trainer(7)).done(), "unk_id 7 is not a piece id");
    refused(model("a").msg(2, trainer(1)).done(), "unk_id 1 names piece '</s>' of type CONTROL");
    refused(model("a").msg(1, piece("<unk2>", 0, 2)).msg(2, trainer(2)).done(), "2 pieces of type UNKNOWN");
    refused(model("a").msg(1, piece("z", 0, 9)).msg(2, trainer(2)).done(), "type 9");
    refused(model("a").msg(1, piece("", 0, 1)).msg(2, trainer(2)).done(), "piece 4 is empty");
    refused(model("a").msg(1, piece("n", Float.NaN, 1)).msg(2, trainer(2)).done(), "score NaN");
    refused(new Proto().msg(1, piece("<unk>", 0, 2)).msg(1, piece("a", -1, 1)).msg(2, trainer(0)).done(),
        "no '</s>' piece");
    // several at once
    refused(model("a", "a").msg(2, trainer(9).num(24, 1)).msg(3, new Proto().num(5, 0)).done(),
        "repeats piece", "unk_id 9", "treat_whitespace_as_suffix", "escape_whitespaces is off");
  }

  @Test
  void otherModelTypesAreRefusedByName() {
    refused(model("a").msg(2, trainer(2).num(3, 2)).done(), "a BPE model", "unigram models only");
    refused(model("a").msg(2, trainer(2).num(3, 3)).done(), "a WORD model");
    refused(model("a").msg(2, trainer(2).num(3, 9)).done(), "model_type 9");
  }

  @Test
  void byteFallbackNeedsAll256BytePieces() {
    Proto m = model("a");
    for (int v = 0; v < 255; v++) {
      m.msg(1, piece(String.format("<0x%02X>", v), 0, 6));
    }
    refused(m.msg(2, trainer(2).num(35, 1)).done(), "1 of the 256 byte pieces");
    m.msg(1, piece("<0xFF>", 0, 6));
    assertThat(SentencePieceModel.parse(m.done(), "m.model").byteFallback()).isTrue();
  }

  /** The bytes fixture's charsmap (a small custom rule table). */
  static byte[] charsmap() throws IOException {
    byte[] map = SentencePieceModel.parse(fixtureBytes("bytes"), "bytes").precompiledCharsmap();
    assertThat(map).hasSizeBetween(500, 2000);
    return map;
  }

  static byte[] withCharsmap(byte[] map) {
    return model("a").msg(2, trainer(2)).msg(3, new Proto().str(1, "user_defined").bytes(2, map)).done();
  }

  @Test
  void corruptCharsmapsAreRefusedBeforeRustSeesThem(@TempDir Path tmp) throws IOException {
    byte[] good = charsmap();
    assertThat(SentencePieceModel.charsmapProblem(good)).isNull();
    assertThat(SentencePieceModel.parse(withCharsmap(good), "m.model").hasCharsmap()).isTrue();

    refused(withCharsmap(new byte[] {1, 2}), "shorter than its 4-byte header");
    byte[] size = good.clone();
    size[0] ^= 1; // trie size not a multiple of 4
    refused(withCharsmap(size), "not a multiple of 4");
    byte[] huge = good.clone();
    huge[3] = 0x7f;
    refused(withCharsmap(huge), "trie size");
    refused(withCharsmap(new byte[] {0, 0, 0, 0}), "empty trie");
    // the root's offset out of the trie
    byte[] root = good.clone();
    root[4 + 3] = (byte) 0xff;
    refused(withCharsmap(root), "precompiled_charsmap");
    // a replacement string that is not UTF-8
    byte[] str = Arrays.copyOf(good, good.length + 2);
    str[str.length - 2] = (byte) 0xc3;
    str[str.length - 1] = 0x28;
    refused(withCharsmap(str), "not valid UTF-8");
    // every unit of the trie flipped in turn: each is refused or still safe (then the walk proved it)
    int units = (int) ((good[0] & 0xff) | (good[1] & 0xff) << 8 | (good[2] & 0xff) << 16) / 4;
    // (a variant that passes is loaded by the Rust tokenizer and run over texts: a read outside its
    // arrays would abort this JVM, so passing here is the proof)
    Path dir = tmp.resolve("t");
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"pad_token\": \"<pad>\"}");
    StringBuilder all = new StringBuilder("a ");
    for (int c = 1; c < 0x800; c++) {
      all.appendCodePoint(c);
    }
    String[] texts = {all.toString(), "\uff21\ufb01 \u2460\u00a0\u3000A\u030a \u2122", "\ud83d\udc31\u732b"};
    int refusedUnits = 0;
    int loaded = 0;
    for (int u = 0; u < units; u++) {
      byte[] b = good.clone();
      b[4 + u * 4 + (u % 3)] ^= (byte) (0x5a + u);
      b[4 + u * 4 + 3] ^= (byte) (u & 0x0f);
      if (SentencePieceModel.charsmapProblem(b) != null) {
        refusedUnits++;
      } else if (loaded < 40) {
        loaded++;
        Files.write(dir.resolve("spiece.model"), withCharsmap(b));
        try (HfTextTokenizer tok = new HfTextTokenizer(dir, 64, "whitespace")) {
          for (String t : texts) {
            assertThat(tok.ids(t)).isNotEmpty();
          }
        }
      }
    }
    assertThat(refusedUnits).isPositive();
    assertThat(loaded).isPositive();
  }

  @Test
  void oversizedFileIsRefusedBeforeReading(@TempDir Path tmp) throws IOException {
    Path f = tmp.resolve("spiece.model");
    try (var ch = java.nio.channels.FileChannel.open(f, java.nio.file.StandardOpenOption.CREATE_NEW,
        java.nio.file.StandardOpenOption.WRITE)) {
      ch.write(java.nio.ByteBuffer.wrap(new byte[] {1}), SentencePieceModel.MAX_FILE_BYTES); // sparse
    }
    assertThatThrownBy(() -> SentencePieceModel.read(f)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("larger than " + SentencePieceModel.MAX_FILE_BYTES);
    assertThatThrownBy(() -> SentencePieceModel.read(tmp.resolve("missing.model")))
        .isInstanceOf(InvalidModelException.class);
  }

  @Test
  void hfTextTokenizerRefusesBadSentencePieceDirectories(@TempDir Path tmp) throws IOException {
    Path dir = tmp.resolve("t");
    Files.createDirectories(dir);
    assertThatThrownBy(() -> new HfTextTokenizer(dir, 16, "canonicalize")).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("no tokenizer").hasMessageContaining("spiece.model");
    Files.write(dir.resolve("spiece.model"), fixtureBytes("nfkc"));
    assertThatThrownBy(() -> new HfTextTokenizer(dir, 16, "canonicalize")).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("tokenizer_config.json");
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"pad_token\": \"<pad>\", \"extra_ids\": -3}");
    assertThatThrownBy(() -> new HfTextTokenizer(dir, 16, "canonicalize")).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("extra_ids");
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"pad_token\": \"<nope>\"}");
    assertThatThrownBy(() -> new HfTextTokenizer(dir, 16, "canonicalize")).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("pad_token '<nope>'").hasMessageContaining("spiece.model");
    Files.writeString(dir.resolve("tokenizer_config.json"), "{\"pad_token\": \"<pad>\", \"tokenizer_class\": \"T5Tokenizer\"}");
    try (HfTextTokenizer tok = new HfTextTokenizer(dir, 16, "whitespace")) {
      assertThat(tok.padId()).isZero();
      assertThat(tok.describe()).contains("spiece.model");
      // T5Tokenizer's 100 sentinels (no extra_ids given) are added tokens after the 235 pieces
      assertThat(tok.ids("<extra_id_0>")).containsExactly(334, 1);
    }
    Files.write(dir.resolve("spiece.model"), Arrays.copyOf(fixtureBytes("nfkc"), 1000));
    assertThatThrownBy(() -> new HfTextTokenizer(dir, 16, "canonicalize")).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("spiece.model");
  }
}
