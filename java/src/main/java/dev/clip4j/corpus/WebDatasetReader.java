package dev.clip4j.corpus;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import dev.clip4j.InvalidInputException;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Deque;
import java.util.Iterator;
import java.util.List;
import java.util.Locale;
import java.util.NoSuchElementException;
import java.util.Set;

/**
 * Streams the samples of one WebDataset shard: a POSIX tar (ustar, GNU or pax) whose members are
 * grouped into samples by key, as img2dataset writes them ({@code KEY.jpg} with {@code KEY.txt}
 * and {@code KEY.json} beside it). The key of a member is its path up to the first dot of its
 * file name; consecutive members with the same key form one sample.
 *
 * <p>One {@link Sample} is yielded per image member ({@link #IMAGE_EXTENSIONS}), carrying the
 * sample's caption ({@code .txt}, strict UTF-8) and JSON ({@code .json}) when present; its name is
 * {@code SHARD/KEY.EXT}. Bad input never throws out of the iterator: it becomes a sample with an
 * {@link #error()}:
 * <ul>
 *   <li>an image member larger than {@code maxMemberBytes}: skipped without being read into
 *       memory, one error sample ({@code INVALID_INPUT});
 *   <li>a sample with no image member (only {@code .txt}, or {@code KEY.bin}...): one error
 *       sample naming its members ({@code INVALID_INPUT});
 *   <li>a truncated shard, a header with a bad checksum or an invalid size: the complete samples
 *       before it are yielded, then one error sample ({@code IO}) naming the byte offset, and
 *       the shard ends there.
 * </ul>
 * Sizes are checked before anything is allocated: members are read only up to {@code
 * maxMemberBytes}, sidecars ({@code .txt}, {@code .json}, pax headers, GNU long names) up to
 * {@link #MAX_SIDECAR_BYTES}, and a sample holds at most {@link #MAX_MEMBERS_PER_SAMPLE} members.
 * Memory holds one sample. Not thread-safe; closing closes the stream.
 *
 * <pre>{@code
 * try (WebDatasetReader r = new WebDatasetReader(Files.newInputStream(tar), "shard-00000.tar", 64 << 20)) {
 *   while (r.hasNext()) {
 *     WebDatasetReader.Sample s = r.next();
 *     if (s.error() == null) embedder.embedImage(ImageSource.of(s.image(), s.name()));
 *   }
 * }
 * }</pre>
 */
public final class WebDatasetReader implements Iterator<WebDatasetReader.Sample>, AutoCloseable {
  /** Member extensions embedded as images (what {@link dev.clip4j.preprocess.ImageDecoder} reads). */
  public static final Set<String> IMAGE_EXTENSIONS = Set.of("jpg", "jpeg", "jpe", "jfif", "png", "bmp", "gif", "webp");
  /** Largest caption, JSON, pax header or GNU long name read into memory. */
  public static final int MAX_SIDECAR_BYTES = 1 << 20;
  /** Most members one sample may have. */
  public static final int MAX_MEMBERS_PER_SAMPLE = 64;

  private static final int BLOCK = 512;

  /**
   * One image of a shard, or one error.
   *
   * @param shard the shard's name as given
   * @param key the sample key ({@code 000000123} or {@code dir/000000123}); null for a shard-level error
   * @param name {@code SHARD/KEY.EXT} for an image, {@code SHARD/KEY} for a sample without image,
   *     {@code SHARD} for a shard-level error
   * @param image the encoded image bytes, or null on error
   * @param caption the sample's {@code .txt} (strict UTF-8), or null
   * @param json the sample's {@code .json} text, or null
   * @param error why this sample cannot be embedded, or null
   */
  public record Sample(String shard, String key, String name, byte[] image, String caption, String json,
      Clip4jException error) {}

  private final InputStream in;
  private final String shard;
  private final long maxMemberBytes;
  private final Deque<Sample> ready = new ArrayDeque<>();
  private final byte[] header = new byte[BLOCK];
  private long offset;
  private boolean ended;
  // The sample being gathered.
  private String key;
  private final List<Member> members = new ArrayList<>();

  private record Member(String name, String ext, byte[] data, long size) {}

