package org.lightavseg.demo;

import java.io.File;
import java.util.Locale;
import java.util.Map;

import android.Manifest.permission;
import android.app.Activity;
import android.content.pm.PackageManager;
import android.graphics.Color;
import android.graphics.SurfaceTexture;
import android.os.Bundle;
import android.os.Handler;
import android.os.HandlerThread;
import android.util.Log;
import android.view.Gravity;
import android.view.TextureView;
import android.view.ViewGroup;
import android.widget.FrameLayout;
import android.widget.RadioButton;
import android.widget.RadioGroup;

import org.lightavseg.core.Engine;
import org.lightavseg.core.LatencyWindow;
import org.lightavseg.core.ManifestException;
import org.lightavseg.core.Masks;
import org.lightavseg.core.Segmenter;
import org.lightavseg.core.TensorData;

/**
 * Live mode: camera + microphone -> mask overlay with latency readout and delegate toggles.
 * Bench mode (am start -n org.lightavseg.demo/.MainActivity --es mode bench): held-out clips -> JSON report.
 */
public final class MainActivity extends Activity implements CameraController.FrameSink {
    static final String TAG = "LightAVSeg";
    private static final int PERMISSION_REQUEST = 1;
    private static final String[] DELEGATES = {"cpu", "nnapi", "gpu"};
    private static final String[] DELEGATE_LABELS = {"CPU (XNNPACK)", "NNAPI", "GPU"};

    private OverlayView overlay;
    private TextureView preview;
    private HandlerThread inferenceThread;
    private Handler inference;
    private HandlerThread cameraThread;
    private CameraController camera;
    private MicRecorder mic;

    // Owned by the inference thread.
    private volatile Segmenter segmenter;
    private ModelStore model;
    private volatile Engine engine;
    private final LatencyWindow modelLatency = new LatencyWindow(30);
    private final LatencyWindow frameLatency = new LatencyWindow(30);
    private volatile boolean busy;
    private volatile String problem;
    private volatile String audioNote = "";
    private volatile String delegateRequested = "cpu";
    private boolean permissionsAsked;
    private boolean resumed;

