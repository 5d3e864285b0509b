package org.lightavseg.core;

import java.io.IOException;
import java.io.InputStream;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The artifact manifest (schema "lightavseg-manifest", version 1) that lavseg-export writes next to every
 * artifact: the app takes shapes, quantization and preprocessing constants from here and nowhere else.
 */
public final class Manifest {
    public static final String SCHEMA = "lightavseg-manifest";
    public static final int SCHEMA_VERSION = 1;

    public final String source;
    public final int schemaVersion;
    public final String artifactFile;
    public final String artifactSha256;
    public final long artifactSize;
    public final String format;
    public final String precision;
    public final String preset;
    public final String module;
    public final String status;
    public final List<TensorSpec> inputs;
    public final List<TensorSpec> outputs;
    public final JSONObject preprocessing;
    public final JSONObject raw;

    private Manifest(JSONObject o, String source) throws ManifestException, JSONException {
        this.source = source;
        this.raw = o;
        this.schemaVersion = o.getInt("schema_version");
        this.artifactFile = o.getString("artifact_file");
        this.artifactSha256 = o.getString("artifact_sha256").toLowerCase(java.util.Locale.ROOT);
        this.artifactSize = o.optLong("artifact_size", -1);
        this.format = o.getString("format");
        this.precision = o.optString("precision", "");
        this.preset = o.optString("preset", "");
        this.module = o.optString("module", "model");
        this.status = o.optString("status", "published");
        this.inputs = specs(o.getJSONArray("inputs"), source);
        this.outputs = specs(o.getJSONArray("outputs"), source);
        this.preprocessing = o.optJSONObject("preprocessing") == null ? new JSONObject() : o.getJSONObject("preprocessing");
    }

    private static List<TensorSpec> specs(JSONArray a, String source) throws ManifestException, JSONException {
        List<TensorSpec> out = new ArrayList<TensorSpec>();
        for (int i = 0; i < a.length(); i++) {
            out.add(TensorSpec.fromJson(a.getJSONObject(i), source));
        }
        return Collections.unmodifiableList(out);
    }

    /** Parses and validates manifest JSON text; source names the file in error messages. */
    public static Manifest parse(String json, String source) throws ManifestException {
        JSONObject o;
        try {
            o = new JSONObject(json);
        } catch (JSONException e) {
            throw new ManifestException(source + " is not valid JSON (" + e.getMessage() + "); re-export the model");
        }
        String schema = o.optString("schema", "");
        if (!SCHEMA.equals(schema)) {
            throw new ManifestException(source + " is not a LightAVSeg manifest (schema=" + schema + ")");
        }
        int version = o.optInt("schema_version", -1);
        if (version < 1 || version > SCHEMA_VERSION) {
            throw new ManifestException(source + " has manifest schema version " + o.opt("schema_version")
                    + "; this app reads up to " + SCHEMA_VERSION + ": update the app");
        }
        try {
            return new Manifest(o, source);
        } catch (JSONException e) {
            throw new ManifestException(source + " is malformed (" + e.getMessage() + "); re-export the model");
        }
    }

    /** Checks what the live app and bench mode need: a published whole-model TFLite artifact. */
    public void requireRunnableByApp() throws ManifestException {
        if (!"tflite".equals(format)) {
            throw new ManifestException(source + " describes a " + format + " artifact; the app runs tflite exports");
        }
        if (!"model".equals(module)) {
            throw new ManifestException(source + " describes the sub-module " + module + "; export the whole model");
        }
        if (!"published".equals(status)) {
            throw new ManifestException(source + " has status " + status + " (it failed its parity gate); use a published export");
        }
        input("frame");
        output("mask_logits");
        audioInputName();
    }

    /** The input spec called name. */
    public TensorSpec input(String name) throws ManifestException {
        for (TensorSpec s : inputs) {
            if (s.name.equals(name)) {
                return s;
            }
        }
        throw new ManifestException(source + ": artifact " + artifactFile + " has no input " + name + "; inputs: " + names(inputs));
    }

    /** The output spec called name. */
    public TensorSpec output(String name) throws ManifestException {
        for (TensorSpec s : outputs) {
            if (s.name.equals(name)) {
                return s;
            }
        }
        throw new ManifestException(source + ": artifact " + artifactFile + " has no output " + name + "; outputs: " + names(outputs));
    }

    /** "logmel" or "waveform": which audio tensor the model takes (preprocessing.audio_input, as lavseg-export writes it). */
    public String audioInputName() throws ManifestException {
        String kind = preprocessing.optString("audio_input", "");
        if (!"logmel".equals(kind) && !"waveform".equals(kind)) {
            throw new ManifestException(source + ": preprocessing.audio_input is '" + kind + "'; expected logmel or waveform");
        }
        input(kind);
        return kind;
    }

    /** preprocessing.image as an ImageContract. */
    public ImageContract imageContract() throws ManifestException {
        JSONObject image = preprocessing.optJSONObject("image");
        if (image == null) {
            throw new ManifestException(source + " has no preprocessing.image {size, mean, std}; re-export the model");
        }
        return ImageContract.fromJson(image, source);
    }

    /** preprocessing.audio (the VGGish front-end constants lavseg-export records) as VggishParams. */
    public VggishParams vggish() throws ManifestException {
        JSONObject audio = preprocessing.optJSONObject("audio");
        if (audio == null) {
            throw new ManifestException(source + " has no preprocessing.audio (VGGish parameters); re-export the model");
        }
        return VggishParams.fromJson(audio, source);
    }

    /** Refuses an artifact whose sha256 (and size, when recorded) differ from the manifest's. */
    public void verifyArtifact(InputStream artifact, String artifactSource) throws ManifestException, IOException {
        MessageDigest md = sha256();
        byte[] buf = new byte[1 << 16];
        long size = 0;
        int n;
        while ((n = artifact.read(buf)) > 0) {
            md.update(buf, 0, n);
            size += n;
        }
        String digest = hex(md.digest());
        if (!digest.equals(artifactSha256)) {
            throw new ManifestException("artifact " + artifactSource + " does not match its manifest (sha256 "
                    + digest.substring(0, 12) + "... != " + prefix(artifactSha256) + "...): copy the model and its manifest together again");
        }
        if (artifactSize >= 0 && size != artifactSize) {
            throw new ManifestException("artifact " + artifactSource + " has " + size + " bytes, its manifest says " + artifactSize);
        }
    }

    /** Lower-case hex sha256 of a byte array. */
    public static String sha256Hex(byte[] data) {
        MessageDigest md = sha256();
        md.update(data);
        return hex(md.digest());
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException("SHA-256 is missing from this Java runtime", e);
        }
    }

    private static String prefix(String s) {
        return s.length() > 12 ? s.substring(0, 12) : s;
    }

    static String hex(byte[] d) {
        StringBuilder s = new StringBuilder();
        for (byte b : d) {
            s.append(Character.forDigit((b >> 4) & 0xf, 16)).append(Character.forDigit(b & 0xf, 16));
        }
        return s.toString();
    }

    private static String names(List<TensorSpec> specs) {
        List<String> n = new ArrayList<String>();
        for (TensorSpec s : specs) {
            n.add(s.name);
        }
        return n.toString();
    }
}
