package org.lightavseg.core;

import java.util.HashMap;
import java.util.Map;

/**
 * Frame + audio -> mask logits, entirely driven by the manifest: image contract, audio front end
 * (log-mel or raw waveform), layouts, int8 scale/zero-point.
 */
public final class Segmenter {
    private final Manifest manifest;
    private final ImageContract image;
    private final TensorSpec frameSpec;
    private final TensorSpec audioSpec;
    private final TensorSpec maskSpec;
    private final String audioKind;
    private final LogMel logMel;
    private final VggishParams vggish;

    public Segmenter(Manifest manifest) throws ManifestException {
        manifest.requireRunnableByApp();
        this.manifest = manifest;
        this.image = manifest.imageContract();
        this.frameSpec = manifest.input("frame");
        this.audioKind = manifest.audioInputName();
        this.audioSpec = manifest.input(audioKind);
        this.maskSpec = manifest.output("mask_logits");
        this.vggish = manifest.vggish();
        this.logMel = new LogMel(vggish);
        int want = "logmel".equals(audioKind) ? vggish.patchFrames * vggish.numMelBins : vggish.patchSamples();
        if (audioSpec.elements() != want) {
            throw new ManifestException(manifest.source + ": input " + audioSpec + " holds " + audioSpec.elements()
                    + " values but one " + audioKind + " window has " + want);
        }
        if (frameSpec.elements() != 3 * image.size * image.size) {
            throw new ManifestException(manifest.source + ": input " + frameSpec + " does not hold one 3x"
                    + image.size + "x" + image.size + " frame (preprocessing.image.size)");
        }
        if (!"NCHW".equals(frameSpec.layout) && !"NHWC".equals(frameSpec.layout)) {
            throw new ManifestException(manifest.source + ": frame layout " + frameSpec.layout + " is not NCHW or NHWC");
        }
    }

    public Manifest manifest() {
        return manifest;
    }

    public VggishParams vggish() {
        return vggish;
    }

    public LogMel logMel() {
        return logMel;
    }

    public ImageContract imageContract() {
        return image;
    }

    /** Output mask height and width (last two dims for NCHW/"-", middle two for NHWC). */
    public int[] maskSize() {
        int[] s = maskSpec.shape;
        if ("NHWC".equals(maskSpec.layout)) {
            return new int[] {s[s.length - 3], s[s.length - 2]};
        }
        return new int[] {s[s.length - 2], s[s.length - 1]};
    }

    /** The model's audio input from one window of samples (exactly patch_samples, 16 kHz, [-1, 1]). */
    public float[] audioFeature(float[] window16k) {
        return "logmel".equals(audioKind) ? logMel.patch(window16k) : window16k.clone();
    }

    /** Model inputs from an RGB frame of any size and the audio feature (a log-mel patch or a waveform). */
    public Map<String, TensorData> inputs(byte[] rgb, int w, int h, float[] audioFeature) {
        float[] frame = ImageOps.toModelInput(rgb, w, h, image, !"NHWC".equals(frameSpec.layout));
        Map<String, TensorData> in = new HashMap<String, TensorData>();
        in.put(frameSpec.name, TensorData.fromFloat32(frameSpec, frame));
        in.put(audioSpec.name, TensorData.fromFloat32(audioSpec, audioFeature));
        return in;
    }

    /** Mask logits float32 [H*W] (dequantized) from the engine's outputs. */
    public float[] maskLogits(Map<String, TensorData> outputs) throws Engine.EngineException {
        TensorData t = outputs.get(maskSpec.name);
        if (t == null) {
            throw new Engine.EngineException("the engine returned no " + maskSpec.name + " output");
        }
        return t.toFloat32();
    }

    /** Runs one frame end to end and returns the mask logits. */
    public float[] run(Engine engine, byte[] rgb, int w, int h, float[] audioFeature) throws Engine.EngineException {
        return maskLogits(engine.run(inputs(rgb, w, h, audioFeature)));
    }
}
