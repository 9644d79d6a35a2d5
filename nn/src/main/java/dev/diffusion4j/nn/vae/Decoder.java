package dev.diffusion4j.nn.vae;

import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Conv2d;
import dev.diffusion4j.nn.layers.GroupNorm;
import dev.diffusion4j.nn.layers.ResnetBlock2D;
import dev.diffusion4j.nn.layers.Upsample2D;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.TensorScope;
import java.util.ArrayList;
import java.util.List;
import java.util.function.UnaryOperator;

/** diffusers' VAE {@code Decoder}: latents → image (not clamped). */
final class Decoder {
    private final Conv2d convIn;
    private final UNetMidBlock2D midBlock;
    private final List<List<ResnetBlock2D>> upResnets = new ArrayList<>();
    private final List<Upsample2D> upsamplers = new ArrayList<>();
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    Decoder(Backend backend, StateDict w, AutoencoderKLConfig c) {
        int[] ch = c.blockOutChannels();
        int n = ch.length;
        int groups = c.normNumGroups();
        this.convIn = new Conv2d(backend, w, "conv_in", c.latentChannels(), ch[n - 1], 3, 1, 1);
        this.midBlock = new UNetMidBlock2D(backend, w, "mid_block", ch[n - 1], groups);
        int out = ch[n - 1];
        for (int i = 0; i < n; i++) {
            int prevOut = out;
            out = ch[n - 1 - i];
            List<ResnetBlock2D> resnets = new ArrayList<>();
            for (int j = 0; j < c.layersPerBlock() + 1; j++) {
                resnets.add(new ResnetBlock2D(backend, w, "up_blocks." + i + ".resnets." + j, j == 0 ? prevOut : out, out, 0,
                        groups, 1e-6, 1));
            }
            upResnets.add(resnets);
            upsamplers.add(i < n - 1 ? new Upsample2D(backend, w, "up_blocks." + i + ".upsamplers.0", out) : null);
        }
        this.convNormOut = new GroupNorm(backend, w, "conv_norm_out", groups, ch[0], 1e-6);
        this.convOut = new Conv2d(backend, w, "conv_out", ch[0], c.outChannels(), 3, 1, 1);
    }

    Tensor forward(Tensor z, Probe probe) {
        // Each block's input is recycled once the block has made its output (at 512×512 they are 67-268 MB each: held
        // to the end or left to the collector, a decode allocated 2.6-2.9 GB afresh), unless a probe keeps
        // intermediates past the call: then nothing is (no scope at all).
        boolean recycle = probe == Probe.NONE;
        try (TensorScope scope = recycle ? TensorScope.open() : null) {
            Tensor h = convIn.forward(z);
            probe.record("decoder.conv_in", h);
            h = step(h, midBlock::forward, recycle);
            probe.record("decoder.mid_block", h);
            for (int i = 0; i < upResnets.size(); i++) {
                for (ResnetBlock2D r : upResnets.get(i)) {
                    h = step(h, x -> r.forward(x, null), recycle);
                }
                if (upsamplers.get(i) != null) {
                    h = step(h, upsamplers.get(i)::forward, recycle);
                }
                probe.record("decoder.up_blocks." + i, h);
            }
            Tensor out = step(h, x -> convOut.forwardNormSilu(convNormOut, x, null), recycle);
            return scope == null ? out : scope.keep(out);
        }
    }

    /** {@code block(h)}; when {@code recycle}, with h's storage recycled afterwards (see {@link TensorScope#adopt}). */
    private static Tensor step(Tensor h, UnaryOperator<Tensor> block, boolean recycle) {
        if (!recycle) {
            return block.apply(h);
        }
        try (TensorScope scope = TensorScope.open()) {
            scope.adopt(h);
            return scope.keep(block.apply(h));
        }
    }
}
