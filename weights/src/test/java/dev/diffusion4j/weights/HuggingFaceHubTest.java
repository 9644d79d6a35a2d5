package dev.diffusion4j.weights;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.net.InetAddress;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@link HuggingFaceHub} against {@link FakeHub} on 127.0.0.1: nothing here leaves the loopback interface. */
@Timeout(value = 60, unit = TimeUnit.SECONDS)
class HuggingFaceHubTest {
    static final String REPO = "acme/tiny-sd";
    static final String COMMIT = "0123456789abcdef0123456789abcdef01234567";
    static final String MODEL_INDEX = """
            {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.30.0",
             "feature_extractor": ["transformers", "CLIPImageProcessor"],
             "safety_checker": ["stable_diffusion", "StableDiffusionSafetyChecker"],
             "scheduler": ["diffusers", "PNDMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"], "image_encoder": [null, null], "requires_safety_checker": true}
            """;

    @TempDir
    Path dir;
    FakeHub hub;
    byte[] unet;
    byte[] unetFp16;
    final List<String> events = Collections.synchronizedList(new ArrayList<>());

    @BeforeEach
    void start() throws IOException {
        hub = new FakeHub();
        Random rnd = new Random(7);
        unet = new byte[3_000_000];
        rnd.nextBytes(unet);
        unetFp16 = new byte[1_500_000];
        rnd.nextBytes(unetFp16);
        FakeHub.Repo r = new FakeHub.Repo(COMMIT)
                .file("model_index.json", MODEL_INDEX)
                .file("README.md", "# tiny")
                .lfsFile("v1-5-pruned.ckpt", new byte[] {1, 2, 3})
                .lfsFile("v1-5-pruned-emaonly.safetensors", new byte[] {4, 5, 6})
                .file("feature_extractor/preprocessor_config.json", "{}")
                .file("safety_checker/config.json", "{\"sc\": 1}")
                .lfsFile("safety_checker/model.safetensors", new byte[] {9, 9, 9})
                .file("scheduler/scheduler_config.json", "{\"_class_name\": \"PNDMScheduler\"}")
                .file("text_encoder/config.json", "{\"hidden_size\": 32}")
                .lfsFile("text_encoder/model.safetensors", new byte[] {7, 7, 7, 7})
                .lfsFile("text_encoder/pytorch_model.bin", new byte[] {8})
                .file("tokenizer/vocab.json", "{\"a</w>\": 0}")
                .file("tokenizer/merges.txt", "#version: 0.2\n")
                .file("tokenizer/tokenizer_config.json", "{}")
                .file("unet/config.json", "{\"sample_size\": 8}")
                .lfsFile("unet/diffusion_pytorch_model.safetensors", unet)
                .lfsFile("unet/diffusion_pytorch_model.fp16.safetensors", unetFp16)
                .lfsFile("unet/diffusion_pytorch_model.bin", new byte[] {1})
                .file("vae/config.json", "{\"latent_channels\": 4}")
                .lfsFile("vae/diffusion_pytorch_model.safetensors", new byte[] {5, 5});
        hub.repos.put(REPO, r);
    }

    @AfterEach
    void stop() {
        hub.close();
    }

    HuggingFaceHub client() {
        return HuggingFaceHub.fromEnvironment().withCacheDir(dir.resolve("hub")).withEndpoint(hub.endpoint())
                .withToken(null).withOffline(false).withTimeout(Duration.ofSeconds(10))
                .withListener(new HubDownloadListener() {
                    @Override
                    public void started(String file, long size, long resumedFrom) {
                        events.add("start " + file + " " + size + " " + resumedFrom);
                    }

                    @Override
                    public void finished(String file, long size) {
                        events.add("done " + file + " " + size);
                    }

                    @Override
                    public void note(String message) {
                        events.add("note " + message);
                    }
                });
    }

    /** A port nothing listens on: bound, then closed. */
    static int deadPort() throws IOException {
        try (ServerSocket s = new ServerSocket(0, 1, InetAddress.getLoopbackAddress())) {
            return s.getLocalPort();
        }
    }

