/** Safetensors through memory mapping, checkpoint layouts and key mapping. */
module dev.diffusion4j.weights {
    requires transitive dev.diffusion4j.tensor;
    requires com.fasterxml.jackson.jr.ob;
    requires java.net.http;
    exports dev.diffusion4j.weights;
}
