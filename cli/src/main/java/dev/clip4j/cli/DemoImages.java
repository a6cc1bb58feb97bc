package dev.clip4j.cli;

import dev.clip4j.Clip4jException;
import dev.clip4j.ErrorCode;
import java.awt.BasicStroke;
import java.awt.Color;
import java.awt.GradientPaint;
import java.awt.Graphics2D;
import java.awt.Polygon;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Random;
import javax.imageio.ImageIO;

/**
 * The demo's own images: simple coloured shapes on gradient backgrounds, drawn with Java2D in the
 * modes and formats clip4j decodes (RGB and grayscale PNG, RGBA PNG, JPEG, odd sizes), plus one
 * truncated JPEG so the demo shows how a bad file is reported. Deterministic for a seed.
 */
final class DemoImages {
  static final List<String> COLORS = List.of("red", "green", "blue", "yellow");
  static final List<String> SHAPES = List.of("circle", "square", "triangle", "stripes");
  static final String CORRUPT = "broken-truncated.jpg";
  private static final Color[] RGB = {new Color(220, 30, 30), new Color(30, 170, 60), new Color(40, 70, 220), new Color(240, 210, 30)};
  private static final int[][] SIZES = {{320, 240}, {240, 320}, {224, 224}, {500, 180}, {97, 131}, {640, 480}};

  private DemoImages() {}

  /** Writes one image per colour x shape (16) plus the corrupt file into {@code dir}; returns the files. */
  static List<Path> write(Path dir, long seed) {
    Random rnd = new Random(seed);
    List<Path> files = new ArrayList<>();
    try {
      Files.createDirectories(dir.resolve("shapes"));
      int k = 0;
      for (int c = 0; c < COLORS.size(); c++) {
        for (String shape : SHAPES) {
          int[] size = SIZES[k % SIZES.length];
          String kind = k % 4 == 3 ? "jpg" : "png";
          int type = k % 7 == 5 ? BufferedImage.TYPE_BYTE_GRAY : k % 5 == 4 && kind.equals("png") ? BufferedImage.TYPE_INT_ARGB : BufferedImage.TYPE_INT_RGB;
          BufferedImage img = draw(size[0], size[1], type, RGB[c], shape, rnd);
          Path f = dir.resolve("shapes").resolve(COLORS.get(c) + "-" + shape + "." + kind);
          if (!ImageIO.write(img, kind, f.toFile())) {
            throw new IOException("no ImageIO writer for " + kind);
          }
          files.add(f);
          k++;
        }
      }
      // A JPEG cut in the middle of its entropy-coded data: decoding it must fail for this file only.
      byte[] good = Files.readAllBytes(files.get(3));
      Path bad = dir.resolve(CORRUPT);
      Files.write(bad, Arrays.copyOf(good, good.length / 3));
      files.add(bad);
      return files;
    } catch (IOException e) {
      throw new Clip4jException(ErrorCode.IO, "cannot write demo images into " + dir + ": " + e.getMessage(), e);
    }
  }

  private static BufferedImage draw(int w, int h, int type, Color color, String shape, Random rnd) {
    BufferedImage img = new BufferedImage(w, h, type);
    Graphics2D g = img.createGraphics();
    try {
      g.setRenderingHint(RenderingHints.KEY_ANTIALIASING, RenderingHints.VALUE_ANTIALIAS_ON);
      Color a = new Color(200 + rnd.nextInt(56), 200 + rnd.nextInt(56), 200 + rnd.nextInt(56), type == BufferedImage.TYPE_INT_ARGB ? 160 : 255);
      Color b = new Color(rnd.nextInt(80), rnd.nextInt(80), rnd.nextInt(80), 255);
      g.setPaint(new GradientPaint(0, 0, a, w, h, b));
      g.fillRect(0, 0, w, h);
      g.setColor(color);
      int s = Math.min(w, h) * 3 / 5;
      int x = (w - s) / 2 + rnd.nextInt(Math.max(1, (w - s) / 4 + 1));
      int y = (h - s) / 2;
      switch (shape) {
        case "circle" -> g.fillOval(x, y, s, s);
        case "square" -> g.fillRect(x, y, s, s);
        case "triangle" -> g.fillPolygon(new Polygon(new int[] {x, x + s / 2, x + s}, new int[] {y + s, y, y + s}, 3));
        default -> {
          g.setStroke(new BasicStroke(Math.max(2, h / 20f)));
          for (int i = -h; i < w; i += Math.max(6, h / 8)) {
            g.drawLine(i, h, i + h, 0);
          }
        }
      }
    } finally {
      g.dispose();
    }
    return img;
  }
}
