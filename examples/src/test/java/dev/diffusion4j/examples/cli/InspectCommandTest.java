package dev.diffusion4j.examples.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

class InspectCommandTest {
    @TempDir
    Path dir;

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        StringWriter out = new StringWriter();
        StringWriter err = new StringWriter();
        CommandLine cli = new CommandLine(new SdCommand());
        cli.setOut(new PrintWriter(out));
        cli.setErr(new PrintWriter(err));
        int code = cli.execute(args);
        return new Run(code, out.toString(), err.toString());
    }

    static Path fixtures() {
        String p = System.getProperty("d4j.fixtures");
        Path d = p == null ? null : Path.of(p);
        assumeTrue(d != null && Files.isDirectory(d), "fixtures absent: " + p);
        return d;
    }

    @Test
    void singleFileReport() {
        Run r = run("inspect", fixtures().resolve("single_file/tiny-sd-v1.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("layout: single-file checkpoint"), r.out());
        assertTrue(r.out().contains("family: SD1.x\n"), r.out());
        assertTrue(r.out().contains("tensors: 536\n"), r.out());
        assertTrue(r.out().matches("(?s).*\nF32 +536 +3535019 +14140076\n.*"), r.out()); // numbers checked with Python
        assertTrue(r.out().contains("component vae: 180 tensors, 8 reshaped 1x1 conv -> linear"), r.out());
        assertTrue(r.out().contains("unused keys: 0\n") && r.out().contains("missing keys: 0\n"), r.out());
        assertTrue(!r.out().contains("input_blocks.0.0.weight"), "no tensor list without --tensors");
    }

    @Test
    void tensorListInFileOrder() {
        Run r = run("inspect", "--tensors", fixtures().resolve("single_file/tiny-sd-v1.safetensors").toString());
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        int a = out.indexOf("cond_stage_model.transformer.text_model.embeddings.position_embedding.weight F32 [77, 32]\n");
        int b = out.indexOf("cond_stage_model.transformer.text_model.embeddings.token_embedding.weight F32 [49408, 32]\n");
        assertTrue(a > 0 && b > a, out);
        assertTrue(out.contains("first_stage_model.decoder.mid.attn_1.q.weight F32 [64, 64, 1, 1]\n"), out);
    }

    @Test
    void diffusersFolderAndUnsupportedFamilies() {
        Run r = run("inspect", "--variant", "fp16", fixtures().resolve("models/tiny-sd").toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("layout: diffusers folder"), r.out());
        assertTrue(r.out().matches("(?s).*\nF16 +\\d+ +\\d+ +\\d+\n.*"), r.out());
        // SDXL single files are mapped now (configs from a diffusers folder): every key has a place.
        Run xl = run("inspect", fixtures().resolve("variants/sdxl/sdxl_tiny_single_file_f16.safetensors").toString());
        assertEquals(0, xl.code(), xl.err());
        assertTrue(xl.out().contains("family: SDXL\n"), xl.out());
        assertTrue(xl.out().contains("component text_encoder_2: "), xl.out());
        assertTrue(!xl.out().contains("not yet supported") && !xl.out().contains("unused keys: 9"), xl.out());
    }

    @Test
    void badFileGivesOneLineAndNonZeroExit() throws Exception {
        Path bad = dir.resolve("bad.safetensors");
        byte[] h = "{\"w\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]}}".getBytes(StandardCharsets.UTF_8);
        Files.write(bad, ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h)
                .array());
        Run r = run("inspect", bad.toString());
        assertNotEquals(0, r.code());
        assertEquals(1, r.err().strip().lines().count(), r.err());
        assertTrue(r.err().contains(bad.toString()) && r.err().contains("'w'") && r.err().contains("truncated"), r.err());
        Run missing = run("inspect", dir.resolve("none.safetensors").toString());
        assertNotEquals(0, missing.code());
        assertEquals(1, missing.err().strip().lines().count(), missing.err());
        Path ckpt = dir.resolve("model.ckpt");
        Files.write(ckpt, new byte[] {'P', 'K', 3, 4, 0, 0, 0, 0, 0, 0});
        Run pickle = run("inspect", ckpt.toString());
        assertNotEquals(0, pickle.code());
        assertTrue(pickle.err().contains("pickle") && pickle.err().contains("safetensors"), pickle.err());
    }
}
