/** JMH benchmarks of diffusion4j, each reported as a fraction of the FMA peak measured in the same run. */
module dev.diffusion4j.benchmarks {
    requires dev.diffusion4j.core;
    requires jmh.core;
    requires com.fasterxml.jackson.jr.ob;
    requires java.management;
    requires jdk.management;
    exports dev.diffusion4j.benchmarks;
}
