package dev.clip4j.model.hf;

import static dev.clip4j.model.hf.HfFixtures.utf8;
import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import dev.clip4j.model.io.CheckpointReader;
import dev.clip4j.model.io.DType;
import dev.clip4j.model.io.LazyTensor;
import dev.clip4j.model.io.SafetensorsWriter;
import dev.clip4j.model.io.ShardedCheckpoint;
import dev.clip4j.model.io.StateDict;
import dev.clip4j.model.io.TensorData;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Sharded checkpoints: index parsing, shard names, the cross-check of index and shards. */
class ShardedCheckpointTest {

  static TensorData f32(String name, float... v) {
    ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
    for (float x : v) {
      b.putFloat(x);
    }
    return TensorData.of(name, DType.F32, new long[] {v.length}, b.flip());
  }

  static void shard(Path file, TensorData... tensors) {
    List<LazyTensor> l = new ArrayList<>();
    for (TensorData t : tensors) {
      l.add(LazyTensor.of(t.name(), t));
    }
    SafetensorsWriter.writeTensors(file, l, Map.of("format", "pt"));
  }

  /** Two shards: a, b in s1; c in s2. */
  static Path twoShards(Path dir) throws IOException {
    Files.createDirectories(dir);
    shard(dir.resolve("s1.safetensors"), f32("a", 1, 2), f32("b", 3));
    shard(dir.resolve("s2.safetensors"), f32("c", 4, 5, 6));
    return dir;
  }

  static Path index(Path dir, String json) throws IOException {
    return Files.writeString(dir.resolve(ShardedCheckpoint.SAFETENSORS_INDEX), json);
  }

  static final String OK = "{\"metadata\":{\"total_size\":24},\"weight_map\":{\"a\":\"s1.safetensors\","
      + "\"b\":\"s1.safetensors\",\"c\":\"s2.safetensors\"}}";

  @Test
  void readsShardsAsOneView(@TempDir Path tmp) throws IOException {
    Path dir = twoShards(tmp.resolve("m"));
    try (StateDict sd = CheckpointReader.readSharded(index(dir, OK))) {
      assertThat(sd.keys()).containsExactly("a", "b", "c");
      assertThat(sd.get("c").toFloatArray()).containsExactly(4, 5, 6);
      assertThat(sd.format()).isEqualTo("safetensors-sharded");
      assertThat(sd.metadata()).containsEntry("total_size", "24").containsEntry("shards", "2");
    }
  }

  /** The Hugging Face cache links snapshot files to blobs elsewhere: links are followed. */
  @Test
  void shardsMayBeSymbolicLinks(@TempDir Path tmp) throws IOException {
    Path blobs = twoShards(tmp.resolve("blobs"));
    Path snap = Files.createDirectories(tmp.resolve("snapshots/abc"));
    Files.createSymbolicLink(snap.resolve("s1.safetensors"), Path.of("../../blobs/s1.safetensors"));
    Files.createSymbolicLink(snap.resolve("s2.safetensors"), blobs.resolve("s2.safetensors"));
    try (StateDict sd = CheckpointReader.readSharded(index(snap, OK))) {
      assertThat(sd.keys()).containsExactly("a", "b", "c");
    }
  }

  @Test
  void generatorShardedModels() {
    try (StateDict st = CheckpointReader.readSharded(HfFixtures.resource("models/sharded-fp16/model.safetensors.index.json"));
        StateDict bin = CheckpointReader.readSharded(HfFixtures.resource("models/sharded-bin/pytorch_model.bin.index.json"))) {
      assertThat(st.keys()).hasSize(78);
      assertThat(bin.keys()).hasSize(78);
      assertThat(bin.format()).isEqualTo("torch-zip-sharded");
      long bytes = st.tensors().values().stream().mapToLong(TensorData::byteSize).sum();
      assertThat(st.metadata().get("total_size")).isEqualTo(Long.toString(bytes));
    }
  }

  private static void refused(Path dir, String json, String... fragments) throws IOException {
    Path idx = index(dir, json);
    assertThatThrownBy(() -> CheckpointReader.readSharded(idx)).as(json)
        .isInstanceOf(InvalidModelException.class).hasMessageContainingAll(fragments);
  }

  @Test
  void unsafeShardNamesAreRefusedBeforeAnyFileIsOpened(@TempDir Path tmp) throws IOException {
    Path dir = twoShards(tmp.resolve("m"));
    Files.writeString(tmp.resolve("outside.safetensors"), "x");
    String[][] names = {
      {"../outside.safetensors", "contains a path separator"},
      {"/etc/passwd", "contains a path separator"},
      {"sub/s1.safetensors", "contains a path separator"},
      {"..\\\\outside.safetensors", "contains a path separator"},
      {"..", "is a directory reference"},
      {".", "is a directory reference"},
      {"", "is empty"},
      {"s1\\u0000.safetensors", "control character"},
      {"C:evil", "drive path"},
    };
    for (String[] n : names) {
      refused(dir, "{\"weight_map\":{\"a\":\"" + n[0] + "\"}}", "shard names must be plain file names", n[1]);
    }
    refused(dir, "{\"weight_map\":{\"a\":\"" + "x".repeat(300) + "\"}}", "longer than 255");
  }

