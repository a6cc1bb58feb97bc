package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import dev.clip4j.testing.Conformance;
import java.io.ByteArrayOutputStream;
import java.nio.LongBuffer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class ClipTokenizerTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static ClipTokenizer tok;
  private static List<String> texts;
  private static List<long[]> expected;

  @BeforeAll
  static void load() throws Exception {
    Path dir = Conformance.find();
    if (dir == null) {
      return;
    }
    tok = ClipTokenizer.fromBpeVocab(dir.resolve("models/tiny-gelu/bpe_simple_vocab_16e6.txt.gz"));
    texts = new ArrayList<>();
    expected = new ArrayList<>();
    for (String line : Files.readAllLines(dir.resolve("tokenizer_cases.jsonl"), StandardCharsets.UTF_8)) {
      if (line.isBlank()) {
        continue;
      }
      JsonNode n = JSON.readTree(line);
      assertThat(n.get("context_length").asInt()).isEqualTo(77);
      texts.add(n.get("text").asText());
      long[] ids = new long[n.get("ids").size()];
      for (int i = 0; i < ids.length; i++) {
        ids[i] = n.get("ids").get(i).asLong();
      }
      expected.add(ids);
    }
  }

  @Test
  void everyConformanceCaseTokenizesExactly() {
    Conformance.dir();
    assertThat(texts).hasSize(13);
    for (int i = 0; i < texts.size(); i++) {
      long[] row = new long[77];
      int n = tok.tokenizeInto(texts.get(i), 77, row, 0);
      assertThat(row).as("case %d: %s", i, texts.get(i)).containsExactly(expected.get(i));
      assertThat(row[n - 1]).isEqualTo(49407);
      assertThat(n == 77 || row[n] == 0).isTrue();
    }
    assertThat(tok.sotToken()).isEqualTo(49406);
    assertThat(tok.eotToken()).isEqualTo(49407);
    assertThat(tok.vocabSize()).isEqualTo(49408);
  }

  @Test
  void huggingFaceVocabAndMergesGiveTheSameIds(@TempDir Path tmp) throws Exception {
    Path gz = Conformance.dir().resolve("models/tiny-gelu/bpe_simple_vocab_16e6.txt.gz");
    // Build vocab.json + merges.txt independently: HF's CLIP layout, from the merges file.
    String text;
    try (GZIPInputStream in = new GZIPInputStream(Files.newInputStream(gz))) {
      text = new String(in.readAllBytes(), StandardCharsets.UTF_8);
    }
    String[] lines = text.split("\n");
    List<String> merges = new ArrayList<>();
    for (int i = 1; i < 49152 - 256 - 2 + 1; i++) {
      merges.add(lines[i]);
    }
    // byte-level symbols in GPT-2 order
    List<Integer> bs = new ArrayList<>();
    for (int b = '!'; b <= '~'; b++) bs.add(b);
    for (int b = 0xa1; b <= 0xac; b++) bs.add(b);
    for (int b = 0xae; b <= 0xff; b++) bs.add(b);
    List<String> symbols = new ArrayList<>();
    for (int b : bs) symbols.add(String.valueOf((char) b));
    int extra = 0;
    for (int b = 0; b < 256; b++) if (!bs.contains(b)) symbols.add(String.valueOf((char) (256 + extra++)));
    com.fasterxml.jackson.databind.node.ObjectNode vocab = JSON.createObjectNode();
    int id = 0;
    for (String s : symbols) vocab.put(s, id++);
    for (String s : symbols) vocab.put(s + "</w>", id++);
    for (String m : merges) vocab.put(m.replace(" ", ""), id++);
    vocab.put("<|startoftext|>", id++);
    vocab.put("<|endoftext|>", id++);
    Files.writeString(tmp.resolve("vocab.json"), JSON.writeValueAsString(vocab));
    Files.writeString(tmp.resolve("merges.txt"), "#version: 0.2\n" + String.join("\n", merges) + "\n");
    ClipTokenizer hf = ClipTokenizer.fromDirectory(tmp);
    for (int i = 0; i < texts.size(); i++) {
      assertThat(hf.tokenize(List.of(texts.get(i)), 77)[0]).as(texts.get(i)).containsExactly(expected.get(i));
    }
  }

  @Test
  void longBufferOffsetsTruncationAndLengths() {
    Conformance.dir();
    LongBuffer buf = LongBuffer.allocate(3 * 10);
    for (int i = 0; i < buf.capacity(); i++) {
      buf.put(i, -1);
    }
    int n = tok.tokenizeInto("a photo of a cat", 10, buf, 10);
    assertThat(n).isEqualTo(7);
    long[] row = new long[10];
    buf.get(10, row);
    assertThat(row).containsExactly(49406, 320, 1125, 539, 320, 2368, 49407, 0, 0, 0);
    assertThat(buf.get(9)).isEqualTo(-1);
    assertThat(buf.get(20)).isEqualTo(-1);
    long[] shortCtx = new long[4];
    assertThat(tok.tokenizeInto("a photo of a cat", 4, shortCtx, 0)).isEqualTo(4);
    assertThat(shortCtx).containsExactly(49406, 320, 1125, 49407);
    assertThat(tok.tokenizeInto("", 77, new long[77], 0)).isEqualTo(2);
    assertThatThrownBy(() -> tok.tokenizeInto("x", 1, new long[1], 0)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> tok.tokenizeInto("x", 77, new long[80], 10)).isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> tok.encode(null)).isInstanceOf(NullPointerException.class);
  }

  @Test
  void veryLongTextIsFastAndTruncated() {
    Conformance.dir();
    StringBuilder sb = new StringBuilder();
    while (sb.length() < 100_000) {
      sb.append("supercalifragilistic ").append(sb.length()).append(' ');
    }
    long t0 = System.nanoTime();
    long[] row = tok.tokenize(List.of(sb.toString()), 77)[0];
    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5.0);
    assertThat(row[0]).isEqualTo(49406);
    assertThat(row[76]).isEqualTo(49407);
    // One unbroken 100k-character "word" too.
    assertThat(tok.tokenize(List.of("x".repeat(100_000)), 77)[0][76]).isEqualTo(49407);
  }

  @Test
  void concurrentUseGivesTheSameIds() throws Exception {
    Conformance.dir();
    ExecutorService ex = Executors.newFixedThreadPool(4);
    try {
      List<Future<long[]>> fs = new ArrayList<>();
      for (int r = 0; r < 20; r++) {
        for (String t : texts) {
          fs.add(ex.submit(() -> tok.tokenize(List.of(t), 77)[0]));
        }
      }
      for (int i = 0; i < fs.size(); i++) {
        assertThat(fs.get(i).get()).containsExactly(expected.get(i % texts.size()));
      }
    } finally {
      ex.shutdownNow();
    }
  }

  @Test
  void textCleaningFollowsFtfyAndHtmlUnescape() {
    assertThat(TextCleaner.clean("“curly” ‘quotes’")).isEqualTo("\"curly\" 'quotes'");
    assertThat(TextCleaner.clean("ﬁne ﬂow")).isEqualTo("fine flow");
    assertThat(TextCleaner.clean("ＦＵＬＬ　width")).isEqualTo("full width");
    assertThat(TextCleaner.clean("a\r\nb\u2028c\u0000d")).isEqualTo("a b cd");
    assertThat(TextCleaner.clean("&amp;amp; &lt;b&gt; &copy &#233; &#x41;")).isEqualTo("& <b> © é a");
    assertThat(TextCleaner.clean("  lots   of\twhitespace \n here  ")).isEqualTo("lots of whitespace here");
    assertThat(TextCleaner.clean("\u001b[31mred\u001b[0m")).isEqualTo("red");
    assertThat(TextCleaner.clean("cafe\u0301")).isEqualTo("café"); // NFC
  }

  @Test
  void malformedVocabulariesAreTypedErrors(@TempDir Path tmp) throws Exception {
    Path empty = tmp.resolve("empty.txt");
    Files.write(empty, new byte[0]);
    assertThatThrownBy(() -> ClipTokenizer.fromBpeVocab(empty)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining(empty.toString());
    Path badMerge = tmp.resolve("bad.txt");
    Files.writeString(badMerge, "#version\nh e\nthree symbols here\n");
    assertThatThrownBy(() -> ClipTokenizer.fromBpeVocab(badMerge)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("line 3");
    Path truncGz = tmp.resolve("trunc.gz");
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    try (GZIPOutputStream gz = new GZIPOutputStream(bos)) {
      gz.write("#version\nh e\n".repeat(1000).getBytes(StandardCharsets.UTF_8));
    }
    byte[] b = bos.toByteArray();
    Files.write(truncGz, java.util.Arrays.copyOf(b, b.length / 2));
    assertThatThrownBy(() -> ClipTokenizer.fromBpeVocab(truncGz)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("gzip");
    Files.writeString(tmp.resolve("vocab.json"), "[1,2]");
    Files.writeString(tmp.resolve("merges.txt"), "#version: 0.2\na b\n");
    assertThatThrownBy(() -> ClipTokenizer.fromDirectory(tmp)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("object");
    Path none = Files.createDirectories(tmp.resolve("none"));
    assertThatThrownBy(() -> ClipTokenizer.fromDirectory(none)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("no tokenizer vocabulary");
  }
}
