package dev.clip4j.preprocess;

import dev.clip4j.InvalidInputException;
import dev.clip4j.internal.UserFiles;
import java.awt.color.ColorSpace;
import java.awt.color.ICC_ColorSpace;
import java.awt.image.BufferedImage;
import java.awt.image.ColorModel;
import java.awt.image.DataBuffer;
import java.awt.image.IndexColorModel;
import java.awt.image.Raster;
import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Iterator;
import java.util.Locale;
import java.util.Objects;
import javax.imageio.IIOException;
import javax.imageio.ImageIO;
import javax.imageio.ImageReadParam;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.event.IIOReadWarningListener;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.MemoryCacheImageInputStream;

/**
 * Decodes JPEG, PNG, BMP, GIF (first frame) and WebP into a {@link DecodedImage} in the mode
 * Pillow 9.4 would open it in, because open_clip's resize rules depend on the mode:
 *
 * <ul>
 *   <li>PNG: gray 1-bit is {@code 1}; gray 2/4/8-bit is {@code L} (2/4-bit values scaled by
 *       85/17); gray 16-bit is {@code I}; RGB (16-bit: high bytes) is {@code RGB}; palette is
 *       {@code P} (transparency ignored, as convert('RGB') does); gray+alpha 8-bit is {@code
 *       LA}, 16-bit {@code RGBA}; RGBA is {@code RGBA}.
 *   <li>JPEG: {@code L}, {@code RGB} or {@code CMYK}, decoded by the JDK's libjpeg-6b-based
 *       decoder (islow IDCT, fancy upsampling: the same integer arithmetic as libjpeg-turbo)
 *       with embedded ICC profiles ignored, as Pillow ignores them. 4-component JPEGs (CMYK, and
 *       YCCK when an Adobe APP14 marker says a transform other than 0) are {@code CMYK} with
 *       Pillow's samples: YCCK converted with libjpeg's integer tables, every sample inverted
 *       (Adobe's convention, which Pillow assumes for every CMYK JPEG).
 *   <li>GIF: {@code P}, or {@code L} when the palette is the identity gray ramp.
 *   <li>BMP: palette images are {@code 1} (black/white), {@code L} (identity gray ramp) or
 *       {@code P}; others {@code RGB} or {@code RGBA}.
 *   <li>WebP (TwelveMonkeys): {@code RGB} or {@code RGBA}; lossy WebP is not guaranteed
 *       bit-identical to libwebp.
 * </ul>
 *
 * <p>The dimensions are read from the header and checked against {@link
 * DecodeOptions#maxPixels()} before any pixel is decoded. Every failure (unknown format,
 * truncated or corrupt data, zero or too large size, unreadable file) is an {@link
 * InvalidInputException} whose message starts with the source's name. That includes an image
 * whose decoded raster cannot fit in this JVM (more than half of {@code -Xmx}, or an allocation
 * that fails): it is refused, and the heap and the caller's other images are unaffected. No EXIF rotation unless
 * {@link DecodeOptions#exifOrientation()}.
 *
 * <p>Thread-safe: every call uses its own reader.
 */
public final class ImageDecoder {
  private enum Format {
    PNG,
    JPEG,
    GIF,
    BMP,
    WEBP
  }

  private ImageDecoder() {}

  /** Decodes a file with the default options. */
  public static DecodedImage decode(Path path) {
    return decode(path, DecodeOptions.defaults());
  }

  /** Decodes a file; the exception names {@code path}. */
  public static DecodedImage decode(Path path, DecodeOptions options) {
    Objects.requireNonNull(path, "path");
    Objects.requireNonNull(options, "options");
    String source = path.toString();
    UserFiles.requireRegularFile(path, InvalidInputException::new);
    byte[] data;
    try {
      long size = Files.size(path);
      if (size > options.maxInputBytes()) {
        throw new InvalidInputException(
            source + ": file of " + size + " bytes exceeds the limit of " + options.maxInputBytes());
      }
      data = Files.readAllBytes(path);
    } catch (IOException e) {
      throw new InvalidInputException(source + ": cannot read the file: " + e, e);
    }
    return decode(data, source, options);
  }

