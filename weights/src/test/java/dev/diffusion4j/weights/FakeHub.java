package dev.diffusion4j.weights;

import com.fasterxml.jackson.jr.ob.JSON;
import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ExecutorService;

/**
 * A Hugging Face Hub on 127.0.0.1 for tests: the model info API, {@code /resolve/} with the Hub's headers (ETag and
 * X-Repo-Commit for small files; a 302 to {@code /cdn/<sha256>} with X-Linked-Etag/X-Linked-Size for LFS files),
 * Range requests on the CDN, gated repos (401 without the token), and a switch that cuts a download short once.
 */
final class FakeHub implements AutoCloseable {
    /** One request as the server saw it. */
    record Seen(String method, String path, String range, String authorization) {
    }

    static final class Repo {
        final String commit;
        final Map<String, byte[]> files = new LinkedHashMap<>();
        final Set<String> lfs = ConcurrentHashMap.newKeySet();
        String token; // non-null: gated, this token needed

        Repo(String commit) {
            this.commit = commit;
        }

        Repo file(String path, String text) {
            files.put(path, text.getBytes(StandardCharsets.UTF_8));
            return this;
        }

        Repo lfsFile(String path, byte[] bytes) {
            files.put(path, bytes);
            lfs.add(path);
            return this;
        }
    }

    final Map<String, Repo> repos = new ConcurrentHashMap<>();
    /** Old repo name → new one: answered with a relative 307, as the Hub does for renamed repos. */
    final Map<String, String> renamed = new ConcurrentHashMap<>();
    final List<Seen> seen = Collections.synchronizedList(new ArrayList<>());
    /** sha256 → bytes after which the next CDN GET of that blob is cut off (once). */
    final Map<String, Integer> cutOnce = new ConcurrentHashMap<>();
    /** sha256 → bytes after which the next CDN GET of that blob stalls (once) until the server stops. */
    final Map<String, Integer> stallOnce = new ConcurrentHashMap<>();
    /** sha256 → bytes the CDN serves instead of the right ones (a corrupted download). */
    final Map<String, byte[]> corrupt = new ConcurrentHashMap<>();
    private final HttpServer server;
    private final ExecutorService pool = Executors.newFixedThreadPool(4);

    FakeHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(pool);
        server.start();
    }

    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    List<Seen> seen(String method, String pathPart) {
        synchronized (seen) {
            return seen.stream().filter(s -> s.method().equals(method) && s.path().contains(pathPart)).toList();
        }
    }

    private static final Map<byte[], String> SHA_CACHE = Collections.synchronizedMap(new java.util.IdentityHashMap<>());

    /** The sha256 of {@code b}, remembered per array (the server looks blobs up by it on every request). */
    static String sha256(byte[] b) {
        return SHA_CACHE.computeIfAbsent(b, FakeHub::computeSha256);
    }

    private static String computeSha256(byte[] b) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    /** The git blob id, the etag the Hub gives small files. */
    static String gitBlobId(byte[] b) {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-1");
            md.update(("blob " + b.length + "\0").getBytes(StandardCharsets.UTF_8));
            return HexFormat.of().formatHex(md.digest(b));
        } catch (Exception e) {
            throw new IllegalStateException(e);
        }
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        String method = ex.getRequestMethod();
        seen.add(new Seen(method, path, ex.getRequestHeaders().getFirst("Range"),
                ex.getRequestHeaders().getFirst("Authorization")));
        try (ex) {
            for (Map.Entry<String, String> e : renamed.entrySet()) {
                for (String prefix : new String[] {"/api/models/", "/"}) {
                    if (path.startsWith(prefix + e.getKey() + "/")) {
                        ex.getResponseHeaders().set("Location", prefix + e.getValue() + path.substring(prefix.length()
                                + e.getKey().length()));
                        send(ex, 307, new byte[0]);
                        return;
                    }
                }
            }
            if (path.startsWith("/api/models/")) {
                api(ex, path.substring("/api/models/".length()));
            } else if (path.startsWith("/cdn/")) {
                cdn(ex, path.substring("/cdn/".length()));
            } else {
                resolve(ex, path.substring(1));
            }
        }
    }

    private Repo repo(HttpExchange ex, String repoId) throws IOException {
        Repo r = repos.get(repoId);
        if (r == null) {
            ex.getResponseHeaders().set("X-Error-Code", "RepoNotFound");
            send(ex, 401, "{\"error\":\"Repository not found\"}".getBytes(StandardCharsets.UTF_8));
            return null;
        }
        String auth = ex.getRequestHeaders().getFirst("Authorization");
        if (r.token != null && !("Bearer " + r.token).equals(auth)) {
            ex.getResponseHeaders().set("X-Error-Code", "GatedRepo");
            ex.getResponseHeaders().set("X-Error-Message", "Access to model " + repoId + " is restricted.");
            send(ex, 401, new byte[0]);
            return null;
        }
        return r;
    }

    private void api(HttpExchange ex, String rest) throws IOException {
        int rev = rest.indexOf("/revision/");
        Repo r = repo(ex, rest.substring(0, rev));
        if (r == null) {
            return;
        }
        List<Map<String, Object>> sibs = new ArrayList<>();
        r.files.keySet().forEach(f -> sibs.add(Map.of("rfilename", f)));
        Map<String, Object> json = new LinkedHashMap<>();
        json.put("id", rest.substring(0, rev));
        json.put("sha", r.commit);
        json.put("siblings", sibs);
        ex.getResponseHeaders().set("Content-Type", "application/json");
        send(ex, 200, JSON.std.asBytes(json));
    }

    private void resolve(HttpExchange ex, String rest) throws IOException {
        int at = rest.indexOf("/resolve/");
        Repo r = repo(ex, rest.substring(0, at));
        if (r == null) {
            return;
        }
        String after = rest.substring(at + "/resolve/".length());
        String revision = after.substring(0, after.indexOf('/'));
        String file = java.net.URLDecoder.decode(after.substring(after.indexOf('/') + 1), StandardCharsets.UTF_8);
        byte[] data = r.files.get(file);
        if (!revision.equals(r.commit) && !revision.equals("main") || data == null) {
            ex.getResponseHeaders().set("X-Error-Code", "EntryNotFound");
            send(ex, 404, new byte[0]);
            return;
        }
        ex.getResponseHeaders().set("X-Repo-Commit", r.commit);
        if (r.lfs.contains(file)) {
            String sha = sha256(data);
            ex.getResponseHeaders().set("X-Linked-Etag", "\"" + sha + "\"");
            ex.getResponseHeaders().set("X-Linked-Size", Long.toString(data.length));
            ex.getResponseHeaders().set("ETag", "\"" + gitBlobId(data) + "\"");
            ex.getResponseHeaders().set("Location", "/cdn/" + sha);
            ex.sendResponseHeaders(302, -1);
            return;
        }
        ex.getResponseHeaders().set("ETag", "\"" + gitBlobId(data) + "\"");
        send(ex, 200, data);
    }

    private void cdn(HttpExchange ex, String sha) throws IOException {
        byte[] data = null;
        for (Repo r : repos.values()) {
            for (byte[] b : r.files.values()) {
                if (sha256(b).equals(sha)) {
                    data = b;
                }
            }
        }
        if (data == null) {
            send(ex, 404, new byte[0]);
            return;
        }
        data = corrupt.getOrDefault(sha, data);
        String range = ex.getRequestHeaders().getFirst("Range");
        int from = 0;
        if (range != null && range.startsWith("bytes=") && range.endsWith("-")) {
            from = Integer.parseInt(range.substring(6, range.length() - 1));
            if (from >= data.length) {
                ex.getResponseHeaders().set("Content-Range", "bytes */" + data.length);
                send(ex, 416, new byte[0]);
                return;
            }
            ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (data.length - 1) + "/" + data.length);
        }
        int status = from > 0 ? 206 : 200;
        Integer cut = cutOnce.remove(sha);
        if (cut != null && !ex.getRequestMethod().equals("HEAD")) {
            ex.sendResponseHeaders(status, data.length - from);
            OutputStream out = ex.getResponseBody();
            out.write(data, from, cut - from);
            out.flush();
            // Drop the connection mid-body, as a network failure would: the server closes it on a handler error.
            throw new IOException("cut");
        }
        Integer stall = stallOnce.remove(sha);
        if (stall != null) {
            ex.sendResponseHeaders(status, data.length - from);
            OutputStream out = ex.getResponseBody();
            out.write(data, from, stall - from);
            out.flush();
            try {
                Thread.sleep(20_000); // a silent connection; the server's shutdownNow interrupts it
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
            throw new IOException("stalled");
        }
        byte[] body = java.util.Arrays.copyOfRange(data, from, data.length);
        send(ex, status, body);
    }

    private static void send(HttpExchange ex, int status, byte[] body) throws IOException {
        if (ex.getRequestMethod().equals("HEAD")) {
            ex.getResponseHeaders().set("Content-Length", Integer.toString(body.length));
            ex.sendResponseHeaders(status, -1);
            return;
        }
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        ex.getResponseBody().write(body);
    }

    @Override
    public void close() {
        server.stop(0);
        pool.shutdownNow();
    }
}
