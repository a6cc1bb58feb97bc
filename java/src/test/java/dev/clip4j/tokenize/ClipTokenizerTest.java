package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import dev.clip4j.testing.Conformance;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.LongBuffer;
import java.nio.ReadOnlyBufferException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import java.util.stream.Stream;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.DynamicTest;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestFactory;
import org.junit.jupiter.api.io.TempDir;

/**
 * ClipTokenizer against open_clip's reference ids (tokenizer_cases.jsonl) and independent
 * computations written here: the HF vocab.json/merges.txt files and a naive re-implementation of
 * open_clip's bpe() are built in this test from the raw merges file, not from the class's
 * internals.
 */
class ClipTokenizerTest {
  private static final int SOT = 49406;
  private static final int EOT = 49407;
  private static final ObjectMapper JSON = new ObjectMapper();

  @TempDir Path tmp;

  private static Path bpeGz() {
    return Conformance.dir().resolve("models/tiny-gelu/bpe_simple_vocab_16e6.txt.gz");
  }

  private static ClipTokenizer tokenizer;

  private static synchronized ClipTokenizer tokenizer() {
    if (tokenizer == null) {
      tokenizer = ClipTokenizer.fromBpeVocab(bpeGz());
    }
    return tokenizer;
  }

  /** The fixture lines: text, context_length, ids. */
  private static List<JsonNode> cases() throws IOException {
    List<JsonNode> out = new ArrayList<>();
    for (String line : Files.readAllLines(Conformance.dir().resolve("tokenizer_cases.jsonl"))) {
      if (!line.isBlank()) {
        out.add(JSON.readTree(line));
      }
    }
    return out;
  }

  private static long[] ids(JsonNode c) {
    long[] ids = new long[c.get("ids").size()];
    for (int i = 0; i < ids.length; i++) {
      ids[i] = c.get("ids").get(i).asLong();
    }
    return ids;
  }

  // ---------------------------------------------------------------- reference ids

  @TestFactory
  Stream<DynamicTest> everyFixtureLineMatchesOpenClip() throws IOException {
    List<JsonNode> cases = cases();
    assertThat(cases).hasSize(13);
    return cases.stream()
        .map(
            c ->
                DynamicTest.dynamicTest(
                    abbreviate(c.get("text").asText()),
                    () -> {
                      int len = c.get("context_length").asInt();
                      long[][] got = tokenizer().tokenize(List.of(c.get("text").asText()), len);
                      assertThat(got[0]).containsExactly(ids(c));
                    }));
  }

  @Test
  void specialIdsAndVocabSize() {
    ClipTokenizer t = tokenizer();
    assertThat(t.sotToken()).isEqualTo(SOT);
    assertThat(t.eotToken()).isEqualTo(EOT);
    assertThat(t.vocabSize()).isEqualTo(49408);
    // open_clip matches the special strings inside text too.
    assertThat(t.encode("<start_of_text>cat<END_OF_TEXT>")).containsExactly(SOT, 2368, EOT);
  }

  @Test
  void encodeHasNoSpecialTokens() {
    // From the fixture: "a photo of a cat" -> 49406, 320, 1125, 539, 320, 2368, 49407.
    assertThat(tokenizer().encode("a photo of a cat")).containsExactly(320, 1125, 539, 320, 2368);
    assertThat(tokenizer().encode("  ")).isEmpty();
  }

  @Test
  void plainTextVocabGivesTheSameIds() throws IOException {
    Path plain = tmp.resolve("bpe_simple_vocab_16e6.txt");
    Files.write(plain, gunzip(Files.readAllBytes(bpeGz())));
    ClipTokenizer t = ClipTokenizer.fromBpeVocab(plain);
    for (JsonNode c : cases()) {
      assertThat(t.tokenize(List.of(c.get("text").asText()), 77)[0]).containsExactly(ids(c));
    }
    assertThat(ClipTokenizer.fromDirectory(tmp).encode("a photo")).containsExactly(320, 1125);
  }

  // ---------------------------------------------------------------- HF layout

