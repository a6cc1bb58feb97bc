package dev.clip4j.hardening;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * Writes the fuzz seed corpora (valid files from {@link Seeds}) under {@code
 * java/src/test/resources} (and the CLI's under {@code cli/src/test/resources}): {@code java -cp
 * <test class path> dev.clip4j.hardening.SeedCorpus java/src/test/resources}. The files are
 * committed; crashers found later go beside them.
 */
public final class SeedCorpus {
  private SeedCorpus() {}

  public static void main(String[] args) throws IOException {
    Path res = Path.of(args.length > 0 ? args[0] : "java/src/test/resources");
    Path p = res.resolve("dev/clip4j/hardening/ParserFuzzTestInputs");
    Path scratch = Files.createTempDirectory("seeds");
    put(p.resolve("safetensors"), "seed-small", Seeds.safetensors());
    put(p.resolve("torchZip"), "seed-small", Seeds.torchZip());
    put(p.resolve("torchPickle"), "seed-small", Seeds.pickle());
    put(p.resolve("jitArchive"), "seed-tiny-clip", JitSeeds.archive());
    put(p.resolve("jitPickle"), "seed-tiny-clip", JitSeeds.pickle());
    put(p.resolve("npy"), "seed-f32-2x3", Seeds.npy(scratch));
    put(p.resolve("modelConfig"), "seed-tiny", Seeds.config().getBytes(StandardCharsets.UTF_8));
    put(p.resolve("hfConfig"), "seed-clip", Seeds.hfConfig(534).getBytes(StandardCharsets.UTF_8));
    put(p.resolve("hfConfig"), "seed-vision", Seeds.hfVisionConfig().getBytes(StandardCharsets.UTF_8));
    put(p.resolve("hfConfig"), "seed-legacy-dict", Seeds.hfLegacyConfig().getBytes(StandardCharsets.UTF_8));
    put(p.resolve("hfPreprocessorConfig"), "seed-clip", Seeds.hfPreprocessorConfig().getBytes(StandardCharsets.UTF_8));
    put(p.resolve("hfPreprocessorConfig"), "seed-legacy", Seeds.hfLegacyPreprocessorConfig().getBytes(StandardCharsets.UTF_8));
    put(p.resolve("shardIndex"), "seed-two-shards", Seeds.shardIndex().getBytes(StandardCharsets.UTF_8));
    put(p.resolve("bpeVocab"), "seed-gz", Seeds.bpeGz());
    put(p.resolve("bpeVocab"), "seed-plain", Seeds.bpeText());
    // FuzzedDataProvider layout: the int that splits vocab from merges is read from the end.
    byte[] vocab = Seeds.vocabJson().getBytes(StandardCharsets.UTF_8);
    byte[] merges = Seeds.mergesTxt().getBytes(StandardCharsets.UTF_8);
    byte[] both = new byte[vocab.length + merges.length + 4];
    System.arraycopy(vocab, 0, both, 0, vocab.length);
    System.arraycopy(merges, 0, both, vocab.length, merges.length);
    int n = vocab.length;
    both[both.length - 4] = (byte) (n >>> 24);
    both[both.length - 3] = (byte) (n >>> 16);
    both[both.length - 2] = (byte) (n >>> 8);
    both[both.length - 1] = (byte) n;
    put(p.resolve("vocabAndMerges"), "seed-hf", both);
    // SentencePiece: the small trained fixtures (tools/reference/spiece_tokenizer.py), not nmt_nfkc's 240 KB one.
    for (String m : new String[] {"ident", "bytes", "tiny-siglip"}) {
      put(p.resolve("spieceModel"), "seed-" + m,
          Files.readAllBytes(res.resolve("dev/clip4j/tokenize/spiece/" + m + "/spiece.model")));
    }
    put(p.resolve("spieceCharsmap"), "seed-custom-rules", dev.clip4j.tokenize.SentencePieceModel.read(
        res.resolve("dev/clip4j/tokenize/spiece/bytes/spiece.model")).precompiledCharsmap());
    for (Map.Entry<String, byte[]> e : Seeds.images().entrySet()) {
      put(res.resolve("dev/clip4j/hardening/ImageFuzzTestInputs/image"), "seed-" + e.getKey().replace('.', '-'), e.getValue());
    }
    // The CLI's target lives in the cli module: res is .../java/src/test/resources.
    Path cliRes = res.toAbsolutePath().getParent().getParent().getParent().resolveSibling("cli/src/test/resources");
    put(cliRes.resolve("dev/clip4j/cli/TextInputsFuzzTestInputs/jsonl"), "seed-texts",
        Seeds.jsonl().getBytes(StandardCharsets.UTF_8));
    Path clean = res.resolve("dev/clip4j/tokenize/TextCleaningFuzzTestInputs/fixText");
    for (Map.Entry<String, byte[]> e : cleaningSeeds().entrySet()) {
      put(clean, e.getKey(), e.getValue());
    }
    Files.delete(scratch);
  }

  /**
   * Seeds for TextCleaningFuzzTest: a mode byte (0 UTF-8, 1..9 one char per byte through ftfy's
   * code pages in order, 10 UTF-16BE) then the bytes.
   */
  static Map<String, byte[]> cleaningSeeds() {
    byte[] cesu = {
      (byte) 0xED, (byte) 0xA0, (byte) 0xBD, (byte) 0xED, (byte) 0xB8, (byte) 0x8D, ' ', 'n', 'u', 'l',
      (byte) 0xC0, (byte) 0x80, '\n'
    };
    return Map.of(
        "seed-mojibake-utf8", withMode(0, utf8("caf\u00C3\u00A9 \u00E2\u20AC\u0153quoted\u00E2\u20AC\u009D"
            + " \u00C3 la mode\n<b>&amp;</b> &eacute;")),
        "seed-latin1", withMode(1, utf8("na\u00EFve caf\u00E9 \u2013 \u201Cquotes\u201D \uD83D\uDE00 \uFB01")),
        "seed-cp1252", withMode(2, utf8("\u041F\u0440\u0438\u0432\u0435\u0442, \u00BD \u2122\r\n")),
        "seed-cesu", withMode(1, cesu),
        "seed-utf16", withMode(10, "a\uD800b\u00E9\uFB01\uFF21\u001B[1m".getBytes(StandardCharsets.UTF_16BE)));
  }

  private static byte[] utf8(String s) {
    return s.getBytes(StandardCharsets.UTF_8);
  }

  private static byte[] withMode(int mode, byte[] data) {
    byte[] out = new byte[data.length + 1];
    out[0] = (byte) mode;
    System.arraycopy(data, 0, out, 1, data.length);
    return out;
  }

  private static void put(Path dir, String name, byte[] data) throws IOException {
    Files.createDirectories(dir);
    Files.write(dir.resolve(name), data);
  }
}
