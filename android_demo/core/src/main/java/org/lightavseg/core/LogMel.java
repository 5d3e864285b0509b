package org.lightavseg.core;

/**
 * VGGish log-mel patches, the same computation as lightavseg_mobile.audio.log_mel for 16 kHz input.
 *
 * Everything runs in double and is rounded to float only at the end, as the numpy reference does, so the
 * two agree far inside the 1e-3 contract (the remaining difference is FFT rounding, about 1e-12).
 */
public final class LogMel {
    private final VggishParams p;
    private final double[] window;
    /** Mel weights [num_mel_bins][bins]: mel[m] = sum_k magnitude[k] * weights[m][k]. */
    private final double[][] melWeights;
    private final int[] bitReverse;
    private final double[] cosTable;
    private final double[] sinTable;

    public LogMel(VggishParams params) {
        this.p = params;
        this.window = periodicHann(params.windowLength);
        this.melWeights = melMatrix(params);
        int n = params.fftLength;
        this.bitReverse = new int[n];
        int bits = Integer.numberOfTrailingZeros(n);
        for (int i = 0; i < n; i++) {
            bitReverse[i] = Integer.reverse(i) >>> (32 - bits);
        }
        this.cosTable = new double[n / 2];
        this.sinTable = new double[n / 2];
        for (int i = 0; i < n / 2; i++) {
            cosTable[i] = Math.cos(2.0 * Math.PI * i / n);
            sinTable[i] = Math.sin(2.0 * Math.PI * i / n);
        }
    }

    public VggishParams params() {
        return p;
    }

    /** Periodic Hann window (period = length), as VGGish uses. */
    public static double[] periodicHann(int length) {
        double[] w = new double[length];
        for (int i = 0; i < length; i++) {
            w[i] = 0.5 - 0.5 * Math.cos(2.0 * Math.PI * i / length);
        }
        return w;
    }

    /** numpy.linspace(start, stop, num) with numpy's formula (start + i * step, last value = stop). */
    static double[] linspace(double start, double stop, int num) {
        double[] y = new double[num];
        double step = (stop - start) / (num - 1);
        for (int i = 0; i < num; i++) {
            y[i] = start + i * step;
        }
        y[num - 1] = stop;
        return y;
    }

    static double hertzToMel(double hz) {
        return 1127.0 * Math.log1p(hz / 700.0);
    }

    /** HTK mel triangles, linear in mel, DC bin left out: [num_mel_bins][fft_length / 2 + 1]. */
    public static double[][] melMatrix(VggishParams p) {
        int bins = p.numSpectrogramBins();
        double[] binsHz = linspace(0.0, p.sampleRate / 2.0, bins);
        double[] edges = linspace(hertzToMel(p.melMinHz), hertzToMel(p.melMaxHz), p.numMelBins + 2);
        double[][] w = new double[p.numMelBins][bins];
        for (int k = 1; k < bins; k++) {
            double mel = hertzToMel(binsHz[k]);
            for (int m = 0; m < p.numMelBins; m++) {
                double lower = edges[m];
                double center = edges[m + 1];
                double upper = edges[m + 2];
                double rising = (mel - lower) / (center - lower);
                double falling = (upper - mel) / (upper - center);
                w[m][k] = Math.max(0.0, Math.min(rising, falling));
            }
        }
        return w;
    }

    /** How many patches patches() returns for numSamples of audio (numPatches <= 0: every whole patch). */
    public int patchCount(int numSamples, int numPatches) {
        return numPatches > 0 ? numPatches : wholePatches(Math.max(numSamples, p.patchSamples()));
    }

    private int wholePatches(int numSamples) {
        int frames = 1 + (numSamples - p.windowLength) / p.hopLength;
        return 1 + (frames - p.patchFrames) / p.patchHopFrames;
    }

