package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * diffusers' {@code UniPCMultistepScheduler}: the UniP predictor with the UniC corrector (B(h) variants
 * bh1/bh2), data prediction ({@code predict_x0}, default) or noise prediction, solver orders 1 to 3.
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
        if (solverOrder < 1 || solverOrder > 3) {
            throw new IllegalArgumentException(name() + ": solver_order " + solverOrder + " must be 1, 2 or 3");
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
        setSchedule(dpmTimesteps(spacing("linspace"), n, trainSteps), Schedules.respaced(config, name()),
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
            x = corrector(mc, lastSample, thisOrder);
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

    /**
     * The UniPC coefficient system for an update of {@code order} from sigma index {@code s0} to {@code t}
     * with history lambdas at sigma indices {@code s0 - i}: returns {hh, h*phi_1, B(h)} and fills
     * {@code rks} (order entries, the last 1) and {@code b} (order entries).
     */
    private double[] system(int t, int s0, int order, double[] rks, double[] b) {
        double l0 = lambdaOf(sigmas[s0]);
        double h = lambdaOf(sigmas[t]) - l0;
        for (int i = 1; i < order; i++) {
            rks[i - 1] = (lambdaOf(sigmas[s0 - i]) - l0) / h;
        }
        rks[order - 1] = 1.0;
        double hh = predictX0 ? -h : h;
        double hPhi1 = Math.expm1(hh);
        double hPhiK = hPhi1 / hh - 1;
        double bh = bh2 ? Math.expm1(hh) : hh;
        double factorial = 1;
        for (int i = 1; i <= order; i++) {
            b[i - 1] = hPhiK * factorial / bh;
            factorial *= i + 1;
            hPhiK = hPhiK / hh - 1 / factorial;
        }
        return new double[] {hh, hPhi1, bh};
    }

    /** Solves R rho = b for R[i][j] = rks[j]^i (n x n), by Gaussian elimination with partial pivoting. */
    static double[] solveVandermonde(double[] rks, double[] b, int n) {
        double[][] a = new double[n][n + 1];
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < n; j++) {
                a[i][j] = Math.pow(rks[j], i);
            }
            a[i][n] = b[i];
        }
        for (int c = 0; c < n; c++) {
            int piv = c;
            for (int r = c + 1; r < n; r++) {
                if (Math.abs(a[r][c]) > Math.abs(a[piv][c])) {
                    piv = r;
                }
            }
            double[] tmp = a[c];
            a[c] = a[piv];
            a[piv] = tmp;
            for (int r = c + 1; r < n; r++) {
                double f = a[r][c] / a[c][c];
                for (int k = c; k <= n; k++) {
                    a[r][k] -= f * a[c][k];
                }
            }
        }
        double[] x = new double[n];
        for (int r = n - 1; r >= 0; r--) {
            double s = a[r][n];
            for (int k = r + 1; k < n; k++) {
                s -= a[r][k] * x[k];
            }
            x[r] = s / a[r][r];
        }
        return x;
    }

    /** UniP: from the current sample at sigma index stepIndex to stepIndex + 1. */
    private float[] predictor(float[] x, int order) {
        int s0 = stepIndex;
        double[] rks = new double[order];
        double[] b = new double[order];
        double[] c = system(s0 + 1, s0, order, rks, b);
        double[] rhos = order == 2 ? new double[] {0.5} : order > 2 ? solveVandermonde(rks, b, order - 1) : new double[0];
        return update(x, s0 + 1, s0, order, rks, rhos, c, null, 0);
    }

    /** UniC: corrects the sample at stepIndex (predicted from stepIndex - 1) with the new model output. */
    private float[] corrector(float[] modelT, float[] last, int order) {
        int s0 = stepIndex - 1;
        double[] rks = new double[order];
        double[] b = new double[order];
        double[] c = system(stepIndex, s0, order, rks, b);
        double[] rhos = order == 1 ? new double[] {0.5} : solveVandermonde(rks, b, order);
        return update(last, stepIndex, s0, order, rks, rhos, c, modelT, rhos[rhos.length - 1]);
    }

    /**
     * {@code x_t = cx * x - cm * m0 - cr * (sum_k rhos[k] * D1_k + rhoT * (modelT - m0))} with
     * {@code D1_k = (m_k - m0) / rks[k]}; m0 is the newest stored output.
     */
    private float[] update(float[] x, int t, int s0, int order, double[] rks, double[] rhos, double[] c,
            float[] modelT, double rhoT) {
        double sT = sigmas[t];
        double sS = sigmas[s0];
        double aT = alphaOf(sT);
        double cx = predictX0 ? sigmaTOf(sT) / sigmaTOf(sS) : aT / alphaOf(sS);
        double scale = predictX0 ? aT : sigmaTOf(sT);
        double cm = scale * c[1];
        double cr = scale * c[2];
        float[] m0 = modelOutputs[solverOrder - 1];
        int hist = order - 1;
        float[][] mk = new float[hist][];
        double[] rho = new double[hist];
        for (int k = 0; k < hist; k++) {
            mk[k] = modelOutputs[solverOrder - 2 - k];
            rho[k] = rhos[k] / rks[k];
        }
        float[] out = new float[x.length];
        for (int i = 0; i < x.length; i++) {
            double res = 0;
            for (int k = 0; k < hist; k++) {
                res += rho[k] * (mk[k][i] - m0[i]);
            }
            if (modelT != null) {
                res += rhoT * (modelT[i] - m0[i]);
            }
            out[i] = (float) (cx * x[i] - cm * m0[i] - cr * res);
        }
        return out;
    }
}
