package dev.clip4j.preprocess;

/**
 * When a non-RGB image ({@code L}, {@code LA}, {@code RGBA}, {@code P}, {@code 1}, {@code I}) is
 * converted to RGB: open_clip resizes it in its own mode (Pillow resizes {@code P} and {@code 1}
 * with NEAREST and {@code LA}/{@code RGBA} premultiplied) and converts after the crop; Hugging
 * Face transformers' {@code CLIPImageProcessor} calls {@code convert("RGB")} first (palette looked
 * up, alpha dropped, {@code I} clipped to [0, 255]) and resizes the RGB image with the configured
 * filter. RGB images are preprocessed the same either way.
 */
public enum RgbConversion {
  /** Resize in the image's own mode, then convert (open_clip's transform). */
  AFTER_RESIZE,
  /** Convert to RGB first, then resize (transformers' {@code CLIPImageProcessor}). */
  BEFORE_RESIZE
}
