package dev.clip4j.batch;

import static org.assertj.core.api.Assertions.assertThat;
import static org.assertj.core.api.Assertions.assertThatThrownBy;

import dev.clip4j.DeviceException;
import dev.clip4j.ErrorCode;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.bytedeco.pytorch.Tensor;
import org.bytedeco.pytorch.global.torch.ScalarType;
import org.junit.jupiter.api.Test;

class TensorPoolTest {

  @Test
  void returnedBuffersAreReusedWithoutNewAllocations() {
    try (TensorPool pool = new TensorPool(64L << 20)) {
      long address;
      try (TensorPool.Lease l = pool.acquire(ScalarType.Float, 8, 3, 224, 224)) {
        Tensor t = l.tensor();
        assertThat(t.size(0)).isEqualTo(8);
        assertThat(t.is_contiguous()).isTrue();
        assertThat(l.bytes()).isEqualTo(8L * 3 * 224 * 224 * 4);
        address = t.data_ptr().address();
        assertThat(pool.bytesInUse()).isEqualTo(l.bytes());
      }
      assertThat(pool.bytesInUse()).isZero();
      for (int i = 0; i < 1000; i++) {
        try (TensorPool.Lease l = pool.acquire(ScalarType.Float, 8, 3, 224, 224)) {
          assertThat(l.tensor().data_ptr().address()).isEqualTo(address);
        }
      }
      assertThat(pool.allocations()).isEqualTo(1);
      assertThat(pool.reuses()).isEqualTo(1000);
      assertThat(pool.bytesHeld()).isEqualTo(8L * 3 * 224 * 224 * 4);
    }
  }

  @Test
  void distinctShapesAndDtypesGetDistinctBuffers() {
    try (TensorPool pool = new TensorPool(1 << 20)) {
      try (TensorPool.Lease a = pool.acquire(ScalarType.Long, 4, 77);
          TensorPool.Lease b = pool.acquire(ScalarType.Float, 4, 77);
          TensorPool.Lease c = pool.acquire(ScalarType.Long, 4, 77)) {
        assertThat(a.tensor().scalar_type().intern()).isEqualTo(ScalarType.Long);
        assertThat(b.tensor().scalar_type().intern()).isEqualTo(ScalarType.Float);
        assertThat(a.tensor().data_ptr().address()).isNotEqualTo(c.tensor().data_ptr().address());
        assertThat(pool.bytesInUse()).isEqualTo(4 * 77 * 8 * 2 + 4 * 77 * 4);
        assertThat(pool.highWater()).isEqualTo(pool.bytesHeld());
      }
    }
  }

  @Test
  void capIsEnforcedAfterEvictingIdleBuffers() {
    try (TensorPool pool = new TensorPool(4096)) {
      pool.acquire(ScalarType.Float, 512).close(); // 2048 idle
      try (TensorPool.Lease big = pool.acquire(ScalarType.Float, 768)) { // 3072: evicts the idle one
        assertThat(pool.bytesHeld()).isEqualTo(3072);
        assertThatThrownBy(() -> pool.acquire(ScalarType.Float, 512))
            .isInstanceOf(DeviceException.class)
            .hasMessageContaining("requested 2048")
            .hasMessageContaining("held 3072")
            .hasMessageContaining("cap 4096")
            .satisfies(e -> assertThat(((DeviceException) e).code()).isEqualTo(ErrorCode.OUT_OF_MEMORY));
      }
    }
  }

  @Test
  void leaseCloseIsIdempotentAndClosedPoolRefuses() {
    TensorPool pool = new TensorPool(1 << 16);
    TensorPool.Lease l = pool.acquire(ScalarType.Float, 16);
    l.close();
    l.close();
    assertThat(pool.bytesInUse()).isZero();
    assertThatThrownBy(l::tensor).isInstanceOf(IllegalStateException.class);
    TensorPool.Lease outstanding = pool.acquire(ScalarType.Float, 16);
    pool.close();
    assertThat(pool.bytesHeld()).isEqualTo(64); // the leased one is still held
    outstanding.close();
    assertThat(pool.bytesHeld()).isZero();
    assertThatThrownBy(() -> pool.acquire(ScalarType.Float, 16)).isInstanceOf(IllegalStateException.class);
  }

  @Test
  void concurrentLeasesNeverShareABuffer() throws Exception {
    try (TensorPool pool = new TensorPool(1 << 20)) {
      ExecutorService ex = Executors.newFixedThreadPool(4);
      try {
        List<Future<Boolean>> fs = new ArrayList<>();
        for (int i = 0; i < 200; i++) {
          final float v = i;
          fs.add(ex.submit(() -> {
            try (TensorPool.Lease l = pool.acquire(ScalarType.Float, 256)) {
              l.tensor().fill_(new org.bytedeco.pytorch.Scalar(v));
              Thread.yield();
              return l.tensor().min().item_float() == v && l.tensor().max().item_float() == v;
            }
          }));
        }
        for (Future<Boolean> f : fs) {
          assertThat(f.get()).isTrue();
        }
      } finally {
        ex.shutdownNow();
      }
      assertThat(pool.bytesInUse()).isZero();
      assertThat(pool.allocations()).isLessThanOrEqualTo(4);
    }
  }

  @Test
  void theMemoryViewIsTheTensorsOwnMemoryMadeOncePerBuffer() {
    try (TensorPool pool = new TensorPool(1 << 20)) {
      long address;
      try (TensorPool.Lease l = pool.acquire(ScalarType.Long, 4, 16)) {
        java.nio.ByteBuffer b = l.buffer();
        assertThat(b.isDirect()).isTrue();
        assertThat(b.order()).isEqualTo(java.nio.ByteOrder.nativeOrder());
        assertThat(b.capacity()).isEqualTo(4 * 16 * 8);
        address = l.tensor().data_ptr().address();
        assertThat(new org.bytedeco.javacpp.BytePointer(b).address()).isEqualTo(address);
        b.asLongBuffer().put(2 * 16 + 5, 424242L); // row 2, column 5
        try (Tensor row = l.tensor().select(0, 2); Tensor x = row.select(0, 5)) {
          assertThat(x.item_long()).isEqualTo(424242L);
        }
        assertThat(l.shape()).containsExactly(4, 16);
      }
      // Reuse: the same memory, and no JavaCPP object is made per lease.
      long objects = org.bytedeco.javacpp.Pointer.totalCount();
      for (int i = 0; i < 1000; i++) {
        try (TensorPool.Lease l = pool.acquire(ScalarType.Long, 4, 16)) {
          assertThat(l.buffer().getLong((2 * 16 + 5) * 8)).isEqualTo(424242L);
        }
      }
      assertThat(org.bytedeco.javacpp.Pointer.totalCount()).isLessThanOrEqualTo(objects);
      assertThat(pool.allocations()).isEqualTo(1);
      assertThat(pool.reuses()).isEqualTo(1000);
      TensorPool.Lease l = pool.acquire(ScalarType.Long, 4, 16);
      l.close();
      assertThatThrownBy(l::buffer).isInstanceOf(IllegalStateException.class);
    }
  }

  @Test
  void aBufferMadeAfterAnEvictionHasAViewOfItsOwnSize() {
    TensorPool pool = new TensorPool(4096);
    pool.acquire(ScalarType.Float, 512).close(); // 2048 idle
    try (TensorPool.Lease big = pool.acquire(ScalarType.Float, 768)) { // evicts the idle one
      assertThat(big.buffer().capacity()).isEqualTo(3072);
      assertThat(pool.allocations()).isEqualTo(2);
    }
    pool.close();
    assertThat(pool.bytesHeld()).isZero();
  }
}