  /** Decodes an encoded image held in memory; {@code source} names it in messages. */
  public static DecodedImage decode(byte[] data, String source, DecodeOptions options) {
    Objects.requireNonNull(data, "data");
    Objects.requireNonNull(options, "options");
    String name = source == null ? "image" : source;
    if (data.length > options.maxInputBytes()) {
      throw new InvalidInputException(
          name + ": " + data.length + " bytes exceed the limit of " + options.maxInputBytes());
    }
    try {
      return decodeChecked(data, name, options);
    } catch (InvalidInputException e) {
      throw e;
    } catch (OutOfMemoryError e) {
      // One oversized raster or pixel buffer that could not be allocated (it never existed, so
      // the heap is as it was): this image fails, the caller's other images go on.
      throw new InvalidInputException(name + ": not enough memory to decode the image (" + e.getMessage()
          + "; JVM max heap " + (Runtime.getRuntime().maxMemory() >> 20) + " MiB)", e);
    } catch (IOException | RuntimeException e) {
      // ImageIO readers throw IIOException, but also IndexOutOfBounds/IllegalArgument/... on
      // corrupt data.
      throw new InvalidInputException(name + ": cannot decode the image: " + e, e);
    }
  }

  /**
   * Decodes a stream (read to its end, up to {@link DecodeOptions#maxInputBytes()}; not closed).
   */
  public static DecodedImage decode(InputStream in, String source, DecodeOptions options) {
    Objects.requireNonNull(in, "in");
    Objects.requireNonNull(options, "options");
    String name = source == null ? "stream" : source;
    ByteArrayOutputStream buf = new ByteArrayOutputStream();
    byte[] chunk = new byte[1 << 16];
    try {
      int n;
      while ((n = in.read(chunk)) > 0) {
        buf.write(chunk, 0, n);
        if (buf.size() > options.maxInputBytes()) {
          throw new InvalidInputException(
              name + ": stream exceeds the limit of " + options.maxInputBytes() + " bytes");
        }
      }
    } catch (IOException e) {
      throw new InvalidInputException(name + ": cannot read the stream: " + e, e);
    }
    return decode(buf.toByteArray(), name, options);
  }

  // ---------------------------------------------------------------------------------------

