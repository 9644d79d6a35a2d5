package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code DPMSolverMultistepScheduler}: DPM-Solver++ (default), DPM-Solver and their SDE variants
 * ({@code sde-dpmsolver++}: "DPM++ 2M SDE", one noise draw per step), orders 1 to 3 (solver_type
 * "midpoint" or "heun" for order 2; no third order for SDE), with optional Karras sigmas ("DPM++ 2M
 * Karras"). The first steps are lower order (no history) and, with {@code final_sigmas_type="zero"} (the
 * default), so is the last. Class defaults: timestep_spacing "linspace", solver_order 2,
 * lower_order_final true, lambda_min_clipped -inf. Thresholding and lu-lambdas are rejected.
 */
public final class DPMSolverMultistepScheduler extends IntegerTimestepScheduler {
    private final float[] trainSigmas;
    private final float[] logSigmas;
    private final int solverOrder;
    private final boolean dataPrediction;
    private final boolean sde;
    private final boolean midpoint;
    private final boolean lowerOrderFinal;
    private final boolean eulerAtFinal;
    private final boolean finalSigmaZero;
    private float[][] modelOutputs;
    private int lowerOrderNums;

    /** A DPM-Solver multistep scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public DPMSolverMultistepScheduler(SchedulerConfig config) {
        super(config);
        solverOrder = config.getInt("solver_order", 2);
        if (solverOrder < 1 || solverOrder > 3) {
            throw new IllegalArgumentException(name() + ": solver_order " + solverOrder + " must be 1, 2 or 3");
        }
        String algo = config.getString("algorithm_type", "dpmsolver++");
        switch (algo) {
            case "dpmsolver++", "dpmsolver", "sde-dpmsolver++", "sde-dpmsolver" -> {
            }
            default -> throw new IllegalArgumentException(name() + ": algorithm_type '" + algo
                    + "' is not one of dpmsolver++, dpmsolver, sde-dpmsolver++, sde-dpmsolver");
        }
        dataPrediction = algo.endsWith("dpmsolver++");
        sde = algo.startsWith("sde-");
        if (sde && solverOrder == 3) {
            throw new IllegalArgumentException(name() + ": the SDE variants have no third order (as diffusers)");
        }
        String st = config.getString("solver_type", "midpoint");
        if (!st.equals("midpoint") && !st.equals("heun")) {
            throw new IllegalArgumentException(name() + ": solver_type '" + st + "' is not midpoint or heun");
        }
        midpoint = st.equals("midpoint");
        if (config.getBoolean("thresholding", false) || config.getBoolean("use_lu_lambdas", false)) {
            throw new IllegalArgumentException(name() + ": thresholding and use_lu_lambdas are not supported");
        }
        if (config.getDouble("lambda_min_clipped", Double.NEGATIVE_INFINITY) != Double.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException(name() + ": only lambda_min_clipped=-inf is supported");
        }
        if (config.getString("variance_type", null) != null) {
            throw new IllegalArgumentException(name() + ": variance_type is not supported");
        }
        lowerOrderFinal = config.getBoolean("lower_order_final", true);
        eulerAtFinal = config.getBoolean("euler_at_final", false);
        String fst = config.getString("final_sigmas_type", "zero");
        if (!fst.equals("zero") && !fst.equals("sigma_min")) {
            throw new IllegalArgumentException(name() + ": final_sigmas_type '" + fst + "' is not zero or sigma_min");
        }
        finalSigmaZero = fst.equals("zero");
        trainSigmas = Schedules.trainSigmas(alphasCumprod);
        logSigmas = Schedules.logF32(trainSigmas);
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        int last = trainSteps; // lambda_min_clipped = -inf clips nothing
        String spacing = spacing("linspace");
        double[] ts = Schedules.dpmTimesteps(config, spacing, trainSteps, n, last, name());
        double[] s;
        if (Schedules.respaced(config, name())) {
            s = Schedules.respace(config, trainSigmas[0], trainSigmas[trainSigmas.length - 1], n);
            ts = new double[s.length];
            for (int i = 0; i < s.length; i++) {
                ts[i] = Schedules.npRound(Schedules.sigmaToT(s[i], logSigmas));
            }
        } else {
            s = new double[ts.length];
            for (int i = 0; i < ts.length; i++) {
                s[i] = Schedules.npInterpArange(ts[i], trainSigmas);
            }
        }
        float[] sg = new float[s.length + 1];
        for (int i = 0; i < s.length; i++) {
            sg[i] = (float) s[i];
        }
        float a0 = alphasCumprod[0];
        sg[s.length] = finalSigmaZero ? 0f : (float) Math.sqrt((1f - a0) / a0);
        sigmas = sg;
        timesteps = ts;
        numInferenceSteps = ts.length;
        modelOutputs = new float[solverOrder][];
        lowerOrderNums = 0;
        resetIndices();
    }

    @Override
    protected boolean unknownTimestepIsLast() {
        return true;
    }

    /** alpha_t = 1/sqrt(sigma^2+1), sigma_t = sigma * alpha_t. */
    private static double alphaOf(double sigma) {
        return DpmFamilyScheduler.alphaOf(sigma);
    }