  /**
   * @param in the shard's bytes (buffering is the caller's choice); closed by {@link #close()}
   * @param shard its name, prefixed to every sample name
   * @param maxMemberBytes largest image member read (e.g. {@link
   *     dev.clip4j.preprocess.DecodeOptions#maxInputBytes()})
   */
  public WebDatasetReader(InputStream in, String shard, long maxMemberBytes) {
    if (maxMemberBytes < 1 || maxMemberBytes > Integer.MAX_VALUE - 8) {
      throw new IllegalArgumentException("maxMemberBytes must be in [1, 2^31 - 9], got " + maxMemberBytes);
    }
    this.in = java.util.Objects.requireNonNull(in, "in");
    this.shard = java.util.Objects.requireNonNull(shard, "shard");
    this.maxMemberBytes = maxMemberBytes;
  }

  /** Whether {@code fileName} names a tar shard ({@code .tar}, any case). */
  public static boolean isShard(String fileName) {
    return fileName.toLowerCase(Locale.ROOT).endsWith(".tar");
  }

  @Override
  public boolean hasNext() {
    while (ready.isEmpty() && !ended) {
      step();
    }
    return !ready.isEmpty();
  }

  @Override
  public Sample next() {
    if (!hasNext()) {
      throw new NoSuchElementException();
    }
    return ready.poll();
  }

  /** Reads one member (or the end); on a broken shard flushes what was complete and an error. */
  private void step() {
    try {
      String pending = readMember();
      if (pending == null) {
        flushSample();
        ended = true;
      }
    } catch (BrokenShard e) {
      // The sample being gathered may be incomplete (its caption could follow): drop its images
      // into the error rather than embed half a sample.
      String where = key == null ? shard : shard + "/" + key;
      members.clear();
      key = null;
      ready.add(new Sample(shard, null, where, null, null, null,
          new Clip4jException(ErrorCode.IO, shard + ": " + e.getMessage())));
      ended = true;
    } catch (IOException e) {
      members.clear();
      ready.add(new Sample(shard, null, shard, null, null, null,
          new Clip4jException(ErrorCode.IO, shard + ": cannot read the shard at byte " + offset + ": " + e, e)));
      ended = true;
    }
  }

  private static final class BrokenShard extends Exception {
    private static final long serialVersionUID = 1L;

    BrokenShard(String message) {
      super(message, null, false, false);
    }
  }

  /** Reads the next regular member into the current sample; null at the end of the archive. */
  private String readMember() throws IOException, BrokenShard {
    String longName = null;
    String paxPath = null;
    while (true) {
      long at = offset;
      int n = readFully(header, BLOCK);
      if (n == 0) {
        return null; // end of stream on a block boundary: accept a shard without end blocks
      }
      if (n < BLOCK) {
        throw new BrokenShard("truncated: a header cut short at byte " + at);
      }
      if (allZero(header)) {
        return null; // the end-of-archive marker
      }
      if (!checksumOk(header)) {
        throw new BrokenShard("not a tar header at byte " + at + " (bad checksum)");
      }
      long size = parseSize(header, at);
      char type = (char) header[156];
      String name = longName != null ? longName : paxPath != null ? paxPath : headerName(header);
      switch (type) {
        case 'L' -> {
          longName = cString(readSidecar(size, "GNU long name"));
          continue;
        }
        case 'x' -> {
          String p = paxValue(readSidecar(size, "pax header"), "path");
          if (p != null) {
            paxPath = p;
          }
          continue;
        }
        case 'g', 'K' -> {
          skip(padded(size), "pax global header");
          continue;
        }
        case '0', '\0', '7' -> {
          longName = null;
          paxPath = null;
          addMember(name, size);
          return name;
        }
        default -> {
          // Directories, links, devices: nothing to embed.
          longName = null;
          paxPath = null;
          skip(padded(size), name);
        }
      }
    }
  }

