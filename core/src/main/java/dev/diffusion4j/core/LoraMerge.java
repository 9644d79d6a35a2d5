package dev.diffusion4j.core;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.Lora;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Merges LoRA files into the weights of the text encoder(s) and U-Net: the merged weights become override tensors laid
 * over the base {@link StateDict}s (which stay untouched, so unmerging is dropping the overlay).
 */
final class LoraMerge {
    private static final ValueLayout.OfShort I16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Per component, the weights to build from (the base dict itself when nothing changed), and the report. */
    record Result(Map<String, StateDict> weights, StableDiffusion.LoraReport report) {
    }

    private LoraMerge() {
    }

    /** Merges on the CPU backend (tests). */
    static Result merge(List<StableDiffusion.LoraSpec> specs, Map<String, StateDict> base) throws IOException {
        return merge(specs, base, dev.diffusion4j.tensor.cpu.CpuBackend.create());
    }

    /** Merges {@code specs} into {@code base} (component → weights); the {@code up @ down} products run on {@code backend}. */
    static Result merge(List<StableDiffusion.LoraSpec> specs, Map<String, StateDict> base, Backend backend)
            throws IOException {
        Map<String, Map<String, long[]>> shapes = new HashMap<>();
        for (Map.Entry<String, StateDict> e : base.entrySet()) {
            Map<String, long[]> m = new HashMap<>();
            for (String k : e.getValue().keys()) {
                Tensor t = e.getValue().find(k);
                int[] d = t.shape().dims();
                long[] l = new long[d.length];
                for (int i = 0; i < d.length; i++) {
                    l[i] = d[i];
                }
                m.put(k, l);
            }
            shapes.put(e.getKey(), m);
        }
        // Resolve every file first and group the modules by the weight they change; then merge weight by weight:
        // one float32 accumulator (base + every delta, in file order) at a time, rounded once to the base dtype.
        // Peak memory is the merged weights plus one weight in float32 and one delta (an SDXL LoRA that touches
        // every transformer would need 8 GB of float32 accumulators if all were kept to the end).
        record Change(Lora.Module module, float scale) {
        }
        Map<String, Map<String, List<Change>>> changes = new LinkedHashMap<>();
        Map<Path, Integer> merged = new LinkedHashMap<>();
        Map<Path, Map<String, String>> unmatched = new LinkedHashMap<>();
        for (StableDiffusion.LoraSpec spec : specs) {
            Lora lora = Lora.read(spec.path());
            Lora.Resolution res = lora.resolve(shapes);
            for (Lora.Target t : res.targets()) {
                changes.computeIfAbsent(t.component(), c -> new LinkedHashMap<>())
                        .computeIfAbsent(t.weightKey(), k -> new ArrayList<>())
                        .add(new Change(t.module(), (float) spec.scale()));
            }
            merged.merge(spec.path(), res.targets().size(), Integer::sum);
            unmatched.computeIfAbsent(spec.path(), p -> new LinkedHashMap<>()).putAll(res.unmatched());
        }
        Map<String, StateDict> out = new HashMap<>();
        for (Map.Entry<String, StateDict> e : base.entrySet()) {
            Map<String, List<Change>> m = changes.get(e.getKey());
            if (m == null || m.isEmpty()) {
                out.put(e.getKey(), e.getValue());
                continue;
            }
            Map<String, Tensor> overrides = new HashMap<>();
            for (Map.Entry<String, List<Change>> w : m.entrySet()) {
                Tensor baseWeight = e.getValue().get(w.getKey());
                float[] acc = baseWeight.toFloatArray();
                for (Change c : w.getValue()) {
                    float[] d = delta(c.module(), c.scale(), backend);
                    if (acc.length != d.length) {
                        throw new IllegalArgumentException("LoRA merge: delta of " + d.length + " elements for "
                                + e.getKey() + "/" + w.getKey() + " of " + acc.length);
                    }
                    for (int i = 0; i < acc.length; i++) {
                        acc[i] += d[i];
                    }
                }
                overrides.put(w.getKey(), stored(baseWeight, acc));
            }
            out.put(e.getKey(), overlay(e.getValue(), overrides));
        }
        return new Result(out, new StableDiffusion.LoraReport(merged, unmatched));
    }

    /**
     * {@link Lora#delta} with the product on the backend's GEMM: {@code scale · ((up · alpha/rank) @ down)}, float32.
     * (A naive triple loop runs at about 1.4 GFLOP/s; a rank-64 SD 1.5 LoRA is tens of GFLOP.)
     */
    static float[] delta(Lora.Module m, float scale, Backend backend) {
        int out = (int) m.upShape()[0];
        int r = m.rank();
        int in = m.down().length / r;
        float f = m.alphaOverRank();
        float[] upScaled = new float[m.up().length];
        for (int i = 0; i < upScaled.length; i++) {
            upScaled[i] = m.up()[i] * f;
        }
        float[] d = backend.matmul(Tensor.of(upScaled, out, r), false, Tensor.of(m.down(), r, in), false).toFloatArray();
        for (int i = 0; i < d.length; i++) {
            d[i] *= scale;
        }
        return d;
    }

    /** {@code w + delta} in float32, stored in w's dtype (F16/BF16 stay 2 bytes per weight). */
    static Tensor add(Tensor w, float[] delta) {
        float[] v = w.toFloatArray();
        if (v.length != delta.length) {
            throw new IllegalArgumentException("LoRA merge: delta of " + delta.length + " elements for weight " + w.shape());
        }
        for (int i = 0; i < v.length; i++) {
            v[i] += delta[i];
        }
        return stored(w, v);
    }

    /** {@code values} (float32, w's shape) as a tensor of w's dtype: F32 on the heap, F16/BF16 rounded once. */
    static Tensor stored(Tensor w, float[] v) {
        Shape shape = w.shape();
        if (w.dtype() == DType.F32 || w.dtype().isQuantized()) {
            // (LoRAs merge into stored weights before any quantisation; a quantised base stays F32 here)
            return Tensor.of(v, shape.dims());
        }
        // Native memory owned by the GC (Arena.ofAuto): aligned like a mapped weight, as the half-float kernels expect.
        MemorySegment seg = Arena.ofAuto().allocate((long) v.length * 2, 64);
        boolean f16 = w.dtype() == DType.F16;
        for (int i = 0; i < v.length; i++) {
            seg.set(I16_LE, 2L * i, f16 ? HalfFloats.floatToF16(v[i]) : HalfFloats.floatToBf16(v[i]));
        }
        return Tensor.wrap(seg, w.dtype(), shape);
    }

    private static StateDict overlay(StateDict base, Map<String, Tensor> overrides) {
        return base.overlay(overrides, "+ LoRA (" + overrides.size() + " merged weights)");
    }
}
