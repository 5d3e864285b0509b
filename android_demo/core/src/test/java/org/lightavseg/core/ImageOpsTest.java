package org.lightavseg.core;

import static org.junit.Assert.assertEquals;
import static org.junit.Assert.fail;

import org.json.JSONArray;
import org.json.JSONObject;
import org.junit.Test;

public class ImageOpsTest {
    @Test
    public void frameToInputIsBitExactWithPython() throws Exception {
        JSONObject img = Golden.index().getJSONObject("image");
        JSONArray m = img.getJSONArray("mean");
        JSONArray s = img.getJSONArray("std");
        ImageContract c = new ImageContract(img.getInt("size"),
                new float[] {(float) m.getDouble(0), (float) m.getDouble(1), (float) m.getDouble(2)},
                new float[] {(float) s.getDouble(0), (float) s.getDouble(1), (float) s.getDouble(2)});
        JSONArray cases = img.getJSONArray("cases");
        for (int i = 0; i < cases.length(); i++) {
            JSONObject k = cases.getJSONObject(i);
            Npy rgb = Golden.npy(k.getString("input"));
            Npy expected = Golden.npy(k.getString("expected"));
            float[] got = ImageOps.toModelInput(rgb.bytes, k.getInt("width"), k.getInt("height"), c, true);
            assertEquals(expected.floats.length, got.length);
            for (int j = 0; j < got.length; j++) {
                if (Float.floatToIntBits(got[j]) != Float.floatToIntBits(expected.floats[j])) {
                    fail(k.getString("name") + ": element " + j + " is " + got[j] + ", python gives " + expected.floats[j]);
                }
            }
        }
    }

    @Test
    public void nhwcIsTheTransposeOfNchw() {
        byte[] rgb = new byte[4 * 3 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 7);
        }
        ImageContract c = new ImageContract(3, new float[] {0.5f, 0.4f, 0.3f}, new float[] {0.2f, 0.25f, 0.3f});
        float[] nchw = ImageOps.toModelInput(new byte[4 * 4 * 3], 4, 4, c, true);
        assertEquals(27, nchw.length);
        float[] a = ImageOps.normalize(rgb, 4, 3, c.mean, c.std, true);
        float[] b = ImageOps.normalize(rgb, 4, 3, c.mean, c.std, false);
        for (int ch = 0; ch < 3; ch++) {
            for (int p = 0; p < 12; p++) {
                assertEquals(a[ch * 12 + p], b[p * 3 + ch], 0f);
            }
        }
    }

    @Test
    public void rotateQuarterTurns() {
        // 2x1 image: red, green -> 90 degrees clockwise gives a 1x2 column red over green.
        byte[] rgb = {10, 0, 0, 0, 20, 0};
        byte[] r = ImageOps.rotate(rgb, 2, 1, 90);
        assertEquals(10, r[0]);
        assertEquals(20, r[4]);
        byte[] back = ImageOps.rotate(ImageOps.rotate(r, 1, 2, 90), 2, 1, 180);
        assertEquals(10, back[0]);
        assertEquals(20, back[4]);
    }

    @Test
    public void yuvGreyAndPrimaries() {
        // Neutral chroma keeps luma as grey; saturated V gives red.
        byte[] y = {(byte) 128, (byte) 128, (byte) 128, (byte) 128};
        byte[] rgb = ImageOps.yuv420ToRgb(y, 2, new byte[] {(byte) 128}, new byte[] {(byte) 128}, 1, 1, 2, 2);
        for (byte b : rgb) {
            assertEquals(128, b & 0xff);
        }
        byte[] red = ImageOps.yuv420ToRgb(new byte[] {76, 76, 76, 76}, 2, new byte[] {85}, new byte[] {(byte) 255}, 1, 1, 2, 2);
        assertEquals(254, red[0] & 0xff, 2);
        assertEquals(0, red[1] & 0xff, 2);
        assertEquals(0, red[2] & 0xff, 2);
    }
}
