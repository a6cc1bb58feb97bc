package dev.clip4j.preprocess;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidInputException;
import java.awt.Transparency;
import java.awt.color.ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ComponentColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.WritableRaster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Random;
import java.util.zip.CRC32;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Decoding of generated inputs: Pillow's modes, limits and typed failures. */
class ImageDecoderTest {
  @TempDir Path tmp;

  private static byte[] encode(BufferedImage img, String format) throws IOException {
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    assertThat(ImageIO.write(img, format, out)).as("writer for " + format).isTrue();
    return out.toByteArray();
  }

  private static int u8(ByteBuffer b, int i) {
    return b.get(i) & 0xFF;
  }

  @Test
  void randomBytesAreATypedError() throws IOException {
    Random rnd = new Random(7);
    for (int i = 0; i < 50; i++) {
      byte[] data = new byte[1 + rnd.nextInt(4000)];
      rnd.nextBytes(data);
      if (i % 3 == 1) { // a valid signature followed by garbage
        System.arraycopy(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10}, 0, data, 0, Math.min(8, data.length));
      } else if (i % 3 == 2) {
        System.arraycopy(new byte[] {(byte) 0xFF, (byte) 0xD8, (byte) 0xFF}, 0, data, 0, Math.min(3, data.length));
      }
      Path f = tmp.resolve("random" + i + ".bin");
      Files.write(f, data);
      assertThatThrownBy(() -> ImageDecoder.decode(f))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageStartingWith(f.toString());
    }
  }

  @Test
  void emptyFileIsATypedError() throws IOException {
    Path f = tmp.resolve("empty.png");
    Files.write(f, new byte[0]);
    assertThatThrownBy(() -> ImageDecoder.decode(f))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("empty.png")
        .hasMessageContaining("empty");
    assertThatThrownBy(() -> ImageDecoder.decode(new ByteArrayInputStream(new byte[0]), "in", DecodeOptions.defaults()))
        .isInstanceOf(InvalidInputException.class);
  }

  @Test
  void missingFileIsATypedError() {
    Path f = tmp.resolve("nope.jpg");
    assertThatThrownBy(() -> ImageDecoder.decode(f))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("nope.jpg");
  }

  private static byte[] chunk(String type, byte[] payload) {
    ByteBuffer b = ByteBuffer.allocate(12 + payload.length);
    b.putInt(payload.length).put(type.getBytes(java.nio.charset.StandardCharsets.ISO_8859_1)).put(payload);
    CRC32 crc = new CRC32();
    crc.update(b.array(), 4, 4 + payload.length);
    b.putInt((int) crc.getValue());
    return b.array();
  }

  @Test
  void decompressionBombIsRejectedFromTheHeader() throws IOException {
    // A PNG that declares 100000 x 100000 RGB pixels (30 GB decoded) with a tiny IDAT.
    ByteArrayOutputStream png = new ByteArrayOutputStream();
    png.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', 13, 10, 26, 10});
    png.write(chunk("IHDR", ByteBuffer.allocate(13).putInt(100_000).putInt(100_000).put((byte) 8).put((byte) 2)
        .put((byte) 0).put((byte) 0).put((byte) 0).array()));
    png.write(chunk("IDAT", new byte[] {0x78, (byte) 0x9c, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01}));
    png.write(chunk("IEND", new byte[0]));
    Path f = tmp.resolve("bomb.png");
    Files.write(f, png.toByteArray());
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> ImageDecoder.decode(f))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("bomb.png")
        .hasMessageContaining("100000x100000")
        .hasMessageContaining("exceeds");
    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5.0);
    // A zero-size header is rejected too.
    byte[] zero = png.toByteArray().clone();
    ByteBuffer.wrap(zero).putInt(16, 0);
    assertThatThrownBy(() -> ImageDecoder.decode(zero, "zero.png", DecodeOptions.defaults()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("invalid image size");
  }

  /** A GIF89a with a 2-colour global palette and one 1x1 frame at (x0, y0) on a w x h screen. */
  private static byte[] gif(int w, int h, int x0, int y0) {
    ByteBuffer b = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
    b.put("GIF89a".getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
    b.putShort((short) w).putShort((short) h).put((byte) 0x80).put((byte) 0).put((byte) 0);
    b.put(new byte[] {10, 20, 30, (byte) 200, (byte) 210, (byte) 220});
    b.put((byte) ',').putShort((short) x0).putShort((short) y0).putShort((short) 1).putShort((short) 1);
    b.put((byte) 0);
    // LZW, minimum code size 2: clear (4), index 1, end (5) in 3-bit codes = 0x0C, 0x05
    b.put(new byte[] {2, 2, 0x0C, 0x05, 0, ';'});
    byte[] out = new byte[b.position()];
    b.flip().get(out);
    return out;
  }

  @Test
  void pillowsBombRuleUsesTheGifLogicalScreen() {
    // Pillow's image is the 65535x65535 screen: 4.3e9 pixels > 2 * MAX_IMAGE_PIXELS, a
    // DecompressionBombError although the only frame is 1x1.
    long t0 = System.nanoTime();
    assertThatThrownBy(() -> ImageDecoder.decode(gif(65535, 65535, 0, 0), "screen.gif", DecodeOptions.defaults()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("screen.gif")
        .hasMessageContaining("65535x65535")
        .hasMessageContaining("decompression bomb");
    // A frame placed far outside a 1x1 screen grows Pillow's image to hold it: 20001x20001.
    assertThatThrownBy(() -> ImageDecoder.decode(gif(1, 1, 20000, 20000), "offset.gif", DecodeOptions.defaults()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("20001x20001")
        .hasMessageContaining("decompression bomb");
    assertThat((System.nanoTime() - t0) / 1e9).isLessThan(5.0);
    // The rule is Pillow's: more than 2 * 89,478,485 pixels fails, that many does not (checked
    // with a smaller limit so nothing large is decoded): 13379 x 13376 > 178,956,970 > 13378 x 13377.
    assertThatThrownBy(() -> ImageDecoder.decode(gif(13379, 13376, 0, 0), "over.gif", DecodeOptions.defaults()))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("exceeds the limit of 178956970");
    DecodeOptions limit = DecodeOptions.defaults().withMaxPixels(12);
    DecodedImage ok = ImageDecoder.decode(gif(4, 3, 2, 1), "small.gif", limit);
    assertThat(ok.width()).isEqualTo(4);
    assertThat(ok.height()).isEqualTo(3);
    // palette index 0 around the frame, the frame's index 1 at (2, 1)
    ByteBuffer px = ok.pixels();
    assertThat(new int[] {u8(px, 0), u8(px, 1), u8(px, 2)}).containsExactly(10, 20, 30);
    int at = (1 * 4 + 2) * 3;
    assertThat(new int[] {u8(px, at), u8(px, at + 1), u8(px, at + 2)}).containsExactly(200, 210, 220);
    assertThatThrownBy(() -> ImageDecoder.decode(gif(4, 3, 4, 0), "grown.gif", limit))
        .hasMessageContaining("image of 5x3 pixels")
        .isInstanceOf(InvalidInputException.class);
  }

  @Test
  void pillowsBombRuleAppliesToEveryFormatFromItsHeader() throws IOException {
    BufferedImage img = new BufferedImage(8, 8, BufferedImage.TYPE_3BYTE_BGR);
    // JPEG: SOF0 height and width; BMP: BITMAPINFOHEADER width and height; both 20000 x 20000.
    byte[] jpeg = encode(img, "jpeg");
    for (int i = 2; i + 9 < jpeg.length; i++) {
      if ((jpeg[i] & 0xFF) == 0xFF && (jpeg[i + 1] & 0xFF) == 0xC0) {
        ByteBuffer.wrap(jpeg).putShort(i + 5, (short) 20000).putShort(i + 7, (short) 20000);
        break;
      }
    }
    byte[] bmp = encode(img, "bmp");
    ByteBuffer.wrap(bmp).order(ByteOrder.LITTLE_ENDIAN).putInt(18, 20000).putInt(22, 20000);
    // WebP (lossless): 14-bit width - 1 and height - 1 after the 0x2f signature: 16384 x 16384.
    byte[] webp = {'R', 'I', 'F', 'F', 26, 0, 0, 0, 'W', 'E', 'B', 'P', 'V', 'P', '8', 'L', 13, 0, 0, 0,
        0x2f, (byte) 0xff, (byte) 0xff, (byte) 0xff, 0x0f, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    for (Object[] c : new Object[][] {{"jpeg", jpeg, "20000x20000"}, {"bmp", bmp, "20000x20000"},
        {"webp", webp, "16384x16384"}, {"gif", gif(20000, 20000, 0, 0), "20000x20000"}}) {
      long t0 = System.nanoTime();
      assertThatThrownBy(() -> ImageDecoder.decode((byte[]) c[1], "bomb." + c[0], DecodeOptions.defaults()))
          .as((String) c[0])
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining((String) c[2])
          .hasMessageContaining("decompression bomb");
      assertThat((System.nanoTime() - t0) / 1e9).as((String) c[0]).isLessThan(5.0);
    }
  }

  @Test
  void configuredPixelLimitAppliesToEveryFormat() throws IOException {
    BufferedImage img = new BufferedImage(64, 64, BufferedImage.TYPE_3BYTE_BGR);
    DecodeOptions small = DecodeOptions.defaults().withMaxPixels(64 * 64 - 1);
    for (String format : new String[] {"png", "jpeg", "bmp", "gif"}) {
      byte[] data = encode(img, format);
      assertThatThrownBy(() -> ImageDecoder.decode(data, "x." + format, small))
          .isInstanceOf(InvalidInputException.class)
          .hasMessageContaining("exceeds the limit of 4095");
      assertThat(ImageDecoder.decode(data, "x." + format, DecodeOptions.defaults()).width()).isEqualTo(64);
    }
    assertThatThrownBy(() -> ImageDecoder.decode(new byte[100], "big", DecodeOptions.defaults().withMaxInputBytes(10)))
        .isInstanceOf(InvalidInputException.class)
        .hasMessageContaining("limit");
  }

  @Test
  void pngModesFollowPillow() throws IOException {
    // 8-bit gray -> L
    BufferedImage gray = new BufferedImage(3, 2, BufferedImage.TYPE_BYTE_GRAY);
    gray.getRaster().setSamples(0, 0, 3, 2, 0, new int[] {0, 10, 20, 200, 254, 255});
    DecodedImage d = ImageDecoder.decode(encode(gray, "png"), "g", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.L);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 5)}).containsExactly(0, 10, 255);

    // 16-bit gray -> I with the 16-bit values
    BufferedImage g16 = new BufferedImage(2, 1, BufferedImage.TYPE_USHORT_GRAY);
    g16.getRaster().setSamples(0, 0, 2, 1, 0, new int[] {300, 65535});
    d = ImageDecoder.decode(encode(g16, "png"), "g16", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.I);
    ByteBuffer p = d.pixels().order(ByteOrder.nativeOrder());
    assertThat(new int[] {p.getInt(0), p.getInt(4)}).containsExactly(300, 65535);

    // 1-bit gray -> "1" with 0/255
    BufferedImage bw = new BufferedImage(3, 1, BufferedImage.TYPE_BYTE_BINARY);
    bw.getRaster().setSamples(0, 0, 3, 1, 0, new int[] {1, 0, 1});
    d = ImageDecoder.decode(encode(bw, "png"), "bw", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.BILEVEL);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 2)}).containsExactly(255, 0, 255);

    // palette -> P, expanded
    IndexColorModel icm = new IndexColorModel(8, 3, new byte[] {10, 20, 30}, new byte[] {40, 50, 60},
        new byte[] {70, 80, (byte) 250});
    BufferedImage pal = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_INDEXED, icm);
    pal.getRaster().setSamples(0, 0, 2, 1, 0, new int[] {2, 0});
    d = ImageDecoder.decode(encode(pal, "png"), "p", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.P);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 2), u8(d.pixels(), 3)})
        .containsExactly(30, 60, 250, 10);
    assertThat(d.paletteColor(1)).containsExactly(20, 50, 80);

    // RGBA -> RGBA in R, G, B, A order
    BufferedImage rgba = new BufferedImage(1, 1, BufferedImage.TYPE_INT_ARGB);
    rgba.setRGB(0, 0, 0x80112233);
    d = ImageDecoder.decode(encode(rgba, "png"), "rgba", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.RGBA);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 2), u8(d.pixels(), 3)})
        .containsExactly(0x11, 0x22, 0x33, 0x80);

    // gray + alpha -> LA
    ComponentColorModel la = new ComponentColorModel(ColorSpace.getInstance(ColorSpace.CS_GRAY), true, false,
        Transparency.TRANSLUCENT, DataBuffer.TYPE_BYTE);
    WritableRaster r = la.createCompatibleWritableRaster(2, 1);
    r.setPixels(0, 0, 2, 1, new int[] {5, 6, 7, 8});
    d = ImageDecoder.decode(encode(new BufferedImage(la, r, false, null), "png"), "la", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.LA);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 2), u8(d.pixels(), 3)})
        .containsExactly(5, 6, 7, 8);

    // RGB -> RGB
    BufferedImage rgb = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
    rgb.setRGB(0, 0, 0x0A0B0C);
    d = ImageDecoder.decode(encode(rgb, "png"), "rgb", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.RGB);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 2)}).containsExactly(10, 11, 12);
  }

  @Test
  void gifAndBmpPaletteRules() throws IOException {
    // BMP of an 8-bit gray image: an identity gray palette -> L (Pillow), values kept.
    BufferedImage gray = new BufferedImage(2, 2, BufferedImage.TYPE_BYTE_GRAY);
    gray.getRaster().setSamples(0, 0, 2, 2, 0, new int[] {0, 77, 128, 255});
    DecodedImage d = ImageDecoder.decode(encode(gray, "bmp"), "g.bmp", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.L);
    assertThat(u8(d.pixels(), 1)).isEqualTo(77);
    // 24-bit BMP -> RGB
    BufferedImage rgb = new BufferedImage(1, 1, BufferedImage.TYPE_INT_RGB);
    rgb.setRGB(0, 0, 0x0A0B0C);
    d = ImageDecoder.decode(encode(rgb, "bmp"), "c.bmp", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.RGB);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 2)}).containsExactly(10, 11, 12);
    // GIF with a colour palette -> P
    IndexColorModel icm = new IndexColorModel(2, 4, new byte[] {1, 2, 3, 4}, new byte[] {5, 6, 7, 8},
        new byte[] {9, 10, 11, 12});
    BufferedImage pal = new BufferedImage(2, 1, BufferedImage.TYPE_BYTE_INDEXED, icm);
    pal.getRaster().setSamples(0, 0, 2, 1, 0, new int[] {3, 1});
    d = ImageDecoder.decode(encode(pal, "gif"), "p.gif", DecodeOptions.defaults());
    assertThat(d.mode()).isEqualTo(ImageMode.P);
    assertThat(new int[] {u8(d.pixels(), 0), u8(d.pixels(), 1), u8(d.pixels(), 2), u8(d.pixels(), 3)})
        .containsExactly(4, 8, 12, 2);
  }

  /** A JPEG of 32x16 with four 8x16 vertical bars, with an Exif APP1 saying `orientation`. */
  private static byte[] jpegWithOrientation(int orientation) throws IOException {
    BufferedImage img = new BufferedImage(32, 16, BufferedImage.TYPE_INT_RGB);
    int[] colors = {0xFF0000, 0x00FF00, 0x0000FF, 0xFFFFFF};
    for (int y = 0; y < 16; y++) {
      for (int x = 0; x < 32; x++) {
        img.setRGB(x, y, y < 8 ? colors[x / 8] : 0);
      }
    }
    byte[] jpeg = encode(img, "jpeg");
    // APP1: "Exif\0\0" + TIFF (little endian) with one IFD entry 0x0112 SHORT 1 = orientation.
    ByteBuffer tiff = ByteBuffer.allocate(26).order(ByteOrder.LITTLE_ENDIAN);
    tiff.put((byte) 'I').put((byte) 'I').putShort((short) 42).putInt(8).putShort((short) 1)
        .putShort((short) 0x0112).putShort((short) 3).putInt(1).putShort((short) orientation).putShort((short) 0)
        .putInt(0);
    ByteArrayOutputStream out = new ByteArrayOutputStream();
    out.write(jpeg, 0, 2);
    int len = 2 + 6 + 26;
    out.write(new byte[] {(byte) 0xFF, (byte) 0xE1, (byte) (len >> 8), (byte) len, 'E', 'x', 'i', 'f', 0, 0});
    out.write(tiff.array());
    out.write(jpeg, 2, jpeg.length - 2);
    return out.toByteArray();
  }

  @Test
  void exifOrientationOnlyWhenAsked() throws IOException {
    byte[] jpeg = jpegWithOrientation(6); // rotate 90 degrees clockwise to display
    DecodedImage plain = ImageDecoder.decode(jpeg, "o.jpg", DecodeOptions.defaults());
    assertThat(plain.width()).isEqualTo(32);
    assertThat(plain.height()).isEqualTo(16);
    DecodedImage rotated = ImageDecoder.decode(jpeg, "o.jpg", DecodeOptions.defaults().withExifOrientation(true));
    assertThat(rotated.width()).isEqualTo(16);
    assertThat(rotated.height()).isEqualTo(32);
    // Clockwise: the source's top-left (red bar) ends up top-right; its bottom (black) on the left.
    ByteBuffer p = rotated.pixels();
    int topRight = (0 * 16 + 12) * 3;
    int topLeft = (0 * 16 + 2) * 3;
    int bottomRight = (30 * 16 + 12) * 3; // source column 30 -> the white bar
    assertThat(u8(p, topRight)).isGreaterThan(200);
    assertThat(u8(p, topRight + 1)).isLessThan(60);
    assertThat(u8(p, topLeft)).isLessThan(60);
    assertThat(u8(p, bottomRight + 2)).isGreaterThan(200);
    assertThat(u8(p, bottomRight + 1)).isGreaterThan(200);
    assertThat(Exif.jpegOrientation(jpegWithOrientation(3))).isEqualTo(3);
    assertThat(Exif.jpegOrientation(encode(new BufferedImage(4, 4, BufferedImage.TYPE_INT_RGB), "jpeg"))).isZero();
  }
}
