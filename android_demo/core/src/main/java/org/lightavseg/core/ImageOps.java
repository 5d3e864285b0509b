package org.lightavseg.core;

/**
 * Frame preprocessing: resize, normalise and lay out interleaved RGB bytes as the model's input.
 *
 * The resize is Pillow's BILINEAR resize (what lightavseg_mobile.data.preprocess.frames_to_input calls):
 * a separable, antialiased triangle filter whose support grows with the downscale factor, weights
 * normalised per output pixel and rounded to 22-bit fixed point, a horizontal pass then a vertical pass,
 * each rounding to uint8. Implemented from that description with integer arithmetic, so the result is
 * bit-identical to Pillow's, which the golden tests check.
 */
public final class ImageOps {
    private static final int PRECISION_BITS = 32 - 8 - 2;

    private ImageOps() {
    }

    /** Per output pixel: first source index, number of taps, fixed-point weights (ksize per pixel). */
    private static final class Coeffs {
        final int ksize;
        final int[] bounds;
        final int[] weights;

        Coeffs(int ksize, int[] bounds, int[] weights) {
            this.ksize = ksize;
            this.bounds = bounds;
            this.weights = weights;
        }
    }

    private static double triangle(double x) {
        double a = x < 0 ? -x : x;
        return a < 1.0 ? 1.0 - a : 0.0;
    }

    private static Coeffs coeffs(int inSize, int outSize) {
        double scale = (double) inSize / outSize;
        double filterScale = Math.max(scale, 1.0);
        double support = filterScale;  // the triangle's support is 1, widened when shrinking
        int ksize = (int) Math.ceil(support) * 2 + 1;
        int[] bounds = new int[outSize * 2];
        int[] weights = new int[outSize * ksize];
        double[] k = new double[ksize];
        for (int xx = 0; xx < outSize; xx++) {
            double center = (xx + 0.5) * scale;
            double ss = 1.0 / filterScale;
            int xmin = (int) (center - support + 0.5);
            if (xmin < 0) {
                xmin = 0;
            }
            int xmax = (int) (center + support + 0.5);
            if (xmax > inSize) {
                xmax = inSize;
            }
            xmax -= xmin;
            double total = 0.0;
            for (int x = 0; x < xmax; x++) {
                k[x] = triangle((x + xmin - center + 0.5) * ss);
                total += k[x];
            }
            for (int x = 0; x < ksize; x++) {
                double w = x < xmax ? (total != 0.0 ? k[x] / total : k[x]) : 0.0;
                // Round half away from zero to fixed point.
                weights[xx * ksize + x] = (int) (w < 0 ? -0.5 + w * (1 << PRECISION_BITS) : 0.5 + w * (1 << PRECISION_BITS));
            }
            bounds[xx * 2] = xmin;
            bounds[xx * 2 + 1] = xmax;
        }
        return new Coeffs(ksize, bounds, weights);
    }

    private static int clip8(int acc) {
        int v = acc >> PRECISION_BITS;
        return v < 0 ? 0 : (v > 255 ? 255 : v);
    }

    /** Bilinear (Pillow-compatible) resize of interleaved RGB [h][w][3] to [outH][outW][3]. */
    public static byte[] resizeBilinear(byte[] rgb, int w, int h, int outW, int outH) {
        checkRgb(rgb, w, h);
        if (outW < 1 || outH < 1) {
            throw new IllegalArgumentException("resize target must be positive, got " + outW + "x" + outH);
        }
        Coeffs vert = coeffs(h, outH);
        byte[] src = rgb;
        int srcW = w;
        int rowOffset = 0;
        int rows = h;
        if (outW != w) {
            // Only the source rows the vertical pass reads are resampled horizontally.
            int first = vert.bounds[0];
            int last = vert.bounds[outH * 2 - 2] + vert.bounds[outH * 2 - 1];
            Coeffs hor = coeffs(w, outW);
            rows = last - first;
            byte[] tmp = new byte[rows * outW * 3];
            for (int y = 0; y < rows; y++) {
                int srcRow = (y + first) * w * 3;
                for (int xx = 0; xx < outW; xx++) {
                    int xmin = hor.bounds[xx * 2];
                    int xmax = hor.bounds[xx * 2 + 1];
                    int kb = xx * hor.ksize;
                    int s0 = 1 << (PRECISION_BITS - 1);
                    int s1 = s0;
                    int s2 = s0;
                    for (int x = 0; x < xmax; x++) {
                        int wgt = hor.weights[kb + x];
                        int si = srcRow + (x + xmin) * 3;
                        s0 += (rgb[si] & 0xff) * wgt;
                        s1 += (rgb[si + 1] & 0xff) * wgt;
                        s2 += (rgb[si + 2] & 0xff) * wgt;
                    }
                    int di = (y * outW + xx) * 3;
                    tmp[di] = (byte) clip8(s0);
                    tmp[di + 1] = (byte) clip8(s1);
                    tmp[di + 2] = (byte) clip8(s2);
                }
            }
            src = tmp;
            srcW = outW;
            rowOffset = first;
        }
        if (outH == h) {
            if (src == rgb) {
                return rgb.clone();
            }
            return src;
        }
        byte[] out = new byte[outH * srcW * 3];
        for (int yy = 0; yy < outH; yy++) {
            int ymin = vert.bounds[yy * 2] - rowOffset;
            int ymax = vert.bounds[yy * 2 + 1];
            int kb = yy * vert.ksize;
            for (int xx = 0; xx < srcW; xx++) {
                int s0 = 1 << (PRECISION_BITS - 1);
                int s1 = s0;
                int s2 = s0;
                for (int y = 0; y < ymax; y++) {
                    int wgt = vert.weights[kb + y];
                    int si = ((y + ymin) * srcW + xx) * 3;
                    s0 += (src[si] & 0xff) * wgt;
                    s1 += (src[si + 1] & 0xff) * wgt;
                    s2 += (src[si + 2] & 0xff) * wgt;
                }
                int di = (yy * srcW + xx) * 3;
                out[di] = (byte) clip8(s0);
                out[di + 1] = (byte) clip8(s1);
                out[di + 2] = (byte) clip8(s2);
            }
        }
        return out;
    }

