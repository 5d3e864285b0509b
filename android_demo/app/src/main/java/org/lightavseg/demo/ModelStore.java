package org.lightavseg.demo;

import java.io.ByteArrayOutputStream;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.charset.Charset;

import android.content.res.AssetFileDescriptor;
import android.content.res.AssetManager;

import org.lightavseg.core.Manifest;
import org.lightavseg.core.ManifestException;
import org.lightavseg.core.MappedModel;

/** The model shipped in assets/model/: exactly one *.manifest.json and the artifact it names, hash-checked. */
final class ModelStore {
    static final String DIR = "model";

    final Manifest manifest;
    /** The artifact mapped read-only from the APK (stored uncompressed), never copied into the heap. */
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
        String path = DIR + "/" + m.artifactFile;
        ByteBuffer mapped;
        try {
            mapped = map(assets, path);
        } catch (java.io.FileNotFoundException e) {
            // openFd's error for a missing asset and for a compressed one alike.
            throw new ManifestException("artifact assets/" + path + " named by " + manifestName + " is missing or "
                    + "compressed in the APK: copy the model and its manifest together, and keep .tflite uncompressed");
        } catch (IOException e) {
            throw new ManifestException("cannot map assets/" + path + ": " + e.getMessage());
        }
        try {
            m.verifyArtifact(MappedModel.stream(mapped), "assets/" + path);
        } catch (IOException e) {
            throw new ManifestException("cannot hash assets/" + path + ": " + e.getMessage());
        }
        return new ModelStore(m, mapped);
    }

    /** The asset's bytes inside the APK file, mapped; the mapping outlives the descriptor, which is closed. */
    private static ByteBuffer map(AssetManager assets, String path) throws IOException {
        AssetFileDescriptor fd = assets.openFd(path);
        try {
            FileInputStream in = new FileInputStream(fd.getFileDescriptor());
            try {
                return MappedModel.map(in.getChannel(), fd.getStartOffset(), fd.getDeclaredLength(), "assets/" + path);
            } finally {
                in.close();
            }
        } finally {
            fd.close();
        }
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