  @Test
  void indexStructureIsChecked(@TempDir Path tmp) throws IOException {
    Path dir = twoShards(tmp.resolve("m"));
    refused(dir, "{\"weight_map\":{}}", "weight_map is empty");
    refused(dir, "{\"weight_map\":[]}", "\"weight_map\"", "not an object");
    refused(dir, "{\"metadata\":{}}", "\"weight_map\"", "missing");
    refused(dir, "{\"weight_map\":{\"a\":7}}", "weight_map[\"a\"] must be a shard file name");
    refused(dir, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"a\":\"s2.safetensors\"}}", "not valid JSON", "a");
    refused(dir, "{\"metadata\":{\"total_size\":\"24\"},\"weight_map\":{\"a\":\"s1.safetensors\"}}", "total_size");
    refused(dir, "{\"metadata\":{\"total_size\":-1},\"weight_map\":{\"a\":\"s1.safetensors\"}}", "total_size");
    refused(dir, "{\"metadata\":{\"total_size\":1e30},\"weight_map\":{\"a\":\"s1.safetensors\"}}", "total_size");
    refused(dir, "{\"metadata\":{\"total_size\":123456789012345678901234567890},\"weight_map\":{\"a\":\"s1.safetensors\"}}",
        "total_size");
    refused(dir, "{\"weight_map\":{\"a\":\"s1.safetensors\"},\"extra\":1}", "unknown top-level key 'extra'");
    refused(dir, "[".repeat(50_000), "not valid JSON");
    refused(dir, "{\"weight_map\":", "not valid JSON");
    refused(dir, "\"s1.safetensors\"", "not a JSON object");
    Path big = dir.resolve(ShardedCheckpoint.SAFETENSORS_INDEX);
    Files.write(big, new byte[(int) ShardedCheckpoint.MAX_INDEX_BYTES + 10]);
    assertThatThrownBy(() -> CheckpointReader.readSharded(big)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("larger than 16 MiB");
    Path wrongName = Files.writeString(dir.resolve("weights.json"), OK);
    assertThatThrownBy(() -> CheckpointReader.readSharded(wrongName)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("not a checkpoint index");
  }

  @Test
  void missingShardsAreListed(@TempDir Path tmp) throws IOException {
    Path dir = twoShards(tmp.resolve("m"));
    Files.createDirectories(dir.resolve("d.safetensors"));
    refused(dir, "{\"weight_map\":{\"a\":\"s1.safetensors\",\"x\":\"gone-1.safetensors\",\"y\":\"gone-2.safetensors\","
        + "\"z\":\"d.safetensors\"}}", "3 of 4 shard(s) the index names are missing", "gone-1.safetensors",
        "gone-2.safetensors", "d.safetensors (not a regular file)");
  }

  @Test
  void everyWeightMustBeInExactlyTheShardTheIndexNames(@TempDir Path tmp) throws IOException {
    Path dir = Files.createDirectories(tmp.resolve("m"));
    shard(dir.resolve("s1.safetensors"), f32("a", 1), f32("dup", 2), f32("moved", 3), f32("stray", 4));
    shard(dir.resolve("s2.safetensors"), f32("c", 5), f32("dup", 6));
    String json = "{\"weight_map\":{\"a\":\"s1.safetensors\",\"dup\":\"s1.safetensors\",\"moved\":\"s2.safetensors\","
        + "\"c\":\"s2.safetensors\",\"gone\":\"s2.safetensors\"}}";
    refused(dir, json, "the shards do not match the index (2 shards, 5 tensors listed)",
        "1 listed but not in their shard: gone (index: s2.safetensors)",
        "1 in another shard than the index says: moved (in s1.safetensors, the index says s2.safetensors)",
        "1 in two shards: dup (s1.safetensors and s2.safetensors)",
        "1 not listed in the index: stray (in s1.safetensors)");
  }

  /** A shard that is not a valid safetensors file fails as that file's error. */
  @Test
  void aCorruptShardIsNamed(@TempDir Path tmp) throws IOException {
    Path dir = twoShards(tmp.resolve("m"));
    Files.write(dir.resolve("s2.safetensors"), new byte[] {1, 2, 3});
    refused(dir, OK, "s2.safetensors", "invalid safetensors file");
    // A torch index reads its shards as torch.save archives, never sniffed.
    Path idx = Files.writeString(dir.resolve(ShardedCheckpoint.TORCH_INDEX),
        "{\"weight_map\":{\"a\":\"s1.safetensors\"}}");
    assertThatThrownBy(() -> CheckpointReader.readSharded(idx)).isInstanceOf(InvalidModelException.class)
        .hasMessageContaining("invalid torch.save archive");
  }

  /** The parser alone, on bytes (what the fuzz target drives). */
  @Test
  void parseIndexKeepsOrderAndShards() {
    ShardedCheckpoint.Index i = ShardedCheckpoint.parseIndex(utf8(OK), Path.of("/m/model.safetensors.index.json"),
        ShardedCheckpoint.Format.SAFETENSORS);
    assertThat(i.weightMap().keySet()).containsExactly("a", "b", "c");
    assertThat(i.shards()).containsExactly("s1.safetensors", "s2.safetensors");
    assertThat(i.totalSize()).isEqualTo(24L);
    assertThat(i.shardPath("s2.safetensors")).isEqualTo(Path.of("/m/s2.safetensors"));
    Map<String, String> m = new LinkedHashMap<>(i.weightMap());
    assertThat(m).hasSize(3);
  }
}
