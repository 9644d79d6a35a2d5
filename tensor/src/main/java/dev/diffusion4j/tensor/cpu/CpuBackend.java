package dev.diffusion4j.tensor.cpu;

import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.ComputePool;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;

/**
 * The CPU backend: Vector API kernels ({@code FloatVector.SPECIES_PREFERRED}) on one {@link ComputePool}.
 * Thread-safe: ops share no mutable state.
 */
public final class CpuBackend implements Backend.GroupNormConvWithAddend {
    private final ComputePool pool;
    private final ConvAlgorithm convAlgorithm;

    /** A backend on the given pool ({@link ConvAlgorithm#AUTO}). */
    public CpuBackend(ComputePool pool) {
        this(pool, ConvAlgorithm.AUTO);
    }

    /** A backend on the given pool whose 3×3 convolutions use {@code convAlgorithm}. */
    public CpuBackend(ComputePool pool, ConvAlgorithm convAlgorithm) {
        VectorSupport.requireVectorApi();
        this.pool = pool;
        this.convAlgorithm = java.util.Objects.requireNonNull(convAlgorithm, "convAlgorithm");
    }

    /** A backend on {@link ComputePool#shared()}. */
    public static CpuBackend create() {
        return new CpuBackend(ComputePool.shared());
    }

    /** The pool the kernels run on. */
    public ComputePool pool() {
        return pool;
    }

    @Override
    public String name() {
        return "cpu";
    }

    @Override
    public Tensor matmul(Tensor a, boolean transposeA, Tensor b, boolean transposeB) {
        return Gemm.matmul(pool, a, transposeA, b, transposeB);
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias) {
        // FusedLinear's driver: a 16-bit weight is packed once for all row tiles.
        return FusedLinear.linear(pool, x, weight, bias, null);
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual) {
        return FusedLinear.linear(pool, x, weight, bias, residual);
    }

