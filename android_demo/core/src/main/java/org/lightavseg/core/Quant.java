package org.lightavseg.core;

/**
 * Affine int8/uint8 quantization: real = scale * (q - zero_point).
 *
 * Contract (shared with the Python reference in lightavseg_mobile.android_golden): q = clamp(
 * round_half_away_from_zero(float32(x / scale)) + zero_point) where x / scale is a float32 division;
 * dequantize is float32(q - zero_point) * float32(scale).
 */
public final class Quant {
    private Quant() {
    }

    /** Quantizes float32 values; signed selects int8 [-128, 127], else uint8 [0, 255] (stored as bytes). */
    public static byte[] quantize(float[] x, float scale, int zeroPoint, boolean signed) {
        int lo = signed ? -128 : 0;
        int hi = signed ? 127 : 255;
        byte[] q = new byte[x.length];
        for (int i = 0; i < x.length; i++) {
            float v = x[i] / scale;
            double r = Math.signum(v) * Math.floor(Math.abs((double) v) + 0.5);
            // Clamp in double: a huge quotient must saturate, not overflow an integer.
            double t = (Double.isNaN(r) ? 0.0 : r) + zeroPoint;
            q[i] = (byte) (t < lo ? lo : (t > hi ? hi : (int) t));
        }
        return q;
    }

    /** Dequantizes int8 (signed) or uint8 bytes to float32. */
    public static float[] dequantize(byte[] q, float scale, int zeroPoint, boolean signed) {
        float[] out = new float[q.length];
        for (int i = 0; i < q.length; i++) {
            int v = signed ? q[i] : (q[i] & 0xff);
            out[i] = (float) (v - zeroPoint) * scale;
        }
        return out;
    }
}