  private void addMember(String name, long size) throws IOException, BrokenShard {
    String base = name.substring(name.lastIndexOf('/') + 1);
    int dot = base.indexOf('.');
    String dir = name.substring(0, name.length() - base.length());
    String k = dot < 0 ? name : dir + base.substring(0, dot);
    String ext = dot < 0 ? "" : base.substring(base.lastIndexOf('.') + 1).toLowerCase(Locale.ROOT);
    if (!k.equals(key)) {
      flushSample();
      key = k;
    }
    if (members.size() >= MAX_MEMBERS_PER_SAMPLE) {
      skip(padded(size), name);
      return;
    }
    boolean image = IMAGE_EXTENSIONS.contains(ext);
    boolean sidecar = ext.equals("txt") || ext.equals("json");
    byte[] data = null;
    if ((image && size <= maxMemberBytes) || (sidecar && size <= MAX_SIDECAR_BYTES)) {
      data = new byte[(int) size];
      if (readFully(data, data.length) < data.length) {
        throw new BrokenShard("truncated: member " + name + " (" + size + " bytes) cut short");
      }
      skip(padded(size) - size, name);
    } else {
      skip(padded(size), name);
    }
    members.add(new Member(name, ext, data, size));
  }

  /** Turns the gathered members into samples: one per image, or one error if there is none. */
  private void flushSample() {
    if (key == null) {
      return;
    }
    String caption = null;
    String json = null;
    Clip4jException sidecarError = null;
    for (Member m : members) {
      if (m.ext().equals("txt") || m.ext().equals("json")) {
        if (m.data() == null) {
          sidecarError = new InvalidInputException(shard + "/" + m.name() + ": " + m.size()
              + " bytes exceeds the sidecar limit of " + MAX_SIDECAR_BYTES);
          continue;
        }
        try {
          String text = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
              .onUnmappableCharacter(CodingErrorAction.REPORT).decode(java.nio.ByteBuffer.wrap(m.data())).toString();
          if (m.ext().equals("txt")) {
            caption = text;
          } else {
            json = text;
          }
        } catch (CharacterCodingException e) {
          sidecarError = new InvalidInputException(shard + "/" + m.name() + ": not valid UTF-8");
        }
      }
    }
    boolean anyImage = false;
    for (Member m : members) {
      if (!IMAGE_EXTENSIONS.contains(m.ext())) {
        continue;
      }
      anyImage = true;
      String name = shard + "/" + m.name();
      if (m.data() == null) {
        ready.add(new Sample(shard, key, name, null, caption, json, new InvalidInputException(name + ": member of "
            + m.size() + " bytes exceeds the limit of " + maxMemberBytes)));
      } else if (sidecarError != null) {
        ready.add(new Sample(shard, key, name, null, caption, json, sidecarError));
      } else {
        ready.add(new Sample(shard, key, name, m.data(), caption, json, null));
      }
    }
    if (!anyImage) {
      List<String> names = members.stream().map(Member::name).toList();
      ready.add(new Sample(shard, key, shard + "/" + key, null, caption, json,
          new InvalidInputException(shard + "/" + key + ": no image member (" + String.join(", ", names) + ")")));
    }
    members.clear();
    key = null;
  }

  private byte[] readSidecar(long size, String what) throws IOException, BrokenShard {
    if (size > MAX_SIDECAR_BYTES) {
      throw new BrokenShard(what + " of " + size + " bytes at byte " + (offset - BLOCK) + " exceeds "
          + MAX_SIDECAR_BYTES);
    }
    byte[] b = new byte[(int) size];
    if (readFully(b, b.length) < b.length) {
      throw new BrokenShard("truncated: a " + what + " cut short");
    }
    skip(padded(size) - size, what);
    return b;
  }

  private static long padded(long size) {
    return (size + BLOCK - 1) / BLOCK * BLOCK;
  }

  private int readFully(byte[] b, int len) throws IOException {
    int n = 0;
    while (n < len) {
      int r = in.read(b, n, len - n);
      if (r < 0) {
        break;
      }
      n += r;
    }
    offset += n;
    return n;
  }

  private void skip(long n, String what) throws IOException, BrokenShard {
    long left = n;
    byte[] scratch = null;
    while (left > 0) {
      long s = in.skip(left);
      if (s <= 0) {
        // skip() may return 0 before the end: confirm with a read.
        if (scratch == null) {
          scratch = new byte[8192];
        }
        int r = in.read(scratch, 0, (int) Math.min(scratch.length, left));
        if (r < 0) {
          offset += n - left;
          throw new BrokenShard("truncated: " + what + " cut short at byte " + offset);
        }
        s = r;
      }
      left -= s;
    }
    offset += n;
  }

