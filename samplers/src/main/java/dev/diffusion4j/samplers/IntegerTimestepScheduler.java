package dev.diffusion4j.samplers;

import dev.diffusion4j.tensor.Tensor;

/**
 * Schedulers on int64 timesteps whose initial noise has sigma 1 and whose model input is the sample unscaled: the
 * DDPM family (DDPM, DDIM, PNDM, LCM) and the DPM-Solver family.
 */
abstract class IntegerTimestepScheduler extends AbstractScheduler {
    IntegerTimestepScheduler(SchedulerConfig config) {
        super(config);
    }

    @Override
    public boolean integerTimesteps() {
        return true;
    }

    @Override
    public float initNoiseSigma() {
        return 1f;
    }

    @Override
    public Tensor scaleModelInput(Tensor sample, double t) {
        return sample.copy();
    }
}
