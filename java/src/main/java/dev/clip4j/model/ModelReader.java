package dev.clip4j.model;

import java.nio.file.Path;

/**
 * A format reader: turns a path holding one model format into a {@link ModelDescription} (typed
 * architecture, weights under open_clip's canonical names, preprocessing, tokenizer, provenance).
 * Readers validate what they read (every key, shape and dtype; all problems listed at once;
 * nothing guessed) and never build towers. Adding a format is adding a reader to {@link
 * ModelReaders}.
 */
interface ModelReader {
  /** The format this reader reads. */
  ModelFormat format();

  /**
   * Describes the model at {@code path}.
   *
   * @throws dev.clip4j.InvalidModelException naming the path and every problem found
   */
  ModelDescription read(Path path, LoadOptions options);
}
