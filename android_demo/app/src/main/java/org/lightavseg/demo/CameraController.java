package org.lightavseg.demo;

import java.nio.ByteBuffer;
import java.util.Arrays;

import android.content.Context;
import android.graphics.ImageFormat;
import android.graphics.SurfaceTexture;
import android.hardware.camera2.CameraAccessException;
import android.hardware.camera2.CameraCaptureSession;
import android.hardware.camera2.CameraCharacteristics;
import android.hardware.camera2.CameraDevice;
import android.hardware.camera2.CameraManager;
import android.hardware.camera2.CaptureRequest;
import android.hardware.camera2.params.StreamConfigurationMap;
import android.media.Image;
import android.media.ImageReader;
import android.os.Handler;
import android.os.SystemClock;
import android.util.Log;
import android.util.Size;
import android.view.Surface;

import org.lightavseg.core.CameraGate;
import org.lightavseg.core.ImageOps;
import org.lightavseg.core.PreviewGeometry;

/**
 * Camera2: preview into a SurfaceTexture plus small YUV frames delivered as RGB turned (and, for the front camera,
 * mirrored) to look like the preview. Opening and closing go through core's CameraGate (one lock).
 */
final class CameraController {
    /** Receives frames as the preview shows them; return false when busy so the frame is dropped, not queued. */
    interface FrameSink {
        boolean wantsFrame();

        /** acquiredNanos: SystemClock.elapsedRealtimeNanos() when the image was taken from the reader. */
        void onFrame(byte[] rgb, int width, int height, long acquiredNanos);

        void onCameraError(String message);
    }

    /** What the activity needs to lay the preview out: the camera's frame size and how frames are turned. */
    static final class Setup {
        final Size size;
        final int sensorOrientation;
        final boolean front;

        Setup(Size size, int sensorOrientation, boolean front) {
            this.size = size;
            this.sensorOrientation = sensorOrientation;
            this.front = front;
        }
    }

    private static final int MAX_ANALYSIS_PIXELS = 640 * 480;
    /** How long onPause waits for a frame being read before closing the reader (a conversion takes a few ms). */
    private static final long CLOSE_WAIT_MS = 500;
    private final Context context;
    private final Handler handler;
    private final FrameSink sink;
    private final CameraGate<CameraDevice> gate = new CameraGate<CameraDevice>();
    // Set on the camera thread under the gate's ordering; read by close() only after the gate is closed.
    private volatile CameraCaptureSession session;
    private volatile ImageReader reader;
    private volatile PreviewGeometry.FrameTransform transform;
    private String cameraId;
    private Setup setup;

    CameraController(Context context, Handler handler, FrameSink sink) {
        this.context = context;
        this.handler = handler;
        this.sink = sink;
    }

