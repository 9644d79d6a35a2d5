package dev.diffusion4j.examples.demo;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.core.GenerationRequest;
import dev.diffusion4j.core.StableDiffusion;
import dev.diffusion4j.examples.cli.DemoModel;
import dev.diffusion4j.samplers.SamplerCatalog;
import java.awt.image.BufferedImage;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The built-in demo model draws what its prompt says: for prompts whose exact wording was held out of training,
 * the generated image contains the named colour, its mass sits where the prompt puts it, and the named background
 * covers the rest. Checked with every sampler. These tests are the model's acceptance test, not a parity test.
 */
class DemoModelTest {
    /** The demo model's palette (tools/demo-model/scenes.py COLOURS), for nearest-colour classification. */
    private static final String[] NAMES = {"red", "green", "blue", "yellow", "orange", "purple", "white", "black"};
    private static final int[][] RGB = {{220, 30, 30}, {30, 170, 50}, {30, 70, 220}, {245, 220, 30}, {245, 140, 20},
        {140, 50, 180}, {245, 245, 245}, {15, 15, 15}};

    /** A prompt and what its image must show; {@code where} and {@code background} may be null (unspecified). */
    record Case(String prompt, String colour, String where, String background) {
    }

    /** Exact captions excluded from training (tools/demo-model/scenes.py HELD_OUT). */
    static final List<Case> HELD_OUT = List.of(
            new Case("a green square on the left", "green", "left", null),
            new Case("a yellow triangle on a black background", "yellow", null, "black"),
            new Case("a red circle on a blue background", "red", null, "blue"),
            new Case("a blue star on the right", "blue", "right", null),
            new Case("a white circle at the top on a purple background", "white", "top", "purple"),
            new Case("an orange square at the bottom", "orange", "bottom", null),
            new Case("a purple triangle in the centre on a yellow background", "purple", "centre", "yellow"),
            new Case("a big red star on a white background", "red", null, "white"));

    /** Few steps keep the tests in seconds; the demo model converges well before the default 50. */
    private static final int STEPS = 20;

    private static StableDiffusion model;

    @BeforeAll
    static void load() throws Exception {
        model = StableDiffusion.load(DemoModel.locate());
    }

    @AfterAll
    static void close() {
        if (model != null) {
            model.close();
        }
    }

    /** What was seen in an image. */
    record Verdict(boolean ok, String why) {
    }

