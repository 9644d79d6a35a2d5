package dev.diffusion4j.core;

import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.Iterator;
import javax.imageio.IIOImage;
import javax.imageio.ImageIO;
import javax.imageio.ImageReader;
import javax.imageio.ImageTypeSpecifier;
import javax.imageio.ImageWriter;
import javax.imageio.metadata.IIOInvalidTreeException;
import javax.imageio.metadata.IIOMetadata;
import javax.imageio.metadata.IIOMetadataNode;
import javax.imageio.stream.ImageInputStream;
import javax.imageio.stream.ImageOutputStream;
import org.w3c.dom.Node;

/**
 * PNG files with the generation parameters in a {@code parameters} text chunk (A1111's convention, read by other
 * tools). Writes go to a temporary file first, so a failed write leaves nothing half-written.
 */
public final class PngFiles {
    private static final String FORMAT = "javax_imageio_png_1.0";

    private PngFiles() {
    }

    /** Writes {@code image} as PNG with {@code parameters} (may be null) in a {@code tEXt} chunk, atomically. */
    public static void write(Path file, BufferedImage image, String parameters) throws IOException {
        Path dir = file.toAbsolutePath().getParent();
        if (dir != null) {
            Files.createDirectories(dir);
        }
        Path tmp = Files.createTempFile(dir, ".sd-", ".png.tmp");
        try {
            try (OutputStream os = Files.newOutputStream(tmp)) {
                write(os, image, parameters);
            }
            // Temporary files are created owner-only; the image itself gets the usual rw-r--r--.
            if (tmp.getFileSystem().supportedFileAttributeViews().contains("posix")) {
                Files.setPosixFilePermissions(tmp, java.nio.file.attribute.PosixFilePermissions.fromString("rw-r--r--"));
            }
            Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    /** Writes {@code image} as PNG with {@code parameters} (may be null) to a stream. */
    public static void write(OutputStream out, BufferedImage image, String parameters) throws IOException {
        ImageWriter writer = ImageIO.getImageWritersByFormatName("png").next();
        try (ImageOutputStream ios = ImageIO.createImageOutputStream(out)) {
            writer.setOutput(ios);
            IIOMetadata meta = writer.getDefaultImageMetadata(ImageTypeSpecifier.createFromRenderedImage(image), null);
            if (parameters != null) {
                IIOMetadataNode text = new IIOMetadataNode("tEXt");
                IIOMetadataNode entry = new IIOMetadataNode("tEXtEntry");
                entry.setAttribute("keyword", "parameters");
                // tEXt is Latin-1; characters outside it go to an iTXt chunk (UTF-8) instead.
                boolean latin1 = parameters.chars().allMatch(c -> c < 256);
                IIOMetadataNode root = new IIOMetadataNode(FORMAT);
                if (latin1) {
                    entry.setAttribute("value", parameters);
                    text.appendChild(entry);
                    root.appendChild(text);
                } else {
                    IIOMetadataNode itxt = new IIOMetadataNode("iTXt");
                    IIOMetadataNode ientry = new IIOMetadataNode("iTXtEntry");
                    ientry.setAttribute("keyword", "parameters");
                    ientry.setAttribute("compressionFlag", "FALSE");
                    ientry.setAttribute("compressionMethod", "0");
                    ientry.setAttribute("languageTag", "");
                    ientry.setAttribute("translatedKeyword", "");
                    ientry.setAttribute("text", parameters);
                    itxt.appendChild(ientry);
                    root.appendChild(itxt);
                }
                try {
                    meta.mergeTree(FORMAT, root);
                } catch (IIOInvalidTreeException e) {
                    throw new IOException("cannot store the PNG parameters chunk: " + e.getMessage(), e);
                }
            }
            writer.write(new IIOImage(image, null, meta));
        } finally {
            writer.dispose();
        }
    }

    /** The {@code parameters} text of a PNG file, or null when it has none. */
    public static String readParameters(Path file) throws IOException {
        try (ImageInputStream in = ImageIO.createImageInputStream(file.toFile())) {
            if (in == null) {
                throw new IOException(file + ": cannot be read");
            }
            Iterator<ImageReader> readers = ImageIO.getImageReaders(in);
            if (!readers.hasNext()) {
                throw new IOException(file + ": not an image ImageIO can read");
            }
            ImageReader reader = readers.next();
            try {
                reader.setInput(in);
                IIOMetadata meta = reader.getImageMetadata(0);
                if (meta == null || !java.util.Arrays.asList(meta.getMetadataFormatNames()).contains(FORMAT)) {
                    return null;
                }
                return find(meta.getAsTree(FORMAT));
            } finally {
                reader.dispose();
            }
        }
    }

    private static String find(Node node) {
        for (Node n = node.getFirstChild(); n != null; n = n.getNextSibling()) {
            if (n instanceof IIOMetadataNode m) {
                if (("tEXtEntry".equals(m.getNodeName()) || "zTXtEntry".equals(m.getNodeName()))
                        && "parameters".equals(m.getAttribute("keyword"))) {
                    return m.getAttribute(m.getNodeName().equals("tEXtEntry") ? "value" : "text");
                }
                if ("iTXtEntry".equals(m.getNodeName()) && "parameters".equals(m.getAttribute("keyword"))) {
                    return m.getAttribute("text");
                }
            }
            String found = find(n);
            if (found != null) {
                return found;
            }
        }
        return null;
    }

    /** Reads an image file, with a clear message when it cannot be decoded. */
    public static BufferedImage readImage(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            throw new IOException(file + ": no such image file");
        }
        BufferedImage img = ImageIO.read(file.toFile());
        if (img == null) {
            throw new IOException(file + ": not an image format this JVM can read (PNG, JPEG, BMP, GIF)");
        }
        return img;
    }
}
