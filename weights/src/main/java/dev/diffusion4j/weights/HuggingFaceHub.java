package dev.diffusion4j.weights;

import com.fasterxml.jackson.jr.ob.JSON;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.NoRouteToHostException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.UnknownHostException;
import java.net.http.HttpClient;
import java.net.http.HttpConnectTimeoutException;
import java.net.http.HttpHeaders;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.net.http.HttpTimeoutException;
import java.nio.channels.UnresolvedAddressException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Optional;
import java.util.Set;
import java.util.TreeMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Downloads model repos from the Hugging Face Hub into the cache that {@code huggingface_hub} uses, so files fetched
 * by Python tools are reused here and the other way round.
 *
 * <p>Cache layout ({@code $HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub}):
 * {@code models--{org}--{name}/blobs/<etag>} holds each file once under its etag (the sha256 of an LFS file, the git
 * blob id of a small one), {@code snapshots/<commit>/<path>} are relative symlinks to the blobs (copies where the file
 * system refuses symlinks), and {@code refs/<revision>} holds the commit a branch or tag pointed to. A download in
 * progress is {@code blobs/<etag>.incomplete} and is resumed with an HTTP {@code Range} request.
 *
 * <p>HTTP: {@code GET {endpoint}/api/models/{repo}/revision/{rev}} gives the commit ({@code sha}) and the file list
 * ({@code siblings}); {@code HEAD/GET {endpoint}/{repo}/resolve/{commit}/{path}} gives a file, LFS files through a
 * redirect to a CDN whose first response carries {@code X-Linked-Etag} and {@code X-Linked-Size}. The token
 * ({@code HF_TOKEN}, else {@code $HF_HOME/token}) is sent only to the endpoint's host, never to the CDN.
 *
 * <p>When the Hub cannot be reached (no network, DNS failure, timeout, connection refused, or {@code HF_HUB_OFFLINE=1})
 * the cached snapshot is used if there is one; else an {@link OfflineException} says, on one line, which repo, which
 * cache folder, and how to fill it by hand. Not done: the {@code .locks/} file locks huggingface_hub takes (Java's
 * POSIX record locks do not exclude Python's {@code flock}), Xet storage, datasets and spaces.
 */
public final class HuggingFaceHub {
    /** The public Hub. */
    public static final String DEFAULT_ENDPOINT = "https://huggingface.co";

    /** A file of a repo as the model info API lists it; {@code size} -1 and {@code sha256} null when not given. */
    public record RepoFile(String path, long size, String sha256) {
    }

    /** A repo at one commit: its files. */
    public record RepoInfo(String repoId, String commit, List<RepoFile> files) {
        /** The file paths. */
        public List<String> paths() {
            return files.stream().map(RepoFile::path).toList();
        }
    }

    /** The Hub cannot be reached and the cache does not have what is asked for. The message is one line. */
    public static final class OfflineException extends IOException {
        private static final long serialVersionUID = 1L;
        private final String reason;

        OfflineException(String message, String reason, Throwable cause) {
            super(message, cause);
            this.reason = reason;
        }

        /** Why the Hub could not be reached ("ConnectException", "HF_HUB_OFFLINE is set"). */
        public String reason() {
            return reason;
        }
    }

    /** The Hub refused access (401/403: a gated or private repo, a missing or wrong token) or the repo is unknown. */
    public static final class AccessException extends IOException {
        private static final long serialVersionUID = 1L;
        private final int status;

        AccessException(String message, int status) {
            super(message);
            this.status = status;
        }

        /** The HTTP status (401, 403 or 404). */
        public int status() {
            return status;
        }
    }

    private static final Pattern REPO_ID = Pattern.compile("[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*");
    private static final Pattern COMMIT = Pattern.compile("[0-9a-f]{40}");
    private static final Pattern SHA256 = Pattern.compile("[0-9a-f]{64}");
    /** {@code name.fp16.safetensors}, {@code name.fp16-00001-of-00002.safetensors}, {@code name.safetensors.index.fp16.json}. */
    private static final Pattern VARIANT = Pattern.compile(
            "[^/.]+\\.([A-Za-z0-9_]+)(?:-\\d+-of-\\d+)?\\.safetensors|[^/.]+\\.safetensors\\.index\\.([A-Za-z0-9_]+)\\.json");
    private static final int MAX_REDIRECTS = 5;
    private static final int ATTEMPTS = 3;
    /** Closes download bodies that stall; one daemon thread for all downloads. */
    private static final ScheduledExecutorService WATCHDOG = Executors.newSingleThreadScheduledExecutor(r -> {
        Thread t = new Thread(r, "hf-download-watchdog");
        t.setDaemon(true);
        return t;
    });

    private final Path cacheDir;
    private final URI endpoint;
    private final String token;
    private final boolean offline;
    private final Duration timeout;
    private final HttpClient client;
    private final HubDownloadListener listener;
    private final Set<String> skipWeightsOf;

    private HuggingFaceHub(Path cacheDir, URI endpoint, String token, boolean offline, Duration timeout,
            HubDownloadListener listener, Set<String> skipWeightsOf) {
        this.cacheDir = cacheDir;
        this.endpoint = endpoint;
        this.token = token == null || token.isBlank() ? null : token.strip();
        this.offline = offline;
        this.timeout = timeout;
        this.listener = listener;
        this.skipWeightsOf = Set.copyOf(skipWeightsOf);
        // Redirects are followed by hand: the first response carries the etag, and the token must not go to the CDN.
        this.client = HttpClient.newBuilder().connectTimeout(timeout).followRedirects(HttpClient.Redirect.NEVER).build();
    }

    /**
     * The Hub as the environment describes it: {@code HF_HUB_CACHE}/{@code HF_HOME}, {@code HF_ENDPOINT},
     * {@code HF_TOKEN} (else the token file), {@code HF_HUB_OFFLINE}; a 30 s connect/response timeout; no listener;
     * the safety checker's weights skipped (nothing here runs it).
     */
    public static HuggingFaceHub fromEnvironment() {
        String ep = System.getenv("HF_ENDPOINT");
        String off = System.getenv("HF_HUB_OFFLINE");
        return new HuggingFaceHub(defaultCacheDir(), URI.create(ep == null || ep.isBlank() ? DEFAULT_ENDPOINT : ep.strip()),
                defaultToken(), off != null && Set.of("1", "true", "yes", "on").contains(off.strip().toLowerCase(Locale.ROOT)),
                Duration.ofSeconds(30), HubDownloadListener.none(), Set.of("safety_checker"));
    }

    /** This hub with another cache folder. */
    public HuggingFaceHub withCacheDir(Path dir) {
        return new HuggingFaceHub(dir, endpoint, token, offline, timeout, listener, skipWeightsOf);
    }

    /** This hub with another endpoint ({@code http://127.0.0.1:port} in tests, a mirror). */
    public HuggingFaceHub withEndpoint(String url) {
        String u = url.endsWith("/") ? url.substring(0, url.length() - 1) : url;
        return new HuggingFaceHub(cacheDir, URI.create(u), token, offline, timeout, listener, skipWeightsOf);
    }

    /** This hub with another token (null for none). */
    public HuggingFaceHub withToken(String t) {
        return new HuggingFaceHub(cacheDir, endpoint, t, offline, timeout, listener, skipWeightsOf);
    }

    /** This hub in offline mode (cache only) or not. */
    public HuggingFaceHub withOffline(boolean off) {
        return new HuggingFaceHub(cacheDir, endpoint, token, off, timeout, listener, skipWeightsOf);
    }

    /** This hub with a connect and response-headers timeout. */
    public HuggingFaceHub withTimeout(Duration t) {
        return new HuggingFaceHub(cacheDir, endpoint, token, offline, t, listener, skipWeightsOf);
    }

    /** This hub reporting to {@code l}. */
    public HuggingFaceHub withListener(HubDownloadListener l) {
        return new HuggingFaceHub(cacheDir, endpoint, token, offline, timeout, l, skipWeightsOf);
    }

    /** The cache folder. */
    public Path cacheDir() {
        return cacheDir;
    }

    /** {@code $HF_HUB_CACHE}, else {@code $HF_HOME/hub}, else {@code ~/.cache/huggingface/hub}. */
    public static Path defaultCacheDir() {
        String hubCache = System.getenv("HF_HUB_CACHE");
        if (hubCache != null && !hubCache.isBlank()) {
            return Path.of(hubCache);
        }
        return hfHome().resolve("hub");
    }

    private static Path hfHome() {
        String hfHome = System.getenv("HF_HOME");
        if (hfHome != null && !hfHome.isBlank()) {
            return Path.of(hfHome);
        }
        return Path.of(System.getProperty("user.home"), ".cache", "huggingface");
    }

    /** {@code $HF_TOKEN}, else the file {@code $HF_TOKEN_PATH} or {@code $HF_HOME/token}, else null. */
    public static String defaultToken() {
        String t = System.getenv("HF_TOKEN");
        if (t != null && !t.isBlank()) {
            return t.strip();
        }
        String tp = System.getenv("HF_TOKEN_PATH");
        Path file = tp != null && !tp.isBlank() ? Path.of(tp) : hfHome().resolve("token");
        try {
            if (Files.isRegularFile(file)) {
                String s = Files.readString(file).strip();
                return s.isEmpty() ? null : s;
            }
        } catch (IOException e) {
            // An unreadable token file is the same as none: public repos still work, gated ones say what to do.
        }
        return null;
    }

    /** Whether {@code s} has the form of a repo id ({@code org/name}); the caller checks that no such local path exists. */
    public static boolean looksLikeRepoId(String s) {
        return s != null && REPO_ID.matcher(s).matches() && !s.contains("..");
    }

    /** The repo's cache folder, {@code models--org--name}. */
    public Path repoFolder(String repoId) {
        checkRepoId(repoId);
        return cacheDir.resolve("models--" + repoId.replace("/", "--"));
    }

    /** The cached snapshot folder of {@code revision} (a branch, tag or commit), if the cache has one. */
    public Optional<Path> cachedSnapshot(String repoId, String revision) throws IOException {
        Path repo = repoFolder(repoId);
        String commit = revision;
        if (!COMMIT.matcher(revision).matches()) {
            Path ref = repo.resolve("refs").resolve(revision);
            if (!Files.isRegularFile(ref)) {
                return Optional.empty();
            }
            commit = Files.readString(ref).strip();
        }
        Path snap = repo.resolve("snapshots").resolve(commit);
        return Files.isDirectory(snap) ? Optional.of(snap) : Optional.empty();
    }

    /**
     * The repo's commit and files at {@code revision} from {@code /api/models/{repo}/revision/{rev}}.
     *
     * @throws OfflineException the Hub cannot be reached
     * @throws AccessException 401/403/404
     */
    public RepoInfo info(String repoId, String revision) throws IOException {
        checkRepoId(repoId);
        if (offline) {
            throw offlineError(repoId, "HF_HUB_OFFLINE is set", null);
        }
        URI uri = URI.create(endpoint + "/api/models/" + repoId + "/revision/" + encode(revision));
        HttpResponse<byte[]> r = send(repoId, request(uri, "GET", -1), HttpResponse.BodyHandlers.ofByteArray());
        for (int hop = 0; hop < MAX_REDIRECTS && r.statusCode() >= 300 && r.statusCode() < 400; hop++) {
            // A renamed repo answers with a redirect to its new name on the same host.
            Optional<String> loc = r.headers().firstValue("Location");
            URI next = loc.isPresent() ? uri.resolve(loc.get()) : null;
            if (next == null || !sameHost(next)) {
                break;
            }
            uri = next;
            r = send(repoId, request(uri, "GET", -1), HttpResponse.BodyHandlers.ofByteArray());
        }
        checkStatus(repoId, revision, null, r.statusCode(), r.headers());
        Map<String, Object> json = JSON.std.mapFrom(new String(r.body(), StandardCharsets.UTF_8));
        if (!(json.get("sha") instanceof String sha) || !COMMIT.matcher(sha).matches()) {
            throw new IOException(uri + ": the model info has no commit sha");
        }
        List<RepoFile> files = new ArrayList<>();
        if (json.get("siblings") instanceof List<?> sibs) {
            for (Object o : sibs) {
                if (o instanceof Map<?, ?> m && m.get("rfilename") instanceof String name) {
                    long size = m.get("size") instanceof Number n ? n.longValue() : -1;
                    String sha256 = m.get("lfs") instanceof Map<?, ?> lfs && lfs.get("sha256") instanceof String s ? s : null;
                    files.add(new RepoFile(name, size, sha256));
                }
            }
        }
        return new RepoInfo(repoId, sha, List.copyOf(files));
    }

    /**
     * Downloads what a diffusers pipeline needs and returns its snapshot folder: {@code model_index.json}, every
     * component's configs and tokenizer files, and the {@code *.safetensors} weights (the {@code variant} ones, e.g.
     * "fp16", where the component has them) — never {@code .bin}/{@code .ckpt} pickles nor the single-file copies in
     * the repo root. Files already in the cache are not fetched again. Offline, the cached snapshot is returned when
     * it has {@code model_index.json}.
     */
    public Path downloadPipeline(String repoId, String revision, String variant) throws IOException {
        RepoInfo info;
        try {
            info = info(repoId, revision);
        } catch (OfflineException e) {
            Optional<Path> snap = cachedSnapshot(repoId, revision);
            if (snap.isPresent() && Files.isRegularFile(snap.get().resolve("model_index.json"))) {
                List<String> missing = missingWeights(snap.get());
                if (!missing.isEmpty()) {
                    throw offlineError(repoId, e.reason(), e.getCause(), missing);
                }
                listener.note("offline (" + e.reason() + "): using the cached snapshot " + snap.get());
                return snap.get();
            }
            throw e;
        }
        if (!info.paths().contains("model_index.json")) {
            List<String> st = info.paths().stream().filter(p -> p.endsWith(".safetensors")).toList();
            throw new IOException(repoId + " is not a diffusers pipeline (no model_index.json)"
                    + (st.isEmpty() ? "" : "; its safetensors files: " + String.join(", ", st)
                            + " (download one and pass its path)"));
        }
        Path snap = download(info, List.of("model_index.json"));
        Map<String, Object> index = JSON.std.mapFrom(Files.readString(snap.resolve("model_index.json")));
        download(info, pipelineFiles(info.paths(), index, variant, skipWeightsOf));
        writeRef(repoId, revision, info.commit());
        return snap;
    }

    /** The weight components of a cached pipeline snapshot with no safetensors file (an earlier download cut short). */
    private List<String> missingWeights(Path snap) throws IOException {
        Map<String, Object> index = JSON.std.mapFrom(Files.readString(snap.resolve("model_index.json")));
        List<String> missing = new ArrayList<>();
        for (String c : List.of("unet", "vae", "text_encoder", "text_encoder_2")) {
            if (!(index.get(c) instanceof List<?> l) || l.size() != 2 || l.get(0) == null || skipWeightsOf.contains(c)) {
                continue;
            }
            Path dir = snap.resolve(c);
            boolean any = false;
            if (Files.isDirectory(dir)) {
                try (var files = Files.list(dir)) {
                    any = files.anyMatch(f -> f.getFileName().toString().endsWith(".safetensors") && Files.isRegularFile(f));
                }
            }
            if (!any) {
                missing.add(c + "/*.safetensors");
            }
        }
        return missing;
    }

    /**
     * Downloads a repo's CLIP tokenizer and returns its folder: {@code tokenizer/} of a diffusers pipeline repo, else
     * the root of a tokenizer/model repo ({@code openai/clip-vit-large-patch14}); {@code vocab.json},
     * {@code merges.txt} and, where present, {@code tokenizer_config.json} and {@code special_tokens_map.json}.
     * Offline, a cached snapshot with them is used.
     */
    public Path downloadTokenizer(String repoId, String revision) throws IOException {
        List<String> names = List.of("vocab.json", "merges.txt", "tokenizer_config.json", "special_tokens_map.json");
        RepoInfo info;
        try {
            info = info(repoId, revision);
        } catch (OfflineException e) {
            Optional<Path> snap = cachedSnapshot(repoId, revision);
            for (String dir : List.of("tokenizer/", "")) {
                if (snap.isPresent() && Files.isRegularFile(snap.get().resolve(dir + "vocab.json"))
                        && Files.isRegularFile(snap.get().resolve(dir + "merges.txt"))) {
                    return dir.isEmpty() ? snap.get() : snap.get().resolve("tokenizer");
                }
            }
            throw offlineError(repoId, e.reason(), e.getCause(), List.of("tokenizer/vocab.json", "tokenizer/merges.txt"));
        }
        String dir = info.paths().contains("tokenizer/vocab.json") ? "tokenizer/" : "";
        if (!info.paths().contains(dir + "vocab.json") || !info.paths().contains(dir + "merges.txt")) {
            throw new IOException(repoId + " has no CLIP tokenizer (vocab.json and merges.txt, at the root or in tokenizer/)");
        }
        List<String> files = names.stream().map(n -> dir + n).filter(info.paths()::contains).toList();
        Path snap = download(info, files);
        writeRef(repoId, revision, info.commit());
        return dir.isEmpty() ? snap : snap.resolve("tokenizer");
    }

    /**
     * Downloads {@code files} of the repo at {@code revision} (reusing cached ones) and returns the snapshot folder.
     * Offline, the cached snapshot is returned when it has all of them.
     */
    public Path download(String repoId, String revision, List<String> files) throws IOException {
        files.forEach(HuggingFaceHub::checkRepoPath);
        Optional<Path> cached = cachedSnapshot(repoId, revision);
        if (cached.isPresent() && files.stream().allMatch(f -> Files.isRegularFile(cached.get().resolve(f)))
                && (offline || COMMIT.matcher(revision).matches())) {
            return cached.get(); // a commit never changes; offline there is nothing else to do
        }
        RepoInfo info;
        try {
            info = info(repoId, revision);
        } catch (OfflineException e) {
            if (cached.isPresent() && files.stream().allMatch(f -> Files.isRegularFile(cached.get().resolve(f)))) {
                return cached.get();
            }
            throw offlineError(repoId, e.reason(), e.getCause(), files);
        }
        for (String f : files) {
            if (!info.paths().contains(f)) {
                throw new IOException(repoId + " at " + revision + " has no file " + f);
            }
        }
        Path snap = download(info, files);
        writeRef(repoId, revision, info.commit());
        return snap;
    }

    /** {@code refs/<revision>} = the commit (no newline, as huggingface_hub writes it), unless the revision is one. */
    private void writeRef(String repoId, String revision, String commit) throws IOException {
        if (!COMMIT.matcher(revision).matches()) {
            checkRepoPath(revision);
            Path ref = repoFolder(repoId).resolve("refs").resolve(revision);
            Files.createDirectories(ref.getParent());
            Files.writeString(ref, commit);
        }
    }

    /** Downloads {@code files} at {@code info}'s commit; returns the snapshot folder. */
    private Path download(RepoInfo info, List<String> files) throws IOException {
        Path repo = repoFolder(info.repoId());
        Path snap = repo.resolve("snapshots").resolve(info.commit());
        Files.createDirectories(snap);
        for (String f : files) {
            checkRepoPath(f);
            Path target = snap.resolve(f);
            if (Files.isRegularFile(target)) {
                continue;
            }
            downloadOne(info, f, repo, target);
        }
        return snap;
    }

    /** The resolve URL of {@code path} at {@code commit}. */
    private URI resolveUri(String repoId, String commit, String path) {
        StringBuilder b = new StringBuilder(endpoint.toString()).append('/').append(repoId).append("/resolve/").append(commit);
        for (String seg : path.split("/")) {
            b.append('/').append(encode(seg));
        }
        return URI.create(b.toString());
    }

    /** What the HEAD of a resolve URL says: where to GET, the blob's etag, its size, the commit. */
    private record Meta(URI location, String etag, long size, String commit) {
    }

    private void downloadOne(RepoInfo info, String file, Path repo, Path target) throws IOException {
        Meta meta = head(info, file);
        Path blobs = repo.resolve("blobs");
        Files.createDirectories(blobs);
        Path blob = blobs.resolve(meta.etag());
        if (!Files.isRegularFile(blob) || (meta.size() >= 0 && Files.size(blob) != meta.size())) {
            Path part = blobs.resolve(meta.etag() + ".incomplete");
            Hasher hasher = SHA256.matcher(meta.etag()).matches() ? new Hasher() : null;
            fetch(info.repoId(), file, meta, part, hasher);
            verify(file, meta, part, hasher);
            Files.move(part, blob, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        }
        link(blob, target);
    }

    private Meta head(RepoInfo info, String file) throws IOException {
        URI uri = resolveUri(info.repoId(), info.commit(), file);
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            HttpResponse<Void> r = send(info.repoId(), request(uri, "HEAD", -1), HttpResponse.BodyHandlers.discarding());
            int s = r.statusCode();
            HttpHeaders h = r.headers();
            String linkedEtag = h.firstValue("X-Linked-Etag").orElse(null);
            if (s >= 300 && s < 400) {
                URI here = uri;
                URI next = uri.resolve(h.firstValue("Location")
                        .orElseThrow(() -> new IOException(here + ": redirect without a Location")));
                if (linkedEtag == null && sameHost(next)) {
                    uri = next; // a renamed repo: follow to the new name
                    continue;
                }
                return meta(uri, next, h, linkedEtag);
            }
            checkStatus(info.repoId(), info.commit(), file, s, h);
            return meta(uri, uri, h, linkedEtag);
        }
        throw new IOException(uri + ": more than " + MAX_REDIRECTS + " redirects");
    }

    private static Meta meta(URI uri, URI location, HttpHeaders h, String linkedEtag) throws IOException {
        String etag = linkedEtag != null ? linkedEtag : h.firstValue("ETag").orElse(null);
        if (etag == null) {
            throw new IOException(uri + ": no ETag (is this a Hugging Face Hub endpoint?)");
        }
        etag = etag.strip();
        if (etag.startsWith("W/")) {
            etag = etag.substring(2);
        }
        etag = etag.replace("\"", "");
        if (etag.isEmpty() || !etag.matches("[A-Za-z0-9._-]+")) {
            throw new IOException(uri + ": unusable ETag '" + etag + "'");
        }
        long size = parseLong(h.firstValue("X-Linked-Size").orElse(null));
        if (size < 0 && linkedEtag == null) {
            size = parseLong(h.firstValue("Content-Length").orElse(null));
        }
        return new Meta(location, etag, size, h.firstValue("X-Repo-Commit").orElse(null));
    }

    /** GETs {@code meta.location} into {@code part}, resuming what is there, retrying a dropped connection. */
    /** The sha256 of the bytes written so far, so a finished file need not be read again to check it. */
    private static final class Hasher {
        final MessageDigest md = newSha256();
        long fed;

        /** Makes the digest cover exactly the first {@code have} bytes of {@code part} (after a retry or a restart). */
        void sync(Path part, long have) throws IOException {
            if (fed == have) {
                return;
            }
            md.reset();
            fed = 0;
            if (have > 0) {
                try (InputStream in = Files.newInputStream(part)) {
                    byte[] buf = new byte[1 << 20];
                    int n;
                    while (fed < have && (n = in.read(buf, 0, (int) Math.min(buf.length, have - fed))) > 0) {
                        md.update(buf, 0, n);
                        fed += n;
                    }
                }
            }
        }
    }

    private static MessageDigest newSha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private void fetch(String repoId, String file, Meta meta, Path part, Hasher hasher) throws IOException {
        IOException last = null;
        boolean startedReported = false;
        for (int attempt = 1; attempt <= ATTEMPTS; attempt++) {
            long have = Files.exists(part) ? Files.size(part) : 0;
            if (meta.size() >= 0 && have > meta.size()) {
                Files.delete(part); // longer than the file: not ours, start over
                have = 0;
            }
            if (meta.size() >= 0 && have == meta.size()) {
                return;
            }
            if (!startedReported) {
                listener.started(file, meta.size(), have);
                startedReported = true;
            } else {
                listener.note(String.format(Locale.ROOT, "%s: connection lost (%s), resuming at %d bytes (try %d of %d)",
                        file, last.getMessage() != null ? last.getMessage() : causeText(last), have, attempt, ATTEMPTS));
            }
            try {
                fetchOnce(repoId, file, meta, part, have, hasher);
                return;
            } catch (OfflineException | AccessException e) {
                throw e;
            } catch (IOException e) {
                last = e;
                sleep(200L * attempt);
            }
        }
        throw new IOException(repoId + ": download of " + file + " failed after " + ATTEMPTS + " tries (" + causeText(last)
                + "); run again to resume from " + part, last);
    }

    private void fetchOnce(String repoId, String file, Meta meta, Path part, long have, Hasher hasher) throws IOException {
        URI uri = meta.location();
        HttpResponse<InputStream> r = null;
        for (int hop = 0; hop <= MAX_REDIRECTS; hop++) {
            r = send(repoId, request(uri, "GET", have), HttpResponse.BodyHandlers.ofInputStream());
            int s = r.statusCode();
            if (s >= 300 && s < 400) {
                r.body().close();
                URI base = uri;
                uri = uri.resolve(r.headers().firstValue("Location")
                        .orElseThrow(() -> new IOException(base + ": redirect without a Location")));
                continue;
            }
            break;
        }
        int s = r.statusCode();
        if (s == 416 && meta.size() >= 0 && have == meta.size()) {
            r.body().close();
            return;
        }
        if (s != 200 && s != 206) {
            r.body().close();
            if (s == 416) {
                Files.deleteIfExists(part); // the server will not resume this part: start over next try
                throw new IOException(uri + ": HTTP 416 for a resume at " + have + " bytes");
            }
            checkStatus(repoId, null, file, s, r.headers());
            throw new IOException(uri + ": HTTP " + s);
        }
        boolean append = s == 206 && have > 0;
        if (append) {
            String cr = r.headers().firstValue("Content-Range").orElse("");
            if (!cr.startsWith("bytes " + have + "-")) {
                r.body().close();
                Files.deleteIfExists(part);
                throw new IOException(uri + ": asked for bytes from " + have + " but got '" + cr + "'");
            }
        }
        long done = append ? have : 0;
        if (hasher != null) {
            hasher.sync(part, done);
        }
        // The request timeout covers only the headers: a watchdog closes the body when no byte comes for that long,
        // which ends the blocked read with an IOException (and the retry resumes with Range).
        AtomicLong lastRead = new AtomicLong(System.nanoTime());
        AtomicBoolean stalled = new AtomicBoolean();
        InputStream in = r.body();
        long period = Math.max(10, Math.min(1000, timeout.toMillis() / 4));
        ScheduledFuture<?> dog = WATCHDOG.scheduleWithFixedDelay(() -> {
            if (System.nanoTime() - lastRead.get() > timeout.toNanos() && !stalled.getAndSet(true)) {
                try {
                    in.close();
                } catch (IOException ignored) {
                    // closing is all we want; a failure here leaves the read to fail on its own
                }
            }
        }, period, period, TimeUnit.MILLISECONDS);
        try (in; OutputStream out = Files.newOutputStream(part, StandardOpenOption.CREATE, StandardOpenOption.WRITE,
                append ? StandardOpenOption.APPEND : StandardOpenOption.TRUNCATE_EXISTING)) {
            byte[] buf = new byte[1 << 20];
            int n;
            while ((n = in.read(buf)) > 0) {
                lastRead.set(System.nanoTime());
                out.write(buf, 0, n);
                if (hasher != null) {
                    hasher.md.update(buf, 0, n);
                    hasher.fed += n;
                }
                done += n;
                listener.progress(file, done, meta.size());
            }
        } catch (IOException e) {
            if (stalled.get()) {
                throw new IOException(uri + ": no data for " + seconds(timeout) + " at " + done + " bytes", e);
            }
            throw e;
        } finally {
            dog.cancel(false);
        }
        if (stalled.get()) {
            throw new IOException(uri + ": no data for " + seconds(timeout) + " at " + done + " bytes");
        }
        if (meta.size() >= 0 && done != meta.size()) {
            throw new IOException(uri + ": the connection ended at " + done + " of " + meta.size() + " bytes");
        }
    }

    /** Checks the size and, for LFS files (a sha256 etag), the sha256; a bad file is deleted. */
    private void verify(String file, Meta meta, Path part, Hasher hasher) throws IOException {
        long size = Files.size(part);
        if (meta.size() >= 0 && size != meta.size()) {
            Files.delete(part);
            throw new IOException(file + ": downloaded " + size + " bytes, expected " + meta.size());
        }
        if (SHA256.matcher(meta.etag()).matches()) {
            String got = hasher != null && hasher.fed == size ? HexFormat.of().formatHex(hasher.md.digest()) : sha256(part);
            if (!got.equals(meta.etag())) {
                Files.delete(part);
                throw new IOException(file + ": sha256 " + got + " does not match the Hub's " + meta.etag()
                        + " (the download was corrupted; run again)");
            }
        }
        listener.finished(file, size);
    }

    static String sha256(Path file) throws IOException {
        MessageDigest md = newSha256();
        try (InputStream in = Files.newInputStream(file)) {
            byte[] buf = new byte[1 << 20];
            int n;
            while ((n = in.read(buf)) > 0) {
                md.update(buf, 0, n);
            }
        }
        return HexFormat.of().formatHex(md.digest());
    }

    /** {@code target} → relative symlink to {@code blob}, as huggingface_hub makes; a copy where symlinks fail. */
    private static void link(Path blob, Path target) throws IOException {
        Files.createDirectories(target.getParent());
        Files.deleteIfExists(target);
        Path rel = target.getParent().toAbsolutePath().normalize().relativize(blob.toAbsolutePath().normalize());
        try {
            Files.createSymbolicLink(target, rel);
        } catch (UnsupportedOperationException | FileSystemException e) {
            Files.copy(blob, target, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /**
     * The files of a diffusers pipeline repo to download: {@code model_index.json}; in each component folder that
     * {@code model_index.json} names, the {@code .json}/{@code .txt}/{@code .model} files (configs, tokenizer, a
     * sharded index of the chosen weights) and the {@code *.safetensors} weights — the {@code variant} files where
     * the component has them, else the plain ones, else (only a variant there) the first variant's. Nothing from the
     * repo root besides {@code model_index.json}, no pickles, no weights of {@code skipWeightsOf} components.
     */
    public static List<String> pipelineFiles(List<String> repoFiles, Map<String, Object> modelIndex, String variant,
            Set<String> skipWeightsOf) {
        Set<String> components = new LinkedHashSet<>();
        for (Map.Entry<String, Object> e : modelIndex.entrySet()) {
            if (!e.getKey().startsWith("_") && e.getValue() instanceof List<?> l && l.size() == 2
                    && l.get(0) != null && l.get(1) != null) {
                components.add(e.getKey());
            }
        }
        List<String> out = new ArrayList<>();
        out.add("model_index.json");
        Map<String, Map<String, List<String>>> weightsByVariant = new TreeMap<>();
        for (String f : repoFiles) {
            int slash = f.indexOf('/');
            if (slash < 0 || f.indexOf('/', slash + 1) >= 0 || !components.contains(f.substring(0, slash))) {
                continue;
            }
            String comp = f.substring(0, slash);
            String name = f.substring(slash + 1);
            boolean weight = name.endsWith(".safetensors") || name.matches("[^/]*\\.safetensors\\.index(\\.[A-Za-z0-9_]+)?\\.json");
            if (weight) {
                if (!skipWeightsOf.contains(comp)) {
                    Matcher m = VARIANT.matcher(name);
                    String v = m.matches() ? (m.group(1) != null ? m.group(1) : m.group(2)) : "";
                    weightsByVariant.computeIfAbsent(comp, k -> new TreeMap<>()).computeIfAbsent(v, k -> new ArrayList<>()).add(f);
                }
            } else if ((name.endsWith(".json") || name.endsWith(".txt") || name.endsWith(".model"))
                    && !name.contains(".bin.index.")) {
                out.add(f);
            }
        }
        for (Map<String, List<String>> byVariant : weightsByVariant.values()) {
            List<String> chosen = variant != null && byVariant.containsKey(variant) ? byVariant.get(variant)
                    : byVariant.containsKey("") ? byVariant.get("") : byVariant.values().iterator().next();
            out.addAll(chosen);
        }
        return out;
    }

    private HttpRequest request(URI uri, String method, long rangeFrom) {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri).timeout(timeout)
                .header("User-Agent", "diffusion4j/0.1; java.net.http")
                .header("Accept-Encoding", "identity"); // sizes and etags are those of the raw bytes
        if (token != null && sameHost(uri)) {
            b.header("Authorization", "Bearer " + token);
        }
        if (rangeFrom > 0) {
            b.header("Range", "bytes=" + rangeFrom + "-");
        }
        return b.method(method, HttpRequest.BodyPublishers.noBody()).build();
    }

    private boolean sameHost(URI uri) {
        return uri.getHost() != null && uri.getHost().equalsIgnoreCase(endpoint.getHost()) && uri.getPort() == endpoint.getPort();
    }

    private <T> HttpResponse<T> send(String repoId, HttpRequest req, HttpResponse.BodyHandler<T> handler) throws IOException {
        try {
            return client.send(req, handler);
        } catch (IOException e) {
            if (isUnreachable(e)) {
                throw unreachable(repoId, e);
            }
            throw e;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IOException("interrupted while downloading from " + repoId, e);
        }
    }

    private void checkStatus(String repoId, String revision, String file, int status, HttpHeaders h) throws IOException {
        if (status >= 200 && status < 300) {
            return;
        }
        String code = h.firstValue("X-Error-Code").orElse("");
        String serverMsg = h.firstValue("X-Error-Message").map(m -> " (" + m + ")").orElse("");
        String what = file == null ? repoId : repoId + "/" + file;
        if (status == 401 || status == 403 || code.equals("GatedRepo")) {
            String hint = token == null
                    ? "if it is gated, accept its terms at " + endpoint + "/" + repoId
                            + " and set HF_TOKEN (or put a token in " + hfHome().resolve("token") + ")"
                    : "the token (HF_TOKEN or " + hfHome().resolve("token") + ") has no access: accept the repo's terms at "
                            + endpoint + "/" + repoId + " with that account";
            throw new AccessException("the Hub refused " + what + " (HTTP " + status + serverMsg + "): it is private, gated or "
                    + "does not exist; " + hint, status);
        }
        if (status == 404) {
            String msg = code.equals("RevisionNotFound") ? repoId + " has no revision " + revision
                    : code.equals("EntryNotFound") ? repoId + " has no file " + file
                    : "the Hub has no repo " + repoId + (file == null ? "" : " (or no file " + file + ")");
            throw new AccessException(msg + " (HTTP 404" + serverMsg + ")", 404);
        }
        throw new IOException("the Hub answered HTTP " + status + serverMsg + " for " + what);
    }

    private static boolean isUnreachable(Throwable e) {
        for (Throwable t = e; t != null; t = t.getCause()) {
            if (t instanceof ConnectException || t instanceof UnknownHostException || t instanceof HttpConnectTimeoutException
                    || t instanceof HttpTimeoutException || t instanceof UnresolvedAddressException
                    || t instanceof NoRouteToHostException) {
                return true;
            }
        }
        return false;
    }

    private IOException unreachable(String repoId, IOException e) {
        String why = unreachableReason(e, endpoint.getHost(), timeout);
        return why == null ? e : offlineError(repoId, why, e);
    }

    /**
     * Why {@code e} means the Hub cannot be reached, in words ("DNS lookup of huggingface.co failed", "no answer
     * within 30.0 s", "cannot connect"), or null when it is another failure. A DNS failure hides inside a
     * ConnectException, so the whole cause chain is looked at.
     */
    static String unreachableReason(Throwable e, String host, Duration timeout) {
        if (!isUnreachable(e)) {
            return null;
        }
        List<Throwable> chain = new ArrayList<>();
        for (Throwable t = e; t != null && chain.size() < 20; t = t.getCause()) {
            chain.add(t);
        }
        if (chain.stream().anyMatch(t -> t instanceof UnknownHostException || t instanceof UnresolvedAddressException)) {
            return "DNS lookup of " + host + " failed";
        }
        if (chain.stream().anyMatch(t -> t instanceof HttpTimeoutException)) {
            return "no answer within " + seconds(timeout);
        }
        if (chain.stream().anyMatch(t -> t instanceof NoRouteToHostException)) {
            return "no route to host";
        }
        for (Throwable t : chain) {
            if (t instanceof ConnectException && t.getMessage() != null && !t.getMessage().isBlank()) {
                return "cannot connect: " + t.getMessage();
            }
        }
        return "cannot connect";
    }

    private OfflineException offlineError(String repoId, String why, Throwable cause) {
        return offlineError(repoId, why, cause, null);
    }

    private OfflineException offlineError(String repoId, String why, Throwable cause, List<String> files) {
        Path folder = repoFolder(repoId);
        String what = files == null ? "" : " (" + String.join(", ", files) + ")";
        return new OfflineException("cannot reach " + endpoint + " for " + repoId + " (" + why + ") and " + folder
                + " does not have it" + what + ": connect and retry, or on a connected machine run `huggingface-cli "
                + "download " + repoId + "` and copy its " + folder.getFileName() + " folder into " + cacheDir
                + ", or download the files into a folder and pass that folder's path instead", why, cause);
    }

    private static String causeText(Throwable e) {
        if (e == null) {
            return "unknown error";
        }
        Throwable root = e;
        while (root.getCause() != null && root.getCause() != root) {
            root = root.getCause();
        }
        String m = root.getMessage();
        return root.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m.replace('\n', ' '));
    }

    private static void checkRepoId(String repoId) {
        if (!looksLikeRepoId(repoId)) {
            throw new IllegalArgumentException("repo id '" + repoId + "' is not of the form org/name");
        }
    }

    private static void checkRepoPath(String path) {
        // A file name from the server must not escape the snapshot folder.
        if (path.isEmpty() || path.startsWith("/") || path.contains("\\") || List.of(path.split("/")).contains("..")) {
            throw new IllegalArgumentException("unsafe repo file path '" + path + "'");
        }
    }

    private static String encode(String s) {
        return URLEncoder.encode(s, StandardCharsets.UTF_8).replace("+", "%20");
    }

    private static String seconds(Duration d) {
        return String.format(Locale.ROOT, "%.1f s", d.toMillis() / 1e3);
    }

    private static long parseLong(String s) {
        try {
            return s == null ? -1 : Long.parseLong(s.strip());
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    private static void sleep(long millis) {
        try {
            Thread.sleep(millis);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
