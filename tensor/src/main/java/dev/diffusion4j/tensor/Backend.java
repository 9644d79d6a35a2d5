package dev.diffusion4j.tensor;

/**
 * The operations Stable Diffusion's models are made of. Model code calls only these, so another backend
 * (e.g. CUDA) can be added without touching it.
 *
 * <p>Conventions: tensors are row-major; images are NCHW; sequences are {@code [batch, tokens, channels]}.
 * Inputs are never modified; every op returns a new F32 heap tensor. Weight arguments (matrices,
 * convolution kernels, norm parameters, biases) may be any {@link DType} and storage. Shape errors raise
 * {@link IllegalArgumentException} naming the op and the shapes.
 */
public interface Backend {
    /** A short name, e.g. {@code "cpu"}. */
    String name();

    /**
     * Matrix product {@code op(a) · op(b)} where {@code op} transposes when asked. {@code a} and {@code b}
     * are rank 2, or rank 3 with the same leading (batch) dimension, or {@code b} rank 2 shared by every
     * batch of {@code a}.
     */
    Tensor matmul(Tensor a, boolean transposeA, Tensor b, boolean transposeB);

    /** {@code y = x · weightᵀ + bias}: x {@code [..., in]}, weight {@code [out, in]}, bias {@code [out]} or null. */
    Tensor linear(Tensor x, Tensor weight, Tensor bias);

