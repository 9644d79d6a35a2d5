package dev.diffusion4j.nn.controlnet;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.Probe;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.unet.UNet2DConditionModel;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * An SDXL ControlNet ({@code addition_embed_type: text_time}) on a tiny random model made here (no fixture exists).
 * Consistency: a ControlNet made from the U-Net's own weights, as diffusers' {@code ControlNetModel.from_unet} does,
 * with identity 1×1 convs in place of the zero convs and a zero last conditioning conv, must return exactly the
 * U-Net's own skip tensors and mid-block output; that only holds when it adds the same {@code text_time} embedding
 * to its time embedding. Plus shapes, the residual count, and the errors for a missing or unexpected added
 * conditioning.
 */
class SdxlControlNetTest {
    private static final int POOLED = 20;
    private static final int TIME_DIM = 8;

    private static Map<String, Object> unetConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("in_channels", 4);
        c.put("out_channels", 4);
        c.put("block_out_channels", List.of(16, 32));
        c.put("down_block_types", List.of("DownBlock2D", "CrossAttnDownBlock2D"));
        c.put("up_block_types", List.of("CrossAttnUpBlock2D", "UpBlock2D"));
        c.put("layers_per_block", 1);
        c.put("transformer_layers_per_block", List.of(1, 2));
        c.put("attention_head_dim", List.of(2, 4));
        c.put("cross_attention_dim", 24);
        c.put("use_linear_projection", true);
        c.put("addition_embed_type", "text_time");
        c.put("addition_time_embed_dim", TIME_DIM);
        c.put("projection_class_embeddings_input_dim", POOLED + 6 * TIME_DIM);
        c.put("norm_num_groups", 8);
        return c;
    }

    /** Random weights of the requested shapes (std 1/sqrt(fan-in), norm scales near 1), made on demand. */
    private static StateDict random(long seed) {
        return StateDict.madeOnDemand("random", (k, dims) -> {
            Shape s = Shape.of(dims);
            SplittableRandom rnd = new SplittableRandom(seed ^ k.hashCode());
            float[] v = new float[Math.toIntExact(s.numel())];
            boolean norm = k.contains("norm") && k.endsWith(".weight");
            double std = k.endsWith(".bias") ? 0.05 : 1 / Math.sqrt(s.rank() >= 2 ? s.numel() / s.dim(0) : 1);
            for (int i = 0; i < v.length; i++) {
                v[i] = (float) (norm ? 1 + 0.1 * rnd.nextGaussian() : std * rnd.nextGaussian());
            }
            return Tensor.of(v, dims);
        });
    }

    /**
     * The U-Net's weights for the shared modules (as {@code from_unet} copies them); identity zero convs; the
     * conditioning embedding random except its last conv, zero (as {@code from_unet} initializes it).
     */
    private static StateDict controlNetWeights(StateDict unet, StateDict own) {
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                return key.startsWith("controlnet_") ? own.find(key) : unet.find(key);
            }

            @Override
            public String source() {
                return "from_unet";
            }

            @Override
            public Set<String> keys() {
                return unet.keys();
            }

            @Override
            public Tensor get(String key, int... dims) {
                boolean zeroConv = key.startsWith("controlnet_down_blocks.") || key.startsWith("controlnet_mid_block.");
                if (zeroConv || key.startsWith("controlnet_cond_embedding.conv_out.")) {
                    float[] v = new float[Math.toIntExact(Shape.of(dims).numel())];
                    if (zeroConv && key.endsWith(".weight")) {
                        for (int c = 0; c < dims[0]; c++) {
                            v[c * dims[1] + c] = 1f;   // [C, C, 1, 1]: the identity
                        }
                    }
                    return Tensor.of(v, dims);
                }
                return key.startsWith("controlnet_") ? own.get(key, dims) : unet.get(key, dims);
            }
        };
    }

    private static Tensor randn(Random rnd, int... dims) {
        float[] v = new float[Math.toIntExact(Shape.of(dims).numel())];
        for (int i = 0; i < v.length; i++) {
            v[i] = (float) rnd.nextGaussian();
        }
        return Tensor.of(v, dims);
    }

    @Test
    void fromUnetWithIdentityConvsReturnsTheUnetsOwnSkipTensors() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        CpuBackend be = CpuBackend.create();
        StateDict unetWeights = random(seed);
        UNet2DConditionModel unet = new UNet2DConditionModel(new ModelConfig("tiny sdxl", unetConfig()), unetWeights, be);
        Map<String, Object> cn = new LinkedHashMap<>(unetConfig());
        cn.remove("up_block_types");
        cn.remove("out_channels");
        cn.put("conditioning_embedding_out_channels", List.of(8, 16));
        ControlNetModel control = new ControlNetModel(new ModelConfig("tiny sdxl controlnet", cn),
                controlNetWeights(unetWeights, random(seed + 1)), be);
        assertEquals(4, control.residualCount(), "conv_in, down 0 resnet + downsampler, down 1 resnet");

        int batch = 2;
        Tensor sample = randn(rnd, batch, 4, 8, 6);
        Tensor ehs = randn(rnd, batch, 5, 24);
        Tensor cond = randn(rnd, batch, 3, 16, 12);
        float[] ids = {1024, 768, 0, 16, 1024, 768, 512, 512, 32, 0, 512, 512};
        var added = new UNet2DConditionModel.AddedCond(randn(rnd, batch, POOLED), Tensor.of(ids, batch, 6));
        float[] t = {700f, 41f};

        Map<String, Tensor> seen = new HashMap<>();
        Probe probe = seen::put;
        unet.forward(sample, t, ehs, added, null, null, probe);
        ControlNetModel.Output out = control.forward(sample, t, ehs, added, cond, 1f, false, Probe.NONE);
        List<String> skipNames = List.of("conv_in", "down_blocks.0.res0", "down_blocks.0.res1", "down_blocks.1.res0");
        assertEquals(skipNames.size(), out.downBlockResSamples().size());
        for (int i = 0; i < skipNames.size(); i++) {
            Tensor want = seen.get(skipNames.get(i));
            Tensor got = out.downBlockResSamples().get(i);
            assertEquals(want.shape(), got.shape(), skipNames.get(i));
            assertArrayEquals(want.toFloatArray(), got.toFloatArray(), 1e-5f, "seed " + seed + " " + skipNames.get(i));
        }
        assertArrayEquals(seen.get("mid_block").toFloatArray(), out.midBlockResSample().toFloatArray(), 1e-5f,
                "seed " + seed + " mid block");

        // The added conditioning is used: other size ids give other residuals.
        float[] other = ids.clone();
        other[0] = 512;
        var added2 = new UNet2DConditionModel.AddedCond(added.textEmbeds(), Tensor.of(other, batch, 6));
        Tensor mid2 = control.forward(sample, t, ehs, added2, cond, 1f, false, Probe.NONE).midBlockResSample();
        float worst = 0;
        float[] a = mid2.toFloatArray();
        float[] b = out.midBlockResSample().toFloatArray();
        for (int i = 0; i < a.length; i++) {
            worst = Math.max(worst, Math.abs(a[i] - b[i]));
        }
        assertTrue(worst > 1e-4, "seed " + seed + ": the time ids change the residuals (max |diff| " + worst + ")");

        // A text_time ControlNet needs the added conditioning; a plain one refuses it.
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> control.forward(sample, t, ehs, cond, 1f, false));
        assertTrue(e.getMessage().contains("text_time"), e.getMessage());
        var wrong = new UNet2DConditionModel.AddedCond(randn(rnd, batch, POOLED + 1), Tensor.of(ids, batch, 6));
        e = assertThrows(IllegalArgumentException.class,
                () -> control.forward(sample, t, ehs, wrong, cond, 1f, false, Probe.NONE));
        assertTrue(e.getMessage().contains("text_embeds must be [2, 20]"), e.getMessage());
        Map<String, Object> plainCfg = new LinkedHashMap<>(cn);
        plainCfg.remove("addition_embed_type");
        ControlNetModel plain = new ControlNetModel(new ModelConfig("plain", plainCfg),
                controlNetWeights(unetWeights, random(seed + 1)), be);
        e = assertThrows(IllegalArgumentException.class,
                () -> plain.forward(sample, t, ehs, added, cond, 1f, false, Probe.NONE));
        assertTrue(e.getMessage().contains("no addition_embed_type"), e.getMessage());
    }
}