  private static DecodedImage decodeChecked(byte[] data, String name, DecodeOptions options)
      throws IOException {
    if (data.length == 0) {
      throw new InvalidInputException(name + ": empty file");
    }
    Format format = sniff(data);
    if (format == null) {
      throw new InvalidInputException(name + ": unknown or unsupported image format");
    }
    int pngDepth = 0;
    int pngColorType = 0;
    if (format == Format.PNG) {
      // IHDR is the first chunk: length, "IHDR", width, height, bit depth, colour type.
      if (data.length < 33 || !"IHDR".equals(new String(data, 12, 4, java.nio.charset.StandardCharsets.ISO_8859_1))) {
        throw new InvalidInputException(name + ": truncated PNG header");
      }
      long w = readU32(data, 16);
      long h = readU32(data, 20);
      checkSize(name, w, h, options);
      pngDepth = data[24] & 0xFF;
      pngColorType = data[25] & 0xFF;
    }
    if (format == Format.BMP && data.length >= 26) {
      // The JDK's reader checks the size against the data first; Pillow's bomb check comes first.
      long headerSize = readU32le(data, 14);
      if (headerSize == 12) {
        checkSize(name, readU16le(data, 18), readU16le(data, 20), options);
      } else if (headerSize >= 40) {
        checkSize(name, (int) readU32le(data, 18), Math.abs((long) (int) readU32le(data, 22)), options);
      }
    }
    JpegHeader jpeg = null;
    if (format == Format.JPEG) {
      // Pillow's bomb check sees the frame header's size before libjpeg's own limits (65500).
      jpeg = JpegHeader.scan(data);
      if (jpeg.components != 0) {
        checkSize(name, jpeg.width, jpeg.height, options);
      }
    }
    GifScreen gif = null;
    if (format == Format.GIF) {
      // Pillow's image (and the size its decompression-bomb check sees) is the logical screen,
      // however small the first frame is.
      gif = GifScreen.scan(data);
      if (gif != null) {
        checkSize(name, gif.width, gif.height, options);
        checkHeap(name, gif.width, gif.height, 4);
      }
    }

    ImageReader reader = readerFor(format);
    if (reader == null) {
      throw new InvalidInputException(name + ": no decoder for " + format + " on the class path");
    }
    try (ImageInputStream in = new MemoryCacheImageInputStream(new ByteArrayInputStream(data))) {
      reader.setInput(in, true, true);
      String[] fatalWarning = new String[1];
      reader.addIIOReadWarningListener(
          new IIOReadWarningListener() {
            @Override
            public void warningOccurred(ImageReader source, String warning) {
              String w = warning == null ? "" : warning.toLowerCase(Locale.ROOT);
              // libjpeg's "Premature end of JPEG file": Pillow reports the file as truncated.
              if (w.contains("premature end") || w.contains("truncat")) {
                fatalWarning[0] = warning;
              }
            }
          });
      int width = reader.getWidth(0);
      int height = reader.getHeight(0);
      checkSize(name, width, height, options);
      checkHeap(name, width, height, format == Format.PNG && pngDepth == 16 ? 8 : 4);

      DecodedImage image;
      switch (format) {
        case PNG:
          image = fromPng(reader.read(0), pngDepth, pngColorType, name);
          break;
        case JPEG:
          image = fromJpeg(reader, jpeg, name);
          break;
        case GIF:
          image = fromIndexedOrDirect(onScreen(reader.read(0), gif, name), format, name);
          if (gif != null) {
            width = gif.width;
            height = gif.height;
          }
          break;
        case BMP:
          image = fromIndexedOrDirect(reader.read(0), format, name);
          break;
        default:
          image = fromArgb(reader.read(0), name);
          break;
      }
      if (fatalWarning[0] != null) {
        throw new InvalidInputException(name + ": truncated or corrupt image: " + fatalWarning[0]);
      }
      if (image.width() != width || image.height() != height) {
        throw new InvalidInputException(name + ": decoded size differs from the header");
      }
      if (format == Format.JPEG && options.exifOrientation()) {
        int orientation = Exif.jpegOrientation(data);
        if (orientation > 1 && orientation <= 8) {
          image = Exif.transpose(image, orientation);
        }
      }
      return image;
    } catch (IIOException e) {
      throw new InvalidInputException(name + ": corrupt or truncated " + format + ": " + e.getMessage(), e);
    } finally {
      reader.dispose();
    }
  }

  private static void checkSize(String name, long w, long h, DecodeOptions options) {
    if (w < 1 || h < 1) {
      throw new InvalidInputException(name + ": invalid image size " + w + "x" + h);
    }
    if (w > (1 << 24) || h > (1 << 24) || w * h > options.maxPixels()) {
      throw new InvalidInputException(
          name + ": image of " + w + "x" + h + " pixels exceeds the limit of " + options.maxPixels()
              + " pixels (possible decompression bomb)");
    }
  }

  /**
   * Refuses, before decoding, an image whose decoded raster alone (bytesPerPixel each) would take
   * more than half of the JVM's maximum heap: it could never be decoded here, and trying would
   * throw OutOfMemoryError in whichever thread allocates next.
   */
  private static void checkHeap(String name, long w, long h, int bytesPerPixel) {
    long need = w * h * bytesPerPixel;
    long max = Runtime.getRuntime().maxMemory();
    if (max != Long.MAX_VALUE && need > max / 2) {
      throw new InvalidInputException(name + ": decoding " + w + "x" + h + " pixels needs about "
          + (need >> 20) + " MiB of heap, more than half the JVM's maximum of " + (max >> 20)
          + " MiB (raise -Xmx or lower DecodeOptions.maxPixels)");
    }
  }

  private static long readU32le(byte[] b, int off) {
    return (b[off] & 0xFFL) | ((b[off + 1] & 0xFFL) << 8) | ((b[off + 2] & 0xFFL) << 16)
        | ((b[off + 3] & 0xFFL) << 24);
  }