    @Override
    protected void onCreate(Bundle state) {
        super.onCreate(state);
        FrameLayout root = new FrameLayout(this);
        root.setBackgroundColor(Color.BLACK);
        preview = new TextureView(this);
        overlay = new OverlayView(this);
        root.addView(preview, new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT));
        root.addView(overlay, new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT, ViewGroup.LayoutParams.MATCH_PARENT));
        setContentView(root);

        inferenceThread = new HandlerThread("inference");
        inferenceThread.start();
        inference = new Handler(inferenceThread.getLooper());

        if ("bench".equals(getIntent().getStringExtra("mode"))) {
            startBench();
            return;
        }
        root.addView(delegateToggles(), new FrameLayout.LayoutParams(ViewGroup.LayoutParams.MATCH_PARENT,
                ViewGroup.LayoutParams.WRAP_CONTENT, Gravity.BOTTOM));
        overlay.setLines("Loading the model...");
        inference.post(new Runnable() {
            @Override
            public void run() {
                loadModel();
                createEngine();
                showStatus();
                runOnUiThread(new Runnable() {
                    @Override
                    public void run() {
                        if (resumed) {
                            checkPermissionsAndStart();
                        }
                    }
                });
            }
        });
    }

    private RadioGroup delegateToggles() {
        RadioGroup g = new RadioGroup(this);
        g.setOrientation(RadioGroup.HORIZONTAL);
        g.setBackgroundColor(Color.argb(150, 0, 0, 0));
        for (int i = 0; i < DELEGATES.length; i++) {
            RadioButton b = new RadioButton(this);
            b.setId(i + 1);
            b.setText(DELEGATE_LABELS[i]);
            b.setTextColor(Color.WHITE);
            g.addView(b);
        }
        g.check(1);
        g.setOnCheckedChangeListener(new RadioGroup.OnCheckedChangeListener() {
            @Override
            public void onCheckedChanged(RadioGroup group, int id) {
                delegateRequested = DELEGATES[id - 1];
                inference.post(new Runnable() {
                    @Override
                    public void run() {
                        createEngine();
                        showStatus();
                    }
                });
            }
        });
        return g;
    }

    /** Inference thread: model + manifest from assets; a problem becomes an on-screen message. */
    private void loadModel() {
        try {
            model = ModelStore.load(getAssets());
            segmenter = new Segmenter(model.manifest);
        } catch (ManifestException e) {
            problem = e.getMessage();
        } catch (RuntimeException e) {
            problem = "The model could not be prepared: " + e;
        }
    }

    /** Inference thread: (re)creates the engine for the requested delegate. */
    private void createEngine() {
        if (segmenter == null) {
            return;
        }
        if (engine != null) {
            closeQuietly(engine);
            engine = null;
        }
        try {
            engine = EngineLoader.create(model.artifact, model.manifest, delegateRequested, threads());
            problem = null;
        } catch (Engine.EngineException e) {
            problem = e.getMessage();
        }
    }

    private int threads() {
        return getIntent().getIntExtra("threads", Math.min(4, Runtime.getRuntime().availableProcessors()));
    }

    private void showStatus() {
        if (problem != null) {
            overlay.setMask(null, 0, 0);
            overlay.setLines(problem);
            return;
        }
        if (engine == null) {
            return;
        }
        overlay.setLines(String.format(Locale.ROOT, "model p50 %.1f ms, frame p50 %.1f ms (last %d frames)",
                        modelLatency.p50(), frameLatency.p50(), modelLatency.count()),
                "delegate: " + engine.delegate() + " (asked: " + delegateRequested + "), " + engine.threads() + " threads",
                model.manifest.artifactFile + " " + model.manifest.precision + audioNote);
    }

    // ---- live mode: permissions, camera, microphone ----

    @Override
    protected void onResume() {
        super.onResume();
        resumed = true;
        if (!"bench".equals(getIntent().getStringExtra("mode"))) {
            checkPermissionsAndStart();
        }
    }

    /** UI thread: asks for camera + microphone once, then starts them (once the model is loaded). */
    private void checkPermissionsAndStart() {
        if (segmenter == null) {
            return;
        }
        boolean cam = checkSelfPermission(permission.CAMERA) == PackageManager.PERMISSION_GRANTED;
        boolean rec = checkSelfPermission(permission.RECORD_AUDIO) == PackageManager.PERMISSION_GRANTED;
        if ((!cam || !rec) && !permissionsAsked) {
            permissionsAsked = true;
            requestPermissions(new String[] {permission.CAMERA, permission.RECORD_AUDIO}, PERMISSION_REQUEST);
            return;
        }
        startSources(cam, rec);
    }

    @Override
    public void onRequestPermissionsResult(int code, String[] perms, int[] results) {
        boolean cam = checkSelfPermission(permission.CAMERA) == PackageManager.PERMISSION_GRANTED;
        boolean rec = checkSelfPermission(permission.RECORD_AUDIO) == PackageManager.PERMISSION_GRANTED;
        startSources(cam, rec);
    }

    private void startSources(boolean cam, boolean rec) {
        if (segmenter == null || camera != null) {
            return;  // no usable model (its message stays on screen), or already started
        }
        if (!cam) {
            problem = "Camera permission was denied: live segmentation needs it. Grant it in Settings > Apps > "
                    + "LightAVSeg > Permissions (bench mode works without it).";
            showStatusLater();
            return;
        }
        if (rec) {
            int rate = segmenter.vggish().sampleRate;
            mic = new MicRecorder(rate, segmenter.vggish().int16Scale, rate * 2);
            String err = mic.start();
            audioNote = err == null ? "" : "\naudio: silence (" + err + ")";
            if (err != null) {
                mic = null;
            }
        } else {
            audioNote = "\naudio: silence (microphone permission denied)";
        }
        cameraThread = new HandlerThread("camera");
        cameraThread.start();
        camera = new CameraController(this, new Handler(cameraThread.getLooper()), this);
        if (preview.isAvailable()) {
            openCamera(preview.getSurfaceTexture());
        } else {
            preview.setSurfaceTextureListener(new TextureView.SurfaceTextureListener() {
                @Override
                public void onSurfaceTextureAvailable(SurfaceTexture st, int w, int h) {
                    openCamera(st);
                }

                @Override
                public void onSurfaceTextureSizeChanged(SurfaceTexture st, int w, int h) {
                }

                @Override
                public boolean onSurfaceTextureDestroyed(SurfaceTexture st) {
                    return true;
                }

                @Override
                public void onSurfaceTextureUpdated(SurfaceTexture st) {
                }
            });
        }
    }

    private void openCamera(SurfaceTexture st) {
        if (camera == null) {
            return;
        }
        String err = camera.open(st);
        if (err != null) {
            problem = err;
            showStatusLater();
        }
    }

    private void showStatusLater() {
        inference.post(new Runnable() {
            @Override
            public void run() {
                showStatus();
            }
        });
    }

    @Override
    protected void onPause() {
        super.onPause();
        resumed = false;
        if (camera != null) {
            camera.close();
            camera = null;
        }
        if (cameraThread != null) {
            cameraThread.quitSafely();
            cameraThread = null;
        }
        if (mic != null) {
            mic.stop();
            mic = null;
        }
    }

    @Override
    protected void onDestroy() {
        super.onDestroy();
        inference.post(new Runnable() {
            @Override
            public void run() {
                if (engine != null) {
                    closeQuietly(engine);
                    engine = null;
                }
            }
        });
        inferenceThread.quitSafely();
    }

    @Override
    public boolean wantsFrame() {
        return !busy && engine != null && segmenter != null;
    }

    @Override
    public void onFrame(final byte[] rgb, final int w, final int h) {
        busy = true;
        final float[] audio = mic != null ? mic.snapshot(segmenter.vggish().patchSamples())
                : new float[segmenter.vggish().patchSamples()];
        inference.post(new Runnable() {
            @Override
            public void run() {
                try {
                    long t0 = System.nanoTime();
                    Map<String, TensorData> in = segmenter.inputs(rgb, w, h, segmenter.audioFeature(audio));
                    long t1 = System.nanoTime();
                    float[] logits = segmenter.maskLogits(engine.run(in));
                    long t2 = System.nanoTime();
                    int[] hw = segmenter.maskSize();
                    overlay.setMask(Masks.threshold(logits), hw[1], hw[0]);
                    modelLatency.add((t2 - t1) / 1e6);
                    frameLatency.add((t2 - t0) / 1e6);
                } catch (Engine.EngineException | RuntimeException e) {
                    problem = "Inference failed: " + e.getMessage();
                    Log.e(TAG, "inference failed", e);
                } finally {
                    showStatus();
                    busy = false;
                }
            }
        });
    }

    @Override
    public void onCameraError(String message) {
        problem = message;
        showStatusLater();
    }

    // ---- bench mode ----

    private void startBench() {
        final String delegate = orDefault(getIntent().getStringExtra("delegate"), "cpu");
        final int warmup = getIntent().getIntExtra("warmup", 3);
        final int repeats = getIntent().getIntExtra("repeats", 1);
        final File out = new File(getExternalFilesDir(null), "bench");
        overlay.setLines("Bench mode: running the held-out clips...");
        inference.post(new Runnable() {
            @Override
            public void run() {
                BenchRunner runner = new BenchRunner(getAssets(), out, new BenchRunner.Progress() {
                    @Override
                    public void say(String line) {
                        Log.i(TAG, "bench " + line);
                        overlay.setLines("Bench mode", line);
                    }
                });
                runner.clearPrevious();
                File report;
                try {
                    loadModel();
                    delegateRequested = delegate;
                    createEngine();
                    if (problem != null || engine == null) {
                        report = runner.writeFailure(problem == null ? "no engine" : problem, delegate,
                                model == null ? null : model.manifest);
                    } else {
                        report = runner.run(segmenter, engine, delegate, warmup, repeats);
                    }
                    Log.i(TAG, "BENCH_DONE " + report.getAbsolutePath());
                    overlay.setLines("Bench mode finished.", "Report: " + report.getAbsolutePath(),
                            problem == null ? "" : problem);
                } catch (Exception e) {
                    Log.e(TAG, "BENCH_FAILED", e);
                    overlay.setLines("Bench mode failed: " + e);
                }
            }
        });
    }

    private static String orDefault(String v, String d) {
        return v == null || v.isEmpty() ? d : v;
    }

    private static void closeQuietly(Engine e) {
        try {
            e.close();
        } catch (java.io.IOException ignored) {
            // Closing a finished interpreter has nothing left to report.
        }
    }
}
