package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.nio.file.Path;

/** Loading of open_clip hub directories (config + safetensors/.bin weights). */
final class OpenClipModels {
  private OpenClipModels() {}

  static ClipModel load(Path dir, LoadOptions options) {
    throw new InvalidModelException(dir + ": open_clip hub directories are not supported by this build yet");
  }
}