  private static int readU16le(byte[] b, int off) {
    return (b[off] & 0xFF) | ((b[off + 1] & 0xFF) << 8);
  }

  private static long readU32(byte[] b, int off) {
    return ((b[off] & 0xFFL) << 24) | ((b[off + 1] & 0xFFL) << 16) | ((b[off + 2] & 0xFFL) << 8)
        | (b[off + 3] & 0xFFL);
  }

  private static Format sniff(byte[] d) {
    if (d.length >= 8 && (d[0] & 0xFF) == 0x89 && d[1] == 'P' && d[2] == 'N' && d[3] == 'G'
        && d[4] == 0x0D && d[5] == 0x0A && d[6] == 0x1A && d[7] == 0x0A) {
      return Format.PNG;
    }
    if (d.length >= 3 && (d[0] & 0xFF) == 0xFF && (d[1] & 0xFF) == 0xD8 && (d[2] & 0xFF) == 0xFF) {
      return Format.JPEG;
    }
    if (d.length >= 6 && d[0] == 'G' && d[1] == 'I' && d[2] == 'F' && d[3] == '8'
        && (d[4] == '7' || d[4] == '9') && d[5] == 'a') {
      return Format.GIF;
    }
    if (d.length >= 2 && d[0] == 'B' && d[1] == 'M') {
      return Format.BMP;
    }
    if (d.length >= 12 && d[0] == 'R' && d[1] == 'I' && d[2] == 'F' && d[3] == 'F'
        && d[8] == 'W' && d[9] == 'E' && d[10] == 'B' && d[11] == 'P') {
      return Format.WEBP;
    }
    return null;
  }

  /** The JDK's own reader for JPEG/PNG/GIF/BMP (plugins may register others first). */
  private static ImageReader readerFor(Format format) {
    String formatName = format.name().toLowerCase(Locale.ROOT);
    Iterator<ImageReader> it = ImageIO.getImageReadersByFormatName(formatName);
    ImageReader fallback = null;
    while (it.hasNext()) {
      ImageReader r = it.next();
      if (r.getClass().getName().startsWith("com.sun.imageio.plugins.")) {
        if (fallback != null) {
          fallback.dispose();
        }
        return r;
      }
      if (fallback == null) {
        fallback = r;
      } else {
        r.dispose();
      }
    }
    return fallback;
  }

  // ---- pixel extraction --------------------------------------------------------------------

  /** Pixel memory: this thread's {@link PixelScratch} inside a decode-and-preprocess scope. */
  static ByteBuffer alloc(long bytes) {
    PixelScratch scratch = PixelScratch.current();
    if (scratch != null) {
      return scratch.allocate(bytes);
    }
    return ByteBuffer.allocateDirect(Math.toIntExact(bytes)).order(ByteOrder.nativeOrder());
  }

  private static DecodedImage fromPng(BufferedImage img, int depth, int colorType, String name) {
    Raster r = img.getRaster();
    int w = r.getWidth();
    int h = r.getHeight();
    int bands = r.getNumBands();
    int[] row = new int[w * bands];
    switch (colorType) {
      case 0: // gray (the JDK may add an alpha band for tRNS: take band 0)
        if (depth == 16) {
          ByteBuffer out = alloc(4L * w * h);
          for (int y = 0; y < h; y++) {
            r.getPixels(0, y, w, 1, row);
            for (int x = 0; x < w; x++) {
              out.putInt(row[x * bands]);
            }
          }
          return new DecodedImage(ImageMode.I, w, h, out.flip(), null, name);
        } else {
          int scale = depth == 1 ? 255 : depth == 2 ? 85 : depth == 4 ? 17 : 1;
          ByteBuffer out = alloc((long) w * h);
          for (int y = 0; y < h; y++) {
            r.getPixels(0, y, w, 1, row);
            for (int x = 0; x < w; x++) {
              out.put((byte) (row[x * bands] * scale));
            }
          }
          return new DecodedImage(depth == 1 ? ImageMode.BILEVEL : ImageMode.L, w, h, out.flip(), null, name);
        }
      case 2: // RGB
        return copyBands(r, new int[] {0, 1, 2}, depth == 16 ? 8 : 0, ImageMode.RGB, name);
      case 3: // palette
        return expandPalette(r, (IndexColorModel) img.getColorModel(), ImageMode.P, name);
      case 4: // gray + alpha: LA for 8 bits; Pillow opens 16-bit as RGBA (L, L, L, A)
        if (depth == 16) {
          return copyBands(r, new int[] {0, 0, 0, 1}, 8, ImageMode.RGBA, name);
        }
        return copyBands(r, new int[] {0, 1}, 0, ImageMode.LA, name);
      case 6:
        return copyBands(r, new int[] {0, 1, 2, 3}, depth == 16 ? 8 : 0, ImageMode.RGBA, name);
      default:
        throw new InvalidInputException(name + ": invalid PNG colour type " + colorType);
    }
  }

