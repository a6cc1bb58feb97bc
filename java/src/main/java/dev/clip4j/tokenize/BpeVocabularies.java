package dev.clip4j.tokenize;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Learns a small byte-level BPE vocabulary from sample texts and writes it in the Hugging Face CLIP
 * layout ({@code vocab.json} + {@code merges.txt}) that {@link ClipTokenizer#fromDirectory} reads.
 *
 * <p>For models clip4j generates itself (random weights for the demo, benchmarks and tests), which
 * need a tokenizer but must not ship OpenAI's vocabulary file. Texts are cleaned, lower-cased and
 * pre-tokenized exactly as the tokenizer does; merges are learned greedily (most frequent adjacent
 * pair first, ties broken by the pair's text, so the result is deterministic). Symbol ids follow
 * open_clip's layout: 256 byte symbols, their {@code </w>} forms, one id per merge, then
 * {@code <|startoftext|>} and {@code <|endoftext|>}. Thread safety: stateless.
 */
public final class BpeVocabularies {
  private BpeVocabularies() {}

  /**
   * The merges that BPE learns from {@code texts}, at most {@code maxMerges}, stopping when no
   * adjacent pair occurs at least twice.
   */
  public static List<String[]> learnMerges(Iterable<String> texts, int maxMerges) {
    Objects.requireNonNull(texts, "texts");
    if (maxMerges < 0 || maxMerges > ClipTokenizer.MAX_MERGES) {
      throw new IllegalArgumentException("maxMerges must be in [0, " + ClipTokenizer.MAX_MERGES + "]: " + maxMerges);
    }
    Map<String, Integer> wordCounts = new LinkedHashMap<>();
    for (String text : texts) {
      PreTokenizer.split(TextCleaner.clean(text), (token, special) -> {
        if (special == 0) {
          wordCounts.merge(token, 1, Integer::sum);
        }
        return true;
      });
    }
    List<List<String>> words = new ArrayList<>();
    List<Integer> counts = new ArrayList<>();
    for (Map.Entry<String, Integer> e : wordCounts.entrySet()) {
      words.add(BytePairEncoder.symbolsOf(e.getKey()));
      counts.add(e.getValue());
    }
    List<String[]> merges = new ArrayList<>();
    while (merges.size() < maxMerges) {
      Map<String, Integer> pairCounts = new HashMap<>();
      for (int w = 0; w < words.size(); w++) {
        List<String> s = words.get(w);
        for (int i = 0; i + 1 < s.size(); i++) {
          pairCounts.merge(s.get(i) + " " + s.get(i + 1), counts.get(w), Integer::sum);
        }
      }
      String best = null;
      int bestCount = 1;
      for (Map.Entry<String, Integer> e : pairCounts.entrySet()) {
        int c = e.getValue();
        if (c > bestCount || (c == bestCount && best != null && e.getKey().compareTo(best) < 0)) {
          best = e.getKey();
          bestCount = c;
        }
      }
      if (best == null) {
        break;
      }
      String[] pair = best.split(" ", 2);
      merges.add(pair);
      String joined = pair[0] + pair[1];
      for (List<String> s : words) {
        for (int i = 0; i + 1 < s.size(); i++) {
          if (s.get(i).equals(pair[0]) && s.get(i + 1).equals(pair[1])) {
            s.set(i, joined);
            s.remove(i + 1);
          }
        }
      }
    }
    return merges;
  }

  /**
   * Writes {@code vocab.json} and {@code merges.txt} for {@code merges} into {@code dir}
   * (created if needed). Returns the vocabulary size (512 + merges + 2).
   *
   * @throws Clip4jException with {@link ErrorCode#IO} when the files cannot be written
   */
  public static int write(Path dir, List<String[]> merges) {
    Objects.requireNonNull(dir, "dir");
    ObjectNode vocab = new ObjectMapper().createObjectNode();
    int id = 0;
    for (String s : BytePairEncoder.byteSymbolsInVocabOrder()) {
      vocab.put(s, id++);
    }
    for (String s : BytePairEncoder.byteSymbolsInVocabOrder()) {
      vocab.put(s + BytePairEncoder.END_OF_WORD, id++);
    }
    StringBuilder mergesTxt = new StringBuilder("#version: 0.2 (learned by clip4j)\n");
    for (String[] m : merges) {
      if (!vocab.has(m[0] + m[1])) { // two merge paths can spell the same symbol: one id
        vocab.put(m[0] + m[1], id++);
      }
      mergesTxt.append(m[0]).append(' ').append(m[1]).append('\n');
    }
    vocab.put(ClipTokenizer.HF_SOT, id++);
    vocab.put(ClipTokenizer.HF_EOT, id++);
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve(ClipTokenizer.VOCAB_FILE), new ObjectMapper().writeValueAsString(vocab), StandardCharsets.UTF_8);
      Files.writeString(dir.resolve(ClipTokenizer.MERGES_FILE), mergesTxt, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write a vocabulary into " + dir + ": " + e.getMessage(), e);
    }
    return id;
  }

  /**
   * Writes open_clip's merges file ({@code bpe_simple_vocab_16e6.txt}, gzip or plain) in the
   * Hugging Face CLIP layout into {@code dir}: {@code vocab.json} with the ids open_clip assigns
   * (256 byte symbols, their {@code </w>} forms, one per merge, then the start and end of text,
   * named {@code <|startoftext|>} and {@code <|endoftext|>} as transformers' CLIPTokenizer names
   * them) and {@code merges.txt} (a "#version" header, then the merges open_clip reads, at most
   * 48,894). {@link ClipTokenizer#fromDirectory} then gives the same ids for every text.
   *
   * @return the vocabulary size (49,408 for open_clip's file)
   * @throws dev.clip4j.InvalidModelException when the file is not a valid merges file
   * @throws Clip4jException with {@link ErrorCode#IO} when the files cannot be written
   */
  public static int writeHfFromBpe(Path bpeFile, Path dir) {
    Objects.requireNonNull(bpeFile, "bpeFile");
    Objects.requireNonNull(dir, "dir");
    ClipTokenizer.fromBpeVocab(bpeFile); // validates (typed errors), bounded
    byte[] raw;
    try {
      raw = Files.readAllBytes(bpeFile);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot read " + bpeFile + ": " + e.getMessage(), e);
    }
    String[] lines = ClipTokenizer.decodeText(raw, bpeFile).split("\n", -1);
    int end = Math.min(lines.length, 1 + ClipTokenizer.MAX_MERGES);
    ObjectNode vocab = new ObjectMapper().createObjectNode();
    int id = 0;
    for (String s : BytePairEncoder.byteSymbolsInVocabOrder()) {
      vocab.put(s, id++);
    }
    for (String s : BytePairEncoder.byteSymbolsInVocabOrder()) {
      vocab.put(s + BytePairEncoder.END_OF_WORD, id++);
    }
    StringBuilder mergesTxt = new StringBuilder("#version: 0.2\n");
    for (int i = 1; i < end; i++) {
      String[] parts = ClipTokenizer.splitWhitespace(lines[i]);
      if (parts.length != 2) {
        throw new dev.clip4j.InvalidModelException("BPE vocabulary " + bpeFile + ": line " + (i + 1)
            + " is not a merge of two symbols; it cannot be written as merges.txt");
      }
      vocab.put(parts[0] + parts[1], id++); // a later duplicate wins, as Python's dict(zip(...))
      mergesTxt.append(parts[0]).append(' ').append(parts[1]).append('\n');
    }
    vocab.put(ClipTokenizer.HF_SOT, id++);
    vocab.put(ClipTokenizer.HF_EOT, id++);
    try {
      Files.createDirectories(dir);
      Files.writeString(dir.resolve(ClipTokenizer.VOCAB_FILE), new ObjectMapper().writeValueAsString(vocab),
          StandardCharsets.UTF_8);
      Files.writeString(dir.resolve(ClipTokenizer.MERGES_FILE), mergesTxt, StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write a vocabulary into " + dir + ": " + e.getMessage(), e);
    }
    return id;
  }
}
