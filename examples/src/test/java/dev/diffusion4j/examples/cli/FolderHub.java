package dev.diffusion4j.examples.cli;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.stream.Stream;

/**
 * Local folders served as Hugging Face Hub repos on 127.0.0.1: the model info API and {@code /resolve/} with the
 * Hub's headers ({@code *.safetensors} as LFS files behind a redirect, the rest with a git blob id ETag).
 */
final class FolderHub implements AutoCloseable {
    static final String COMMIT = "fedcba9876543210fedcba9876543210fedcba98";
    final Map<String, Path> repos = new ConcurrentHashMap<>();
    final List<String> seen = Collections.synchronizedList(new ArrayList<>());
    private final HttpServer server;
    private final ExecutorService pool = Executors.newFixedThreadPool(4);

    FolderHub() throws IOException {
        server = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
        server.createContext("/", this::handle);
        server.setExecutor(pool);
        server.start();
    }

    String endpoint() {
        return "http://127.0.0.1:" + server.getAddress().getPort();
    }

    private static String hex(String algo, byte[] prefix, byte[] b) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance(algo);
            md.update(prefix);
            return HexFormat.of().formatHex(md.digest(b));
        } catch (java.security.NoSuchAlgorithmException e) {
            throw new IOException(e);
        }
    }

    private void handle(HttpExchange ex) throws IOException {
        String path = ex.getRequestURI().getRawPath();
        seen.add(ex.getRequestMethod() + " " + path);
        try (ex) {
            if (path.startsWith("/api/models/")) {
                String rest = path.substring("/api/models/".length());
                Path dir = repos.get(rest.substring(0, rest.indexOf("/revision/")));
                if (dir == null) {
                    send(ex, 401, new byte[0]);
                    return;
                }
                StringBuilder sb = new StringBuilder("{\"sha\":\"" + COMMIT + "\",\"siblings\":[");
                try (Stream<Path> s = Files.walk(dir)) {
                    List<String> files = s.filter(Files::isRegularFile).map(p -> dir.relativize(p).toString()).sorted().toList();
                    for (int i = 0; i < files.size(); i++) {
                        sb.append(i == 0 ? "" : ",").append("{\"rfilename\":\"").append(files.get(i)).append("\"}");
                    }
                }
                send(ex, 200, sb.append("]}").toString().getBytes(StandardCharsets.UTF_8));
                return;
            }
            boolean cdn = path.startsWith("/cdn/");
            String rest = cdn ? path.substring(5) : path.substring(1);
            int at = rest.indexOf(cdn ? "/" : "/resolve/");
            Path dir = repos.get(cdn ? URLDecoder.decode(rest.substring(0, at), StandardCharsets.UTF_8) : rest.substring(0, at));
            String after = rest.substring(at + (cdn ? 1 : "/resolve/".length()));
            String file = URLDecoder.decode(cdn ? after : after.substring(after.indexOf('/') + 1), StandardCharsets.UTF_8);
            Path p = dir == null ? null : dir.resolve(file).normalize();
            if (p == null || !p.startsWith(dir.normalize()) || !Files.isRegularFile(p)) {
                send(ex, 404, new byte[0]);
                return;
            }
            byte[] data = Files.readAllBytes(p);
            ex.getResponseHeaders().set("X-Repo-Commit", COMMIT);
            if (!cdn && file.endsWith(".safetensors")) {
                ex.getResponseHeaders().set("X-Linked-Etag", "\"" + hex("SHA-256", new byte[0], data) + "\"");
                ex.getResponseHeaders().set("X-Linked-Size", Integer.toString(data.length));
                ex.getResponseHeaders().set("Location", "/cdn/" + rest.substring(0, at).replace("/", "%2F") + "/" + file);
                ex.sendResponseHeaders(302, -1);
                return;
            }
            ex.getResponseHeaders().set("ETag", "\"" + hex("SHA-1",
                    ("blob " + data.length + "\0").getBytes(StandardCharsets.UTF_8), data) + "\"");
            send(ex, 200, data);
        }
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
