package dev.clip4j.model.io;

import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidModelException;
import dev.clip4j.internal.UserFiles;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * Sharded checkpoints as Hugging Face writes them: an index file ({@code
 * model.safetensors.index.json} or {@code pytorch_model.bin.index.json}) of the form {@code
 * {"metadata": {"total_size": N, ...}, "weight_map": {"tensor name": "shard file name", ...}}}
 * beside the shards, read as one name-to-tensor view.
 *
 * <p>Checked before any shard is opened: the index is at most {@link #MAX_INDEX_BYTES}, strict
 * JSON (a name listed twice is refused), {@code weight_map} maps strings to strings, and every
 * shard name is a plain file name in the index's directory (no path separator, no {@code ..},
 * not absolute; the file itself may be a symbolic link, as in the Hugging Face cache) that
 * exists. Then each shard is read with the reader of the index's format ({@link
 * SafetensorsReader} or the restricted {@link TorchZipReader}: never sniffed), and every weight
 * must be in exactly the shard the index names: tensors missing from their shard, found in
 * another shard, in two shards, or in no entry of the index are all listed in one error.
 *
 * <p>Stateless; the returned {@link StateDict} holds the shards' memory mappings.
 */
public final class ShardedCheckpoint {
  /** The index of sharded safetensors checkpoints. */
  public static final String SAFETENSORS_INDEX = "model.safetensors.index.json";
  /** The index of sharded {@code torch.save} checkpoints. */
  public static final String TORCH_INDEX = "pytorch_model.bin.index.json";
  /** Largest index file read (ViT-bigG's is about 100 KB). */
  public static final long MAX_INDEX_BYTES = 16L << 20;
  /** Most weights an index may list. */
  public static final int MAX_WEIGHTS = 1_000_000;
  /** Most problems spelled out in one message (the count is always given). */
  private static final int MAX_LISTED = 40;

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private ShardedCheckpoint() {}

  /** The format of the shards an index names. */
  public enum Format {
    /** {@code model.safetensors.index.json}: safetensors shards. */
    SAFETENSORS,
    /** {@code pytorch_model.bin.index.json}: {@code torch.save} zip shards. */
    TORCH_ZIP
  }

  /**
   * A parsed index.
   *
   * @param file the index file
   * @param format the shards' format
   * @param weightMap tensor name to shard file name, in the index's order
   * @param shards the shard file names, in order of first mention
   * @param totalSize {@code metadata.total_size} if present (informational), else null
   */
  public record Index(Path file, Format format, Map<String, String> weightMap, List<String> shards, Long totalSize) {
    public Index {
      weightMap = Collections.unmodifiableMap(new LinkedHashMap<>(weightMap));
      shards = List.copyOf(shards);
    }

    /** The path of shard {@code name} (a plain file name of this index). */
    public Path shardPath(String name) {
      return file.toAbsolutePath().getParent().resolve(name);
    }
  }

  /** The format an index file's name says, or null when it is neither index name. */
  public static Format formatOf(Path indexFile) {
    String n = indexFile.getFileName() == null ? "" : indexFile.getFileName().toString();
    if (n.endsWith(".safetensors.index.json")) {
      return Format.SAFETENSORS;
    }
    if (n.endsWith(".bin.index.json")) {
      return Format.TORCH_ZIP;
    }
    return null;
  }

