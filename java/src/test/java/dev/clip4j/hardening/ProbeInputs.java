package dev.clip4j.hardening;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Collections;
import java.util.stream.Stream;
import java.util.zip.CRC32;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;
import java.util.zip.ZipOutputStream;

/**
 * The hostile inputs of the issue-17 probe, shared by the library's {@code ProbeFindingsTest} and
 * the command line's {@code ProbeFindingsCliTest}.
 */
public final class ProbeInputs {
  private ProbeInputs() {}

  private static final ObjectMapper JSON = new ObjectMapper();

  /** A pickle of os.system('true') as CPython 3.11 writes it (protocol 2): posix.system. */
  public static byte[] hostilePickle() {
    return new byte[] {(byte) 0x80, 2, 'c', 'p', 'o', 's', 'i', 'x', '\n', 's', 'y', 's', 't', 'e', 'm', '\n', 'q', 0,
        'X', 4, 0, 0, 0, 't', 'r', 'u', 'e', 'q', 1, (byte) 0x85, 'q', 2, 'R', 'q', 3, '.'};
  }

  /** The start of torch.save(sd, f, _use_new_zipfile_serialization=False): the pickled magic number. */
  public static byte[] legacyTorchSave() {
    return new byte[] {(byte) 0x80, 2, (byte) 0x8a, 0x0a, 0x6c, (byte) 0xfc, (byte) 0x9c, 0x46, (byte) 0xf9, 0x20,
        0x6a, (byte) 0xa8, 0x50, 0x19, '.', (byte) 0x80, 2, 'M', (byte) 0xe9, 3, '.'};
  }

  /** {@code src} (a TorchScript archive) with every data.pkl replaced by {@link #hostilePickle()}. */
  public static Path hostileTorchScript(Path src, Path out) throws IOException {
    try (ZipFile in = new ZipFile(src.toFile());
        ZipOutputStream zip = new ZipOutputStream(Files.newOutputStream(out))) {
      for (ZipEntry e : Collections.list(in.entries())) {
        byte[] data = e.getName().endsWith("/data.pkl") ? hostilePickle() : in.getInputStream(e).readAllBytes();
        ZipEntry stored = new ZipEntry(e.getName()); // TorchScript archives are stored, not deflated
        stored.setMethod(ZipEntry.STORED);
        stored.setSize(data.length);
        stored.setCompressedSize(data.length);
        CRC32 crc = new CRC32();
        crc.update(data);
        stored.setCrc(crc.getValue());
        zip.putNextEntry(stored);
        zip.write(data);
        zip.closeEntry();
      }
    }
    return out;
  }

  /** cuda:N beyond the device count on any host, and plain cuda where there is no GPU. */
  public static java.util.List<String> absentCudaDevices() {
    int count = org.bytedeco.pytorch.global.torch.cuda_is_available()
        ? org.bytedeco.pytorch.global.torch.cuda_device_count() : 0;
    java.util.List<String> absent = new java.util.ArrayList<>(java.util.List.of("cuda:" + count, "cuda:" + (count + 7)));
    if (count == 0) {
      absent.add("cuda");
    }
    return absent;
  }

  /** A copy of the model directory {@code model} in {@code dir} whose config says {@code layers} vision layers. */
  public static Path withVisionLayers(Path model, Path dir, long layers) throws IOException {
    Files.createDirectories(dir);
    try (Stream<Path> files = Files.list(model)) {
      for (Path f : (Iterable<Path>) files::iterator) {
        Files.copy(f, dir.resolve(f.getFileName()));
      }
    }
    Path cfg = dir.resolve("open_clip_config.json");
    ObjectNode root = (ObjectNode) JSON.readTree(cfg.toFile());
    ((ObjectNode) root.get("model_cfg").get("vision_cfg")).put("layers", layers);
    JSON.writeValue(cfg.toFile(), root);
    return dir;
  }
}