    static Verdict judge(BufferedImage img, Case c) {
        int w = img.getWidth();
        int h = img.getHeight();
        int target = index(c.colour());
        int bg = c.background() == null ? -1 : index(c.background());
        long count = 0;
        long bgCount = 0;
        double sx = 0;
        double sy = 0;
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int k = nearest(img.getRGB(x, y));
                if (k == target) {
                    count++;
                    sx += x + 0.5;
                    sy += y + 0.5;
                } else if (k == bg) {
                    bgCount++;
                }
            }
        }
        double frac = count / (double) (w * h);
        double bgFrac = bgCount / (double) (w * h);
        double cx = count == 0 ? -1 : sx / count / w;
        double cy = count == 0 ? -1 : sy / count / h;
        String seen = String.format(Locale.ROOT, "%s %.1f%% at (%.2f, %.2f)%s", c.colour(), 100 * frac, cx, cy,
                bg < 0 ? "" : String.format(Locale.ROOT, ", %s background %.1f%%", c.background(), 100 * bgFrac));
        // 1.5 % = 61 pixels: a small star or triangle (sizes are random when the prompt names none) covers 1.4-2.2 %
        // of the picture, a background-only picture has well under 1 % of any other colour.
        if (frac < 0.015) {
            return new Verdict(false, "too little " + seen);
        }
        if (bg >= 0 && bgFrac < 0.30) {
            return new Verdict(false, "background missing: " + seen);
        }
        boolean placed = c.where() == null || switch (c.where()) {
            case "left" -> cx < 0.45;
            case "right" -> cx > 0.55;
            case "top" -> cy < 0.45;
            case "bottom" -> cy > 0.55;
            case "centre" -> Math.abs(cx - 0.5) < 0.15 && Math.abs(cy - 0.5) < 0.15;
            default -> throw new IllegalArgumentException("unknown position " + c.where());
        };
        return new Verdict(placed, (placed ? "" : "misplaced: ") + seen);
    }

    private static int index(String colour) {
        for (int i = 0; i < NAMES.length; i++) {
            if (NAMES[i].equals(colour)) {
                return i;
            }
        }
        throw new IllegalArgumentException("unknown colour " + colour);
    }

    private static int nearest(int argb) {
        int r = (argb >> 16) & 0xFF;
        int g = (argb >> 8) & 0xFF;
        int b = argb & 0xFF;
        int best = 0;
        int bestD = Integer.MAX_VALUE;
        for (int i = 0; i < RGB.length; i++) {
            int dr = r - RGB[i][0];
            int dg = g - RGB[i][1];
            int db = b - RGB[i][2];
            int d = dr * dr + dg * dg + db * db;
            if (d < bestD) {
                bestD = d;
                best = i;
            }
        }
        return best;
    }

    /** {@code count} images of one prompt, as one batch (the batch's noise comes from one seeded generator). */
    private static List<BufferedImage> generate(String prompt, String sampler, int steps, long seed, int count) {
        GenerationRequest r = GenerationRequest.builder().prompt(prompt).sampler(sampler).steps(steps)
                .guidanceScale(7.5).seed(seed).batchSize(count).build();
        return model.generate(r).images();
    }

    @Test
    void heldOutPromptsAreFollowedInAtLeast90PercentOfSeeds() {
        int perPrompt = 5;
        int ok = 0;
        List<String> failures = new ArrayList<>();
        for (int p = 0; p < HELD_OUT.size(); p++) {
            Case c = HELD_OUT.get(p);
            long seed = 1000 + p;
            List<BufferedImage> images = generate(c.prompt(), "dpm++2m", STEPS, seed, perPrompt);
            for (int i = 0; i < images.size(); i++) {
                assertEquals(64, images.get(i).getWidth(), "default width is the U-Net's sample_size x 8");
                Verdict v = judge(images.get(i), c);
                if (v.ok()) {
                    ok++;
                } else {
                    failures.add("'" + c.prompt() + "' seed " + seed + " image " + i + ": " + v.why());
                }
            }
        }
        int total = HELD_OUT.size() * perPrompt;
        System.out.printf(Locale.ROOT, "demo model: %d/%d held-out images follow their prompt%n", ok, total);
        failures.forEach(f -> System.out.println("  " + f));
        assertTrue(ok >= Math.ceil(0.9 * total), ok + "/" + total + " images follow their prompt; failures: " + failures);
    }

    @Test
    void everySamplerDrawsARecognisablePicture() {
        List<String> failures = new ArrayList<>();
        Case c = HELD_OUT.get(2);   // "a red circle on a blue background", the README's prompt
        for (String sampler : SamplerCatalog.samplers()) {
            int steps = sampler.equals("lcm") ? 8 : STEPS;
            int ok = 0;
            List<String> why = new ArrayList<>();
            for (BufferedImage img : generate(c.prompt(), sampler, steps, 7, 3)) {
                Verdict v = judge(img, c);
                ok += v.ok() ? 1 : 0;
                why.add(v.why());
            }
            System.out.printf(Locale.ROOT, "demo model, %s: %d/3 %s%n", sampler, ok, why);
            if (ok < 2) {
                failures.add(sampler + ": " + why);
            }
        }
        assertTrue(failures.isEmpty(), "samplers whose pictures do not follow '" + c.prompt() + "': " + failures);
    }

    @Test
    void aShapeOfTheWrongColourIsNotAccepted() {
        // The judge itself must be able to fail: a blank image of the wrong colour is rejected.
        BufferedImage blank = new BufferedImage(64, 64, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 64; y++) {
            for (int x = 0; x < 64; x++) {
                blank.setRGB(x, y, x < 32 ? 0x1E46DC : 0xDC1E1E);   // blue left half, red right half
            }
        }
        assertTrue(judge(blank, new Case("", "red", "right", "blue")).ok());
        assertTrue(!judge(blank, new Case("", "red", "left", null)).ok());
        assertTrue(!judge(blank, new Case("", "green", null, null)).ok());
        assertTrue(!judge(blank, new Case("", "red", null, "black")).ok());
    }
}
