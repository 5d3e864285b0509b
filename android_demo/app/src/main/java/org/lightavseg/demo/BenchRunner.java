package org.lightavseg.demo;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.charset.Charset;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

import android.content.res.AssetManager;
import android.graphics.Bitmap;
import android.graphics.BitmapFactory;
import android.os.Build;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;
import org.lightavseg.core.BenchReport;
import org.lightavseg.core.Engine;
import org.lightavseg.core.LatencyStats;
import org.lightavseg.core.Npy;
import org.lightavseg.core.Segmenter;
import org.lightavseg.core.TensorData;
import org.lightavseg.core.Wav;

/**
 * Bench mode: runs the held-out clips shipped in assets/heldout/ through the model and writes
 * bench_report.json plus one mask-logits .npy per clip into the app's external files dir.
 */
final class BenchRunner {
    interface Progress {
        void say(String line);
    }

    static final String HELDOUT_INDEX = "heldout/index.json";
    /** What each timed run covers: inputs are prepared before the clock starts; buffers are allocated once. */
    static final String LATENCY_SCOPE = "engine.run per frame: inputs copied into preallocated buffers, invoke, "
            + "outputs copied back";

    private final AssetManager assets;
    private final File outDir;
    private final Progress progress;

    BenchRunner(AssetManager assets, File outDir, Progress progress) {
        this.assets = assets;
        this.outDir = outDir;
        this.progress = progress;
    }

    /** Removes the previous report and marker first, so a host that polls never reads a stale one. */
    void clearPrevious() {
        new File(outDir, BenchReport.REPORT_FILE).delete();
        new File(outDir, BenchReport.STARTED_FILE).delete();
        File outputs = new File(outDir, "outputs");
        File[] old = outputs.listFiles();
        if (old != null) {
            for (File f : old) {
                f.delete();
            }
        }
    }

    /** Runs everything and writes the report (also when it fails, with status "error"); returns its path. */
    File run(Segmenter seg, Engine engine, String requestedDelegate, int warmup, int repeats) throws IOException, JSONException {
        BenchReport report = baseReport(seg, engine, requestedDelegate);
        try {
            runClips(seg, engine, report, warmup, Math.max(1, repeats));
        } catch (Exception e) {
            report.error(e.getClass().getSimpleName() + ": " + e.getMessage());
        }
        return report.write(outDir);
    }

    /** A report that only says why nothing ran (no model, no LiteRT, bad manifest); manifest may be null. */
    File writeFailure(String message, String requestedDelegate, org.lightavseg.core.Manifest manifest)
            throws IOException, JSONException {
        BenchReport report = new BenchReport();
        addDevice(report);
        if (manifest != null) {
            report.artifact(manifest);
        }
        report.runtime("delegate_requested", requestedDelegate).runtime("delegate", "none");
        return report.error(message).write(outDir);
    }

    private BenchReport baseReport(Segmenter seg, Engine engine, String requestedDelegate) {
        BenchReport r = new BenchReport();
        addDevice(r);
        // The delegate fields come from the engine's accounting (what the interpreter reports), not from text.
        r.runtime("version", engine.runtime()).runtime("threads", engine.threads())
                .delegateOutcome(engine.delegateOutcome());
        return r.artifact(seg.manifest());
    }

    private static void addDevice(BenchReport r) {
        JSONArray abis = new JSONArray();
        for (String a : Build.SUPPORTED_ABIS) {
            abis.put(a);
        }
        r.device("manufacturer", Build.MANUFACTURER).device("model", Build.MODEL).device("device", Build.DEVICE)
                .device("hardware", Build.HARDWARE).device("board", Build.BOARD).device("abis", abis)
                .device("android_release", Build.VERSION.RELEASE).device("sdk_int", Build.VERSION.SDK_INT)
                .device("cpu_cores", Runtime.getRuntime().availableProcessors());
    }

