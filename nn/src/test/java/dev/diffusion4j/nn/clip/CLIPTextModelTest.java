package dev.diffusion4j.nn.clip;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.tensor.Backend;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.HalfFloats;
import dev.diffusion4j.tensor.Tensor;
import dev.diffusion4j.tensor.cpu.CpuBackend;
import dev.diffusion4j.weights.SafeTensors;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Parity with {@code clip_text/} (HF CLIPTextModel, float32): max |a-b| <= 1e-4 * max(1, max|ref|). */
class CLIPTextModelTest {

    static Path caseDir() {
        return Fixtures.root().resolve("clip_text");
    }

    static int[][] fixtureIds(SafeTensors inputs) {
        long[] flat = inputs.longs("input_ids");
        int rows = flat.length / 77;
        int[][] ids = new int[rows][77];
        for (int i = 0; i < flat.length; i++) {
            ids[i / 77][i % 77] = Math.toIntExact(flat[i]);
        }
        return ids;
    }

    /** max |ref - got| <= 1e-4 * max(1, max |ref|), shapes equal (the nn module's shared comparison). */
    static void assertClose(Tensor ref, Tensor got, String what) {
        dev.diffusion4j.nn.Fixtures.assertClose("clip_text " + what, ref, got, 1e-4);
    }

    /**
     * True when the CPU backend implements every op the text model calls (the kernels are written on other branches;
     * the stubs throw UnsupportedOperationException).
     */
    static boolean cpuBackendImplementsClipOps() {
        try {
            Backend b = CpuBackend.create();
            Tensor x = Tensor.of(new float[] {1, 2, 3, 4, 5, 6, 7, 8}, 1, 2, 4);
            Tensor w = Tensor.of(new float[16], 4, 4);
            Tensor g = Tensor.of(new float[] {1, 1, 1, 1}, 4);
            b.linear(x, w, g);
            b.layerNorm(x, g, g, 1e-5f);
            b.attention(x, x, x, 2, 0.5f, true);
            b.quickGelu(x);
            b.add(x, g);
            return true;
        } catch (UnsupportedOperationException | LinkageError e) {
            return false;
        }
    }

    void checkParity(Backend backend) throws Exception {
        Path dir = caseDir();
        try (CLIPTextModel model = CLIPTextModel.load(Fixtures.root().resolve("models/tiny-sd/text_encoder"), backend);
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            int[][] ids = fixtureIds(in);
            CLIPTextModel.Output o = model.forward(ids);
            String tag = backend.name() + " ";
            assertClose(out.tensor("last_hidden_state"), o.lastHiddenState(), tag + "last_hidden_state");
            assertClose(out.tensor("pooled_output"), o.pooled(), tag + "pooled_output");
            long[] eos = out.longs("eos_index");
            for (int i = 0; i < eos.length; i++) {
                assertEquals(eos[i], o.poolIndex()[i], "eos_index row " + i);
            }
            assertEquals(model.config().numHiddenLayers() + 1, o.hiddenStates().size());
            for (int i = 0; i < o.hiddenStates().size(); i++) {
                assertClose(out.tensor("hidden_states_" + i), o.hiddenStates().get(i), tag + "hidden_states_" + i);
            }
            assertClose(out.tensor("penultimate_normed"), model.encode(ids, 2), tag + "clip skip 2");
            assertClose(out.tensor("last_hidden_state"), model.encode(ids, 1), tag + "clip skip 1");
        }
    }

    @Test
    void matchesFixturesOnReferenceBackend() throws Exception {
        checkParity(new ReferenceBackend());
    }

    @Test
    void matchesFixturesOnCpuBackend() throws Exception {
        Fixtures.root();
        assumeTrue(cpuBackendImplementsClipOps(),
                "CpuBackend kernels (linear, layerNorm, attention, quickGelu, add) not merged yet");
        checkParity(CpuBackend.create());
    }

    @Test
    @SuppressWarnings("unchecked")
    void tokenizerReproducesFixtureInputIds() throws Exception {
        CLIPTokenizer tok = CLIPTokenizer.load(Fixtures.tokenizerFolder());
        Map<String, Object> c = JSON.std.mapFrom(Files.readString(caseDir().resolve("case.json")));
        List<String> prompts = (List<String>) ((Map<String, Object>) c.get("params")).get("prompts");
        try (SafeTensors in = SafeTensors.open(caseDir().resolve("inputs.safetensors"))) {
            int[][] ids = fixtureIds(in);
            assertEquals(prompts.size(), ids.length);
            for (int i = 0; i < ids.length; i++) {
                assertArrayEquals(ids[i], tok.inputIds(prompts.get(i)).inputIds(), prompts.get(i));
            }
        }
    }

    @Test
    void encodeChunksConcatenatesAndWeights() throws Exception {
        CLIPTokenizer tok = CLIPTokenizer.load(Fixtures.tokenizerFolder());
        try (CLIPTextModel model = CLIPTextModel.load(Fixtures.root().resolve("models/tiny-sd/text_encoder"),
                new ReferenceBackend())) {
            String longPrompt = "a (red:1.4) cube, " + "cat ".repeat(80) + "BREAK [blue] sphere";
            List<PromptWeighting.WeightedChunk> chunks =
                    PromptWeighting.encode(tok, longPrompt, CLIPTokenizer.Padding.EOS, true);
            assertEquals(3, chunks.size());
            Tensor z = model.encodeChunks(chunks, 2);
            assertEquals(1, z.dim(0));
            assertEquals(3 * 77, z.dim(1));
            float[] all = z.toFloatArray();
            int d = model.config().hiddenSize();
            for (int i = 0; i < chunks.size(); i++) {
                Tensor plain = model.encode(new int[][] {chunks.get(i).ids()}, 2);
                float[] expected = PromptWeighting.applyWeights(plain, chunks.get(i).weights()).toFloatArray();
                for (int j = 0; j < expected.length; j++) {
                    assertEquals(expected[j], all[i * 77 * d + j], 1e-5f, "chunk " + i + " element " + j);
                }
            }
            // The middle chunk has only weight-1 tokens: it is the plain encoding.
            float[] mid = model.encode(new int[][] {chunks.get(1).ids()}, 2).toFloatArray();
            for (int j = 0; j < mid.length; j++) {
                assertEquals(mid[j], all[77 * d + j], 1e-6f, "middle chunk element " + j);
            }
            assertThrows(IllegalArgumentException.class, () -> model.encodeChunks(List.of(), 1));
        }
    }

