package dev.diffusion4j.nn.layers;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;

/**
 * diffusers' {@code ResnetBlock2D} (time-embedding shift "default"): GroupNorm → SiLU → conv1 → (+ projected time
 * embedding) → GroupNorm → SiLU → conv2, plus the input (through a 1×1 {@code conv_shortcut} when the channel
 * count changes).
 */
public final class ResnetBlock2D {
    private final Backend backend;
    private final GroupNorm norm1;
    private final Conv2d conv1;
    private final Linear timeEmbProj;
    private final GroupNorm norm2;
    private final Conv2d conv2;
    private final Conv2d convShortcut;
    private final float outputScaleFactor;

    /**
     * @param tembChannels channels of the time embedding, or 0 for a block without one (the VAE's)
     */
    public ResnetBlock2D(Backend backend, StateDict weights, String prefix, int in, int out, int tembChannels,
                         int groups, double eps, double outputScaleFactor) {
        this.backend = backend;
        this.norm1 = new GroupNorm(backend, weights, prefix + ".norm1", groups, in, eps);
        this.conv1 = new Conv2d(backend, weights, prefix + ".conv1", in, out, 3, 1, 1);
        this.timeEmbProj = tembChannels > 0 ? new Linear(backend, weights, prefix + ".time_emb_proj", tembChannels, out, true) : null;
        this.norm2 = new GroupNorm(backend, weights, prefix + ".norm2", groups, out, eps);
        this.conv2 = new Conv2d(backend, weights, prefix + ".conv2", out, out, 3, 1, 1);
        this.convShortcut = in != out ? new Conv2d(backend, weights, prefix + ".conv_shortcut", in, out, 1, 1, 0) : null;
        this.outputScaleFactor = (float) outputScaleFactor;
    }

    /**
     * @param x {@code [N, in, H, W]}
     * @param tembSilu SiLU of the time embedding {@code [N, tembChannels]} (computed once per U-Net call), or null
     */
    public Tensor forward(Tensor x, Tensor tembSilu) {
        if (timeEmbProj != null && tembSilu == null) {
            throw new IllegalArgumentException("ResnetBlock2D: this block needs a time embedding");
        }
        try (TensorScope scope = TensorScope.open()) {
            // The shortcut first, so x (the largest tensor of a VAE up block) is not needed after conv1.
            Tensor shortcut = convShortcut != null ? convShortcut.forward(x) : x;
            Tensor h = conv1.forwardNormSilu(norm1, x, null);
            // The projected time embedding is added to h inside norm2's statistics and normalisation (h + t is
            // never stored). A computed shortcut is ours: the output is accumulated into it rather than into a copy.
            Tensor t = timeEmbProj != null ? timeEmbProj.forward(tembSilu) : null;
            Tensor out = conv2.forwardNormSilu(norm2, h, t, shortcut, convShortcut != null);
            return scope.keep(outputScaleFactor == 1f ? out : backend.scale(out, 1f / outputScaleFactor));
        }
    }
}
