package dev.diffusion4j.benchmarks;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * The real Stable Diffusion 1.5 configurations with random weights made in memory (no download), for benchmarks:
 * weights are drawn on demand with the shape the model asks for (std 1/sqrt(fan-in), norm scales 1, biases small),
 * stored as F16 off the heap (as a memory-mapped F16 checkpoint would be) or as F32 on the heap.
 */
public final class FullSizeModels {
    private FullSizeModels() {
    }

    /** SD 1.5's {@code unet/config.json}. */
    public static ModelConfig unetConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put("in_channels", 4);
        c.put("out_channels", 4);
        c.put("block_out_channels", List.of(320, 640, 1280, 1280));
        c.put("down_block_types", List.of("CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D", "DownBlock2D"));
        c.put("up_block_types", List.of("UpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "CrossAttnUpBlock2D"));
        c.put("layers_per_block", 2);
        c.put("attention_head_dim", 8);
        c.put("cross_attention_dim", 768);
        c.put("norm_num_groups", 32);
        c.put("sample_size", 64);
        return new ModelConfig("SD 1.5 unet config (built in)", c);
    }

    /** SD 1.5's {@code vae/config.json}. */
    public static ModelConfig vaeConfig() {
        Map<String, Object> c = new HashMap<>();
        c.put("block_out_channels", List.of(128, 256, 512, 512));
        c.put("layers_per_block", 2);
        c.put("latent_channels", 4);
        c.put("norm_num_groups", 32);
        c.put("scaling_factor", 0.18215);
        return new ModelConfig("SD 1.5 vae config (built in)", c);
    }

    /** Random weights of the requested shapes; F16 ones live in {@code arena} (off the heap). */
    public static StateDict randomWeights(DType dtype, Arena arena, long seed) {
        return new StateDict() {
            private final Map<String, Tensor> made = new HashMap<>();

            @Override
            public Tensor find(String key) {
                return made.get(key);
            }

            @Override
            public String source() {
                return "random weights";
            }

            @Override
            public Set<String> keys() {
                return made.keySet();
            }

            @Override
            public Tensor get(String key, int... dims) {
                return made.computeIfAbsent(key, k -> make(k, Shape.of(dims), dtype, arena, seed ^ k.hashCode()));
            }
        };
    }

    private static Tensor make(String key, Shape shape, DType dtype, Arena arena, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        int n = Math.toIntExact(shape.numel());
        boolean norm = key.contains("norm");
        boolean bias = key.endsWith(".bias");
        double fanIn = shape.rank() >= 2 ? shape.numel() / shape.dim(0) : 1;
        double std = bias ? 0.02 : 1 / Math.sqrt(fanIn);
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = norm && !bias ? (float) (1 + 0.05 * rnd.nextGaussian()) : (float) (std * rnd.nextGaussian());
        }
        if (dtype == DType.F32) {
            return Tensor.of(v, shape.dims());
        }
        MemorySegment seg = arena.allocate(2L * n, 64);
        ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < n; i++) {
            seg.set(le, 2L * i, dtype == DType.F16 ? HalfFloats.floatToF16(v[i]) : HalfFloats.floatToBf16(v[i]));
        }
        return Tensor.wrap(seg, dtype, shape);
    }

    /** The shape of a CLIP ViT-L/14 text-tower weight (HF key names), for random weights. */
    public static int[] clipL14Shape(String key) {
        int d = 768;
        if (key.endsWith("token_embedding.weight")) {
            return new int[] {49408, d};
        }
        if (key.endsWith("position_embedding.weight")) {
            return new int[] {77, d};
        }
        if (key.endsWith("fc1.weight")) {
            return new int[] {4 * d, d};
        }
        if (key.endsWith("fc1.bias")) {
            return new int[] {4 * d};
        }
        if (key.endsWith("fc2.weight")) {
            return new int[] {d, 4 * d};
        }
        if (key.endsWith("proj.weight")) {
            return new int[] {d, d};
        }
        return new int[] {d};
    }

    /** Standard normal values of the given shape. */
    public static Tensor randn(long seed, int... dims) {
        SplittableRandom rnd = new SplittableRandom(seed);
        float[] v = new float[Math.toIntExact(Shape.of(dims).numel())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return Tensor.of(v, dims);
    }

    /** Peak resident memory of this process in bytes (VmHWM), or -1 where /proc is absent. */
    public static long peakRssBytes() {
        try {
            for (String line : java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) {
                    return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
                }
            }
        } catch (java.io.IOException | NumberFormatException e) {
            return -1;
        }
        return -1;
    }
}
