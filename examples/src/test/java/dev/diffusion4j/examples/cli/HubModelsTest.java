package dev.diffusion4j.examples.cli;

import static dev.diffusion4j.examples.cli.CliTests.fixtures;
import static dev.diffusion4j.examples.cli.CliTests.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.examples.cli.CliTests.Run;
import dev.diffusion4j.weights.HuggingFaceHub;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import java.util.function.Supplier;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code sd generate|tokenize|inspect} with a repo id, against the fixtures served as a Hub on 127.0.0.1. */
@Timeout(value = 120, unit = TimeUnit.SECONDS)
class HubModelsTest {
    @TempDir
    Path tmp;
    FolderHub hub;
    Supplier<HuggingFaceHub> saved;

    private HuggingFaceHub hubAt(String endpoint) {
        return HuggingFaceHub.fromEnvironment().withCacheDir(tmp.resolve("hf")).withEndpoint(endpoint).withToken(null)
                .withOffline(false).withTimeout(Duration.ofSeconds(10));
    }

    @BeforeEach
    void start() throws IOException {
        hub = new FolderHub();
        saved = HubModels.hub;
        HubModels.hub = () -> hubAt(hub.endpoint());
    }

    @AfterEach
    void stop() {
        HubModels.hub = saved;
        hub.close();
    }

    @Test
    void generateFromARepoIdMatchesTheLocalFolder() throws Exception {
        Path f = fixtures();
        hub.repos.put("acme/tiny-sd", f.resolve("models/tiny-sd"));
        String[] common = {"--prompt", "a photograph of an astronaut riding a horse", "--seed", "42", "--steps", "3",
            "--width", "64", "--height", "64"};
        Path fromHub = tmp.resolve("hub.png");
        Path local = tmp.resolve("local.png");
        Run r = run(concat(new String[] {"generate", "--model", "acme/tiny-sd", "--output", fromHub.toString()}, common));
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("sd: downloading unet/diffusion_pytorch_model.safetensors"), r.err());
        Path snap = tmp.resolve("hf/models--acme--tiny-sd/snapshots/" + FolderHub.COMMIT);
        assertTrue(Files.isSymbolicLink(snap.resolve("unet/diffusion_pytorch_model.safetensors")));
        assertFalse(Files.exists(snap.resolve("unet/diffusion_pytorch_model.fp16.safetensors")), "no variant asked");
        assertEquals(FolderHub.COMMIT, Files.readString(tmp.resolve("hf/models--acme--tiny-sd/refs/main")));
        assertEquals("tiny-sd", dev.diffusion4j.core.GenerationParameters.parse(
                dev.diffusion4j.core.PngFiles.readParameters(fromHub)).fields().get("Model"), "named after the repo, not the commit");
        Run l = run(concat(new String[] {"generate", "--model", f.resolve("models/tiny-sd").toString(), "--output",
            local.toString()}, common));
        assertEquals(0, l.exit(), l.err());
        BufferedImage a = ImageIO.read(fromHub.toFile());
        BufferedImage b = ImageIO.read(local.toFile());
        for (int y = 0; y < a.getHeight(); y++) {
            for (int x = 0; x < a.getWidth(); x++) {
                assertEquals(b.getRGB(x, y), a.getRGB(x, y), "pixel " + x + "," + y);
            }
        }

