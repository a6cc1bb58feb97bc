package dev.clip4j.corpus;

import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.databind.ObjectMapper;
import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * The single-file JSON-lines output for small jobs: one line per input in input order, either
 * {@code {"index", "path"|"id", "sha256", "embedding": [...]}} or {@code {"index", "path"|"id",
 * "error", "message"}}. Floats are written in their shortest form that reads back as the same
 * float32. Written to a temp file and renamed at the end (no resume). Not thread-safe.
 */
final class JsonlFile implements Sink {
  private final Path target;
  private final Path tmp;
  private final String nameField;
  private final FileChannel channel;
  private final Writer out;
  private final JsonGenerator gen;
  private long rows;
  private long errors;

  JsonlFile(Path target, String nameField) {
    this.target = target.toAbsolutePath();
    this.tmp = AtomicFiles.tempFor(this.target);
    this.nameField = nameField;
    try {
      Path parent = this.target.getParent();
      if (parent != null) {
        Files.createDirectories(parent);
      }
      channel = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
      out = new BufferedWriter(new OutputStreamWriter(Channels.newOutputStream(channel), StandardCharsets.UTF_8), 1 << 16);
      gen = new ObjectMapper().getFactory().createGenerator(out);
      gen.setRootValueSeparator(null);
      gen.disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET);
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + target + ": " + e.getMessage(), e);
    }
  }

  @Override
  public long resumeFrom() {
    return 0;
  }

  @Override
  public boolean complete() {
    return false;
  }

  @Override
  public long rows() {
    return rows;
  }

  @Override
  public long errors() {
    return errors;
  }

  @Override
  public void row(CorpusItem item, Backend.Embedded e) {
    try {
      gen.writeStartObject();
      gen.writeNumberField("index", item.index());
      gen.writeStringField(nameField, item.name());
      gen.writeStringField("sha256", e.sha256());
      gen.writeArrayFieldStart("embedding");
      for (float v : e.row()) {
        gen.writeNumber(v);
      }
      gen.writeEndArray();
      gen.writeEndObject();
      gen.flush();
      out.write('\n');
      rows++;
    } catch (IOException ex) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + target + ": " + ex.getMessage(), ex);
    }
  }

  @Override
  public void error(CorpusItem item, Clip4jException e) {
    try {
      gen.writeStartObject();
      gen.writeNumberField("index", item.index());
      gen.writeStringField(nameField, item.name());
      gen.writeStringField("error", e.code().name());
      gen.writeStringField("message", String.valueOf(e.getMessage()));
      gen.writeEndObject();
      gen.flush();
      out.write('\n');
      errors++;
    } catch (IOException ex) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + target + ": " + ex.getMessage(), ex);
    }
  }

  @Override
  public void shardDone(int shard) {}

  @Override
  public void finish(long inputs) {
    try {
      gen.flush();
      out.flush();
      channel.force(true);
      out.close();
      Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
      AtomicFiles.syncDirectory(target.getParent());
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write " + target + ": " + e.getMessage(), e);
    }
  }

  @Override
  public void close() {
    try {
      out.close();
      Files.deleteIfExists(tmp); // only left when the job failed
    } catch (IOException ignored) {
      // best effort
    }
  }
}
