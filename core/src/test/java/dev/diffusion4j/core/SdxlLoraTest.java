package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.Checkpoint;
import dev.diffusion4j.weights.Lora;
import dev.diffusion4j.weights.SafeTensorsWriter;
import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * SDXL LoRA files as people have them, merged into the tiny SDXL fixture model ({@code variants/sdxl}): the same
 * random low-rank modules written three ways (kohya with the original SGM U-Net names, kohya with diffusers names,
 * PEFT with {@code unet.}/{@code text_encoder.}/{@code text_encoder_2.} prefixes) merge to bit-identical weights of
 * both text encoders and the U-Net, equal to {@code W + scale · (alpha/rank) · up @ down} computed here in double;
 * keys that match nothing are reported; unmerging gives back the base models; F16 single-file weights stay F16 within
 * F16 rounding.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class SdxlLoraTest {
    private static final double SCALE = 0.75;
    private static final float ALPHA = 3f;

    /** One module: component, diffusers module path, SGM name for U-Net modules (null for text encoders). */
    private record Pick(String component, String module, String sgm) {
    }

    private static final List<Pick> PICKS = List.of(
            new Pick("unet", "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_q",
                    "input_blocks_4_1_transformer_blocks_0_attn1_to_q"),
            new Pick("unet", "down_blocks.2.attentions.1.transformer_blocks.1.ff.net.0.proj",
                    "input_blocks_8_1_transformer_blocks_1_ff_net_0_proj"),
            new Pick("unet", "mid_block.attentions.0.proj_in", "middle_block_1_proj_in"),
            new Pick("unet", "mid_block.resnets.1.conv2", "middle_block_2_out_layers_3"),
            new Pick("unet", "up_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k",
                    "output_blocks_3_1_transformer_blocks_0_attn2_to_k"),
            new Pick("unet", "up_blocks.0.attentions.2.transformer_blocks.1.attn1.to_out.0",
                    "output_blocks_2_1_transformer_blocks_1_attn1_to_out_0"),
            new Pick("unet", "up_blocks.0.upsamplers.0.conv", "output_blocks_2_2_conv"),
            new Pick("unet", "up_blocks.1.resnets.2.conv_shortcut", "output_blocks_5_0_skip_connection"),
            new Pick("unet", "down_blocks.0.resnets.0.conv1", "input_blocks_1_0_in_layers_2"),
            new Pick("unet", "down_blocks.0.resnets.1.time_emb_proj", "input_blocks_2_0_emb_layers_1"),
            new Pick("unet", "down_blocks.0.downsamplers.0.conv", "input_blocks_3_0_op"),
            new Pick("unet", "add_embedding.linear_1", "label_emb_0_0"),
            new Pick("unet", "time_embedding.linear_2", "time_embed_2"),
            new Pick("unet", "conv_in", "input_blocks_0_0"),
            new Pick("unet", "conv_out", "out_2"),
            new Pick("text_encoder", "text_model.encoder.layers.0.self_attn.q_proj", null),
            new Pick("text_encoder", "text_model.encoder.layers.2.mlp.fc2", null),
            new Pick("text_encoder_2", "text_model.encoder.layers.1.mlp.fc1", null),
            new Pick("text_encoder_2", "text_model.encoder.layers.2.self_attn.out_proj", null),
            new Pick("text_encoder_2", "text_model.encoder.layers.0.self_attn.v_proj", null));

    /** The random factors of each pick: down, up and their shapes. */
    private record Factors(float[] down, long[] downShape, float[] up, long[] upShape) {
    }

    private final long seed = new Random().nextLong();
    private final Map<Pick, Factors> factors = new HashMap<>();
    private Path sgmFile;
    private Path kohyaFile;
    private Path peftFile;
    private Checkpoint folder;
    private Map<String, StateDict> dicts;

    static Path sdxl() {
        return ParityCases.fixtureDir("variants", "sdxl");
    }

    @BeforeAll
    void writeFiles(@TempDir Path tmp) throws IOException {
        folder = Checkpoint.open(sdxl().resolve("pipeline"));
        dicts = dicts(folder);
        Random rnd = new Random(seed);
        SafeTensorsWriter sgm = new SafeTensorsWriter();
        SafeTensorsWriter kohya = new SafeTensorsWriter();
        SafeTensorsWriter peft = new SafeTensorsWriter();
        for (Pick p : PICKS) {
            int[] w = dicts.get(p.component()).get(p.module() + ".weight").shape().dims();
            int rank = 1 + rnd.nextInt(4);
            long[] downShape = w.length == 4 ? new long[] {rank, w[1], w[2], w[3]} : new long[] {rank, w[1]};
            long[] upShape = w.length == 4 ? new long[] {w[0], rank, 1, 1} : new long[] {w[0], rank};
            float[] down = gaussian(rnd, (int) (downShape[0] * downShape[1] * (w.length == 4 ? w[2] * w[3] : 1)));
            float[] up = gaussian(rnd, w[0] * rank);
            factors.put(p, new Factors(down, downShape, up, upShape));
            String kohyaPrefix = switch (p.component()) {
                case "unet" -> "lora_unet_";
                case "text_encoder" -> "lora_te1_";
                default -> "lora_te2_";
            };
            String sgmName = kohyaPrefix + (p.sgm() != null ? p.sgm() : p.module().replace('.', '_'));
            String kohyaName = kohyaPrefix + p.module().replace('.', '_');
            for (Object[] f : new Object[][] {{sgm, sgmName}, {kohya, kohyaName}}) {
                ((SafeTensorsWriter) f[0]).addF32(f[1] + ".lora_down.weight", down, downShape)
                        .addF32(f[1] + ".lora_up.weight", up, upShape)
                        .addF32(f[1] + ".alpha", new float[] {ALPHA});
            }
            String peftName = p.component() + "." + p.module();
            peft.addF32(peftName + ".lora_A.weight", down, downShape)
                    .addF32(peftName + ".lora_B.weight", up, upShape)
                    .addF32(peftName + ".alpha", new float[] {ALPHA});
        }
        // Keys that match nothing: an input block the model does not have, a second-encoder layer it does not have.
        float[] d = gaussian(rnd, 2 * 32);
        sgm.addF32("lora_unet_input_blocks_99_1_proj_in.lora_down.weight", d, 2, 32)
                .addF32("lora_unet_input_blocks_99_1_proj_in.lora_up.weight", d, 32, 2)
                .addF32("lora_te2_text_model_encoder_layers_99_mlp_fc1.lora_down.weight", d, 2, 32)
                .addF32("lora_te2_text_model_encoder_layers_99_mlp_fc1.lora_up.weight", d, 32, 2);
        sgmFile = tmp.resolve("sdxl_sgm.safetensors");
        kohyaFile = tmp.resolve("sdxl_kohya.safetensors");
        peftFile = tmp.resolve("sdxl_peft.safetensors");
        sgm.write(sgmFile);
        kohya.write(kohyaFile);
        peft.write(peftFile);
    }

    @AfterAll
    void close() {
        if (folder != null) {
            folder.close();
        }
    }

    private static Map<String, StateDict> dicts(Checkpoint ck) {
        return Map.of("unet", LoraParityTest.dict(ck, "unet"), "text_encoder", LoraParityTest.dict(ck, "text_encoder"),
                "text_encoder_2", LoraParityTest.dict(ck, "text_encoder_2"));
    }

    private static float[] gaussian(Random rnd, int n) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = (float) (0.5 * rnd.nextGaussian());
        }
        return v;
    }

    /** The F16 spacing above |v| (v an F16 value). */
    private static double f16Ulp(float v) {
        short h = Float.floatToFloat16(Math.abs(v));
        return Float.float16ToFloat((short) (h + 1)) - Float.float16ToFloat(h);
    }

    /** {@code scale · (alpha/rank) · up @ down} in double, flat {@code [out, in·kh·kw]}. */
    private static double[] expectedDelta(Factors f) {
        int out = (int) f.upShape()[0];
        int rank = (int) f.downShape()[0];
        int in = f.down().length / rank;
        double[] d = new double[out * in];
        for (int o = 0; o < out; o++) {
            for (int k = 0; k < rank; k++) {
                double u = f.up()[o * rank + k];
                for (int i = 0; i < in; i++) {
                    d[o * in + i] += u * f.down()[k * in + i];
                }
            }
        }
        for (int i = 0; i < d.length; i++) {
            d[i] *= SCALE * ALPHA / rank;
        }
        return d;
    }

    @Test
    void sgmKohyaAndPeftNamesMergeAlikeIntoAllThreeModels() throws IOException {
        Map<Path, LoraMerge.Result> results = new HashMap<>();
        for (Path file : List.of(sgmFile, kohyaFile, peftFile)) {
            results.put(file, LoraMerge.merge(List.of(new StableDiffusion.LoraSpec(file, SCALE)), dicts));
        }
        assertEquals(Lora.Format.KOHYA, Lora.read(sgmFile).format());
        assertEquals(Lora.Format.DIFFUSERS, Lora.read(peftFile).format());
        for (Path file : List.of(kohyaFile, peftFile)) {
            assertTrue(results.get(file).report().clean(), "seed " + seed + " " + file.getFileName() + ": "
                    + results.get(file).report().unmatched());
        }
        for (Path file : results.keySet()) {
            assertEquals(PICKS.size(), results.get(file).report().merged().get(file), "seed " + seed + " "
                    + file.getFileName() + ": every module merged");
        }
        Map<String, String> un = results.get(sgmFile).report().unmatched().get(sgmFile);
        assertEquals(Set.of("lora_unet_input_blocks_99_1_proj_in", "lora_te2_text_model_encoder_layers_99_mlp_fc1"),
                un.keySet(), "unmatched keys are reported: " + un);
        for (Pick p : PICKS) {
            String key = p.module() + ".weight";
            Tensor base = dicts.get(p.component()).get(key);
            float[] b = base.toFloatArray();
            float[] sgm = results.get(sgmFile).weights().get(p.component()).get(key).toFloatArray();
            assertArrayEquals(sgm, results.get(kohyaFile).weights().get(p.component()).get(key).toFloatArray(), 0f,
                    "seed " + seed + " " + p + ": SGM and diffusers kohya names merge alike");
            assertArrayEquals(sgm, results.get(peftFile).weights().get(p.component()).get(key).toFloatArray(), 0f,
                    "seed " + seed + " " + p + ": SGM and PEFT names merge alike");
            double[] d = expectedDelta(factors.get(p));
            assertEquals(d.length, sgm.length, p.toString());
            int changed = 0;
            for (int i = 0; i < d.length; i++) {
                double exact = b[i] + d[i];
                // float32: the GEMM's sum of `rank` products and the final addition.
                assertEquals(exact, sgm[i], 1e-6 * (1 + Math.abs(b[i]) + Math.abs(d[i]) * 4), "seed " + seed + " " + p
                        + " [" + i + "]");
                changed += sgm[i] != b[i] ? 1 : 0;
            }
            assertTrue(changed > d.length / 2, "seed " + seed + " " + p + ": only " + changed + " changed");
        }
        // Two files on the same weights add up: 0.5 · SGM + 0.25 · PEFT = 0.75 · either.
        LoraMerge.Result sum = LoraMerge.merge(List.of(new StableDiffusion.LoraSpec(sgmFile, 0.5),
                new StableDiffusion.LoraSpec(peftFile, 0.25)), dicts);
        for (Pick p : PICKS) {
            String key = p.module() + ".weight";
            float[] one = results.get(sgmFile).weights().get(p.component()).get(key).toFloatArray();
            float[] two = sum.weights().get(p.component()).get(key).toFloatArray();
            for (int i = 0; i < one.length; i++) {
                assertEquals(one[i], two[i], 2e-6 * (1 + Math.abs(one[i])), "seed " + seed + " " + p + " [" + i + "]");
            }
        }
        // A weight no module names is unchanged.
        String other = "down_blocks.1.attentions.0.transformer_blocks.0.attn1.to_k.weight";
        assertArrayEquals(dicts.get("unet").get(other).toFloatArray(),
                results.get(sgmFile).weights().get("unet").get(other).toFloatArray(), 0f);
    }

    @Test
    void mergedAndUnmergedThroughTheLibrary() throws IOException {
        try (StableDiffusion base = StableDiffusion.load(sdxl().resolve("pipeline"))) {
            assertTrue(base.isSdxl());
            int[][] ids = new int[1][77];
            for (int i = 0; i < 77; i++) {
                ids[0][i] = i < 6 ? 49406 - i * 1000 : 0;
            }
            ids[0][6] = 49407;
            Tensor base2 = base.textEncoder2().encode(ids, 1);
            List<float[]> outs2 = new ArrayList<>();
            List<float[]> outs1 = new ArrayList<>();
            for (Path file : List.of(sgmFile, kohyaFile, peftFile)) {
                StableDiffusion m = base.withLoras(List.of(new StableDiffusion.LoraSpec(file, SCALE)));
                assertEquals(PICKS.size(), m.loraReport().merged().get(file), file.getFileName().toString());
                assertNotSame(base.textEncoder2(), m.textEncoder2(), "text_encoder_2 rebuilt");
                assertNotSame(base.textEncoder(), m.textEncoder(), "text_encoder rebuilt");
                assertNotSame(base.unet(), m.unet(), "U-Net rebuilt");
                assertSame(base.tokenizer2(), m.tokenizer2());
                outs2.add(m.textEncoder2().encode(ids, 1).toFloatArray());
                outs1.add(m.textEncoder().encode(ids, 1).toFloatArray());
                StableDiffusion unmerged = m.withoutLoras();
                assertSame(base.textEncoder2(), unmerged.textEncoder2(), "unmerged: the base text_encoder_2");
                assertSame(base.textEncoder(), unmerged.textEncoder());
                assertSame(base.unet(), unmerged.unet());
                assertArrayEquals(base2.toFloatArray(), unmerged.textEncoder2().encode(ids, 1).toFloatArray(), 0f);
            }
            assertArrayEquals(outs2.get(0), outs2.get(1), 0f, "seed " + seed);
            assertArrayEquals(outs2.get(0), outs2.get(2), 0f, "seed " + seed);
            assertArrayEquals(outs1.get(0), outs1.get(2), 0f, "seed " + seed);
            assertTrue(ParityCases.maxDiff(base2, Tensor.of(outs2.get(0), base2.shape().dims())) > 1e-3,
                    "seed " + seed + ": the LoRA changes text_encoder_2's output");
        }
    }

    /** The F16 single file: merged weights stay F16, within half an F16 ulp of {@code W + delta}. */
    @Test
    void f16SingleFileStaysF16() throws IOException {
        try (Checkpoint ck = Checkpoint.open(sdxl().resolve("sdxl_tiny_single_file_f16.safetensors"))) {
            Map<String, StateDict> f16 = dicts(ck);
            LoraMerge.Result r = LoraMerge.merge(List.of(new StableDiffusion.LoraSpec(sgmFile, SCALE)), f16);
            assertEquals(PICKS.size(), r.report().merged().get(sgmFile), r.report().toString());
            for (Pick p : PICKS) {
                String key = p.module() + ".weight";
                Tensor base = f16.get(p.component()).get(key);
                Tensor merged = r.weights().get(p.component()).get(key);
                assertEquals(DType.F16, base.dtype(), key);
                assertEquals(DType.F16, merged.dtype(), key + " stays F16");
                float[] b = base.toFloatArray();
                float[] m = merged.toFloatArray();
                double[] d = expectedDelta(factors.get(p));
                for (int i = 0; i < d.length; i++) {
                    double exact = b[i] + d[i];
                    double ulp = f16Ulp(m[i]);
                    assertTrue(Math.abs(m[i] - exact) <= 0.5 * ulp + 1e-6 * (1 + Math.abs(d[i]) * 4),
                            "seed " + seed + " " + p + "[" + i + "]: " + m[i] + " vs " + exact);
                }
            }
        }
    }
}
