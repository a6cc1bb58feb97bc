/**
 * Hugging Face transformers CLIP directories, read and written, in open_clip's terms.
 *
 * <h2>Reading</h2>
 *
 * <ul>
 *   <li>{@link dev.clip4j.model.hf.HfClipDirectory#looksLike} / {@link
 *       dev.clip4j.model.hf.HfClipDirectory#open}: a whole directory ({@code config.json}, weights
 *       as transformers finds them, {@code preprocessor_config.json}, {@code vocab.json} + {@code
 *       merges.txt}), every key checked.
 *   <li>{@link dev.clip4j.model.hf.HfClipConfig}: {@code config.json} to open_clip's {@code
 *       VisionConfig}/{@code TextConfig} and an {@code MlpActivation} per tower whose provenance
 *       names the key ({@code CLIPModel}, or one tower with its projection).
 *   <li>{@link dev.clip4j.model.hf.HfClipWeights}: the tensor-name table, both ways, lazily
 *       (one fused/transposed tensor at a time).
 *   <li>{@link dev.clip4j.model.hf.HfPreprocessorConfig}: {@code CLIPImageProcessor}'s settings to
 *       a {@code PreprocessConfig} that reproduces its output (floored crop, RGB first).
 *   <li>Sharded weights: {@link dev.clip4j.model.io.ShardedCheckpoint}.
 * </ul>
 *
 * <h2>Writing</h2>
 *
 * {@link dev.clip4j.model.hf.HfClipWriter} (a {@code CLIPModel} directory) and {@link
 * dev.clip4j.model.hf.OpenClipHubWriter} (open_clip's hub layout), from open_clip-named weights,
 * streamed; what the target format computes differently is returned as notes.
 *
 * <h2>Wiring (for a format reader)</h2>
 *
 * <pre>{@code
 * if (HfClipDirectory.looksLike(dir)) {
 *   try (HfClipDirectory hf = HfClipDirectory.open(dir)) {
 *     HfClipConfig c = hf.config();
 *     // CLIPModel: c.toModelConfig() + c.activation(); single towers: c.vision() / c.text()
 *     for (LazyTensor t : hf.openClipWeights()) { Tensor x = StateDictTensors.toTensor(t.load()); ... }
 *     PreprocessConfig pre = hf.preprocess();          // null without an image tower
 *     ClipTokenizer tok = c.hasText() ? hf.tokenizer() : null;
 *     List<Path> provenance = hf.filesRead();           // + c.activation().source()
 *   }
 * }
 * }</pre>
 */
package dev.clip4j.model.hf;
