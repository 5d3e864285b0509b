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
import android.util.Size;
import android.view.Surface;

import org.lightavseg.core.ImageOps;

/** Camera2: preview into a SurfaceTexture plus small YUV frames delivered as upright RGB. */
final class CameraController {
    /** Receives upright RGB frames; return false when busy so the frame is dropped, not queued. */
    interface FrameSink {
        boolean wantsFrame();

        void onFrame(byte[] rgb, int width, int height);

        void onCameraError(String message);
    }

    private static final int MAX_ANALYSIS_PIXELS = 640 * 480;
    private final Context context;
    private final Handler handler;
    private final FrameSink sink;
    private CameraDevice device;
    private CameraCaptureSession session;
    private ImageReader reader;
    private int sensorOrientation;

    CameraController(Context context, Handler handler, FrameSink sink) {
        this.context = context;
        this.handler = handler;
        this.sink = sink;
    }

    /** Opens the back camera (or the first one); returns an error message for the screen, or null. */
    String open(final SurfaceTexture preview) {
        final CameraManager cm = (CameraManager) context.getSystemService(Context.CAMERA_SERVICE);
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
            sensorOrientation = orientation == null ? 0 : orientation;
            StreamConfigurationMap map = ch.get(CameraCharacteristics.SCALER_STREAM_CONFIGURATION_MAP);
            Size size = pickSize(map == null ? null : map.getOutputSizes(ImageFormat.YUV_420_888));
            if (size == null) {
                return "The camera offers no YUV_420_888 frames for analysis.";
            }
            preview.setDefaultBufferSize(size.getWidth(), size.getHeight());
            reader = ImageReader.newInstance(size.getWidth(), size.getHeight(), ImageFormat.YUV_420_888, 2);
            reader.setOnImageAvailableListener(new ImageReader.OnImageAvailableListener() {
                @Override
                public void onImageAvailable(ImageReader r) {
                    Image img = r.acquireLatestImage();
                    if (img == null) {
                        return;
                    }
                    try {
                        if (sink.wantsFrame()) {
                            deliver(img);
                        }
                    } finally {
                        img.close();
                    }
                }
            }, handler);
            cm.openCamera(chosen, new CameraDevice.StateCallback() {
                @Override
                public void onOpened(CameraDevice camera) {
                    device = camera;
                    startSession(new Surface(preview));
                }

                @Override
                public void onDisconnected(CameraDevice camera) {
                    camera.close();
                    device = null;
                }

                @Override
                public void onError(CameraDevice camera, int error) {
                    camera.close();
                    device = null;
                    sink.onCameraError("The camera reported error " + error + " (in use by another app?).");
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

    private void startSession(final Surface previewSurface) {
        try {
            final CaptureRequest.Builder req = device.createCaptureRequest(CameraDevice.TEMPLATE_PREVIEW);
            req.addTarget(previewSurface);
            req.addTarget(reader.getSurface());
            device.createCaptureSession(Arrays.asList(previewSurface, reader.getSurface()),
                    new CameraCaptureSession.StateCallback() {
                        @Override
                        public void onConfigured(CameraCaptureSession s) {
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

    private void deliver(Image img) {
        int w = img.getWidth();
        int h = img.getHeight();
        Image.Plane[] p = img.getPlanes();
        byte[] y = bytes(p[0].getBuffer());
        byte[] u = bytes(p[1].getBuffer());
        byte[] v = bytes(p[2].getBuffer());
        byte[] rgb = ImageOps.yuv420ToRgb(y, p[0].getRowStride(), u, v, p[1].getRowStride(), p[1].getPixelStride(), w, h);
        // The activity is portrait-only: turning by the sensor orientation makes the frame upright.
        byte[] upright = ImageOps.rotate(rgb, w, h, sensorOrientation);
        boolean swap = sensorOrientation % 180 != 0;
        sink.onFrame(upright, swap ? h : w, swap ? w : h);
    }

    private static byte[] bytes(ByteBuffer b) {
        byte[] out = new byte[b.remaining()];
        b.get(out);
        return out;
    }

    void close() {
        if (session != null) {
            session.close();
            session = null;
        }
        if (device != null) {
            device.close();
            device = null;
        }
        if (reader != null) {
            reader.close();
            reader = null;
        }
    }
}
