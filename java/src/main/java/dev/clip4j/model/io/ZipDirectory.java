package dev.clip4j.model.io;

import dev.clip4j.InvalidModelException;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A minimal, defensive reader of a zip's central directory, as {@code torch.save} writes it
 * (stored members, optionally zip64). Every offset and size is checked against the file; member
 * names must be relative paths without {@code ..}; compressed members are refused (torch.save
 * never compresses, and refusing them rules out zip bombs); overlapping members are refused.
 */
final class ZipDirectory {
  static final int MAX_ENTRIES = 1_000_000;

  /** A stored member: where its bytes are in the file. */
  record Member(String name, long dataOffset, long size) {}

  private ZipDirectory() {}

  static Map<String, Member> read(FileChannel ch, Path file) throws IOException {
    return read(ch, file, name -> false, "torch.save archive");
  }

  /**
   * Like {@link #read(FileChannel, Path)}, for archives that also hold compressed members clip4j
   * never reads (a TorchScript archive's {@code code/}): a compressed member whose name {@code
   * skipCompressed} accepts is checked like any other (name, local header, bounds, no overlap) and
   * then left out of the result; its bytes are never inflated. {@code kind} names the format in
   * messages ("TorchScript archive").
   */
  static Map<String, Member> read(FileChannel ch, Path file, java.util.function.Predicate<String> skipCompressed,
      String kind) throws IOException {
    long size = ch.size();
    if (size < 22) {
      throw bad(file, kind, "too short to be a zip archive");
    }
    int tail = (int) Math.min(size, 22 + 65535);
    ByteBuffer end = ByteBuffer.allocate(tail).order(ByteOrder.LITTLE_ENDIAN);
    SafetensorsReader.readFully(ch, end, size - tail, file);
    int eocd = -1;
    for (int i = tail - 22; i >= 0; i--) {
      if (end.getInt(i) == 0x06054b50) {
        eocd = i;
        break;
      }
    }
    if (eocd < 0) {
      throw bad(file, kind, "no end-of-central-directory record (truncated or not a zip)");
    }
    long count = end.getShort(eocd + 10) & 0xffff;
    long cdSize = end.getInt(eocd + 12) & 0xffffffffL;
    long cdOffset = end.getInt(eocd + 16) & 0xffffffffL;
    long eocdPos = size - tail + eocd;
    if (count == 0xffff || cdSize == 0xffffffffL || cdOffset == 0xffffffffL) {
      // zip64: the locator sits right before the EOCD.
      if (eocdPos < 20) {
        throw bad(file, kind, "zip64 locator missing");
      }
      ByteBuffer loc = ByteBuffer.allocate(20).order(ByteOrder.LITTLE_ENDIAN);
      SafetensorsReader.readFully(ch, loc, eocdPos - 20, file);
      if (loc.getInt(0) != 0x07064b50) {
        throw bad(file, kind, "zip64 locator missing");
      }
      long z64 = loc.getLong(8);
      if (z64 < 0 || z64 > size - 56) {
        throw bad(file, kind, "zip64 end record offset out of range");
      }
      ByteBuffer rec = ByteBuffer.allocate(56).order(ByteOrder.LITTLE_ENDIAN);
      SafetensorsReader.readFully(ch, rec, z64, file);
      if (rec.getInt(0) != 0x06064b50) {
        throw bad(file, kind, "bad zip64 end record");
      }
      count = rec.getLong(32);
      cdSize = rec.getLong(40);
      cdOffset = rec.getLong(48);
    }
    if (count < 0 || count > MAX_ENTRIES || cdSize < 0 || cdOffset < 0 || cdSize > 256L << 20
        || cdOffset > eocdPos - cdSize) { // (no overflow: both are checked non-negative first)
      throw bad(file, kind, "central directory out of range");
    }
    ByteBuffer cd = ByteBuffer.allocate((int) cdSize).order(ByteOrder.LITTLE_ENDIAN);
    SafetensorsReader.readFully(ch, cd, cdOffset, file);
    Map<String, Member> members = new LinkedHashMap<>();
    Map<String, Member> skippedMembers = new LinkedHashMap<>();
    int p = 0;
    for (long i = 0; i < count; i++) {
      if (p + 46 > cdSize || cd.getInt(p) != 0x02014b50) {
        throw bad(file, kind, "corrupt central directory entry " + i);
      }
      int method = cd.getShort(p + 10) & 0xffff;
      long csize = cd.getInt(p + 20) & 0xffffffffL;
      long usize = cd.getInt(p + 24) & 0xffffffffL;
      int nameLen = cd.getShort(p + 28) & 0xffff;
      int extraLen = cd.getShort(p + 30) & 0xffff;
      int commentLen = cd.getShort(p + 32) & 0xffff;
      long localOffset = cd.getInt(p + 42) & 0xffffffffL;
      if (p + 46L + nameLen + extraLen + commentLen > cdSize) {
        throw bad(file, kind, "corrupt central directory entry " + i);
      }
      byte[] nameBytes = new byte[nameLen];
      cd.get(p + 46, nameBytes);
      String name = new String(nameBytes, StandardCharsets.UTF_8);
      // zip64 extra field: sizes/offset that did not fit in 32 bits.
      int x = p + 46 + nameLen;
      int xEnd = x + extraLen;
      while (x + 4 <= xEnd) {
        int id = cd.getShort(x) & 0xffff;
        int len = cd.getShort(x + 2) & 0xffff;
        if (x + 4 + len > xEnd) {
          break;
        }
        if (id == 0x0001) {
          int q = x + 4;
          if (usize == 0xffffffffL && q + 8 <= x + 4 + len) {
            usize = cd.getLong(q);
            q += 8;
          }
          if (csize == 0xffffffffL && q + 8 <= x + 4 + len) {
            csize = cd.getLong(q);
            q += 8;
          }
          if (localOffset == 0xffffffffL && q + 8 <= x + 4 + len) {
            localOffset = cd.getLong(q);
          }
        }
        x += 4 + len;
      }
      p += 46 + nameLen + extraLen + commentLen;
      if (name.isEmpty() || name.startsWith("/") || name.contains("\\") || name.contains("\0")) {
        throw bad(file, kind, "member name '" + name + "' is not a plain relative path");
      }
      for (String seg : name.split("/")) {
        if (seg.equals("..")) {
          throw bad(file, kind, "member name '" + name + "' escapes the archive");
        }
      }
      if (name.endsWith("/")) {
        continue; // directory entry
      }
      boolean skipped = method != 0 && skipCompressed.test(name);
      if (method != 0 && !skipped) {
        throw bad(file, kind, "member '" + name + "' is compressed (method " + method
            + "); " + kind + "s store their data uncompressed");
      }
      if ((!skipped && csize != usize) || csize < 0 || usize < 0 || localOffset < 0 || localOffset > cdOffset - 30) {
        throw bad(file, kind, "member '" + name + "' has inconsistent sizes or offset");
      }
      ByteBuffer lh = ByteBuffer.allocate(30).order(ByteOrder.LITTLE_ENDIAN);
      SafetensorsReader.readFully(ch, lh, localOffset, file);
      if (lh.getInt(0) != 0x04034b50) {
        throw bad(file, kind, "member '" + name + "' has no local header");
      }
      long dataOffset = localOffset + 30 + (lh.getShort(26) & 0xffff) + (lh.getShort(28) & 0xffff);
      if (csize > cdOffset - dataOffset) { // dataOffset <= cdOffset + 2 * 65535; no overflow
        throw bad(file, kind, "member '" + name + "' runs past the end of the data");
      }
      Member m = new Member(name, dataOffset, csize);
      if (members.containsKey(name) || skippedMembers.containsKey(name)) {
        throw bad(file, kind, "member '" + name + "' appears twice");
      }
      (skipped ? skippedMembers : members).put(name, m);
    }
    // Members may not overlap one another (the skipped ones included).
    List<Member> all = new ArrayList<>(members.values());
    all.addAll(skippedMembers.values());
    Member[] sorted = all.toArray(new Member[0]);
    java.util.Arrays.sort(sorted, java.util.Comparator.comparingLong(Member::dataOffset));
    for (int i = 1; i < sorted.length; i++) {
      if (sorted[i - 1].dataOffset + sorted[i - 1].size > sorted[i].dataOffset) {
        throw bad(file, kind, "members '" + sorted[i - 1].name + "' and '" + sorted[i].name + "' overlap");
      }
    }
    return members;
  }

  static InvalidModelException bad(Path file, String what) {
    return bad(file, "torch.save archive", what);
  }

  static InvalidModelException bad(Path file, String kind, String what) {
    return new InvalidModelException(file + ": invalid " + kind + ": " + what);
  }
}
