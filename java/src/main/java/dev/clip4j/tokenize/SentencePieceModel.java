package dev.clip4j.tokenize;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.BitSet;
import java.util.Base64;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * A SentencePiece model file ({@code spiece.model}: a serialized {@code sentencepiece.ModelProto},
 * see sentencepiece's {@code sentencepiece_model.proto}), read and checked, and turned into the
 * equivalent Hugging Face {@code tokenizer.json} the way transformers' {@code SpmConverter} /
 * {@code T5Converter} build a fast tokenizer from it, so that DJL's binding of the Rust
 * {@code tokenizers} library (which {@link HfTextTokenizer} already uses) tokenizes with it.
 *
 * <p>Only unigram models are read (T5, SigLIP, mT5); BPE, word and char models are refused by
 * name. The file is checked before anything reaches native code: pieces (non-empty, unique, valid
 * UTF-8, finite scores, a known type), the unknown piece, {@code </s>} (appended to every text, as
 * T5's tokenizer does), the 256 byte pieces when {@code byte_fallback} is on, and the normalizer's
 * precompiled character map (its double-array trie is walked over every byte so that no lookup can
 * index outside it, which would abort the JVM from Rust). All problems are listed at once.
 *
 * <p>The conversion follows sentencepiece's own encoder (the reference clip4j is tested against):
 * the precompiled charsmap, then, when {@code remove_extra_whitespaces}, leading spaces removed and
 * runs of spaces collapsed; {@code ▁} prepended when {@code add_dummy_prefix} (and the text is not
 * empty); spaces escaped to {@code ▁}; trailing {@code ▁} removed (again only with {@code
 * remove_extra_whitespaces}); one unigram Viterbi over the whole text (no split at {@code ▁}, as
 * sentencepiece); unknown characters as {@code <0xXX>} byte pieces when {@code byte_fallback}, else
 * one unknown id per run of unknown characters; {@code </s>} appended. Control pieces ({@code
 * </s>}, {@code <pad>}, ...), the unknown piece and user-defined pieces are added tokens, as in a
 * converted T5 fast tokenizer; so a literal {@code </s>} in a text is the control token (as in
 * open_clip's HF tokenizer), where sentencepiece alone would spell it out. With T5's {@code legacy:
 * false} the prefix comes from the Metaspace pre-tokenizer on the first run of text only, as in
 * T5's converted fast tokenizer (which then adds none before a text starting with a literal
 * {@code ▁}, unlike sentencepiece).
 *
 * <p>Where this differs from transformers' {@code T5Converter} output (which open_clip's HF
 * tokenizer runs): in legacy mode it follows sentencepiece where the converter does not, for texts
 * starting or ending with a literal {@code ▁} the charsmap leaves alone, for models without {@code
 * add_dummy_prefix}, and for runs of spaces in models without {@code remove_extra_whitespaces};
 * none of these survive open_clip's cleaning of a text with an nmt_nfkc model (T5's, SigLIP's).
 *
 * <p>Immutable, thread-safe.
 */
public final class SentencePieceModel {
  /** Larger than any published SentencePiece model (mT5's 250k pieces: 4.3 MB; Gemma's 256k: 4.2 MB). */
  public static final long MAX_FILE_BYTES = 64L << 20;
  static final int MAX_PIECES = 1 << 21;
  static final int MAX_PIECE_BYTES = 4096;
  static final int MAX_CHARSMAP_BYTES = 8 << 20;
  static final int MAX_EXTRA_IDS = 10_000;
  private static final int MAX_PROBLEMS = 20;
  private static final String SPACE = "\u2581";

  /** sentencepiece's {@code ModelProto.SentencePiece.Type}. */
  public enum PieceType {
    NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE;

    static PieceType of(long wire) {
      return switch ((int) Math.min(wire, 7)) {
        case 1 -> NORMAL;
        case 2 -> UNKNOWN;
        case 3 -> CONTROL;
        case 4 -> USER_DEFINED;
        case 5 -> UNUSED;
        case 6 -> BYTE;
        default -> null;
      };
    }
  }

  /** One vocabulary entry; its id is its index. */
  public record Piece(String piece, float score, PieceType type) {}

  /** sentencepiece's {@code TrainerSpec.ModelType}. */
  public enum ModelType {
    UNIGRAM, BPE, WORD, CHAR
  }

  private final String source;
  private final List<Piece> pieces;
  private final ModelType modelType;
  private final int unkId;
  private final int eosId;
  private final boolean byteFallback;
  private final String normalizerName;
  private final byte[] charsmap;
  private final boolean addDummyPrefix;
  private final boolean removeExtraWhitespaces;

  private SentencePieceModel(Builder b) {
    this.source = b.source;
    this.pieces = List.copyOf(b.pieces);
    this.modelType = b.modelType;
    this.unkId = b.unkId;
    this.byteFallback = b.byteFallback;
    this.normalizerName = b.normalizerName;
    this.charsmap = b.charsmap;
    this.addDummyPrefix = b.addDummyPrefix;
    this.removeExtraWhitespaces = b.removeExtraWhitespaces;
    int eos = -1;
    for (int i = 0; i < pieces.size() && eos < 0; i++) {
      eos = pieces.get(i).piece().equals("</s>") ? i : -1;
    }
    this.eosId = eos;
  }

  /**
   * Reads and checks a SentencePiece model file.
   *
   * @throws InvalidModelException when it is missing, too large, malformed, not a unigram model, or
   *     inconsistent (every problem found is listed)
   */
  public static SentencePieceModel read(Path file) {
    Objects.requireNonNull(file, "file");
    dev.clip4j.internal.UserFiles.requireRegularFile(file, InvalidModelException::new);
    byte[] data;
    try {
      long size = Files.size(file);
      if (size > MAX_FILE_BYTES) {
        throw new InvalidModelException(file + ": a SentencePiece model of " + size + " bytes is larger than "
            + MAX_FILE_BYTES);
      }
      data = Files.readAllBytes(file);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + dev.clip4j.internal.UserFiles.describe(e), e);
    }
    return parse(data, file.toString());
  }

  /** {@link #read} of bytes already in memory; {@code source} names them in messages. */
  public static SentencePieceModel parse(byte[] data, String source) {
    Objects.requireNonNull(data, "data");
    Objects.requireNonNull(source, "source");
    if (data.length > MAX_FILE_BYTES) {
      throw new InvalidModelException(source + ": a SentencePiece model of " + data.length + " bytes is larger than "
          + MAX_FILE_BYTES);
    }
    if (data.length == 0) {
      throw new InvalidModelException(source + ": empty file, not a SentencePiece model");
    }
    Builder b = new Builder(source);
    ProtoWire in = new ProtoWire(data, 0, data.length, source);
    while (in.hasMore()) {
      int field = in.readTag() >>> 3;
      switch (field) {
        case 1 -> {
          in.expect(ProtoWire.LEN, "pieces");
          if (b.pieces.size() >= MAX_PIECES) {
            throw new InvalidModelException(source + ": more than " + MAX_PIECES + " pieces");
          }
          b.pieces.add(b.piece(in.sub(in.readLengthDelimited(Integer.MAX_VALUE, "piece " + b.pieces.size())),
              b.pieces.size()));
        }
        case 2 -> {
          in.expect(ProtoWire.LEN, "trainer_spec");
          b.trainerSpec(in.sub(in.readLengthDelimited(Integer.MAX_VALUE, "trainer_spec")));
        }
        case 3 -> {
          in.expect(ProtoWire.LEN, "normalizer_spec");
          b.normalizerSpec(in.sub(in.readLengthDelimited(Integer.MAX_VALUE, "normalizer_spec")));
        }
        default -> in.skip(); // self_test_data, denormalizer_spec (decoding only), extensions
      }
    }
    b.check();
    return new SentencePieceModel(b);
  }

  /** The model's pieces; a piece's id is its index. */
  public List<Piece> pieces() {
    return pieces;
  }

  public int unkId() {
    return unkId;
  }

  /** The id of {@code </s>}, which T5's tokenizer appends to every text. */
  public int eosId() {
    return eosId;
  }

  public boolean byteFallback() {
    return byteFallback;
  }

  /** The normalizer's name ({@code nmt_nfkc}, {@code identity}, {@code user_defined}, ...). */
  public String normalizerName() {
    return normalizerName;
  }

  /** Whether the normalizer carries a precompiled character map. */
  public boolean hasCharsmap() {
    return charsmap.length > 0;
  }

  /** The normalizer's precompiled character map (a copy; empty when it has none). */
  public byte[] precompiledCharsmap() {
    return charsmap.clone();
  }

  /** Where the model came from (a path, or the name given to {@link #parse}). */
  public String source() {
    return source;
  }

  /**
   * The Hugging Face {@code tokenizer.json} equivalent to this model under T5's tokenizer (see the
   * class comment), as a JSON tree.
   *
   * @param extraIds T5's {@code <extra_id_N>} sentinel tokens appended after the pieces ({@code
   *     extra_ids} of tokenizer_config.json; 0 for none), as {@code T5Converter} adds them
   * @param legacy T5's {@code legacy} flag: true (the default) prefixes {@code ▁} to every run of text
   *     between added tokens, false only to the first
   */
  public ObjectNode tokenizerJson(int extraIds, boolean legacy) {
    if (extraIds < 0 || extraIds > MAX_EXTRA_IDS) {
      throw new IllegalArgumentException("extraIds must be in [0, " + MAX_EXTRA_IDS + "], got " + extraIds);
    }
    return json(extraIds, legacy, addDummyPrefix, false);
  }

  /**
   * A Hugging Face {@code tokenizer.json} whose encoding (without special tokens) is sentencepiece's
   * own {@code encode} of this model with {@code add_dummy_prefix} switched off, as transformers'
   * slow {@code SiglipTokenizer} loads it: no added tokens (sentencepiece never matches a control or
   * unknown piece in a text, so their vocabulary entries get a name with an ASCII space, which the
   * normalizer has escaped out of every text), no post-processor, the model's normalizer and
   * whitespace rules otherwise as in {@link #tokenizerJson}. User-defined pieces, which
   * sentencepiece matches before its search, are not modelled: the caller refuses such models.
   */
  public ObjectNode encoderJsonWithoutDummyPrefix() {
    return json(0, true, false, true);
  }

  private ObjectNode json(int extraIds, boolean legacy, boolean dummyPrefix, boolean plainEncoder) {
    JsonNodeFactory f = JsonNodeFactory.instance;
    ObjectNode root = f.objectNode();
    root.put("version", "1.0");
    root.putNull("truncation");
    root.putNull("padding");
    ArrayNode added = root.putArray("added_tokens");
    for (int i = 0; i < pieces.size() && !plainEncoder; i++) {
      PieceType t = pieces.get(i).type();
      if (t == PieceType.CONTROL || t == PieceType.UNKNOWN || t == PieceType.USER_DEFINED) {
        added.add(addedToken(f, i, pieces.get(i).piece(), t != PieceType.USER_DEFINED));
      }
    }
    for (int k = 0; k < extraIds; k++) {
      added.add(addedToken(f, pieces.size() + k, "<extra_id_" + (extraIds - 1 - k) + ">", true));
    }

    ArrayNode norm = f.arrayNode();
    if (charsmap.length > 0) {
      norm.addObject().put("type", "Precompiled").put("precompiled_charsmap", Base64.getEncoder().encodeToString(charsmap));
    }
    // Legacy (every T5 tokenizer unless its config says legacy: false): sentencepiece's own rules,
    // the dummy prefix added by the normalizer, so to every run of text between added tokens.
    // Non-legacy: the prefix comes from the pre-tokenizer, on the text's first run only, which is
    // what tokenizers' Metaspace "first" does when that run starts at offset 0: so leading spaces
    // are collapsed, not removed (one leading space then is the prefix, as in T5's converter).
    boolean prefixInNormalizer = dummyPrefix && legacy;
    if (removeExtraWhitespaces) {
      if (prefixInNormalizer || !dummyPrefix) {
        norm.add(replace(f, true, "\\A +", ""));
      }
      norm.add(replace(f, true, " {2,}", " "));
    }
    if (prefixInNormalizer) {
      norm.addObject().put("type", "Prepend").put("prepend", SPACE);
    }
    norm.add(replace(f, false, " ", SPACE));
    if (removeExtraWhitespaces) {
      norm.add(replace(f, true, SPACE + "+\\z", ""));
    }
    root.putObject("normalizer").put("type", "Sequence").set("normalizers", norm);

    // Spaces are already escaped; the pre-tokenizer only adds the first-run prefix of non-legacy T5
    // and never splits, so the unigram search sees the whole text as sentencepiece's does.
    String prepend = dummyPrefix && !legacy ? "first" : "never";
    root.putObject("pre_tokenizer").put("type", "Metaspace").put("replacement", SPACE)
        .put("prepend_scheme", prepend).put("split", false);

    if (plainEncoder) {
      root.putNull("post_processor");
      root.putNull("decoder");
      ObjectNode model = root.putObject("model");
      model.put("type", "Unigram");
      model.put("unk_id", unkId);
      ArrayNode vocab = model.putArray("vocab");
      for (int i = 0; i < pieces.size(); i++) {
        Piece p = pieces.get(i);
        boolean unmatchable = p.type() == PieceType.CONTROL || p.type() == PieceType.UNKNOWN;
        vocab.addArray().add(unmatchable ? "<never matched " + i + ">" : p.piece()).add(p.score());
      }
      model.put("byte_fallback", byteFallback);
      return root;
    }
    ObjectNode post = root.putObject("post_processor");
    post.put("type", "TemplateProcessing");
    ArrayNode single = post.putArray("single");
    single.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    single.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
    ArrayNode pair = post.putArray("pair");
    pair.addObject().putObject("Sequence").put("id", "A").put("type_id", 0);
    pair.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
    pair.addObject().putObject("Sequence").put("id", "B").put("type_id", 0);
    pair.addObject().putObject("SpecialToken").put("id", "</s>").put("type_id", 0);
    ObjectNode eos = post.putObject("special_tokens").putObject("</s>");
    eos.put("id", "</s>");
    eos.putArray("ids").add(eosId);
    eos.putArray("tokens").add("</s>");

    ObjectNode dec = root.putObject("decoder");
    if (byteFallback) {
      dec.put("type", "Sequence");
      ArrayNode ds = dec.putArray("decoders");
      ds.addObject().put("type", "Replace").put("content", " ").putObject("pattern").put("String", SPACE);
      ds.addObject().put("type", "ByteFallback");
      ds.addObject().put("type", "Fuse");
      if (dummyPrefix) {
        ds.addObject().put("type", "Strip").put("content", " ").put("start", 1).put("stop", 0);
      }
    } else {
      dec.put("type", "Metaspace").put("replacement", SPACE).put("prepend_scheme", dummyPrefix ? "always" : "never")
          .put("split", false);
    }

    ObjectNode model = root.putObject("model");
    model.put("type", "Unigram");
    model.put("unk_id", unkId);
    ArrayNode vocab = model.putArray("vocab");
    for (Piece p : pieces) {
      vocab.addArray().add(p.piece()).add(p.score());
    }
    for (int k = 0; k < extraIds; k++) {
      vocab.addArray().add("<extra_id_" + (extraIds - 1 - k) + ">").add(0.0);
    }
    model.put("byte_fallback", byteFallback);
    return root;
  }

  /** {@link #tokenizerJson} as text. */
  public String tokenizerJsonString(int extraIds, boolean legacy) {
    try {
      return new ObjectMapper().writeValueAsString(tokenizerJson(extraIds, legacy));
    } catch (IOException e) {
      throw new IllegalStateException("cannot write a JSON tree", e);
    }
  }

  private static ObjectNode addedToken(JsonNodeFactory f, int id, String content, boolean special) {
    ObjectNode a = f.objectNode();
    a.put("id", id).put("content", content).put("single_word", false).put("lstrip", false).put("rstrip", false)
        .put("normalized", false).put("special", special);
    return a;
  }

  private static ObjectNode replace(JsonNodeFactory f, boolean regex, String pattern, String content) {
    ObjectNode r = f.objectNode();
    r.put("type", "Replace");
    r.putObject("pattern").put(regex ? "Regex" : "String", pattern);
    r.put("content", content);
    return r;
  }

  /** Collects the fields while parsing, then checks them together. */
  private static final class Builder {
    final String source;
    final List<Piece> pieces = new ArrayList<>();
    final List<String> problems = new ArrayList<>();
    ModelType modelType = ModelType.UNIGRAM;
    long modelTypeWire = 1;
    int unkId = 0;
    boolean byteFallback;
    boolean treatWhitespaceAsSuffix;
    String normalizerName = "";
    byte[] charsmap = new byte[0];
    boolean addDummyPrefix = true;
    boolean removeExtraWhitespaces = true;
    boolean escapeWhitespaces = true;

    Builder(String source) {
      this.source = source;
    }

    Piece piece(ProtoWire in, int index) {
      String piece = null;
      float score = 0f;
      long type = 1;
      while (in.hasMore()) {
        int field = in.readTag() >>> 3;
        switch (field) {
          case 1 -> {
            in.expect(ProtoWire.LEN, "piece " + index);
            piece = in.readString(MAX_PIECE_BYTES, "piece " + index);
          }
          case 2 -> {
            in.expect(ProtoWire.FIXED32, "score of piece " + index);
            score = in.readFloat();
          }
          case 3 -> {
            in.expect(ProtoWire.VARINT, "type of piece " + index);
            type = in.readVarint();
          }
          default -> in.skip();
        }
      }
      PieceType t = PieceType.of(type);
      if (t == null) {
        problem("piece " + index + " has type " + type + ", not one of sentencepiece's (1-6)");
        t = PieceType.UNUSED;
      }
      if (piece == null || piece.isEmpty()) {
        problem("piece " + index + " is empty");
        piece = "";
      }
      if (!Float.isFinite(score)) {
        problem("piece " + index + " ('" + piece + "') has score " + score);
      }
      return new Piece(piece, score, t);
    }

    void trainerSpec(ProtoWire in) {
      while (in.hasMore()) {
        int field = in.readTag() >>> 3;
        switch (field) {
          case 3 -> {
            in.expect(ProtoWire.VARINT, "trainer_spec.model_type");
            modelTypeWire = in.readVarint();
            modelType = modelTypeWire >= 1 && modelTypeWire <= 4 ? ModelType.values()[(int) modelTypeWire - 1] : null;
          }
          case 24 -> {
            in.expect(ProtoWire.VARINT, "trainer_spec.treat_whitespace_as_suffix");
            treatWhitespaceAsSuffix = in.readBool();
          }
          case 35 -> {
            in.expect(ProtoWire.VARINT, "trainer_spec.byte_fallback");
            byteFallback = in.readBool();
          }
          case 40 -> {
            in.expect(ProtoWire.VARINT, "trainer_spec.unk_id");
            unkId = in.readInt32("trainer_spec.unk_id");
          }
          default -> in.skip(); // bos/eos/pad ids: T5's tokenizer names its tokens; training options
        }
      }
    }

    void normalizerSpec(ProtoWire in) {
      while (in.hasMore()) {
        int field = in.readTag() >>> 3;
        switch (field) {
          case 1 -> {
            in.expect(ProtoWire.LEN, "normalizer_spec.name");
            normalizerName = in.readString(1024, "normalizer_spec.name");
          }
          case 2 -> {
            in.expect(ProtoWire.LEN, "normalizer_spec.precompiled_charsmap");
            charsmap = in.readBytes(MAX_CHARSMAP_BYTES, "normalizer_spec.precompiled_charsmap");
          }
          case 3 -> {
            in.expect(ProtoWire.VARINT, "normalizer_spec.add_dummy_prefix");
            addDummyPrefix = in.readBool();
          }
          case 4 -> {
            in.expect(ProtoWire.VARINT, "normalizer_spec.remove_extra_whitespaces");
            removeExtraWhitespaces = in.readBool();
          }
          case 5 -> {
            in.expect(ProtoWire.VARINT, "normalizer_spec.escape_whitespaces");
            escapeWhitespaces = in.readBool();
          }
          default -> in.skip(); // normalization_rule_tsv: the rules the charsmap was compiled from
        }
      }
    }

    void problem(String p) {
      if (problems.size() < MAX_PROBLEMS) {
        problems.add(p);
      } else if (problems.size() == MAX_PROBLEMS) {
        problems.add("...");
      }
    }

    void check() {
      if (modelType != ModelType.UNIGRAM) {
        problem(modelType == null ? "trainer_spec.model_type " + modelTypeWire + " is not a sentencepiece model type"
            : "a " + modelType + " model: clip4j reads SentencePiece unigram models only (T5, SigLIP, mT5)");
      }
      if (pieces.isEmpty()) {
        problem("no pieces");
      }
      Map<String, Integer> ids = new HashMap<>();
      int unknowns = 0;
      for (int i = 0; i < pieces.size(); i++) {
        Piece p = pieces.get(i);
        Integer prev = ids.putIfAbsent(p.piece(), i);
        if (prev != null && !p.piece().isEmpty()) {
          problem("piece " + i + " ('" + p.piece() + "') repeats piece " + prev);
        }
        unknowns += p.type() == PieceType.UNKNOWN ? 1 : 0;
      }
      if (unkId < 0 || unkId >= pieces.size()) {
        problem("trainer_spec.unk_id " + unkId + " is not a piece id (" + pieces.size() + " pieces)");
      } else if (pieces.get(unkId).type() != PieceType.UNKNOWN) {
        problem("trainer_spec.unk_id " + unkId + " names piece '" + pieces.get(unkId).piece() + "' of type "
            + pieces.get(unkId).type() + ", not the unknown piece");
      }
      if (unknowns != 1 && !pieces.isEmpty()) {
        problem(unknowns + " pieces of type UNKNOWN, expected exactly 1");
      }
      Integer eos = ids.get("</s>");
      if (eos == null) {
        problem("no '</s>' piece: T5's tokenizer ends every text with it");
      } else if (pieces.get(eos).type() != PieceType.CONTROL) {
        problem("'</s>' (piece " + eos + ") is of type " + pieces.get(eos).type() + ", not CONTROL");
      }
      if (byteFallback) {
        int missing = 0;
        for (int v = 0; v < 256; v++) {
          Integer id = ids.get(String.format("<0x%02X>", v));
          if (id == null || pieces.get(id).type() != PieceType.BYTE) {
            missing++;
          }
        }
        if (missing > 0) {
          problem("trainer_spec.byte_fallback is on, but " + missing + " of the 256 byte pieces <0x00>..<0xFF>"
              + " (type BYTE) are missing");
        }
      }
      if (treatWhitespaceAsSuffix) {
        problem("trainer_spec.treat_whitespace_as_suffix is on, which T5's tokenizer (and clip4j) does not support");
      }
      if (!escapeWhitespaces) {
        problem("normalizer_spec.escape_whitespaces is off, which T5's tokenizer (and clip4j) does not support");
      }
      if (charsmap.length > 0) {
        String why = charsmapProblem(charsmap);
        if (why != null) {
          problem("normalizer_spec.precompiled_charsmap: " + why);
        }
      }
      if (!problems.isEmpty()) {
        throw new InvalidModelException(source + ": not a usable SentencePiece model: " + String.join("; ", problems));
      }
    }
  }

  /**
   * Why a precompiled charsmap would make the Rust normalizer index outside its arrays, or null.
   * Layout (sentencepiece's normalizer): a little-endian u32 trie size in bytes, the trie (darts-clone
   * double-array units, u32 each), then the replacement strings (UTF-8, each ended by NUL). A lookup
   * starts at unit 0 and, for each byte c of the text, moves to {@code pos ^ c}, checks the unit's
   * label, moves by its offset, and on a leaf reads the value unit there: an index into the strings.
   * Every state a lookup can reach is explored once, over every byte 1..255, so every unit and
   * string index a text could touch is checked here.
   */
  static String charsmapProblem(byte[] map) {
    if (map.length < 4) {
      return map.length + " bytes, shorter than its 4-byte header";
    }
    long trieBytes = u32(map, 0);
    if (trieBytes % 4 != 0 || trieBytes > map.length - 4L) {
      return "trie size " + trieBytes + " is not a multiple of 4 within the " + (map.length - 4) + " bytes that follow";
    }
    int units = (int) (trieBytes / 4);
    if (units == 0) {
      return "empty trie";
    }
    int strings = 4 + units * 4;
    int stringsLen = map.length - strings;
    String text = new String(map, strings, stringsLen, StandardCharsets.UTF_8);
    if (!java.util.Arrays.equals(text.getBytes(StandardCharsets.UTF_8), 0, stringsLen, map, strings, map.length)) {
      return "its replacement strings are not valid UTF-8";
    }
    // States: unit indices after an offset move; a state >= units can go nowhere (every child read is out).
    BitSet seen = new BitSet(units);
    int[] stack = new int[Math.min(units, 1 << 16)];
    int top = 0;
    long root = offset(u32(map, 4));
    if (root >= units) {
      return "the root's offset " + root + " leaves the trie (" + units + " units)";
    }
    stack[top++] = (int) root;
    seen.set((int) root);
    while (top > 0) {
      int s = stack[--top];
      for (int c = 1; c < 256; c++) {
        long p = s ^ c;
        if (p >= units) {
          return "unit " + p + " (state " + s + ", byte " + c + ") is outside the trie (" + units + " units)";
        }
        long unit = u32(map, 4 + (int) p * 4);
        if ((unit & (0x80000000L | 0xFF)) != c) {
          continue;
        }
        long t = p ^ offset(unit);
        if (((unit >>> 8) & 1) == 1) {
          if (t >= units) {
            return "leaf unit " + t + " is outside the trie (" + units + " units)";
          }
          long v = u32(map, 4 + (int) t * 4) & 0x7FFFFFFFL;
          if (v > stringsLen || (v < stringsLen && (map[strings + (int) v] & 0xC0) == 0x80)) {
            return "replacement index " + v + " is not the start of a character in the " + stringsLen
                + " bytes of strings";
          }
        }
        if (t < units && !seen.get((int) t)) {
          seen.set((int) t);
          if (top == stack.length) {
            stack = java.util.Arrays.copyOf(stack, Math.min(units, stack.length * 2));
          }
          stack[top++] = (int) t;
        } else if (t >= units) {
          // A lookup can stand here only at the end of a text; any further byte would read outside.
          return "unit " + p + " moves to " + t + ", outside the trie (" + units + " units)";
        }
      }
    }
    return null;
  }

  private static long offset(long unit) {
    return (unit >>> 10) << ((unit & (1L << 9)) >>> 6);
  }

  private static long u32(byte[] b, int at) {
    return (b[at] & 0xffL) | (b[at + 1] & 0xffL) << 8 | (b[at + 2] & 0xffL) << 16 | (b[at + 3] & 0xffL) << 24;
  }
}
