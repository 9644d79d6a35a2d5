package dev.diffusion4j.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** {@link TensorScope}: what is recycled, what is kept, and when the pool is dropped. */
class TensorScopeTest {
    private static final int N = TensorScope.MIN_POOLED;
    /** Where a tensor's elements start in its array: a tensor of n elements has an array of n + OFF floats. */
    private static final int OFF = ArrayAlignment.FLOAT_OFFSET;

    private static Tensor filled(float v) {
        Tensor t = Tensor.zeros(2, N / 2);
        Arrays.fill(t.array(), v);
        return t;
    }

    /** What closing {@code c} on another thread threw (null if nothing). */
    private static Throwable closeOnAnotherThread(AutoCloseable c) throws Exception {
        return CompletableFuture.supplyAsync(() -> {
            try {
                c.close();
                return null;
            } catch (Exception e) {
                return e;
            }
        }).get();
    }

    private static boolean allZero(Tensor t) {
        for (float f : t.array()) {
            if (f != 0f) {
                return false;
            }
        }
        return true;
    }

    @Test
    void emptyTakesRecycledStorageWithoutZeroFillAndIsPoisonedInTests() {
        Assumptions.assumeTrue(Boolean.getBoolean("d4j.tensor.poisonEmpty"),
                "run with -Dd4j.tensor.poisonEmpty=true (the build sets it)");
        Tensor outside = Tensor.empty(3, 5);
        assertEquals(Shape.of(3, 5), outside.shape());
        assertTrue(allNaN(outside), "poisoned outside a scope too");
        try (TensorScope outer = TensorScope.open()) {
            float[] dropped;
            try (TensorScope inner = TensorScope.open()) {
                dropped = filled(3f).array();
            }
            Tensor reused = Tensor.empty(N);
            assertSame(dropped, reused.array(), "the inner scope's unkept storage is reused");
            assertTrue(allNaN(reused), "with every element poisoned, not zero-filled");
            assertEquals(1, outer.reusedArrays());
        }
    }

    private static boolean allNaN(Tensor t) {
        for (float f : t.array()) {
            if (!Float.isNaN(f)) {
                return false;
            }
        }
        return true;
    }

    @Test
    void recycledStorageComesBackZeroedAndKeptStorageIsNotReused() {
        try (TensorScope outer = TensorScope.open()) {
            Tensor kept;
            float[] dropped;
            try (TensorScope inner = TensorScope.open()) {
                dropped = filled(3f).array();
                kept = inner.keep(filled(7f));
            }
            Tensor reused = Tensor.zeros(N);
            assertSame(dropped, reused.array(), "the inner scope's unkept storage is reused");
            assertTrue(allZero(reused), "and zero-filled again");
            assertEquals(1, outer.reusedArrays());
            Tensor fresh = Tensor.zeros(N);
            assertNotSame(kept.array(), fresh.array(), "kept storage is not handed out while the outer scope is open");
            assertTrue(Arrays.equals(kept.array(), filled(7f).array()), "kept values intact");
        }
    }

    @Test
    void keptViewsKeepTheirStorageAndOtherSizesAreNotMixed() {
        try (TensorScope outer = TensorScope.open()) {
            Tensor view;
            try (TensorScope inner = TensorScope.open()) {
                Tensor t = filled(5f);
                view = inner.keep(t.reshape(N));
                Tensor other = Tensor.zeros(N + 16);
                other.array()[0] = 1f;
            }
            Tensor same = Tensor.zeros(N);
            assertNotSame(view.array(), same.array());
            Tensor bigger = Tensor.zeros(N + 16);
            assertTrue(allZero(bigger));
            assertEquals(5f, view.array()[N - 1]);
        }
    }

    @Test
    void theOutermostScopeDropsThePoolAndSmallOrUnscopedTensorsAreNeverPooled() {
        float[] made;
        try (TensorScope only = TensorScope.open()) {
            made = Tensor.zeros(N).array();
        }
        // No scope open: a plain new array, never the storage recycled above.
        assertNotSame(made, Tensor.zeros(N).array());
        try (TensorScope outer = TensorScope.open()) {
            float[] small;
            try (TensorScope inner = TensorScope.open()) {
                small = Tensor.zeros(N - 1 - OFF).array();
            }
            assertNotSame(small, Tensor.zeros(N - 1 - OFF).array(), "small arrays are not pooled");
            float[] lazy = TensorScope.unscoped(() -> Tensor.zeros(N).array());
            try (TensorScope inner = TensorScope.open()) {
                assertNotSame(lazy, Tensor.zeros(N).array());
            }
            assertNotSame(lazy, Tensor.zeros(N).array(), "what unscoped code makes is never recycled");
        }
    }

