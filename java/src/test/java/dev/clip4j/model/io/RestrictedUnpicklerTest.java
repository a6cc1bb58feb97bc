package dev.clip4j.model.io;

import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.InvalidModelException;
import java.io.ByteArrayOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;

/**
 * Pickles that used to escape the unpickler's bounds: a self-containing list hashed as a dict
 * key and a 200,000-deep list described in a message (StackOverflowError), and millions of small
 * values or memo entries from a few MiB of pickle (OutOfMemoryError with a 256 MiB heap). Each
 * must now end in a typed error.
 */
class RestrictedUnpicklerTest {
  private static final Path FILE = Path.of("x.bin");

  private static byte[] ops(String s) {
    return s.getBytes(StandardCharsets.ISO_8859_1);
  }

  private static void refused(byte[] pickle, String message) {
    for (boolean script : new boolean[] {false, true}) {
      assertThatThrownBy(() -> {
        if (script) {
          RestrictedUnpickler.loadTorchScript(ByteBuffer.wrap(pickle), FILE);
        } else {
          RestrictedUnpickler.load(ByteBuffer.wrap(pickle), FILE);
        }
      }).isInstanceOf(InvalidModelException.class)
          .hasMessageStartingWith("x.bin: invalid " + (script ? "TorchScript archive" : "torch.save archive"))
          .hasMessageContaining(message);
    }
  }

  @Test
  void aListThatContainsItselfIsNotADictKey() {
    refused(ops("\u0080\u0002}]q\u0000h\u0000aK\u0001s."), "dict key list of 1 is not a string or number");
    refused(ops("\u0080\u0002}(]q\u0000h\u0000aK\u0001u."), "dict key list of 1 is not a string or number");
  }

  @Test
  void deeplyNestedValuesAreDescribedWithoutRecursion() {
    refused(ops("\u0080\u0002" + "]".repeat(200_000) + "a".repeat(199_999) + "Q."), "unsupported persistent id list of 1");
  }

  @Test
  void theValuesAPickleMakesAreBounded() {
    ByteArrayOutputStream p = new ByteArrayOutputStream();
    p.writeBytes(ops("\u0080\u0002]"));
    for (int r = 0; r < 3; r++) {
      p.write('(');
      p.writeBytes(ops("}".repeat(400_000)));
      p.write('e');
    }
    p.write('.');
    refused(p.toByteArray(), "the pickle makes more than " + RestrictedUnpickler.MAX_VALUES + " values");
  }

  @Test
  void theMemoIsBounded() {
    ByteBuffer b = ByteBuffer.allocate(4 + 5 * 260_000).order(ByteOrder.LITTLE_ENDIAN);
    b.put((byte) 0x80).put((byte) 2).put((byte) 'N');
    for (int i = 0; i < 260_000; i++) {
      b.put((byte) 'r').putInt(i);
    }
    b.put((byte) '.');
    refused(java.util.Arrays.copyOf(b.array(), b.position()), "pickle memo larger than " + RestrictedUnpickler.MAX_MEMO);
  }
}
