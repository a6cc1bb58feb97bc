package dev.clip4j.preprocess;

/**
 * What libjpeg reads from a JPEG's markers before the first scan and Pillow's result depends on:
 * the size and component count of the frame header and the Adobe APP14 colour transform. Scanned the way
 * libjpeg's marker reader does (fill bytes skipped, standalone markers without a length), bounded
 * by the data; anything malformed just ends the scan, leaving the decoder to report it.
 */
final class JpegHeader {
  /** No Adobe APP14 marker was seen. */
  static final int NO_ADOBE = -1;

  /** Components of the first SOF marker (1, 3, 4, ...), or 0 when none was found. */
  final int components;
  /** Width and height of the first SOF marker (0 when none was found). */
  final int width;
  final int height;
  /**
   * Transform byte of the last Adobe APP14 marker of at least 12 bytes before the first SOS
   * (libjpeg's {@code Adobe_transform}: 0 = none (CMYK), 1 = YCbCr, 2 = YCCK), or {@link
   * #NO_ADOBE}.
   */
  final int adobeTransform;

  private JpegHeader(int components, int width, int height, int adobeTransform) {
    this.components = components;
    this.width = width;
    this.height = height;
    this.adobeTransform = adobeTransform;
  }

  /**
   * libjpeg's choice for a 4-component image (jdapimin.c default_decompress_parms): YCCK when an
   * Adobe marker says any transform but 0, else plain CMYK.
   */
  boolean isYcck() {
    return components == 4 && adobeTransform != NO_ADOBE && adobeTransform != 0;
  }

  static JpegHeader scan(byte[] d) {
    int components = 0;
    int width = 0;
    int height = 0;
    int transform = NO_ADOBE;
    int i = 2; // after SOI
    while (i < d.length) {
      if ((d[i] & 0xFF) != 0xFF) {
        i++; // garbage between segments: libjpeg skips it (with a warning), so does Pillow
        continue;
      }
      while (i < d.length && (d[i] & 0xFF) == 0xFF) {
        i++; // fill bytes
      }
      if (i >= d.length) {
        break;
      }
      int marker = d[i++] & 0xFF;
      if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD8)) {
        continue; // TEM, RSTn, SOI: no length
      }
      if (marker == 0xD9 || i + 2 > d.length) {
        break; // EOI, or no room for a length
      }
      int len = ((d[i] & 0xFF) << 8) | (d[i + 1] & 0xFF);
      if (len < 2 || i + len > d.length) {
        break;
      }
      if (marker == 0xDA) {
        break; // SOS: libjpeg's header is complete
      }
      boolean sof = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8
          && marker != 0xCC;
      if (sof && components == 0 && len >= 8) {
        height = ((d[i + 3] & 0xFF) << 8) | (d[i + 4] & 0xFF);
        width = ((d[i + 5] & 0xFF) << 8) | (d[i + 6] & 0xFF);
        components = d[i + 7] & 0xFF;
      } else if (marker == 0xEE && len - 2 >= 12 && d[i + 2] == 'A' && d[i + 3] == 'd'
          && d[i + 4] == 'o' && d[i + 5] == 'b' && d[i + 6] == 'e') {
        transform = d[i + 2 + 11] & 0xFF;
      }
      i += len;
    }
    return new JpegHeader(components, width, height, transform);
  }
}