    private static double lambdaOf(double sigma) {
        return DpmFamilyScheduler.lambdaOf(sigma);
    }

    private float[] convert(float[] m, float[] x) {
        double sigma = sigmas[stepIndex];
        // DPM-Solver works on the noise prediction, DPM-Solver++ on the data prediction
        return dataPrediction ? DpmFamilyScheduler.toX0(predictionType, sigma, m, x)
                : DpmFamilyScheduler.toEps(predictionType, sigma, m, x);
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        startStep(modelOutput, t, sample);
        int len = timesteps.length;
        boolean finalFirstOrder = stepIndex == len - 1
                && (eulerAtFinal || (lowerOrderFinal && len < 15) || finalSigmaZero);
        boolean lowerSecond = stepIndex == len - 2 && lowerOrderFinal && len < 15;
        float[] x = data(sample);
        float[] m = convert(data(modelOutput), x);
        for (int i = 0; i < solverOrder - 1; i++) {
            modelOutputs[i] = modelOutputs[i + 1];
        }
        modelOutputs[solverOrder - 1] = m;
        // the SDE variants draw one noise tensor per step, before choosing the order (as diffusers)
        float[] z = sde ? noise(generator, modelOutput, name()) : null;
        float[] out;
        if (solverOrder == 1 || lowerOrderNums < 1 || finalFirstOrder) {
            out = firstOrder(m, x, z);
        } else if (solverOrder == 2 || lowerOrderNums < 2 || lowerSecond) {
            out = secondOrder(x, z);
        } else {
            out = thirdOrder(x);
        }
        if (lowerOrderNums < solverOrder) {
            lowerOrderNums++;
        }
        stepIndex++;
        return new StepOutput(like(sample, out), null);
    }

