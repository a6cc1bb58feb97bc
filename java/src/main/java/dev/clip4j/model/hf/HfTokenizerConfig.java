package dev.clip4j.model.hf;

import com.fasterxml.jackson.databind.JsonNode;
import dev.clip4j.InvalidModelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * What transformers' fast tokenizer classes change in a {@code tokenizer.json} when they load it,
 * checked against the file so that clip4j, which runs the file as written, tokenizes as
 * transformers does. {@code GemmaTokenizerFast} (SigLIP2's) and {@code LlamaTokenizerFast} rebuild
 * the post-processor from {@code tokenizer_config.json}'s {@code add_bos_token} (default true) and
 * {@code add_eos_token} (default false) ({@code update_post_processor}, transformers 4.57); other
 * classes use the file's post-processor. A file whose post-processor differs from what the class
 * would make is refused, naming both.
 */
public final class HfTokenizerConfig {
  /** class name (without "Fast") to its default bos / eos tokens. */
  private static final Map<String, String[]> REBUILDS_POST_PROCESSOR = Map.of(
      "GemmaTokenizer", new String[] {"<bos>", "<eos>"},
      "LlamaTokenizer", new String[] {"<s>", "</s>"});

  private HfTokenizerConfig() {}

  /**
   * Checks {@code dir/tokenizer.json} against {@code dir/tokenizer_config.json} (nothing to check
   * when the latter is absent or names another class).
   *
   * @throws InvalidModelException when transformers would add other special tokens than the file does
   */
  public static void checkSpecialTokens(Path dir) {
    Path cfgFile = dir.resolve("tokenizer_config.json");
    if (!Files.isRegularFile(cfgFile)) {
      return;
    }
    HfJson.Obj cfg = new HfJson.Obj(HfJson.readObject(cfgFile), "", cfgFile.toString());
    String cls = cfg.string("tokenizer_class", null);
    if (cls == null) {
      return;
    }
    String base = cls.endsWith("Fast") ? cls.substring(0, cls.length() - 4) : cls;
    String[] defaults = REBUILDS_POST_PROCESSOR.get(base);
    if (defaults == null) {
      return;
    }
    List<String> want = new ArrayList<>();
    if (cfg.bool("add_bos_token", true)) {
      want.add(token(cfg, "bos_token", defaults[0]));
    }
    want.add("$A");
    if (cfg.bool("add_eos_token", false)) {
      want.add(token(cfg, "eos_token", defaults[1]));
    }
    Path tokFile = dir.resolve("tokenizer.json");
    JsonNode post = HfJson.readObject(tokFile).get("post_processor");
    List<String> have = new ArrayList<>();
    if (post == null || post.isNull()) {
      have.add("$A");
    } else if (post.path("type").asText("").equals("TemplateProcessing") && post.path("single").isArray()) {
      for (JsonNode piece : post.get("single")) {
        if (piece.has("SpecialToken")) {
          have.add(piece.get("SpecialToken").path("id").asText(""));
        } else if (piece.has("Sequence")) {
          have.add("$" + piece.get("Sequence").path("id").asText(""));
        } else {
          have.add("?" + piece);
        }
      }
    } else {
      throw new InvalidModelException(tokFile + ": its post_processor (" + HfJson.abbreviate(post.toString()) + ") is"
          + " not the TemplateProcessing transformers' " + cls + " replaces it with (" + String.join(" ", want)
          + ", from " + cfgFile.getFileName() + "); clip4j would tokenize differently, so it refuses");
    }
    if (!have.equals(want)) {
      throw new InvalidModelException(tokFile + ": its post-processor makes " + String.join(" ", have) + " but"
          + " transformers' " + cls + " rebuilds it from " + cfgFile.getFileName() + " (add_bos_token / add_eos_token)"
          + " as " + String.join(" ", want) + "; clip4j runs the file as written and would tokenize differently, so"
          + " it refuses");
    }
  }

  private static String token(HfJson.Obj cfg, String key, String dflt) {
    JsonNode n = cfg.get(key);
    if (n == null || n.isNull()) {
      return dflt;
    }
    if (n.isObject()) {
      n = n.get("content");
    }
    if (n == null || !n.isTextual()) {
      throw cfg.invalid(key, "must be a string or {\"content\": string}");
    }
    return n.textValue();
  }
}
