package org.lightavseg.demo;

import java.io.ByteArrayOutputStream;
import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.Charset;

import android.content.res.AssetManager;

import org.lightavseg.core.Manifest;
import org.lightavseg.core.ManifestException;

/** The model shipped in assets/model/: exactly one *.manifest.json and the artifact it names, hash-checked. */
final class ModelStore {
    static final String DIR = "model";

    final Manifest manifest;
    /** The artifact in a direct, native-order buffer (what LiteRT maps). */
    final ByteBuffer artifact;

    private ModelStore(Manifest manifest, ByteBuffer artifact) {
        this.manifest = manifest;
        this.artifact = artifact;
    }

    /** Loads and verifies the model; every failure is a ManifestException with a message for the screen. */
    static ModelStore load(AssetManager assets) throws ManifestException {
        String manifestName = null;
        try {
            String[] files = assets.list(DIR);
            for (String f : files == null ? new String[0] : files) {
                if (f.endsWith(".manifest.json")) {
                    if (manifestName != null) {
                        throw new ManifestException("assets/model/ holds two manifests (" + manifestName + ", " + f
                                + "); copy exactly one model with `make android-assets MODEL=...`");
                    }
                    manifestName = f;
                }
            }
        } catch (IOException e) {
            throw new ManifestException("cannot list assets/model/: " + e.getMessage());
        }
        if (manifestName == null) {
            throw new ManifestException("No model in this APK. Copy an export into it with\n"
                    + "  make android-assets MODEL=exports/<name>.tflite\nand rebuild.");
        }
        Manifest m;
        try {
            m = Manifest.parse(new String(read(assets, DIR + "/" + manifestName), Charset.forName("UTF-8")),
                    "assets/model/" + manifestName);
        } catch (IOException e) {
            throw new ManifestException("cannot read assets/model/" + manifestName + ": " + e.getMessage());
        }
        m.requireRunnableByApp();
        byte[] bytes;
        try {
            bytes = read(assets, DIR + "/" + m.artifactFile);
        } catch (IOException e) {
            throw new ManifestException("artifact assets/model/" + m.artifactFile + " named by " + manifestName
                    + " is missing: copy the model and its manifest together");
        }
        try {
            m.verifyArtifact(new ByteArrayInputStream(bytes), "assets/model/" + m.artifactFile);
        } catch (IOException e) {
            throw new ManifestException("cannot hash assets/model/" + m.artifactFile + ": " + e.getMessage());
        }
        ByteBuffer buf = ByteBuffer.allocateDirect(bytes.length).order(ByteOrder.nativeOrder());
        buf.put(bytes);
        buf.rewind();
        return new ModelStore(m, buf);
    }

    static byte[] read(AssetManager assets, String path) throws IOException {
        InputStream in = assets.open(path);
        try {
            ByteArrayOutputStream out = new ByteArrayOutputStream();
            byte[] chunk = new byte[1 << 16];
            int n;
            while ((n = in.read(chunk)) > 0) {
                out.write(chunk, 0, n);
            }
            return out.toByteArray();
        } finally {
            in.close();
        }
    }
}
