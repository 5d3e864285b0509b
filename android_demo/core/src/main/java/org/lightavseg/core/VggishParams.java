package org.lightavseg.core;

import org.json.JSONException;
import org.json.JSONObject;

/** Constants of the VGGish log-mel front end, read from the manifest's preprocessing.audio. */
public final class VggishParams {
    public final int sampleRate;
    public final double int16Scale;
    public final int windowLength;
    public final int hopLength;
    public final int fftLength;
    public final int numMelBins;
    public final double melMinHz;
    public final double melMaxHz;
    public final double logOffset;
    public final int patchFrames;
    public final int patchHopFrames;

    public VggishParams(int sampleRate, double int16Scale, int windowLength, int hopLength, int fftLength,
                        int numMelBins, double melMinHz, double melMaxHz, double logOffset, int patchFrames,
                        int patchHopFrames) {
        this.sampleRate = sampleRate;
        this.int16Scale = int16Scale;
        this.windowLength = windowLength;
        this.hopLength = hopLength;
        this.fftLength = fftLength;
        this.numMelBins = numMelBins;
        this.melMinHz = melMinHz;
        this.melMaxHz = melMaxHz;
        this.logOffset = logOffset;
        this.patchFrames = patchFrames;
        this.patchHopFrames = patchHopFrames;
    }

    /** Samples one patch needs: (patch_frames - 1) * hop + window (15600 for VGGish). */
    public int patchSamples() {
        return (patchFrames - 1) * hopLength + windowLength;
    }

    /** Samples between the starts of two consecutive patches (15360 for VGGish). */
    public int patchHopSamples() {
        return patchHopFrames * hopLength;
    }

    /** Spectrum bins of one frame: fft_length / 2 + 1. */
    public int numSpectrogramBins() {
        return fftLength / 2 + 1;
    }

    /**
     * Parses the JSON form of lightavseg_mobile.audio.params.VGGishParams (its field names).
     * The front end here implements one algorithm (periodic Hann, magnitude, HTK mel, uncentred frames),
     * so a manifest that asks for anything else is refused rather than silently computed differently.
     */
    public static VggishParams fromJson(JSONObject o, String source) throws ManifestException {
        try {
            requireString(o, "window", "periodic_hann", source);
            requireString(o, "spectrum", "magnitude", source);
            requireString(o, "mel_scale", "htk", source);
            if (o.has("centered") && o.getBoolean("centered")) {
                throw new ManifestException(source + ": vggish.centered=true is not supported by this app (frames are uncentred)");
            }
            VggishParams p = new VggishParams(o.getInt("sample_rate"), o.getDouble("int16_scale"),
                    o.getInt("window_length"), o.getInt("hop_length"), o.getInt("fft_length"),
                    o.getInt("num_mel_bins"), o.getDouble("mel_min_hz"), o.getDouble("mel_max_hz"),
                    o.getDouble("log_offset"), o.getInt("patch_frames"), o.getInt("patch_hop_frames"));
            p.validate(source);
            return p;
        } catch (JSONException e) {
            throw new ManifestException(source + ": preprocessing.audio is malformed (" + e.getMessage() + ")");
        }
    }

    private static void requireString(JSONObject o, String key, String expected, String source)
            throws ManifestException, JSONException {
        if (o.has(key) && !expected.equals(o.getString(key))) {
            throw new ManifestException(source + ": vggish." + key + "=" + o.getString(key)
                    + " is not supported by this app (only " + expected + ")");
        }
    }

    /** Rejects values the front end cannot compute with. */
    public void validate(String source) throws ManifestException {
        if (sampleRate <= 0 || windowLength <= 0 || hopLength <= 0 || numMelBins <= 0 || patchFrames <= 0
                || patchHopFrames <= 0) {
            throw new ManifestException(source + ": vggish sizes must be positive");
        }
        if (fftLength < windowLength || Integer.bitCount(fftLength) != 1) {
            throw new ManifestException(source + ": vggish.fft_length=" + fftLength
                    + " must be a power of two >= window_length " + windowLength);
        }
        if (!(melMinHz >= 0 && melMinHz < melMaxHz && melMaxHz <= sampleRate / 2.0)) {
            throw new ManifestException(source + ": vggish mel range [" + melMinHz + ", " + melMaxHz
                    + "] Hz must lie within [0, Nyquist]");
        }
        if (!(int16Scale > 0 && logOffset > 0)) {
            throw new ManifestException(source + ": vggish.int16_scale and log_offset must be positive");
        }
    }
}
