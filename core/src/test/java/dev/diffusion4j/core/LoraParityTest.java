package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotSame;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.nn.StateDict;
import dev.diffusion4j.samplers.SchedulerConfig;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Shape;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.weights.Checkpoint;
import dev.diffusion4j.weights.Lora;
import dev.diffusion4j.weights.SafeTensors;
import dev.diffusion4j.weights.SafeTensorsWriter;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.TreeSet;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * LoRA merging against diffusers ({@code variants/lora}): the kohya F16 file merged into {@code sd1_base} at scales
 * 1.0 and 0.6 (merged weights atol 1e-6, text encoder and U-Net outputs atol 2e-4 rtol 1e-3), unmerged again
 * (base outputs), and a txt2img run at 0.8 (latents atol 2e-3, image max |diff| 2); plus the diffusers/PEFT layout,
 * unmatched-key reporting and F16 preservation on synthetic files.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class LoraParityTest {
    private StableDiffusion base;

    static Path lora() {
        return ParityCases.fixtureDir("variants", "lora");
    }

    private StableDiffusion base() throws IOException {
        if (base == null) {
            base = StableDiffusion.load(lora().resolveSibling("sd1_base"));
        }
        return base;
    }

    @AfterAll
    void close() {
        if (base != null) {
            base.close();
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"1.0", "0.6"})
    void mergedModelsMatchDiffusers(String scale) throws Exception {
        Path dir = lora().resolve("merged_scale_" + scale);
        Path file = lora().resolve("lora_kohya_f16.safetensors");
        StableDiffusion merged = base().withLoras(List.of(new StableDiffusion.LoraSpec(file, Double.parseDouble(scale))));
        assertTrue(merged.loraReport().clean(), "unmatched: " + merged.loraReport().unmatched());
        assertEquals(Lora.Format.KOHYA, Lora.read(file).format());
        int modules = Lora.read(file).modules().size();
        assertEquals(modules, merged.loraReport().merged().get(file), "every module merged");
        try (SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            int[][] ids = ParityCases.ids(in, "input_ids");
            Tensor sample = in.tensor("sample");
            Tensor ehs = in.tensor("encoder_hidden_states");
            float t = in.longs("timestep")[0];
            double te = ParityCases.check("lora " + scale + " text encoder", out.tensor("text_encoder_last_hidden_state"),
                    merged.textEncoder().encode(ids, 1), 2e-4, 1e-3);
            double un = ParityCases.check("lora " + scale + " unet", out.tensor("unet_sample_out"),
                    merged.unet().forward(sample, new float[] {t}, ehs), 2e-4, 1e-3);
            // Unmerge: the base weights again, without reloading.
            StableDiffusion unmerged = merged.withoutLoras();
            assertSame(base().unet(), unmerged.unet(), "unmerged U-Net is the base model");
            double bte = ParityCases.check("lora " + scale + " base text encoder",
                    out.tensor("base_text_encoder_last_hidden_state"), unmerged.textEncoder().encode(ids, 1), 2e-4, 1e-3);
            double bun = ParityCases.check("lora " + scale + " base unet", out.tensor("base_unet_sample_out"),
                    unmerged.unet().forward(sample, new float[] {t}, ehs), 2e-4, 1e-3);
            // The merged and base outputs must differ, or the test proves nothing.
            assertTrue(ParityCases.maxDiff(out.tensor("unet_sample_out"), out.tensor("base_unet_sample_out")) > 1e-2);
            System.out.printf("lora scale %s: %d modules; text encoder %.3g, unet %.3g; unmerged: %.3g, %.3g%n",
                    scale, modules, te, un, bte, bun);

            // The merged weights themselves.
            try (Checkpoint ck = Checkpoint.open(lora().resolveSibling("sd1_base"))) {
                Map<String, StateDict> dicts = Map.of("unet", dict(ck, "unet"), "text_encoder", dict(ck, "text_encoder"));
                LoraMerge.Result r = LoraMerge.merge(List.of(new StableDiffusion.LoraSpec(file, Double.parseDouble(scale))),
                        dicts);
                double worst = 0;
                int n = 0;
                for (String name : out.entries().keySet()) {
                    if (!name.startsWith("merged.")) {
                        continue;
                    }
                    String rest = name.substring("merged.".length());
                    String comp = rest.startsWith("unet.") ? "unet" : "text_encoder";
                    String key = comp.equals("unet") ? rest.substring(5) : rest;
                    worst = Math.max(worst, ParityCases.check(name, out.tensor(name), r.weights().get(comp).get(key),
                            1e-6, 1e-6));
                    n++;
                }
                assertEquals(6, n, "merged weights compared");
                System.out.printf("lora scale %s: %d merged weights, max |diff| %.3g%n", scale, n, worst);
            }
        }
    }

    static StateDict dict(Checkpoint ck, String c) {
        return new StateDict() {
            @Override
            public Tensor find(String key) {
                return ck.contains(c, key) ? ck.tensor(c, key) : null;
            }

            @Override
            public String source() {
                return c;
            }

            @Override
            public Set<String> keys() {
                return new TreeSet<>(ck.keys(c));
            }
        };
    }

    @Test
    void txt2imgWithLoraInBothModels() throws Exception {
        Path dir = lora().resolve("txt2img");
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(dir.resolve("case.json")));
        SchedulerConfig sc = SchedulerConfig.fromMap(JSON.std.mapFrom(Files.readString(dir.resolve("scheduler_config.json"))));
        double scale = ((Number) c.get("lora_scale")).doubleValue();
        StableDiffusion m = base().withLoras(List.of(new StableDiffusion.LoraSpec(lora().resolve("lora_kohya_f16.safetensors"),
                scale))).withSchedulerConfig(sc);
        GenerationRequest req = GenerationRequest.builder()
                .prompt((String) c.get("prompt"))
                .negativePrompt((String) c.get("negative_prompt"))
                .seed(((Number) c.get("seed")).longValue())
                .steps(((Number) c.get("num_inference_steps")).intValue())
                .guidanceScale(((Number) c.get("guidance_scale")).doubleValue())
                .width(((Number) c.get("width")).intValue())
                .height(((Number) c.get("height")).intValue())
                .build();
        Map<String, Tensor> got = new HashMap<>();
        GenerationResult result = new Pipeline(m, req, ProgressListener.NONE, new Cancellation(), got::put).run();
        Map<String, Tensor> gotBase = new HashMap<>();
        new Pipeline(m.withoutLoras(), req, ProgressListener.NONE, new Cancellation(), gotBase::put).run();
        try (SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            ParityCases.check("lora prompt_embeds", out.tensor("prompt_embeds"), got.get("prompt_embeds"), 1e-4, 0);
            double dl = ParityCases.check("lora final_latents", out.tensor("final_latents"), got.get("final_latents"),
                    2e-3, 0);
            double dd = ParityCases.check("lora decoded", out.tensor("decoded"), got.get("decoded"), 5e-3, 0);
            double db = ParityCases.check("lora base final latents (unmerged)", out.tensor("base_final_latents_without_lora"),
                    gotBase.get("final_latents"), 2e-3, 0);
            long[] ref = out.view("image_uint8").toLongArray();
            int w = result.image().getWidth();
            int max = 0;
            for (int y = 0; y < result.image().getHeight(); y++) {
                for (int x = 0; x < w; x++) {
                    int rgb = result.image().getRGB(x, y);
                    for (int ch = 0; ch < 3; ch++) {
                        max = Math.max(max, (int) Math.abs(((rgb >> (16 - 8 * ch)) & 0xFF) - ref[(y * w + x) * 3 + ch]));
                    }
                }
            }
            System.out.printf("lora txt2img scale %.1f: final_latents %.3g decoded %.3g image max |diff| %d; unmerged"
                    + " final_latents %.3g%n", scale, dl, dd, max, db);
            assertTrue(max <= 2, "image differs by " + max);
            assertEquals("lora_kohya_f16:0.8", GenerationParameters.parse(result.parameters().get(0)).fields().get("Lora"),
                    result.parameters().get(0));
        }
    }

    /** The same module in kohya and in diffusers/PEFT layout merges to the same weight; junk keys are reported. */
    @Test
    void peftLayoutAndUnmatchedKeys(@TempDir Path tmp) throws Exception {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        float[] down = new float[3 * 16];
        float[] up = new float[16 * 3];
        for (int i = 0; i < down.length; i++) {
            down[i] = (float) rnd.nextGaussian();
            up[i] = (float) rnd.nextGaussian();
        }
        float[] convDown = new float[2 * 16 * 9];
        float[] convUp = new float[16 * 2];
        for (int i = 0; i < convDown.length; i++) {
            convDown[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < convUp.length; i++) {
            convUp[i] = (float) rnd.nextGaussian();
        }
        String q = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
        String conv = "down_blocks.0.resnets.0.conv1";
        Path kohya = tmp.resolve("k.safetensors");
        new SafeTensorsWriter()
                .addF32("lora_unet_" + q.replace('.', '_') + ".lora_down.weight", down, 3, 16)
                .addF32("lora_unet_" + q.replace('.', '_') + ".lora_up.weight", up, 16, 3)
                .addF32("lora_unet_" + q.replace('.', '_') + ".alpha", new float[] {1.5f})
                .addF32("lora_unet_" + conv.replace('.', '_') + ".lora_down.weight", convDown, 2, 16, 3, 3)
                .addF32("lora_unet_" + conv.replace('.', '_') + ".lora_up.weight", convUp, 16, 2, 1, 1)
                .write(kohya);
        Path peft = tmp.resolve("p.safetensors");
        new SafeTensorsWriter()
                .addF32("unet." + q.replace("attn1.", "attn1.processor.") + "_lora.down.weight", down, 3, 16)
                .addF32("unet." + q.replace("attn1.", "attn1.processor.") + "_lora.up.weight", up, 16, 3)
                .addF32("unet." + q.replace("attn1.", "attn1.processor.") + ".alpha", new float[] {1.5f})
                .addF32("unet." + conv + ".lora.down.weight", convDown, 2, 16, 3, 3)
                .addF32("unet." + conv + ".lora.up.weight", convUp, 16, 2, 1, 1)
                .addF32("unet.no_such_block.lora_A.weight", down, 3, 16)
                .addF32("unet.no_such_block.lora_B.weight", up, 16, 3)
                .addF32("unet." + q + "_lonely.lora_A.weight", down, 3, 16)
                .addF32("unet.wrong_rank.lora_A.weight", down, 3, 16)
                .addF32("unet.wrong_rank.lora_B.weight", down, 16, 3)
                .write(peft);
        assertEquals(Lora.Format.DIFFUSERS, Lora.read(peft).format());
        // The PEFT lora_A/lora_B and old text-encoder lora_linear_layer forms, resolved onto the text encoder.
        Path te = tmp.resolve("te.safetensors");
        String qp = "text_model.encoder.layers.0.self_attn.q_proj";
        String kp = "text_model.encoder.layers.0.self_attn.k_proj";
        new SafeTensorsWriter()
                .addF32("text_encoder." + qp + ".lora_A.weight", java.util.Arrays.copyOf(down, 36), 3, 12)
                .addF32("text_encoder." + qp + ".lora_B.weight", java.util.Arrays.copyOf(up, 36), 12, 3)
                .addF32("text_encoder." + kp + ".lora_linear_layer.down.weight", java.util.Arrays.copyOf(down, 36), 3, 12)
                .addF32("text_encoder." + kp + ".lora_linear_layer.up.weight", java.util.Arrays.copyOf(up, 36), 12, 3)
                .write(te);
        StableDiffusion withTe = base().withLoras(List.of(new StableDiffusion.LoraSpec(te, 1)));
        assertTrue(withTe.loraReport().clean(), withTe.loraReport().toString());
        assertEquals(2, withTe.loraReport().merged().get(te));
        assertSame(base().unet(), withTe.unet(), "U-Net untouched, not rebuilt");
        assertNotSame(base().textEncoder(), withTe.textEncoder());
        StableDiffusion k = base().withLoras(List.of(new StableDiffusion.LoraSpec(kohya, 0.7)));
        StableDiffusion p = base().withLoras(List.of(new StableDiffusion.LoraSpec(peft, 0.7)));
        assertTrue(k.loraReport().clean(), "seed " + seed + ": " + k.loraReport());
        assertEquals(2, k.loraReport().merged().get(kohya));
        assertEquals(2, p.loraReport().merged().get(peft));
        Map<String, String> un = p.loraReport().unmatched().get(peft);
        assertEquals(Set.of("unet.no_such_block", "unet." + q + "_lonely.lora_A.weight", "unet.wrong_rank"), un.keySet(),
                "seed " + seed + ": " + un);
        assertTrue(un.get("unet.no_such_block").contains("matches no module"), un.toString());
        assertTrue(un.get("unet." + q + "_lonely.lora_A.weight").contains("lacks its up"), un.toString());
        assertNotSame(base().unet(), k.unet(), "U-Net rebuilt");
        assertSame(base().textEncoder(), k.textEncoder(), "text encoder untouched, not rebuilt");
        Tensor sample = Tensor.of(new float[2 * 4 * 8 * 12], 2, 4, 8, 12);
        for (int i = 0; i < sample.numel(); i++) {
            sample.setFlat(i, (float) rnd.nextGaussian());
        }
        Tensor ehs = Tensor.of(new float[2 * 77 * 12], 2, 77, 12);
        for (int i = 0; i < ehs.numel(); i++) {
            ehs.setFlat(i, (float) rnd.nextGaussian());
        }
        Tensor a = k.unet().forward(sample, new float[] {500}, ehs);
        Tensor b = p.unet().forward(sample, new float[] {500}, ehs);
        Tensor c = base().unet().forward(sample, new float[] {500}, ehs);
        assertArrayEquals(a.toFloatArray(), b.toFloatArray(), 0f, "seed " + seed + ": kohya and PEFT layouts merge alike");
        assertTrue(ParityCases.maxDiff(a, c) > 1e-3, "seed " + seed + ": the LoRA changes the output");
        // A file with no LoRA module at all is an error, not an empty merge.
        Path junk = tmp.resolve("j.safetensors");
        new SafeTensorsWriter().addF32("some.weight", down, 3, 16).write(junk);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> base().withLoras(List.of(new StableDiffusion.LoraSpec(junk, 1))));
        assertTrue(e.getMessage().contains("no LoRA module"), e.getMessage());
    }

    /** The formula on a hand-sized case, and F16 weights stay F16 (rounded once, from the float32 sum). */
    @Test
    void formulaAndF16Preserved() {
        // W' = W + scale * (alpha/rank) * up @ down: rank 2, alpha 1, scale 0.5 -> factor 0.25.
        Lora.Module m = new Lora.Module("m", new float[] {1, 2, 3, 4, 5, 6}, new long[] {2, 3},
                new float[] {1, 0, 0, 1}, new long[] {2, 2}, 1f);
        assertArrayEquals(new float[] {0.25f, 0.5f, 0.75f, 1f, 1.25f, 1.5f}, Lora.delta(m, 0.5f), 0f);
        Lora.Module noAlpha = new Lora.Module("m", m.down(), m.downShape(), m.up(), m.upShape(), Float.NaN);
        assertArrayEquals(new float[] {0.5f, 1f, 1.5f, 2f, 2.5f, 3f}, Lora.delta(noAlpha, 0.5f), 0f, "alpha = rank");
        MemorySegment seg = Arena.ofAuto().allocate(12, 64);
        ValueLayout.OfShort le = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);
        for (int i = 0; i < 6; i++) {
            seg.set(le, 2L * i, Float.floatToFloat16(0.1f * i));
        }
        Tensor w = Tensor.wrap(seg, DType.F16, Shape.of(2, 3));
        Tensor merged = LoraMerge.add(w, Lora.delta(m, 0.5f));
        assertEquals(DType.F16, merged.dtype());
        assertEquals(w.shape(), merged.shape());
        for (int i = 0; i < 6; i++) {
            float expect = Float.float16ToFloat(Float.floatToFloat16(Float.float16ToFloat(Float.floatToFloat16(0.1f * i))
                    + 0.25f * (i + 1)));
            assertEquals(expect, merged.getFlat(i), 0f, "element " + i);
        }
        assertThrows(IllegalArgumentException.class, () -> LoraMerge.add(w, new float[5]));
    }

    /**
     * A LoRA merged into the F16 SD 2.x single file: merged weights stay F16 and equal f16(W + delta), including a
     * q_proj that is a row slice of a fused OpenCLIP in_proj_weight.
     */
    @Test
    void f16SingleFileStaysF16(@TempDir Path tmp) throws Exception {
        Path sd2 = lora().resolveSibling("sd2_v");
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        float[] down = new float[2 * 16];
        float[] up = new float[16 * 2];
        for (int i = 0; i < down.length; i++) {
            down[i] = (float) rnd.nextGaussian();
            up[i] = (float) rnd.nextGaussian();
        }
        String unetKey = "down_blocks.0.attentions.0.transformer_blocks.0.attn1.to_q";
        String teKey = "text_model.encoder.layers.1.self_attn.q_proj";
        Path file = tmp.resolve("sd2lora.safetensors");
        new SafeTensorsWriter()
                .addF32("lora_unet_" + unetKey.replace('.', '_') + ".lora_down.weight", down, 2, 16)
                .addF32("lora_unet_" + unetKey.replace('.', '_') + ".lora_up.weight", up, 16, 2)
                .addF32("lora_te_" + teKey.replace('.', '_') + ".lora_down.weight", down, 2, 16)
                .addF32("lora_te_" + teKey.replace('.', '_') + ".lora_up.weight", up, 16, 2)
                .addF32("lora_te_" + teKey.replace('.', '_') + ".alpha", new float[] {1f})
                .write(file);
        try (Checkpoint ck = Checkpoint.open(sd2.resolve("sd2_v_tiny_single_file_f16.safetensors"))) {
            Map<String, StateDict> dicts = Map.of("unet", dict(ck, "unet"), "text_encoder", dict(ck, "text_encoder"));
            LoraMerge.Result r = LoraMerge.merge(List.of(new StableDiffusion.LoraSpec(file, 0.5)), dicts);
            assertTrue(r.report().clean(), r.report().toString());
            for (String[] ck2 : new String[][] {{"unet", unetKey + ".weight", "1"}, {"text_encoder", teKey + ".weight", "0.5"}}) {
                Tensor baseW = dicts.get(ck2[0]).get(ck2[1]);
                Tensor merged = r.weights().get(ck2[0]).get(ck2[1]);
                assertEquals(DType.F16, baseW.dtype());
                assertEquals(DType.F16, merged.dtype(), ck2[1] + " stays F16");
                float f = 0.5f * Float.parseFloat(ck2[2]); // scale * alpha/rank (no alpha: 1; alpha 1, rank 2: 0.5)
                float[] b = baseW.toFloatArray();
                float[] m = merged.toFloatArray();
                int changed = 0;
                for (int o = 0; o < 16; o++) {
                    for (int i = 0; i < 16; i++) {
                        float upScaled0 = up[o * 2] * Float.parseFloat(ck2[2]);
                        float upScaled1 = up[o * 2 + 1] * Float.parseFloat(ck2[2]);
                        double d = ((double) upScaled0 * down[i] + (double) upScaled1 * down[16 + i]) * 0.5;
                        // The merged value is the F16 rounding of base + delta: within half an F16 ulp of the exact
                        // sum, plus float32 rounding of the delta (GEMM summation order).
                        double exact = b[o * 16 + i] + d;
                        double f16Ulp = f16Ulp((float) exact);
                        assertTrue(Math.abs(m[o * 16 + i] - exact) <= 0.5 * f16Ulp + 1e-6 * (1 + Math.abs(d)),
                                "seed " + seed + " " + ck2[1] + "[" + o + "," + i + "]: " + m[o * 16 + i] + " vs " + exact
                                + " (F16 ulp " + f16Ulp((float) exact) + ")");
                        assertEquals(m[o * 16 + i], Float.float16ToFloat(Float.floatToFloat16(m[o * 16 + i])), 0f,
                                "an F16 value");
                        changed += m[o * 16 + i] != b[o * 16 + i] ? 1 : 0;
                    }
                }
                assertTrue(changed > 128, ck2[1] + ": only " + changed + " elements changed (factor " + f + ")");
            }
            // k_proj (the next rows of the same fused tensor) is untouched.
            assertArrayEquals(dicts.get("text_encoder").get("text_model.encoder.layers.1.self_attn.k_proj.weight").toFloatArray(),
                    r.weights().get("text_encoder").get("text_model.encoder.layers.1.self_attn.k_proj.weight").toFloatArray(), 0f);
        }
    }

    /** The GEMM-based delta equals the reference triple loop (to float rounding), and is timed on a real-size module. */
    @Test
    void gemmDeltaMatchesReferenceLoop() {
        long seed = new Random().nextLong();
        Random rnd = new Random(seed);
        int out = 320;
        int in = 320 * 9;
        int r = 16;
        float[] down = new float[r * in];
        float[] up = new float[out * r];
        for (int i = 0; i < down.length; i++) {
            down[i] = (float) rnd.nextGaussian();
        }
        for (int i = 0; i < up.length; i++) {
            up[i] = (float) rnd.nextGaussian();
        }
        Lora.Module m = new Lora.Module("conv", down, new long[] {r, 320, 3, 3}, up, new long[] {out, r, 1, 1}, 8f);
        float[] ref = Lora.delta(m, 0.7f);
        var backend = dev.diffusion4j.tensor.cpu.CpuBackend.create();
        float[] got = LoraMerge.delta(m, 0.7f, backend);
        double worst = 0;
        for (int i = 0; i < ref.length; i++) {
            worst = Math.max(worst, Math.abs(ref[i] - got[i]) / (1 + Math.abs(ref[i])));
        }
        assertTrue(worst < 1e-5, "seed " + seed + ": GEMM delta differs by " + worst);
        Lora.Module big = new Lora.Module("big", new float[64 * 1280], new long[] {64, 1280}, new float[1280 * 64],
                new long[] {1280, 64}, Float.NaN);
        double[] ms = new double[5];
        for (int k = 0; k < 7; k++) {
            long t0 = System.nanoTime();
            LoraMerge.delta(big, 1f, backend);
            if (k >= 2) {
                ms[k - 2] = (System.nanoTime() - t0) / 1e6;
            }
        }
        java.util.Arrays.sort(ms);
        System.out.printf("LoRA delta 1280x1280 rank 64 on the CPU backend: median %.1f ms (%.1f GFLOP/s)%n", ms[2],
                2.0 * 1280 * 1280 * 64 / ms[2] / 1e6);
    }

    /** The spacing of F16 values around {@code v}. */
    private static double f16Ulp(float v) {
        short h = Float.floatToFloat16(Math.abs(v));
        return Float.float16ToFloat((short) (h + 1)) - Float.float16ToFloat(h);
    }
}