  /** Copies the listed raster bands (shifted right by {@code shift}) as interleaved bytes. */
  private static DecodedImage copyBands(Raster r, int[] bandsOut, int shift, ImageMode mode, String name) {
    int w = r.getWidth();
    int h = r.getHeight();
    int bands = r.getNumBands();
    for (int b : bandsOut) {
      if (b >= bands) {
        throw new InvalidInputException(name + ": decoder returned " + bands + " bands for " + mode.pillowName());
      }
    }
    int[] row = new int[w * bands];
    ByteBuffer out = alloc((long) w * h * bandsOut.length);
    for (int y = 0; y < h; y++) {
      r.getPixels(0, y, w, 1, row);
      for (int x = 0; x < w; x++) {
        for (int b : bandsOut) {
          out.put((byte) (row[x * bands + b] >>> shift));
        }
      }
    }
    return new DecodedImage(mode, w, h, out.flip(), null, name);
  }

  private static DecodedImage expandPalette(Raster r, IndexColorModel cm, ImageMode mode, String name) {
    int n = cm.getMapSize();
    byte[] palette = new byte[3 * Math.min(n, 256)];
    for (int i = 0; i < palette.length / 3; i++) {
      palette[3 * i] = (byte) cm.getRed(i);
      palette[3 * i + 1] = (byte) cm.getGreen(i);
      palette[3 * i + 2] = (byte) cm.getBlue(i);
    }
    int w = r.getWidth();
    int h = r.getHeight();
    int[] row = new int[w];
    ByteBuffer out = alloc(3L * w * h);
    for (int y = 0; y < h; y++) {
      r.getSamples(0, y, w, 1, 0, row);
      for (int x = 0; x < w; x++) {
        int i = row[x];
        if (i * 3 + 2 < palette.length) {
          out.put(palette[3 * i]).put(palette[3 * i + 1]).put(palette[3 * i + 2]);
        } else {
          out.put((byte) 0).put((byte) 0).put((byte) 0);
        }
      }
    }
    return new DecodedImage(mode, w, h, out.flip(), palette, name);
  }

  /** Gray samples (1 band, e.g. palette indices that equal their gray value) as bytes. */
  private static DecodedImage indicesAsGray(Raster r, ImageMode mode, int scale, String name) {
    int w = r.getWidth();
    int h = r.getHeight();
    int[] row = new int[w];
    ByteBuffer out = alloc((long) w * h);
    for (int y = 0; y < h; y++) {
      r.getSamples(0, y, w, 1, 0, row);
      for (int x = 0; x < w; x++) {
        out.put((byte) (row[x] * scale));
      }
    }
    return new DecodedImage(mode, w, h, out.flip(), null, name);
  }