    @Override
    public Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual, boolean residualIsScratch) {
        return FusedLinear.linear(pool, x, weight, bias, residual, residualIsScratch);
    }

    @Override
    public Tensor[] linears(Tensor x, Tensor[] weights, Tensor[] biases) {
        return FusedLinear.linears(pool, x, weights, biases);
    }

    @Override
    public Tensor linearGeglu(Tensor x, Tensor weight, Tensor bias) {
        return FusedLinear.linearGeglu(pool, x, weight, bias);
    }

    @Override
    public Tensor[] layerNormLinears(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor[] weights, Tensor[] biases) {
        return FusedLinear.layerNormLinears(pool, x, gamma, beta, eps, weights, biases);
    }

    @Override
    public Tensor layerNormLinearGeglu(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor weight, Tensor bias) {
        return FusedLinear.layerNormLinearGeglu(pool, x, gamma, beta, eps, weight, bias);
    }

    @Override
    public Tensor linearFromChannels(Tensor x, Tensor weight, Tensor bias) {
        return FusedLinear.linearFromChannels(pool, x, weight, bias);
    }

    @Override
    public Tensor groupNormLinearFromChannels(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, Tensor weight,
                                              Tensor bias) {
        Kernels.requireNonNull("groupNormLinearFromChannels", "x", x);
        if (x.rank() != 4) {
            throw new IllegalArgumentException("groupNormLinearFromChannels: x must be [N, C, H, W], got " + x.shape());
        }
        Tensor in = Kernels.heap(x);
        return FusedLinear.linearFromChannels(pool, in, Norms.groupNormCoefficients(pool, in, groups, gamma, beta, eps),
                weight, bias);
    }

    @Override
    public Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width) {
        return FusedLinear.linearToChannels(pool, x, weight, bias, residual, height, width);
    }

    @Override
    public Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width,
                                   boolean residualIsScratch) {
        return FusedLinear.linearToChannels(pool, x, weight, bias, residual, height, width, residualIsScratch);
    }

    @Override
    public Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride,
                         int padTop, int padBottom, int padLeft, int padRight) {
        return Conv2d.conv2d(pool, convAlgorithm, x, weight, bias, stride, padTop, padBottom, padLeft, padRight);
    }

    @Override
    public Tensor groupNormConv2d(Tensor x, Tensor channelAddend, int groups, Tensor gamma, Tensor beta, float eps,
                                  boolean silu, Tensor weight, Tensor bias, int padding, Tensor residual,
                                  boolean residualIsScratch) {
        Kernels.requireNonNull("groupNormConv2d", "x", x);
        if (x.rank() != 4) {
            throw new IllegalArgumentException("groupNormConv2d: x must be [N, C, H, W], got " + x.shape());
        }
        Tensor in = Kernels.heap(x);
        float[] addend = null;
        if (channelAddend != null) {
            if (!channelAddend.shape().equals(Shape.of(x.dim(0), x.dim(1)))) {
                throw new IllegalArgumentException("groupNormConv2d: channelAddend " + channelAddend.shape()
                        + " must be [N, C] = [" + x.dim(0) + ", " + x.dim(1) + "] of x " + x.shape());
            }
            addend = Gemm.toFloats(channelAddend);
        }
        float[][] coef = Norms.groupNormCoefficients(pool, in, addend, groups, gamma, beta, eps);
        // Not into the input's own storage: later bands and tiles still read it after earlier outputs are written.
        boolean scratch = residualIsScratch && (residual == null || !Kernels.sharesStorage(residual, in));
        return Conv2d.conv2d(pool, convAlgorithm, null, ConvRows.groupNorm(in, coef, silu), weight, bias, 1,
                padding, padding, padding, padding, residual, scratch);
    }

    @Override
    public Tensor upsampleConv2d(Tensor x, int outH, int outW, Tensor weight, Tensor bias, int padding) {
        Kernels.requireNonNull("upsampleConv2d", "x", x);
        if (x.rank() != 4 || outH <= 0 || outW <= 0 || x.dim(2) == 0 || x.dim(3) == 0) {
            throw new IllegalArgumentException("upsampleConv2d: needs a non-empty [N, C, H, W] input and a positive output size, got "
                    + x.shape() + " to (" + outH + ", " + outW + ")");
        }
        Tensor in = Kernels.heap(x);
        return Conv2d.conv2d(pool, convAlgorithm, null, ConvRows.upsampleNearest(in, outH, outW), weight, bias, 1,
                padding, padding, padding, padding, null, false);
    }

    @Override
    public Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu) {
        return Norms.groupNorm(pool, x, groups, gamma, beta, eps, silu);
    }

    @Override
    public Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps) {
        return Norms.layerNorm(pool, x, gamma, beta, eps);
    }

    @Override
    public Tensor softmax(Tensor x) {
        return Norms.softmax(pool, x);
    }

    @Override
    public Tensor silu(Tensor x) {
        return Elementwise.silu(pool, x);
    }

    @Override
    public Tensor gelu(Tensor x, boolean tanhApproximation) {
        return Elementwise.gelu(pool, x, tanhApproximation);
    }

    @Override
    public Tensor quickGelu(Tensor x) {
        return Elementwise.quickGelu(pool, x);
    }

    @Override
    public Tensor geglu(Tensor x) {
        return Elementwise.geglu(pool, x);
    }

    @Override
    public Tensor upsampleNearest(Tensor x, int outH, int outW) {
        return Elementwise.upsampleNearest(pool, x, outH, outW);
    }

    @Override
    public Tensor add(Tensor a, Tensor b) {
        return Elementwise.add(pool, a, b);
    }

    @Override
    public Tensor mul(Tensor a, Tensor b) {
        return Elementwise.mul(pool, a, b);
    }

    @Override
    public Tensor scale(Tensor a, float s) {
        return Elementwise.scale(pool, a, s);
    }

    @Override
    public Tensor concatChannels(Tensor a, Tensor b) {
        return Elementwise.concatChannels(pool, a, b);
    }

    @Override
    public Tensor attention(Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal) {
        return Attention.attention(pool, q, k, v, heads, scale, causal);
    }

    @Override
    public Tensor transpose(Tensor x) {
        return Layout.transpose(pool, x);
    }

    @Override
    public Tensor sliceChannels(Tensor x, int start, int length) {
        return Layout.sliceChannels(x, start, length);
    }
}
