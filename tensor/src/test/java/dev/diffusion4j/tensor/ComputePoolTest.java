package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.Test;

class ComputePoolTest {
    @Test
    void everyIndexRunsExactlyOnce() {
        try (ComputePool pool = new ComputePool(3)) {
            for (int n : new int[] {0, 1, 2, 7, 100, 1001}) {
                for (int grain : new int[] {1, 3, 64, 5000}) {
                    AtomicIntegerArray hits = new AtomicIntegerArray(n);
                    pool.parallelFor(n, grain, (from, to) -> {
                        assertTrue(to - from <= grain && from < to);
                        for (int i = from; i < to; i++) {
                            hits.incrementAndGet(i);
                        }
                    });
                    for (int i = 0; i < n; i++) {
                        assertEquals(1, hits.get(i), "n=" + n + " grain=" + grain + " index " + i);
                    }
                }
            }
        }
    }

    @Test
    void nestedLoopsRunInlineWithoutDeadlock() {
        try (ComputePool pool = new ComputePool(2)) {
            Set<String> outerThreads = ConcurrentHashMap.newKeySet();
            AtomicIntegerArray hits = new AtomicIntegerArray(16 * 16);
            pool.parallelFor(16, 1, (a, b) -> {
                String outer = Thread.currentThread().getName();
                outerThreads.add(outer);
                pool.parallelFor(16, 1, (c, d) -> {
                    assertEquals(outer, Thread.currentThread().getName(), "nested loop left its thread");
                    for (int i = a; i < b; i++) {
                        for (int j = c; j < d; j++) {
                            hits.incrementAndGet(i * 16 + j);
                        }
                    }
                });
            });
            for (int i = 0; i < 256; i++) {
                assertEquals(1, hits.get(i));
            }
        }
    }

    @Test
    void exceptionsPropagateToTheCaller() {
        try (ComputePool pool = new ComputePool(2)) {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> pool.parallelFor(100, 1, (a, b) -> {
                if (a == 57) {
                    throw new IllegalStateException("chunk 57");
                }
            }));
            assertEquals("chunk 57", e.getMessage());
            // the pool still works afterwards
            AtomicIntegerArray hits = new AtomicIntegerArray(10);
            pool.parallelFor(10, 1, (a, b) -> hits.incrementAndGet(a));
            assertEquals(1, hits.get(9));
        }
    }

    @Test
    void rejectsBadArguments() {
        assertThrows(IllegalArgumentException.class, () -> new ComputePool(0));
        ComputePool shared = ComputePool.shared();
        assertSame(shared, ComputePool.shared());
        assertThrows(IllegalArgumentException.class, () -> shared.parallelFor(-1, 1, (a, b) -> { }));
        assertThrows(IllegalArgumentException.class, () -> shared.parallelFor(1, 0, (a, b) -> { }));
    }
}
