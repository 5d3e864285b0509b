package org.lightavseg.core;

import java.io.File;
import java.io.FileOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.charset.Charset;
import java.text.SimpleDateFormat;
import java.util.ArrayList;
import java.util.Date;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TimeZone;

import org.json.JSONArray;
import org.json.JSONException;
import org.json.JSONObject;

/**
 * The bench-mode report: a documented subset of the lavseg-bench report schema (see android_demo/README.md).
 * Mask logits go next to it as .npy files so the host computes parity with its own code.
 */
public final class BenchReport {
    public static final String SCHEMA = "lightavseg-bench-report";
    /** 2 added runtime.delegate_outcome (DelegateOutcome) and the started marker. */
    public static final int SCHEMA_VERSION = 2;
    public static final String REPORT_FILE = "bench_report.json";
    /** Written first by every bench start: the host waits for it to know the activity really started. */
    public static final String STARTED_FILE = "bench_started";

    private final Map<String, Object> device = new LinkedHashMap<String, Object>();
    private final Map<String, Object> runtime = new LinkedHashMap<String, Object>();
    private final List<JSONObject> outputs = new ArrayList<JSONObject>();
    private Manifest manifest;
    private DelegateOutcome delegateOutcome;
    private LatencyStats latency;
    private String latencyScope = "";
    private String error;
    private Date created = new Date();

    /** Device facts (manufacturer, model, sdk_int, abis, ...). */
    public BenchReport device(String key, Object value) {
        device.put(key, value);
        return this;
    }

    /** Runtime facts; name is always "litert-android". */
    public BenchReport runtime(String key, Object value) {
        runtime.put(key, value);
        return this;
    }

    /** What LiteRT did with the requested delegate: runtime.delegate_outcome, plus its label as runtime.delegate. */
    public BenchReport delegateOutcome(DelegateOutcome d) {
        this.delegateOutcome = d;
        return this;
    }

    public BenchReport artifact(Manifest m) {
        this.manifest = m;
        return this;
    }

    public BenchReport latency(LatencyStats stats, String scope) {
        this.latency = stats;
        this.latencyScope = scope;
        return this;
    }

    public BenchReport created(Date when) {
        this.created = when;
        return this;
    }

    /** Marks the run failed; the report is still written so the host sees why. */
    public BenchReport error(String message) {
        this.error = message;
        return this;
    }

    /** Records one clip's saved output: file relative to the report, logical tensor name, shape. */
    public BenchReport output(String clip, String file, String tensor, int[] shape, int frames) throws JSONException {
        JSONObject o = new JSONObject();
        o.put("clip", clip);
        o.put("file", file);
        o.put("tensor", tensor);
        o.put("dtype", "float32");
        o.put("format", "npy");
        JSONArray s = new JSONArray();
        for (int d : shape) {
            s.put(d);
        }
        o.put("shape", s);
        o.put("frames", frames);
        outputs.add(o);
        return this;
    }

    public JSONObject toJson() throws JSONException {
        JSONObject o = new JSONObject();
        o.put("schema", SCHEMA);
        o.put("schema_version", SCHEMA_VERSION);
        SimpleDateFormat iso = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ss'Z'", Locale.ROOT);
        iso.setTimeZone(TimeZone.getTimeZone("UTC"));
        o.put("created", iso.format(created));
        o.put("producer", "lightavseg-android-demo");
        o.put("device", new JSONObject(device));
        JSONObject rt = new JSONObject(runtime);
        rt.put("name", "litert-android");
        if (delegateOutcome != null) {
            rt.put("delegate", delegateOutcome.label());
            rt.put("delegate_requested", delegateOutcome.requested);
            rt.put("delegate_outcome", delegateOutcome.toJson());
        }
        o.put("runtime", rt);
        JSONObject art = new JSONObject();
        if (manifest != null) {
            art.put("file", manifest.artifactFile);
            art.put("sha256", manifest.artifactSha256);
            art.put("size", manifest.artifactSize);
            art.put("format", manifest.format);
            art.put("precision", manifest.precision);
            art.put("preset", manifest.preset);
        }
        o.put("artifact", art);
        if (latency != null) {
            JSONObject l = latency.toJson();
            l.put("scope", latencyScope);
            o.put("latency_ms", l);
        } else {
            o.put("latency_ms", JSONObject.NULL);
        }
        o.put("outputs", new JSONArray(outputs));
        o.put("status", error == null ? "ok" : "error");
        if (error != null) {
            o.put("error", error);
        }
        return o;
    }

    /** Writes dir/bench_started (the run's start time), so the host sees that this start of bench mode ran. */
    public static File writeStarted(File dir, String what) throws IOException {
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File f = new File(dir, STARTED_FILE);
        OutputStream out = new FileOutputStream(f);
        try {
            out.write((what + "\n").getBytes(Charset.forName("UTF-8")));
        } finally {
            out.close();
        }
        return f;
    }

    /** Writes dir/bench_report.json atomically (temp file + rename), so a reader never sees half a report. */
    public File write(File dir) throws IOException, JSONException {
        if (!dir.isDirectory() && !dir.mkdirs()) {
            throw new IOException("cannot create " + dir);
        }
        File target = new File(dir, REPORT_FILE);
        File tmp = new File(dir, REPORT_FILE + ".tmp");
        OutputStream out = new FileOutputStream(tmp);
        try {
            out.write(toJson().toString(2).getBytes(Charset.forName("UTF-8")));
        } finally {
            out.close();
        }
        if (!tmp.renameTo(target)) {
            throw new IOException("cannot rename " + tmp + " to " + target);
        }
        return target;
    }
}