  private static DecodedImage fromJpeg(ImageReader reader, JpegHeader header, String name)
      throws IOException {
    if (header.components == 4) {
      return fromCmykJpeg(reader.readRaster(0, null), header.isYcck(), name);
    }
    if (header.components != 0 && header.components != 1 && header.components != 3) {
      throw new InvalidInputException(name + ": cannot handle " + header.components
          + "-component JPEGs (Pillow opens 1, 3 and 4)");
    }
    ImageTypeSpecifier raw = reader.getRawImageType(0);
    int components = raw == null ? 3 : raw.getColorModel().getNumComponents();
    if (components == 1) {
      // Gray: the raw samples, never colour-managed (an embedded gray profile is ignored).
      Raster r = reader.readRaster(0, null);
      return copyBands(r, new int[] {0}, 0, ImageMode.L, name);
    }
    if (components != 3) {
      throw new InvalidInputException(name + ": unsupported JPEG colour space");
    }
    // libjpeg converts YCbCr to RGB; the JDK then converts an embedded ICC profile to sRGB
    // unless the destination is that profile's own colour space, which Pillow never applies.
    ImageReadParam param = reader.getDefaultReadParam();
    for (Iterator<ImageTypeSpecifier> it = reader.getImageTypes(0); it.hasNext(); ) {
      ImageTypeSpecifier t = it.next();
      ColorSpace cs = t.getColorModel().getColorSpace();
      if (cs instanceof ICC_ColorSpace && !cs.isCS_sRGB() && cs.getType() == ColorSpace.TYPE_RGB
          && t.getNumBands() == 3 && !t.getColorModel().hasAlpha()) {
        param.setDestinationType(t);
        break;
      }
    }
    BufferedImage img = reader.read(0, param);
    if (img.getRaster().getNumBands() != 3) {
      throw new InvalidInputException(name + ": unsupported JPEG colour space");
    }
    return copyBands(img.getRaster(), new int[] {0, 1, 2}, 0, ImageMode.RGB, name);
  }

  // libjpeg's YCC -> RGB tables (jdcolor.c build_ycc_rgb_table, SCALEBITS 16), used by its
  // ycck_cmyk_convert: R = y + CR_R[cr], G = y + ((CB_G[cb] + CR_G[cr]) >> 16), B = y + CB_B[cb].
  private static final int[] CR_R = new int[256];
  private static final int[] CB_B = new int[256];
  private static final int[] CR_G = new int[256];
  private static final int[] CB_G = new int[256];

  static {
    final int half = 1 << 15;
    for (int i = 0; i < 256; i++) {
      int x = i - 128;
      CR_R[i] = (fix(1.40200) * x + half) >> 16;
      CB_B[i] = (fix(1.77200) * x + half) >> 16;
      CR_G[i] = -fix(0.71414) * x;
      CB_G[i] = -fix(0.34414) * x + half;
    }
  }

  private static int fix(double v) {
    return (int) (v * (1 << 16) + 0.5);
  }

  private static int clip8(int v) {
    return v < 0 ? 0 : Math.min(v, 255);
  }

  /**
   * A 4-component JPEG as Pillow 9.4 opens it: libjpeg's CMYK output (YCCK converted to CMYK by
   * ycck_cmyk_convert, i.e. the inverted RGB of the YCC triplet with K passed through), read with
   * Pillow's "CMYK;I" (every sample inverted: Pillow assumes Adobe's convention whatever the
   * markers say). The JDK's readRaster returns the components as stored, without any colour
   * conversion or ICC profile; converting here keeps its YCCK handling (none) out of the result.
   */
  private static DecodedImage fromCmykJpeg(Raster r, boolean ycck, String name) {
    if (r.getNumBands() != 4) {
      throw new InvalidInputException(name + ": decoder returned " + r.getNumBands()
          + " bands for a 4-component JPEG");
    }
    int w = r.getWidth();
    int h = r.getHeight();
    int[] row = new int[w * 4];
    ByteBuffer out = alloc(4L * w * h);
    for (int y = 0; y < h; y++) {
      r.getPixels(0, y, w, 1, row);
      for (int x = 0; x < w; x++) {
        int a = row[4 * x] & 0xFF;
        int b = row[4 * x + 1] & 0xFF;
        int c = row[4 * x + 2] & 0xFF;
        int k = row[4 * x + 3] & 0xFF;
        if (ycck) {
          // libjpeg: C = 255 - clip(R) (likewise M, Y); Pillow inverts back: clip(R).
          out.put((byte) clip8(a + CR_R[c]));
          out.put((byte) clip8(a + ((CB_G[b] + CR_G[c]) >> 16)));
          out.put((byte) clip8(a + CB_B[b]));
        } else {
          out.put((byte) (255 - a)).put((byte) (255 - b)).put((byte) (255 - c));
        }
        out.put((byte) (255 - k));
      }
    }
    return new DecodedImage(ImageMode.CMYK, w, h, out.flip(), null, name);
  }