  /**
   * Reads and checks an index file: bounded, strict JSON, plain shard names, every shard
   * present. The format comes from the file name ({@code *.safetensors.index.json} or {@code
   * *.bin.index.json}).
   *
   * @throws InvalidModelException listing what is wrong
   */
  public static Index readIndex(Path indexFile) {
    Objects.requireNonNull(indexFile, "indexFile");
    Format format = formatOf(indexFile);
    if (format == null) {
      throw new InvalidModelException(indexFile + ": not a checkpoint index (expected a name ending in"
          + " .safetensors.index.json or .bin.index.json)");
    }
    UserFiles.requireRegularFile(indexFile, InvalidModelException::new);
    byte[] bytes;
    try (InputStream in = Files.newInputStream(indexFile)) {
      bytes = in.readNBytes((int) MAX_INDEX_BYTES + 1);
    } catch (IOException e) {
      throw new InvalidModelException(indexFile + ": cannot read: " + e.getMessage(), e);
    }
    if (bytes.length > MAX_INDEX_BYTES) {
      throw new InvalidModelException(indexFile + ": index file larger than " + (MAX_INDEX_BYTES >> 20)
          + " MiB; refusing to parse it");
    }
    Index index = parseIndex(bytes, indexFile, format);
    List<String> missing = new ArrayList<>();
    for (String shard : index.shards()) {
      Path p = index.shardPath(shard);
      if (!Files.isRegularFile(p)) {
        missing.add(shard + (Files.exists(p) ? " (not a regular file)" : ""));
      }
    }
    if (!missing.isEmpty()) {
      throw new InvalidModelException(indexFile + ": " + missing.size() + " of " + index.shards().size()
          + " shard(s) the index names are missing: " + list(missing));
    }
    return index;
  }

  /**
   * Parses index JSON (no file system access); {@code indexFile} names it in messages and gives
   * the directory of the shards.
   *
   * @throws InvalidModelException for malformed JSON, a wrong structure or an unsafe shard name
   */
  public static Index parseIndex(byte[] json, Path indexFile, Format format) {
    Objects.requireNonNull(json, "json");
    Objects.requireNonNull(indexFile, "indexFile");
    Objects.requireNonNull(format, "format");
    JsonNode root;
    try {
      root = JSON.readTree(json);
    } catch (IOException e) {
      throw new InvalidModelException(indexFile + ": invalid checkpoint index: not valid JSON: "
          + SafetensorsReader.firstLine(e.getMessage()), e);
    }
    if (root == null || !root.isObject()) {
      throw bad(indexFile, "not a JSON object");
    }
    for (Iterator<String> it = root.fieldNames(); it.hasNext(); ) {
      String k = it.next();
      if (!k.equals("metadata") && !k.equals("weight_map")) {
        throw bad(indexFile, "unknown top-level key '" + abbreviate(k) + "' (an index has \"metadata\" and"
            + " \"weight_map\")");
      }
    }
    Long totalSize = null;
    JsonNode meta = root.get("metadata");
    if (meta != null && !meta.isNull()) {
      if (!meta.isObject()) {
        throw bad(indexFile, "metadata must be an object");
      }
      JsonNode ts = meta.get("total_size");
      if (ts != null && !ts.isNull()) {
        if (!ts.isIntegralNumber() || !ts.canConvertToLong() || ts.longValue() < 0) {
          throw bad(indexFile, "metadata.total_size must be a non-negative integer, got " + abbreviate(ts.toString()));
        }
        totalSize = ts.longValue();
      }
    }
    JsonNode map = root.get("weight_map");
    if (map == null || !map.isObject()) {
      throw bad(indexFile, "\"weight_map\" (tensor name -> shard file) is missing or not an object");
    }
    if (map.size() == 0) {
      throw bad(indexFile, "weight_map is empty");
    }
    if (map.size() > MAX_WEIGHTS) {
      throw bad(indexFile, "weight_map lists " + map.size() + " tensors, more than " + MAX_WEIGHTS);
    }
    Map<String, String> weightMap = new LinkedHashMap<>();
    LinkedHashSet<String> shards = new LinkedHashSet<>();
    List<String> badNames = new ArrayList<>();
    for (Iterator<Map.Entry<String, JsonNode>> it = map.fields(); it.hasNext(); ) {
      Map.Entry<String, JsonNode> e = it.next();
      JsonNode v = e.getValue();
      if (!v.isTextual()) {
        throw bad(indexFile, "weight_map[\"" + abbreviate(e.getKey()) + "\"] must be a shard file name, got "
            + abbreviate(v.toString()));
      }
      String shard = v.textValue();
      if (shards.add(shard)) {
        String why = unsafe(shard);
        if (why != null) {
          badNames.add("'" + abbreviate(shard) + "' " + why);
        }
      }
      weightMap.put(e.getKey(), shard);
    }
    if (!badNames.isEmpty()) {
      throw bad(indexFile, "shard names must be plain file names in the index's directory: " + list(badNames));
    }
    return new Index(indexFile, format, weightMap, new ArrayList<>(shards), totalSize);
  }