    /**
     * {@code linear(x, weight, bias) + residual}, residual of the output's shape {@code [..., out]} (or null):
     * a layer and its skip connection. Backends may add the residual while the product is in cache.
     */
    default Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual) {
        Tensor y = linear(x, weight, bias);
        return residual == null ? y : add(y, residual);
    }

    /**
     * {@link #linear(Tensor, Tensor, Tensor, Tensor)}; with {@code residualIsScratch} (the caller never reads
     * {@code residual} again) the backend may write the result into the residual's storage, as
     * {@link #groupNormConv2d} may. The default ignores the flag.
     */
    default Tensor linear(Tensor x, Tensor weight, Tensor bias, Tensor residual, boolean residualIsScratch) {
        return linear(x, weight, bias, residual);
    }

    /**
     * Several linear layers of one input, e.g. attention's {@code to_q}, {@code to_k}, {@code to_v}: returns
     * {@code linear(x, weights[p], biases[p])} for each p ({@code biases} or its elements may be null).
     * Backends may compute them as one product over the concatenated weights.
     */
    default Tensor[] linears(Tensor x, Tensor[] weights, Tensor[] biases) {
        Tensor[] out = new Tensor[weights.length];
        for (int p = 0; p < weights.length; p++) {
            out[p] = linear(x, weights[p], biases == null ? null : biases[p]);
        }
        return out;
    }

    /**
     * {@code geglu(linear(x, weight, bias))}: the GEGLU feed-forward projection. Backends may apply GEGLU to
     * the product while it is in cache, without storing the twice-as-wide projection.
     */
    default Tensor linearGeglu(Tensor x, Tensor weight, Tensor bias) {
        return geglu(linear(x, weight, bias));
    }

    /**
     * {@code linears(layerNorm(x, gamma, beta, eps), weights, biases)}: a transformer block's pre-norm and the
     * projections that read it as one op, so a backend can normalise while it reads x (the normalised x is never
     * stored). One weight is one layer.
     */
    default Tensor[] layerNormLinears(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor[] weights, Tensor[] biases) {
        return linears(layerNorm(x, gamma, beta, eps), weights, biases);
    }

    /** {@code linearGeglu(layerNorm(x, gamma, beta, eps), weight, bias)}, fused as {@link #layerNormLinears} may be. */
    default Tensor layerNormLinearGeglu(Tensor x, Tensor gamma, Tensor beta, float eps, Tensor weight, Tensor bias) {
        return linearGeglu(layerNorm(x, gamma, beta, eps), weight, bias);
    }

    /**
     * A linear layer over the channels of an image: x {@code [N, C, H, W]}, weight {@code [out, C]} → the sequence
     * {@code [N, H·W, out]}, i.e. {@code linear(transpose(x.reshape(N, C, H·W)), weight, bias)}. Backends may
     * read x in place rather than transposing it first.
     */
    default Tensor linearFromChannels(Tensor x, Tensor weight, Tensor bias) {
        return linear(transpose(x.reshape(x.dim(0), x.dim(1), x.dim(2) * x.dim(3))), weight, bias);
    }

    /**
     * {@code linearFromChannels(groupNorm(x, groups, gamma, beta, eps), weight, bias)}: a transformer's input
     * normalisation and projection as one op, so a backend can normalise while it reads the image (the normalised
     * image is never stored).
     */
    default Tensor groupNormLinearFromChannels(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, Tensor weight,
                                               Tensor bias) {
        return linearFromChannels(groupNorm(x, groups, gamma, beta, eps, false), weight, bias);
    }

    /**
     * The way back: x {@code [N, H·W, in]}, weight {@code [C, in]} → the image
     * {@code transpose(linear(x, weight, bias)).reshape(N, C, H, W) + residual} (residual {@code [N, C, H, W]}
     * or null). Backends may write the image straight from the product.
     */
    default Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width) {
        Tensor y = transpose(linear(x, weight, bias)).reshape(x.dim(0), weight.dim(0), height, width);
        return residual == null ? y : add(y, residual);
    }

    /**
     * {@link #linearToChannels(Tensor, Tensor, Tensor, Tensor, int, int)}; with {@code residualIsScratch} (the caller
     * never reads {@code residual} again) the backend may write the image into the residual's storage. The default
     * ignores the flag.
     */
    default Tensor linearToChannels(Tensor x, Tensor weight, Tensor bias, Tensor residual, int height, int width,
                                    boolean residualIsScratch) {
        return linearToChannels(x, weight, bias, residual, height, width);
    }

    /**
     * 2-D convolution: x {@code [N, Cin, H, W]}, weight {@code [Cout, Cin, kH, kW]}, bias {@code [Cout]} or
     * null, zero padding per side.
     */
    Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride,
                  int padTop, int padBottom, int padLeft, int padRight);

    /** {@link #conv2d(Tensor, Tensor, Tensor, int, int, int, int, int)} with the same padding on every side. */
    default Tensor conv2d(Tensor x, Tensor weight, Tensor bias, int stride, int padding) {
        return conv2d(x, weight, bias, stride, padding, padding, padding, padding);
    }

    /**
     * {@code conv2d(groupNorm(x) [→ SiLU], weight, bias, stride 1, padding) [+ residual]}: the norm-activation-convolution
     * chain of a ResNet block as one op, so a backend can normalise while it reads the convolution's input (the
     * normalised tensor is never stored) and add the skip connection while it writes the output. The default runs
     * the separate ops.
     *
     * @param residual null, or a tensor of the output's shape added to it
     * @param residualIsScratch true when the caller never reads {@code residual} again, so the backend may write the
     *                          result into its storage (one tensor fewer alive at the VAE's largest block); the one
     *                          exception to "inputs are never modified"
     */
    default Tensor groupNormConv2d(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu,
                                   Tensor weight, Tensor bias, int padding, Tensor residual, boolean residualIsScratch) {
        Tensor y = conv2d(groupNorm(x, groups, gamma, beta, eps, silu), weight, bias, 1, padding);
        return residual == null ? y : add(y, residual);
    }

    /**
     * {@link #groupNormConv2d(Tensor, int, Tensor, Tensor, float, boolean, Tensor, Tensor, int, Tensor, boolean)} of
     * {@code x + channelAddend}: {@code channelAddend} {@code [N, C]} (or null) is added to every pixel of its image and
     * channel before the statistics, as a ResNet block adds its projected time embedding between its two
     * convolutions. A backend can fold it into the normalisation, never storing the sum. The default adds it first
     * and runs the op without one (so a backend that only fuses that op keeps it).
     */
    default Tensor groupNormConv2d(Tensor x, Tensor channelAddend, int groups, Tensor gamma, Tensor beta, float eps,
                                   boolean silu, Tensor weight, Tensor bias, int padding, Tensor residual,
                                   boolean residualIsScratch) {
        Tensor in = channelAddend == null ? x
                : add(x, channelAddend.reshape(channelAddend.dim(0), channelAddend.dim(1), 1, 1));
        return groupNormConv2d(in, groups, gamma, beta, eps, silu, weight, bias, padding, residual, residualIsScratch);
    }

    /**
     * {@code conv2d(upsampleNearest(x, outH, outW), weight, bias, stride 1, padding)}: an up-sampling block as one op
     * (a backend can read the source pixels while it convolves, never storing the 4× larger tensor). The default
     * runs the separate ops.
     */
    default Tensor upsampleConv2d(Tensor x, int outH, int outW, Tensor weight, Tensor bias, int padding) {
        return conv2d(upsampleNearest(x, outH, outW), weight, bias, 1, padding);
    }

    /**
     * Group normalisation over {@code [N, C, ...]} with affine {@code gamma}, {@code beta} of shape
     * {@code [C]} (either may be null), optionally followed by SiLU (fused).
     */
    Tensor groupNorm(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu);

    /** Layer normalisation over the last dimension, with affine {@code gamma}, {@code beta} (may be null). */
    Tensor layerNorm(Tensor x, Tensor gamma, Tensor beta, float eps);

    /** Softmax over the last dimension. */
    Tensor softmax(Tensor x);

    /** {@code x · sigmoid(x)}. */
    Tensor silu(Tensor x);

    /** GELU, exact ({@code x·Φ(x)} with erf) or the tanh approximation. */
    Tensor gelu(Tensor x, boolean tanhApproximation);

    /** {@code x · sigmoid(1.702 x)} (CLIP's quick_gelu). */
    Tensor quickGelu(Tensor x);

    /** GEGLU: splits the last dimension into halves {@code [a, g]} and returns {@code a · gelu(g)} (exact GELU). */
    Tensor geglu(Tensor x);

    /** Nearest-neighbour resize of {@code [N, C, H, W]} to {@code [N, C, outH, outW]} (src = floor(dst · in / out)). */
    Tensor upsampleNearest(Tensor x, int outH, int outW);

    /** Nearest-neighbour 2× upsampling of {@code [N, C, H, W]}. */
    default Tensor upsampleNearest2x(Tensor x) {
        return upsampleNearest(x, x.dim(-2) * 2, x.dim(-1) * 2);
    }

    /**
     * Element-wise {@code a + b}. {@code b} has the shape of {@code a}, or is broadcast: a suffix of
     * {@code a}'s shape (e.g. a bias {@code [C]} over {@code [N, T, C]}), or {@code [N, C]} / {@code [C]}
     * over {@code [N, C, H, W]} given as {@code [N, C, 1, 1]} / {@code [C, 1, 1]}.
     */
    Tensor add(Tensor a, Tensor b);

    /** Element-wise {@code a · b}, broadcasting as {@link #add}. */
    Tensor mul(Tensor a, Tensor b);

    /** {@code a · s}. */
    Tensor scale(Tensor a, float s);

    /** Concatenation of NCHW (or any rank ≥ 2) tensors along dimension 1. */
    Tensor concatChannels(Tensor a, Tensor b);

    /**
     * Multi-head scaled dot-product attention, {@code softmax(q·kᵀ·scale [+ causal mask]) · v} per head,
     * computed in tiles (no tokens×tokens matrix). q {@code [B, Tq, heads·d]}, k and v
     * {@code [B, Tk, heads·d]}; returns {@code [B, Tq, heads·d]} with the heads interleaved as in the input.
     */
    Tensor attention(Tensor q, Tensor k, Tensor v, int heads, float scale, boolean causal);

    /** Swaps the last two dimensions ({@code [..., R, C]} → {@code [..., C, R]}), e.g. NCHW viewed as {@code [N, C, HW]} to {@code [N, HW, C]}. */
    Tensor transpose(Tensor x);

    /** {@code max(x, 0)} (TAESD's activation). A scalar default; backends may override it. */
    default Tensor relu(Tensor x) {
        float[] a = x.toFloatArray();
        for (int i = 0; i < a.length; i++) {
            a[i] = Math.max(a[i], 0f);
        }
        return Tensor.of(a, x.shape().dims());
    }

    /** Channels {@code [start, start + length)} along dimension 1 of a tensor of rank ≥ 2, as a new tensor. */
    Tensor sliceChannels(Tensor x, int start, int length);

    /**
     * A backend whose fused {@code groupNormConv2d} is the one with a channel addend: the plain op is that op with
     * none. ({@link Backend}'s own defaults go the other way, the addend added and the plain op called, so that a
     * backend fusing only the plain op keeps its fusion.)
     */
    interface GroupNormConvWithAddend extends Backend {
        @Override
        default Tensor groupNormConv2d(Tensor x, int groups, Tensor gamma, Tensor beta, float eps, boolean silu,
                                       Tensor weight, Tensor bias, int padding, Tensor residual,
                                       boolean residualIsScratch) {
            return groupNormConv2d(x, null, groups, gamma, beta, eps, silu, weight, bias, padding, residual,
                    residualIsScratch);
        }

        @Override
        Tensor groupNormConv2d(Tensor x, Tensor channelAddend, int groups, Tensor gamma, Tensor beta, float eps,
                               boolean silu, Tensor weight, Tensor bias, int padding, Tensor residual,
                               boolean residualIsScratch);
    }
}
