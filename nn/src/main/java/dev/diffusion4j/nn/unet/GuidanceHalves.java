package dev.diffusion4j.nn.unet;

import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import java.util.Arrays;

/**
 * Classifier-free guidance runs the U-Net on a batch whose two halves are the same latents at the same timestep,
 * conditioned on two different texts. Up to the first cross-attention nothing depends on the text, so the two halves
 * compute the same numbers: {@code conv_in}, the first resnet and the first transformer block's self-attention (at
 * full latent size, the U-Net's most expensive attention). {@link UNet2DConditionModel} runs the first resnet and
 * that self-attention once, on the first half of {@code conv_in}'s output, and copies the result into both halves
 * where the text comes in. Each sample's ops do not depend on the rest of the batch, so the output is the same as
 * computing both halves. {@code ControlNetModel} does the same.
 */
public final class GuidanceHalves {
    private GuidanceHalves() {
    }

    /**
     * Whether {@code sample}'s two halves along the batch are the same floats (bit for bit), at the same timesteps,
     * with the same added conditioning (if any): then the text is the only difference between them.
     */
    public static boolean identical(Tensor sample, float[] timesteps, UNet2DConditionModel.AddedCond added) {
        int batch = sample.dim(0);
        if (batch < 2 || batch % 2 != 0 || !sample.isHeap() || sample.dtype() != DType.F32) {
            return false;
        }
        for (int i = 0; i < batch / 2; i++) {
            if (Float.floatToIntBits(timesteps[i]) != Float.floatToIntBits(timesteps[i + batch / 2])) {
                return false;
            }
        }
        if (added != null && !(halvesEqual(added.textEmbeds()) && halvesEqual(added.timeIds()))) {
            return false;
        }
        return halvesEqual(sample);
    }

    /** Whether the two halves of {@code t} along its first dimension are the same floats (bit for bit). */
    public static boolean halvesEqual(Tensor t) {
        if (t.dim(0) % 2 != 0) {
            return false;
        }
        if (!t.isHeap()) {
            float[] f = t.toFloatArray();
            int half = f.length / 2;
            return Arrays.equals(f, 0, half, f, half, 2 * half);
        }
        int half = (int) (t.numel() / 2);
        float[] a = t.array();
        int o = t.offset();
        return Arrays.equals(a, o, o + half, a, o + half, o + 2 * half);
    }

    /** A view of the first half of a heap tensor along its first dimension. */
    static Tensor firstHalf(Tensor t) {
        int[] dims = t.shape().dims();
        if (!t.isHeap() || dims[0] % 2 != 0) {
            throw new IllegalArgumentException("GuidanceHalves: cannot halve " + t.shape() + " (" + t.dtype() + ")");
        }
        dims[0] /= 2;
        return Tensor.of(t.array(), t.offset(), Shape.of(dims));
    }

    /**
     * {@link #repeat(Tensor)} by {@code backend}'s channel concatenation of the flattened half with itself (the two
     * copies on all its threads: a 64×64 block's 10 MB took 3-4 ms copied on one).
     */
    static Tensor repeat(Backend backend, Tensor half) {
        int[] dims = half.shape().dims();
        dims[0] *= 2;
        Tensor flat = half.reshape(1, Math.toIntExact(half.numel()));
        return backend.concatChannels(flat, flat).reshape(dims);
    }

    /** {@code [half; half]}: the batch twice as large, both halves a copy of {@code half}. */
    public static Tensor repeat(Tensor half) {
        int[] dims = half.shape().dims();
        dims[0] *= 2;
        Tensor out = Tensor.empty(dims);
        int n = (int) half.numel();
        float[] src = half.isHeap() ? half.array() : half.toFloatArray();
        int so = half.isHeap() ? half.offset() : 0;
        System.arraycopy(src, so, out.array(), out.offset(), n);
        System.arraycopy(src, so, out.array(), out.offset() + n, n);
        return out;
    }
}
