package org.lightavseg.core;

import java.util.Arrays;

import org.json.JSONException;
import org.json.JSONObject;

/** Latency summary in milliseconds: percentiles as numpy.percentile (linear), mean, population std. */
public final class LatencyStats {
    public final double p50;
    public final double p90;
    public final double p99;
    public final double mean;
    public final double std;
    public final double min;
    public final double max;
    public final int runs;
    public final int warmup;

    private LatencyStats(double[] sorted, int warmup) {
        this.runs = sorted.length;
        this.warmup = warmup;
        this.p50 = percentile(sorted, 50);
        this.p90 = percentile(sorted, 90);
        this.p99 = percentile(sorted, 99);
        double sum = 0;
        for (double v : sorted) {
            sum += v;
        }
        this.mean = sum / sorted.length;
        double sq = 0;
        for (double v : sorted) {
            sq += (v - mean) * (v - mean);
        }
        this.std = Math.sqrt(sq / sorted.length);
        this.min = sorted[0];
        this.max = sorted[sorted.length - 1];
    }

    /** Summarises timed runs (warm-up runs already excluded; warmup is recorded only). */
    public static LatencyStats of(double[] ms, int warmup) {
        if (ms.length == 0) {
            throw new IllegalArgumentException("no timed runs to summarise");
        }
        double[] s = ms.clone();
        Arrays.sort(s);
        return new LatencyStats(s, warmup);
    }

    /** numpy.percentile(values, q) with the default linear method, on sorted values. */
    public static double percentile(double[] sorted, double q) {
        double pos = (sorted.length - 1) * q / 100.0;
        int lo = (int) Math.floor(pos);
        int hi = Math.min(lo + 1, sorted.length - 1);
        double frac = pos - lo;
        return sorted[lo] + (sorted[hi] - sorted[lo]) * frac;
    }

    public JSONObject toJson() throws JSONException {
        JSONObject o = new JSONObject();
        o.put("p50", p50);
        o.put("p90", p90);
        o.put("p99", p99);
        o.put("mean", mean);
        o.put("std", std);
        o.put("min", min);
        o.put("max", max);
        o.put("runs", runs);
        o.put("warmup", warmup);
        return o;
    }
}
