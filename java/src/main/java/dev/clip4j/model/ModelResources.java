package dev.clip4j.model;

import com.fasterxml.jackson.databind.node.ObjectNode;
import java.util.Map;
import java.util.function.Supplier;
import org.bytedeco.pytorch.Tensor;

/**
 * What a loaded model carries beside its modules: the open_clip configuration, the resolved MLP
 * activation, the preprocessing configuration, the tokenizer vocabulary, and a way to re-read
 * its weights (so {@link ClipModel#save} need not keep a second copy in memory).
 *
 * @param config the open_clip model configuration (null for TorchScript files)
 * @param modelCfgJson the {@code model_cfg} object it was parsed from (saved into bundles)
 * @param activation the resolved activation and where it came from (null for TorchScript files)
 * @param preprocessCfg open_clip's {@code preprocess_cfg} object, or null for the defaults
 * @param bpeVocabGz the tokenizer's {@code bpe_simple_vocab_16e6.txt.gz} bytes, or null if none was found
 * @param weights re-reads the state dict with open_clip names (null when the model cannot be saved)
 */
public record ModelResources(
    ModelConfig config,
    ObjectNode modelCfgJson,
    MlpActivation activation,
    ObjectNode preprocessCfg,
    byte[] bpeVocabGz,
    Supplier<Map<String, Tensor>> weights) {}
