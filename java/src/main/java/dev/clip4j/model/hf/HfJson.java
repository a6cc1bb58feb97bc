package dev.clip4j.model.hf;

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
import java.util.Iterator;
import java.util.List;
import java.util.Set;

/**
 * Bounded, strict reading of the small JSON files of a Hugging Face directory, and typed access
 * to one object of them with messages that name the file and the key path.
 */
final class HfJson {
  /** Largest JSON file read (real config.json / preprocessor_config.json files are a few KB). */
  static final int MAX_BYTES = 4 << 20;

  private static final ObjectMapper JSON =
      new ObjectMapper().enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION);

  private HfJson() {}

  /** Reads {@code file} (at most {@link #MAX_BYTES}) as one JSON object. */
  static JsonNode readObject(Path file) {
    UserFiles.requireRegularFile(file, InvalidModelException::new);
    byte[] bytes;
    try (InputStream in = Files.newInputStream(file)) {
      bytes = in.readNBytes(MAX_BYTES + 1);
    } catch (IOException e) {
      throw new InvalidModelException(file + ": cannot read: " + e.getMessage(), e);
    }
    if (bytes.length > MAX_BYTES) {
      throw new InvalidModelException(file + ": larger than " + (MAX_BYTES >> 20) + " MiB; not a configuration file");
    }
    return parseObject(bytes, file.toString());
  }

  /** Parses {@code bytes} as one JSON object; duplicate keys are refused. */
  static JsonNode parseObject(byte[] bytes, String source) {
    JsonNode root;
    try {
      root = JSON.readTree(bytes);
    } catch (IOException e) {
      String m = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
      int nl = m.indexOf('\n');
      throw new InvalidModelException(source + " is not valid JSON: " + (nl < 0 ? m : m.substring(0, nl)), e);
    }
    if (root == null || !root.isObject()) {
      throw new InvalidModelException(source + ": expected a JSON object");
    }
    return root;
  }

  /** The union of key sets, as an immutable set. */
  @SafeVarargs
  static java.util.Set<String> union(java.util.Set<String>... sets) {
    java.util.Set<String> u = new java.util.HashSet<>();
    for (java.util.Set<String> s : sets) {
      u.addAll(s);
    }
    return java.util.Set.copyOf(u);
  }

  static String abbreviate(String s) {
    return s.length() <= 80 ? s : s.substring(0, 77) + "...";
  }

  /** Typed, checked access to one JSON object; {@code path} is its key path in the file. */
  static final class Obj {
    final JsonNode node;
    final String path;
    final String source;

    Obj(JsonNode node, String path, String source) {
      if (node == null || !node.isObject()) {
        throw new InvalidModelException(source + ": " + (path.isEmpty() ? "the file" : path) + " must be a JSON object");
      }
      this.node = node;
      this.path = path;
      this.source = source;
    }

    /** {@code path.key}, or {@code key} at the top level. */
    String at(String key) {
      return path.isEmpty() ? key : path + "." + key;
    }

    boolean present(String key) {
      JsonNode n = node.get(key);
      return n != null && !n.isNull();
    }

    JsonNode get(String key) {
      return node.get(key);
    }

    /** Keys not in {@code known}. */
    List<String> unknownKeys(Set<String> known) {
      List<String> unknown = new ArrayList<>();
      for (Iterator<String> it = node.fieldNames(); it.hasNext(); ) {
        String k = it.next();
        if (!known.contains(k)) {
          unknown.add(at(abbreviate(k)));
        }
      }
      return unknown;
    }

    InvalidModelException invalid(String key, String message) {
      return new InvalidModelException(source + ": " + at(key) + " " + message);
    }

    String string(String key, String dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (!n.isTextual()) {
        throw invalid(key, "must be a string, got " + abbreviate(n.toString()));
      }
      return n.textValue();
    }

    Boolean bool(String key, Boolean dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (!n.isBoolean()) {
        throw invalid(key, "must be true or false, got " + abbreviate(n.toString()));
      }
      return n.booleanValue();
    }

    /** A positive int (at most {@code max}); {@code dflt} when absent. */
    int positiveInt(String key, int dflt, int max) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      return positiveInt(key, n, max);
    }

    int positiveInt(String key, JsonNode n, int max) {
      if (!n.isNumber() || !n.canConvertToExactIntegral() || !n.canConvertToInt() || n.asInt() < 1 || n.asInt() > max) {
        throw invalid(key, "must be an integer in [1, " + max + "], got " + abbreviate(n.toString()));
      }
      return n.asInt();
    }

    /** An int (any sign, at most int range); {@code dflt} when absent. */
    int integer(String key, int dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (!n.isNumber() || !n.canConvertToExactIntegral() || !n.canConvertToInt()) {
        throw invalid(key, "must be an integer, got " + abbreviate(n.toString()));
      }
      return n.asInt();
    }

    /** A finite number; {@code dflt} when absent. */
    double number(String key, double dflt) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return dflt;
      }
      if (!n.isNumber() || !Double.isFinite(n.asDouble())) {
        throw invalid(key, "must be a finite number, got " + abbreviate(n.toString()));
      }
      return n.asDouble();
    }

    /** An object, or null when absent. */
    JsonNode objectOrNull(String key) {
      JsonNode n = node.get(key);
      if (n == null || n.isNull()) {
        return null;
      }
      if (!n.isObject()) {
        throw invalid(key, "must be a JSON object, got " + n.getNodeType());
      }
      return n;
    }
  }
}
