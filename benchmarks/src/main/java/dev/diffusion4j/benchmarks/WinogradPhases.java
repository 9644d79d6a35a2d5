package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import dev.diffusion4j.tensor.cpu.Winograd;
import java.lang.foreign.Arena;
import java.util.Locale;
import java.util.Random;

/**
 * Where the time of Winograd 3×3 convolutions goes (stride 1, padding 1, bias, F16 weights off the heap): per shape,
 * the wall time per call and the thread time of its phases (input transform, weight transform, the 36 GEMMs, output
 * transform) from {@link Winograd#phaseNanos}. Needs {@code -Dd4j.winograd.profile=true}. Usage:
 * {@code java ... WinogradPhases runs threads NxCinxCoutxHxW ...} ({@code runs} warm-up calls, then {@code runs}
 * timed ones; after 6 calls at the U-Net's sizes C2 is still compiling and the calls read up to 1.6× slow: take 20
 * or more).
 */
public final class WinogradPhases {
    private WinogradPhases() {
    }

    public static void main(String[] args) {
        if (!Boolean.getBoolean("d4j.winograd.profile")) {
            System.err.println("WinogradPhases needs -Dd4j.winograd.profile=true");
            return;
        }
        int runs = Integer.parseInt(args[0]);
        int threads = Integer.parseInt(args[1]);
        Random rnd = new Random(3);
        try (ComputePool pool = new ComputePool(threads); Arena arena = Arena.ofShared();
             TensorScope.Retention retention = TensorScope.retainPool()) {
            for (int a = 2; a < args.length; a++) {
                String[] p = args[a].split("x");
                int n = Integer.parseInt(p[0]);
                int cin = Integer.parseInt(p[1]);
                int cout = Integer.parseInt(p[2]);
                int h = Integer.parseInt(p[3]);
                int w = Integer.parseInt(p[4]);
                Tensor x = Tensor.of(GemmBenchmark.random(rnd, n * cin * h * w), n, cin, h, w);
                Tensor wt = FullSizeModels.half(GemmBenchmark.random(rnd, cout * cin * 9), DType.F16, arena,
                        Shape.of(cout, cin, 3, 3));
                Tensor b = Tensor.of(GemmBenchmark.random(rnd, cout), cout);
                for (int i = 0; i < runs; i++) {
                    call(pool, x, wt, b);
                }
                Winograd.phaseNanos(true);
                for (int i = 0; i < runs; i++) {
                    call(pool, x, wt, b);
                }
                long[] t = Winograd.phaseNanos(true);
                double flops = 2.0 * n * cout * cin * 9 * h * w;
                double wall = t[4] / 1e6 / runs;
                System.out.printf(Locale.ROOT, "%-20s threads %d: %8.1f ms per call (%4.0f direct-equivalent GFLOP/s);"
                                + " thread ms: input %7.1f, weights %6.1f, GEMMs %7.1f (%4.0f GFLOP/s), output %7.1f%n",
                        args[a], threads, wall, flops / wall / 1e6, t[0] / 1e6 / runs, t[1] / 1e6 / runs,
                        t[2] / 1e6 / runs, flops / 4 / (t[2] / 1e6 / runs) / 1e6, t[3] / 1e6 / runs);
            }
        }
    }

    /**
     * One call as a U-Net step makes it: inside a scope on a retained pool, so the transformed input and weights and
     * the output reuse storage from the previous call (fresh arrays each call cost page faults and zeroing: the
     * weight phase varied 8…36 thread-ms a call at 320 channels, 64×64, and those calls took 1.5× a step's).
     */
    private static void call(ComputePool pool, Tensor x, Tensor wt, Tensor b) {
        try (TensorScope scope = TensorScope.open()) {
            Winograd.conv3x3(pool, x, wt, b, null, 1, 1, 1, 1);
        }
    }
}
