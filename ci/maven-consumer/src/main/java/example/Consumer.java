package example;

import dev.clip4j.model.ClipModel;
import dev.clip4j.model.RandomModels;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;

/** A user's program on the library artifact alone: write a small model, embed an image and a text. */
public final class Consumer {
  public static void main(String[] args) throws Exception {
    Path work = Path.of(args[0]);
    Path model = RandomModels.write(work.resolve("model"), RandomModels.small(), 1);
    BufferedImage img = new BufferedImage(64, 48, BufferedImage.TYPE_INT_RGB);
    img.setRGB(10, 10, 0xff8000);
    Path png = work.resolve("x.png");
    ImageIO.write(img, "png", png.toFile());
    try (ClipModel m = ClipModel.load(model)) {
      float[] i = m.embedImages(List.of(png))[0];
      float[] t = m.embedTexts(List.of("a photo of a cat"))[0];
      double ni = 0;
      double nt = 0;
      for (int k = 0; k < i.length; k++) {
        ni += i[k] * (double) i[k];
        nt += t[k] * (double) t[k];
      }
      if (i.length != m.embedDim() || Math.abs(ni - 1) > 1e-5 || Math.abs(nt - 1) > 1e-5) {
        throw new AssertionError("bad embeddings: dim " + i.length + ", norms " + ni + " " + nt);
      }
      System.out.println("CONSUMER OK dim=" + i.length);
    }
    if (!Files.isDirectory(work)) {
      throw new AssertionError();
    }
  }
}
