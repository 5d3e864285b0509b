package org.lightavseg.core;

import static org.junit.Assert.assertArrayEquals;
import static org.junit.Assert.assertEquals;
import static org.junit.Assert.assertFalse;
import static org.junit.Assert.assertTrue;

import org.junit.Test;

public class PreviewGeometryTest {
    @Test
    public void uprightFrameKeepsItsAspectOnAnyScreen() {
        // 3:4 frame on a tall phone: full width, centred vertically (the old layout stretched it to 1080x2400).
        assertArrayEquals(new int[] {0, 480, 1080, 1440}, PreviewGeometry.fit(1080, 2400, 480, 640));
        // On a wide view: full height, centred horizontally.
        assertArrayEquals(new int[] {420, 0, 1200, 1600}, PreviewGeometry.fit(2040, 1600, 480, 640));
        assertArrayEquals(new int[] {0, 0, 300, 400}, PreviewGeometry.fit(300, 400, 3, 4));
    }

    /** A 2x1 RGB frame: left pixel value 1, right pixel value 2 (all channels). */
    private static byte[] twoPixels() {
        return new byte[] {1, 1, 1, 2, 2, 2};
    }

    @Test
    public void backCameraRotationCountsDisplayRotationAgainstTheSensor() {
        int[][] cases = {
            // sensor, display, expected clockwise rotation
            {90, 0, 90}, {90, 90, 0}, {90, 180, 270}, {90, 270, 180},
            // landscape-native tablet (sensor 0) held in portrait: display 90 or 270
            {0, 0, 0}, {0, 90, 270}, {0, 270, 90}, {270, 0, 270},
        };
        for (int[] c : cases) {
            PreviewGeometry.FrameTransform t = PreviewGeometry.frameTransform(c[0], c[1], false);
            assertEquals("sensor " + c[0] + " display " + c[1], c[2], t.rotation);
            assertFalse(t.mirror);
        }
    }

    @Test
    public void frontCameraRotationAddsAndMirrors() {
        int[][] cases = {{270, 0, 270}, {270, 90, 0}, {270, 180, 90}, {270, 270, 180}, {90, 90, 180}, {0, 270, 270}};
        for (int[] c : cases) {
            PreviewGeometry.FrameTransform t = PreviewGeometry.frameTransform(c[0], c[1], true);
            assertEquals("sensor " + c[0] + " display " + c[1], c[2], t.rotation);
            assertTrue(t.mirror);
        }
    }

    @Test
    public void transformTurnsThenMirrorsTheFrame() {
        // Back camera, sensor 90, portrait phone: the 2x1 frame becomes 1x2, left pixel on top.
        PreviewGeometry.FrameTransform back = PreviewGeometry.frameTransform(90, 0, false);
        assertEquals(1, back.outWidth(2, 1));
        assertEquals(2, back.outHeight(2, 1));
        assertArrayEquals(new byte[] {1, 1, 1, 2, 2, 2}, back.apply(twoPixels(), 2, 1));
        // Same frame, no rotation, front camera: mirrored left-right like the preview.
        PreviewGeometry.FrameTransform front = PreviewGeometry.frameTransform(0, 0, true);
        assertArrayEquals(new byte[] {2, 2, 2, 1, 1, 1}, front.apply(twoPixels(), 2, 1));
        // Front, sensor 270 on a portrait phone: turned 270 (right pixel on top), then mirrored (1x2: no change).
        PreviewGeometry.FrameTransform front270 = PreviewGeometry.frameTransform(270, 0, true);
        assertArrayEquals(new byte[] {2, 2, 2, 1, 1, 1}, front270.apply(twoPixels(), 2, 1));
        // A 2x2 frame [[1, 2], [3, 4]]: turned 270 -> [[2, 4], [1, 3]], mirrored -> [[4, 2], [3, 1]].
        byte[] q = {1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4};
        assertArrayEquals(new byte[] {4, 4, 4, 2, 2, 2, 3, 3, 3, 1, 1, 1}, front270.apply(q, 2, 2));
    }

    @Test
    public void mirrorIsItsOwnInverse() {
        byte[] rgb = new byte[5 * 3 * 3];
        for (int i = 0; i < rgb.length; i++) {
            rgb[i] = (byte) (i * 7);
        }
        assertArrayEquals(rgb, ImageOps.mirror(ImageOps.mirror(rgb, 5, 3), 5, 3));
    }

    /** Maps (x, y) like android.graphics.Matrix: setScale(sx, sy, cx, cy) then postRotate(deg, cx, cy). */
    private static double[] map(float[] t, double w, double h, double x, double y) {
        double cx = w / 2;
        double cy = h / 2;
        double sx = cx + (x - cx) * t[0];
        double sy = cy + (y - cy) * t[1];
        double a = Math.toRadians(t[2]);
        double rx = cx + (sx - cx) * Math.cos(a) - (sy - cy) * Math.sin(a);
        double ry = cy + (sx - cx) * Math.sin(a) + (sy - cy) * Math.cos(a);
        return new double[] {Math.round(rx * 1e6) / 1e6, Math.round(ry * 1e6) / 1e6};
    }

    @Test
    public void previewTransformFillsTheBoxForEveryDisplayRotation() {
        int w = 480;
        int h = 640;
        for (int d : new int[] {0, 90, 180, 270}) {
            float[] t = PreviewGeometry.previewTransform(w, h, d);
            assertEquals((360 - d) % 360, t[2], 0f);
            double minX = 1e9;
            double minY = 1e9;
            double maxX = -1e9;
            double maxY = -1e9;
            for (double[] c : new double[][] {{0, 0}, {w, 0}, {0, h}, {w, h}}) {
                double[] p = map(t, w, h, c[0], c[1]);
                minX = Math.min(minX, p[0]);
                maxX = Math.max(maxX, p[0]);
                minY = Math.min(minY, p[1]);
                maxY = Math.max(maxY, p[1]);
            }
            // The turned stream covers the box exactly: no stretch, no crop, nothing outside.
            assertEquals("display " + d, 0, minX, 1e-3);
            assertEquals("display " + d, w, maxX, 1e-3);
            assertEquals("display " + d, 0, minY, 1e-3);
            assertEquals("display " + d, h, maxY, 1e-3);
        }
        assertEquals(90, PreviewGeometry.displayDegrees(1));
        assertEquals(270, PreviewGeometry.displayDegrees(3));
    }
}
