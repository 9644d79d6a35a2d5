/** Schedulers, noise schedules and a PyTorch-compatible RNG; depends on tensors only. */
module dev.diffusion4j.samplers {
    requires transitive dev.diffusion4j.tensor;
    exports dev.diffusion4j.samplers;
}
