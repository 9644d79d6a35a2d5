package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code DEISMultistepScheduler} (algorithm "deis", solver_type "logrho"), orders 1 to 3:
 * the noise prediction is integrated in rho = sigma_t/alpha_t with log-linear Lagrange coefficients.
 * The schedule ends at the smallest training sigma; with fewer than 15 steps the last step is first
 * order. Class defaults: timestep_spacing "linspace", solver_order 2, lower_order_final true.
 */
public final class DEISMultistepScheduler extends DpmFamilyScheduler {
    private final int solverOrder;
    private final boolean lowerOrderFinal;
    private float[][] modelOutputs;
    private int lowerOrderNums;

    /** A DEIS scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public DEISMultistepScheduler(SchedulerConfig config) {
        super(config);
        solverOrder = config.getInt("solver_order", 2);
        if (solverOrder < 1 || solverOrder > 3) {
            throw new IllegalArgumentException(name() + ": solver_order " + solverOrder + " must be 1, 2 or 3");
        }
        String algo = config.getString("algorithm_type", "deis");
        String st = config.getString("solver_type", "logrho");
        if (!algo.equals("deis") || !st.equals("logrho")) {
            throw new IllegalArgumentException(name() + ": only algorithm_type 'deis' with solver_type 'logrho' is supported");
        }
        lowerOrderFinal = config.getBoolean("lower_order_final", true);
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        setSchedule(dpmTimesteps(spacing("linspace"), n, trainSteps), Schedules.respaced(config, name()),
                sigmaMin());
        modelOutputs = new float[solverOrder][];
        lowerOrderNums = 0;
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        checkStep(modelOutput, t, sample);
        int len = timesteps.length;
        boolean finalFirst = stepIndex == len - 1 && lowerOrderFinal && len < 15;
        boolean lowerSecond = stepIndex == len - 2 && lowerOrderFinal && len < 15;
        float[] x = data(sample);
        // DEIS integrates the noise prediction (derived from the x0 prediction)
        float[] x0 = toX0(data(modelOutput), x);
        double sig = sigmas[stepIndex];
        double aS = alphaOf(sig);
        double sS = sigmaTOf(sig);
        float[] eps = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            eps[i] = (float) ((x[i] - aS * x0[i]) / sS);
        }
        for (int i = 0; i < solverOrder - 1; i++) {
            modelOutputs[i] = modelOutputs[i + 1];
        }
        modelOutputs[solverOrder - 1] = eps;
        float[] out = new float[x.length];
        if (solverOrder == 1 || lowerOrderNums < 1 || finalFirst) {
            double sT = sigmas[stepIndex + 1];
            double aT = alphaOf(sT);
            double sigT = sigmaTOf(sT);
            double h = lambdaOf(sT) - lambdaOf(sig);
            double cx = aT / aS;
            double ce = sigT * (Math.exp(h) - 1.0);
            for (int i = 0; i < x.length; i++) {
                out[i] = (float) (cx * x[i] - ce * eps[i]);
            }
        } else if (solverOrder == 2 || lowerOrderNums < 2 || lowerSecond) {
            double sT = sigmas[stepIndex + 1];
            double s1 = sigmas[stepIndex - 1];
            double aT = alphaOf(sT);
            double rhoT = sigmaTOf(sT) / aT;
            double rho0 = sS / aS;
            double rho1 = sigmaTOf(s1) / alphaOf(s1);
            double coef1 = indFn(rhoT, rho0, rho1) - indFn(rho0, rho0, rho1);
            double coef2 = indFn(rhoT, rho1, rho0) - indFn(rho0, rho1, rho0);
            float[] m0 = modelOutputs[solverOrder - 1];
            float[] m1 = modelOutputs[solverOrder - 2];
            for (int i = 0; i < x.length; i++) {
                out[i] = (float) (aT * (x[i] / aS + coef1 * m0[i] + coef2 * m1[i]));
            }
        } else {
            double sT = sigmas[stepIndex + 1];
            double s1 = sigmas[stepIndex - 1];
            double s2 = sigmas[stepIndex - 2];
            double aT = alphaOf(sT);
            double rhoT = sigmaTOf(sT) / aT;
            double rho0 = sS / aS;
            double rho1 = sigmaTOf(s1) / alphaOf(s1);
            double rho2 = sigmaTOf(s2) / alphaOf(s2);
            double coef1 = indFn3(rhoT, rho0, rho1, rho2) - indFn3(rho0, rho0, rho1, rho2);
            double coef2 = indFn3(rhoT, rho1, rho2, rho0) - indFn3(rho0, rho1, rho2, rho0);
            double coef3 = indFn3(rhoT, rho2, rho0, rho1) - indFn3(rho0, rho2, rho0, rho1);
            float[] m0 = modelOutputs[2];
            float[] m1 = modelOutputs[1];
            float[] m2 = modelOutputs[0];
            for (int i = 0; i < x.length; i++) {
                out[i] = (float) (aT * (x[i] / aS + coef1 * m0[i] + coef2 * m1[i] + coef3 * m2[i]));
            }
        }
        if (lowerOrderNums < solverOrder) {
            lowerOrderNums++;
        }
        stepIndex++;
        return new StepOutput(like(sample, out), null);
    }

    /**
     * Antiderivative of the log-quadratic Lagrange basis
     * (log t - log c)(log t - log d) / ((log b - log c)(log b - log d)).
     */
    private static double indFn3(double t, double b, double c, double d) {
        double lt = Math.log(t);
        double lc = Math.log(c);
        double ld = Math.log(d);
        double num = t * (lc * (ld - lt + 1) - ld * lt + ld + lt * lt - 2 * lt + 2);
        return num / ((Math.log(b) - lc) * (Math.log(b) - ld));
    }

    /** Antiderivative of the log-linear Lagrange basis (log t - log c) / (log b - log c). */
    private static double indFn(double t, double b, double c) {
        return t * (-Math.log(c) + Math.log(t) - 1) / (Math.log(b) - Math.log(c));
    }
}
