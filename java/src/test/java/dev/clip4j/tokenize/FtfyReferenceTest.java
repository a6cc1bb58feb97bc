package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.testing.Conformance;
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The ftfy port against Python: ftfy 6.1.1's own test suite (143 cases of tests/test_cases.json)
 * and several hundred generated mojibake and garbage strings, each with ftfy.fix_text's output
 * and open_clip 2.20.0's token ids, plus 4,000 short strings with ftfy's badness.is_bad. All
 * expected values were computed by Python (tools/reference/ftfy_cases.py), none by clip4j.
 */
class FtfyReferenceTest {
  private static final ObjectMapper JSON = new ObjectMapper();
  private static final int CONTEXT = 77;

  private static ClipTokenizer tokenizer;

  private static synchronized ClipTokenizer tokenizer() {
    if (tokenizer == null) {
      tokenizer =
          ClipTokenizer.fromBpeVocab(
              Conformance.dir().resolve("models/tiny-gelu/bpe_simple_vocab_16e6.txt.gz"));
    }
    return tokenizer;
  }

  static List<JsonNode> jsonl(String resource) {
    List<JsonNode> out = new ArrayList<>();
    for (String line : lines(resource)) {
      if (!line.isBlank()) {
        try {
          out.add(JSON.readTree(line));
        } catch (IOException e) {
          throw new UncheckedIOException(e);
        }
      }
    }
    return out;
  }

