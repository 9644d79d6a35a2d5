package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Quantized;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Gemm;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * F16 against Q8_0 weights on a shared, noisy machine: each measurement alternates the two storages many times in one
 * JVM and reports medians, so both see the same background load. Measures the conversion alone (one thread, a weight
 * of 1280×1280 to floats, as packing does it) and whole linear layers on two threads.
 * Usage: {@code java ... QuantizedTiming [rounds (15)]}.
 */
public final class QuantizedTiming {
    private QuantizedTiming() {
    }

    public static void main(String[] args) {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        Random rnd = new Random(5);
        try (Arena arena = Arena.ofShared(); ComputePool pool = new ComputePool(2)) {
            // 1. conversion alone: 1280x1280 weights to floats, one thread
            int n = 1280 * 1280;
            float[] w = GemmBenchmark.random(rnd, n);
            Tensor f16 = QuantizedWeightsBenchmark.weight(w, 1280, 1280, DType.F16, arena);
            Tensor q8 = QuantizedWeightsBenchmark.weight(w, 1280, 1280, DType.Q8_0, arena);
            float[] dst = new float[n];
            double[] tf = new double[rounds];
            double[] tq = new double[rounds];
            for (int r = 0; r < rounds + 5; r++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < 10; i++) {
                    HalfFloats.toFloats(f16.segment(), DType.F16, 0, dst, 0, n);
                }
                long t1 = System.nanoTime();
                for (int i = 0; i < 10; i++) {
                    Quantized.dequantize(q8.segment(), 0, dst, 0, n);
                }
                long t2 = System.nanoTime();
                if (r >= 5) {
                    tf[r - 5] = (t1 - t0) / 10.0;
                    tq[r - 5] = (t2 - t1) / 10.0;
                }
            }
            System.out.printf(Locale.ROOT, "convert 1280x1280 to float, 1 thread: F16 %.2f ms (%.2f Gelem/s), Q8_0 %.2f ms"
                    + " (%.2f Gelem/s)%n", median(tf) / 1e6, n / median(tf), median(tq) / 1e6, n / median(tq));
            // 2. linear layers, two threads
            for (String shape : new String[] {"8192x320x320", "8192x320x2560", "8192x1280x320", "154x768x320",
                    "512x1280x1280", "2048x640x640"}) {
                int[] d = GemmBenchmark.dims(shape);
                Tensor x = Tensor.of(GemmBenchmark.random(rnd, d[0] * d[1]), d[0], d[1]);
                float[] wv = GemmBenchmark.random(rnd, d[2] * d[1]);
                Tensor[] ws = {QuantizedWeightsBenchmark.weight(wv, d[2], d[1], DType.F16, arena),
                        QuantizedWeightsBenchmark.weight(wv, d[2], d[1], DType.Q8_0, arena)};
                float[] c = new float[d[0] * d[2]];
                double[][] t = new double[2][rounds];
                for (int r = 0; r < rounds + 3; r++) {
                    for (int s = 0; s < 2; s++) {
                        long t0 = System.nanoTime();
                        Gemm.gemm(pool, d[0], d[2], d[1], Gemm.viewA(x, 0, d[1], 1), Gemm.viewB(ws[s], 0, 1, d[1]), c, 0,
                                d[2], null, null, false);
                        if (r >= 3) {
                            t[s][r - 3] = System.nanoTime() - t0;
                        }
                    }
                }
                double flop = 2.0 * d[0] * d[1] * d[2];
                System.out.printf(Locale.ROOT, "linear %-14s 2 threads: F16 %7.2f ms (%5.1f GFLOP/s), Q8_0 %7.2f ms (%5.1f"
                        + " GFLOP/s), Q8_0/F16 %.3f%n", shape, median(t[0]) / 1e6, flop / median(t[0]),
                        median(t[1]) / 1e6, flop / median(t[1]), median(t[1]) / median(t[0]));
            }
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s[s.length / 2];
    }
}
