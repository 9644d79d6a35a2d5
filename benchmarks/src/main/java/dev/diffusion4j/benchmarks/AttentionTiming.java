package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Attention;
import dev.diffusion4j.tensor.cpu.FmaPeak;
import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.function.Supplier;

/**
 * A quick (non-JMH) A/B timing of attention at the shapes of one guided SD 1.5 U-Net step (batch 2, 64×64
 * latents, 8 heads): the kernel before issue #9's attention work ({@link AttentionBaseline}) against today's
 * {@link Attention}, alternating in one process so that load from other processes hits both alike. With one
 * thread the clock is this thread's CPU time, else wall time. Prints medians, GFLOP/s ({@code 4·B·H·Tq·Tk·d}),
 * the fraction of the FMA peak measured in the same run, and the sums over one U-Net step.
 *
 * <p>Usage: {@code java ... AttentionTiming [reps] [threads] [name filter] [ab|phases]}. {@code phases} times
 * only the baseline, cut after the scores, after the softmax, and whole, to see where its time goes.
 */
public final class AttentionTiming {
    private AttentionTiming() {
    }

    /** One attention shape; {@code perStep}: how often one guided U-Net step runs it. */
    private record Case(String name, int batch, int tq, int tk, int heads, int d, int perStep) {
        double flops() {
            return 4.0 * batch * heads * tq * (double) tk * d;
        }
    }

    private static final ThreadMXBean THREADS = ManagementFactory.getThreadMXBean();

    public static void main(String[] args) {
        int reps = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        int threads = args.length > 1 ? Integer.parseInt(args[1]) : 2;
        String only = args.length > 2 ? args[2] : "";
        String mode = args.length > 3 ? args[3] : "ab";
        List<Case> cases = new ArrayList<>();
        // Transformer blocks per level: 2 down + 3 up; the mid-block has one.
        cases.add(new Case("self 4096x4096 d40", 2, 4096, 4096, 8, 40, 5));
        cases.add(new Case("self 1024x1024 d80", 2, 1024, 1024, 8, 80, 5));
        cases.add(new Case("self 256x256 d160", 2, 256, 256, 8, 160, 5));
        cases.add(new Case("self 64x64 d160", 2, 64, 64, 8, 160, 1));
        cases.add(new Case("cross 4096x77 d40", 2, 4096, 77, 8, 40, 5));
        cases.add(new Case("cross 1024x77 d80", 2, 1024, 77, 8, 80, 5));
        cases.add(new Case("cross 256x77 d160", 2, 256, 77, 8, 160, 5));
        cases.add(new Case("cross 64x77 d160", 2, 64, 77, 8, 160, 1));
        try (ComputePool pool = new ComputePool(threads)) {
            double peak = FmaPeak.measure(threads, 300);
            System.out.printf(Locale.ROOT, "FMA peak now, %d thread(s): %.0f GFLOP/s; %s%n", threads, peak,
                    threads == 1 ? "CPU time of the calling thread" : "wall time");
            if (mode.equals("micro")) {
                micro(reps);
                return;
            }
            if (mode.equals("phases")) {
                phases(cases, pool, reps, threads, only);
                return;
            }
            System.out.printf(Locale.ROOT, "%-20s %10s %8s %6s %10s %8s %6s %6s%n", "shape", "old", "GFLOP/s",
                    "peak", "new", "GFLOP/s", "peak", "ratio");
            double stepA = 0;
            double stepB = 0;
            int seed = 1;
            for (Case cs : cases) {
                if (!cs.name().contains(only)) {
                    continue;
                }
                Tensor[] qkv = inputs(cs, seed++);
                float scale = (float) (1 / Math.sqrt(cs.d()));
                Supplier<Tensor> old = () -> AttentionBaseline.attention(pool, qkv[0], qkv[1], qkv[2], cs.heads(),
                        scale, false);
                Supplier<Tensor> now = () -> Attention.attention(pool, qkv[0], qkv[1], qkv[2], cs.heads(), scale,
                        false);
                double[][] t = alternate(reps, threads, List.of(old, now));
                double ma = median(t[0]);
                double mb = median(t[1]);
                double ga = cs.flops() / ma / 1e6;
                double gb = cs.flops() / mb / 1e6;
                System.out.printf(Locale.ROOT, "%-20s %8.2fms %8.0f %6.2f %8.2fms %8.0f %6.2f %6.2f%n", cs.name(), ma,
                        ga, ga / peak, mb, gb, gb / peak, ma / mb);
                stepA += cs.perStep() * ma;
                stepB += cs.perStep() * mb;
            }
            System.out.printf(Locale.ROOT, "%-20s %8.0fms %8s %6s %8.0fms %8s %6s %6.2f%n", "per U-Net step", stepA, "",
                    "", stepB, "", "", stepA / stepB);
        }
    }

