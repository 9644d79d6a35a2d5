package dev.diffusion4j.examples.cli;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.tensor.cpu.FmaPeak;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.Random;
import java.util.concurrent.Callable;
import java.util.function.Supplier;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code sd selfcheck}: times the main kernels and prints each as a fraction of the measured FMA peak. */
@Command(name = "selfcheck", mixinStandardHelpOptions = true,
        description = "Time the CPU kernels (GEMM, 3x3 convolution, attention) against the measured FMA peak.")
final class SelfCheckCommand implements Callable<Integer> {
    @Option(names = "--runs", description = "Timed runs per kernel; the best counts (default: ${DEFAULT-VALUE}).")
    int runs = 5;

    @Override
    public Integer call() {
        ComputePool shared = ComputePool.shared();
        int threads = shared.threads();
        System.out.printf("diffusion4j selfcheck: Java %s, %d threads, %d float lanes per vector%n",
                Runtime.version().feature(), threads, FmaPeak.lanes());
        double peak1 = FmaPeak.measure(1, 300);
        double peakN = threads == 1 ? peak1 : FmaPeak.measure(threads, 300);
        peakCpu = cpuPeak();
        System.out.printf("FMA peak: %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads"
                + " (1 thread by its CPU time: %.1f)%n", peak1, peakN, threads, peakCpu);

        boolean ok = checkGemm(CpuBackend.create());
        System.out.println("gemm 37x53x29 against a scalar reference: " + (ok ? "ok" : "MISMATCH"));

        System.out.printf("%-34s %7s %10s %9s %8s   %s%n", "kernel", "threads", "ms (best)", "GFLOP/s", "of peak",
                "(1 thread by CPU time: GFLOP/s, of peak)");
        try (ComputePool one = new ComputePool(1)) {
            for (ComputePool pool : threads == 1 ? new ComputePool[] {one} : new ComputePool[] {one, shared}) {
                CpuBackend be = new CpuBackend(pool);
                double peak = pool.threads() == 1 ? peak1 : peakN;
                Random rnd = new Random(1);
                Tensor a = random(rnd, 1024, 1024);
                Tensor b = random(rnd, 1024, 1024);
                report("gemm 1024x1024x1024", pool, peak, 2.0 * 1024 * 1024 * 1024,
                        () -> be.matmul(a, false, b, false));
                Tensor x = random(rnd, 1, 320, 64, 64);
                Tensor w = random(rnd, 320, 320, 3, 3);
                Tensor bias = random(rnd, 320);
                report("conv2d 3x3 320->320 ch, 64x64", pool, peak, 2.0 * 320 * 320 * 9 * 64 * 64,
                        () -> be.conv2d(x, w, bias, 1, 1));
                int tokens = 4096;
                int heads = 8;
                int dim = 40;
                Tensor q = random(rnd, 1, tokens, heads * dim);
                Tensor k = random(rnd, 1, tokens, heads * dim);
                Tensor v = random(rnd, 1, tokens, heads * dim);
                String name = "attention 4096 tok x 8 heads x 40";
                try {
                    report(name, pool, peak, 4.0 * heads * tokens * (double) tokens * dim,
                            () -> be.attention(q, k, v, heads, (float) (1 / Math.sqrt(dim)), false));
                } catch (UnsupportedOperationException e) {
                    System.out.printf("%-34s %7d  attention: not available yet%n", name, pool.threads());
                }
            }
        }
        return ok ? 0 : 1;
    }

    private void report(String name, ComputePool pool, double peak, double flops, Supplier<Tensor> op) {
        for (int w = 0; w < 3; w++) {
            op.get(); // warm-up (JIT)
        }
        long best = Long.MAX_VALUE;
        long bestCpu = Long.MAX_VALUE;
        for (int r = 0; r < Math.max(1, runs); r++) {
            long c0 = cpuNanos();
            long t0 = System.nanoTime();
            op.get();
            best = Math.min(best, System.nanoTime() - t0);
            bestCpu = Math.min(bestCpu, cpuNanos() - c0);
        }
        double gflops = flops / best;
        // A one-thread pool runs on this thread, so its CPU time is the kernel's: a figure that other
        // processes sharing the cores cannot lower.
        String cpu = pool.threads() == 1 && bestCpu > 0
                ? String.format("   (%.1f, %.0f %%)", flops / bestCpu, 100 * flops / bestCpu / peakCpu) : "";
        System.out.printf("%-34s %7d %10.2f %9.1f %7.0f %%%s%n", name, pool.threads(), best / 1e6, gflops,
                100 * gflops / peak, cpu);
    }

    /** The FMA peak of this thread per second of its CPU time. */
    private double peakCpu = Double.NaN;

    private static long cpuNanos() {
        ThreadMXBean mx = ManagementFactory.getThreadMXBean();
        return mx.isCurrentThreadCpuTimeSupported() ? mx.getCurrentThreadCpuTime() : System.nanoTime();
    }

    /** One-thread FMA peak by CPU time (FmaPeak.measure has already warmed the chains up). */
    private static double cpuPeak() {
        int iters = 1 << 16;
        double best = 0;
        long end = System.nanoTime() + 300_000_000L;
        while (System.nanoTime() < end || best == 0) {
            long c0 = cpuNanos();
            FmaPeak.chains(iters);
            long t = cpuNanos() - c0;
            if (t < 5_000_000L && iters < (1 << 28)) {
                iters *= 2;
            } else if (t > 0) {
                best = Math.max(best, FmaPeak.flopsPerCall(iters) / t);
            }
        }
        return best;
    }

    private static Tensor random(Random rnd, int... dims) {
        Tensor t = Tensor.zeros(dims);
        for (long i = 0; i < t.numel(); i++) {
            t.setFlat(i, rnd.nextFloat() - 0.5f);
        }
        return t;
    }

    /** A small odd-sized GEMM against a double-accumulating scalar loop. */
    static boolean checkGemm(CpuBackend be) {
        int m = 37;
        int k = 53;
        int n = 29;
        Random rnd = new Random(7);
        Tensor a = random(rnd, m, k);
        Tensor b = random(rnd, k, n);
        Tensor c = be.matmul(a, false, b, false);
        for (int i = 0; i < m; i++) {
            for (int j = 0; j < n; j++) {
                double s = 0;
                for (int p = 0; p < k; p++) {
                    s += (double) a.get(i, p) * b.get(p, j);
                }
                if (Math.abs(s - c.get(i, j)) > 1e-5 * Math.sqrt(k) * Math.max(1, Math.abs(s))) {
                    return false;
                }
            }
        }
        return true;
    }
}
