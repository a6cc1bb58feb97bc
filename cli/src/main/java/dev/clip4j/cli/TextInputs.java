package dev.clip4j.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.InvalidInputException;
import java.io.BufferedReader;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import picocli.CommandLine.Option;

/** {@code (--text T)... | --texts-jsonl FILE}: the texts a command works on, in order. */
final class TextInputs {
  @Option(names = "--text", description = "A text (repeatable).")
  List<String> texts;

  @Option(names = "--texts-jsonl", description = "A JSON-lines file whose objects have a \"text\" field.")
  Path jsonl;

  List<String> read() {
    List<String> out = new ArrayList<>();
    if (texts != null) {
      out.addAll(texts);
    }
    if (jsonl != null) {
      ObjectMapper json = new ObjectMapper();
      dev.clip4j.internal.UserFiles.requireRegularFile(jsonl, InvalidInputException::new);
      try (BufferedReader r = Files.newBufferedReader(jsonl, StandardCharsets.UTF_8)) {
        String line;
        int no = 0;
        while ((line = r.readLine()) != null) {
          no++;
          if (line.isBlank()) {
            continue;
          }
          JsonNode n;
          try {
            n = json.readTree(line);
          } catch (IOException e) {
            throw new InvalidInputException(jsonl + ":" + no + ": not valid JSON: " + e.getMessage());
          }
          if (n == null || !n.isObject() || !n.has("text") || !n.get("text").isTextual()) {
            throw new InvalidInputException(jsonl + ":" + no + ": expected an object with a string field \"text\"");
          }
          out.add(n.get("text").asText());
        }
      } catch (IOException e) {
        throw new InvalidInputException(jsonl + ": cannot read: " + e.getMessage(), e);
      }
    }
    if (out.isEmpty()) {
      throw new InvalidInputException("no texts: give --text and/or --texts-jsonl");
    }
    return out;
  }
}
