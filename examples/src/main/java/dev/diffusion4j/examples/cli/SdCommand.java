package dev.diffusion4j.examples.cli;

import dev.diffusion4j.tensor.cpu.VectorSupport;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** The {@code sd} command: entry point of {@code ./sd}. */
@Command(name = "sd", mixinStandardHelpOptions = true, version = "diffusion4j 0.1.0-SNAPSHOT",
        description = "diffusion4j: Stable Diffusion in pure Java.",
        subcommands = {GenerateCommand.class, InfoCommand.class, InspectCommand.class, TokenizeCommand.class,
                SelfCheckCommand.class})
public final class SdCommand implements Runnable {
    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(System.out);
    }

    /**
     * The command line with diffusion4j's error handling: a failing command prints one line ({@code sd: message})
     * and exits 1; bad options print one line and exit 2.
     */
    static CommandLine commandLine() {
        CommandLine cli = new CommandLine(new SdCommand());
        cli.setExecutionExceptionHandler((ex, cmd, parsed) -> {
            String msg = ex.getMessage() != null ? ex.getMessage() : ex.toString();
            cmd.getErr().println("sd: " + msg.lines().findFirst().orElse(msg));
            return 1;
        });
        cli.setParameterExceptionHandler((ex, args) -> {
            CommandLine cmd = ex.getCommandLine();
            cmd.getErr().println("sd: " + ex.getMessage() + " (see '" + cmd.getCommandSpec().qualifiedName() + " --help')");
            return 2;
        });
        return cli;
    }

    /** Runs the command line and exits with its status. */
    public static void main(String[] args) {
        if (!VectorSupport.available()) {
            System.err.println("sd: " + VectorSupport.MISSING_MESSAGE);
            System.exit(2);
        }
        System.exit(commandLine().execute(args));
    }
}
