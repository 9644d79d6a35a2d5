package dev.diffusion4j.benchmarks;

import dev.diffusion4j.nn.clip.CLIPTextConfig;
import dev.diffusion4j.nn.clip.CLIPTextModel;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.nn.vae.AutoencoderKL;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.ResidentMemory;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.Locale;
import java.util.Map;

/**
 * Peak resident memory of the whole SD 1.5 job with F16 weights: text encoder (2 × 77 tokens), U-Net steps at
 * batch 2 (guidance) on 64×64 latents, VAE decode at 512×512. Run with the heap the job needs, {@code -Xmx640m}
 * (the decode's largest block holds 536 MB of activations; 512 MiB is too little): {@code java ... MemoryBudget
 * [steps]}. Peak RSS is then about the weights (2.13 GB = 1.99 GiB), the heap and ~0.1 GiB of JVM.
 */
public final class MemoryBudget {
    private MemoryBudget() {
    }

    public static void main(String[] args) {
        int steps = args.length > 0 ? Integer.parseInt(args[0]) : 1;
        CpuBackend be = CpuBackend.create();
        try (Arena arena = Arena.ofShared()) {
            Map<String, Object> clip = new HashMap<>();
            clip.put("hidden_size", 768);
            clip.put("num_hidden_layers", 12);
            clip.put("num_attention_heads", 12);
            clip.put("intermediate_size", 3072);
            clip.put("eos_token_id", 49407);
            var tw = FullSizeModels.randomWeights(DType.F16, arena, 3);
            CLIPTextModel text = CLIPTextModel.of(CLIPTextConfig.fromMap(clip), k -> tw.get(k, FullSizeModels.clipL14Shape(k)),
                    CLIPTextModel.DIFFUSERS_PREFIX, be);
            UNet2DConditionModel unet = new UNet2DConditionModel(FullSizeModels.unetConfig(),
                    FullSizeModels.randomWeights(DType.F16, arena, 1), be);
            AutoencoderKL vae = new AutoencoderKL(FullSizeModels.vaeConfig(), FullSizeModels.randomWeights(DType.F16, arena, 2), be);
            report("weights made");
            int[][] ids = new int[2][77];
            for (int[] row : ids) {
                java.util.Arrays.fill(row, 49407);
                row[0] = 49406;
            }
            Tensor context = text.encode(ids);
            report("text encoded");
            Tensor latents = FullSizeModels.guidedLatents(4, 64);
            for (int i = 0; i < steps; i++) {
                long t0 = System.nanoTime();
                unet.forward(latents, new float[] {999f - i}, context);
                System.out.printf(Locale.ROOT, "step %d: %.1f s%n", i, (System.nanoTime() - t0) / 1e9);
            }
            report("U-Net steps");
            long t0 = System.nanoTime();
            vae.decode(latents.slice(0).toHeapF32().reshape(1, 4, 64, 64));
            System.out.printf(Locale.ROOT, "decode: %.1f s%n", (System.nanoTime() - t0) / 1e9);
            report("decoded");
        }
    }

    private static void report(String stage) {
        System.out.printf(Locale.ROOT, "%-14s peak RSS %.2f GiB%n", stage, ResidentMemory.peakBytes() / 1073741824.0);
    }
}
