package dev.clip4j.preprocess;

/**
 * How the center crop's offset is rounded when the excess {@code (side - size)} is odd:
 * torchvision's {@code CenterCrop} (open_clip) and Hugging Face transformers' {@code center_crop}
 * ({@code CLIPImageProcessor}) differ, so the same image is cropped one pixel apart in some sizes
 * (an excess of 3 modulo 4: 1.5 rounds to 2, floors to 1).
 */
public enum CropRounding {
  /** {@code round((side - size) / 2)} with Python's round-half-to-even (torchvision, open_clip). */
  HALF_EVEN,
  /** {@code (side - size) // 2} (transformers' {@code center_crop}). */
  FLOOR
}
