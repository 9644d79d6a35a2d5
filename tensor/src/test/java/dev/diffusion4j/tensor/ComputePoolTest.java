package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.atomic.AtomicReference;
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

    /**
     * Both chunks of a loop run at the same time (each waits for the other), whether the worker is still polling after
     * the previous loop or has given up and parked.
     */
    @Test
    void workerTakesLoopsWhetherPollingOrParked() throws InterruptedException {
        try (ComputePool pool = new ComputePool(2)) {
            for (long pauseNanos : new long[] {0, 20 * ComputePool.SPIN_NANOS, 0, 20 * ComputePool.SPIN_NANOS}) {
                TimeUnit.NANOSECONDS.sleep(pauseNanos);
                CountDownLatch both = new CountDownLatch(2);
                Set<Thread> ran = ConcurrentHashMap.newKeySet();
                pool.parallelFor(2, 1, (a, b) -> {
                    ran.add(Thread.currentThread());
                    both.countDown();
                    try {
                        assertTrue(both.await(10, TimeUnit.SECONDS), "the other chunk never started");
                    } catch (InterruptedException e) {
                        throw new IllegalStateException(e);
                    }
                });
                assertEquals(2, ran.size(), "after a pause of " + pauseNanos + " ns");
            }
        }
    }

    /** Closing the pool stops a worker that is still polling for the next loop. */
    @Test
    void closeStopsPollingWorkers() throws InterruptedException {
        AtomicReference<Thread> worker = new AtomicReference<>();
        Thread caller = Thread.currentThread();
        try (ComputePool pool = new ComputePool(2)) {
            CountDownLatch both = new CountDownLatch(2);
            pool.parallelFor(2, 1, (a, b) -> {
                if (Thread.currentThread() != caller) {
                    worker.set(Thread.currentThread());
                }
                both.countDown();
                try {
                    both.await(10, TimeUnit.SECONDS);
                } catch (InterruptedException e) {
                    throw new IllegalStateException(e);
                }
            });
        }
        Thread w = worker.get();
        assertTrue(w != null, "no chunk ran on the worker");
        w.join(5000);
        assertTrue(!w.isAlive(), "worker still running after close");
    }
}
