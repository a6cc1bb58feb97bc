package dev.clip4j.corpus;

import dev.clip4j.Clip4jException;
import java.nio.file.Path;

/**
 * One input of a corpus job, as its {@link ItemSource} enumerated it.
 *
 * @param index 0-based position in the job's input enumeration
 * @param name the image path as given/found, or the text's id
 * @param path the image file (null for texts and for enumeration errors)
 * @param text the text (null for images)
 * @param error set when the input is already known to be bad (an unreadable directory, a
 *     malformed JSONL/TSV line): the item goes straight to {@code errors.jsonl}
 */
public record CorpusItem(long index, String name, Path path, String text, Clip4jException error) {

  /** What the input fingerprint hashes for this item (its identity in the enumeration). */
  String key() {
    if (text != null) {
      return name + '\u0000' + text;
    }
    return error != null && path == null ? name + '\u0000' + error.code() : name;
  }
}
