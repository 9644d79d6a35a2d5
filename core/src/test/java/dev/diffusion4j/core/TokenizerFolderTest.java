package dev.diffusion4j.core;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.diffusion4j.weights.HuggingFaceHub;
import java.io.IOException;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Where a single-file checkpoint's tokenizer comes from; the Hub here is a closed port on 127.0.0.1. */
@Timeout(value = 30, unit = TimeUnit.SECONDS)
class TokenizerFolderTest {
    @TempDir
    Path dir;

    private HuggingFaceHub deadHub() throws IOException {
        int port;
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            port = s.getLocalPort();
        }
        return HuggingFaceHub.fromEnvironment().withCacheDir(dir.resolve("hub")).withEndpoint("http://127.0.0.1:" + port)
                .withOffline(false).withToken(null).withTimeout(Duration.ofSeconds(5));
    }

    @Test
    void explicitThenTheModelsOwnThenTheCache() throws IOException {
        Path model = dir.resolve("model.safetensors");
        Files.writeString(model, "");
        Path explicit = dir.resolve("tok");
        assertEquals(explicit, StableDiffusion.tokenizerFolder(model, explicit, deadHub()));

        Path folder = dir.resolve("diffusers");
        Files.createDirectories(folder.resolve("tokenizer"));
        Files.writeString(folder.resolve("tokenizer/vocab.json"), "{}");
        assertEquals(folder.resolve("tokenizer"), StableDiffusion.tokenizerFolder(folder, null, deadHub()));

        // A snapshot as huggingface_hub leaves it (symlinks into blobs/) is used without asking the Hub.
        Path repo = dir.resolve("hub/models--openai--clip-vit-large-patch14");
        Path snap = repo.resolve("snapshots/32bd64288804d66eefd0ccbe215aa642df71cc41");
        Files.createDirectories(snap);
        Files.createDirectories(repo.resolve("blobs"));
        Files.writeString(repo.resolve("blobs/v"), "{}");
        Files.writeString(repo.resolve("blobs/m"), "#version: 0.2\n");
        Files.createSymbolicLink(snap.resolve("vocab.json"), Path.of("../../blobs/v"));
        Files.createSymbolicLink(snap.resolve("merges.txt"), Path.of("../../blobs/m"));
        assertEquals(snap, StableDiffusion.tokenizerFolder(model, null, deadHub()));
    }

    @Test
    void aCacheSnapshotIsNamedAfterItsRepo() {
        assertEquals("stable-diffusion-v1-5", StableDiffusion.displayName(
                dir.resolve("hub/models--stable-diffusion-v1-5--stable-diffusion-v1-5/snapshots/451f4fe16113bff5a5d2269ed5ad43b0592e9a14")));
        assertEquals("v1-5-pruned-emaonly", StableDiffusion.displayName(dir.resolve("v1-5-pruned-emaonly.safetensors")));
        assertEquals("tiny-sd", StableDiffusion.displayName(dir.resolve("tiny-sd")));
    }

    @Test
    void offlineWithoutACachedCopySaysWhichFilesAndWhere() throws IOException {
        Path model = dir.resolve("model.safetensors");
        Files.writeString(model, "");
        IOException e = assertThrows(IOException.class, () -> StableDiffusion.tokenizerFolder(model, null, deadHub()));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.contains("vocab.json and merges.txt"), m);
        assertTrue(m.contains(dir.resolve("hub/models--openai--clip-vit-large-patch14/snapshots").toString()), m);
        assertTrue(m.contains("--tokenizer"), m);
        assertTrue(m.contains("cannot connect"), m);
    }
}