  /**
   * A GIF's first frame placed on its logical screen as Pillow 9.4 composes it: the frame at its
   * offset, every other pixel the fill index (0, or the frame's transparent index).
   */
  private static BufferedImage onScreen(BufferedImage frame, GifScreen gif, String name) {
    if (gif == null || gif.frameIsImage()) {
      return frame;
    }
    if (!(frame.getColorModel() instanceof IndexColorModel)
        || frame.getWidth() != gif.frameWidth || frame.getHeight() != gif.frameHeight) {
      throw new InvalidInputException(name + ": decoded GIF frame of " + frame.getWidth() + "x"
          + frame.getHeight() + " does not match its descriptor (" + gif.frameWidth + "x"
          + gif.frameHeight + ")");
    }
    IndexColorModel icm = (IndexColorModel) frame.getColorModel();
    java.awt.image.WritableRaster canvas =
        icm.createCompatibleWritableRaster(gif.width, gif.height);
    int[] row = new int[gif.width];
    java.util.Arrays.fill(row, gif.fillIndex);
    for (int y = 0; y < gif.height; y++) {
      canvas.setSamples(0, y, gif.width, 1, 0, row);
    }
    canvas.setRect(gif.frameLeft, gif.frameTop, frame.getRaster());
    return new BufferedImage(icm, canvas, false, null);
  }

  /** GIF and BMP: Pillow's rules for palettes; direct colour as RGB(A). */
  private static DecodedImage fromIndexedOrDirect(BufferedImage img, Format format, String name) {
    ColorModel cm = img.getColorModel();
    if (cm instanceof IndexColorModel) {
      IndexColorModel icm = (IndexColorModel) cm;
      int n = icm.getMapSize();
      boolean identityGray = true;
      for (int i = 0; i < n && identityGray; i++) {
        identityGray = icm.getRed(i) == i && icm.getGreen(i) == i && icm.getBlue(i) == i;
      }
      if (format == Format.BMP && n == 2 && isGray(icm, 0, 0) && isGray(icm, 1, 255)) {
        return indicesAsGray(img.getRaster(), ImageMode.BILEVEL, 255, name);
      }
      if (identityGray) {
        return indicesAsGray(img.getRaster(), ImageMode.L, 1, name);
      }
      return expandPalette(img.getRaster(), icm, ImageMode.P, name);
    }
    if (cm.getColorSpace().getType() == ColorSpace.TYPE_GRAY && cm.getNumComponents() == 1
        && img.getRaster().getNumBands() == 1 && img.getRaster().getTransferType() == DataBuffer.TYPE_BYTE) {
      // The JDK's BMP reader turns an 8-bit gray-ramp palette into a gray image: Pillow's L.
      return copyBands(img.getRaster(), new int[] {0}, 0, ImageMode.L, name);
    }
    return fromArgb(img, name);
  }

  private static boolean isGray(IndexColorModel cm, int i, int v) {
    return cm.getRed(i) == v && cm.getGreen(i) == v && cm.getBlue(i) == v;
  }

  /** Any other image, through its colour model's sRGB view: RGB, or RGBA with alpha. */
  private static DecodedImage fromArgb(BufferedImage img, String name) {
    int w = img.getWidth();
    int h = img.getHeight();
    boolean alpha = img.getColorModel().hasAlpha();
    int[] row = new int[w];
    ByteBuffer out = alloc((long) w * h * (alpha ? 4 : 3));
    for (int y = 0; y < h; y++) {
      img.getRGB(0, y, w, 1, row, 0, w);
      for (int x = 0; x < w; x++) {
        int p = row[x];
        out.put((byte) (p >>> 16)).put((byte) (p >>> 8)).put((byte) p);
        if (alpha) {
          out.put((byte) (p >>> 24));
        }
      }
    }
    return new DecodedImage(alpha ? ImageMode.RGBA : ImageMode.RGB, w, h, out.flip(), null, name);
  }
}
