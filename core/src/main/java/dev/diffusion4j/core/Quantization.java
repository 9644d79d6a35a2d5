package dev.diffusion4j.core;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Quantized;
import dev.diffusion4j.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;

/**
 * How a model's weights are held in memory: as stored ({@link #NONE}), or block-quantised to 8 bits at load
 * ({@link #Q8_0}, see {@link Quantized}). Applied to the U-Net (see {@link StableDiffusion.LoadOptions#quantization}).
 */
public enum Quantization {
    /** Weights as stored in the file (F32, F16 or BF16), memory-mapped. */
    NONE,
    /**
     * The weights of linear and convolution layers with at least 32 outputs and an input size (per output) that is
     * a multiple of 32, as {@link dev.diffusion4j.tensor.DType#Q8_0} blocks (8.5 bits per weight, about 0.53 of F16),
     * made at load from the mapped weights; norms, biases, embeddings and small or odd layers (SD's {@code conv_in}
     * with 4 input channels, {@code conv_out} with 4 outputs) stay as stored.
     */
    Q8_0;

    /** Parses {@code none}, {@code q8_0} or {@code q8} (any case). */
    public static Quantization parse(String name) {
        String n = name.trim().toLowerCase(Locale.ROOT);
        return switch (n) {
            case "none", "" -> NONE;
            case "q8_0", "q8" -> Q8_0;
            default -> throw new IllegalArgumentException("unknown quantization '" + name + "' (none, q8_0)");
        };
    }

    /** Whether weight {@code key} with tensor {@code t} is quantised under this setting. */
    public boolean appliesTo(String key, Tensor t) {
        return this == Q8_0 && key.endsWith(".weight") && !key.endsWith("embedding.weight")
                && (t.rank() == 2 || t.rank() == 4) && t.dim(0) >= Quantized.BLOCK && Quantized.canQuantize(t);
    }

    /**
     * The weights of {@code weights} with every weight this setting {@linkplain #appliesTo applies to} quantised now
     * (in parallel, into {@code arena}, which the caller closes after the model is done); the others are those of
     * {@code weights}. The memory-mapped pages of each weight quantised are released from resident memory once it is
     * read (they stay in the page cache, and come back on a later read). {@link #NONE}: {@code weights} itself.
     */
    public Result apply(StateDict weights, Arena arena) {
        if (this == NONE) {
            return new Result(weights, 0, 0, 0);
        }
        Map<String, Tensor> quantized = new ConcurrentHashMap<>();
        Map<String, Tensor> todo = new java.util.LinkedHashMap<>();
        for (String k : weights.keys()) {
            Tensor t = weights.find(k);
            if (t != null && appliesTo(k, t)) {
                todo.put(k, t);
            }
        }
        // In parallel when other threads may read the weights and allocate from the arena (not confined ones).
        Thread probe = new Thread(() -> { });
        boolean shared = arena.allocate(1).isAccessibleBy(probe)
                && todo.values().stream().allMatch(t -> t.isHeap() || t.segment().isAccessibleBy(probe));
        (shared ? todo.entrySet().parallelStream() : todo.entrySet().stream())
                .forEach(e -> {
                    Tensor t = e.getValue();
                    quantized.put(e.getKey(), Quantized.quantize(t, arena));
                    if (!t.isHeap() && t.segment().isMapped()) {
                        // Drop the pages just read from resident memory now, not after the whole model: else the
                        // stored and the 8-bit copies would briefly be resident together.
                        t.segment().unload();
                    }
                });
        long before = 0;
        long after = 0;
        for (Map.Entry<String, Tensor> e : quantized.entrySet()) {
            Tensor original = weights.find(e.getKey());
            before += original.dtype().storageBytes(original.numel());
            after += e.getValue().segment().byteSize();
        }
        StateDict out = weights.overlay(quantized, "(" + name() + ")");
        return new Result(out, quantized.size(), before, after);
    }

    /**
     * What {@link #apply} made.
     *
     * @param weights the weights with the quantised ones in place
     * @param count how many weights were quantised
     * @param bytesBefore their stored size
     * @param bytesAfter their quantised size
     */
    public record Result(StateDict weights, int count, long bytesBefore, long bytesAfter) {
    }
}
