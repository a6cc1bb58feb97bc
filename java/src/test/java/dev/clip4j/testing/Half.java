package dev.clip4j.testing;

/**
 * float to IEEE 754 binary16 with round-to-nearest-even, as numpy's and torch's {@code .half()}
 * round (JDK 17 has no {@code Float.floatToFloat16}). Checked by HalfTest against hand-computed
 * values: ties, subnormals, overflow, NaN.
 */
public final class Half {
  private Half() {}

  /** The binary16 bits nearest to {@code f} (ties to even); overflow gives infinity. */
  public static short fromFloat(float f) {
    int bits = Float.floatToRawIntBits(f);
    int sign = (bits >>> 16) & 0x8000;
    int exp = (bits >>> 23) & 0xff;
    int mant = bits & 0x7fffff;
    if (exp == 0xff) { // inf or NaN (keep NaN quiet and non-zero)
      return (short) (sign | 0x7c00 | (mant != 0 ? 0x200 | (mant >>> 13) : 0));
    }
    int e = exp - 127 + 15; // binary16 biased exponent
    if (e >= 0x1f) {
      return (short) (sign | 0x7c00);
    }
    if (e <= 0) { // subnormal in binary16 (or zero)
      if (e < -10) {
        return (short) sign; // below half the smallest subnormal: rounds to zero
      }
      int m = mant | 0x800000; // implicit bit
      int shift = 14 - e; // bits to drop: 13 + (1 - e)
      int half = m >>> shift;
      int rem = m & ((1 << shift) - 1);
      int halfway = 1 << (shift - 1);
      if (rem > halfway || (rem == halfway && (half & 1) != 0)) {
        half++;
      }
      return (short) (sign | half);
    }
    int half = (e << 10) | (mant >>> 13);
    int rem = mant & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (half & 1) != 0)) {
      half++; // may carry into the exponent, up to infinity: correct
    }
    return (short) (sign | half);
  }
}
