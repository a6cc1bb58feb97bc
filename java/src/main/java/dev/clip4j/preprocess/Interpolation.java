package dev.clip4j.preprocess;

import dev.clip4j.jni.Clip4jNative;

/** Resampling filter of the resize step, as Pillow's {@code Image.Resampling}. */
public enum Interpolation {
  /** Pillow's nearest mapping (used for palette and bilevel images whatever was asked). */
  NEAREST(Clip4jNative.CLIP4J_RESAMPLE_NEAREST),
  /** Triangle filter, antialiased when downscaling. */
  BILINEAR(Clip4jNative.CLIP4J_RESAMPLE_BILINEAR),
  /** Cubic convolution (a = -0.5), antialiased when downscaling; open_clip's default. */
  BICUBIC(Clip4jNative.CLIP4J_RESAMPLE_BICUBIC);

  final int nativeCode;

  Interpolation(int nativeCode) {
    this.nativeCode = nativeCode;
  }
}
