package dev.clip4j.server;

import java.util.Base64;
import java.util.Locale;

/**
 * The image convention of the API: an input string is a data URI ({@code
 * data:image/png;base64,...}), bare base64 of the encoded file, or, only with {@code
 * --allow-url-fetch}, an {@code http(s)} URL the server fetches within its limits.
 */
final class ImageInputs {
  private ImageInputs() {}

  /** The encoded image bytes of {@code input}; {@link ApiException} 400 when it is none of the above. */
  static byte[] bytes(String input, String what, UrlFetcher fetcher) {
    String s = input.strip();
    String lower = s.length() > 16 ? s.substring(0, 16).toLowerCase(Locale.ROOT) : s.toLowerCase(Locale.ROOT);
    if (lower.startsWith("data:")) {
      int comma = s.indexOf(',');
      if (comma < 0 || !s.substring(0, comma).toLowerCase(Locale.ROOT).endsWith(";base64")) {
        throw ApiException.badRequest("invalid_image", what + ": a data URI must be base64 (data:image/...;base64,...)");
      }
      return decode(s.substring(comma + 1), what);
    }
    if (lower.startsWith("http://") || lower.startsWith("https://")) {
      if (fetcher == null) {
        throw ApiException.badRequest("url_fetch_disabled", what + ": image URLs are not fetched by this server"
            + " (start it with --allow-url-fetch); send the image as a data URI or base64");
      }
      return fetcher.fetch(s, what);
    }
    if (lower.matches("^[a-z][a-z0-9+.-]*:.*")) {
      throw ApiException.badRequest("url_fetch_refused", what + ": only data URIs, base64 and (with --allow-url-fetch)"
          + " http/https URLs are accepted");
    }
    return decode(s, what);
  }

  private static byte[] decode(String b64, String what) {
    try {
      String clean = b64.indexOf('\n') >= 0 || b64.indexOf(' ') >= 0 || b64.indexOf('\r') >= 0
          ? b64.replaceAll("[\\s]", "") : b64;
      byte[] b = clean.indexOf('-') >= 0 || clean.indexOf('_') >= 0
          ? Base64.getUrlDecoder().decode(clean) : Base64.getDecoder().decode(clean);
      if (b.length == 0) {
        throw ApiException.badRequest("invalid_image", what + ": empty image");
      }
      return b;
    } catch (IllegalArgumentException e) {
      throw ApiException.badRequest("invalid_image", what + ": not valid base64");
    }
  }
}