        // Second run: from the cache, only the model info is asked for, nothing is downloaded.
        int before = hub.seen.size();
        Run again = run(concat(new String[] {"generate", "--model", "acme/tiny-sd", "--output", fromHub.toString()}, common));
        assertEquals(0, again.exit(), again.err());
        assertFalse(again.err().contains("downloading"), again.err());
        assertEquals(1, hub.seen.size() - before, hub.seen.subList(before, hub.seen.size()).toString());
    }

    @Test
    void tokenizeAndInspectTakeARepoId() {
        Path f = fixtures();
        hub.repos.put("acme/tiny-sd", f.resolve("models/tiny-sd"));
        Run t = run("tokenize", "--model", "acme/tiny-sd", "a photograph of an astronaut riding a horse");
        assertEquals(0, t.exit(), t.err());
        assertTrue(t.out().contains("ids:    320 8853 539 550 18376 6765 320 4558"), t.out());
        assertTrue(hub.seen.stream().noneMatch(s -> s.contains("/unet/")), "tokenize fetches only the tokenizer");

        Run i = run("inspect", "--variant", "fp16", "acme/tiny-sd");
        assertEquals(0, i.exit(), i.err());
        assertTrue(i.out().contains("tensors: "), i.out());
        Path snap = tmp.resolve("hf/models--acme--tiny-sd/snapshots/" + FolderHub.COMMIT);
        assertTrue(Files.exists(snap.resolve("unet/diffusion_pytorch_model.fp16.safetensors")));
        assertFalse(Files.exists(snap.resolve("unet/diffusion_pytorch_model.safetensors")), "fp16 asked: plain not fetched");
        assertFalse(Files.exists(snap.resolve("unet/diffusion_pytorch_model.bf16.safetensors")));
    }

    @Test
    void aSingleFileGetsItsTokenizerFromTheHubOnce() throws Exception {
        Path f = fixtures();
        hub.repos.put("openai/clip-vit-large-patch14", f.resolve("models/tiny-sd/tokenizer"));
        // The component configs without a tokenizer/, as a single file's --config folder may be.
        Path config = tmp.resolve("config");
        for (String c : new String[] {"text_encoder/config.json", "unet/config.json", "vae/config.json",
            "scheduler/scheduler_config.json"}) {
            Files.createDirectories(config.resolve(c).getParent());
            Files.copy(f.resolve("models/tiny-sd").resolve(c), config.resolve(c));
        }
        Path out = tmp.resolve("single.png");
        Run r = run("generate", "--model", f.resolve("single_file/tiny-sd-v1.safetensors").toString(), "--prompt", "a cat",
                "--config", config.toString(),
                "--seed", "1", "--steps", "2", "--width", "64", "--height", "64", "--output", out.toString());
        assertEquals(0, r.exit(), r.err());
        assertTrue(r.err().contains("downloading vocab.json"), r.err());
        Path snap = tmp.resolve("hf/models--openai--clip-vit-large-patch14/snapshots/" + FolderHub.COMMIT);
        assertTrue(Files.isRegularFile(snap.resolve("merges.txt")));
        assertTrue(Files.isRegularFile(out));

        int before = hub.seen.size();
        Run again = run("generate", "--model", f.resolve("single_file/tiny-sd-v1.safetensors").toString(), "--prompt",
                "a cat", "--config", config.toString(), "--seed", "1", "--steps", "1", "--width", "64", "--height", "64", "--output", out.toString());
        assertEquals(0, again.exit(), again.err());
        assertEquals(before, hub.seen.size(), "the cached tokenizer is used without asking the Hub");
    }

    @Test
    void offlineIsOneClearLine() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        HubModels.hub = () -> hubAt("http://127.0.0.1:" + port);
        Path out = tmp.resolve("never.png");
        Run r = run("generate", "--model", "acme/tiny-sd", "--prompt", "x", "--output", out.toString());
        assertEquals(1, r.exit());
        String line = r.err().strip();
        assertFalse(line.contains("\n"), line);
        assertTrue(line.startsWith("sd: cannot reach http://127.0.0.1:" + port + " for acme/tiny-sd (cannot connect"), line);
        assertTrue(line.contains(tmp.resolve("hf/models--acme--tiny-sd").toString()), line);
        assertTrue(line.contains("huggingface-cli download acme/tiny-sd"), line);
        assertFalse(Files.exists(out));
        Run t = run("tokenize", "--model", "acme/tiny-sd", "x");
        assertEquals(1, t.exit());
        assertTrue(t.err().startsWith("sd: cannot reach"), t.err());
    }

    @Test
    void anUnknownRepoAlsoSaysThereIsNoSuchLocalPath() {
        Run r = run("generate", "--model", "models/tny-sd", "--prompt", "x", "--output", tmp.resolve("n.png").toString());
        assertEquals(1, r.exit());
        String line = r.err().strip();
        assertFalse(line.contains("\n"), line);
        assertTrue(line.startsWith("sd: no local file or folder ") && line.contains("models/tny-sd"), line);
        assertTrue(line.contains("the Hub refused models/tny-sd"), line);
    }

    private static String[] concat(String[] a, String[] b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
