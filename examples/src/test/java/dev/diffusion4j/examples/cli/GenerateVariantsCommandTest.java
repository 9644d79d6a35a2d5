package dev.diffusion4j.examples.cli;

import static dev.diffusion4j.examples.cli.CliTests.fixtures;
import static dev.diffusion4j.examples.cli.CliTests.maxChannelDiff;
import static dev.diffusion4j.examples.cli.CliTests.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.examples.cli.CliTests.Run;
import java.awt.image.BufferedImage;
import java.nio.file.Path;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** {@code sd generate} with ControlNet, hires fix, TAESD and previews on the {@code variants/} fixtures. */
class GenerateVariantsCommandTest {
    @TempDir
    Path tmp;

    private static Path variants() {
        return fixtures().resolve("variants");
    }

    /** The fixture's control image ({@code control_image_uint8_hwc}) as a PNG. */
    private Path controlPng(Path v) throws Exception {
        Path png = tmp.resolve("control.png");
        try (var in = dev.diffusion4j.weights.SafeTensors.open(v.resolve("controlnet/txt2img/inputs.safetensors"))) {
            var hwc = in.tensorF32("control_image_uint8_hwc");
            BufferedImage img = new BufferedImage(hwc.dim(1), hwc.dim(0), BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < hwc.dim(0); y++) {
                for (int x = 0; x < hwc.dim(1); x++) {
                    int r = Math.round(hwc.get(y, x, 0));
                    int g = Math.round(hwc.get(y, x, 1));
                    int b = Math.round(hwc.get(y, x, 2));
                    img.setRGB(x, y, (r << 16) | (g << 8) | b);
                }
            }
            ImageIO.write(img, "png", png.toFile());
        }
        return png;
    }

    @Test
    void controlNetWithGuidanceWindowMatchesTheReferencePng() throws Exception {
        Path v = variants();
        Path out = tmp.resolve("cn.png");
        Run r = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt", "a futuristic city skyline at night",
                "--seed", "5003", "--steps", "4", "--cfg-scale", "7.5", "--sampler", "ddim", "--width", "96", "--height", "64",
                "--controlnet", v.resolve("controlnet/controlnet_model").toString(), "--control-image", controlPng(v).toString(),
                "--control-scale", "0.8", "--control-start", "0.25", "--control-end", "0.75", "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        int diff = maxChannelDiff(ImageIO.read(v.resolve("controlnet/txt2img_guidance_window/image.png").toFile()),
                ImageIO.read(out.toFile()));
        System.out.println("parity cli controlnet/txt2img_guidance_window image max channel diff " + diff);
        assertTrue(diff <= 2, "image differs by " + diff);
    }

    @Test
    void hiresFixMatchesTheReferencePng() throws Exception {
        Path v = variants();
        Path out = tmp.resolve("hires.png");
        Run r = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt", "a medieval village market, detailed",
                "--seed", "8000", "--steps", "4", "--cfg-scale", "7", "--sampler", "euler", "--width", "96", "--height", "64",
                "--hires-scale", "2", "--hires-strength", "0.5", "--hires-steps", "6", "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        int diff = maxChannelDiff(ImageIO.read(v.resolve("sd_upscale_or_hires/hires_fix_latent/image.png").toFile()),
                ImageIO.read(out.toFile()));
        System.out.println("parity cli hires_fix_latent image max channel diff " + diff);
        assertTrue(diff <= 2, "image differs by " + diff);
    }

    @Test
    void cannyTaesdAndPreviewsRun() throws Exception {
        Path v = variants();
        Path out = tmp.resolve("t.png");
        Path preview = tmp.resolve("preview.png");
        Run r = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt", "a house", "--seed", "1",
                "--steps", "2", "--sampler", "ddim", "--width", "96", "--height", "64",
                "--controlnet", v.resolve("controlnet/controlnet_model").toString(), "--control-image", controlPng(v).toString(),
                "--canny", "--controlnet", v.resolve("controlnet/controlnet_model").toString(),
                "--control-image", controlPng(v).toString(), "--control-scale", "0.5",
                "--vae", "taesd", "--taesd", v.resolve("taesd/model").toString(),
                "--preview", preview.toString(), "--preview-every", "1", "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertEquals(96, ImageIO.read(out.toFile()).getWidth());
        assertEquals(96, ImageIO.read(preview.toFile()).getWidth());

        Run bad = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt", "x", "--vae", "taesd",
                "--output", tmp.resolve("x.png").toString());
        assertEquals(1, bad.exit() == 0 ? 0 : 1, bad.err());
        assertTrue(bad.err().contains("--taesd"), bad.err());
        Run badWindow = run("generate", "--model", v.resolve("sd1_base").toString(), "--prompt", "x",
                "--controlnet", v.resolve("controlnet/controlnet_model").toString(), "--control-image", controlPng(v).toString(),
                "--control-start", "0.8", "--control-end", "0.2", "--output", tmp.resolve("y.png").toString());
        assertTrue(badWindow.exit() != 0 && badWindow.err().contains("start"), badWindow.err());
    }
}