    @Test
    void scratchArraysAreReusedOnlyAfterRelease() {
        float[] outside = TensorScope.scratch(N);
        TensorScope.release(outside); // no scope: nothing to give back to
        try (TensorScope scope = TensorScope.open()) {
            assertNotSame(outside, TensorScope.scratch(N));
            float[] a = TensorScope.scratch(N);
            a[3] = 9f;
            float[] b = TensorScope.scratch(N);
            assertNotSame(a, b, "not handed out twice while in use");
            TensorScope.release(a);
            float[] c = TensorScope.scratch(N);
            assertSame(a, c, "released scratch is reused");
            assertEquals(0f, c[3], "zero-filled again");
            TensorScope.release(c);
            assertSame(a, Tensor.zeros(N).array(), "and may become a tensor of the scope");
        }
    }

    @Test
    void scratchRoundsLargeRequestsToAFewSizesThatNearbyRequestsShare() {
        assertEquals(N - 1, TensorScope.scratchLength(N - 1), "below the pooled size: exact");
        assertEquals(N + OFF, TensorScope.scratchLength(N), "pooled: a tensor's array of N elements");
        assertEquals((5 << 20) + OFF, TensorScope.scratchLength(5_000_000), "4 Mi to 8 Mi: multiples of 1 Mi, + OFF");
        assertEquals((5 << 20) + OFF, TensorScope.scratchLength((5 << 20) + OFF), "a tensor's array of 5 Mi elements");
        assertEquals((6 << 20) + OFF, TensorScope.scratchLength((5 << 20) + OFF + 1));
        for (int m : new int[] {N + 1, 1_000_003, 123_456_789, Integer.MAX_VALUE - 100}) {
            int len = TensorScope.scratchLength(m);
            assertTrue(len >= m && len - m <= m / 4, m + " -> " + len);
        }
        try (TensorScope scope = TensorScope.open()) {
            float[] a = TensorScope.scratchEmpty(5_000_000);
            assertEquals((5 << 20) + OFF, a.length);
            a[7] = 3f;
            TensorScope.release(a);
            float[] b = TensorScope.scratch(4_999_000);
            assertSame(a, b, "a request of a nearby size gets the same pooled array");
            assertEquals(0f, b[7], "zero-filled again");
        }
    }

    @Test
    void overItsLimitThePoolEvictsTheSizeUsedLeastRecently() {
        long limit = 4L * 3 * (N + OFF); // three arrays of tensors of N elements
        try (TensorScope outer = TensorScope.open(limit)) {
            float[] a1;
            float[] a2;
            float[] b;
            try (TensorScope inner = TensorScope.open()) {
                a1 = Tensor.zeros(N).array();
                a2 = Tensor.zeros(N).array();
            }
            try (TensorScope inner = TensorScope.open()) {
                b = Tensor.zeros(2 * N).array(); // needs room for two: one of the older size goes
            }
            assertSame(b, Tensor.zeros(2 * N).array(), "the newest size is kept");
            float[] left = Tensor.zeros(N).array();
            assertTrue(left == a1 || left == a2, "one of the older size is still there");
            float[] fresh = Tensor.zeros(N).array();
            assertTrue(fresh != a1 && fresh != a2, "the other was evicted");
            try (TensorScope inner = TensorScope.open()) {
                Tensor.zeros(4 * N); // larger than the whole pool: never pooled
            }
            assertEquals(2, outer.reusedArrays());
        }
    }

