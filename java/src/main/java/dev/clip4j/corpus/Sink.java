package dev.clip4j.corpus;

import dev.clip4j.Clip4jException;

/** Where a {@link CorpusJob} puts its results, item by item in index order. Single-threaded. */
interface Sink extends AutoCloseable {

  /** The first input index still to do (items before it are committed from an earlier run). */
  long resumeFrom();

  /** Whether an earlier run already finished this job. */
  boolean complete();

  /** Rows committed so far (including earlier runs). */
  long rows();

  /** Errors committed so far (including earlier runs). */
  long errors();

  /** A good row (finite, unit-norm, checked by the job). */
  void row(CorpusItem item, Backend.Embedded embedded);

  /** A failed item. */
  void error(CorpusItem item, Clip4jException e);

  /** Every item of shard {@code shard} has been given; {@code chunkOk} verified its inputs. */
  void shardDone(int shard);

  /** The job finished: every item was given. */
  void finish(long inputs);

  /** Releases the sink (the directory lock); leaves committed state as it is. */
  @Override
  void close();
}
