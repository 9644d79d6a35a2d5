package dev.diffusion4j.examples.cli;

import static dev.diffusion4j.examples.cli.CliTests.fixtures;
import static dev.diffusion4j.examples.cli.CliTests.maxChannelDiff;
import static dev.diffusion4j.examples.cli.CliTests.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.core.GenerationParameters;
import dev.diffusion4j.core.PngFiles;
import dev.diffusion4j.examples.cli.CliTests.Run;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sd generate} makes the reference's PNGs from the fixtures, and bad input is one line and a non-zero exit. */
class GenerateCommandTest {
    @TempDir
    Path tmp;

    @Test
    void txt2imgImg2imgAndInpaintMatchTheReferencePngs() throws Exception {
        Path f = fixtures();
        String model = f.resolve("models/tiny-sd").toString();
        record Case(String dir, List<String> args) {
        }
        List<Case> cases = List.of(
                new Case("txt2img/pndm_64x64", List.of("--prompt", "a photograph of an astronaut riding a horse",
                        "--seed", "42", "--steps", "8", "--cfg-scale", "7.5", "--sampler", "pndm", "--width", "64", "--height", "64")),
                new Case("txt2img/dpmpp_2m_karras_nocfg", List.of("--prompt", "a red cube on a blue sphere", "--seed", "7",
                        "--steps", "12", "--cfg-scale", "1", "--sampler", "dpm++2m", "--schedule", "karras", "--width", "64", "--height", "64")),
                new Case("img2img/ddim_s05_mode", List.of("--prompt", "a city skyline at night", "--seed", "77",
                        "--negative-prompt", "daylight",
                        "--steps", "10", "--cfg-scale", "5", "--sampler", "ddim", "--strength", "0.5", "--init-latent", "mode",
                        "--init-image", f.resolve("img2img/ddim_s05_mode/init.png").toString())),
                new Case("inpaint/legacy_4ch_euler", List.of("--prompt", "a small wooden boat on a lake", "--seed", "3",
                        "--steps", "8", "--cfg-scale", "7.5", "--sampler", "euler",
                        "--init-image", f.resolve("inpaint/legacy_4ch_euler/init.png").toString(),
                        "--mask", f.resolve("inpaint/legacy_4ch_euler/mask.png").toString())));
        for (Case c : cases) {
            Path out = tmp.resolve(c.dir().replace('/', '_') + ".png");
            List<String> args = new ArrayList<>(List.of("generate", "--model", model, "--output", out.toString()));
            args.addAll(c.args());
            Run r = run(args.toArray(String[]::new));
            assertEquals(0, r.exit(), c.dir() + ": " + r.err());
            BufferedImage ref = ImageIO.read(f.resolve(c.dir()).resolve("image.png").toFile());
            int diff = maxChannelDiff(ref, ImageIO.read(out.toFile()));
            System.out.printf("sd generate %-32s max channel diff %d%n", c.dir(), diff);
            assertTrue(diff <= 1, c.dir() + ": differs by " + diff);
            GenerationParameters.Parsed p = GenerationParameters.parse(PngFiles.readParameters(out));
            assertEquals(c.args().get(1), p.prompt());
            assertEquals(c.args().get(c.args().indexOf("--seed") + 1), p.fields().get("Seed"));
        }
    }