    private void runClips(Segmenter seg, Engine engine, BenchReport report, int warmup, int repeats) throws Exception {
        JSONObject index = new JSONObject(new String(ModelStore.read(assets, HELDOUT_INDEX), Charset.forName("UTF-8")));
        JSONArray clips = index.getJSONArray("clips");
        if (clips.length() == 0) {
            throw new IOException("assets/" + HELDOUT_INDEX + " lists no clips");
        }
        File outputs = new File(outDir, "outputs");
        if (!outputs.isDirectory() && !outputs.mkdirs()) {
            throw new IOException("cannot create " + outputs);
        }
        List<Double> timings = new ArrayList<Double>();
        int[] hw = seg.maskSize();
        boolean warmed = false;
        for (int c = 0; c < clips.length(); c++) {
            JSONObject clip = clips.getJSONObject(c);
            String name = clip.getString("name");
            JSONArray frames = clip.getJSONArray("frames");
            int t = frames.length();
            float[][] audio = audioFeatures(seg, clip.getString("audio"), t);
            float[] logits = new float[t * hw[0] * hw[1]];
            for (int f = 0; f < t; f++) {
                Bitmap bmp = decode(frames.getString(f));
                int w = bmp.getWidth();
                int h = bmp.getHeight();
                byte[] rgb = rgbOf(bmp);
                Map<String, TensorData> in = seg.inputs(rgb, w, h, audio[f]);
                if (!warmed) {
                    for (int i = 0; i < warmup; i++) {
                        engine.run(in);
                    }
                    warmed = true;
                }
                Map<String, TensorData> out = null;
                for (int r = 0; r < repeats; r++) {
                    long t0 = System.nanoTime();
                    out = engine.run(in);
                    timings.add((System.nanoTime() - t0) / 1e6);
                }
                System.arraycopy(seg.maskLogits(out), 0, logits, f * hw[0] * hw[1], hw[0] * hw[1]);
            }
            String rel = "outputs/" + name + ".npy";
            OutputStream os = new FileOutputStream(new File(outDir, rel));
            try {
                Npy.writeFloat32(os, logits, new int[] {t, 1, hw[0], hw[1]});
            } finally {
                os.close();
            }
            report.output(name, rel, "mask_logits", new int[] {t, 1, hw[0], hw[1]}, t);
            progress.say("clip " + (c + 1) + "/" + clips.length() + " " + name);
        }
        double[] ms = new double[timings.size()];
        for (int i = 0; i < ms.length; i++) {
            ms[i] = timings.get(i);
        }
        report.latency(LatencyStats.of(ms, warmup), LATENCY_SCOPE);
    }

    private float[][] audioFeatures(Segmenter seg, String path, int frames) throws IOException {
        InputStream in = assets.open("heldout/" + path);
        Wav wav;
        try {
            wav = Wav.read(in, path);
        } finally {
            in.close();
        }
        if (wav.sampleRate != seg.vggish().sampleRate) {
            throw new IOException(path + " is " + wav.sampleRate + " Hz; the app has no resampler, ship "
                    + seg.vggish().sampleRate + " Hz clips (make android-assets does)");
        }
        float[][] windows = seg.logMel().windows(wav.mono, frames);
        float[][] out = new float[frames][];
        for (int i = 0; i < frames; i++) {
            out[i] = seg.audioFeature(windows[i]);
        }
        return out;
    }

    private Bitmap decode(String path) throws IOException {
        BitmapFactory.Options o = new BitmapFactory.Options();
        o.inScaled = false;
        o.inPreferredConfig = Bitmap.Config.ARGB_8888;
        InputStream in = assets.open("heldout/" + path);
        try {
            Bitmap b = BitmapFactory.decodeStream(in, null, o);
            if (b == null) {
                throw new IOException("cannot decode heldout/" + path);
            }
            return b;
        } finally {
            in.close();
        }
    }

    static byte[] rgbOf(Bitmap b) {
        int w = b.getWidth();
        int h = b.getHeight();
        int[] px = new int[w * h];
        b.getPixels(px, 0, w, 0, 0, w, h);
        byte[] rgb = new byte[w * h * 3];
        for (int i = 0; i < px.length; i++) {
            rgb[i * 3] = (byte) (px[i] >> 16);
            rgb[i * 3 + 1] = (byte) (px[i] >> 8);
            rgb[i * 3 + 2] = (byte) px[i];
        }
        return rgb;
    }
}
