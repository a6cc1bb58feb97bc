package dev.clip4j.testing;

import static org.assertj.core.api.Assertions.assertThat;

import org.junit.jupiter.api.Test;

class HalfTest {
  private static int h(float f) {
    return Half.fromFloat(f) & 0xffff;
  }

  @Test
  void roundsToNearestEvenLikeTorchHalf() {
    assertThat(h(0f)).isEqualTo(0x0000);
    assertThat(h(-0f)).isEqualTo(0x8000);
    assertThat(h(1f)).isEqualTo(0x3c00);
    assertThat(h(-2f)).isEqualTo(0xc000);
    assertThat(h(65504f)).isEqualTo(0x7bff); // largest finite
    assertThat(h(65519.99f)).isEqualTo(0x7bff);
    assertThat(h(65520f)).isEqualTo(0x7c00); // the halfway point to 2^16 rounds to infinity
    assertThat(h(1f / 3)).isEqualTo(0x3555);
    // Ties: 1 + 2^-11 is halfway between 0x3c00 and 0x3c01 -> even 0x3c00; 1 + 3 * 2^-11 -> 0x3c02.
    assertThat(h(1f + 0x1p-11f)).isEqualTo(0x3c00);
    assertThat(h(1f + 3 * 0x1p-11f)).isEqualTo(0x3c02);
    assertThat(h(1f + 0x1p-11f + 0x1p-20f)).isEqualTo(0x3c01); // just above the tie
    // Subnormals: 2^-24 is the smallest; 2^-25 is a tie with 0 -> 0; a bit more -> 2^-24.
    assertThat(h(0x1p-24f)).isEqualTo(0x0001);
    assertThat(h(0x1p-25f)).isEqualTo(0x0000);
    assertThat(h(0x1.000002p-25f)).isEqualTo(0x0001);
    assertThat(h(3 * 0x1p-25f)).isEqualTo(0x0002); // 1.5 * 2^-24: tie -> even 2
    assertThat(h(0x1p-14f)).isEqualTo(0x0400); // smallest normal
    assertThat(h(0x1.ff8p-15f)).isEqualTo(0x03ff); // largest subnormal, 2^-14 - 2^-24
    assertThat(h(0x1.ffcp-15f)).isEqualTo(0x0400); // tie between it and 2^-14 -> even, out of the subnormals
    assertThat(h(Float.POSITIVE_INFINITY)).isEqualTo(0x7c00);
    assertThat(h(Float.NEGATIVE_INFINITY)).isEqualTo(0xfc00);
    assertThat(h(Float.NaN) & 0x7c00).isEqualTo(0x7c00);
    assertThat(h(Float.NaN) & 0x3ff).isNotZero();
  }
}
