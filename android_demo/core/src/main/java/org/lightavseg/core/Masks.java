package org.lightavseg.core;

/** Mask logits to binary masks, as lightavseg_mobile.metrics.task.logits_to_mask decides them. */
public final class Masks {
    private Masks() {
    }

    /** float32 logistic 1 / (1 + exp(-x)): exp rounded to float32, then float32 add and reciprocal. */
    public static float sigmoid(float x) {
        float e = (float) Math.exp(-(double) x);
        e += 1.0f;
        return 1.0f / e;
    }

    /**
     * Foreground where sigmoid(logit) > 0.5 in float32 (NaN is background). Not simply logit > 0: logits
     * below about 3e-8 give exactly 0.5 in float32 and are background, as on the host.
     */
    public static byte[] threshold(float[] logits) {
        byte[] m = new byte[logits.length];
        for (int i = 0; i < logits.length; i++) {
            m[i] = sigmoid(logits[i]) > 0.5f ? (byte) 1 : (byte) 0;
        }
        return m;
    }

    /**
     * Nearest-neighbour resize of a mask [h][w] to [outH][outW], sampling at pixel centres:
     * src = floor((2 * dst + 1) * in / (2 * out)) in integer arithmetic (the Python reference uses the
     * same formula), so host and device agree exactly.
     */
    public static byte[] resizeNearest(byte[] mask, int w, int h, int outW, int outH) {
        if (mask.length != w * h || outW < 1 || outH < 1) {
            throw new IllegalArgumentException("mask of " + mask.length + " values is not " + w + "x" + h);
        }
        int[] xs = new int[outW];
        for (int x = 0; x < outW; x++) {
            xs[x] = (int) (((2L * x + 1) * w) / (2L * outW));
        }
        byte[] out = new byte[outW * outH];
        for (int y = 0; y < outH; y++) {
            int sy = (int) (((2L * y + 1) * h) / (2L * outH));
            for (int x = 0; x < outW; x++) {
                out[y * outW + x] = mask[sy * w + xs[x]];
            }
        }
        return out;
    }

    /** Fraction of foreground pixels. */
    public static double area(byte[] mask) {
        int n = 0;
        for (byte b : mask) {
            n += b != 0 ? 1 : 0;
        }
        return mask.length == 0 ? 0.0 : (double) n / mask.length;
    }
}
