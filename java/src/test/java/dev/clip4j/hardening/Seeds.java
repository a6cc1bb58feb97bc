package dev.clip4j.hardening;

import dev.clip4j.io.Npy;
import dev.clip4j.model.RandomModels;
import java.awt.Color;
import java.awt.Graphics2D;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPOutputStream;
import javax.imageio.ImageIO;

/**
 * Valid, small example files of every format clip4j reads from users, generated in code: the
 * seeds of the fuzz corpora and of the corruption matrix. Nothing here is copied from a fixture.
 */
public final class Seeds {
  private Seeds() {}

  /** A tiny open_clip architecture (ViT 32 px / 16 px patches, width 64, one layer per tower). */
  public static RandomModels.Spec tinySpec() {
    return new RandomModels.Spec("clip4j-test-tiny", 32, 32, 16, 64, 1, 64, 1, 1, 77, 1000, true);
  }

  /** The merges of the tiny BPE vocabulary (byte-level symbols; "</w>" ends a word). */
  public static final List<String> MERGES = List.of(
      "c a", "ca t</w>", "d o", "do g</w>", "a </w>", "o f</w>", "p h", "ph o", "pho t", "phot o</w>",
      "t h", "th e</w>", "r e", "re d</w>", "b i", "bi r", "bir d</w>", "s t", "st a", "sta r</w>");