  /** bytes_to_unicode, written independently of the class under test. */
  private static List<String> byteSymbols() {
    List<Integer> bs = new ArrayList<>();
    for (int b = '!'; b <= '~'; b++) bs.add(b);
    for (int b = 0xA1; b <= 0xAC; b++) bs.add(b);
    for (int b = 0xAE; b <= 0xFF; b++) bs.add(b);
    List<Integer> cs = new ArrayList<>(bs);
    int n = 0;
    for (int b = 0; b < 256; b++) {
      if (!bs.contains(b)) {
        bs.add(b);
        cs.add(256 + n++);
      }
    }
    return cs.stream().map(c -> String.valueOf((char) c.intValue())).collect(Collectors.toList());
  }

  /** The merges (lines 1..48894) of the fixture's gz file. */
  private static List<String> mergeLines() throws IOException {
    String text = new String(gunzip(Files.readAllBytes(bpeGz())), StandardCharsets.UTF_8);
    return Arrays.asList(text.split("\n")).subList(1, 49152 - 256 - 2 + 1);
  }

  /** HF vocab order: bytes, bytes + </w>, merges joined, <|startoftext|>, <|endoftext|>. */
  private static List<String> hfVocab(List<String> merges) {
    List<String> vocab = new ArrayList<>(byteSymbols());
    for (String s : byteSymbols()) vocab.add(s + "</w>");
    for (String m : merges) vocab.add(m.replace(" ", ""));
    vocab.add("<|startoftext|>");
    vocab.add("<|endoftext|>");
    return vocab;
  }

  private void writeHf(Path dir, List<String> vocab, int[] idOf) throws IOException {
    ObjectNode obj = JSON.createObjectNode();
    for (int i = 0; i < vocab.size(); i++) {
      obj.put(vocab.get(i), idOf[i]);
    }
    Files.createDirectories(dir);
    Files.writeString(dir.resolve("vocab.json"), JSON.writeValueAsString(obj));
    Files.writeString(
        dir.resolve("merges.txt"), "#version: 0.2\n" + String.join("\n", mergeLines()) + "\n");
  }

