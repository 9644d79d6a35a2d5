/** Layers and models built from their config: CLIP, the U-Net, the VAE. */
module dev.diffusion4j.nn {
    requires transitive dev.diffusion4j.tensor;
    requires transitive dev.diffusion4j.weights;
    requires com.fasterxml.jackson.jr.ob;
    exports dev.diffusion4j.nn;
    exports dev.diffusion4j.nn.clip;
    exports dev.diffusion4j.nn.controlnet;
    exports dev.diffusion4j.nn.layers;
    exports dev.diffusion4j.nn.unet;
    exports dev.diffusion4j.nn.vae;
}
