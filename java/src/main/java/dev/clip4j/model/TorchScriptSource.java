package dev.clip4j.model;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The TorchScript sources of the towers ({@code dev/clip4j/model/ts/*.ts} resources), with their
 * {@code {{NAME}}} placeholders filled in. A placeholder left unfilled is a bug and throws.
 */
final class TorchScriptSource {
  private static final Pattern PLACEHOLDER = Pattern.compile("\\{\\{([A-Z_0-9]+)}}");

  private TorchScriptSource() {}

  /**
   * The resource {@code ts/<name>} without its comment lines, every placeholder replaced from
   * {@code values}.
   */
  static String load(String name, Map<String, String> values) {
    StringBuilder code = new StringBuilder();
    for (String line : read(name).split("\n", -1)) {
      if (!line.stripLeading().startsWith("#")) {
        code.append(line).append('\n');
      }
    }
    String text = code.toString();
    Matcher m = PLACEHOLDER.matcher(text);
    StringBuilder sb = new StringBuilder();
    while (m.find()) {
      String v = values.get(m.group(1));
      if (v == null) {
        throw new IllegalStateException("ts/" + name + ": no value for {{" + m.group(1) + "}}");
      }
      m.appendReplacement(sb, Matcher.quoteReplacement(v));
    }
    m.appendTail(sb);
    return sb.toString();
  }

  static String load(String name) {
    return load(name, Map.of());
  }

  private static String read(String name) {
    try (InputStream in = TorchScriptSource.class.getResourceAsStream("ts/" + name)) {
      if (in == null) {
        throw new IllegalStateException("missing resource dev/clip4j/model/ts/" + name);
      }
      return new String(in.readAllBytes(), StandardCharsets.UTF_8);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