  @Test
  void vocabJsonAndMergesGiveTheSameIds() throws IOException {
    List<String> vocab = hfVocab(mergeLines());
    int[] identity = new int[vocab.size()];
    for (int i = 0; i < identity.length; i++) identity[i] = i;
    Path dir = tmp.resolve("hf");
    writeHf(dir, vocab, identity);

    ClipTokenizer hf = ClipTokenizer.fromVocabAndMerges(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
    assertThat(hf.sotToken()).isEqualTo(SOT);
    assertThat(hf.eotToken()).isEqualTo(EOT);
    assertThat(hf.vocabSize()).isEqualTo(49408);
    List<String> texts = new ArrayList<>();
    for (JsonNode c : cases()) {
      texts.add(c.get("text").asText());
      assertThat(hf.tokenize(List.of(c.get("text").asText()), 77)[0]).containsExactly(ids(c));
    }
    texts.addAll(randomTexts(new Random(5), 200));
    assertThat(hf.tokenize(texts, 77)).isDeepEqualTo(tokenizer().tokenize(texts, 77));
    assertThat(ClipTokenizer.fromDirectory(dir).tokenize(texts, 77))
        .isDeepEqualTo(tokenizer().tokenize(texts, 77));
  }

  @Test
  void vocabJsonIdsAreTheOnesUsed() throws IOException {
    // Permute the ids: every output id must be the permuted one.
    List<String> vocab = hfVocab(mergeLines());
    int[] perm = new int[vocab.size()];
    for (int i = 0; i < perm.length; i++) perm[i] = (i * 7919 + 13) % perm.length;
    Path dir = tmp.resolve("perm");
    writeHf(dir, vocab, perm);
    ClipTokenizer hf = ClipTokenizer.fromVocabAndMerges(dir.resolve("vocab.json"), dir.resolve("merges.txt"));
    assertThat(hf.sotToken()).isEqualTo(perm[SOT]);
    for (JsonNode c : cases()) {
      long[] expected = ids(c);
      long[] got = hf.tokenize(List.of(c.get("text").asText()), 77)[0];
      for (int i = 0; i < expected.length; i++) {
        if (expected[i] != 0) {
          expected[i] = perm[(int) expected[i]];
        }
      }
      assertThat(got).containsExactly(expected);
    }
  }

  // ---------------------------------------------------------------- BPE vs a naive reference

  /** open_clip's bpe(), transcribed naively (O(n^2)) to check the heap-based implementation. */
  private static List<String> naiveBpe(String token, Map<String, Integer> ranks, List<String> bytes) {
    List<String> word = new ArrayList<>();
    byte[] utf8 = token.getBytes(StandardCharsets.UTF_8);
    List<String> byteSyms = byteSymbolsByByte(bytes);
    for (int i = 0; i < utf8.length; i++) {
      word.add(byteSyms.get(utf8[i] & 0xFF) + (i == utf8.length - 1 ? "</w>" : ""));
    }
    while (word.size() > 1) {
      String best = null;
      int bestRank = Integer.MAX_VALUE;
      for (int i = 0; i + 1 < word.size(); i++) {
        Integer r = ranks.get(word.get(i) + " " + word.get(i + 1));
        if (r != null && r < bestRank) {
          bestRank = r;
          best = word.get(i) + " " + word.get(i + 1);
        }
      }
      if (best == null) break;
      String first = best.substring(0, best.indexOf(' '));
      String second = best.substring(best.indexOf(' ') + 1);
      List<String> next = new ArrayList<>();
      for (int i = 0; i < word.size(); i++) {
        if (i + 1 < word.size() && word.get(i).equals(first) && word.get(i + 1).equals(second)) {
          next.add(first + second);
          i++;
        } else {
          next.add(word.get(i));
        }
      }
      word = next;
    }
    return word;
  }

  private static List<String> byteSymbolsByByte(List<String> vocabOrder) {
    // vocabOrder lists printable bytes first; map back to byte order.
    String[] byByte = new String[256];
    List<Integer> order = new ArrayList<>();
    for (int b = '!'; b <= '~'; b++) order.add(b);
    for (int b = 0xA1; b <= 0xAC; b++) order.add(b);
    for (int b = 0xAE; b <= 0xFF; b++) order.add(b);
    for (int b = 0; b < 256; b++) if (!order.contains(b)) order.add(b);
    for (int i = 0; i < 256; i++) byByte[order.get(i)] = vocabOrder.get(i);
    return Arrays.asList(byByte);
  }

  @Test
  void bpeMatchesNaiveReferenceOnRandomWords() throws IOException {
    List<String> merges = mergeLines();
    Map<String, Integer> ranks = new HashMap<>();
    for (int i = 0; i < merges.size(); i++) ranks.put(merges.get(i), i);
    List<String> vocab = hfVocab(merges);
    Map<String, Integer> ids = new HashMap<>();
    for (int i = 0; i < vocab.size(); i++) ids.put(vocab.get(i), i);
    List<String> bytes = byteSymbols();

    Random rnd = new Random(42);
    String[] alphabets = {"ab", "abc", "aeiourstln", "esa", "日本語のテ", "éàüß", "0"};
    for (int k = 0; k < 400; k++) {
      String alphabet = alphabets[k % alphabets.length];
      StringBuilder w = new StringBuilder();
      int len = 1 + rnd.nextInt(k < 350 ? 40 : 600);
      for (int i = 0; i < len; i++) w.append(alphabet.charAt(rnd.nextInt(alphabet.length())));
      String word = w.toString();
      if (word.chars().allMatch(Character::isDigit)) word = "0"; // digits are split one by one
      int[] expected = naiveBpe(word, ranks, bytes).stream().mapToInt(ids::get).toArray();
      assertThat(tokenizer().encode(word)).as(word).containsExactly(expected);
    }
  }

  // ---------------------------------------------------------------- tokenizeInto

  @Test
  void tokenizeIntoArrayWritesOnlyItsRow() {
    long[] out = new long[3 * 10];
    Arrays.fill(out, -7);
    int n = tokenizer().tokenizeInto("a photo of a cat", 10, out, 10);
    assertThat(n).isEqualTo(7);
    assertThat(Arrays.copyOfRange(out, 10, 20))
        .containsExactly(SOT, 320, 1125, 539, 320, 2368, EOT, 0, 0, 0);
    assertThat(Arrays.copyOfRange(out, 0, 10)).containsOnly(-7);
    assertThat(Arrays.copyOfRange(out, 20, 30)).containsOnly(-7);
    assertThat(tokenizer().tokenizeInto("", 2, out, 28)).isEqualTo(2);
    assertThat(Arrays.copyOfRange(out, 28, 30)).containsExactly(SOT, EOT);
  }

  @Test
  void tokenizeIntoLongBufferUsesAbsoluteIndices() {
    LongBuffer buf = LongBuffer.allocate(40);
    buf.position(5);
    int n = tokenizer().tokenizeInto("a photo of a dog", 8, buf, 30);
    assertThat(n).isEqualTo(7);
    assertThat(buf.position()).isEqualTo(5);
    long[] row = new long[8];
    for (int i = 0; i < 8; i++) row[i] = buf.get(30 + i);
    assertThat(row).containsExactly(SOT, 320, 1125, 539, 320, 1929, EOT, 0);
    assertThat(buf.get(29)).isZero();

    assertThatThrownBy(() -> tokenizer().tokenizeInto("x", 8, buf, 33))
        .isInstanceOf(IndexOutOfBoundsException.class);
    LongBuffer ro = LongBuffer.allocate(8).asReadOnlyBuffer();
    assertThatThrownBy(() -> tokenizer().tokenizeInto("x", 8, ro, 0))
        .isInstanceOf(ReadOnlyBufferException.class);
    // A direct buffer works the same.
    LongBuffer direct =
        java.nio.ByteBuffer.allocateDirect(8 * 8).order(java.nio.ByteOrder.nativeOrder()).asLongBuffer();
    tokenizer().tokenizeInto("a photo of a dog", 8, direct, 0);
    for (int i = 0; i < 8; i++) assertThat(direct.get(i)).isEqualTo(row[i]);
  }

  @Test
  void truncationKeepsSotAndEndsWithEot() {
    String words = "word ".repeat(200);
    long[] out = new long[10];
    assertThat(tokenizer().tokenizeInto(words, 10, out, 0)).isEqualTo(10);
    assertThat(out).containsExactly(SOT, 2653, 2653, 2653, 2653, 2653, 2653, 2653, 2653, EOT);
    // Exactly fitting: 8 ids + SOT + EOT = 10, no truncation; 9 ids are truncated.
    assertThat(tokenizer().tokenizeInto("word ".repeat(8), 10, out, 0)).isEqualTo(10);
    assertThat(out[9]).isEqualTo(EOT);
    assertThat(out[8]).isEqualTo(2653);
    assertThat(tokenizer().tokenizeInto("word ".repeat(9), 10, out, 0)).isEqualTo(10);
    assertThat(out[9]).isEqualTo(EOT);
    long[] two = new long[2];
    assertThat(tokenizer().tokenizeInto(words, 2, two, 0)).isEqualTo(2);
    assertThat(two).containsExactly(SOT, EOT);
  }

  @Test
  void argumentErrors() {
    ClipTokenizer t = tokenizer();
    assertThatThrownBy(() -> t.encode(null)).isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> t.tokenizeInto(null, 77, new long[77], 0))
        .isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> t.tokenize(Arrays.asList("a", null), 77))
        .isInstanceOf(NullPointerException.class);
    assertThatThrownBy(() -> t.tokenize(List.of("a"), 1)).isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> t.tokenizeInto("a", 0, new long[4], 0))
        .isInstanceOf(IllegalArgumentException.class);
    assertThatThrownBy(() -> t.tokenizeInto("a", 4, new long[4], 1))
        .isInstanceOf(IndexOutOfBoundsException.class);
    assertThatThrownBy(() -> t.tokenizeInto("a", 4, new long[4], -1))
        .isInstanceOf(IndexOutOfBoundsException.class);
  }

  @Test
  void manyThreadsGetTheSameResults() throws Exception {
    List<String> texts = randomTexts(new Random(7), 300);
    for (JsonNode c : cases()) texts.add(c.get("text").asText());
    ClipTokenizer fresh = ClipTokenizer.fromBpeVocab(bpeGz()); // empty cache: threads race to fill it
    long[][] expected = tokenizer().tokenize(texts, 77);
    ExecutorService pool = Executors.newFixedThreadPool(16);
    try {
      List<Future<long[][]>> futures = new ArrayList<>();
      for (int k = 0; k < 32; k++) {
        List<String> shuffled = new ArrayList<>(texts);
        java.util.Collections.shuffle(shuffled, new Random(k));
        futures.add(pool.submit(() -> {
          Map<String, long[]> byText = new HashMap<>();
          for (String s : shuffled) {
            long[] row = new long[77];
            fresh.tokenizeInto(s, 77, row, 0);
            byText.put(s, row);
          }
          long[][] out = new long[texts.size()][];
          for (int i = 0; i < out.length; i++) out[i] = byText.get(texts.get(i));
          return out;
        }));
      }
      for (Future<long[][]> f : futures) {
        assertThat(f.get()).isDeepEqualTo(expected);
      }
    } finally {
      pool.shutdownNow();
    }
  }

  @Test
  void hundredThousandCharacterTextsRunInBoundedTime() {
    ClipTokenizer t = tokenizer();
    assertTimeoutPreemptively(
        Duration.ofSeconds(30),
        () -> {
          String words = "word ".repeat(20_000);
          String oneWord = "ab".repeat(50_000);
          String cjk = "日本語のテキスト".repeat(12_500);
          String entities = "&amp;".repeat(20_000);
          for (String s : List.of(words, oneWord, cjk, entities)) {
            assertThat(s.length()).isGreaterThanOrEqualTo(100_000);
            long[] row = new long[77];
            assertThat(t.tokenizeInto(s, 77, row, 0)).isEqualTo(77);
            assertThat(row[0]).isEqualTo(SOT);
            assertThat(row[76]).isEqualTo(EOT);
          }
          assertThat(t.encode(words)).hasSize(20_000).containsOnly(2653);
          // The truncated row starts with the ids of the whole 100k-character word.
          int[] all = t.encode(oneWord);
          long[] row = new long[77];
          t.tokenizeInto(oneWord, 77, row, 0);
          for (int i = 1; i < 76; i++) assertThat(row[i]).isEqualTo(all[i - 1]);
        });
  }

  // ---------------------------------------------------------------- malformed files

  @Test
  void malformedBpeFilesNameTheFile() throws IOException {
    byte[] gz = Files.readAllBytes(bpeGz());
    Path truncated = tmp.resolve("truncated.txt.gz");
    Files.write(truncated, Arrays.copyOf(gz, gz.length / 2));
    Path empty = Files.write(tmp.resolve("empty.txt.gz"), new byte[0]);
    byte[] garbage = new byte[4096];
    new Random(1).nextBytes(garbage);
    Path junk = Files.write(tmp.resolve("junk.bin"), garbage);
    Path noSpace = Files.writeString(tmp.resolve("nospace.txt"), "#version: 0.2\nh e\nhello\n");
    Path headerOnly = Files.writeString(tmp.resolve("header.txt"), "#version: 0.2\n");
    Path gzEmpty = Files.write(tmp.resolve("gzempty.txt.gz"), gzip(new byte[0]));
    Path missing = tmp.resolve("missing.txt.gz");
    for (Path p : List.of(truncated, empty, junk, noSpace, headerOnly, gzEmpty, missing)) {
      assertThatThrownBy(() -> ClipTokenizer.fromBpeVocab(p))
          .as(p.toString())
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContaining(p.getFileName().toString());
    }
  }

  @Test
  void malformedHfFilesNameTheFile() throws IOException {
    Path merges = Files.writeString(tmp.resolve("merges.txt"), "#version: 0.2\nh e\n");
    Map<String, Integer> good = new HashMap<>();
    List<String> bytes = byteSymbols();
    for (int i = 0; i < 256; i++) {
      good.put(bytes.get(i), i);
      good.put(bytes.get(i) + "</w>", 256 + i);
    }
    good.put("he", 512);
    good.put("<|startoftext|>", 513);
    good.put("<|endoftext|>", 514);
    Path goodVocab = Files.writeString(tmp.resolve("good.json"), JSON.writeValueAsString(good));
    ClipTokenizer small = ClipTokenizer.fromVocabAndMerges(goodVocab, merges);
    assertThat(small.encode("he")).containsExactly(good.get("h"), good.get("e</w>"));
    assertThat(small.encode("hex")).containsExactly(512, good.get("x</w>"));
    assertThat(small.sotToken()).isEqualTo(513);

    Path array = Files.writeString(tmp.resolve("array.json"), "[1, 2, 3]");
    Path notJson = Files.writeString(tmp.resolve("broken.json"), "{\"a\": ");
    Path stringIds = Files.writeString(tmp.resolve("strings.json"), "{\"a\": \"0\"}");
    Map<String, Integer> noSpecial = new HashMap<>(good);
    noSpecial.remove("<|endoftext|>");
    Path noEot = Files.writeString(tmp.resolve("noeot.json"), JSON.writeValueAsString(noSpecial));
    Map<String, Integer> noMerge = new HashMap<>(good);
    noMerge.remove("he");
    Path lacksMerge = Files.writeString(tmp.resolve("nomerge.json"), JSON.writeValueAsString(noMerge));
    for (Path v : List.of(array, notJson, stringIds, noEot, lacksMerge)) {
      assertThatThrownBy(() -> ClipTokenizer.fromVocabAndMerges(v, merges))
          .as(v.toString())
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContaining(v.getFileName().toString());
    }
    Path badMerges = Files.writeString(tmp.resolve("bad_merges.txt"), "#version: 0.2\nh e\nhe\n");
    Path emptyMerges = Files.writeString(tmp.resolve("empty_merges.txt"), "#version: 0.2\n");
    for (Path m : List.of(badMerges, emptyMerges)) {
      assertThatThrownBy(() -> ClipTokenizer.fromVocabAndMerges(goodVocab, m))
          .as(m.toString())
          .isInstanceOf(InvalidModelException.class)
          .hasMessageContaining(m.getFileName().toString());
    }
  }

  @Test
  void directoryWithoutVocabularyNamesWhatWasLookedFor() throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("empty-model"));
    Files.writeString(dir.resolve("vocab.json"), "{}"); // merges.txt missing
    assertThatThrownBy(() -> ClipTokenizer.fromDirectory(dir))
        .isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("bpe_simple_vocab_16e6.txt.gz")
        .hasMessageContaining("vocab.json")
        .hasMessageContaining("merges.txt");
  }

  @Test
  void smallSyntheticVocabulary() throws IOException {
    // open_clip layout: 256 bytes, 256 bytes + </w>, merges joined, then the two specials.
    Path p = Files.writeString(tmp.resolve("tiny.txt"), "header\nh e\nl l\nhe ll\nhell o</w>\n");
    ClipTokenizer t = ClipTokenizer.fromBpeVocab(p);
    // The trailing empty line is a merge line too in open_clip ([''] -> one empty entry).
    assertThat(t.encode("hello")).containsExactly(512 + 3);
    assertThat(t.sotToken()).isEqualTo(512 + 5);
    assertThat(t.eotToken()).isEqualTo(512 + 6);
    // "l l" does not apply to (l, l</w>): h e l l</w> -> he, l, l</w>.
    assertThat(t.encode("hell")).containsExactly(512, 'l' - '!', 256 + 'l' - '!');
  }

  // ---------------------------------------------------------------- helpers

  private static List<String> randomTexts(Random rnd, int n) {
    String[] pieces = {
      "a", "photo", "of", "the", "Cat", " ", "  ", "\n", "&amp;", "&lt;", "<b>", "'s", "'ll",
      "don't", "3.14", "2024", "café", "naïve", "—", "“", "”", "ﬁ", "ＦＵＬＬ", "日本語", "🐱",
      "\t", "ΟΔΟΣ", "!?", "#tag", "@user", "$5", "e\u0301", "\u3000", "\r\n"
    };
    List<String> out = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      StringBuilder b = new StringBuilder();
      int k = rnd.nextInt(30);
      for (int j = 0; j < k; j++) b.append(pieces[rnd.nextInt(pieces.length)]);
      out.add(b.toString());
    }
    return out;
  }

  private static byte[] gunzip(byte[] gz) throws IOException {
    try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(gz))) {
      return in.readAllBytes();
    }
  }

  private static byte[] gzip(byte[] data) throws IOException {
    ByteArrayOutputStream bos = new ByteArrayOutputStream();
    try (GZIPOutputStream out = new GZIPOutputStream(bos)) {
      out.write(data);
    }
    return bos.toByteArray();
  }

  private static String abbreviate(String s) {
    String t = s.replace("\n", "\\n").replace("\t", "\\t");
    return t.length() <= 50 ? "\"" + t + "\"" : "\"" + t.substring(0, 47) + "...\"";
  }
}
