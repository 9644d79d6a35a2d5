package dev.diffusion4j.examples.cli;

import dev.diffusion4j.tensor.cpu.VectorSupport;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code sd} command: entry point of {@code ./sd}. */
@Command(name = "sd", mixinStandardHelpOptions = true, version = "diffusion4j 0.1.0-SNAPSHOT",
        description = "diffusion4j: Stable Diffusion in pure Java.",
        subcommands = {SelfCheckCommand.class, InspectCommand.class})
public final class SdCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /** Runs the command line and exits with its status. */
    public static void main(String[] args) {
        if (!VectorSupport.available()) {
            System.err.println("sd: " + VectorSupport.MISSING_MESSAGE);
            System.exit(2);
        }
        CommandLine cli = new CommandLine(new SdCommand());
        cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            cmd.getErr().println("sd: " + (ex.getMessage() != null ? ex.getMessage() : ex.toString()));
            return 1;
        });
        System.exit(cli.execute(args));
    }
}
