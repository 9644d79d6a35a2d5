/** Safetensors through memory mapping, checkpoint layouts and key mapping. */
module dev.diffusion4j.weights {
    requires transitive dev.diffusion4j.tensor;
    requires com.fasterxml.jackson.jr.ob;
    exports dev.diffusion4j.weights;
}
