package dev.diffusion4j.nn.vae;

import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.layers.Conv2d;
import dev.diffusion4j.nn.layers.Downsample2D;
import dev.diffusion4j.nn.layers.GroupNorm;
import dev.diffusion4j.nn.layers.ResnetBlock2D;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.Tensor;
import java.util.ArrayList;
import java.util.List;

/** diffusers' VAE {@code Encoder}: image → {@code 2 × latent_channels} moments (mean and log-variance). */
final class Encoder {
    private final Conv2d convIn;
    private final List<List<ResnetBlock2D>> downResnets = new ArrayList<>();
    private final List<Downsample2D> downsamplers = new ArrayList<>();
    private final UNetMidBlock2D midBlock;
    private final GroupNorm convNormOut;
    private final Conv2d convOut;

    Encoder(Backend backend, StateDict w, AutoencoderKLConfig c) {
        int[] ch = c.blockOutChannels();
        int groups = c.normNumGroups();
        this.convIn = new Conv2d(backend, w, "conv_in", c.inChannels(), ch[0], 3, 1, 1);
        int out = ch[0];
        for (int i = 0; i < ch.length; i++) {
            int in = out;
            out = ch[i];
            List<ResnetBlock2D> resnets = new ArrayList<>();
            for (int j = 0; j < c.layersPerBlock(); j++) {
                resnets.add(new ResnetBlock2D(backend, w, "down_blocks." + i + ".resnets." + j, j == 0 ? in : out, out, 0,
                        groups, 1e-6, 1));
            }
            downResnets.add(resnets);
            downsamplers.add(i < ch.length - 1 ? new Downsample2D(backend, w, "down_blocks." + i + ".downsamplers.0", out, 0) : null);
        }
        int last = ch[ch.length - 1];
        this.midBlock = new UNetMidBlock2D(backend, w, "mid_block", last, groups);
        this.convNormOut = new GroupNorm(backend, w, "conv_norm_out", groups, last, 1e-6);
        this.convOut = new Conv2d(backend, w, "conv_out", last, 2 * c.latentChannels(), 3, 1, 1);
    }

    Tensor forward(Tensor x, Probe probe) {
        Tensor h = convIn.forward(x);
        probe.record("encoder.conv_in", h);
        for (int i = 0; i < downResnets.size(); i++) {
            for (ResnetBlock2D r : downResnets.get(i)) {
                h = r.forward(h, null);
            }
            if (downsamplers.get(i) != null) {
                h = downsamplers.get(i).forward(h);
            }
            probe.record("encoder.down_blocks." + i, h);
        }
        h = midBlock.forward(h);
        probe.record("encoder.mid_block", h);
        h = convOut.forwardNormSilu(convNormOut, h, null);
        probe.record("encoder.conv_out", h);
        return h;
    }
}
