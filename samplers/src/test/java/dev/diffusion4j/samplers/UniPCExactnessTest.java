package dev.diffusion4j.samplers;

import static dev.diffusion4j.samplers.DpmSolverExactnessTest.POLY;
import static dev.diffusion4j.samplers.DpmSolverExactnessTest.exact;
import static dev.diffusion4j.samplers.DpmSolverExactnessTest.stepOnExactSolution;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * UniPC's order conditions (the Vandermonde systems of UniP-3 and UniC) make the update exact for data
 * (or noise) predictions quadratic in lambda, for bh1 and bh2, with and without the corrector. The
 * second-order predictor uses diffusers' fixed rho = 0.5 and is only approximately exact (guard case).
 */
class UniPCExactnessTest {

    private static double run(boolean predictX0, String solverType, int order, boolean corrector, int degree) {
        List<Integer> disabled = new ArrayList<>();
        // the first corrector (order 1, rho = 0.5) is not exact and its corrected sample is carried on, so it
        // is disabled; from step 2 on, UniC of order >= 2 is exact for quadratics
        disabled.add(0);
        if (!corrector) {
            for (int i = 0; i < 20; i++) {
                disabled.add(i);
            }
        }
        SchedulerConfig cfg = SchedulerConfig.sd15().toBuilder().set("solver_order", order).set("solver_type", solverType)
                .set("predict_x0", predictX0).set("lower_order_final", false).set("disable_corrector", disabled)
                .predictionType(predictX0 ? "sample" : "epsilon").build();
        UniPCMultistepScheduler s = new UniPCMultistepScheduler(cfg);
        s.setTimesteps(20);
        float[] sig = s.sigmas();
        double[] ts = s.timesteps();
        double[] start = {0.5, -0.25, 1.5, 0.1};
        double worst = 0;
        for (int i = 0; i < ts.length; i++) {
            float[] out = stepOnExactSolution(s, sig, ts, i, predictX0, degree, start);
            if (i >= 2) {
                for (int k = 0; k < 4; k++) {
                    double ref = exact(predictX0, POLY[k], degree, start[k], sig[0], sig[i + 1]);
                    worst = Math.max(worst, Math.abs(out[k] - ref) / Math.max(1, Math.abs(ref)));
                }
            }
        }
        return worst;
    }

    @ParameterizedTest
    @CsvSource({"true, bh2, false", "true, bh2, true", "true, bh1, false", "true, bh1, true", "false, bh2, false",
        "false, bh2, true", "false, bh1, true"})
    void thirdOrderIsExactForQuadraticPredictions(boolean predictX0, String solverType, boolean corrector) {
        double worst = run(predictX0, solverType, 3, corrector, 2);
        assertEquals(0, worst, 2e-5, "UniPC-3 " + solverType + " predict_x0=" + predictX0 + " corrector=" + corrector);
    }

    @ParameterizedTest
    @CsvSource({"true, bh2", "false, bh1"})
    void secondOrderPredictorAloneIsNot(boolean predictX0, String solverType) {
        double worst = run(predictX0, solverType, 2, false, 2);
        assertTrue(worst > 1e-4, "guard: UniP-2 with rho=0.5 should miss a quadratic, error " + worst);
    }
}
