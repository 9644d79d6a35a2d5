package dev.diffusion4j.weights;

/** How the weights of a model are laid out on disk. */
public enum CheckpointLayout {
    /** A diffusers folder: {@code model_index.json} and one sub-folder per component. */
    DIFFUSERS_FOLDER("diffusers folder"),
    /** One diffusers component folder ({@code config.json} and its weights), e.g. a lone {@code unet/}. */
    DIFFUSERS_COMPONENT("diffusers component folder"),
    /** One CompVis/A1111 file holding every component ({@code model.diffusion_model.*}, ...). */
    SINGLE_FILE("single-file checkpoint (CompVis/A1111 names)"),
    /** A safetensors file of no known checkpoint layout (tensors are listed, nothing is mapped). */
    PLAIN("plain safetensors file (no checkpoint layout recognised)");

    private final String label;

    CheckpointLayout(String label) {
        this.label = label;
    }

    /** A short human-readable description. */
    public String label() {
        return label;
    }
}
