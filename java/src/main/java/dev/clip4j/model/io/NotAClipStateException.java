package dev.clip4j.model.io;

import dev.clip4j.InvalidModelException;

/**
 * A well-formed TorchScript archive whose module data holds no CLIP weights (no {@code
 * logit_scale}, no {@code visual.*} tensors), so it cannot be read as a CLIP state. Thrown by
 * {@link JitArchiveReader#read} only after the whole archive was parsed and every tensor
 * checked against its storage: a caller may then choose to run the archive as TorchScript code
 * instead (the one case where that is the right fallback). Any other defect of an archive is a
 * plain {@link InvalidModelException}.
 */
public final class NotAClipStateException extends InvalidModelException {
  private static final long serialVersionUID = 1L;

  private final String rootType;

  NotAClipStateException(String message, String rootType) {
    super(message);
    this.rootType = rootType;
  }

  /** The class name the archive records for its root module, e.g. {@code __torch__.my.Model}. */
  public String rootType() {
    return rootType;
  }
}
