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
 *     malformed JSONL/TSV line, a broken WebDataset shard): the item goes straight to {@code
 *     errors.jsonl}
 * @param data the encoded image when it was read from a container (a WebDataset {@code .tar}
 *     member, then {@code path} is null and {@code name} is {@code SHARD.tar/KEY.EXT}), or null
 */
public record CorpusItem(long index, String name, Path path, String text, Clip4jException error, byte[] data) {

  /** An item read from its own file (or a text, or an error): no container bytes. */
  public CorpusItem(long index, String name, Path path, String text, Clip4jException error) {
    this(index, name, path, text, error, null);
  }

  /** What the input fingerprint hashes for this item (its identity in the enumeration). */
  String key() {
    if (text != null) {
      return name + '\u0000' + text;
    }
    return error != null && path == null ? name + '\u0000' + error.code() : name;
  }
}
