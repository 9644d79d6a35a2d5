package dev.diffusion4j.weights;

import static dev.diffusion4j.weights.SafeTensorsFixtureTest.fixtures;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.fasterxml.jackson.jr.ob.JSON;
import dev.diffusion4j.tensor.DType;
import dev.diffusion4j.tensor.Tensor;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class CheckpointTest {
    @TempDir
    Path dir;

    static Path singleFile() {
        return fixtures().resolve("single_file/tiny-sd-v1.safetensors");
    }

    static Path diffusers() {
        return fixtures().resolve("models/tiny-sd");
    }

    @Test
    void mappingRulesAgreeWithTheKeyMapOracle() throws IOException {
        Map<String, Object> oracle = JSON.std.mapFrom(Files.readString(fixtures().resolve("single_file/key_map.json")));
        Sd1KeyMap rules = new Sd1KeyMap(2, 4);
        assertEquals(536, oracle.size());
        for (Map.Entry<String, Object> e : oracle.entrySet()) {
            List<?> v = (List<?>) e.getValue();
            Optional<Sd1KeyMap.Target> t = rules.map(e.getKey());
            assertTrue(t.isPresent(), "no rule for " + e.getKey());
            assertEquals(v.get(0), t.get().component(), e.getKey());
            assertEquals(v.get(1), t.get().key(), e.getKey());
            assertEquals(!((String) v.get(2)).isEmpty(), t.get().linearFromConv(), "reshape of " + e.getKey());
        }
        try (Checkpoint ck = Checkpoint.open(singleFile())) {
            assertEquals(CheckpointLayout.SINGLE_FILE, ck.layout());
            assertEquals(ModelFamily.SD1, ck.family());
            int n = 0;
            for (String c : ck.components()) {
                n += ck.keys(c).size();
            }
            assertEquals(536, n, "every key mapped");
            assertEquals(List.of(), ck.report().unused());
            assertEquals(List.of(), ck.report().ignored());
            assertEquals(List.of(), ck.report().missing());
            assertTrue(ck.report().notes().stream().noneMatch(s -> s.contains("not expected")), ck.report().notes().toString());
        }
    }

    @Test
    void bothLayoutsLoadIdenticalTensors() throws IOException {
        try (Checkpoint single = Checkpoint.open(singleFile()); Checkpoint folder = Checkpoint.open(diffusers())) {
            assertEquals(CheckpointLayout.DIFFUSERS_FOLDER, folder.layout());
            assertEquals(ModelFamily.SD1, folder.family());
            assertEquals(Set.of("unet", "vae", "text_encoder"), folder.components());
            assertEquals(folder.components(), single.components());
            int reshaped = 0;
            for (String c : folder.components()) {
                assertEquals(folder.keys(c), single.keys(c), c);
                for (String k : folder.keys(c)) {
                    Tensor a = folder.tensor(c, k);
                    Tensor b = single.tensor(c, k);
                    assertEquals(a.shape(), b.shape(), c + "/" + k);
                    assertArrayEquals(a.toFloatArray(), b.toFloatArray(), c + "/" + k);
                    if (single.refs(c).get(k).reshaped()) {
                        reshaped++;
                        assertEquals(2, b.rank(), c + "/" + k);
                    }
                }
            }
            assertEquals(8, reshaped, "VAE mid attention q/k/v/proj_out weights, encoder and decoder");
            Checkpoint.Component vae = single.component("vae");
            assertEquals(List.of(64, 64), java.util.Arrays.stream(
                    vae.tensor("decoder.mid_block.attentions.0.to_q.weight").shape().dims()).boxed().toList());
            assertEquals(List.of(64L, 64L, 1L, 1L), java.util.Arrays.stream(
                    single.refs("vae").get("decoder.mid_block.attentions.0.to_q.weight").storedShape()).boxed().toList());
            assertEquals(0.18215, vae.config().orElseThrow().get("scaling_factor"));
            assertThrows(CheckpointException.class, () -> single.component("controlnet"));
            assertThrows(CheckpointException.class, () -> vae.tensor("no.such.weight"));
            assertEquals(List.of(), folder.report().missing());
            assertEquals(List.of(), folder.report().unused());
        }
    }

    @Test
    void expectedKeysFromConfigsMatchTheDiffusersFiles() throws IOException {
        for (String c : List.of("unet", "vae", "text_encoder")) {
            Path cdir = diffusers().resolve(c);
            Map<String, Object> cfg = JSON.std.mapFrom(Files.readString(cdir.resolve("config.json")));
            Path w = Files.exists(cdir.resolve("model.safetensors")) ? cdir.resolve("model.safetensors")
                    : cdir.resolve("diffusion_pytorch_model.safetensors");
            try (SafeTensors st = SafeTensors.open(w)) {
                assertEquals(st.entries().keySet(), ExpectedKeys.of(c, cfg).orElseThrow(), c);
            }
        }
        // The 9-channel inpainting U-Net (another config) too.
        Path inpaint = fixtures().resolve("models/tiny-sd-inpaint-unet");
        try (SafeTensors st = SafeTensors.open(inpaint.resolve("diffusion_pytorch_model.safetensors"))) {
            Map<String, Object> cfg = JSON.std.mapFrom(Files.readString(inpaint.resolve("config.json")));
            assertEquals(st.entries().keySet(), ExpectedKeys.of("unet", cfg).orElseThrow());
        }
    }

    @Test
    void configsFromTheLdmYamlAgreeWithTheDiffusersConfigs() throws IOException {
        try (Checkpoint single = Checkpoint.open(singleFile()); Checkpoint folder = Checkpoint.open(diffusers())) {
            Map<String, Object> u = single.config("unet").orElseThrow();
            Map<String, Object> du = folder.config("unet").orElseThrow();
            for (String k : List.of("in_channels", "out_channels", "block_out_channels", "layers_per_block",
                    "down_block_types", "up_block_types", "cross_attention_dim", "attention_head_dim",
                    "use_linear_projection", "transformer_layers_per_block", "sample_size")) {
                assertEquals(du.get(k), u.get(k), "unet " + k);
            }
            Map<String, Object> v = single.config("vae").orElseThrow();
            Map<String, Object> dv = folder.config("vae").orElseThrow();
            for (String k : List.of("in_channels", "out_channels", "latent_channels", "block_out_channels",
                    "layers_per_block", "down_block_types", "up_block_types", "scaling_factor")) {
                assertEquals(dv.get(k), v.get(k), "vae " + k);
            }
            Map<String, Object> t = single.config("text_encoder").orElseThrow();
            Map<String, Object> dt = folder.config("text_encoder").orElseThrow();
            for (String k : List.of("vocab_size", "hidden_size", "max_position_embeddings", "intermediate_size",
                    "num_hidden_layers", "hidden_act")) {
                assertEquals(dt.get(k), t.get(k), "text_encoder " + k);
            }
            assertFalse(t.containsKey("num_attention_heads"), "tiny CLIP heads cannot be known");
            assertTrue(single.report().notes().stream().anyMatch(s -> s.contains("text_encoder: attention heads unknown")));
        }
    }

    @Test
    void ldmYamlSubset() throws IOException {
        LdmYaml y = LdmYaml.read(fixtures().resolve("single_file/tiny-sd-v1-inference.yaml"));
        assertEquals(Optional.of(8L), y.getLong("model.params.unet_config.params.num_heads"));
        assertEquals(Optional.of(List.of(1L, 2L)), y.getLongList("model.params.unet_config.params.channel_mult"));
        assertEquals(Optional.of(0.18215), y.get("model.params.scale_factor"));
        assertEquals(Optional.of("jpg"), y.get("model.params.first_stage_key"));
        assertEquals(Optional.of(Boolean.TRUE), y.get("model.params.unet_config.params.use_spatial_transformer"));
        assertEquals(Optional.of("torch.nn.Identity"),
                y.get("model.params.first_stage_config.params.lossconfig.target"));
        assertTrue(y.get("model.params.cond_stage_config.params").isEmpty(), "a key with only comments under it");
        LdmYaml lists = LdmYaml.parse("t", "a:\n  - 1\n  - x\nb: [ 1.e-6 ]\n");
        assertEquals(Optional.of(List.of(1L, "x")), lists.get("a"));
        assertEquals(Optional.of(List.of(1e-6)), lists.get("b"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> LdmYaml.parse("bad.yaml", "a:\n  b: 1\n c: 2\n"));
        assertTrue(e.getMessage().startsWith("bad.yaml:3:"), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> LdmYaml.parse("dup.yaml", "a: 1\na: 2\n"));
    }

    @Test
    void familiesRecognisedByName() throws IOException {
        Path v = fixtures().resolve("variants");
        try (Checkpoint sd2 = Checkpoint.open(v.resolve("sd2_v/sd2_v_tiny_single_file_f16.safetensors"))) {
            assertEquals(ModelFamily.SD2, sd2.family());
        }
        CheckpointException xl = assertThrows(CheckpointException.class,
                () -> Checkpoint.open(v.resolve("sdxl/sdxl_tiny_single_file_f16.safetensors")));
        assertTrue(xl.getMessage().contains("SDXL") && xl.getMessage().contains("not yet supported"), xl.getMessage());
        try (Checkpoint c = Checkpoint.open(v.resolve("sd2_v/pipeline"))) {
            assertEquals(ModelFamily.SD2, c.family());
        }
        assertThrows(CheckpointException.class, () -> Checkpoint.open(v.resolve("sdxl/pipeline")));
        try (Checkpoint c = Checkpoint.open(v.resolve("sdxl/pipeline"), new Checkpoint.Options(null, true))) {
            assertEquals(ModelFamily.SDXL, c.family());
            assertTrue(c.components().contains("text_encoder_2"));
        }
        try (Checkpoint c = Checkpoint.open(v.resolve("sd2_v/pipeline"), new Checkpoint.Options(null, true))) {
            assertEquals(ModelFamily.SD2, c.family());
        }
        try (Checkpoint c = Checkpoint.open(v.resolve("sd1_base"))) {
            assertEquals(ModelFamily.SD1, c.family());
            assertEquals(List.of(), c.report().missing());
        }
        try (Checkpoint c = Checkpoint.open(fixtures().resolve("models/tiny-sd-inpaint-unet"))) {
            assertEquals(CheckpointLayout.DIFFUSERS_COMPONENT, c.layout());
            assertEquals(ModelFamily.SD1_INPAINT, c.family());
            assertEquals(Set.of("unet"), c.components());
            assertEquals(9, c.tensor("unet", "conv_in.weight").dim(1));
            assertEquals(List.of(), c.report().missing());
        }
        try (Checkpoint c = Checkpoint.open(fixtures().resolve("unet/inputs.safetensors"))) {
            assertEquals(CheckpointLayout.PLAIN, c.layout());
            assertEquals(ModelFamily.UNKNOWN, c.family());
        }
    }

    @Test
    void variantsKeepTheStoredDtype() throws IOException {
        try (Checkpoint f16 = Checkpoint.open(diffusers(), new Checkpoint.Options("fp16", false));
             Checkpoint f32 = Checkpoint.open(diffusers())) {
            Tensor h = f16.tensor("unet", "conv_in.weight");
            assertEquals(DType.F16, h.dtype());
            assertEquals(h.numel() * 2, h.segment().byteSize(), "2 bytes per weight in memory");
            Tensor up = f16.tensorF32("unet", "conv_in.weight");
            assertEquals(DType.F32, up.dtype());
            float[] a = f32.tensor("unet", "conv_in.weight").toFloatArray();
            float[] b = up.toFloatArray();
            for (int i = 0; i < a.length; i++) {
                assertEquals(Float.float16ToFloat(Float.floatToFloat16(a[i])), b[i], "conv_in.weight[" + i + "]");
            }
            assertEquals(DType.F32, f16.tensor("vae", "encoder.conv_in.weight").dtype(), "vae has no fp16 file");
            assertTrue(f16.report().notes().stream().anyMatch(s -> s.contains("vae: no 'fp16' variant")),
                    f16.report().notes().toString());
        }
    }

    /** Copies every tensor of {@code src} (plus {@code extra}) into a new file, leaving out {@code drop}. */
    private Path rewrite(Path src, String name, Set<String> drop, Map<String, float[]> extra) throws IOException {
        Path out = dir.resolve(name);
        try (SafeTensors st = SafeTensors.open(src)) {
            SafeTensorsWriter w = new SafeTensorsWriter();
            for (SafeTensors.Entry e : st.entries().values()) {
                if (!drop.contains(e.name())) {
                    w.add(e.name(), e.type(), e.shape(), java.lang.foreign.MemorySegment.ofArray(
                            st.bytes(e.name()).toArray(java.lang.foreign.ValueLayout.JAVA_BYTE)));
                }
            }
            extra.forEach((k, v) -> w.addF32(k, v, v.length));
            w.write(out);
        }
        return out;
    }

    @Test
    void unusedIgnoredAndMissingKeysAreReported() throws IOException {
        Map<String, float[]> extra = new LinkedHashMap<>();
        extra.put("model_ema.decay", new float[] {0.999f});
        extra.put("alphas_cumprod", new float[] {0.9f, 0.8f});
        extra.put("cond_stage_model.transformer.text_model.embeddings.position_ids", new float[] {0, 1});
        extra.put("model.diffusion_model.mystery.weight", new float[] {1});
        extra.put("something_else", new float[] {1});
        String dropped = "model.diffusion_model.output_blocks.2.1.conv.bias";
        Path f = rewrite(singleFile(), "edited.safetensors", Set.of(dropped), extra);
        Files.copy(fixtures().resolve("single_file/tiny-sd-v1-inference.yaml"), dir.resolve("edited.yaml"));
        try (Checkpoint ck = Checkpoint.open(f)) {
            Checkpoint.KeyReport r = ck.report();
            assertEquals(List.of("model.diffusion_model.mystery.weight", "something_else"),
                    r.unused().stream().map(Checkpoint.KeyNote::key).toList());
            assertEquals(List.of("model_ema.decay", "alphas_cumprod",
                    "cond_stage_model.transformer.text_model.embeddings.position_ids"),
                    r.ignored().stream().map(Checkpoint.KeyNote::key).toList());
            assertTrue(r.ignored().stream().allMatch(n -> !n.reason().isEmpty()));
            assertEquals(List.of("unet/up_blocks.0.upsamplers.0.conv.bias"), r.missing());
            assertFalse(r.clean());
        }
    }

    @Test
    void shardedDiffusersComponent() throws IOException {
        Path model = dir.resolve("sharded");
        Path unet = Files.createDirectories(model.resolve("unet"));
        Files.copy(diffusers().resolve("unet/config.json"), unet.resolve("config.json"));
        Map<String, String> weightMap = new LinkedHashMap<>();
        try (SafeTensors st = SafeTensors.open(diffusers().resolve("unet/diffusion_pytorch_model.safetensors"))) {
            SafeTensorsWriter a = new SafeTensorsWriter();
            SafeTensorsWriter b = new SafeTensorsWriter();
            int i = 0;
            for (SafeTensors.Entry e : st.entries().values()) {
                String shard = i++ % 2 == 0 ? "diffusion_pytorch_model-00001-of-00002.safetensors"
                        : "diffusion_pytorch_model-00002-of-00002.safetensors";
                (shard.contains("00001") ? a : b).add(e.name(), e.type(), e.shape(), st.bytes(e.name()));
                weightMap.put(e.name(), shard);
            }
            a.write(unet.resolve("diffusion_pytorch_model-00001-of-00002.safetensors"));
            b.write(unet.resolve("diffusion_pytorch_model-00002-of-00002.safetensors"));
        }
        Files.writeString(unet.resolve("diffusion_pytorch_model.safetensors.index.json"),
                JSON.std.asString(Map.of("metadata", Map.of(), "weight_map", weightMap)));
        try (Checkpoint sharded = Checkpoint.open(model); Checkpoint ref = Checkpoint.open(diffusers())) {
            assertEquals(Set.of("unet"), sharded.components());
            assertEquals(2, sharded.files().size());
            assertEquals(ref.keys("unet"), sharded.keys("unet"));
            for (String k : ref.keys("unet")) {
                assertArrayEquals(ref.tensor("unet", k).toFloatArray(), sharded.tensor("unet", k).toFloatArray(), k);
            }
            assertEquals(List.of(), sharded.report().missing());
        }
        String first = weightMap.keySet().iterator().next();
        weightMap.put(first, "../outside.safetensors");
        Files.writeString(unet.resolve("diffusion_pytorch_model.safetensors.index.json"),
                JSON.std.asString(Map.of("weight_map", weightMap)));
        CheckpointException e = assertThrows(CheckpointException.class, () -> Checkpoint.open(model));
        assertTrue(e.getMessage().contains("outside the folder") && e.getMessage().contains(first), e.getMessage());
        weightMap.put(first, "diffusion_pytorch_model-00002-of-00002.safetensors"); // the other shard: lacks it
        Files.writeString(unet.resolve("diffusion_pytorch_model.safetensors.index.json"),
                JSON.std.asString(Map.of("weight_map", weightMap)));
        e = assertThrows(CheckpointException.class, () -> Checkpoint.open(model));
        assertTrue(e.getMessage().contains("lacks it") && e.getMessage().contains(first), e.getMessage());
    }

    @Test
    void picklesAndEmptyFoldersGiveClearErrors() throws IOException {
        Path model = dir.resolve("pickled");
        Path unet = Files.createDirectories(model.resolve("unet"));
        Files.writeString(model.resolve("model_index.json"), "{\"unet\": [\"diffusers\", \"UNet2DConditionModel\"]}");
        Files.copy(diffusers().resolve("unet/config.json"), unet.resolve("config.json"));
        Files.write(unet.resolve("diffusion_pytorch_model.bin"), new byte[] {'P', 'K', 3, 4});
        SafeTensorsException e = assertThrows(SafeTensorsException.class, () -> Checkpoint.open(model));
        assertTrue(e.getMessage().contains("pickle") && e.getMessage().contains("safetensors"), e.getMessage());
        Files.delete(unet.resolve("diffusion_pytorch_model.bin"));
        CheckpointException c = assertThrows(CheckpointException.class, () -> Checkpoint.open(model));
        assertTrue(c.getMessage().contains("no weights"), c.getMessage());
        Path ckpt = dir.resolve("v1-5-pruned.ckpt");
        Files.write(ckpt, new byte[16]);
        assertThrows(SafeTensorsException.class, () -> Checkpoint.open(ckpt));
        assertThrows(CheckpointException.class, () -> Checkpoint.open(dir.resolve("nothing-here")));
        Files.createDirectories(dir.resolve("empty"));
        assertThrows(CheckpointException.class, () -> Checkpoint.open(dir.resolve("empty")));
    }
}
