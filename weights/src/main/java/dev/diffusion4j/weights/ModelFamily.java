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
    SDXL("SDXL", false),
    /** Stable Diffusion XL inpainting. */
    SDXL_INPAINT("SDXL inpainting", false),
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