    @Test
    void infoPrintsTheParametersBack() throws Exception {
        Path f = fixtures();
        Path out = tmp.resolve("a.png");
        Run r = run("generate", "--model", f.resolve("models/tiny-sd").toString(), "--prompt", "a cat, sitting: on a mat",
                "--negative-prompt", "blurry", "--seed", "5", "--steps", "2", "--width", "64", "--height", "64",
                "--sampler", "euler_a", "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        Run info = run("info", out.toString());
        assertEquals(0, info.exit(), info.err());
        assertTrue(info.out().contains("Prompt: a cat, sitting: on a mat"), info.out());
        assertTrue(info.out().contains("Negative prompt: blurry"), info.out());
        assertTrue(info.out().contains("Sampler: Euler a"), info.out());
        assertTrue(info.out().contains("Seed: 5"), info.out());
    }

    /**
     * Runs the tiny model as the {@code txt2img/pndm_64x64} fixture did, plus {@code extra} options, and returns the
     * largest channel difference of its PNG from the fixture's.
     */
    private int pndmFixtureDifference(String name, String... extra) throws Exception {
        Path f = fixtures();
        Path out = tmp.resolve(name + ".png");
        List<String> args = new ArrayList<>(List.of("generate", "--model", f.resolve("models/tiny-sd").toString(),
                "--prompt", "a photograph of an astronaut riding a horse", "--seed", "42", "--steps", "8",
                "--cfg-scale", "7.5", "--sampler", "pndm", "--width", "64", "--height", "64"));
        args.addAll(List.of(extra));
        args.addAll(List.of("--output", out.toString()));
        Run r = run(args.toArray(String[]::new));
        assertEquals(0, r.exit(), r.err());
        return maxChannelDiff(ImageIO.read(f.resolve("txt2img/pndm_64x64/image.png").toFile()), ImageIO.read(out.toFile()));
    }

    @Test
    void streamWeightsAndLowMemoryReproduceTheReferenceImage() throws Exception {
        int max = pndmFixtureDifference("streamed", "--stream-weights", "--low-memory");
        assertTrue(max <= 1, "streamed-weights image differs from the reference by " + max);
    }

    @Test
    void quantizeQ8RunsAndNamesBadTypes() throws Exception {
        // within a few levels of the F32 reference (measured: 1)
        int max = pndmFixtureDifference("q8", "--quantize", "q8_0");
        assertTrue(max <= 3, "q8_0 image differs from the F32 reference by " + max);
        String model = fixtures().resolve("models/tiny-sd").toString();
        Run bad = run("generate", "--model", model, "--prompt", "x", "--quantize", "q4_0", "--output",
                tmp.resolve("never.png").toString());
        assertTrue(bad.exit() != 0);
        assertTrue(bad.err().strip().startsWith("sd: ") && bad.err().contains("--quantize") && bad.err().contains("q4_0"),
                bad.err());
    }

    @Test
    void aLoraGivenAsTheModelIsNamed() {
        Path f = fixtures();
        Run r = run("generate", "--model", f.resolve("variants/lora/lora_kohya_f16.safetensors").toString(), "--prompt", "x",
                "--output", tmp.resolve("x.png").toString());
        assertTrue(r.exit() != 0);
        assertTrue(r.err().strip().startsWith("sd: ") && r.err().contains("not a Stable Diffusion model")
                && r.err().contains("LoRA"), r.err());
    }

    @Test
    void badInputIsOneLineAndNonZero() throws Exception {
        Path f = fixtures();
        String model = f.resolve("models/tiny-sd").toString();
        Path out = tmp.resolve("never.png");
        String[][] bad = {
            {"generate", "--model", tmp.resolve("missing").toString(), "--prompt", "x", "--output", out.toString()},
            {"generate", "--model", model, "--prompt", "x", "--width", "65", "--output", out.toString()},
            {"generate", "--model", model, "--prompt", "x", "--sampler", "nope", "--output", out.toString()},
            {"generate", "--model", f.resolve("variants/lora/lora_kohya_f16.safetensors").toString(), "--prompt", "x",
                "--output", out.toString()},
            {"generate", "--model", model, "--prompt", "x", "--init-image", tmp.resolve("nope.png").toString(), "--output", out.toString()},
            {"generate", "--model", model, "--prompt", "x", "--steps", "1", "--width", "64", "--height", "64",
                "--init-image", f.resolve("inpaint/legacy_4ch_euler/init.png").toString(),
                "--mask", f.resolve("inpaint/unet9ch_euler_a/mask.png").toString(), "--output", out.toString()},
        };
        for (String[] args : bad) {
            Run r = run(args);
            assertTrue(r.exit() != 0, String.join(" ", args));
            String line = r.err().strip();
            assertTrue(line.startsWith("sd: ") && !line.contains("\n") && !line.contains("Exception"),
                    String.join(" ", args) + " -> " + r.err());
            assertFalse(Files.exists(out), "a file was written for " + String.join(" ", args));
        }
    }

    @Test
    void loraAndSd2MatchTheReferencePngs() throws Exception {
        Path v = fixtures().resolve("variants");
        Path out = tmp.resolve("lora.png");
        Run r = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt",
                "a portrait of a knight in shining armor", "--seed", "6002", "--steps", "4", "--cfg-scale", "7.5",
                "--sampler", "euler", "--width", "96", "--height", "64",
                "--lora", v.resolve("lora/lora_kohya_f16.safetensors") + ":0.8", "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("LoRA lora_kohya_f16.safetensors at 0.80: 108 weights merged\n"),
                r.err());
        int d = maxChannelDiff(ImageIO.read(v.resolve("lora/txt2img/image.png").toFile()), ImageIO.read(out.toFile()));
        System.out.println("sd generate --lora: image max channel diff " + d);
        assertTrue(d <= 2, "LoRA image differs by " + d);

        Path sd2 = tmp.resolve("sd2.png");
        r = run("generate", "--model", v.resolve("sd2_v/sd2_v_tiny_single_file_f16.safetensors").toString(),
                "--config", v.resolve("sd2_v/pipeline").toString(),
                "--prompt", "a photograph of an astronaut riding a horse", "--seed", "2400", "--steps", "5",
                "--sampler", "euler", "--spacing", "linspace", "--width", "128", "--height", "64", "--output", sd2.toString());
        assertEquals(0, r.exit(), r.err());
        d = maxChannelDiff(ImageIO.read(v.resolve("sd2_v/txt2img_euler/image.png").toFile()), ImageIO.read(sd2.toFile()));
        System.out.println("sd generate SD2 single file: image max channel diff " + d);
        assertTrue(d <= 2, "SD2 image differs by " + d);

        r = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt", "x", "--guidance-rescale", "1.5");
        assertTrue(r.exit() != 0 && r.err().contains("guidance rescale"), r.err());
        r = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt", "x", "--lora", tmp.resolve("none.safetensors") + ":0.5");
        assertTrue(r.exit() != 0 && r.err().contains("no such file"), r.err());
    }

