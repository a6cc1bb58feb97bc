package dev.clip4j.bench;

import dev.clip4j.tokenize.ClipTokenizer;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.Random;

/**
 * Texts per second of {@link ClipTokenizer#encode} on one thread over a caption mix like web
 * alt-text: mostly plain English (some with HTML entities), accented Latin, other scripts, emoji
 * and typographic quotes, and a share of mojibake. Prints one line: {@code label texts/s (wall:
 * texts/s)}, the first per second of the thread's CPU time.
 * benchmarks/tokenizer.sh runs it on the tokenizer of two git revisions, alternately, in one run.
 *
 * <pre>java -cp ... dev.clip4j.bench.TokenizerBench BPE_GZ LABEL [SECONDS]</pre>
 */
public final class TokenizerBench {
  private TokenizerBench() {}

  static final String[] PLAIN = {
    "a photo of a cat sitting on a wooden table", "Red sports car parked on the street at night",
    "Two children playing football in the park", "Aerial view of the city skyline at sunset",
    "Vintage poster for a 1950s science fiction movie", "Close-up of fresh strawberries in a bowl",
    "Black and white portrait of an old fisherman", "Modern kitchen with marble countertops",
    "Watercolor painting of mountains and a lake", "Stock photo: businessman shaking hands",
    "Men's leather wallet, brown, RFID blocking", "Size 10 running shoes - free shipping!",
    "Tom & Jerry cartoon still", "Salt &amp; pepper shakers on a white background",
    "Q3 2024 sales report (PDF)", "The Eiffel Tower illuminated at night, Paris, France",
  };

  static final String[] ACCENTED = {
    "Café au lait et croissant à Paris", "Müller's Bäckerei in München", "Niño jugando en la playa",
    "São Paulo à noite", "Crème brûlée with fresh raspberries", "Łódź old town square",
  };

  static final String[] OTHER_SCRIPTS = {
    "東京の夜景", "北京故宫博物院", "서울 야경 사진", "Москва, Красная площадь зимой", "Αθήνα, Ακρόπολη",
    "भारत का ताज महल",
  };

  static final String[] SYMBOLS = {
    "“Best day ever” 🎉🎂", "It’s a beautiful morning… ☀️", "I ❤ NY t-shirt — size M",
    "Coffee ☕ + books 📚 = happiness", "50% off — today only!", "ﬁne art print, ＦＵＬＬ HD",
  };

  static final String[] MOJIBAKE = {
    "CafÃ© au lait et croissant", "Itâ€™s a beautiful morning", "â€œBest day everâ€\u009D",
    "MÃ¼ller's BÃ¤ckerei", "SÃ£o Paulo Ã  noite", "Ð\u009cÐ¾Ñ\u0081ÐºÐ²Ð°",
  };

  /** A reproducible mix: 70% plain, 10% accented, 7% other scripts, 8% symbols, 5% mojibake. */
  static List<String> captions(int count, long seed) {
    Random r = new Random(seed);
    List<String> out = new ArrayList<>(count);
    for (int i = 0; i < count; i++) {
      int p = r.nextInt(100);
      String[] pool = p < 70 ? PLAIN : p < 80 ? ACCENTED : p < 87 ? OTHER_SCRIPTS : p < 95 ? SYMBOLS : MOJIBAKE;
      String s = pool[r.nextInt(pool.length)];
      // Vary the texts a little so not every caption is one of a few dozen strings.
      out.add(r.nextBoolean() ? s : s + " #" + r.nextInt(1000));
    }
    return out;
  }

  public static void main(String[] args) {
    ClipTokenizer tok = ClipTokenizer.fromBpeVocab(Path.of(args[0]));
    String label = args[1];
    double seconds = args.length > 2 ? Double.parseDouble(args[2]) : 5;
    List<String> texts = captions(4096, 42);
    long sink = 0;
    long warmEnd = System.nanoTime() + (long) (seconds / 2 * 1e9);
    for (int i = 0; System.nanoTime() < warmEnd; i++) {
      sink += tok.encode(texts.get(i & 4095)).length;
    }
    // Rate per second of this thread's CPU time, which other processes on a shared machine
    // disturb far less than wall time (printed too).
    ThreadMXBean threads = ManagementFactory.getThreadMXBean();
    long n = 0;
    long t0 = System.nanoTime();
    long cpu0 = threads.getCurrentThreadCpuTime();
    long end = t0 + (long) (seconds * 1e9);
    long now;
    do {
      for (int k = 0; k < 256; k++, n++) {
        sink += tok.encode(texts.get((int) (n & 4095))).length;
      }
      now = System.nanoTime();
    } while (now < end);
    double cpuSeconds = (threads.getCurrentThreadCpuTime() - cpu0) / 1e9;
    System.out.printf(Locale.ROOT, "%s %.0f (wall: %.0f)%n", label, n / cpuSeconds, n / ((now - t0) / 1e9));
    if (sink == 42) {
      System.out.println(); // keeps the results alive
    }
  }
}
