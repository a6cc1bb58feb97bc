package dev.clip4j.corpus;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import java.io.BufferedInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.NoSuchElementException;

/**
 * The text inputs of {@code clip4j embed-texts}: literal texts, then files in the order given.
 * File formats: {@link Format#JSONL} (objects with a string {@code "text"} and an optional
 * {@code "id"}, string or number), {@link Format#TSV} ({@code id<TAB>text}, split at the first
 * tab) and {@link Format#TXT} (one text per line). Files are read as strict UTF-8, line by line;
 * blank lines are skipped. A line that is not valid (bad JSON, no text field, no tab, bad UTF-8,
 * longer than 16 MiB) becomes an item with an {@link ErrorCode#INVALID_INPUT} error, so the rest
 * of the file is still embedded.
 *
 * <p>Ids: the {@code "id"} field or TSV id when present, else the 1-based line number (for
 * literal texts, their 1-based position). When there is more than one source, ids without an
 * explicit id are prefixed with the source, e.g. {@code "texts.txt:17"} or {@code "--text:2"}.
 * Immutable; each {@link #open()} is independent.
 */
public final class TextSources implements ItemSource {
  private static final int MAX_LINE_BYTES = 16 << 20;

  /** A text file's layout. */
  public enum Format {
    JSONL,
    TSV,
    TXT
  }

  /** A text file and its layout. */
  public record Source(Format format, Path file) {}

  private final List<String> literals;
  private final List<Source> files;

  /**
   * @param literals texts given on the command line (may be empty)
   * @param files text files, in order
   * @throws InvalidInputException when there is nothing to read
   */
  public TextSources(List<String> literals, List<Source> files) {
    this.literals = literals == null ? List.of() : List.copyOf(literals);
    this.files = files == null ? List.of() : List.copyOf(files);
    if (this.literals.isEmpty() && this.files.isEmpty()) {
      throw new InvalidInputException("no texts: give --text, --texts-jsonl, --texts-tsv and/or --texts-txt");
    }
  }

  @Override
  public String kind() {
    return "texts";
  }

  @Override
  public String nameField() {
    return "id";
  }

  @Override
  public Map<String, Object> describe() {
    Map<String, Object> m = new LinkedHashMap<>();
    m.put("texts", literals.size());
    List<Map<String, String>> fs = new ArrayList<>();
    for (Source s : files) {
      fs.add(Map.of("format", s.format().name().toLowerCase(Locale.ROOT), "file", s.file().toString()));
    }
    m.put("files", fs);
    return m;
  }

  @Override
  public Items open() {
    return new Reader();
  }

  /** Every text in order; the first bad line is an exception (for the small single-file modes). */
  public List<String> readAllStrict() {
    List<String> out = new ArrayList<>();
    try (Items it = open()) {
      while (it.hasNext()) {
        CorpusItem item = it.next();
        if (item.error() != null) {
          throw item.error();
        }
        out.add(item.text());
      }
    }
    return out;
  }

  private final class Reader implements Items {
    private final boolean prefix = (literals.isEmpty() ? 0 : 1) + files.size() > 1;
    private final ObjectMapper json = new ObjectMapper();
    private int literal;
    private int file = -1;
    private InputStream in;
    private String label;
    private long line;
    private long index;
    private CorpusItem next;

    @Override
    public boolean hasNext() {
      if (next == null) {
        next = advance();
      }
      return next != null;
    }

    @Override
    public CorpusItem next() {
      if (!hasNext()) {
        throw new NoSuchElementException();
      }
      CorpusItem n = next;
      next = null;
      return n;
    }

    private CorpusItem advance() {
      if (literal < literals.size()) {
        literal++;
        return new CorpusItem(index++, prefix ? "--text:" + literal : String.valueOf(literal), null,
            literals.get(literal - 1), null);
      }
      while (true) {
        if (in == null) {
          if (++file >= files.size()) {
            return null;
          }
          Path f = files.get(file).file();
          label = f.getFileName() == null ? f.toString() : f.getFileName().toString();
          line = 0;
          try {
            dev.clip4j.internal.UserFiles.requireRegularFile(f, m -> new Clip4jException(ErrorCode.IO, m));
            in = new BufferedInputStream(Files.newInputStream(f), 1 << 16);
          } catch (IOException | RuntimeException e) {
            return new CorpusItem(index++, f.toString(), null, null,
                new Clip4jException(ErrorCode.IO, f + ": cannot read: " + e));
          }
        }
        byte[] raw;
        try {
          raw = readLine();
        } catch (IOException e) {
          closeFile();
          Path f = files.get(file).file();
          return new CorpusItem(index++, f + ":" + (line + 1), null, null,
              new Clip4jException(ErrorCode.IO, f + ": read failed after line " + line + ": " + e));
        }
        if (raw == null) {
          closeFile();
          continue;
        }
        line++;
        String lineId = prefix ? label + ":" + line : String.valueOf(line);
        if (raw == TOO_LONG) {
          return bad(lineId, "line longer than " + MAX_LINE_BYTES + " bytes");
        }
        String s;
        try {
          s = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(raw)).toString();
        } catch (CharacterCodingException e) {
          return bad(lineId, "not valid UTF-8");
        }
        if (s.endsWith("\r")) {
          s = s.substring(0, s.length() - 1);
        }
        if (s.isBlank()) {
          continue;
        }
        return parse(files.get(file).format(), s, lineId);
      }
    }

    private CorpusItem parse(Format format, String s, String lineId) {
      switch (format) {
        case TXT:
          return new CorpusItem(index++, lineId, null, s, null);
        case TSV: {
          int tab = s.indexOf('\t');
          if (tab < 0) {
            return bad(lineId, "expected id<TAB>text, found no tab");
          }
          String id = s.substring(0, tab);
          return new CorpusItem(index++, id.isEmpty() ? lineId : id, null, s.substring(tab + 1), null);
        }
        default: {
          JsonNode n;
          try {
            n = json.readTree(s);
          } catch (IOException e) {
            return bad(lineId, "not valid JSON: " + (e instanceof com.fasterxml.jackson.core.JsonProcessingException j ? j.getOriginalMessage() : e.getMessage()));
          }
          if (n == null || !n.isObject() || !n.has("text") || !n.get("text").isTextual()) {
            return bad(lineId, "expected an object with a string field \"text\"");
          }
          JsonNode id = n.get("id");
          String name = id != null && (id.isTextual() || id.isNumber()) ? id.asText() : lineId;
          return new CorpusItem(index++, name, null, n.get("text").asText(), null);
        }
      }
    }

    private CorpusItem bad(String lineId, String why) {
      Path f = files.get(file).file();
      return new CorpusItem(index++, lineId, null, null, new InvalidInputException(f + ":" + line + ": " + why));
    }

    private byte[] readLine() throws IOException {
      ByteArrayOutputStream buf = new ByteArrayOutputStream(256);
      boolean any = false;
      boolean tooLong = false;
      int b;
      while ((b = in.read()) >= 0) {
        any = true;
        if (b == '\n') {
          break;
        }
        if (buf.size() < MAX_LINE_BYTES) {
          buf.write(b);
        } else {
          tooLong = true;
        }
      }
      if (!any) {
        return null;
      }
      return tooLong ? TOO_LONG : buf.toByteArray();
    }

    private void closeFile() {
      try {
        if (in != null) {
          in.close();
        }
      } catch (IOException ignored) {
        // read-only
      }
      in = null;
    }

    @Override
    public void close() {
      closeFile();
    }
  }

  private static final byte[] TOO_LONG = new byte[0];
}
