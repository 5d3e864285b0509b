package org.lightavseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

public class LogMelTest {
    @Test
    public void matchesPythonOnRealRecordings() throws Exception {
        JSONObject idx = Golden.index();
        double tol = idx.getDouble("logmel_tolerance");
        LogMel lm = new LogMel(Golden.vggish());
        JSONArray cases = idx.getJSONArray("logmel");
        assertTrue(cases.length() >= 5);
        for (int c = 0; c < cases.length(); c++) {
            JSONObject k = cases.getJSONObject(c);
            Wav wav = Golden.wav(k.getString("wav"));
            assertEquals(16000, wav.sampleRate);
            Npy expected = Golden.npy(k.getString("expected"));
            float[] got = lm.patches(wav.mono, k.getInt("num_patches"));
            assertEquals(k.getString("name") + " patch count", expected.shape[0],
                    lm.patchCount(wav.mono.length, k.getInt("num_patches")));
            assertEquals(k.getString("name") + " size", expected.floats.length, got.length);
            double worst = 0;
            for (int i = 0; i < got.length; i++) {
                worst = Math.max(worst, Math.abs(got[i] - expected.floats[i]));
            }
            assertTrue(k.getString("name") + ": max |java - python| = " + worst, worst < tol);
        }
    }

    @Test
    public void liveWindowGivesTheSamePatch() throws Exception {
        JSONObject w = Golden.index().getJSONObject("logmel_windows");
        Npy windows = Golden.npy(w.getString("windows"));
        Npy expected = Golden.npy(w.getString("expected"));
        LogMel lm = new LogMel(Golden.vggish());
        int len = windows.shape[1];
        int patch = expected.floats.length / expected.shape[0];
        for (int i = 0; i < windows.shape[0]; i++) {
            float[] win = new float[len];
            System.arraycopy(windows.floats, i * len, win, 0, len);
            float[] got = lm.patch(win);
            for (int j = 0; j < patch; j++) {
                assertEquals(expected.floats[i * patch + j], got[j], 1e-3);
            }
        }
    }

    @Test
    public void silenceIsLogOfTheOffset() throws Exception {
        LogMel lm = new LogMel(Golden.vggish());
        float[] got = lm.patch(new float[lm.params().patchSamples()]);
        float want = (float) Math.log(0.01);
        float[] all = new float[got.length];
        java.util.Arrays.fill(all, want);
        assertArrayEquals(all, got, 0f);
    }

    @Test(expected = IllegalArgumentException.class)
    public void wrongWindowLengthIsRefused() throws Exception {
        new LogMel(Golden.vggish()).patch(new float[100]);
    }
}
