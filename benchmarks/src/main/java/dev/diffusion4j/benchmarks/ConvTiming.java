package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.Conv2d;
import dev.diffusion4j.tensor.cpu.ConvAlgorithm;
import dev.diffusion4j.tensor.cpu.Winograd;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * A quick (non-JMH) side-by-side timing of 3×3 convolutions (stride 1, padding 1, bias) by the implicit GEMM and by
 * Winograd F(4,3), alternated run by run so both see the same machine load; prints medians and effective GFLOP/s
 * (direct FLOPs / time). Usage: {@code java ... ConvTiming [runs] [NxCinxCoutxHxW ...]}.
 */
public final class ConvTiming {
    private ConvTiming() {
    }

    public static void main(String[] args) {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        String[] shapes = args.length > 1 ? Arrays.copyOfRange(args, 1, args.length) : new String[] {
                "2x320x320x64x64", "2x640x640x32x32", "2x1280x1280x16x16", "2x2560x1280x16x16", "2x1280x1280x8x8",
                "2x640x640x16x16", "2x320x320x32x32", "1x512x512x64x64", "1x512x512x128x128", "1x256x256x256x256",
                "1x128x128x512x512", "1x64x64x64x64", "1x32x32x64x64"};
        ComputePool pool = ComputePool.shared();
        Random rnd = new Random(3);
        for (String shape : shapes) {
            String[] p = shape.split("x");
            int n = Integer.parseInt(p[0]);
            int cin = Integer.parseInt(p[1]);
            int cout = Integer.parseInt(p[2]);
            int h = Integer.parseInt(p[3]);
            int w = Integer.parseInt(p[4]);
            Tensor x = Tensor.of(GemmBenchmark.random(rnd, n * cin * h * w), n, cin, h, w);
            Tensor wt = Tensor.of(GemmBenchmark.random(rnd, cout * cin * 9), cout, cin, 3, 3);
            Tensor b = Tensor.of(GemmBenchmark.random(rnd, cout), cout);
            double flops = 2.0 * n * cout * cin * 9 * h * w;
            double[] direct = new double[runs];
            double[] wino = new double[runs];
            for (int i = -1; i < runs; i++) {
                long t0 = System.nanoTime();
                Conv2d.conv2d(pool, ConvAlgorithm.DIRECT, x, wt, b, 1, 1, 1, 1, 1);
                long t1 = System.nanoTime();
                Winograd.conv3x3(pool, x, wt, b, null, 1, 1, 1, 1);
                long t2 = System.nanoTime();
                if (i >= 0) {
                    direct[i] = (t1 - t0) / 1e6;
                    wino[i] = (t2 - t1) / 1e6;
                }
            }
            Arrays.sort(direct);
            Arrays.sort(wino);
            double d = direct[runs / 2];
            double wg = wino[runs / 2];
            System.out.printf(Locale.ROOT, "%-20s direct %9.2f ms (%5.0f GFLOP/s)  winograd %9.2f ms (%5.0f eff. GFLOP/s)"
                            + "  speed-up %.2fx  pays=%b%n", shape, d, flops / d / 1e6, wg, flops / wg / 1e6, d / wg,
                    Winograd.pays(ConvAlgorithm.AUTO, x, wt, b, 1, 1, 1, 1, 1));
        }
    }
}
