package org.lightavseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import java.io.ByteArrayInputStream;
import java.io.ByteArrayOutputStream;
import java.io.File;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.util.Map;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

/** Manifest variants the exporter may produce: waveform input, NHWC frames, float outputs; plus file formats. */
public class ContractVariantsTest {
    private static JSONObject goldenManifest() throws Exception {
        return new JSONObject(Golden.text(new File(Golden.dir(),
                Golden.index().getJSONObject("manifest").getString("manifest"))));
    }

    @Test
    public void waveformModelGetsTheRawWindowAndNhwcFrames() throws Exception {
        JSONObject m = goldenManifest();
        m.getJSONObject("preprocessing").put("audio_input", "waveform");
        JSONObject audio = m.getJSONArray("inputs").getJSONObject(1);
        audio.put("name", "waveform").put("shape", new JSONArray("[1, 15600]"));
        JSONObject frame = m.getJSONArray("inputs").getJSONObject(0);
        frame.put("layout", "NHWC").put("shape", new JSONArray("[1, 224, 224, 3]")).put("dtype", "float32").put("quantization", JSONObject.NULL);
        Segmenter seg = new Segmenter(Manifest.parse(m.toString(), "waveform.json"));
        float[] window = new float[15600];
        window[5] = 0.25f;
        float[] feature = seg.audioFeature(window);
        assertArrayEquals(window, feature, 0f);
        byte[] rgb = new byte[224 * 224 * 3];
        rgb[3] = (byte) 200;  // pixel 1, red
        Map<String, TensorData> in = seg.inputs(rgb, 224, 224, feature);
        float[] f = in.get("frame").floats;
        float want = ((float) 200 / 255.0f - seg.imageContract().mean[0]) / seg.imageContract().std[0];
        assertEquals(want, f[3], 0f);
        assertEquals(0.25f, in.get("waveform").floats[5], 0f);
    }

    @Test
    public void audioTensorOfTheWrongSizeIsRefused() throws Exception {
        JSONObject m = goldenManifest();
        m.getJSONArray("inputs").getJSONObject(1).put("shape", new JSONArray("[1, 1, 48, 64]"));
        try {
            new Segmenter(Manifest.parse(m.toString(), "bad.json"));
            fail("a 48-frame log-mel input was accepted for 96-frame patches");
        } catch (ManifestException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("holds 3072 values"));
        }
        JSONObject noScale = goldenManifest();
        noScale.getJSONArray("inputs").getJSONObject(0).put("quantization", JSONObject.NULL);
        try {
            Manifest.parse(noScale.toString(), "bad.json");
            fail("an int8 input without quantization was accepted");
        } catch (ManifestException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("no quantization"));
        }
    }

    @Test
    public void npyRoundTripsOneAndFourDimensions() throws Exception {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        Npy.writeFloat32(out, new float[] {1.5f, -2f, 3f}, new int[] {3});
        byte[] bytes = out.toByteArray();
        int headerLength = (bytes[8] & 0xff) | (bytes[9] & 0xff) << 8;
        assertEquals("data must start on a 64-byte boundary", 0, (10 + headerLength) % 64);
        Npy back = Npy.read(new ByteArrayInputStream(bytes), "mem");
        assertArrayEquals(new int[] {3}, back.shape);
        assertArrayEquals(new float[] {1.5f, -2f, 3f}, back.floats, 0f);
        out.reset();
        Npy.writeUint8(out, new byte[] {1, 0, 1, 1, 0, 0}, new int[] {1, 1, 2, 3});
        back = Npy.read(new ByteArrayInputStream(out.toByteArray()), "mem");
        assertArrayEquals(new int[] {1, 1, 2, 3}, back.shape);
        assertEquals("|u1", back.dtype);
    }

    @Test
    public void wavAveragesStereoAndRefusesFloatWav() throws Exception {
        byte[] stereo = wav(1, 2, 16, new short[] {1000, 3000, -32768, 0});
        Wav w = Wav.read(new ByteArrayInputStream(stereo), "stereo.wav");
        assertEquals(2, w.mono.length);
        assertEquals(2000 / 32768.0, w.mono[0], 0);
        assertEquals(-0.5, w.mono[1], 0);
        try {
            Wav.read(new ByteArrayInputStream(wav(3, 1, 32, new short[] {0, 0})), "float.wav");
            fail("a float WAV was accepted");
        } catch (java.io.IOException e) {
            assertTrue(e.getMessage(), e.getMessage().contains("only 16-bit PCM"));
        }
    }

    private static byte[] wav(int format, int channels, int bits, short[] samples) {
        ByteBuffer b = ByteBuffer.allocate(44 + 2 * samples.length).order(ByteOrder.LITTLE_ENDIAN);
        b.putInt(0x46464952).putInt(36 + 2 * samples.length).putInt(0x45564157);
        b.putInt(0x20746d66).putInt(16).putShort((short) format).putShort((short) channels).putInt(16000)
                .putInt(16000 * channels * bits / 8).putShort((short) (channels * bits / 8)).putShort((short) bits);
        b.putInt(0x61746164).putInt(2 * samples.length);
        for (short s : samples) {
            b.putShort(s);
        }
        return b.array();
    }
}
