package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Elementwise;
import dev.diffusion4j.tensor.cpu.FusedLinear;
import dev.diffusion4j.tensor.cpu.Gemm;
import dev.diffusion4j.tensor.cpu.Layout;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * A quick (non-JMH) A/B timing of the U-Net's linear layers at batch 2 with F16 weights: each layer as the
 * separate ops the model used to call (linear, then add / geglu; q, k, v one by one) against the fused
 * {@link FusedLinear} op, the two alternating in one process so that load from other processes hits both
 * alike. Prints medians and GFLOP/s (with one thread, of this thread's CPU time), and the sums over the
 * linear layers of one guided U-Net step (SD 1.5, batch 2, 64×64 latents). Usage: {@code java ... LinearTiming [reps] [threads] [filter]}
 * (the layers whose name contains the filter or matches it as a regular expression).
 */
public final class LinearTiming {
    private LinearTiming() {
    }

    /** One layer; {@code perStep}: how often one guided SD 1.5 step (batch 2, 64×64) runs it. */
    private record Case(String name, double flops, int perStep, Supplier<Object> separate, Supplier<Object> fused) {
    }

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 15;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        String only = args.length > 2 ? args[2] : "";
        try (Arena arena = Arena.ofShared(); ComputePool pool = new ComputePool(threads)) {
            List<Case> cases = new ArrayList<>();
            // Rows (batch 2 × tokens), channels, transformer blocks at that size in the U-Net (the last: mid-block).
            int[][] levels = {{8192, 320, 5}, {2048, 640, 5}, {512, 1280, 5}, {128, 1280, 1}};
            int seed = 10;
            for (int[] lv : levels) {
                int m = lv[0];
                int c = lv[1];
                int blocks = lv[2];
                Tensor x = FullSizeModels.randn(seed++, 2, m / 2, c);
                Tensor res = FullSizeModels.randn(seed++, 2, m / 2, c);
                Tensor wq = weight(arena, seed++, c, c);
                Tensor wk = weight(arena, seed++, c, c);
                Tensor wv = weight(arena, seed++, c, c);
                Tensor wo = weight(arena, seed++, c, c);
                Tensor bo = weight(arena, seed++, c);
                cases.add(new Case("qkv " + m + "x" + c + ">3x" + c, 2.0 * m * c * 3 * c, blocks,
                        () -> new Tensor[] {Gemm.linear(pool, x, wq, null), Gemm.linear(pool, x, wk, null),
                                Gemm.linear(pool, x, wv, null)},
                        () -> FusedLinear.linears(pool, x, new Tensor[] {wq, wk, wv}, null)));
                cases.add(new Case("out+res " + m + "x" + c + ">" + c, 2.0 * m * c * c, 2 * blocks,
                        () -> Elementwise.add(pool, Gemm.linear(pool, x, wo, bo), res),
                        () -> FusedLinear.linear(pool, x, wo, bo, res)));
                cases.add(new Case("q " + m + "x" + c + ">" + c, 2.0 * m * c * c, blocks,
                        () -> Gemm.linear(pool, x, wq, null),
                        () -> FusedLinear.linear(pool, x, wq, null, null)));
                Tensor wp = weight(arena, seed++, 8 * c, c);
                Tensor bp = weight(arena, seed++, 8 * c);
                cases.add(new Case("geglu " + m + "x" + c + ">" + 8 * c, 2.0 * m * c * 8 * c, blocks,
                        () -> Elementwise.geglu(pool, Gemm.linear(pool, x, wp, bp)),
                        () -> FusedLinear.linearGeglu(pool, x, wp, bp)));
                Tensor h = FullSizeModels.randn(seed++, 2, m / 2, 4 * c);
                Tensor w2 = weight(arena, seed++, c, 4 * c);
                Tensor b2 = weight(arena, seed++, c);
                cases.add(new Case("ffout+res " + m + "x" + 4 * c + ">" + c, 2.0 * m * 4 * c * c, blocks,
                        () -> Elementwise.add(pool, Gemm.linear(pool, h, w2, b2), res),
                        () -> FusedLinear.linear(pool, h, w2, b2, res)));
                int side = (int) Math.round(Math.sqrt(m / 2.0));
                Tensor img = FullSizeModels.randn(seed++, 2, c, side, side);
                cases.add(new Case("proj_in " + m + "x" + c + ">" + c, 2.0 * m * c * c, blocks,
                        () -> Gemm.linear(pool, Layout.transpose(pool, img.reshape(2, c, m / 2)), wo, bo),
                        () -> FusedLinear.linearFromChannels(pool, img, wo, bo)));
                cases.add(new Case("proj_out+res " + m + "x" + c + ">" + c, 2.0 * m * c * c, blocks,
                        () -> Elementwise.add(pool, Layout.transpose(pool, Gemm.linear(pool, x, wo, bo))
                                .reshape(2, c, side, side), img),
                        () -> FusedLinear.linearToChannels(pool, x, wo, bo, img, side, side)));
                Tensor ctx = FullSizeModels.randn(seed++, 2, 77, 768);
                Tensor ck = weight(arena, seed++, c, 768);
                Tensor cv = weight(arena, seed++, c, 768);
                cases.add(new Case("kv 154x768>2x" + c, 2.0 * 154 * 768 * 2 * c, blocks,
                        () -> new Tensor[] {Gemm.linear(pool, ctx, ck, null), Gemm.linear(pool, ctx, cv, null)},
                        () -> FusedLinear.linears(pool, ctx, new Tensor[] {ck, cv}, null)));
            }
            double peak = dev.diffusion4j.tensor.cpu.FmaPeak.measure(threads, 300);
            System.out.printf(Locale.ROOT, "FMA peak now, %d thread(s): %.0f GFLOP/s%n", threads, peak);
            System.out.printf(Locale.ROOT, "%-26s %10s %8s %10s %8s %7s%n", "layer", "separate", "GFLOP/s", "fused",
                    "GFLOP/s", "ratio");
            double stepA = 0;
            double stepB = 0;
            for (Case cs : cases) {
                if (!cs.name().contains(only) && !cs.name().matches(only)) {
                    continue;
                }
                double[] a = new double[reps];
                double[] b = new double[reps];
                for (int w = 0; w < 3; w++) {
                    cs.separate().get();
                    cs.fused().get();
                }
                for (int r = 0; r < reps; r++) {
                    // Alternate which goes first, so neither always inherits the other's garbage.
                    boolean sepFirst = r % 2 == 0;
                    long t0 = clock(threads);
                    (sepFirst ? cs.separate() : cs.fused()).get();
                    long t1 = clock(threads);
                    (sepFirst ? cs.fused() : cs.separate()).get();
                    long t2 = clock(threads);
                    a[r] = (sepFirst ? t1 - t0 : t2 - t1) / 1e6;
                    b[r] = (sepFirst ? t2 - t1 : t1 - t0) / 1e6;
                }
                Arrays.sort(a);
                Arrays.sort(b);
                double ma = a[reps / 2];
                double mb = b[reps / 2];
                System.out.printf(Locale.ROOT, "%-26s %8.2fms %8.0f %8.2fms %8.0f %7.2f%n", cs.name(), ma,
                        cs.flops() / ma / 1e6, mb, cs.flops() / mb / 1e6, ma / mb);
                stepA += cs.perStep() * ma;
                stepB += cs.perStep() * mb;
            }
            System.out.printf(Locale.ROOT, "%-26s %8.0fms %8s %8.0fms %8s %7.2f%n", "per U-Net step", stepA, "", stepB, "",
                    stepA / stepB);
        }
    }

    /**
     * With one thread, the CPU time of this thread: time the machine gave to other processes is left out,
     * which makes the comparison steadier on a shared machine. Else wall time.
     */
    private static long clock(int threads) {
        return threads == 1 ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }

    private static final java.lang.management.ThreadMXBean THREADS = java.lang.management.ManagementFactory.getThreadMXBean();

    /** Random F16 weights (biases when rank 1) as {@link FullSizeModels} makes them. */
    private static Tensor weight(Arena arena, int seed, int... dims) {
        return FullSizeModels.randomWeights(DType.F16, arena, seed).get(dims.length == 1 ? "w.bias" : "w.weight", dims);
    }
}