    @Test
    void pipelineFilesTakeConfigsTokenizerAndSafetensorsOnly() {
        List<String> files = new ArrayList<>(hub.repos.get(REPO).files.keySet());
        Map<String, Object> index = Map.of("unet", List.of("diffusers", "UNet2DConditionModel"),
                "text_encoder", List.of("transformers", "CLIPTextModel"), "tokenizer", List.of("transformers", "CLIPTokenizer"),
                "safety_checker", List.of("stable_diffusion", "StableDiffusionSafetyChecker"),
                "scheduler", List.of("diffusers", "PNDMScheduler"), "_class_name", "StableDiffusionPipeline");
        List<String> plain = HuggingFaceHub.pipelineFiles(files, index, null, Set.of("safety_checker"));
        assertEquals(List.of("model_index.json", "safety_checker/config.json", "scheduler/scheduler_config.json",
                "text_encoder/config.json", "tokenizer/vocab.json", "tokenizer/merges.txt", "tokenizer/tokenizer_config.json",
                "unet/config.json", "text_encoder/model.safetensors", "unet/diffusion_pytorch_model.safetensors"), plain,
                "no vae (not in this index), no pickles, no root checkpoints, no safety checker weights");
        List<String> fp16 = HuggingFaceHub.pipelineFiles(files, index, "fp16", Set.of());
        assertTrue(fp16.contains("unet/diffusion_pytorch_model.fp16.safetensors"), fp16.toString());
        assertFalse(fp16.contains("unet/diffusion_pytorch_model.safetensors"), "fp16 asked and present: only it");
        assertTrue(fp16.contains("text_encoder/model.safetensors"), "no fp16 there: the plain one");
        assertTrue(fp16.contains("safety_checker/model.safetensors"));
    }

    @Test
    void shardedAndVariantOnlyComponents() {
        List<String> files = List.of("model_index.json", "unet/config.json",
                "unet/diffusion_pytorch_model.safetensors.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
                "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
                "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
                "unet/diffusion_pytorch_model.bin.index.json",
                "vae/config.json", "vae/diffusion_pytorch_model.fp16.safetensors");
        Map<String, Object> index = Map.of("unet", List.of("diffusers", "UNet2DConditionModel"),
                "vae", List.of("diffusers", "AutoencoderKL"));
        assertEquals(List.of("model_index.json", "unet/config.json", "vae/config.json",
                "unet/diffusion_pytorch_model.safetensors.index.json",
                "unet/diffusion_pytorch_model-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model-00002-of-00002.safetensors",
                "vae/diffusion_pytorch_model.fp16.safetensors"),
                HuggingFaceHub.pipelineFiles(files, index, null, Set.of()));
        assertEquals(List.of("model_index.json", "unet/config.json", "vae/config.json",
                "unet/diffusion_pytorch_model.safetensors.index.fp16.json",
                "unet/diffusion_pytorch_model.fp16-00001-of-00002.safetensors",
                "unet/diffusion_pytorch_model.fp16-00002-of-00002.safetensors",
                "vae/diffusion_pytorch_model.fp16.safetensors"),
                HuggingFaceHub.pipelineFiles(files, index, "fp16", Set.of()));
    }

