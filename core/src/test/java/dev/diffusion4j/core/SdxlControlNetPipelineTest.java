package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.nn.controlnet.ControlNetConfig;
import dev.diffusion4j.nn.controlnet.ControlNetModel;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.Checkpoint;
import dev.diffusion4j.weights.SafeTensorsWriter;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.TreeMap;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * An SDXL ControlNet in the SDXL pipeline (no SDXL ControlNet fixture exists): ControlNets made in the test from the
 * tiny SDXL fixture U-Net's weights, as diffusers' {@code ControlNetModel.from_unet} does, get the pipeline's
 * {@code text_time} conditioning. With its zero convs still zero (a freshly made ControlNet) the result is the
 * uncontrolled one exactly; with random zero convs it changes the result, two ControlNets at 0.5 and 0.3 give one
 * at 0.8 (residuals are linear in the scale), the same ControlNet written as a diffusers folder ({@code config.json}
 * with {@code addition_embed_type: text_time}) loads through {@code loadControlNet} and gives the same result, and
 * guess mode runs the ControlNet on the conditional half only.
 */
class SdxlControlNetPipelineTest {
    /** A ControlNet sharing the U-Net's weights; every weight it asks for lands in {@code asked}. */
    private static ControlNetModel controlNet(StableDiffusion m, StateDict unet, boolean zeroConvs, long seed,
                                              Map<String, Tensor> asked) {
        StateDict w = new StateDict() {
            @Override
            public Tensor find(String key) {
                return unet.find(key);
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
                Tensor t = make(key, dims);
                asked.put(key, t);
                return t;
            }

            private Tensor make(String key, int... dims) {
                if (!key.startsWith("controlnet_")) {
                    return unet.get(key, dims);
                }
                boolean zero = key.startsWith("controlnet_down_blocks.") || key.startsWith("controlnet_mid_block.");
                float[] v = new float[Math.toIntExact(Shape.of(dims).numel())];
                if (!zero || !zeroConvs) {
                    SplittableRandom rnd = new SplittableRandom(seed ^ key.hashCode());
                    double std = 0.5 / Math.sqrt(dims.length >= 2 ? v.length / dims[0] : 1);
                    for (int i = 0; i < v.length; i++) {
                        v[i] = (float) (std * rnd.nextGaussian());
                    }
                }
                return Tensor.of(v, dims);
            }
        };
        var cfg = new ControlNetConfig(m.unet().config(), 3, new int[] {16, 32, 96, 256}, false, false);
        return new ControlNetModel(cfg, w, m.backend());
    }

    private static GenerationRequest.Builder request() {
        return GenerationRequest.builder().prompt("a red cube on a table").negativePrompt("blurry").seed(7).steps(3)
                .guidanceScale(5).width(64).height(64);
    }

    private static double maxDiff(Tensor a, Tensor b) {
        float[] x = a.toFloatArray();
        float[] y = b.toFloatArray();
        double m = 0;
        for (int i = 0; i < x.length; i++) {
            m = Math.max(m, Math.abs(x[i] - y[i]));
        }
        return m;
    }

    @Test
    void sdxlControlNetInThePipeline(@TempDir Path tmp) throws IOException {
        var dir = ParityCases.fixtureDir("variants", "sdxl", "pipeline");
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        BufferedImage control = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                control.setRGB(x, y, rnd.nextInt(1 << 24));
            }
        }
        try (StableDiffusion m = StableDiffusion.load(dir); Checkpoint ck = Checkpoint.open(dir)) {
            assertTrue(m.isSdxl());
            StateDict unet = LoraParityTest.dict(ck, "unet");
            ControlNetModel fresh = controlNet(m, unet, true, seed, new HashMap<>());
            Map<String, Tensor> trainedWeights = new TreeMap<>();
            ControlNetModel trained = controlNet(m, unet, false, seed, trainedWeights);
            Tensor base = m.generate(request().build()).latents();

            GenerationResult zero = m.generate(request()
                    .controlNet(new GenerationRequest.ControlNet(fresh, control, 1.0)).build());
            assertArrayEquals(base.toFloatArray(), zero.latents().toFloatArray(), 0f,
                    "seed " + seed + ": zero convs add zero residuals");
            assertTrue(zero.parameters().get(0).contains("ControlNet 0"), zero.parameters().get(0));

            Tensor one = m.generate(request()
                    .controlNet(new GenerationRequest.ControlNet(trained, control, 0.8)).build()).latents();
            assertEquals(base.shape(), one.shape());
            assertTrue(maxDiff(base, one) > 1e-3, "seed " + seed + ": the ControlNet changes the result");
            Tensor two = m.generate(request()
                    .controlNet(new GenerationRequest.ControlNet(trained, control, 0.5))
                    .controlNet(new GenerationRequest.ControlNet(trained, control, 0.3)).build()).latents();
            assertTrue(maxDiff(one, two) < 1e-3, "seed " + seed + ": 0.5 + 0.3 is 0.8, max |diff| " + maxDiff(one, two));

            // The same ControlNet as a diffusers folder (config.json with text_time + weights), through loadControlNet.
            Map<String, Object> cfg = new LinkedHashMap<>(JSON.std.mapFrom(Files.readString(dir.resolve("unet/config.json"))));
            cfg.put("_class_name", "ControlNetModel");
            cfg.remove("up_block_types");
            cfg.remove("out_channels");
            cfg.put("conditioning_embedding_out_channels", List.of(16, 32, 96, 256));
            cfg.put("controlnet_conditioning_channel_order", "rgb");
            Path folder = Files.createDirectories(tmp.resolve("controlnet"));
            Files.writeString(folder.resolve("config.json"), JSON.std.asString(cfg));
            SafeTensorsWriter writer = new SafeTensorsWriter();
            trainedWeights.forEach(writer::add);
            writer.write(folder.resolve("diffusion_pytorch_model.safetensors"));
            ControlNetModel loaded = m.loadControlNet(folder);
            assertTrue(loaded.config().unet().textTime(), "text_time read from config.json");
            Tensor fromFolder = m.generate(request()
                    .controlNet(new GenerationRequest.ControlNet(loaded, control, 0.8)).build()).latents();
            assertArrayEquals(one.toFloatArray(), fromFolder.toFloatArray(), 0f, "seed " + seed + ": loaded from a folder");

            Tensor guess = m.generate(request().guessMode(true)
                    .controlNet(new GenerationRequest.ControlNet(trained, control, 0.8)).build()).latents();
            assertEquals(base.shape(), guess.shape());
            assertTrue(maxDiff(guess, one) > 1e-4 && maxDiff(guess, base) > 1e-4,
                    "seed " + seed + ": guess mode differs from both");
        }
    }
}
