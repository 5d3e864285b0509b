package org.lightavseg.core;

/**
 * Where the preview and the mask go on screen, and how a camera frame is turned to match what the preview
 * shows. Pure arithmetic, so every orientation and both cameras are tested on the JVM.
 */
public final class PreviewGeometry {
    private PreviewGeometry() {
    }

    /** {left, top, width, height}: content of contentW x contentH fitted in the view, aspect kept, centred. */
    public static int[] fit(int viewW, int viewH, int contentW, int contentH) {
        if (viewW < 1 || viewH < 1 || contentW < 1 || contentH < 1) {
            return new int[] {0, 0, Math.max(0, viewW), Math.max(0, viewH)};
        }
        int w;
        int h;
        if ((long) viewW * contentH <= (long) viewH * contentW) {
            w = viewW;
            h = (int) Math.round((double) viewW * contentH / contentW);
        } else {
            h = viewH;
            w = (int) Math.round((double) viewH * contentW / contentH);
        }
        return new int[] {(viewW - w) / 2, (viewH - h) / 2, w, h};
    }

    /** Degrees for Surface.ROTATION_0..ROTATION_270 (0..3). */
    public static int displayDegrees(int surfaceRotation) {
        return ((surfaceRotation % 4) + 4) % 4 * 90;
    }

    /**
     * A camera frame (as the sensor delivers it) made to look like the preview: rotate clockwise by `rotation`,
     * then mirror left-right when `mirror` (the front camera's preview is a mirror image; its frames are not).
     */
    public static final class FrameTransform {
        public final int rotation;
        public final boolean mirror;

        FrameTransform(int rotation, boolean mirror) {
            this.rotation = rotation;
            this.mirror = mirror;
        }

        public int outWidth(int w, int h) {
            return rotation % 180 == 0 ? w : h;
        }

        public int outHeight(int w, int h) {
            return rotation % 180 == 0 ? h : w;
        }

        /** The RGB frame as the user sees it in the preview. */
        public byte[] apply(byte[] rgb, int w, int h) {
            byte[] r = ImageOps.rotate(rgb, w, h, rotation);
            return mirror ? ImageOps.mirror(r, outWidth(w, h), outHeight(w, h)) : r;
        }
    }

    /**
     * Sensor orientation (CameraCharacteristics.SENSOR_ORIENTATION) and display rotation in degrees -> the frame
     * transform. The back camera faces away from the screen, so the display rotation counts against the sensor's;
     * the front camera faces the user, so they add (the rotation of the frame before the preview's mirroring).
     */
    public static FrameTransform frameTransform(int sensorOrientation, int displayDegrees, boolean front) {
        int r = front ? sensorOrientation + displayDegrees : sensorOrientation - displayDegrees;
        return new FrameTransform(((r % 360) + 360) % 360, front);
    }

    /**
     * The TextureView transform {scaleX, scaleY, rotateDegrees}, applied about the view centre (scale, then
     * rotate): the camera stream arrives upright for the device's natural orientation and TextureView stretches it
     * to the view, so with the display turned by 90 or 270 degrees it is unstretched to the swapped aspect and
     * turned back; 180 is a plain half turn.
     */
    public static float[] previewTransform(int viewW, int viewH, int displayDegrees) {
        int d = ((displayDegrees % 360) + 360) % 360;
        if (d % 180 == 0 || viewW < 1 || viewH < 1) {
            return new float[] {1f, 1f, d};
        }
        return new float[] {(float) viewH / viewW, (float) viewW / viewH, (360 - d) % 360};
    }
}