    /**
     * Log-mel patches [N][patch_frames][num_mel_bins] flattened, of 16 kHz mono audio in [-1, 1].
     * Audio shorter than one patch is zero-padded; with numPatches > 0 a short clip repeats its last whole
     * patch (AVSBench's rule) and a long one is cut.
     */
    public float[] patches(double[] audio, int numPatches) {
        double[] a = atLeastOnePatch(audio);
        int whole = wholePatches(a.length);
        int computed = numPatches > 0 ? Math.min(whole, numPatches) : whole;
        int count = numPatches > 0 ? numPatches : whole;
        int patchSize = p.patchFrames * p.numMelBins;
        float[] out = new float[count * patchSize];
        float[] one = new float[patchSize];
        for (int i = 0; i < computed; i++) {
            patchAt(a, i * p.patchHopSamples(), one);
            System.arraycopy(one, 0, out, i * patchSize, patchSize);
        }
        for (int i = computed; i < count; i++) {
            System.arraycopy(out, (computed - 1) * patchSize, out, i * patchSize, patchSize);
        }
        return out;
    }

    /** Audio shorter than one patch, zero-padded to one patch; longer audio as it is. */
    private double[] atLeastOnePatch(double[] audio) {
        if (audio.length >= p.patchSamples()) {
            return audio;
        }
        double[] a = new double[p.patchSamples()];
        System.arraycopy(audio, 0, a, 0, audio.length);
        return a;
    }

    /**
     * The raw waveform windows [N][patch_samples] whose log-mel is patches(audio, numPatches)[n], for models
     * with the front end in their graph (lightavseg_mobile.audio.waveform_patches).
     */
    public float[][] windows(double[] audio, int numPatches) {
        double[] a = atLeastOnePatch(audio);
        int whole = wholePatches(a.length);
        int computed = numPatches > 0 ? Math.min(whole, numPatches) : whole;
        int count = numPatches > 0 ? numPatches : whole;
        float[][] out = new float[count][];
        for (int i = 0; i < count; i++) {
            int start = Math.min(i, computed - 1) * p.patchHopSamples();
            float[] w = new float[p.patchSamples()];
            for (int j = 0; j < w.length; j++) {
                w[j] = (float) a[start + j];
            }
            out[i] = w;
        }
        return out;
    }

    /** One patch [patch_frames * num_mel_bins] from exactly patch_samples samples (the live microphone path). */
    public float[] patch(float[] window16k) {
        if (window16k.length != p.patchSamples()) {
            throw new IllegalArgumentException("a log-mel patch needs " + p.patchSamples() + " samples at "
                    + p.sampleRate + " Hz, got " + window16k.length);
        }
        double[] a = new double[window16k.length];
        for (int i = 0; i < a.length; i++) {
            a[i] = window16k[i];
        }
        float[] out = new float[p.patchFrames * p.numMelBins];
        patchAt(a, 0, out);
        return out;
    }

    private void patchAt(double[] audio, int start, float[] out) {
        int n = p.fftLength;
        int bins = p.numSpectrogramBins();
        double[] re = new double[n];
        double[] im = new double[n];
        double[] magnitude = new double[bins];
        for (int f = 0; f < p.patchFrames; f++) {
            int s = start + f * p.hopLength;
            java.util.Arrays.fill(re, 0.0);
            java.util.Arrays.fill(im, 0.0);
            for (int i = 0; i < p.windowLength; i++) {
                re[bitReverse[i]] = audio[s + i] * window[i];
            }
            fftInPlace(re, im);
            for (int k = 0; k < bins; k++) {
                magnitude[k] = Math.sqrt(re[k] * re[k] + im[k] * im[k]);
            }
            for (int m = 0; m < p.numMelBins; m++) {
                double[] w = melWeights[m];
                double acc = 0.0;
                for (int k = 0; k < bins; k++) {
                    acc += magnitude[k] * w[k];
                }
                out[f * p.numMelBins + m] = (float) Math.log(acc + p.logOffset);
            }
        }
    }

    /** Iterative radix-2 FFT; the input must already be in bit-reversed order. */
    private void fftInPlace(double[] re, double[] im) {
        int n = re.length;
        for (int size = 2; size <= n; size <<= 1) {
            int half = size >> 1;
            int step = n / size;
            for (int start = 0; start < n; start += size) {
                for (int j = 0; j < half; j++) {
                    double c = cosTable[j * step];
                    double sn = -sinTable[j * step];
                    int a = start + j;
                    int b = a + half;
                    double tr = re[b] * c - im[b] * sn;
                    double ti = re[b] * sn + im[b] * c;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
        }
    }
}
