package dev.clip4j.corpus;

import java.util.Iterator;
import java.util.Map;

/**
 * A deterministic, lazily enumerated list of corpus inputs. {@link #open()} may be called more
 * than once (the job enumerates once to count and fingerprint, then again to embed) and must
 * yield the same items in the same order when the inputs did not change.
 */
public interface ItemSource {

  /** A lazy enumeration; close it to release open files. Not thread-safe. */
  interface Items extends Iterator<CorpusItem>, AutoCloseable {
    @Override
    void close();
  }

  /** {@code "images"} or {@code "texts"} (the manifest's {@code kind}). */
  String kind();

  /** The field that names an item in ids/errors files: {@code "path"} or {@code "id"}. */
  String nameField();

  /** A fresh enumeration from the first item. */
  Items open();

  /** What the inputs were (arguments, filters), recorded in the manifest. */
  Map<String, Object> describe();
}