    /** The baseline cut after its phases; the differences are the softmax's and the PV product's share. */
    private static void phases(List<Case> cases, ComputePool pool, int reps, int threads, String only) {
        System.out.printf(Locale.ROOT, "%-20s %10s %10s %10s   %s%n", "shape", "QK", "+softmax", "+PV (all)",
                "QK / softmax / PV in GFLOP/s of their own half (softmax: ms)");
        int seed = 1;
        for (Case cs : cases) {
            if (!cs.name().contains(only)) {
                continue;
            }
            Tensor[] qkv = inputs(cs, seed++);
            float scale = (float) (1 / Math.sqrt(cs.d()));
            List<Supplier<Tensor>> runs = new ArrayList<>();
            for (int p = 1; p <= 3; p++) {
                int phase = p;
                runs.add(() -> {
                    AttentionBaseline.phases = phase;
                    return AttentionBaseline.attention(pool, qkv[0], qkv[1], qkv[2], cs.heads(), scale, false);
                });
            }
            double[][] t = alternate(reps, threads, runs);
            AttentionBaseline.phases = 3;
            double qk = median(t[0]);
            double sm = median(t[1]);
            double all = median(t[2]);
            double half = cs.flops() / 2;
            System.out.printf(Locale.ROOT, "%-20s %8.2fms %8.2fms %8.2fms   %.0f / %.2fms / %.0f%n", cs.name(), qk, sm,
                    all, half / qk / 1e6, sm - qk, half / (all - sm) / 1e6);
        }
    }

    /** The baseline's micro-kernels alone on one L1-resident tile (64 keys × 64 queries × d 40), CPU time. */
    private static void micro(int reps) {
        int d = 40;
        int bq = 64;
        int w = 64;
        java.util.Random rnd = new java.util.Random(1);
        float[] kp = new float[w * d];
        float[] qt = new float[d * bq];
        float[] s = new float[w * bq];
        float[] ot = new float[d * bq];
        float[] vp = new float[w * d];
        float[] m = new float[bq];
        float[] l = new float[bq];
        float[] alpha = new float[bq];
        for (float[] a : new float[][] {kp, qt, vp}) {
            for (int i = 0; i < a.length; i++) {
                a[i] = (float) rnd.nextGaussian() * 0.3f;
            }
        }
        Arrays.fill(alpha, 1f);
        int iters = 20000;
        double tileFlops = 2.0 * w * bq * d;
        for (int r = 0; r < reps; r++) {
            long t0 = clock(1);
            for (int it = 0; it < iters; it++) {
                for (int j = 0; j < w; j += 4) {
                    AttentionBaseline.qk4x4(kp, j * d, d, qt, 0, d, s, j * bq, false);
                }
            }
            long t1 = clock(1);
            for (int it = 0; it < iters; it++) {
                for (int c = 0; c < d; c += 4) {
                    AttentionBaseline.pv4x4(vp, c, d, w, s, ot, c * bq, alpha);
                }
            }
            long t2 = clock(1);
            for (int it = 0; it < iters; it++) {
                Arrays.fill(m, -1e30f);
                for (int io = 0; io < bq; io += 16) {
                    AttentionBaseline.softmax(s, io, w, m, l, alpha);
                }
            }
            long t3 = clock(1);
            Arrays.fill(alpha, 1f);
            System.out.printf(Locale.ROOT, "qk4x4 %.0f GFLOP/s, pv4x4 %.0f GFLOP/s, softmax %.2f ns per 16 scores%n",
                    tileFlops * iters / (t1 - t0), tileFlops * iters / (t2 - t1),
                    (t3 - t2) / (double) iters / (w * bq / 16.0));
        }
    }

    /** Runs every supplier {@code reps} times, rotating which goes first; times in ms per supplier. */
    private static double[][] alternate(int reps, int threads, List<Supplier<Tensor>> runs) {
        int n = runs.size();
        for (int w = 0; w < 2; w++) {
            for (Supplier<Tensor> r : runs) {
                r.get();
            }
        }
        double[][] t = new double[n][reps];
        for (int r = 0; r < reps; r++) {
            for (int i = 0; i < n; i++) {
                int which = (i + r) % n;
                long t0 = clock(threads);
                runs.get(which).get();
                t[which][r] = (clock(threads) - t0) / 1e6;
            }
        }
        return t;
    }

    private static double median(double[] a) {
        double[] s = a.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static Tensor[] inputs(Case cs, int seed) {
        int c = cs.heads() * cs.d();
        // Scores of order one after the scale, like a trained model's; unit values.
        return new Tensor[] {FullSizeModels.randn(3 * seed, cs.batch(), cs.tq(), c),
                FullSizeModels.randn(3 * seed + 1, cs.batch(), cs.tk(), c),
                FullSizeModels.randn(3 * seed + 2, cs.batch(), cs.tk(), c)};
    }

    private static long clock(int threads) {
        return threads == 1 ? THREADS.getCurrentThreadCpuTime() : System.nanoTime();
    }
}
