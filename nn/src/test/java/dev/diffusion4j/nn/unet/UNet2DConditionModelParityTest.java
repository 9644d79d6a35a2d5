package dev.diffusion4j.nn.unet;

import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.Fixtures;
import dev.diffusion4j.nn.ModelConfig;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.ProfilingBackend;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensors;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

class UNet2DConditionModelParityTest {
    private static final double TOL = 1e-4;
    private final Backend backend = CpuBackend.create();

    private static float[] floats(long[] values) {
        float[] f = new float[values.length];
        for (int i = 0; i < f.length; i++) {
            f[i] = values[i];
        }
        return f;
    }

    private UNet2DConditionModel load(Path unetDir, SafeTensors weights) throws Exception {
        return new UNet2DConditionModel(ModelConfig.read(unetDir.resolve("config.json")), StateDict.of(List.of(weights)), backend);
    }

    @Test
    void forwardMatchesDiffusersIncludingEveryBlockOutput() throws Exception {
        Path dir = Fixtures.dir();
        Path unetDir = dir.resolve("models/tiny-sd/unet");
        try (SafeTensors w = SafeTensors.open(unetDir.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("unet/inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("unet/outputs.safetensors"))) {
            UNet2DConditionModel unet = load(unetDir, w);
            Map<String, Tensor> probed = new HashMap<>();
            Tensor result = unet.forward(in.tensor("sample"), floats(in.longs("timestep")),
                    in.tensor("encoder_hidden_states"), probed::put);
            int compared = Fixtures.assertProbesClose("unet ", out, probed, TOL);
            assertTrue(compared >= 15, "only " + compared + " intermediate outputs compared");
            Fixtures.assertClose("unet out", out.tensor("out"), result, TOL);

            float t = in.tensor("timestep_float").getFlat(0);
            Fixtures.assertClose("unet out_float_t", out.tensor("out_float_t"),
                    unet.forward(in.tensor("sample"), new float[] {t}, in.tensor("encoder_hidden_states")), TOL);

            Tensor ehs = in.tensor("encoder_hidden_states").slice(0);
            Tensor ehs1 = ehs.toHeapF32().reshape(1, ehs.dim(0), ehs.dim(1));
            Fixtures.assertClose("unet out_odd", out.tensor("out_odd"),
                    unet.forward(in.tensor("sample_odd"), floats(in.longs("timestep_odd")), ehs1), TOL);
        }
    }

    /**
     * A guided batch (the same latents twice, two texts) runs its text-independent prefix once (GuidanceHalves): each
     * half of the output is what the U-Net gives for that half alone, and for the same batch with a probe (which
     * turns the sharing off); the profile shows the first self-attention ran on half the batch.
     */
    @Test
    void guidedBatchSharesThePrefixBeforeTheTextAndGivesEachHalfItsOwnResult() throws Exception {
        Path dir = Fixtures.dir();
        Path unetDir = dir.resolve("models/tiny-sd/unet");
        try (SafeTensors w = SafeTensors.open(unetDir.resolve("diffusion_pytorch_model.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("unet/inputs.safetensors"))) {
            ProfilingBackend profiled = new ProfilingBackend(backend, true);
            UNet2DConditionModel unet = new UNet2DConditionModel(ModelConfig.read(unetDir.resolve("config.json")),
                    StateDict.of(List.of(w)), profiled);
            Tensor x = in.tensor("sample").slice(0).toHeapF32();
            Tensor ehs = in.tensor("encoder_hidden_states").toHeapF32();
            int s = ehs.dim(1);
            int d = ehs.dim(2);
            Tensor guided = GuidanceHalves.repeat(x.reshape(1, x.dim(0), x.dim(1), x.dim(2)));
            Tensor context = Tensor.of(ehs.toFloatArray(), 0, Shape.of(2, s, d));
            float[] t = {321f};

            Tensor shared = unet.forward(guided, t, context);
            assertTrue(profiled.stats().keySet().stream().anyMatch(k -> k.startsWith("attention 1x")),
                    "no attention ran on half the batch: " + profiled.stats().keySet());
            Tensor probed = unet.forward(guided, t, context, (name, value) -> { });
            Fixtures.assertClose("guided batch, shared prefix vs probed", probed, shared, 1e-6);
            for (int half = 0; half < 2; half++) {
                Tensor one = unet.forward(Tensor.of(x.toFloatArray(), 1, x.dim(0), x.dim(1), x.dim(2)), t,
                        ehs.slice(half).toHeapF32().reshape(1, s, d));
                Tensor part = Tensor.of(shared.toFloatArray(), half * (int) one.numel(), one.shape());
                // Alone, every op runs at batch 1 (other tiles, other summation orders): rounding apart.
                Fixtures.assertClose("guided batch half " + half + " vs alone", one, part, 1e-5);
            }
        }
    }

    /** The backend's repeat (both copies on the pool) is the plain one: [half; half], any rank and batch. */
    @Test
    void repeatByTheBackendIsThePlainRepeat() {
        java.util.Random rnd = new java.util.Random(3);
        for (int[] dims : new int[][] {{1, 7, 5}, {2, 3, 4, 5}, {1, 300, 40}}) {
            Tensor half = Tensor.zeros(dims);
            for (long i = 0; i < half.numel(); i++) {
                half.setFlat(i, rnd.nextFloat());
            }
            Tensor want = GuidanceHalves.repeat(half);
            Tensor got = GuidanceHalves.repeat(backend, half);
            org.junit.jupiter.api.Assertions.assertEquals(want.shape(), got.shape());
            org.junit.jupiter.api.Assertions.assertArrayEquals(want.toFloatArray(), got.toFloatArray());
        }
    }

    @Test
    void halfPrecisionWeightsAreUpcastAndMatch() throws Exception {
        Path dir = Fixtures.dir();
        Path unetDir = dir.resolve("models/tiny-sd/unet");
        try (SafeTensors in = SafeTensors.open(dir.resolve("unet/inputs.safetensors"));
             SafeTensors ref = SafeTensors.open(dir.resolve("single_file/outputs.safetensors"))) {
            for (String variant : new String[] {"fp16", "bf16"}) {
                try (SafeTensors w = SafeTensors.open(unetDir.resolve("diffusion_pytorch_model." + variant + ".safetensors"))) {
                    Tensor result = load(unetDir, w).forward(in.tensor("sample"), floats(in.longs("timestep")),
                            in.tensor("encoder_hidden_states"));
                    Fixtures.assertClose("unet out_" + variant + "_weights", ref.tensor("out_" + variant + "_weights"), result, TOL);
                }
            }
        }
    }

    @Test
    void badInputsNameTheShapes() throws Exception {
        Path dir = Fixtures.dir();
        Path unetDir = dir.resolve("models/tiny-sd/unet");
        try (SafeTensors w = SafeTensors.open(unetDir.resolve("diffusion_pytorch_model.safetensors"))) {
            UNet2DConditionModel unet = load(unetDir, w);
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> unet.forward(Tensor.zeros(1, 3, 8, 8), new float[] {1}, Tensor.zeros(1, 77, 32)));
            assertTrue(e.getMessage().contains("in_channels") && e.getMessage().contains("[1, 3, 8, 8]"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class,
                    () -> unet.forward(Tensor.zeros(1, 4, 8, 8), new float[] {1}, Tensor.zeros(1, 77, 16)));
            assertTrue(e.getMessage().contains("cross_attention_dim"), e.getMessage());
            // A weight of the wrong shape is named with both shapes.
            Map<String, Object> cfg = new HashMap<>();
            ModelConfig real = ModelConfig.read(unetDir.resolve("config.json"));
            for (String k : List.of("block_out_channels", "down_block_types", "up_block_types", "attention_head_dim",
                    "cross_attention_dim", "layers_per_block")) {
                cfg.put(k, real.raw(k));
            }
            cfg.put("cross_attention_dim", 48);
            IllegalArgumentException shape = assertThrows(IllegalArgumentException.class,
                    () -> new UNet2DConditionModel(new ModelConfig("test-config", cfg), StateDict.of(List.of(w)), backend));
            assertTrue(shape.getMessage().contains("attn2.to_k.weight") && shape.getMessage().contains("[32, 48]"),
                    shape.getMessage());
            cfg.put("down_block_types", List.of("CrossAttnDownBlock2D", "SimpleDownBlock2D"));
            IllegalArgumentException type = assertThrows(IllegalArgumentException.class,
                    () -> new UNet2DConditionModel(new ModelConfig("test-config", cfg), StateDict.of(List.of(w)), backend));
            assertTrue(type.getMessage().contains("SimpleDownBlock2D"), type.getMessage());
        }
    }
}
