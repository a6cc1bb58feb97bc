package dev.clip4j.tokenize;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class BpeVocabulariesTest {
  private static final List<String> TEXTS =
      List.of("a photo of a cat", "A photo of a CAT!", "a photo of a dog", "the cat and the dog");

  @Test
  void learnsFrequentWordsAsSingleSymbols(@TempDir Path dir) throws Exception {
    List<String[]> merges = BpeVocabularies.learnMerges(TEXTS, 1000);
    int size = BpeVocabularies.write(dir, merges);
    JsonNode vocab = new ObjectMapper().readTree(Files.readString(dir.resolve("vocab.json")));
    assertThat(size).isEqualTo(vocab.size());
    assertThat(vocab.get("<|startoftext|>").intValue()).isEqualTo(size - 2);
    assertThat(vocab.get("<|endoftext|>").intValue()).isEqualTo(size - 1);
    assertThat(vocab.get("!").intValue()).isEqualTo(0); // printable bytes first, from '!'
    assertThat(vocab.get("a").intValue()).isEqualTo('a' - '!');
    assertThat(vocab.get("a</w>").intValue()).isEqualTo(256 + 'a' - '!');

    ClipTokenizer tok = ClipTokenizer.fromDirectory(dir);
    assertThat(tok.sotToken()).isEqualTo(size - 2);
    assertThat(tok.eotToken()).isEqualTo(size - 1);
    // Words seen at least twice end as one symbol; cleaning lower-cases like the tokenizer.
    assertThat(tok.encode("a photo of a cat"))
        .containsExactly(id(vocab, "a</w>"), id(vocab, "photo</w>"), id(vocab, "of</w>"), id(vocab, "a</w>"), id(vocab, "cat</w>"));
    assertThat(tok.encode("dog")).containsExactly(id(vocab, "dog</w>"));
    // '!' was seen once: its own byte symbol.
    assertThat(tok.encode("!")).containsExactly(id(vocab, "!</w>"));
    // An unseen word still tokenizes, into byte symbols and learned pieces.
    int[] zebra = tok.encode("zebra");
    assertThat(zebra).isNotEmpty();
    assertThat(java.util.Arrays.stream(zebra).max().getAsInt()).isLessThan(size - 2);
    assertThat(java.util.Arrays.stream(zebra).min().getAsInt()).isGreaterThanOrEqualTo(0);
  }

  @Test
  void isDeterministicAndBounded() {
    List<String[]> a = BpeVocabularies.learnMerges(TEXTS, 1000);
    List<String[]> b = BpeVocabularies.learnMerges(new ArrayList<>(TEXTS), 1000);
    assertThat(a).hasSameSizeAs(b);
    for (int i = 0; i < a.size(); i++) {
      assertThat(a.get(i)).containsExactly(b.get(i));
    }
    assertThat(BpeVocabularies.learnMerges(TEXTS, 3)).hasSize(3);
    assertThat(BpeVocabularies.learnMerges(List.of("x y z"), 1000)).isEmpty(); // no pair occurs twice
    assertThatThrownBy(() -> BpeVocabularies.learnMerges(TEXTS, -1)).isInstanceOf(IllegalArgumentException.class);
  }

  private static int id(JsonNode vocab, String symbol) {
    assertThat(vocab.has(symbol)).as("vocab has %s", symbol).isTrue();
    return vocab.get(symbol).intValue();
  }
}
