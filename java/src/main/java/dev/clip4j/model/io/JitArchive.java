package dev.clip4j.model.io;

import java.nio.file.Path;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What {@link JitArchiveReader} read from a TorchScript archive: the module tree's weights as a
 * state dict, the class recorded for every module, and the plain attributes that describe the
 * model. Nothing here came from running code. The tensors may be memory-mapped from the file:
 * keep this object (or the {@link StateDict}) reachable while using them; {@link #close()} closes
 * the state dict.
 *
 * <p>Paths are dotted attribute paths from the root module, as PyTorch's {@code state_dict()}
 * names them ({@code visual.transformer.resblocks.0.attn.in_proj_weight}); the root itself is
 * {@code ""}.
 */
public final class JitArchive implements AutoCloseable {
  private final Path source;
  private final String rootType;
  private final StateDict stateDict;
  private final Map<String, String> moduleTypes;
  private final Map<String, Long> intAttributes;
  private final Map<String, String> leftOut;

  JitArchive(Path source, String rootType, StateDict stateDict, Map<String, String> moduleTypes,
      Map<String, Long> intAttributes, Map<String, String> leftOut) {
    this.source = source;
    this.rootType = rootType;
    this.stateDict = stateDict;
    this.moduleTypes = Collections.unmodifiableMap(new LinkedHashMap<>(moduleTypes));
    this.intAttributes = Collections.unmodifiableMap(new LinkedHashMap<>(intAttributes));
    this.leftOut = Collections.unmodifiableMap(new LinkedHashMap<>(leftOut));
  }

  /** The archive read. */
  public Path source() {
    return source;
  }

  /** The class the archive records for its root module, e.g. {@code __torch__.open_clip.model.CLIP}. */
  public String rootType() {
    return rootType;
  }

  /**
   * The state dict: every parameter and buffer of the module tree under its {@code state_dict()}
   * name, dtype as stored (F16 for the fp16 weights of OpenAI's archives), format {@code
   * "torchscript"}. What is left out is listed by {@link #leftOut()}.
   */
  public StateDict stateDict() {
    return stateDict;
  }

  /** Shapes of the state dict's tensors, in its order (for architecture inference). */
  public Map<String, long[]> shapes() {
    Map<String, long[]> out = new LinkedHashMap<>();
    stateDict.tensors().forEach((k, t) -> out.put(k, t.shape()));
    return out;
  }

  /**
   * Module path to the qualified class name recorded in the archive, root ({@code ""}) first,
   * e.g. {@code visual.transformer.resblocks.0.mlp.gelu -> __torch__.open_clip.transformer.QuickGELU}.
   * Names are as recorded, TorchScript's {@code ___torch_mangle_N} segments included.
   */
  public Map<String, String> moduleTypes() {
    return moduleTypes;
  }

  /**
   * Integer attributes: the plain {@code int} attributes of the modules (a scripted model
   * records e.g. {@code context_length}, {@code vocab_size}, {@code
   * visual.transformer.resblocks.0.attn.num_heads}) and OpenAI's 0-dim integer buffers {@code
   * input_resolution}, {@code context_length} and {@code vocab_size} at the root (which are not
   * weights and so are not in {@link #stateDict()}).
   */
  public Map<String, Long> intAttributes() {
    return intAttributes;
  }

  /** Tensors of the module data that are not in the state dict, with the reason for each. */
  public Map<String, String> leftOut() {
    return leftOut;
  }

  /** Closes the state dict. Idempotent. */
  @Override
  public void close() {
    stateDict.close();
  }
}