    private float[] firstOrder(float[] m, float[] x, float[] z) {
        double sT = sigmas[stepIndex + 1];
        double sS = sigmas[stepIndex];
        double aT = alphaOf(sT);
        double aS = alphaOf(sS);
        double h = lambdaOf(sT) - lambdaOf(sS);
        double sigT = sT * aT;
        double sigS = sS * aS;
        double c1;
        double c2;
        double cz = 0;
        if (dataPrediction && !sde) {
            c1 = sigT / sigS;
            c2 = -aT * (Math.exp(-h) - 1.0);
        } else if (!sde) {
            c1 = aT / aS;
            c2 = -sigT * (Math.exp(h) - 1.0);
        } else if (dataPrediction) {
            c1 = sigT / sigS * Math.exp(-h);
            c2 = aT * (1 - Math.exp(-2.0 * h));
            cz = sigT * Math.sqrt(1.0 - Math.exp(-2 * h));
        } else {
            c1 = aT / aS;
            c2 = -2.0 * (sigT * (Math.exp(h) - 1.0));
            cz = sigT * Math.sqrt(Math.exp(2 * h) - 1.0);
        }
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            double v = c1 * x[i] + c2 * m[i];
            out[i] = (float) (z == null ? v : v + cz * z[i]);
        }
        return out;
    }

    private float[] secondOrder(float[] x, float[] z) {
        double sT = sigmas[stepIndex + 1];
        double s0 = sigmas[stepIndex];
        double s1 = sigmas[stepIndex - 1];
        double aT = alphaOf(sT);
        double a0 = alphaOf(s0);
        double sigT = sT * aT;
        double sig0 = s0 * a0;
        double lT = lambdaOf(sT);
        double l0 = lambdaOf(s0);
        double l1 = lambdaOf(s1);
        float[] m0 = modelOutputs[solverOrder - 1];
        float[] m1 = modelOutputs[solverOrder - 2];
        double h = lT - l0;
        double h0 = l0 - l1;
        double r0 = h0 / h;
        double cx;
        double cD0;
        double cD1;
        double cz = 0;
        if (dataPrediction && !sde) {
            cx = sigT / sig0;
            double e = aT * (Math.exp(-h) - 1.0);
            cD0 = -e;
            cD1 = midpoint ? -0.5 * e : aT * ((Math.exp(-h) - 1.0) / h + 1.0);
        } else if (!sde) {
            cx = aT / a0;
            double e = sigT * (Math.exp(h) - 1.0);
            cD0 = -e;
            cD1 = midpoint ? -0.5 * e : -sigT * ((Math.exp(h) - 1.0) / h - 1.0);
        } else if (dataPrediction) {
            cx = sigT / sig0 * Math.exp(-h);
            double e = aT * (1 - Math.exp(-2.0 * h));
            cD0 = e;
            cD1 = midpoint ? 0.5 * e : aT * ((1.0 - Math.exp(-2.0 * h)) / (-2.0 * h) + 1.0);
            cz = sigT * Math.sqrt(1.0 - Math.exp(-2 * h));
        } else {
            cx = aT / a0;
            double e = sigT * (Math.exp(h) - 1.0);
            cD0 = -2.0 * e;
            cD1 = midpoint ? -e : -2.0 * (sigT * ((Math.exp(h) - 1.0) / h - 1.0));
            cz = sigT * Math.sqrt(Math.exp(2 * h) - 1.0);
        }
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            double d1 = (1.0 / r0) * (m0[i] - m1[i]);
            double v = cx * x[i] + cD0 * m0[i] + cD1 * d1;
            out[i] = (float) (z == null ? v : v + cz * z[i]);
        }
        return out;
    }

    private float[] thirdOrder(float[] x) {
        double sT = sigmas[stepIndex + 1];
        double s0 = sigmas[stepIndex];
        double aT = alphaOf(sT);
        double a0 = alphaOf(s0);
        double sigT = sT * aT;
        double sig0 = s0 * a0;
        double lT = lambdaOf(sT);
        double l0 = lambdaOf(s0);
        double l1 = lambdaOf(sigmas[stepIndex - 1]);
        double l2 = lambdaOf(sigmas[stepIndex - 2]);
        float[] m0 = modelOutputs[2];
        float[] m1 = modelOutputs[1];
        float[] m2 = modelOutputs[0];
        double h = lT - l0;
        double r0 = (l0 - l1) / h;
        double r1 = (l1 - l2) / h;
        double cx;
        double cD0;
        double cD1;
        double cD2;
        if (dataPrediction) {
            cx = sigT / sig0;
            cD0 = -aT * (Math.exp(-h) - 1.0);
            cD1 = aT * ((Math.exp(-h) - 1.0) / h + 1.0);
            cD2 = -aT * ((Math.exp(-h) - 1.0 + h) / (h * h) - 0.5);
        } else {
            cx = aT / a0;
            cD0 = -sigT * (Math.exp(h) - 1.0);
            cD1 = -sigT * ((Math.exp(h) - 1.0) / h - 1.0);
            cD2 = -sigT * ((Math.exp(h) - 1.0 - h) / (h * h) - 0.5);
        }
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            double d10 = (1.0 / r0) * (m0[i] - m1[i]);
            double d11 = (1.0 / r1) * (m1[i] - m2[i]);
            double d1 = d10 + (r0 / (r0 + r1)) * (d10 - d11);
            double d2 = (1.0 / (r0 + r1)) * (d10 - d11);
            out[i] = (float) (cx * x[i] + cD0 * m0[i] + cD1 * d1 + cD2 * d2);
        }
        return out;
    }

    /** {@code alpha_t * original + sigma_t * noise} with the sigma of the begin/step index or of {@code t}. */
    @Override
    public Tensor addNoise(Tensor original, Tensor noise, double t) {
        return addNoiseSigmas(original, noise, t);
    }
}