  /** A safetensors file of three small float32 tensors with metadata. */
  public static byte[] safetensors() {
    String header = "{\"__metadata__\":{\"format\":\"pt\"},"
        + "\"a.weight\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        + "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[24,40]},"
        + "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[40,44]}}";
    byte[] h = header.getBytes(StandardCharsets.UTF_8);
    int pad = (8 - h.length % 8) % 8;
    ByteBuffer b = ByteBuffer.allocate(8 + h.length + pad + 44).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(h.length + pad).put(h);
    for (int i = 0; i < pad; i++) {
      b.put((byte) ' ');
    }
    for (int i = 0; i < 11; i++) {
      b.putFloat(i * 0.5f - 1f);
    }
    return b.array();
  }

  /** The tensors of {@link #torchZip()}. */
  public static Map<String, TorchSaveWriter.F32> smallTensors() {
    Map<String, TorchSaveWriter.F32> t = new LinkedHashMap<>();
    t.put("a.weight", new TorchSaveWriter.F32(new float[] {1, 2, 3, 4, 5, 6}, 2, 3));
    t.put("b", new TorchSaveWriter.F32(new float[] {-1, 0.5f, 2, 8}, 4));
    return t;
  }

  /** A torch.save archive of {@link #smallTensors()}. */
  public static byte[] torchZip() {
    return TorchSaveWriter.bytes(smallTensors());
  }

  /** The data.pkl of {@link #torchZip()}. */
  public static byte[] pickle() {
    return TorchSaveWriter.pickle(smallTensors());
  }

  /** A [2, 3] float32 .npy file. */
  public static byte[] npy(Path scratch) {
    try {
      Path f = scratch.resolve("seed.npy");
      Npy.writeFloat32(f, new float[] {1, 2, 3, 4, 5, 6}, 2, 3);
      byte[] b = Files.readAllBytes(f);
      Files.delete(f);
      return b;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }

  /** open_clip_config.json of {@link #tinySpec()} (as RandomModels writes it). */
  public static String config() {
    RandomModels.Spec s = tinySpec();
    return "{\"model_cfg\":{\"embed_dim\":" + s.embedDim() + ",\"quick_gelu\":true,"
        + "\"vision_cfg\":{\"image_size\":" + s.imageSize() + ",\"layers\":" + s.visionLayers() + ",\"width\":"
        + s.visionWidth() + ",\"patch_size\":" + s.patchSize() + "},"
        + "\"text_cfg\":{\"context_length\":" + s.contextLength() + ",\"vocab_size\":" + s.vocabSize()
        + ",\"width\":" + s.textWidth() + ",\"heads\":" + s.textHeads() + ",\"layers\":" + s.textLayers() + "}},"
        + "\"preprocess_cfg\":{\"mean\":[0.48145466,0.4578275,0.40821073],"
        + "\"std\":[0.26862954,0.26130258,0.27577711]}}";
  }

  /** bpe_simple_vocab_16e6.txt content (header + {@link #MERGES}), uncompressed. */
  public static byte[] bpeText() {
    return ("\"bpe_simple_vocab_16e6.txt#version: 0.2\n" + String.join("\n", MERGES) + "\n")
        .getBytes(StandardCharsets.UTF_8);
  }

  /** bpe_simple_vocab_16e6.txt.gz. */
  public static byte[] bpeGz() {
    return gzip(bpeText());
  }

  /** Hugging Face vocab.json for {@link #MERGES}. */
  public static String vocabJson() {
    StringBuilder sb = new StringBuilder("{");
    int id = 0;
    List<String> bytes = byteSymbols();
    for (String s : bytes) {
      sb.append(id == 0 ? "" : ",").append(json(s)).append(':').append(id++);
    }
    for (String s : bytes) {
      sb.append(',').append(json(s + "</w>")).append(':').append(id++);
    }
    for (String m : MERGES) {
      sb.append(',').append(json(m.replace(" ", ""))).append(':').append(id++);
    }
    sb.append(",\"<|startoftext|>\":").append(id++).append(",\"<|endoftext|>\":").append(id).append('}');
    return sb.toString();
  }

  /** GPT-2's byte-to-unicode symbols in vocabulary order (printable bytes, then 256 + n). */
  static List<String> byteSymbols() {
    List<String> out = new java.util.ArrayList<>();
    List<Integer> rest = new java.util.ArrayList<>();
    for (int b = 0; b < 256; b++) {
      if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) {
        out.add(String.valueOf((char) b));
      } else {
        rest.add(b);
      }
    }
    for (int i = 0; i < rest.size(); i++) {
      out.add(String.valueOf((char) (256 + i)));
    }
    return out;
  }

  /** Hugging Face merges.txt for {@link #MERGES}. */
  public static String mergesTxt() {
    return "#version: 0.2\n" + String.join("\n", MERGES) + "\n";
  }

  /** A JSON-lines file of texts. */
  public static String jsonl() {
    return "{\"text\":\"a photo of a cat\"}\n\n{\"text\":\"un chat\",\"id\":2}\n{\"text\":\"\"}\n";
  }

  /** A minimal Hugging Face tokenizer.json (WordLevel, whitespace pre-tokenizer). */
  public static String tokenizerJson() {
    return "{\"version\":\"1.0\",\"truncation\":null,\"padding\":null,"
        + "\"added_tokens\":[{\"id\":0,\"content\":\"[UNK]\",\"single_word\":false,\"lstrip\":false,"
        + "\"rstrip\":false,\"normalized\":false,\"special\":true}],"
        + "\"normalizer\":{\"type\":\"Lowercase\"},\"pre_tokenizer\":{\"type\":\"Whitespace\"},"
        + "\"post_processor\":null,\"decoder\":null,"
        + "\"model\":{\"type\":\"WordLevel\",\"vocab\":{\"[UNK]\":0,\"a\":1,\"photo\":2,\"of\":3,\"cat\":4},"
        + "\"unk_token\":\"[UNK]\"}}";
  }

  /** A small gradient image with a few shapes: [width x height], RGB or with alpha. */
  public static BufferedImage picture(int width, int height, boolean alpha) {
    BufferedImage img = new BufferedImage(width, height, alpha ? BufferedImage.TYPE_INT_ARGB : BufferedImage.TYPE_INT_RGB);
    for (int y = 0; y < height; y++) {
      for (int x = 0; x < width; x++) {
        int a = alpha ? 128 + (x * 127 / Math.max(1, width - 1)) : 255;
        img.setRGB(x, y, (a << 24) | ((x * 255 / Math.max(1, width - 1)) << 16) | ((y * 255 / Math.max(1, height - 1)) << 8) | 90);
      }
    }
    Graphics2D g = img.createGraphics();
    g.setColor(Color.ORANGE);
    g.fillOval(width / 4, height / 4, width / 2, height / 2);
    g.dispose();
    return img;
  }

  /** {@code image} encoded as {@code format} ("png", "jpeg", "gif", "bmp"). */
  public static byte[] encode(BufferedImage image, String format) {
    BufferedImage src = image;
    if (!format.equals("png") && image.getColorModel().hasAlpha()) {
      src = new BufferedImage(image.getWidth(), image.getHeight(), BufferedImage.TYPE_INT_RGB);
      src.getGraphics().drawImage(image, 0, 0, null);
    }
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try {
      if (!ImageIO.write(src, format, out)) {
        throw new IllegalStateException("no ImageIO writer for " + format);
      }
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  /** Seed images: 24x16 PNG (RGB and RGBA), JPEG, GIF and BMP. */
  public static Map<String, byte[]> images() {
    Map<String, byte[]> m = new LinkedHashMap<>();
    m.put("rgb.png", encode(picture(24, 16, false), "png"));
    m.put("rgba.png", encode(picture(24, 16, true), "png"));
    m.put("photo.jpg", encode(picture(24, 16, false), "jpeg"));
    m.put("anim.gif", encode(picture(24, 16, false), "gif"));
    m.put("bitmap.bmp", encode(picture(24, 16, false), "bmp"));
    return m;
  }

  static byte[] gzip(byte[] data) {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    try (GZIPOutputStream z = new GZIPOutputStream(out)) {
      z.write(data);
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
    return out.toByteArray();
  }

  private static String json(String s) {
    return "\"" + s.replace("\\", "\\\\").replace("\"", "\\\"") + "\"";
  }

  // ---- Hugging Face transformers CLIP ------------------------------------------------------

  /** A tiny CLIPModel config.json (32 px / 16 px patches, width 64; text width 32). */
  public static String hfConfig(int vocabSize) {
    return "{\"architectures\":[\"CLIPModel\"],\"model_type\":\"clip\",\"projection_dim\":32,"
        + "\"logit_scale_init_value\":2.6592,\"torch_dtype\":\"float32\","
        + "\"text_config\":{\"model_type\":\"clip_text_model\",\"hidden_size\":32,\"intermediate_size\":128,"
        + "\"num_attention_heads\":2,\"num_hidden_layers\":1,\"max_position_embeddings\":16,\"vocab_size\":" + vocabSize
        + ",\"hidden_act\":\"quick_gelu\",\"layer_norm_eps\":1e-05,\"bos_token_id\":" + (vocabSize - 2)
        + ",\"eos_token_id\":" + (vocabSize - 1) + ",\"pad_token_id\":1,\"dropout\":0.0},"
        + "\"vision_config\":{\"model_type\":\"clip_vision_model\",\"hidden_size\":64,\"intermediate_size\":256,"
        + "\"num_attention_heads\":4,\"num_hidden_layers\":1,\"image_size\":32,\"patch_size\":16,\"num_channels\":3,"
        + "\"hidden_act\":\"quick_gelu\",\"layer_norm_eps\":1e-05}}";
  }

  /** A CLIPVisionModelWithProjection config.json (the single-tower layout). */
  public static String hfVisionConfig() {
    return "{\"architectures\":[\"CLIPVisionModelWithProjection\"],\"model_type\":\"clip_vision_model\","
        + "\"hidden_size\":64,\"intermediate_size\":256,\"num_attention_heads\":4,\"num_hidden_layers\":1,"
        + "\"image_size\":32,\"patch_size\":16,\"projection_dim\":32,\"hidden_act\":\"gelu\"}";
  }

  /** A legacy CLIPModel config.json with text_config_dict / vision_config_dict. */
  public static String hfLegacyConfig() {
    return "{\"model_type\":\"clip\",\"projection_dim\":32,\"text_config\":{\"hidden_act\":\"gelu\"},"
        + "\"text_config_dict\":{\"hidden_size\":32,\"intermediate_size\":128,\"num_attention_heads\":2},"
        + "\"vision_config\":{},\"vision_config_dict\":{\"hidden_size\":64,\"patch_size\":16,\"image_size\":32}}";
  }

  /** preprocessor_config.json of CLIPImageProcessor at 32 px. */
  public static String hfPreprocessorConfig() {
    return "{\"crop_size\":{\"height\":32,\"width\":32},\"do_center_crop\":true,\"do_convert_rgb\":true,"
        + "\"do_normalize\":true,\"do_rescale\":true,\"do_resize\":true,"
        + "\"image_mean\":[0.48145466,0.4578275,0.40821073],\"image_std\":[0.26862954,0.26130258,0.27577711],"
        + "\"image_processor_type\":\"CLIPImageProcessor\",\"resample\":3,\"rescale_factor\":0.00392156862745098,"
        + "\"size\":{\"shortest_edge\":32}}";
  }

  /** The older CLIPFeatureExtractor layout (sizes as ints). */
  public static String hfLegacyPreprocessorConfig() {
    return "{\"crop_size\":32,\"do_center_crop\":true,\"do_normalize\":true,\"do_resize\":true,"
        + "\"feature_extractor_type\":\"CLIPFeatureExtractor\",\"image_mean\":[0.5,0.5,0.5],\"image_std\":0.5,"
        + "\"resample\":2,\"size\":32}";
  }

  /** A safetensors file of float32 vectors {@code name -> values}, in map order. */
  public static byte[] safetensors(Map<String, float[]> tensors) {
    StringBuilder h = new StringBuilder("{");
    long off = 0;
    for (Map.Entry<String, float[]> e : tensors.entrySet()) {
      long n = 4L * e.getValue().length;
      h.append(h.length() == 1 ? "" : ",").append(json(e.getKey())).append(":{\"dtype\":\"F32\",\"shape\":[")
          .append(e.getValue().length).append("],\"data_offsets\":[").append(off).append(',').append(off + n).append("]}");
      off += n;
    }
    byte[] hb = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
    int pad = (8 - hb.length % 8) % 8;
    ByteBuffer b = ByteBuffer.allocate((int) (8 + hb.length + pad + off)).order(ByteOrder.LITTLE_ENDIAN);
    b.putLong(hb.length + pad).put(hb);
    for (int i = 0; i < pad; i++) {
      b.put((byte) ' ');
    }
    for (float[] v : tensors.values()) {
      for (float x : v) {
        b.putFloat(x);
      }
    }
    return b.array();
  }

  /** The shard file names of {@link #shardIndex()}. */
  public static final String SHARD_1 = "model-00001-of-00002.safetensors";
  public static final String SHARD_2 = "model-00002-of-00002.safetensors";

  /** Two safetensors shards: a.weight and b in the first, c in the second. */
  public static Map<String, byte[]> shards() {
    Map<String, float[]> s1 = new LinkedHashMap<>();
    s1.put("a.weight", new float[] {1, 2, 3, 4, 5, 6});
    s1.put("b", new float[] {-1, 0.5f});
    Map<String, byte[]> m = new LinkedHashMap<>();
    m.put(SHARD_1, safetensors(s1));
    m.put(SHARD_2, safetensors(Map.of("c", new float[] {7, 8, 9})));
    return m;
  }

  /** model.safetensors.index.json of {@link #shards()}. */
  public static String shardIndex() {
    return "{\"metadata\":{\"total_size\":44},\"weight_map\":{\"a.weight\":\"" + SHARD_1 + "\",\"b\":\"" + SHARD_1
        + "\",\"c\":\"" + SHARD_2 + "\"}}";
  }

  /**
   * A complete, valid Hugging Face CLIPModel directory written by clip4j's {@link
   * dev.clip4j.model.hf.HfClipWriter} from deterministic open_clip weights: config.json,
   * model.safetensors, the tiny vocabulary of {@link #vocabJson()}, tokenizer files and a 32 px
   * preprocessor_config.json. No LibTorch involved.
   */
  public static Path hfDir(Path dir, Path scratch) {
    try {
      Path vocabDir = Files.createDirectories(scratch.resolve("hf-vocab"));
      Files.writeString(vocabDir.resolve("vocab.json"), vocabJson());
      Files.writeString(vocabDir.resolve("merges.txt"), mergesTxt());
      dev.clip4j.model.hf.TokenizerSource tok = dev.clip4j.model.hf.TokenizerSource.vocabAndMerges(
          vocabDir.resolve("vocab.json"), vocabDir.resolve("merges.txt"));
      int vocab = tok.tokenizer().eotToken() + 1;
      dev.clip4j.model.hf.HfClipConfig hf = dev.clip4j.model.hf.HfClipConfig.parse(
          hfConfig(vocab).getBytes(StandardCharsets.UTF_8), "seed");
      Map<String, dev.clip4j.model.io.TensorData> weights = new LinkedHashMap<>();
      int k = 0;
      for (Map.Entry<String, long[]> e : dev.clip4j.model.hf.HfClipWeights.of(hf).openClipShapes().entrySet()) {
        long n = 1;
        for (long d : e.getValue()) {
          n *= d;
        }
        ByteBuffer b = ByteBuffer.allocate((int) (4 * n)).order(ByteOrder.LITTLE_ENDIAN);
        for (long i = 0; i < n; i++) {
          b.putFloat(e.getKey().contains("ln_") && e.getKey().endsWith("weight") ? 1f
              : (float) Math.sin(0.37 * (i + 1) + k) * 0.05f);
        }
        weights.put(e.getKey(), dev.clip4j.model.io.TensorData.of(e.getKey(), dev.clip4j.model.io.DType.F32,
            e.getValue(), b.flip()));
        k++;
      }
      dev.clip4j.model.hf.HfClipWriter.write(dir, hf.toModelConfig(), hf.activation(),
          dev.clip4j.preprocess.PreprocessConfig.builder().imageSize(32).build(), weights, tok);
      return dir;
    } catch (IOException e) {
      throw new UncheckedIOException(e);
    }
  }
}
