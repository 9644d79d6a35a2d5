package dev.diffusion4j.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.samplers.kdiffusion.GaussianDenoiser;
import dev.diffusion4j.samplers.kdiffusion.Latents;
import dev.diffusion4j.samplers.kdiffusion.Sigmas;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import org.junit.jupiter.api.Test;

/** The example's sampler is second order on the toy, and the program prints its table. */
class CustomSamplerExampleTest {

    @Test
    void midpointSamplerIsSecondOrderOnTheToy() {
        GaussianDenoiser toy = new GaussianDenoiser(0.3, 0.6);
        double[] err = new double[3];
        int[] steps = {20, 40, 80};
        for (int k = 0; k < 3; k++) {
            double[] sigmas = Sigmas.karras(steps[k], 0.002, 80, 7);
            double[] m = Latents.moments(new CustomSamplerExample.MidpointSampler()
                    .sample(toy, sigmas, CustomSamplerExample.start(toy, sigmas[0], 1 << 12), null, null));
            assertEquals(0.3, m[0], 1e-4);
            err[k] = Math.abs(m[1] - toy.variance());
        }
        for (int k = 1; k < 3; k++) {
            double order = Math.log(err[k - 1] / err[k]) / Math.log(2);
            assertEquals(2, order, 0.3, "observed order at " + steps[k] + " steps: " + order);
        }
    }

    @Test
    void mainPrintsTheMomentsTable() throws Exception {
        PrintStream old = System.out;
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        System.setOut(new PrintStream(buf, true, StandardCharsets.UTF_8));
        try {
            CustomSamplerExample.main(new String[0]);
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(StandardCharsets.UTF_8);
        assertTrue(out.contains("midpoint") && out.contains("euler") && out.contains("variance"), out);
        assertEquals(10, out.lines().filter(l -> l.matches("\\s*\\d+\\s+(euler|midpoint)\\s+.*")).count(), out);
    }
}