  /** Why {@code name} is not a plain file name of the same directory, or null when it is. */
  static String unsafe(String name) {
    if (name.isEmpty()) {
      return "is empty";
    }
    if (name.length() > 255) {
      return "is longer than 255 characters";
    }
    if (name.equals(".") || name.equals("..")) {
      return "is a directory reference";
    }
    for (int i = 0; i < name.length(); i++) {
      char c = name.charAt(i);
      if (c == '/' || c == '\\') {
        return "contains a path separator";
      }
      if (c < 0x20 || c == 0x7f) {
        return "contains a control character";
      }
    }
    if (name.length() >= 2 && name.charAt(1) == ':') {
      return "looks like a drive path";
    }
    return null;
  }

  /**
   * Reads a sharded checkpoint: the index ({@link #readIndex}), then every shard, checked against
   * the index. Tensors come in shard order, each shard's in file order.
   *
   * @throws InvalidModelException listing every problem of the index and the shards together
   */
  public static StateDict read(Path indexFile) {
    Index index = readIndex(indexFile);
    Map<String, TensorData> tensors = new LinkedHashMap<>();
    Map<String, String> foundIn = new LinkedHashMap<>();
    List<String> unlisted = new ArrayList<>();
    List<String> misplaced = new ArrayList<>();
    List<String> twice = new ArrayList<>();
    for (String shard : index.shards()) {
      Path p = index.shardPath(shard);
      StateDict sd = index.format() == Format.SAFETENSORS ? SafetensorsReader.read(p) : TorchZipReader.read(p);
      for (TensorData t : sd.tensors().values()) {
        String listed = index.weightMap().get(t.name());
        String seen = foundIn.putIfAbsent(t.name(), shard);
        if (seen != null) {
          twice.add(t.name() + " (" + seen + " and " + shard + ")");
        } else if (listed == null) {
          unlisted.add(t.name() + " (in " + shard + ")");
        } else if (!listed.equals(shard)) {
          misplaced.add(t.name() + " (in " + shard + ", the index says " + listed + ")");
        } else {
          tensors.put(t.name(), t);
        }
      }
    }
    List<String> missing = new ArrayList<>();
    for (Map.Entry<String, String> e : index.weightMap().entrySet()) {
      if (!foundIn.containsKey(e.getKey())) {
        missing.add(e.getKey() + " (index: " + e.getValue() + ")");
      }
    }
    List<String> problems = new ArrayList<>();
    if (!missing.isEmpty()) {
      problems.add(missing.size() + " listed but not in their shard: " + list(missing));
    }
    if (!misplaced.isEmpty()) {
      problems.add(misplaced.size() + " in another shard than the index says: " + list(misplaced));
    }
    if (!twice.isEmpty()) {
      problems.add(twice.size() + " in two shards: " + list(twice));
    }
    if (!unlisted.isEmpty()) {
      problems.add(unlisted.size() + " not listed in the index: " + list(unlisted));
    }
    if (!problems.isEmpty()) {
      throw new InvalidModelException(indexFile + ": the shards do not match the index (" + index.shards().size()
          + " shards, " + index.weightMap().size() + " tensors listed):\n  " + String.join("\n  ", problems));
    }
    Map<String, String> metadata = new LinkedHashMap<>();
    if (index.totalSize() != null) {
      metadata.put("total_size", Long.toString(index.totalSize()));
    }
    metadata.put("shards", Integer.toString(index.shards().size()));
    return new StateDict(indexFile, index.format() == Format.SAFETENSORS ? "safetensors-sharded" : "torch-zip-sharded",
        tensors, metadata);
  }

  private static InvalidModelException bad(Path file, String what) {
    return new InvalidModelException(file + ": invalid checkpoint index: " + what);
  }

  private static String list(List<String> items) {
    if (items.size() <= MAX_LISTED) {
      return String.join(", ", items);
    }
    return String.join(", ", items.subList(0, MAX_LISTED)) + ", ... (" + (items.size() - MAX_LISTED) + " more)";
  }

  private static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }
}