    @Test
    void singleFileCheckpointGivesTheSameOutput() throws Exception {
        Path dir = caseDir();
        CLIPTextConfig config = CLIPTextConfig.load(Fixtures.root().resolve("models/tiny-sd/text_encoder/config.json"));
        try (SafeTensors ckpt = SafeTensors.open(Fixtures.root().resolve("single_file/tiny-sd-v1.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"));
             SafeTensors out = SafeTensors.open(dir.resolve("outputs.safetensors"))) {
            CLIPTextModel model = CLIPTextModel.of(config, ckpt::tensor, CLIPTextModel.SINGLE_FILE_PREFIX,
                    new ReferenceBackend());
            assertClose(out.tensor("last_hidden_state"), model.encode(fixtureIds(in)), "single-file last_hidden_state");
        }
    }

    /** An F16 copy of a weight in a (native) memory segment, as a memory-mapped fp16 checkpoint provides it. */
    static Tensor toF16Segment(Tensor t, Arena arena) {
        float[] v = t.toFloatArray();
        MemorySegment seg = arena.allocate(2L * v.length, 2);
        for (int i = 0; i < v.length; i++) {
            seg.setAtIndex(F16_LE, i, HalfFloats.floatToF16(v[i]));
        }
        return Tensor.wrap(seg, DType.F16, t.shape());
    }

    static final ValueLayout.OfShort F16_LE = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    @Test
    void runsOnHalfPrecisionWeights() throws Exception {
        Path dir = caseDir();
        Backend backend = cpuBackendImplementsClipOps() ? CpuBackend.create() : new ReferenceBackend();
        try (Arena arena = Arena.ofConfined();
             SafeTensors weights = SafeTensors.open(Fixtures.root().resolve("models/tiny-sd/text_encoder/model.safetensors"));
             SafeTensors in = SafeTensors.open(dir.resolve("inputs.safetensors"))) {
            CLIPTextConfig config = CLIPTextConfig.load(Fixtures.root().resolve("models/tiny-sd/text_encoder/config.json"));
            Map<String, Tensor> half = new java.util.HashMap<>();
            for (String key : weights.entries().keySet()) {
                half.put(key, toF16Segment(weights.tensor(key), arena));
            }
            int[][] ids = fixtureIds(in);
            Tensor got = CLIPTextModel.of(config, half::get, CLIPTextModel.DIFFUSERS_PREFIX, backend).encode(ids);
            // Reference: the same F16-rounded weights, upcast to F32 heap tensors (diffusers' fp16-weights-in-fp32 path).
            Tensor ref = CLIPTextModel.of(config, k -> half.get(k).toHeapF32(), CLIPTextModel.DIFFUSERS_PREFIX, backend)
                    .encode(ids);
            assertClose(ref, got, backend.name() + " F16 segment weights");
            // And it stays near the F32 model (weights rounded to 11 bits).
            Tensor f32 = CLIPTextModel.of(config, weights::tensor, CLIPTextModel.DIFFUSERS_PREFIX, backend).encode(ids);
            float[] a = f32.toFloatArray();
            float[] b = got.toFloatArray();
            double max = 0;
            for (int i = 0; i < a.length; i++) {
                max = Math.max(max, Math.abs(a[i] - b[i]));
            }
            assertTrue(max < 2e-2 && max > 0, "F16 vs F32 weights max diff " + max);
        }
    }

    @Test
    void rejectsBadInput() throws Exception {
        try (CLIPTextModel model = CLIPTextModel.load(Fixtures.root().resolve("models/tiny-sd/text_encoder"),
                new ReferenceBackend())) {
            assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{49406, 49408}}));
            assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {{1, 2}, {1}}));
            assertThrows(IllegalArgumentException.class, () -> model.forward(new int[][] {new int[78]}));
            assertThrows(IllegalArgumentException.class, () -> model.encode(new int[][] {{1}}, 0));
            assertThrows(IllegalArgumentException.class, () -> model.encode(new int[][] {{1}}, 4));
            // Shorter sequences are allowed (positions 0..T-1).
            assertEquals(3, model.encode(new int[][] {{49406, 320, 49407}}).dim(1));
        }
        assertThrows(IllegalArgumentException.class, () -> CLIPTextModel.of(
                CLIPTextConfig.fromMap(Map.of("hidden_size", 32, "num_attention_heads", 4, "num_hidden_layers", 1,
                        "intermediate_size", 8, "vocab_size", 10)),
                key -> null, CLIPTextModel.DIFFUSERS_PREFIX, new ReferenceBackend()));
        assertThrows(IllegalArgumentException.class, () -> CLIPTextConfig.fromMap(Map.of("hidden_size", 30,
                "num_attention_heads", 4)));
        assertThrows(IllegalArgumentException.class, () -> CLIPTextConfig.fromMap(Map.of("hidden_act", "relu")));
    }
}