    @Test
    void adoptedStorageIsRecycledWhenTheAdoptingScopeCloses() throws Exception {
        try (TensorScope outer = TensorScope.open()) {
            Tensor h = Tensor.zeros(N);
            float[] made = h.array();
            Tensor next;
            try (TensorScope step = TensorScope.open()) {
                assertSame(h, step.adopt(h));
                next = step.keep(filled(2f));
            }
            assertSame(made, Tensor.zeros(N).array(), "the input's storage went back to the pool with the step");
            assertNotSame(next.array(), Tensor.zeros(N).array(), "the kept output did not");
            assertTrue(Arrays.equals(next.array(), filled(2f).array()), "and keeps its values");

            float[] mine = new float[N + OFF];
            Tensor callers = Tensor.of(mine, OFF, Shape.of(N));
            Tensor keptHere;
            try (TensorScope middle = TensorScope.open()) {
                keptHere = middle.keep(Tensor.zeros(N));
                try (TensorScope step = TensorScope.open()) {
                    step.adopt(callers);
                    step.adopt(keptHere);
                }
                assertNotSame(mine, Tensor.zeros(N).array(), "storage no scope owns is never adopted");
                assertNotSame(keptHere.array(), Tensor.zeros(N).array(), "nor storage kept past its scope");
            }
            TensorScope closed = TensorScope.open();
            closed.close();
            assertThrows(IllegalStateException.class, () -> closed.adopt(h));
            assertTrue(closeOnAnotherThread(() -> outer.adopt(h)) instanceof IllegalStateException);
        }
    }

    @Test
    void scopesCloseInOrderOnTheirOwnThread() throws Exception {
        TensorScope outer = TensorScope.open();
        TensorScope inner = TensorScope.open();
        assertThrows(IllegalStateException.class, outer::close, "outer before inner");
        assertTrue(closeOnAnotherThread(inner) instanceof IllegalStateException, "closed from another thread");
        inner.close();
        inner.close(); // closing twice is harmless
        outer.close();
        // Other threads have no scope: their tensors are plain arrays.
        float[][] seen = new float[1][];
        try (TensorScope s = TensorScope.open()) {
            Thread t = Thread.ofPlatform().start(() -> seen[0] = Tensor.zeros(N).array());
            t.join();
        }
        try (TensorScope s = TensorScope.open()) {
            assertNotSame(seen[0], Tensor.zeros(N).array());
        }
    }

    @Test
    void aRetainedPoolCarriesBuffersFromOneOutermostScopeToTheNext() throws Exception {
        float[] first;
        float[] kept;
        try (TensorScope.Retention r = TensorScope.retainPool()) {
            try (TensorScope pass = TensorScope.open()) {
                first = filled(4f).array();
                kept = pass.keep(filled(6f)).array();
            }
            float[] second;
            try (TensorScope pass = TensorScope.open()) {
                Tensor t = Tensor.zeros(N);
                second = t.array();
                assertTrue(first == second, "the next pass reuses the first one's buffer");
                assertTrue(allZero(t), "zero-filled again");
            }
            try (TensorScope pass = TensorScope.open()) {
                float[] a = Tensor.zeros(N).array();
                float[] b = Tensor.zeros(N).array();
                assertTrue(a == second && b != kept, "what the outermost scope kept is never recycled");
            }
            assertEquals(2, r.reusedArrays());
            try (TensorScope.Retention nested = TensorScope.retainPool()) {
                try (TensorScope pass = TensorScope.open()) {
                    Tensor.zeros(N + 1); // a new size: made here, recycled on close
                }
                try (TensorScope pass = TensorScope.open()) {
                    Tensor.zeros(N + 1);
                }
                assertEquals(3, nested.reusedArrays(), "a nested retention shares the pool");
            }
            try (TensorScope pass = TensorScope.open()) {
                Tensor.zeros(N + 1);
            }
            assertEquals(4, r.reusedArrays(), "closing the nested one keeps it");
            TensorScope.Retention inner = TensorScope.retainPool();
            assertThrows(IllegalStateException.class, r::close, "outer retention before the inner one");
            assertTrue(closeOnAnotherThread(inner) instanceof IllegalStateException, "closed from another thread");
            inner.close();
        }
        try (TensorScope pass = TensorScope.open()) {
            assertTrue(first != Tensor.zeros(N).array() && pass.reusedArrays() == 0,
                    "closing the retention dropped the pool");
        }
    }

    @Test
    void aRetentionOpenedInsideAScopeSharesItsPoolAndOutlivesIt() {
        float[] made;
        TensorScope.Retention r;
        try (TensorScope outer = TensorScope.open()) {
            try (TensorScope inner = TensorScope.open()) {
                made = Tensor.zeros(N).array();
            }
            r = TensorScope.retainPool();
        }
        try (r; TensorScope next = TensorScope.open()) {
            assertTrue(made == Tensor.zeros(N).array(), "the scope's free buffers stay with the retention");
        }
        try (TensorScope after = TensorScope.open()) {
            assertTrue(made != Tensor.zeros(N).array(), "and go when it closes");
        }
    }
}
