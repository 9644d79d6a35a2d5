/** Pipelines: txt2img, img2img, inpainting, outpainting. */
module dev.diffusion4j.core {
    requires transitive dev.diffusion4j.nn;
    requires transitive dev.diffusion4j.samplers;
    requires transitive java.desktop;
    requires com.fasterxml.jackson.jr.ob;
    exports dev.diffusion4j.core;
}
