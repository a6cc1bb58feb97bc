/**
 * The corpus embedding job: {@code clip4j embed-images|embed-texts --out DIR} over millions of
 * inputs, bounded in memory, resumable after a crash, and tolerant of bad inputs.
 *
 * <ul>
 *   <li>{@link dev.clip4j.corpus.CorpusJob}: the job (enumerate and fingerprint the inputs, embed
 *       them through the micro-batching embedder with a bounded in-flight window, check every
 *       row, write shards, resume).
 *   <li>{@link dev.clip4j.corpus.ImageWalk}, {@link dev.clip4j.corpus.TextSources}: the inputs,
 *       enumerated lazily in a deterministic order.
 *   <li>{@code CorpusDirectory}: the directory format and its commit protocol; {@code JsonlFile}:
 *       the single-file JSON-lines output for small jobs.
 * </ul>
 *
 * <p>The directory format (version 1), shared with the readers of {@code dev.clip4j.io}:
 * {@code manifest.json} (format, kind, dim, model, preprocessing, shard size, the committed
 * {@code shards} [{@code index, embeddings, ids, rows}], {@code rows}, {@code errors}, {@code
 * complete}, the inputs fingerprint, {@code errors_bytes}, timings); {@code embeddings-K.npy}
 * (float32 [n, D], unit rows); {@code ids-K.jsonl} ({@code row, index, path|id, sha256[, text]}
 * per row); {@code errors.jsonl} ({@code index, path|id, error, message} per failed input). Only
 * shards listed in the manifest are valid; readers ignore every other file.
 */
package dev.clip4j.corpus;
