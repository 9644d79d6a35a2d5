package dev.diffusion4j.benchmarks;

import dev.diffusion4j.core.Quantization;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.lang.foreign.Arena;
import java.util.Locale;

/**
 * The parity error of {@link Quantization#Q8_0} at full size: one SD 1.5 U-Net forward (batch 2, 64×64, random
 * weights) with the weights in F32 and with the same weights quantised (from F32), on the same input; prints
 * {@code max |diff| / max |F32|} and {@code RMS(diff) / RMS(F32)} of the output. Usage: {@code java ... QuantizedParity}.
 */
public final class QuantizedParity {
    private QuantizedParity() {
    }

    public static void main(String[] args) {
        CpuBackend be = CpuBackend.create();
        try (Arena arena = Arena.ofShared()) {
            StateDict f32 = FullSizeModels.randomWeights(DType.F32, arena, 1);
            Tensor x = FullSizeModels.randn(2, 2, 4, 64, 64);
            Tensor ctx = FullSizeModels.randn(3, 2, 77, 768);
            long t0 = System.nanoTime();
            Tensor want = new UNet2DConditionModel(FullSizeModels.unetConfig(), f32, be).forward(x, new float[] {500f}, ctx);
            long t1 = System.nanoTime();
            Tensor got = new UNet2DConditionModel(FullSizeModels.unetConfig(),
                    FullSizeTiming.quantized(f32, Quantization.Q8_0, arena), be).forward(x, new float[] {500f}, ctx);
            long t2 = System.nanoTime();
            float[] a = want.toFloatArray();
            float[] b = got.toFloatArray();
            double max = 0;
            double diff = 0;
            double sa = 0;
            double sd = 0;
            for (int i = 0; i < a.length; i++) {
                double d = (double) a[i] - b[i];
                max = Math.max(max, Math.abs(a[i]));
                diff = Math.max(diff, Math.abs(d));
                sa += (double) a[i] * a[i];
                sd += d * d;
            }
            System.out.printf(Locale.ROOT, "SD 1.5 U-Net (random weights), output Q8_0 vs F32: max |diff| / max |F32| %.2e,"
                    + " RMS(diff) / RMS(F32) %.2e (F32 %.1f s, Q8_0 %.1f s)%n", diff / max, Math.sqrt(sd / sa),
                    (t1 - t0) / 1e9, (t2 - t1) / 1e9);
        }
    }
}
