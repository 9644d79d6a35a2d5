package dev.diffusion4j.weights;

/** The model family a checkpoint belongs to, recognised from its key names, shapes and configs. */
public enum ModelFamily {
    /** Stable Diffusion 1.x (CLIP ViT-L text encoder, 4-channel U-Net). */
    SD1("SD1.x", true),
    /** Stable Diffusion 1.x inpainting (9-channel U-Net input; same key names as SD1.x). */
    SD1_INPAINT("SD1.x inpainting", true),
    /** Stable Diffusion 2.x (OpenCLIP text encoder). */
    SD2("SD2.x", true),
    /** Stable Diffusion 2.x inpainting. */
    SD2_INPAINT("SD2.x inpainting", true),
    /** Stable Diffusion XL (two text encoders, added time/text embeddings). */
    SDXL("SDXL", true),
    /** Stable Diffusion XL inpainting. */
    SDXL_INPAINT("SDXL inpainting", false),
    /** Stable Diffusion 3 (MMDiT: {@code joint_blocks}); a different architecture, not supported. */
    SD3("SD3 (MMDiT)", false),
    /** Flux (DiT: {@code double_blocks}/{@code single_blocks}); a different architecture, not supported. */
    FLUX("Flux (DiT)", false),
    /** A LoRA file (an add-on: {@code sd generate --lora}, {@code StableDiffusion.withLoras}). */
    LORA("LoRA (add-on)", false),
    /** A ControlNet file (an add-on: {@code sd generate --controlnet}, {@code StableDiffusion.loadControlNet}). */
    CONTROLNET("ControlNet (add-on)", false),
    /** Not recognised. */
    UNKNOWN("unknown", false);

    private final String label;
    private final boolean supported;

    ModelFamily(String label, boolean supported) {
        this.label = label;
        this.supported = supported;
    }

    /** A short human-readable name. */
    public String label() {
        return label;
    }

    /** True when this engine can load it (key mapping and models). */
    public boolean supported() {
        return supported;
    }

    /**
     * True when single-file checkpoints of this family can be key-mapped (all supported families; SDXL single files
     * take their configs from a diffusers config folder).
     */
    public boolean singleFileSupported() {
        return supported;
    }

    /** The inpainting variant of this family. */
    ModelFamily inpainting() {
        return switch (this) {
            case SD1 -> SD1_INPAINT;
            case SD2 -> SD2_INPAINT;
            case SDXL -> SDXL_INPAINT;
            default -> this;
        };
    }
}
