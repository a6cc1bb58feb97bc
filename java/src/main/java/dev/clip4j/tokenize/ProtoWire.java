package dev.clip4j.tokenize;

import dev.clip4j.InvalidModelException;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.util.Arrays;

/**
 * A bounded reader of the protobuf wire format over one byte array slice, enough for
 * SentencePiece's {@code ModelProto} (varints, 32/64-bit fixed, length-delimited fields). Every
 * length is checked against the bytes left before anything is allocated, varints longer than ten
 * bytes are refused, and the deprecated group wire types are refused, so a malformed file ends in an
 * {@link InvalidModelException}, never an exception of another type or an allocation larger than
 * the file.
 *
 * <p>Why not protobuf-java's {@code CodedInputStream}: it is the only thing clip4j would need from
 * a 1.9 MB dependency, and a reader of the four wire types we meet is about a hundred lines whose
 * bounds we can see; the {@code .proto} schema itself (field numbers, defaults) is spelled out by
 * the caller either way.
 */
final class ProtoWire {
  static final int VARINT = 0;
  static final int FIXED64 = 1;
  static final int LEN = 2;
  static final int FIXED32 = 5;

  private final byte[] buf;
  private final int end;
  private final String source;
  private int pos;
  private int lastTag;

  ProtoWire(byte[] buf, int from, int to, String source) {
    if (from < 0 || to > buf.length || from > to) {
      throw new IllegalArgumentException("slice " + from + ".." + to + " of " + buf.length);
    }
    this.buf = buf;
    this.pos = from;
    this.end = to;
    this.source = source;
  }

  boolean hasMore() {
    return pos < end;
  }

  /** The next field's tag; its number is {@code tag >>> 3}, its wire type {@code tag & 7}. */
  int readTag() {
    long tag = readVarint();
    if (tag >>> 32 != 0 || (tag >>> 3) == 0) {
      throw bad("field tag " + Long.toUnsignedString(tag) + " at byte " + pos);
    }
    int wire = (int) tag & 7;
    if (wire != VARINT && wire != FIXED64 && wire != LEN && wire != FIXED32) {
      throw bad("wire type " + wire + " (field " + (tag >>> 3) + ") at byte " + pos
          + (wire == 3 || wire == 4 ? ": protobuf groups are not part of SentencePiece's model" : ""));
    }
    lastTag = (int) tag;
    return lastTag;
  }

  long readVarint() {
    long v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
      if (pos >= end) {
        throw bad("truncated varint at byte " + pos);
      }
      byte b = buf[pos++];
      v |= (long) (b & 0x7f) << shift;
      if (b >= 0) {
        return v;
      }
    }
    throw bad("varint longer than 10 bytes at byte " + pos);
  }

  /** An {@code int32} field: protobuf writes negative values as 64-bit two's complement varints. */
  int readInt32(String what) {
    long v = readVarint();
    if (v != (int) v) {
      throw bad(what + " " + v + " is not a 32-bit integer");
    }
    return (int) v;
  }

  boolean readBool() {
    return readVarint() != 0;
  }

  float readFloat() {
    need(4, "float");
    int bits = (buf[pos] & 0xff) | (buf[pos + 1] & 0xff) << 8 | (buf[pos + 2] & 0xff) << 16 | (buf[pos + 3] & 0xff) << 24;
    pos += 4;
    return Float.intBitsToFloat(bits);
  }

  /** Bounds of a length-delimited field's payload {from, to}; the reader moves past it. */
  int[] readLengthDelimited(int maxBytes, String what) {
    long len = readVarint();
    if (len < 0 || len > end - pos) {
      throw bad(what + ": length " + Long.toUnsignedString(len) + " runs past the end (" + (end - pos)
          + " bytes left at byte " + pos + ")");
    }
    if (len > maxBytes) {
      throw bad(what + ": " + len + " bytes, more than " + maxBytes);
    }
    int from = pos;
    pos += (int) len;
    return new int[] {from, pos};
  }

  byte[] readBytes(int maxBytes, String what) {
    int[] r = readLengthDelimited(maxBytes, what);
    return Arrays.copyOfRange(buf, r[0], r[1]);
  }

  String readString(int maxBytes, String what) {
    int[] r = readLengthDelimited(maxBytes, what);
    try {
      return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
          .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(buf, r[0], r[1] - r[0])).toString();
    } catch (CharacterCodingException e) {
      throw bad(what + " is not valid UTF-8 (bytes " + r[0] + ".." + r[1] + ")");
    }
  }

  ProtoWire sub(int[] range) {
    return new ProtoWire(buf, range[0], range[1], source);
  }

  /** Skips the payload of the field whose tag was read last. */
  void skip() {
    switch (lastTag & 7) {
      case VARINT -> readVarint();
      case FIXED64 -> advance(8, "fixed64");
      case LEN -> readLengthDelimited(Integer.MAX_VALUE, "field " + (lastTag >>> 3));
      case FIXED32 -> advance(4, "fixed32");
      default -> throw new IllegalStateException("wire type " + (lastTag & 7));
    }
  }

  /** Refuses a field whose wire type is not the one its schema declares. */
  void expect(int wire, String what) {
    if ((lastTag & 7) != wire) {
      throw bad(what + ": wire type " + (lastTag & 7) + ", expected " + wire);
    }
  }

  private void need(int n, String what) {
    if (end - pos < n) {
      throw bad("truncated " + what + " at byte " + pos);
    }
  }

  private void advance(int n, String what) {
    need(n, what);
    pos += n;
  }

  private InvalidModelException bad(String why) {
    return new InvalidModelException(source + ": not a valid SentencePiece model (protobuf): " + why);
  }
}
