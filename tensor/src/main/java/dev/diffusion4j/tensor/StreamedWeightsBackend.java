package dev.diffusion4j.tensor;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.atomic.LongAdder;

/**
 * A {@link Backend} that forwards every op to another and then drops the resident pages of the memory-mapped
 * tensors the op read (its weights) with {@link MemorySegment#unload()} ({@code madvise(MADV_DONTNEED)}).
 *
 * <p>Why: a model's memory-mapped weights count in the process's resident memory once they have been read, so a
 * U-Net step holds all of them (1.7 GB for SD 1.5 in F16) besides the activations. Released after each op, only
 * the weights of the op in progress are resident; the pages stay in the operating system's page cache (shared,
 * reclaimable) and come back on the next read as minor page faults, so nothing is re-read from disk unless the
 * system needed the memory. The price is those faults, once per op per forward pass (measure it:
 * {@link #releasedBytes()} counts what was dropped). Heap tensors and segments that are not file mappings (e.g.
 * quantized or LoRA-merged weights in an arena) are left alone; read-only file mappings lose nothing.
 *
 * <p>Thread-safe if the inner backend is: releasing pages another thread is reading only makes it fault them
 * back in.
 */
public final class StreamedWeightsBackend implements Backend.GroupNormConvWithAddend {
    private final Backend inner;
    private final LongAdder released = new LongAdder();

    /** Streams the weights of every op run on {@code inner}. */
    public StreamedWeightsBackend(Backend inner) {
        if (inner == null) {
            throw new IllegalArgumentException("StreamedWeightsBackend: inner backend is null");
        }
        this.inner = inner;
    }

    /** Bytes of mapped tensors released so far (a tensor read by several ops counts each time). */
    public long releasedBytes() {
        return released.sum();
    }

    private Tensor release(Tensor result, Tensor... read) {
        for (Tensor t : read) {
            release(t);
        }
        return result;
    }

    private void release(Tensor t) {
        if (t == null || t.isHeap()) {
            return;
        }
        MemorySegment s = t.segment();
        if (s.isMapped() && s.byteSize() > 0) {
            s.unload();
            released.add(s.byteSize());
        }
    }

    @Override
    public String name() {
        return inner.name() + "+streamed-weights";
    }

    @Override
    public Tensor matmul(Tensor a, boolean transposeA, Tensor b, boolean transposeB) {
        return release(inner.matmul(a, transposeA, b, transposeB), a, b);
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        return release(inner.linear(x, weight, bias), weight, bias);
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual) {
        return release(inner.linear(x, weight, bias, residual), weight, bias);
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual, boolean residualIsScratch) {
        return release(inner.linear(x, weight, bias, residual, residualIsScratch), weight, bias);
    }

    @Override
    public Tensor[] linears(Tensor x, Tensor[] weights, Tensor[] biases) {
        return releaseAll(inner.linears(x, weights, biases), weights, biases);
    }

    @Override
    public Tensor[] layerNormLinears(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor[] weights, Tensor[] biases) {
        Tensor[] out = inner.layerNormLinears(x, gamma, beta, eps, weights, biases);
        release(gamma);
        release(beta);
        return releaseAll(out, weights, biases);
    }

    @Override
    public Tensor layerNormLinearGeglu(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor weight, Tensor bias) {
        return release(inner.layerNormLinearGeglu(x, gamma, beta, eps, weight, bias), gamma, beta, weight, bias);
    }

    private Tensor[] releaseAll(Tensor[] out, Tensor[] weights, Tensor[] biases) {
        for (Tensor w : weights) {
            release(w);
        }
        if (biases != null) {
            for (Tensor b : biases) {
                release(b);
            }
        }
        return out;
    }

    @Override
    public Tensor linearGeglu(Tensor x, Tensor weight, Tensor bias) {
        return release(inner.linearGeglu(x, weight, bias), weight, bias);
    }

    @Override
    public Tensor linearFromChannels(Tensor x, Tensor weight, Tensor bias) {
        return release(inner.linearFromChannels(x, weight, bias), weight, bias);
    }

    @Override
    public Tensor groupNormLinearFromChannels(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, Tensor weight,
                                              Tensor bias) {
        return release(inner.groupNormLinearFromChannels(x, groups, gamma, beta, eps, weight, bias), gamma, beta,
                weight, bias);
    }

    @Override
    public Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width) {
        return release(inner.linearToChannels(x, weight, bias, residual, height, width), weight, bias);
    }

    @Override
    public Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width,
                                   boolean residualIsScratch) {
        return release(inner.linearToChannels(x, weight, bias, residual, height, width, residualIsScratch), weight,
                bias);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padTop, int padBottom, int padLeft,
                         int padRight) {
        return release(inner.conv2d(x, weight, bias, stride, padTop, padBottom, padLeft, padRight), weight, bias);
    }

    @Override
    public Tensor groupNormConv2d(Tensor x, Tensor channelAddend, int groups, Tensor gamma, Tensor beta, float eps,
                                  boolean silu, Tensor weight, Tensor bias, int padding, Tensor residual,
                                  boolean residualIsScratch) {
        return release(inner.groupNormConv2d(x, channelAddend, groups, gamma, beta, eps, silu, weight, bias, padding,
                residual, residualIsScratch), gamma, beta, weight, bias);
    }

    @Override
    public Tensor upsampleConv2d(Tensor x, int outH, int outW, Tensor weight, Tensor bias, int padding) {
        return release(inner.upsampleConv2d(x, outH, outW, weight, bias, padding), weight, bias);
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        return release(inner.groupNorm(x, groups, gamma, beta, eps, silu), gamma, beta);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        return release(inner.layerNorm(x, gamma, beta, eps), gamma, beta);
    }

    @Override
    public Tensor softmax(Tensor x) {
        return inner.softmax(x);
    }

    @Override
    public Tensor silu(Tensor x) {
        return inner.silu(x);
    }

    @Override
    public Tensor gelu(Tensor x, boolean tanhApproximation) {
        return inner.gelu(x, tanhApproximation);
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        return inner.quickGelu(x);
    }

    @Override
    public Tensor geglu(Tensor x) {
        return inner.geglu(x);
    }

    @Override
    public Tensor upsampleNearest(Tensor x, int outH, int outW) {
        return inner.upsampleNearest(x, outH, outW);
    }

    @Override
    public Tensor upsampleNearest2x(Tensor x) {
        return inner.upsampleNearest2x(x);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return release(inner.add(a, b), a, b);
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return release(inner.mul(a, b), a, b);
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        return inner.scale(a, s);
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        return inner.concatChannels(a, b);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal) {
        return inner.attention(q, k, v, heads, scale, causal);
    }

    @Override
    public Tensor transpose(Tensor x) {
        return inner.transpose(x);
    }

    @Override
    public Tensor relu(Tensor x) {
        return inner.relu(x);
    }

    @Override
    public Tensor sliceChannels(Tensor x, int start, int length) {
        return inner.sliceChannels(x, start, length);
    }
}