  private static boolean allZero(byte[] b) {
    for (byte x : b) {
      if (x != 0) {
        return false;
      }
    }
    return true;
  }

  private static boolean checksumOk(byte[] h) {
    long stored;
    try {
      stored = octal(h, 148, 8);
    } catch (NumberFormatException e) {
      return false;
    }
    long unsigned = 0;
    for (int i = 0; i < BLOCK; i++) {
      unsigned += (i >= 148 && i < 156) ? ' ' : (h[i] & 0xff);
    }
    return stored == unsigned;
  }

  private static long parseSize(byte[] h, long at) throws BrokenShard {
    if ((h[124] & 0x80) != 0) { // GNU base-256
      long v = 0;
      for (int i = 125; i < 136; i++) {
        if (v > (Long.MAX_VALUE >> 8)) {
          throw new BrokenShard("member size out of range at byte " + at);
        }
        v = (v << 8) | (h[i] & 0xff);
      }
      return v;
    }
    try {
      return octal(h, 124, 12);
    } catch (NumberFormatException e) {
      throw new BrokenShard("invalid member size at byte " + at);
    }
  }

  private static long octal(byte[] h, int off, int len) {
    long v = 0;
    int i = off;
    int end = off + len;
    while (i < end && (h[i] == ' ' || h[i] == 0)) {
      i++;
    }
    boolean any = false;
    while (i < end && h[i] >= '0' && h[i] <= '7') {
      if (v > (Long.MAX_VALUE >> 3)) {
        throw new NumberFormatException("octal overflow");
      }
      v = (v << 3) | (h[i] - '0');
      i++;
      any = true;
    }
    while (i < end) {
      if (h[i] != ' ' && h[i] != 0) {
        throw new NumberFormatException("not octal");
      }
      i++;
    }
    if (!any) {
      throw new NumberFormatException("empty");
    }
    return v;
  }

  private static String headerName(byte[] h) {
    String name = cString(h, 0, 100);
    boolean ustar = h[257] == 'u' && h[258] == 's' && h[259] == 't' && h[260] == 'a' && h[261] == 'r';
    if (ustar) {
      String prefix = cString(h, 345, 155);
      if (!prefix.isEmpty()) {
        name = prefix + "/" + name;
      }
    }
    return stripDotSlash(name);
  }

  private static String stripDotSlash(String name) {
    while (name.startsWith("./")) {
      name = name.substring(2);
    }
    return name;
  }

  private static String cString(byte[] b) {
    return stripDotSlash(cString(b, 0, b.length));
  }

  private static String cString(byte[] b, int off, int len) {
    int end = off;
    while (end < off + len && b[end] != 0) {
      end++;
    }
    return new String(b, off, end - off, StandardCharsets.UTF_8);
  }

  /** The value of {@code key} in pax records ({@code "LEN key=value\n"}), or null. */
  private static String paxValue(byte[] data, String key) throws BrokenShard {
    int i = 0;
    String found = null;
    while (i < data.length) {
      int sp = i;
      while (sp < data.length && data[sp] != ' ') {
        sp++;
      }
      int len;
      try {
        len = Integer.parseInt(new String(data, i, sp - i, StandardCharsets.US_ASCII));
      } catch (NumberFormatException e) {
        throw new BrokenShard("malformed pax header record");
      }
      if (len <= sp - i || i + len > data.length) {
        throw new BrokenShard("malformed pax header record");
      }
      String rec = new String(data, sp + 1, i + len - sp - 2, StandardCharsets.UTF_8);
      int eq = rec.indexOf('=');
      if (eq > 0 && rec.substring(0, eq).equals(key)) {
        found = stripDotSlash(rec.substring(eq + 1));
      }
      i += len;
    }
    return found;
  }

  @Override
  public void close() {
    try {
      in.close();
    } catch (IOException ignored) {
      // read-only
    }
  }

  /** For messages: the shard's name and how far it was read. */
  @Override
  public String toString() {
    return "WebDatasetReader[" + shard + " at byte " + offset + "]";
  }
}
