package dev.diffusion4j.samplers;

import static dev.diffusion4j.samplers.DpmSolverExactnessTest.POLY;
import static dev.diffusion4j.samplers.DpmSolverExactnessTest.exact;
import static dev.diffusion4j.samplers.DpmSolverExactnessTest.stepOnExactSolution;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * DEIS (logrho) integrates a Lagrange polynomial in log(rho) = -lambda, so order k is exact for noise
 * predictions of degree k-1 in lambda; this pins the antiderivatives of the second- and third-order
 * coefficients. The guard case shows order 2 is not exact for a quadratic.
 */
class DEISExactnessTest {

    private static double worst(int order, int degree) {
        SchedulerConfig cfg = SchedulerConfig.sd15().toBuilder().set("solver_order", order)
                .set("lower_order_final", false).build();
        DEISMultistepScheduler s = new DEISMultistepScheduler(cfg);
        s.setTimesteps(20);
        float[] sig = s.sigmas();
        double[] ts = s.timesteps();
        double[] start = {0.5, -0.25, 1.5, 0.1};
        double worst = 0;
        for (int i = 0; i < ts.length; i++) {
            float[] out = stepOnExactSolution(s, sig, ts, i, false, degree, start);
            if (i >= order - 1) {
                for (int k = 0; k < 4; k++) {
                    double ref = exact(false, POLY[k], degree, start[k], sig[0], sig[i + 1]);
                    worst = Math.max(worst, Math.abs(out[k] - ref) / Math.max(1, Math.abs(ref)));
                }
            }
        }
        return worst;
    }

    @ParameterizedTest
    @CsvSource({"2, 1", "3, 2"})
    void exactForPolynomialNoisePredictions(int order, int degree) {
        double w = worst(order, degree);
        System.out.println("DEIS order " + order + " degree " + degree + ": worst relative error " + w);
        assertEquals(0, w, 2e-5, "DEIS order " + order);
    }

    @ParameterizedTest
    @CsvSource({"2, 2"})
    void lowerOrderMissesHigherDegree(int order, int degree) {
        double w = worst(order, degree);
        assertTrue(w > 1e-4, "guard: DEIS-" + order + " on degree " + degree + " error " + w);
    }
}