    @Test
    void sdxlSingleFileWithSizeConditioningMatchesTheReferencePng() throws Exception {
        Path v = fixtures().resolve("variants/sdxl");
        Path out = tmp.resolve("sdxl.png");
        // case txt2img_euler_negative_prompt: original_size (h 256, w 192), crops_coords_top_left (top 8, left 16)
        Run r = run("generate", "--model", v.resolve("sdxl_tiny_single_file_f16.safetensors").toString(),
                "--config", v.resolve("pipeline").toString(), "--prompt", "a cinematic photo of a red fox in the snow",
                "--negative-prompt", "cartoon, drawing", "--seed", "3400", "--steps", "4", "--cfg-scale", "5",
                "--sampler", "euler", "--width", "96", "--height", "64", "--original-size", "192,256",
                "--crop-top-left", "16,8", "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        int d = maxChannelDiff(ImageIO.read(v.resolve("txt2img_euler_negative_prompt/image.png").toFile()),
                ImageIO.read(out.toFile()));
        System.out.println("sd generate SDXL single file: image max channel diff " + d);
        assertTrue(d <= 2, "SDXL image differs by " + d);
        r = run("generate", "--model", v.resolve("pipeline").toString(), "--prompt", "x", "--crop-top-left", "1,2,3",
                "--output", tmp.resolve("bad.png").toString());
        assertTrue(r.exit() != 0 && r.err().contains("--crop-top-left"), r.err());
    }

    @Test
    void loraArgumentParsing() {
        assertEquals(new dev.diffusion4j.core.StableDiffusion.LoraSpec(Path.of("a/b.safetensors"), 0.8),
                GenerateCommand.parseLora("a/b.safetensors:0.8"));
        assertEquals(new dev.diffusion4j.core.StableDiffusion.LoraSpec(Path.of("a/b.safetensors"), 1.0),
                GenerateCommand.parseLora("a/b.safetensors"));
        assertEquals(new dev.diffusion4j.core.StableDiffusion.LoraSpec(Path.of("C:/x.safetensors"), 1.0),
                GenerateCommand.parseLora("C:/x.safetensors"));
        assertEquals(-0.5, GenerateCommand.parseLora("x.safetensors:-0.5").scale());
    }
}
