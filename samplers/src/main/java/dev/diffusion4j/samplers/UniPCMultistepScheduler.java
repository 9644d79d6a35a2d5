package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code UniPCMultistepScheduler}: the UniP predictor with the UniC corrector (B(h) variants
 * bh1/bh2), data prediction ({@code predict_x0}, default) or noise prediction, solver orders 1 and 2.
 * As in diffusers 0.27.2 the schedule ends at the smallest training sigma (not 0). Class defaults:
 * timestep_spacing "linspace", solver_order 2, solver_type "bh2", lower_order_final true. A custom
 * {@code solver_p} is not supported.
 */
public final class UniPCMultistepScheduler extends DpmFamilyScheduler {
    private final int solverOrder;
    private final boolean predictX0;
    private final boolean bh2;
    private final boolean lowerOrderFinal;
    private final java.util.Set<Integer> disableCorrector = new java.util.HashSet<>();
    private float[][] modelOutputs;
    private float[] lastSample;
    private int lowerOrderNums;
    private int thisOrder;

    /** A UniPC scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public UniPCMultistepScheduler(SchedulerConfig config) {
        super(config);
        solverOrder = config.getInt("solver_order", 2);
        if (solverOrder < 1 || solverOrder > 2) {
            throw new IllegalArgumentException(name() + ": solver_order " + solverOrder + " (only 1 and 2 are supported)");
        }
        predictX0 = config.getBoolean("predict_x0", true);
        String st = config.getString("solver_type", "bh2");
        switch (st) {
            case "bh1" -> bh2 = false;
            // diffusers maps the DPM-Solver names to bh2
            case "bh2", "midpoint", "heun", "logrho" -> bh2 = true;
            default -> throw new IllegalArgumentException(name() + ": solver_type '" + st + "' is not bh1 or bh2");
        }
        lowerOrderFinal = config.getBoolean("lower_order_final", true);
        double[] dc = config.getDoubles("disable_corrector");
        if (dc != null) {
            for (double d : dc) {
                disableCorrector.add((int) d);
            }
        }
        if (config.asMap().get("solver_p") != null) {
            throw new IllegalArgumentException(name() + ": solver_p is not supported");
        }
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        setSchedule(dpmTimesteps(spacing("linspace"), n, trainSteps), config.getBoolean("use_karras_sigmas", false),
                sigmaMin());
        modelOutputs = new float[solverOrder][];
        lastSample = null;
        lowerOrderNums = 0;
        thisOrder = 0;
    }

    private float[] convert(float[] m, float[] x) {
        return predictX0 ? toX0(m, x) : toEps(m, x);
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        checkStep(modelOutput, t, sample);
        float[] x = data(sample);
        boolean useCorrector = stepIndex > 0 && !disableCorrector.contains(stepIndex - 1) && lastSample != null;
        float[] mc = convert(data(modelOutput), x);
        if (useCorrector) {
            x = corrector(mc, lastSample, x, thisOrder);
        }
        for (int i = 0; i < solverOrder - 1; i++) {
            modelOutputs[i] = modelOutputs[i + 1];
        }
        modelOutputs[solverOrder - 1] = mc;
        int order = lowerOrderFinal ? Math.min(solverOrder, timesteps.length - stepIndex) : solverOrder;
        thisOrder = Math.min(order, lowerOrderNums + 1);
        lastSample = x;
        float[] out = predictor(x, thisOrder);
        if (lowerOrderNums < solverOrder) {
            lowerOrderNums++;
        }
        stepIndex++;
        return new StepOutput(like(sample, out), null);
    }

    /** B(h) and h*phi_1 for step size h (data prediction integrates with -h). */
    private double[] coefficients(double h) {
        double hh = predictX0 ? -h : h;
        double hPhi1 = Math.expm1(hh);
        double bh = bh2 ? Math.expm1(hh) : hh;
        double hPhiK1 = hPhi1 / hh - 1;
        double hPhiK2 = hPhiK1 / hh - 0.5;
        // b_i = h_phi_k * i! / B(h) for i = 1, 2
        return new double[] {hh, hPhi1, bh, hPhiK1 / bh, hPhiK2 * 2 / bh};
    }

    private float[] predictor(float[] x, int order) {
        double sT = sigmas[stepIndex + 1];
        double s0 = sigmas[stepIndex];
        double aT = alphaOf(sT);
        double a0 = alphaOf(s0);
        double sigT = sigmaTOf(sT);
        double sig0 = sigmaTOf(s0);
        double l0 = lambdaOf(s0);
        double h = lambdaOf(sT) - l0;
        double[] c = coefficients(h);
        double hPhi1 = c[1];
        double bh = c[2];
        float[] m0 = modelOutputs[solverOrder - 1];
        float[] out = new float[x.length];
        double cx = predictX0 ? sigT / sig0 : aT / a0;
        double cm = predictX0 ? aT * hPhi1 : sigT * hPhi1;
        double cr = predictX0 ? aT * bh : sigT * bh;
        if (order >= 2) {
            float[] m1 = modelOutputs[solverOrder - 2];
            double rk = (lambdaOf(sigmas[stepIndex - 1]) - l0) / h;
            double rho = 0.5; // diffusers' simplified order-2 predictor
            for (int i = 0; i < x.length; i++) {
                double d1 = (m1[i] - m0[i]) / rk;
                out[i] = (float) (cx * x[i] - cm * m0[i] - cr * (rho * d1));
            }
        } else {
            for (int i = 0; i < x.length; i++) {
                out[i] = (float) (cx * x[i] - cm * m0[i]);
            }
        }
        return out;
    }

    private float[] corrector(float[] modelT, float[] last, float[] thisSample, int order) {
        double sT = sigmas[stepIndex];
        double s0 = sigmas[stepIndex - 1];
        double aT = alphaOf(sT);
        double a0 = alphaOf(s0);
        double sigT = sigmaTOf(sT);
        double sig0 = sigmaTOf(s0);
        double l0 = lambdaOf(s0);
        double h = lambdaOf(sT) - l0;
        double[] c = coefficients(h);
        double hPhi1 = c[1];
        double bh = c[2];
        float[] m0 = modelOutputs[solverOrder - 1];
        double cx = predictX0 ? sigT / sig0 : aT / a0;
        double cm = predictX0 ? aT * hPhi1 : sigT * hPhi1;
        double cr = predictX0 ? aT * bh : sigT * bh;
        float[] out = new float[last.length];
        if (order == 1) {
            double rhoT = 0.5;
            for (int i = 0; i < out.length; i++) {
                double d1t = modelT[i] - m0[i];
                out[i] = (float) (cx * last[i] - cm * m0[i] - cr * (rhoT * d1t));
            }
        } else {
            float[] m1 = modelOutputs[solverOrder - 2];
            double rk = (lambdaOf(sigmas[stepIndex - 2]) - l0) / h;
            // solve [[1, 1], [rk, 1]] rho = [b1, b2]
            double b1 = c[3];
            double b2 = c[4];
            double det = 1 - rk;
            double rho0 = (b1 - b2) / det;
            double rhoT = (b2 - rk * b1) / det;
            for (int i = 0; i < out.length; i++) {
                double d1 = (m1[i] - m0[i]) / rk;
                double d1t = modelT[i] - m0[i];
                out[i] = (float) (cx * last[i] - cm * m0[i] - cr * (rho0 * d1 + rhoT * d1t));
            }
        }
        return out;
    }
}
