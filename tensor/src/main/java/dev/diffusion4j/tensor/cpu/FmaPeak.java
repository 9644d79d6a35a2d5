package dev.diffusion4j.tensor.cpu;

import java.util.concurrent.CountDownLatch;
import java.util.concurrent.atomic.AtomicReference;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Measures the machine's float32 peak: independent chains of fused multiply-adds on the preferred
 * vector species, enough of them (12) to hide the FMA latency on two FMA ports. Each FMA counts as
 * two flops per lane. The figure every kernel is compared against.
 */
public final class FmaPeak {
    private static final VectorSpecies<Float> S = FloatVector.SPECIES_PREFERRED;
    /** Independent accumulators per thread. */
    public static final int CHAINS = 12;

    private FmaPeak() {
    }

    /** Float lanes of the preferred vector species (16 with AVX-512). */
    public static int lanes() {
        return S.length();
    }

    /** Flops done by one call of {@link #chains(int)} with the given iteration count. */
    public static double flopsPerCall(int iterations) {
        return 2.0 * CHAINS * S.length() * (double) iterations;
    }

    /**
     * Runs {@code iterations} steps of {@link #CHAINS} independent FMA chains and returns a value derived
     * from every chain (so none can be optimised away).
     */
    public static float chains(int iterations) {
        FloatVector m = FloatVector.broadcast(S, 0.999999f);
        FloatVector a = FloatVector.broadcast(S, 1e-7f);
        FloatVector c0 = FloatVector.broadcast(S, 1f);
        FloatVector c1 = FloatVector.broadcast(S, 2f);
        FloatVector c2 = FloatVector.broadcast(S, 3f);
        FloatVector c3 = FloatVector.broadcast(S, 4f);
        FloatVector c4 = FloatVector.broadcast(S, 5f);
        FloatVector c5 = FloatVector.broadcast(S, 6f);
        FloatVector c6 = FloatVector.broadcast(S, 7f);
        FloatVector c7 = FloatVector.broadcast(S, 8f);
        FloatVector c8 = FloatVector.broadcast(S, 9f);
        FloatVector c9 = FloatVector.broadcast(S, 10f);
        FloatVector c10 = FloatVector.broadcast(S, 11f);
        FloatVector c11 = FloatVector.broadcast(S, 12f);
        for (int i = 0; i < iterations; i++) {
            c0 = c0.fma(m, a);
            c1 = c1.fma(m, a);
            c2 = c2.fma(m, a);
            c3 = c3.fma(m, a);
            c4 = c4.fma(m, a);
            c5 = c5.fma(m, a);
            c6 = c6.fma(m, a);
            c7 = c7.fma(m, a);
            c8 = c8.fma(m, a);
            c9 = c9.fma(m, a);
            c10 = c10.fma(m, a);
            c11 = c11.fma(m, a);
        }
        FloatVector s = c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11);
        return s.reduceLanes(jdk.incubator.vector.VectorOperators.ADD);
    }

    /**
     * The peak in GFLOP/s of {@code threads} threads, each running its own FMA loop for about
     * {@code millis} milliseconds; the best of a few timed rounds after a warm-up.
     */
    public static double measure(int threads, long millis) {
        if (threads < 1 || millis < 1) {
            throw new IllegalArgumentException("FmaPeak.measure: threads=" + threads + " millis=" + millis);
        }
        // Warm up with short calls until C2 has compiled chains() itself and the rate stops improving
        // (the vector code is very slow before that, so a premature calibration would be useless).
        int small = 1 << 12;
        double bestRate = 0;
        int stable = 0;
        long warmStart = System.nanoTime();
        while (System.nanoTime() - warmStart < 3_000_000_000L) {
            long t0 = System.nanoTime();
            int calls = 0;
            while (System.nanoTime() - t0 < 20_000_000L) {
                sink(chains(small));
                calls++;
            }
            double rate = (double) calls * small / (System.nanoTime() - t0); // iterations per ns
            if (rate > bestRate * 1.03) {
                bestRate = Math.max(bestRate, rate);
                stable = 0;
            } else if (++stable >= 5 && System.nanoTime() - warmStart > 500_000_000L) {
                break;
            }
        }
        int rounds = 3;
        int perRound = (int) Math.max(1 << 16, Math.min(1 << 30, bestRate * millis * 1e6 / rounds));
        double best = 0;
        for (int r = 0; r < rounds; r++) {
            best = Math.max(best, run(threads, perRound));
        }
        return best;
    }

    /** One timed round: every thread runs {@code iterations} steps; returns GFLOP/s of all threads together. */
    public static double run(int threads, int iterations) {
        CountDownLatch start = new CountDownLatch(1);
        CountDownLatch done = new CountDownLatch(threads);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        Thread[] ts = new Thread[threads];
        for (int i = 0; i < threads; i++) {
            ts[i] = new Thread(() -> {
                try {
                    start.await();
                    sink(chains(iterations));
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                } finally {
                    done.countDown();
                }
            }, "fma-peak-" + i);
            ts[i].setDaemon(true);
            ts[i].start();
        }
        long t0 = System.nanoTime();
        start.countDown();
        try {
            done.await();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("FmaPeak interrupted", e);
        }
        long ns = System.nanoTime() - t0;
        if (failure.get() != null) {
            throw new IllegalStateException("FmaPeak failed", failure.get());
        }
        return threads * flopsPerCall(iterations) / ns;
    }

    private static volatile float sinkValue;

    private static void sink(float v) {
        sinkValue += v;
    }
}