    /** Picks the back camera (or the first one) and its analysis size; returns an error message, or null. */
    String configure() {
        CameraManager cm = (CameraManager) context.getSystemService(Context.CAMERA_SERVICE);
        try {
            String[] ids = cm == null ? new String[0] : cm.getCameraIdList();
            if (ids.length == 0) {
                return "This device has no camera. Bench mode still works: see README (am start ... --es mode bench).";
            }
            String chosen = ids[0];
            for (String id : ids) {
                Integer facing = cm.getCameraCharacteristics(id).get(CameraCharacteristics.LENS_FACING);
                if (facing != null && facing == CameraCharacteristics.LENS_FACING_BACK) {
                    chosen = id;
                    break;
                }
            }
            CameraCharacteristics ch = cm.getCameraCharacteristics(chosen);
            Integer orientation = ch.get(CameraCharacteristics.SENSOR_ORIENTATION);
            Integer facing = ch.get(CameraCharacteristics.LENS_FACING);
            StreamConfigurationMap map = ch.get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP);
            Size size = pickSize(map == null ? null : map.getOutputSizes(ImageFormat.YUV_420_888));
            if (size == null) {
                return "The camera offers no YUV_420_888 frames for analysis.";
            }
            cameraId = chosen;
            setup = new Setup(size, orientation == null ? 0 : orientation,
                    facing != null && facing == CameraCharacteristics.LENS_FACING_FRONT);
            return null;
        } catch (CameraAccessException e) {
            return "Cannot open the camera: " + e.getMessage();
        }
    }

    Setup setup() {
        return setup;
    }

    /** Opens the configured camera; displayDegrees is the display's current rotation. Returns an error, or null. */
    String open(final SurfaceTexture preview, int displayDegrees) {
        if (setup == null || !gate.beginOpen()) {
            return null;  // not configured (its message is on screen) or already opening/closed
        }
        transform = PreviewGeometry.frameTransform(setup.sensorOrientation, displayDegrees, setup.front);
        CameraManager cm = (CameraManager) context.getSystemService(Context.CAMERA_SERVICE);
        Size size = setup.size;
        preview.setDefaultBufferSize(size.getWidth(), size.getHeight());
        final ImageReader r = ImageReader.newInstance(size.getWidth(), size.getHeight(), ImageFormat.YUV_420_888, 2);
        reader = r;
        r.setOnImageAvailableListener(new ImageReader.OnImageAvailableListener() {
            @Override
            public void onImageAvailable(ImageReader ir) {
                // Planes are read only while the gate is open; close() waits for this read to end.
                if (!gate.beginFrame()) {
                    return;
                }
                try {
                    Image img = ir.acquireLatestImage();
                    if (img == null) {
                        return;
                    }
                    try {
                        if (sink.wantsFrame()) {
                            deliver(img, SystemClock.elapsedRealtimeNanos());
                        }
                    } finally {
                        img.close();
                    }
                } catch (IllegalStateException e) {
                    Log.w(MainActivity.TAG, "frame dropped: " + e.getMessage());
                } finally {
                    gate.endFrame();
                }
            }
        }, handler);
        try {
            cm.openCamera(cameraId, new CameraDevice.StateCallback() {
                @Override
                public void onOpened(CameraDevice camera) {
                    if (!gate.opened(camera)) {
                        camera.close();  // close() ran while the camera was opening: never keep it
                        return;
                    }
                    startSession(camera, new Surface(preview), r);
                }

                @Override
                public void onDisconnected(CameraDevice camera) {
                    gate.lost(camera);
                    camera.close();
                }

                @Override
                public void onError(CameraDevice camera, int error) {
                    boolean ours = gate.lost(camera) != null;
                    camera.close();
                    if (ours) {
                        sink.onCameraError("The camera reported error " + error + " (in use by another app?).");
                    }
                }
            }, handler);
            return null;
        } catch (CameraAccessException e) {
            return "Cannot open the camera: " + e.getMessage();
        } catch (SecurityException e) {
            return "Camera permission was denied; grant it in Settings > Apps > LightAVSeg.";
        }
    }

    private static Size pickSize(Size[] sizes) {
        if (sizes == null || sizes.length == 0) {
            return null;
        }
        Size best = null;
        for (Size s : sizes) {
            int px = s.getWidth() * s.getHeight();
            if (px <= MAX_ANALYSIS_PIXELS && (best == null || px > best.getWidth() * best.getHeight())) {
                best = s;
            }
        }
        if (best == null) {
            best = sizes[sizes.length - 1];
        }
        return best;
    }

    private void startSession(final CameraDevice device, final Surface previewSurface, final ImageReader r) {
        try {
            final CaptureRequest.Builder req = device.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW);
            req.addTarget(previewSurface);
            req.addTarget(r.getSurface());
            device.createCaptureSession(Arrays.asList(previewSurface, r.getSurface()),
                    new CameraCaptureSession.StateCallback() {
                        @Override
                        public void onConfigured(CameraCaptureSession s) {
                            if (gate.device() != device) {
                                s.close();  // closed meanwhile
                                return;
                            }
                            session = s;
                            try {
                                s.setRepeatingRequest(req.build(), null, handler);
                            } catch (CameraAccessException | IllegalStateException e) {
                                sink.onCameraError("Cannot start the camera preview: " + e.getMessage());
                            }
                        }

                        @Override
                        public void onConfigureFailed(CameraCaptureSession s) {
                            sink.onCameraError("The camera refused the preview + analysis configuration.");
                        }
                    }, handler);
        } catch (CameraAccessException | IllegalStateException e) {
            sink.onCameraError("Cannot start the camera: " + e.getMessage());
        }
    }

    private void deliver(Image img, long acquired) {
        int w = img.getWidth();
        int h = img.getHeight();
        Image.Plane[] p = img.getPlanes();
        byte[] y = bytes(p[0].getBuffer());
        byte[] u = bytes(p[1].getBuffer());
        byte[] v = bytes(p[2].getBuffer());
        byte[] rgb = ImageOps.yuv420ToRgb(y, p[0].getRowStride(), u, v, p[1].getRowStride(), p[1].getPixelStride(), w, h);
        PreviewGeometry.FrameTransform t = transform;
        sink.onFrame(t.apply(rgb, w, h), t.outWidth(w, h), t.outHeight(w, h), acquired);
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    /**
     * UI thread: closes the gate (no new frame is read, a frame being read finishes first), then the session, the
     * device and the reader. If a frame overran the wait, the reader is closed on the camera thread after it.
     */
    void close() {
        boolean[] idle = {false};
        CameraDevice device = gate.close(CLOSE_WAIT_MS, idle);
        CameraCaptureSession s = session;
        session = null;
        if (s != null) {
            s.close();
        }
        if (device != null) {
            device.close();
        }
        final ImageReader r = reader;
        reader = null;
        if (r == null) {
            return;
        }
        if (idle[0]) {
            r.close();
        } else {
            handler.post(new Runnable() {
                @Override
                public void run() {
                    r.close();
                }
            });
        }
    }
}
