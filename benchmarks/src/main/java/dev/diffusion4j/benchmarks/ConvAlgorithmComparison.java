package dev.diffusion4j.benchmarks;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.ResidentMemory;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.ConvAlgorithm;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Locale;

/**
 * The full-size SD 1.5 U-Net step (batch 2, 64×64 latents) or VAE decode (512×512) with the 3×3 convolutions by
 * the implicit GEMM ({@link ConvAlgorithm#DIRECT}) and by Winograd where it pays ({@link ConvAlgorithm#AUTO}), in one
 * JVM on the same F16 random weights, the two alternated run by run after one warm-up each, so both see the same
 * machine load. Prints per-run times, medians and both per-op profiles (warm-up excluded).
 * Usage: {@code java ... ConvAlgorithmComparison [unet|vae] [runs]}.
 */
public final class ConvAlgorithmComparison {
    private ConvAlgorithmComparison() {
    }

    private interface Step {
        void run();
    }

    public static void main(String[] args) {
        String what = args.length > 0 ? args[0] : "unet";
        int runs = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        ConvAlgorithm[] algorithms = {ConvAlgorithm.DIRECT, ConvAlgorithm.AUTO};
        ProfilingBackend[] be = new ProfilingBackend[2];
        Step[] steps = new Step[2];
        try (Arena arena = Arena.ofShared()) {
            boolean unet = what.equals("unet");
            StateDict weights = unet ? FullSizeModels.randomWeights(DType.F16, arena, 1)
                    : FullSizeModels.randomWeights(DType.F16, arena, 2);
            Tensor x = FullSizeModels.randn(2, 2, 4, 64, 64);
            Tensor ctx = FullSizeModels.randn(3, 2, 77, 768);
            Tensor z = FullSizeModels.randn(4, 1, 4, 64, 64);
            for (int a = 0; a < 2; a++) {
                be[a] = new ProfilingBackend(new CpuBackend(ComputePool.shared(), algorithms[a]));
                if (unet) {
                    UNet2DConditionModel model = new UNet2DConditionModel(FullSizeModels.unetConfig(), weights, be[a]);
                    steps[a] = () -> model.forward(x, new float[] {500f}, ctx);
                } else {
                    AutoencoderKL vae = new AutoencoderKL(FullSizeModels.vaeConfig(), weights, be[a]);
                    steps[a] = () -> vae.decode(z);
                }
            }
            double[][] s = new double[2][runs];
            for (int i = -1; i < runs; i++) {
                for (int a = 0; a < 2; a++) {
                    long t0 = System.nanoTime();
                    steps[a].run();
                    double sec = (System.nanoTime() - t0) / 1e9;
                    System.out.printf(Locale.ROOT, "%s %s%s: %.2f s%n", what, algorithms[a], i < 0 ? " (warm-up)" : "", sec);
                    if (i < 0) {
                        be[a].reset();
                    } else {
                        s[a][i] = sec;
                    }
                }
            }
            for (int a = 0; a < 2; a++) {
                System.out.println("--- " + algorithms[a] + " (" + runs + " runs)");
                System.out.print(be[a].report());
                Arrays.sort(s[a]);
            }
            System.out.printf(Locale.ROOT, "%s median: DIRECT %.2f s, AUTO %.2f s (%.2fx); peak RSS %.2f GiB%n", what,
                    s[0][runs / 2], s[1][runs / 2], s[0][runs / 2] / s[1][runs / 2],
                    ResidentMemory.peakBytes() / 1073741824.0);
        }
    }
}