    /**
     * (x / 255 - mean) / std per channel in float32, the exact operation order of frames_to_input, so
     * the result is bit-identical. nchw selects [3][h][w] (else [h][w][3]).
     */
    public static float[] normalize(byte[] rgb, int w, int h, float[] mean, float[] std, boolean nchw) {
        checkRgb(rgb, w, h);
        if (mean.length != 3 || std.length != 3) {
            throw new IllegalArgumentException("mean and std need 3 values each");
        }
        int plane = w * h;
        float[] out = new float[plane * 3];
        for (int i = 0; i < plane; i++) {
            for (int c = 0; c < 3; c++) {
                float v = ((float) (rgb[i * 3 + c] & 0xff) / 255.0f - mean[c]) / std[c];
                out[nchw ? c * plane + i : i * 3 + c] = v;
            }
        }
        return out;
    }

    /** frames_to_input for one frame: resize to size x size when needed, then normalize. */
    public static float[] toModelInput(byte[] rgb, int w, int h, ImageContract contract, boolean nchw) {
        byte[] sized = rgb;
        if (w != contract.size || h != contract.size) {
            sized = resizeBilinear(rgb, w, h, contract.size, contract.size);
        }
        return normalize(sized, contract.size, contract.size, contract.mean, contract.std, nchw);
    }

    /** Rotates interleaved RGB clockwise by 0/90/180/270 degrees (camera sensor orientation). */
    public static byte[] rotate(byte[] rgb, int w, int h, int degrees) {
        checkRgb(rgb, w, h);
        int d = ((degrees % 360) + 360) % 360;
        if (d == 0) {
            return rgb;
        }
        if (d % 90 != 0) {
            throw new IllegalArgumentException("rotation must be a multiple of 90 degrees, got " + degrees);
        }
        boolean swap = d != 180;
        int ow = swap ? h : w;
        byte[] out = new byte[rgb.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                int nx;
                int ny;
                if (d == 90) {
                    nx = h - 1 - y;
                    ny = x;
                } else if (d == 180) {
                    nx = w - 1 - x;
                    ny = h - 1 - y;
                } else {
                    nx = y;
                    ny = w - 1 - x;
                }
                System.arraycopy(rgb, (y * w + x) * 3, out, (ny * ow + nx) * 3, 3);
            }
        }
        return out;
    }

    /** Mirrors interleaved RGB left-right (what the front camera's preview shows). */
    public static byte[] mirror(byte[] rgb, int w, int h) {
        checkRgb(rgb, w, h);
        byte[] out = new byte[rgb.length];
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                System.arraycopy(rgb, (y * w + x) * 3, out, (y * w + (w - 1 - x)) * 3, 3);
            }
        }
        return out;
    }

    /**
     * YUV 4:2:0 planes (Android's YUV_420_888 with any pixel/row strides) to interleaved RGB, BT.601
     * full range ("JFIF", what camera JPEGs use) in 10-bit fixed point.
     */
    public static byte[] yuv420ToRgb(byte[] y, int yRowStride, byte[] u, byte[] v, int uvRowStride,
                                     int uvPixelStride, int w, int h) {
        byte[] out = new byte[w * h * 3];
        for (int row = 0; row < h; row++) {
            for (int col = 0; col < w; col++) {
                int yy = y[row * yRowStride + col] & 0xff;
                int uvIndex = (row >> 1) * uvRowStride + (col >> 1) * uvPixelStride;
                int cb = (u[uvIndex] & 0xff) - 128;
                int cr = (v[uvIndex] & 0xff) - 128;
                // 1.402, 0.344136, 0.714136, 1.772 scaled by 1024 and rounded.
                int r = yy + ((1436 * cr + 512) >> 10);
                int g = yy - ((352 * cb + 731 * cr + 512) >> 10);
                int b = yy + ((1815 * cb + 512) >> 10);
                int o = (row * w + col) * 3;
                out[o] = (byte) (r < 0 ? 0 : (r > 255 ? 255 : r));
                out[o + 1] = (byte) (g < 0 ? 0 : (g > 255 ? 255 : g));
                out[o + 2] = (byte) (b < 0 ? 0 : (b > 255 ? 255 : b));
            }
        }
        return out;
    }

    private static void checkRgb(byte[] rgb, int w, int h) {
        if (w < 1 || h < 1 || rgb.length != w * h * 3) {
            throw new IllegalArgumentException("expected " + w + "x" + h + "x3 RGB bytes, got " + rgb.length);
        }
    }
}
