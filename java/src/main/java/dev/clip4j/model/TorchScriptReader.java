package dev.clip4j.model;

import dev.clip4j.InvalidModelException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;

/**
 * A TorchScript program run as code: {@code encode_image} / {@code encode_text} of a scripted or
 * traced CLIP, with clip4j's L2 normalisation after them. The architecture is the program; its
 * tokenizer is the standard CLIP vocabulary (or one beside the file, or one named by the caller)
 * at the context length of the program's {@code positional_embedding}, its preprocessing open_clip's
 * OpenAI defaults at the resolution of {@code visual.positional_embedding}.
 *
 * <p><b>TorchScript is code</b> (PyTorch's security policy says so): load only files you trust,
 * and pin their SHA-256 with {@link LoadOptions.Builder#expectedSha256}. clip4j checks the file is
 * a well-formed zip in Java before LibTorch parses it, but cannot make a hostile archive safe. The
 * default for archives that hold a CLIP state dict is {@link ModelFormat#OPENAI_JIT}, which runs
 * none of their code.
 */
final class TorchScriptReader implements ModelReader {
  @Override
  public ModelFormat format() {
    return ModelFormat.TORCHSCRIPT;
  }

  @Override
  public ModelDescription read(Path file, LoadOptions options) {
    if (!Files.isRegularFile(file)) {
      throw new InvalidModelException(file + " is not a TorchScript archive file");
    }
    if (ModelReaders.detect(file) == ModelFormat.CHECKPOINT) {
      throw new InvalidModelException(file + " is not a TorchScript archive (a checkpoint without code)");
    }
    if (options.activation().isPresent()) {
      throw new InvalidModelException(file + ": a TorchScript program's code fixes its activation; --activation does"
          + " not apply (read its weights with --format " + ModelFormat.OPENAI_JIT.id() + " instead)");
    }
    java.util.function.Supplier<Map<String, String>> hashes = Hashing.singleFile(file, options);
    // Sizes come from the program's parameters once LibTorch has loaded it (Architectures); until
    // then the tokenizer's context length is a placeholder the builder replaces.
    return new ModelDescription(format(), file, new Architecture.TorchScriptProgram(file),
        dev.clip4j.preprocess.PreprocessConfig.defaults(), besideOrStandard(file, 77), hashes);
  }

  /** A vocabulary beside the file when there is one, else the standard CLIP vocabulary. */
  static TokenizerSpec besideOrStandard(Path file, int contextLength) {
    Path dir = file.toAbsolutePath().getParent();
    for (String name : new String[] {"bpe_simple_vocab_16e6.txt.gz", "bpe_simple_vocab_16e6.txt"}) {
      if (dir != null && Files.isRegularFile(dir.resolve(name))) {
        return TokenizerSpec.clipVocabulary(dir.resolve(name), contextLength);
      }
    }
    return TokenizerSpec.standardClip(contextLength);
  }
}