  static List<String> lines(String resource) {
    try (InputStream in = FtfyReferenceTest.class.getResourceAsStream(resource)) {
      assertThat(in).as("test resource " + resource).isNotNull();
      BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
      List<String> out = new ArrayList<>();
      for (String line = r.readLine(); line != null; line = r.readLine()) {
        out.add(line);
      }
      return out;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  private static long[] expectedRow(JsonNode c) {
    long[] row = new long[CONTEXT];
    JsonNode ids = c.get("ids");
    for (int i = 0; i < ids.size(); i++) {
      row[i] = ids.get(i).asLong();
    }
    return row;
  }

  private static String describe(JsonNode c) {
    return (c.has("label") ? c.get("label").asText() : c.get("kind").asText())
        + ": " + escape(c.get("text").asText());
  }

  static String escape(String s) {
    StringBuilder b = new StringBuilder();
    s.codePoints().forEach(cp -> {
      if (cp >= 0x20 && cp < 0x7F) {
        b.append((char) cp);
      } else {
        b.append(String.format(cp > 0xFFFF ? "\\U%08x" : "\\u%04x", cp));
      }
    });
    return b.toString();
  }

  /** fix_text mismatches of the resource's cases, one line each (empty when all agree). */
  private static List<String> fixTextMismatches(List<JsonNode> cases) {
    List<String> bad = new ArrayList<>();
    for (JsonNode c : cases) {
      String got = TextCleaner.fixText(c.get("text").asText());
      String want = c.get("fix_text").asText();
      if (!got.equals(want)) {
        bad.add(describe(c) + "\n    want " + escape(want) + "\n    got  " + escape(got));
      }
    }
    return bad;
  }

  private static List<String> idMismatches(List<JsonNode> cases) {
    ClipTokenizer tok = tokenizer();
    List<String> bad = new ArrayList<>();
    for (JsonNode c : cases) {
      long[][] got = tok.tokenize(List.of(c.get("text").asText()), CONTEXT);
      long[] want = expectedRow(c);
      if (!java.util.Arrays.equals(got[0], want)) {
        bad.add(describe(c));
      }
    }
    return bad;
  }

  @Test
  void ftfySuiteFixTextIdentical() {
    List<JsonNode> cases = jsonl("ftfy_suite.jsonl");
    assertThat(cases).hasSize(143);
    assertThat(fixTextMismatches(cases)).isEmpty();
  }

  @Test
  void ftfySuiteTokenIdsIdenticalToOpenClip() {
    List<JsonNode> cases = jsonl("ftfy_suite.jsonl");
    assertThat(cases).hasSize(143);
    assertThat(idMismatches(cases)).isEmpty();
  }

  @Test
  void generatedMojibakeFixTextIdentical() {
    List<JsonNode> cases = jsonl("ftfy_mojibake.jsonl");
    assertThat(cases).hasSizeGreaterThanOrEqualTo(500);
    assertThat(fixTextMismatches(cases)).isEmpty();
  }

  @Test
  void generatedMojibakeTokenIdsIdenticalToOpenClip() {
    List<JsonNode> cases = jsonl("ftfy_mojibake.jsonl");
    assertThat(cases).hasSizeGreaterThanOrEqualTo(500);
    assertThat(idMismatches(cases)).isEmpty();
  }

  /** An element of ftfy_classes.json: a code point list as int[], a predicate name as String. */
  private static Object element(JsonNode e) {
    if (e.isTextual()) {
      return e.asText();
    }
    int[] cps = new int[e.size()];
    for (int i = 0; i < cps.length; i++) {
      cps[i] = e.get(i).asInt();
    }
    return cps;
  }

  private static List<Object> sequence(JsonNode seq) {
    List<Object> out = new ArrayList<>();
    seq.forEach(e -> out.add(element(e)));
    return out;
  }

  @Test
  void badnessClassesAreThoseOfPythonsParsedRegex() {
    JsonNode classes = jsonl("ftfy_classes.json").get(0);
    List<List<Object>> want = new ArrayList<>();
    classes.get("badness").forEach(alt -> want.add(sequence(alt)));
    want.add(sequence(classes.get("badness_anchored")));
    List<List<Object>> got = FtfyBadness.describe();
    assertThat(got).hasSameSizeAs(want);
    for (int a = 0; a < want.size(); a++) {
      assertThat(got.get(a)).as("alternative " + a).hasSameSizeAs(want.get(a));
      for (int k = 0; k < want.get(a).size(); k++) {
        assertThat(got.get(a).get(k)).as("alternative " + a + ", element " + k)
            .isEqualTo(want.get(a).get(k));
      }
    }
  }

  @Test
  void utf8DetectorClassesAreFtfys() {
    JsonNode detector = jsonl("ftfy_classes.json").get(0).get("utf8_detector");
    BmpSet[] got = FtfyEncoding.detectorSets();
    assertThat(got).hasSize(detector.size());
    for (int i = 0; i < got.length; i++) {
      assertThat(got[i].toArray()).as("detector class " + i).isEqualTo(element(detector.get(i)));
    }
  }

  @Test
  void pythonWordClassFollowsUnicodeCategories() {
    // Python's \w is str.isalnum() or '_': letters L*, numbers Nd/Nl/No (checked over all code
    // points under Python 3.11); marks, punctuation and symbols are not word characters.
    assertThat(FtfyBadness.isPythonWord('_')).isTrue();
    assertThat(FtfyBadness.isPythonWord('\u00B2')).isTrue(); // superscript two, No
    assertThat(FtfyBadness.isPythonWord('\u2167')).isTrue(); // roman numeral eight, Nl
    assertThat(FtfyBadness.isPythonWord(0x1D4A5)).isTrue(); // mathematical script J
    assertThat(FtfyBadness.isPythonWord('\u0301')).isFalse(); // combining acute, Mn
    assertThat(FtfyBadness.isPythonWord('-')).isFalse();
    assertThat(FtfyBadness.isPythonWord(0x1F600)).isFalse(); // emoji, So
  }

  @Test
  void badnessHeuristicAgreesWithPython() throws IOException {
    List<String> bad = new ArrayList<>();
    int count = 0;
    int positives = 0;
    for (String line : lines("ftfy_badness.tsv")) {
      if (line.startsWith("#") || line.isBlank()) {
        continue;
      }
      int tab = line.indexOf('\t');
      boolean want = line.charAt(0) == '1';
      String s = JSON.readTree(line.substring(tab + 1)).asText();
      count++;
      positives += want ? 1 : 0;
      if (FtfyBadness.isBad(s) != want) {
        bad.add((want ? "bad" : "not bad") + ": " + escape(s));
      }
    }
    assertThat(count).isEqualTo(4000);
    assertThat(positives).isBetween(1000, 3000); // both answers well represented
    assertThat(bad).isEmpty();
  }
}