    @Test
    void downloadsAPipelineIntoTheHuggingFaceCacheLayout() throws IOException {
        Path snap = client().downloadPipeline(REPO, "main", null);
        Path repo = dir.resolve("hub/models--acme--tiny-sd");
        assertEquals(repo.resolve("snapshots").resolve(COMMIT), snap);
        assertEquals(COMMIT, Files.readString(repo.resolve("refs/main")), "refs/main holds the commit, no newline");
        Path unetLink = snap.resolve("unet/diffusion_pytorch_model.safetensors");
        assertTrue(Files.isSymbolicLink(unetLink));
        assertEquals(Path.of("../../../blobs/" + FakeHub.sha256(unet)), Files.readSymbolicLink(unetLink),
                "relative link into blobs/<sha256>, as huggingface_hub makes");
        assertArrayEquals(unet, Files.readAllBytes(unetLink));
        Path vocab = snap.resolve("tokenizer/vocab.json");
        assertEquals(Path.of("../../../blobs/" + FakeHub.gitBlobId("{\"a</w>\": 0}".getBytes(StandardCharsets.UTF_8))),
                Files.readSymbolicLink(vocab), "a small file's blob is named by its git blob id (the ETag)");
        assertEquals("{\"a</w>\": 0}", Files.readString(vocab));
        for (String absent : List.of("unet/diffusion_pytorch_model.bin", "unet/diffusion_pytorch_model.fp16.safetensors",
                "v1-5-pruned.ckpt", "v1-5-pruned-emaonly.safetensors", "safety_checker/model.safetensors", "README.md",
                "text_encoder/pytorch_model.bin")) {
            assertFalse(Files.exists(snap.resolve(absent)), absent);
            assertEquals(List.of(), hub.seen("GET", "/resolve/" + COMMIT + "/" + absent), absent + " was requested");
        }
        assertTrue(Files.isRegularFile(snap.resolve("safety_checker/config.json")));
        try (var s = Files.list(repo.resolve("blobs"))) {
            assertTrue(s.noneMatch(p -> p.toString().endsWith(".incomplete")));
        }
        assertTrue(events.contains("start unet/diffusion_pytorch_model.safetensors 3000000 0"), events.toString());
        assertTrue(events.contains("done unet/diffusion_pytorch_model.safetensors 3000000"), events.toString());

        // Again: everything comes from the cache, only the model info is asked for.
        int before = hub.seen.size();
        assertEquals(snap, client().downloadPipeline(REPO, "main", null));
        assertEquals(1, hub.seen.size() - before, hub.seen.subList(before, hub.seen.size()).toString());

        // The fp16 variant adds only its weights; the shared configs are not fetched again.
        before = hub.seen.size();
        client().downloadPipeline(REPO, "main", "fp16");
        assertArrayEquals(unetFp16, Files.readAllBytes(snap.resolve("unet/diffusion_pytorch_model.fp16.safetensors")));
        assertEquals(List.of(), hub.seen("HEAD", "/unet/config.json").stream().skip(1).toList());
        assertTrue(hub.seen.size() - before <= 4, "api + HEAD + GET (+ CDN hop) for one file");
    }

    @Test
    void anInterruptedDownloadResumesWithARangeRequest() throws IOException {
        String sha = FakeHub.sha256(unet);
        hub.cutOnce.put(sha, 1_000_000);
        Path snap = client().downloadPipeline(REPO, "main", null);
        assertArrayEquals(unet, Files.readAllBytes(snap.resolve("unet/diffusion_pytorch_model.safetensors")));
        List<FakeHub.Seen> gets = hub.seen("GET", "/cdn/" + sha);
        assertEquals(2, gets.size(), gets.toString());
        assertNull(gets.get(0).range());
        // The server cut after sending 1,000,000 bytes; the client resumes from what it actually received and wrote,
        // which TCP may leave a little short of that when the reset arrives.
        String range = gets.get(1).range();
        assertTrue(range != null && range.matches("bytes=\\d+-"), "a Range request: " + range);
        long from = Long.parseLong(range.substring("bytes=".length(), range.length() - 1));
        assertTrue(from > 0 && from <= 1_000_000, "resumed from " + from + ", not from the start nor past the cut");
        assertTrue(events.stream().anyMatch(e -> e.startsWith("note unet/diffusion_pytorch_model.safetensors: connection lost")),
                events.toString());
    }

    @Test
    void aStalledDownloadTimesOutAndResumes() throws IOException {
        String sha = FakeHub.sha256(unet);
        hub.stallOnce.put(sha, 700_000);
        long t0 = System.nanoTime();
        Path snap = client().withTimeout(Duration.ofMillis(800)).downloadPipeline(REPO, "main", null);
        assertArrayEquals(unet, Files.readAllBytes(snap.resolve("unet/diffusion_pytorch_model.safetensors")));
        assertTrue(System.nanoTime() - t0 < 15e9, "the stall was cut by the timeout, not waited out");
        List<FakeHub.Seen> gets = hub.seen("GET", "/cdn/" + sha);
        assertEquals(2, gets.size(), gets.toString());
        assertEquals("bytes=700000-", gets.get(1).range());
        assertTrue(events.stream().anyMatch(e -> e.contains("no data for")), events.toString());
    }

    @Test
    void anIncompleteFileFromAnEarlierRunIsResumed() throws IOException {
        String sha = FakeHub.sha256(unet);
        Path blobs = dir.resolve("hub/models--acme--tiny-sd/blobs");
        Files.createDirectories(blobs);
        Files.write(blobs.resolve(sha + ".incomplete"), java.util.Arrays.copyOf(unet, 2_500_000));
        Path snap = client().downloadPipeline(REPO, "main", null);
        assertArrayEquals(unet, Files.readAllBytes(snap.resolve("unet/diffusion_pytorch_model.safetensors")));
        List<FakeHub.Seen> gets = hub.seen("GET", "/cdn/" + sha);
        assertEquals(1, gets.size());
        assertEquals("bytes=2500000-", gets.get(0).range());
        assertTrue(events.contains("start unet/diffusion_pytorch_model.safetensors 3000000 2500000"), events.toString());
        assertFalse(Files.exists(blobs.resolve(sha + ".incomplete")));
    }

