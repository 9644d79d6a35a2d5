/** The sd command line and small programs that show the API. */
module dev.diffusion4j.examples {
    requires dev.diffusion4j.core;
    requires info.picocli;
    requires java.management;
    opens dev.diffusion4j.examples.cli to info.picocli;
}
