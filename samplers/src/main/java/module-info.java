/** Schedulers, noise schedules and a PyTorch-compatible RNG; depends on tensors (and commons-math3 for LMS). */
module dev.diffusion4j.samplers {
    requires transitive dev.diffusion4j.tensor;
    requires commons.math3;
    exports dev.diffusion4j.samplers;
    exports dev.diffusion4j.samplers.kdiffusion;
}