    @Test
    void aCorruptedDownloadFailsTheSha256CheckAndLeavesNoBlob() throws IOException {
        String sha = FakeHub.sha256(unet);
        byte[] bad = unet.clone();
        bad[123] ^= 1;
        hub.corrupt.put(sha, bad);
        IOException e = assertThrows(IOException.class, () -> client().downloadPipeline(REPO, "main", null));
        assertTrue(e.getMessage().contains("sha256"), e.getMessage());
        Path blobs = dir.resolve("hub/models--acme--tiny-sd/blobs");
        assertFalse(Files.exists(blobs.resolve(sha)));
        assertFalse(Files.exists(blobs.resolve(sha + ".incomplete")));
    }

    @Test
    void aGatedRepoNeedsTheTokenWhichGoesOnlyToTheHub() throws IOException {
        hub.repos.get(REPO).token = "hf_secret";
        HuggingFaceHub.AccessException e = assertThrows(HuggingFaceHub.AccessException.class,
                () -> client().downloadPipeline(REPO, "main", null));
        assertEquals(401, e.status());
        assertTrue(e.getMessage().contains("HF_TOKEN") && e.getMessage().contains(REPO), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));

        Path snap = client().withToken("hf_secret").downloadPipeline(REPO, "main", null);
        assertArrayEquals(unet, Files.readAllBytes(snap.resolve("unet/diffusion_pytorch_model.safetensors")));
        assertTrue(hub.seen("GET", "/api/models/").stream().anyMatch(s -> "Bearer hf_secret".equals(s.authorization())));

