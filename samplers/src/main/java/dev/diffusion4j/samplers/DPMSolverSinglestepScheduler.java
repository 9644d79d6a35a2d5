package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code DPMSolverSinglestepScheduler}, orders 1 to 3 (DPM-Solver++ or DPM-Solver, midpoint
 * or heun): steps cycle through orders 1, 2(, 3); the first-order step stores the starting sample and the
 * higher orders restart from it with the intermediate model outputs. Its timesteps use its own linspace (no timestep_spacing, no steps_offset). Like diffusers,
 * {@code set_timesteps} turns lower_order_final on when the step count is not a multiple of the order or
 * when final_sigmas_type is "zero" (see {@link #lowerOrderFinal()}). Class defaults: solver_order 2,
 * lower_order_final false, final_sigmas_type "zero".
 */
public final class DPMSolverSinglestepScheduler extends DpmFamilyScheduler {
    private final int solverOrder;
    private final boolean dpmSolverPlusPlus;
    private final boolean midpoint;
    private final boolean finalSigmaZero;
    private boolean lowerOrderFinal;
    private int[] orderList = new int[0];
    private float[][] modelOutputs;
    private float[] savedSample;

    /** A DPM-Solver singlestep scheduler for {@code config} (absent keys take diffusers' class defaults). */
    public DPMSolverSinglestepScheduler(SchedulerConfig config) {
        super(config);
        solverOrder = config.getInt("solver_order", 2);
        if (solverOrder < 1 || solverOrder > 3) {
            throw new IllegalArgumentException(name() + ": solver_order " + solverOrder + " must be 1, 2 or 3");
        }
        String algo = config.getString("algorithm_type", "dpmsolver++");
        if (!algo.equals("dpmsolver++") && !algo.equals("dpmsolver")) {
            throw new IllegalArgumentException(name() + ": algorithm_type '" + algo + "' (only dpmsolver++ and dpmsolver)");
        }
        dpmSolverPlusPlus = algo.equals("dpmsolver++");
        String st = config.getString("solver_type", "midpoint");
        if (!st.equals("midpoint") && !st.equals("heun")) {
            throw new IllegalArgumentException(name() + ": solver_type '" + st + "' is not midpoint or heun");
        }
        midpoint = st.equals("midpoint");
        String fst = config.getString("final_sigmas_type", "zero");
        if (!fst.equals("zero") && !fst.equals("sigma_min")) {
            throw new IllegalArgumentException(name() + ": final_sigmas_type '" + fst + "' is not zero or sigma_min");
        }
        finalSigmaZero = fst.equals("zero");
        if (config.getDouble("lambda_min_clipped", Double.NEGATIVE_INFINITY) != Double.NEGATIVE_INFINITY) {
            throw new IllegalArgumentException(name() + ": only lambda_min_clipped=-inf is supported");
        }
        if (config.getString("variance_type", null) != null) {
            throw new IllegalArgumentException(name() + ": variance_type is not supported");
        }
        lowerOrderFinal = config.getBoolean("lower_order_final", false);
    }

    /** The effective lower_order_final (set_timesteps may have switched it on, as diffusers does). */
    public boolean lowerOrderFinal() {
        return lowerOrderFinal;
    }

    @Override
    public void setTimesteps(int n) {
        Schedules.checkSteps(name(), n, trainSteps);
        setSchedule(dpmTimesteps("linspace", n, trainSteps), Schedules.respaced(config, name()),
                finalSigmaZero ? 0.0 : sigmaMin());
        if (finalSigmaZero) {
            sigmas[sigmas.length - 1] = 0f; // also after Karras sigmas
        }
        if (!lowerOrderFinal && n % solverOrder != 0) {
            lowerOrderFinal = true;
        }
        if (!lowerOrderFinal && finalSigmaZero) {
            lowerOrderFinal = true;
        }
        orderList = orderList(n);
        modelOutputs = new float[solverOrder][];
        savedSample = null;
    }

    /** diffusers' get_order_list: repeated [1, 2(, 3)] groups, lower orders at the end, 1 last for sigma 0. */
    private int[] orderList(int steps) {
        java.util.List<Integer> o = new java.util.ArrayList<>();
        if (lowerOrderFinal) {
            if (solverOrder == 3) {
                int groups = steps % 3 == 0 ? steps / 3 - 1 : steps / 3;
                for (int g = 0; g < groups; g++) {
                    o.addAll(java.util.List.of(1, 2, 3));
                }
                if (steps % 3 == 0) {
                    o.addAll(java.util.List.of(1, 2, 1));
                } else if (steps % 3 == 1) {
                    o.add(1);
                } else {
                    o.addAll(java.util.List.of(1, 2));
                }
            } else if (solverOrder == 2) {
                for (int g = 0; g < steps / 2; g++) {
                    o.addAll(java.util.List.of(1, 2));
                }
                if (steps % 2 == 1) {
                    o.add(1);
                }
            } else {
                for (int i = 0; i < steps; i++) {
                    o.add(1);
                }
            }
        } else {
            for (int g = 0; g < steps / solverOrder; g++) {
                for (int k = 1; k <= solverOrder; k++) {
                    o.add(k);
                }
            }
        }
        if (finalSigmaZero && !o.isEmpty()) {
            o.set(o.size() - 1, 1);
        }
        return o.stream().mapToInt(Integer::intValue).toArray();
    }

    @Override
    public StepOutput step(Tensor modelOutput, double t, Tensor sample, NoiseGenerator generator) {
        checkStep(modelOutput, t, sample);
        if (stepIndex >= orderList.length) {
            throw new IllegalStateException(name() + ".step: no order for step index " + stepIndex);
        }
        float[] x = data(sample);
        float[] m = dpmSolverPlusPlus ? toX0(data(modelOutput), x) : toEps(data(modelOutput), x);
        for (int i = 0; i < solverOrder - 1; i++) {
            modelOutputs[i] = modelOutputs[i + 1];
        }
        modelOutputs[solverOrder - 1] = m;
        int order = orderList[stepIndex];
        while (modelOutputs[solverOrder - order] == null) {
            order--;
        }
        if (order == 1) {
            savedSample = x;
        }
        float[] out = switch (order) {
            case 1 -> firstOrder(m, savedSample);
            case 2 -> secondOrder(savedSample);
            default -> thirdOrder(savedSample);
        };
        stepIndex++;
        return new StepOutput(like(sample, out), null);
    }

    private float[] firstOrder(float[] m, float[] x) {
        double sT = sigmas[stepIndex + 1];
        double sS = sigmas[stepIndex];
        double aT = alphaOf(sT);
        double aS = alphaOf(sS);
        double h = lambdaOf(sT) - lambdaOf(sS);
        double c1 = dpmSolverPlusPlus ? sigmaTOf(sT) / sigmaTOf(sS) : aT / aS;
        double c2 = dpmSolverPlusPlus ? aT * (Math.exp(-h) - 1.0) : sigmaTOf(sT) * (Math.exp(h) - 1.0);
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            out[i] = (float) (c1 * x[i] - c2 * m[i]);
        }
        return out;
    }

    /** Third order from the sample stored two steps earlier (at sigma_{s2}), through two midpoint outputs. */
    private float[] thirdOrder(float[] x) {
        double sT = sigmas[stepIndex + 1];
        double s2 = sigmas[stepIndex - 2];
        double aT = alphaOf(sT);
        double sigT = sigmaTOf(sT);
        double lT = lambdaOf(sT);
        double l0 = lambdaOf(sigmas[stepIndex]);
        double l1 = lambdaOf(sigmas[stepIndex - 1]);
        double l2 = lambdaOf(s2);
        float[] m0 = modelOutputs[2];
        float[] m1 = modelOutputs[1];
        float[] m2 = modelOutputs[0];
        double h = lT - l2;
        double r0 = (l0 - l2) / h;
        double r1 = (l1 - l2) / h;
        double cx;
        double cD0;
        double cD1;
        double cD2;
        if (dpmSolverPlusPlus) {
            cx = sigT / sigmaTOf(s2);
            cD0 = -aT * (Math.exp(-h) - 1.0);
            cD1 = aT * ((Math.exp(-h) - 1.0) / h + 1.0);
            cD2 = -aT * ((Math.exp(-h) - 1.0 + h) / (h * h) - 0.5);
        } else {
            cx = aT / alphaOf(s2);
            cD0 = -sigT * (Math.exp(h) - 1.0);
            cD1 = -sigT * ((Math.exp(h) - 1.0) / h - 1.0);
            cD2 = -sigT * ((Math.exp(h) - 1.0 - h) / (h * h) - 0.5);
        }
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            double d10 = (1.0 / r1) * (m1[i] - m2[i]);
            double d11 = (1.0 / r0) * (m0[i] - m2[i]);
            double v;
            if (midpoint) {
                v = cx * x[i] + cD0 * m2[i] + cD1 * d11;
            } else {
                double d1 = (r0 * d10 - r1 * d11) / (r0 - r1);
                double d2 = 2.0 * (d11 - d10) / (r0 - r1);
                v = cx * x[i] + cD0 * m2[i] + cD1 * d1 + cD2 * d2;
            }
            out[i] = (float) v;
        }
        return out;
    }

    /** Second order from the sample stored one step earlier (at sigma_{s1}). */
    private float[] secondOrder(float[] x) {
        double sT = sigmas[stepIndex + 1];
        double s0 = sigmas[stepIndex];
        double s1 = sigmas[stepIndex - 1];
        double aT = alphaOf(sT);
        double a1 = alphaOf(s1);
        double sigT = sigmaTOf(sT);
        double lT = lambdaOf(sT);
        double l0 = lambdaOf(s0);
        double l1 = lambdaOf(s1);
        float[] m0 = modelOutputs[solverOrder - 1];
        float[] m1 = modelOutputs[solverOrder - 2];
        double h = lT - l1;
        double h0 = l0 - l1;
        double r0 = h0 / h;
        double cx;
        double cD0;
        double cD1;
        if (dpmSolverPlusPlus) {
            cx = sigT / sigmaTOf(s1);
            double e = aT * (Math.exp(-h) - 1.0);
            cD0 = -e;
            cD1 = midpoint ? -0.5 * e : aT * ((Math.exp(-h) - 1.0) / h + 1.0);
        } else {
            cx = aT / a1;
            double e = sigT * (Math.exp(h) - 1.0);
            cD0 = -e;
            cD1 = midpoint ? -0.5 * e : -sigT * ((Math.exp(h) - 1.0) / h - 1.0);
        }
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            double d1 = (1.0 / r0) * (m0[i] - m1[i]);
            out[i] = (float) (cx * x[i] + cD0 * m1[i] + cD1 * d1);
        }
        return out;
    }
}
