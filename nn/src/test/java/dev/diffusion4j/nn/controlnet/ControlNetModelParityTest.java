package dev.diffusion4j.nn.controlnet;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.Fixtures;
import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.unet.GuidanceHalves;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/** {@code variants/controlnet/forward}: every residual, and the U-Net with and without them, against diffusers. */
class ControlNetModelParityTest {
    // README: UNet / ControlNet forward atol 2e-4.
    private static final double TOL = 2e-4;
    private final Backend backend = CpuBackend.create();

    @Test
    void residualsAndControlledUNetMatchDiffusers() throws Exception {
        Path v = Fixtures.dir().resolve("variants");
        Path cnDir = v.resolve("controlnet/controlnet_model");
        Path unetDir = v.resolve("sd1_base/unet");
        Path dir = v.resolve("controlnet/forward");
        try (SafeTensors cw = SafeTensors.open(cnDir.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors uw = SafeTensors.open(unetDir.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            ControlNetModel cn = new ControlNetModel(ModelConfig.read(cnDir.resolve("config.json")),
                    StateDict.of(List.of(cw)), backend);
            UNet2DConditionModel unet = new UNet2DConditionModel(ModelConfig.read(unetDir.resolve("config.json")),
                    StateDict.of(List.of(uw)), backend);
            assertEquals(6, cn.residualCount());
            float[] t = {in.longs("timestep")[0]};
            float scale = in.tensor("conditioning_scale").getFlat(0);
            Tensor sample = in.tensor("sample");
            Tensor ehs = in.tensor("encoder_hidden_states");
            ControlNetModel.Output res = cn.forward(sample, t, ehs, in.tensor("controlnet_cond"), scale, false);
            assertEquals(6, res.downBlockResSamples().size());
            for (int i = 0; i < 6; i++) {
                Fixtures.assertClose("controlnet down_block_res_samples." + i, out.tensor("down_block_res_samples." + i),
                        res.downBlockResSamples().get(i), TOL);
            }
            Fixtures.assertClose("controlnet mid_block_res_sample", out.tensor("mid_block_res_sample"),
                    res.midBlockResSample(), TOL);
            Fixtures.assertClose("controlnet unet_sample_with_control", out.tensor("unet_sample_with_control"),
                    unet.forward(sample, t, ehs, res.downBlockResSamples(), res.midBlockResSample(),
                            dev.diffusion4j.nn.Probe.NONE), TOL);
            Fixtures.assertClose("controlnet unet_sample_without_control", out.tensor("unet_sample_without_control"),
                    unet.forward(sample, t, ehs), TOL);

            // Guess mode: logspace(-1, 0, 7) × scale per residual; the scaling is linear, so compare with scale 1.
            ControlNetModel.Output one = cn.forward(sample, t, ehs, in.tensor("controlnet_cond"), 1f, false);
            ControlNetModel.Output guess = cn.forward(sample, t, ehs, in.tensor("controlnet_cond"), 0.5f, true);
            for (int i = 0; i <= 6; i++) {
                Tensor base = i < 6 ? one.downBlockResSamples().get(i) : one.midBlockResSample();
                Tensor got = i < 6 ? guess.downBlockResSamples().get(i) : guess.midBlockResSample();
                float factor = (float) Math.pow(10, -1 + i / 6.0) * 0.5f;
                Fixtures.assertClose("controlnet guess mode residual " + i, backend.scale(base, factor), got, 1e-6);
            }

            // global_pool_conditions: every residual is its spatial mean, [B, C, 1, 1], which the U-Net broadcasts.
            java.util.Map<String, Object> pooledCfg = new java.util.LinkedHashMap<>(
                    ModelConfig.read(cnDir.resolve("config.json")).asMap());
            pooledCfg.put("global_pool_conditions", true);
            ControlNetModel pooled = new ControlNetModel(new ModelConfig("pooled", pooledCfg), StateDict.of(List.of(cw)), backend);
            ControlNetModel.Output p = pooled.forward(sample, t, ehs, in.tensor("controlnet_cond"), scale, false);
            for (int i = 0; i < 6; i++) {
                Tensor full = res.downBlockResSamples().get(i);
                Tensor mean = p.downBlockResSamples().get(i);
                assertEquals(List.of(2, full.dim(1), 1, 1), java.util.Arrays.stream(mean.shape().dims()).boxed().toList());
                int hw = full.dim(2) * full.dim(3);
                for (int bc = 0; bc < 2 * full.dim(1); bc++) {
                    double sum = 0;
                    for (int j = 0; j < hw; j++) {
                        sum += full.getFlat((long) bc * hw + j);
                    }
                    assertEquals(sum / hw, mean.getFlat(bc), 1e-5, "pooled residual " + i);
                }
            }
            unet.forward(sample, t, ehs, p.downBlockResSamples(), p.midBlockResSample(), dev.diffusion4j.nn.Probe.NONE);

            // controlnet_conditioning_channel_order bgr: the model flips the channels of an RGB control image.
            java.util.Map<String, Object> bgrCfg = new java.util.LinkedHashMap<>(pooledCfg);
            bgrCfg.put("global_pool_conditions", false);
            bgrCfg.put("controlnet_conditioning_channel_order", "bgr");
            ControlNetModel bgr = new ControlNetModel(new ModelConfig("bgr", bgrCfg), StateDict.of(List.of(cw)), backend);
            Tensor cond = in.tensor("controlnet_cond");
            int plane = cond.dim(2) * cond.dim(3);
            float[] flipped = new float[(int) cond.numel()];
            for (int b = 0; b < 2; b++) {
                for (int ch = 0; ch < 3; ch++) {
                    for (int j = 0; j < plane; j++) {
                        flipped[(b * 3 + 2 - ch) * plane + j] = cond.getFlat((long) (b * 3 + ch) * plane + j);
                    }
                }
            }
            Fixtures.assertClose("controlnet bgr order", res.midBlockResSample(),
                    bgr.forward(sample, t, ehs, Tensor.of(flipped, cond.shape().dims()), scale, false).midBlockResSample(), 0);

            // Bad input names the shapes.
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> cn.forward(sample, t, ehs, Tensor.zeros(2, 3, 32, 48), 1f, false));
            assertTrue(e.getMessage().contains("controlnet_cond") && e.getMessage().contains("[2, 3, 32, 48]"), e.getMessage());
            List<Tensor> fewer = new ArrayList<>(res.downBlockResSamples().subList(0, 5));
            e = assertThrows(IllegalArgumentException.class,
                    () -> unet.forward(sample, t, ehs, fewer, res.midBlockResSample(), dev.diffusion4j.nn.Probe.NONE));
            assertTrue(e.getMessage().contains("5 down block residuals"), e.getMessage());
        }
    }

    /**
     * A guided batch (the same latents and control image twice, two texts) runs its prefix before the text once
     * (GuidanceHalves): every residual is the unshared batch's (with a probe, which turns the sharing off), and the
     * profile shows an attention at half the batch.
     */
    @Test
    void guidedBatchSharesThePrefixBeforeTheText() throws Exception {
        Path v = Fixtures.dir().resolve("variants");
        Path cnDir = v.resolve("controlnet/controlnet_model");
        try (SafeTensors cw = SafeTensors.open(cnDir.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors in = SafeTensors.open(v.resolve("controlnet/forward/inputs.safetensors"))) {
            ProfilingBackend profiled = new ProfilingBackend(backend, true);
            ControlNetModel cn = new ControlNetModel(ModelConfig.read(cnDir.resolve("config.json")),
                    StateDict.of(List.of(cw)), profiled);
            float[] t = {in.longs("timestep")[0]};
            Tensor sample = twice(in.tensor("sample"));
            Tensor cond = twice(in.tensor("controlnet_cond"));
            Tensor ehs = in.tensor("encoder_hidden_states");
            ControlNetModel.Output shared = cn.forward(sample, t, ehs, cond, 1f, false);
            assertTrue(profiled.stats().keySet().stream().anyMatch(k -> k.startsWith("attention 1x")),
                    "no attention ran on half the batch: " + profiled.stats().keySet());
            ControlNetModel.Output whole = cn.forward(sample, t, ehs, cond, 1f, false, (name, value) -> { });
            for (int i = 0; i < shared.downBlockResSamples().size(); i++) {
                Fixtures.assertClose("controlnet guided batch residual " + i, whole.downBlockResSamples().get(i),
                        shared.downBlockResSamples().get(i), 1e-6);
            }
            Fixtures.assertClose("controlnet guided batch mid residual", whole.midBlockResSample(),
                    shared.midBlockResSample(), 1e-6);
        }
    }

    /** The first entry of a batch, twice. */
    private static Tensor twice(Tensor batch) {
        Tensor one = batch.slice(0).toHeapF32();
        int[] dims = batch.shape().dims();
        dims[0] = 1;
        return GuidanceHalves.repeat(one.reshape(dims));
    }
}