        HuggingFaceHub.AccessException wrong = assertThrows(HuggingFaceHub.AccessException.class,
                () -> client().withToken("hf_wrong").info(REPO, "main"));
        assertTrue(wrong.getMessage().contains("has no access"), wrong.getMessage());
    }

    @Test
    void connectionRefusedGivesOneClearOfflineLine() throws IOException {
        HuggingFaceHub c = client().withEndpoint("http://127.0.0.1:" + deadPort());
        HuggingFaceHub.OfflineException e = assertThrows(HuggingFaceHub.OfflineException.class,
                () -> c.downloadPipeline(REPO, "main", null));
        String m = e.getMessage();
        assertFalse(m.contains("\n"), m);
        assertTrue(m.contains(REPO), m);
        assertTrue(m.contains(dir.resolve("hub/models--acme--tiny-sd").toString()), m);
        assertTrue(m.contains("huggingface-cli download " + REPO), m);
        assertTrue(m.contains("(cannot connect"), m);

        HuggingFaceHub.OfflineException tok = assertThrows(HuggingFaceHub.OfflineException.class,
                () -> c.download("openai/clip-vit-large-patch14", "main", List.of("vocab.json", "merges.txt")));
        assertTrue(tok.getMessage().contains("vocab.json, merges.txt"), tok.getMessage());
    }

    @Test
    void aRenamedRepoIsFollowedAndCachedUnderTheNameAskedFor() throws IOException {
        hub.renamed.put("acme/old-name", REPO);
        Path snap = client().downloadPipeline("acme/old-name", "main", null);
        assertEquals(dir.resolve("hub/models--acme--old-name/snapshots/" + COMMIT), snap);
        assertArrayEquals(unet, Files.readAllBytes(snap.resolve("unet/diffusion_pytorch_model.safetensors")));
    }

    @Test
    void aHubThatNeverAnswersIsOfflineAfterTheTimeout() throws IOException {
        // Connections complete in the backlog but nobody reads or answers.
        try (ServerSocket silent = new ServerSocket(0, 8, InetAddress.getLoopbackAddress())) {
            HuggingFaceHub c = client().withEndpoint("http://127.0.0.1:" + silent.getLocalPort())
                    .withTimeout(Duration.ofMillis(500));
            long t0 = System.nanoTime();
            HuggingFaceHub.OfflineException e = assertThrows(HuggingFaceHub.OfflineException.class,
                    () -> c.downloadPipeline(REPO, "main", null));
            assertTrue(e.getMessage().contains("(no answer within 0.5 s)"), e.getMessage());
            assertTrue(System.nanoTime() - t0 < 10e9);
        }
    }

    @Test
    void networkFailuresAreNamedInWords() {
        Duration t = Duration.ofSeconds(30);
        java.net.ConnectException dns = new java.net.ConnectException();
        dns.initCause(new java.nio.channels.UnresolvedAddressException());
        assertEquals("DNS lookup of huggingface.co failed", HuggingFaceHub.unreachableReason(dns, "huggingface.co", t));
        assertEquals("DNS lookup of huggingface.co failed",
                HuggingFaceHub.unreachableReason(new java.net.UnknownHostException("huggingface.co"), "huggingface.co", t));
        assertEquals("no answer within 30.0 s", HuggingFaceHub.unreachableReason(
                new java.net.http.HttpConnectTimeoutException("HTTP connect timed out"), "h", t));
        assertEquals("cannot connect", HuggingFaceHub.unreachableReason(new java.net.ConnectException(), "h", t));
        assertNull(HuggingFaceHub.unreachableReason(new IOException("HTTP/1.1 header parser received no bytes"), "h", t));
    }

    @Test
    void offlineTheCachedSnapshotIsUsed() throws IOException {
        Path snap = client().downloadPipeline(REPO, "main", null);
        HuggingFaceHub dead = client().withEndpoint("http://127.0.0.1:" + deadPort());
        assertEquals(snap, dead.downloadPipeline(REPO, "main", null));
        assertTrue(events.stream().anyMatch(e -> e.startsWith("note offline (cannot connect")), events.toString());
        int before = hub.seen.size();
        assertEquals(snap, client().withOffline(true).download(REPO, "main", List.of("tokenizer/vocab.json")));
        assertEquals(before, hub.seen.size(), "HF_HUB_OFFLINE: no request");
        assertThrows(HuggingFaceHub.OfflineException.class,
                () -> client().withOffline(true).download(REPO, "main", List.of("tokenizer/special_tokens_map.json")));

        // A snapshot whose weights never arrived (a download cut short) is not passed off as complete.
        Files.delete(snap.resolve("unet/diffusion_pytorch_model.safetensors"));
        HuggingFaceHub.OfflineException cut = assertThrows(HuggingFaceHub.OfflineException.class,
                () -> client().withOffline(true).downloadPipeline(REPO, "main", null));
        assertTrue(cut.getMessage().contains("(unet/*.safetensors)") && cut.getMessage().contains("HF_HUB_OFFLINE"),
                cut.getMessage());
    }

    @Test
    void aCacheMadeByPythonIsReused() throws IOException {
        // What huggingface_hub leaves: blobs, relative symlinks, refs/main.
        Path repo = dir.resolve("hub/models--openai--clip-vit-large-patch14");
        String commit = "32bd64288804d66eefd0ccbe215aa642df71cc41";
        Files.createDirectories(repo.resolve("blobs"));
        Files.createDirectories(repo.resolve("refs"));
        Files.createDirectories(repo.resolve("snapshots/" + commit));
        Files.writeString(repo.resolve("blobs/aaa"), "{\"v\": 1}");
        Files.writeString(repo.resolve("blobs/bbb"), "#version: 0.2\n");
        Files.createSymbolicLink(repo.resolve("snapshots/" + commit + "/vocab.json"), Path.of("../../blobs/aaa"));
        Files.createSymbolicLink(repo.resolve("snapshots/" + commit + "/merges.txt"), Path.of("../../blobs/bbb"));
        Files.writeString(repo.resolve("refs/main"), commit);
        HuggingFaceHub dead = client().withEndpoint("http://127.0.0.1:" + deadPort());
        Path snap = dead.download("openai/clip-vit-large-patch14", "main", List.of("vocab.json", "merges.txt"));
        assertEquals(repo.resolve("snapshots/" + commit), snap);
        assertEquals("{\"v\": 1}", Files.readString(snap.resolve("vocab.json")));
        assertEquals(snap, dead.cachedSnapshot("openai/clip-vit-large-patch14", commit).orElseThrow());
    }

    @Test
    void aTokenizerComesFromAPipelineRepoOrARootTokenizerRepo() throws IOException {
        Path tok = client().downloadTokenizer(REPO, "main");
        assertEquals(dir.resolve("hub/models--acme--tiny-sd/snapshots/" + COMMIT + "/tokenizer"), tok);
        assertEquals("#version: 0.2\n", Files.readString(tok.resolve("merges.txt")));
        assertTrue(Files.isRegularFile(tok.resolve("tokenizer_config.json")));
        assertFalse(Files.exists(tok.resolve("special_tokens_map.json")), "not in the repo, not asked for");
        assertEquals(List.of(), hub.seen("GET", "/unet/"), "only the tokenizer");

        String clipCommit = "32bd64288804d66eefd0ccbe215aa642df71cc41";
        hub.repos.put("openai/clip-vit-large-patch14", new FakeHub.Repo(clipCommit).file("vocab.json", "{\"v\": 2}")
                .file("merges.txt", "#version: 0.2\na b\n").file("config.json", "{}")
                .lfsFile("model.safetensors", new byte[] {1}).lfsFile("pytorch_model.bin", new byte[] {2}));
        Path clip = client().downloadTokenizer("openai/clip-vit-large-patch14", "main");
        assertEquals(dir.resolve("hub/models--openai--clip-vit-large-patch14/snapshots/" + clipCommit), clip);
        assertEquals("{\"v\": 2}", Files.readString(clip.resolve("vocab.json")));
        assertFalse(Files.exists(clip.resolve("model.safetensors")));
        HuggingFaceHub dead = client().withEndpoint("http://127.0.0.1:" + deadPort());
        assertEquals(clip, dead.downloadTokenizer("openai/clip-vit-large-patch14", "main"), "offline: the cached one");
        assertThrows(HuggingFaceHub.OfflineException.class, () -> dead.downloadTokenizer("acme/other", "main"));
    }

    @Test
    void unknownRepoAndFileAreNamed() {
        HuggingFaceHub.AccessException e = assertThrows(HuggingFaceHub.AccessException.class,
                () -> client().downloadPipeline("acme/nope", "main", null));
        assertTrue(e.getMessage().contains("acme/nope"), e.getMessage());
        IOException f = assertThrows(IOException.class, () -> client().download(REPO, "main", List.of("nope.json")));
        assertTrue(f.getMessage().contains("nope.json"), f.getMessage());
        assertThrows(IllegalArgumentException.class, () -> client().repoFolder("not a repo"));
        assertThrows(IllegalArgumentException.class, () -> client().download(REPO, "main", List.of("../../etc/passwd")));
        assertTrue(HuggingFaceHub.looksLikeRepoId("stable-diffusion-v1-5/stable-diffusion-v1-5"));
        assertFalse(HuggingFaceHub.looksLikeRepoId("/abs/path"));
        assertFalse(HuggingFaceHub.looksLikeRepoId("model.safetensors"));
        assertFalse(HuggingFaceHub.looksLikeRepoId("a/b/c"));
    }

    @Test
    void consoleProgressShowsBytesRateAndEta() {
        assertEquals("unet/x.safetensors  12.0/112.0 MB  10.0 MB/s  ETA 10s",
                HubDownloadListener.line("unet/x.safetensors", 12_000_000, 112_000_000, 10e6));
        assertEquals("f  1.0 MB", HubDownloadListener.line("f", 1_000_000, -1, 0));
        assertEquals("3m05s", HubDownloadListener.duration(185));
        assertEquals("1h02m", HubDownloadListener.duration(3725));
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        AtomicLong now = new AtomicLong();
        HubDownloadListener c = new HubDownloadListener.Console(new java.io.PrintWriter(new PrintStream(bytes, true, StandardCharsets.UTF_8), true), "sd: ", false,
                1000, now::get);
        c.started("f", 100_000_000, 0);
        now.set(500_000_000L);
        c.progress("f", 5_000_000, 100_000_000); // within the interval: no line
        now.set(2_000_000_000L);
        c.progress("f", 20_000_000, 100_000_000);
        c.finished("f", 100_000_000);
        String out = bytes.toString(StandardCharsets.UTF_8);
        assertEquals("sd: downloading f (100.0 MB)\nsd: f  20.0/100.0 MB  10.0 MB/s  ETA 8s\nsd: f  100.0/100.0 MB  50.0 MB/s  ETA 0s\n",
                out.replace(System.lineSeparator(), "\n"));
    }
}
