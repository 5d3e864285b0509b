package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertTrue;
import static org.junit.Assert.fail;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

public class QuantMaskTest {
    @Test
    public void quantizeAndDequantizeMatchTheContract() throws Exception {
        JSONArray cases = Golden.index().getJSONArray("quant");
        for (int i = 0; i < cases.length(); i++) {
            JSONObject k = cases.getJSONObject(i);
            float scale = (float) k.getDouble("scale");
            int zp = k.getInt("zero_point");
            boolean signed = k.getBoolean("signed");
            float[] x = Golden.npy(k.getString("input")).floats;
            byte[] want = Golden.npy(k.getString("expected")).bytes;
            byte[] got = Quant.quantize(x, scale, zp, signed);
            for (int j = 0; j < x.length; j++) {
                if (got[j] != want[j]) {
                    fail("case " + i + " x=" + x[j] + ": java " + got[j] + " python " + want[j]);
                }
            }
            float[] deq = Quant.dequantize(got, scale, zp, signed);
            float[] wantDeq = Golden.npy(k.getString("dequantized")).floats;
            for (int j = 0; j < deq.length; j++) {
                assertEquals(Float.floatToIntBits(wantDeq[j]), Float.floatToIntBits(deq[j]));
            }
        }
    }

    @Test
    public void masksAreIdenticalToPython() throws Exception {
        JSONObject m = Golden.index().getJSONObject("mask");
        Npy logits = Golden.npy(m.getString("logits"));
        byte[] want = Golden.npy(m.getString("mask")).bytes;
        byte[] got = Masks.threshold(logits.floats);
        assertEquals(want.length, got.length);
        for (int i = 0; i < got.length; i++) {
            if (got[i] != want[i]) {
                fail("pixel " + i + " logit " + logits.floats[i] + ": java " + got[i] + " python " + want[i]);
            }
        }
        // The float32 sigmoid edge is part of the contract: a tiny positive logit is background.
        assertEquals(0, Masks.threshold(new float[] {1e-9f})[0]);
        assertEquals(1, Masks.threshold(new float[] {1e-7f})[0]);
        int h = logits.shape[0];
        int w = logits.shape[1];
        Npy up = Golden.npy(m.getString("upsampled_224x224"));
        assertArrayEqualsBytes(up.bytes, Masks.resizeNearest(got, w, h, up.shape[1], up.shape[0]));
        Npy odd = Golden.npy(m.getString("upsampled_240x135"));
        assertArrayEqualsBytes(odd.bytes, Masks.resizeNearest(got, w, h, odd.shape[1], odd.shape[0]));
        assertTrue(Masks.area(got) > 0.2 && Masks.area(got) < 0.8);
    }

    private static void assertArrayEqualsBytes(byte[] want, byte[] got) {
        assertEquals(want.length, got.length);
        for (int i = 0; i < want.length; i++) {
            if (want[i] != got[i]) {
                fail("pixel " + i + ": java " + got[i] + " python " + want[i]);
            }
        }
    }
}
