package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import java.io.File;
import java.io.FileOutputStream;
import java.io.OutputStream;
import java.util.HashMap;
import java.util.Map;

import org.json.JSONObject;
import org.junit.Test;

public class SegmenterBenchTest {
    /** Test double: checks what the app feeds an engine and answers with fixed int8 logits. */
    private static final class CheckingEngine implements Engine {
        Map<String, TensorData> seen;

        @Override
        public Map<String, TensorData> run(Map<String, TensorData> inputs) {
            seen = inputs;
            Map<String, TensorData> out = new HashMap<String, TensorData>();
            TensorSpec spec;
            try {
                spec = manifest().output("mask_logits");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
            byte[] q = new byte[spec.elements()];
            for (int i = 0; i < q.length; i++) {
                q[i] = (byte) ((i % 7) - 3);
            }
            out.put("mask_logits", TensorData.ofBytes(spec, q));
            return out;
        }

        @Override
        public String delegate() {
            return "test";
        }

        @Override
        public DelegateOutcome delegateOutcome() {
            return new DelegateOutcome("cpu", "xnnpack", 10, 1, false, null);
        }

        @Override
        public String runtime() {
            return "test";
        }

        @Override
        public int threads() {
            return 1;
        }

        @Override
        public void close() {
        }
    }

    private static Manifest manifest() throws Exception {
        return Manifest.parse(Golden.text(new File(Golden.dir(),
                Golden.index().getJSONObject("manifest").getString("manifest"))), "model.manifest.json");
    }

    @Test
    public void quantizesInputsAndDequantizesOutputsFromTheManifest() throws Exception {
        Segmenter seg = new Segmenter(manifest());
        CheckingEngine engine = new CheckingEngine();
        byte[] rgb = new byte[320 * 240 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 31);
        }
        float[] window = new float[seg.vggish().patchSamples()];
        for (int i = 0; i < window.length; i++) {
            window[i] = (float) (0.3 * Math.sin(i * 0.05));
        }
        float[] feature = seg.audioFeature(window);
        assertEquals(96 * 64, feature.length);
        float[] logits = seg.run(engine, rgb, 320, 240, feature);
        TensorData frame = engine.seen.get("frame");
        float[] expectedFrame = ImageOps.toModelInput(rgb, 320, 240, seg.imageContract(), true);
        byte[] q = Quant.quantize(expectedFrame, 0.0187f, -14, true);
        for (int i = 0; i < q.length; i++) {
            assertEquals(q[i], frame.bytes[i]);
        }
        assertEquals(feature[17], engine.seen.get("logmel").floats[17], 0f);
        assertEquals(224 * 224, logits.length);
        assertEquals((float) (0 - 3 - 3) * 0.11f, logits[0], 0f);
        assertEquals(224, seg.maskSize()[0]);
    }

    @Test
    public void benchReportFollowsTheDocumentedSchema() throws Exception {
        File out = new File(System.getProperty("bench.out", System.getProperty("java.io.tmpdir") + "/lavseg-bench-test"));
        File outputs = new File(out, "outputs");
        assertTrue(outputs.isDirectory() || outputs.mkdirs());
        float[] logits = new float[2 * 1 * 4 * 4];
        for (int i = 0; i < logits.length; i++) {
            logits[i] = i - 10.5f;
        }
        OutputStream os = new FileOutputStream(new File(outputs, "clip_a.npy"));
        try {
            Npy.writeFloat32(os, logits, new int[] {2, 1, 4, 4});
        } finally {
            os.close();
        }
        LatencyStats stats = LatencyStats.of(new double[] {5, 1, 4, 2, 3}, 2);
        assertEquals(3.0, stats.p50, 0);
        assertEquals(4.6, stats.p90, 1e-12);
        assertEquals(Math.sqrt(2.0), stats.std, 1e-12);
        File report = new BenchReport()
                .device("manufacturer", "host").device("model", "jvm").device("sdk_int", 0)
                .runtime("version", "test").runtime("threads", 1)
                .delegateOutcome(new DelegateOutcome("gpu", "xnnpack", 40, 3, true, "gpu refused the model: no OpenCL"))
                .artifact(manifest())
                .latency(stats, "engine.run per frame")
                .output("clip_a", "outputs/clip_a.npy", "mask_logits", new int[] {2, 1, 4, 4}, 2)
                .write(out);
        JSONObject j = new JSONObject(Golden.text(report));
        assertEquals("lightavseg-bench-report", j.getString("schema"));
        assertEquals(2, j.getInt("schema_version"));
        JSONObject rt = j.getJSONObject("runtime");
        assertEquals("litert-android", rt.getString("name"));
        JSONObject d = rt.getJSONObject("delegate_outcome");
        assertEquals("gpu", d.getString("requested"));
        assertEquals("xnnpack", d.getString("applied"));
        assertTrue(d.getBoolean("fallback"));
        assertEquals(38, d.getInt("nodes_delegated_min"));
        assertEquals("gpu", rt.getString("delegate_requested"));
        assertTrue(rt.getString("delegate").startsWith("cpu (xnnpack)"));
        File started = BenchReport.writeStarted(out, "delegate=gpu");
        assertEquals(BenchReport.STARTED_FILE, started.getName());
        assertEquals(manifest().artifactSha256, j.getJSONObject("artifact").getString("sha256"));
        assertEquals(5, j.getJSONObject("latency_ms").getInt("runs"));
        assertEquals("ok", j.getString("status"));
        assertTrue(!new File(out, BenchReport.REPORT_FILE + ".tmp").exists());
    }

    @Test
    public void latencyWindowKeepsTheLastThirty() {
        LatencyWindow w = new LatencyWindow(30);
        assertTrue(Double.isNaN(w.p50()));
        for (int i = 0; i < 100; i++) {
            w.add(i < 70 ? 1000 : i);
        }
        assertEquals(30, w.count());
        assertEquals(84.5, w.p50(), 1e-12);
    }
}
