package dev.diffusion4j.benchmarks;

import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.function.Supplier;

/**
 * A quick (non-JMH) timing of the ops of a 512×512 VAE decode that are not its 3×3 GroupNorm convolutions: the
 * 1×1 shortcuts, the mid-block's attention (single head of 512 channels over 4096 positions) and its projections,
 * conv_in and conv_out. Prints medians and GFLOP/s. Usage: {@code java ... VaeOpsTiming [runs] [name filter]}.
 */
public final class VaeOpsTiming {
    private VaeOpsTiming() {
    }

    public static void main(String[] args) {
        int runs = args.length > 0 ? Integer.parseInt(args[0]) : 7;
        String only = args.length > 1 ? args[1] : "";
        CpuBackend be = new CpuBackend(ComputePool.shared());
        Map<String, Supplier<Tensor>> ops = new LinkedHashMap<>();
        Map<String, Double> flops = new LinkedHashMap<>();
        Tensor x256 = FullSizeModels.randn(1, 1, 512, 256, 256);
        Tensor w11a = FullSizeModels.randn(2, 256, 512, 1, 1);
        Tensor b256 = FullSizeModels.randn(3, 256);
        ops.put("conv1x1 512->256 @256", () -> be.conv2d(x256, w11a, b256, 1, 0));
        flops.put("conv1x1 512->256 @256", 2.0 * 512 * 256 * 256 * 256);
        Tensor x512 = FullSizeModels.randn(4, 1, 256, 512, 512);
        Tensor w11b = FullSizeModels.randn(5, 128, 256, 1, 1);
        Tensor b128 = FullSizeModels.randn(6, 128);
        ops.put("conv1x1 256->128 @512", () -> be.conv2d(x512, w11b, b128, 1, 0));
        flops.put("conv1x1 256->128 @512", 2.0 * 256 * 128 * 512 * 512);
        // The decode's weights are F16 (as FullSizeTiming makes them): their conversion is part of the cost.
        Tensor w11aHalf = FullSizeModels.half(w11a.toFloatArray(), DType.F16, Arena.global(), w11a.shape());
        Tensor w11bHalf = FullSizeModels.half(w11b.toFloatArray(), DType.F16, Arena.global(), w11b.shape());
        ops.put("conv1x1 f16 512->256 @256", () -> be.conv2d(x256, w11aHalf, b256, 1, 0));
        flops.put("conv1x1 f16 512->256 @256", 2.0 * 512 * 256 * 256 * 256);
        ops.put("conv1x1 f16 256->128 @512", () -> be.conv2d(x512, w11bHalf, b128, 1, 0));
        flops.put("conv1x1 f16 256->128 @512", 2.0 * 256 * 128 * 512 * 512);
        Tensor seq = FullSizeModels.randn(7, 1, 4096, 512);
        Tensor[] wq = {FullSizeModels.randn(8, 512, 512), FullSizeModels.randn(9, 512, 512), FullSizeModels.randn(10, 512, 512)};
        Tensor[] bq = {FullSizeModels.randn(11, 512), FullSizeModels.randn(12, 512), FullSizeModels.randn(13, 512)};
        ops.put("linear qkv 4096x512->3x512", () -> be.linears(seq, wq, bq)[0]);
        flops.put("linear qkv 4096x512->3x512", 2.0 * 4096 * 512 * 1536);
        ops.put("linear out 4096x512->512", () -> be.linear(seq, wq[0], bq[0], seq));
        flops.put("linear out 4096x512->512", 2.0 * 4096 * 512 * 512);
        // The mid-block's projections as it now runs them: q/k/v read the channels in place, the output
        // projection writes channels and adds the residual.
        Tensor map512 = FullSizeModels.randn(14, 1, 512, 64, 64);
        ops.put("linear qkv from channels 3x", () -> {
            be.linearFromChannels(map512, wq[0], bq[0]);
            be.linearFromChannels(map512, wq[1], bq[1]);
            return be.linearFromChannels(map512, wq[2], bq[2]);
        });
        flops.put("linear qkv from channels 3x", 2.0 * 4096 * 512 * 1536);
        ops.put("linear out to channels", () -> be.linearToChannels(seq, wq[0], bq[0], map512, 64, 64));
        flops.put("linear out to channels", 2.0 * 4096 * 512 * 512);
        Tensor q = FullSizeModels.randn(15, 1, 4096, 512);
        Tensor k = FullSizeModels.randn(16, 1, 4096, 512);
        Tensor v = FullSizeModels.randn(17, 1, 4096, 512);
        ops.put("attention 4096x4096 d512", () -> be.attention(q, k, v, 1, (float) (1 / Math.sqrt(512)), false));
        flops.put("attention 4096x4096 d512", 4.0 * 4096 * 4096 * 512);
        Tensor map = FullSizeModels.randn(18, 1, 512, 64, 64);
        ops.put("transpose 512x4096", () -> be.transpose(map.reshape(1, 512, 4096)));
        flops.put("transpose 512x4096", 0.0);
        Tensor z = FullSizeModels.randn(19, 1, 4, 64, 64);
        Tensor win = FullSizeModels.randn(20, 512, 4, 3, 3);
        Tensor bin = FullSizeModels.randn(21, 512);
        ops.put("conv_in 4->512 @64", () -> be.conv2d(z, win, bin, 1, 1));
        flops.put("conv_in 4->512 @64", 2.0 * 4 * 512 * 9 * 64 * 64);
        Tensor x128 = FullSizeModels.randn(22, 1, 128, 512, 512);
        Tensor wout = FullSizeModels.randn(23, 3, 128, 3, 3);
        Tensor bout = FullSizeModels.randn(24, 3);
        ops.put("conv_out 128->3 @512", () -> be.conv2d(x128, wout, bout, 1, 1));
        flops.put("conv_out 128->3 @512", 2.0 * 128 * 3 * 9 * 512 * 512);
        // As in the decoder: GroupNorm (32 groups) + SiLU fused into the convolution's input rows.
        Tensor g128 = FullSizeModels.randn(25, 128);
        Tensor beta128 = FullSizeModels.randn(26, 128);
        ops.put("conv_out gn+silu 128->3 @512",
                () -> be.groupNormConv2d(x128, 32, g128, beta128, 1e-6f, true, wout, bout, 1, null, false));
        flops.put("conv_out gn+silu 128->3 @512", 2.0 * 128 * 3 * 9 * 512 * 512);
        for (Map.Entry<String, Supplier<Tensor>> e : ops.entrySet()) {
            if (!e.getKey().contains(only)) {
                continue;
            }
            double[] ms = new double[runs];
            for (int i = -2; i < runs; i++) {
                long t0 = System.nanoTime();
                e.getValue().get();
                long t1 = System.nanoTime();
                if (i >= 0) {
                    ms[i] = (t1 - t0) / 1e6;
                }
            }
            Arrays.sort(ms);
            double med = ms[runs / 2];
            System.out.printf(Locale.ROOT, "%-28s %9.2f ms  %6.0f GFLOP/s%n", e.getKey(), med,
                    flops.get(e.getKey()) / med / 1e6);
        }
    }
}
